"""GA-NTKg in pixel space (ours) against the reference's latent-space variant, on digits.

    python benchmarks/ga_ntkg_compare.py [--seeds 0 1] [--out benchmarks/results/ga_ntkg_compare.json]

Trains programs/ga_ntkg_digits.py (a CNN NTK on the images, Adam 3e-3) and
programs/ga_ntkg_latent_digits.py (an autoencoder stage, then GA-NTKg on its codes with
the reference's 4 x Dense64-Erf NTK, Adam(2e-4, b1 0.5), clipping at 5, diag_reg 1e-4,
batch 64) at their default budgets, and records the digits-classifier KID of 1,000
samples against the held-out digits and the training time (compilation excluded:
the first chunk of each stage is timed apart). Writes a JSON of the numbers.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

import gendsl as gd

ROOT = pathlib.Path(__file__).resolve().parents[1]


def train(name, seed, overrides=()):
    """Trains ``programs/<name>.py`` for its budget; returns KID, seconds and KID curve."""
    module = gd.run.load_program_file(ROOT / "programs" / f"{name}.py")
    cfg = gd.run.program_config(module, [f"seed={seed}", *overrides])
    exp = gd.run.build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    sources = exp.source if isinstance(exp.source, tuple) else (exp.source,)
    # a staged program runs phase by phase; a plain one is one phase of cfg.steps steps
    phases = ([(p.step_many, p.shard_batch, p.start, p.end) for p in compiled.phases]
              if hasattr(compiled, "stages") else
              [(compiled.step_many, compiled.shard_batch, 0, cfg.steps)])
    chunk = cfg.steps_per_call
    state = compiled.init(jax.random.key(seed), sources[0].batch(0))
    seconds, compile_seconds, curve = 0.0, 0.0, []
    for index, (step_many, shard, begin, end) in enumerate(phases):
        source = sources[min(index, len(sources) - 1)]
        for step in range(begin, end, chunk):
            t0 = time.perf_counter()
            state, metrics = step_many(state, shard(source.batches(step, chunk), stacked=1))
            jax.block_until_ready(metrics)
            if step == begin:
                compile_seconds += time.perf_counter() - t0
            else:
                seconds += time.perf_counter() - t0
            done = step + chunk
            if done % (10 * chunk) == 0 or done >= end:
                kid = exp.evaluate(compiled, state, jax.random.key(1))["kid_mean"]
                curve.append((done, kid))
                print(f"{name} seed {seed} step {done}: KID {kid:.3f} ({seconds:.1f} s)",
                      flush=True)
    total = phases[-1][3]
    return {"kid": curve[-1][1], "train_seconds": seconds, "first_chunks_seconds": compile_seconds,
            "steps": total, "curve": curve}


def main():
    """Parses the flags, trains both variants for every seed and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--pixel-steps", type=int, default=None,
                        help="steps of programs/ga_ntkg_digits.py (default: its own, 600)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ga_ntkg_compare.json"))
    args = parser.parse_args()
    results = {}
    overrides = {"ga_ntkg_latent_digits": [],
                 "ga_ntkg_digits": [f"steps={args.pixel_steps}"] if args.pixel_steps else []}
    for name in ("ga_ntkg_latent_digits", "ga_ntkg_digits"):
        results[name] = [train(name, s, overrides[name]) for s in args.seeds]
        kids = [r["kid"] for r in results[name]]
        secs = [r["train_seconds"] for r in results[name]]
        print(f"{name}: KID {np.mean(kids):.3f} +- {np.std(kids):.3f}, "
              f"{np.mean(secs):.1f} s training", flush=True)
        pathlib.Path(args.out).write_text(json.dumps({"seeds": args.seeds, **results}, indent=1))


if __name__ == "__main__":
    main()
