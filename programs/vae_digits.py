"""A VAE on scikit-learn's bundled 8 x 8 digits (Bernoulli likelihood on [0, 1] pixels).

    gendsl run programs/vae_digits.py

summary.json reports the ELBO (nats per image) on the held-out test split; samples.png
shows decoded draws from the prior.
"""

import optax

import gendsl as gd

DEFAULTS = {
    "steps": 3000,
    "batch_size": 128,
    "steps_per_call": 100,
    "latent": 8,
    "hidden": (128,),
    "lr": 1e-3,
}


def build(cfg):
    """The VAE experiment for config ``cfg`` (see DEFAULTS)."""
    source = gd.datasets.digits(batch_size=cfg.batch_size, split="train", seed=cfg.seed)
    test = gd.datasets.digits_arrays(split="test")
    E = gd.player("E", lambda rngs: gd.nn.GaussianEncoder(64, cfg.hidden, cfg.latent, rngs=rngs),
                  optax.adam(cfg.lr))
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(cfg.latent, cfg.hidden, 64, rngs=rngs,
                                                  out_shape=(8, 8, 1)), optax.adam(cfg.lr))
    x, z = gd.data("x"), gd.latent("z", cfg.latent)
    neg_elbo = -gd.losses.elbo(E, Dec, x, likelihood="bernoulli")
    program = gd.program({E: neg_elbo, Dec: neg_elbo}, gd.minimize(), samples=gd.sigmoid(Dec(z)))

    def evaluate(compiled, state, key):
        metrics = compiled.evaluate(state, {"x": test["x"]}, key)
        return {"test_elbo": -float(metrics["E/loss"]),
                "test_kl": float(metrics["E/elbo/kl"])}

    return gd.Experiment(program, source, evaluate=evaluate)
