"""Data parallelism: the same program on 1 and on 8 simulated CPU devices gives the
same losses and parameters (to float tolerance). JAX reads JAX_NUM_CPU_DEVICES when it
starts, so both runs happen in one subprocess with 8 devices."""

import pathlib
import textwrap

import numpy as np
from eight_devices import run_with_eight_devices

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import jax, numpy as np, optax
    import gendsl as gd
    from gendsl import losses as L

    assert len(jax.devices()) == 8, jax.devices()
    G = gd.player("G", lambda r: gd.nn.MLP(4, (16, 16), 2, rngs=r), optax.adam(1e-2))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (16, 16), 1, rngs=r), optax.adam(1e-2))
    x, z = gd.data("x"), gd.latent("z", 4)
    prog = gd.program({{D: L.nonsaturating_d(D(x), D(G(z))) + 1.0 * L.r1(D, x),
                        G: L.nonsaturating_g(D(G(z)))}}, gd.alternating(D=1, G=1))
    out = {{}}
    for n_devices in (1, 8):  # one process, one JAX start
        mesh = gd.data_parallel(n_devices)
        c = gd.compile(prog, mesh=mesh)
        source = gd.datasets.ring8(batch_size=64, seed=0)
        state = c.init(jax.random.key(0), source.batch(0))
        losses = []
        for k in range(4):
            state, m = c.step_many(state, c.shard_batch(source.batches(5 * k, 5), stacked=1))
            losses += np.asarray(m["D/loss"]).tolist() + np.asarray(m["G/loss"]).tolist()
        shards = len(state.params["D"]["out"]["kernel"].sharding.device_set)
        out[n_devices] = {{"losses": losses, "kernel": np.asarray(state.params["D"]["out"]["kernel"]).ravel().tolist(),
                          "param_devices": shards}}
    print(json.dumps(out))
""")


def test_one_and_eight_devices_agree():
    both = run_with_eight_devices(SCRIPT.format(root=str(ROOT)))
    one, eight = both["1"], both["8"]
    assert one["param_devices"] == 1 and eight["param_devices"] == 8   # replicated on all 8
    np.testing.assert_allclose(eight["losses"], one["losses"], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(eight["kernel"], one["kernel"], rtol=1e-3, atol=1e-5)
