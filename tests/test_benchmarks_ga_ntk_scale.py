"""benchmarks/ga_ntk_scale.py (issue 12's large-n GA-NTK benchmark) runs end to end on its
tiny --quick setting with both methods in their worker processes; the speed claim itself
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
    assert "TODO" in r["multi_process"]


def test_more_than_one_process_is_refused_until_the_launcher_exists():
    bench = _load("ga_ntk_scale")
    with pytest.raises(SystemExit):
        bench.main(["--processes", "2"])
