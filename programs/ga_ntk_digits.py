"""GA-NTK on scikit-learn's 8 x 8 digits: synthesized images against a small CNN's NTK.

    gendsl run programs/ga_ntk_digits.py

The player is a set of synthesized images (pixels in [0, 1]), moved by plain gradient
descent with a large step (4000 here, decayed to 0 over the run; the reference code
uses a constant 1000 on 28 x 28 images) and clipped to [0, 1] after every step. The real
images are a fresh batch of the 1,438 training digits at every step, so a constant step
leaves the points jittering; the decay lets them settle.
The discriminator is the NTK-GP of an infinitely wide CNN (Conv-ReLU twice, stride 2,
then Dense-ReLU and a linear readout; W_std^2 = 1.4615, b_std^2 = 0.1 as in the
reference). summary.json reports the KID of the synthesized images against the
held-out digits in the feature space of gendsl.metrics' digits classifier.
"""

import optax

import gendsl as gd
from gendsl import kernels as K
from gendsl.primitives.ntk_gp import ntk_gp_loss
from gendsl.terms.synthesized import synthesized_points

DEFAULTS = {
    "steps": 200,
    "batch_size": 128,        # real images per step
    "steps_per_call": 25,
    "checkpoint_every": 100,
    "log_every": 25,
    "points": 128,            # synthesized images (the reference: 256 real, 256 synthesized)
    "lr": 4000.0,             # their gradient-descent step (the reference: 1000, constant)
    "lr_decay": True,         # cosine-decay the step to 0 over `steps` (steadier final points)
    "t": 2 * 65536.0,         # NTK-GP training time
    "ntk_lr": 1e-2,
    "diag_reg": 1e-5,
    "loss": "ce",             # ce | mse
    "channels": (64, 128),    # the two convolutions (only the kernel's text: infinite width)
    "noise": 0.0,             # gradient noise std (0: off)
}

W_STD, B_STD = 1.4615 ** 0.5, 0.1 ** 0.5


def cnn_kernel(channels):
    """Conv(c1, 3x3, stride 2)-ReLU, Conv(c2, 3x3, stride 2)-ReLU, Flatten, Dense-ReLU, Dense(1)."""
    c1, c2 = (int(c) for c in channels)
    conv = lambda c: K.Conv(c, (3, 3), strides=(2, 2), padding="SAME", W_std=W_STD, b_std=B_STD)  # noqa: E731
    return K.serial(conv(c1), K.Relu(), conv(c2), K.Relu(), K.Flatten(),
                    K.Dense(256, W_STD, B_STD), K.Relu(), K.Dense(1, W_STD, B_STD))


def kid_of_samples(compiled, state, key):
    """KID of the synthesized images against the held-out digits (classifier features)."""
    samples = compiled.sample(state, key, 0)
    return gd.metrics.digits_kid(samples, seed=0)


def build(cfg):
    """The GA-NTK digits experiment for config ``cfg`` (see DEFAULTS)."""
    source = gd.datasets.digits(batch_size=cfg.batch_size, split="train", seed=cfg.seed)
    lr = optax.cosine_decay_schedule(cfg.lr, cfg.steps) if cfg.lr_decay else cfg.lr
    P = synthesized_points("P", cfg.points, (8, 8, 1), lr, data_range=(0.0, 1.0),
                           noise=cfg.noise, noise_seed=cfg.seed)
    loss = ntk_gp_loss(cnn_kernel(cfg.channels), gd.data("x"), P(), t=cfg.t, lr=cfg.ntk_lr,
                       diag_reg=cfg.diag_reg, loss=cfg.loss)
    program = gd.program({P: loss}, gd.minimize(), samples=P())
    return gd.Experiment(program, source, evaluate=kid_of_samples)
