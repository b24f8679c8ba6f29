"""gendsl: a functional DSL for generative modeling on JAX + Flax NNX.

Write a program of players, sources and objectives; compile it into a pure, jitted,
sharded train step; run it with checkpoints. See docs/tutorial.md; docs/language.md
lists every name below.

The namespace is organised one way: the language (players, sources, term functions,
programs, stages), the solvers' constructors and the types users subclass, compiling
and running sit at ``gd.*``; every objective primitive gendsl ships (GAN losses,
penalties, the ELBO, adversarial risk, L1, the NTK-GP loss) sits in ``gd.losses``;
data, metrics, kernels, modules, recipes, samplers and latent geometry are
subpackages. Internals (the compiler's ``Game`` and ``LoweringContext``, the concrete
solver classes) live in their submodules.
"""

from gendsl import (datasets, errors, geometry, kernels, losses, metrics, nn, recipes, run,
                    samplers, solvers)
from gendsl.compiler import CompiledProgram, CompiledStages, TrainState, compile
from gendsl.errors import GendslError
from gendsl.experiments import run_experiment, run_program_file
from gendsl.loaded_run import LoadedRun, load_run
from gendsl.primitives.gradient_layer import gradient_layer
from gendsl.primitives.gradient_stack import gradient_stack
from gendsl.primitives.simulator import host_simulator, simulator
from gendsl.run import Config, Experiment, FitResult, LoopSettings, fit
from gendsl.run import run_info as _run_info
from gendsl.sharding import data_parallel
from gendsl.solvers import (EULER, HEUN, RK4, ButcherTableau, Solver, StepResult, alternating,
                            euler, grad_norm_penalty, heun, minimize, ode, rk4, simultaneous,
                            tableau)
from gendsl.terms.fingerprint import fingerprint
from gendsl.terms.ops import (abs_ as abs, exp, log, mean, named, sigmoid, softplus, sq_norm,
                              sqrt, square, stop_gradient, sum_ as sum)
from gendsl.terms.player import Player, Points, from_linen, player, points
from gendsl.terms.primitive import Primitive, primitive
from gendsl.terms.program import Program, program
from gendsl.terms.proximal import ProximalPrimitive, proximal
from gendsl.terms.show import show
from gendsl.terms.snapshots import Snapshots, push_snapshots, snapshots
from gendsl.terms.sources import data, latent
from gendsl.terms.stages import Stage, StagedProgram, stage, stages
from gendsl.terms.synthesized import clip_to, synthesized_points
from gendsl.terms.term import Term

__version__ = _run_info.VERSION

__all__ = [
    # subpackages
    "datasets", "errors", "geometry", "kernels", "losses", "metrics", "nn", "recipes", "run",
    "samplers", "solvers",
    # players and sources
    "player", "points", "from_linen", "synthesized_points", "clip_to", "Player", "Points",
    "data", "latent",
    # terms
    "Term", "mean", "sum", "log", "exp", "sqrt", "square", "abs", "softplus", "sigmoid",
    "sq_norm", "stop_gradient", "named", "primitive", "Primitive", "proximal",
    "ProximalPrimitive", "simulator", "host_simulator",
    # the gradient layer (docs/gradient_layer.md)
    "gradient_layer", "gradient_stack", "snapshots", "Snapshots", "push_snapshots",
    # programs
    "program", "Program", "stage", "stages", "Stage", "StagedProgram", "show", "fingerprint",
    # solvers
    "minimize", "simultaneous", "alternating", "euler", "heun", "rk4", "ode",
    "grad_norm_penalty", "tableau", "ButcherTableau", "EULER", "HEUN", "RK4", "Solver",
    "StepResult",
    # compiling
    "compile", "CompiledProgram", "CompiledStages", "TrainState", "data_parallel",
    # running
    "fit", "LoopSettings", "FitResult", "Experiment", "Config", "run_experiment", "run_program_file",
    "load_run", "LoadedRun",
    # errors
    "GendslError",
]

_MOVED = {
    "adversarial": "gd.losses.adversarial", "elbo": "gd.losses.elbo", "l1": "gd.losses.l1",
    "ntk_gp_loss": "gd.losses.ntk_gp_loss", "Game": "gendsl.compiler.game.Game",
    "LoweringContext": "gendsl.compiler.lowering.LoweringContext",
    "Alternating": "gd.solvers.Alternating", "Simultaneous": "gd.solvers.Simultaneous",
    "ODESolver": "gd.solvers.ODESolver", "GradNormPenalty": "gd.solvers.GradNormPenalty",
}


def __getattr__(name: str):
    if name in _MOVED:
        raise AttributeError(f"gd.{name} moved to {_MOVED[name]} in gendsl 0.2 (every "
                             "objective primitive lives in gd.losses; internals in their "
                             "submodules)")
    raise AttributeError(f"module 'gendsl' has no attribute {name!r}")
