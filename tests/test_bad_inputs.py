"""Malformed program files, configs, data files and run directories (issue 9).

Every row of :data:`CASES` is run twice: through ``gendsl.cli.main`` in this process
(exit code; stderr holds exactly one ``gendsl:`` line, matching the row's pattern, and no
traceback) and through the Python API (the row's exception class). Either way a run
directory that existed before is left byte-identical, and one that did not is not
created. A few rows also run in a real ``gendsl`` process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from run_fakes import fake_compile

from gendsl.cli import build_parser, main
from gendsl.errors import (
    CheckpointError,
    CheckpointMismatchError,
    ConfigChangedError,
    ConfigError,
    DataError,
    NonFiniteError,
    ProgramFileError,
    RunDirError,
    RunDirLockedError,
)
from gendsl.experiments import run_experiment
from gendsl.run.config import UnknownConfigKeyError
from gendsl.run.lock import RunDirLock
from gendsl.run.metrics_log import read_records
from gendsl.run.program_file import build_experiment, load_program_file, program_config

pytestmark = pytest.mark.xdist_group("test_bad_inputs")  # one worker, so its fixtures are built once

ROOT = Path(__file__).resolve().parents[1]
ROOT_USER = os.geteuid() == 0

GOOD = """\
from run_fakes import FakeProgram, FakeSource
from gendsl.run import Experiment

DEFAULTS = {"steps": 4, "log_every": 2, "checkpoint_every": 2, "lr": 0.05,
            "nan_steps": (), "use_bias": True, "name": "fake"}

def build(cfg):
    program = FakeProgram(lr=cfg.lr, nan_steps=tuple(cfg.nan_steps), name=cfg.name)
    return Experiment(program=program, source=FakeSource(batch_size=16))
"""

DATA = """\
from pathlib import Path
from run_fakes import FakeProgram
from gendsl.datasets import arrays
from gendsl.run import Experiment

DEFAULTS = {"steps": 4, "batch_size": 8, "data": "data.npz", "fields": ("x",)}

def build(cfg):
    source = arrays(Path(__file__).parent / cfg.data, cfg.batch_size, fields=list(cfg.fields))
    return Experiment(program=FakeProgram(), source=source)
