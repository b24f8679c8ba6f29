"""Shared pieces of the kernel benchmarks: thread settings, timing, matmul peak, tables.

Thread settings: LAPACK (``eigh`` of the NTK-GP step) runs in OpenBLAS, whose worker
threads busy-wait for each other; on a small machine shared with other work (or next
to XLA's own thread pool) that makes a 256 x 256 ``eigh`` 10-50x slower and the timings
meaningless. :func:`single_threaded_blas` therefore sets ``OPENBLAS_NUM_THREADS=1``
(unless set already) before NumPy / JAX load; the neural-tangents anchor subprocess
inherits the same environment, so both sides are measured alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable


def single_threaded_blas() -> None:
    """Set ``OPENBLAS_NUM_THREADS=1`` (and MKL / OMP alike) unless already set."""
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def median_seconds(fn: Callable, *args, reps: int = 5) -> dict:
    """Median and best wall-clock seconds of ``fn(*args)`` over ``reps`` runs after a warm-up."""
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "best_s": min(times), "runs_s": times}


def matmul_peak(n: int = 2048, reps: int = 7) -> float:
    """Measured float32 matmul FLOP/s (best of ``reps``) of an ``n x n`` product."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    return 2.0 * n ** 3 / median_seconds(f, a, reps=reps)["best_s"]


def xla_flops(fn: Callable, *args) -> float:
    """Floating-point operations XLA counts for ``jit(fn)(*args)`` (loops counted once)."""
    import jax

    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost.get("flops", float("nan")))


def machine() -> dict:
    """Where the numbers were taken."""
    import jax

    return {"platform": jax.devices()[0].platform, "device": str(jax.devices()[0]),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "jax": jax.__version__, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


def print_table(rows: list[dict], peak: float) -> None:
    """One line per workload: gendsl and neural-tangents medians, ratio, GFLOP/s."""
    width = max(len(r["workload"]) for r in rows)
    print(f"{'workload':{width}s} {'gendsl':>10s} {'n-t':>10s} {'ratio':>7s} {'GFLOP/s':>8s} "
          f"{'% peak':>7s}")
    for r in rows:
        nt = r.get("neural_tangents_s")
        ratio = r.get("speedup")
        gf = r.get("gflop_per_s")
        print(f"{r['workload']:{width}s} {r['gendsl_s'] * 1e3:8.2f}ms "
              f"{'' if nt is None else f'{nt * 1e3:8.2f}ms':>10s} "
              f"{'' if ratio is None else f'{ratio:6.2f}x':>7s} "
              f"{'' if gf is None else f'{gf:8.1f}':>8s} "
              f"{'' if gf is None else f'{100 * gf * 1e9 / peak:6.1f}%':>7s}")
    print(f"matmul peak (float32 2048^2, best of 7): {peak / 1e9:.1f} GFLOP/s")
