"""Rendering programs and terms as readable math-like text.

``show(program)`` lists the solver, the players, the sources, each player's objective
and the named sub-terms they use. The text is stable across processes (no memory
addresses, no ids), so :func:`gendsl.fingerprint` can hash it.
"""

from __future__ import annotations

import math

import jax

from gendsl.terms.player import Player
from gendsl.terms.program import Program
from gendsl.terms.sources import Data, Latent
from gendsl.terms.stages import StagedProgram
from gendsl.terms.term import Named, Term, show_term, walk


def describe_solver(solver) -> str:
    """Returns a solver's text: its ``describe()`` if it has one, else its repr."""
    describe = getattr(solver, "describe", None)
    return describe() if describe is not None else repr(solver)


def param_count(p: Player) -> int:
    """Number of scalar parameters of a player (computed abstractly, no FLOPs)."""
    _, params, _ = p.abstract()
    return sum(math.prod(a.shape) for a in jax.tree.leaves(params))


def _named_definitions(roots) -> list[str]:
    lines, seen = [], set()
    for root in roots:
        for t in walk(root):
            if isinstance(t, Named) and t.name not in seen:
                seen.add(t.name)
                lines.append(f"{t.name} = {show_term(t.term)}")
    return lines


def show(obj) -> str:
    """Returns a program (or a term, a staged program, a sampler spec) as readable
    math-like text.

    Args:
      obj: a :class:`Program`, a :class:`Term`, a staged program, or anything else with
        a ``describe()`` method (a sampler spec of ``gd.samplers``).
    Returns:
      Multi-line text for a program; for a term, its text followed by the definitions
      of its named sub-terms; otherwise ``obj.describe()``.

    >>> from gendsl.terms.sources import data
    >>> from gendsl.terms.ops import mean, named
    >>> print(show(named("m", mean(data("x"))) ** 2))
    m**2
      where m = mean(x)
    """
    if isinstance(obj, StagedProgram):
        return show_stages(obj)
    if isinstance(obj, Term):
        where = _named_definitions([obj])
        return show_term(obj) + "".join(f"\n  where {w}" for w in where)
    if not isinstance(obj, Program):
        describe = getattr(obj, "describe", None)
        if callable(describe):  # a sampler spec, a latent target, ...
            return describe()
        raise TypeError(f"show() takes a Program, a Term or a spec with describe(), got "
                        f"{type(obj).__name__}")
    prog = obj
    lines = ["program", f"  solver: {describe_solver(prog.solver)}", "  players:"]
    for p in prog.players:
        role = "frozen" if p in prog.frozen else "trained"
        project = f", projected by {getattr(p.project, '__qualname__', 'a function')}" if p.project else ""
        lines.append(f"    {p.name}: {p.describe()} ({param_count(p):,} parameters, {role}{project})")
    fields = prog.data_fields()
    latents = prog.latents()
    if fields or latents:
        lines.append("  sources:")
        lines += [f"    {f} = data({f!r})" for f in fields]
        lines += [f"    {z.describe()}" for z in latents]
    lines.append("  objectives:")
    width = max(len(p.name) for p, _ in prog.objectives)
    for p, t in prog.objectives:
        lines.append(f"    {p.name:<{width}}  minimises  {show_term(t)}")
    where = _named_definitions(prog.terms())
    if where:
        lines.append("  where:")
        lines += [f"    {w}" for w in where]
    if prog.ema:
        lines.append("  ema: " + ", ".join(f"{p.name} {d}" for p, d in prog.ema))
    if prog.samples is not None:
        lines.append(f"  samples: {show_term(prog.samples)}")
    return "\n".join(lines)


def show_stages(staged: StagedProgram) -> str:
    """Returns the staged program as text: each stage's budget and program.

    Args:
      staged: a staged program.
    Returns:
      Multi-line text: the total budget, then each stage's steps and :func:`show`.
    """
    parts = [f"stages ({staged.total_steps:,} steps)"]
    for s, start in zip(staged.stages, staged.starts):
        body = show(s.program).replace("\n", "\n  ")
        parts.append(f"stage {s.name}: steps {start:,}..{start + s.steps:,}\n  {body}")
    return "\n".join(parts)


__all__ = ["show", "show_stages", "show_term", "Data", "Latent"]
