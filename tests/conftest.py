"""Shared test fixtures: a toy batch."""

import numpy as np
import pytest


@pytest.fixture
def toy_batch():
    return {"x": np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)}
