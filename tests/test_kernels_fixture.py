"""Closed-form kernels and NTK-GP predictions against neural-tangents 0.6.5 reference values.

The fixture (../shared/fixtures/nt_reference.npz from the repository root) holds, per
case, the inputs, the layer recipe in neural-tangents' vocabulary, and the expected
float64 ``nngp`` / ``ntk`` (and, for some, ``d sum(ntk) / d x1``).
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendsl import kernels as K

FIXTURE = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "nt_reference.npz"
RTOL = 1e-6

pytestmark = pytest.mark.skipif(
    not FIXTURE.exists(), reason=f"reference fixture not found at {FIXTURE.resolve()} "
    "(it lives in ../shared beside the repository)")


@pytest.fixture
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def kernel_cases():
    if not FIXTURE.exists():
        return []
    with np.load(FIXTURE) as data:
        return sorted(k.split("/")[0] for k in data.files if k.endswith("/recipe"))


def rel_err(got, want):
    return float(np.max(np.abs(np.asarray(got) - want)) / np.max(np.abs(want)))


def test_fixture_has_the_documented_cases():
    assert set(kernel_cases()) >= {"fc_relu", "fc_erf_standard", "fc_leaky", "cnn_flatten",
                                   "cnn_gap", "residual"}


@pytest.mark.parametrize("case", kernel_cases())
def test_kernels_match_neural_tangents(case, reference, x64):
    net = K.from_recipe(str(reference[f"{case}/recipe"]))
    x1 = jnp.asarray(reference[f"{case}/x1"])
    x2 = reference.get(f"{case}/x2")
    got = net.kernel(x1, None if x2 is None else jnp.asarray(x2), get=("nngp", "ntk"))
    assert got.nngp.dtype == jnp.float64
    assert rel_err(got.nngp, reference[f"{case}/nngp"]) < RTOL
    assert rel_err(got.ntk, reference[f"{case}/ntk"]) < RTOL


@pytest.mark.parametrize("case", [c for c in kernel_cases() if c in ("fc_relu", "cnn_flatten")])
def test_input_gradients_match_neural_tangents(case, reference, x64):
    key = f"{case}/grad_ntk_sum_x1"
    assert key in reference
    net = K.from_recipe(str(reference[f"{case}/recipe"]))
    x2 = jnp.asarray(reference[f"{case}/x2"])
    grad = jax.grad(lambda a: net.kernel(a, x2, get="ntk").sum())(jnp.asarray(reference[f"{case}/x1"]))
    assert rel_err(grad, reference[key]) < RTOL


@pytest.mark.parametrize("block_size", [0, 2])
def test_blockwise_evaluation_matches_the_fixture(reference, x64, block_size):
    """Symmetric tiles (x2=None) and row blocks give the same values as one block."""
    for case in ("cnn_gap", "cnn_flatten"):
        net = K.from_recipe(str(reference[f"{case}/recipe"]))
        x2 = reference.get(f"{case}/x2")
        got = net.kernel(jnp.asarray(reference[f"{case}/x1"]),
                         None if x2 is None else jnp.asarray(x2), "ntk", block_size=block_size)
        assert rel_err(got, reference[f"{case}/ntk"]) < RTOL


@pytest.mark.parametrize("method", ["eigh", "expm"])
def test_gd_mse_predictions_match_neural_tangents(reference, x64, method):
    f = K.ntk_gp_predict(reference["gd_mse/K"], reference["gd_mse/y"], reference["gd_mse/t"],
                         lr=float(reference["gd_mse/lr"]), diag_reg=float(reference["gd_mse/diag_reg"]),
                         method=method)
    want = reference["gd_mse/f_train_t"]
    assert f.shape == want.shape
    assert rel_err(f, want) < RTOL


def test_recipes_are_neural_tangents_json(reference):
    recipe = json.loads(str(reference["residual/recipe"]))
    assert recipe[1][0] == "Residual"
    net = K.from_recipe(recipe)
    assert [layer.name for layer in net.layers] == ["Dense", "Serial", "Relu", "Dense"]
