"""Closed-form NTK of the GA-NTK networks: gendsl.kernels against neural-tangents 0.6.5.

Workloads (float32, ``kernel(x, None, get="ntk")`` under ``jax.jit``, median of 5 after
a warm-up): ``cnn_mnist`` on 28x28x1 inputs for n = 128, 256, 512 and ``fc3``
(784-512-512-1) for n = 128, 256, 512 (see benchmarks/ntk_workloads.py). When the
neural-tangents anchor venv exists (../shared/anchors/neural_tangents/setup.sh;
``--anchor-venv``, ``$NT_ANCHOR_VENV`` or /tmp/nt-anchor), its bench.py runs in the
same invocation and the table shows the speed-up (neural-tangents time / gendsl time).
GFLOP/s are XLA's operation count of the same kernel evaluated in one block (no
symmetric-tile savings), divided by the gendsl median, against a measured float32
matmul peak. Writes benchmarks/results/ntk_kernel.json. Goal: speed-up >= 3 everywhere.

    python benchmarks/ntk_kernel.py [--sizes 128 256 512] [--no-anchor]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_timing  # noqa: E402

kernel_timing.single_threaded_blas()  # before NumPy / JAX load (see kernel_timing)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import nt_anchor  # noqa: E402
import ntk_workloads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def measure(name: str, n: int, reps: int) -> dict:
    """Time one kernel workload; returns its row."""
    build, shape = ntk_workloads.NETWORKS[name]
    net = build()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(n,) + shape), jnp.float32)
    fn = jax.jit(lambda a: net.kernel(a, None, get="ntk"))
    timing = kernel_timing.median_seconds(fn, x, reps=reps)
    flops = kernel_timing.xla_flops(lambda a: net.kernel(a, None, get="ntk", block_size=0), x)
    return {"workload": f"kernel/{name}/n={n}", "gendsl_s": timing["median_s"],
            "gendsl_best_s": timing["best_s"], "gendsl_runs_s": timing["runs_s"],
            "flops": flops, "gflop_per_s": flops / timing["median_s"] / 1e9}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--networks", nargs="+", default=list(ntk_workloads.NETWORKS))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--anchor-venv", default=None)
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ntk_kernel.json"))
    args = parser.parse_args(argv)

    peak = kernel_timing.matmul_peak()
    rows = [measure(name, n, args.reps) for name in args.networks for n in args.sizes]
    venv = None if args.no_anchor else nt_anchor.find_venv(args.anchor_venv)
    anchor = nt_anchor.compare(rows, venv)
    print(f"NTK kernels, float32, median of {args.reps} after warm-up "
          f"({'with' if anchor else 'without'} neural-tangents anchor)")
    kernel_timing.print_table(rows, peak)
    out = {"benchmark": "ntk_kernel", "machine": kernel_timing.machine(),
           "matmul_peak_flop_per_s": peak, "anchor_venv": str(venv) if venv else None,
           "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
