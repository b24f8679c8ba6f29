"""``samples.png``: generated samples as a person would look at them (matplotlib, Agg).

2-D points are a scatter over the real data in grey; images are an 8 x 8 grid (a
pixel of white between tiles); 1-D
samples are a histogram over the real data's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def sample_kind(samples: np.ndarray, source: Any = None) -> str | None:
    """``"points2d"``, ``"points1d"``, ``"images"`` or ``None`` (nothing to draw).

    The source's ``sample_kind`` wins; otherwise the shape decides.

    >>> sample_kind(np.zeros((5, 2))), sample_kind(np.zeros((5, 8, 8, 1)))
    ('points2d', 'images')
    """
    kind = getattr(source, "sample_kind", None)
    if kind:
        return kind
    if samples.ndim == 2 and samples.shape[1] == 2:
        return "points2d"
    if samples.ndim == 1 or (samples.ndim == 2 and samples.shape[1] == 1):
        return "points1d"
    if samples.ndim in (3, 4) or getattr(source, "image_shape", None):
        return "images"
    return None


def real_samples(source: Any, count: int = 2000) -> np.ndarray | None:
    """About ``count`` real data points from the first batches of ``source`` (its
    ``sample_field``, else field ``x``, else its only field), or ``None``."""
    first = source.batch(0)
    field = getattr(source, "sample_field", None) or (
        "x" if "x" in first else (next(iter(first)) if len(first) == 1 else None)
    )
    if field is None:
        return None
    size = max(1, len(first[field]))
    batches = min(20, math.ceil(count / size))
    values = np.asarray(source.batches(0, batches)[field])
    return values.reshape((-1,) + values.shape[2:])[:count]


def image_grid(
    samples: np.ndarray, image_shape: tuple[int, ...] | None = None, pad: int = 1
) -> np.ndarray:
    """The first 64 images of ``samples`` tiled row by row into a square grid, scaled
    to ``[0, 1]`` together, with ``pad`` pixels of background (1.0) between tiles and
    in empty cells.

    Args:
      samples: images ``(n, h, w[, c])``, or flat ``(n, h * w * c)`` with ``image_shape``.
      image_shape: the shape of one image, for flat samples.
      pad: the gap between tiles, in pixels.

    Returns:
      the grid, ``(rows, cols)`` for one channel, else ``(rows, cols, c)``.

    >>> image_grid(np.arange(4.0).reshape(4, 1, 1)).tolist()
    [[0.0, 1.0, 0.3333333333333333], [1.0, 1.0, 1.0], [0.6666666666666666, 1.0, 1.0]]
    """
    images = np.asarray(samples)[:64]
    if image_shape is not None:
        images = images.reshape((len(images),) + tuple(image_shape))
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    side = math.ceil(math.sqrt(n))
    grid = np.full((side * (h + pad) - pad, side * (w + pad) - pad, c), np.nan, np.float64)
    for i, image in enumerate(images):
        r, col = divmod(i, side)
        top, left = r * (h + pad), col * (w + pad)
        grid[top : top + h, left : left + w] = image
    low, high = np.nanmin(grid), np.nanmax(grid)
    grid = np.nan_to_num((grid - low) / max(high - low, 1e-12), nan=1.0)
    return grid[..., 0] if c == 1 else grid


def save_sample_plot(
    path: str | Path, samples: np.ndarray, source: Any = None, title: str = ""
) -> bool:
    """Draws ``samples`` (with real data from ``source`` behind points) into ``path``.

    Args:
      path: the PNG file.
      samples: generated samples, shape ``(n, 2)``, ``(n,)``/``(n, 1)`` or images.
      source: the data source (real data, ``sample_kind``, ``image_shape``).
      title: prefix of the title (e.g. ``"step 1000"``).

    Returns:
      whether a picture was written (``False`` for samples of no drawable kind).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = np.asarray(samples)
    kind = sample_kind(samples, source)
    if kind is None:
        return False
    real = real_samples(source) if source is not None and kind != "images" else None
    fig, ax = plt.subplots(figsize=(6, 6))
    try:
        if kind == "points2d":
            if real is not None:
                ax.scatter(real[:, 0], real[:, 1], s=4, c="0.75", label="data")
            ax.scatter(samples[:, 0], samples[:, 1], s=4, c="tab:blue", alpha=0.6, label="samples")
            ax.set_aspect("equal", adjustable="datalim")
            ax.legend(loc="upper right", markerscale=3)
        elif kind == "points1d":
            bins = 60
            if real is not None:
                ax.hist(real.ravel(), bins=bins, density=True, color="0.75", label="data")
            ax.hist(samples.ravel(), bins=bins, density=True, histtype="step", label="samples")
            ax.legend(loc="upper right")
        else:
            grid = image_grid(samples, getattr(source, "image_shape", None), pad=1)
            ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, interpolation="nearest")
            ax.axis("off")
        shown = min(len(samples), 64) if kind == "images" else len(samples)
        ax.set_title(f"{title}: {shown} samples" if title else f"{shown} samples")
        fig.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return True
