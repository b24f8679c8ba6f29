"""benchmarks/gradient_layer_study.py: its plateau rule, and the JSON a --quick run writes.

The quick run is a smoke test of the study's plumbing (warm-up, continuation from the
plateaued parameters, flow check with the refitted discriminator, figures); it makes no
quality claim. The study's results are in benchmarks/results/gradient_layer_study.json.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_study():
    spec = importlib.util.spec_from_file_location(
        "gradient_layer_study", ROOT / "benchmarks" / "gradient_layer_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plateau_rule_compares_the_last_window_with_the_one_before():
    study = load_study()
    rows = lambda hq: [{"modes": 25.0, "hq": h} for h in hq]
    assert not study.plateaued(rows([0.4, 0.5, 0.6]), {"hq": 0.03}, window=2)  # too short
    assert not study.plateaued(rows([0.3, 0.4, 0.5, 0.6]), {"hq": 0.03}, window=2)  # rising
    assert study.plateaued(rows([0.5, 0.6, 0.6, 0.5]), {"hq": 0.03}, window=2)  # flat means
    # every metric must be flat; relative change for KID-like metrics
    assert not study.plateaued([{"modes": m, "hq": 0.5} for m in (10, 10, 20, 20)],
                               {"modes": 1.0, "hq": 0.03}, window=2)
    kid = [{"kid": k} for k in (10.0, 10.0, 9.5, 9.5)]
    assert study.plateaued(kid, {"kid": 0.1}, window=2, relative=True)
    assert not study.plateaued(kid, {"kid": 0.01}, window=2, relative=True)


def test_refit_kl_separates_far_distributions_from_equal_ones():
    study = load_study()
    rng = np.random.default_rng(0)
    p = rng.normal(size=(512, 2)).astype(np.float32)
    same = rng.normal(size=(512, 2)).astype(np.float32)
    shifted = same + np.float32(3.0)  # KL(N(3,I) || N(0,I)) = 9 nats
    near = study.refit_kl(same, p, seed=0, steps=300)
    far = study.refit_kl(shifted, p, seed=0, steps=300)
    assert abs(near) < 0.5
    assert far > 3.0


@pytest.mark.slow
def test_quick_run_writes_the_study_json(tmp_path):
    study = load_study()
    study.main(["--quick", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "gradient_layer_study_quick.json").read_text())
    assert set(report["results"]) == {"grid25", "digits", "flow"}
    summary = report["summary"]
    for arm in ("gan", "distil"):
        assert set(summary["grid25"]["final"][arm]) == {"modes", "hq", "kl", "seconds"}
        assert set(summary["digits"]["final"][arm]) == {"kid", "seconds"}
    run = report["results"]["grid25"]["0"]
    assert run["warm_steps"] > 0
    rows = run["arms"]["gan"]
    assert [r["step"] for r in rows] == [0, 50, 100]
    # every arm starts from the same plateaued parameters
    assert rows[0]["hq"] == run["arms"]["distil"][0]["hq"]
    flow = report["results"]["flow"]["0"]
    assert set(flow) >= {"0.02", "0.05", "0.1", "spread", "agree"}
    assert [flow[e]["T"] for e in ("0.02", "0.05", "0.1")] == [10, 4, 2]
    assert all(np.isfinite(r["kl_refit"]) for e in ("0.02", "0.05", "0.1") for r in flow[e]["rows"])
    assert {"seeds_agreeing", "monotone_runs", "runs"} <= set(summary["flow"])
    assert all(Path(f).exists() for f in report["figures"]) and len(report["figures"]) == 3
