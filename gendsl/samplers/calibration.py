"""Calibrating the discriminator's logit into a log density ratio (Platt scaling).

A trained discriminator's logit is a log density ratio only when it is calibrated. We
fit ``P(real | x) = sigmoid(a d(x) + c)`` by logistic regression (Platt scaling) on
held-out real samples and generated ones, and use ``a d(x) + b`` with
``b = c - log(n_real / n_generated)`` (the class prior removed) as the log ratio
``log p_data(x) / p_G(x)``. The fit is scikit-learn's unpenalised
``LogisticRegression`` (``C=inf``: the default L2 penalty would shrink ``a`` towards 0).
The calibration error is reported before (``sigmoid(d)``) and after
(``sigmoid(a d + c)``): the expected calibration error over equal-width bins of the
predicted probability and the log loss. scikit-learn is imported when a fit is made, not
with gendsl (it brings SciPy's statistics and pandas: over a second of every start).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from gendsl.errors import SamplerError
from gendsl.samplers.target import LatentTarget


@dataclasses.dataclass(frozen=True)
class CalibrationError:
    """How far predicted probabilities are from observed frequencies.

    Attributes:
      ece: expected calibration error (equal-width bins, weighted by their counts).
      log_loss: mean negative log-likelihood of the labels.
    """

    ece: float
    log_loss: float


@dataclasses.dataclass(frozen=True)
class Calibration:
    """A Platt-scaled logit: the log density ratio is ``scale * d(x) + shift``.

    Attributes:
      scale, shift: ``a`` and ``b``.
      before, after: :class:`CalibrationError` of ``sigmoid(d)`` and of the fitted
        ``sigmoid(a d + c)`` on the calibration set.
      n_real, n_generated: the calibration set's sizes.
    """

    scale: float
    shift: float
    before: CalibrationError
    after: CalibrationError
    n_real: int
    n_generated: int

    def summary(self) -> dict[str, float]:
        """Returns the calibration as JSON-ready values."""
        return {"scale": self.scale, "shift": self.shift, "ece_before": self.before.ece,
                "ece_after": self.after.ece, "log_loss_before": self.before.log_loss,
                "log_loss_after": self.after.log_loss}


def expected_calibration_error(probabilities, labels, bins: int = 10) -> float:
    """The expected calibration error of predicted probabilities of label 1.

    Args:
      probabilities: predicted ``P(label = 1)``.
      labels: 0/1 labels.
      bins: equal-width bins over [0, 1].
    Returns:
      ``sum_b (n_b / n) |mean label_b - mean probability_b|``.

    >>> round(expected_calibration_error(np.array([0.2, 0.2, 0.9]), np.array([0, 1, 1])), 6)
    0.233333
    """
    p, y = np.asarray(probabilities, np.float64), np.asarray(labels, np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(y[inside].mean() - p[inside].mean())
    return float(total / len(p))


def _errors(logits: np.ndarray, labels: np.ndarray) -> CalibrationError:
    from sklearn.metrics import log_loss

    p = 1.0 / (1.0 + np.exp(-logits))
    return CalibrationError(expected_calibration_error(p, labels),
                            float(log_loss(labels, np.clip(p, 1e-12, 1 - 1e-12))))


def fit_platt(real_logits, generated_logits) -> Calibration:
    """Platt scaling of a discriminator's logits on real and generated samples.

    Args:
      real_logits: ``d(x)`` of held-out real samples.
      generated_logits: ``d(G(z))`` of generated samples.
    Returns:
      A :class:`Calibration`.
    Raises:
      SamplerError: a set is empty or not finite, or the logits separate the two sets
        perfectly (the log ratio is then unbounded and no fit exists).
    """
    real = np.asarray(real_logits, np.float64).reshape(-1)
    fake = np.asarray(generated_logits, np.float64).reshape(-1)
    if real.size == 0 or fake.size == 0:
        raise SamplerError("calibration needs held-out real and generated samples; got "
                           f"{real.size} real and {fake.size} generated")
    if not (np.all(np.isfinite(real)) and np.all(np.isfinite(fake))):
        raise SamplerError("the discriminator's logits on the calibration set are not all "
                           "finite; check the checkpoint")
    if real.min() > fake.max() or fake.min() > real.max():
        raise SamplerError("the discriminator separates the held-out real and generated "
                           "samples perfectly, so its log ratio cannot be calibrated; use "
                           "more calibration samples or an earlier checkpoint")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([real, fake])[:, None]
    y = np.concatenate([np.ones(real.size), np.zeros(fake.size)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model = LogisticRegression(C=np.inf, tol=1e-8, max_iter=1000).fit(x, y)
        except ConvergenceWarning as e:
            raise SamplerError(f"Platt scaling did not converge ({e}); the calibration set "
                               "may be too small") from e
    a, c = float(model.coef_[0, 0]), float(model.intercept_[0])
    return Calibration(scale=a, shift=c - float(np.log(real.size / fake.size)),
                       before=_errors(x[:, 0], y), after=_errors(a * x[:, 0] + c, y),
                       n_real=int(real.size), n_generated=int(fake.size))


def calibrate(target: LatentTarget, real, key: jax.Array,
              num_generated: int | None = None) -> Calibration:
    """Calibrates a target's discriminator on held-out real samples and fresh ones from
    its generator (Platt scaling, see the module doc).

    Args:
      target: the latent target (its current calibration is ignored).
      real: held-out real samples ``(n, *sample_shape)``, not used in training.
      key: PRNG key for the generated samples' latents.
      num_generated: how many to generate (default: as many as ``real``).
    Returns:
      A :class:`Calibration`; apply it with ``target.calibrated(calibration)``.
    Raises:
      SamplerError: see :func:`fit_platt`.
    """
    real = jnp.asarray(real)
    n = real.shape[0] if num_generated is None else int(num_generated)
    if n < 1:
        raise SamplerError(f"num_generated={num_generated!r}; it must be >= 1")
    return fit_platt(np.asarray(_real_logits(target, real)),
                     np.asarray(_generated_logits(target, key, n)))


@jax.jit
def _real_logits(target: LatentTarget, real: jax.Array) -> jax.Array:
    return jax.vmap(target.logit)(real)


@functools.partial(jax.jit, static_argnums=2)
def _generated_logits(target: LatentTarget, key: jax.Array, n: int) -> jax.Array:
    z = jax.vmap(target.draw)(jax.random.split(key, n))
    return jax.vmap(lambda z: target.logit(target.generate(z)))(z)
