"""The ``gendsl`` command line: ``run`` and ``show`` a program file; ``launch`` a run as
several local processes; ``sample``, ``eval`` and list (``runs``) run directories;
``--version``.

Exit status: 0 on success; 1 when a run cannot go on (non-finite streak, a checkpoint
of another program, a bad data file, a locked run directory, ...); 2 for a bad command
line, program file, ``--set`` override or run directory (a ``ConfigError``);
``128 + signal`` (130 for SIGINT, 143 for SIGTERM) when a signal stopped the run. Every
error is one ``gendsl: ...`` line on stderr; ``GENDSL_TRACEBACK=1`` also prints the
traceback. See docs/running.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from gendsl.errors import ConfigError, GendslError, TrainingInterrupted


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gendsl`` command."""
    from gendsl.run.run_info import gendsl_version

    parser = _Parser(prog="gendsl", description="Run and inspect gendsl objective programs.")
    parser.add_argument("--version", action="version", version=f"gendsl {gendsl_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_program(command: argparse.ArgumentParser) -> None:
        command.add_argument("program", metavar="PROGRAM.py",
                             help="a program file defining DEFAULTS and build(cfg)")
        command.add_argument("--set", dest="assignments", action="extend", nargs=1,
                             default=[], metavar="KEY=VALUE",
                             help="override config keys, e.g. --set lr=3e-4 hidden=64,64 "
                             "(the KEY=VALUE tokens after it; before or after PROGRAM.py)")
        command.add_argument("--devices", type=int, metavar="N",
                             help="data-parallel over the first N devices (replaces the "
                             "experiment's mesh)")

    run = commands.add_parser("run", help="train a program (resumes if the run directory "
                              "holds checkpoints of it)")
    add_program(run)
    run.add_argument("--steps", type=int, help="train to this step (config key steps)")
    run.add_argument("--run-dir", type=Path,
                     help="the run directory (default: runs/<program file name>, then "
                     "/<key=value,...> for the identity keys --set or --seed change)")
    run.add_argument("--seed", type=int, help="the random seed (config key seed)")
    run.add_argument("--checkpoint-every", type=int,
                     help="checkpoint period in steps (config key checkpoint_every)")
    run.add_argument("--allow-changes", action="store_true",
                     help="resume even though the config or program changed; the change is "
                     "recorded in RUN_DIR/config_history.jsonl")
    run.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")
    run.add_argument("--tensorboard", action="store_true",
                     help="also write TensorBoard event files to RUN_DIR/tensorboard "
                     '(needs pip install "gendsl[tensorboard]")')
    group = run.add_argument_group(
        "distributed runs", "join a run of several processes (docs/distributed.md); without "
        "these flags, the variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and "
        "JAX_PROCESS_ID, or a SLURM step of several tasks, do the same")
    group.add_argument("--coordinator", metavar="HOST:PORT",
                       help="address of process 0's coordination service")
    group.add_argument("--num-processes", type=int, metavar="N", help="how many processes")
    group.add_argument("--process-id", type=int, metavar="I",
                       help="this process's index, 0 to N-1")
    group.add_argument("--distributed", choices=("auto", "off"),
                       help="auto: let JAX detect the cluster (SLURM, Open MPI, Kubernetes, "
                       "TPU pods); off: one process, whatever the environment says")
    group.add_argument("--heartbeat-timeout", type=int, metavar="S", default=30,
                       help="seconds after which a silent process counts as dead and the "
                       "others stop (default: 30)")
    run.set_defaults(handler=_run)

    launch = commands.add_parser(
        "launch", help="run a program as N local processes of one distributed run",
        description="Starts N processes of `gendsl run RUN_ARGS` on 127.0.0.1, each with "
        "its own simulated CPU devices; forwards SIGINT/SIGTERM to them and exits non-zero "
        "if any fails (stopping the others).")
    launch.add_argument("--processes", type=int, required=True, metavar="N",
                        help="how many processes")
    launch.add_argument("--devices-per-process", type=int, metavar="K",
                        help="simulated CPU devices per process (JAX_NUM_CPU_DEVICES; "
                        "default: the environment's, else 1)")
    launch.add_argument("run_args", nargs=argparse.REMAINDER, metavar="PROGRAM.py ...",
                        help="the program file and the arguments of gendsl run")
    launch.set_defaults(handler=_launch)

    show = commands.add_parser("show", help="print a program and its fingerprint")
    add_program(show)
    show.set_defaults(handler=_show)

    def add_run_dir(command: argparse.ArgumentParser) -> None:
        command.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory")
        command.add_argument("--step", type=int,
                             help="the checkpoint to load (default: the newest)")
        command.add_argument("--program", type=Path, metavar="PROGRAM.py",
                             help="the program file (default: the one RUN_DIR/program.json "
                             "names)")

    sample = commands.add_parser("sample", help="draw samples from a run's checkpoint")
    add_run_dir(sample)
    sample.add_argument("-n", type=int, required=True, metavar="N", help="how many samples")
    sample.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.npz",
                        help="the .npz file to write (array 'samples'; with --sampler also "
                        "'latents', and FILE.png and FILE.json next to it)")
    sample.add_argument("--seed", type=int, help="seed of the sampling key (default: the "
                        "run's evaluation key at the step)")
    sample.add_argument("--sampler", metavar="NAME",
                        help="move the samples with the discriminator: independent, drs, "
                        "mh-gan, ddls or rep-gan (default: plain samples of the program; "
                        "see docs/sampling.md)")
    sample.add_argument("--set", dest="assignments", action="extend", nargs=1, default=[],
                        metavar="KEY=VALUE",
                        help="a field of the sampler, e.g. --set tau=0.02 steps=100")
    sample.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                        help="Platt-scale the discriminator's logit on held-out real data "
                        "first (default: on)")
    sample.add_argument("--calibration-samples", type=int, metavar="N",
                        help="held-out real samples to calibrate on (default: 5000)")
    sample.add_argument("--chains", type=int, metavar="C",
                        help="chains per dispatch (default: N, one dispatch; each chain "
                        "gives its final state)")
    sample.add_argument("--generator", default="G", metavar="NAME",
                        help="the generator player (default: G)")
    sample.add_argument("--discriminator", default="D", metavar="NAME",
                        help="the discriminator player (default: D)")
    sample.set_defaults(handler=_sample)

    evaluate = commands.add_parser("eval", help="rerun a run's evaluation on a checkpoint")
    add_run_dir(evaluate)
    evaluate.add_argument("-o", "--output", type=Path, metavar="FILE.json",
                          help="write the metrics as JSON here instead of printing them")
    evaluate.set_defaults(handler=_eval)

    runs = commands.add_parser("runs", help="list the run directories under DIR")
    runs.add_argument("root", metavar="DIR", type=Path, nargs="?", default=Path("runs"),
                      help="where to look (default: runs)")
    runs.set_defaults(handler=_runs)
    return parser


