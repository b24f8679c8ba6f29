"""GA-NTKg in an autoencoder's latent space (the reference's setting) on the 8 x 8 digits.

    gendsl run programs/ga_ntkg_latent_digits.py

Two stages over one run directory (``gd.stages``):

1. ``autoencoder``: an MLP encoder ``E`` (64 -> 256 -> ``code``) and decoder ``Dec``
   (``code`` -> 256 -> 64, sigmoid pixels) minimise the squared reconstruction error
   of the training digits with Adam.
2. ``ga_ntkg``: with ``E`` and ``Dec`` frozen, a generator ``G`` (MLP, ``noise`` ->
   ``code``) is trained on the GA-NTK loss between the codes of real digits ``E(x)``
   and its own codes ``G(z)``; the reference's choices: the NTK of 4 x (Dense64-Erf)
   then Dense(1), Adam(2e-4, b1 0.5) with gradient clipping at 5, ``diag_reg`` 1e-4,
   batch 64. The samples are ``Dec(G(z))``.

programs/ga_ntkg_digits.py is the pixel-space variant (a CNN kernel on the images
themselves, Adam 3e-3, no autoencoder); docs/ga_ntk.md compares the two. summary.json
reports the KID of decoded samples against the held-out digits.
"""

import jax
import optax

import gendsl as gd
from gendsl import kernels as K
from gendsl.primitives.ntk_gp import ntk_gp_loss

DEFAULTS = {
    "steps": None,            # the stages' budgets: ae_steps + gen_steps
    "ae_steps": 1500,
    "gen_steps": 1500,
    "batch_size": 64,         # real digits per step (as many generated codes), the reference's
    "steps_per_call": 50,
    "checkpoint_every": 500,
    "log_every": 50,
    "code": 16,               # the autoencoder's latent dimension
    "ae_hidden": 256,
    "ae_lr": 1e-3,
    "noise": 16,              # the generator's input dimension
    "hidden": (256, 256),     # the generator's hidden widths
    "lr": 2e-4,               # Adam(lr, b1) of the generator (the reference's)
    "b1": 0.5,
    "clip": 5.0,              # gradient clipping (global norm) of the generator
    "t": 2 * 65536.0,         # NTK-GP training time
    "ntk_lr": 1e-2,
    "diag_reg": 1e-4,         # the reference's latent-space setting
    "loss": "ce",             # ce | mse
    "kernel_depth": 4,        # Dense(kernel_width)-Erf blocks of the kernel
    "kernel_width": 64,
    "eval_samples": 1000,     # decoded digits scored by KID
}

W_STD, B_STD = 1.4615 ** 0.5, 0.1 ** 0.5


def erf_kernel(width, depth):
    """The reference's latent-space kernel: ``depth`` x (Dense(width)-Erf), then Dense(1)."""
    layers = []
    for _ in range(int(depth)):
        layers += [K.Dense(int(width), W_STD, B_STD), K.Erf()]
    return K.serial(*layers, K.Dense(1, W_STD, B_STD))


def build(cfg):
    """The two-stage latent GA-NTKg experiment for config ``cfg`` (see DEFAULTS)."""
    E = gd.player("E", lambda rngs: gd.nn.MLP(64, (cfg.ae_hidden,), cfg.code, rngs=rngs),
                  optax.adam(cfg.ae_lr))
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(cfg.code, (cfg.ae_hidden,), 64, rngs=rngs,
                                                  out_shape=(8, 8, 1),
                                                  output_activation=jax.nn.sigmoid),
                    optax.adam(cfg.ae_lr))
    G = gd.player("G", lambda rngs: gd.nn.MLP(cfg.noise, tuple(cfg.hidden), cfg.code, rngs=rngs),
                  optax.chain(optax.clip_by_global_norm(cfg.clip),
                              optax.adam(cfg.lr, b1=cfg.b1)))
    x, z = gd.data("x"), gd.latent("z", cfg.noise)
    samples = gd.named("fake", Dec(G(z)))
    error = gd.mean(gd.sq_norm(Dec(E(x)) - x))
    reconstruct = gd.program({E: error, Dec: error}, gd.minimize(), samples=Dec(E(x)))
    loss = ntk_gp_loss(erf_kernel(cfg.kernel_width, cfg.kernel_depth), E(x), G(z), t=cfg.t,
                       lr=cfg.ntk_lr, diag_reg=cfg.diag_reg, loss=cfg.loss)
    generate = gd.program({G: loss}, gd.minimize(), frozen=[E, Dec], samples=samples)
    staged = gd.stages([gd.stage("autoencoder", reconstruct, steps=cfg.ae_steps),
                        gd.stage("ga_ntkg", generate, steps=cfg.gen_steps)])
    source = gd.datasets.digits(batch_size=cfg.batch_size, split="train", seed=cfg.seed)

    def evaluate(compiled, state, key):
        return gd.metrics.digits_kid(compiled.sample(state, key, cfg.eval_samples), seed=0)

    return gd.Experiment(staged, source=(source, source), evaluate=evaluate)
