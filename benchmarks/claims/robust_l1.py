"""Adversarial training with L1 (Xing, Song & Cheng, AISTATS 2021): consistency in low
dimension, inconsistency without L1 when d grows with n, a lazy two-layer network
against its own minimal adversarial risk, and PGD training of digits classifiers.

1. low dimension (d = 5) and high dimension (d = 5 n, l_2 and l_inf attacks):
   ``programs/robust_l1_study.py``'s experiments;
2. ``programs/robust_two_layer.py`` over n, each run's held-out adversarial risk (a
   20-step PGD attack) against the *network's own* minimal adversarial risk, estimated
   by training the same network, with the same full-batch steps, on ``n_ref`` draws
   (ten times the largest n): what the network and the training budget reach when
   the sample is no longer the limit;
3. ``programs/robust_digits.py``: ReLU against softplus and GELU, with and without L1,
   robust accuracy under PGD at several radii.

``run(quick, figures)`` is the reproduction report's interface (benchmarks/reproduce.py);
``python benchmarks/claims/robust_l1.py [--full]`` runs it alone.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for claim_kit
from claim_kit import main, run_program  # noqa: E402

NAME = "robust_l1"
TITLE = "Adversarial training with L1 (Xing, Song & Cheng, AISTATS 2021)"
ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "programs"

QUICK = {"low_ns": [200, 2000], "low_seeds": [0, 1], "high_ns": [50, 200],
         "high_seeds": [0, 1], "high_norms": ["2"], "steps": 2000,
         "two_layer_ns": [100, 1000], "two_layer_seeds": [0], "two_layer_steps": 300,
         "width": 512, "n_ref": 10_000, "n_test": 5000,
         "digits_activations": ["relu", "softplus"], "digits_l1": [0.0, 0.05],
         "digits_seeds": [0], "digits_steps": 800}
FULL = {"low_ns": [200, 500, 1000, 2000], "low_seeds": [0, 1, 2, 3, 4, 5],
        "high_ns": [50, 100, 200, 400], "high_seeds": [0, 1, 2, 3], "high_norms": ["2", "inf"],
        "steps": 2000, "two_layer_ns": [100, 300, 1000, 3000], "two_layer_seeds": [0, 1, 2],
        "two_layer_steps": 1000, "width": 1024, "n_ref": 30_000,
        "n_test": 10_000, "digits_activations": ["relu", "softplus", "gelu"],
        "digits_l1": [0.0, 0.05], "digits_seeds": [0, 1, 2], "digits_steps": 3000}


def study():
    """programs/robust_l1_study.py as a module."""
    spec = importlib.util.spec_from_file_location("robust_l1_study",
                                                  PROGRAMS / "robust_l1_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def two_layer_sweep(ns, seeds, *, steps, width, n_ref, n_test) -> dict:
    """Held-out adversarial risk of the lazy two-layer network against n, and its own
    minimal adversarial risk (the same network and steps on ``n_ref`` draws), per seed.

    Returns:
      ``{"rows": [{n, seed, adv_risk, risk}], "reference": {seed: adv_risk},
      "linear_min": ...}``; a seed's runs share one held-out set.
    """
    common = [f"width={width}", f"n_test={n_test}"]
    rows, reference, linear = [], {}, None
    for seed in seeds:
        ref = run_program("robust_two_layer", [*common, f"n={n_ref}", f"steps={steps}",
                                               f"seed={seed}"])
        reference[seed] = ref["adv_risk_test"]
        linear = ref["linear_min_adv_risk"]
        print(f"  two-layer seed {seed}: own minimum (n = {n_ref}) {reference[seed]:.4f}, "
              f"linear minimum {linear:.4f}", flush=True)
        for n in ns:
            m = run_program("robust_two_layer", [*common, f"n={n}", f"steps={steps}",
                                                 f"seed={seed}"])
            rows.append({"n": n, "seed": seed, "adv_risk": m["adv_risk_test"],
                         "risk": m["risk_test"], "first_layer_change": m["first_layer_change"]})
            print(f"  two-layer n {n} seed {seed}: adversarial risk {m['adv_risk_test']:.4f}",
                  flush=True)
    return {"rows": rows, "reference": reference, "linear_min": linear, "n_ref": n_ref}


def digits(activations, l1s, seeds, steps) -> list[dict]:
    """Robust accuracies of the PGD-trained digits MLP for every activation and L1 weight."""
    rows = []
    for seed in seeds:
        for act in activations:
            for l1 in l1s:
                m = run_program("robust_digits", [f"activation={act}", f"l1={l1}",
                                                  f"steps={steps}", f"seed={seed}"])
                acc = {k[len("robust_acc/"):]: v for k, v in m.items()
                       if k.startswith("robust_acc/")}
                rows.append({"activation": act, "l1": l1, "seed": seed, "robust_acc": acc,
                             "zero_fraction": m["zero_fraction"]})
                print(f"  digits {act} l1={l1} seed {seed}: {acc}, zeros "
                      f"{m['zero_fraction']:.2f}", flush=True)
    return rows


def excess(high: dict, key: str, n: int, seed: int) -> float:
    """One run's excess adversarial risk in a high-dimensional experiment."""
    row = next(r for r in high["rows"] if r["n"] == n and r["seed"] == seed)
    return row[key] - high["min_adv_risk"]


