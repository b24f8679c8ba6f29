"""benchmarks/ga_ntk_scale.py (issue 12's large-n GA-NTK benchmark) runs end to end on its
tiny --quick setting with both methods in their worker processes, and on 2 processes with
the kernel's rows sharded; the speed claim itself
is the benchmark's, not a test's (no timing assertions)."""

import json
import math
import pathlib

import pytest
from load_file import load_module

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    return load_module(f"benchmarks/{name}.py")


@pytest.mark.slow
def test_the_quick_path_reports_both_methods_and_their_memory(tmp_path):
    bench = _load("ga_ntk_scale")
    out = tmp_path / "scale.json"
    r = bench.main(["--quick", "--out", str(out)])
    assert json.loads(out.read_text())["results"] == r["results"]
    compared, alone = r["results"]
    assert compared["n"] == 16 and set(compared) >= {"eigh", "krylov", "ratio_krylov_over_eigh"}
    assert alone["n"] == 24 and "eigh" not in alone
    for row in (compared["eigh"], compared["krylov"], alone["krylov"]):
        assert row["finite"] and row["median_s"] > 0 and 0.05 < row["peak_rss_gb"] < 8
    assert compared["ratio_krylov_over_eigh"]["median"] > 0
    assert math.isfinite(compared["load_1min_before"])
    # At n = 32 <= krylov_dim the Lanczos fit is exact: both losses agree to float32.
    assert compared["loss_rel_diff"] < 1e-5
    # the same step on 2 processes of one device each, the kernel's rows sharded
    (multi,) = r["multi_process"]
    assert multi["processes"] == 2 and multi["n"] == 16 and multi["method"] == "krylov"
    for side in ("one_process", "many_processes"):
        assert multi[side]["finite"] and multi[side]["median_s"] > 0
    assert multi["speedup"]["median"] > 0
    assert multi["loss_rel_diff"] < 1e-5


def test_no_processes_is_refused():
    bench = _load("ga_ntk_scale")
    with pytest.raises(SystemExit):
        bench.main(["--processes", "0"])
