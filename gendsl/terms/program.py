"""Programs: players, their objectives and the solver that turns them into updates.

A :class:`Program` is data: it prints (:func:`gendsl.show`), hashes to a fingerprint
(:func:`gendsl.fingerprint`) and is checked when built, so that a malformed program is
reported with the name of the player or term at fault before anything is traced.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from gendsl.errors import MissingObjectiveError, ProgramError, UnknownPlayerError
from gendsl.terms.player import Apply, Player
from gendsl.terms.primitive import PrimitiveCall
from gendsl.terms.sources import Data, Latent
from gendsl.terms.term import Named, Term, as_term, walk


@dataclasses.dataclass(frozen=True, eq=False)
class Program:
    """An objective program. Build it with :func:`program`.

    Attributes:
      objectives: ``((player, objective term), ...)`` in the order given; each player
        descends its own objective.
      solver: how the objectives become updates (``gd.minimize()``, ``gd.alternating``,
        ``gd.simultaneous()``, ``gd.rk4(h)``, ...).
      frozen: players used by the objectives but not trained by this program.
      ema: ``((player, decay), ...)``: players whose parameters are also averaged.
      samples: the term sampled by ``compiled.sample`` (e.g. ``G(z)``), or None.
    """

    objectives: tuple[tuple[Player, Term], ...]
    solver: Any
    frozen: tuple[Player, ...] = ()
    ema: tuple[tuple[Player, float], ...] = ()
    samples: Term | None = None

    @property
    def trainable(self) -> tuple[Player, ...]:
        """The players that have an objective, in order."""
        return tuple(p for p, _ in self.objectives)

    @property
    def players(self) -> tuple[Player, ...]:
        """Every player of the program: trainable ones first, then frozen ones."""
        return self.trainable + self.frozen

    def player(self, name: str) -> Player:
        """Returns the player called ``name``; raises UnknownPlayerError otherwise."""
        for p in self.players:
            if p.name == name:
                return p
        raise UnknownPlayerError(
            f"the program has no player named {name!r}; its players are "
            f"{[p.name for p in self.players]}")

    def objective(self, name: str) -> Term:
        """Returns the objective of the trainable player called ``name``."""
        for p, t in self.objectives:
            if p.name == name:
                return t
        raise UnknownPlayerError(
            f"player {name!r} has no objective in this program; trainable players are "
            f"{[p.name for p in self.trainable]}")

    def terms(self) -> tuple[Term, ...]:
        """Every root term: the objectives, then the samples term if any."""
        roots = tuple(t for _, t in self.objectives)
        return roots + ((self.samples,) if self.samples is not None else ())

    def data_fields(self) -> tuple[str, ...]:
        """The batch fields the program reads, sorted."""
        return tuple(sorted({t.field for r in self.terms() for t in walk(r) if isinstance(t, Data)}))

    def latents(self) -> tuple[Latent, ...]:
        """The latent variables the program draws, one per name, in order of appearance."""
        out: dict[str, Latent] = {}
        for r in self.terms():
            for t in walk(r):
                if isinstance(t, Latent):
                    out.setdefault(t.name, t)
        return tuple(out.values())


def referenced_players(term: Term) -> tuple[Player, ...]:
    """Returns the players a term applies or passes to primitives, in order, once each."""
    out: dict[int, Player] = {}
    for t in walk(term):
        found = (t.player,) if isinstance(t, Apply) else (
            t.players() if isinstance(t, PrimitiveCall) else ())
        for p in found:
            out.setdefault(id(p), p)
    return tuple(out.values())


def program(objectives: Mapping[Player | str, Any], solver: Any = None, *,
            frozen: Iterable[Player] = (), ema: Mapping[Player | str, float] | None = None,
            samples: Any = None) -> Program:
    """Builds and checks an objective program.

    Args:
      objectives: ``{player: term}``; each player minimises its term w.r.t. its own
        parameters. A key may also be a player's name.
      solver: a solver (default ``gd.minimize()``).
      frozen: players that appear in the objectives but are not trained.
      ema: ``{player: decay}`` to keep exponential moving averages of parameters
        (used by ``compiled.sample``), e.g. ``{G: 0.999}``.
      samples: the term to sample from (e.g. ``G(z)``), used by the runner's plots
        and metrics.
    Returns:
      A :class:`Program`.
    Raises:
      MissingObjectiveError: a player appears in a term but has no objective and is
        not frozen.
      UnknownPlayerError: a key names no player of the program.
      ProgramError: other malformations (duplicate names, non-term objectives).
    """
    if not isinstance(objectives, Mapping) or not objectives:
        raise ProgramError("program(objectives=...) needs a non-empty dict {player: term}")
    frozen = tuple(frozen)
    keyed = [k for k in objectives if isinstance(k, Player)]
    pool = _players_by_name([*keyed, *frozen, *(p for v in objectives.values()
                                                if isinstance(v, Term)
                                                for p in referenced_players(v))])
    resolved: list[tuple[Player, Term]] = []
    for key, term in objectives.items():
        p = _resolve(key, pool, "objectives")
        if p.optimizer is None:
            raise ProgramError(
                f"player {p.name!r} has an objective but no optimizer; give it one "
                f"(gd.player({p.name!r}, module, optax.adam(1e-3))) or freeze it")
        if isinstance(term, Player):
            raise ProgramError(f"the objective of {p.name!r} is the player "
                               f"{term.name!r} itself; apply it to inputs")
        resolved.append((p, as_term(term)))
    trainable = {id(p) for p, _ in resolved}
    for f in frozen:
        if id(f) in trainable:
            raise ProgramError(f"player {f.name!r} is both frozen and has an objective; "
                               "remove it from one of them")
    samples = as_term(samples) if samples is not None else None
    known = trainable | {id(f) for f in frozen}
    roots = [(p.name, t) for p, t in resolved] + ([("samples", samples)] if samples is not None else [])
    for owner, term in roots:
        for p in referenced_players(term):
            if id(p) not in known:
                where = f"the objective of {owner!r}" if owner != "samples" else "samples"
                raise MissingObjectiveError(
                    f"player {p.name!r} appears in {where} but has no objective of its "
                    f"own; give it one in objectives={{{p.name}: ...}} or list it in "
                    f"frozen=[{p.name}]")
    ema_pairs = tuple((_resolve(k, pool, "ema"), float(v)) for k, v in (ema or {}).items())
    for p, d in ema_pairs:
        if not 0.0 <= d < 1.0:
            raise ProgramError(f"ema decay of {p.name!r} must be in [0, 1), got {d}")
    if solver is None:
        from gendsl.solvers.simultaneous import minimize
        solver = minimize()
    prog = Program(tuple(resolved), solver, frozen, ema_pairs, samples)
    _check_latents(prog)
    check = getattr(solver, "check", None)
    if check is not None:
        check(prog)
    return prog


def _players_by_name(players: Iterable[Player]) -> dict[str, Player]:
    out: dict[str, Player] = {}
    for p in players:
        other = out.setdefault(p.name, p)
        if other is not p:
            raise ProgramError(
                f"two different players are named {p.name!r}; player names must be "
                "unique within a program")
    return out


def _resolve(key: Player | str, pool: dict[str, Player], where: str) -> Player:
    if isinstance(key, Player):
        return key
    if isinstance(key, str) and key in pool:
        return pool[key]
    raise UnknownPlayerError(
        f"{where} names {key!r}, which is not a player of this program; known players: "
        f"{sorted(pool)}")


def _check_latents(prog: Program) -> None:
    seen: dict[str, Latent] = {}
    for r in prog.terms():
        for t in walk(r):
            if isinstance(t, Latent):
                other = seen.setdefault(t.name, t)
                if other.describe() != t.describe():
                    raise ProgramError(
                        f"latent {t.name!r} is declared twice differently: "
                        f"{other.describe()} and {t.describe()}; use one declaration")
            if isinstance(t, Named) and not t.name.isidentifier():
                raise ProgramError(f"named sub-term {t.name!r} needs an identifier name")
