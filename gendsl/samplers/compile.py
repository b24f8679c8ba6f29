"""A sampler spec compiled against a latent target: one jitted, scanned, vmapped,
mesh-sharded function.

``compile_sampler(spec, target, mesh)(key, num_chains)`` runs every chain in one
dispatch: ``jax.jit`` over a function that splits the key into one key per chain,
``vmap``s the spec's chain over them (each chain a ``lax.scan`` over its steps) and
returns the final latents, their samples ``G(z)``, the acceptance and the trace. With a
mesh, the target's parameters are replicated and the chains are split over the mesh's
``data`` axis, so each device runs its share of the chains; the keys do not depend on
the mesh, so one device and eight give the same chains.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gendsl.errors import SamplerError
from gendsl.samplers.result import SamplerResult
from gendsl.samplers.target import LatentTarget
from gendsl.sharding import DATA_AXIS


class CompiledSampler:
    """A sampler spec bound to a target, compiled once per number of chains. Build it
    with :func:`compile_sampler`.

    Attributes:
      spec: the sampler spec.
      target: the latent target (replicated over the mesh if there is one).
      mesh: the device mesh, or None for the default device.
    """

    def __init__(self, spec: Any, target: LatentTarget, mesh: Mesh | None = None):
        if not callable(getattr(spec, "chains", None)) or not hasattr(spec, "describe"):
            raise SamplerError(f"compile_sampler takes a sampler spec (gd.samplers.rep_gan(), "
                               f"...), got {type(spec).__name__}")
        if not isinstance(target, LatentTarget):
            raise SamplerError(f"compile_sampler takes a LatentTarget (gd.samplers.target_of"
                               f"(...)), got {type(target).__name__}")
        if mesh is not None and DATA_AXIS not in mesh.axis_names:
            raise SamplerError(f"the mesh needs an axis named {DATA_AXIS!r}; it has "
                               f"{mesh.axis_names} (use gd.data_parallel())")
        self.spec, self.mesh = spec, mesh
        self.target = target if mesh is None else jax.device_put(
            target, NamedSharding(mesh, PartitionSpec()))
        self._run = jax.jit(self._run_fn, static_argnums=2)

    def _chain_sharded(self, x):
        if self.mesh is None:
            return x
        return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh,
                                                                 PartitionSpec(DATA_AXIS)))

    def _run_fn(self, target: LatentTarget, key: jax.Array, num_chains: int):
        keys = self._chain_sharded(jax.random.split(key, num_chains))
        out = self.spec.chains(target, keys)
        samples = jax.vmap(target.generate)(out.latents)
        return jax.tree.map(self._chain_sharded, (samples, out.latents, out.accepted,
                                                  out.trace)), out.info

    def compile_for(self, key: jax.Array, num_chains: int) -> None:
        """Compiles the sampler for ``num_chains`` chains ahead of time, running nothing,
        so that a later ``sampler(key, num_chains)`` (with the compiled target) dispatches
        at once: a timed call then measures the sampling alone.

        Args:
          key: a PRNG key of the kind the call will get (its value does not matter).
          num_chains: as in :meth:`__call__`.
        Raises:
          SamplerError: see :meth:`__call__`.
        """
        self._check_chains(num_chains)
        self._run.lower(self.target, key, num_chains).compile()

    def _check_chains(self, num_chains: int) -> None:
        devices = 1 if self.mesh is None else self.mesh.shape[DATA_AXIS]
        if (isinstance(num_chains, bool) or not isinstance(num_chains, int)
                or num_chains < 1 or num_chains % devices):
            raise SamplerError(f"num_chains={num_chains!r}; it must be a positive multiple "
                               f"of the mesh's {devices} devices")

    def __call__(self, key: jax.Array, num_chains: int,
                 target: LatentTarget | None = None) -> SamplerResult:
        """Runs ``num_chains`` chains in one dispatch.

        Args:
          key: a PRNG key (``jax.random.key(seed)``).
          num_chains: chains to run (= output samples); a multiple of the mesh's size.
          target: another target of the same structure (e.g. recalibrated); default:
            the compiled one.
        Returns:
          A :class:`SamplerResult`.
        Raises:
          SamplerError: ``num_chains`` is not a positive multiple of the mesh's size.
        """
        self._check_chains(num_chains)
        if target is None:
            target = self.target
        elif self.mesh is not None:
            target = jax.device_put(target, NamedSharding(self.mesh, PartitionSpec()))
        (samples, latents, accepted, trace), info = self._run(target, key, num_chains)
        return SamplerResult(samples, latents, accepted, trace,
                             d_evals_per_sample=self.spec.d_evals_per_sample,
                             d_grads_per_sample=self.spec.d_grads_per_sample,
                             sampler=self.spec.describe(),
                             info={k: float(v) for k, v in info.items()})


def compile_sampler(spec: Any, target: LatentTarget, mesh: Mesh | None = None) -> CompiledSampler:
    """Compiles a sampler spec against a latent target.

    Args:
      spec: ``independent()``, ``drs(...)``, ``mh_gan(...)``, ``ddls(...)`` or
        ``rep_gan(...)``.
      target: a :class:`LatentTarget` (calibrate it first: see :func:`calibrate`).
      mesh: a device mesh with a ``data`` axis (:func:`gendsl.data_parallel`) to split
        the chains over, or None.
    Returns:
      A :class:`CompiledSampler`: call it as ``sampler(key, num_chains)``.
    Raises:
      SamplerError: ``spec`` is no sampler spec, ``target`` no LatentTarget, or the
        mesh has no ``data`` axis.
    """
    return CompiledSampler(spec, target, mesh)
