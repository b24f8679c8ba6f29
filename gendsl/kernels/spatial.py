"""Spatial helpers for conv and pooling kernel rules (leading position axes)."""

from __future__ import annotations

import itertools
from typing import Sequence

import jax
import numpy as np
import jax.numpy as jnp
from jax import lax

PADDINGS = ("SAME", "VALID")


def pads_for(in_spatial: Sequence[int], window: Sequence[int], strides: Sequence[int],
             padding: str) -> list[tuple[int, int]]:
    """``(low, high)`` zero padding per spatial axis, in ``lax`` / TensorFlow conventions."""
    return [tuple(p) for p in lax.padtype_to_pads(tuple(in_spatial), tuple(window),
                                                  tuple(strides), padding)]


def out_spatial(in_spatial, window, strides, padding) -> tuple[int, ...]:
    """Output spatial shape of a conv / pool window."""
    pads = pads_for(in_spatial, window, strides, padding)
    return tuple((n + lo + hi - f) // s + 1
                 for n, (lo, hi), f, s in zip(in_spatial, pads, window, strides))


def window_sum(arr: jax.Array, window: Sequence[int], strides: Sequence[int], padding: str,
               copies: int, shared: bool) -> jax.Array:
    """Sum a kernel over a conv filter or pooling window on its leading position axes.

    ``arr`` has ``copies * d`` leading position axes (1 copy: same-position covariances;
    2 copies: all position pairs) followed by batch axes.

    Args:
      arr: the covariance array.
      window: the filter / window spatial shape (length ``d``).
      strides: the strides (length ``d``).
      padding: ``"SAME"`` or ``"VALID"``; padded positions count as zeros.
      copies: 1 or 2, as above.
      shared: True for a conv (the same filter offset in both copies: weights are
        independent across offsets, so only matching offsets correlate); False for
        pooling (every pair of offsets in the two windows).

    Returns:
      The windowed sums (not averages), with output position axes in place.

    Conv sums over same-position maps (``copies == 1``) are separable per spatial axis
    and use :func:`_box_sum_axis`; on the position-leading layout every term is a run of
    contiguous ``(n1, n2)`` rows, which XLA vectorises (about 4x faster on CPU than
    ``lax.reduce_window``, and its autodiff transpose is as cheap as the forward).
    """
    d = len(window)
    pads = pads_for(arr.shape[:d], window, strides, padding)
    n_batch = arr.ndim - copies * d
    if not shared:  # pooling: every pair of offsets
        return lax.reduce_window(
            arr, np.array(0, arr.dtype), lax.add,
            tuple(window) * copies + (1,) * n_batch,
            tuple(strides) * copies + (1,) * n_batch,
            list(pads) * copies + [(0, 0)] * n_batch)
    outs = out_spatial(arr.shape[:d], window, strides, padding)
    if copies == 1:
        for axis in range(d):
            arr = _box_sum_axis(arr, axis, window[axis], strides[axis], pads[axis][0], outs[axis])
        return arr
    padded = jnp.pad(arr, list(pads) * copies + [(0, 0)] * n_batch)
    total = None
    for offset in itertools.product(*(range(f) for f in window)):
        idx = tuple(slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, strides, outs))
        term = padded[idx * copies]
        total = term if total is None else total + term
    return total


def _box_sum_axis(x: jax.Array, axis: int, size: int, stride: int, low: int,
                  out_len: int) -> jax.Array:
    """``y[o] = sum_{a < size} x_padded[stride * o + a]`` along ``axis`` (zero padding ``low``)."""
    total = None
    for term in _taps(x, axis, size, stride, low, out_len):
        total = term if total is None else total + term
    return total


def _taps(x: jax.Array, axis: int, size: int, stride: int, low: int,
          out_len: int) -> list[jax.Array]:
    """``[x_padded[stride * o + a] for o < out_len]`` along ``axis``, for each tap ``a < size``.

    Polyphase form: the padded axis is reshaped to ``(K, stride)`` so that tap
    ``a = stride * j + r`` reads the contiguous slice ``X[j : j + out_len, r]``. Only
    pads, reshapes and contiguous slices appear, so the transpose (for gradients) is
    cheap too, unlike that of strided slices.
    """
    taps = -(-size // stride)  # ceil
    k = out_len - 1 + taps
    length = stride * k
    n = x.shape[axis]
    high = length - low - n
    pad = [(0, 0)] * x.ndim
    pad[axis] = (low, max(high, 0))
    x = jnp.pad(x, pad)
    if high < 0:
        x = lax.slice_in_dim(x, 0, length, axis=axis)
    x = x.reshape(x.shape[:axis] + (k, stride) + x.shape[axis + 1:])
    out = []
    for j in range(taps):
        phases = min(stride, size - stride * j)
        block = lax.slice_in_dim(x, j, j + out_len, axis=axis)
        for r in range(phases):
            out.append(lax.index_in_dim(block, r, axis=axis + 1, keepdims=False))
    return out


def patches(x: jax.Array, window, strides, padding) -> jax.Array:
    """``(n, H, W, C) -> (n, H', W', prod(window) * C)`` zero-padded conv patches.

    Built from pads and contiguous slices (see :func:`_taps`) rather than
    ``lax.conv_general_dilated_patches``, which XLA on CPU runs as a convolution with an
    identity filter, many times slower for the few-channel images of a first layer.
    The feature order is (filter row, filter column, channel).
    """
    d = x.ndim - 2
    pads = pads_for(x.shape[1:-1], window, strides, padding)
    outs = out_spatial(x.shape[1:-1], window, strides, padding)
    parts = [x]
    for axis in range(d):
        parts = [t for part in parts for t in
                 _taps(part, axis + 1, window[axis], strides[axis], pads[axis][0], outs[axis])]
    return jnp.concatenate(parts, axis=-1)
