"""Solvers: how a program's objectives become one step's update.

A solver is data (a frozen dataclass): ``minimize``/``simultaneous``, ``alternating``,
and ODE integrators from Butcher tableaux (``euler``, ``heun``, ``rk4``, ``ode``), with
the ODE-GAN regulariser, and ``PushSnapshots`` (the gradient layer's generator form: a
solver wrapped to push discriminator snapshots into a store). Solvers see a program
only through the :class:`Game` protocol and return a :class:`StepResult`; subclass :class:`Solver` to add one.
"""

from gendsl.solvers.alternating import Alternating, alternating
from gendsl.solvers.base import Solver, StepResult
from gendsl.solvers.game import Game, GamePoint
from gendsl.solvers.ode import ODESolver, ODEStageScaleWarning, euler, heun, ode, rk4
from gendsl.solvers.regularizer import GradNormPenalty, grad_norm_penalty
from gendsl.solvers.snapshot_push import PushSnapshots
from gendsl.solvers.simultaneous import Simultaneous, minimize, simultaneous
from gendsl.solvers.tableau import EULER, HEUN, RK4, ButcherTableau, tableau

__all__ = ["Alternating", "ButcherTableau", "EULER", "Game", "GamePoint", "GradNormPenalty",
           "HEUN", "ODESolver", "ODEStageScaleWarning", "PushSnapshots", "RK4", "Simultaneous", "Solver", "StepResult", "alternating",
           "euler", "grad_norm_penalty", "heun", "minimize", "ode", "rk4", "simultaneous",
           "tableau"]
