"""The GA-NTK generator loss as a pure function (the DSL term wraps it).

GA-NTK (Generative Adversarial NTK) replaces the trained discriminator by the
closed-form NTK-GP posterior mean after training time ``t`` on ``[real: "real",
fake: "fake"]`` labels; the generator moves the fake points so that all points read
"real".
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gendsl.errors import PrimitiveError
from gendsl.kernels.layer import Layer
from gendsl.kernels.predict import ntk_gp_predict
from gendsl.kernels.sharded import place, sharded_kernel

LOSSES = ("ce", "mse")
REAL, FAKE = 0, 1  # one-hot columns of the two classes


def ntk_gp_loss(kernel: Union[Layer, Callable], real: jax.Array, fake: jax.Array, t,
                lr: float = 1e-2, diag_reg: float = 1e-5, loss: str = "ce", *,
                mesh: Optional[Mesh] = None, axis: str = "data",
                method: str = "eigh") -> jax.Array:
    """Generator-side GA-NTK loss of ``fake`` against ``real``.

    Stacks real (class "real") and fake (class "fake") points with one-hot two-class
    targets, computes the NTK over all of them, takes the NTK-GP train predictions at
    time ``t`` (:func:`ntk_gp_predict`) and scores every point against "real".

    Args:
      kernel: a network (its NTK is used) or ``kernel(x1, x2) -> (n1, n2)`` NTK function
        (``x2`` may be ``None``).
      real: ``(n_real, ...)`` data points.
      fake: ``(n_fake, ...)`` generated points (the loss is differentiated w.r.t. these).
      t: discriminator training time.
      lr: its learning rate.
      diag_reg: relative diagonal regulariser of the NTK.
      loss: ``"ce"``: mean softmax cross-entropy of every point against "real" (the
        reference code's default); ``"mse"``: the paper's ``||1 - D(X, Z)||**2``, the
        squared norm over all points of one minus the "real"-class prediction.
      mesh: if given, the kernel rows are computed sharded over ``mesh[axis]``.
      axis: the mesh axis for the rows.
      method: ``"eigh"`` or ``"expm"`` (see :func:`ntk_gp_predict`).

    Returns:
      The scalar loss.
    """
    if loss not in LOSSES:
        raise PrimitiveError(f"ntk_gp_loss(loss={loss!r}): use one of {LOSSES}")
    real, fake = jnp.asarray(real), jnp.asarray(fake)
    if real.shape[1:] != fake.shape[1:]:
        raise PrimitiveError(f"ntk_gp_loss: real points have shape {real.shape[1:]} but fake "
                             f"points {fake.shape[1:]}; the generator must output data-shaped "
                             "samples")
    x = jnp.concatenate([real, fake.astype(real.dtype)])
    labels = jnp.concatenate([jnp.full((real.shape[0],), REAL), jnp.full((fake.shape[0],), FAKE)])
    y = jax.nn.one_hot(labels, 2, dtype=x.dtype)
    if mesh is not None:
        k = sharded_kernel(kernel, x, x, mesh=mesh, axis=axis, get="ntk")
        k = place(k, NamedSharding(mesh, P()))  # eigh needs the whole matrix
    elif isinstance(kernel, Layer):
        k = kernel.kernel(x, None, get="ntk")
    else:
        k = kernel(x, None)
    f = ntk_gp_predict(k, y, t, lr, diag_reg, method=method)
    if loss == "ce":
        target = jax.nn.one_hot(jnp.full((x.shape[0],), REAL), 2, dtype=f.dtype)
        return optax.softmax_cross_entropy(f, target).mean()
    return jnp.sum((1.0 - f[:, REAL]) ** 2)
