"""Shared pieces of the kernel benchmarks: thread settings, timing, FLOPs, matmul peak, tables.

Timing against another implementation: :func:`interleaved` runs the two sides
alternately (A B A B ...) and reports the median of the per-pair ratios, so that load
that comes and goes on a shared machine hits both sides alike. FLOPs:
:func:`executed_kernel_flops` counts the tiles the kernel actually computes (for a
symmetric kernel, those on and above the diagonal; padding and recomputation in the
backward pass included), not the full kernel evaluated in one block.

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
from typing import Callable, Optional


def single_threaded_blas() -> None:
    """Set ``OPENBLAS_NUM_THREADS=1`` (and MKL / OMP alike) unless already set."""
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def median(values) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def median_ratio(a_s: list, b_s: list) -> float:
    """The median over pairs of ``b_s[i] / a_s[i]`` (not the ratio of the medians)."""
    if len(a_s) != len(b_s) or not a_s:
        raise ValueError(f"median_ratio needs as many b runs as a runs, at least one "
                         f"(got {len(a_s)} and {len(b_s)})")
    return statistics.median(b / a for a, b in zip(a_s, b_s))


def interleaved(a: Callable[[], float], b: Callable[[], float], pairs: int,
                also: Optional[Callable[[], float]] = None) -> dict:
    """Time two sides alternately: ``a, b, a, b, ...``, ``pairs`` runs of each.

    Args:
      a, b: zero-argument callables, each running its side once (warmed up already)
        and returning the seconds that run took (see :func:`timed`).
      pairs: how many (a, b) pairs.
      also: optionally a third such callable run after each pair (e.g. the matmul
        peak, so that it is measured in the same minutes); its times are ``also_s``.

    Returns:
      ``{"a_s": [...], "b_s": [...], "ratios": [b_i / a_i], "median_ratio": ...,
      "median_a_s": ..., "median_b_s": ..., "also_s": [...]}``.
    """
    a_s, b_s, also_s = [], [], []
    for _ in range(pairs):
        a_s.append(float(a()))
        b_s.append(float(b()))
        if also is not None:
            also_s.append(float(also()))
    return {"a_s": a_s, "b_s": b_s, "ratios": [y / x for x, y in zip(a_s, b_s)],
            "median_ratio": median_ratio(a_s, b_s), "median_a_s": median(a_s),
            "median_b_s": median(b_s), "also_s": also_s}


def timed(fn: Callable, *args) -> Callable[[], float]:
    """A zero-argument callable running ``fn(*args)`` once (to completion) and returning
    its wall-clock seconds; ``fn`` is run once first, as a warm-up (compilation)."""
    import jax

    jax.block_until_ready(fn(*args))

    def once() -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        return time.perf_counter() - t0

    return once


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


PEAK_N = 2048  # the matmul peak's matrix side


def matmul_once() -> Callable[[], float]:
    """A timed run (see :func:`timed`) of a float32 ``PEAK_N x PEAK_N`` matmul, which
    does ``2 * PEAK_N**3`` FLOPs: interleave it with the workloads for a peak measured
    under the same load."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (PEAK_N, PEAK_N), jnp.float32)
    return timed(jax.jit(lambda x: x @ x), a)


