"""User data larger than memory: a ``.npy`` file opens memory-mapped and a batch reads,
casts and checks only its rows."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gendsl.datasets import arrays
from gendsl.datasets.array_source import read_rows
from gendsl.errors import DataError

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_npy_is_mapped_and_serves_the_batches_of_the_array_in_memory(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 3))  # float64: served as float32
    np.save(tmp_path / "x.npy", x)
    src = arrays(tmp_path / "x.npy", batch_size=8, seed=3)
    assert isinstance(src.fields["x"], np.memmap) and src.fields["x"].dtype == np.float64
    assert src.element_spec()["x"].dtype == np.float32 and "float32[50, 3]" in repr(src)
    memory = arrays({"x": x}, batch_size=8, seed=3)
    for k in (0, 5, 6, 13):  # batch 6 straddles the first epoch boundary
        a, b = src.batch(k)["x"], memory.batch(k)["x"]
        assert a.dtype == np.float32 and type(a) is np.ndarray
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(src.batches(2, 3)["x"], memory.batches(2, 3)["x"])


def test_mapped_integers_are_cast_as_read_and_checked_for_range(tmp_path):
    y = np.arange(10, dtype=np.int64)
    y[7] = 2**40
    np.save(tmp_path / "y.npy", y)
    src = arrays(tmp_path / "y.npy", batch_size=10)  # no whole-array check at load
    assert read_rows("x", src.fields["x"], np.array([0, 3])).tolist() == [0, 3]
    assert read_rows("x", src.fields["x"], np.array([0, 3])).dtype == np.int32
    with pytest.raises(DataError, match="field 'x' holds 64-bit integers outside the int32"):
        src.batch(0)


def test_nonfinite_rows_of_a_mapped_file_are_refused_by_the_batch_that_reads_them(tmp_path):
    x = np.zeros((50, 2), np.float32)
    x[7, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    src = arrays(tmp_path / "x.npy", batch_size=10)  # opening reads no rows
    first = next(k for k in range(5) if 7 in _rows_of(src, k))
    for k in range(first):
        src.batch(k)
    with pytest.raises(DataError, match=r"field 'x' has NaN or infinite values in row 7 of "
                       r"50, read by this batch; .*allow_nonfinite=True"):
        src.batch(first)
    allowed = arrays(tmp_path / "x.npy", batch_size=50, allow_nonfinite=True)
    assert np.isnan(allowed.batch(0)["x"]).sum() == 1


def test_a_memmap_in_a_mapping_is_used_in_place(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(12, dtype=np.float32).reshape(6, 2))
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r+")
    src = arrays({"x": mapped}, batch_size=6)
    assert isinstance(src.fields["x"], np.memmap) and not src.fields["x"].flags.writeable
    assert mapped.flags.writeable  # the caller's array is not frozen


def _rows_of(src, k):
    """The rows (of the file) in batch ``k``: the values of a second field ``i``."""
    index = arrays({"i": np.arange(len(src))}, batch_size=src.batch_size, seed=src.seed)
    return index.batch(k)["i"].tolist()


# A program trains on a .npy file twice as large as the memory the process may still
# allocate. RLIMIT_DATA bounds the private memory (heap, anonymous maps) but not a
# read-only shared file map, which is what np.load(mmap_mode="r") makes; the limit is set
# after a warm-up run has compiled the step, at what the process uses then + 256 MB.
SCRIPT = textwrap.dedent("""
    import json, pathlib, resource, sys
    sys.path.insert(0, {root!r})
    import numpy as np, optax
    import gendsl as gd
    from gendsl import losses as L

    def private_bytes():
        for line in open("/proc/self/status"):
            if line.startswith("VmData"):
                return int(line.split()[1]) * 1024

    work, dim = pathlib.Path(sys.argv[1]), 512
    rows = 2**18  # 1 GiB of float64 rows, written sparse (a few real rows)
    data = np.lib.format.open_memmap(work / "big.npy", mode="w+", dtype=np.float64,
                                     shape=(rows, dim))
    data[:1000] = np.random.default_rng(0).normal(size=(1000, dim))
    del data
    G = gd.player("G", lambda r: gd.nn.MLP(4, (16,), dim, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(dim, (16,), 1, rngs=r), optax.adam(1e-3))
    x, z = gd.data("x"), gd.latent("z", 4)
    c = gd.compile(gd.program({{D: L.nonsaturating_d(D(x), D(G(z))),
                                G: L.nonsaturating_g(D(G(z)))}}, gd.alternating(D=1, G=1)))
    def fit(source, name):
        return gd.fit(c, source, run_dir=work / name, steps=4, steps_per_call=2,
                      progress=False)
    fit(gd.datasets.arrays({{"x": np.zeros((64, dim), np.float32)}}, batch_size=32), "warm")
    headroom = 256 * 2**20
    limit = private_bytes() + headroom
    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    result = fit(gd.datasets.arrays(work / "big.npy", batch_size=32), "big")
    try:  # the limit bites: the file cannot be read into memory
        np.load(work / "big.npy")
        refused = False
    except MemoryError:
        refused = True
    print(json.dumps({{"step": result.step, "file": (work / "big.npy").stat().st_size,
                      "headroom": headroom, "refused": refused}}))
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc are Linux's")
def test_trains_on_a_npy_file_larger_than_the_memory_limit(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT)), str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["file"] > 2 * result["headroom"]
    assert result["refused"]  # reading the file whole would fail under the limit
    assert result["step"] == 4
