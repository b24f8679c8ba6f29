"""SimVAE (Srivastava et al., 2019) on a blob renderer: a VAE trained with a simulator
as teacher, in two stages.

The simulator renders a 16 x 16 Gaussian blob from theta = (x, y, sigma) drawn from a
uniform prior (x, y in [3, 12] pixels, sigma in [1, 3]). We write theta = T(z) with
z ~ N(0, I) and T the normal CDF stretched onto the prior's box, so the VAE's standard
normal latent *is* the simulator's parameters:

1. ``decoder``: minimise E_z ||Dec(z) - Sim(T(z))||^2 (the decoder learns the simulator);
2. ``encoder``: with the decoder frozen, maximise the ELBO of x = Sim(T(z)) + noise
   (the encoder learns to invert the decoder).

The encoder's means, mapped through T, then estimate the parameters of held-out
simulator outputs: summary.json reports R^2 per parameter and the correlation matrix
between latent means and parameters.

With ``num_real > 0`` stage 2 trains instead on a fixed set of ``num_real`` "real"
observations (the ``observations=`` path of :func:`gendsl.recipes.simvae`): blobs of
unknown parameters drawn from the prior, with observation noise ``real_noise``, which is
also the likelihood's scale and the noise of the held-out evaluation set.

    gendsl run programs/simvae_blobs.py
    gendsl run programs/simvae_blobs.py --set num_real=4000 real_noise=0.2
"""

import jax
import jax.numpy as jnp
import optax

import gendsl as gd
from gendsl.recipes import recovery_evaluation, simvae, uniform_box

DEFAULTS = {
    "steps": None,             # the stages' budgets: decoder_steps + encoder_steps
    "decoder_steps": 3000,
    "encoder_steps": 3000,
    "batch_size": 128,
    "steps_per_call": 100,
    "checkpoint_every": 1000,
    "log_every": 500,
    "hidden": (256, 256),
    "lr": 1e-3,
    "obs_noise": 0.05,         # observation noise of stage 2's data and likelihood
    "num_test": 2000,
    "num_real": 0,             # > 0: stage 2 trains on this many fixed noisy observations
    "real_noise": 0.05,        # their noise standard deviation (with num_real > 0)
    "real_seed": 777,          # draws their unknown parameters and noise
}

NAMES = ("x", "y", "sigma")
SIZE = 16
to_params = uniform_box([3.0, 3.0, 1.0], [12.0, 12.0, 3.0])


def render(z):
    """The simulator: a 16 x 16 x 1 image of a Gaussian blob (one example)."""
    x, y, sigma = to_params(z)
    u = jnp.arange(SIZE, dtype=jnp.float32)
    image = jnp.exp(-((u[None, :] - x) ** 2 + (u[:, None] - y) ** 2) / (2 * sigma ** 2))
    return image[..., None]


def build(cfg):
    """The two-stage SimVAE experiment for config ``cfg`` (see DEFAULTS)."""
    d = SIZE * SIZE
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(3, cfg.hidden, d, rngs=rngs,
                                                  out_shape=(SIZE, SIZE, 1)), optax.adam(cfg.lr))
    E = gd.player("E", lambda rngs: gd.nn.GaussianEncoder(d, cfg.hidden, 3, rngs=rngs),
                  optax.adam(cfg.lr))
    real = cfg.num_real > 0
    noise = cfg.real_noise if real else cfg.obs_noise
    staged = simvae(gd.simulator(render), Dec, E, latent_dim=3, obs_noise=noise,
                    decoder_steps=cfg.decoder_steps, encoder_steps=cfg.encoder_steps,
                    observations=gd.data("x") if real else None)
    prior = gd.datasets.standard_normal(3, batch_size=cfg.batch_size, seed=cfg.seed)
    second = (gd.datasets.arrays({"x": real_observations(cfg.num_real, noise, cfg.real_seed)},
                                 batch_size=cfg.batch_size, seed=cfg.seed) if real else prior)
    evaluate = recovery_evaluation(render, to_params, NAMES, num_test=cfg.num_test,
                                   obs_noise=noise)
    return gd.Experiment(staged, source=(prior, second), evaluate=evaluate)


def real_observations(n, noise, seed):
    """``n`` noisy renders of parameters drawn from the prior: the "real" data set.

    Args:
      n: observations.
      noise: the Gaussian noise's standard deviation.
      seed: draws the (unknown to the model) parameters and the noise.
    Returns:
      ``(n, 16, 16, 1)`` float32 images.
    """
    k_z, k_noise = jax.random.split(jax.random.key(seed))
    x = jax.vmap(render)(jax.random.normal(k_z, (n, 3)))
    return jax.device_get(x + noise * jax.random.normal(k_noise, x.shape))
