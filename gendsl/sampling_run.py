"""Sampling a trained run with its discriminator: what ``gendsl sample --sampler`` does.

    from gendsl import samplers as S
    from gendsl.sampling_run import sample_run, write_sampling_outputs
    result, report = sample_run("runs/gan_mog", S.rep_gan(steps=200), n=10_000, key=0)
    write_sampling_outputs("samples.npz", result, report, source)

:func:`sample_run` loads the run (``gd.load_run``, read only), builds the latent target
of its generator and discriminator (``gd.samplers.target_of``), calibrates the logit on
held-out real data (:func:`held_out_real`), compiles the sampler, compiles it ahead of
time, times the sampling call alone, and scores the samples with the program's own
metrics (:func:`quality_metrics`). It returns the :class:`~gendsl.samplers.SamplerResult`
and a JSON-ready report (keys in docs/sampling.md, "From the command line").

This sits above :mod:`gendsl.loaded_run` (it loads runs) and below the CLI.
"""

from __future__ import annotations

import dataclasses
import math
import time
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from gendsl import samplers as S
from gendsl.errors import ConfigError, SamplerError
from gendsl.loaded_run import LoadedRun, load_run
from gendsl.run.metrics_log import to_json_value
from gendsl.run.overrides import split_assignment
from gendsl.run.plots import save_sample_plot
from gendsl.run.run_info import write_json
from gendsl.run.segments import segments
from gendsl.terms.sources import latent_key

SAMPLERS = {"independent": S.independent, "drs": S.drs, "mh-gan": S.mh_gan,
            "ddls": S.ddls, "rep-gan": S.rep_gan}
"""The sampler names of ``gendsl sample --sampler``, each with its spec's constructor."""

CALIBRATION_SAMPLES = 5000  # held-out real samples (and as many generated) for Platt scaling


def sampler_spec(name: str, assignments: Sequence[str] = ()) -> Any:
    """The sampler spec ``name`` with ``KEY=VALUE`` fields.

    Args:
      name: one of :data:`SAMPLERS` (``rep-gan``, ``mh-gan``, ...).
      assignments: ``"tau=0.02"``-style strings, each parsed to its field's type
        (``none`` for an optional field's ``None``).
    Returns:
      the spec, e.g. ``RepGAN(steps=640, tau=0.02, eta=0.1)``.
    Raises:
      ConfigError: an unknown sampler or field, a value not of the field's type, or one
        the spec refuses (out of range).

    >>> sampler_spec("rep-gan", ["tau=0.02", "steps=20"])
    RepGAN(steps=20, tau=0.02, eta=0.1)
    """
    if name not in SAMPLERS:
        raise ConfigError(f"--sampler {name}: unknown sampler; give one of "
                          f"{', '.join(SAMPLERS)}.")
    make = SAMPLERS[name]
    cls = type(make())
    hints = typing.get_type_hints(cls)
    fields = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for assignment in assignments:
        key, text = split_assignment(assignment)
        if key not in fields:
            valid = ", ".join(fields) if fields else "none (it has no settings)"
            raise ConfigError(f"--set {assignment}: sampler {name} has no field {key!r}; "
                              f"its fields are: {valid}.")
        values[key] = _parse(text, fields[key], f"--set {assignment}")
    try:
        return make(**values)
    except SamplerError as e:
        raise ConfigError(f"--set {' '.join(assignments)}: {e}") from e


def _parse(text: str, annotation: Any, where: str) -> Any:
    """``text`` as a value of the field type ``annotation`` (int, float, ``X | None``)."""
    options = typing.get_args(annotation) or (annotation,)
    if type(None) in options and text.strip().lower() == "none":
        return None
    for kind in (int, float):
        if kind in options:
            try:
                return kind(text)
            except ValueError:
                continue
    names = " or ".join("none" if o is type(None) else getattr(o, "__name__", str(o))
                        for o in options)
    raise ConfigError(f"{where}: {text!r} is not of type {names}; give a value of that type.")


def spec_fields(spec: Any) -> dict[str, Any]:
    """The spec's fields as JSON-ready values.

    >>> spec_fields(S.drs(tries=8))
    {'tries': 8, 'quantile': None, 'epsilon': 1e-06}
    """
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}


