"""The networks of the kernel benchmarks, as in the neural-tangents anchor's bench.py.

* ``cnn_mnist``: GA-NTK's MNIST discriminator kernel: Conv64 and Conv128 (4x4, stride 2,
  SAME) with ReLU, Flatten, Dense1024-ReLU, Dense1; ``W_std**2 = 1.4615``,
  ``b_std**2 = 0.1``; 28x28x1 inputs.
* ``fc3``: 784-512-512-1 with ReLU, ``W_std = 1.5``, ``b_std = 0.05``.
"""

from __future__ import annotations

import math

from gendsl import kernels as K

W_STD, B_STD = math.sqrt(1.4615), math.sqrt(0.1)


def cnn_mnist() -> K.Layer:
    """The cnn_mnist kernel network (inputs ``(n, 28, 28, 1)``)."""
    conv = lambda out: K.Conv(out, (4, 4), (2, 2), "SAME", W_std=W_STD, b_std=B_STD)
    return K.serial(conv(64), K.Relu(), conv(128), K.Relu(), K.Flatten(),
                    K.Dense(1024, W_std=W_STD, b_std=B_STD), K.Relu(),
                    K.Dense(1, W_std=W_STD, b_std=B_STD))


def fc3() -> K.Layer:
    """The fc3 kernel network (inputs ``(n, 784)``)."""
    return K.serial(K.Dense(512, 1.5, 0.05), K.Relu(), K.Dense(512, 1.5, 0.05), K.Relu(),
                    K.Dense(1, 1.5, 0.05))


NETWORKS = {"cnn_mnist": (cnn_mnist, (28, 28, 1)), "fc3": (fc3, (784,))}
