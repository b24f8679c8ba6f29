"""One process of the 2-process check in tests/test_multiprocess_mesh.py.

Run as ``python tests/multiprocess_child.py WORK`` with ``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID`` and ``JAX_NUM_CPU_DEVICES`` set (as
``gendsl launch`` sets them). It joins the distributed run, then:

(a) restores the checkpoint a 1-process run wrote in ``WORK/one`` onto the mesh over
    every process's devices, records which leaves differ from ``WORK/one.npz`` (the
    state that run ended with) and how they are placed, and resumes the run copied to
    ``WORK/resume`` for one more step through ``gd.fit``;
(b) computes GA-NTK's row-sharded kernel (:func:`gendsl.kernels.sharded_kernel`) and the
    GA-NTK loss and gradient on that mesh, gathers them, and computes the same on this
    process's local device without a mesh.

It writes ``WORK/process<I>.json``. :func:`program` and :func:`source` are also what the
parent test trains on one process.
"""

import json
import pathlib
import sys

ROWS = 13  # kernel rows: padded to 16 on a mesh of 4 devices


def program():
    """A small GAN (no samples: fit draws no plot)."""
    import optax

    import gendsl as gd
    from gendsl import losses as L

    G = gd.player("G", lambda r: gd.nn.MLP(4, (16, 16), 2, rngs=r), optax.adam(1e-2))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (16, 16), 1, rngs=r), optax.adam(1e-2))
    x, z = gd.data("x"), gd.latent("z", 4)
    fake = gd.named("fake", G(z))
    return gd.program({D: L.nonsaturating_d(D(x), D(fake)), G: L.nonsaturating_g(D(fake))},
                      gd.alternating(D=1, G=1), ema={G: 0.9})


def source():
    """The data: ring8, 16 rows a batch (4 a device on 2 processes x 2 devices)."""
    import gendsl as gd

    return gd.datasets.ring8(batch_size=16, seed=0)


def fit(compiled, run_dir, steps):
    """``gd.fit`` without evaluation, plots or progress bar."""
    import gendsl as gd

    return gd.fit(compiled, source(), run_dir=run_dir, steps=steps, steps_per_call=1,
                  progress=False, evaluate=lambda *a: {}, num_eval_samples=16)


def flat(tree):
    """``{path: leaf}`` of a state tree, typed PRNG keys as their key data."""
    import jax

    def data(a):
        return jax.random.key_data(a) if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) else a

    leaves = jax.tree_util.tree_flatten_with_path(jax.tree.map(data, tree))[0]
    return {jax.tree_util.keystr(p): leaf for p, leaf in leaves}


def network():
    """The kernel's network (dense, ReLU, dense, erf, dense)."""
    from gendsl import kernels as K

    return K.serial(K.Dense(8, W_std=1.2, b_std=0.1), K.Relu(), K.Dense(8, W_std=1.2),
                    K.Erf(), K.Dense(1))


def _restore(work, mesh):
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    import gendsl as gd
    from gendsl.run.checkpoints import CheckpointStore

    compiled = gd.compile(program(), mesh=mesh)
    abstract = compiled.abstract_state(jax.random.key(0), source().batch(0))
    with CheckpointStore(work / "one" / "checkpoints", read_only=True) as store:
        tree, meta = store.restore(store.latest(), abstract.tree())
    restored, expected = flat(tree), np.load(work / "one.npz")
    replicated = NamedSharding(mesh, PartitionSpec())
    # each process holds a full copy of a replicated leaf: its first local shard
    local = {k: np.asarray(v.addressable_data(0)) for k, v in restored.items()}
    out = {
        "recorded": [meta["devices"], meta["processes"]],
        "same_keys": sorted(restored) == sorted(expected.files),
        "leaves": len(expected.files),
        "differ": [k for k in expected.files if not np.array_equal(local[k], expected[k])],
        "not_replicated": [k for k, v in restored.items()
                           if not v.sharding.is_equivalent_to(replicated, v.ndim)],
        "devices": sorted({len(v.sharding.device_set) for v in restored.values()}),
    }
    result = fit(compiled, work / "resume", int(expected["['step']"]) + 1)
    final = result.state.params["D"]["out"]["kernel"]
    out.update({
        "resumed": result.resumed, "start": result.start_step, "step": result.step,
        "final_devices": len(final.sharding.device_set),
        "finite": bool(np.isfinite(np.asarray(final.addressable_data(0))).all()),
        "moved": not np.array_equal(np.asarray(final.addressable_data(0)),
                                    expected["['params']['D']['out']['kernel']"]),
    })
    return out


def _kernel(mesh):
    import jax
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding, PartitionSpec

    from gendsl import kernels as K

    net = network()
    x = np.asarray(jax.random.normal(jax.random.key(0), (ROWS, 3)))
    real, fake = x[:7], x[7:]

    def loss(real, fake, mesh):
        return K.ntk_gp_loss(net, real, fake, 50.0, mesh=mesh, method="eigh")

    local_loss, local_grad = jax.jit(jax.value_and_grad(lambda r, f: loss(r, f, None),
                                                        argnums=1))(real, fake)
    # the same inputs on every process, as global arrays replicated over the mesh
    on_mesh = [jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec()), a)
               for a in (x, real, fake)]
    k = jax.jit(lambda a: K.sharded_kernel(net, a, mesh=mesh))(on_mesh[0])
    loss_m, grad_m = jax.jit(jax.value_and_grad(lambda r, f: loss(r, f, mesh), argnums=1))(
        *on_mesh[1:])
    gathered = multihost_utils.process_allgather(k, tiled=True)
    return {
        "local_k": np.asarray(net.kernel(x, None, get="ntk")).tolist(),
        "k": np.asarray(gathered).tolist(),
        "k_devices": len(k.sharding.device_set),
        "k_local_only": k.is_fully_addressable,
        "local_loss": float(local_loss), "local_grad": np.asarray(local_grad).ravel().tolist(),
        "loss": float(np.asarray(loss_m.addressable_data(0))),
        "grad": np.asarray(multihost_utils.process_allgather(grad_m, tiled=True)).ravel().tolist(),
    }


def main(work: pathlib.Path) -> None:
    """Joins the run from the environment, runs (a) and (b), writes the JSON."""
    from gendsl.run.distributed import distributed_spec, start_distributed

    start_distributed(distributed_spec())
    import jax

    import gendsl as gd

    mesh = gd.data_parallel()  # every process's devices
    out = {"process": jax.process_index(), "processes": jax.process_count(),
           "mesh_devices": mesh.devices.size, "restore": _restore(work, mesh),
           "kernel": _kernel(mesh)}
    (work / f"process{jax.process_index()}.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
