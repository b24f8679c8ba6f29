"""The claim modules of benchmarks/claims/ (benchmarks/reproduce.py's interface), without
training: names, headings, and the verdicts they derive from study results."""

import json
import pathlib

import pytest
from load_file import load_module

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLAIMS = sorted(p for p in (ROOT / "benchmarks" / "claims").glob("*.py") if not p.name.startswith("_"))


def _load(path):
    return load_module(path, f"claim_{path.stem}")


def _reproduce():
    return _load(ROOT / "benchmarks" / "reproduce.py")


def _claim(name):
    return _load(ROOT / "benchmarks" / "claims" / f"{name}.py")


@pytest.mark.parametrize("path", CLAIMS, ids=[p.stem for p in CLAIMS])
def test_every_claim_module_names_its_file_and_its_report_section(path):
    module = _reproduce().load_claim(path)
    assert callable(module.run)
    assert f"\n## {module.TITLE}\n" in (ROOT / "docs" / "results.md").read_text(), (
        f"{path.name}: TITLE {module.TITLE!r} must be a section heading of docs/results.md")


def test_rep_gan_verdicts_from_the_committed_study():
    rep_gan = _claim("rep_gan")
    results = json.loads(rep_gan.RESULTS.read_text())
    claims = rep_gan.claims_from(results, "docs/figures/rep_gan_sampling.png")
    _reproduce().check_result("rep_gan", {"claims": claims})
    assert [(c["verdict"], c["seeds"]) for c in claims] == [
        ("not", "0 of 3"), ("not", "0 of 3"), ("reproduced", "3 of 3")]  # grid25, ring8, digits


def test_gradient_layer_verdicts_from_the_committed_study():
    gl = _claim("gradient_layer")
    summary = json.loads(gl.RESULTS.read_text())["summary"]
    claims = gl.claims_from(summary, {})
    assert [(c["verdict"], c["seeds"]) for c in claims] == [
        ("reproduced", "3 of 3"), ("not", "0 of 3"), ("partly", "0 of 3"), ("not", "2 of 9 runs")]


def _rows(modes, hq):
    return [{"step": 100, "t": 10.0, "modes_covered": 1.0, "high_quality_fraction": 0.0},
            {"step": 200, "t": 20.0, "modes_covered": modes, "high_quality_fraction": hq}]


def test_ode_gan_ablation_verdicts_count_seeds_where_the_first_arm_wins():
    ode = _claim("ode_gan")
    runs = {"rk4/seed0": _rows(16, 0.8), "rk4/seed1": _rows(12, 0.5), "rk4/seed2": _rows(9, 0.4),
            "euler/seed0": _rows(10, 0.3), "euler/seed1": _rows(12, 0.4),
            "euler/seed2": _rows(14, 0.5), "rk4/seed3": _rows(2, 1.0), "euler/seed3": _rows(1, 0.0)}
    claims = {c["claim"]: c for c in ode.ablation_claims(runs, 20.0, 128, None)}
    assert len(claims) == 1  # only the comparison whose two arms both ran
    (c,) = claims.values()
    assert "RK4 beats Euler" in c["claim"]
    # seed 0: more modes; seed 1: as many, higher quality; seed 2: fewer modes; seed 3:
    # more modes and quality, but collapsed onto 2 modes, which wins nothing
    assert (c["verdict"], c["seeds"]) == ("partly", "2 of 4")
    assert "rk4 16/0.80, 12/0.50, 9/0.40, 2/1.00" in c["number"]


def test_latent_geometry_verdicts_and_recorded_rows():
    geo = _claim("latent_geometry")
    blobs = [{"pairs": 190, "spearman_geodesic_true": g, "spearman_euclid_true": e,
              "spearman_geodesic_intrinsic": g, "spearman_euclid_intrinsic": e}
             for g, e in ((0.9, 0.8), (0.7, 0.75))]
    arm = [{"straight_line/dist_max": 0.4, "geodesic_expected_metric/dist_max": 0.1,
            "straight_line/depth_max": 0.3, "geodesic_expected_metric/depth_max": 0.02}]
    claims = geo.claims_from({"vae_geodesics_blobs": blobs, "arm_geodesics": arm}, {}, "test")
    assert [(c["verdict"], c["seeds"]) for c in claims] == [
        ("partly", "1 of 2"), ("partly", "1 of 2"), ("reproduced", "1 of 1")]
    recorded = geo.recorded(ROOT / "docs" / "figures")
    _reproduce().check_result("latent_geometry", recorded)
    for c in recorded["claims"]:
        assert (ROOT / c["figure"]).exists(), c["figure"]
