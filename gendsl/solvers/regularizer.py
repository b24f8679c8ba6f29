"""The ODE-GAN gradient-norm regulariser (Qin et al., 2020).

``grad_norm_penalty(D, of=G, weight=lam)`` adds to player D's velocity the term
``-lam * grad_D ||grad_G L_G||^2``: it penalises the discriminator for making the
generator's gradient large, which damps the rotational dynamics of the game. It is
evaluated by double backpropagation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

from gendsl.errors import SolverError
from gendsl.solvers.game import GamePoint, Params


@dataclasses.dataclass(frozen=True)
class GradNormPenalty:
    """``-weight * grad_{target} ||grad_{of} L_{of}||^2`` added to ``target``'s velocity.

    Attributes:
      target: the name of the penalised player (the discriminator).
      of: the name of the player whose loss gradient norm is penalised (the generator).
      weight: the penalty weight (lambda).
    """

    target: str
    of: str
    weight: float

    def describe(self) -> str:
        """Returns the penalty as text."""
        return f"{self.weight} * grad_{self.target} |grad_{self.of} L_{self.of}|^2"

    def velocity(self, point: GamePoint, params: Params) -> tuple[Any, jax.Array]:
        """Returns ``(velocity term for target, the squared norm)`` at ``params``.

        Args:
          point: the game at the step's batch and key.
          params: every player's parameters.
        """
        def sq_norm_of_grad(target_params):
            _, g, _ = point.grad(self.of, {**params, self.target: target_params})
            return optax.tree.norm(g, squared=True)
        value, g = jax.value_and_grad(sq_norm_of_grad)(params[self.target])
        return jax.tree.map(lambda x: -self.weight * x, g), value


def grad_norm_penalty(target: Any, *, of: Any, weight: float) -> GradNormPenalty:
    """Returns the ODE-GAN regulariser for an ODE solver's ``regularizer=``.

    Args:
      target: the discriminator (player or name) whose velocity is regularised.
      of: the generator (player or name) whose loss gradient norm is penalised.
      weight: lambda (0.07 in the ODE-GAN mixture setting).
    Returns:
      A :class:`GradNormPenalty`.

    >>> grad_norm_penalty("D", of="G", weight=0.07).describe()
    '0.07 * grad_D |grad_G L_G|^2'
    """
    name = lambda p: p if isinstance(p, str) else p.name  # a player or its name
    if weight < 0:
        raise SolverError(f"grad_norm_penalty: weight must be >= 0, got {weight}")
    return GradNormPenalty(name(target), name(of), float(weight))
