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

    gendsl run programs/simvae_blobs.py
"""

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
    staged = simvae(gd.simulator(render), Dec, E, latent_dim=3, obs_noise=cfg.obs_noise,
                    decoder_steps=cfg.decoder_steps, encoder_steps=cfg.encoder_steps)
    prior = gd.datasets.standard_normal(3, batch_size=cfg.batch_size, seed=cfg.seed)
    evaluate = recovery_evaluation(render, to_params, NAMES, num_test=cfg.num_test,
                                   obs_noise=cfg.obs_noise)
    return gd.Experiment(staged, source=(prior, prior), evaluate=evaluate)
