"""Butcher's order conditions: the order of an explicit Runge-Kutta method, from its
coefficients.

A method has order ``p`` when, for every rooted tree ``t`` with at most ``p`` nodes,
its elementary weight equals ``1 / gamma(t)`` (Butcher, *Numerical Methods for Ordinary
Differential Equations*, ch. 3). Trees are held as sorted tuples of their subtrees (the
one-node tree is ``()``); the elementary weight is ``b . u(t)`` with ``u(()) = 1`` and
``u(t) = prod over subtrees s of A u(s)`` (elementwise), and ``gamma(t) = |t| prod
gamma(s)``. Written by hand: no maintained Python library derives a tableau's order
(diffrax and others state it by hand), and it is a few lines over exact trees.
"""

from __future__ import annotations

import functools
from typing import Sequence

MAX_ORDER = 8
"""The highest order :func:`method_order` checks (115 trees of up to 8 nodes)."""

_TOL = 1e-9

Tree = tuple  # a rooted tree: the sorted tuple of its subtrees


@functools.lru_cache(maxsize=None)
def rooted_trees(n: int) -> tuple[Tree, ...]:
    """All rooted trees with ``n`` nodes, each once (as sorted tuples of subtrees).

    >>> [len(rooted_trees(n)) for n in range(1, 7)]
    [1, 1, 2, 4, 9, 20]
    """
    if n == 1:
        return ((),)
    out: set[Tree] = set()
    for children in _forests(n - 1, n - 1):
        out.add(tuple(sorted(children)))
    return tuple(sorted(out))


def _forests(nodes: int, largest: int) -> list[tuple[Tree, ...]]:
    # multisets of trees with ``nodes`` nodes in all, each tree of at most ``largest``
    # nodes, generated in non-increasing tree size so each multiset appears once per order
    if nodes == 0:
        return [()]
    out = []
    for size in range(min(nodes, largest), 0, -1):
        for tree in rooted_trees(size):
            for rest in _forests(nodes - size, size):
                out.append((tree, *rest))
    return out


def _size(tree: Tree) -> int:
    return 1 + sum(_size(s) for s in tree)


def _gamma(tree: Tree) -> int:
    g = _size(tree)
    for s in tree:
        g *= _gamma(s)
    return g


def _stage_values(tree: Tree, a: Sequence[Sequence[float]]) -> list[float]:
    s = len(a)
    u = [1.0] * s
    for sub in tree:
        v = _stage_values(sub, a)
        au = [sum(a[i][j] * v[j] for j in range(len(a[i]))) for i in range(s)]
        u = [x * y for x, y in zip(u, au)]
    return u


def satisfies(tree: Tree, a: Sequence[Sequence[float]], b: Sequence[float]) -> bool:
    """Whether the method ``(a, b)`` satisfies the order condition of ``tree``.

    ``a`` holds the rows of the strictly lower-triangular stage matrix (row ``i`` has
    ``i`` entries).

    >>> satisfies(((),), [[], [1.0]], [0.5, 0.5])   # sum_i b_i c_i = 1/2
    True
    """
    weight = sum(bi * ui for bi, ui in zip(b, _stage_values(tree, a)))
    return abs(weight - 1.0 / _gamma(tree)) <= _TOL


def method_order(a: Sequence[Sequence[float]], b: Sequence[float]) -> int:
    """The order of the explicit method ``(a, b)``: the largest ``p <= MAX_ORDER`` such
    that every tree of at most ``p`` nodes satisfies its condition (0 if none does).

    >>> method_order([[], [0.5]], [0.0, 1.0])   # the midpoint method
    2
    """
    order = 0
    for p in range(1, MAX_ORDER + 1):
        if not all(satisfies(t, a, b) for t in rooted_trees(p)):
            break
        order = p
    return order