def plot_two_layer_and_digits(sweep, digit_rows, path_two, path_digits) -> None:
    """The two-layer sweep's excess risk and the digits' robust accuracy curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ns = sorted({r["n"] for r in sweep["rows"]})
    ex = [[r["adv_risk"] - sweep["reference"][r["seed"]] for r in sweep["rows"] if r["n"] == n]
          for n in ns]
    ax.errorbar(ns, [np.mean(e) for e in ex], yerr=[np.std(e) for e in ex], marker="o",
                capsize=3, label="adversarial risk - own minimum")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xscale="log", xlabel="n", ylabel="excess adversarial risk (20-step PGD)",
           title=f"two-layer NTK net; own min {np.mean(list(sweep['reference'].values())):.3f},"
                 f" linear min {sweep['linear_min']:.3f}")
    ax.legend()
    fig.savefig(path_two, dpi=100, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for act in sorted({r["activation"] for r in digit_rows}):
        for l1 in sorted({r["l1"] for r in digit_rows}):
            group = [r for r in digit_rows if r["activation"] == act and r["l1"] == l1]
            eps = sorted(group[0]["robust_acc"], key=float)
            ax.plot([float(e) for e in eps],
                    [np.mean([r["robust_acc"][e] for r in group]) for e in eps],
                    marker="o", ls="-" if l1 == 0 else "--",
                    label=f"{act}" + (f" + L1 {l1:g}" if l1 else ""))
    ax.set(xlabel="PGD radius eps (l_inf, pixels in [0, 1])", ylabel="robust accuracy",
           title="digits MLP, PGD adversarial training at eps = 0.1")
    ax.legend()
    fig.savefig(path_digits, dpi=100, bbox_inches="tight")
    plt.close(fig)


def verdicts(low, highs, sweep, digit_rows, figures) -> list[dict]:
    """The claims' rows from the measurements."""
    out = []
    ns = sorted({r["n"] for r in low["rows"]})
    seeds = sorted({r["seed"] for r in low["rows"]})
    row = {(r["n"], r["seed"]): r for r in low["rows"]}
    ok = [s for s in seeds if row[ns[-1], s]["adversarial"] - low["min_adv_risk"]
          < 0.5 * (row[ns[0], s]["adversarial"] - low["min_adv_risk"])]
    ex = lambda n, key: np.mean([row[n, s][key] for s in seeds]) - low["min_adv_risk"]
    out.append({"claim": "low dimension: adversarial training is consistent (its excess "
                         "adversarial risk goes to 0), standard training is not",
                "experiment": "programs/robust_l1_study.py, d = 5, l_inf, eps = 0.1",
                "number": f"excess {ex(ns[0], 'adversarial'):.4f} at n = {ns[0]} -> "
                          f"{ex(ns[-1], 'adversarial'):.4f} at n = {ns[-1]}; least squares "
                          f"{ex(ns[-1], 'least_squares'):.4f}",
                "verdict": "reproduced" if len(ok) == len(seeds) else "partly",
                "why": f"excess halves from n = {ns[0]} to {ns[-1]} in {len(ok)} of "
                       f"{len(seeds)} seeds", "figure": figures["high"],
                "seeds": f"{len(ok)} of {len(seeds)}"})
    for high in highs:
        ns = sorted({r["n"] for r in high["rows"]})
        seeds = sorted({r["seed"] for r in high["rows"]})
        first, last = ns[0], ns[-1]
        ok = [s for s in seeds
              if excess(high, "unpenalised", last, s) > 0.5 * excess(high, "unpenalised", first, s)
              and excess(high, "l1", last, s) < 0.5 * excess(high, "l1", first, s)
              and excess(high, "l1", last, s) < 0.2 * excess(high, "unpenalised", last, s)]
        mean = lambda key, n: np.mean([excess(high, key, n, s) for s in seeds])
        out.append({
            "claim": f"high dimension (d = 5 n), l_{high['norm']} attack: without L1 the "
                     "excess adversarial risk stays away from 0; with L1 it goes to 0",
            "experiment": "programs/robust_l1_study.py, 5-sparse truth, eps = 0.1",
            "number": f"unpenalised {mean('unpenalised', first):.3f} -> "
                      f"{mean('unpenalised', last):.3f}, L1 {mean('l1', first):.3f} -> "
                      f"{mean('l1', last):.3f} (n = {first} -> {last})",
            "verdict": "reproduced" if len(ok) == len(seeds) else "partly" if ok else "not",
            "why": f"in {len(ok)} of {len(seeds)} seeds the unpenalised excess keeps over half "
                   "its value while L1's halves and ends under a fifth of it",
            "figure": figures["high"], "seeds": f"{len(ok)} of {len(seeds)}"})
    ns = sorted({r["n"] for r in sweep["rows"]})
    seeds = sorted(sweep["reference"])
    gap = lambda n, s: next(r["adv_risk"] for r in sweep["rows"]
                            if r["n"] == n and r["seed"] == s) - sweep["reference"][s]
    ok = [s for s in seeds if gap(ns[-1], s) < 0.5 * gap(ns[0], s)]
    out.append({
        "claim": "lazy two-layer network: adversarial training approaches the network's own "
                 "minimal adversarial risk as n grows",
        "experiment": "programs/robust_two_layer.py over n; own minimum from n = "
                      f"{sweep['n_ref']} draws",
        "number": f"excess {np.mean([gap(ns[0], s) for s in seeds]):.4f} at n = {ns[0]} -> "
                  f"{np.mean([gap(ns[-1], s) for s in seeds]):.4f} at n = {ns[-1]}; own minimum "
                  f"{np.mean(list(sweep['reference'].values())):.4f} (linear "
                  f"{sweep['linear_min']:.4f})",
        "verdict": "reproduced" if len(ok) == len(seeds) else "partly" if ok else "not",
        "why": f"the excess over the own minimum halves in {len(ok)} of {len(seeds)} seeds",
        "figure": figures["two_layer"], "seeds": f"{len(ok)} of {len(seeds)}"})
    mean_acc = lambda act, l1, e: np.mean([r["robust_acc"][e] for r in digit_rows
                                           if r["activation"] == act and r["l1"] == l1])
    eps = sorted(digit_rows[0]["robust_acc"], key=float)
    acts = sorted({r["activation"] for r in digit_rows})
    l1s = sorted({r["l1"] for r in digit_rows})
    table = "; ".join(f"{a}{'+L1' if l else ''}: " + "/".join(f"{mean_acc(a, l, e):.2f}" for e in eps)
                      for a in acts for l in l1s)
    smooth = [a for a in acts if a != "relu"]
    wins = [(a, l, e) for a in smooth for l in l1s for e in eps[1:]
            if mean_acc(a, l, e) > mean_acc("relu", l, e) + 0.01]
    cells = len(smooth) * len(l1s) * (len(eps) - 1)
    out.append({
        "claim": "DNN study: a smooth activation trains to a more robust digits classifier "
                 "than ReLU under PGD adversarial training; L1 as a further regulariser",
        "experiment": "programs/robust_digits.py, MLP 64-128-128-10, PGD 5 steps at eps = 0.1",
        "number": f"robust accuracy at eps {'/'.join(eps)}: {table}",
        "verdict": "reproduced" if len(wins) == cells else "partly" if wins else "not",
        "why": f"a smooth activation beats ReLU by > 0.01 in {len(wins)} of {cells} "
               "(activation, L1, eps > 0) cells",
        "figure": figures["digits"], "seeds": f"{len({r['seed'] for r in digit_rows})} seed(s)"})
    return out


