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
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def cases_with(field: str) -> list[str]:
    """Fixture cases that have ``CASE/field``."""
    if not FIXTURE.exists():
        return []
    with np.load(FIXTURE) as data:
        return sorted(k.split("/")[0] for k in data.files if k.endswith("/" + field))


def kernel_cases():
    return cases_with("recipe")


def assert_matches(got, want):
    """Elementwise relative error below RTOL (entries 1e9 times below the largest: absolute)."""
    got = np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-9 * np.max(np.abs(want)))


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
    assert_matches(got.nngp, reference[f"{case}/nngp"])
    assert_matches(got.ntk, reference[f"{case}/ntk"])


def test_fixture_has_input_gradients_of_a_dense_and_a_conv_network():
    assert set(cases_with("grad_ntk_sum_x1")) >= {"fc_relu", "cnn_flatten"}


@pytest.mark.parametrize("case", cases_with("grad_ntk_sum_x1"))
def test_input_gradients_match_neural_tangents(case, reference, x64):
    key = f"{case}/grad_ntk_sum_x1"
    net = K.from_recipe(str(reference[f"{case}/recipe"]))
    x2 = reference.get(f"{case}/x2")
    x2 = None if x2 is None else jnp.asarray(x2)
    grad = jax.grad(lambda a: net.kernel(a, x2, get="ntk").sum())(jnp.asarray(reference[f"{case}/x1"]))
    assert_matches(grad, reference[key])


def test_blockwise_evaluation_matches_the_fixture(reference, x64):
    """Rows in blocks of 2 (x2 given) and symmetric tiles (x2=None), diagonal and all-pairs
    spatial modes."""
    for case in ("cnn_gap", "cnn_flatten"):
        net = K.from_recipe(str(reference[f"{case}/recipe"]))
        x2 = reference.get(f"{case}/x2")
        got = net.kernel(jnp.asarray(reference[f"{case}/x1"]),
                         None if x2 is None else jnp.asarray(x2), "ntk", block_size=2)
        assert_matches(got, reference[f"{case}/ntk"])


@pytest.mark.parametrize("method", ["eigh", "expm", "krylov", "auto"])
def test_gd_mse_predictions_match_neural_tangents(reference, x64, method):
    args = dict(lr=float(reference["gd_mse/lr"]), diag_reg=float(reference["gd_mse/diag_reg"]),
                method=method)
    K_, y, times = reference["gd_mse/K"], reference["gd_mse/y"], reference["gd_mse/t"]
    assert_matches(K.ntk_gp_predict(K_, y, times, **args), reference["gd_mse/f_train_t"])
    # One time at a time: "auto" takes the Taylor series for t = 1 and 10 (lr t ||K|| /
    # y.size = 0.05 and 0.5) and the eigendecomposition for t = 100 and 1000.
    for t, want in zip(times, reference["gd_mse/f_train_t"]):
        assert_matches(K.ntk_gp_predict(K_, y, t, **args), want)


def test_recipes_are_neural_tangents_json(reference):
    recipe = json.loads(str(reference["residual/recipe"]))
    assert recipe[1][0] == "Residual"
    net = K.from_recipe(recipe)
    assert [layer.name for layer in net.layers] == ["Dense", "Serial", "Relu", "Dense"]
