"""A long-lived neural-tangents anchor: one timed run per request (runs in the anchor venv).

The kernel benchmarks interleave gendsl and neural-tangents (A B A B ...), so that both
sides are timed in the same minutes of a shared machine. neural-tangents 0.6.5 only
imports on old JAX (its venv: ../shared/anchors/neural_tangents/setup.sh), so this
script runs there, in its own process, driven by benchmarks/nt_anchor.py over
stdin/stdout. It never imports gendsl.

The networks and the GA-NTK objective are bench.py's own: its module-level imports,
constants and functions are executed from its source; its timing loop is not.

Requests, one JSON object per line on stdin; one JSON reply per line on stdout:

* ``{"op": "prepare", "workload": W}``: build, compile and warm up W;
  ``{"ok": true, "compile_s": s}`` or ``{"ok": false, "error": why}``.
* ``{"op": "time"}``: one run of the prepared workload; ``{"ok": true, "seconds": s}``.
* ``{"op": "quit"}``.

Workloads: ``kernel/{net}/n={n}`` and ``ga_ntk_value_and_grad/{net}/n_real={n},n_fake={m}``
with ``{net}`` one of bench.py's networks (:data:`SHAPES`), at any size.

    python nt_anchor_server.py PATH/TO/bench.py
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import time
from pathlib import Path

SHAPES = {"cnn_mnist": (28, 28, 1), "fc3": (784,)}  # input shapes, as in bench.py's loop
_KERNEL = re.compile(r"kernel/(?P<net>[^/]+)/n=(?P<n>\d+)$")
_GA = re.compile(r"ga_ntk_value_and_grad/(?P<net>[^/]+)/n_real=(?P<n>\d+),n_fake=(?P<m>\d+)$")


def parse_workload(workload: str) -> dict:
    """``{"kind": "kernel"|"ga_ntk", "net": name, "n": rows, "m": fake rows or None}``.

    Raises:
      ValueError: a name in neither form, or a network bench.py does not define; the
        message says which and what is available.
    """
    match = _KERNEL.match(workload) or _GA.match(workload)
    if match is None:
        raise ValueError(f"unknown workload {workload!r}: use kernel/NET/n=N or "
                         "ga_ntk_value_and_grad/NET/n_real=N,n_fake=M")
    net = match["net"]
    if net not in SHAPES:
        raise ValueError(f"the anchor's bench.py has no network {net!r} (it has "
                         f"{', '.join(SHAPES)})")
    m = match.groupdict().get("m")
    return {"kind": "kernel" if match.re is _KERNEL else "ga_ntk", "net": net,
            "n": int(match["n"]), "m": None if m is None else int(m)}


def load_bench(path: str) -> dict:
    """bench.py's imports, constants and functions (its timing loop is not run)."""
    tree = ast.parse(Path(path).read_text(), filename=path)
    keep = [node for node in tree.body
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign))]
    namespace = {"__name__": "nt_anchor_bench"}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), namespace)
    return namespace


def prepare(bench: dict, workload: str):
    """A zero-argument function running ``workload`` once (compiled and warmed up)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    w = parse_workload(workload)
    _, _, kernel_fn = bench[w["net"]]()
    shape = SHAPES[w["net"]]
    rng = np.random.default_rng(0)
    if w["kind"] == "kernel":
        kf = jax.jit(kernel_fn, static_argnames=("get",))
        x = jnp.asarray(rng.normal(size=(w["n"],) + shape), jnp.float32)
        run = lambda: kf(x, None, get="ntk")
    else:
        real = jnp.asarray(rng.normal(size=(w["n"],) + shape), jnp.float32)
        fake = jnp.asarray(rng.normal(size=(w["m"],) + shape), jnp.float32)
        g = jax.jit(jax.value_and_grad(bench["ga_ntk_loss"](kernel_fn, w["n"])))
        run = lambda: g(fake, real, 100.0)
    jax.block_until_ready(run())
    return run


def main(argv=None) -> None:
    """Serve requests on stdin until ``quit`` or end of input."""
    argv = sys.argv[1:] if argv is None else argv
    out = os.fdopen(os.dup(1), "w")  # replies only: library noise on fd 1 goes to stderr
    os.dup2(2, 1)

    def reply(**fields):
        out.write(json.dumps(fields) + "\n")
        out.flush()

    import jax

    bench = load_bench(argv[0])
    import neural_tangents

    reply(ok=True, ready=True, jax=jax.__version__, neural_tangents=neural_tangents.__version__)
    run = None
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request.get("op")
        if op == "quit":
            break
        if op == "prepare":
            run = None
            t0 = time.perf_counter()
            try:
                run = prepare(bench, request["workload"])
            except Exception as e:  # reported in the benchmark's row, not fatal here
                reply(ok=False, error=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
                continue
            reply(ok=True, compile_s=time.perf_counter() - t0)
        elif op == "time":
            if run is None:
                reply(ok=False, error="no workload prepared")
                continue
            t0 = time.perf_counter()
            jax.block_until_ready(run())
            reply(ok=True, seconds=time.perf_counter() - t0)
        else:
            reply(ok=False, error=f"unknown op {op!r}")


if __name__ == "__main__":
    main()
