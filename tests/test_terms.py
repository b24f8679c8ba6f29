"""The language: terms print as math, programs are checked when built, fingerprints
are stable across processes and sensitive to what matters."""

import subprocess
import sys
import textwrap

import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl import losses as L
from gendsl.errors import MissingObjectiveError, ProgramError, UnknownPlayerError
from gendsl.terms.show import show_term


def gan(hidden=16, weight=10.0):
    G = gd.player("G", lambda r: gd.nn.MLP(4, (hidden, hidden), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (hidden, hidden), 1, rngs=r), optax.adam(1e-3))
    x, z = gd.data("x"), gd.latent("z", 4)
    fake = gd.named("fake", G(z))
    return gd.program({D: L.nonsaturating_d(D(x), D(fake)) + weight * L.r1(D, x),
                       G: L.nonsaturating_g(D(fake))},
                      gd.alternating(D=1, G=1), samples=fake), G, D


def test_show_renders_the_program_as_math():
    prog, _, _ = gan()
    text = gd.show(prog)
    assert "solver: alternating(D=1, G=1)" in text
    assert "D: MLP (337 parameters, trained)" in text
    assert "z ~ normal(4)" in text
    assert "D  minimises  nonsaturating_d(D(x), D(fake)) + 10.0 * r1(D, x)" in text
    assert "G  minimises  nonsaturating_g(D(fake))" in text
    assert "fake = G(z)" in text


@pytest.mark.parametrize("build, text", [
    (lambda a, b, c: a - (b - c), "a - (b - c)"),
    (lambda a, b, c: (a - b) - c, "a - b - c"),
    (lambda a, b, c: (a + b) * c, "(a + b) * c"),
    (lambda a, b, c: a + b * c, "a + b * c"),
    (lambda a, b, c: a / (b * c), "a / (b * c)"),
    (lambda a, b, c: -(a ** 2), "-a**2"),
    (lambda a, b, c: (-a) ** 2, "(-a)**2"),
    (lambda a, b, c: (a ** b) ** c, "(a**b)**c"),
    (lambda a, b, c: a ** (b ** c), "a**b**c"),
    (lambda a, b, c: -1.0 * a, "-1.0 * a"),
    (lambda a, b, c: 2 * gd.mean(a)[0], "2 * mean(a)[0]"),
    (lambda a, b, c: gd.stop_gradient(a - b), "stop_gradient(a - b)"),
])
def test_precedence_and_parentheses(build, text):
    a, b, c = gd.data("a"), gd.data("b"), gd.data("c")
    assert show_term(build(a, b, c)) == text


def test_a_term_has_no_truth_value():
    with pytest.raises(TypeError, match="no truth value"):
        bool(gd.data("x") + 1)


def test_player_without_objective_is_named():
    G = gd.player("G", lambda r: gd.nn.MLP(4, (8, 8), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8, 8), 1, rngs=r), optax.adam(1e-3))
    with pytest.raises(MissingObjectiveError, match="player 'D' appears in the objective of 'G'"):
        gd.program({G: L.nonsaturating_g(D(G(gd.latent("z", 4))))})
    # frozen players are allowed
    gd.program({G: L.nonsaturating_g(D(G(gd.latent("z", 4))))}, frozen=[D])


def test_unknown_players_are_named():
    prog, G, D = gan()
    with pytest.raises(UnknownPlayerError, match="'Q'"):
        gd.program({D: prog.objective("D"), G: prog.objective("G")}, gd.alternating(D=1, Q=1))
    with pytest.raises(UnknownPlayerError, match="names 'E'"):
        gd.program({"E": gd.mean(G(gd.latent("z", 4)))})
    with pytest.raises(MissingObjectiveError, match="never updates it"):
        gd.program({D: prog.objective("D"), G: prog.objective("G")}, gd.alternating(D=1))


def test_duplicate_names_and_conflicting_latents_are_refused():
    A1 = gd.player("A", lambda r: gd.nn.MLP(2, (4, 4), 1, rngs=r), optax.sgd(0.1))
    A2 = gd.player("A", lambda r: gd.nn.MLP(2, (4, 4), 1, rngs=r), optax.sgd(0.1))
    with pytest.raises(ProgramError, match="two different players are named 'A'"):
        gd.program({A1: gd.mean(A1(gd.data("x"))), A2: gd.mean(A2(gd.data("x")))})
    with pytest.raises(ProgramError, match="latent 'z' is declared twice"):
        gd.program({A1: gd.mean(A1(gd.latent("z", 2))) + gd.mean(A1(gd.latent("z", 3)))})


def test_bad_player_arguments_are_reported():
    with pytest.raises(ProgramError, match="optax.GradientTransformation"):
        gd.player("G", lambda r: gd.nn.MLP(2, (4, 4), 1, rngs=r), "adam")
    with pytest.raises(ProgramError, match="identifier"):
        gd.player("my player", lambda r: gd.nn.MLP(2, (4, 4), 1, rngs=r), optax.sgd(0.1))
    G = gd.player("G", lambda r: gd.nn.MLP(2, (4, 4), 1, rngs=r), optax.sgd(0.1))
    with pytest.raises(ProgramError, match="used as a value"):
        G(gd.data("x")) + G


_FINGERPRINT_SCRIPT = textwrap.dedent("""
    import sys; sys.path.insert(0, {root!r})
    from tests.test_terms import gan
    import gendsl as gd
    print(gd.fingerprint(gan()[0]))
""")


def test_fingerprint_is_stable_across_processes_and_sensitive():
    import pathlib
    root = str(pathlib.Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", _FINGERPRINT_SCRIPT.format(root=root)],
                         capture_output=True, text=True, check=True).stdout.strip()
    here = gd.fingerprint(gan()[0])
    assert out == here and len(here) == 16
    assert gd.fingerprint(gan(weight=5.0)[0]) != here      # the objective changed
    assert gd.fingerprint(gan(hidden=17)[0]) != here       # parameter shapes changed


def test_kernel_layers_print_short_but_fingerprint_in_full():
    from gendsl.kernels import Dense, Relu, serial

    def program(w_std):
        P = gd.points("P", np.zeros((4, 2), np.float32), optax.sgd(1.0))
        net = serial(Dense(8, W_std=w_std), Relu(), Dense(1))
        return gd.program({P: gd.losses.ntk_gp_loss(net, gd.data("x"), P(), t=10.0)}, gd.minimize())

    a, b = program(2 ** 0.5), program(2 ** 0.5 + 1e-9)
    assert "ntk_gp_loss(Serial(Dense(8, W_std=1.414), Relu(), Dense(1)), x, P(), 10.0" in gd.show(a)
    assert gd.show(a) == gd.show(b)
    assert gd.fingerprint(a) != gd.fingerprint(b)
    assert gd.fingerprint(a) == gd.fingerprint(program(2 ** 0.5))


def test_points_player_and_primitive_render():
    P = gd.points("X", np.zeros((5, 2), np.float32), optax.sgd(1.0))
    assert show_term(gd.sq_norm(P())) == "sq_norm(X())"
    with pytest.raises(ProgramError, match="init must be an array"):
        gd.points("Y", 3.0, optax.sgd(1.0))
