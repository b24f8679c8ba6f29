"""GAN losses on discriminator outputs (logits for the probabilistic ones).

Each ``*_d`` is the discriminator's loss on its outputs for real and fake samples, and
each ``*_g`` the generator's loss on the discriminator's outputs for fake samples. All
return batch means.

* non-saturating (Goodfellow et al., 2014): D minimises ``softplus(-D(x)) +
  softplus(D(G(z)))``, G minimises ``softplus(-D(G(z)))``.
* minimax: G minimises ``-softplus(D(G(z)))`` (i.e. ``log(1 - sigmoid(D(G(z))))``).
* hinge (Lim & Ye, 2017; Miyato et al., 2018).
* Wasserstein (Arjovsky et al., 2017): D minimises ``D(G(z)) - D(x)``.
* least squares (Mao et al., 2017), with targets a=0 (fake), b=1 (real), c=1.

>>> import jax.numpy as jnp
>>> float(nonsaturating_d.rule(jnp.zeros(4), jnp.zeros(4)))  # 2 log 2
1.3862943649291992
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gendsl.terms.primitive import primitive


@primitive
def nonsaturating_d(real, fake):
    """Discriminator loss ``E softplus(-D(x)) + E softplus(D(G(z)))`` (logits)."""
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


@primitive
def nonsaturating_g(fake):
    """Non-saturating generator loss ``E softplus(-D(G(z)))`` (logits)."""
    return jnp.mean(jax.nn.softplus(-fake))


@primitive
def minimax_d(real, fake):
    """Discriminator loss of the minimax game (same as the non-saturating one)."""
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


@primitive
def minimax_g(fake):
    """Minimax generator loss ``E log(1 - sigmoid(D(G(z)))) = -E softplus(D(G(z)))``."""
    return -jnp.mean(jax.nn.softplus(fake))


@primitive
def hinge_d(real, fake):
    """Hinge discriminator loss ``E relu(1 - D(x)) + E relu(1 + D(G(z)))``."""
    return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


@primitive
def hinge_g(fake):
    """Hinge generator loss ``-E D(G(z))``."""
    return -jnp.mean(fake)


@primitive
def wasserstein_d(real, fake):
    """Wasserstein critic loss ``E D(G(z)) - E D(x)`` (pair it with a penalty)."""
    return jnp.mean(fake) - jnp.mean(real)


@primitive
def wasserstein_g(fake):
    """Wasserstein generator loss ``-E D(G(z))``."""
    return -jnp.mean(fake)


@primitive
def least_squares_d(real, fake):
    """Least-squares discriminator loss ``E (D(x) - 1)^2 / 2 + E D(G(z))^2 / 2``."""
    return 0.5 * jnp.mean(jnp.square(real - 1.0)) + 0.5 * jnp.mean(jnp.square(fake))


@primitive
def least_squares_g(fake):
    """Least-squares generator loss ``E (D(G(z)) - 1)^2 / 2``."""
    return 0.5 * jnp.mean(jnp.square(fake - 1.0))