"""


def _program(body: str) -> str:
    return "from run_fakes import FakeProgram, FakeSource\nfrom gendsl.run import Experiment\n" \
        + textwrap.dedent(body)


def _npz(**fields) -> Callable[[Path], None]:
    return lambda path: np.savez(path, **fields)


def _points(bad_rows=()) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    x[list(bad_rows), 0] = np.nan
    return x


def _write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


@dataclasses.dataclass(frozen=True)
class Case:
    """One malformed input.

    Attributes:
      id: the test id.
      argv: the arguments after ``gendsl run``; ``{prog}``, ``{dir}`` and ``{tmp}`` are
        the program file, the run directory and the test's directory.
      code: the exit status.
      error: the exception class the Python API raises (exactly this class).
      line: a regex the one ``gendsl:`` line on stderr must match (``re.search``).
      program: the program file's text (``None``: none is written).
      files: ``{name: writer(path)}`` of further files to create in the test directory.
      run_dir: how the run directory starts: ``"none"`` (does not exist), ``"trained"``
        (a completed 4-step run of GOOD), ``"file"``, ``"read_only"``,
        ``"read_only_parent"``, ``"read_only_checkpoints"``, ``"future_layout"``,
        ``"locked"`` or ``"nonfinite"`` (GOOD stopped on non-finite steps at step 2).
    """

    id: str
    argv: tuple[str, ...]
    code: int
    error: type
    line: str
    program: str | None = GOOD
    files: dict = dataclasses.field(default_factory=dict)
    run_dir: str = "none"


NAN_ARGS = ("--set", "nan_steps=0,1,2,3", "max_nonfinite=2")
RUN = ("{prog}", "--run-dir", "{dir}", "--no-progress")

CASES = [
    # -- program files ----------------------------------------------------------------
    Case("missing-file", ("{tmp}/nope.py", "--run-dir", "{dir}"), 2, ConfigError,
         r"^gendsl: error: Program file '.*nope\.py' does not exist; .*e\.g\. "
         r"programs/gan_mog\.py\.$", program=None),
    Case("directory", ("{tmp}", "--run-dir", "{dir}"), 2, ConfigError,
         r"Program file '.*' is a directory \(it holds prog\.py, \.\.\.\); give the path "
         r"of a \.py file in it"),
    Case("not-py", ("{tmp}/prog.txt", "--run-dir", "{dir}"), 2, ConfigError,
         r"prog\.txt' is not a \.py file", files={"prog.txt": _write_bytes(b"DEFAULTS={}")}),
    Case("syntax-error", RUN, 2, ProgramFileError,
         r"^gendsl: error: /.*prog\.py:4: SyntaxError: .* \(raised while importing it; "
         r"fix the program file, or set GENDSL_TRACEBACK=1",
         program=_program("DEFAULTS = {}\ndef build(cfg)\n    return None\n")),
    Case("name-error-at-import", RUN, 2, ProgramFileError,
         r"prog\.py:4: NameError: name 'nn' is not defined \(raised while importing it",
         program=_program("DEFAULTS = {}\nlayer = nn.Linear(2, 2)\n")),
    Case("error-in-defaults", RUN, 2, ProgramFileError,
         r"prog\.py:3: ZeroDivisionError: division by zero",
         program=_program("DEFAULTS = {'lr': 1 / 0}\n")),
    Case("missing-import", RUN, 2, ProgramFileError,
         r"prog\.py:3: ModuleNotFoundError: No module named 'not_a_module_xyz'",
         program=_program("import not_a_module_xyz\n")),
    Case("missing-defaults", RUN, 2, ConfigError, r"has no DEFAULTS dict",
         program=_program("def build(cfg):\n    return None\n")),
    Case("defaults-not-a-dict", RUN, 2, ConfigError,
         r"DEFAULTS in '.*prog\.py' must be a dict with string keys, got list",
         program=_program("DEFAULTS = [1]\ndef build(cfg):\n    return None\n")),
    Case("defaults-int-keys", RUN, 2, ConfigError, r"must be a dict with string keys",
         program=_program("DEFAULTS = {1: 2}\ndef build(cfg):\n    return None\n")),
    Case("no-build", RUN, 2, ConfigError, r"has no build\(cfg\) function",
         program=_program("DEFAULTS = {}\n")),
    Case("build-not-callable", RUN, 2, ConfigError, r"has no build\(cfg\) function",
         program=_program("DEFAULTS = {}\nbuild = 3\n")),
    Case("build-returns-none", RUN, 2, ConfigError,
         r"build\(cfg\) in '.*prog\.py' returned NoneType; it must return gd\.Experiment",
         program=_program("DEFAULTS = {}\ndef build(cfg):\n    return None\n")),
    Case("build-raises", RUN, 2, ProgramFileError,
         r"^gendsl: error: /.*prog\.py:6 in build: KeyError: 'hidden' \(raised by "
         r"build\(cfg\)",
         program=_program("DEFAULTS = {}\ndef build(cfg):\n    sizes = {}\n"
                          "    return sizes['hidden']\n")),
    Case("name-error-in-build", RUN, 2, ProgramFileError,
         r"prog\.py:5 in build: NameError: name 'optax' is not defined",
         program=_program("DEFAULTS = {}\ndef build(cfg):\n    return optax.adam(1)\n")),
    Case("error-in-a-helper", RUN, 2, ProgramFileError,
         r"prog\.py:5 in make_source: ValueError: batch_size must be even",
         program=_program("DEFAULTS = {}\ndef make_source(n):\n"
                          "    raise ValueError('batch_size must be even')\n"
                          "def build(cfg):\n    return make_source(3)\n")),
    Case("build-takes-no-cfg", RUN, 2, ProgramFileError,
         r"prog\.py: TypeError: build\(\) takes 0 positional arguments but 1 was given",
         program=_program("DEFAULTS = {}\ndef build():\n    return None\n")),
    Case("unknown-key-in-build", RUN, 2, UnknownConfigKeyError,
         r"^gendsl: error: Unknown config key 'lrr'; valid keys: .* \(raised from "
         r"/.*prog\.py:5 in build\)$",
         program=_program("DEFAULTS = {'lr': 0.1}\ndef build(cfg):\n    return cfg.lrr\n")),
    # -- configs: --set and the flags ---------------------------------------------------
    Case("unknown-set-key", (*RUN, "--set", "lrr=0.1"), 2, ConfigError,
         r"^gendsl: error: --set lrr=0\.1: Unknown config key 'lrr'; valid keys: "),
    Case("bad-int", (*RUN, "--set", "log_every=ten"), 2, ConfigError,
         r"--set log_every=ten: expected an integer, e\.g\. 1000 or 1e3"),
    Case("fractional-int", (*RUN, "--set", "keep_checkpoints=2.5"), 2, ConfigError,
         r"--set keep_checkpoints=2\.5: expected an integer"),
    Case("bad-bool", (*RUN, "--set", "use_bias=maybe"), 2, ConfigError,
         r"--set use_bias=maybe: expected a boolean"),
    Case("bad-float", (*RUN, "--set", "lr=fast"), 2, ConfigError,
         r"--set lr=fast: expected a number"),
    Case("bad-list", (*RUN, "--set", "nan_steps=[1,"), 2, ConfigError,
         r"--set nan_steps=\[1,: expected a JSON list"),
    Case("set-without-equals", (*RUN, "--set", "lr"), 2, ConfigError,
         r"--set 'lr': expected key=value"),
    Case("negative-steps-flag", (*RUN, "--steps", "-5"), 2, ConfigError,
         r"^gendsl: error: --steps -5: steps must be an integer >= 0\.$"),
    Case("negative-steps-set", (*RUN, "--set", "steps=-5"), 2, ConfigError,
         r"^gendsl: error: --set steps=-5: steps must be an integer >= 0\.$"),
    Case("negative-seed", (*RUN, "--seed", "-1"), 2, ConfigError,
         r"^gendsl: error: --seed -1: seed must be an integer >= 0\.$"),
    Case("checkpoint-every-0", (*RUN, "--checkpoint-every", "0"), 2, ConfigError,
         r"^gendsl: error: --checkpoint-every 0: checkpoint_every must be an integer >= 1"),
    Case("steps-per-call-0", (*RUN, "--set", "steps_per_call=0"), 2, ConfigError,
         r"--set steps_per_call=0: steps_per_call must be an integer >= 1"),
    Case("log-every-0", (*RUN, "--set", "log_every=0"), 2, ConfigError,
         r"--set log_every=0: log_every must be an integer >= 1"),
    Case("bad-setting-in-defaults", RUN, 2, ConfigError,
         r"DEFAULTS\['max_nonfinite'\] = 0 in /.*prog\.py: max_nonfinite must be an "
         r"integer >= 1",
         program=GOOD.replace('"name": "fake"}', '"name": "fake", "max_nonfinite": 0}')),
    # -- data files ---------------------------------------------------------------------
    Case("garbage-npz", RUN, 1, DataError,
         r"^gendsl: error: DataError: '.*data\.npz' is not a valid \.npz file \(not a zip "
         r"archive of arrays\); .* \(raised from /.*prog\.py:9 in build\)$",
         program=DATA, files={"data.npz": _write_bytes(np.random.default_rng(0).bytes(256))}),
    Case("garbage-npy", (*RUN, "--set", "data=data.npy"), 1, DataError,
         r"data\.npy' is not a valid \.npy file", program=DATA,
         files={"data.npy": _write_bytes(b"\x00" * 64)}),
    Case("pickled-npy", (*RUN, "--set", "data=data.npy"), 1, DataError,
         r"cannot read '.*data\.npy' as \.npy .*object arrays need pickle", program=DATA,
         files={"data.npy": lambda p: np.save(p, np.array([{}], object), allow_pickle=True)}),
    Case("missing-data-file", RUN, 1, DataError, r"no data file at '.*data\.npz'",
         program=DATA),
    Case("npz-missing-field", (*RUN, "--set", "fields=x,y"), 1, DataError,
         r"fields \['y'\] not in '.*data\.npz'; available fields: \['x'\]", program=DATA,
         files={"data.npz": _npz(x=_points())}),
    Case("nan-rows", RUN, 1, DataError,
         r"field 'x' of '.*data\.npz' has 3 rows with NaN or infinite values \(rows 1, 5, "
         r"40 of 64\); .*allow_nonfinite=True", program=DATA,
         files={"data.npz": _npz(x=_points(bad_rows=(1, 5, 40)))}),
    Case("string-dtype", RUN, 1, DataError, r"field 'x' has dtype <U1", program=DATA,
         files={"data.npz": _npz(x=np.array(list("abcdefghij")))}),
    Case("scalar-field", RUN, 1, DataError, r"field 'x' is a scalar", program=DATA,
         files={"data.npz": _npz(x=np.float32(1.0))}),
    Case("ragged-fields", (*RUN, "--set", "fields=x,y"), 1, DataError,
         r"differ in length \{'x': 64, 'y': 10\}", program=DATA,
         files={"data.npz": _npz(x=_points(), y=np.arange(10))}),
    # -- run directories ----------------------------------------------------------------
    Case("run-dir-is-a-file", RUN, 2, RunDirError,
         r"^gendsl: error: The run directory '.*run' is a file, not a directory; give "
         r"another --run-dir", run_dir="file"),
    Case("run-dir-under-a-file", ("{prog}", "--run-dir", "{dir}/sub"), 2, RunDirError,
         r"The run directory '.*run/sub' cannot be created: '.*run' is a file",
         run_dir="file"),
    Case("read-only-run-dir", RUN, 2, RunDirError,
         r"The run directory '.*run' cannot be used: it is read-only\. Make it writable",
         run_dir="read_only"),
    Case("read-only-checkpoints", RUN, 2, RunDirError,
         r"cannot be used: '.*run/checkpoints' in it is read-only",
         run_dir="read_only_checkpoints"),
    Case("read-only-parent", ("{prog}", "--run-dir", "{dir}/new"), 2, RunDirError,
         r"The run directory '.*run/new' cannot be created: its parent '.*run' is read-only",
         run_dir="read_only_parent"),
    Case("changed-config-in-run-dir", (*RUN, "--set", "name=other"), 1,
         ConfigChangedError,
         r"^gendsl: error: ConfigChangedError: .*name: 'fake' -> 'other'.*--allow-changes",
         run_dir="trained"),
    Case("another-programs-run-dir", RUN, 1, CheckpointMismatchError,
         r"^gendsl: error: CheckpointMismatchError: The checkpoint at step 4 in .* was "
         r"written by another program", run_dir="trained",
         program=GOOD.replace("name=cfg.name)", "name=cfg.name + '2')")),
    Case("future-layout", (*RUN, "--steps", "8"), 1, CheckpointError,
         r"CheckpointError: The checkpoint at step 4 .* in a newer layout of the train "
         r"state \(state_layout 3\)", run_dir="future_layout"),
    Case("checkpoint-past-steps", (*RUN, "--steps", "2"), 1, CheckpointError,
         r"is at step 4, past steps=2", run_dir="trained"),
    Case("locked", RUN, 1, RunDirLockedError,
         rf"RunDirLockedError: .* is in use by another run \(pid {os.getpid()} ",
         run_dir="locked"),
    Case("unchanged-rerun-after-nonfinite-stop", (*RUN, *NAN_ARGS), 1, NonFiniteError,
         r"^gendsl: error: NonFiniteError: The run in .* stopped at step 2 on consecutive "
         r"non-finite steps .* Change what made the losses NaN", run_dir="nonfinite"),
]

assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
NEEDS_PERMISSIONS = {"read_only", "read_only_parent", "read_only_checkpoints"}


@pytest.fixture(scope="session")  # one worker (xdist_group): built once
def trained(tmp_path_factory):
    """A completed 4-step run of GOOD (copied for the rows that start from one)."""
    base = tmp_path_factory.mktemp("trained")
    (base / "prog.py").write_text(GOOD)
    argv = ["run", str(base / "prog.py"), "--run-dir", str(base / "run"), "--no-progress"]
    assert main(argv, compile_fn=fake_compile) == 0
    return base / "run"


def _snapshot(path: Path):
    """Every file under ``path`` with its SHA-256 (``None``: no such path)."""
    if not path.exists():
        return None
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(path.rglob("*"))}


def _prepare(case: Case, tmp: Path, trained: Path, capsys) -> tuple[list[str], Path]:
    """Writes the case's files and run directory; returns the argv and the run dir."""
    if case.program is not None:
        (tmp / "prog.py").write_text(case.program)
    for name, write in case.files.items():
        write(tmp / name)
    run_dir = tmp / "run"
    if case.run_dir == "file":
        run_dir.write_text("not a directory\n")
    elif case.run_dir in ("read_only", "read_only_parent"):
        run_dir.mkdir()
        (run_dir / "notes.txt").write_text("mine\n")
        run_dir.chmod(0o555)
    elif case.run_dir in ("trained", "future_layout", "read_only_checkpoints", "locked"):
        shutil.copytree(trained, run_dir)
        if case.run_dir == "future_layout":
            meta = run_dir / "checkpoints" / "4" / "metadata" / "metadata"
            meta.write_text(meta.read_text().replace('"state_layout": 2', '"state_layout": 3'))
        if case.run_dir == "read_only_checkpoints":
            (run_dir / "checkpoints").chmod(0o555)
    elif case.run_dir == "nonfinite":
        first = ["run", str(tmp / "prog.py"), "--run-dir", str(run_dir), "--no-progress",
                 *NAN_ARGS]
        assert main(first, compile_fn=fake_compile) == 1
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "nonfinite"
        capsys.readouterr()
    fields = {"prog": str(tmp / "prog.py"), "dir": str(run_dir), "tmp": str(tmp)}
    return [a.format(**fields) for a in case.argv], run_dir


