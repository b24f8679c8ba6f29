"""DDLS (Che et al., NeurIPS 2020): unadjusted Langevin dynamics in latent space on the
energy ``E(z) = |z|^2 / 2 - d(G(z))``:

    z <- z - (eps / 2) grad E(z) + sqrt(eps) n,    n ~ N(0, I)

with no Metropolis-Hastings correction, so its law is biased by the step size (for a
Gaussian target of precision P the stationary covariance is ``(P - eps P^2 / 4)^-1``).

Written by hand: blackjax's unadjusted Langevin kernel is its SGLD kernel, which returns
positions only, while each step here needs ``d(G(z))`` itself for the trace;
``jax.value_and_grad`` gives it with the gradient at no extra cost, and the update is one
line.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from gendsl.samplers.result import ChainPerKey
from gendsl.samplers.target import LatentTarget
from gendsl.samplers.validation import positive_float, positive_int


@dataclasses.dataclass(frozen=True)
class DDLS(ChainPerKey):
    """Discriminator-driven latent sampling. Build it with :func:`ddls`.

    Attributes:
      steps: Langevin steps per chain.
      step_size: ``eps``: drift ``eps / 2``, noise ``sqrt(eps)``.
    """

    steps: int = 640
    step_size: float = 0.01
    name = "ddls"

    def __post_init__(self):
        positive_int("ddls", "steps", self.steps)
        positive_float("ddls", "step_size", self.step_size)

    def describe(self) -> str:
        """Returns the spec as text."""
        return (f"ddls: {self.steps} unadjusted Langevin steps, step_size={self.step_size:g} "
                "on E(z) = |z|^2/2 - d(G(z))")

    @property
    def d_evals_per_sample(self) -> int:
        """D evaluations per output sample: the start and one per step."""
        return self.steps + 1

    @property
    def d_grads_per_sample(self) -> int:
        """Each evaluation is a forward and backward pass through ``D∘G``."""
        return self.steps + 1

    def chain(self, target: LatentTarget, key: jax.Array):
        """Runs one chain: ``(final latent, 1.0, trace)``."""
        value_and_grad = jax.value_and_grad(target.log_density)
        eps, noise = self.step_size, math.sqrt(self.step_size)
        k_init, k_steps = jax.random.split(key)
        z = target.draw(k_init)
        log_pi, grad = value_and_grad(z)

        def step(carry, k):
            z, _, grad = carry
            z = z + eps / 2 * grad + noise * jax.random.normal(k, z.shape, z.dtype)
            log_pi, grad = value_and_grad(z)
            return (z, log_pi, grad), log_pi - target.log_prior(z)

        (z, _, _), trace = jax.lax.scan(step, (z, log_pi, grad),
                                        jax.random.split(k_steps, self.steps))
        return z, jnp.ones((), jnp.float32), trace



def ddls(steps: int = 640, step_size: float = 0.01) -> DDLS:
    """The DDLS sampler: unadjusted Langevin on the latent energy.

    Args:
      steps: Langevin steps per chain (default: REP-GAN's chain length, for equal
        discriminator budgets).
      step_size: ``eps`` (default: REP-GAN's ``tau``).
    Returns:
      A :class:`DDLS` spec.
    Raises:
      SamplerError: a field is out of range.

    >>> ddls(steps=5, step_size=0.1).describe()
    'ddls: 5 unadjusted Langevin steps, step_size=0.1 on E(z) = |z|^2/2 - d(G(z))'
    """
    return DDLS(steps, step_size)
