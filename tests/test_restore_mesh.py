"""Restoring onto another mesh: a checkpoint written on 8 data-parallel devices restores
onto 1, 2 and 4 devices (and one written on 2 onto 8) with the same parameters, bit for
bit, placed with the new mesh's shardings, and the run continues there.

JAX reads JAX_NUM_CPU_DEVICES when it starts, so both sides run in subprocesses with 8
simulated CPU devices: the writer trains on meshes over 8 and over 2 of them and saves;
a fresh process then builds meshes over 1, 2, 4 and 8 of its devices (subsets, as
``gd.data_parallel(k)`` does) and restores into each.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

COMMON = textwrap.dedent("""
    import json, pathlib, shutil, sys
    sys.path.insert(0, {root!r})
    import jax, numpy as np, optax
    import gendsl as gd
    from gendsl import losses as L
    from gendsl.run.checkpoints import CheckpointStore

    assert len(jax.devices()) == 8, jax.devices()
    work = pathlib.Path(sys.argv[1])

    def program():
        G = gd.player("G", lambda r: gd.nn.MLP(4, (16, 16), 2, rngs=r), optax.adam(1e-2))
        D = gd.player("D", lambda r: gd.nn.MLP(2, (16, 16), 1, rngs=r), optax.adam(1e-2))
        x, z = gd.data("x"), gd.latent("z", 4)
        fake = gd.named("fake", G(z))
        return gd.program({{D: L.nonsaturating_d(D(x), D(fake)), G: L.nonsaturating_g(D(fake))}},
                          gd.alternating(D=1, G=1), ema={{G: 0.9}})  # no samples: no plot

    source = gd.datasets.ring8(batch_size=16, seed=0)

    def fit(c, run_dir, steps):
        return gd.fit(c, source, run_dir=run_dir, steps=steps, steps_per_call=2,
                      progress=False, evaluate=lambda *a: {{}}, num_eval_samples=16)

    def flat(tree):
        # {{path: leaf}}, typed PRNG keys as their raw key data
        def data(a):
            return jax.random.key_data(a) if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) else a
        leaves = jax.tree_util.tree_flatten_with_path(jax.tree.map(data, tree))[0]
        return {{jax.tree_util.keystr(p): leaf for p, leaf in leaves}}
""")

WRITE = COMMON + textwrap.dedent("""
    for n in (8, 2):
        c = gd.compile(program(), mesh=gd.data_parallel(n))
        state = fit(c, work / f"from{{n}}", 4).state
        np.savez(work / f"from{{n}}.npz", **{{k: np.asarray(v) for k, v in flat(state.tree()).items()}})
""")

RESTORE = COMMON + textwrap.dedent("""
    import logging
    logged = []
    class Keep(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage())
    logging.getLogger("gendsl.run").addHandler(Keep())
    logging.getLogger("gendsl.run").setLevel(logging.INFO)
    key = jax.random.key(0)
    out = []
    for saved, n in ((8, 1), (8, 2), (8, 4), (2, 8)):
        mesh = gd.data_parallel(n)
        c = gd.compile(program(), mesh=mesh)
        abstract = c.abstract_state(key, source.batch(0))
        with CheckpointStore(work / f"from{{saved}}" / "checkpoints", read_only=True) as store:
            tree, meta = store.restore(store.latest(), abstract.tree())
        restored = flat(tree)
        expected = np.load(work / f"from{{saved}}.npz")
        replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        out.append({{
            "saved": saved, "n": n, "recorded": meta["devices"],
            "same_keys": sorted(restored) == sorted(expected.files),
            "bitwise": [k for k in expected.files
                        if not np.array_equal(np.asarray(restored[k]), expected[k])],
            "leaves": len(expected.files),
            "not_target": [k for k, v in restored.items()
                           if not v.sharding.is_equivalent_to(replicated, v.ndim)],
            "devices": sorted({{len(v.sharding.device_set) for v in restored.values()}}),
        }})
        if n in (2, 8):  # the runner's resume on the new mesh trains on from step 4
            run_dir = work / f"from{{saved}}_on{{n}}"
            shutil.copytree(work / f"from{{saved}}", run_dir)
            result = fit(c, run_dir, 6)
            final = result.state.params["D"]["out"]["kernel"]
            out[-1].update({{
                "resumed": result.resumed, "start": result.start_step, "step": result.step,
                "logged": [m for m in logged if m.startswith("resuming")][-1],
                "final_devices": len(final.sharding.device_set),
                "finite": bool(np.isfinite(np.asarray(final)).all()),
                "moved": not np.array_equal(np.asarray(final),
                                            expected["['params']['D']['out']['kernel']"]),
            }})
    print(json.dumps(out))
""")


def _python(script, work):
    # both processes share a persistent compilation cache: the restoring process compiles
    # the same steps on the same meshes as the writer (the cache saves half the CPU time)
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu",
               JAX_COMPILATION_CACHE_DIR=str(work / "xla_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
    out = subprocess.run([sys.executable, "-c", script.format(root=str(ROOT)), str(work)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


@pytest.mark.slow
def test_checkpoint_restores_onto_other_meshes_and_trains_on(tmp_path):
    _python(WRITE, tmp_path)
    results = json.loads(_python(RESTORE, tmp_path))
    assert [(r["saved"], r["n"]) for r in results] == [(8, 1), (8, 2), (8, 4), (2, 8)]
    for r in results:
        where = f"{r['saved']} -> {r['n']} devices"
        assert r["recorded"] == r["saved"], where  # the checkpoint records its layout
        assert r["same_keys"] and r["leaves"] > 10, where
        assert r["bitwise"] == [], where           # the saved parameters, bit for bit
        assert r["not_target"] == [], where        # replicated over the new mesh
        assert r["devices"] == [r["n"]], where
    for r in (results[1], results[3]):  # 8 -> 2 and 2 -> 8 go on training through the runner
        where = f"{r['saved']} -> {r['n']} devices"
        assert (r["resumed"], r["start"], r["step"]) == (True, 4, 6), where
        assert r["final_devices"] == r["n"] and r["finite"] and r["moved"], where
        assert r["logged"].endswith(f"(written on {r['saved']} devices, 1 process; "
                                    f"restored onto {r['n']} devices, 1 process)"), where
