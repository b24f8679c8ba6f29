"""The Riemannian metric a generator pulls back onto its latent space.

A smooth generator ``g: R^d -> R^D`` measures a latent displacement ``dz`` by the length
of the output displacement it causes, ``|J(z) dz|``; the metric is therefore

    M(z) = J(z)^T J(z),         J(z) = dg/dz  (D x d),

and the magnification factor ``sqrt(det M(z))`` is the volume a unit latent cell takes
in output space (Chen et al., arXiv 1711.01204; Arvanitidis et al. 2018).

A decoder here is a function of ONE latent point, ``g(z)`` with ``z`` of shape ``(d,)``;
its output may have any shape (it is flattened). Batch with ``jax.vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gendsl.errors import GeometryError

METHODS = ("auto", "jacfwd", "matrix_free")
AUTO_DENSE_LIMIT = 1 << 22
"""``method="auto"`` builds the dense Jacobian when ``D * d`` is at most this many
entries, and applies ``J^T J`` one basis vector at a time otherwise."""


def flat(g):
    """``g`` with its output flattened to a vector (a helper for every metric function).

    Args:
      g: a function of one latent point ``z`` (shape ``(d,)``).
    Returns:
      ``z -> ravel(g(z))``.
    """
    return lambda z: jnp.ravel(g(z))


def check_latent(z, name: str = "z"):
    """Returns ``z`` as an array, checked to be one latent point (a vector).

    Args:
      z: the point.
      name: the argument's name, for the message.
    Returns:
      ``jnp.asarray(z)``.
    Raises:
      GeometryError: if ``z`` is not one-dimensional.
    """
    z = jnp.asarray(z)
    if z.ndim != 1:
        raise GeometryError(
            f"{name} has shape {z.shape}; the geometry functions take ONE latent point, "
            f"a vector of shape (d,). Batch with jax.vmap (or flatten a structured latent).")
    return z


def metric_vector_product(g, z, v):
    """``M(z) v = J^T (J v)`` without forming ``J``: one JVP and one VJP.

    Args:
      g: the decoder, a function of one latent point.
      z: the point, shape ``(d,)``.
      v: a tangent vector at ``z``, shape ``(d,)``.
    Returns:
      ``M(z) v``, shape ``(d,)``.
    Raises:
      GeometryError: if ``z`` is not a vector.
    """
    z = check_latent(z)
    f = flat(g)
    out, vjp = jax.vjp(f, z)
    _, jv = jax.jvp(f, (z,), (jnp.asarray(v, z.dtype),))
    return vjp(jv)[0]


def jacobian(g, z):
    """The decoder's Jacobian ``J(z)`` of shape ``(D, d)`` (forward mode: ``d`` JVPs).

    Args:
      g: the decoder.
      z: the point, shape ``(d,)``.
    Returns:
      ``J(z)`` with the output flattened.
    Raises:
      GeometryError: if ``z`` is not a vector.
    """
    return jax.jacfwd(flat(g))(check_latent(z))


def pullback_metric(g, z, *, method: str = "auto"):
    """The pull-back metric ``M(z) = J(z)^T J(z)``, a ``(d, d)`` PSD matrix.

    Args:
      g: the decoder, a function of one latent point.
      z: the point, shape ``(d,)``.
      method: ``"jacfwd"`` forms ``J`` (``d`` JVPs, ``D x d`` memory: best for small
        latents); ``"matrix_free"`` applies :func:`metric_vector_product` to the ``d``
        basis vectors one at a time (``lax.map``: memory of one output, for large
        ``D``); ``"auto"`` picks ``jacfwd`` unless ``D * d`` exceeds
        :data:`AUTO_DENSE_LIMIT`.
    Returns:
      ``M(z)``, symmetric, shape ``(d, d)``.
    Raises:
      GeometryError: if ``z`` is not a vector or ``method`` is unknown.
    """
    z = check_latent(z)
    if method not in METHODS:
        raise GeometryError(f"pullback_metric(method={method!r}): method must be one of "
                            f"{METHODS}")
    if method == "auto":
        size = jax.eval_shape(flat(g), z).shape[0] * z.shape[0]
        method = "jacfwd" if size <= AUTO_DENSE_LIMIT else "matrix_free"
    if method == "jacfwd":
        j = jacobian(g, z)
        return j.T @ j
    columns = jax.lax.map(lambda e: metric_vector_product(g, z, e), jnp.eye(z.shape[0],
                                                                            dtype=z.dtype))
    m = columns.T
    return (m + m.T) / 2


def stochastic_metric(mean, std, z, *, method: str = "auto"):
    """The expected metric of a stochastic decoder ``x = mean(z) + std(z) * eps``:

        M(z) = J_mean^T J_mean + J_std^T J_std

    (Arvanitidis et al. 2018; with a variance head, pass ``std = sqrt(var)``). It is the
    pull-back metric of the map ``z -> (mean(z), std(z))``, so every curve and geodesic
    function takes that map: :func:`stacked_decoder` builds it.

    Args:
      mean: the decoder's mean, a function of one latent point.
      std: its standard deviation (same output shape), a function of one latent point.
      z: the point, shape ``(d,)``.
      method: as in :func:`pullback_metric`.
    Returns:
      ``M(z)``, shape ``(d, d)``.
    Raises:
      GeometryError: as :func:`pullback_metric`.
    """
    return pullback_metric(stacked_decoder(mean, std), z, method=method)


def stacked_decoder(mean, std):
    """The map ``z -> concat(ravel(mean(z)), ravel(std(z)))`` whose pull-back metric is a
    stochastic decoder's expected metric (:func:`stochastic_metric`).

    Args:
      mean: the decoder's mean.
      std: the decoder's standard deviation.
    Returns:
      A decoder to pass to any geometry function.
    """
    return lambda z: jnp.concatenate([jnp.ravel(mean(z)), jnp.ravel(std(z))])


def magnification_factor(g, z, *, method: str = "auto"):
    """The magnification factor ``sqrt(det M(z))``: how much output volume a unit latent
    volume at ``z`` is stretched to (computed through ``slogdet`` for stability).

    Args:
      g: the decoder.
      z: the point, shape ``(d,)``.
      method: as in :func:`pullback_metric`.
    Returns:
      A scalar, ``>= 0``.
    Raises:
      GeometryError: as :func:`pullback_metric`.
    """
    sign, logdet = jnp.linalg.slogdet(pullback_metric(g, z, method=method))
    return jnp.where(sign > 0, jnp.exp(logdet / 2), 0.0)
