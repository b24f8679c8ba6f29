"""Tests that kill the compiler's surviving mutants (docs/mutation.md).

Each names the behaviour it pins; the mutant it was written against is in the comment.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec

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


def test_a_named_scalar_is_reported_as_a_metric_and_a_named_array_is_not():
    # mutant: lowering.py:178 `v.size == 1` -> `v.size != 1`
    P = gd.points("p", np.array([1.0, 2.0], np.float32), optax.sgd(0.1))
    half = gd.named("half", 0.5 * gd.sum(P() ** 2))
    doubled = gd.named("doubled", 2.0 * P())
    c = gd.compile(gd.program({P: half + gd.sum(doubled)}, gd.minimize()))
    metrics = c.evaluate(c.init(jax.random.key(0), {}), {})
    np.testing.assert_allclose(metrics["p/half"], 2.5)
    assert not any(k.endswith("doubled") for k in metrics), sorted(metrics)


def test_a_compiled_program_is_one_phase_covering_the_whole_run():
    """As a runner phase a plain compiled program has no name, starts at step 0 and has
    no end."""
    # mutant: compiled_program.py:93 `start: int = 0` -> `1`
    P = gd.points("p", np.array([1.0], np.float32), optax.sgd(0.1))
    c = gd.compile(gd.program({P: gd.sum(P() ** 2)}, gd.minimize()))
    assert (c.name, c.start, c.end) == ("", 0, None)


def test_init_reads_a_fresh_batches_step_batch_as_its_batches_stacked():
    """With ``fresh_batches`` a step's batch has a leading axis of one batch per inner
    update; the check behind ``init`` strips it, so the data and the generator's samples
    reach D with the same per-example shape."""
    # mutant: compiled_program.py:152 `s.shape[1:]` -> `s.shape[2:]` / `s.shape[0:]`
    G = gd.player("G", lambda r: gd.nn.MLP(2, (8,), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(1e-3))
    x, z = gd.data("x"), gd.latent("z", 2)
    prog = gd.program({D: gd.losses.nonsaturating_d(D(x), D(G(z))),
                       G: gd.losses.nonsaturating_g(D(G(z)))},
                      gd.alternating(D=2, G=1, fresh_batches=True))
    c = gd.compile(prog)
    batch = {"x": np.random.default_rng(0).normal(size=(3, 8, 2)).astype(np.float32)}
    state, metrics = c.step(c.init(jax.random.key(0), batch), batch)
    assert np.isfinite(float(metrics["D/loss"])) and np.isfinite(float(metrics["G/loss"]))


def _batch_spec(jitted, state, batch):
    """The PartitionSpec the compiled step gives the batch's field ``x``."""
    return jitted.lower(state, batch).compile().input_shardings[0][1]["x"].spec


def test_on_a_mesh_the_data_axis_shards_the_examples_not_the_stacked_batches():
    """Each stage's step and fused step shard a batch's example axis, after the axes of
    fused steps and of a fresh-batches step's batches (a 1-device mesh has the same
    layout as a larger one)."""
    # mutants: stages.py:104 `batches_per_step > 1` -> `> 2`; stages.py:106
    # `lead_axes=1 + extra` -> `2 + extra`
    P = gd.player("P", lambda r: gd.nn.MLP(2, (4,), 1, rngs=r), optax.sgd(0.1))
    Q = gd.player("Q", lambda r: gd.nn.MLP(2, (4,), 1, rngs=r), optax.sgd(0.1))
    x = gd.data("x")
    fresh = gd.program({P: gd.mean(gd.sq_norm(P(x))), Q: gd.mean(gd.sq_norm(Q(x)))},
                       gd.alternating(P=1, Q=1, fresh_batches=True))  # 2 batches a step
    plain = gd.program({P: gd.mean(gd.sq_norm(P(x)))}, gd.minimize())
    c = gd.compile(gd.stages([gd.stage("fresh", fresh, steps=2), gd.stage("plain", plain, steps=2)]),
                   mesh=gd.data_parallel(1))
    two = {"x": np.zeros((2, 8, 2), np.float32)}
    state = c.init(jax.random.key(0), two)
    fresh_stage, plain_stage = c.stages
    assert _batch_spec(fresh_stage.step, state, two) == PartitionSpec(None, "data")
    assert _batch_spec(fresh_stage.step_many, state, {"x": np.zeros((3, 2, 8, 2), np.float32)}) \
        == PartitionSpec(None, None, "data")
    assert _batch_spec(plain_stage.step, state, {"x": two["x"][0]}) == PartitionSpec("data")
    assert _batch_spec(plain_stage.step_many, state, two) == PartitionSpec(None, "data")


