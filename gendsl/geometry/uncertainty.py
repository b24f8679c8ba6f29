"""A decoder standard deviation that grows away from the training codes, so that a
decoder with one fixed likelihood std has an expected metric that sees the data's holes.

Arvanitidis et al. ("Latent space oddity", 2018) fit an RBF network for the decoder's
variance; :func:`density_std` builds the same shape from a Gaussian kernel density of the
latent codes instead (constructed, not fitted):

    std(z) = (1 / far_std^2 + s(z) / obs_std^2)^(-1/2),   s = 1 - exp(-rho(z) / rho_5)

with ``rho`` the kernel density of the codes and ``rho_5`` its 5th percentile over the
codes: about ``obs_std`` on the data, ``far_std`` far from it, monotone in between. Pass
it to :func:`gendsl.geometry.stacked_decoder` for the expected metric.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gendsl.errors import GeometryError

FLOOR_PERCENTILE = 5
"""The percentile of the codes' own densities that counts as "on the data" (``rho_5``)."""
DEFAULT_SPACINGS = 2.0
"""The default bandwidth of :func:`density_std`, in median nearest-neighbour spacings."""


def median_spacing(codes) -> float:
    """The median distance from each code to its nearest other code (the unit of
    :func:`density_std`'s default bandwidth).

    Args:
      codes: latent points ``(n, d)``, ``n >= 2``.
    Returns:
      A positive float (the smallest positive float if every code coincides).
    """
    codes = jnp.asarray(codes, jnp.float32)

    def nearest(z):
        d2 = jnp.sum((codes - z) ** 2, -1)
        return jnp.sort(d2)[1]          # [0] is the code itself

    d2 = jax.lax.map(nearest, codes, batch_size=256)
    return max(float(np.sqrt(np.median(np.asarray(d2)))), float(np.finfo(np.float32).tiny))


def density_std(codes, *, obs_std: float, far_std: float, out_shape=(),
                bandwidth: float | None = None):
    """A decoder std that is ``obs_std`` on the training codes and ``far_std`` far from
    them: ``(1 / far_std^2 + s(z) / obs_std^2)^(-1/2)`` with ``s = 1 - exp(-rho / rho_5)``,
    ``rho`` a Gaussian kernel density of ``codes`` and ``rho_5`` its 5th percentile over
    the codes (see the module docstring).

    Args:
      codes: latent codes of the training data ``(n, d)`` (e.g. the encoder's means;
        subsample them to make the std cheaper: it costs ``O(n)`` per point).
      obs_std: the std on the data (e.g. the likelihood's std), ``> 0``.
      far_std: the std far from the data, ``> obs_std``.
      out_shape: the shape of the decoder's output (the std is the same everywhere in it).
      bandwidth: the kernel's width in latent units; ``None``: twice the codes'
        :func:`median_spacing` (at once the spacing the density ripples between the
        codes, and so does the expected metric; holes a few spacings wide still show).
        Too wide a kernel fills the holes in.
    Returns:
      ``std(z) -> out_shape`` for ONE latent point ``z`` ``(d,)``, jit- and vmappable.
    Raises:
      GeometryError: codes not a non-empty ``(n, d)`` array, a non-positive std or
        bandwidth, or ``far_std <= obs_std``.
    """
    codes = jnp.asarray(codes, jnp.float32)
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise GeometryError(f"density_std: codes has shape {codes.shape}; pass at least two "
                            f"latent codes as an (n, d) array")
    if not 0 < obs_std < far_std:
        raise GeometryError(f"density_std: need 0 < obs_std < far_std, got obs_std={obs_std}, "
                            f"far_std={far_std}; far_std is the std far from the data")
    if bandwidth is None:
        bandwidth = DEFAULT_SPACINGS * median_spacing(codes)
    if not bandwidth > 0:
        raise GeometryError(f"density_std: bandwidth={bandwidth} must be positive (or None "
                            f"for twice the codes' median nearest-neighbour spacing)")

    def log_rho(z):
        return jax.nn.logsumexp(-jnp.sum((z - codes) ** 2, -1) / (2 * bandwidth ** 2))

    floor = float(np.percentile(np.asarray(jax.jit(jax.vmap(log_rho))(codes)),
                                FLOOR_PERCENTILE))

    def std(z):
        s = -jnp.expm1(-jnp.exp(log_rho(z) - floor))
        return jnp.full(out_shape, (1 / far_std ** 2 + s / obs_std ** 2) ** -0.5)

    return std
