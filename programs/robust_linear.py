"""Adversarially robust linear regression, optionally with an L1 penalty (Xing, Song &
Cheng, AISTATS 2021).

    gendsl run programs/robust_linear.py                          # d = 5, n = 1000, l_inf
    gendsl run programs/robust_linear.py --set d=500 n=100 support=5 l1=0.1

The linear model ``theta`` minimises the adversarial risk under l_p perturbations of
the inputs (the closed form ``(|y - x . theta| + eps ||theta||_q)^2``), plus
``l1 * ||theta||_1`` through a soft-thresholding step when ``l1 > 0``, with full-batch
proximal gradient descent (a cosine-decayed step size). The data are a Gaussian design
``y = x . theta0 + noise * e``; summary.json reports the population adversarial risk of
the estimate (exact), the minimal one over linear models, the risk on a held-out set,
the number of exact zeros and the distance to the risk minimiser. samples.png shows the
model's predictions on fresh inputs against the training responses.
"""

import functools
import math

import numpy as np
import optax

import gendsl as gd
from gendsl.metrics.robust_risk import (adversarial_minimizer, gaussian_adversarial_risk)

DEFAULTS = {
    "steps": 2000,
    "steps_per_call": 100,
    "batch_size": 0,          # 0: full batch (all n examples every step)
    "d": 5,
    "n": 1000,
    "support": 0,             # non-zero coordinates of theta0 (0: all, N(0, 1) each)
    "noise": 0.5,
    "truth_seed": 0,          # draws theta0; `seed` draws the data and the initial state
    "eps": 0.1,               # perturbation radius
    "norm": "inf",            # p of the l_p ball: inf, 2, 1, ...
    "method": "auto",         # auto | closed_form | pgd
    "l1": 0.0,                # L1 weight (0: off)
    "lr": 0.0,                # 0: default_lr(d, n, eps, norm), below
    "n_test": 10_000,
}


def default_lr(d, n, eps, norm):
    """A step size below the inverse smoothness of the adversarial loss
    ``mean (|r| + eps ||theta||_q)^2 <= 2 mean r^2 + 2 eps^2 ||theta||_q^2``: ``1 / (4 (l +
    eps^2 D))``, with ``l = (1 + sqrt(d / n))^2`` the top eigenvalue of a Gaussian design's
    ``X^T X / n`` and ``D`` the largest squared norm of a gradient of ``||theta||_q``
    (``d`` for the l_inf attack, ``q = 1``; else 1)."""
    q_is_one = float(norm) == math.inf
    return 1.0 / (4.0 * ((1.0 + math.sqrt(d / n)) ** 2 + eps ** 2 * (d if q_is_one else 1)))


def make_truth(d, support, noise, seed):
    """The data-generating model: ``support`` non-zero coordinates (0: dense)."""
    return gd.datasets.linear_truth(d, support=support or None, noise=noise, seed=seed)


@functools.lru_cache(maxsize=64)
def minimizer(d, support, noise, truth_seed, eps, norm):
    """The linear model of minimal population adversarial risk (memoised: a study
    builds this program many times over one truth); None for supports over 50."""
    truth = make_truth(d, support, noise, truth_seed)
    if len(truth.support) > 50:
        return None
    theta = adversarial_minimizer(truth, eps, norm)
    theta.setflags(write=False)
    return theta


def build(cfg):
    """The robust linear regression experiment for config ``cfg`` (see DEFAULTS)."""
    truth = make_truth(cfg.d, cfg.support, cfg.noise, cfg.truth_seed)
    source = gd.datasets.linear_regression(cfg.n, truth, batch_size=cfg.batch_size or None,
                                           seed=cfg.seed)
    lr = cfg.lr or default_lr(cfg.d, cfg.n, cfg.eps, cfg.norm)
    schedule = optax.cosine_decay_schedule(lr, cfg.steps, alpha=0.01)
    theta = gd.points("theta", np.zeros(cfg.d, np.float32),
                      optax.inject_hyperparams(optax.sgd)(learning_rate=schedule))
    x, y, z = gd.data("x"), gd.data("y"), gd.latent("z", cfg.d)
    risk = gd.named("adv_risk", gd.mean(gd.losses.adversarial(gd.square(y - x @ theta()), cfg.eps,
                                                    cfg.norm, method=cfg.method)))
    objective = risk + gd.losses.l1(theta, cfg.l1) if cfg.l1 else risk
    program = gd.program({theta: objective}, gd.minimize(), samples=z @ theta())
    test = truth.sample(cfg.n_test, seed=10_000 + cfg.seed)
    best = minimizer(cfg.d, cfg.support, cfg.noise, cfg.truth_seed, cfg.eps, cfg.norm)

    def evaluate(compiled, state, key):
        estimate = np.asarray(state.params["theta"], np.float64)
        out = {
            "adv_risk": gaussian_adversarial_risk(estimate, truth, cfg.eps, cfg.norm),
            "adv_risk_test": float(compiled.evaluate(state, test, key)["theta/adv_risk"]),
            "adv_risk_truth": gaussian_adversarial_risk(truth.theta, truth, cfg.eps, cfg.norm),
            "zeros": int((estimate == 0).sum()),
        }
        if best is not None:
            out["min_adv_risk"] = gaussian_adversarial_risk(best, truth, cfg.eps, cfg.norm)
            out["distance_to_minimizer"] = float(np.linalg.norm(estimate - best))
        return out

    return gd.Experiment(program, source, evaluate=evaluate)
