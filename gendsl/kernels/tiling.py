"""Blockwise evaluation of a kernel: rows of ``x1`` (and, for ``x2=None``, symmetric tiles).

Every kernel rule acts on each ``(x1_i, x2_j)`` pair given the two points' own
variances, so the kernel of two batches is the assembly of kernels of blocks. Working
block by block keeps the per-pair spatial intermediates (``(H, W, b1, b2)`` maps of a
conv network) a few MB instead of hundreds, which on CPU is the difference between
cache-resident work and page-faulting fresh buffers on every call. For ``x2=None`` only
the tiles on and above the diagonal are computed (the kernel is symmetric), halving the
work.
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp


def _pad_rows(x: jax.Array, multiple: int) -> jax.Array:
    pad = (-x.shape[0]) % multiple
    return x if pad == 0 else jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)])


def transpose_kernel(k: jax.Array) -> jax.Array:
    """``K(x2, x1)`` from ``K(x1, x2)``: swap batch axes and each interleaved spatial pair."""
    order = [1, 0] + [a for p in range(2, k.ndim, 2) for a in (p + 1, p)]
    return jnp.transpose(k, order)


def blockwise(fn: Callable, x1: jax.Array, x2: Optional[jax.Array], block: int,
              remat: bool = True):
    """Evaluate ``fn(a, b)`` (a pytree of ``(na, nb, ...)`` kernels) in blocks of ``block`` rows.

    Args:
      fn: ``(x1_block, x2_block_or_None) -> pytree of kernels`` with batch axes first.
      x1: ``(n1, ...)`` inputs.
      x2: ``(n2, ...)`` inputs, or ``None`` for the symmetric kernel of ``x1``.
      block: rows (and, symmetric case, columns) per block.
      remat: recompute each block's forward pass in the backward pass instead of
        storing its intermediates (cheap blocks, big intermediates).

    Returns:
      The same pytree as ``fn(x1, x2)``.
    """
    n1 = x1.shape[0]
    body = jax.checkpoint(fn, static_argnums=()) if remat else fn
    xb = _pad_rows(x1, block)
    nb = xb.shape[0] // block
    blocks = xb.reshape((nb, block) + x1.shape[1:])
    if x2 is not None:
        out = jax.lax.map(lambda a: body(a, x2), blocks)
        return jax.tree.map(lambda k: k.reshape((nb * block,) + k.shape[2:])[:n1], out)
    diag = jax.lax.map(lambda a: body(a, None), blocks)
    upper = [(i, j) for i in range(nb) for j in range(i + 1, nb)]
    if upper:
        rows = jnp.array([i for i, _ in upper])
        cols = jnp.array([j for _, j in upper])
        off = jax.lax.map(lambda ij: body(blocks[ij[0]], blocks[ij[1]]), (rows, cols))

    def assemble(d, o=None):
        tiles = jnp.zeros((nb, nb) + d.shape[1:], d.dtype)
        tiles = tiles.at[jnp.arange(nb), jnp.arange(nb)].set(d)
        if o is not None:
            tiles = tiles.at[rows, cols].set(o)
            tiles = tiles.at[cols, rows].set(jax.vmap(transpose_kernel)(o))
        # (I, J, i, j, ...) -> (I, i, J, j, ...)
        k = jnp.swapaxes(tiles, 1, 2).reshape((nb * block, nb * block) + d.shape[3:])
        return k[:n1, :n1]

    if not upper:
        return jax.tree.map(assemble, diag)
    return jax.tree.map(assemble, diag, off)
