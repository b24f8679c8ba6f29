"""Kernel rows sharded over a data mesh: 1, 2 and 8 simulated CPU devices agree.

JAX reads JAX_NUM_CPU_DEVICES when it starts, so both runs happen in one subprocess
that sees 8 devices; the 1-device run uses a mesh over the first device only.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import jax, numpy as np
    from jax.sharding import AxisType
    from gendsl import kernels as K
    from gendsl.sharding import data_parallel

    assert len(jax.devices()) == 8, jax.devices()
    net = K.serial(K.Dense(8, W_std=1.2, b_std=0.1), K.Relu(), K.Dense(8, W_std=1.2),
                   K.Erf(), K.Dense(1))
    x = jax.random.normal(jax.random.key(0), (13, 3))  # 13 rows: padded to 16 on 8
    real, fake = x[:7], x[7:]
    out = {{"local_k": np.asarray(net.kernel(x, None, get="ntk")).tolist(),
            "local_cols": np.asarray(net.kernel(x, x[:5], get="nngp")).tolist()}}
    for n in (1, 8):
        mesh = data_parallel(n)
        k = K.sharded_kernel(net, x, mesh=mesh)
        step = jax.jit(jax.value_and_grad(
            lambda f: K.ntk_gp_loss(net, real, f, 50.0, mesh=mesh, method="eigh")))
        loss, grad = step(fake)
        out[n] = {{"k": np.asarray(k).tolist(), "loss": float(loss),
                   "grad": np.asarray(grad).ravel().tolist(),
                   "row_devices": len(k.sharding.device_set)}}
    explicit = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
    k_cols = jax.jit(lambda a: K.sharded_kernel(net, a, x[:5], mesh=explicit, get="nngp"))(x)
    out["explicit_cols"] = np.asarray(k_cols).tolist()
    print(json.dumps(out))
""")


def _run():
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT))],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_sharded_kernel_and_ga_ntk_loss_agree_on_one_and_eight_devices():
    out = _run()
    one, eight = out["1"], out["8"]
    assert one["row_devices"] == 1 and eight["row_devices"] == 8
    for key in ("k", "grad"):
        np.testing.assert_allclose(eight[key], one[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eight["loss"], one["loss"], rtol=1e-6)
    # ... and equal to the unsharded evaluation, also on an explicit-axes mesh.
    np.testing.assert_allclose(eight["k"], out["local_k"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["explicit_cols"], out["local_cols"], rtol=1e-5, atol=1e-6)


PADDED = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    import jax, numpy as np
    from gendsl import kernels as K
    from gendsl.sharding import data_parallel

    net = K.serial(K.Dense(8, W_std=1.2, b_std=0.1), K.Relu(), K.Dense(1))
    x = jax.random.normal(jax.random.key(0), (5, 3))  # 5 rows: padded to 6 on 2 devices
    k = K.sharded_kernel(net, x, x[:3], mesh=data_parallel(2), get="ntk")
    print(json.dumps({{"k": np.asarray(k).tolist(),
                       "local": np.asarray(net.kernel(x, x[:3], get="ntk")).tolist()}}))
""")


def test_rows_not_divisible_by_the_devices_are_padded_and_cut():
    """5 rows on 2 devices (fast; the 8-device test above is slow): the padded row is
    computed and cut away, and the kernel equals the unsharded one."""
    # mutant: sharded.py:50 `if pad:` -> `if not pad:`
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="2", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", PADDED.format(root=str(ROOT))],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert np.shape(got["k"]) == (5, 3)
    np.testing.assert_allclose(got["k"], got["local"], rtol=1e-5, atol=1e-6)
