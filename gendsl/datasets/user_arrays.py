"""User arrays as a source: a ``.npy`` file, a ``.npz`` file or an in-memory mapping.

A ``.npy`` file is opened memory-mapped (``np.load(path, mmap_mode="r")``) and never read
whole: batches read their rows (:func:`~gendsl.datasets.array_source.read_rows`), cast
them and check them for non-finite values, so the file may be larger than memory. A
``.npz`` archive (a zip, which cannot be mapped) and a mapping are held in memory.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gendsl.datasets.array_source import ArraySource, frozen_fields, served_dtype
from gendsl.datasets.source import check_batch_size, check_index
from gendsl.errors import DataError


def _load(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"no data file at {str(path)!r}: check the path (relative paths start at {os.getcwd()!r}).")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise DataError(f"{str(path)!r}: unsupported file type {suffix!r}; use a .npy file, a .npz file or a dict of arrays.")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a directory, not a {suffix} file; give the path of the file.")
    with open(path, "rb") as file:
        head = file.read(6)
    if suffix == ".npy" and head != b"\x93NUMPY":
        raise DataError(
            f"{str(path)!r} is not a valid .npy file (it does not start with the .npy header); "
            "write it with np.save(path, array)."
        )
    if suffix == ".npz" and not zipfile.is_zipfile(path):
        raise DataError(
            f"{str(path)!r} is not a valid .npz file (not a zip archive of arrays); write it with "
            "np.savez(path, x=..., y=...)."
        )
    try:
        if suffix == ".npy":
            return {"x": np.load(path, mmap_mode="r", allow_pickle=False)}
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(
            f"cannot read {str(path)!r} as {suffix} ({err}); save plain numeric arrays with np.save / np.savez "
            "(object arrays need pickle, which is not loaded)."
        ) from None


def _as_field(name: str, value, copy: bool) -> np.ndarray:
    """``value`` as an array of a JAX-friendly dtype that the caller alone holds; a
    memory-mapped array is checked but kept as it is (its rows are cast as they are
    read)."""
    mapped = isinstance(value, np.memmap)
    array = value if mapped else np.array(value, copy=True) if copy else np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise DataError(f"field {name!r} has dtype {array.dtype}; fields must be numeric or bool arrays.")
    if array.ndim == 0:
        raise DataError(f"field {name!r} is a scalar; fields need a leading example axis.")
    if mapped:  # a view: freezing it leaves the caller's memmap writable
        return array.view()
    dtype = served_dtype(array.dtype)
    if dtype.kind in "iu" and dtype != array.dtype and array.size and (
            array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
        raise DataError(f"field {name!r} holds 64-bit integers outside the int32 range; JAX works in int32 by default.")
    return array.astype(dtype, copy=False)


def check_finite(name: str, array: np.ndarray, origin: str) -> None:
    """Refuses a float field with NaN or infinite values, naming the rows.

    Raises:
      DataError: some rows of ``array`` hold NaN or infinite values.

    >>> check_finite("x", np.array([[0.0, 1.0], [np.nan, 2.0]]), "the mapping")
    Traceback (most recent call last):
    ...
    gendsl.errors.DataError: field 'x' of the mapping has 1 row with NaN or infinite values (row 1 of 2); remove or fix those rows, or pass allow_nonfinite=True to arrays(...) to train on them anyway.
    """
    if array.dtype.kind != "f":
        return
    bad = ~np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
    count = int(bad.sum())
    if count:
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(int(r)) for r in rows[:5]) + (", ..." if count > 5 else "")
        raise DataError(
            f"field {name!r} of {origin} has {count} row{'s' if count > 1 else ''} with NaN or "
            f"infinite values (row{'s' if count > 1 else ''} {shown} of {array.shape[0]}); "
            "remove or fix those rows, or pass allow_nonfinite=True to arrays(...) to train on "
            "them anyway."
        )


def infer_sample_kind(x: np.ndarray | None) -> tuple[str | None, tuple[int, ...] | None]:
    """Guess what field ``"x"`` holds from its shape, for plotting.

    Returns:
      ``("points2d", None)`` for ``(N, 2)``; ``("images", (H, W))`` for ``(N, H, W)``;
      ``("images", (H, W, C))`` for ``(N, H, W, C)`` with ``C`` in 1, 3, 4;
      ``(None, None)`` otherwise.

    >>> infer_sample_kind(np.zeros((10, 28, 28, 1)))
    ('images', (28, 28, 1))
    """
    if x is None or x.dtype.kind != "f":
        return None, None
    if x.ndim == 2 and x.shape[1] == 2:
        return "points2d", None
    if x.ndim == 3 or (x.ndim == 4 and x.shape[3] in (1, 3, 4)):
        return "images", tuple(int(d) for d in x.shape[1:])
    return None, None


def arrays(
    path_or_mapping: str | os.PathLike | Mapping[str, np.ndarray],
    batch_size: int,
    seed: int = 0,
    fields: Sequence[str] | None = None,
    allow_nonfinite: bool = False,
) -> ArraySource:
    """A source over user arrays, reshuffled every epoch.

    float64 fields become float32 and 64-bit integer fields int32 (JAX's defaults);
    in-memory arrays are copied, so later edits to them do not change the batches.
    Rows with NaN or infinite values are refused (a NaN batch makes a step non-finite,
    and such steps are skipped), unless ``allow_nonfinite=True``.

    A ``.npy`` file, and any ``np.memmap`` in a mapping, is memory-mapped rather than
    read: each batch reads only its rows, so the data may be larger than memory. Its
    rows are cast, and checked for NaN or infinite values, as batches read them (a
    ``DataError`` then comes from the batch that reads such a row).

    Args:
      path_or_mapping: a ``.npy`` file (one field, ``"x"``), a ``.npz`` file (one field
        per key) or a mapping ``{field: array}``.
      batch_size: examples per batch (at most the number of examples).
      seed: seed of the per-epoch shuffles.
      fields: keep only these fields (default: all).
      allow_nonfinite: accept float fields with NaN or infinite values.

    Returns:
      An :class:`ArraySource`; ``sample_kind``/``image_shape`` are inferred from ``"x"``.

    Raises:
      DataError: the file is missing or not a valid ``.npy``/``.npz`` file; a field is
        missing, not numeric, a scalar, or of another length than the rest; or a float
        field has NaN or infinite rows (the message names them) and ``allow_nonfinite``
        is False (for a memory-mapped field, from the batch that reads them).

    >>> src = arrays({"x": np.zeros((10, 2)), "y": np.arange(10)}, batch_size=4)
    >>> {k: v.shape for k, v in src.batch(0).items()}, src.sample_kind
    ({'x': (4, 2), 'y': (4,)}, 'points2d')
    """
    if isinstance(path_or_mapping, Mapping):
        loaded, copy, origin = dict(path_or_mapping), True, "the mapping"
    elif isinstance(path_or_mapping, (str, os.PathLike)):
        loaded, copy, origin = _load(Path(path_or_mapping)), False, repr(str(path_or_mapping))
    else:
        raise DataError(
            f"path_or_mapping must be a .npy/.npz path or a dict of arrays, got {type(path_or_mapping).__name__}."
        )
    if not loaded:
        raise DataError(f"{origin} holds no arrays; give at least one field.")
    if fields is not None:
        if isinstance(fields, str):
            fields = (fields,)
        missing = [f for f in fields if f not in loaded]
        if missing or not fields:
            raise DataError(f"fields {missing or list(fields)} not in {origin}; available fields: {sorted(loaded)}.")
        loaded = {f: loaded[f] for f in fields}
    converted = {str(name): _as_field(str(name), value, copy) for name, value in loaded.items()}
    lengths = {name: a.shape[0] for name, a in converted.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"fields of {origin} differ in length {lengths}; every field needs one row per example.")
    n = next(iter(lengths.values()))
    if n == 0:
        raise DataError(f"{origin} has no examples (leading length 0).")
    mapped = any(isinstance(a, np.memmap) for a in converted.values())
    if not allow_nonfinite and not mapped:  # a mapped file's rows are checked as read
        for name, array in converted.items():
            check_finite(name, array, origin)
    kind, image_shape = infer_sample_kind(converted.get("x"))
    return ArraySource(
        frozen_fields(converted, copy=False),
        batch_size=check_batch_size(batch_size, n),
        seed=check_index(seed, "seed"),
        sample_kind=kind,
        image_shape=image_shape,
        name="arrays" if copy else Path(path_or_mapping).name,
        check_rows=mapped and not allow_nonfinite,
    )
