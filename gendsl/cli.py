"""The ``gendsl`` command line: ``gendsl run PROGRAM.py`` and ``gendsl show PROGRAM.py``.

Exit status: 0 on success; 1 when training stops on an error (non-finite streak, a
checkpoint of another program, ...); 2 for a bad command line, program file or
``--set`` override; ``128 + signal`` (130 for SIGINT, 143 for SIGTERM) when a signal
stopped training after saving a checkpoint. See docs/running.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from gendsl.errors import ConfigError, GendslError, TrainingInterrupted


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gendsl`` command."""
    parser = argparse.ArgumentParser(
        prog="gendsl", description="Run and inspect gendsl objective programs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_program(command: argparse.ArgumentParser) -> None:
        command.add_argument("program", metavar="PROGRAM.py",
                             help="a program file defining DEFAULTS and build(cfg)")
        command.add_argument("--set", dest="assignments", action="extend", nargs="+",
                             default=[], metavar="KEY=VALUE",
                             help="override config keys, e.g. --set lr=3e-4 hidden=64,64")

    run = commands.add_parser("run", help="train a program (resumes if the run directory "
                              "holds checkpoints of it)")
    add_program(run)
    run.add_argument("--steps", type=int, help="train to this step (config key steps)")
    run.add_argument("--run-dir", type=Path,
                     help="the run directory (default: runs/<program file name>)")
    run.add_argument("--seed", type=int, help="the random seed (config key seed)")
    run.add_argument("--checkpoint-every", type=int,
                     help="checkpoint period in steps (config key checkpoint_every)")
    run.add_argument("--allow-changes", action="store_true",
                     help="resume even though the config or program changed; the change is "
                     "recorded in RUN_DIR/config_history.jsonl")
    run.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")
    run.set_defaults(handler=_run)

    show = commands.add_parser("show", help="print a program and its fingerprint")
    add_program(show)
    show.set_defaults(handler=_show)
    return parser


def main(argv: Sequence[str] | None = None, *, compile_fn: Callable[..., Any] | None = None) -> int:
    """Runs the ``gendsl`` command.

    Args:
      argv: the arguments (default: ``sys.argv[1:]``).
      compile_fn: replaces ``gendsl.compiler.compile`` (for tests).

    Returns:
      the exit status (see the module docstring).
    """
    args = build_parser().parse_args(argv)
    _show_runner_messages()
    try:
        return args.handler(args, compile_fn)
    except TrainingInterrupted as stopped:
        print(f"gendsl: {stopped}", file=sys.stderr)
        return stopped.exit_code
    except ConfigError as error:
        print(f"gendsl: error: {error}", file=sys.stderr)
        return 2
    except GendslError as error:
        print(f"gendsl: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


class _StderrHandler(logging.Handler):
    """Prints log records to whatever ``sys.stderr`` is when they are emitted."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"gendsl: {record.getMessage()}", file=sys.stderr)


def _show_runner_messages() -> None:
    """Sends the runner's info messages (e.g. "resuming from ...") to stderr, once."""
    logger = logging.getLogger("gendsl")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
        logger.setLevel(logging.INFO)


def _load(args: argparse.Namespace, extra: Sequence[str] = ()):
    from gendsl.run.program_file import build_experiment, load_program_file, program_config

    module = load_program_file(args.program)
    cfg = program_config(module, [*args.assignments, *extra])
    return cfg, build_experiment(module, cfg)


def _compile_fn(compile_fn: Callable[..., Any] | None) -> Callable[..., Any]:
    from gendsl.compiler import compile

    return compile_fn or compile


def _run(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.experiments import run_experiment

    flags = {"steps": args.steps, "seed": args.seed, "checkpoint_every": args.checkpoint_every}
    cfg, experiment = _load(args, [f"{k}={v}" for k, v in flags.items() if v is not None])
    run_dir = args.run_dir or Path("runs") / Path(args.program).stem
    print(f"gendsl: run directory {run_dir}", flush=True)
    result = run_experiment(experiment, cfg, run_dir, progress=not args.no_progress,
                            allow_changes=args.allow_changes,
                            compile_fn=_compile_fn(compile_fn))
    resumed = f", resumed from step {result.start_step}" if result.resumed else ""
    print(f"gendsl: trained to step {result.step}{resumed} in {result.wall_time_s:.1f} s")
    print(format_metrics(result.metrics))
    print(f"gendsl: summary in {run_dir / 'summary.json'}, samples in {run_dir / 'samples.png'}")
    return 0


def _show(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.terms.program import Program
    from gendsl.terms.show import show

    cfg, experiment = _load(args)
    program = experiment.program
    print(show(program) if isinstance(program, Program) else repr(program))
    compiled = _compile_fn(compile_fn)(program, mesh=experiment.mesh)
    print(f"fingerprint: {compiled.fingerprint}")
    return 0


def format_metrics(metrics: dict[str, Any]) -> str:
    """Metrics as an aligned two-column table.

    >>> print(format_metrics({"G/loss": 0.25, "eval/modes": 8}))
    G/loss      0.25
    eval/modes  8
    """
    if not metrics:
        return "(no metrics)"
    width = max(len(name) for name in metrics) + 2
    return "\n".join(
        f"{name:<{width}}{value:.6g}" if isinstance(value, float) else f"{name:<{width}}{value}"
        for name, value in metrics.items()
    )


if __name__ == "__main__":
    sys.exit(main())
