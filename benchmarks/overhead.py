"""Per-step overhead of gendsl's compiled step against a hand-written NNX + optax step.

Workload: programs/gan_mog.py's GAN (ring of 8, batch 256, two-layer MLPs, alternating
D=1, G=1, Adam) on the same host batches, and the same at batch 16 where dispatch, not
compute, dominates. Three loops, each timed over many interleaved runs of N steps after
a warm-up; ratios use each loop's best run (the least disturbed by other work on the
machine), medians are printed beside them:

* ``hand``: ``nnx.split`` once, a pure ``jax.jit`` step written by hand (donated state);
* ``gendsl``: ``gd.compile(program).step``, one step per call;
* ``gendsl_fused``: ``gd.compile(program, steps_per_call=100).step``, 100 steps per call;
* ``hand_fused``: the hand-written step in a ``lax.scan`` of 100 (the in-graph cost of
  the step without any dispatch: what ``gendsl_fused`` compares to).

Prints a table of steps/s and ratios to ``hand`` and writes
benchmarks/results/overhead.json. Goals: ``gendsl`` within 3% of ``hand`` (overhead
<= 3%), ``gendsl_fused`` at least 3x ``hand``.

    python benchmarks/overhead.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gendsl as gd
from gendsl.run import build_experiment, load_program_file, program_config

ROOT = Path(__file__).resolve().parents[1]


def hand_written(cfg, hidden, key):
    """The same GAN step written directly with nnx.split / optax / jax.jit.

    Parameters travel as flat lists of arrays (the cheapest pytrees to dispatch) and are
    put back into the modules' ``nnx.State`` structure inside the jitted step, so this
    is the fastest hand-written form we know, not a strawman.
    """
    k_g, k_d = jax.random.split(jax.random.fold_in(key, 0))
    gdef, g_state = nnx.split(gd.nn.MLP(cfg.latent, hidden, 2, rngs=nnx.Rngs(k_g)), nnx.Param)
    ddef, d_state = nnx.split(gd.nn.MLP(2, hidden, 1, rngs=nnx.Rngs(k_d)), nnx.Param)
    g_leaves, g_tree = jax.tree.flatten(g_state)
    d_leaves, d_tree = jax.tree.flatten(d_state)
    G = lambda p, z: nnx.merge(gdef, jax.tree.unflatten(g_tree, p))(z)
    D = lambda p, x: nnx.merge(ddef, jax.tree.unflatten(d_tree, p))(x)
    opt = optax.adam(cfg.lr, b1=0.5)
    state = (g_leaves, d_leaves, opt.init(g_leaves), opt.init(d_leaves), jax.random.key(1))

    def d_loss(dp, gp, x, z):
        return jnp.mean(jax.nn.softplus(-D(dp, x))) + jnp.mean(jax.nn.softplus(D(dp, G(gp, z))))

    def g_loss(gp, dp, z):
        return jnp.mean(jax.nn.softplus(-D(dp, G(gp, z))))

    def step(state, batch):
        gp, dp, g_opt, d_opt, key = state
        key, k1, k2 = jax.random.split(key, 3)
        x = batch["x"]
        ld, grads = jax.value_and_grad(d_loss)(dp, gp, x, jax.random.normal(k1, (x.shape[0], cfg.latent)))
        updates, d_opt = opt.update(grads, d_opt, dp)
        dp = optax.apply_updates(dp, updates)
        lg, grads = jax.value_and_grad(g_loss)(gp, dp, jax.random.normal(k2, (x.shape[0], cfg.latent)))
        updates, g_opt = opt.update(grads, g_opt, gp)
        gp = optax.apply_updates(gp, updates)
        return (gp, dp, g_opt, d_opt, key), {"D/loss": ld, "G/loss": lg}

    return jax.jit(step, donate_argnums=0), state


def time_loops(loops, reps=15):
    """Median seconds of each loop ``for b in batches: state, m = step(state, b)``.

    Args:
      loops: ``{name: (step, state, batches)}``.
      reps: timed runs per loop; runs of different loops are interleaved so that slow
        drifts of the machine (other tenants, clock changes) hit every loop alike.
    Returns:
      ``{name: (median seconds, minimum seconds)}``.
    """
    states = {}
    for name, (step, state, batches) in loops.items():   # warm-up: compile every shape
        state, m = step(state, batches[0])
        states[name] = jax.block_until_ready(state)
    times = {name: [] for name in loops}
    for _ in range(reps):
        for name, (step, _, batches) in loops.items():
            state = states[name]
            t0 = time.perf_counter()
            for b in batches:
                state, m = step(state, b)
            jax.block_until_ready((state, m))
            times[name].append(time.perf_counter() - t0)
            states[name] = state
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def measure(batch_size: int, steps: int, reps: int) -> dict:
    """Times the three loops on gan_mog at ``batch_size``; returns steps/s and ratios."""
    module = load_program_file(ROOT / "programs" / "gan_mog.py")
    cfg = program_config(module, [f"batch_size={batch_size}"])
    exp = build_experiment(module, cfg)
    n, K = max(100, steps - steps % 100), 100
    host = exp.source.batches(0, n)                          # the same data for every loop
    singles = [{"x": host["x"][i]} for i in range(n)]
    fused_batches = [{"x": host["x"][i:i + K]} for i in range(0, n, K)]
    hidden = module.hidden_widths(cfg)
    step, state = hand_written(cfg, hidden, jax.random.key(0))
    hand_fused = jax.jit(lambda st, bs: jax.lax.scan(step.__wrapped__ if hasattr(step, "__wrapped__")
                                                     else step, st, bs), donate_argnums=0)
    single = gd.compile(exp.program)
    fused = gd.compile(exp.program, steps_per_call=K)
    times = time_loops(reps=reps, loops={
        "hand": (step, state, singles),
        "hand_fused": (hand_fused, hand_written(cfg, hidden, jax.random.key(0))[1], fused_batches),
        "gendsl": (single.step, single.init(jax.random.key(0), singles[0]), singles),
        "gendsl_fused": (fused.step, fused.init(jax.random.key(0), singles[0]), fused_batches),
    })
    rows = {name: n / t[1] for name, t in times.items()}
    median = {name: n / t[0] for name, t in times.items()}
    return {"batch_size": batch_size, "steps": n, "steps_per_s": rows,
            "steps_per_s_median": median,
            "ratio_to_hand": {k: v / rows["hand"] for k, v in rows.items()},
            "ratio_to_hand_median": {k: v / median["hand"] for k, v in median.items()},
            "per_step_overhead": rows["hand"] / rows["gendsl"] - 1.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per timed run")
    parser.add_argument("--reps", type=int, default=25, help="timed runs per loop")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 16],
                        help="256 is the program's; a small batch shows the dispatch-bound regime")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "overhead.json"))
    args = parser.parse_args(argv)
    results = [measure(b, args.steps, args.reps) for b in args.batch_sizes]
    print(f"gan_mog step, {args.steps} steps x {args.reps} interleaved runs "
          "(best run; median in parentheses), "
          f"{jax.devices()[0].platform}, {platform.processor() or platform.machine()}")
    print(f"{'batch':>6}  {'loop':<14}{'steps/s':>10}{'vs hand':>10}{'(median)':>10}")
    for r in results:
        for name, rate in r["steps_per_s"].items():
            print(f"{r['batch_size']:>6}  {name:<14}{rate:>10.0f}{r['ratio_to_hand'][name]:>10.3f}"
                  f"{r['ratio_to_hand_median'][name]:>10.3f}")
        print(f"{r['batch_size']:>6}  per-step overhead {100 * r['per_step_overhead']:+.1f}% "
              f"(goal <= 3%); fused {r['ratio_to_hand']['gendsl_fused']:.1f}x hand (goal >= 3x)")
    out = {"workload": "gan_mog", "device": str(jax.devices()[0]), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
