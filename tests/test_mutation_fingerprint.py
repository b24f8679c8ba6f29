"""Fingerprint behaviour that mutation testing (tools/mutation.py) found untested: the
documented 16-hex-digit form of every part, and a staged program's parts covering what
each stage's program computes, not only the stages' names and budgets."""

import re

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
