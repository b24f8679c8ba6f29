"""MH-GAN (Turner et al., ICML 2019): an independence Metropolis-Hastings chain with the
generator as proposal, corrected by the discriminator.

In latent form: propose ``z' ~ N(0, I)``, accept with
``alpha = min(1, exp(d(G(z')) - d(G(z))))``, the independence sampler for
``pi(z) ∝ N(z; 0, I) exp(d(G(z)))`` with proposal ``N(0, I)``; the prior cancels.

This is exactly blackjax's independent Rosenbluth-Metropolis-Hastings kernel
(``blackjax.irmh``) with target ``log pi`` and proposal density ``log N(z; 0, I)``,
so we use it rather than writing the kernel. Departures from the paper (see
docs/sampling.md): the chain starts from a generated sample rather than a real one
(so no restart is needed when nothing is accepted), and the logit is calibrated by
Platt scaling (the paper calibrates with isotonic regression among others) so that the
same calibrated log ratio serves every sampler.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gendsl.samplers.result import ChainPerKey
from gendsl.samplers.target import LatentTarget
from gendsl.samplers.validation import positive_int


@dataclasses.dataclass(frozen=True)
class MHGAN(ChainPerKey):
    """MH-GAN with ``steps`` independence proposals per chain. Build it with
    :func:`mh_gan`.

    Attributes:
      steps: proposals per chain (Turner et al. use chains of 640).
    """

    steps: int = 640
    name = "mh-gan"

    def __post_init__(self):
        positive_int("mh_gan", "steps", self.steps)

    def describe(self) -> str:
        """Returns the spec as text."""
        return (f"mh-gan: {self.steps} independence proposals z' ~ N(0, I), "
                "alpha = min(1, exp(d(G(z')) - d(G(z))))")

    @property
    def d_evals_per_sample(self) -> int:
        """D evaluations per output sample: the start and one per proposal."""
        return self.steps + 1

    @property
    def d_grads_per_sample(self) -> int:
        """Gradients of ``d(G(z))`` per output sample: none."""
        return 0

    def chain(self, target: LatentTarget, key: jax.Array):
        """Runs one chain: ``(final latent, accepted fraction, trace)``."""
        import blackjax  # here, not at import time (see samplers/ess.py)

        algo = blackjax.irmh(target.log_density, target.draw,
                             proposal_logdensity_fn=lambda new, prev: target.log_prior(
                                 prev.position))
        k_init, k_steps = jax.random.split(key)
        state = algo.init(target.draw(k_init))

        def step(state, k):
            state, info = algo.step(k, state)
            ratio = state.logdensity - target.log_prior(state.position)
            return state, (info.is_accepted, ratio)

        state, (accepted, trace) = jax.lax.scan(step, state,
                                                jax.random.split(k_steps, self.steps))
        return state.position, jnp.mean(accepted.astype(jnp.float32)), trace



def mh_gan(steps: int = 640) -> MHGAN:
    """The MH-GAN sampler: independence proposals from the generator.

    Args:
      steps: proposals per chain.
    Returns:
      An :class:`MHGAN` spec.
    Raises:
      SamplerError: ``steps`` is not an integer >= 1.

    >>> mh_gan(steps=10).d_evals_per_sample
    11
    """
    return MHGAN(steps)
