"""The pure parts of the neural-tangents comparisons (benchmarks/kernel_timing.py,
nt_anchor.py, nt_anchor_server.py): interleaved timing and the median of per-pair
ratios, executed-FLOP counting of the kernel tiling against a brute count, the anchor
venv check, and workload sizes passed through to the anchor process (a fake one here;
the real one only where its venv exists). No timing assertions."""

import os
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from gendsl import kernels as K
from gendsl.kernels import tiling

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import kernel_timing  # noqa: E402
import nt_anchor  # noqa: E402
import nt_anchor_server  # noqa: E402


# -- interleaving ------------------------------------------------------------------------

def test_median_ratio_is_the_median_of_per_pair_ratios_not_the_ratio_of_medians():
    a, b = [1.0, 1.0, 4.0], [2.0, 8.0, 4.0]  # per pair 2, 8, 1; medians 1 and 4
    assert kernel_timing.median_ratio(a, b) == 2.0
    with pytest.raises(ValueError, match="as many b runs"):
        kernel_timing.median_ratio([1.0], [1.0, 2.0])


def test_interleaved_alternates_the_sides_and_pairs_their_times():
    order, times = [], {"a": iter([1.0, 2.0, 3.0]), "b": iter([3.0, 2.0, 30.0]),
                           "p": iter([0.5] * 3)}

    def side(name):
        return lambda: (order.append(name), next(times[name]))[1]

    r = kernel_timing.interleaved(side("a"), side("b"), 3, also=side("p"))
    assert order == ["a", "b", "p"] * 3
    assert r["ratios"] == [3.0, 1.0, 10.0] and r["median_ratio"] == 3.0
    assert (r["median_a_s"], r["median_b_s"], r["also_s"]) == (2.0, 3.0, [0.5] * 3)


# -- executed FLOPs of the tiling --------------------------------------------------------

@pytest.mark.parametrize("n1,n2,block", [(32, None, 8), (30, None, 8), (8, None, 8),
                                         (20, 12, 8), (20, None, 0)])
def test_tile_counts_are_the_tiles_blockwise_runs(n1, n2, block):
    """Counted by a callback in the tile body, run by the real ``tiling.blockwise``."""
    seen = []

    def body(a, b):
        kind = "diag" if b is None else ("upper" if n2 is None else "rows")
        jax.debug.callback(lambda: seen.append(kind))
        return a[:, :1] @ (a if b is None else b)[:, :1].T

    x1 = jnp.ones((n1, 3))
    x2 = None if n2 is None else jnp.ones((n2, 3))
    if block:
        jax.block_until_ready(tiling.blockwise(body, x1, x2, block))
    else:
        jax.block_until_ready(body(x1, x2))
        seen[:] = ["whole"]
    jax.effects_barrier()
    brute = {kind: seen.count(kind) for kind in set(seen)}
    expected = {k: v for k, v in kernel_timing.tile_counts(n1, n2, block).items() if v}
    assert brute == expected


def _unrolled_flops(fn, *args):
    """Brute count: XLA's count of ``fn`` with every ``lax.map`` unrolled, so that each
    tile is a separate copy in the program (XLA counts a loop body once), behind an
    optimization barrier, so that XLA cannot merge work the loop repeats per tile
    (each tile's own row variances). It also counts the assembly of the tiles."""
    original = jax.lax.map

    def unrolled_map(f, xs, **_):
        n = jax.tree.leaves(xs)[0].shape[0]
        body = lambda c, x: (c, f(jax.lax.optimization_barrier(x)))
        return jax.lax.scan(body, None, xs, unroll=n)[1]

    jax.lax.map = unrolled_map
    jax.clear_caches()
    try:
        return kernel_timing.xla_flops(fn, *args)
    finally:
        jax.lax.map = original
        jax.clear_caches()


NET = K.serial(K.Dense(64, 1.5, 0.05), K.Relu(), K.Dense(1, 1.5, 0.05))


@pytest.mark.slow
def test_executed_kernel_flops_match_a_brute_count_of_the_tiled_program():
    """Forward and input gradient of the symmetric kernel, 8-row tiles, 30 rows (padded
    to 32); 256-d inputs, so that the tiles' work dominates the assembly's (which the
    brute count includes: at 16-d it is 16% of the forward). Each tile compiled alone
    is counted within a few % of its copies in the unrolled program (measured: +4.2%
    forward, -4.8% backward, XLA fusing differently); the one-block count, which the
    benchmarks used to report, is 23% over (28% over the brute count)."""
    n, d = 30, 256
    x = jax.random.normal(jax.random.key(0), (n, d))
    kernel = lambda a: NET.kernel(a, None, get="ntk", block_size=8)
    forward = _unrolled_flops(kernel, x)
    backward = _unrolled_flops(lambda a: jax.vjp(kernel, a)[1](jnp.ones((n, n)))[0], x)
    counted = kernel_timing.executed_kernel_flops(NET, n, None, (d,), block_size=8)
    counted_grad = kernel_timing.executed_kernel_flops(NET, n, None, (d,), grad="x1",
                                                       block_size=8)
    assert counted == pytest.approx(forward, rel=0.08)
    assert counted_grad == pytest.approx(backward, rel=0.08)
    # the old count (the whole kernel in one block) overstates what runs
    one_block = kernel_timing.xla_flops(lambda a: NET.kernel(a, None, get="ntk", block_size=0), x)
    assert one_block > 1.15 * counted


def test_executed_kernel_flops_of_one_block_is_xlas_count_of_it():
    x = jax.random.normal(jax.random.key(0), (24, 16))
    one_block = kernel_timing.xla_flops(lambda a: NET.kernel(a, None, get="ntk"), x)
    assert kernel_timing.executed_kernel_flops(NET, 24, None, (16,)) == one_block