def test_on_a_mesh_a_latent_draw_is_constrained_to_the_data_axis():
    """The lowered step pins every draw of the latent (8 x 3) to the mesh's data axis."""
    # mutants: lowering.py:145 `z.shape[0] % data == 0` -> `//` or `== 1`
    G = gd.player("G", lambda r: gd.nn.MLP(3, (8,), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(1e-3))
    x, z = gd.data("x"), gd.latent("z", 3)
    prog = gd.program({D: gd.losses.nonsaturating_d(D(x), D(G(z))),
                       G: gd.losses.nonsaturating_g(D(G(z)))}, gd.alternating(D=1, G=1))
    c = gd.compile(prog, mesh=gd.data_parallel(1))
    batch = {"x": np.zeros((8, 2), np.float32)}
    text = c.step.lower(c.init(jax.random.key(0), batch), c.shard_batch(batch)).as_text()
    shardy = re.findall(r'sharding_constraint .*<@mesh, \[\{"data"\}, \{\}\]> : tensor<8x3xf32>', text)
    gspmd = re.findall(r'@Sharding\(.*tensor<8x3xf32>', text)
    assert len(shardy) + len(gspmd) >= 2, "no sharding constraint on the latent draws"


def test_a_compiled_program_built_directly_skips_non_finite_steps_by_default():
    """``gd.CompiledProgram(program)`` has ``gd.compile``'s default: a step whose update
    is not finite is skipped and counted."""
    # mutant: compiled_program.py:98 `guard_nonfinite: bool = True` -> `False`
    P = gd.points("a", np.array([0.0], np.float32), optax.sgd(1.0))
    c = gd.CompiledProgram(gd.program({P: gd.mean(gd.sqrt(P()))}))  # infinite gradient at 0
    state, metrics = c.step(c.init(jax.random.key(0)), {})
    assert int(metrics["nonfinite"]) == 1
    np.testing.assert_array_equal(np.asarray(state.params["a"]), [0.0])


def test_on_a_mesh_a_plain_programs_fused_fresh_batches_shard_the_examples():
    # mutant: compiled_program.py:119 `lead_axes=1 + extra` -> `1 - extra`
    P = gd.player("P", lambda r: gd.nn.MLP(2, (4,), 1, rngs=r), optax.sgd(0.1))
    Q = gd.player("Q", lambda r: gd.nn.MLP(2, (4,), 1, rngs=r), optax.sgd(0.1))
    x = gd.data("x")
    fresh = gd.program({P: gd.mean(gd.sq_norm(P(x))), Q: gd.mean(gd.sq_norm(Q(x)))},
                       gd.alternating(P=1, Q=1, fresh_batches=True))
    c = gd.compile(fresh, mesh=gd.data_parallel(1))
    two = {"x": np.zeros((2, 8, 2), np.float32)}
    state = c.init(jax.random.key(0), two)
    assert _batch_spec(c.step, state, two) == PartitionSpec(None, "data")
    assert _batch_spec(c.step_many, state, {"x": np.zeros((3, 2, 8, 2), np.float32)}) \
        == PartitionSpec(None, None, "data")


def _two_stage():
    A = gd.points("a", np.array([1.0, 2.0], np.float32), optax.sgd(0.1))
    B = gd.points("b", np.array([5.0], np.float32), optax.sgd(0.1))
    first = gd.program({A: gd.sum(A() ** 2)}, gd.minimize())
    second = gd.program({B: gd.sum(B() ** 2)}, gd.minimize())
    return gd.compile(gd.stages([gd.stage("s1", first, steps=3), gd.stage("s2", second, steps=4)]))


def test_stage_at_maps_global_steps_to_stages_and_past_the_end_to_the_last():
    # mutant: stages.py:124 `len(self.stages) - 1` -> `- 2` / `- 0`
    c = _two_stage()
    assert [c.stage_at(step).name for step in (0, 2, 3, 6, 7, 10_000)] == \
        ["s1", "s1", "s2", "s2", "s2", "s2"]


def test_a_staged_program_evaluates_its_last_stages_objectives():
    # mutant: stages.py:170 `self.stages[-1].compiled.evaluate` -> another stage's
    c = _two_stage()
    metrics = c.evaluate(c.init(jax.random.key(0)), {})
    assert set(k for k in metrics if k.endswith("/loss")) == {"b/loss"}
    np.testing.assert_allclose(metrics["b/loss"], 25.0)


def test_a_staged_programs_shard_batch_places_a_plain_batch_by_its_first_axis():
    # mutant: stages.py:172 `stacked: int = 0` -> `1`
    A = gd.player("A", lambda r: gd.nn.MLP(2, (4,), 1, rngs=r), optax.sgd(0.1))
    x = gd.data("x")
    prog = gd.program({A: gd.mean(gd.sq_norm(A(x)))}, gd.minimize())
    c = gd.compile(gd.stages([gd.stage("s1", prog, steps=1), gd.stage("s2", prog, steps=1)]),
                   mesh=gd.data_parallel(1))
    assert c.shard_batch({"x": np.zeros((8, 2), np.float32)})["x"].sharding.spec == \
        PartitionSpec("data")
    assert c.shard_batch({"x": np.zeros((3, 8, 2), np.float32)}, stacked=1)["x"].sharding.spec \
        == PartitionSpec(None, "data")


def test_a_programs_shard_batch_reads_the_first_axis_as_the_rows_of_the_global_batch():
    """On one process, ``shard_batch(batch, global_rows=8)`` takes the batch's first
    axis as this process's 8 rows (and a batch of 4 rows is refused, naming them)."""
    # mutant: compiled_program.py:217 `stacked: int = 0` -> `-1`
    A = gd.player("A", lambda r: gd.nn.MLP(2, (4,), 1, rngs=r), optax.sgd(0.1))
    c = gd.compile(gd.program({A: gd.mean(gd.sq_norm(A(gd.data("x"))))}, gd.minimize()),
                   mesh=gd.data_parallel(1))
    x = np.arange(16, dtype=np.float32).reshape(8, 2)
    placed = c.shard_batch({"x": x}, global_rows=8)["x"]
    assert placed.sharding.spec == PartitionSpec("data")
    np.testing.assert_array_equal(np.asarray(placed), x)
    with pytest.raises(gd.errors.DataError, match="has 4 rows on axis 0"):
        c.shard_batch({"x": x[:4]}, global_rows=8)
