"""benchmarks/sampling_study.py (issue 10's sampler comparison) and benchmarks/sampling.py
(its speed benchmark) run end to end at tiny budgets and write every column; the
quality claim itself is the study's, not a test's."""

import json
import pathlib

import pytest
from load_file import load_module

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    return load_module(f"benchmarks/{name}.py")


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["grid25", "digits"])
def test_quick_study_writes_every_column(setting, tmp_path):
    study = _load("sampling_study")
    out = tmp_path / "study.json"
    study.main(["--quick", "--settings", setting, "--runs-dir", str(tmp_path / "runs"),
                "--out", str(out)])
    results = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert set(results["settings"]) == {setting}
    for setting, r in results["settings"].items():
        quality = {"kid"} if setting == "digits" else {"modes", "high_quality_fraction", "kl"}
        assert set(r["table"]) == set(study.SAMPLERS)
        for name, row in r["table"].items():
            assert set(row) == {"d_evals_per_sample", *study.COLUMNS}
            for column in ("acceptance_rate", "ess_per_second", *quality):
                assert row[column]["mean"] >= 0 and row[column]["std"] >= 0, (setting, name)
            for column in set(study.COLUMNS) - {"acceptance_rate", "ess_per_second"} - quality:
                assert row[column] is None
        evals = {name: row["d_evals_per_sample"] for name, row in r["table"].items()}
        assert evals == {"plain G": 0, "DRS": 8, "MH-GAN": 9, "DDLS": 9, "REP-GAN": 9}
        seed = r["per_seed"][0]
        assert {"acceptance_ratio", "holds"} <= set(seed["claim"])
        assert seed["calibration"]["ece_after"] >= 0
        assert r["seeds_supporting_claim"] in (0, 1)


@pytest.mark.slow
def test_speed_benchmark_reports_the_ratio_and_one_dispatch(tmp_path):
    bench = _load("sampling")
    out = bench.main(["--chains", "64", "--steps", "12", "--rounds", "2", "--fwd-bwd-calls",
                      "2", "--out", str(tmp_path / "sampling.json")])
    assert json.loads((tmp_path / "sampling.json").read_text())["dispatch"] == out["dispatch"]
    d = out["dispatch"]
    assert d["one_dispatch"] and d["scan_lengths"] == [12] and d["compiles_second_call"] == 0
    assert set(out["ratio_to_fwd_bwd"]) == {"rep_gan", "rep_gan_hand"}
    assert out["ratio_to_fwd_bwd"]["rep_gan"]["median"] > 0
