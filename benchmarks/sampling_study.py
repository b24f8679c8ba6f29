"""REP-GAN vs MH-GAN vs DRS vs DDLS vs plain G at equal discriminator evaluations
(issue 10; Wang et al. 2021, arXiv 2107.00352).

For each setting and seed, trains (or reuses, under ``--runs-dir``) a deliberately
early-stopped GAN with the Python API (a program file + ``gd.run_experiment``):

* ``grid25``: programs/gan_mog.py on the 5 x 5 grid, stopped at 1,500 of its 6,000 steps;
* ``ring8``: programs/gan_mog.py on the ring of 8, stopped at 1,000 of 6,000;
* ``digits``: programs/gan_digits.py, stopped at 1,000 of 4,000.

Then it builds the latent target of the trained G and D (``gd.samplers.target_of``),
calibrates D's logit by Platt scaling on held-out real samples (mixtures: 5,000 fresh
draws; digits: the source's ``held_out``, the 359-image test split, the only held-out
digits, which KID also uses as its reference), and runs every sampler at one budget of discriminator evaluations per
output sample: ``--steps`` (640, REP-GAN's chain length) MH steps for MH-GAN and
REP-GAN (the paper's tau = 0.01, eta = 0.1) and Langevin steps for DDLS (step 0.01),
``--steps`` proposals for DRS (gamma = 0). Plain G spends no discriminator evaluation;
it is reported with its own budget (0): spending REP-GAN's budget on plain G would only
draw more samples of the same law, so its per-sample quality is the same.

Each sampler runs ``--chains`` chains (one output sample each) in one dispatch, compiled
ahead of time (``CompiledSampler.compile_for``) so that the timed call is the sampling
alone, as ``gendsl sample --sampler`` times it. Scores: the source's own metrics (mixtures: modes covered, high-quality fraction
within 3 std, KL of the mode histogram from uniform; digits: KID on the digits
classifier's features), the acceptance rate, and the effective sample size of the
chains' calibrated log-ratio traces (blackjax's multi-chain estimator; for plain G and
DRS, whose outputs are independent draws, the number of samples) per second of the
timed call.

The seed's claim, per setting and seed: REP-GAN's acceptance is "far above" MH-GAN's
(at least twice it) and its quality is at least as good (mixtures: high-quality fraction
not below MH-GAN's by more than two binomial standard errors, KL not above it by more
than 0.05 nats, at most one mode fewer; digits: KID not above MH-GAN's by more than two
of their combined KID standard deviations). The JSON counts the seeds that support it.

Writes benchmarks/results/sampling_study.json and sampling_study.png and prints a
table (mean +- std over seeds).

    python benchmarks/sampling_study.py                  # the study (6 minutes on 2 idle cores)
    python benchmarks/sampling_study.py --quick          # a smoke run (tiny budgets)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import numpy as np

import gendsl as gd
from gendsl import samplers as S
from gendsl.run import build_experiment, load_program_file, program_config

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = {
    # name: (program file, config assignments, early-stopping step)
    "grid25": ("gan_mog", ["data=grid25"], 1500),
    "ring8": ("gan_mog", ["data=ring8"], 1000),
    "digits": ("gan_digits", [], 1000),
}
"""The study's settings: a program file, its config and the step it is stopped at."""

SAMPLERS = ("plain G", "DRS", "MH-GAN", "DDLS", "REP-GAN")

QUICK = {"train_steps": 60, "steps": 8, "chains": 64, "seeds": [0]}
"""``--quick``: budgets for a smoke run that checks the pipeline, not the claim."""


def specs(steps: int) -> dict:
    """The samplers at an equal budget of ``steps`` discriminator evaluations per sample
    (plain G: none)."""
    return {"plain G": S.independent(), "DRS": S.drs(tries=steps),
            "MH-GAN": S.mh_gan(steps=steps), "DDLS": S.ddls(steps=steps, step_size=0.01),
            "REP-GAN": S.rep_gan(steps=steps, tau=0.01, eta=0.1)}


QUICK_CONFIG = {"gan_mog": ["num_eval_samples=500"],
                "gan_digits": ["num_eval_samples=500", "eval_samples=100"]}
"""``--quick``: smaller end-of-training evaluations (the study scores its own samples)."""


def train(setting: str, seed: int, train_steps: int, runs_dir: Path, quick: bool = False):
    """Trains (or reuses: ``run_experiment`` resumes a finished run without a step) the
    early-stopped GAN of ``setting``; returns ``(compiled program, final state,
    experiment)``."""
    name, assignments, _ = SETTINGS[setting]
    program = ROOT / "programs" / f"{name}.py"
    module = load_program_file(program)
    cfg = program_config(module, [*assignments, f"steps={train_steps}", f"seed={seed}",
                                  f"checkpoint_every={train_steps}",
                                  *(QUICK_CONFIG[name] if quick else [])])
    run_dir = runs_dir / f"{setting}_steps{train_steps}{'_quick' if quick else ''}" / f"seed{seed}"
    compiled = []

    def compile_fn(program, **kwargs):
        compiled.append(gd.compile(program, **kwargs))
        return compiled[-1]

    experiment = build_experiment(module, cfg)
    fit = gd.run_experiment(experiment, cfg, run_dir, progress=False, compile_fn=compile_fn)
    return compiled[0], fit.state, experiment


