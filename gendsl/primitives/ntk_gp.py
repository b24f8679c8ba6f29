"""GA-NTK's objective: the generator-side loss against a closed-form NTK-GP discriminator.

GA-NTK (Zhang, Su, Chou, Wu, arXiv 2204.04090) replaces the trained discriminator of a
GAN by the Gaussian process of an infinitely wide network trained by gradient descent
on MSE for time ``t``; its predictions have a closed form, so the generator's objective
is single level. With real points ``X`` (class "real") and fake points ``Z`` (class
"fake") stacked as ``P = [X; Z]`` with one-hot targets ``Y``::

    D(X, Z) = (I - exp(-lr * t * K_reg / Y.size)) Y          K = NTK(P, P)
    loss "ce":  mean_i CE(softmax(D_i), "real")              (the reference code)
    loss "mse": sum_i (1 - D_i["real"])**2                   (the paper's ||1 - D||^2)

The arithmetic lives in :func:`gendsl.kernels.ntk_gp_loss` (a pure function); this
module makes it a lazy language primitive so that it can use the program's device mesh:
with a mesh, the kernel rows are computed blockwise, sharded over the ``data`` axis
(:func:`gendsl.kernels.sharded_kernel`), and gathered for the eigendecomposition.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Union

from gendsl import kernels
from gendsl.errors import PrimitiveError
from gendsl.kernels.ga_ntk import LOSSES
from gendsl.kernels.predict import METHODS
from gendsl.terms.primitive import primitive
from gendsl.terms.term import Term, as_term


@primitive(lazy=True, name="ntk_gp_loss")
def _ntk_gp_loss_rule(ctx, kernel, real, fake, t, lr, diag_reg, loss, method):
    """Lowering rule of :func:`ntk_gp_loss` (evaluates ``real`` and ``fake`` itself; every
    argument is given by :func:`ntk_gp_loss`, whose defaults are the only ones)."""
    return kernels.ntk_gp_loss(kernel, ctx.eval(real), ctx.eval(fake), t, lr=lr,
                               diag_reg=diag_reg, loss=loss, mesh=ctx.mesh, method=method)


def ntk_gp_loss(kernel: Union[kernels.Layer, Callable[..., Any]], real: Any, fake: Any,
                t: float, lr: float = 1e-2, diag_reg: float = 1e-5, loss: str = "ce", *,
                method: str = "eigh") -> Term:
    """The GA-NTK generator loss of ``fake`` against ``real`` (a term).

    Real points get the one-hot label "real", fake points "fake"; the NTK over all of
    them gives the NTK-GP predictions after training time ``t`` (neural-tangents'
    ``gradient_descent_mse`` from ``f0 = 0``), and every point is scored against "real".
    Gradients reach the fake points through the kernel (and, for a generator
    ``G(z)``, its parameters).

    Args:
      kernel: the discriminator's architecture, a :mod:`gendsl.kernels` network (its
        infinite-width NTK is used), or a function ``(x1, x2) -> (n1, n2)`` kernel
        matrix (``x2`` may be None for ``x1``).
      real: the real samples, e.g. ``gd.data("x")``, shape ``(n_real, ...)``.
      fake: the synthesized samples, e.g. ``P()`` of a points player or ``G(z)``,
        shape ``(n_fake, ...)`` with the same per-example shape as ``real``.
      t: the discriminator's training time (the reference uses multiples of 65536).
      lr: the discriminator's learning rate (time runs as ``lr * t``).
      diag_reg: diagonal regulariser of the NTK, relative to ``mean(diag K)``.
      loss: ``"ce"`` (mean softmax cross-entropy against "real", the reference code's
        default) or ``"mse"`` (the paper's ``||1 - D(X, Z)||**2`` summed over points).
      method: ``"eigh"`` (default), ``"expm"``, ``"krylov"`` (Lanczos, for large batches) or
        ``"auto"``, see :func:`gendsl.kernels.ntk_gp_predict`.

    Returns:
      A scalar term; minimise it over the fake points' player.

    >>> from gendsl import kernels as K
    >>> from gendsl.terms.sources import data
    >>> net = K.serial(K.Dense(8), K.Relu(), K.Dense(1))
    >>> term = ntk_gp_loss(net, data("x"), data("z"), t=100.0, loss="mse")
    >>> type(term).__name__
    'PrimitiveCall'
    """
    if not (isinstance(kernel, kernels.Layer) or callable(kernel)):
        raise PrimitiveError(
            f"ntk_gp_loss: kernel must be a gendsl.kernels network such as "
            f"K.serial(K.Dense(64), K.Relu(), K.Dense(1)) or a function (x1, x2) -> matrix, "
            f"got {type(kernel).__name__}")
    _check_positive("t", t)
    _check_positive("lr", lr)
    if isinstance(diag_reg, bool) or not (isinstance(diag_reg, numbers.Real)
                                          and math.isfinite(diag_reg) and diag_reg >= 0):
        raise PrimitiveError(f"ntk_gp_loss(diag_reg={diag_reg!r}): use a finite number >= 0 "
                             "(1e-5 by default)")
    if loss not in LOSSES:
        raise PrimitiveError(f"ntk_gp_loss(loss={loss!r}): use one of {LOSSES}")
    if method not in METHODS:
        raise PrimitiveError(f"ntk_gp_loss(method={method!r}): use one of {METHODS}")
    return _ntk_gp_loss_rule(kernel, as_term(real), as_term(fake), float(t), lr=float(lr),
                             diag_reg=float(diag_reg), loss=loss, method=method)


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) and value > 0):
        raise PrimitiveError(f"ntk_gp_loss({name}={value!r}): use a positive number")
