"""Integrating the game's gradient flow with explicit Runge-Kutta methods (ODE-GAN).

Each trainable player's velocity is minus the gradient of its own loss; the solver
integrates all players jointly with a :class:`~gendsl.solvers.tableau.ButcherTableau`:

    k_i = v(y + h sum_j a_ij k_j),     y' = y + h sum_i b_i k_i.

An optional :class:`~gendsl.solvers.regularizer.GradNormPenalty` is added to the
discriminator's velocity at the first stage only, scaled by ``1 / b_1`` so that the
step carries exactly ``h * regulariser`` (Qin et al., 2020): it is evaluated at the
starting point and enters the weighted combination of the stages, not the points at
which the later stages are evaluated. The step is a plain step
of size ``h``; with ``use_optimizers=True`` the combined direction is instead fed to
each player's optax optimizer as its gradient.

**What ``h`` means with ``use_optimizers=True``.** The update is then the optimizer's
step on ``-sum_i b_i k_i``, but the later stages are still evaluated at
``y + h sum_j a_ij k_j``: ``h`` times a *gradient*, in gradient units, not in the
optimizer's step units. ``h`` only spaces the stages (Euler, one stage, ignores it). For
plain SGD with learning rate ``lr``, ``h = lr`` makes the stages lie on the path the
step takes; for Adam, whose steps are about ``lr`` per coordinate whatever the gradient's
size, pick ``h`` so that ``h * |gradient|`` is about the size of the optimizer's step.
``h = 1`` with Adam puts the stages orders of magnitude farther out than the step goes
and can collapse training without any error. The solver therefore records
``ode/stage_to_step`` (the stage displacement ``h |sum_i b_i k_i|`` over the norm of the
optimizer's update, all players together; 1 is a matched pair) and warns with an
:class:`ODEStageScaleWarning` when it leaves [1/10, 10] (a ``jax.debug.callback`` under
``lax.cond``, so nothing leaves the device on a healthy step).

``coupling="joint"`` (the default) integrates the game's flow: every stage is evaluated
with every player at its stage point. ``coupling="per_player"`` is what ODE-GAN's
reference code does: each player integrates its own flow with the other players frozen
at the start of the step (a Jacobi splitting of the same vector field, first-order
accurate in the coupling, with the same cost).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import optax

from gendsl.errors import SolverError, TableauError
from gendsl.solvers.base import Solver, StepResult, require_players
from gendsl.solvers.game import Game, Params
from gendsl.solvers.regularizer import GradNormPenalty
from gendsl.solvers.tableau import EULER, HEUN, RK4, ButcherTableau


COUPLINGS = ("joint", "per_player")
STAGE_SCALE_BAND = (0.1, 10.0)
"""``ode/stage_to_step`` outside this band warns (see the module docstring)."""


class ODEStageScaleWarning(UserWarning):
    """With ``use_optimizers=True``, the stages are evaluated much farther from (or much
    nearer to) the start than the optimizer's step goes: ``h`` is mis-scaled."""


def _warn_stage_scale(name, h, ratio) -> None:
    low, high = STAGE_SCALE_BAND
    warnings.warn(
        f"ODE solver {name}(h={h}, use_optimizers=True): the later stages are evaluated "
        f"{float(ratio):.3g} times as far from the start as the optimizer's step goes "
        f"(outside [{low:g}, {high:g}]). With use_optimizers=True, h scales gradients, "
        "not optimizer steps: choose h so that h * |gradient| is about the optimizer's "
        f"step (h = lr for SGD), e.g. h = {h / float(ratio):.3g} here. The metric "
        "ode/stage_to_step tracks the ratio.", ODEStageScaleWarning, stacklevel=2)


def _axpy(alpha, x, y):
    return jax.tree.map(lambda a, b: alpha * a + b, x, y)


