"""Butcher tableaux: explicit Runge-Kutta methods held as data (as in diffrax).

A tableau ``(a, b, c)`` defines the stages ``k_i = f(y + h sum_j a_ij k_j)`` (evaluated
at time offset ``c_i h``) and the step ``y + h sum_i b_i k_i``. Adding an integrator is
adding a tableau; :class:`ButcherTableau` validates it when built.
"""

from __future__ import annotations

import dataclasses
import math

from gendsl.errors import TableauError
from gendsl.solvers.order_conditions import method_order

_TOL = 1e-10


@dataclasses.dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge-Kutta method.

    Attributes:
      name: the method's name (shown in programs).
      a: the strictly lower-triangular stage matrix, as rows: ``a[i]`` holds the ``i``
        coefficients of stage ``i`` on the earlier stages (``a[0] == ()``).
      b: the weights of the stages in the step (summing to 1).
      c: the stages' time offsets (``c[i] == sum(a[i])``, ``c[0] == 0``).
    """

    name: str
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]

    def __post_init__(self):
        s = len(self.b)
        where = f"tableau {self.name!r}"
        if s == 0:
            raise TableauError(f"{where}: b is empty; a tableau needs at least one stage")
        if len(self.a) != s or len(self.c) != s:
            raise TableauError(
                f"{where}: a has {len(self.a)} rows, b {s} weights and c {len(self.c)} "
                "offsets; all three must have one entry per stage")
        for i, row in enumerate(self.a):
            if len(row) != i:
                raise TableauError(
                    f"{where}: row a[{i}] has {len(row)} coefficients; an explicit method "
                    f"needs exactly {i} (stage {i} may only use earlier stages)")
            if abs(sum(row) - self.c[i]) > 1e-9:
                raise TableauError(
                    f"{where}: c[{i}] = {self.c[i]} but sum(a[{i}]) = {sum(row)}; they "
                    "must be equal")
        if any(not math.isfinite(v) for v in (*self.b, *self.c, *(x for r in self.a for x in r))):
            raise TableauError(f"{where}: coefficients must be finite numbers")
        if abs(sum(self.b) - 1.0) > 1e-9:
            raise TableauError(f"{where}: the weights b sum to {sum(self.b)}, not 1; the "
                               "method would not be consistent")

    @property
    def num_stages(self) -> int:
        """Number of stages (function evaluations per step)."""
        return len(self.b)

    @property
    def order(self) -> int:
        """The method's order of accuracy, derived from the coefficients: the largest
        ``p`` (up to :data:`gendsl.solvers.order_conditions.MAX_ORDER`, 8) for which
        every Butcher order condition of order ``<= p`` holds.

        >>> EULER.order, HEUN.order, RK4.order
        (1, 2, 4)
        """
        return method_order(self.a, self.b)


def tableau(name: str, a, b, c=None) -> ButcherTableau:
    """Builds and validates a Butcher tableau.

    Args:
      name: the method's name.
      a: the stage coefficients, either lower-triangular rows (``[[], [1/2], ...]``)
        or a full square matrix whose upper triangle and diagonal are zero.
      b: the stage weights.
      c: the time offsets; by default the row sums of ``a``.
    Returns:
      A :class:`ButcherTableau`.
    Raises:
      TableauError: if the coefficients do not define an explicit consistent method.

    >>> midpoint = tableau("midpoint", [[], [0.5]], [0.0, 1.0])
    >>> midpoint.num_stages, midpoint.order
    (2, 2)
    """
    rows = [tuple(float(x) for x in r) for r in a]
    if rows and all(len(r) == len(rows) for r in rows):  # a full square matrix
        for i, r in enumerate(rows):
            if any(abs(x) > _TOL for x in r[i:]):
                raise TableauError(
                    f"tableau {name!r}: a[{i}] has non-zero entries on or above the "
                    "diagonal; only explicit methods are supported")
        rows = [r[:i] for i, r in enumerate(rows)]
    c = tuple(sum(r) for r in rows) if c is None else tuple(float(x) for x in c)
    return ButcherTableau(name, tuple(rows), tuple(float(x) for x in b), c)


EULER = tableau("euler", [[]], [1.0])
"""Forward Euler: one stage."""

HEUN = tableau("heun", [[], [1.0]], [0.5, 0.5])
"""Heun's method: a full Euler stage, then the average of both slopes (2nd order)."""

RK4 = tableau("rk4", [[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]],
              [1 / 6, 1 / 3, 1 / 3, 1 / 6])
"""The classical 4th-order Runge-Kutta method (stages at 0, 1/2, 1/2, 1)."""
