"""SimVAE (Srivastava et al., 2019) on a damped pendulum: recover (length, damping,
initial angle) from an observed trajectory.

The simulator integrates theta'' = -(g / L) sin(theta) - c theta' from rest at
theta(0) = theta_0 with RK4 (``lax.scan``, 10 substeps per observation) and observes
theta at 32 times over 6 seconds. The parameters have a uniform prior, L in [0.5, 2] m,
c in [0.05, 0.5] 1/s, theta_0 in [0.2, 1.2] rad, reached from the VAE's standard normal
latent through the normal CDF (see ``gendsl.recipes.uniform_box``).

1. ``decoder``: the decoder learns the simulator (squared error on trajectories);
2. ``encoder``: with the decoder frozen, the encoder maximises the ELBO of noisy
   trajectories and becomes an approximate inverse simulator.

    gendsl run programs/simvae_pendulum.py
"""

import jax
import jax.numpy as jnp
import optax

import gendsl as gd
from gendsl.recipes import recovery_evaluation, simvae, uniform_box

DEFAULTS = {
    "steps": None,             # the stages' budgets: decoder_steps + encoder_steps
    "decoder_steps": 3000,
    "encoder_steps": 6000,
    "batch_size": 128,
    "steps_per_call": 100,
    "checkpoint_every": 1000,
    "log_every": 500,
    "hidden": (256, 256),
    "lr": 2e-3,               # peak of each stage's cosine decay
    "obs_noise": 0.01,         # radians
    "num_test": 2000,
}

NAMES = ("length", "damping", "theta0")
GRAVITY = 9.81
NUM_OBS, DURATION, SUBSTEPS = 32, 6.0, 10
to_params = uniform_box([0.5, 0.05, 0.2], [2.0, 0.5, 1.2])


def pendulum(z):
    """The simulator: theta at NUM_OBS times of the damped pendulum with parameters T(z)."""
    length, damping, theta0 = to_params(z)
    h = DURATION / (NUM_OBS * SUBSTEPS)

    def field(s):
        theta, omega = s
        return jnp.stack([omega, -GRAVITY / length * jnp.sin(theta) - damping * omega])

    def rk4(s, _):
        k1 = field(s)
        k2 = field(s + h / 2 * k1)
        k3 = field(s + h / 2 * k2)
        k4 = field(s + h * k3)
        return s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

    def observe(s, _):
        s, _ = jax.lax.scan(rk4, s, None, length=SUBSTEPS)
        return s, s[0]

    _, thetas = jax.lax.scan(observe, jnp.stack([theta0, 0.0]), None, length=NUM_OBS)
    return thetas


def build(cfg):
    """The two-stage SimVAE experiment for config ``cfg`` (see DEFAULTS)."""
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(3, cfg.hidden, NUM_OBS, rngs=rngs,
                                                  activation=jax.nn.gelu),
                    optax.adam(optax.cosine_decay_schedule(cfg.lr, cfg.decoder_steps, 0.05)))
    E = gd.player("E", lambda rngs: gd.nn.GaussianEncoder(NUM_OBS, cfg.hidden, 3, rngs=rngs),
                  optax.adam(optax.cosine_decay_schedule(cfg.lr, cfg.encoder_steps, 0.05)))
    staged = simvae(gd.simulator(pendulum), Dec, E, latent_dim=3, obs_noise=cfg.obs_noise,
                    decoder_steps=cfg.decoder_steps, encoder_steps=cfg.encoder_steps)
    prior = gd.datasets.standard_normal(3, batch_size=cfg.batch_size, seed=cfg.seed)
    evaluate = recovery_evaluation(pendulum, to_params, NAMES, num_test=cfg.num_test,
                                   obs_noise=cfg.obs_noise)
    return gd.Experiment(staged, source=(prior, prior), evaluate=evaluate)
