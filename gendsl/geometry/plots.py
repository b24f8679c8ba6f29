"""Pictures of latent geometry (matplotlib, Agg): the magnification factor as a heat map
over a 2-D latent with paths drawn over it, and decoded strips along paths.

    gd.geometry.plot_magnification("mf.png", decoder, [(-3, 3), (-3, 3)],
                                   paths={"geodesic": [best.curve], "straight line": [line]},
                                   points=z_train, labels=y_train)
    gd.geometry.plot_strips("strips.png", decoder,
                            {"geodesic": best.curve, "straight line": line},
                            image_shape=(8, 8))

The arrays behind each picture (:func:`magnification_grid`, :func:`decoded_strip`) are
public too, so a program can report numbers from exactly what it drew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gendsl.errors import GeometryError
from gendsl.geometry.energy import curve_points
from gendsl.geometry.metric import magnification_factor

# Line styles of the paths, in order: geodesics solid, straight lines dashed, then others.
_STYLES = ({"color": "white", "linestyle": "-", "linewidth": 2.0},
           {"color": "tab:red", "linestyle": "--", "linewidth": 1.5},
           {"color": "tab:cyan", "linestyle": ":", "linewidth": 1.5},
           {"color": "tab:orange", "linestyle": "-.", "linewidth": 1.5})


def _check_bounds(bounds) -> np.ndarray:
    box = np.asarray(bounds, dtype=np.float64)
    if box.shape != (2, 2) or np.any(box[:, 1] <= box[:, 0]):
        raise GeometryError(f"bounds must be [(low, high), (low, high)] for a 2-D latent with "
                            f"low < high, got {bounds!r}")
    return box


def magnification_grid(g, bounds, size: int = 64):
    """The magnification factor on a ``size x size`` grid over a 2-D latent box.

    Args:
      g: the decoder, a function of one latent point of shape ``(2,)``.
      bounds: ``[(x_low, x_high), (y_low, y_high)]``.
      size: grid points per axis.
    Returns:
      ``(xs, ys, values)``: the axes ``(size,)`` each and ``values[i, j]``, the factor at
      ``(xs[j], ys[i])`` (rows are y, as ``imshow`` draws them).
    Raises:
      GeometryError: bounds that are not a 2-D box, or ``size < 2``.

    >>> xs, ys, mf = magnification_grid(lambda z: 3.0 * z, [(0, 1), (0, 1)], size=3)
    >>> np.round(mf, 4).tolist()[0]   # sqrt(det(9 I))
    [9.0, 9.0, 9.0]
    """
    box = _check_bounds(bounds)
    if not isinstance(size, int) or size < 2:
        raise GeometryError(f"size must be an int >= 2, got {size!r}")
    xs = np.linspace(box[0, 0], box[0, 1], size)
    ys = np.linspace(box[1, 0], box[1, 1], size)
    grid = jnp.asarray(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2), jnp.float32)
    values = jax.jit(jax.vmap(lambda z: magnification_factor(g, z)))(grid)
    return xs, ys, np.asarray(values).reshape(size, size)


def decoded_strip(g, path, num: int = 10) -> np.ndarray:
    """The decoder's outputs at ``num`` points along a path, equally spaced in the curve's
    parameter (a discretised curve is resampled piecewise linearly).

    Args:
      g: the decoder.
      path: a curve (:mod:`gendsl.geometry.curves`) or an array of points ``(N, d)``.
      num: how many outputs.
    Returns:
      ``(num,) + output shape``.
    """
    pts = np.asarray(curve_points(path))
    cum = np.concatenate([[0.0], np.cumsum(np.ones(len(pts) - 1))]) / (len(pts) - 1)
    t = np.linspace(0.0, 1.0, num)
    at = np.stack([np.interp(t, cum, pts[:, k]) for k in range(pts.shape[1])], -1)
    return np.asarray(jax.vmap(g)(jnp.asarray(at, jnp.float32)))


def plot_magnification(path: str | Path, g, bounds, *,
                       paths: Mapping[str, Sequence[Any]] | None = None,
                       points=None, labels=None, size: int = 64, log: bool = True,
                       title: str = "magnification factor") -> Path:
    """Draws the magnification factor over a 2-D latent with paths and points over it.

    Args:
      path: the PNG file to write.
      g: the decoder.
      bounds: the latent box ``[(x_low, x_high), (y_low, y_high)]``.
      paths: ``{label: [curve or (N, 2) array, ...]}``; the first label is drawn solid
        white, the second dashed red (e.g. ``{"geodesic": ..., "straight line": ...}``).
      points: latent points ``(n, 2)`` to scatter (e.g. encoded training data).
      labels: their classes ``(n,)`` for colour, or None.
      size: grid points per axis.
      log: draw ``log10`` of the factor (it spans orders of magnitude).
      title: the title.
    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    Raises:
      GeometryError: as :func:`magnification_grid`, or a path that is not 2-D.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys, values = magnification_grid(g, bounds, size)
    shown = np.log10(np.maximum(values, 1e-30)) if log else values
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    try:
        image = ax.imshow(shown, origin="lower", cmap="viridis", aspect="auto",
                          extent=(xs[0], xs[-1], ys[0], ys[-1]))
        fig.colorbar(image, ax=ax, label="log10 magnification" if log else "magnification")
        if points is not None:
            pts = np.asarray(points)
            ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5,
                       c=None if labels is None else np.asarray(labels),
                       cmap=None if labels is None else "tab10",
                       color="0.9" if labels is None else None)
        for k, (label, curves) in enumerate((paths or {}).items()):
            style = _STYLES[k % len(_STYLES)]
            for i, curve in enumerate(curves):
                pts = np.asarray(curve_points(curve))
                if pts.ndim != 2 or pts.shape[1] != 2:
                    raise GeometryError(f"paths[{label!r}][{i}] has points of shape "
                                        f"{pts.shape}; a magnification plot needs a 2-D latent")
                ax.plot(pts[:, 0], pts[:, 1], label=label if i == 0 else None, **style)
                ax.plot(pts[[0, -1], 0], pts[[0, -1], 1], "o", color=style["color"], ms=4)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        if paths:
            ax.legend(loc="upper right", framealpha=0.8)
        ax.set_title(title)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def plot_strips(path: str | Path, g, rows: Mapping[str, Any], *, num: int = 10,
                image_shape: Sequence[int] | None = None, title: str = "") -> Path:
    """Draws decoded images along each path, one row per path.

    Args:
      path: the PNG file to write.
      g: the decoder (outputs images, or flat vectors with ``image_shape``).
      rows: ``{label: curve or (N, d) array}``, drawn top to bottom.
      num: images per row.
      image_shape: the shape of one image ``(h, w)`` or ``(h, w, c)`` when the decoder's
        output is flat.
      title: the title.
    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strips = {label: decoded_strip(g, curve, num) for label, curve in rows.items()}
    fig, axes = plt.subplots(len(strips), 1, figsize=(num * 0.8, 1.0 * len(strips) + 0.4),
                             squeeze=False)
    try:
        for ax, (label, images) in zip(axes[:, 0], strips.items()):
            if image_shape is not None:
                images = images.reshape((num,) + tuple(image_shape))
            if images.ndim == 4 and images.shape[-1] == 1:
                images = images[..., 0]
            low, high = min(0.0, float(images.min())), max(1.0, float(images.max()))
            gap = np.full(images.shape[1:2] + (1,) + images.shape[3:], high)
            tiles = [part for image in images for part in (image, gap)][:-1]
            ax.imshow(np.concatenate(tiles, axis=1), cmap="gray", interpolation="nearest",
                      vmin=low, vmax=high)
            ax.set_yticks([])
            ax.set_xticks([])
            ax.set_ylabel(label, rotation=0, ha="right", va="center")
        if title:
            fig.suptitle(title)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)
