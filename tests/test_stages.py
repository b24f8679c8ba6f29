"""Staged programs (gd.stages): validation, the frozen/trainable split per stage, one
checkpoint stream, and resuming mid-stage 2 without redoing stage 1."""

import json

import jax
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.errors import ConfigError, ProgramError
from gendsl.run import CheckpointStore


def _players():
    A = gd.player("A", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(1e-2))
    B = gd.player("B", lambda r: gd.nn.MLP(1, (8,), 1, rngs=r), optax.adam(1e-2))
    return A, B


def _staged(a_steps=30, b_steps=40):
    """Stage ``fit_a``: A regresses x0 + x1; stage ``fit_b``: B maps A's output to 2x."""
    A, B = _players()
    x = gd.data("x")
    target = gd.named("target", x[:, :1] + x[:, 1:])
    fit_a = gd.program({A: gd.mean(gd.sq_norm(A(x) - target))}, gd.minimize())
    fit_b = gd.program({B: gd.mean(gd.sq_norm(B(A(x)) - 2.0 * target))}, gd.minimize(),
                       frozen=[A])
    return gd.stages([gd.stage("fit_a", fit_a, steps=a_steps),
                      gd.stage("fit_b", fit_b, steps=b_steps)])


def _source():
    return gd.datasets.standard_normal(2, batch_size=32, seed=3, field="x")


def _fit(run_dir, steps, staged=None):
    compiled = gd.compile(staged or _staged())
    result = gd.fit(compiled, (_source(), _source()), steps=steps, run_dir=run_dir,
                    steps_per_call=5, checkpoint_every=10, log_every=5, progress=False)
    return compiled, result


def _leaves(params):
    return [np.asarray(v) for v in jax.tree.leaves(params)]


def test_stage_validation_names_the_fault():
    A, _ = _players()
    prog = gd.program({A: gd.mean(A(gd.data("x")))}, gd.minimize())
    with pytest.raises(ProgramError, match="identifier"):
        gd.stage("stage 1", prog, steps=10)
    with pytest.raises(ProgramError, match="steps must be a positive int"):
        gd.stage("s", prog, steps=0)
    with pytest.raises(ProgramError, match="gd.program"):
        gd.stage("s", A, steps=3)
    with pytest.raises(ProgramError, match="unique"):
        gd.stages([gd.stage("s", prog, steps=1), gd.stage("s", prog, steps=1)])
    with pytest.raises(ProgramError, match="non-empty"):
        gd.stages([])
    other = gd.player("A", lambda r: gd.nn.MLP(2, (4,), 1, rngs=r), optax.sgd(0.1))
    prog2 = gd.program({other: gd.mean(other(gd.data("x")))}, gd.minimize())
    with pytest.raises(ProgramError, match="reuse the same gd.player"):
        gd.stages([gd.stage("s1", prog, steps=1), gd.stage("s2", prog2, steps=1)])


def test_show_and_fingerprint_cover_every_stage():
    text = gd.show(_staged())
    assert "fit_a" in text and "fit_b" in text and "70" in text
    assert gd.fingerprint(_staged()) == gd.fingerprint(_staged())
    assert gd.fingerprint(_staged(30, 40)) != gd.fingerprint(_staged(30, 41))


def test_each_stage_trains_only_its_players(tmp_path):
    _, r_a = _fit(tmp_path / "run", 30)
    _, r_b = _fit(tmp_path / "run", 70)
    compiled = gd.compile(_staged())
    init = compiled.init(jax.random.key(0), _source().batch(0))
    a0, b0 = _leaves(init.params["A"]), _leaves(init.params["B"])
    a1, b1 = _leaves(r_a.state.params["A"]), _leaves(r_a.state.params["B"])
    a2, b2 = _leaves(r_b.state.params["A"]), _leaves(r_b.state.params["B"])
    assert any(not np.array_equal(u, v) for u, v in zip(a0, a1))      # stage 1 trains A
    assert all(np.array_equal(u, v) for u, v in zip(b0, b1))          # ... not B
    assert all(np.array_equal(u, v) for u, v in zip(a1, a2))          # stage 2 freezes A
    assert any(not np.array_equal(u, v) for u, v in zip(b1, b2))      # ... and trains B
    assert set(r_b.state.opt_state) == {"fit_a", "fit_b"}
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert {r["step"] for r in records if "A/loss" in r} == {5, 10, 15, 20, 25, 30}
    assert min(r["step"] for r in records if "B/loss" in r) == 35


def test_resume_mid_stage_two_skips_stage_one_and_matches(tmp_path):
    _, straight = _fit(tmp_path / "straight", 70)
    _fit(tmp_path / "resumed", 50)                      # stops 20 steps into fit_b
    compiled, resumed = _fit(tmp_path / "resumed", 70)
    assert compiled.stages[0].trace_count == 0   # stage 1's step never ran
    assert resumed.start_step == 50
    for u, v in zip(_leaves(straight.state.params), _leaves(resumed.state.params)):
        np.testing.assert_array_equal(u, v)
    with CheckpointStore(tmp_path / "resumed" / "checkpoints") as store:
        assert store.latest() == 70                        # one stream across stages
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir() if p.is_dir()) == ["checkpoints"]


def test_staged_steps_default_to_the_budgets_and_refuse_more():
    from gendsl.run.experiment import run_steps
    compiled = gd.compile(_staged())
    assert run_steps(compiled, None) == 70
    assert run_steps(compiled, 50) == 50
    with pytest.raises(ConfigError, match="past the end"):
        run_steps(compiled, 71)


def test_one_source_for_two_stages_is_refused(tmp_path):
    compiled = gd.compile(_staged())
    with pytest.raises(ConfigError, match="one data source per stage"):
        gd.fit(compiled, _source(), steps=10, run_dir=tmp_path / "r", progress=False)
