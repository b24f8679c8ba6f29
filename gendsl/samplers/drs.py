"""DRS, discriminator rejection sampling (Azadi et al., ICLR 2019).

Rejection sampling from ``p_G`` towards ``p_data ∝ p_G exp(d)``: accept a draw
``x = G(z)`` with probability ``exp(d(x) - d_max)``, ``d_max`` the largest log ratio.
Azadi et al. write the acceptance as ``sigmoid(F(x) - gamma)`` with

    F(x) = d(x) - d_max - log(1 - exp(d(x) - d_max - epsilon)),

which is ``exp(d(x) - d_max)`` for ``gamma = 0`` and ``epsilon -> 0``; ``gamma`` shifts
every acceptance up or down (a higher ``gamma`` trades diversity for quality) and
``epsilon`` keeps the logarithm finite.

Our variant (docs/sampling.md): each chain tests up to ``tries`` proposals and keeps the
first it accepts (the last proposal if it accepts none, counted in
``info["unaccepted_fraction"]``), so a run has a fixed shape and cost; ``d_max`` is the
largest calibrated log ratio over all the run's proposals (Azadi et al. estimate it on
10,000 burn-in draws and raise it whenever a larger one is seen, which ends at the same
value); ``gamma`` is 0 (exact rejection sampling up to the estimated maximum) unless
``quantile`` is given, when it is that quantile of ``F`` over the run's proposals (the
paper's dynamic choice of ``gamma`` per batch).

Written by hand: rejection sampling is no Markov kernel, and blackjax has none for it.
Two passes keep memory at one batch of chains: the first scans the tries and keeps only
their log ratios; the second redraws each chain's chosen latent from its key.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gendsl.errors import SamplerError
from gendsl.samplers.result import ChainOutput
from gendsl.samplers.target import LatentTarget
from gendsl.samplers.validation import positive_float, positive_int


@dataclasses.dataclass(frozen=True)
class DRS:
    """Discriminator rejection sampling. Build it with :func:`drs`.

    Attributes:
      tries: proposals tested per output sample.
      quantile: ``gamma`` is this quantile of ``F`` over the run's proposals; None
        for ``gamma = 0``.
      epsilon: the ``epsilon`` inside ``F``.
    """

    tries: int = 640
    quantile: float | None = None
    epsilon: float = 1e-6
    name = "drs"

    def __post_init__(self):
        positive_int("drs", "tries", self.tries)
        positive_float("drs", "epsilon", self.epsilon)
        if self.quantile is not None and not (
                isinstance(self.quantile, (int, float)) and 0 <= self.quantile <= 1):
            raise SamplerError(f"drs: quantile={self.quantile!r}; it must be a number in "
                               "[0, 1], or None for gamma = 0")

    def describe(self) -> str:
        """Returns the spec as text."""
        gamma = "0" if self.quantile is None else f"quantile {self.quantile:g} of F"
        return (f"drs: up to {self.tries} proposals, accept with sigmoid(F(x) - gamma), "
                f"gamma = {gamma}, epsilon={self.epsilon:g}")

    @property
    def d_evals_per_sample(self) -> int:
        """D evaluations per output sample: one per proposal tested."""
        return self.tries

    @property
    def d_grads_per_sample(self) -> int:
        """Gradients of ``d(G(z))`` per output sample: none."""
        return 0

    def acceptance(self, ratios: jax.Array):
        """Azadi et al.'s acceptance probabilities of proposals with these calibrated
        log ratios: ``(probabilities, d_max, gamma)``."""
        d_max = jnp.max(ratios)
        shifted = ratios - d_max
        f = shifted - jnp.log1p(-jnp.exp(shifted - self.epsilon))
        gamma = jnp.zeros((), f.dtype) if self.quantile is None else jnp.quantile(
            f, self.quantile)
        return jax.nn.sigmoid(f - gamma), d_max, gamma

    def chains(self, target: LatentTarget, keys: jax.Array) -> ChainOutput:
        """One output sample per key, each the first accepted of ``tries`` proposals.

        Args:
          target: the latent target.
          keys: ``(chains,)`` PRNG keys.
        Returns:
          A :class:`ChainOutput` with a one-column trace and ``info`` holding
          ``max_log_ratio``, ``gamma`` and ``unaccepted_fraction``.
        """
        tries = jax.vmap(lambda k: jax.random.split(k, (self.tries, 2)))(keys)
        by_try = jnp.swapaxes(tries, 0, 1)  # (tries, chains, 2)

        def one_try(_, k):
            z = jax.vmap(target.draw)(k[:, 0])
            return None, jax.vmap(target.log_ratio)(z)

        _, ratios = jax.lax.scan(one_try, None, by_try)  # (tries, chains)
        probability, d_max, gamma = self.acceptance(ratios)
        u = jax.vmap(jax.vmap(jax.random.uniform))(by_try[:, :, 1])
        accept = u < probability
        found = jnp.any(accept, axis=0)
        chosen = jnp.where(found, jnp.argmax(accept, axis=0), self.tries - 1)
        chains = jnp.arange(keys.shape[0])
        z = jax.vmap(target.draw)(tries[chains, chosen, 0])
        trace = ratios[chosen, chains][:, None]
        info = {"max_log_ratio": d_max, "gamma": gamma,
                "unaccepted_fraction": jnp.mean((~found).astype(jnp.float32))}
        return ChainOutput(z, jnp.mean(accept.astype(jnp.float32), axis=0), trace, info)


def drs(tries: int = 640, quantile: float | None = None, epsilon: float = 1e-6) -> DRS:
    """The DRS sampler: rejection sampling with the discriminator.

    Args:
      tries: proposals tested per output sample (default: REP-GAN's budget).
      quantile: set ``gamma`` to this quantile of ``F`` (e.g. 0.95); None for 0.
      epsilon: the ``epsilon`` inside ``F``.
    Returns:
      A :class:`DRS` spec.
    Raises:
      SamplerError: a field is out of range.

    >>> drs(tries=10).d_evals_per_sample
    10
    """
    return DRS(tries, quantile, epsilon)
