"""The digits classifier and KID in its feature space."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from gendsl.datasets import digits_arrays
from gendsl.errors import MetricError
from gendsl.metrics import DigitsClassifier, digits_classifier, digits_kid

pytestmark = pytest.mark.xdist_group("test_metrics_digits")  # one worker, so its fixtures are built once


@pytest.fixture(scope="session")  # one worker (xdist_group): built once
def classifier() -> DigitsClassifier:
    return digits_classifier(0)


@pytest.fixture(scope="session")  # one worker (xdist_group): built once
def real():
    return digits_arrays("train")["x"], digits_arrays("test")


def _blur(images):
    """3x3 box blur with edge padding."""
    padded = np.pad(images[..., 0], ((0, 0), (1, 1), (1, 1)), mode="edge")
    return (sum(padded[:, i : i + 8, j : j + 8] for i in range(3) for j in range(3)) / 9.0)[..., None]


def test_accuracy_on_the_test_split(classifier, real):
    _, test = real
    accuracy = float((classifier.predict(test["x"]) == test["y"]).mean())
    assert accuracy >= 0.95
    assert classifier.test_accuracy == accuracy


def test_layouts_and_shapes(classifier, real):
    _, test = real
    x = test["x"][:20]
    feats = classifier.features(x)
    assert feats.shape == (20, 128) and feats.dtype == np.float32
    np.testing.assert_array_equal(classifier.features(x.reshape(20, 8, 8)), feats)
    np.testing.assert_array_equal(classifier.predict(x.reshape(20, 64)), classifier.predict(x))
    assert classifier.logits(jax.numpy.asarray(x)).shape == (20, 10)
    with pytest.raises(MetricError, match="64 pixels"):
        classifier.features(np.zeros((3, 7, 7)))


def test_cached_per_seed_and_frozen(classifier):
    assert digits_classifier(0) is classifier
    with pytest.raises(AttributeError):
        classifier.seed = 3


@pytest.mark.slow
def test_training_is_deterministic(classifier):
    retrained = digits_classifier.__wrapped__(0)
    same = jax.tree.map(lambda a, b: bool((np.asarray(a) == np.asarray(b)).all()), classifier.params, retrained.params)
    assert all(jax.tree.leaves(same))


def test_kid_ranks_real_blurred_and_noise(classifier, real):
    train, test = real
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=test["x"].shape).astype(np.float32)
    kw = dict(subsets=20, classifier=classifier)
    real_kid = digits_kid(test["x"], train, **kw)
    blur_kid = digits_kid(_blur(test["x"]), train, **kw)
    noise_kid = digits_kid(noise, train, **kw)
    assert abs(real_kid["kid_mean"]) <= 3 * real_kid["kid_std"] + 1e-6
    assert blur_kid["kid_mean"] > 10 * (abs(real_kid["kid_mean"]) + real_kid["kid_std"])
    assert noise_kid["kid_mean"] > blur_kid["kid_mean"]


def test_kid_defaults_and_scale(classifier, real):
    train, test = real
    default_real = digits_kid(train[:300], subsets=5, subset_size=200)
    explicit = digits_kid(train[:300], test["x"], subsets=5, subset_size=200, classifier=classifier)
    assert default_real == explicit
    signed = digits_kid(2 * train[:300] - 1, 2 * test["x"] - 1, scale=(-1, 1), subsets=5, subset_size=200)
    assert signed["kid_mean"] == pytest.approx(explicit["kid_mean"], rel=1e-4, abs=1e-4)