def _python_api(argv: list[str]) -> None:
    """What ``gendsl run`` does, through the Python API (no CLI error handling)."""
    args = build_parser().parse_args(["run", *argv])
    flags = {"steps": args.steps, "seed": args.seed, "checkpoint_every": args.checkpoint_every}
    module = load_program_file(args.program)
    cfg = program_config(module, [*args.assignments,
                                  *(f"{k}={v}" for k, v in flags.items() if v is not None)])
    experiment = build_experiment(module, cfg)
    run_experiment(experiment, cfg, args.run_dir or "runs/never", progress=False,
                   compile_fn=fake_compile)


@contextlib.contextmanager
def _maybe_locked(case: Case, run_dir: Path):
    with RunDirLock(run_dir) if case.run_dir == "locked" else contextlib.nullcontext():
        yield


def _restore_permissions(tmp: Path) -> None:
    for path in [tmp, *tmp.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, trained, capsys):
    if case.run_dir in NEEDS_PERMISSIONS and ROOT_USER:
        pytest.skip("root writes to read-only directories anyway; these rows run without "
                    "root's file powers in test_read_only_run_dirs_in_a_real_process")
    argv, top = _prepare(case, tmp_path, trained, capsys)
    try:
        with _maybe_locked(case, top):
            before = _snapshot(top)
            code = main(["run", *argv], compile_fn=fake_compile)
            err = capsys.readouterr().err
            assert code == case.code, err
            lines = [line for line in err.splitlines() if line.startswith("gendsl:")]
            assert len(lines) == 1, err
            assert re.search(case.line, lines[0]), lines[0]
            assert "Traceback" not in err
            assert _snapshot(top) == before

            with pytest.raises(case.error) as raised:
                _python_api(argv)
            assert type(raised.value) is case.error
            assert _snapshot(top) == before
    finally:
        _restore_permissions(tmp_path)