# -- the anchor venv ---------------------------------------------------------------------

def _fake_venv(root: Path, with_nt: bool) -> Path:
    """A directory whose bin/python is this test's Python (which has no neural_tangents),
    or the same with a stub ``neural_tangents`` module on its path."""
    (root / "bin").mkdir(parents=True)
    stub = root / "stub"
    stub.mkdir()
    if with_nt:
        (stub / "neural_tangents.py").write_text("__version__ = 'stub'\n")
    python = root / "bin" / "python"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={stub} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    return root


def test_find_venv_rejects_a_venv_without_neural_tangents_and_says_why(tmp_path, capsys):
    bare = _fake_venv(tmp_path / "bare", with_nt=False)
    rejected = []
    assert nt_anchor.find_venv(str(bare), rejected=rejected) is None
    assert len(rejected) == 1 and "No module named 'neural_tangents'" in rejected[0]
    assert str(bare) in capsys.readouterr().err
    assert "no " in nt_anchor.check_venv(tmp_path / "missing")


def test_find_venv_takes_a_venv_where_neural_tangents_imports(tmp_path, monkeypatch):
    good = _fake_venv(tmp_path / "good", with_nt=True)
    monkeypatch.setenv("NT_ANCHOR_VENV", str(good))
    assert nt_anchor.find_venv() == good


# -- sizes reach the anchor --------------------------------------------------------------

def test_parse_workload_takes_any_size_and_names_unknown_networks():
    assert nt_anchor_server.parse_workload("kernel/cnn_mnist/n=777") == {
        "kind": "kernel", "net": "cnn_mnist", "n": 777, "m": None}
    assert nt_anchor_server.parse_workload(
        "ga_ntk_value_and_grad/fc3/n_real=2048,n_fake=1024") == {
        "kind": "ga_ntk", "net": "fc3", "n": 2048, "m": 1024}
    with pytest.raises(ValueError, match="no network 'resnet'.*cnn_mnist, fc3"):
        nt_anchor_server.parse_workload("kernel/resnet/n=64")


FAKE_SERVER = """
import json, os, signal, sys, time
sys.path.insert(0, {bench!r})
from nt_anchor_server import parse_workload
log = open({log!r}, "a")
print(json.dumps({{"ok": True, "ready": True}}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    log.write(line); log.flush()
    if req["op"] == "quit":
        break
    if req["op"] == "prepare":
        try:
            w = parse_workload(req["workload"])
        except ValueError as e:
            print(json.dumps({{"ok": False, "error": str(e)}}), flush=True)
            continue
        if w["n"] == 4000:
            time.sleep(60)  # a hung compile
        if w["n"] > 4096:
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
        print(json.dumps({{"ok": True, "compile_s": 0.0}}), flush=True)
    else:
        print(json.dumps({{"ok": True, "seconds": 0.004}}), flush=True)
"""


def test_sizes_pass_through_to_the_anchor_and_a_failure_is_said_in_the_row(tmp_path):
    log = tmp_path / "requests.jsonl"
    server = tmp_path / "fake_server.py"
    server.write_text(textwrap.dedent(FAKE_SERVER.format(bench=str(BENCH), log=str(log))))
    anchor = nt_anchor.Anchor(command=[sys.executable, str(server)], timeout=60)
    gendsl_once = lambda: 0.001
    try:
        row = nt_anchor.measure_row({}, gendsl_once, anchor, "kernel/fc3/n=777", pairs=3)
        assert row["speedup"] == pytest.approx(4.0) and len(row["ratios"]) == 3
        assert "anchor_note" not in row and len(row["load_before"]) == 3
        assert '"workload": "kernel/fc3/n=777"' in log.read_text()
        nt_anchor.measure_row({}, gendsl_once, anchor, "kernel/fc3/n=777", pairs=1)
        assert log.read_text().count('"prepare"') == 1  # still ready: not prepared again

        unknown = nt_anchor.measure_row({}, gendsl_once, anchor, "kernel/resnet/n=64", 2)
        assert "speedup" not in unknown and "no network 'resnet'" in unknown["anchor_note"]
        assert len(unknown["gendsl_runs_s"]) == 2

        killed = nt_anchor.measure_row({}, gendsl_once, anchor, "kernel/fc3/n=8192", 2)
        assert "SIGKILL" in killed["anchor_note"] and "out of memory" in killed["anchor_note"]

        again = nt_anchor.measure_row({}, gendsl_once, anchor, "kernel/fc3/n=64", 1)
        assert again["speedup"] == pytest.approx(4.0)  # a fresh anchor process

        anchor.timeout = 1.0
        hung = nt_anchor.measure_row({}, gendsl_once, anchor, "kernel/fc3/n=4000", 1)
        assert "timed out after 1 s" in hung["anchor_note"]
    finally:
        anchor.close()


@pytest.mark.slow
@pytest.mark.skipif(not (Path(os.environ.get("NT_ANCHOR_VENV", "/tmp/nt-anchor"))
                         / "bin" / "python").exists(), reason="no neural-tangents anchor venv")
def test_the_real_anchor_runs_a_size_bench_py_does_not():
    venv = nt_anchor.find_venv()
    if venv is None:
        pytest.skip("the anchor venv does not import neural_tangents")
    anchor = nt_anchor.Anchor(venv, timeout=300)
    try:
        assert anchor.prepare("kernel/fc3/n=40") is None
        assert anchor.time_once() > 0
        assert "no network" in anchor.prepare("kernel/nope/n=40")
    finally:
        anchor.close()
