"""benchmarks/geometry.py (issue 11's speed benchmark) runs end to end on a tiny setting
and reports every row with sane values; the speed claim itself is the benchmark's, not a
test's (no timing assertions)."""

import json
import math
import pathlib

import pytest
from load_file import load_module

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    return load_module(f"benchmarks/{name}.py")


TINY = ["--train-steps", "30", "--pairs", "2", "--repeats", "1", "--points", "3",
        "--subset", "2", "--rounds", "1"]


@pytest.mark.slow
def test_the_quick_path_reports_every_row_with_sane_values(tmp_path):
    bench = _load("geometry")
    out = tmp_path / "geometry.json"
    r = bench.main(["--quick", *TINY, "--out", str(out)])
    assert json.loads(out.read_text())["matrix"] == r["matrix"]
    assert r["settings"]["nodes"] == 32 and r["settings"]["train_steps"] == 30

    rows = r["geodesic"]["rows"]
    assert set(rows) == {"L-BFGS", "Adam lr 0.1"}
    for name, row in rows.items():
        assert row["energy_leq_straight"], name
        assert 0 < row["energy_over_straight"]["median"] <= 1 + 1e-6, name
        assert 0 < row["steps"]["median"] <= row["max_steps"], name
        assert math.isfinite(row["grad_max"]) and row["solve_s"]["median"] > 0, name
    assert rows["L-BFGS"]["time_over_lbfgs"] is None
    assert rows["Adam lr 0.1"]["time_over_lbfgs"]["median"] > 0

    c = r["chunking"]
    assert set(c["rows"]) == {"vmap all pairs", "chunks of 10", "pair by pair (batch_size=1)",
                              "Python loop of geodesic()"}
    assert c["pairs"] == 4 and c["max_relative_difference"] < 1e-3  # every way agrees
    assert all(row["ms_per_pair"]["median"] > 0 for row in c["rows"].values())

    m = r["matrix"]
    assert m["pairs"] == 9 and m["finite"] and m["same_result"]
    assert m["backend_compiles_first_call"] >= 1 and m["backend_compiles_second_call"] == 0
    assert m["batch_size"] in (None, 10, 1)
    assert r["load_average"]["max"] >= r["load_average"]["min"] >= 0
