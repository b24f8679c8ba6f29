"""GA-NTK on a 2-D mixture of Gaussians: synthesized points against an NTK-GP discriminator.

    gendsl run programs/ga_ntk_mog.py                       # ring of 8
    gendsl run programs/ga_ntk_mog.py --set data=grid25     # 5 x 5 grid of 25

The player is the set of synthesized points itself (no generator network): plain
gradient descent on the GA-NTK loss, clipped to the data range [0, 1]^2. The
discriminator is the NTK of an infinitely wide Dense-ReLU network (the reference's
"fnn": W_std^2 = 1.4615, b_std^2 = 0.1) trained for time t in closed form. summary.json
reports the mode metrics of the synthesized points themselves (there are no other
samples: coverage is measured on the `points` samples, not on 10,000 draws).
"""

import gendsl as gd
from gendsl import kernels as K
from gendsl.primitives.ntk_gp import ntk_gp_loss
from gendsl.terms.synthesized import synthesized_points

DEFAULTS = {
    "steps": 300,
    "batch_size": 256,        # real points per step
    "steps_per_call": 50,
    "checkpoint_every": 100,
    "log_every": 50,
    "data": "ring8",          # ring8 | grid25
    "points": 256,            # synthesized points
    "lr": 10.0,               # their gradient-descent step (see docs/ga_ntk.md)
    "t": None,                # NTK-GP training time; default 4 * 65536 (ring8), 16 * 65536 (grid25)
    "ntk_lr": 1e-2,           # the NTK-GP's own learning rate
    "diag_reg": 1e-5,
    "loss": "ce",             # ce | mse
    "width": 64,              # only the kernel's text: the NTK is the infinite-width limit
    "depth": 2,               # hidden Dense-ReLU layers
    "noise": 0.0,             # gradient noise std (0: off)
}

SOURCES = {"ring8": gd.datasets.ring8, "grid25": gd.datasets.grid25}
TIMES = {"ring8": 4 * 65536.0, "grid25": 16 * 65536.0}
W_STD, B_STD = 1.4615 ** 0.5, 0.1 ** 0.5


def dense_relu_kernel(width, depth):
    """The reference's fully connected NTK: ``depth`` x (Dense-ReLU), then Dense(1)."""
    layers = []
    for _ in range(depth):
        layers += [K.Dense(width, W_STD, B_STD), K.Relu()]
    return K.serial(*layers, K.Dense(1, W_STD, B_STD))


def build(cfg):
    """The GA-NTK experiment for config ``cfg`` (see DEFAULTS)."""
    if cfg.data not in SOURCES:
        raise gd.errors.ConfigError(f"data={cfg.data!r}: choose one of {sorted(SOURCES)}")
    source = SOURCES[cfg.data](batch_size=cfg.batch_size, seed=cfg.seed)
    P = synthesized_points("P", cfg.points, (2,), cfg.lr, data_range=(0.0, 1.0),
                           noise=cfg.noise, noise_seed=cfg.seed)
    loss = ntk_gp_loss(dense_relu_kernel(cfg.width, cfg.depth), gd.data("x"), P(),
                       t=cfg.t or TIMES[cfg.data], lr=cfg.ntk_lr, diag_reg=cfg.diag_reg,
                       loss=cfg.loss)
    program = gd.program({P: loss}, gd.minimize(), samples=P())
    return gd.Experiment(program, source)
