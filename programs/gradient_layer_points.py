"""The gradient layer's particle form on a 2-D mixture: points moved up D's logit.

    gendsl run programs/gradient_layer_points.py                     # ring of 8
    gendsl run programs/gradient_layer_points.py --set data=grid25   # 5 x 5 grid of 25
    gendsl run programs/gradient_layer_points.py --set eta=0.002 --set d_steps=5

A set of particles ``X`` (no generator) alternates with a discriminator ``D`` trained by
the non-saturating loss. Each particle step is one gradient layer,
``X <- X + eta * grad_x d(X)`` (Nitanda & Suzuki, AISTATS 2018, KL variant), written as
an ordinary objective: ``X`` minimises ``0.5 * sum ||X - sg(gradient_layer(D, X, eta))||^2``
with plain SGD of step 1, whose update lands exactly on the moved points. The particles
start as a tight blob at the centre of the data (a collapsed generator). summary.json
reports the mode metrics of the particles themselves (docs/gradient_layer.md).
"""

import optax

import gendsl as gd
from gendsl import losses as L

DEFAULTS = {
    "steps": 2000,
    "batch_size": 256,        # real points per D step
    "steps_per_call": 100,
    "checkpoint_every": 1000,
    "data": "ring8",          # ring8 | grid25
    "points": 1024,           # particles
    "init_std": 0.05,         # spread of the initial blob around (0.5, 0.5)
    "eta": 1e-3,              # gradient-layer step size
    "layers": 1,              # gradient layers (same D) per particle step
    "d_steps": 1,             # D updates per particle step
    "hidden": None,           # D's widths; default (64, 64) on ring8, (128, 128) on grid25
    "lr": 2e-3,               # D's Adam step
    "scale": 1.0,             # multiplies the data (centres and std) and the blob (the
                              # flow check uses 20: steps eta ~ 0.1 < std^2 stay stable)
}

SOURCES = {"ring8": gd.datasets.ring8, "grid25": gd.datasets.grid25}
HIDDEN = {"ring8": (64, 64), "grid25": (128, 128)}


def widths(value):
    """Hidden widths from a tuple or from ``--set hidden=128,128`` text."""
    if isinstance(value, int):
        value = (value,)
    if isinstance(value, str):
        value = [w for w in value.strip("()[] ").split(",") if w.strip()]
    return tuple(int(w) for w in value)


def blob(n, std, centre=0.5):
    """``key -> (n, 2)`` points ``N((centre, centre), std^2 I)``: the particles' start."""
    import jax

    def init(key):
        return centre + std * jax.random.normal(key, (n, 2))
    init.__qualname__ = (f"blob({n}, std={std})" if centre == 0.5
                         else f"blob({n}, std={std}, centre={centre})")
    return init


def scaled(source, scale):
    """``source`` (a mixture) with centres and std multiplied by ``scale``."""
    if scale == 1:
        return source
    return gd.datasets.mixture(source.centres * scale, std=source.std * scale,
                               batch_size=source.batch_size, seed=source.seed)


def build(cfg):
    """The particle experiment for config ``cfg`` (see DEFAULTS)."""
    if cfg.data not in SOURCES:
        raise gd.errors.ConfigError(f"data={cfg.data!r}: choose one of {sorted(SOURCES)}")
    scale = float(cfg.scale)
    if not scale > 0:
        raise gd.errors.ConfigError(f"scale={cfg.scale!r}: must be a positive number")
    source = scaled(SOURCES[cfg.data](batch_size=cfg.batch_size, seed=cfg.seed), scale)
    hidden = widths(cfg.hidden) if cfg.hidden else HIDDEN[cfg.data]
    X = gd.points("X", blob(int(cfg.points), float(cfg.init_std) * scale, 0.5 * scale),
                  optax.sgd(1.0))
    D = gd.player("D", lambda rngs: gd.nn.MLP(2, hidden, 1, rngs=rngs),
                  optax.adam(cfg.lr, b1=0.5))
    x = gd.data("x")
    moved = gd.stop_gradient(gd.gradient_layer(D, X(), float(cfg.eta), steps=int(cfg.layers)))
    program = gd.program(
        {D: L.nonsaturating_d(D(x), D(X())),
         X: 0.5 * gd.sum(gd.square(X() - moved))},
        gd.alternating(D=int(cfg.d_steps), X=1), samples=X())
    return gd.Experiment(program, source)
