"""gd.fit with stand-in programs: outputs, resume, signals, non-finite steps, checkpoints."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from matplotlib import image as mpimg
from run_fakes import (
    FakeCompiled,
    FakeProgram,
    FakeSource,
    assert_trees_bitwise_equal,
    host_tree,
)

from gendsl.errors import (
    CheckpointError,
    CheckpointMismatchError,
    ConfigError,
    NonFiniteError,
    RunDirLockedError,
    TrainingInterrupted,
)
from gendsl.run import CheckpointStore, CheckpointWarning, fit
from gendsl.run.lock import RunDirLock
from gendsl.run.metrics_log import read_records

pytestmark = pytest.mark.xdist_group("test_run_fit")  # one worker, so its fixtures are built once

ROOT = Path(__file__).resolve().parents[1]


def _fit(run_dir, *, steps=24, program=FakeProgram(), steps_per_call=1, source=None, **kw):
    options = dict(checkpoint_every=8, log_every=4, progress=False, num_eval_samples=500)
    options.update(kw)
    return fit(
        FakeCompiled(program),
        source or FakeSource(),
        steps=steps,
        steps_per_call=steps_per_call,
        run_dir=run_dir,
        **options,
    )


def _restore(run_dir, step, program=FakeProgram()):
    compiled = FakeCompiled(program)
    abstract = compiled.abstract_state(jax.random.key(0), FakeSource().batch(0))
    with CheckpointStore(Path(run_dir) / "checkpoints") as store:
        tree, meta = store.restore(step, abstract.tree())
    return abstract.from_tree(tree), meta


@pytest.fixture(scope="session")  # one worker (xdist_group): built once
def uninterrupted(tmp_path_factory):
    """A 24-step run with 3 fused steps per call: the reference for resumed runs."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    return _fit(run_dir, steps_per_call=3)


def test_run_directory_contents(uninterrupted):
    run_dir = uninterrupted.run_dir
    records = read_records(run_dir / "metrics.jsonl")
    train = [r for r in records if "G/loss" in r]
    assert [r["step"] for r in train] == [4, 8, 12, 16, 20, 24]
    assert all(r["nonfinite"] == 0 and np.isfinite(r["G/loss"]) for r in train)
    assert train[-1]["G/loss"] < train[0]["G/loss"]  # the moments get matched
    evaluation = [r for r in records if "eval/mean_error" in r]
    assert [(r["step"], r["eval/num_samples"]) for r in evaluation] == [(24, 500)]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["fingerprint"] == FakeCompiled().fingerprint
    assert (summary["step"], summary["start_step"], summary["resumed"]) == (24, 0, False)
    assert summary["metrics"]["G/loss"] == train[-1]["G/loss"]
    assert summary["metrics"]["eval/mean_error"] == evaluation[0]["eval/mean_error"]
    assert summary["wall_time_s"] > 0 and summary["data_position"] == 24
    assert uninterrupted.metrics == summary["metrics"]

    # the evaluation is the source's metric on samples of the final parameters
    p = uninterrupted.state.params["G"]
    from gendsl.run.evaluation import eval_key

    samples = np.asarray(jax.random.normal(eval_key(0, 24), (500, 2)) @ p["w"] + p["b"])
    assert evaluation[0]["eval/mean_error"] == pytest.approx(
        float(np.linalg.norm(samples.mean(0))), rel=1e-5
    )

    picture = mpimg.imread(run_dir / "samples.png")
    assert picture.shape[0] > 100 and picture.shape[1] > 100
    rgb = picture[..., :3]
    grey = np.all(np.abs(rgb - 0.75) < 0.03, axis=-1).sum()  # the real data
    blue = ((rgb[..., 2] > 0.5) & (rgb[..., 0] < 0.4)).sum()  # the samples
    assert grey > 50 and blue > 50

    assert sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir()) == [8, 16, 24]


def test_checkpoint_holds_the_whole_state(uninterrupted):
    state, meta = _restore(uninterrupted.run_dir, 24)
    assert_trees_bitwise_equal(state, uninterrupted.state)
    assert meta["fingerprint"] == FakeCompiled().fingerprint
    assert (meta["step"], meta["data_position"], meta["steps_per_call"]) == (24, 24, 3)