def run(quick: bool, figures: Path) -> dict:
    """All experiments at the quick or the full budget; writes three figures.

    Args:
      quick: the --quick budget rather than --full.
      figures: the folder for figures.
    Returns:
      ``{"claims": [...], "raw": {...}}`` (see benchmarks/reproduce.py).
    """
    b = QUICK if quick else FULL
    figures = Path(figures)
    figures.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    st = study()
    low = st.low_dimension(b["low_ns"], b["low_seeds"], steps=b["steps"], mc_samples=200_000)
    highs = [st.high_dimension(b["high_ns"], b["high_seeds"], norm=norm, steps=b["steps"])
             for norm in b["high_norms"]]
    names = {"high": f"{NAME}_linear.png", "two_layer": f"{NAME}_two_layer.png",
             "digits": f"{NAME}_digits.png"}
    st.plot(low, highs, figures / names["high"])
    print(f"  linear experiments done in {time.perf_counter() - started:.0f} s", flush=True)
    sweep = two_layer_sweep(b["two_layer_ns"], b["two_layer_seeds"], steps=b["two_layer_steps"],
                            width=b["width"], n_ref=b["n_ref"], n_test=b["n_test"])
    digit_rows = digits(b["digits_activations"], b["digits_l1"], b["digits_seeds"],
                        b["digits_steps"])
    plot_two_layer_and_digits(sweep, digit_rows, figures / names["two_layer"],
                              figures / names["digits"])
    links = {k: f"docs/figures/{v}" for k, v in names.items()}
    return {"claims": verdicts(low, highs, sweep, digit_rows, links),
            "raw": {"budget": b, "low_dimension": low, "high_dimension": highs,
                    "two_layer": {**sweep, "reference": {str(k): v for k, v in
                                                         sweep["reference"].items()}},
                    "digits": digit_rows, "seconds": time.perf_counter() - started}}


if __name__ == "__main__":
    main(run, __doc__)
