"""Plain ``G(z)``: the generator's own law, the baseline every other sampler corrects."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gendsl.samplers.result import ChainOutput
from gendsl.samplers.target import LatentTarget


@dataclasses.dataclass(frozen=True)
class Independent:
    """Draws ``z ~ N(0, I)`` and returns ``G(z)``: no discriminator, nothing rejected.
    Build it with :func:`independent`."""

    name = "independent"

    def describe(self) -> str:
        """Returns the spec as text."""
        return "independent: x = G(z), z ~ N(0, I)"

    @property
    def d_evals_per_sample(self) -> int:
        """D evaluations per output sample: none (the trace's is a diagnostic)."""
        return 0

    @property
    def d_grads_per_sample(self) -> int:
        """Gradients of ``d(G(z))`` per output sample: none."""
        return 0

    def chains(self, target: LatentTarget, keys: jax.Array) -> ChainOutput:
        """One independent draw per key.

        Args:
          target: the latent target.
          keys: ``(chains,)`` PRNG keys.
        Returns:
          A :class:`ChainOutput` with a one-column trace (the draws' log ratios).
        """
        z = jax.vmap(target.draw)(keys)
        trace = jax.vmap(target.log_ratio)(z)[:, None]
        return ChainOutput(z, jnp.ones(z.shape[0]), trace)


def independent() -> Independent:
    """The plain generator as a sampler: ``x = G(z)``, ``z ~ N(0, I)``.

    >>> independent().describe()
    'independent: x = G(z), z ~ N(0, I)'
    """
    return Independent()
