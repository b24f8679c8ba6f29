"""One GA-NTK generator step (loss and gradient w.r.t. the fake points) against neural-tangents.

Workload: n real + n fake points (``--sizes``, default 128), NTK-GP discriminator trained
for t = 100 with lr 1e-2 and diag_reg 1e-5, value and gradient w.r.t. the fake points,
float32, under ``jax.jit``; kernels ``cnn_mnist`` (28x28x1) and ``fc3`` (784-d) from
benchmarks/ntk_workloads.py. Two rows per kernel and size, labelled by ``kind``:

* ``.../like_for_like``: what neural-tangents runs, term for term: its objective (one
  target column, real 1 / fake 0, ``K + 1e-5 I`` then relative diag_reg 1e-5,
  ``mean((1 - f)**2)``) and its solver (``eigh``), from ``net.kernel`` and
  ``ntk_gp_predict(method="eigh")``;
* ``.../best_gendsl``: ``gendsl.kernels.ntk_gp_loss`` as the GA-NTK programs use it
  (two-class one-hot targets, softmax cross-entropy against "real", the K_rr / K_rf /
  K_ff blocks) with its default ``method="auto"``, which at t = 100 takes the Taylor
  series of gendsl.kernels.taylor rather than ``eigh``: a different loss and solver.

Each row is timed alternately with the anchor's step at the same sizes in a long-lived
anchor process (benchmarks/nt_anchor.py; venv as in benchmarks/ntk_kernel.py), ``--pairs``
runs each after a warm-up; the ratio is the median of the per-pair ratios
(neural-tangents / gendsl), and each row records the load averages before and after it.
GFLOP/s: XLA's counts of the kernel tiles actually computed, forward and backward
(kernel_timing.executed_kernel_flops), plus the prediction's value and gradient by the
method that runs (LAPACK's eigh itself not counted), over the gendsl median, against a
matmul peak timed after each pair, its median (the same statistic). Writes
benchmarks/results/ga_ntk_step.json.

    python benchmarks/ga_ntk_step.py [--sizes 128] [--pairs 7] [--no-anchor]
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
from gendsl import kernels as K  # noqa: E402
from gendsl.kernels import ga_ntk, taylor  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
T, LR, DIAG_REG = 100.0, 1e-2, 1e-5


KINDS = {
    "like_for_like": "like for like: neural-tangents' loss (MSE, one column) and solver (eigh)",
    "best_gendsl": "best gendsl: GA-NTK loss (CE, two columns), method=auto (Taylor at t=100)",
}


def gendsl_loss(kernel, method="auto"):
    """The GA-NTK programs' loss (``ntk_gp_loss``, "ce")."""
    return lambda fake, real: K.ntk_gp_loss(kernel, real, fake, T, lr=LR, diag_reg=DIAG_REG,
                                            method=method)


def nt_objective(kernel, method="eigh"):
    """The anchor's objective, term for term, from gendsl's kernel and predictor."""
    def loss(fake, real):
        x = jnp.concatenate([real, fake])
        y = jnp.concatenate([jnp.ones((real.shape[0], 1)), jnp.zeros((fake.shape[0], 1))])
        k = kernel(x, None) + 1e-5 * jnp.eye(x.shape[0])
        f = K.ntk_gp_predict(k, y, T, lr=LR, diag_reg=DIAG_REG, method=method)
        return jnp.mean((1.0 - f) ** 2)
    return loss


