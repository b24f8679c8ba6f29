"""The gendsl command line: run, show, --set parsing, errors and exit codes."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from run_fakes import FakeCompiled, FakeProgram, fake_compile

from gendsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = str(ROOT / "tests" / "run_fake_program.py")


def _main(*argv):
    return main(list(argv), compile_fn=fake_compile)


def test_run_trains_and_reports(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = _main("run", PROGRAM, "--run-dir", str(run_dir), "--no-progress", "--steps", "8",
                 "--set", "lr=0.02", "use_bias=no", "--set", "batch_size=16")
    out = capsys.readouterr().out
    assert code == 0
    assert f"run directory {run_dir}" in out and "trained to step 8" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["step"] == 8
    assert summary["fingerprint"] == FakeCompiled(FakeProgram(lr=0.02)).fingerprint
    assert f"{summary['metrics']['G/loss']:.6g}" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["lr"], config["use_bias"], config["batch_size"], config["steps"]) == (
        0.02, False, 16, 8)
    assert config["checkpoint_every"] == 6 and config["max_nonfinite"] == 10  # defaults


def test_run_again_resumes(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert _main("run", PROGRAM, "--run-dir", run_dir, "--no-progress", "--steps", "6") == 0
    assert _main("run", PROGRAM, "--run-dir", run_dir, "--no-progress", "--steps", "12") == 0
    captured = capsys.readouterr()
    assert "trained to step 12, resumed from step 6" in captured.out
    assert "gendsl: resuming from the checkpoint at step 6" in captured.err


def test_the_resume_message_is_printed_once(tmp_path, capsys):
    # as absl (used by Orbax) does when it first logs: a stderr handler on the root logger
    root_handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(root_handler)
    try:
        run_dir = str(tmp_path / "run")
        assert _main("run", PROGRAM, "--run-dir", run_dir, "--no-progress", "--steps", "6") == 0
        assert _main("run", PROGRAM, "--run-dir", run_dir, "--no-progress", "--steps", "8") == 0
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert capsys.readouterr().err.count("resuming from the checkpoint at step 6") == 1
    gendsl_logger = logging.getLogger("gendsl")  # left as it was
    assert gendsl_logger.propagate and not gendsl_logger.handlers


def test_the_summary_counts_the_nonfinite_steps(tmp_path, capsys):
    code = _main("run", PROGRAM, "--run-dir", str(tmp_path), "--no-progress", "--steps", "8",
                 "--set", "nan_steps=1,4")
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^nonfinite_total +2$", out, re.MULTILINE), out
    assert json.loads((tmp_path / "summary.json").read_text())["nonfinite_total"] == 2


def test_tensorboard_flag_writes_events_or_names_the_extra(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    assert _main("run", PROGRAM, "--run-dir", str(run_dir), "--no-progress", "--steps", "4",
                 "--tensorboard") == 0
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert f"tensorboard --logdir {run_dir}" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # not installed
    code = _main("run", PROGRAM, "--run-dir", str(tmp_path / "other"), "--no-progress",
                 "--tensorboard")
    err = capsys.readouterr().err
    assert code == 1
    assert "MissingExtraError: TensorBoard logging" in err
    assert 'pip install "gendsl[tensorboard]"' in err


def test_default_run_dir_is_named_after_the_program(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _main("run", PROGRAM, "--no-progress", "--steps", "2") == 0
    assert (tmp_path / "runs" / "run_fake_program" / "summary.json").is_file()


@pytest.mark.parametrize(
    "assignment, expected",
    [
        ("lrr=0.1", "Unknown config key 'lrr'; valid keys: batch_size, checkpoint_every"),
        ("steps=abc", "--set steps=abc: expected an integer"),
        ("use_bias=maybe", "expected a boolean"),
        ("lr", "expected key=value"),
        ("nan_steps=[1,x]", "expected a JSON list"),
    ],
)
def test_bad_overrides_exit_2_with_a_clear_message(tmp_path, capsys, assignment, expected):
    code = _main("run", PROGRAM, "--run-dir", str(tmp_path), "--set", assignment)
    assert code == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()


def test_bad_program_files_exit_2(tmp_path, capsys):
    assert _main("run", str(tmp_path / "nope.py")) == 2
    assert "does not exist" in capsys.readouterr().err
    no_build = tmp_path / "no_build.py"
    no_build.write_text("DEFAULTS = {}\n")
    assert _main("run", str(no_build)) == 2
    assert "has no build(cfg) function" in capsys.readouterr().err


def test_nonfinite_stop_exits_1(tmp_path, capsys):
    code = _main("run", PROGRAM, "--run-dir", str(tmp_path), "--no-progress",
                 "--set", "nan_steps=0,1,2,3", "max_nonfinite=2")
    assert code == 1
    assert "NonFiniteError" in capsys.readouterr().err


def test_changed_config_in_run_dir_exits_1(tmp_path, capsys):
    run_dir = str(tmp_path)
    assert _main("run", PROGRAM, "--run-dir", run_dir, "--no-progress", "--steps", "6") == 0
    code = _main("run", PROGRAM, "--run-dir", run_dir, "--no-progress", "--set", "lr=0.5")
    err = capsys.readouterr().err
    assert code == 1 and "ConfigChangedError" in err and "lr: 0.05 -> 0.5" in err
    assert "--allow-changes" in err
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == 0.05  # kept


def test_show_prints_program_and_fingerprint(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gendsl.terms", None)  # show() falls back to repr
    assert _main("show", PROGRAM, "--set", "lr=0.25") == 0
    out = capsys.readouterr().out
    assert "FakeProgram(lr=0.25" in out
    assert f"fingerprint: {FakeCompiled(FakeProgram(lr=0.25)).fingerprint}" in out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["run"])
    assert exited.value.code == 2


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    env["GENDSL_FAULT"] = "sigterm@10"    # the run signals itself after step 10
    command = [sys.executable, str(ROOT / "tests" / "run_fakes.py"), "cli", "run", PROGRAM,
               "--run-dir", str(run_dir), "--no-progress",
               "--set", "steps=100000", "checkpoint_every=10"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr[-3000:]
    assert "Received SIGTERM: saved a checkpoint at step 10 " in done.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["step"]) == ("interrupted", 10)
    saved = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert saved == [10]


def test_show_prints_a_staged_program_as_math(capsys):
    root = Path(__file__).resolve().parents[1]
    assert main(["show", str(root / "programs" / "simvae_blobs.py")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stages (") and "stage decoder: steps 0.." in out
    assert "StagedProgram(" not in out
