"""A small digits classifier whose penultimate layer is the feature space of digit metrics.

The Inception network behind FID/KID does not apply to 8x8 digits, and no pretrained
digits model ships offline, so we train one: a Flax NNX MLP (64-256-128-10, ReLU) with
optax Adam on the digits train split. Training is one jitted ``lax.scan`` (about a
second on a laptop CPU), fully determined by the seed, and memoised per seed in this
process (the classifier is an immutable value, so sharing it is safe).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from gendsl.datasets.array_source import epoch_permutation
from gendsl.datasets.sklearn_digits import digits_arrays
from gendsl.errors import MetricError

HIDDEN = (256, 128)
STEPS = 1500
BATCH = 128
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4


class DigitsMLP(nnx.Module):
    """64 -> 256 -> 128 -> 10 MLP; ``features`` is the 128-unit ReLU layer."""

    def __init__(self, rngs: nnx.Rngs):
        self.hidden1 = nnx.Linear(64, HIDDEN[0], rngs=rngs)
        self.hidden2 = nnx.Linear(HIDDEN[0], HIDDEN[1], rngs=rngs)
        self.head = nnx.Linear(HIDDEN[1], 10, rngs=rngs)

    def features(self, x: jax.Array) -> jax.Array:
        """Penultimate activations of flat ``(n, 64)`` images in [0, 1]."""
        return nnx.relu(self.hidden2(nnx.relu(self.hidden1(x))))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(x))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _apply(graphdef: nnx.GraphDef, params: nnx.State, x: jax.Array, method: str) -> jax.Array:
    model = nnx.merge(graphdef, params)
    return model.features(x) if method == "features" else model(x)


def _flat_images(images) -> jax.Array:
    x = jnp.asarray(images, dtype=jnp.float32)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != 64:
        raise MetricError(
            f"digits images must have 64 pixels each ((n, 8, 8, 1), (n, 8, 8) or (n, 64)), got shape {x.shape}."
        )
    return x.reshape(x.shape[0], 64)


@dataclasses.dataclass(frozen=True, eq=False)
class DigitsClassifier:
    """A trained digits classifier (immutable). Images are 8x8 with pixels in [0, 1].

    Attributes:
      graphdef: the NNX graph definition of :class:`DigitsMLP`.
      params: its trained parameters (an ``nnx.State``).
      test_accuracy: accuracy on the digits test split.
      seed: the training seed.
    """

    graphdef: nnx.GraphDef = dataclasses.field(repr=False)
    params: nnx.State = dataclasses.field(repr=False)
    test_accuracy: float
    seed: int

    def logits(self, images) -> np.ndarray:
        """``(n, 10)`` class logits of ``images`` (``(n, 8, 8, 1)``, ``(n, 8, 8)`` or ``(n, 64)``)."""
        return np.asarray(_apply(self.graphdef, self.params, _flat_images(images), "logits"))

    def features(self, images) -> np.ndarray:
        """``(n, 128)`` penultimate-layer features of ``images``."""
        return np.asarray(_apply(self.graphdef, self.params, _flat_images(images), "features"))

    def predict(self, images) -> np.ndarray:
        """``(n,)`` int32 predicted digit of ``images``."""
        return self.logits(images).argmax(axis=1).astype(np.int32)


def _train(graphdef, params, x, y, order):
    tx = optax.adamw(LEARNING_RATE, weight_decay=WEIGHT_DECAY)

    def loss(p, xb, yb):
        logits = nnx.merge(graphdef, p)(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(carry, rows):
        p, opt_state = carry
        grads = jax.grad(loss)(p, x[rows], y[rows])
        updates, opt_state = tx.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), order)
    return params


@functools.lru_cache(maxsize=4)
def digits_classifier(seed: int = 0) -> DigitsClassifier:
    """Train (or fetch from this process's cache) the digits classifier for ``seed``.

    Args:
      seed: initialisation and minibatch-order seed (non-negative int).

    Returns:
      A :class:`DigitsClassifier` (test accuracy about 0.97-0.98).
    """
    train = digits_arrays("train", flatten=True)
    test = digits_arrays("test", flatten=True)
    n = train["x"].shape[0]
    per_epoch = n // BATCH
    epochs = -(-STEPS // per_epoch)
    order = np.concatenate([epoch_permutation(seed, e, n)[: per_epoch * BATCH] for e in range(epochs)])
    order = order[: STEPS * BATCH].reshape(STEPS, BATCH)
    graphdef, params = nnx.split(DigitsMLP(nnx.Rngs(seed)))
    params = jax.jit(_train, static_argnums=0)(graphdef, params, jnp.asarray(train["x"]), jnp.asarray(train["y"]), order)
    model = DigitsClassifier(graphdef, params, test_accuracy=0.0, seed=seed)
    accuracy = float((model.predict(test["x"]) == test["y"]).mean())
    return dataclasses.replace(model, test_accuracy=accuracy)
