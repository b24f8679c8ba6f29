"""GA-NTK's synthesized points: a points player set up as in the reference code.

The points start uniform in the data range, take plain gradient-descent steps (the
reference uses a large step, 1000, on images in [0, 1]), optionally with Gaussian
gradient noise (``optax.add_noise``, whose variance anneals as ``(1 + step)**-decay``),
and are clipped back to the data range after every step (the player's projection).
Everything here is composed from :func:`gendsl.points` and optax; nothing new runs in
the compiler.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import optax

from gendsl.errors import ProgramError
from gendsl.terms.player import Points, points


def clip_to(low: float, high: float) -> Callable[[Any], Any]:
    """A projection clipping every parameter into ``[low, high]``.

    Its name (``clip_to(0.0, 1.0)``) is what :func:`gendsl.show` prints for a player
    projected by it.

    >>> import jax.numpy as jnp
    >>> clip = clip_to(0.0, 1.0)
    >>> clip(jnp.array([-1.0, 0.5, 2.0])).tolist(), clip.__qualname__
    ([0.0, 0.5, 1.0], 'clip_to(0.0, 1.0)')
    """
    low, high = _check_range((low, high))

    def clip(params):
        return jax.tree.map(lambda p: jnp.clip(p, low, high), params)

    clip.__qualname__ = clip.__name__ = f"clip_to({low}, {high})"
    return clip


def synthesized_points(name: str, n: int, sample_shape: Sequence[int],
                       lr: float | optax.Schedule = 1000.0, *,
                       data_range: tuple[float, float] = (0.0, 1.0), noise: float = 0.0,
                       noise_decay: float = 0.55, noise_seed: int = 0) -> Points:
    """A points player holding ``n`` synthesized samples, trained as in GA-NTK.

    Args:
      name: the player's name.
      n: how many points (the reference uses 256).
      sample_shape: the shape of one sample, e.g. ``(2,)`` or ``(28, 28, 1)``.
      lr: the gradient-descent step, or an optax schedule of it (the reference's
        constant 1000 suits the mean cross-entropy on images; 2-D points need a far
        smaller one, see docs/ga_ntk.md).
      data_range: ``(low, high)``: the initial points are uniform in it and every
        update is clipped back into it.
      noise: standard deviation of Gaussian noise added to the gradient before the
        step (0: none); it is scaled by ``lr`` like the gradient.
      noise_decay: the noise variance decays as ``(1 + step)**-noise_decay`` (0: constant).
      noise_seed: seed of the noise stream (kept in the optimizer state, so a resumed
        run continues it).

    Returns:
      A :class:`gendsl.Points` player; ``P()`` is the term of its samples.

    >>> P = synthesized_points("X", 16, (2,), lr=10.0)
    >>> P.build(jax.random.key(0))[1].shape
    (16, 2)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ProgramError(f"synthesized_points({name!r}): n must be a positive int, got {n!r}")
    shape = tuple(sample_shape)
    if not shape or not all(isinstance(d, numbers.Integral) and d > 0 for d in shape):
        raise ProgramError(f"synthesized_points({name!r}): sample_shape must be a tuple of "
                           f"positive ints such as (2,) or (8, 8, 1), got {sample_shape!r}")
    if not (callable(lr) or isinstance(lr, numbers.Real) and lr > 0 and math.isfinite(lr)):
        raise ProgramError(f"synthesized_points({name!r}): lr must be a positive number or "
                           f"an optax schedule, got {lr!r}")
    if not (isinstance(noise, numbers.Real) and noise >= 0):
        raise ProgramError(f"synthesized_points({name!r}): noise must be >= 0, got {noise!r}")
    low, high = _check_range(data_range)
    optimizer = optax.sgd(lr)
    if noise > 0:
        optimizer = optax.chain(optax.add_noise(noise ** 2, noise_decay, int(noise_seed)),
                                optimizer)

    def init(key):
        return jax.random.uniform(key, (int(n),) + shape, minval=low, maxval=high)

    init.__qualname__ = f"uniform({low}, {high})"
    return points(name, init, optimizer, project=clip_to(low, high))


def _check_range(data_range: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise ProgramError(f"data_range must be a pair (low, high) such as (0.0, 1.0), got "
                           f"{data_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and high > low):
        raise ProgramError(f"data_range must have finite low < high, got {data_range!r}")
    return low, high
