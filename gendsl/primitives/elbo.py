"""The evidence lower bound of a VAE, with the reparameterisation trick.

``elbo(E, Dec, x)``: the encoder ``E(x)`` returns ``(mean, log_var)`` of a diagonal
Gaussian q(z|x); ``z = mean + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``; the
decoder ``Dec(z)`` returns Bernoulli logits or a Gaussian mean (with ``obs_std``) of
p(x|z); the prior is N(0, I), whose KL term is in closed form. Returns the batch mean
of ``log p(x|z) - KL(q(z|x) || p(z))`` in nats per example, and reports its two parts as
metrics ``elbo/reconstruction`` and ``elbo/kl``. Minimise ``-elbo(...)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from gendsl.errors import PrimitiveError
from gendsl.terms.primitive import primitive

_LIKELIHOODS = ("bernoulli", "gaussian")


def _sum_features(a):
    return jnp.sum(a, axis=tuple(range(1, a.ndim)))


def gaussian_kl(mean, log_var):
    """Per-example ``KL(N(mean, exp(log_var)) || N(0, I))``, summed over features."""
    return 0.5 * _sum_features(jnp.exp(log_var) + jnp.square(mean) - 1.0 - log_var)


def log_likelihood(x, out, likelihood: str, obs_std: float = 1.0):
    """Per-example ``log p(x | out)`` for a Bernoulli (logits) or Gaussian (mean)."""
    if likelihood == "bernoulli":
        return _sum_features(x * out - jax.nn.softplus(out))
    if likelihood == "gaussian":
        var = obs_std ** 2
        return _sum_features(-0.5 * jnp.square(x - out) / var
                             - 0.5 * math.log(2 * math.pi * var))
    raise PrimitiveError(f"elbo: likelihood must be one of {_LIKELIHOODS}, got {likelihood!r}")


@primitive(needs_key=True, has_aux=True)
def elbo(encoder, decoder, x, likelihood="bernoulli", obs_std=1.0, key=None):
    """Mean ELBO of a VAE on ``x``: encoder gives ``(mean, log_var)``, decoder gives
    Bernoulli logits (``likelihood="bernoulli"``) or a Gaussian mean with ``obs_std``."""
    if likelihood not in _LIKELIHOODS:
        raise PrimitiveError(f"elbo: likelihood must be one of {_LIKELIHOODS}, got {likelihood!r}")
    out = encoder(x)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise PrimitiveError("elbo: the encoder must return (mean, log_var); it returned "
                             f"{type(out).__name__}")
    mean, log_var = out
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape, mean.dtype)
    recon = decoder(z)
    if jnp.shape(recon) != jnp.shape(x):
        raise PrimitiveError(
            f"elbo: the decoder returns shape {jnp.shape(recon)} for data of shape "
            f"{jnp.shape(x)}; its output must match the data")
    rec = jnp.mean(log_likelihood(x, recon, likelihood, obs_std))
    kl = jnp.mean(gaussian_kl(mean, log_var))
    return rec - kl, {"reconstruction": rec, "kl": kl}
