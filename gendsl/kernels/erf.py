"""Erf: ``a * erf(b * x) + c``, the arcsine kernel (``stax.Erf``).

``E[erf(u) erf(v)] = 2 / pi * arcsin(2 c / sqrt((1 + 2 q1)(1 + 2 q2)))`` and
``E[erf'(u) erf'(v)] = 4 / pi / sqrt((1 + 2 q1)(1 + 2 q2) - 4 c**2)``; both smooth.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from gendsl.kernels.elementwise import Pointwise
from gendsl.kernels.safe_math import safe_atan2, safe_sqrt


@dataclasses.dataclass(frozen=True)
class Erf(Pointwise):
    """``a * erf(b * x) + c``.

    Attributes:
      a: output scale.
      b: input scale.
      c: output shift.
    """

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    def var_fn(self, q):
        return 1.0 + 2.0 * self.b ** 2 * q

    def pair_fn(self, cov, prod, ntk):
        cov = self.b ** 2 * cov
        root = safe_sqrt(prod - 4.0 * cov * cov)
        nngp = 2.0 / jnp.pi * safe_atan2(2.0 * cov, root)
        nngp = self.a ** 2 * nngp + self.c ** 2
        if ntk is None:
            return nngp, None
        dot_sigma = 4.0 / jnp.pi / root
        return nngp, ntk * (self.a ** 2 * self.b ** 2) * dot_sigma

    def diag_fn(self, q):
        q = self.b ** 2 * q
        return self.a ** 2 * 2.0 / jnp.pi * safe_atan2(q, jnp.sqrt(q + 0.25)) + self.c ** 2

    def apply(self, x):
        return self.a * jax.scipy.special.erf(self.b * x) + self.c