class _Parser(argparse.ArgumentParser):
    """An argument parser whose ``--set`` takes every ``KEY=VALUE`` token after it
    (:func:`split_set_arguments`), however it is called."""

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else args
        return super().parse_known_args(split_set_arguments(args), namespace)


def split_set_arguments(argv: Sequence[str]) -> list[str]:
    """Gives each ``--set`` one ``KEY=VALUE``, so that ``--set`` may come before the
    program path: the first token after ``--set`` and the tokens with ``=`` that follow
    it (not starting with ``-``) are its values; any other token ends the list.

    >>> split_set_arguments(["run", "--set", "a=1", "b=2", "p.py", "--set", "c=3"])
    ['run', '--set', 'a=1', '--set', 'b=2', 'p.py', '--set', 'c=3']
    """
    out: list[str] = []
    tokens = iter(argv)
    pending = None
    for token in tokens:
        if token == "--":
            out += [token, *tokens]
            break
        if pending is not None and "=" in token and not token.startswith("-"):
            out += ["--set", token]
            continue
        pending = token if token.startswith("--set=") else None
        out.append(token)
        if token == "--set":
            value = next(tokens, None)
            if value is not None:
                out.append(value)
                pending = value
    return out


def main(argv: Sequence[str] | None = None, *, compile_fn: Callable[..., Any] | None = None) -> int:
    """Runs the ``gendsl`` command.

    Args:
      argv: the arguments (default: ``sys.argv[1:]``).
      compile_fn: replaces ``gendsl.compiler.compile`` (for tests).

    Returns:
      the exit status (see the module docstring).
    """
    args = build_parser().parse_args(argv)
    try:
        with _runner_messages():
            return args.handler(args, compile_fn)
    except TrainingInterrupted as stopped:
        _report(f"gendsl: {stopped}", stopped)
        return stopped.exit_code
    except ConfigError as error:
        _report(f"gendsl: error: {error}", error)
        return 2
    except GendslError as error:
        _report(f"gendsl: error: {type(error).__name__}: {error}", error)
        return 1
    except KeyboardInterrupt as error:  # Ctrl-C before or after training's own handling
        _report("gendsl: interrupted by SIGINT outside the training loop (no checkpoint "
                "was saved by this run; those saved before are kept)", error)
        return 128 + signal.SIGINT