@dataclasses.dataclass(frozen=True)
class ODESolver(Solver):
    """Integrates the players' joint gradient flow with a Butcher tableau.

    Attributes:
      tableau: the Runge-Kutta method.
      h: the step size.
      regularizer: optional gradient-norm penalty (first stage only, scaled 1/b_1).
      fresh_latents: draw new latents at every stage (default: one draw per step).
      fresh_batches: read a new source batch at every stage (the step then consumes
        ``stages`` batches).
      use_optimizers: feed ``-sum_i b_i k_i`` to each player's optax optimizer instead
        of taking the plain step ``h * sum_i b_i k_i``.
      coupling: ``"joint"`` (the game's flow) or ``"per_player"`` (each player's stages
        see the others at the start of the step, as in ODE-GAN's reference code).
    """

    tableau: ButcherTableau
    h: float
    regularizer: GradNormPenalty | None = None
    fresh_latents: bool = False
    fresh_batches: bool = False
    use_optimizers: bool = False
    coupling: str = "joint"

    def __post_init__(self):
        if self.coupling not in COUPLINGS:
            raise SolverError(
                f"ODE solver {getattr(self.tableau, 'name', '?')!r}: coupling="
                f"{self.coupling!r}; choose one of {COUPLINGS}")
        if not isinstance(self.tableau, ButcherTableau):
            raise TableauError(
                f"an ODE solver needs a ButcherTableau (gd.tableau(...)), got "
                f"{type(self.tableau).__name__}")
        if not self.h > 0:
            raise SolverError(f"ODE solver {self.tableau.name!r}: step size h must be > 0, got {self.h}")
        if self.regularizer is not None and abs(self.tableau.b[0]) < 1e-12:
            raise TableauError(
                f"tableau {self.tableau.name!r} gives its first stage weight b_1 = 0, so the "
                "first-stage regulariser would never reach the update; use another tableau")

    @property
    def batches_per_step(self) -> int:
        return self.tableau.num_stages if self.fresh_batches else 1

    @property
    def uses_optimizers(self) -> bool:
        return self.use_optimizers

    def describe(self) -> str:
        opts = [f"h={self.h}"]
        if self.regularizer is not None:
            opts.append(f"regularizer={self.regularizer.describe()}")
        for flag in ("fresh_latents", "fresh_batches", "use_optimizers"):
            if getattr(self, flag):
                opts.append(f"{flag}=True")
        if self.coupling != "joint":
            opts.append(f"coupling={self.coupling!r}")
        return f"{self.tableau.name}({', '.join(opts)})"

    def check(self, program) -> None:
        if self.regularizer is not None:
            require_players(f"the regulariser of {self.tableau.name}",
                            [self.regularizer.target, self.regularizer.of], program)

    def init(self, game, params):
        if self.use_optimizers:
            return super().init(game, params)
        return {n: () for n in game.players}, {}

    def update(self, game: Game, params: Params, opt_state, solver_state, batch,
               key) -> StepResult:
        tab, names = self.tableau, game.players
        y0 = {n: params[n] for n in names}
        shared = None if self.fresh_latents or self.fresh_batches else game.at(batch, key)
        ks, losses, metrics = [], {}, {}
        for i in range(tab.num_stages):
            y = y0
            for j, a in enumerate(tab.a[i]):
                if a != 0.0:
                    y = {n: _axpy(self.h * a, ks[j][n], y[n]) for n in names}
            point = shared if shared is not None else game.at(
                jax.tree.map(lambda x: x[i], batch) if self.fresh_batches else batch,
                jax.random.fold_in(key, i) if self.fresh_latents else key)
            if i == 0 or self.coupling == "joint":
                grads, stage_losses, stage_metrics = point.field({**params, **y})
            else:  # each player moves alone, the others stay at the step's start
                grads = {n: point.grad(n, {**params, n: y[n]})[1] for n in names}
            k = {n: jax.tree.map(lambda g: -g, grads[n]) for n in names}
            if i == 0:
                losses, metrics = stage_losses, dict(stage_metrics)
                if self.regularizer is not None:
                    r = self.regularizer
                    reg, value = r.velocity(point, {**params, **y})
                    metrics[f"{r.target}/grad_norm_penalty"] = value
            ks.append(k)
        # the later stages are built from the plain flow; the regularised first stage
        # (scaled by 1/b_1) only enters the combination, so the step carries h * reg
        combined = list(ks)
        if self.regularizer is not None:
            t = self.regularizer.target
            combined[0] = {**ks[0], t: _axpy(1.0 / tab.b[0], reg, ks[0][t])}
        direction = {n: jax.tree.map(lambda *xs: sum(bi * x for bi, x in zip(tab.b, xs) if bi != 0.0),
                                     *(k[n] for k in combined)) for n in names}
        params, opt_state = dict(params), dict(opt_state)
        for n in names:
            if self.use_optimizers:
                neg = jax.tree.map(lambda d: -d, direction[n])
                params[n], opt_state[n] = game.apply_optimizer(n, neg, params[n], opt_state[n])
            else:
                params[n] = game.project(n, optax.apply_updates(
                    y0[n], jax.tree.map(lambda d: self.h * d, direction[n])))
        if self.use_optimizers and tab.num_stages > 1:
            metrics["ode/stage_to_step"] = self._check_stage_scale(y0, params, direction)
        return StepResult(params, opt_state, solver_state, losses, metrics)

    def _check_stage_scale(self, y0, params, direction) -> jax.Array:
        """``h |direction| / |update|`` over all players; warns outside the band."""
        stage = self.h * optax.tree.norm(direction)
        step = optax.tree.norm(jax.tree.map(lambda a, b: a - b, {n: params[n] for n in y0}, y0))
        ratio = stage / jax.numpy.maximum(step, 1e-30)
        low, high = STAGE_SCALE_BAND
        warn = functools.partial(_warn_stage_scale, self.tableau.name, self.h)
        jax.lax.cond((ratio < low) | (ratio > high),
                     lambda r: jax.debug.callback(warn, r), lambda r: None, ratio)
        return ratio


def ode(tableau: ButcherTableau, h: float, *, regularizer: GradNormPenalty | None = None,
        fresh_latents: bool = False, fresh_batches: bool = False,
        use_optimizers: bool = False, coupling: str = "joint") -> ODESolver:
    """Returns a solver integrating the game's gradient flow with ``tableau``.

    Args:
      tableau: a :class:`ButcherTableau` (``gd.EULER``, ``gd.HEUN``, ``gd.RK4`` or your own).
      h: the step size.
      regularizer: optional ``gd.grad_norm_penalty(D, of=G, weight=lam)``.
      fresh_latents: new latent draws at every stage.
      fresh_batches: a new source batch at every stage.
      use_optimizers: pass the integrated direction to each player's optax optimizer.
      coupling: ``"joint"`` or ``"per_player"`` (see the module docstring).
    Returns:
      An :class:`ODESolver`.
    """
    return ODESolver(tableau, float(h), regularizer, fresh_latents, fresh_batches,
                     use_optimizers, coupling)


def euler(h: float, **options) -> ODESolver:
    """Forward Euler on the gradient flow (simultaneous gradient descent with step h).

    >>> euler(0.1).describe()
    'euler(h=0.1)'
    """
    return ode(EULER, h, **options)


def heun(h: float, **options) -> ODESolver:
    """Heun's 2nd-order method on the gradient flow; options as for :func:`ode`."""
    return ode(HEUN, h, **options)


def rk4(h: float, **options) -> ODESolver:
    """Classical 4th-order Runge-Kutta on the gradient flow; options as for :func:`ode`."""
    return ode(RK4, h, **options)
