"""Study: adversarial training of linear regression reaches the minimal adversarial
risk in low dimension, and needs an L1 penalty in high dimension (Xing, Song & Cheng,
AISTATS 2021), at CPU scale.

    python programs/robust_l1_study.py                      # about 10 minutes on 2 cores
    python programs/robust_l1_study.py --seeds 0 1 --out runs/robust_l1_study

Every experiment trains programs/robust_linear.py (closed-form adversarial risk of
radius eps = 0.1, full-batch proximal gradient descent) on draws of the data from one
fixed truth, and scores each estimate by its exact population adversarial risk
(Gaussian design, :func:`gendsl.metrics.gaussian_adversarial_risk`) minus the minimal
adversarial risk of linear models (the risk of the population minimiser, also checked
by Monte Carlo): the excess risk.

1. low dimension, d = 5, l_inf attack, n = 200 .. 2000: adversarial training's excess
   shrinks towards 0, while standard least squares stays at the risk of theta0, above
   the minimum;
2. high dimension, d = 5 n (the dimension grows with the sample), 5-sparse truth,
   l_2 attack, n = 50 .. 400: unpenalised adversarial training's excess stays far from
   0 (about 4, near the risk of theta = 0: it is inconsistent), while with an L1 penalty
   ``l1_scale * sqrt(log d / n)`` the excess falls towards 0;
3. the same under an l_inf attack, whose closed form already holds an
   ``eps ||theta||_1`` term: there the unpenalised excess does fall with n, but stays
   several times the L1 estimator's at every n measured. This study does not show
   whether it reaches 0.

Writes OUT/robust_l1_study.png (three panels) and OUT/robust_l1_study.json.
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
import time
from pathlib import Path

import jax
import numpy as np

import gendsl as gd
from gendsl.metrics.robust_risk import gaussian_adversarial_risk, linear_adversarial_risk
from gendsl.run import build_experiment, load_program_file, program_config

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "robust_linear.py"


def fit(overrides: dict, seed: int, steps: int, compiled_cache: dict | None = None
        ) -> tuple[np.ndarray, dict]:
    """Trains robust_linear.py with ``overrides`` on the data drawn with ``seed``
    (full batch, ``steps`` steps); returns the estimate and the program's evaluation.

    ``compiled_cache`` (a dict the caller owns) keeps one compiled program per setting:
    data draws of one setting differ only in the batch, so they share one compilation.
    """
    module = load_program_file(PROGRAM)
    cfg = program_config(module, [f"{k}={v}" for k, v in {**overrides, "seed": seed,
                                                           "steps": steps}.items()])
    exp = build_experiment(module, cfg)
    setting = tuple(sorted(cfg.replace(seed=0).items()))
    cache = {} if compiled_cache is None else compiled_cache
    compiled = cache.get(setting) or cache.setdefault(setting, gd.compile(exp.program))
    batch = exp.source.batch(0)                  # all n examples: full-batch steps
    state = compiled.init(jax.random.key(seed), batch)
    batch = jax.device_put(batch)
    for _ in range(steps):
        state, _ = compiled.step(state, batch)
    evaluation = exp.evaluate(compiled, state, jax.random.key(seed))
    return np.asarray(state.params["theta"], np.float64), evaluation


def least_squares(overrides: dict, seed: int) -> np.ndarray:
    """Standard (non-adversarial) training on the same data: ordinary least squares."""
    module = load_program_file(PROGRAM)
    cfg = program_config(module, [f"{k}={v}" for k, v in {**overrides, "seed": seed}.items()])
    batch = build_experiment(module, cfg).source.batch(0)
    return np.linalg.lstsq(batch["x"].astype(np.float64), batch["y"].astype(np.float64),
                           rcond=None)[0]


def low_dimension(ns, seeds, *, d=5, eps=0.1, norm="inf", steps=2000, mc_samples=1_000_000):
    """Excess adversarial risk of adversarial training and of least squares against n.

    Returns:
      ``{"min_adv_risk", "min_adv_risk_mc", "adv_risk_truth", "rows": [{n, seed,
      adversarial, least_squares}, ...]}`` (risks, not excesses).
    """
    common = {"d": d, "eps": eps, "norm": norm, "support": 0}
    rows, first, cache = [], None, {}
    for n in ns:
        for seed in seeds:
            _, ev = fit({**common, "n": n}, seed, steps, cache)
            first = first or ev
            ols = least_squares({**common, "n": n}, seed)
            truth = _truth(common)
            rows.append({"n": n, "seed": seed, "adversarial": ev["adv_risk"],
                         "least_squares": gaussian_adversarial_risk(ols, truth, eps, norm)})
    truth = _truth(common)
    best = _minimizer(common)
    sample = truth.sample(mc_samples, seed=123_456)
    return {"d": d, "eps": eps, "norm": norm, "min_adv_risk": first["min_adv_risk"],
            "min_adv_risk_mc": linear_adversarial_risk(sample["x"], sample["y"], best, eps, norm),
            "adv_risk_truth": first["adv_risk_truth"], "rows": rows}


def high_dimension(ns, seeds, *, d_per_n=5, support=5, eps=0.1, norm="2", l1_scale=1.0,
                   steps=2000):
    """Adversarial risk with and without an L1 penalty as ``d = d_per_n * n`` grows with n.

    Returns:
      ``{"min_adv_risk", "rows": [{n, d, seed, l1_weight, unpenalised, l1, zeros_l1,
      zeros_unpenalised}, ...]}`` (risks, not excesses; the minimum does not depend on
      ``d``: the truth's non-zero coordinates are all +-1).
    """
    rows, minimum = [], None
    for n in ns:
        d = d_per_n * n
        common = {"d": d, "eps": eps, "norm": norm, "support": support}
        weight = l1_scale * math.sqrt(math.log(d) / n)
        cache = {}
        for seed in seeds:
            _, plain = fit({**common, "n": n}, seed, steps, cache)
            _, sparse = fit({**common, "n": n, "l1": weight}, seed, steps, cache)
            minimum = sparse["min_adv_risk"]
            rows.append({"n": n, "d": d, "seed": seed, "l1_weight": weight,
                         "unpenalised": plain["adv_risk"], "l1": sparse["adv_risk"],
                         "zeros_l1": sparse["zeros"], "zeros_unpenalised": plain["zeros"]})
    return {"d_per_n": d_per_n, "support": support, "eps": eps, "norm": str(norm),
            "l1_scale": l1_scale, "min_adv_risk": minimum, "rows": rows}


def _truth(common):
    module = load_program_file(PROGRAM)
    return module.make_truth(common["d"], common["support"], 0.5, 0)


def _minimizer(common):
    module = load_program_file(PROGRAM)
    return module.minimizer(common["d"], common["support"], 0.5, 0, common["eps"], common["norm"])


def mean_by_n(rows, key):
    """``(ns, means, standard errors)`` of ``key`` over seeds."""
    ns = sorted({r["n"] for r in rows})
    values = [[r[key] for r in rows if r["n"] == n] for n in ns]
    return (np.array(ns), np.array([np.mean(v) for v in values]),
            np.array([np.std(v) / math.sqrt(len(v)) for v in values]))


def plot(low, highs, path):
    """Draws the low-dimensional experiment and each high-dimensional one side by side
    into ``path`` (excess adversarial risk against n, log-log)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(highs), figsize=(5.2 * (1 + len(highs)), 4.2))
    a = axes[0]
    for key, label in (("adversarial", "adversarial training"), ("least_squares", "least squares")):
        ns, m, s = mean_by_n(low["rows"], key)
        a.errorbar(ns, m - low["min_adv_risk"], yerr=s, marker="o", capsize=3, label=label)
    a.set(xscale="log", yscale="log", xlabel="n", ylabel="excess adversarial risk",
          title=f"d = {low['d']}, l_inf: risk - min risk ({low['min_adv_risk']:.3f})")
    a.legend()
    for b, high in zip(axes[1:], highs):
        for key, label in (("unpenalised", "adversarial training"),
                           ("l1", "adversarial training + L1")):
            ns, m, s = mean_by_n(high["rows"], key)
            b.errorbar(ns, m - high["min_adv_risk"], yerr=s, marker="o", capsize=3, label=label)
        b.set(xscale="log", yscale="log", xlabel="n", ylabel="excess adversarial risk",
              title=f"d = {high['d_per_n']} n, {high['support']}-sparse, l_{high['norm']}: "
                    f"min risk {high['min_adv_risk']:.3f}")
        b.legend()
    fig.suptitle(f"eps = {low['eps']}: exact population adversarial risk minus the minimal "
                 "one, mean and standard error over data draws")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The study's command line: the whole docstring is its help (summary, then details)."""
    parser = argparse.ArgumentParser(
        description=textwrap.fill(__doc__.split("\n\n")[0].replace("\n", " "), 88),
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5],
                        help="data seeds; each trains every n of both experiments "
                        "(default: 0 1 2 3 4 5)")
    parser.add_argument("--steps", type=int, default=2000,
                        help="proximal gradient steps per fit (default: 2000)")
    parser.add_argument("--low-ns", type=int, nargs="+", default=[200, 500, 1000, 2000],
                        help="sample sizes of the low-dimensional experiment, d = 5")
    parser.add_argument("--high-ns", type=int, nargs="+", default=[50, 100, 200, 400],
                        help="sample sizes of the high-dimensional experiments, d = 5 n")
    parser.add_argument("--out", default="runs/robust_l1_study",
                        help="output directory of the .png and .json "
                        "(default: runs/robust_l1_study)")
    return parser