def held_out_real(run: LoadedRun, n: int, seed: int) -> tuple[np.ndarray, str]:
    """``n`` real samples the run did not train on, to calibrate its discriminator.

    - A source with ``sample(n, seed)`` (the mixtures: ring-8, grid-25, ...) gives fresh
      draws from its distribution, a stream separate from every training batch.
    - Another infinite source (no ``len``) gives the batches past those the run read:
      from batch ``step * batches_per_step`` of the last stage's source on (its
      ``sample_field``, else field ``x``, else its only field).
    - A finite dataset with a ``held_out`` split (the digits' train split holds the
      test split there) gives up to ``n`` of those examples.
    - Another finite dataset (your arrays) cycles through all its examples in training,
      so none of them is held out: refused.

    Args:
      run: the loaded run.
      n: how many samples.
      seed: the seed of the fresh draws (sources with ``sample``).
    Returns:
      ``(samples, description)``: the array and one line saying where it came from.
    Raises:
      ConfigError: the source has no held-out data (pass ``--no-calibrate``).
    """
    segment = segments(run.compiled, run.experiment.source)[-1]
    source = segment.source
    if callable(getattr(source, "sample", None)):
        return (np.asarray(source.sample(n, seed)),
                f"{n} fresh draws of {source!r}.sample(n, seed={seed}), a stream separate "
                "from the training batches")
    held = getattr(source, "held_out", None)
    if held is not None:
        field = _sample_field(source, held)
        values = np.asarray(held[field])[:n]
        return (values, f"{len(values)} examples of field {field!r} of {source!r}'s "
                "held-out split, which the run never trained on")
    if hasattr(source, "__len__"):
        raise ConfigError(
            f"the run's source {source!r} is a finite dataset the run trained on in full, "
            "so it has no held-out real data to calibrate the discriminator with; pass "
            "--no-calibrate (calibrate=False), or calibrate in Python with "
            "gd.samplers.calibrate on held-out data of your own.")
    first = source.batch(0)
    field = _sample_field(source, first)
    if field is None:
        raise ConfigError(f"the run's source {source!r} has fields {sorted(first)}, none "
                          "named 'x' (nor a sample_field) to calibrate with; pass "
                          "--no-calibrate.")
    start = segment.local(run.step) * segment.batches_per_step
    count = math.ceil(n / len(first[field]))
    values = np.asarray(source.batches(start, count)[field])
    return (values.reshape((-1,) + values.shape[2:])[:n],
            f"{n} samples of field {field!r} from batches {start}..{start + count - 1} of "
            f"{source!r}, past the {start} the run trained on")


def _sample_field(source: Any, fields: Any) -> str | None:
    """The field holding samples: the source's ``sample_field``, else ``x``, else the
    only field (None when none of these applies)."""
    return getattr(source, "sample_field", None) or (
        "x" if "x" in fields else (next(iter(fields)) if len(fields) == 1 else None))


def quality_metrics(source: Any, samples: np.ndarray) -> dict[str, Any]:
    """The program's own quality metrics of ``samples``: the source's
    ``evaluate(samples)`` (the mixtures: modes, high-quality fraction, KL), else for the
    digits the KID ``gd.metrics.digits_kid(samples, seed=0)`` that
    ``programs/gan_digits.py`` reports; ``{}`` when neither applies.

    Args:
      source: the run's data source.
      samples: the samples, a host array.
    Returns:
      ``{name: value}`` as plain Python numbers.
    """
    if callable(getattr(source, "evaluate", None)):
        metrics = source.evaluate(samples)
    elif str(getattr(source, "name", "")).startswith("digits"):
        from gendsl.metrics import digits_kid

        metrics = digits_kid(samples, seed=0)
    else:
        return {}
    return {k: to_json_value(v) for k, v in dict(jax.device_get(dict(metrics))).items()}


def check_generator(run: LoadedRun, target: S.LatentTarget, latent: str | None,
                    count: int = 16) -> None:
    """Checks that the target's ``G(z)`` is the program's samples term, by drawing the
    same latents both ways (``compiled.sample`` draws latent ``z`` with
    ``latent_key("z", key)``).

    Raises:
      SamplerError: they differ: the samples term transforms ``G``'s output (e.g.
        ``sigmoid(G(z))``), which the samplers, moving ``G``'s latents and feeding ``G(z)``
        to ``D``, do not apply.
    """
    latents = {z.name: z for z in run.compiled.program.latents()}
    z = latents[latent] if latent is not None else next(iter(latents.values()))
    key = jax.random.key(0)
    expected = np.asarray(run.compiled.sample(run.state, key, count))
    got = np.asarray(jax.vmap(target.generate)(z.sample(latent_key(z.name, key), count)))
    if expected.shape != got.shape or not np.allclose(expected, got, rtol=1e-4, atol=1e-5):
        raise SamplerError(
            f"the program of {run.run_dir} samples something other than G(z) of its "
            f"generator (e.g. sigmoid(G(z))); the samplers feed G(z) to D, so they need "
            "samples=G(z) in gd.program (move the output transform into the generator "
            "module).")


