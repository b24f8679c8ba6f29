"""Quality metrics: mode coverage of mixtures, MMD/KID, digits feature-space KID."""

from gendsl.metrics.coverage import mode_coverage
from gendsl.metrics.mmd import kid, mmd2_unbiased, polynomial_kernel

__all__ = [
    "kid",
    "mmd2_unbiased",
    "mode_coverage",
    "polynomial_kernel",
]
