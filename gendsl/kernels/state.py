"""The kernel state that flows through a network's kernel rules (a minimal ``Kernel``).

Layout: spatial position axes come first and the batch axes last, so that spatial
rules (conv, pooling, flatten) act on leading axes while the elementwise rules of the
nonlinearities vectorise over long contiguous ``(n1, n2)`` rows.

* non-spatial:            ``nngp``, ``ntk``: ``(n1, n2)``;            ``cov1``: ``(n1,)``
* diagonal spatial mode:  ``(H, W, n1, n2)``  same-position covariances; ``cov1``: ``(H, W, n1)``
* full spatial mode:      ``(H, W, H', W', n1, n2)`` all position pairs; ``cov1``: ``(H, W, H', W', n1)``

``cov1`` / ``cov2`` are the covariances of each input with itself (the batch diagonal);
``cov2`` is ``None`` when the kernel is of ``x1`` with itself. ``ntk`` is ``None`` when
only the NNGP was asked for.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

from gendsl.kernels.gram import position_gram


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class KernelState:
    """Covariances of a layer's outputs over two batches, in infinite width.

    Attributes:
      nngp: output covariance between ``x1`` and ``x2`` (layout in the module docstring).
      ntk: neural tangent kernel, same layout as ``nngp``, or ``None`` if not tracked.
      cov1: covariance of ``x1`` with itself, batch diagonal only.
      cov2: the same for ``x2``, or ``None`` when ``x2`` is ``x1``.
      spatial_ndim: number of spatial dimensions (0 after Flatten / GlobalAvgPool).
      full: whether all position pairs are kept (else same-position only).
      channels: width of the layer output in the finite network (for ``standard``
        parameterization fan-ins; ``None`` means infinite).
    """

    nngp: jax.Array
    ntk: Optional[jax.Array]
    cov1: jax.Array
    cov2: Optional[jax.Array]
    spatial_ndim: int = dataclasses.field(default=0, metadata=dict(static=True))
    full: bool = dataclasses.field(default=False, metadata=dict(static=True))
    channels: Optional[int] = dataclasses.field(default=None, metadata=dict(static=True))

    def replace(self, **changes) -> "KernelState":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def map_covariances(self, fn) -> "KernelState":
        """Apply ``fn(array, batch_ndim)`` to nngp, ntk (batch_ndim 2) and cov1, cov2 (1)."""
        opt = lambda a, b: None if a is None else fn(a, b)
        return self.replace(nngp=fn(self.nngp, 2), ntk=opt(self.ntk, 2),
                            cov1=fn(self.cov1, 1), cov2=opt(self.cov2, 1))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class InputState:
    """Raw inputs not yet turned into a kernel.

    Kept lazy so that the first Dense / Conv can contract its patches directly (one
    batched matmul) instead of materialising the per-position input covariance first.

    Attributes:
      x1: ``(n1, features)`` or ``(n1, H, W, C)``.
      x2: same trailing shape as ``x1``, or ``None`` for the kernel of ``x1`` with itself.
      track_ntk: whether the NTK is wanted (else only the NNGP is propagated).
    """

    x1: jax.Array
    x2: Optional[jax.Array]
    track_ntk: bool = dataclasses.field(default=True, metadata=dict(static=True))

    @property
    def spatial_ndim(self) -> int:
        """Number of spatial dimensions of the inputs."""
        return self.x1.ndim - 2

    @property
    def channels(self) -> int:
        """Number of input channels (features)."""
        return self.x1.shape[-1]


def _letters(n: int, start: int) -> str:
    return "".join(chr(ord("a") + start + i) for i in range(n))


def position_diagonal(arr: jax.Array, spatial_ndim: int, batch_ndim: int) -> jax.Array:
    """Same-position entries of a full-spatial array: ``(P, P', *b) -> (P, *b)``."""
    pos = _letters(spatial_ndim, 0)
    batch = _letters(batch_ndim, 10)
    return jnp.einsum(f"{pos}{pos}{batch}->{pos}{batch}", arr)


def inputs_to_kernel(inputs: InputState, full: bool) -> KernelState:
    """Covariances of the raw inputs, averaged over channels as in neural-tangents.

    Args:
      inputs: the raw inputs.
      full: keep all position pairs (else same-position covariances only).

    Returns:
      The input kernel state; ``ntk`` is zero (inputs have no parameters).
    """
    x1, x2 = inputs.x1, inputs.x2
    d = inputs.spatial_ndim
    pos, pos2 = _letters(d, 0), _letters(d, 8)
    channels = x1.shape[-1]

    def cross(a, b):
        if full:
            return jnp.einsum(f"i{pos}z,j{pos2}z->{pos}{pos2}ij", a, b) / channels
        return position_gram(a, None if b is a else b) / channels

    def self_cov(a):
        if full:
            return jnp.einsum(f"i{pos}z,i{pos2}z->{pos}{pos2}i", a, a) / channels
        return jnp.einsum(f"i{pos}z,i{pos}z->{pos}i", a, a) / channels

    nngp = cross(x1, x1 if x2 is None else x2)
    return KernelState(
        nngp=nngp,
        ntk=jnp.zeros_like(nngp) if inputs.track_ntk else None,
        cov1=self_cov(x1),
        cov2=None if x2 is None else self_cov(x2),
        spatial_ndim=d,
        full=full and d > 0,
        channels=channels,
    )


def require(state, full: bool) -> KernelState:
    """Bring a state to the requested spatial mode (materialising raw inputs if needed).

    Args:
      state: a :class:`KernelState` or :class:`InputState`.
      full: whether all position pairs are needed.

    Returns:
      A :class:`KernelState` in full mode if ``full`` and spatial, else in diagonal mode.
    """
    if isinstance(state, InputState):
        return inputs_to_kernel(state, full)
    if state.spatial_ndim == 0 or state.full == full:
        return state
    if full:
        raise AssertionError("a same-position kernel cannot be widened to all pairs; "
                             "the network's spatial requirements were computed wrongly")
    d = state.spatial_ndim
    return state.map_covariances(lambda a, b: position_diagonal(a, d, b)).replace(full=False)
