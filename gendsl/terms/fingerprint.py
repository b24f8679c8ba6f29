"""A program's fingerprint: a stable hash stored with every checkpoint.

Two programs have the same fingerprint when they print the same (:func:`gendsl.show`:
solver, players, sources, objectives), the static arguments of their primitives have
the same full ``repr`` (``show`` may abbreviate them, e.g. kernel layers) and their
players' parameters have the same paths, shapes and dtypes. Optimizer hyperparameters
are not part of it (optax optimizers are closures), so a run may resume with, say, a
changed learning rate. A staged program's fingerprint hashes its stages' names, step
budgets and programs' fingerprints.
"""

from __future__ import annotations

import hashlib

import jax

from gendsl.terms.player import Player
from gendsl.terms.primitive import PrimitiveCall
from gendsl.terms.program import Program
from gendsl.terms.show import show
from gendsl.terms.stages import StagedProgram
from gendsl.terms.term import Term, walk


def fingerprint(program: Program | StagedProgram) -> str:
    """Returns a 16-hex-digit fingerprint of ``program``, stable across processes.

    Args:
      program: the program (or a staged program).
    Returns:
      A hex string.
    """
    if isinstance(program, StagedProgram):
        return stages_fingerprint(program)
    h = hashlib.sha256(show(program).encode())
    for root in program.terms():
        for t in walk(root):
            if isinstance(t, PrimitiveCall):
                for v in (*t.args, *(v for _, v in t.kwargs)):
                    if hasattr(v, "describe") and not isinstance(v, (Term, Player)):
                        text = repr(v)  # shown abbreviated; hashed in full where stable
                        h.update((v.describe() if " at 0x" in text else text).encode())
    for p in program.players:
        _, params, _ = p.abstract()
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            h.update(f"{p.name}{jax.tree_util.keystr(path)}:{leaf.shape}:{leaf.dtype};".encode())
    return h.hexdigest()[:16]


def stages_fingerprint(staged: StagedProgram) -> str:
    """Returns the fingerprint of a staged program (its stages' names, budgets and
    program fingerprints).

    Args:
      staged: a staged program.
    Returns:
      A 16-hex-digit string.
    """
    h = hashlib.sha256()
    for s in staged.stages:
        h.update(f"{s.name}:{s.steps}:{fingerprint(s.program)};".encode())
    return h.hexdigest()[:16]
