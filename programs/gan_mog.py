"""A non-saturating GAN on a 2-D mixture of Gaussians, trained with alternating updates.

    gendsl run programs/gan_mog.py                       # ring of 8 (GA-NTK's setting)
    gendsl run programs/gan_mog.py --set data=grid25     # 5 x 5 grid of 25

The run directory gets samples.png (samples over the data), metrics.jsonl, summary.json
with the mode metrics (modes covered, high-quality fraction, KL from uniform) on 10,000
samples, and Orbax checkpoints.
"""

import optax

import gendsl as gd
from gendsl import losses as L

DEFAULTS = {
    "steps": 6000,
    "batch_size": 256,
    "steps_per_call": 100,
    "checkpoint_every": 1000,
    "data": "ring8",          # ring8 | grid25
    "latent": 8,
    "hidden": None,           # default: (64, 64) on ring8, (128, 128) on grid25
    "lr": 2e-3,
    "r1": 0.0,                # weight of gamma/2 * R1 on real data (0: off)
    "ema": 0.0,               # generator EMA decay for sampling (0: off)
}

SOURCES = {"ring8": gd.datasets.ring8, "grid25": gd.datasets.grid25}
HIDDEN = {"ring8": (64, 64), "grid25": (128, 128)}


def widths(value):
    """Hidden widths from a tuple or from ``--set hidden=128,128`` text."""
    if isinstance(value, str):
        value = [w for w in value.strip("()[] ").split(",") if w.strip()]
    return tuple(int(w) for w in value)


def hidden_widths(cfg):
    """The hidden widths ``cfg`` asks for: ``--set hidden=...`` or the data's default."""
    return widths(cfg.hidden) if cfg.hidden else HIDDEN[cfg.data]


def build(cfg):
    """The GAN experiment for config ``cfg`` (see DEFAULTS)."""
    if cfg.data not in SOURCES:
        raise gd.errors.ConfigError(f"data={cfg.data!r}: choose one of {sorted(SOURCES)}")
    source = SOURCES[cfg.data](batch_size=cfg.batch_size, seed=cfg.seed)
    hidden = hidden_widths(cfg)
    adam = optax.adam(cfg.lr, b1=0.5)
    G = gd.player("G", lambda rngs: gd.nn.MLP(cfg.latent, hidden, 2, rngs=rngs), adam)
    D = gd.player("D", lambda rngs: gd.nn.MLP(2, hidden, 1, rngs=rngs), adam)
    x, z = gd.data("x"), gd.latent("z", cfg.latent)
    fake = gd.named("fake", G(z))
    d_loss = L.nonsaturating_d(D(x), D(fake))
    if cfg.r1:
        d_loss = d_loss + cfg.r1 / 2 * L.r1(D, x)
    program = gd.program({D: d_loss, G: L.nonsaturating_g(D(fake))},
                         gd.alternating(D=1, G=1), samples=fake,
                         ema={G: cfg.ema} if cfg.ema else None)
    return gd.Experiment(program, source)