def test_sigterm_saves_and_resume_is_bit_exact(tmp_path, uninterrupted):
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted, match="SIGTERM.*step 12") as stopped:
        _fit(tmp_path, steps_per_call=3, source=FakeSource(signal_at=10))
    assert stopped.value.exit_code == 128 + signal.SIGTERM and stopped.value.step == 12
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["status"], summary["step"]) == ("interrupted", 12)
    with CheckpointStore(tmp_path / "checkpoints") as store:
        assert store.steps() == [8, 12]  # the signal's checkpoint is complete

    resumed = _fit(tmp_path, steps_per_call=3)
    assert (resumed.resumed, resumed.start_step, resumed.step) == (True, 12, 24)
    assert_trees_bitwise_equal(resumed.state, uninterrupted.state)
    assert read_records(tmp_path / "metrics.jsonl") == read_records(
        uninterrupted.run_dir / "metrics.jsonl"
    )


def test_sigint_stops_with_exit_code_130(tmp_path):
    with pytest.raises(TrainingInterrupted, match="SIGINT") as stopped:
        _fit(tmp_path, source=FakeSource(signal_at=3, signal_number=signal.SIGINT))
    assert stopped.value.exit_code == 130 and stopped.value.step == 4


def test_resume_drops_metrics_written_after_the_checkpoint(tmp_path, uninterrupted):
    _fit(tmp_path, steps=16, steps_per_call=3)
    # a run killed at step 19 after its checkpoint at 16 had logged step 18
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 18, "G/loss": 123.0}) + "\n")
    resumed = _fit(tmp_path, steps_per_call=3)
    assert resumed.start_step == 16
    records = read_records(tmp_path / "metrics.jsonl")
    assert {"step": 18, "G/loss": 123.0} not in records
    assert_trees_bitwise_equal(resumed.state, uninterrupted.state)