def sample_run(run: str | Path | LoadedRun, spec: Any, n: int,
               key: jax.Array | int | None = None, *, chains: int | None = None,
               calibrate: bool = True, calibration_samples: int = CALIBRATION_SAMPLES,
               generator: str = "G", discriminator: str = "D", latent: str | None = None,
               step: int | None = None) -> tuple[S.SamplerResult, dict[str, Any]]:
    """Draws ``n`` samples of a trained run with a sampler.

    Args:
      run: a run directory or a :class:`~gendsl.loaded_run.LoadedRun`.
      spec: a sampler spec (``gd.samplers.rep_gan()``, ... or :func:`sampler_spec`).
      n: how many samples (one per chain: each chain's final state).
      key: a PRNG key, an int seed, or None for the run's evaluation key at its step
        (as ``gendsl sample`` without a sampler).
      chains: chains per dispatch (default ``n``: one dispatch); ``n`` samples are then
        drawn in ``ceil(n / chains)`` dispatches of ``chains`` chains, the last cut.
      calibrate: Platt-scale the logit on :func:`held_out_real` data first.
      calibration_samples: real samples (and as many generated) to calibrate on.
      generator, discriminator, latent: the players' and the latent's names.
      step: the checkpoint to load when ``run`` is a directory (default: the newest).
    Returns:
      ``(result, report)``: the :class:`~gendsl.samplers.SamplerResult` (all dispatches
      joined) and the report (see docs/sampling.md).
    Raises:
      ConfigError: bad ``n``/``chains``, or no held-out data to calibrate with.
      SamplerError: the program has no such players, or samples something else than
        ``G(z)`` (see :func:`check_generator`).
    """
    for flag, value in (("-n", n), ("--chains", chains)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ConfigError(f"{flag} {value}: give a positive number.")
    if calibration_samples < 1:
        raise ConfigError(f"--calibration-samples {calibration_samples}: give a positive "
                          "number.")
    if not isinstance(run, LoadedRun):
        run = load_run(run, step)
    chains = min(n, chains or n)
    key = run.key(key)
    k_real, k_generated, k_sample = jax.random.split(key, 3)
    target = S.target_of(run.compiled, run.state, generator, discriminator, latent)
    check_generator(run, target, latent)
    report: dict[str, Any] = {"run_dir": str(run.run_dir), "step": run.step,
                              "fingerprint": run.fingerprint}
    calibration = None
    if calibrate:
        seed = int(jax.random.randint(k_real, (), 0, 2 ** 31 - 1))
        real, where = held_out_real(run, calibration_samples, seed)
        calibration = S.calibrate(target, real, k_generated)
        target = target.calibrated(calibration)
        report["calibration"] = {**calibration.summary(), "n_real": calibration.n_real,
                                 "n_generated": calibration.n_generated,
                                 "held_out": where}
    else:
        report["calibration"] = None
    sampler = S.compile_sampler(spec, target, mesh=run.compiled.mesh)
    rounds = math.ceil(n / chains)
    keys = [jax.random.fold_in(k_sample, r) for r in range(rounds)] if rounds > 1 else [k_sample]
    started = time.perf_counter()
    sampler.compile_for(keys[0], chains)
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    parts = [jax.block_until_ready(sampler(k, chains)) for k in keys]
    wall_s = time.perf_counter() - started
    result = _joined(parts, n)
    samples = np.asarray(result.samples)
    ess = S.effective_sample_size(result.trace)
    summary = result.summary()
    report.update({
        "sampler": {"name": spec.name, "describe": spec.describe(), "fields": spec_fields(spec)},
        "target": target.describe(),
        "n": n, "chains": chains, "dispatches": rounds,
        "acceptance_rate": summary["acceptance_rate"],
        "ess": ess, "ess_per_second": ess / wall_s if wall_s > 0 else None,
        "d_evals_per_sample": result.d_evals_per_sample,
        "d_grads_per_sample": result.d_grads_per_sample,
        "wall_clock_s": wall_s, "compile_s": compile_s,
        "info": dict(result.info),
        "metrics": quality_metrics(segments(run.compiled, run.experiment.source)[-1].source,
                                   samples),
    })
    return result, report


def _joined(parts: Sequence[S.SamplerResult], n: int) -> S.SamplerResult:
    """One result of several dispatches' (cut to ``n`` chains); ``info`` is the first's
    for one dispatch, else each key's mean over the dispatches."""
    first = parts[0]
    if len(parts) == 1:
        return first

    def cat(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(p, name)) for p in parts])[:n]

    info = {k: float(np.mean([p.info[k] for p in parts])) for k in first.info}
    return dataclasses.replace(first, samples=cat("samples"), latents=cat("latents"),
                               accepted=cat("accepted"), trace=cat("trace"), info=info)


def write_sampling_outputs(path: str | Path, result: S.SamplerResult,
                           report: Mapping[str, Any], source: Any = None) -> dict[str, Path]:
    """Writes ``FILE.npz`` (arrays ``samples`` and ``latents``), ``FILE.png`` (the
    samples drawn as the run's ``samples.png``) and ``FILE.json`` (the report).

    Args:
      path: the ``.npz`` file; the others are written next to it.
      result: the sampler's result.
      report: :func:`sample_run`'s report.
      source: the run's source (real data behind points, the image layout).
    Returns:
      ``{"npz": ..., "png": ..., "json": ...}`` (no ``"png"`` for samples of no
      drawable kind).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.asarray(result.samples)
    np.savez(path, samples=samples, latents=np.asarray(result.latents))
    written = {"npz": path}
    png = path.with_suffix(".png")
    if save_sample_plot(png, samples, source, title=str(report["sampler"]["name"])):
        written["png"] = png
    write_json(path.with_suffix(".json"), dict(report))
    written["json"] = path.with_suffix(".json")
    return written
