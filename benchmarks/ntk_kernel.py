"""Closed-form NTK of the GA-NTK networks: gendsl.kernels against neural-tangents 0.6.5.

Workloads (float32, ``kernel(x, None, get="ntk")`` under ``jax.jit``): ``cnn_mnist`` on
28x28x1 inputs and ``fc3`` (784-512-512-1), at each of ``--sizes`` (default 128, 256,
512; see benchmarks/ntk_workloads.py). When the neural-tangents anchor venv exists
(../shared/anchors/neural_tangents/setup.sh; ``--anchor-venv``, ``$NT_ANCHOR_VENV`` or
/tmp/nt-anchor, checked to import neural_tangents), the same workload at the same size
runs in a long-lived anchor process (benchmarks/nt_anchor.py), timed alternately with
gendsl, ``--pairs`` runs each after a warm-up on each side; the ratio is the median of
the per-pair ratios (neural-tangents / gendsl). A size the anchor cannot run gets the
reason in its row. Each row records the load averages before and after it.
GFLOP/s: XLA's operation count of the tiles gendsl actually computes
(kernel_timing.executed_kernel_flops) over the gendsl median, against a float32 matmul
peak: a 2048^2 matmul timed after each pair, its median (the same statistic). Writes
benchmarks/results/ntk_kernel.json.

    python benchmarks/ntk_kernel.py [--sizes 128 256 512] [--pairs 7] [--no-anchor]
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


def measure(name: str, n: int, pairs: int, anchor, peak_once=None) -> dict:
    """Time one kernel workload, interleaved with the anchor's; returns its row."""
    build, shape = ntk_workloads.NETWORKS[name]
    net = build()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(n,) + shape), jnp.float32)
    fn = jax.jit(lambda a: net.kernel(a, None, get="ntk"))
    workload = f"kernel/{name}/n={n}"
    row = nt_anchor.measure_row({"workload": workload}, kernel_timing.timed(fn, x), anchor,
                                workload, pairs, peak_once)
    row["flops"] = kernel_timing.executed_kernel_flops(net, n, None, shape)
    row["gflop_per_s"] = row["flops"] / row["gendsl_s"] / 1e9
    if "peak_flop_per_s" in row:
        row["fraction_of_peak"] = row["flops"] / row["gendsl_s"] / row["peak_flop_per_s"]
    print(f"  {workload}: {row['gendsl_s'] * 1e3:.2f} ms, ratio {row.get('speedup')}"
          f"{'' if 'anchor_note' not in row else ' (' + row['anchor_note'] + ')'}", flush=True)
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--networks", nargs="+", default=list(ntk_workloads.NETWORKS))
    parser.add_argument("--pairs", type=int, default=7,
                        help="interleaved runs of each side per workload")
    parser.add_argument("--anchor-venv", default=None)
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ntk_kernel.json"))
    args = parser.parse_args(argv)

    load_start = kernel_timing.load()
    peak = kernel_timing.matmul_peak()
    rejected: list = []
    venv = None if args.no_anchor else nt_anchor.find_venv(args.anchor_venv, rejected=rejected)
    anchor = nt_anchor.Anchor(venv) if venv else None
    peak_once = kernel_timing.matmul_once()
    try:
        rows = [measure(name, n, args.pairs, anchor, peak_once) for name in args.networks
                for n in args.sizes]
    finally:
        if anchor:
            anchor.close()
    print(f"NTK kernels, float32, {args.pairs} interleaved pairs after warm-up "
          f"({'with' if anchor else 'without'} neural-tangents anchor)")
    kernel_timing.print_table(rows, peak)
    out = {"benchmark": "ntk_kernel", "machine": kernel_timing.machine(),
           "method": "interleaved pairs (gendsl, neural-tangents); ratio = median of per-pair "
                     "ratios; flops = executed tiles only; peak = median",
           "pairs": args.pairs, "load_start": load_start, "load_end": kernel_timing.load(),
           "matmul_peak_flop_per_s": peak, "anchor_venv": str(venv) if venv else None,
           "anchor_rejected": rejected, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
