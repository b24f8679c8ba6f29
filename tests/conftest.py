"""Shared test fixtures: a toy batch, and the seed of the quality tests.

Quality tests (``@pytest.mark.quality``) train something and assert a measured quality.
They take their seed from the ``quality_seed`` fixture: 0 in CI, and any other with
``pytest -m quality --quality-seed 3``. ``tools/seed_sweep.py`` runs them over several
seeds and records which pass in ``benchmarks/results/quality_seeds.json``; each quality
test's docstring states that count ("passes for K of N seeds"), and
``tests/test_quality_seeds.py`` checks that the docstrings and the record agree.
"""

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--quality-seed", type=int, default=0,
                     help="the seed of the quality tests (@pytest.mark.quality); default 0")


@pytest.fixture
def quality_seed(request) -> int:
    """The seed a quality test trains with (``--quality-seed``, default 0)."""
    return int(request.config.getoption("--quality-seed"))


@pytest.fixture
def toy_batch():
    return {"x": np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)}
