"""Each trainable player's optimizer, wrapped by the proximal steps of its objective.

A proximal term (:mod:`gendsl.terms.proximal`, e.g. ``gd.losses.l1``) is not differentiated:
its player's optax optimizer is wrapped so that every update ends with the term's
proximal step, scaled by the constant the term carries in the objective.
"""

from __future__ import annotations

from typing import Any

import optax

from gendsl.errors import SolverError
from gendsl.terms.proximal import proximal_terms
from gendsl.terms.show import show_term


def player_optimizers(program: Any) -> dict[str, optax.GradientTransformation]:
    """Returns ``{player name: optimizer}`` for the trainable players of ``program``,
    with the proximal steps of their objectives installed.

    Raises:
      PrimitiveError: a proximal term is misplaced (see
        :func:`gendsl.terms.proximal.proximal_terms`).
      SolverError: the solver takes no optimizer steps, so no proximal step could run.
    """
    out = {}
    for player, objective in program.objectives:
        optimizer = player.optimizer
        for coef, call in proximal_terms(objective, player):
            if not getattr(program.solver, "uses_optimizers", True):
                raise SolverError(
                    f"{show_term(call)} is minimised by a proximal step after the "
                    f"optimizer's update, but the solver {program.solver.describe()} "
                    "takes no optimizer steps; use gd.minimize(), gd.alternating(...), or "
                    "an ODE solver with use_optimizers=True")
            optimizer = call.primitive.wrap_optimizer(optimizer, coef, *call.args,
                                                      **dict(call.kwargs))
        out[player.name] = optimizer
    return out