def main(argv=None):
    """Runs the three experiments and writes the figure and the JSON."""
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    low = low_dimension(args.low_ns, args.seeds, steps=args.steps)
    highs = [high_dimension(args.high_ns, args.seeds, norm=norm, steps=args.steps)
             for norm in ("2", "inf")]
    plot(low, highs, out / "robust_l1_study.png")
    (out / "robust_l1_study.json").write_text(json.dumps(
        {"low_dimension": low, "high_dimension": highs[0], "high_dimension_inf": highs[1]},
        indent=1))
    print(f"low dimension (d = {low['d']}): minimal adversarial risk {low['min_adv_risk']:.4f} "
          f"(Monte Carlo {low['min_adv_risk_mc']:.4f}), at theta0 {low['adv_risk_truth']:.4f}")
    print(f"{'n':>6} {'adversarial':>12} {'least sq.':>10}   (excess over the minimum)")
    for n, m, _ in zip(*mean_by_n(low["rows"], "adversarial")):
        ls = mean_by_n([r for r in low["rows"] if r["n"] == n], "least_squares")[1][0]
        print(f"{n:>6} {m - low['min_adv_risk']:>12.5f} {ls - low['min_adv_risk']:>10.5f}")
    for high in highs:
        print(f"high dimension (d = {high['d_per_n']} n, {high['support']}-sparse, "
              f"l_{high['norm']}): minimal adversarial risk {high['min_adv_risk']:.4f}")
        print(f"{'n':>6} {'d':>6} {'unpenalised':>12} {'L1':>8} {'zeros(L1)':>10}   (excess)")
        for n, m, _ in zip(*mean_by_n(high["rows"], "unpenalised")):
            at = [r for r in high["rows"] if r["n"] == n]
            l1 = mean_by_n(at, "l1")[1][0]
            z = mean_by_n(at, "zeros_l1")[1][0]
            print(f"{n:>6} {at[0]['d']:>6} {m - high['min_adv_risk']:>12.4f} "
                  f"{l1 - high['min_adv_risk']:>8.4f} {z:>10.0f}")
    print(f"wrote {out / 'robust_l1_study.png'} and {out / 'robust_l1_study.json'} "
          f"in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