def held_out(setting: str, experiment, seed: int) -> np.ndarray:
    """Held-out real samples for calibration (never seen in training): a finite
    dataset's ``held_out`` split, else 5,000 fresh draws of the mixture."""
    held = getattr(experiment.source, "held_out", None)
    if held is not None:
        return held["x"]
    return experiment.source.sample(5000, seed=10_000 + seed)


def score(setting: str, experiment, samples: np.ndarray) -> dict:
    """The source's own quality metrics of ``samples``."""
    if setting == "digits":
        kid = gd.metrics.digits_kid(samples, seed=0)
        return {"kid": kid["kid_mean"], "kid_std": kid["kid_std"]}
    m = experiment.source.evaluate(samples)
    return {"modes": m["modes_covered"], "n_modes": m["n_modes"],
            "high_quality_fraction": m["high_quality_fraction"], "kl": m["kl_from_uniform"]}


def run_sampler(spec, target, seed: int, chains: int) -> tuple:
    """Compiles ``spec`` ahead of time, then runs and times it; returns the result and
    the seconds of the sampling call alone."""
    sampler = S.compile_sampler(spec, target)
    key = jax.random.key(seed)
    sampler.compile_for(key, chains)
    t0 = time.perf_counter()
    result = sampler(key, chains)
    jax.block_until_ready((result.samples, result.trace))
    return result, time.perf_counter() - t0


def one_seed(setting: str, seed: int, args) -> dict:
    """Trains, calibrates and runs every sampler for one setting and seed."""
    t0 = time.perf_counter()
    compiled, state, experiment = train(setting, seed, args.train_steps or SETTINGS[setting][2],
                                        Path(args.runs_dir), quick=args.quick)
    print(f"  {setting} seed {seed}: trained or reused in {time.perf_counter() - t0:.0f} s",
          flush=True)
    target = S.target_of(compiled, state)
    calibration = S.calibrate(target, held_out(setting, experiment, seed), jax.random.key(seed))
    target = target.calibrated(calibration)
    rows = {}
    for name, spec in specs(args.steps).items():
        result, seconds = run_sampler(spec, target, seed, args.chains)
        samples = np.asarray(result.samples)
        ess = S.effective_sample_size(result.trace)
        rows[name] = {"acceptance_rate": result.acceptance_rate, "ess": ess,
                      "seconds": seconds, "ess_per_second": ess / seconds,
                      "d_evals_per_sample": result.d_evals_per_sample,
                      "d_grads_per_sample": result.d_grads_per_sample,
                      **score(setting, experiment, samples), **result.info}
        print(f"  {setting} seed {seed} {name:<8} accept {result.acceptance_rate:.3f} "
              f"{seconds:6.2f} s  " + "  ".join(
                  f"{k}={v:.4g}" for k, v in rows[name].items() if k in COLUMNS), flush=True)
    return {"seed": seed, "calibration": calibration.summary(), "samplers": rows,
            "claim": claim(setting, rows, args.chains)}


def claim(setting: str, rows: dict, chains: int) -> dict:
    """Whether one seed supports the claim: REP-GAN's acceptance at least twice
    MH-GAN's and its quality at least as good (within the noise; see the module doc)."""
    rep, mh = rows["REP-GAN"], rows["MH-GAN"]
    ratio = rep["acceptance_rate"] / max(mh["acceptance_rate"], 1e-12)
    if setting == "digits":
        tolerance = 2 * math.hypot(rep["kid_std"], mh["kid_std"])
        quality = rep["kid"] <= mh["kid"] + tolerance
    else:
        p = (rep["high_quality_fraction"] + mh["high_quality_fraction"]) / 2
        tolerance = 2 * math.sqrt(2 * p * (1 - p) / chains)
        quality = (rep["high_quality_fraction"] >= mh["high_quality_fraction"] - tolerance
                   and rep["kl"] <= mh["kl"] + 0.05 and rep["modes"] >= mh["modes"] - 1)
    far_above = ratio >= 2
    return {"acceptance_ratio": ratio, "acceptance_far_above": far_above,
            "quality_at_least_as_good": quality, "quality_tolerance": tolerance,
            "holds": bool(far_above and quality)}


COLUMNS = ("acceptance_rate", "ess_per_second", "modes", "high_quality_fraction", "kl", "kid")
"""The table's columns (absent where the setting has no such metric)."""


