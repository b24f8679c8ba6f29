"""SimVAE (Srivastava et al., 2019, arXiv 1911.08051) as a two-stage program.

A VAE trained with a simulator as teacher:

1. ``decoder``: the decoder learns the simulator,
   ``min_Dec E_{z ~ N(0, I)} loss(Dec(z), Sim(z))`` with the squared error or the
   Gaussian negative log-likelihood;
2. ``encoder``: the decoder is frozen and the encoder learns to invert it,
   ``max_E ELBO(E, Dec; x)`` on simulator outputs ``x = Sim(z) + noise`` (or on real
   data given as a term).

The simulator is a :func:`gendsl.simulator` primitive over the standard normal latent;
parameters with another prior are reached through a transform inside the simulator
(e.g. :func:`uniform_box`), so after training the encoder's latent means, mapped
through the same transform, estimate the simulator's parameters.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gendsl.errors import ProgramError
from gendsl.primitives.elbo import elbo
from gendsl.solvers.simultaneous import minimize
from gendsl.terms.ops import mean, named, sq_norm
from gendsl.terms.player import Player
from gendsl.terms.primitive import Primitive
from gendsl.terms.program import program
from gendsl.terms.sources import data, latent
from gendsl.terms.stages import StagedProgram, stage, stages
from gendsl.terms.term import Term


def uniform_box(low: Sequence[float], high: Sequence[float]):
    """Returns ``T(z) = low + (high - low) * Phi(z)``: N(0, I) onto a uniform box prior.

    Args:
      low: lower corner of the box, one value per parameter.
      high: upper corner.
    Returns:
      A function mapping standard normal ``z`` (``(..., k)``) to parameters.

    >>> T = uniform_box([0.0], [2.0])
    >>> float(T(jnp.zeros(1))[0])
    1.0
    """
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    if low.shape != high.shape or low.ndim != 1 or not np.all(high > low):
        raise ProgramError(f"uniform_box: need 1-D low < high of one shape, got {low}, {high}")

    def to_params(z):
        return low + (high - low) * jax.scipy.stats.norm.cdf(z)
    return to_params


def simvae(sim: Primitive, decoder: Player, encoder: Player, *, latent_dim: int,
           decoder_steps: int, encoder_steps: int, obs_noise: float = 0.05,
           decoder_loss: str = "mse", observations: Term | None = None,
           z_field: str = "z") -> StagedProgram:
    """Returns SimVAE's two stages: the decoder learns ``sim``, then the encoder inverts it.

    Args:
      sim: the simulator, a primitive of the standard normal latent (``gd.simulator``).
      decoder: ``Dec(z) -> x``, trained in stage 1 and frozen in stage 2.
      encoder: ``E(x) -> (mean, log_std)`` of ``q(z | x)``, trained in stage 2.
      latent_dim: the latent (= simulator parameter) dimension.
      decoder_steps: stage 1's step budget.
      encoder_steps: stage 2's step budget.
      obs_noise: the observation noise standard deviation: added to simulator outputs
        in stage 2 and used as the Gaussian likelihood's scale.
      decoder_loss: ``"mse"`` (squared error) or ``"gaussian"`` (the negative
        log-likelihood under ``N(Dec(z), obs_noise^2 I)``, up to a constant).
      observations: stage 2's data as a term (e.g. ``gd.data("x")`` for real data);
        ``None`` uses noisy simulator outputs.
      z_field: the batch field holding prior draws (``gd.datasets.standard_normal``).
    Returns:
      A :class:`~gendsl.terms.stages.StagedProgram` with stages ``decoder`` and
      ``encoder``; both read batches of prior draws (with ``observations``, stage 2
      reads that term's fields instead).
    """
    if decoder_loss not in ("mse", "gaussian"):
        raise ProgramError(f"simvae: decoder_loss must be 'mse' or 'gaussian', got {decoder_loss!r}")
    if obs_noise <= 0:
        raise ProgramError(f"simvae: obs_noise must be positive, got {obs_noise}")
    z = data(z_field)
    error = sq_norm(decoder(z) - sim(z))
    if decoder_loss == "gaussian":
        error = 0.5 / obs_noise ** 2 * error
    teach = program({decoder: mean(error)}, minimize(), samples=decoder(z))
    if observations is None:
        noise = latent("obs_noise", _output_shape(sim, latent_dim))
        observations = named("x", sim(z) + obs_noise * noise)
    invert = program({encoder: -elbo(encoder, decoder, observations, likelihood="gaussian",
                                     obs_std=obs_noise)},
                     minimize(), frozen=[decoder], samples=decoder(latent("prior", latent_dim)))
    return stages([stage("decoder", teach, steps=decoder_steps),
                   stage("encoder", invert, steps=encoder_steps)])


def _output_shape(sim: Primitive, latent_dim: int) -> tuple[int, ...]:
    """The per-example output shape of ``sim``, by abstract evaluation."""
    theta = jax.ShapeDtypeStruct((1, latent_dim), jnp.float32)
    if sim.needs_key:
        out = jax.eval_shape(lambda t: sim.rule(t, key=jax.random.key(0)), theta)
    else:
        out = jax.eval_shape(sim.rule, theta)
    return tuple(out.shape[1:])


def recovery_evaluation(render: Callable[[jax.Array], jax.Array], to_params: Callable,
                        names: Sequence[str], *, encoder: str = "E", num_test: int = 2000,
                        obs_noise: float = 0.05, seed: int = 12345):
    """Returns an experiment ``evaluate`` measuring how well the encoder inverts ``render``.

    Held-out latents ``z`` (``num_test`` standard normal draws from ``seed``) are rendered
    with observation noise; the encoder's means ``m`` give estimates ``to_params(m)`` of
    the true ``to_params(z)``.

    Args:
      render: the per-example simulator of the standard normal latent.
      to_params: latent -> simulator parameters (e.g. :func:`uniform_box`).
      names: the parameters' names.
      encoder: the encoder player's name.
      num_test: held-out examples.
      obs_noise: observation noise standard deviation added to the renders.
      seed: the held-out set's seed.
    Returns:
      ``evaluate(compiled, state, key) -> dict`` with
      :func:`gendsl.metrics.parameter_recovery`'s metrics (R^2 per parameter, the
      latent-parameter correlation matrix and ``one_to_one``).
    """
    from gendsl.metrics.recovery import parameter_recovery

    k_z, k_noise = jax.random.split(jax.random.key(seed))
    z_test = jax.random.normal(k_z, (num_test, len(names)))
    x_test = jax.vmap(render)(z_test)
    x_test = x_test + obs_noise * jax.random.normal(k_noise, x_test.shape)
    truth = np.asarray(to_params(z_test))

    def evaluate(compiled, state, key):
        mean_z, _ = compiled.apply(state, encoder, x_test)
        return parameter_recovery(np.asarray(to_params(mean_z)), truth, names,
                                  latent=np.asarray(mean_z))
    return evaluate
