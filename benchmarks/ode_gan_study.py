"""How long ODE-GAN's mixture setting takes to cover the 4 x 4 grid, over seeds.

Trains programs/ode_gan_mog16.py (2x25 ReLU MLPs, latent 32, h = 0.1, lambda = 0.07,
generator EMA 0.999, stratified batches) for each seed and configuration, and scores
10,000 EMA samples every ``--every`` steps (modes covered out of 16, high-quality
fraction, KL of the mode histogram from uniform). Configurations:

* ``rk4_joint``: RK4 on the game's joint flow;
* ``rk4_per_player``: RK4 with each player's flow integrated with the other frozen at
  the step's start (ODE-GAN's reference notebook; the program's default);
* ``euler_lam0``: Euler at the same h without the regulariser (the baseline).

Prints a table and writes benchmarks/results/ode_gan_study[_<tag>].json. This is a
study, not a test: tens of thousands of RK4 steps per seed do not fit CI's budget.

    python benchmarks/ode_gan_study.py --seeds 0 1 2 3 4 5 --steps 40000 --batch-size 128
    python benchmarks/ode_gan_study.py --configs rk4_per_player --batch-size 512 --tag b512
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config

ROOT = Path(__file__).resolve().parents[1]


def trajectory(overrides: list[str], seed: int, steps: int, every: int) -> list[dict]:
    """Trains one configuration and returns the mode metrics every ``every`` steps."""
    module = load_program_file(ROOT / "programs" / "ode_gan_mog16.py")
    cfg = program_config(module, [*overrides, f"seed={seed}"])
    exp = build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    state = compiled.init(jax.random.key(seed), exp.source.batch(0))
    rows, t0 = [], time.perf_counter()
    for chunk in range(steps // 100):
        state, _ = compiled.step_many(state, exp.source.batches(100 * chunk, 100))
        done = 100 * (chunk + 1)
        if done % every == 0:
            samples = np.asarray(compiled.sample(state, jax.random.key(1), 10_000))
            m = exp.source.evaluate(samples)
            rows.append({"step": done, "seconds": round(time.perf_counter() - t0, 1),
                         **{k: float(m[k]) for k in ("modes_covered", "high_quality_fraction",
                                                     "kl_from_uniform")}})
    return rows


CONFIGS = {
    "rk4_joint": ["coupling=joint"],
    "rk4_per_player": ["coupling=per_player"],
    "euler_lam0": ["method=euler", "lam=0"],
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--configs", nargs="+", default=["rk4_joint", "euler_lam0"],
                        choices=sorted(CONFIGS))
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    args = parser.parse_args(argv)
    name = "ode_gan_study" + (f"_{args.tag}" if args.tag else "") + ".json"
    out = ROOT / "benchmarks" / "results" / name
    runs = {}
    for method in args.configs:
        extra = CONFIGS[method]
        for seed in args.seeds:
            rows = trajectory([f"batch_size={args.batch_size}", *extra], seed, args.steps, args.every)
            runs[f"{method}/seed{seed}"] = rows
            print(f"{method:<12} seed {seed}: " + "  ".join(
                f"{r['step'] // 1000}k:{int(r['modes_covered'])}/{r['high_quality_fraction']:.2f}"
                for r in rows), flush=True)
    final = {k: v[-1] for k, v in runs.items()}
    for method in args.configs:
        full = sum(1 for k, r in final.items() if k.startswith(method + "/")
                   and r["modes_covered"] == 16)
        print(f"{method} runs covering 16/16 at step {args.steps}: {full} of {len(args.seeds)}")
    out.write_text(json.dumps({"batch_size": args.batch_size, "steps": args.steps,
                               "stratified": True, "runs": runs}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