def _report(line: str, error: BaseException) -> None:
    """Prints ``line`` and the error's notes as one line on stderr (and the traceback
    first when ``GENDSL_TRACEBACK`` is set)."""
    if os.environ.get("GENDSL_TRACEBACK", "") not in ("", "0"):
        traceback.print_exception(error, file=sys.stderr)
    notes = [n for n in getattr(error, "__notes__", ()) if isinstance(n, str)]
    print(" ".join(" ".join([line, *notes]).split()), file=sys.stderr)


class _StderrHandler(logging.Handler):
    """Prints log records to whatever ``sys.stderr`` is when they are emitted."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"gendsl: {record.getMessage()}", file=sys.stderr)


@contextlib.contextmanager
def _runner_messages() -> Iterator[None]:
    """While the command runs, prints the runner's info messages (e.g. "resuming from
    ...") on stderr, once: they do not also propagate to the root logger, whose
    handlers may print them again (absl, used by Orbax, gives the root logger a stderr
    handler when it first logs). The logger is left as it was afterwards."""
    logger = logging.getLogger("gendsl")
    handler, level, propagate = _StderrHandler(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _load(args: argparse.Namespace, flags: dict[str, Any] | None = None):
    """``(cfg, experiment, defaults)`` of the program file with the overrides and the
    flags (``{config key: value or None}``), the loop settings checked first (a message
    names the flag, ``--set`` or ``DEFAULTS`` entry at fault); the experiment on
    ``--devices`` devices if given."""
    from gendsl.run.overrides import split_assignment
    from gendsl.run.program_file import (
        build_experiment,
        check_loop_settings,
        load_program_file,
        program_config,
    )

    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    module = load_program_file(args.program)
    cfg = program_config(module, [*args.assignments, *_flag_assignments(flags)])
    origins = {split_assignment(a)[0]: f"--set {a}" for a in args.assignments}
    origins.update({k: f"--{k.replace('_', '-')} {v}" for k, v in flags.items()})
    check_loop_settings(module, cfg, origins)
    experiment = build_experiment(module, cfg)
    if args.devices is not None:
        experiment = dataclasses.replace(experiment, mesh=_mesh(args.devices))
    elif experiment.mesh is None and _process_count() > 1:  # span every process
        experiment = dataclasses.replace(experiment, mesh=_mesh(None))
    return cfg, experiment, program_config(module)


def _process_count() -> int:
    import jax

    return jax.process_count()


def _flag_assignments(flags: dict[str, Any]) -> list[str]:
    return [f"{k}={v}" for k, v in flags.items()]


def _mesh(devices: int | None):
    import jax

    from gendsl.sharding import data_parallel

    available = len(jax.devices())
    if devices is None:
        return data_parallel()
    if jax.process_count() > 1 and devices != available:
        raise ConfigError(
            f"--devices {devices}: a run of {jax.process_count()} processes spans all "
            f"{available} devices of its processes; leave --devices out.")
    if not 1 <= devices <= available:
        raise ConfigError(
            f"--devices {devices}: there are {available} devices "
            f"({jax.default_backend()}); give --devices 1 to {available}. On the CPU, set "
            f"JAX_NUM_CPU_DEVICES={devices} (or XLA_FLAGS="
            f"--xla_force_host_platform_device_count={devices}) before gendsl starts to "
            "simulate more.")
    return data_parallel(devices)


def _compile_fn(compile_fn: Callable[..., Any] | None) -> Callable[..., Any]:
    from gendsl.compiler import compile

    return compile_fn or compile


def _run(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.experiments import run_experiment
    from gendsl.run.run_dir import check_run_dir
    from gendsl.run.run_names import default_run_dir
    from gendsl.run.run_record import write_program_record

    from gendsl.run.distributed import distributed_spec, start_distributed

    # before anything touches a device (the program file may build arrays)
    start_distributed(distributed_spec(
        coordinator=args.coordinator, num_processes=args.num_processes,
        process_id=args.process_id, mode=args.distributed,
        heartbeat_timeout=args.heartbeat_timeout))
    # a run dir given is checked before the program is built; the default one after
    run_dir = check_run_dir(args.run_dir) if args.run_dir else None
    flags = {"steps": args.steps, "seed": args.seed, "checkpoint_every": args.checkpoint_every}
    cfg, experiment, defaults = _load(args, flags)
    run_dir = check_run_dir(run_dir or default_run_dir(args.program, cfg, defaults))
    import jax

    if jax.process_index() > 0:  # process 0 writes the records and reports the run
        run_experiment(experiment, cfg, run_dir, progress=False, tensorboard=args.tensorboard,
                       allow_changes=args.allow_changes, compile_fn=_compile_fn(compile_fn))
        return 0
    if jax.process_count() > 1:
        print(f"gendsl: process 0 of {jax.process_count()}, {len(jax.devices())} devices",
              flush=True)
    print(f"gendsl: run directory {run_dir}", flush=True)
    given = _flag_assignments({k: v for k, v in flags.items() if v is not None})
    write_program_record(run_dir, args.program, [*args.assignments, *given])
    result = run_experiment(experiment, cfg, run_dir, progress=not args.no_progress,
                            tensorboard=args.tensorboard, allow_changes=args.allow_changes,
                            compile_fn=_compile_fn(compile_fn))
    resumed = f", resumed from step {result.start_step}" if result.resumed else ""
    print(f"gendsl: trained to step {result.step}{resumed} in {result.wall_time_s:.1f} s")
    print(format_metrics({**result.metrics, "nonfinite_total": result.nonfinite_total}))
    print(f"gendsl: summary in {run_dir / 'summary.json'}, samples in {run_dir / 'samples.png'}")
    if args.tensorboard:
        print(f"gendsl: to see the run in TensorBoard: tensorboard --logdir {run_dir}")
    return 0


def _launch(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.run.launch import launch

    run_args = [a for a in args.run_args if a != "--"] if args.run_args[:1] == ["--"] else list(
        args.run_args)
    if not run_args or run_args[0].startswith("-"):
        raise ConfigError("gendsl launch needs the program file after its own options: "
                          "gendsl launch --processes N [--devices-per-process K] PROGRAM.py "
                          "[run args].")
    own = [a for a in run_args if a.split("=")[0] in (
        "--coordinator", "--num-processes", "--process-id", "--distributed")]
    if own:
        raise ConfigError(f"{', '.join(own)}: gendsl launch sets the distributed settings of "
                          "its processes itself; leave these flags out.")
    return launch(args.processes, run_args, devices_per_process=args.devices_per_process)


def _show(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.terms.program import Program
    from gendsl.terms.show import show
    from gendsl.terms.stages import StagedProgram

    cfg, experiment, _ = _load(args)
    program = experiment.program
    print(show(program) if isinstance(program, (Program, StagedProgram)) else repr(program))
    compiled = _compile_fn(compile_fn)(program, mesh=experiment.mesh)
    print(f"fingerprint: {compiled.fingerprint}")
    return 0


def _load_run(args: argparse.Namespace, compile_fn):
    from gendsl.loaded_run import load_run

    return load_run(args.run_dir, args.step, program=args.program,
                    compile_fn=_compile_fn(compile_fn))


def _sample(args: argparse.Namespace, compile_fn) -> int:
    import numpy as np

    if args.n < 1:
        raise ConfigError(f"-n {args.n}: give the number of samples to draw, at least 1.")
    if args.output.suffix != ".npz":
        raise ConfigError(f"-o {args.output}: the samples are written as .npz; give a file "
                          "name ending in .npz.")
    if args.sampler is not None:
        return _sample_with_sampler(args, compile_fn)
    given = [flag for flag, value in (("--set", args.assignments),
                                      ("--no-calibrate", not args.calibrate),
                                      ("--calibration-samples", args.calibration_samples),
                                      ("--chains", args.chains),
                                      ("--generator", args.generator != "G"),
                                      ("--discriminator", args.discriminator != "D"))
             if value]
    if given:
        raise ConfigError(f"{', '.join(given)} only apply with --sampler NAME; give one "
                          "(e.g. --sampler rep-gan) or leave them out.")
    run = _load_run(args, compile_fn)
    samples = run.sample(args.n, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.output, samples=samples)
    print(f"gendsl: wrote {len(samples)} samples (array 'samples', shape "
          f"{tuple(samples.shape)}, {samples.dtype}) of {run.run_dir} at step {run.step} "
          f"to {args.output}")
    return 0


def _sample_with_sampler(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.run.segments import segments
    from gendsl.sampling_run import (CALIBRATION_SAMPLES, sample_run, sampler_spec,
                                     write_sampling_outputs)

    spec = sampler_spec(args.sampler, args.assignments)
    run = _load_run(args, compile_fn)
    result, report = sample_run(
        run, spec, args.n, args.seed, chains=args.chains, calibrate=args.calibrate,
        calibration_samples=args.calibration_samples or CALIBRATION_SAMPLES,
        generator=args.generator, discriminator=args.discriminator)
    source = segments(run.compiled, run.experiment.source)[-1].source
    written = write_sampling_outputs(args.output, result, report, source)
    print(f"gendsl: {spec.describe()}")
    if report["calibration"] is not None:
        c = report["calibration"]
        print(f"gendsl: calibrated log ratio {c['scale']:.4g} d(x) + {c['shift']:.4g} "
              f"(ECE {c['ece_before']:.3g} -> {c['ece_after']:.3g})")
    print(format_metrics({k: report[k] for k in ("acceptance_rate", "ess", "ess_per_second",
                                                 "d_evals_per_sample", "wall_clock_s")}
                         | {f"eval/{k}": v for k, v in report["metrics"].items()}))
    print(f"gendsl: wrote {len(result.samples)} samples of {run.run_dir} at step {run.step} "
          f"to {', '.join(str(p) for p in written.values())}")
    return 0


def _eval(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.run.run_info import write_json

    run = _load_run(args, compile_fn)
    metrics = run.evaluate()
    if args.output is None:
        print(f"gendsl: {run.run_dir} at step {run.step}")
        print(format_metrics(metrics))
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.output, {"run_dir": str(run.run_dir), "step": run.step,
                             "fingerprint": run.fingerprint, "metrics": metrics})
    print(f"gendsl: wrote the metrics of {run.run_dir} at step {run.step} to {args.output}")
    return 0


def _runs(args: argparse.Namespace, compile_fn) -> int:
    from gendsl.run.run_list import describe_run, find_run_dirs, format_runs

    if not args.root.is_dir():
        raise ConfigError(f"{args.root} is not a directory; give the folder that holds run "
                          "directories (gendsl runs DIR, default runs).")
    rows = [describe_run(d) for d in find_run_dirs(args.root)]
    if not rows:
        print(f"gendsl: no run directories under {args.root} (a run directory holds "
              "config.json, summary.json or checkpoints/)")
        return 0
    print(format_runs(rows))
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
