"""ODE-GAN (Qin et al., 2020) on scikit-learn's 8 x 8 digits: RK4 on the game's flow with
the gradient-norm regulariser, no optimizer; the images counterpart of
programs/ode_gan_mog16.py and the ODE rival of programs/gan_digits.py (Adam).

    gendsl run programs/ode_gan_digits.py
    gendsl run programs/ode_gan_digits.py --set method=euler --set lam=0

The networks are programs/gan_digits.py's (MLP generator with sigmoid pixels, LeakyReLU
MLP discriminator, latent 16, width 256). The solver follows the reference image code
(deepmind-research cs_gan/main_ode.py): plain steps (``opt_name=gd``), the players'
joint flow (each stage sees both players moved), a fresh batch and fresh latents at
every stage, the regulariser on the first stage only. Its CIFAR setting is h = 0.04,
lambda = 0.02, batch 64, with h / 4 for the first 500 steps; h is 0.1 here, without
the warm-up (one seed measured: KID 131 -> 18 -> 15 at steps 0 / 500 / 1000; h = 0.5
was at 50 by step 200 in a single short run; see benchmarks/ode_gan_digits_study.py and
docs/results.md, ODE-GAN, Images).
summary.json reports the KID of generated digits against the held-out digits.
"""

import jax
import optax

import gendsl as gd
from gendsl import losses as L

DEFAULTS = {
    "steps": 4000,
    "batch_size": 64,
    "steps_per_call": 100,
    "latent": 16,
    "hidden": (256, 256),
    "method": "rk4",          # euler | heun | rk4
    "h": 0.1,
    "lam": 0.02,              # gradient-norm regulariser weight (0: off)
    "coupling": "joint",      # joint (the reference image code) | per_player
    "eval_samples": 1000,     # generated digits scored by KID
}

METHODS = {"euler": gd.euler, "heun": gd.heun, "rk4": gd.rk4}


def leaky_relu(x):
    """LeakyReLU(0.2), the usual GAN discriminator nonlinearity."""
    return jax.nn.leaky_relu(x, 0.2)


def build(cfg):
    """The ODE-GAN digits experiment for config ``cfg`` (see DEFAULTS)."""
    if cfg.method not in METHODS:
        raise gd.errors.ConfigError(f"method={cfg.method!r}: choose one of {sorted(METHODS)}")
    source = gd.datasets.digits(batch_size=cfg.batch_size, split="train", seed=cfg.seed)
    hidden = tuple(cfg.hidden)
    plain = optax.sgd(1.0)  # unused by the ODE solver's plain steps
    G = gd.player("G", lambda rngs: gd.nn.MLP(cfg.latent, hidden, 64, rngs=rngs,
                                              out_shape=(8, 8, 1),
                                              output_activation=jax.nn.sigmoid), plain)
    D = gd.player("D", lambda rngs: gd.nn.MLP(64, hidden, 1, rngs=rngs,
                                              activation=leaky_relu), plain)
    x, z = gd.data("x"), gd.latent("z", cfg.latent)
    fake = gd.named("fake", G(z))
    reg = gd.grad_norm_penalty(D, of=G, weight=cfg.lam) if cfg.lam else None
    solver = METHODS[cfg.method](cfg.h, regularizer=reg, coupling=cfg.coupling,
                                 fresh_latents=True, fresh_batches=True)
    program = gd.program({D: L.nonsaturating_d(D(x), D(fake)), G: L.nonsaturating_g(D(fake))},
                         solver, samples=fake)

    def evaluate(compiled, state, key):
        return gd.metrics.digits_kid(compiled.sample(state, key, cfg.eval_samples), seed=0)

    return gd.Experiment(program, source, evaluate=evaluate)
