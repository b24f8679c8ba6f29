"""The GA-NTK generator step at large n: ``"eigh"`` against the Lanczos path (``"krylov"``).

Workload: the programs' objective, ``gendsl.kernels.ntk_gp_loss`` (two-class one-hot
targets, softmax cross-entropy against "real"), value and gradient w.r.t. the fake
points under ``jax.jit``, float32, ``t = 2 * 65536``, ``lr = 1e-2``, ``diag_reg = 1e-5`` as in
programs/ga_ntk_mnist.py (at that time "auto" never takes the Taylor series), on the
``cnn_mnist`` kernel of benchmarks/ntk_workloads.py (or ``--kernel fc3``) with n real and
n fake standard-normal points.

Each method runs in its own long-lived worker subprocess (compiled and warmed up once),
so that its peak resident memory (``ru_maxrss``, which includes JAX's own ~0.3 GB) is its
own. The two are timed interleaved, A B A B ..., one step each per pair; reported are the
median of the per-pair ratios ``krylov / eigh`` and of each side's times, with the
1-minute load average before and after (the machine is shared). Sizes in
``--krylov-only`` are run with the Lanczos path alone (the eigh baseline is O(n**3)).

TODO(issue 12, multi-process): the row "the same step on 2 processes x 1 device, rows
sharded, as a speed-up over 1 process" needs the multi-process launcher (``gendsl
launch``) that is being built separately; ``--processes`` is the stub for it and refuses
any value but 1 rather than reporting a number that was not measured.

    python benchmarks/ga_ntk_scale.py [--sizes 2048] [--krylov-only 4096] [--pairs 3]
    python benchmarks/ga_ntk_scale.py --quick      # tiny sizes, for the test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import kernel_timing  # noqa: E402

kernel_timing.single_threaded_blas()  # before NumPy / JAX load (see kernel_timing)

T, LR, DIAG_REG = 2 * 65536.0, 1e-2, 1e-5
METHODS = ("eigh", "krylov")


def worker(method: str, n: int, kernel: str) -> None:
    """Serve timing requests for one method: a line on stdin -> one step's seconds.

    Prints ``ready <compile+first step s> <maxrss bytes>`` after the warm-up, then one
    ``<seconds> <maxrss bytes>`` line per request, until stdin closes.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    import ntk_workloads
    from gendsl import kernels as K

    build, shape = ntk_workloads.NETWORKS[kernel]
    net = build()
    rng = np.random.default_rng(0)
    real = jnp.asarray(rng.normal(size=(n,) + shape), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(n,) + shape), jnp.float32)
    step = jax.jit(jax.value_and_grad(
        lambda f, r: K.ntk_gp_loss(net, r, f, T, lr=LR, diag_reg=DIAG_REG, method=method)))
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731
    t0 = time.perf_counter()
    loss, grad = jax.block_until_ready(step(fake, real))
    finite = bool(np.isfinite(float(loss)) and np.all(np.isfinite(np.asarray(grad))))
    print(f"ready {time.perf_counter() - t0:.3f} {rss()} {float(loss)!r} {int(finite)}", flush=True)
    for _ in sys.stdin:
        t0 = time.perf_counter()
        jax.block_until_ready(step(fake, real))
        print(f"{time.perf_counter() - t0:.6f} {rss()}", flush=True)


class Worker:
    """One method's worker subprocess."""

    def __init__(self, method: str, n: int, kernel: str):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", method, "--n", str(n), "--kernel", kernel],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ready(self) -> dict:
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError(f"benchmark worker failed (exit {self.proc.wait()})")
        return {"first_call_s": float(line[1]), "loss": float(line[3]), "finite": line[4] == "1"}

    def step(self) -> tuple[float, int]:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        seconds, rss = self.proc.stdout.readline().split()
        return float(seconds), int(rss)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def load() -> float:
    return os.getloadavg()[0]


