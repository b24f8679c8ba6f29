"""A non-saturating GAN on scikit-learn's 8 x 8 digits (the bilevel baseline of GA-NTK).

    gendsl run programs/gan_digits.py

MLP generator (sigmoid pixels in [0, 1]) and discriminator, Adam, alternating updates.
summary.json reports the KID of generated digits against the held-out digits in the
feature space of gendsl.metrics' digits classifier, like programs/ga_ntk_digits.py.
"""

import jax
import optax

import gendsl as gd
from gendsl import losses as L

DEFAULTS = {
    "steps": 4000,
    "batch_size": 128,
    "steps_per_call": 100,
    "latent": 16,
    "hidden": (256, 256),
    "lr": 5e-4,
    "r1": 1.0,                # weight of gamma/2 * R1 on real data (0: off)
    "eval_samples": 1000,     # generated digits scored by KID
}


def leaky_relu(x):
    """LeakyReLU(0.2), the usual GAN discriminator nonlinearity."""
    return jax.nn.leaky_relu(x, 0.2)


def build(cfg):
    """The GAN experiment for config ``cfg`` (see DEFAULTS)."""
    source = gd.datasets.digits(batch_size=cfg.batch_size, split="train", seed=cfg.seed)
    hidden = tuple(cfg.hidden)
    adam = optax.adam(cfg.lr, b1=0.5)
    G = gd.player("G", lambda rngs: gd.nn.MLP(cfg.latent, hidden, 64, rngs=rngs,
                                              out_shape=(8, 8, 1),
                                              output_activation=jax.nn.sigmoid), adam)
    D = gd.player("D", lambda rngs: gd.nn.MLP(64, hidden, 1, rngs=rngs,
                                              activation=leaky_relu), adam)
    x, z = gd.data("x"), gd.latent("z", cfg.latent)
    fake = gd.named("fake", G(z))  # pixels in [0, 1]: the sigmoid is G's output layer
    d_loss = L.nonsaturating_d(D(x), D(fake))
    if cfg.r1:
        d_loss = d_loss + cfg.r1 / 2 * L.r1(D, x)
    program = gd.program({D: d_loss, G: L.nonsaturating_g(D(fake))},
                         gd.alternating(D=1, G=1), samples=fake)

    def evaluate(compiled, state, key):
        return gd.metrics.digits_kid(compiled.sample(state, key, cfg.eval_samples), seed=0)

    return gd.Experiment(program, source, evaluate=evaluate)
