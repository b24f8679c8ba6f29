"""Adversarial training of a wide two-layer network in the lazy-training regime.

    gendsl run programs/robust_two_layer.py
    gendsl run programs/robust_two_layer.py --set train_first=false     # random features

The model is ``gd.nn.TwoLayerNTK`` (NTK parameterisation, width 1024, zero at
initialisation), trained by full-batch gradient descent on the adversarial risk under
l_inf perturbations of radius ``eps``, the inner maximisation done by projected gradient
ascent (``pgd_steps`` steps). The data are the Gaussian linear model of
programs/robust_linear.py. summary.json reports, on a held-out set, the adversarial risk
under a stronger attack (``eval_pgd_steps`` steps, a lower bound of the true maximum),
the standard risk, the minimal adversarial risk of linear models for reference, and how
far each layer moved from its initial weights (relative Frobenius norm: small in the
lazy regime).
"""

import jax
import numpy as np
import optax

import gendsl as gd

DEFAULTS = {
    "steps": 1000,
    "steps_per_call": 50,
    "batch_size": 0,          # 0: full batch
    "d": 5,
    "n": 1000,
    "noise": 0.5,
    "truth_seed": 0,
    "eps": 0.1,
    "norm": "inf",            # inf or 2 (PGD)
    "pgd_steps": 5,
    "eval_pgd_steps": 20,
    "width": 1024,
    "train_first": True,
    "train_second": True,
    "lr": 1.0,
    "l1": 0.0,                # L1 weight on the output layer (0: off)
    "n_test": 2000,
}


def relative_change(initial, final):
    """``||final - initial|| / ||initial||`` (Frobenius)."""
    initial, final = np.asarray(initial, np.float64), np.asarray(final, np.float64)
    return float(np.linalg.norm(final - initial) / np.linalg.norm(initial))


def build(cfg):
    """The two-layer adversarial training experiment for config ``cfg`` (see DEFAULTS)."""
    truth = gd.datasets.linear_truth(cfg.d, noise=cfg.noise, seed=cfg.truth_seed)
    source = gd.datasets.linear_regression(cfg.n, truth, batch_size=cfg.batch_size or None,
                                           seed=cfg.seed)
    net = lambda rngs: gd.nn.TwoLayerNTK(cfg.d, cfg.width, rngs=rngs,
                                         train_first=cfg.train_first,
                                         train_second=cfg.train_second)
    f = gd.player("f", net, optax.inject_hyperparams(optax.sgd)(learning_rate=cfg.lr))
    x, y, z = gd.data("x"), gd.data("y"), gd.latent("z", cfg.d)
    loss = gd.square(y - f(x))
    attack = lambda steps: gd.mean(gd.losses.adversarial(loss, cfg.eps, cfg.norm, method="pgd",
                                               steps=steps))
    objective = gd.named("adv_risk", attack(cfg.pgd_steps))
    if cfg.l1:
        objective = objective + gd.losses.l1(f, cfg.l1, only="second")
    program = gd.program({f: objective}, gd.minimize(), samples=f(z))
    strong = gd.compile(gd.program({f: attack(cfg.eval_pgd_steps)}))
    clean = gd.compile(gd.program({f: gd.mean(loss)}))
    test = truth.sample(cfg.n_test, seed=10_000 + cfg.seed)
    linear_min = gd.metrics.minimal_adversarial_risk(truth, cfg.eps, cfg.norm)

    def evaluate(compiled, state, key):
        initial = compiled.init(jax.random.key(cfg.seed), source.batch(0))
        weights = lambda s, name: {**s.params["f"], **s.rest["f"]}[name]
        return {
            "adv_risk_test": float(strong.evaluate(state, test, key)["f/loss"]),
            "risk_test": float(clean.evaluate(state, test, key)["f/loss"]),
            "linear_min_adv_risk": linear_min,
            "first_layer_change": relative_change(weights(initial, "first"), weights(state, "first")),
            "second_layer_change": relative_change(weights(initial, "second"),
                                                   weights(state, "second")),
        }

    return gd.Experiment(program, source, evaluate=evaluate)
