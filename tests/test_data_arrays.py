"""Array-backed sources: epochs, determinism, digits and user arrays."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from gendsl.datasets import ArraySource, Source, arrays, digits, digits_arrays
from gendsl.errors import DataError


def _rows(batch):
    return batch["i"].tolist()


def test_every_example_once_per_epoch_and_epochs_differ():
    src = arrays({"i": np.arange(12)}, batch_size=4, seed=5)
    epoch0 = sum((_rows(src.batch(k)) for k in range(3)), [])
    epoch1 = sum((_rows(src.batch(k)) for k in range(3, 6)), [])
    assert sorted(epoch0) == sorted(epoch1) == list(range(12))
    assert epoch0 != epoch1


def test_batches_straddle_epoch_boundaries_without_dropping():
    src = arrays({"i": np.arange(10)}, batch_size=4, seed=0)
    stream = src.batches(0, 5)["i"].reshape(-1).tolist()  # 20 examples = 2 epochs
    assert sorted(stream[:10]) == sorted(stream[10:]) == list(range(10))
    assert src.steps_per_epoch == 2.5


def test_batches_equal_stacked_batches_across_epochs():
    src = arrays({"x": np.arange(14.0).reshape(7, 2), "y": np.arange(7)}, batch_size=3, seed=1)
    stacked = src.batches(1, 4)
    assert stacked["x"].shape == (4, 3, 2) and stacked["y"].shape == (4, 3)
    for k in range(4):
        for field in ("x", "y"):
            np.testing.assert_array_equal(stacked[field][k], src.batch(1 + k)[field])


def test_fields_stay_aligned():
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    src = arrays({"x": x, "row": np.arange(50)}, batch_size=16, seed=2)
    for k in (0, 3, 7):
        b = src.batch(k)
        np.testing.assert_array_equal(b["x"], x[b["row"]])


def test_determinism_and_seed():
    data = {"i": np.arange(100)}
    a, b, c = arrays(data, 10, seed=1), arrays(data, 10, seed=1), arrays(data, 10, seed=2)
    np.testing.assert_array_equal(a.batch(13)["i"], b.batch(13)["i"])
    assert not np.array_equal(a.batch(13)["i"], c.batch(13)["i"])


def test_element_spec_and_with_batch_size():
    src = arrays({"x": np.zeros((20, 4, 4, 1)), "y": np.zeros(20, np.int64)}, batch_size=5)
    assert isinstance(src, (ArraySource, Source))
    assert src.element_spec() == {
        "x": jax.ShapeDtypeStruct((5, 4, 4, 1), np.float32),
        "y": jax.ShapeDtypeStruct((5,), np.int32),
    }
    assert src.with_batch_size(20).batch(0)["x"].shape == (20, 4, 4, 1)
    with pytest.raises(DataError, match="larger than the dataset"):
        src.with_batch_size(21)


def test_in_memory_arrays_are_copied_and_frozen():
    x = np.arange(8.0, dtype=np.float32)
    src = arrays({"x": x}, batch_size=8)
    before = src.batch(0)["x"].copy()
    x[:] = -1
    np.testing.assert_array_equal(src.batch(0)["x"], before)
    with pytest.raises(ValueError):
        src.fields["x"][0] = 5.0
    with pytest.raises(TypeError):
        src.fields["z"] = x


def test_dtypes_are_made_jax_friendly():
    src = arrays({"x": np.zeros((4, 2), np.float64), "y": np.arange(4, dtype=np.int64), "m": np.ones(4, bool)}, 2)
    b = src.batch(0)
    assert (b["x"].dtype, b["y"].dtype, b["m"].dtype) == (np.float32, np.int32, np.bool_)


def test_npy_and_npz_files(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    np.save(tmp_path / "points.npy", x)
    src = arrays(tmp_path / "points.npy", batch_size=30)
    assert set(src.batch(0)) == {"x"} and src.sample_kind == "points2d"
    np.testing.assert_array_equal(np.sort(src.batch(0)["x"], axis=0), np.sort(x, axis=0))

    np.savez(tmp_path / "set.npz", x=np.zeros((6, 5, 5)), label=np.arange(6))
    src = arrays(str(tmp_path / "set.npz"), batch_size=3, fields=["label"])
    assert set(src.batch(0)) == {"label"}
    full = arrays(tmp_path / "set.npz", batch_size=3)
    assert set(full.batch(0)) == {"x", "label"}
    assert (full.sample_kind, full.image_shape) == ("images", (5, 5))
    assert "set.npz" in repr(full)


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match="no data file at .*missing.npy"):
        arrays(tmp_path / "missing.npy", 4)
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="unsupported file type '.csv'"):
        arrays(tmp_path / "data.csv", 4)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot read"):
        arrays(tmp_path / "objects.npy", 1)
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="broken.npz' is not a valid .npz file"):
        arrays(tmp_path / "broken.npz", 1)
    (tmp_path / "broken.npy").write_bytes(bytes(range(256)))
    with pytest.raises(DataError, match="broken.npy' is not a valid .npy file"):
        arrays(tmp_path / "broken.npy", 1)


def test_nonfinite_rows_are_refused_unless_allowed(tmp_path):
    x = np.zeros((200, 2), np.float32)
    x[[3, 17, 42, 99, 120, 150], 1] = [np.nan, np.inf, -np.inf, np.nan, np.nan, np.nan]
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(200))
    with pytest.raises(DataError, match=r"field 'x' of '.*d.npz' has 6 rows with NaN or "
                       r"infinite values \(rows 3, 17, 42, 99, 120, \.\.\. of 200\).*"
                       "allow_nonfinite=True"):
        arrays(tmp_path / "d.npz", batch_size=10)
    with pytest.raises(DataError, match=r"field 'x' of the mapping has 1 row .*\(row 3 of 4\)"):
        arrays({"x": np.array([0.0, 1.0, 2.0, np.inf])}, batch_size=2)
    src = arrays(tmp_path / "d.npz", batch_size=200, allow_nonfinite=True)
    assert np.isnan(src.batch(0)["x"]).sum() == 4
    assert len(arrays({"x": x[:3]}, batch_size=2)) == 3  # finite rows are fine


@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        ({"x": np.zeros(5), "y": np.zeros(4)}, {}, r"differ in length \{'x': 5, 'y': 4\}"),
        ({"x": np.zeros(5)}, {"batch_size": 6}, "batch_size=6 is larger than the dataset \\(5 examples\\)"),
        ({"x": np.zeros(5)}, {"fields": ["y"]}, r"fields \['y'\] not in the mapping; available fields: \['x'\]"),
        ({}, {}, "holds no arrays"),
        ({"x": np.zeros((0, 2))}, {}, "no examples"),
        ({"x": np.float32(1.0)}, {}, "field 'x' is a scalar"),
        ({"x": np.array(["a", "b"])}, {}, "field 'x' has dtype"),
        ({"x": np.array([2**40, 1])}, {}, "outside the int32 range"),
        ({"x": np.zeros(5)}, {"seed": -2}, "seed must be >= 0"),
    ],
)
def test_array_errors(data, kwargs, match):
    kwargs = {"batch_size": 2, **kwargs}
    with pytest.raises(DataError, match=match):
        arrays(data, **kwargs)


def test_not_a_path_or_mapping():
    with pytest.raises(DataError, match="path_or_mapping"):
        arrays([1, 2, 3], 2)


def test_digits_splits_are_fixed_disjoint_and_complete():
    train, test, everything = (digits_arrays(s) for s in ("train", "test", "all"))
    assert len(train["x"]) == 1438 and len(test["x"]) == 359 and len(everything["x"]) == 1797
    joined = np.concatenate([train["x"], test["x"]]).reshape(1797, 64)
    joined_y = np.concatenate([train["y"], test["y"]])
    key = lambda x, y: sorted(zip(map(bytes, x), y.tolist()))  # noqa: E731
    assert key(joined, joined_y) == key(everything["x"].reshape(1797, 64), everything["y"])
    # The split does not depend on the batch seed.
    np.testing.assert_array_equal(digits(split="test", seed=1).fields["y"], digits(split="test", seed=9).fields["y"])
    assert set(np.unique(test["y"]).tolist()) == set(range(10))


def test_digits_layouts_and_scales():
    src = digits(batch_size=16, seed=3)
    b = src.batch(2)
    assert b["x"].shape == (16, 8, 8, 1) and b["x"].dtype == np.float32 and b["y"].dtype == np.int32
    assert (src.sample_kind, src.image_shape) == ("images", (8, 8, 1))
    flat = digits(batch_size=16, seed=3, flatten=True).batch(2)
    np.testing.assert_array_equal(flat["x"], b["x"].reshape(16, 64))
    np.testing.assert_array_equal(flat["y"], b["y"])
    signed = digits(batch_size=16, seed=3, scale=(-1, 1)).batch(2)["x"]
    np.testing.assert_allclose(signed, 2 * b["x"] - 1, atol=1e-6)
    everything = digits_arrays("all")["x"]
    assert everything.min() == 0.0 and everything.max() == 1.0


def test_digits_errors():
    with pytest.raises(DataError, match="split must be one of"):
        digits(split="validation")
    with pytest.raises(DataError, match="scale"):
        digits(scale=(1, 0))
    with pytest.raises(DataError, match="larger than the dataset"):
        digits(batch_size=400, split="test")
