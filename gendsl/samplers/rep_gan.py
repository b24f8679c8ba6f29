"""REP-GAN (Wang et al., ECML-PKDD 2021, arXiv 2107.00352): Metropolis-Hastings chains
in the generator's latent space with a Langevin proposal and a closed-form acceptance.

With ``log pi(z) = d(G(z)) - |z|^2 / 2`` (up to a constant), the proposal is

    z' = mu(z) + eta * eps,    mu(z) = z + (tau / 2) grad log pi(z),    eps ~ N(0, I)

and the acceptance is ``alpha = min(1, exp(log_alpha))`` with

    log_alpha = d(G(z')) - d(G(z)) + (|z|^2 - |z'|^2) / 2
                + (|z' - mu(z)|^2 - |z - mu(z')|^2) / (2 eta^2),

the MH ratio ``pi(z') q(z | z') / (pi(z) q(z' | z))`` of the Gaussian proposal
``q(z' | z) = N(z'; mu(z), eta^2 I)``. In the paper this is the ratio of the pairing
chain in sample space, ``(D(x)^-1 - 1) / (D(x')^-1 - 1) = exp(d(x') - d(x))``, times the
prior and proposal ratios in latent space.

When ``eta^2 == tau`` (the paper's defaults ``tau = 0.01, eta = 0.1``) the proposal is
exactly MALA's with step ``tau / 2`` on ``log pi`` and ``log_alpha`` reduces to MALA's,
so we use blackjax's kernel (``blackjax.mala``). A separate ``eta`` (an over- or
under-dispersed Langevin proposal) has no blackjax kernel: that branch is written by
hand below, a few lines that keep each chain's ``log pi`` and its gradient so that
every step costs one forward and backward pass through ``D∘G``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp

from gendsl.samplers.result import ChainPerKey
from gendsl.samplers.target import LatentTarget
from gendsl.samplers.validation import positive_float, positive_int


def proposal_mean(grad_log_pi: jax.Array, z: jax.Array, tau: float) -> jax.Array:
    """Returns the Langevin proposal's mean ``mu(z) = z + (tau / 2) grad log pi(z)``."""
    return z + tau / 2 * grad_log_pi


def _log_alpha(log_pi: jax.Array, log_pi_new: jax.Array, z: jax.Array, z_new: jax.Array,
               mu: jax.Array, mu_new: jax.Array, eta: float) -> jax.Array:
    # log pi(z') + log q(z | z') - log pi(z) - log q(z' | z)
    forward = jnp.sum(jnp.square(z_new - mu))
    backward = jnp.sum(jnp.square(z - mu_new))
    return log_pi_new - log_pi + (forward - backward) / (2 * eta ** 2)


def log_acceptance(log_density: Callable[[jax.Array], jax.Array], z: jax.Array,
                   z_new: jax.Array, tau: float, eta: float) -> jax.Array:
    """REP-GAN's ``log_alpha`` (before the ``min(1, .)``) for a move ``z -> z_new``.

    Args:
      log_density: ``log pi`` up to a constant (e.g. ``LatentTarget.log_density``).
      z: the current latent.
      z_new: the proposed latent.
      tau: the Langevin step.
      eta: the proposal's noise scale.
    Returns:
      The scalar log MH ratio, computed as the kernel computes it.
    """
    value_and_grad = jax.value_and_grad(log_density)
    log_pi, grad = value_and_grad(z)
    log_pi_new, grad_new = value_and_grad(z_new)
    return _log_alpha(log_pi, log_pi_new, z, z_new, proposal_mean(grad, z, tau),
                      proposal_mean(grad_new, z_new, tau), eta)


