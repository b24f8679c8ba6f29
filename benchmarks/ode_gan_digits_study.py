"""ODE-GAN on images: RK4 with the regulariser against an Adam GAN on 8 x 8 digits, KID
against steps, over seeds.

Trains, for each seed, programs/ode_gan_digits.py (``rk4``: RK4 on the joint flow, plain
steps, lambda = 0.02) and programs/gan_digits.py (``adam``: the project's Adam GAN, same
networks) and scores ``gd.metrics.digits_kid`` of 1,000 samples against the held-out
digits every ``--every`` steps (the same evaluation both programs' summary.json report).
Extra configurations: ``euler_lam0`` (Euler at the same h, no regulariser) and
``rk4_lam0`` (RK4 without the regulariser).

Writes benchmarks/results/ode_gan_digits_study[_<tag>].json and, with ``--figure``, the
KID-against-steps plot (mean and per-seed curves).

    python benchmarks/ode_gan_digits_study.py --seeds 0 1 2 --steps 4000 --every 500 \\
        --figure docs/figures/ode_gan_digits_kid.png
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import jax
import numpy as np

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config
from gendsl.run.batches import chunk_batches, step_batch

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = {  # label: (program, overrides)
    "rk4": ("ode_gan_digits", []),
    "adam": ("gan_digits", []),
    "rk4_lam0": ("ode_gan_digits", ["lam=0"]),
    "euler_lam0": ("ode_gan_digits", ["method=euler", "lam=0"]),
}


def trajectory(config: str, seed: int, steps: int, every: int, overrides=()) -> dict:
    """Trains one configuration for one seed; KID every ``every`` steps (and at step 0)."""
    program, extra = CONFIGS[config]
    module = load_program_file(ROOT / "programs" / f"{program}.py")
    cfg = program_config(module, [*extra, *overrides, f"seed={seed}"])
    exp = build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    bps = compiled.batches_per_step
    state = compiled.init(jax.random.key(seed), step_batch(exp.source, 0, bps))
    chunk = math.gcd(100, every)  # steps per call that land on every evaluation step

    def kid():
        m = exp.evaluate(compiled, state, jax.random.key(1))
        return float(m["kid_mean"])

    rows, t0 = [{"step": 0, "kid": kid()}], time.perf_counter()
    for c in range(steps // chunk):
        state, _ = compiled.step_many(state, chunk_batches(exp.source, c * chunk, chunk, bps))
        done = chunk * (c + 1)
        if done % every == 0:
            rows.append({"step": done, "kid": kid()})
    return {"seconds": round(time.perf_counter() - t0, 1), "rows": rows}


def plot(runs: dict, path: Path) -> None:
    """KID against steps: each configuration's mean over seeds, seeds faint."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (config, by_seed) in enumerate(runs.items()):
        colour = f"C{i}"
        curves = [r["rows"] for r in by_seed.values()]
        steps = [row["step"] for row in curves[0]]
        kids = np.array([[row["kid"] for row in c] for c in curves])
        for k in kids:
            ax.plot(steps, k, color=colour, alpha=0.25, lw=0.8)
        ax.plot(steps, kids.mean(0), color=colour, lw=2, label=f"{config} ({len(curves)} seeds)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("KID (digits classifier features)")
    ax.set_title("ODE-GAN on 8x8 digits: RK4 + regulariser vs Adam")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def study(configs, seeds, steps, every, overrides=()) -> dict:
    """Runs every configuration for every seed (seed-major); returns ``{config: {seed: run}}``."""
    runs: dict = {c: {} for c in configs}
    for seed in seeds:
        for config in configs:
            r = trajectory(config, seed, steps, every, overrides)
            runs[config][f"seed{seed}"] = r
            print(f"{config:<10} seed {seed} ({r['seconds']:.0f}s): " + "  ".join(
                f"{row['step']}:{row['kid']:.3g}" for row in r["rows"]), flush=True)
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--configs", nargs="+", default=["rk4", "adam"], choices=sorted(CONFIGS))
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="extra program override for every configuration (key=value)")
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)
    runs = study(args.configs, args.seeds, args.steps, args.every, args.overrides)
    out = ROOT / "benchmarks" / "results" / (
        "ode_gan_digits_study" + (f"_{args.tag}" if args.tag else "") + ".json")
    out.write_text(json.dumps({"steps": args.steps, "every": args.every,
                               "overrides": args.overrides, "runs": runs}, indent=1) + "\n")
    if args.figure:
        plot(runs, args.figure)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
