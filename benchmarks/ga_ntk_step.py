"""One GA-NTK generator step (loss and gradient w.r.t. the fake points) against neural-tangents.

Workload: 128 real + 128 fake points, NTK-GP discriminator trained for t = 100 with
lr 1e-2 and diag_reg 1e-5, value and gradient w.r.t. the fake points, float32, under
``jax.jit``, median of 5 after a warm-up; kernels ``cnn_mnist`` (28x28x1) and ``fc3``
(784-d) from benchmarks/ntk_workloads.py. Two gendsl rows per kernel:

* ``ga_ntk_value_and_grad/...``: ``gendsl.kernels.ntk_gp_loss`` as the GA-NTK programs
  use it (two-class one-hot targets, softmax cross-entropy against "real");
* ``.../nt_objective``: exactly the anchor's objective (one target column, real 1 /
  fake 0, ``K + 1e-5 I`` then relative diag_reg 1e-5, ``mean((1 - f)**2)``), built from
  ``net.kernel`` and ``ntk_gp_predict``.

* ``.../eigh``: the first with ``method="eigh"`` instead of the default ``"auto"`` (which
  at t = 100 takes the Taylor series of gendsl.kernels.taylor, not LAPACK's eigh).

All are compared with the anchor's time for that kernel when its venv exists (see
benchmarks/ntk_kernel.py). GFLOP/s: XLA's operation counts of the kernel's value and
input gradient (in one block, no symmetric-tile savings) plus those of the prediction's
value and gradient by the method actually run (LAPACK's eigh itself not counted), over
the gendsl median. Writes benchmarks/results/ga_ntk_step.json. Goal: speed-up >= 3.

    python benchmarks/ga_ntk_step.py [--no-anchor]
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


def gendsl_loss(kernel, method="auto"):
    """The GA-NTK programs' loss (``ntk_gp_loss``, "ce")."""
    return lambda fake, real: K.ntk_gp_loss(kernel, real, fake, T, lr=LR, diag_reg=DIAG_REG,
                                            method=method)


def nt_objective(kernel):
    """The anchor's objective, term for term, from gendsl's kernel and predictor."""
    def loss(fake, real):
        x = jnp.concatenate([real, fake])
        y = jnp.concatenate([jnp.ones((real.shape[0], 1)), jnp.zeros((fake.shape[0], 1))])
        k = kernel(x, None) + 1e-5 * jnp.eye(x.shape[0])
        f = K.ntk_gp_predict(k, y, T, lr=LR, diag_reg=DIAG_REG, method="auto")
        return jnp.mean((1.0 - f) ** 2)
    return loss


def step_flops(net, objective: str, fake, real) -> float:
    """XLA-counted FLOPs of the step: kernel value and gradient (one block) plus the
    prediction's value and gradient by the method that runs (LAPACK eigh not counted)."""
    one_block = lambda a, b: net.kernel(a, b, get="ntk", block_size=0)
    if objective == "nt_objective":
        kernel_part = lambda f, r: one_block(jnp.concatenate([r, f]), None)
    else:
        kernel_part = lambda f, r: ga_ntk._two_sample_kernel(one_block, r, f)
    k = kernel_part(fake, real)
    flops = kernel_timing.xla_flops(lambda f, r: jax.vjp(kernel_part, f, r)[1](k)[0], fake, real)
    columns = 1 if objective == "nt_objective" else 2
    y = jnp.ones((k.shape[0], columns), k.dtype)
    c = LR * T / y.size
    k_reg = k + DIAG_REG * jnp.trace(k) / k.shape[0] * jnp.eye(k.shape[0])
    series = objective != "eigh" and c * float(jnp.max(jnp.sum(jnp.abs(k_reg), 1))) <= taylor.MAX_NORM
    if series:
        predict = lambda m: jnp.sum(taylor.taylor_fit(-c * m, y) ** 2)
    else:
        predict = lambda m: jnp.sum(K.ntk_gp_predict(m, y, T, lr=LR, method="eigh") ** 2)
    return flops + kernel_timing.xla_flops(jax.value_and_grad(predict), k_reg)


def measure(name: str, objective: str, n: int, reps: int) -> dict:
    build, shape = ntk_workloads.NETWORKS[name]
    net = build()
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.normal(size=(n,) + shape), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(n,) + shape), jnp.float32)
    if objective == "nt_objective":
        loss = nt_objective(lambda a, b: net.kernel(a, b, get="ntk"))
    else:
        loss = gendsl_loss(net, "eigh" if objective == "eigh" else "auto")
    step = jax.jit(jax.value_and_grad(loss))
    timing = kernel_timing.median_seconds(step, fake, real, reps=reps)
    flops = step_flops(net, objective, fake, real)
    suffix = "" if objective == "gendsl" else "/" + objective
    return {"workload": f"ga_ntk_value_and_grad/{name}/n_real={n},n_fake={n}{suffix}",
            "anchor_workload": f"ga_ntk_value_and_grad/{name}/n_real={n},n_fake={n}",
            "gendsl_s": timing["median_s"], "gendsl_best_s": timing["best_s"],
            "gendsl_runs_s": timing["runs_s"], "flops": flops,
            "gflop_per_s": flops / timing["median_s"] / 1e9}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="real points (and as many fake)")
    parser.add_argument("--networks", nargs="+", default=list(ntk_workloads.NETWORKS))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--anchor-venv", default=None)
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ga_ntk_step.json"))
    args = parser.parse_args(argv)

    peak = kernel_timing.matmul_peak()
    rows = [measure(name, objective, args.n, args.reps)
            for name in args.networks for objective in ("gendsl", "eigh", "nt_objective")]
    venv = None if args.no_anchor else nt_anchor.find_venv(args.anchor_venv)
    anchor = nt_anchor.compare(rows, venv, key="anchor_workload")
    print(f"GA-NTK step (value and grad w.r.t. fake), t={T}, float32, median of {args.reps} "
          f"({'with' if anchor else 'without'} neural-tangents anchor)")
    kernel_timing.print_table(rows, peak)
    out = {"benchmark": "ga_ntk_step", "machine": kernel_timing.machine(),
           "matmul_peak_flop_per_s": peak, "anchor_venv": str(venv) if venv else None,
           "t": T, "lr": LR, "diag_reg": DIAG_REG, "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
