"""KID of generated digits in the feature space of the local digits classifier."""

from __future__ import annotations

import numpy as np

from gendsl.datasets.sklearn_digits import check_scale, digits_arrays
from gendsl.metrics.classifier import DigitsClassifier, digits_classifier
from gendsl.metrics.mmd import kid


def digits_kid(
    samples,
    real=None,
    seed: int = 0,
    scale: tuple[float, float] = (0, 1),
    classifier: DigitsClassifier | None = None,
    subsets: int = 100,
    subset_size: int | None = None,
) -> dict[str, float]:
    """KID between generated digits and real ones, on :class:`DigitsClassifier` features.

    Args:
      samples: generated images, ``(n, 8, 8, 1)``, ``(n, 8, 8)`` or ``(n, 64)``.
      real: real images of the same layout (default: the digits test split).
      seed: seed of the KID subset draws.
      scale: pixel range ``(low, high)`` of ``samples`` and ``real`` (e.g. ``(-1, 1)``
        for a tanh generator); mapped to [0, 1] before the classifier.
      classifier: the feature extractor (default: ``digits_classifier(0)``).
      subsets: KID subsets.
      subset_size: rows per subset (default ``min(1000, n, len(real))``).

    Returns:
      ``{"kid_mean": float, "kid_std": float}``; about 0 for real digits, larger is worse.
    """
    lo, hi = check_scale(scale)
    classifier = digits_classifier(0) if classifier is None else classifier
    to_unit = lambda images: (np.asarray(images, dtype=np.float32) - lo) / (hi - lo)  # noqa: E731
    real_unit = digits_arrays("test")["x"] if real is None else to_unit(real)
    return kid(
        classifier.features(to_unit(samples)),
        classifier.features(real_unit),
        subsets=subsets,
        subset_size=subset_size,
        seed=seed,
    )
