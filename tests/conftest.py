"""Shared test fixtures: a toy batch, the seed of the quality tests, and one XLA cache.

The session shares one persistent XLA compilation cache (a temporary folder, removed at
the end) between its xdist workers and the processes the tests start, since many tests
compile the same programs (a sixth of the time of the CLI-heavy files and a tenth of the
whole suite's, measured on 2 cores, with the cache empty at the start). A folder set
in ``JAX_COMPILATION_CACHE_DIR`` beforehand is used instead and kept.

Quality tests (``@pytest.mark.quality``) train something and assert a measured quality.
They take their seed from the ``quality_seed`` fixture: 0 in CI, and any other with
``pytest -m quality --quality-seed 3``. ``tools/seed_sweep.py`` runs them over several
seeds and records which pass in ``benchmarks/results/quality_seeds.json``; each quality
test's docstring states that count ("passes for K of N seeds"), and
``tests/test_quality_seeds.py`` checks that the docstrings and the record agree.
"""

import os
import shutil
import tempfile

import numpy as np
import pytest

_CACHE = "JAX_COMPILATION_CACHE_DIR"


def pytest_configure(config):
    # runs in the xdist controller before its workers start, so they inherit the folder
    if _CACHE not in os.environ:
        config._gendsl_xla_cache = tempfile.mkdtemp(prefix="gendsl-xla-cache-")
        os.environ[_CACHE] = config._gendsl_xla_cache
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def pytest_unconfigure(config):
    folder = getattr(config, "_gendsl_xla_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


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
