"""ODE-GAN (Qin et al., 2020) on the 4 x 4 grid of 16 Gaussians: the game's gradient
flow integrated with RK4 (or Euler / Heun), with the gradient-norm regulariser.

    gendsl run programs/ode_gan_mog16.py
    gendsl run programs/ode_gan_mog16.py --set batch_size=128 --set steps=30000
    gendsl run programs/ode_gan_mog16.py --set method=euler --set lam=0

The defaults are the paper's mixture setting: two-hidden-layer ReLU MLPs of width 25,
latent 32, batch 512, plain steps of h = 0.1 (no optimizer), lambda = 0.07, RK4, and
stratified batches (every mode equally often, as the reference code draws them);
samples come from an EMA of the generator. The players are coupled as in DeepMind's
reference notebook (odegan_mog16.ipynb): each integrates its own flow with the other
frozen at the step's start (``coupling=per_player``; ``joint`` integrates the game's
flow, as the reference image code does). docs/results.md ("Against the reference
implementation") lists every difference from the notebook and the seed success rates of
both, run side by side (benchmarks/ode_gan_reference.py). The flow is slow: it needs
tens of thousands of steps (t = h * steps in the thousands) to settle.

What we measured (benchmarks/ode_gan_study.py, 10,000 EMA samples, seeds 0-5):
batch 128 covers all 16 modes in 4 of 6 runs by step 20k (the others stay at 10-13 up
to 40k); batch 512 covers fewer by 30k (11-14 modes with the joint flow;
``coupling=per_player``, the reference code's splitting, reaches 16 in 2 of 6). Euler
without the regulariser collapses onto 0-1 modes in every run.
"""

import optax

import gendsl as gd
from gendsl import losses as L

DEFAULTS = {
    "steps": 60_000,
    "batch_size": 512,
    "steps_per_call": 100,
    "checkpoint_every": 10_000,
    "log_every": 1000,
    "method": "rk4",          # euler | heun | rk4
    "h": 0.1,
    "lam": 0.07,              # gradient-norm regulariser weight (0: off)
    "latent": 32,
    "hidden": (25, 25),
    "ema": 0.999,             # generator EMA decay for sampling (0: off)
    "stratified": True,       # equal counts of every mode per batch, as the reference code
    "coupling": "per_player", # per_player (the reference notebook's splitting) | joint
    "fresh_latents": False,   # new latent draws at every RK stage
}

METHODS = {"euler": gd.euler, "heun": gd.heun, "rk4": gd.rk4}


def build(cfg):
    """The ODE-GAN experiment for config ``cfg`` (see DEFAULTS)."""
    if cfg.method not in METHODS:
        raise gd.errors.ConfigError(f"method={cfg.method!r}: choose one of {sorted(METHODS)}")
    source = gd.datasets.grid16(batch_size=cfg.batch_size, seed=cfg.seed,
                                stratified=cfg.stratified)
    plain = optax.sgd(1.0)  # unused by the ODE solver's plain steps
    G = gd.player("G", lambda rngs: gd.nn.MLP(cfg.latent, cfg.hidden, 2, rngs=rngs), plain)
    D = gd.player("D", lambda rngs: gd.nn.MLP(2, cfg.hidden, 1, rngs=rngs), plain)
    x, z = gd.data("x"), gd.latent("z", cfg.latent)
    fake = gd.named("fake", G(z))
    reg = gd.grad_norm_penalty(D, of=G, weight=cfg.lam) if cfg.lam else None
    program = gd.program({D: L.nonsaturating_d(D(x), D(fake)), G: L.nonsaturating_g(D(fake))},
                         METHODS[cfg.method](cfg.h, regularizer=reg, coupling=cfg.coupling,
                                             fresh_latents=cfg.fresh_latents), samples=fake,
                         ema={G: cfg.ema} if cfg.ema else None)
    return gd.Experiment(program, source)
