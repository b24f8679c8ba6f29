"""Geodesics as a stage of a program: a decoder is frozen and curves are optimised.

    vae = gd.stage("vae", gd.program({E: -elbo, Dec: -elbo}), steps=3000)
    geo = gd.geometry.geodesic_stage(Dec, z0, z1, steps=500)            # or E(x0)[0], ...
    compiled = gd.compile(gd.stages([vae, geo]))                        # one checkpoint stream
    result = gd.fit(compiled, (source, source), run_dir="runs/vae_geo")
    curves = gd.geometry.stage_curves(compiled, result.state)           # DiscreteCurves
    g = gd.geometry.stage_decoder(compiled, result.state)               # z -> g(z)
    lengths = [gd.geometry.length(g, c) for c in curves]

The curves are a points player holding offsets from the straight lines (see
:mod:`gendsl.geometry.curve_energy`), trained by ``gd.minimize()`` with an optax
optimizer on the summed energy; the decoder and every player the end points apply are
frozen. End points are arrays (fixed when the program is built) or terms of frozen
players applied to constants (``E(x_pairs)[0]``, the encoder's means), evaluated when the
stage runs, so "train the VAE, then find geodesics between these images' encodings" is
one staged program.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gendsl.compiler.lowering import LoweringContext
from gendsl.errors import GeometryError
from gendsl.geometry.curve_energy import curve_energy, measured, offset_curves, unstack
from gendsl.geometry.curves import DiscreteCurve
from gendsl.solvers.simultaneous import minimize
from gendsl.terms.player import Player, Points, points
from gendsl.terms.primitive import PrimitiveCall
from gendsl.terms.program import Program, program, referenced_players
from gendsl.terms.sources import Data, Latent
from gendsl.terms.stages import Stage, stage
from gendsl.terms.term import Term, walk

DEFAULT_LEARNING_RATE = 5e-2
"""Adam's learning rate when ``geodesic_stage`` gets no optimizer: on the sphere of
docs/geometry.md, 400 steps end within 1e-2 of L-BFGS's nodes (with 1e-2, 0.37 away)."""


def geodesic_stage(decoder: Player, begin: Any, end: Any, *, steps: int,
                   name: str = "geodesics", nodes: int = 32, optimizer=None,
                   curves: str = "curves", init: Any = None,
                   output: Callable | None = None) -> Stage:
    """A stage that freezes ``decoder`` and finds geodesics from ``begin`` to ``end``.

    Args:
      decoder: the decoder player (applied to a batch of latent points ``(B, d)``).
      begin: the start points: an array ``(P, d)`` (or ``(d,)`` for one curve), or a
        term of frozen players applied to constants with that shape, e.g. ``E(x0)[0]``.
      end: the end points, like ``begin``.
      steps: the stage's step budget.
      name: the stage's name.
      nodes: nodes per curve, ends included (at least 3).
      optimizer: the curves' optax optimizer (default ``optax.adam(5e-2)``).
      curves: the name of the points player holding the curves' offsets.
      init: optional initial curves when the ends are arrays: interior nodes
        ``(P, nodes - 2, d)`` or a sequence of ``P`` :class:`DiscreteCurve` (e.g.
        :func:`gendsl.geometry.graph.graph_curve`'s); straight lines otherwise.
      output: optional function of the decoder's batched output giving the points the
        energy measures, e.g. ``lambda o: jnp.concatenate([o[0], jnp.exp(o[1])], -1)``
        for a stochastic decoder returning ``(mean, log_std)`` (the expected metric, as
        :func:`gendsl.geometry.metric.stacked_decoder`).
    Returns:
      A :class:`gendsl.Stage` whose program trains the points player ``curves`` (shape
      ``(P, nodes - 2, d)``) on the curves' summed energy, reported as
      ``<curves>/loss``, with the mean energy and length per curve as
      ``<curves>/curve_energy/energy`` and ``.../length``.
    Raises:
      GeometryError: the decoder is not a module player, ``nodes < 3``, end points of
        the wrong or of different shapes, end-point terms reading data or latents, a
        malformed ``init``, or ``init`` with end-point terms.
    """
    if not isinstance(decoder, Player) or isinstance(decoder, Points):
        raise GeometryError(f"decoder={decoder!r}: geodesic_stage needs the decoder as a "
                            "gd.player(...) (a module player), to freeze it")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 3:
        raise GeometryError(f"nodes={nodes!r}: a discretised curve needs at least 3 nodes "
                            "(two pinned ends and one free node)")
    shape0, shape1 = _ends_shape(begin, "begin"), _ends_shape(end, "end")
    if shape0 != shape1:
        raise GeometryError(f"begin has shape {shape0} and end {shape1}; give one start "
                            "and one end point per curve, both (P, d)")
    begin, end = (t if isinstance(t, Term) else np.asarray(t, np.float32).reshape(shape0)
                  for t in (begin, end))
    count, dim = shape0
    offsets = np.zeros((count, nodes - 2, dim), np.float32)
    if init is not None:
        if isinstance(begin, Term) or isinstance(end, Term):
            raise GeometryError("init= needs array end points: with end points given as "
                                "terms the curves start as straight lines")
        offsets = _initial_offsets(init, begin, end, offsets.shape)
    C = points(curves, offsets, optimizer or optax.adam(DEFAULT_LEARNING_RATE))
    frozen: dict[str, Player] = {decoder.name: decoder}
    for t in (begin, end):
        if isinstance(t, Term):
            frozen.update((p.name, p) for p in referenced_players(t))
    if curves in frozen:
        raise GeometryError(f"curves={curves!r} is the name of a frozen player; name the "
                            "curves' player differently")
    kwargs = {} if output is None else {"output": output}
    objective = curve_energy(decoder, C(), begin, end, **kwargs)
    return stage(name, program({C: objective}, minimize(), frozen=list(frozen.values())),
                 steps=steps)


