"""What a sampler run returns: samples, latents and the statistics a report needs."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class ChainOutput:
    """What a sampler spec's ``chains`` returns inside the compiled function.

    Attributes:
      latents: ``(chains, *latent_shape)``: each chain's final latent.
      accepted: ``(chains,)``: each chain's fraction of accepted proposals (1 for
        samplers without a test: plain ``G`` and DDLS).
      trace: ``(chains, steps)``: the calibrated log density ratio of each chain's
        state after every step, for the effective sample size.
      info: sampler-specific scalars (e.g. DRS's estimated maximum log ratio).
    """

    latents: jax.Array
    accepted: jax.Array
    trace: jax.Array
    info: Mapping[str, jax.Array] = dataclasses.field(default_factory=dict)


class ChainPerKey:
    """Base of the sampler specs that run one independent chain per key: ``chains``
    vmaps the spec's ``chain(target, key) -> (final latent, accepted fraction, trace)``."""

    def chains(self, target: Any, keys: jax.Array) -> ChainOutput:
        """One chain per key (vmapped).

        Args:
          target: the latent target.
          keys: ``(chains,)`` PRNG keys.
        Returns:
          A :class:`ChainOutput`.
        """
        return ChainOutput(*jax.vmap(self.chain, in_axes=(None, 0))(target, keys))


jax.tree_util.register_dataclass(ChainOutput, data_fields=["latents", "accepted", "trace",
                                                           "info"], meta_fields=[])


@dataclasses.dataclass(frozen=True, eq=False)
class SamplerResult:
    """The outcome of a compiled sampler run (one output sample per chain).

    Attributes:
      samples: ``(chains, *sample_shape)``: ``G`` of the final latents.
      latents: ``(chains, *latent_shape)``.
      accepted: ``(chains,)``: each chain's fraction of accepted proposals.
      trace: ``(chains, steps)``: the calibrated log ratio ``a d(G(z)) + b`` of each
        chain's state after every step (one column for plain ``G`` and DRS, whose
        outputs are independent draws); :func:`gendsl.samplers.effective_sample_size`
        reads it.
      d_evals_per_sample: discriminator evaluations the algorithm spends per output
        sample (static; diagnostics such as plain ``G``'s trace are not counted).
      d_grads_per_sample: how many of those are forward *and* backward passes through
        ``D∘G`` (Langevin samplers).
      sampler: the spec's ``describe()`` text.
      info: sampler-specific scalars (host floats).
    """

    samples: jax.Array
    latents: jax.Array
    accepted: jax.Array
    trace: jax.Array
    d_evals_per_sample: int
    d_grads_per_sample: int
    sampler: str
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def acceptance_rate(self) -> float:
        """The mean fraction of accepted proposals over chains and steps."""
        return float(np.mean(np.asarray(self.accepted)))

    @property
    def num_chains(self) -> int:
        """The number of chains (= of output samples)."""
        return int(self.samples.shape[0])

    def summary(self) -> dict[str, Any]:
        """Returns the scalars of this run as JSON-ready values: sampler, chains,
        acceptance rate, D evaluations and gradients per sample, and ``info``."""
        return {"sampler": self.sampler, "chains": self.num_chains,
                "acceptance_rate": self.acceptance_rate,
                "d_evals_per_sample": self.d_evals_per_sample,
                "d_grads_per_sample": self.d_grads_per_sample,
                **{k: float(v) for k, v in self.info.items()}}
