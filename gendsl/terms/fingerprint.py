"""A program's fingerprint: a stable hash stored with every checkpoint.

Two programs have the same fingerprint when they print the same (:func:`gendsl.show`:
solver, players, sources, objectives) and their players' parameters have the same
paths, shapes and dtypes. Optimizer hyperparameters are not part of it (optax
optimizers are closures), so a run may resume with, say, a changed learning rate.
"""

from __future__ import annotations

import hashlib

import jax

from gendsl.terms.program import Program
from gendsl.terms.show import show


def fingerprint(program) -> str:
    """Returns a 16-hex-digit fingerprint of ``program``, stable across processes.

    Args:
      program: the program (or a staged program).
    Returns:
      A hex string.
    """
    from gendsl.terms.stages import StagedProgram, stages_fingerprint
    if isinstance(program, StagedProgram):
        return stages_fingerprint(program)
    h = hashlib.sha256(show(program).encode())
    for p in program.players:
        _, params, _ = p.abstract()
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            h.update(f"{p.name}{jax.tree_util.keystr(path)}:{leaf.shape}:{leaf.dtype};".encode())
    return h.hexdigest()[:16]