def test_a_user_error_keeps_its_cause_and_a_traceback_on_request(tmp_path, capsys,
                                                                  monkeypatch):
    program = tmp_path / "prog.py"
    program.write_text(_program("DEFAULTS = {}\ndef build(cfg):\n    return nn.Linear(2)\n"))
    module = load_program_file(program)
    with pytest.raises(ProgramFileError) as raised:
        build_experiment(module, program_config(module))
    assert isinstance(raised.value.__cause__, NameError)
    assert (raised.value.path, raised.value.line) == (str(program), 5)

    monkeypatch.setenv("GENDSL_TRACEBACK", "1")
    assert main(["run", str(program), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and f'"{program}", line 5' in err
    assert err.splitlines()[-1].startswith(f"gendsl: error: {program}:5 in build: NameError")


def test_a_rerun_after_a_nonfinite_stop_goes_on_once_something_changed(tmp_path, capsys):
    (tmp_path / "prog.py").write_text(GOOD)
    run = ["run", str(tmp_path / "prog.py"), "--run-dir", str(tmp_path / "run"),
           "--no-progress", "--set", "nan_steps=0,1,2,3"]
    assert main([*run, "max_nonfinite=2"], compile_fn=fake_compile) == 1
    # more steps change nothing a step computes: still refused
    assert main([*run, "max_nonfinite=2", "steps=6"], compile_fn=fake_compile) == 1
    assert "stopped at step 2 on consecutive non-finite" in capsys.readouterr().err
    # a larger max_nonfinite is a change: the run goes on from step 2
    assert main([*run, "max_nonfinite=5"], compile_fn=fake_compile) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["status"], summary["start_step"], summary["nonfinite_total"]) == (
        "completed", 2, 4)


# -- in real processes ------------------------------------------------------------------


def _env(**extra) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
            **extra}


