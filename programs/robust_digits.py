"""Adversarial training of a digits classifier under PGD, ReLU against a smooth
activation, with and without an L1 penalty (the DNN study of Xing, Song & Cheng,
AISTATS 2021, at CPU scale).

    gendsl run programs/robust_digits.py                              # ReLU, no L1
    gendsl run programs/robust_digits.py --set activation=softplus l1=1e-4

An MLP (64 -> hidden -> 10 logits) is trained with Adam on the adversarial
cross-entropy: each step perturbs the 8 x 8 digits (pixels in [0, 1]) within an l_inf
ball of radius ``eps`` by ``pgd_steps`` steps of projected gradient ascent, then steps
the network at the perturbed inputs; ``l1 > 0`` adds ``l1 * ||kernels||_1`` by
soft-thresholding after each step. summary.json reports the held-out clean accuracy
and the robust accuracy under a stronger PGD attack (``eval_pgd_steps`` steps, from
zero) at each radius of ``eval_eps`` (``eval/robust_acc/<eps>``), and the fraction of
exact zeros among the kernels' weights.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gendsl as gd
from gendsl.primitives.pgd import pgd_maximize

DEFAULTS = {
    "steps": 3000,
    "batch_size": 128,
    "steps_per_call": 100,
    "log_every": 500,
    "hidden": (128, 128),
    "activation": "relu",      # relu | softplus | gelu
    "lr": 1e-3,
    "eps": 0.1,                # training radius (l_inf, pixels in [0, 1])
    "pgd_steps": 5,
    "l1": 0.0,                 # L1 weight on the kernels (0: off)
    "eval_eps": (0.0, 0.05, 0.1, 0.15, 0.2),
    "eval_pgd_steps": 20,
}

ACTIVATIONS = {"relu": jax.nn.relu, "softplus": jax.nn.softplus, "gelu": jax.nn.gelu}


@gd.primitive
def cross_entropy(logits, labels):
    """Per-example softmax cross-entropy of integer labels."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def robust_accuracy(logits_fn, x, y, eps, steps):
    """Accuracy of ``logits_fn`` on ``x + delta``, ``delta`` found by ``steps`` steps of
    l_inf PGD on the cross-entropy (step ``2.5 eps / steps``), kept in the pixel range.

    Args:
      logits_fn: ``x -> (n, 10)`` logits.
      x: ``(n, ...)`` images in [0, 1].
      y: ``(n,)`` labels.
      eps: the radius (0: clean accuracy).
      steps: PGD steps.
    Returns:
      The fraction of examples still classified correctly.
    """
    if eps > 0:
        def objective(delta):
            return jnp.sum(optax.softmax_cross_entropy_with_integer_labels(
                logits_fn(jnp.clip(x + delta, 0.0, 1.0)), y))
        delta = pgd_maximize(objective, jnp.zeros_like(x), eps, float("inf"), steps,
                             2.5 * eps / steps)
        x = jnp.clip(x + delta, 0.0, 1.0)
    return float(jnp.mean(jnp.argmax(logits_fn(x), axis=-1) == y))


def build(cfg):
    """The adversarially trained digits classifier for config ``cfg`` (see DEFAULTS)."""
    if cfg.activation not in ACTIVATIONS:
        raise gd.errors.ConfigError(f"activation must be one of {sorted(ACTIVATIONS)}, got "
                                    f"{cfg.activation!r}: use --set activation=relu")
    act = ACTIVATIONS[cfg.activation]
    f = gd.player("f", lambda rngs: gd.nn.MLP(64, cfg.hidden, 10, rngs=rngs, activation=act),
                  optax.inject_hyperparams(optax.adam)(learning_rate=cfg.lr))
    x, y = gd.data("x"), gd.data("y")
    risk = gd.named("adv_ce", gd.mean(gd.losses.adversarial(
        cross_entropy(f(x), y), cfg.eps, "inf", method="pgd", steps=cfg.pgd_steps)))
    objective = risk + gd.losses.l1(f, cfg.l1, only="kernel") if cfg.l1 else risk
    program = gd.program({f: objective}, gd.minimize())
    source = gd.datasets.digits(batch_size=cfg.batch_size, seed=cfg.seed, flatten=True)
    test = gd.datasets.digits_arrays("test", flatten=True)
    x_test, y_test = jnp.asarray(test["x"]), jnp.asarray(test["y"])

    def evaluate(compiled, state, key):
        logits = jax.jit(lambda xx: compiled.apply(state, "f", xx))
        out = {f"robust_acc/{e:g}": robust_accuracy(logits, x_test, y_test, e, cfg.eval_pgd_steps)
               for e in cfg.eval_eps}
        kernels = [np.asarray(v) for path, v in jax.tree_util.tree_leaves_with_path(
            state.params["f"]) if "kernel" in jax.tree_util.keystr(path)]
        out["zero_fraction"] = float(sum((k == 0).sum() for k in kernels)
                                     / sum(k.size for k in kernels))
        return out

    return gd.Experiment(program, source, evaluate=evaluate)