def aggregate(per_seed: list[dict]) -> dict:
    """Mean and std over seeds of every column, per sampler."""
    table = {}
    for name in SAMPLERS:
        rows = [s["samplers"][name] for s in per_seed]
        table[name] = {"d_evals_per_sample": rows[0]["d_evals_per_sample"]}
        for column in COLUMNS:
            values = [r[column] for r in rows if column in r]
            if values:
                table[name][column] = {"mean": statistics.fmean(values),
                                       "std": statistics.pstdev(values)}
            else:
                table[name][column] = None
    return table


def plot(results: dict, path: Path) -> None:
    """Acceptance (top) and quality (bottom) per sampler, one column per setting."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    settings = list(results["settings"])
    fig, axes = plt.subplots(2, len(settings), figsize=(4.2 * len(settings), 6.5),
                             squeeze=False)
    x = np.arange(len(SAMPLERS))
    for j, setting in enumerate(settings):
        table = results["settings"][setting]["table"]
        quality = "kid" if setting == "digits" else "high_quality_fraction"
        for i, (column, label) in enumerate((("acceptance_rate", "acceptance rate"),
                                             (quality, quality.replace("_", " ")))):
            ax = axes[i, j]
            mean = [table[s][column]["mean"] for s in SAMPLERS]
            std = [table[s][column]["std"] for s in SAMPLERS]
            ax.bar(x, mean, yerr=std, color=["0.6", "C0", "C1", "C2", "C3"], capsize=3)
            ax.set_xticks(x, SAMPLERS, rotation=30, fontsize=8)
            ax.set_ylabel(label)
            if i == 0:
                holds = results["settings"][setting]["seeds_supporting_claim"]
                ax.set_title(f"{setting}: claim holds in {holds}/"
                             f"{len(results['settings'][setting]['per_seed'])} seeds")
    fig.suptitle(f"{results['steps']} D evaluations per sample (plain G: 0), "
                 f"{results['chains']} chains, mean ± std over seeds {results['seeds']}",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(cell) -> str:
    """``mean±std`` text of a table cell, or ``-``."""
    if cell is None:
        return "-"
    m, s = cell["mean"], cell["std"]
    digits = ".0f" if abs(m) >= 100 else ".3g"
    return f"{m:{digits}}±{s:{digits}}"


def print_table(results: dict) -> None:
    """Prints one table per setting and the claim's verdict."""
    for setting, r in results["settings"].items():
        print(f"\n{setting} (trained {r['train_steps']} steps; "
              f"claim holds in {r['seeds_supporting_claim']}/{len(r['per_seed'])} seeds)")
        print(f"{'sampler':<9}{'D evals':>8}" + "".join(f"{c:>22}" for c in COLUMNS))
        for name in SAMPLERS:
            row = r["table"][name]
            print(f"{name:<9}{row['d_evals_per_sample']:>8}"
                  + "".join(f"{fmt(row[c]):>22}" for c in COLUMNS))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS),
                        default=list(SETTINGS), help="which trained GANs (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="training and sampling seeds (default: 0 1 2)")
    parser.add_argument("--steps", type=int, default=640,
                        help="discriminator evaluations per sample: MH/Langevin steps, DRS "
                             "tries (default: 640, REP-GAN's chain length)")
    parser.add_argument("--chains", type=int, default=2000,
                        help="chains = output samples per sampler run (default: 2000)")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="stop training here instead of each setting's own step")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run with tiny budgets {QUICK} (overrides the above)")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "sampling_study"),
                        help="where the trained GANs are written and reused")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "sampling_study.json"),
                        help="the results JSON; the figure goes beside it (.png)")
    args = parser.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    t_start = time.perf_counter()
    results = {"steps": args.steps, "chains": args.chains, "seeds": args.seeds,
               "quick": args.quick, "device": str(jax.devices()[0]),
               "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "samplers": {name: gd.show(spec) for name, spec in specs(args.steps).items()},
               "claim": "REP-GAN acceptance >= 2x MH-GAN's and quality at least as good "
                        "(see the module doc for the tolerances)",
               "settings": {}}
    for setting in args.settings:
        per_seed = [one_seed(setting, seed, args) for seed in args.seeds]
        results["settings"][setting] = {
            "program": SETTINGS[setting][0], "config": SETTINGS[setting][1],
            "train_steps": args.train_steps or SETTINGS[setting][2],
            "table": aggregate(per_seed),
            "seeds_supporting_claim": sum(s["claim"]["holds"] for s in per_seed),
            "per_seed": per_seed}
    results["wall_time_s"] = time.perf_counter() - t_start
    results["load_average"] = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out.with_suffix(".png"))
    print_table(results)
    print(f"\nwrote {out} and {out.with_suffix('.png')} ({results['wall_time_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
