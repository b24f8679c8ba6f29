"""The tools around a run: ``gd.load_run``, ``gendsl sample``, ``eval``, ``runs``,
``--version``, ``--devices``, the default run directory and ``--set`` placement.

The subprocess tests run ``python -m gendsl.cli`` (what the ``gendsl`` console script
calls) with this checkout on ``PYTHONPATH``, on one small GAN trained once per module;
``test_the_installed_entry_point`` runs the ``gendsl`` script itself when installed.
The in-process tests use the runner's stand-ins (tests/run_fakes.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
from run_fakes import fake_compile

import gendsl as gd
from gendsl.cli import main, split_set_arguments
from gendsl.errors import CheckpointError, CheckpointMismatchError, ConfigError
from gendsl.run.lock import RunDirLock

pytestmark = pytest.mark.xdist_group("test_cli_tools")  # one worker, so its fixtures are built once

ROOT = Path(__file__).resolve().parents[1]
FAKE_PROGRAM = str(ROOT / "tests" / "run_fake_program.py")

TINY_GAN = textwrap.dedent('''
    """A small GAN on the ring of 8 Gaussians, for the CLI tools' tests."""
    import numpy as np
    import optax

    import gendsl as gd
    from gendsl import losses as L

    DEFAULTS = {"steps": 20, "batch_size": 64, "steps_per_call": 5, "checkpoint_every": 10,
                "log_every": 10, "num_eval_samples": 512, "lr": 2e-3,
                "report_devices": False}


    def devices_used(compiled, state, key):
        """Evaluation that reports the devices the program was compiled for."""
        return {"devices": 1 if compiled.mesh is None else compiled.mesh.size}


    def build(cfg):
        adam = optax.adam(cfg.lr, b1=0.5)
        G = gd.player("G", lambda r: gd.nn.MLP(4, (16,), 2, rngs=r), adam)
        D = gd.player("D", lambda r: gd.nn.MLP(2, (16,), 1, rngs=r), adam)
        x, z = gd.data("x"), gd.latent("z", 4)
        fake = gd.named("fake", G(z))
        program = gd.program({D: L.nonsaturating_d(D(x), D(fake)),
                              G: L.nonsaturating_g(D(fake))},
                             gd.alternating(D=1, G=1), samples=fake)
        source = gd.datasets.ring8(batch_size=cfg.batch_size, seed=cfg.seed)
        return gd.Experiment(program, source,
                             evaluate=devices_used if cfg.report_devices else None)
