"""gendsl: a functional DSL for generative modeling on JAX + Flax NNX.

Write a program of players, sources and objectives; compile it into a pure, jitted,
sharded train step; run it with checkpoints. See docs/tutorial.md.
"""

from gendsl import datasets, errors, kernels, losses, metrics, nn, recipes
from gendsl.compiler import CompiledProgram, CompiledStages, TrainState, compile
from gendsl.errors import GendslError
from gendsl.primitives.adversarial import adversarial
from gendsl.primitives.elbo import elbo
from gendsl.primitives.l1 import l1
from gendsl.primitives.ntk_gp import ntk_gp_loss
from gendsl.primitives.simulator import host_simulator, simulator
from gendsl.sharding import data_parallel
from gendsl.solvers.alternating import Alternating, alternating
from gendsl.solvers.base import Solver
from gendsl.solvers.ode import ODESolver, euler, heun, ode, rk4
from gendsl.solvers.regularizer import GradNormPenalty, grad_norm_penalty
from gendsl.solvers.simultaneous import Simultaneous, minimize, simultaneous
from gendsl.solvers.tableau import EULER, HEUN, RK4, ButcherTableau, tableau
from gendsl.terms.fingerprint import fingerprint
from gendsl.terms.ops import (abs_ as abs, exp, log, mean, named, sigmoid, softplus, sq_norm,
                              sqrt, square, stop_gradient, sum_ as sum)
from gendsl.terms.player import Player, Points, from_linen, player, points
from gendsl.terms.primitive import Primitive, primitive
from gendsl.terms.proximal import ProximalPrimitive, proximal
from gendsl.terms.program import Program, program
from gendsl.terms.show import show
from gendsl.terms.sources import data, latent
from gendsl.terms.stages import Stage, StagedProgram, stage, stages
from gendsl.terms.synthesized import clip_to, synthesized_points
from gendsl.terms.term import Term
from gendsl.run import Config, Experiment, FitResult, fit
from gendsl.experiments import run_experiment

__version__ = "0.1.0"
