"""Quality metrics: mode coverage of mixtures, MMD/KID, digits feature-space KID."""

from gendsl.metrics.coverage import mode_coverage
from gendsl.metrics.mmd import kid, mmd2_unbiased, polynomial_kernel
from gendsl.metrics.classifier import DigitsClassifier, digits_classifier
from gendsl.metrics.feature_kid import digits_kid
from gendsl.metrics.recovery import correlation_matrix, parameter_recovery, r_squared

__all__ = [
    "correlation_matrix",
    "parameter_recovery",
    "r_squared",
    "DigitsClassifier",
    "digits_classifier",
    "digits_kid",
    "kid",
    "mmd2_unbiased",
    "mode_coverage",
    "polynomial_kernel",
]
