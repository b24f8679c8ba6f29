"""Tests that kill the compiler's surviving mutants (docs/mutation.md).

Each names the behaviour it pins; the mutant it was written against is in the comment.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gendsl as gd
from gendsl.errors import ShapeMismatchError


@gd.primitive(has_aux=True)
def _scaled_mean_square(v, scale):
    raw = jnp.mean(v ** 2)
    return scale * raw, {"raw": raw}


def test_a_primitives_auxiliary_metrics_are_reported_under_player_and_primitive():
    # mutant: lowering.py:236 the loop over the rule's aux metrics never runs
    P = gd.points("p", np.array([1.0, 2.0, 3.0], np.float32), optax.sgd(0.1))
    c = gd.compile(gd.program({P: _scaled_mean_square(P(), 3.0)}, gd.minimize()))
    state = c.init(jax.random.key(0), {})
    _, metrics = c.step(state, {})
    np.testing.assert_allclose(metrics["p/_scaled_mean_square/raw"], 14.0 / 3.0, rtol=1e-6)
    np.testing.assert_allclose(metrics["p/loss"], 14.0, rtol=1e-6)


def test_init_checks_the_samples_term_too():
    """A ``samples`` term that cannot run (the generator applied to a latent of the wrong
    size) fails at ``init``, naming both applications, not later when sampling."""
    # mutant: compiled_program.py:167 `samples is not None` -> `is None`
    G = gd.player("G", lambda r: gd.nn.MLP(4, (8,), 2, rngs=r), optax.adam(1e-2))
    z, w, x = gd.latent("z", 4), gd.latent("w", 3), gd.data("x")
    prog = gd.program({G: gd.mean(gd.sq_norm(G(z) - x))}, gd.minimize(), samples=G(w))
    with pytest.raises(ShapeMismatchError, match=r"G\(z\) but .* in G\(w\)"):
        gd.compile(prog).init(jax.random.key(0), {"x": np.zeros((8, 2), np.float32)})


def test_a_staged_program_samples_its_last_stage_with_samples():
    # mutant: stages.py:155 `with_samples[-1]` -> `with_samples[-0]` (the first)
    A = gd.points("a", np.array([1.0, 2.0], np.float32), optax.sgd(0.1))
    B = gd.points("b", np.array([5.0, 7.0], np.float32), optax.sgd(0.1))
    C = gd.points("c", np.array([0.0], np.float32), optax.sgd(0.1))
    first = gd.program({A: gd.sum(A() ** 2)}, gd.minimize(), samples=A())
    second = gd.program({B: gd.sum(B() ** 2)}, gd.minimize(), samples=10.0 * B())
    last = gd.program({C: gd.sum(C() ** 2)}, gd.minimize())  # no samples term
    c = gd.compile(gd.stages([gd.stage("s1", first, steps=1), gd.stage("s2", second, steps=1),
                              gd.stage("s3", last, steps=1)]))
    state = c.init(jax.random.key(0), {})
    np.testing.assert_allclose(c.sample(state, jax.random.key(1), 2), [50.0, 70.0])
