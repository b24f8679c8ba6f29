"""The latent target: what every sampler draws from.

A trained GAN gives a generator ``G`` and a discriminator logit ``d``. With an optimal
discriminator, ``d(x) = log p_data(x) / p_G(x)``, so the latent law

    pi(z)  ∝  N(z; 0, I) · exp(d(G(z)))

pushes forward through ``G`` to ``p_data`` (Che et al. 2020; Wang et al. 2021). A
:class:`LatentTarget` holds ``G`` and ``d`` as pure functions of (parameters, one
input), their parameters as arrays, the latent shape and an affine calibration
``(scale, shift)`` of the logit (see :mod:`gendsl.samplers.calibration`), so that the
log density ratio a sampler uses is ``scale * d(x) + shift``.

It is a pytree (parameters and calibration are its leaves; the functions and the
latent shape are static), so a compiled sampler takes it as an argument: a new
checkpoint or a new calibration reuses the compiled function. Modules enter through
the Flax NNX functional pattern: ``nnx.split`` once, ``nnx.merge`` inside the pure
function.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import nnx

from gendsl.errors import SamplerError, UnknownPlayerError
from gendsl.terms.player import Points


@dataclasses.dataclass(frozen=True)
class ModuleApply:
    """``(state, one input) -> one output`` of an NNX module's graph: merges the module
    and applies it to a batch of one. Hashable by its graph definition, so two targets
    built from modules of the same architecture share a compiled sampler.

    Attributes:
      graphdef: the module's ``nnx.GraphDef``.
      scalar: squeeze the output to a scalar (a discriminator's logit).
    """

    graphdef: Any
    scalar: bool = False

    def __call__(self, state: Any, x: jax.Array) -> jax.Array:
        out = nnx.merge(self.graphdef, state)(x[None])[0]
        return jnp.reshape(out, ()) if self.scalar else out


@dataclasses.dataclass(frozen=True)
class PlainFunction:
    """``(ignored parameters, x) -> f(x)``: a parameter-free function as a target's
    generator or discriminator (see :func:`target_from_functions`).

    Attributes:
      fn: a function of one input (not a batch).
    """

    fn: Callable[[jax.Array], jax.Array]

    def __call__(self, params: Any, x: jax.Array) -> jax.Array:
        del params
        return self.fn(x)


@dataclasses.dataclass(frozen=True, eq=False)
class LatentTarget:
    """The latent law ``pi(z) ∝ N(z; 0, I) exp(scale * d(G(z)) + shift)`` of a GAN.

    Build it with :func:`target_of` (a compiled program and its state),
    :func:`target_from_modules` (two NNX modules) or :func:`target_from_functions`.

    Attributes:
      generator: ``(g_params, z) -> x`` for one latent ``z`` of ``latent_shape``.
      discriminator: ``(d_params, x) -> scalar logit`` for one sample ``x``.
      g_params, d_params: their parameters (pytrees of arrays; None for plain functions).
      latent_shape: the shape of one latent.
      scale, shift: the calibration ``(a, b)`` of the logit; ``(1, 0)`` is uncalibrated.
    """

    generator: Callable[[Any, jax.Array], jax.Array]
    discriminator: Callable[[Any, jax.Array], jax.Array]
    g_params: Any
    d_params: Any
    latent_shape: tuple[int, ...]
    scale: Any = 1.0
    shift: Any = 0.0

    def generate(self, z: jax.Array) -> jax.Array:
        """Returns ``G(z)`` for one latent ``z``."""
        return self.generator(self.g_params, z)

    def logit(self, x: jax.Array) -> jax.Array:
        """Returns the raw (uncalibrated) discriminator logit ``d(x)`` of one sample."""
        return self.discriminator(self.d_params, x)

    def log_ratio(self, z: jax.Array) -> jax.Array:
        """Returns the calibrated log density ratio ``scale * d(G(z)) + shift``."""
        return self.scale * self.logit(self.generate(z)) + self.shift

    def log_prior(self, z: jax.Array) -> jax.Array:
        """Returns ``log N(z; 0, I)`` up to its constant: ``-|z|^2 / 2``."""
        return -0.5 * jnp.sum(jnp.square(z))

    def log_density(self, z: jax.Array) -> jax.Array:
        """Returns ``log pi(z)`` up to a constant: ``log_prior(z) + log_ratio(z)``."""
        return self.log_prior(z) + self.log_ratio(z)

    def draw(self, key: jax.Array) -> jax.Array:
        """Returns one latent drawn from the prior ``N(0, I)``."""
        return jax.random.normal(key, self.latent_shape)

    def calibrated(self, calibration: Any) -> "LatentTarget":
        """Returns this target with the logit calibrated by ``calibration`` (anything
        with ``scale`` and ``shift``, e.g. :func:`gendsl.samplers.calibrate`'s result)."""
        return dataclasses.replace(self, scale=float(calibration.scale),
                                   shift=float(calibration.shift))

    def describe(self) -> str:
        """Returns a one-line description of the target."""
        dims = ", ".join(str(d) for d in self.latent_shape)
        return (f"latent target pi(z) ∝ N(z; 0, I_({dims})) exp({float(self.scale):.4g} "
                f"d(G(z)) + {float(self.shift):.4g})")


jax.tree_util.register_dataclass(
    LatentTarget, data_fields=["g_params", "d_params", "scale", "shift"],
    meta_fields=["generator", "discriminator", "latent_shape"])


def _shape(latent_shape: int | tuple[int, ...]) -> tuple[int, ...]:
    shape = (latent_shape,) if isinstance(latent_shape, int) else tuple(latent_shape)
    if not shape or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise SamplerError(f"latent_shape must be a positive int or a tuple of them, got "
                           f"{latent_shape!r}")
    return shape


def _checked(target: LatentTarget) -> LatentTarget:
    """``target`` after checking abstractly (no FLOPs) that ``d(G(z))`` is a scalar."""
    z = jax.ShapeDtypeStruct(target.latent_shape, jnp.float32)
    try:
        x = jax.eval_shape(lambda t, z: t.generate(z), target, z)
        out = jax.eval_shape(lambda t, x: t.discriminator(t.d_params, x), target, x)
    except (TypeError, ValueError) as e:
        raise SamplerError(f"the generator does not map a latent of shape "
                           f"{target.latent_shape} to a sample the discriminator takes: "
                           f"{e}; check latent_shape") from e
    if math.prod(out.shape) != 1:
        raise SamplerError(f"the discriminator gives {out.shape} per sample; a sampler "
                           "needs one logit per sample")
    return target


def target_from_modules(generator: nnx.Module, discriminator: nnx.Module,
                        latent_shape: int | tuple[int, ...]) -> LatentTarget:
    """The latent target of two Flax NNX modules, as they are (put them in eval mode
    first if they have dropout or batch statistics).

    Args:
      generator: maps a batch of latents ``(n, *latent_shape)`` to samples.
      discriminator: maps a batch of samples to ``(n,)`` or ``(n, 1)`` logits.
      latent_shape: the shape of one latent.
    Returns:
      An uncalibrated :class:`LatentTarget` holding copies of the modules' states.
    Raises:
      SamplerError: the modules do not compose into one logit per latent.
    """
    g_def, g_state = nnx.split(generator)
    d_def, d_state = nnx.split(discriminator)
    return _checked(LatentTarget(ModuleApply(g_def), ModuleApply(d_def, scalar=True),
                                 g_state, d_state, _shape(latent_shape)))


def target_from_functions(generate: Callable[[jax.Array], jax.Array],
                          logit: Callable[[jax.Array], jax.Array],
                          latent_shape: int | tuple[int, ...]) -> LatentTarget:
    """The latent target of two plain functions (no parameters), e.g. a linear generator
    and an exact log density ratio in a test.

    Args:
      generate: ``z -> x`` for one latent.
      logit: ``x -> scalar`` for one sample.
      latent_shape: the shape of one latent.
    Returns:
      An uncalibrated :class:`LatentTarget`.
    """
    return _checked(LatentTarget(PlainFunction(generate), PlainFunction(logit), None, None,
                                 _shape(latent_shape)))


def target_of(compiled: Any, state: Any, generator: str = "G", discriminator: str = "D",
              latent: str | None = None) -> LatentTarget:
    """The latent target of a trained program: its generator (with its EMA parameters
    where the program keeps them, as ``compiled.sample`` does) and its discriminator,
    both in eval mode.

    Args:
      compiled: a ``gd.compile``'d program (or ``gd.load_run(dir).compiled``).
      state: its train state.
      generator: the generator player's name.
      discriminator: the discriminator player's name.
      latent: the latent's name; may be left out when the program has one latent.
    Returns:
      An uncalibrated :class:`LatentTarget`.
    Raises:
      SamplerError: a player or the latent is missing, the generator is a points
        player, or the latent is not standard normal.
    """
    program = compiled.program
    for role, name in (("generator", generator), ("discriminator", discriminator)):
        try:
            program.player(name)
        except UnknownPlayerError as e:
            raise SamplerError(f"{role}={name!r}: {e}; pass {role}=NAME") from e
    if isinstance(program.player(generator), Points):
        raise SamplerError(f"generator={generator!r} is a points player (an array of "
                           "samples, no latent): samplers need a generator module G(z)")
    latents = {z.name: z for z in program.latents()}
    if latent is None:
        if len(latents) != 1:
            raise SamplerError(f"the program has latents {sorted(latents)}; pass "
                               "latent=NAME to say which one the generator reads")
        latent = next(iter(latents))
    if latent not in latents:
        raise SamplerError(f"latent={latent!r}: the program's latents are {sorted(latents)}")
    z = latents[latent]
    if z.dist != "normal":
        raise SamplerError(f"latent {latent!r} is {z.describe()}; the samplers' latent "
                           "target assumes a standard normal prior: use gd.latent(name, "
                           "shape) with dist='normal'")
    if generator in state.ema:
        state = state.replace(params={**state.params, generator: state.ema[generator]})
    return target_from_modules(compiled.module(state, generator),
                               compiled.module(state, discriminator), z.shape)