def compare(n: int, kernel: str, pairs: int, methods=METHODS) -> dict:
    """Interleaved timing of ``methods`` at ``n`` real + ``n`` fake; per-pair ratios."""
    workers = {m: Worker(m, n, kernel) for m in methods}
    try:
        first = {m: w.ready() for m, w in workers.items()}
        print(f"  n={n} compiled: {first}", file=sys.stderr, flush=True)
        load_before = load()
        times = {m: [] for m in methods}
        rss = {}
        for _ in range(pairs):
            for m in methods:
                seconds, rss[m] = workers[m].step()
                times[m].append(seconds)
                print(f"  n={n} {m}: {seconds:.2f}s (load {load():.1f})", file=sys.stderr,
                      flush=True)
        load_after = load()
    finally:
        for w in workers.values():
            w.close()
    row = {"workload": f"ga_ntk_value_and_grad/{kernel}/n_real={n},n_fake={n}", "n": n,
           "kernel": kernel, "pairs": pairs, "load_1min_before": load_before,
           "load_1min_after": load_after}
    for m in methods:
        row[m] = {"median_s": statistics.median(times[m]), "runs_s": times[m],
                  "peak_rss_gb": rss[m] / 2 ** 30, **first[m]}
    if len(methods) == 2:
        ratios = [b / a for a, b in zip(times[methods[0]], times[methods[1]])]
        row["ratio_krylov_over_eigh"] = {"median": statistics.median(ratios), "per_pair": ratios}
        row["loss_rel_diff"] = abs(first["krylov"]["loss"] - first["eigh"]["loss"]) / abs(
            first["eigh"]["loss"])
    return row


def print_rows(rows: list[dict]) -> None:
    print(f"{'workload':44s} {'eigh':>9s} {'krylov':>9s} {'ratio':>6s} {'eigh GB':>8s} "
          f"{'kryl GB':>8s} {'load':>9s}")
    for r in rows:
        e, k = r.get("eigh"), r["krylov"]
        ratio = r.get("ratio_krylov_over_eigh", {}).get("median")
        e_s = "" if e is None else f"{e['median_s']:8.2f}s"
        e_gb = "" if e is None else f"{e['peak_rss_gb']:8.2f}"
        ratio_s = "" if ratio is None else f"{ratio:5.2f}x"
        print(f"{r['workload']:44s} {e_s:>9s} {k['median_s']:8.2f}s {ratio_s:>6s} {e_gb:>8s} "
              f"{k['peak_rss_gb']:8.2f} {r['load_1min_before']:4.1f}-{r['load_1min_after']:<4.1f}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2048],
                        help="n real (and as many fake) compared eigh vs krylov")
    parser.add_argument("--krylov-only", type=int, nargs="*", default=[4096],
                        help="sizes run with the Lanczos path only")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved A B pairs per size")
    parser.add_argument("--kernel", default="cnn_mnist", choices=["cnn_mnist", "fc3"])
    parser.add_argument("--processes", type=int, default=1,
                        help="TODO(issue 12): row-sharded multi-process row; only 1 for now")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (fc3, n=16, 1 pair)")
    parser.add_argument("--out", default=None, help="JSON path (default: "
                        "benchmarks/results/ga_ntk_scale.json; --quick writes none)")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.n, args.kernel)
        return {}
    if args.processes != 1:
        parser.error("--processes > 1: the row-sharded multi-process row waits for the "
                     "multi-process launcher (gendsl launch, issue 12); run without it")
    if args.quick:
        args.sizes, args.krylov_only, args.pairs, args.kernel = [16], [24], 1, "fc3"
    path = args.out or (None if args.quick else
                        str(ROOT / "benchmarks" / "results" / "ga_ntk_scale.json"))
    out = {"benchmark": "ga_ntk_scale", "machine": _machine(), "kernel": args.kernel, "t": T,
           "lr": LR, "diag_reg": DIAG_REG, "processes": 1,
           "multi_process": "TODO(issue 12): needs the multi-process launcher", "results": []}
    jobs = [(n, METHODS) for n in args.sizes] + [(n, ("krylov",)) for n in args.krylov_only]
    for n, methods in jobs:
        out["results"].append(compare(n, args.kernel, args.pairs, methods))
        if path:  # after every size, so that a long run keeps what it measured
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(out, indent=2) + "\n")
    print(f"GA-NTK step (value and grad w.r.t. fake), {args.kernel}, t={T}, float32, "
          f"median of {args.pairs} interleaved pairs; peak RSS per worker process")
    print_rows(out["results"])
    return out


def _machine() -> dict:
    """Where the numbers were taken (without loading JAX in the driver)."""
    import platform
    from importlib.metadata import version
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "jax": version("jax"), "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


if __name__ == "__main__":
    main()
