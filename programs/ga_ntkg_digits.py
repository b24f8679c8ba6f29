"""GA-NTKg on scikit-learn's 8 x 8 digits: a generator network against an NTK-GP discriminator.

    gendsl run programs/ga_ntkg_digits.py

Like programs/ga_ntk_digits.py, but the synthesized images are the output of a Flax
NNX generator (an MLP with sigmoid pixels) trained with Adam on the single-level
GA-NTK loss, so it draws new samples from fresh latents. summary.json reports the KID
of generated digits against the held-out digits (digits-classifier features).
"""

import optax

import gendsl as gd
from gendsl.primitives.ntk_gp import ntk_gp_loss

from ga_ntk_digits import cnn_kernel

DEFAULTS = {
    "steps": 600,
    "batch_size": 128,        # real images per step; as many generated ones
    "steps_per_call": 50,
    "checkpoint_every": 500,
    "log_every": 50,
    "latent": 16,
    "hidden": (256, 256),
    "lr": 3e-3,               # Adam
    "t": 2 * 65536.0,
    "ntk_lr": 1e-2,
    "diag_reg": 1e-5,
    "loss": "ce",             # ce | mse
    "channels": (64, 128),
    "eval_samples": 1000,     # generated digits scored by KID
}


def build(cfg):
    """The GA-NTKg experiment for config ``cfg`` (see DEFAULTS)."""
    source = gd.datasets.digits(batch_size=cfg.batch_size, split="train", seed=cfg.seed)
    G = gd.player("G", lambda rngs: gd.nn.MLP(cfg.latent, tuple(cfg.hidden), 64, rngs=rngs,
                                              out_shape=(8, 8, 1)), optax.adam(cfg.lr))
    fake = gd.named("fake", gd.sigmoid(G(gd.latent("z", cfg.latent))))
    loss = ntk_gp_loss(cnn_kernel(cfg.channels), gd.data("x"), fake, t=cfg.t,
                       lr=cfg.ntk_lr, diag_reg=cfg.diag_reg, loss=cfg.loss)
    program = gd.program({G: loss}, gd.minimize(), samples=fake)

    def evaluate(compiled, state, key):
        return gd.metrics.digits_kid(compiled.sample(state, key, cfg.eval_samples), seed=0)

    return gd.Experiment(program, source, evaluate=evaluate)
