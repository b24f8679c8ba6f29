"""Fingerprint behaviour that mutation testing (tools/mutation.py) found untested: the
documented 16-hex-digit form of every part, and a staged program's parts covering what
each stage's program computes, not only the stages' names and budgets."""

import dataclasses
import re

import numpy as np
import optax

import gendsl as gd
from gendsl import losses as L
from gendsl.terms.fingerprint import fingerprint_parts

HEX16 = re.compile(r"[0-9a-f]{16}")


def _gan(lr=1e-3):
    G = gd.player("G", lambda r: gd.nn.MLP(4, (8,), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(lr))
    fake = G(gd.latent("z", 4))
    return gd.program({D: L.hinge_d(D(gd.data("x")), D(fake)), G: L.hinge_g(D(fake))},
                      gd.alternating(D=1, G=1))


def _staged(target_scale=2.0):
    A = gd.player("A", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(1e-2))
    x = gd.data("x")
    fit = gd.program({A: gd.mean(gd.sq_norm(A(x) - target_scale * x[:, :1]))}, gd.minimize())
    return gd.stages([gd.stage("fit", fit, steps=10)])


def test_every_part_and_the_fingerprint_are_16_hex_digits():
    for program in (_gan(), _staged()):
        parts = fingerprint_parts(program)
        assert parts and all(HEX16.fullmatch(v) for v in parts.values()), parts
        assert HEX16.fullmatch(gd.fingerprint(program))
    assert {"program text", "parameter shapes", "primitive hinge_d", "primitive hinge_g",
            "optimizer of G", "optimizer of D"} <= set(fingerprint_parts(_gan()))


def test_a_stage_whose_objective_changes_changes_the_fingerprint():
    same, other = fingerprint_parts(_staged(2.0)), fingerprint_parts(_staged(3.0))
    assert fingerprint_parts(_staged(2.0)) == same
    assert same["stages"] == other["stages"]            # same names and budgets
    assert same["stage fit: program text"] != other["stage fit: program text"]
    assert gd.fingerprint(_staged(2.0)) != gd.fingerprint(_staged(3.0))


# -- the walk over every term and every argument (survivors of the seed-0 run of stop 20) --

def _shift(c):
    @gd.primitive(name="shift")
    def rule(x):
        return x + c
    return rule


def _with_inner(c):
    """A user primitive *inside* a player's input: under the loss's primitive call and
    the player call, which are walked before it."""
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(1e-3))
    return gd.program({D: L.hinge_d(D(_shift(c)(gd.data("x"))), D(gd.data("y")))},
                      gd.minimize())


def test_a_primitive_below_a_player_call_is_part_of_the_fingerprint():
    assert gd.show(_with_inner(1.0)) == gd.show(_with_inner(2.0))
    assert gd.fingerprint(_with_inner(1.0)) == gd.fingerprint(_with_inner(1.0))
    assert gd.fingerprint(_with_inner(1.0)) != gd.fingerprint(_with_inner(2.0))
    assert "primitive shift" in fingerprint_parts(_with_inner(1.0))


def _with_function_argument(c):
    """A primitive call whose term argument comes before a constant one (a function)."""
    P = gd.points("P", np.zeros((4, 2), np.float32), optax.sgd(0.1))
    f = lambda x: x * c  # noqa: E731  (the same code, another closure constant)
    call = gd.primitive(name="apply")(lambda x, g: g(x))
    return gd.program({P: gd.sum(call(P(), f) ** 2)})


def test_a_constant_argument_after_a_term_is_part_of_the_fingerprint():
    assert gd.show(_with_function_argument(1.0)) == gd.show(_with_function_argument(2.0))
    assert gd.fingerprint(_with_function_argument(1.0)) == gd.fingerprint(
        _with_function_argument(1.0))
    assert gd.fingerprint(_with_function_argument(1.0)) != gd.fingerprint(
        _with_function_argument(2.0))


@dataclasses.dataclass(frozen=True)
class _Spec:
    """A constant argument that describes itself: its repr shows a function's address."""
    fn: object

    def describe(self) -> str:
        return "Spec()"


def _with_spec():
    P = gd.points("P", np.zeros((4, 2), np.float32), optax.sgd(0.1))
    call = gd.primitive(name="use_spec")(lambda x, spec: spec.fn(x))
    return gd.program({P: gd.sum(call(P(), _Spec(lambda x: 2.0 * x)) ** 2)})


def test_an_argument_whose_repr_has_an_address_is_hashed_by_its_description():
    """Rebuilt, the argument holds another function object (another address) of the same
    code: the fingerprint must not change."""
    assert " at 0x" in repr(_Spec(lambda x: x))
    assert gd.fingerprint(_with_spec()) == gd.fingerprint(_with_spec())
