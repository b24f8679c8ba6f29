"""Sources: where the values of a program come from.

* :func:`data` reads a field of the batch the runner feeds each step.
* :func:`latent` draws a fresh random variable inside the step, from the step's key.

A latent is identified by its name: every occurrence of ``latent("z", ...)`` in one
evaluation of the game's vector field sees the same draw, and each step (each stage,
each inner update of an alternating schedule) draws afresh.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Callable

import jax
import jax.numpy as jnp

from gendsl.errors import ProgramError
from gendsl.terms.term import Term

Distribution = str | Callable[[jax.Array, tuple[int, ...]], jax.Array]
_DISTRIBUTIONS = ("normal", "uniform", "uniform01", "rademacher")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Data(Term):
    """A field of the batch, e.g. ``data("x")``."""

    field: str

    def render(self, show) -> str:
        return self.field


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Latent(Term):
    """A random variable drawn inside the step: ``batch x shape`` samples of ``dist``."""

    name: str
    shape: tuple[int, ...]
    dist: Distribution = "normal"
    batch: int | None = None

    def render(self, show) -> str:
        return self.name

    def describe(self) -> str:
        """Returns the declaration of this latent as text, e.g. ``z ~ normal(64)``."""
        dist = self.dist if isinstance(self.dist, str) else getattr(
            self.dist, "__qualname__", type(self.dist).__name__)
        dims = ", ".join(str(d) for d in self.shape)
        batch = f", batch={self.batch}" if self.batch is not None else ""
        return f"{self.name} ~ {dist}({dims}{batch})"

    def sample(self, key: jax.Array, batch: int, dtype=jnp.float32) -> jax.Array:
        """Draws ``(batch, *shape)`` samples of this latent with ``key``.

        Args:
          key: this latent's key (see :func:`latent_keys`).
          batch: leading dimension, used unless the latent fixes its own ``batch``.
          dtype: floating dtype of the draw.
        Returns:
          An array of shape ``(batch, *shape)``.
        """
        n = self.batch if self.batch is not None else batch
        shape = (n, *self.shape)
        if callable(self.dist):
            return self.dist(key, shape)
        if self.dist == "normal":
            return jax.random.normal(key, shape, dtype)
        if self.dist == "uniform":
            return jax.random.uniform(key, shape, dtype, -1.0, 1.0)
        if self.dist == "uniform01":
            return jax.random.uniform(key, shape, dtype)
        return jax.random.rademacher(key, shape, dtype)


def latent_keys(latents, key: jax.Array) -> dict[str, jax.Array]:
    """Returns one key per latent, derived from an evaluation's key.

    A lone latent uses the key itself; several split it once (one hash for all), in
    the order given, so draws are independent and deterministic.

    Args:
      latents: :class:`Latent` terms (one per name).
      key: the evaluation's key.
    Returns:
      ``{latent name: key}``.
    """
    latents = list(latents)
    if len(latents) == 1:
        return {latents[0].name: key}
    return {z.name: k for z, k in zip(latents, jax.random.split(key, len(latents)))}


def latent_key(name: str, key: jax.Array) -> jax.Array:
    """Returns the key of latent ``name`` when it is drawn on its own (outside a game's
    evaluation, e.g. by a lowering context): ``key`` folded with a hash of the name."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()))


def data(field: str) -> Data:
    """Returns the term reading ``field`` from the batch.

    Args:
      field: key of the batch dict (e.g. ``"x"``).
    Returns:
      A :class:`Data` term.

    >>> data("x")
    Term(x)
    """
    if not isinstance(field, str) or not field:
        raise ProgramError(f"data(field) needs a non-empty field name, got {field!r}")
    return Data(field)


def latent(name: str, shape: int | tuple[int, ...], dist: Distribution = "normal",
           batch: int | None = None) -> Latent:
    """Returns a latent variable drawn afresh inside every step.

    Args:
      name: the latent's name; occurrences with the same name share one draw.
      shape: per-sample shape, e.g. ``(64,)`` or ``64``.
      dist: ``"normal"`` (default), ``"uniform"`` on [-1, 1], ``"uniform01"`` on [0, 1],
        ``"rademacher"``, or a function ``(key, shape) -> array``.
      batch: number of samples per step; by default the batch size of the data.
    Returns:
      A :class:`Latent` term.

    >>> latent("z", 8).describe()
    'z ~ normal(8)'
    """
    shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if isinstance(dist, str) and dist not in _DISTRIBUTIONS:
        raise ProgramError(
            f"latent {name!r}: unknown distribution {dist!r}; use one of {_DISTRIBUTIONS} "
            "or pass a function (key, shape) -> array")
    if batch is not None and batch <= 0:
        raise ProgramError(f"latent {name!r}: batch must be positive, got {batch}")
    return Latent(name, shape, dist, batch)