def _gendsl(*args) -> subprocess.CompletedProcess:
    """``gendsl ARGS`` (with the fake compiler) in a new process."""
    return subprocess.run([sys.executable, str(ROOT / "tests" / "run_fakes.py"), "cli", *args],
                          env=_env(), capture_output=True, text=True, timeout=120)


def _one_gendsl_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("gendsl:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case_id", ["syntax-error", "garbage-npz", "negative-steps-flag",
                                     "run-dir-is-a-file"])
def test_some_rows_in_a_real_process(case_id, tmp_path, capsys):
    case = next(c for c in CASES if c.id == case_id)
    argv, run_dir = _prepare(case, tmp_path, None, capsys)
    before = _snapshot(run_dir)
    done = _gendsl("run", *argv)
    assert done.returncode == case.code, done.stderr
    assert re.search(case.line, _one_gendsl_line(done.stderr))
    assert _snapshot(run_dir) == before


# Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set (prctl 24,
# PR_CAPBSET_DROP), then runs the command: root then obeys file permissions like any user.
WITHOUT_FILE_POWERS = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for capability in (1, 2):\n"
    "    if libc.prctl(24, capability, 0, 0, 0):\n"
    "        sys.exit(f'prctl failed: {os.strerror(ctypes.get_errno())}')\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


