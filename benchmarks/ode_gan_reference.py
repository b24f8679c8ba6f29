"""ODE-GAN on the 4 x 4 grid: DeepMind's reference notebook against gendsl, seed by seed.

For each seed, runs (interleaved, one after the other) the reference notebook
``odegan_mog16.ipynb`` in its own venv (benchmarks/anchors/odegan/setup.sh, run by
benchmarks/anchors/odegan/run_reference.py) and gendsl's programs/ode_gan_mog16.py in each
``--configs`` configuration, with the same batch, steps, h = 0.1 and lambda = 0.07. Every
``--every`` steps both are scored by the same code (``gd.metrics.mode_coverage`` on the
grid's centres and std 0.02: modes covered of 16, high-quality fraction within 3 std):

* the reference on its own 5,120 test latents with the raw generator, as it plots them;
* gendsl on 5,120 latents with the raw generator (``raw``) and with the EMA generator
  the program samples from (``ema``).

Writes benchmarks/results/ode_gan_reference[_<tag>].json and prints a table; the
16/16 counts per configuration are the seed success rates docs/results.md compares.

    benchmarks/anchors/odegan/setup.sh            # once: /tmp/odegan-ref
    python benchmarks/ode_gan_reference.py --seeds 0 1 2 3 4 5 --steps 30000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "benchmarks" / "anchors" / "odegan" / "run_reference.py"
N_EVAL = 5120  # the notebook's test latents: bs * 10 at bs = 512
KEYS = ("modes_covered", "high_quality_fraction")

CONFIGS = {  # programs/ode_gan_mog16.py overrides
    "per_player": ["coupling=per_player"],
    "joint": ["coupling=joint"],
}


def score(samples) -> dict:
    """Mode metrics of ``samples`` on the 16-mode grid."""
    grid = gd.datasets.grid16()
    m = gd.metrics.mode_coverage(np.asarray(samples), grid.centres, grid.std)
    return {k: float(m[k]) for k in KEYS}


def score_reference(path) -> list[dict]:
    """Scores the samples run_reference.py saved (``.npz``); one row per recorded step."""
    data = np.load(path)
    return [{"step": int(s), **score(x)} for s, x in zip(data["steps"], data["samples"]) if s > 0]


def reference(venv: Path, seed: int, steps: int, batch: int, every: int) -> dict:
    """Runs the notebook for one seed; returns ``{"seconds", "rows"}``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples.npz"
        cmd = [str(venv / "bin" / "python"), str(RUNNER), "--notebook",
               str(venv / "odegan_mog16.ipynb"), "--seed", str(seed), "--steps", str(steps),
               "--batch", str(batch), "--every", str(every), "--out", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"reference run failed (seed {seed}):\n{done.stderr[-3000:]}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        rows = score_reference(out)
    return {"seconds": info["seconds"], "rows": rows}


def ours(overrides: list[str], seed: int, steps: int, batch: int, every: int) -> dict:
    """Trains programs/ode_gan_mog16.py for one seed; returns ``{"seconds", "rows"}``."""
    module = load_program_file(ROOT / "programs" / "ode_gan_mog16.py")
    cfg = program_config(module, [f"batch_size={batch}", *overrides, f"seed={seed}"])
    exp = build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    state = compiled.init(jax.random.key(seed), exp.source.batch(0))
    z = jax.random.normal(jax.random.key(10_000 + seed), (N_EVAL, cfg.latent))
    rows, t0, chunk = [], time.perf_counter(), 100
    for c in range(steps // chunk):
        state, _ = compiled.step_many(state, exp.source.batches(chunk * c, chunk))
        done = chunk * (c + 1)
        if done % every == 0:
            raw = score(compiled.apply(state, "G", z))
            ema = score(compiled.sample(state, jax.random.key(1), N_EVAL))
            rows.append({"step": done, **{f"raw_{k}": v for k, v in raw.items()},
                         **{f"ema_{k}": v for k, v in ema.items()}})
    return {"seconds": round(time.perf_counter() - t0, 1), "rows": rows}


def summary(runs: dict, steps: int) -> dict:
    """Runs covering 16/16 per configuration and evaluation, at the last step that every
    run reached (a run cut short is compared where it stopped; ``steps`` is the target)."""
    reached = [r["rows"][-1]["step"] for by_seed in runs.values() for r in by_seed.values()
               if r["rows"]]
    step = min(reached, default=steps)
    out = {}
    for name, by_seed in runs.items():
        finals = [next(row for row in r["rows"] if row["step"] == step)
                  for r in by_seed.values() if r["rows"]]
        keys = ["modes_covered"] if name == "reference" else ["raw_modes_covered", "ema_modes_covered"]
        for k in keys:
            label = name if name == "reference" else f"{name}/{k.split('_')[0]}"
            full = sum(1 for f in finals if f[k] == 16)
            out[label] = {"full_16_of_16": full, "seeds": len(finals),
                          "modes": [int(f[k]) for f in finals], "step": step}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--configs", nargs="*", default=["per_player", "joint"],
                        choices=sorted(CONFIGS))
    parser.add_argument("--no-reference", action="store_true", help="gendsl's runs only")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/odegan-ref"))
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument("--score-npz", nargs="+", metavar="SEED=PATH", default=[],
                        help="score reference samples saved by a separate run_reference.py "
                             "run instead of running the notebook (implies --no-reference)")
    args = parser.parse_args(argv)
    out = ROOT / "benchmarks" / "results" / (
        "ode_gan_reference" + (f"_{args.tag}" if args.tag else "") + ".json")
    runs: dict = {}

    def save():
        out.write_text(json.dumps({"batch_size": args.batch_size, "steps": args.steps,
                                   "n_eval": N_EVAL, "summary": summary(runs, args.steps),
                                   "runs": runs}, indent=1) + "\n")

    for item in args.score_npz:
        seed, path = item.split("=", 1)
        runs.setdefault("reference", {})[f"seed{int(seed)}"] = {"seconds": None,
                                                               "rows": score_reference(path)}
        save()
    for seed in args.seeds:  # interleaved: a seed's runs one after another
        if not args.no_reference and not args.score_npz:
            r = reference(args.venv, seed, args.steps, args.batch_size, args.every)
            runs.setdefault("reference", {})[f"seed{seed}"] = r
            save()
            print(f"reference       seed {seed} ({r['seconds']:.0f}s): " + "  ".join(
                f"{x['step'] // 1000}k:{int(x['modes_covered'])}/{x['high_quality_fraction']:.2f}"
                for x in r["rows"]), flush=True)
        for name in args.configs:
            r = ours(CONFIGS[name], seed, args.steps, args.batch_size, args.every)
            runs.setdefault(name, {})[f"seed{seed}"] = r
            print(f"gendsl {name:<9} seed {seed} ({r['seconds']:.0f}s): " + "  ".join(
                f"{x['step'] // 1000}k:{int(x['raw_modes_covered'])}"
                f"/{x['raw_high_quality_fraction']:.2f} (ema {int(x['ema_modes_covered'])}"
                f"/{x['ema_high_quality_fraction']:.2f})" for x in r["rows"]), flush=True)
            save()
    for label, s in summary(runs, args.steps).items():
        print(f"{label:<22} 16/16 at step {s['step']}: {s['full_16_of_16']} of {s['seeds']} "
              f"(modes {s['modes']})")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
