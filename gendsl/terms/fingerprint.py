"""A program's fingerprint: its identity, a stable hash stored with every checkpoint.

Two programs have the same fingerprint when they compute the same updates from the same
state. The fingerprint combines named parts (:func:`fingerprint_parts`), so that a
refused resume can say *what* changed:

* ``"program text"``: what :func:`gendsl.show` prints (solver, players, sources,
  objectives), the full ``repr`` of the primitives' static arguments (``show`` may
  abbreviate them, e.g. kernel layers) and the :func:`~gendsl.terms.code_hash.code_hash`
  of every static argument and of every latent's distribution function;
* ``"parameter shapes"``: the players' parameter paths, shapes and dtypes;
* ``"primitive <name>"``, one per primitive name used: each primitive's qualified name
  (``rule.__module__`` + ``__qualname__``, so a user primitive named ``hinge_d`` is not
  the built-in one), its flags and the hash of its rule's code and closure constants
  (a rule closing over ``margin = 2`` differs from one closing over ``margin = 1``);
* ``"optimizer of <player>"``, one per player: the hash of its optax optimizer (the
  closures hold the hyperparameters and schedules, so ``optax.adam(1e-3)`` and
  ``optax.adam(2e-3)`` differ) and of its projection.

Out of it: a player's module factory and initial values (only the parameters' shapes
count: a resumed run restores the values), and module-level globals read by name from
a rule or optimizer (see :mod:`gendsl.terms.code_hash`; a rule that reads a mutable
global keeps its fingerprint when the global changes). A staged program's parts are its
stages' names and budgets (``"stages"``) and each stage's parts, prefixed with
``"stage <name>: "``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax

from gendsl.terms.code_hash import code_hash
from gendsl.terms.player import Player
from gendsl.terms.primitive import PrimitiveCall
from gendsl.terms.program import Program
from gendsl.terms.show import show
from gendsl.terms.sources import Latent
from gendsl.terms.stages import StagedProgram
from gendsl.terms.term import Term, walk


def fingerprint(program: Program | StagedProgram) -> str:
    """Returns a 16-hex-digit fingerprint of ``program``, stable across processes.

    Args:
      program: the program (or a staged program).
    Returns:
      A hex string: :func:`combine` of :func:`fingerprint_parts`.
    """
    return combine(fingerprint_parts(program))


def combine(parts: dict[str, str]) -> str:
    """Returns the fingerprint made of ``parts`` (16 hex digits, independent of order).

    Args:
      parts: ``{part name: hex digest}``.
    Returns:
      A hex string.

    >>> combine({"a": "1", "b": "2"}) == combine({"b": "2", "a": "1"}) != combine({"a": "1"})
    True
    """
    h = hashlib.sha256()
    for name in sorted(parts):
        h.update(f"{name}={parts[name]};".encode())
    return h.hexdigest()[:16]


def fingerprint_parts(program: Program | StagedProgram) -> dict[str, str]:
    """Returns the named parts whose combination is ``program``'s fingerprint.

    Args:
      program: the program (or a staged program).
    Returns:
      ``{part name: 16 hex digits}``; see the module docstring for the names.
    """
    if isinstance(program, StagedProgram):
        return _stages_parts(program)
    text = hashlib.sha256(show(program).encode())
    primitives: dict[str, list[str]] = {}
    for root in program.terms():
        for t in walk(root):
            if isinstance(t, Latent) and callable(t.dist):
                text.update(f"dist {t.name}:{code_hash(t.dist)};".encode())
            if not isinstance(t, PrimitiveCall):
                continue
            prim = t.primitive
            primitives.setdefault(prim.name, []).append(
                f"{prim.rule.__module__}.{prim.rule.__qualname__}:{code_hash(prim)}")
            for v in (*t.args, *(v for _, v in t.kwargs)):
                if isinstance(v, (Term, Player)):
                    continue
                if hasattr(v, "describe"):
                    shown = repr(v)  # shown abbreviated; hashed in full where stable
                    text.update((v.describe() if " at 0x" in shown else shown).encode())
                text.update(f"arg:{code_hash(v)};".encode())
    shapes = hashlib.sha256()
    for p in program.players:
        _, params, _ = p.abstract()
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            shapes.update(f"{p.name}{jax.tree_util.keystr(path)}:{leaf.shape}:{leaf.dtype};"
                          .encode())
    parts = {"program text": text.hexdigest()[:16], "parameter shapes": shapes.hexdigest()[:16]}
    for name, rules in primitives.items():
        parts[f"primitive {name}"] = _digest(sorted(set(rules)))
    for p in program.players:
        parts[f"optimizer of {p.name}"] = code_hash((p.optimizer, p.project))[:16]
    return parts


def stages_fingerprint(staged: StagedProgram) -> str:
    """Returns the fingerprint of a staged program (its stages' names, budgets and
    programs' fingerprint parts).

    Args:
      staged: a staged program.
    Returns:
      A 16-hex-digit string.
    """
    return combine(_stages_parts(staged))


def _stages_parts(staged: StagedProgram) -> dict[str, str]:
    parts = {"stages": _digest([f"{s.name}:{s.steps}" for s in staged.stages])}
    for s in staged.stages:
        for name, value in fingerprint_parts(s.program).items():
            parts[f"stage {s.name}: {name}"] = value
    return parts


def _digest(items: list[Any]) -> str:
    return hashlib.sha256(";".join(map(str, items)).encode()).hexdigest()[:16]