@pytest.mark.skipif(not ROOT_USER, reason="as another user test_bad_input runs these rows")
def test_read_only_run_dirs_in_a_real_process(tmp_path, trained, capsys):
    """The read-only rows in a process of root without its power over file permissions."""
    for case in [c for c in CASES if c.run_dir in NEEDS_PERMISSIONS]:
        case_dir = tmp_path / case.id
        case_dir.mkdir()
        argv, run_dir = _prepare(case, case_dir, trained, capsys)
        before = _snapshot(run_dir)
        done = subprocess.run(
            [sys.executable, "-c", WITHOUT_FILE_POWERS, str(ROOT / "tests" / "run_fakes.py"),
             "cli", "run", *argv], env=_env(), capture_output=True, text=True, timeout=120)
        _restore_permissions(case_dir)
        assert done.returncode == case.code, done.stderr
        assert re.search(case.line, _one_gendsl_line(done.stderr)), done.stderr
        assert _snapshot(run_dir) == before


def _wait_for(condition, process, what, timeout=90.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"the run never {what}"
        time.sleep(0.01)


@pytest.mark.slow
def test_a_second_sigterm_while_stopping_still_ends_cleanly(tmp_path):
    """The run sends itself two SIGTERMs after step 10 (GENDSL_FAULT, no race with the
    clock): the second one, handled while the first one's stop is under way, changes
    nothing: one message, one checkpoint at step 10, exit code 143."""
    (tmp_path / "prog.py").write_text(GOOD)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "run_fakes.py"), "cli", "run",
         str(tmp_path / "prog.py"), "--run-dir", str(run_dir), "--no-progress",
         "--steps", "100000", "--checkpoint-every", "10"],
        env=_env(GENDSL_FAULT="sigterm@10,sigterm@10"), capture_output=True,
        text=True, timeout=120)
    err = done.stderr
    assert done.returncode == 128 + signal.SIGTERM, err
    assert re.search(r"^gendsl: Received SIGTERM: saved a checkpoint at step 10 ",
                     _one_gendsl_line(err))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["step"]) == ("interrupted", 10)
    saved = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert saved == [10]


