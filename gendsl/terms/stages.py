"""Staged programs: a sequence of programs over shared players, run one after another.

``gd.stages([gd.stage("decoder", p1, steps=2000), gd.stage("encoder", p2, steps=3000)])``
trains ``p1`` for 2,000 steps, then ``p2`` for 3,000, in one run directory with one
checkpoint stream. Players are shared by name across stages: a player a stage does not
train keeps the parameters the previous stages left (list it in the stage program's
``frozen=[...]`` when that stage's objectives use it). Each stage has its own solver
and optimizer states; SimVAE (decoder learns the simulator, then the encoder inverts the
frozen decoder) is the motivating example. :func:`gendsl.show` and
:func:`gendsl.fingerprint` take staged programs too (``show_stages`` lives in
:mod:`gendsl.terms.show`, ``stages_fingerprint`` in :mod:`gendsl.terms.fingerprint`).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from gendsl.errors import ProgramError
from gendsl.terms.player import Player
from gendsl.terms.program import Program


@dataclasses.dataclass(frozen=True, eq=False)
class Stage:
    """One stage: a name, a program and a step budget. Build it with :func:`stage`."""

    name: str
    program: Program
    steps: int


@dataclasses.dataclass(frozen=True, eq=False)
class StagedProgram:
    """Stages run in order over shared players. Build it with :func:`stages`."""

    stages: tuple[Stage, ...]

    @property
    def players(self) -> tuple[Player, ...]:
        """Every player of every stage, once each, in order of first appearance."""
        seen: dict[str, Player] = {}
        for s in self.stages:
            for p in s.program.players:
                seen.setdefault(p.name, p)
        return tuple(seen.values())

    @property
    def total_steps(self) -> int:
        """The sum of the stages' step budgets."""
        return sum(s.steps for s in self.stages)

    @property
    def starts(self) -> tuple[int, ...]:
        """The global step at which each stage starts."""
        out, t = [], 0
        for s in self.stages:
            out.append(t)
            t += s.steps
        return tuple(out)

    def stage_index(self, step: int) -> int:
        """The index of the stage that global step ``step`` (0-based) belongs to."""
        for i, start in reversed(list(enumerate(self.starts))):
            if step >= start:
                return i
        raise ValueError(step)


def stage(name: str, program: Program, *, steps: int) -> Stage:
    """Returns one stage of a staged program.

    Args:
      name: the stage's name (an identifier; shown in metrics and checkpoints).
      program: the stage's program (its objectives, solver, frozen players).
      steps: how many steps the stage runs.
    Returns:
      A :class:`Stage`.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ProgramError(f"a stage's name must be an identifier, got {name!r}")
    if not isinstance(program, Program):
        raise ProgramError(f"stage {name!r}: program must be a gd.program(...), got "
                           f"{type(program).__name__}")
    if not isinstance(steps, int) or steps < 1:
        raise ProgramError(f"stage {name!r}: steps must be a positive int, got {steps!r}")
    return Stage(name, program, steps)


def stages(sequence: Sequence[Stage]) -> StagedProgram:
    """Returns a staged program: the stages run in order, sharing players by name.

    Args:
      sequence: :class:`Stage` objects from :func:`stage`.
    Returns:
      A :class:`StagedProgram`; compile it with ``gd.compile`` like a program.
    Raises:
      ProgramError: no stages, duplicate stage names, or two different players with
        one name.
    """
    sequence = tuple(sequence)
    if not sequence or not all(isinstance(s, Stage) for s in sequence):
        raise ProgramError("gd.stages([...]) needs a non-empty list of gd.stage(...)")
    names = [s.name for s in sequence]
    if len(set(names)) != len(names):
        raise ProgramError(f"stage names must be unique, got {names}")
    seen: dict[str, Player] = {}
    for s in sequence:
        for p in s.program.players:
            if seen.setdefault(p.name, p) is not p:
                raise ProgramError(
                    f"stage {s.name!r} has a player named {p.name!r} that is not the "
                    "player of that name in an earlier stage; reuse the same gd.player "
                    "object across stages")
    return StagedProgram(sequence)

