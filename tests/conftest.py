"""Shared test helpers: small NNX modules and a toy batch."""

import jax
import numpy as np
import pytest
from flax import nnx


class MLP(nnx.Module):
    """A small ReLU MLP used across tests."""

    def __init__(self, din, dh, dout, rngs, depth=2):
        dims = [din] + [dh] * depth
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:])])
        self.out = nnx.Linear(dims[-1], dout, rngs=rngs)

    def __call__(self, x):
        for layer in self.layers:
            x = jax.nn.relu(layer(x))
        return self.out(x)


@pytest.fixture
def toy_batch():
    return {"x": np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)}