@dataclasses.dataclass(frozen=True)
class RepGAN(ChainPerKey):
    """REP-GAN's latent Langevin MH chain. Build it with :func:`rep_gan`.

    Attributes:
      steps: MH steps per chain (the paper's chain length, 640).
      tau: the Langevin step ``tau`` (0.01).
      eta: the proposal noise scale ``eta`` (0.1 = sqrt(tau)).
    """

    steps: int = 640
    tau: float = 0.01
    eta: float = 0.1
    name = "rep-gan"

    def __post_init__(self):
        positive_int("rep_gan", "steps", self.steps)
        positive_float("rep_gan", "tau", self.tau)
        positive_float("rep_gan", "eta", self.eta)

    @property
    def is_mala(self) -> bool:
        """Whether ``eta^2 == tau`` (to rounding), when the chain is MALA's."""
        return math.isclose(self.eta ** 2, self.tau, rel_tol=1e-9)

    def describe(self) -> str:
        """Returns the spec as text."""
        kernel = "MALA, blackjax" if self.is_mala else "hand-written"
        return (f"rep-gan: {self.steps} MH steps, z' = z + tau/2 grad log pi(z) + eta eps, "
                f"tau={self.tau:g}, eta={self.eta:g} ({kernel})")

    @property
    def d_evals_per_sample(self) -> int:
        """D evaluations per output sample: the start and one per proposal."""
        return self.steps + 1

    @property
    def d_grads_per_sample(self) -> int:
        """Each evaluation is a forward and backward pass through ``D∘G``."""
        return self.steps + 1

    def chain(self, target: LatentTarget, key: jax.Array):
        """Runs one chain: ``(final latent, accepted fraction, trace)``."""
        k_init, k_steps = jax.random.split(key)
        keys = jax.random.split(k_steps, self.steps)
        z = target.draw(k_init)
        if self.is_mala:
            import blackjax  # here, not at import time (see samplers/ess.py)

            algo = blackjax.mala(target.log_density, self.tau / 2)

            def mala_step(state, k):
                state, info = algo.step(k, state)
                ratio = state.logdensity - target.log_prior(state.position)
                return state, (info.is_accepted, ratio)

            state, (accepted, trace) = jax.lax.scan(mala_step, algo.init(z), keys)
            return state.position, jnp.mean(accepted.astype(jnp.float32)), trace

        value_and_grad = jax.value_and_grad(target.log_density)
        tau, eta = self.tau, self.eta

        def step(carry, k):
            z, log_pi, grad = carry
            k_noise, k_accept = jax.random.split(k)
            mu = proposal_mean(grad, z, tau)
            z_new = mu + eta * jax.random.normal(k_noise, z.shape, z.dtype)
            log_pi_new, grad_new = value_and_grad(z_new)
            log_alpha = _log_alpha(log_pi, log_pi_new, z, z_new, mu,
                                   proposal_mean(grad_new, z_new, tau), eta)
            log_alpha = jnp.where(jnp.isnan(log_alpha), -jnp.inf, log_alpha)
            accept = jnp.log(jax.random.uniform(k_accept)) < log_alpha
            carry = jax.tree.map(lambda new, old: jnp.where(accept, new, old),
                                 (z_new, log_pi_new, grad_new), carry)
            return carry, (accept, carry[1] - target.log_prior(carry[0]))

        log_pi, grad = value_and_grad(z)
        (z, _, _), (accepted, trace) = jax.lax.scan(step, (z, log_pi, grad), keys)
        return z, jnp.mean(accepted.astype(jnp.float32)), trace



def rep_gan(steps: int = 640, tau: float = 0.01, eta: float = 0.1) -> RepGAN:
    """The REP-GAN sampler (defaults: the paper's and its code's).

    Args:
      steps: MH steps per chain.
      tau: Langevin step size.
      eta: proposal noise scale; ``eta = sqrt(tau)`` is MALA.
    Returns:
      A :class:`RepGAN` spec.
    Raises:
      SamplerError: a field is out of range.

    >>> rep_gan().is_mala, rep_gan(eta=0.3).is_mala
    (True, False)
    """
    return RepGAN(steps, tau, eta)
