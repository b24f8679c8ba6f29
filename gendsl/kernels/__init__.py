"""Infinite-width NNGP / NTK kernels with neural-tangents' vocabulary and values.

Why hand-written: neural-tangents 0.6.5, its last release, no longer imports on current
JAX and pulls in TensorFlow, so gendsl computes the kernels itself. Layer names, keyword
arguments, parameterizations and kernel values follow ``neural_tangents.stax`` (checked
against reference values computed with neural-tangents 0.6.5).

Every layer is an immutable spec; each layer's kernel rule is a small pure function on a
minimal kernel-state pytree. Any layer or network gives

* ``net.kernel(x1, x2=None, get=("nngp", "ntk"))``: the closed-form kernels;
* ``net.module(input_shape, rngs=nnx.Rngs(0))``: the finite-width Flax NNX module.

>>> import jax.numpy as jnp
>>> from gendsl import kernels as K
>>> net = K.serial(K.Dense(512, W_std=1.5, b_std=0.05), K.Relu(), K.Dense(1, W_std=1.5))
>>> net.kernel(jnp.ones((4, 3)), get="ntk").shape
(4, 4)
"""

from gendsl.kernels.branching import FanInSum, FanOut, Parallel, parallel
from gendsl.kernels.conv import Conv
from gendsl.kernels.dense import Dense
from gendsl.kernels.empirical import empirical_ntk
from gendsl.kernels.erf import Erf
from gendsl.kernels.ga_ntk import ntk_gp_loss
from gendsl.kernels.identity import Flatten, Identity
from gendsl.kernels.layer import Layer
from gendsl.kernels.pooling import AvgPool, GlobalAvgPool
from gendsl.kernels.predict import ntk_gp_predict
from gendsl.kernels.recipe import from_recipe
from gendsl.kernels.relu import LeakyRelu, Relu
from gendsl.kernels.serial import Serial, residual, serial
from gendsl.kernels.sharded import sharded_kernel

__all__ = [
    "AvgPool", "Conv", "Dense", "Erf", "FanInSum", "FanOut", "Flatten", "GlobalAvgPool",
    "Identity", "Layer", "LeakyRelu", "Parallel", "Relu", "Serial", "empirical_ntk",
    "from_recipe", "ntk_gp_loss", "ntk_gp_predict", "parallel", "residual", "serial",
    "sharded_kernel",
]
