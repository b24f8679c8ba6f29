"""Ablations of ODE-GAN on the 4 x 4 grid that isolate the paper's cause: integration error.

Qin et al. (2020) attribute GAN instability to the error of integrating the game's
flow with a crude method (Euler, i.e. plain gradient descent-ascent) and add a small
gradient-norm regulariser. If integration error is the cause, then at a fixed step h
the more accurate method should train better (RK4 > Heun > Euler), the regulariser
alone should not rescue Euler, and shrinking h should rescue Euler too. Each arm
trains programs/ode_gan_mog16.py for the same *flow time* t = h * steps and scores
10,000 EMA samples every ``--every-t`` units of flow time (modes covered out of 16,
high-quality fraction, KL of the mode histogram from uniform).

Arms (``name: method, h, lambda``):

* ``rk4``: RK4, h = 0.1, lambda = 0.07 (the paper's setting);
* ``rk4_lam0``: RK4 without the regulariser;
* ``heun``: Heun (2nd order), with the regulariser;
* ``euler``: Euler with the regulariser;
* ``euler_lam0``: Euler without it (gradient descent-ascent);
* ``rk4_h0.2``, ``rk4_h0.4``: RK4 with larger steps;
* ``euler_h0.02``: Euler with a five times smaller step;
* ``euler_h0.2``: Euler with the regulariser at twice the step, where the Dirac-GAN's
  bound lambda > h / 2 for a regularised Euler step to contract no longer holds;
* ``euler_lam0_h0.02``: gradient descent-ascent with a five times smaller step.

Writes benchmarks/results/ode_gan_ablation[_<tag>].json after every run (so an
interrupted study keeps what it measured) and prints one line per run.

    python benchmarks/ode_gan_ablation.py                      # full: 3 seeds, t = 2000
    python benchmarks/ode_gan_ablation.py --seeds 0 --flow-time 300 --tag quick
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ode_gan_study import trajectory  # noqa: E402  (the study's trainer and scorer)

ARMS = {
    "rk4": ("rk4", 0.1, 0.07),
    "rk4_lam0": ("rk4", 0.1, 0.0),
    "heun": ("heun", 0.1, 0.07),
    "euler": ("euler", 0.1, 0.07),
    "euler_lam0": ("euler", 0.1, 0.0),
    "rk4_h0.2": ("rk4", 0.2, 0.07),
    "rk4_h0.4": ("rk4", 0.4, 0.07),
    "euler_h0.02": ("euler", 0.02, 0.07),
    "euler_h0.2": ("euler", 0.2, 0.07),
    "euler_lam0_h0.02": ("euler", 0.02, 0.0),
}
EXTRA = ("euler_h0.2", "euler_lam0_h0.02")
"""Arms run separately (``--arms ... --tag extra``): Dirac-GAN's stability bound for
Euler with the regulariser (lambda > h / 2, see benchmarks/dirac_gan.py) fails at h = 0.2;
and gradient descent-ascent with a small step."""


def arm_overrides(arm: str, batch_size: int) -> list[str]:
    """The program overrides of ``arm`` (see ARMS) at ``batch_size``. The arms integrate
    the joint flow (both players' vector field in one solver step), as the committed
    results were measured; the program's default is the reference notebook's per-player
    coupling."""
    method, h, lam = ARMS[arm]
    return [f"method={method}", f"h={h}", f"lam={lam}", f"batch_size={batch_size}", "coupling=joint"]


def run_arm(arm: str, seed: int, flow_time: float, every_t: float, batch_size: int) -> list[dict]:
    """Trains ``arm`` for flow time ``flow_time``; rows every ``every_t`` (with ``t``)."""
    h = ARMS[arm][1]
    steps = int(round(flow_time / h / 100)) * 100
    marks = max(1, int(round(flow_time / every_t)))
    every = max(100, steps // marks // 100 * 100)  # the last score falls on the last step
    steps = every * (steps // every)
    rows = trajectory(arm_overrides(arm, batch_size), seed, steps, every)
    return [{**r, "t": round(r["step"] * h, 6)} for r in rows]


def summarise(runs: dict) -> dict:
    """Per arm: seeds run, seeds covering 16/16 at the end, mean final metrics."""
    out = {}
    for key, rows in runs.items():
        arm = key.split("/")[0]
        s = out.setdefault(arm, {"seeds": 0, "full_coverage": 0, "modes": [], "hq": []})
        s["seeds"] += 1
        s["full_coverage"] += int(rows[-1]["modes_covered"] == 16)
        s["modes"].append(rows[-1]["modes_covered"])
        s["hq"].append(rows[-1]["high_quality_fraction"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", choices=list(ARMS),
                        default=[a for a in ARMS if a not in EXTRA])
    parser.add_argument("--flow-time", type=float, default=2000.0, help="t = h * steps per run")
    parser.add_argument("--every-t", type=float, default=500.0, help="flow time between scores")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument("--out", type=Path, default=None, help="results file (default: by tag)")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "benchmarks" / "results" / (
        "ode_gan_ablation" + (f"_{args.tag}" if args.tag else "") + ".json")
    runs, t0 = {}, time.perf_counter()
    for seed in args.seeds:  # seed-major: an interrupted study has every arm on its first seeds
        for arm in args.arms:
            rows = run_arm(arm, seed, args.flow_time, args.every_t, args.batch_size)
            runs[f"{arm}/seed{seed}"] = rows
            print(f"[{time.perf_counter() - t0:7.0f}s] {arm:<12} seed {seed}: " + "  ".join(
                f"t{r['t']:g}:{int(r['modes_covered'])}/{r['high_quality_fraction']:.2f}"
                for r in rows), flush=True)
            out.write_text(json.dumps({
                "batch_size": args.batch_size, "flow_time": args.flow_time,
                "arms": {a: dict(zip(("method", "h", "lam"), ARMS[a])) for a in args.arms},
                "seeds": args.seeds, "runs": runs, "summary": summarise(runs)}, indent=2) + "\n")
    for arm, s in summarise(runs).items():
        print(f"{arm:<12} 16/16 in {s['full_coverage']} of {s['seeds']}; modes {s['modes']}")
    print(f"wrote {out}")
    return runs


if __name__ == "__main__":
    main()
