"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline, no download).

The train/test split is fixed: a permutation drawn with seed 0 (independent of any
source's batch seed), the last 20% (359 images) for test, the other 1,438 for train.
"""

from __future__ import annotations

import functools

import numpy as np

from gendsl.datasets.array_source import ArraySource, frozen_fields
from gendsl.datasets.source import check_batch_size, check_index
from gendsl.errors import DataError

SPLITS = ("train", "test", "all")
TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int32)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _split_rows(split: str, n: int) -> np.ndarray:
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}.")
    if split == "all":
        return np.arange(n)
    perm = np.random.default_rng(0).permutation(n)
    n_test = int(round(TEST_FRACTION * n))
    return np.sort(perm[n - n_test :] if split == "test" else perm[: n - n_test])


def check_scale(scale: tuple[float, float]) -> tuple[float, float]:
    """Validate a pixel range ``(low, high)`` and return it as floats."""
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise DataError(f"scale must be a pair (low, high) such as (0, 1) or (-1, 1), got {scale!r}.") from None
    if not hi > lo:
        raise DataError(f"scale must have high > low, got {scale!r}.")
    return lo, hi


def digits_arrays(split: str = "train", scale: tuple[float, float] = (0, 1), flatten: bool = False) -> dict[str, np.ndarray]:
    """The digits of one split as arrays (new, writable copies).

    Args:
      split: ``"train"`` (1,438 images), ``"test"`` (359) or ``"all"`` (1,797).
      scale: pixel range ``(low, high)``; ink is ``high``.
      flatten: ``(N, 64)`` images instead of ``(N, 8, 8, 1)``.

    Returns:
      ``{"x": float32 images, "y": int32 labels (N,)}``.

    >>> d = digits_arrays("test", scale=(-1, 1))
    >>> d["x"].shape, d["y"].shape, float(d["x"].min()), float(d["x"].max())
    ((359, 8, 8, 1), (359,), -1.0, 1.0)
    """
    lo, hi = check_scale(scale)
    images, labels = _raw_digits()
    rows = _split_rows(split, images.shape[0])
    x = (lo + (hi - lo) * images[rows]).astype(np.float32)
    x = x.reshape(len(rows), 64) if flatten else x[..., None]
    return {"x": x, "y": labels[rows].copy()}


def digits(
    batch_size: int = 128,
    split: str = "train",
    seed: int = 0,
    scale: tuple[float, float] = (0, 1),
    flatten: bool = False,
) -> ArraySource:
    """The 8x8 digits as a source: fields ``"x"`` (images) and ``"y"`` (int32 labels).

    Args:
      batch_size: images per batch (at most the split's size).
      split: ``"train"``, ``"test"`` or ``"all"`` (see :func:`digits_arrays`).
      seed: seed of the per-epoch reshuffles (the split does not depend on it).
      scale: pixel range, ``(0, 1)`` or ``(-1, 1)`` (any ``low < high`` works).
      flatten: serve ``(batch_size, 64)`` instead of ``(batch_size, 8, 8, 1)``.

    Returns:
      An :class:`ArraySource` with ``sample_kind="images"`` and
      ``image_shape=(8, 8, 1)``; for ``split="train"`` its ``held_out`` is the test
      split (never served), for the others None.

    >>> src = digits(batch_size=32)
    >>> src.batch(0)["x"].shape, src.batch(0)["y"].dtype, len(src)
    ((32, 8, 8, 1), dtype('int32'), 1438)
    """
    arrays = digits_arrays(split, scale, flatten)
    n = arrays["x"].shape[0]
    return ArraySource(
        frozen_fields(arrays, copy=False),
        batch_size=check_batch_size(batch_size, n),
        seed=check_index(seed, "seed"),
        sample_kind="images",
        image_shape=(8, 8, 1),
        name=f"digits[{split}]",
        held_out=frozen_fields(digits_arrays("test", scale, flatten), copy=False)
        if split == "train" else None,
    )
