"""Quality metrics: mode coverage of mixtures (defined in :mod:`gendsl.datasets.coverage`,
beside the mixtures), MMD/KID, digits feature-space KID, adversarial risk of linear
models, parameter recovery."""

from gendsl.datasets.coverage import mode_coverage
from gendsl.metrics.mmd import kid, mmd2_unbiased, polynomial_kernel
from gendsl.metrics.classifier import DigitsClassifier, digits_classifier
from gendsl.metrics.feature_kid import digits_kid
from gendsl.metrics.recovery import correlation_matrix, parameter_recovery, r_squared
from gendsl.metrics.robust_risk import (adversarial_minimizer, gaussian_adversarial_risk,
                                        linear_adversarial_risk, minimal_adversarial_risk)

__all__ = [
    "correlation_matrix",
    "parameter_recovery",
    "r_squared",
    "DigitsClassifier",
    "adversarial_minimizer",
    "digits_classifier",
    "digits_kid",
    "gaussian_adversarial_risk",
    "kid",
    "linear_adversarial_risk",
    "minimal_adversarial_risk",
    "mmd2_unbiased",
    "mode_coverage",
    "polynomial_kernel",
]
