"""Error of the Lanczos NTK-GP fit against the Krylov dimension, on the GA-NTK programs' kernels.

For each workload the NTK of ``[real; fake]`` is computed in float32 as the programs do
(``diag_reg`` 1e-5, ``lr`` 1e-2, the program's ``t``); the reference is the float64
``"eigh"`` fit of the same (float32) kernel. Reported per Krylov dimension ``k``: the
largest absolute error of the float32 fit (entries are in [0, 1]), the relative
(Frobenius) error of the gradient of the programs' cross-entropy loss w.r.t. ``K``, and
the a-posteriori estimate of :func:`gendsl.kernels.krylov.error_estimate`; the float32
``"eigh"`` row is the floor that float32 reaches anyway. Writes
benchmarks/results/krylov_dim.json; used to choose ``krylov.DIM``.

    python benchmarks/krylov_dim.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_timing  # noqa: E402

kernel_timing.single_threaded_blas()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import ntk_workloads  # noqa: E402
from gendsl import datasets  # noqa: E402
from gendsl import kernels as K  # noqa: E402
from gendsl.kernels import ga_ntk, krylov  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LR, DIAG_REG = 1e-2, 1e-5
DIMS = (8, 12, 16, 24, 32, 48, 64)


def dense_relu(width=64, depth=2):
    w, b = 1.4615 ** 0.5, 0.1 ** 0.5
    layers = []
    for _ in range(depth):
        layers += [K.Dense(width, w, b), K.Relu()]
    return K.serial(*layers, K.Dense(1, w, b))


def digits_cnn():
    w, b = 1.4615 ** 0.5, 0.1 ** 0.5
    conv = lambda c: K.Conv(c, (3, 3), (2, 2), "SAME", W_std=w, b_std=b)  # noqa: E731
    return K.serial(conv(64), K.Relu(), conv(128), K.Relu(), K.Flatten(), K.Dense(256, w, b),
                    K.Relu(), K.Dense(1, w, b))


def workloads(quick: bool):
    """``name -> (network, real, fake, t)``, the data as the programs see it."""
    rng = np.random.default_rng(0)
    out = {}
    for name, data, t in (("mog_ring8", datasets.ring8, 4 * 65536.0),
                          ("mog_grid25", datasets.grid25, 16 * 65536.0)):
        n = 64 if quick else 256
        real = data(batch_size=n).batch(0)["x"]
        out[name] = (dense_relu(), real, rng.uniform(size=real.shape).astype(np.float32), t)
    if not quick:
        x = datasets.digits_arrays("train")["x"][:512]
        out["digits_cnn"] = (digits_cnn(), x, rng.uniform(size=x.shape).astype(np.float32),
                             2 * 65536.0)
        build, shape = ntk_workloads.NETWORKS["cnn_mnist"]
        real = rng.normal(size=(512,) + shape).astype(np.float32)
        fake = rng.normal(size=(512,) + shape).astype(np.float32)
        out["cnn_mnist_normal"] = (build(), real, fake, 2 * 65536.0)
    return out


def ce_loss(k, y, t, method, dim=krylov.DIM):
    f = K.ntk_gp_predict(k, y, t, LR, DIAG_REG, method=method, krylov_dim=dim)
    target = jax.nn.one_hot(jnp.zeros(y.shape[0], int), 2, dtype=f.dtype)
    return optax.softmax_cross_entropy(f, target).mean()


def measure(name, net, real, fake, t, dims):
    k32 = ga_ntk._two_sample_kernel(lambda a, b: net.kernel(a, b, get="ntk"),
                                    jnp.asarray(real), jnp.asarray(fake))
    labels = np.r_[np.zeros(len(real), int), np.ones(len(fake), int)]
    y32 = jax.nn.one_hot(labels, 2, dtype=jnp.float32)
    with jax.enable_x64(True):
        k64, y64 = jnp.asarray(np.asarray(k32), jnp.float64), jnp.asarray(np.asarray(y32), jnp.float64)
        f_ref = np.asarray(K.ntk_gp_predict(k64, y64, t, LR, DIAG_REG, method="eigh"))
        g_ref = np.asarray(jax.grad(ce_loss)(k64, y64, t, "eigh"))
    n = k32.shape[0]
    k_reg = np.asarray(k32, np.float64) + DIAG_REG * np.trace(k32) / n * np.eye(n)
    c = LR * t / y32.size
    ev = np.linalg.eigvalsh(k_reg)
    rows = []
    for method, dim in [("eigh", None)] + [("krylov", d) for d in dims]:
        d = dim or krylov.DIM
        f = np.asarray(jax.jit(lambda k: K.ntk_gp_predict(k, y32, t, LR, DIAG_REG, method=method,
                                                          krylov_dim=d))(k32))
        g = np.asarray(jax.jit(jax.grad(lambda k: ce_loss(k, y32, t, method, d)))(k32))
        row = {"workload": name, "n": n, "method": method, "dim": dim,
               "max_abs_error": float(np.abs(f - f_ref).max()),
               "grad_rel_error": float(np.linalg.norm(g - g_ref) / np.linalg.norm(g_ref))}
        if dim:
            kr = jnp.asarray(k_reg, jnp.float32)
            row["estimate"] = float(krylov.error_estimate(kr, jnp.float32(c), y32, dim))
        rows.append(row)
        print(f"{name:18s} n={n:5d} c*l_max={c * ev[-1]:8.1f} c*l_2={c * ev[-2]:7.2f} "
              f"{method:6s} k={str(dim):>4s} f err {row['max_abs_error']:.2e} "
              f"grad rel err {row['grad_rel_error']:.2e} est {row.get('estimate', float('nan')):.1e}",
              flush=True)
    return rows, {"c_lambda_max": float(c * ev[-1]), "c_lambda_2": float(c * ev[-2]),
                  "c_lambda_min": float(c * ev[0])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small MoG workloads only")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "krylov_dim.json"))
    args = parser.parse_args(argv)
    rows, spectra = [], {}
    for name, (net, real, fake, t) in workloads(args.quick).items():
        r, s = measure(name, net, real, fake, t, DIMS[:3] if args.quick else DIMS)
        rows += r
        spectra[name] = s
    out = {"benchmark": "krylov_dim", "machine": kernel_timing.machine(), "lr": LR,
           "diag_reg": DIAG_REG, "default_dim": krylov.DIM, "spectra": spectra, "results": rows}
    if not args.quick:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