def step_flops(net, kind: str, fake, real) -> float:
    """FLOPs the step executes: the kernel tiles computed, forward and backward
    (``kernel_timing.executed_kernel_flops``), plus the prediction's value and gradient
    by the method that runs (LAPACK's eigh itself not counted by XLA)."""
    shape, n_real, n_fake = real.shape[1:], real.shape[0], fake.shape[0]
    count = lambda n1, n2, grad: kernel_timing.executed_kernel_flops(net, n1, n2, shape,
                                                                     grad=grad)
    if kind == "like_for_like":
        x = jnp.concatenate([real, fake])
        flops = count(n_real + n_fake, None, "x1")
        k = net.kernel(x, None, get="ntk") + 1e-5 * jnp.eye(x.shape[0])
        columns, method = 1, "eigh"
    else:
        flops = count(n_real, None, None) + count(n_real, n_fake, "x2") + count(n_fake, None, "x1")
        k = ga_ntk._two_sample_kernel(lambda a, b: net.kernel(a, b, get="ntk"), real, fake)
        columns, method = 2, "auto"
    y = jnp.ones((k.shape[0], columns), k.dtype)
    c = LR * T / y.size
    k_reg = k + DIAG_REG * jnp.trace(k) / k.shape[0] * jnp.eye(k.shape[0])
    series = (method == "auto"
              and c * float(jnp.max(jnp.sum(jnp.abs(k_reg), 1))) <= taylor.MAX_NORM)
    if series:
        predict = lambda m: jnp.sum(taylor.taylor_fit(-c * m, y) ** 2)
    else:
        predict = lambda m: jnp.sum(K.ntk_gp_predict(m, y, T, lr=LR, method="eigh") ** 2)
    return flops + kernel_timing.xla_flops(jax.value_and_grad(predict), k_reg)


def measure(name: str, kind: str, n: int, pairs: int, anchor, peak_once=None) -> dict:
    """Time one step, interleaved with the anchor's step at the same sizes; returns its row."""
    build, shape = ntk_workloads.NETWORKS[name]
    net = build()
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.normal(size=(n,) + shape), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(n,) + shape), jnp.float32)
    if kind == "like_for_like":
        loss = nt_objective(lambda a, b: net.kernel(a, b, get="ntk"), method="eigh")
    else:
        loss = gendsl_loss(net, "auto")
    step = jax.jit(jax.value_and_grad(loss))
    anchor_workload = f"ga_ntk_value_and_grad/{name}/n_real={n},n_fake={n}"
    row = {"workload": f"{anchor_workload}/{kind}", "kind": kind, "description": KINDS[kind],
           "anchor_workload": anchor_workload}
    nt_anchor.measure_row(row, kernel_timing.timed(step, fake, real), anchor, anchor_workload,
                          pairs, peak_once)
    row["flops"] = step_flops(net, kind, fake, real)
    row["gflop_per_s"] = row["flops"] / row["gendsl_s"] / 1e9
    if "peak_flop_per_s" in row:
        row["fraction_of_peak"] = row["flops"] / row["gendsl_s"] / row["peak_flop_per_s"]
    print(f"  {row['workload']}: {row['gendsl_s'] * 1e3:.2f} ms, ratio {row.get('speedup')}"
          f"{'' if 'anchor_note' not in row else ' (' + row['anchor_note'] + ')'}", flush=True)
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128],
                        help="real points (and as many fake) per step")
    parser.add_argument("--networks", nargs="+", default=list(ntk_workloads.NETWORKS))
    parser.add_argument("--pairs", type=int, default=7,
                        help="interleaved runs of each side per row")
    parser.add_argument("--anchor-venv", default=None)
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ga_ntk_step.json"))
    args = parser.parse_args(argv)

    load_start = kernel_timing.load()
    peak = kernel_timing.matmul_peak()
    rejected: list = []
    venv = None if args.no_anchor else nt_anchor.find_venv(args.anchor_venv, rejected=rejected)
    anchor = nt_anchor.Anchor(venv) if venv else None
    peak_once = kernel_timing.matmul_once()
    try:
        rows = [measure(name, kind, n, args.pairs, anchor, peak_once) for name in args.networks
                for n in args.sizes for kind in KINDS]
    finally:
        if anchor:
            anchor.close()
    print(f"GA-NTK step (value and grad w.r.t. fake), t={T}, float32, {args.pairs} interleaved "
          f"pairs ({'with' if anchor else 'without'} neural-tangents anchor)")
    kernel_timing.print_table(rows, peak)
    for kind, text in KINDS.items():
        print(f"{kind}: {text}")
    out = {"benchmark": "ga_ntk_step", "machine": kernel_timing.machine(),
           "method": "interleaved pairs (gendsl, neural-tangents); ratio = median of per-pair "
                     "ratios; flops = executed tiles only; peak = median",
           "kinds": KINDS, "pairs": args.pairs, "load_start": load_start,
           "load_end": kernel_timing.load(), "matmul_peak_flop_per_s": peak,
           "anchor_venv": str(venv) if venv else None, "anchor_rejected": rejected,
           "t": T, "lr": LR, "diag_reg": DIAG_REG, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
