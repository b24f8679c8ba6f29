"""GENDSL_FAULT, the deterministic fault injection of kill and resume tests: parsing, the
step a fault fires at, and a stop at a step boundary that resumes bit for bit."""

from __future__ import annotations

import json
import signal

import pytest
from run_fakes import FakeCompiled, FakeProgram, FakeSource, assert_trees_bitwise_equal

from gendsl.errors import ConfigError, TrainingInterrupted
from gendsl.run import CheckpointStore, fit
from gendsl.run.fault import ENV_VAR, Fault, faults_from_env, parse_faults
from gendsl.run.metrics_log import read_records


def _fit(run_dir, *, steps=24, program=FakeProgram(), **kw):
    options = dict(steps_per_call=3, checkpoint_every=8, log_every=4, progress=False,
                   num_eval_samples=100)
    options.update(kw)
    return fit(FakeCompiled(program), FakeSource(), steps=steps, run_dir=run_dir, **options)


def test_parse_faults_reads_actions_steps_and_lists():
    assert parse_faults("sigterm@120") == (Fault("sigterm", 120),)
    assert parse_faults(" KILL9@3 ,sigint@5,") == (Fault("kill9", 3), Fault("sigint", 5))
    assert [f.signal_number for f in parse_faults("sigterm@1,sigint@1,kill9@1")] == [
        signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
    assert faults_from_env({}) is None and faults_from_env({ENV_VAR: " "}) is None
    assert faults_from_env({ENV_VAR: "sigterm@2"}) == (Fault("sigterm", 2),)


@pytest.mark.parametrize("text", ["sigterm", "sigterm@", "sigterm@0", "sigterm@-3",
                                  "sigterm@1.5", "sighup@10", "@10", "10@sigterm"])
def test_a_malformed_fault_is_a_config_error_naming_the_variable(text):
    with pytest.raises(ConfigError, match=rf"GENDSL_FAULT={text!r}: entry .* is not "
                                          r"ACTION@STEP .*sigterm, sigint, kill9"):
        parse_faults(text)


@pytest.mark.parametrize("previous, step, due", [(0, 3, False), (3, 6, True), (5, 6, True),
                                                 (4, 8, True), (6, 7, False), (6, 9, False)])
def test_a_fault_is_due_in_the_chunk_that_reaches_its_step(previous, step, due):
    assert Fault("sigterm", 6).due(previous, step) is due


def test_a_malformed_fault_stops_the_run_before_it_trains(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "sigterm@soon")
    with pytest.raises(ConfigError, match="GENDSL_FAULT='sigterm@soon'"):
        _fit(tmp_path)
    assert not (tmp_path / "checkpoints").exists() or not any(
        p.name.isdigit() for p in (tmp_path / "checkpoints").iterdir())


@pytest.mark.parametrize("fault, stopped_at", [("sigterm@6", 6), ("sigterm@7", 8), ("sigterm@10", 12),
                                               ("sigint@8", 8)])
def test_a_fault_stops_the_run_at_the_first_boundary_at_or_after_its_step(
        tmp_path, monkeypatch, fault, stopped_at):
    """steps_per_call=3 and checkpoint_every=8: boundaries at 3, 6, 8, 9, 12, ..."""
    monkeypatch.setenv(ENV_VAR, fault)
    with pytest.raises(TrainingInterrupted) as stopped:
        _fit(tmp_path)
    name = fault.split("@")[0].upper()
    assert stopped.value.step == stopped_at
    assert stopped.value.exit_code == 128 + signal.Signals[name].value
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["status"], summary["step"]) == ("interrupted", stopped_at)
    with CheckpointStore(tmp_path / "checkpoints") as store:
        assert store.latest() == stopped_at


def test_a_run_stopped_by_a_fault_resumes_bit_for_bit(tmp_path, monkeypatch):
    """Step 7 is non-finite and falls between syncs (log_every 4, chunks of 1): the
    stop at step 7 must still log it, so the resumed log equals the uninterrupted one."""
    program = FakeProgram(nan_steps=(6,))           # 0-based: the step that ends at 7
    reference = _fit(tmp_path / "reference", program=program, steps_per_call=1)
    monkeypatch.setenv(ENV_VAR, "sigterm@7")
    with pytest.raises(TrainingInterrupted, match="SIGTERM: saved a checkpoint at step 7"):
        _fit(tmp_path / "stopped", program=program, steps_per_call=1)
    assert [r["step"] for r in read_records(tmp_path / "stopped" / "metrics.jsonl")
            if r.get("nonfinite")] == [7]
    monkeypatch.delenv(ENV_VAR)
    resumed = _fit(tmp_path / "stopped", program=program, steps_per_call=1)
    assert (resumed.resumed, resumed.start_step, resumed.step) == (True, 7, 24)
    assert_trees_bitwise_equal(resumed.state, reference.state)
    assert read_records(tmp_path / "stopped" / "metrics.jsonl") == read_records(
        tmp_path / "reference" / "metrics.jsonl")