SLOW_EVAL = """\
import os, time
from pathlib import Path
from run_fakes import FakeProgram, FakeSource
from gendsl.run import Experiment

DEFAULTS = {"steps": 6, "log_every": 2, "checkpoint_every": 2}

def evaluate(compiled, state, key):
    Path(__file__).with_name("evaluating").write_text("")
    time.sleep(float(os.environ.get("FAKE_EVAL_SLEEP_S", "0")))
    return {"score": 1.0}

def build(cfg):
    return Experiment(program=FakeProgram(), source=FakeSource(batch_size=16),
                      evaluate=evaluate)
"""


@pytest.mark.slow
def test_sigterm_during_the_final_evaluation_stops_with_a_summary(tmp_path, capsys):
    (tmp_path / "prog.py").write_text(SLOW_EVAL)
    run_dir = tmp_path / "run"
    argv = ["run", str(tmp_path / "prog.py"), "--run-dir", str(run_dir), "--no-progress"]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "run_fakes.py"), "cli", *argv],
        env=_env(FAKE_EVAL_SLEEP_S="600"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        _wait_for(lambda: (tmp_path / "evaluating").exists(), process, "evaluated")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert re.search(r"^gendsl: Received SIGTERM during the final evaluation: the checkpoint "
                     r"at step 6 in .* is saved .* Run the same command again to evaluate",
                     _one_gendsl_line(err))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["step"]) == ("interrupted", 6)
    assert (run_dir / "checkpoints" / "6").is_dir()
    assert not any("eval/score" in r for r in read_records(run_dir / "metrics.jsonl"))

    # the rerun evaluates and finishes the run, without training
    assert main(argv, compile_fn=fake_compile) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["start_step"]) == ("completed", 6)
    assert [r["step"] for r in read_records(run_dir / "metrics.jsonl")
            if "eval/score" in r] == [6]
