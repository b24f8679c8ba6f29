"""Speed of the geometry layer's geodesic solvers on a digits-VAE decoder (issue 11,
"Speed").

Workload: programs/vae_digits.py with a 2-D latent (hidden 128), trained here through
the compiler for ``--train-steps`` steps (seeded), its decoder ``z -> sigmoid(Dec(z))``
(64 pixels) as an NNX module; the end points are encoder means of held-out digits.

* ``geodesic``: one 32-node geodesic (``gd.geometry.geodesic``, L-BFGS, tol 1e-4, at
  most 200 steps) for ``--pairs`` pairs, ``--repeats`` times. Reported: the first
  call's time (compile and one solve), the median solve time after it, the median
  steps, the largest final gradient entry, the median energy over the straight line's.
  Baseline rows: Adam (stochman's optimizer, lr 1e-2 and 1e-1, 150 steps) to the same
  tolerance, interleaved with L-BFGS (L-BFGS, Adam, Adam per pair and repeat); the
  ratio is the median over those of Adam's time over L-BFGS's. Goal: L-BFGS solve < 1 s.
* ``matrix``: the ``--points`` x ``--points`` geodesic distance matrix between two sets
  of held-out latents (``geodesic_distances(points, others)``, 32 nodes): one compiled
  program, called twice: its compile time (first call - second call), its run time per
  pair, and the XLA compiles of each call (``jax.monitoring``; the second compiles
  nothing).
* ``chunks``: on a ``--subset`` x ``--subset`` block, interleaved for ``--rounds``
  rounds: the matrix vmapped over all pairs at once, in vmapped chunks of 10 pairs,
  pair by pair (``batch_size=1``: ``lax.map`` runs each pair's own ``while_loop``), and
  a Python loop over ``geodesic()`` calls; per-pair time and the median over rounds of
  each side's per-pair time over the loop's. The full matrix above runs pair by pair
  (``--batch-size 1``, the fastest here on 2 CPU cores; ``auto`` takes the fastest
  chunking of this section).

The machine is shared: the load average is sampled around every measurement.
Prints the table and writes benchmarks/results/geometry.json.

    python benchmarks/geometry.py [--quick] [--points 100] [--train-steps 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sampling import CompileCounter  # noqa: E402  (the benchmarks' compile counter)

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 1.0
"""A 32-node geodesic on the digits decoder solves in under this many seconds."""
FULL = {"train_steps": 2000, "nodes": 32, "pairs": 8, "repeats": 5, "points": 100,
        "subset": 10, "rounds": 3, "adam_lrs": (1e-2, 1e-1), "steps": 200, "adam_steps": 150,
        "tol": 1e-4}
QUICK = {**FULL, "train_steps": 400, "pairs": 4, "repeats": 2, "points": 12, "subset": 4,
         "rounds": 2, "adam_lrs": (1e-1,)}


class Decoder(nnx.Module):
    """A VAE decoder as a function of one latent point: ``z -> sigmoid(net(z))``."""

    def __init__(self, net):
        self.net = net

    def __call__(self, z):
        return jax.nn.sigmoid(self.net(z[None])[0])


def train_decoder(steps: int, seed: int = 0):
    """Trains programs/vae_digits.py with latent 2 for ``steps`` steps.

    Returns:
      ``(decoder, latents, seconds)``: the decoder module, the encoder means of the
      held-out digits ``(359, 2)``, and the training time.
    """
    t0 = time.perf_counter()
    module = load_program_file(ROOT / "programs" / "vae_digits.py")
    cfg = program_config(module, ["latent=2", f"seed={seed}"])
    exp = build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    state = compiled.init(jax.random.key(seed), exp.source.batch(0))
    chunk = 100
    for start in range(0, steps, chunk):
        state, _ = compiled.step_many(state, exp.source.batches(start, min(chunk, steps - start)))
    test = gd.datasets.digits_arrays(split="test")
    mean, _ = compiled.apply(state, "E", jnp.asarray(test["x"]))
    decoder = Decoder(compiled.module(state, "Dec"))
    return decoder, jax.block_until_ready(mean), time.perf_counter() - t0


def _timed(fn):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t0


def _stats(values):
    values = [float(v) for v in values]
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "iqr": [q[0], q[2]], "n": len(values)}


def single_geodesics(g, latents, s, load) -> dict:
    """The 32-node geodesic rows: L-BFGS and Adam, interleaved per pair and repeat."""
    rng = np.random.default_rng(1)
    ends = [tuple(rng.choice(latents.shape[0], 2, replace=False)) for _ in range(s["pairs"])]
    sides = {"L-BFGS": None} | {f"Adam lr {lr:g}": optax.adam(lr) for lr in s["adam_lrs"]}
    budget = {name: s["steps"] if opt is None else s["adam_steps"] for name, opt in sides.items()}

    def solve(name, i, j):
        return gd.geometry.geodesic(g, latents[i], latents[j], nodes=s["nodes"],
                                    steps=budget[name], tol=s["tol"], optimizer=sides[name])

    first = {name: _timed(lambda n=name: solve(n, *ends[0]))[1] for name in sides}
    times = {name: [] for name in sides}
    results = {name: [] for name in sides}
    for _ in range(s["repeats"]):
        for i, j in ends:
            for name in sides:
                out, dt = _timed(lambda n=name: solve(n, i, j))
                times[name].append(dt)
                results[name].append(out)
            load.append(os.getloadavg()[0])
    rows = {}
    for name in sides:
        last = results[name][-len(ends):]  # one result per pair (repeats agree)
        rows[name] = {
            "first_call_s": first[name], "solve_s": _stats(times[name]),
            "max_steps": budget[name],
            "steps": _stats([int(r.steps) for r in last]),
            "grad_max": max(float(r.grad_max) for r in last),
            "converged": sum(bool(r.grad_max < s["tol"]) for r in last) / len(last),
            "energy_over_straight": _stats([float(r.energy / r.straight_energy) for r in last]),
            "energy_leq_straight": all(float(r.energy) <= float(r.straight_energy) * (1 + 1e-6)
                                       for r in last),
            "time_over_lbfgs": None if name == "L-BFGS" else _stats(
                [a / b for a, b in zip(times[name], times["L-BFGS"])])}
    return {"pairs": [list(map(int, e)) for e in ends], "rows": rows}


def chunking(g, latents, s, load) -> dict:
    """Per-pair cost of the distance matrix on a subset: vmapped at once, in chunks,
    pair by pair, and a Python loop over ``geodesic()``; interleaved rounds."""
    k = s["subset"]
    a, b = latents[:k], latents[k:2 * k]
    pairs = k * k
    variants = {"vmap all pairs": None, "chunks of 10": 10, "pair by pair (batch_size=1)": 1}

    def matrix(bs):
        return gd.geometry.geodesic_distances(g, a, b, nodes=s["nodes"], steps=s["steps"],
                                              tol=s["tol"], batch_size=bs)

    def loop():
        return jnp.stack([gd.geometry.geodesic(g, a[i], b[j], nodes=s["nodes"], steps=s["steps"],
                                               tol=s["tol"]).length
                          for i in range(k) for j in range(k)]).reshape(k, k)

    first = {name: _timed(lambda bs=bs: matrix(bs)) for name, bs in variants.items()}
    reference = first["vmap all pairs"][0]
    looped, _ = _timed(loop)
    per_pair = {name: [] for name in [*variants, "Python loop of geodesic()"]}
    for _ in range(s["rounds"]):
        for name, bs in variants.items():
            per_pair[name].append(_timed(lambda bs=bs: matrix(bs))[1] / pairs)
        per_pair["Python loop of geodesic()"].append(_timed(loop)[1] / pairs)
        load.append(os.getloadavg()[0])
    base = per_pair["Python loop of geodesic()"]
    rows = {name: {"batch_size": variants.get(name, "loop"),
                   "first_call_s": first[name][1] if name in first else None,
                   "ms_per_pair": _stats([1e3 * t for t in v]),
                   "over_loop": _stats([x / y for x, y in zip(v, base)])}
            for name, v in per_pair.items()}
    agree = max(float(jnp.max(jnp.abs(first[name][0] - reference) / reference))
                for name in variants)
    return {"subset": k, "pairs": pairs, "rows": rows,
            "max_relative_difference": max(agree, float(jnp.max(jnp.abs(looped - reference)
                                                                / reference)))}


def distance_matrix(g, latents, s, batch_size, load, clock: CompileCounter) -> dict:
    """The full ``points x points`` matrix, called twice: the first call compiles, the
    second reuses the compiled program; compile time = first call - second call."""
    n = s["points"]
    a, b = latents[:n], latents[n:2 * n] if latents.shape[0] >= 2 * n else latents[-n:]

    def call():
        return gd.geometry.geodesic_distances(g, a, b, nodes=s["nodes"], steps=s["steps"],
                                              tol=s["tol"], batch_size=batch_size)
    compiles = clock.count
    load.append(os.getloadavg()[0])
    d, first = _timed(call)
    compiles_first = clock.count - compiles
    load.append(os.getloadavg()[0])
    again, wall = _timed(call)
    compiles_second = clock.count - compiles - compiles_first
    load.append(os.getloadavg()[0])
    euclid = jnp.linalg.norm(a[:, None] - b[None], axis=-1)
    return {"points": n, "pairs": n * n, "batch_size": batch_size, "first_call_s": first,
            "run_s": wall, "compile_s": first - wall, "ms_per_pair": 1e3 * wall / (n * n),
            "backend_compiles_first_call": compiles_first,
            "backend_compiles_second_call": compiles_second,
            "same_result": bool(jnp.array_equal(d, again)),
            "finite": bool(jnp.all(jnp.isfinite(d))),
            "median_geodesic_over_euclidean": float(jnp.median(d / euclid))}


def measure(settings: dict, batch_size=1) -> dict:
    """Trains the decoder and runs every section.

    Args:
      settings: :data:`FULL` or :data:`QUICK` (or a variant).
      batch_size: the full matrix's ``batch_size`` (None: all pairs at once), or
        ``"auto"``: the fastest of the chunking section.
    Returns:
      The results (see the module docstring).
    """
    s = settings
    clock = CompileCounter()
    load = [os.getloadavg()[0]]
    g, latents, train_s = train_decoder(s["train_steps"])
    print(f"trained the decoder in {train_s:.1f} s", flush=True)
    single = single_geodesics(g, latents, s, load)
    print("geodesic rows done", flush=True)
    chunks = chunking(g, latents, s, load)
    print("chunking rows: ms per pair " + ", ".join(
        f"{name} {row['ms_per_pair']['median']:.1f}" for name, row in chunks["rows"].items()),
        flush=True)
    if batch_size == "auto":
        fastest = min((r["ms_per_pair"]["median"], name) for name, r in chunks["rows"].items()
                      if r["batch_size"] != "loop")[1]
        batch_size = chunks["rows"][fastest]["batch_size"]
    matrix = distance_matrix(g, latents, s, batch_size, load, clock)
    lbfgs = single["rows"]["L-BFGS"]["solve_s"]["median"]
    return {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()},
            "train_s": train_s, "geodesic": single, "chunking": chunks, "matrix": matrix,
            "goal": {"geodesic_solve_s": GOAL_S}, "meets_goal": lbfgs < GOAL_S,
            "load_average": {"min": min(load), "median": statistics.median(load),
                             "max": max(load)}}


def print_table(r: dict) -> None:
    """Prints the results as tables."""
    s, la = r["settings"], r["load_average"]
    print(f"digits VAE (latent 2, {s['train_steps']} steps, trained in {r['train_s']:.1f} s), "
          f"{s['nodes']}-node curves, tol {s['tol']:g}; {jax.devices()[0].platform}, "
          f"{os.cpu_count()} cpus, load {la['median']:.1f} ({la['min']:.1f}-{la['max']:.1f})")
    print(f"\none geodesic ({len(r['geodesic']['pairs'])} pairs x {s['repeats']} repeats, "
          "interleaved)")
    print(f"{'optimizer':<14}{'1st call s':>11}{'solve ms':>10}{'steps':>7}{'grad_max':>10}"
          f"{'conv.':>7}{'E/E_line':>10}{'time/L-BFGS':>13}")
    for name, row in r["geodesic"]["rows"].items():
        ratio = row["time_over_lbfgs"]
        print(f"{name:<14}{row['first_call_s']:>11.2f}{1e3 * row['solve_s']['median']:>10.1f}"
              f"{row['steps']['median']:>7.0f}{row['grad_max']:>10.1e}{row['converged']:>7.2f}"
              f"{row['energy_over_straight']['median']:>10.4f}"
              f"{'1' if ratio is None else format(ratio['median'], '.2f'):>13}")
    c = r["chunking"]
    print(f"\ndistance matrix on {c['subset']} x {c['subset']} pairs ({s['rounds']} interleaved "
          f"rounds; results agree to {c['max_relative_difference']:.1e} relative)")
    print(f"{'how':<30}{'1st call s':>11}{'ms per pair':>13}{'per pair / loop':>17}")
    for name, row in c["rows"].items():
        first = "" if row["first_call_s"] is None else f"{row['first_call_s']:.2f}"
        print(f"{name:<30}{first:>11}{row['ms_per_pair']['median']:>13.2f}"
              f"{row['over_loop']['median']:>17.2f}")
    m = r["matrix"]
    print(f"\n{m['points']} x {m['points']} distance matrix ({m['pairs']} pairs, batch_size="
          f"{m['batch_size']}): first call {m['first_call_s']:.1f} s "
          f"({m['backend_compiles_first_call']} XLA compiles), second {m['run_s']:.1f} s "
          f"({m['backend_compiles_second_call']} compiles): compile {m['compile_s']:.1f} s, "
          f"{m['ms_per_pair']:.2f} ms per pair; median geodesic / euclidean distance "
          f"{m['median_geodesic_over_euclidean']:.2f}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small settings (about 2 minutes): the smoke test's path")
    for name in ("train_steps", "pairs", "repeats", "points", "subset", "rounds"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"default {FULL[name]} ({QUICK[name]} with --quick)")
    parser.add_argument("--batch-size", default="1",
                        help="the full matrix's batch_size: an int (default 1, pair by pair), "
                             "'none' (all pairs at once) or 'auto' (the fastest of the "
                             "chunking rows)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "geometry.json"))
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    settings.update({k: v for k, v in vars(args).items() if k in settings and v is not None})
    bs = {"auto": "auto", "none": None}.get(args.batch_size.lower(), None)
    if args.batch_size.lower() not in ("auto", "none"):
        bs = int(args.batch_size)
    r = measure(settings, bs)
    print_table(r)
    out = {"benchmark": "geometry", "workload": "digits VAE decoder, latent 2",
           "device": str(jax.devices()[0]), "machine": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "quick": args.quick, **r}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