def matmul_peak(n: int = PEAK_N, reps: int = 7) -> float:
    """Measured float32 matmul FLOP/s of an ``n x n`` product: the median of ``reps``
    runs, the statistic the workloads are reported with."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    return 2.0 * n ** 3 / median_seconds(f, a, reps=reps)["median_s"]


def xla_flops(fn: Callable, *args) -> float:
    """Floating-point operations XLA counts for ``jit(fn)(*args)`` (loops counted once)."""
    import jax

    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost.get("flops", float("nan")))


def tile_counts(n1: int, n2: Optional[int], block: int) -> dict[str, int]:
    """How many times ``gendsl.kernels.tiling.blockwise`` runs its body, by tile kind.

    Args:
      n1: rows of ``x1``.
      n2: rows of ``x2``, or None for the symmetric kernel of ``x1``.
      block: rows per block after the kernel's own choice (0: one block, no tiling).

    Returns:
      ``{"whole": 1}`` for one block; else ``{"diag": nb, "upper": nb (nb - 1) / 2}``
      (symmetric: tiles on and above the diagonal, ``block x block`` each) or
      ``{"rows": nb}`` (``block x n2`` each), ``nb = ceil(n1 / block)`` (the last block
      padded).
    """
    if not block:
        return {"whole": 1}
    nb = -(-n1 // block)
    return {"diag": nb, "upper": nb * (nb - 1) // 2} if n2 is None else {"rows": nb}


def kernel_block(net, n1: int, n2: Optional[int], shape: tuple,
                 block_size: Optional[int] = None) -> int:
    """The block size ``net.kernel`` uses for these sizes (as ``Layer.kernel`` picks it)."""
    from gendsl.kernels.layer import auto_block_size

    block = auto_block_size(net, tuple(shape)) if block_size is None else block_size
    return 0 if block >= max(n1, n2 or 0) else int(block)


def executed_kernel_flops(net, n1: int, n2: Optional[int], shape: tuple, *,
                          grad: Optional[str] = None, block_size: Optional[int] = None) -> float:
    """XLA's FLOP count of ``net.kernel(x1, x2, get="ntk")`` as tiled, tile by tile.

    Each kind of tile is compiled on its own and counted once by XLA, then multiplied by
    how many such tiles run (:func:`tile_counts`): XLA counts a loop body once, so the
    tiled program's own count would miss all but one tile, and the one-block program's
    count includes the mirrored tiles a symmetric kernel skips.

    Args:
      net: a ``gendsl.kernels`` network.
      n1, n2: rows of ``x1`` and ``x2`` (None: the symmetric kernel of ``x1``).
      shape: one input's shape (no batch axis).
      grad: None (the value only), ``"x1"`` or ``"x2"``: also the backward pass w.r.t.
        that input, with the forward pass recomputed per tile as ``blockwise`` does.
      block_size: as ``net.kernel``'s (None: its automatic choice).

    Returns:
      The FLOPs executed.
    """
    import jax
    import jax.numpy as jnp

    block = kernel_block(net, n1, n2, shape, block_size)
    remat = jax.checkpoint if block else (lambda f: f)
    rows = block or n1

    def tile_flops(b_rows: Optional[int], wrt: tuple) -> float:
        a = jnp.zeros((rows,) + tuple(shape), jnp.float32)
        b = None if b_rows is None else jnp.zeros((b_rows,) + tuple(shape), jnp.float32)
        if b is None:
            fn = remat(lambda p: net.kernel(p, None, get="ntk", block_size=0))
            args = (a,)
        else:
            fn = remat(lambda p, q: net.kernel(p, q, get="ntk", block_size=0))
            args = (a, b)
        if not wrt:
            return xla_flops(fn, *args)

        def value_and_vjp(*xs):
            out, pullback = jax.vjp(fn, *xs)
            grads = pullback(jnp.ones_like(out))
            return out, [grads[i] for i in wrt]

        return xla_flops(value_and_vjp, *args)

    sym_wrt = (0,) if grad else ()
    cross_wrt = {None: (), "x1": (0,), "x2": (1,)}[grad]
    kinds = {"whole": lambda: tile_flops(n2, sym_wrt if n2 is None else cross_wrt),
             "diag": lambda: tile_flops(None, sym_wrt),
             "upper": lambda: tile_flops(rows, (0, 1) if grad else ()),
             "rows": lambda: tile_flops(n2, cross_wrt)}
    return sum(count * kinds[kind]() for kind, count in tile_counts(n1, n2, block).items()
               if count)


def load() -> list[float]:
    """The machine's 1-, 5- and 15-minute load averages."""
    return list(os.getloadavg())


def machine() -> dict:
    """Where the numbers were taken."""
    import jax

    return {"platform": jax.devices()[0].platform, "device": str(jax.devices()[0]),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "jax": jax.__version__, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


def print_table(rows: list[dict], peak: float) -> None:
    """One line per workload: gendsl and neural-tangents medians, the median of the
    per-pair ratios, executed GFLOP/s and % of the matmul peak, the 1-minute load before
    and after, and why the anchor did not run (when it did not)."""
    width = max(len(r["workload"]) for r in rows)
    print(f"{'workload':{width}s} {'gendsl':>10s} {'n-t':>10s} {'ratio':>7s} {'GFLOP/s':>8s} "
          f"{'% peak':>7s} {'load':>9s}")
    for r in rows:
        nt = r.get("neural_tangents_s")
        ratio = r.get("speedup")
        gf = r.get("gflop_per_s")
        row_peak = r.get("peak_flop_per_s", peak)
        load = (f"{r['load_before'][0]:.1f}-{r['load_after'][0]:.1f}"
                if "load_before" in r and "load_after" in r else "")
        print(f"{r['workload']:{width}s} {r['gendsl_s'] * 1e3:8.2f}ms "
              f"{'' if nt is None else f'{nt * 1e3:8.2f}ms':>10s} "
              f"{'' if ratio is None else f'{ratio:6.2f}x':>7s} "
              f"{'' if gf is None else f'{gf:8.1f}':>8s} "
              f"{'' if gf is None else f'{100 * gf * 1e9 / row_peak:6.1f}%':>7s} {load:>9s}"
              + (f"  (no ratio: {r['anchor_note']})" if r.get("anchor_note") else ""))
    print(f"% peak: of a float32 {PEAK_N}^2 matmul timed after each pair (median; at the start: "
          f"{peak / 1e9:.1f} GFLOP/s); ratio: median over interleaved pairs of neural-tangents / "
          "gendsl; load: 1-minute average before-after")