def stage_curves(compiled, state, stage: str = "geodesics") -> tuple[DiscreteCurve, ...]:
    """The curves a geodesic stage holds in ``state``.

    Args:
      compiled: the compiled staged program (``gd.compile(gd.stages([...]))``,
        ``gd.load_run(run_dir).compiled``), or the geodesic stage's program compiled
        alone.
      state: a train state of it (``FitResult.state``, ``LoadedRun.state``).
      stage: the geodesic stage's name.
    Returns:
      One :class:`DiscreteCurve` per curve (end points evaluated with the state's
      parameters, in eval mode), for :func:`gendsl.geometry.energy.length`, ``energy``
      and plots.
    Raises:
      GeometryError: no stage of that name, or not a geodesic stage.
    """
    call = _energy_call(compiled, stage)
    _, offsets, begin, end = call.args
    ctx = _context(call, state.params, state.rest)
    return unstack(offset_curves(ctx.eval(begin), ctx.eval(end),
                                 state.params[offsets.player.name]))


def stage_decoder(compiled, state, stage: str = "geodesics") -> Callable:
    """The function of ONE latent point whose energy a geodesic stage minimises: its
    decoder with the state's parameters, in eval mode, through the stage's ``output``.

    Args:
      compiled: as :func:`stage_curves`.
      state: a train state.
      stage: the geodesic stage's name.
    Returns:
      ``g(z)`` for ``z`` of shape ``(d,)``, for every function of ``gd.geometry``.
    Raises:
      GeometryError: as :func:`stage_curves`.
    """
    call = _energy_call(compiled, stage)
    decoder = call.args[0]
    output = dict(call.kwargs).get("output")
    ctx = _context(call, state.params, state.rest)
    return lambda z: measured(ctx.apply(decoder, jnp.asarray(z)[None]), output, 1)[0]


def _ends_shape(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, Term):
        bad = [t for t in walk(value) if isinstance(t, (Data, Latent))]
        if bad:
            raise GeometryError(
                f"{name} reads {type(bad[0]).__name__.lower()} {bad[0]!r}; a geodesic "
                "stage's end points must be fixed: arrays, or frozen players applied to "
                "constants (e.g. E(x0)[0] with x0 an array)")
        value = _abstract(value)
        if not hasattr(value, "shape"):
            raise GeometryError(f"{name} evaluates to a {type(value).__name__}, not an "
                                "array; pick the points, e.g. E(x0)[0] for an encoder's "
                                "means")
        shape = tuple(value.shape)
    else:
        try:
            shape = np.shape(np.asarray(value, np.float32))
        except (TypeError, ValueError) as e:
            raise GeometryError(f"{name} must be an array (P, d) or a term: {e}") from None
        shape = (1, *shape) if len(shape) == 1 else shape
    if len(shape) != 2 or 0 in shape:
        raise GeometryError(f"{name} has shape {shape}; give the end points as (P, d): one "
                            "latent point per curve")
    return shape


def _initial_offsets(init: Any, begin, end, shape) -> np.ndarray:
    if isinstance(init, Sequence) and all(isinstance(c, DiscreteCurve) for c in init):
        interior = np.stack([np.asarray(c.params) for c in init]) if init else np.zeros(0)
    else:
        interior = np.asarray(init, np.float32)
    if interior.shape != shape:
        raise GeometryError(f"init has interior nodes of shape {interior.shape}; with "
                            f"{shape[0]} curves of {shape[1] + 2} nodes in {shape[2]} "
                            f"dimensions it must be {shape}")
    line = offset_curves(begin, end, np.zeros(shape, np.float32)).params
    return np.asarray(interior - line, np.float32)


def _abstract(term: Term):
    players = referenced_players(term)
    built = {p.name: p.abstract() for p in players}
    statics = {n: b[0] for n, b in built.items()}
    return jax.eval_shape(
        lambda params, rest: LoweringContext(statics, params, rest, {}, jax.random.key(0),
                                             train=False).eval(term),
        {n: b[1] for n, b in built.items()}, {n: b[2] for n, b in built.items()})


def _context(call: PrimitiveCall, params, rest) -> LoweringContext:
    players = referenced_players(call)
    statics = {p.name: p.abstract()[0] for p in players}
    return LoweringContext(statics, params, rest, {}, jax.random.key(0), train=False)


def _energy_call(compiled, name: str) -> PrimitiveCall:
    staged = getattr(compiled, "staged", None)
    if staged is not None:
        found = [s.program for s in staged.stages if s.name == name]
        if not found:
            raise GeometryError(f"stage={name!r}: the program's stages are "
                                f"{[s.name for s in staged.stages]}")
        prog = found[0]
    else:
        prog = getattr(compiled, "program", None)
        if not isinstance(prog, Program):
            raise GeometryError(f"compiled={compiled!r}: pass gd.compile(...) of a staged "
                                "program (or of a geodesic stage's program)")
    calls = [t for root in prog.terms() for t in walk(root)
             if isinstance(t, PrimitiveCall) and t.primitive is curve_energy]
    if not calls:
        raise GeometryError(f"stage {name!r} is not a geodesic stage (its objectives have "
                            "no curve_energy); build it with gd.geometry.geodesic_stage")
    return calls[0]
