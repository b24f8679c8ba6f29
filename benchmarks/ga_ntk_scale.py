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

``--processes P`` adds the multi-process rows (sizes ``--multi-sizes``, method
``--multi-method``): the same step on P processes of one CPU device each, joined by JAX's
distributed runtime on 127.0.0.1 (as ``gendsl launch`` joins them) with the kernel's rows
sharded over the P devices (``ntk_gp_loss(mesh=...)``), interleaved with the one-process
step; reported is the median per-pair speed-up ``one process / P processes`` (a pair's
P-process time is its slowest process's). On a machine with fewer cores than P times the
threads one process uses, the processes share cores, and the speed-up says so.

    python benchmarks/ga_ntk_scale.py [--sizes 2048] [--krylov-only 4096] [--pairs 3]
    python benchmarks/ga_ntk_scale.py --sizes --krylov-only --processes 2 --multi-sizes 1024
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
    ``<seconds> <maxrss bytes>`` line per request, until stdin closes. Started with the
    variables of a distributed run (``JAX_NUM_PROCESSES`` > 1, see :class:`Group`), it
    joins the run first and computes the kernel's rows sharded over every process's
    device, the inputs replicated.
    """
    from gendsl.run.distributed import distributed_spec, start_distributed

    spec = distributed_spec()
    start_distributed(spec)  # before anything touches a device

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    import ntk_workloads
    from gendsl import kernels as K

    build, shape = ntk_workloads.NETWORKS[kernel]
    net = build()
    rng = np.random.default_rng(0)
    real = rng.normal(size=(n,) + shape).astype(np.float32)
    fake = rng.normal(size=(n,) + shape).astype(np.float32)
    mesh = None
    if spec is None:
        real, fake = jnp.asarray(real), jnp.asarray(fake)
    else:
        mesh = Mesh(np.array(jax.devices()), ("data",))
        replicated = NamedSharding(mesh, PartitionSpec())
        real, fake = (jax.make_array_from_process_local_data(replicated, a) for a in (real, fake))
    step = jax.jit(jax.value_and_grad(
        lambda f, r: K.ntk_gp_loss(net, r, f, T, lr=LR, diag_reg=DIAG_REG, method=method,
                                   mesh=mesh)))
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731
    t0 = time.perf_counter()
    loss, grad = jax.block_until_ready(step(fake, real))
    loss, grad = (np.asarray(a.addressable_data(0)) for a in (loss, grad))
    finite = bool(np.isfinite(float(loss)) and np.all(np.isfinite(grad)))
    print(f"ready {time.perf_counter() - t0:.3f} {rss()} {float(loss)!r} {int(finite)}", flush=True)
    for _ in sys.stdin:
        t0 = time.perf_counter()
        jax.block_until_ready(step(fake, real))
        print(f"{time.perf_counter() - t0:.6f} {rss()}", flush=True)


class Worker:
    """One method's worker subprocess."""

    def __init__(self, method: str, n: int, kernel: str, env: dict | None = None):
        env = dict(os.environ if env is None else env, PYTHONPATH=os.pathsep.join(
            [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", method, "--n", str(n), "--kernel", kernel],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ready(self) -> dict:
        line = self.proc.stdout.readline().split()
        while line and line[0] != "ready":  # the runtime's own lines ("[Gloo] Rank 0 ...")
            line = self.proc.stdout.readline().split()
        if not line:
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


class Group:
    """``processes`` workers of one distributed run (one CPU device each), stepped together."""

    def __init__(self, method: str, n: int, kernel: str, processes: int):
        from gendsl.run.launch import child_env, free_port

        address = f"127.0.0.1:{free_port()}"
        self.workers = [Worker(method, n, kernel, child_env(os.environ, address, processes, i, 1))
                        for i in range(processes)]

    def ready(self) -> dict:
        first = [w.ready() for w in self.workers]
        return {"first_call_s": max(f["first_call_s"] for f in first), "loss": first[0]["loss"],
                "finite": all(f["finite"] for f in first)}

    def step(self) -> tuple[float, int]:
        """Returns: the slowest process's seconds and the largest peak memory."""
        for w in self.workers:
            w.proc.stdin.write("go\n")
            w.proc.stdin.flush()
        lines = [w.proc.stdout.readline().split() for w in self.workers]
        return max(float(s) for s, _ in lines), max(int(r) for _, r in lines)

    def close(self) -> None:
        for w in self.workers:  # all at once: each waits for the others when it shuts down
            w.proc.stdin.close()
        for w in self.workers:
            w.proc.wait()


def load() -> float:
    return os.getloadavg()[0]


def interleave(sides: dict, n: int, pairs: int, label: str):
    """Warm every side up, then time one step of each in turn (A B A B ...), ``pairs`` times;
    every side is closed at the end.

    Args:
      sides: name -> :class:`Worker` or :class:`Group`.
      n, label: what the progress lines on stderr name.
    Returns:
      ``(first, times, rss, load_before, load_after)``: each side's warm-up report, its
      step times and peak memory, and the 1-minute load around the timing.
    """
    try:
        first = {name: side.ready() for name, side in sides.items()}
        print(f"  n={n} {label} compiled: {first}", file=sys.stderr, flush=True)
        load_before = load()
        times, rss = {name: [] for name in sides}, {}
        for _ in range(pairs):
            for name, side in sides.items():
                seconds, rss[name] = side.step()
                times[name].append(seconds)
                print(f"  n={n} {name}: {seconds:.2f}s (load {load():.1f})", file=sys.stderr,
                      flush=True)
        return first, times, rss, load_before, load()
    finally:
        for side in sides.values():
            side.close()


def compare(n: int, kernel: str, pairs: int, methods=METHODS) -> dict:
    """Interleaved timing of ``methods`` at ``n`` real + ``n`` fake; per-pair ratios."""
    first, times, rss, load_before, load_after = interleave(
        {m: Worker(m, n, kernel) for m in methods}, n, pairs, "/".join(methods))
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


def compare_processes(n: int, kernel: str, pairs: int, method: str, processes: int) -> dict:
    """Interleaved timing of the step on one process and on ``processes`` processes with
    the kernel's rows sharded; per-pair speed-ups ``one / many``."""
    sides = {"one_process": Worker(method, n, kernel),
             "many_processes": Group(method, n, kernel, processes)}
    first, times, rss, load_before, load_after = interleave(sides, n, pairs,
                                                            f"{method} x{processes}")
    speedups = [a / b for a, b in zip(times["one_process"], times["many_processes"])]
    row = {"workload": f"ga_ntk_value_and_grad/{kernel}/n_real={n},n_fake={n}/{method}",
           "n": n, "kernel": kernel, "method": method, "processes": processes, "pairs": pairs,
           "load_1min_before": load_before, "load_1min_after": load_after,
           "speedup": {"median": statistics.median(speedups), "per_pair": speedups},
           "loss_rel_diff": abs(first["many_processes"]["loss"] - first["one_process"]["loss"])
           / abs(first["one_process"]["loss"])}
    for name in sides:
        row[name] = {"median_s": statistics.median(times[name]), "runs_s": times[name],
                     "peak_rss_gb": rss[name] / 2 ** 30, **first[name]}
    return row


def print_process_rows(rows: list[dict]) -> None:
    print(f"{'workload':52s} {'1 proc':>9s} {'P procs':>9s} {'P':>2s} {'speed-up':>8s} "
          f"{'load':>9s}")
    for r in rows:
        print(f"{r['workload']:52s} {r['one_process']['median_s']:8.2f}s "
              f"{r['many_processes']['median_s']:8.2f}s {r['processes']:>2d} "
              f"{r['speedup']['median']:7.2f}x "
              f"{r['load_1min_before']:4.1f}-{r['load_1min_after']:<4.1f}")


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
                        help="P > 1 adds rows of the step on P processes, rows sharded")
    parser.add_argument("--multi-sizes", type=int, nargs="*", default=[1024],
                        help="n of the multi-process rows")
    parser.add_argument("--multi-method", choices=METHODS, default="krylov",
                        help="the method of the multi-process rows")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (fc3, n=16, 1 pair; 2 processes at n=16)")
    parser.add_argument("--out", default=None, help="JSON path (default: "
                        "benchmarks/results/ga_ntk_scale.json; --quick writes none)")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.n, args.kernel)
        return {}
    if args.processes < 1:
        parser.error(f"--processes {args.processes}: give 1 or more")
    if args.quick:
        args.sizes, args.krylov_only, args.pairs, args.kernel = [16], [24], 1, "fc3"
        args.processes, args.multi_sizes = 2, [16]
    path = args.out or (None if args.quick else
                        str(ROOT / "benchmarks" / "results" / "ga_ntk_scale.json"))
    out = {"benchmark": "ga_ntk_scale", "machine": _machine(), "kernel": args.kernel, "t": T,
           "lr": LR, "diag_reg": DIAG_REG, "results": [], "multi_process": []}

    def save():  # after every size, so that a long run keeps what it measured
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(out, indent=2) + "\n")

    jobs = [(n, METHODS) for n in args.sizes] + [(n, ("krylov",)) for n in args.krylov_only]
    for n, methods in jobs:
        out["results"].append(compare(n, args.kernel, args.pairs, methods))
        save()
    if args.processes > 1:
        for n in args.multi_sizes:
            out["multi_process"].append(compare_processes(n, args.kernel, args.pairs,
                                                          args.multi_method, args.processes))
            save()
    print(f"GA-NTK step (value and grad w.r.t. fake), {args.kernel}, t={T}, float32, "
          f"median of {args.pairs} interleaved pairs; peak RSS per worker process")
    if out["results"]:
        print_rows(out["results"])
    if out["multi_process"]:
        print_process_rows(out["multi_process"])
    return out


def _machine() -> dict:
    """Where the numbers were taken (without loading JAX in the driver)."""
    import platform
    from importlib.metadata import version
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "jax": version("jax"), "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


if __name__ == "__main__":
    main()