def test_fingerprint_mismatch_is_refused(tmp_path):
    _fit(tmp_path, steps=8)
    other = FakeProgram(lr=0.01)
    with pytest.raises(CheckpointMismatchError) as error:
        _fit(tmp_path, steps=16, program=other)
    message = str(error.value)
    assert FakeCompiled().fingerprint in message and FakeCompiled(other).fingerprint in message
    assert "--run-dir" in message and "delete" in message


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damaged_latest_checkpoint_falls_back_to_previous(tmp_path, uninterrupted, damage):
    _fit(tmp_path, steps_per_call=3)
    latest = tmp_path / "checkpoints" / "24"
    for path in [p for p in latest.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(data[: len(data) // 3])
        else:
            path.write_bytes(bytes(b ^ 0x5A for b in data))
    with pytest.warns(CheckpointWarning, match="step 24 .* cannot be read"):
        resumed = _fit(tmp_path, steps_per_call=3)
    assert (resumed.resumed, resumed.start_step) == (True, 16)
    assert_trees_bitwise_equal(resumed.state, uninterrupted.state)
    assert (tmp_path / "unreadable_checkpoints" / "24").is_dir()  # set aside, not deleted


def test_nonfinite_streak_stops_after_saving_last_good_state(tmp_path):
    clean = _fit(tmp_path / "clean", steps=5)
    poisoned = FakeProgram(nan_steps=tuple(range(5, 40)))
    with pytest.raises(NonFiniteError, match="max_nonfinite=3") as error:
        _fit(tmp_path / "nan", program=poisoned, steps=40, max_nonfinite=3, log_every=10)
    assert "step 8" in str(error.value)
    records = read_records(tmp_path / "nan" / "metrics.jsonl")
    events = [r["step"] for r in records if r.get("nonfinite")]
    assert events == [6, 7, 8]
    assert all(r["G/loss"] is None for r in records if r.get("nonfinite"))
    state, _ = _restore(tmp_path / "nan", 8, poisoned)
    assert_trees_bitwise_equal(state.params, clean.state.params)  # no bad update applied
    assert (int(state.nonfinite_streak), int(state.nonfinite_total)) == (3, 3)
    summary = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert (summary["status"], summary["nonfinite_total"]) == ("nonfinite", 3)


def test_isolated_nonfinite_steps_are_logged_and_skipped(tmp_path):
    result = _fit(tmp_path, program=FakeProgram(nan_steps=(2, 9)), steps=12, max_nonfinite=2)
    records = read_records(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records if r.get("nonfinite")] == [3, 10]
    assert int(result.state.nonfinite_total) == 2 and int(result.state.nonfinite_streak) == 0
    assert np.isfinite(host_tree(result.state.params)["G"]["w"]).all()


def test_periodic_and_custom_evaluation(tmp_path):
    calls = []

    def evaluate(compiled, state, key):
        calls.append(int(state.step))
        return {"w_norm": float(np.linalg.norm(np.asarray(state.params["G"]["w"])))}

    result = _fit(tmp_path, steps=12, eval_every=5, evaluate=evaluate)
    assert calls == [5, 10, 12]
    records = [r for r in read_records(tmp_path / "metrics.jsonl") if "eval/w_norm" in r]
    assert [r["step"] for r in records] == [5, 10, 12]
    assert result.metrics["eval/w_norm"] == pytest.approx(
        np.linalg.norm(np.asarray(result.state.params["G"]["w"]))
    )


def test_a_report_draws_into_the_run_dir_once_and_its_numbers_reach_the_summary(tmp_path):
    calls = []

    def report(compiled, state, run_dir):
        calls.append((int(state.step), run_dir))
        (run_dir / "figures").mkdir()
        (run_dir / "figures" / "w.txt").write_text(str(np.asarray(state.params["G"]["w"])))
        return {"w_sum": np.asarray(state.params["G"]["w"]).sum(),
                "per_row": np.asarray(state.params["G"]["w"]).sum(1), "nested": {"a": 1}}

    result = _fit(tmp_path, steps=8, eval_every=4, report=report)
    assert calls == [(8, tmp_path)]  # once, at the end, not at the periodic evaluation
    assert (tmp_path / "figures" / "w.txt").exists()
    w = np.asarray(result.state.params["G"]["w"])
    summary = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert summary["report/w_sum"] == pytest.approx(w.sum())
    assert summary["report/per_row"] == pytest.approx(w.sum(1).tolist())
    assert summary["report/nested"] == {"a": 1}
    with pytest.raises(ConfigError, match="report returned list"):
        _fit(tmp_path / "again", steps=2, report=lambda c, s, d: [1.0])


def test_several_batches_per_step(tmp_path):
    program = FakeProgram(batches_per_step=2)
    result = _fit(tmp_path, steps=6, program=program, steps_per_call=2, checkpoint_every=3)
    _, meta = _restore(tmp_path, 6, program)
    assert (meta["data_position"], meta["batches_per_step"]) == (12, 2)
    # fused steps of two batches each equal single steps on the same batches
    compiled = FakeCompiled(program)
    source = FakeSource()
    state = compiled.init(jax.random.key(0), None)
    for s in range(6):
        state, _ = compiled.step(state, source.batches(2 * s, 2))
    np.testing.assert_allclose(
        host_tree(result.state.params)["G"]["w"], host_tree(state.params)["G"]["w"], rtol=1e-5
    )


def test_finished_run_is_not_retrained(tmp_path, uninterrupted):
    first = _fit(tmp_path, steps_per_call=3)
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "lock"}
    again = _fit(tmp_path, steps_per_call=3)
    assert (again.resumed, again.start_step, again.step) == (True, 24, 24)
    assert again.metrics["G/loss"] == uninterrupted.metrics["G/loss"]
    assert again.metrics == json.loads(json.dumps(first.metrics))
    # left as it was: no second evaluation record, the summary's speed kept
    now = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "lock"}
    assert now == files
    with pytest.raises(CheckpointError, match="past steps=10"):
        _fit(tmp_path, steps=10, steps_per_call=3)


@pytest.mark.parametrize("bad", [{"steps": -1}, {"checkpoint_every": 0}, {"log_every": 1.5}])
def test_bad_arguments_are_config_errors(tmp_path, bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        _fit(tmp_path, **bad)


def test_signal_handlers_restored_after_errors(tmp_path):
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(NonFiniteError):
        _fit(tmp_path, program=FakeProgram(nan_steps=(0, 1)), steps=4, max_nonfinite=2)
    assert signal.getsignal(signal.SIGINT) is previous
    os.kill(os.getpid(), 0)  # the process is alive and well


def test_all_checkpoints_unreadable_starts_over(tmp_path, uninterrupted):
    _fit(tmp_path, steps=16, steps_per_call=3)
    for path in [p for p in (tmp_path / "checkpoints").rglob("*") if p.is_file()]:
        path.write_bytes(b"")
    with pytest.warns(CheckpointWarning) as warned:
        again = _fit(tmp_path, steps_per_call=3)
    assert len(warned) == 2 and not again.resumed and again.start_step == 0
    assert sorted(p.name for p in (tmp_path / "unreadable_checkpoints").iterdir()) == ["16", "8"]
    assert_trees_bitwise_equal(again.state, uninterrupted.state)


def test_a_checkpoint_of_the_old_state_layout_is_refused_with_a_clear_message(tmp_path):
    """tests/fixtures/gendsl_0_1_checkpoints: the fake program's run at step 2, written by
    gendsl 0.1 (a dataclass train state, no state_layout in its metadata)."""
    shutil.copytree(Path(__file__).parent / "fixtures" / "gendsl_0_1_checkpoints",
                    tmp_path / "checkpoints")
    with pytest.raises(CheckpointError, match=r"gendsl 0\.1\.0 in an older layout of the "
                                              r"train state .*new run directory"):
        _fit(tmp_path, steps=4)
    assert (tmp_path / "checkpoints" / "2").is_dir()  # left as it was


def test_fit_names_an_unknown_setting_and_a_non_stepper(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting 'checkpoint_evry'.*checkpoint_every"):
        _fit(tmp_path, checkpoint_evry=3)
    with pytest.raises(ConfigError, match="lacks .*abstract_state.*phases"):
        fit(object(), FakeSource(), steps=2, run_dir=tmp_path, progress=False)


def test_a_second_run_in_the_same_directory_is_refused_naming_the_holder(tmp_path):
    """The first run waits before its batch 4 until the test opens a gate (a file), so it
    holds the lock for as long as the test needs; then it stops itself with SIGTERM after
    step 8 (GENDSL_FAULT). Nothing races the clock."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           "GENDSL_FAULT": "sigterm@8"}
    gate = tmp_path.parent / f"{tmp_path.name}-gate"
    first = subprocess.Popen([sys.executable, str(ROOT / "tests" / "run_fakes.py"), "fit",
                              str(tmp_path), "--steps", "1200", "--log-every", "2",
                              "--gate", str(gate), "--gate-at", "4"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120   # only a bound on a broken run, not a race
        while RunDirLock(tmp_path).holder().get("pid") != first.pid:
            assert first.poll() is None, first.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.05)
        with pytest.raises(RunDirLockedError, match=rf"in use by another run \(pid {first.pid} on "):
            _fit(tmp_path, steps=8)
        gate.write_text("")
        _, err = first.communicate(timeout=120)
    finally:
        gate.write_text("")
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 143, err[-2000:]
    steps = [r["step"] for r in read_records(tmp_path / "metrics.jsonl")]
    assert steps == [2, 4, 6, 8]                           # one writer, no duplicates
    assert RunDirLock(tmp_path).holder() == {}             # released on the way out
    resumed = _fit(tmp_path, steps=12)                     # and the directory is usable
    assert resumed.resumed and resumed.start_step == 8


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    (tmp_path / "lock").write_text(json.dumps({"pid": 2 ** 22 + 7, "host": "gone",
                                               "since": "2026-01-01T00:00:00"}))
    with caplog.at_level(logging.INFO, logger="gendsl.run"):
        result = _fit(tmp_path, steps=4)
    assert result.step == 4
    assert "taking over the lock" in caplog.text and str(2 ** 22 + 7) in caplog.text