''')


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "JAX_PLATFORMS": "cpu", **extra}


def _gendsl(*args: str, cwd: Path, env: dict[str, str] | None = None,
            script: list[str] | None = None) -> subprocess.CompletedProcess:
    command = [*(script or [sys.executable, "-m", "gendsl.cli"]), *args]
    done = subprocess.run(command, cwd=cwd, env=env or _env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="session")  # one worker (xdist_group): built once
def trained(tmp_path_factory):
    """A finished run of TINY_GAN, started as ``gendsl run --set lr=1e-3 PROGRAM``
    (``--set`` before the program path) in the default run directory."""
    work = tmp_path_factory.mktemp("tools")
    (work / "tiny_gan.py").write_text(TINY_GAN)
    done = _gendsl("run", "--set", "lr=1e-3", "tiny_gan.py", "--no-progress", cwd=work)
    run_dir = work / "runs" / "tiny_gan" / "lr=0.001"
    assert f"run directory {Path('runs/tiny_gan/lr=0.001')}" in done.stdout
    return work, run_dir


# -- through the command line (subprocesses) ----------------------------------------------

def test_version_prints_the_project_version(tmp_path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _gendsl("--version", cwd=tmp_path).stdout == f"gendsl {project}\n"
    assert gd.__version__ == project


def test_a_new_run_records_its_program(trained):
    work, run_dir = trained
    record = json.loads((run_dir / "program.json").read_text())
    assert record == {"program": str(work / "tiny_gan.py"), "assignments": ["lr=1e-3"],
                      "gendsl_version": gd.__version__}
    assert json.loads((run_dir / "config.json").read_text())["lr"] == 1e-3


def test_sample_writes_the_checkpoints_samples(trained, tmp_path):
    work, run_dir = trained
    before = _snapshot(run_dir)
    done = _gendsl("sample", str(run_dir), "-n", "300", "-o", str(tmp_path / "s.npz"),
                   "--step", "10", cwd=work)
    assert "wrote 300 samples" in done.stdout and "at step 10" in done.stdout
    samples = np.load(tmp_path / "s.npz")["samples"]
    run = gd.load_run(run_dir, step=10)
    assert samples.shape == (300, 2)
    np.testing.assert_array_equal(samples, run.sample(300))   # the run's eval key at step 10
    assert not np.array_equal(samples, gd.load_run(run_dir).sample(300))  # step 20 differs
    assert _snapshot(run_dir) == before


def test_eval_reproduces_the_runs_final_evaluation(trained, tmp_path):
    work, run_dir = trained
    before = _snapshot(run_dir)
    out = tmp_path / "metrics.json"
    _gendsl("eval", str(run_dir), "-o", str(out), cwd=work)
    written = json.loads(out.read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    final = {k: v for k, v in summary["metrics"].items() if k.startswith("eval/")}
    assert {"eval/modes_covered", "eval/high_quality_fraction"} <= set(final)
    assert written == {"run_dir": str(run_dir), "step": 20,
                       "fingerprint": summary["fingerprint"], "metrics": final}
    assert _snapshot(run_dir) == before


def test_runs_lists_run_dirs_with_status_step_fingerprint_metrics(trained):
    work, run_dir = trained
    summary = json.loads((run_dir / "summary.json").read_text())
    (work / "runs" / "tiny_gan" / "unfinished").mkdir()
    (work / "runs" / "tiny_gan" / "unfinished" / "config.json").write_text("{}")
    lines = _gendsl("runs", cwd=work).stdout.splitlines()
    assert lines[0].split() == ["run", "status", "step", "fingerprint", "metrics"]
    row = next(line.split() for line in lines if line.startswith("runs/tiny_gan/lr=0.001"))
    assert row[1:4] == ["completed", "20", summary["fingerprint"]]
    assert any(cell.startswith("modes_covered=") for cell in row[4:])
    assert any(line.split()[:3] == ["runs/tiny_gan/unfinished", "incomplete", "-"]
               for line in lines)


def test_the_installed_entry_point(trained):
    work, run_dir = trained
    script = shutil.which("gendsl", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if script is None:
        pytest.skip("the gendsl console script is not installed (pip install -e .)")
    done = _gendsl("runs", "runs", cwd=work, script=[script])   # PYTHONPATH: this checkout
    assert "runs/tiny_gan/lr=0.001" in done.stdout and "completed" in done.stdout


@pytest.mark.slow
def test_devices_trains_data_parallel(trained):
    work, _ = trained
    done = _gendsl("run", "tiny_gan.py", "--devices", "2", "--no-progress", "--steps", "4",
                   "--set", "report_devices=true", "--run-dir", "two", cwd=work,
                   env=_env(JAX_NUM_CPU_DEVICES="2"))
    summary = json.loads((work / "two" / "summary.json").read_text())
    assert summary["metrics"]["eval/devices"] == 2 and summary["step"] == 4, done.stdout


# -- in process, with the runner's stand-ins ------------------------------------------------

def _run(*argv: str) -> int:
    return main(list(argv), compile_fn=fake_compile)


@pytest.fixture
def fake_run(tmp_path):
    run_dir = tmp_path / "run"
    assert _run("run", FAKE_PROGRAM, "--run-dir", str(run_dir), "--no-progress",
                "--steps", "12", "--set", "lr=0.02") == 0
    return run_dir


def test_load_run_restores_samples_and_evaluates_without_writing(fake_run):
    # a save in progress (Orbax's temporary folder) of a run training in the directory
    saving = fake_run / "checkpoints" / "18.orbax-checkpoint-tmp-1754000000000000"
    saving.mkdir()
    (saving / "partial").write_bytes(b"half written")
    before = _snapshot(fake_run)
    run = gd.load_run(fake_run, compile_fn=fake_compile)
    assert isinstance(run, gd.LoadedRun) and run.step == 12 and run.config.lr == 0.02
    assert isinstance(run.config.nan_steps, tuple)     # JSON lists back to the default's type
    summary = json.loads((fake_run / "summary.json").read_text())
    assert run.fingerprint == summary["fingerprint"]
    final = {k: v for k, v in summary["metrics"].items() if k.startswith("eval/")}
    assert run.evaluate() == final
    assert run.sample(7).shape == (7, 2)
    np.testing.assert_array_equal(run.sample(7, key=3), run.sample(7, key=3))
    assert not np.array_equal(run.sample(7, key=3), run.sample(7, key=4))
    older = gd.load_run(fake_run, step=6, compile_fn=fake_compile)
    assert older.step == 6 and int(older.state.step) == 6
    assert _snapshot(fake_run) == before


def test_load_run_refuses_what_it_cannot_load(fake_run, tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 7; .* steps 6, 12"):
        gd.load_run(fake_run, step=7, compile_fn=fake_compile)
    changed = tmp_path / "changed.py"   # the program file changed since the run
    changed.write_text(Path(FAKE_PROGRAM).read_text().replace("lr=cfg.lr", "lr=2 * cfg.lr"))
    with pytest.raises(CheckpointMismatchError, match="changed since the run"):
        gd.load_run(fake_run, program=changed, compile_fn=fake_compile)
    (fake_run / "program.json").unlink()
    with pytest.raises(ConfigError, match=r"program.json does not exist.*program=\.\.\."):
        gd.load_run(fake_run, compile_fn=fake_compile)
    assert gd.load_run(fake_run, program=FAKE_PROGRAM, compile_fn=fake_compile).step == 12


def test_program_json_is_never_replaced(fake_run):
    assert _run("run", FAKE_PROGRAM, "--run-dir", str(fake_run), "--no-progress",
                "--steps", "18", "--set", "lr=0.02", "name=fake") == 0
    assert json.loads((fake_run / "program.json").read_text())["assignments"] == [
        "lr=0.02", "steps=12"]


def test_eval_prints_the_metrics(fake_run, capsys):
    assert _run("eval", str(fake_run), "--step", "6") == 0
    out = capsys.readouterr().out
    assert f"{fake_run} at step 6" in out and "eval/mean_error" in out


def test_the_default_run_dir_depends_on_identity_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the tutorial's path: the defaults, then --set of a program key, then more steps
    assert _run("run", FAKE_PROGRAM, "--no-progress", "--steps", "2") == 0
    assert _run("run", "--set", "lr=2e-2", FAKE_PROGRAM, "--no-progress", "--steps", "2",
                "--seed", "3") == 0
    assert _run("run", FAKE_PROGRAM, "--no-progress", "--steps", "4",
                "--set", "lr=0.05", "checkpoint_every=2") == 0   # lr=0.05 is the default
    base = tmp_path / "runs" / "run_fake_program"
    assert json.loads((base / "summary.json").read_text())["step"] == 4
    assert json.loads((base / "lr=0.02,seed=3" / "summary.json").read_text())["step"] == 2


def test_set_takes_only_key_value_tokens():
    assert split_set_arguments(["run", "--set", "lr=1e-3", "p.py", "--steps", "3"]) == [
        "run", "--set", "lr=1e-3", "p.py", "--steps", "3"]
    assert split_set_arguments(["run", "p.py", "--set", "a=1", "b=2", "--set=c=3", "d=4"]) == [
        "run", "p.py", "--set", "a=1", "--set", "b=2", "--set=c=3", "--set", "d=4"]
    assert split_set_arguments(["run", "--set", "lr", "p.py"]) == ["run", "--set", "lr", "p.py"]


def test_devices_beyond_the_available_is_a_config_error(tmp_path, capsys):
    assert _run("run", FAKE_PROGRAM, "--run-dir", str(tmp_path), "--devices", "64") == 2
    err = capsys.readouterr().err
    assert "--devices 64" in err and "JAX_NUM_CPU_DEVICES=64" in err
    assert not (tmp_path / "checkpoints").exists()


def test_runs_reports_running_and_empty_and_missing(fake_run, tmp_path, capsys):
    with RunDirLock(fake_run):
        assert _run("runs", str(tmp_path)) == 0
        assert f"{fake_run}  running" in capsys.readouterr().out
    assert _run("runs", str(tmp_path)) == 0
    assert f"{fake_run}  completed" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert _run("runs", str(tmp_path / "empty")) == 0
    assert "no run directories under" in capsys.readouterr().out
    assert _run("runs", str(tmp_path / "nowhere")) == 2
    assert "is not a directory" in capsys.readouterr().err
