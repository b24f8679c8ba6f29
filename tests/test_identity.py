"""What a run is: the fingerprint covers primitives' code and closures and optimizers'
hyperparameters, and a resume may not change the run's config unless allowed."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from run_fakes import FakeCompiled, FakeProgram, FakeSource, fake_compile

import gendsl as gd
from gendsl import losses as L
from gendsl.cli import main
from gendsl.errors import CheckpointError, CheckpointMismatchError, ConfigChangedError
from gendsl.run import CheckpointStore, build_experiment, fit, load_program_file, program_config
from gendsl.run.config_history import current_config, read_history
from gendsl.run.resume import restore_latest
from gendsl.terms.code_hash import MAX_DEPTH, code_hash
from gendsl.terms.fingerprint import combine, fingerprint_parts

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = str(ROOT / "tests" / "run_fake_program.py")


# -- the value hasher -------------------------------------------------------------------

def _closure(margin):
    def rule(x):
        return max(0.0, margin - x)
    return rule


class _Pair(NamedTuple):
    a: object
    b: object


class _Opaque:
    def __init__(self, value):
        self.value = value


def test_code_hash_sees_closure_constants_defaults_and_code():
    assert code_hash(_closure(1.0)) == code_hash(_closure(1.0))
    assert code_hash(_closure(1.0)) != code_hash(_closure(2.0))
    assert code_hash(lambda x, k=1: x * k) != code_hash(lambda x, k=2: x * k)
    assert code_hash(lambda x: x + 1) != code_hash(lambda x: x - 1)
    assert code_hash(functools.partial(_closure, 1.0)) != code_hash(functools.partial(_closure, 2.0))
    assert code_hash(_Pair(_closure(1.0), 3)) != code_hash(_Pair(_closure(2.0), 3))
    assert code_hash(_Pair(1, 2)) != code_hash((1, 2))  # the named tuple's type counts
    assert code_hash(jax.jit(_closure(1.0))) != code_hash(jax.jit(_closure(2.0)))


def test_code_hash_of_values():
    assert code_hash({"a": 1, "b": 2}) == code_hash({"b": 2, "a": 1})
    assert code_hash({1, 2, 3}) == code_hash({3, 2, 1})
    assert code_hash(1) != code_hash(1.0) != code_hash(True)
    assert code_hash(np.ones(3, np.float32)) == code_hash(jnp.ones(3))
    assert code_hash(np.ones(3, np.float32)) != code_hash(np.ones(3, np.float64))
    assert code_hash(np.ones(3)) != code_hash(np.ones((3, 1)))
    assert code_hash(jax.random.key(0)) != code_hash(jax.random.key(1))
    # an object whose repr shows an address is hashed by its attributes
    assert "0x" in repr(_Opaque(1))
    assert code_hash(_Opaque(1)) == code_hash(_Opaque(1)) != code_hash(_Opaque(2))


def test_code_hash_survives_cycles_and_depth():
    loop = [1]
    loop.append(loop)
    assert code_hash(loop) == code_hash(loop)
    deep = inner = []
    for _ in range(3 * MAX_DEPTH):
        inner.append([])
        inner = inner[0]
    assert len(code_hash(deep)) == 64


def test_code_hash_without_source_uses_the_code_object():
    def build(margin):
        space = {}
        exec(f"def rule(x):\n    return x - {margin}\n", space)  # no source file
        return space["rule"]
    assert code_hash(build(1.0)) == code_hash(build(1.0))
    assert code_hash(build(1.0)) != code_hash(build(2.0))


def test_code_hash_of_optimizers():
    assert code_hash(optax.adam(1e-3)) == code_hash(optax.adam(1e-3))
    assert code_hash(optax.adam(1e-3)) != code_hash(optax.adam(2e-3))
    assert code_hash(optax.adam(1e-3)) != code_hash(optax.sgd(1e-3))
    assert code_hash(optax.adam(1e-3, b1=0.5)) != code_hash(optax.adam(1e-3))

    def injected(steps):
        return optax.inject_hyperparams(optax.adam)(
            learning_rate=optax.linear_schedule(1e-3, 0.0, steps))
    assert code_hash(injected(100)) == code_hash(injected(100))
    assert code_hash(injected(100)) != code_hash(injected(200))  # the schedule's closure
    assert code_hash(optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))) != (
        code_hash(optax.chain(optax.clip_by_global_norm(2.0), optax.adam(1e-3))))


# -- the fingerprint --------------------------------------------------------------------

def _gan(d_loss=L.hinge_d, lr=1e-3):
    G = gd.player("G", lambda r: gd.nn.MLP(4, (8,), 2, rngs=r), optax.adam(1e-3))
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(lr))
    fake = G(gd.latent("z", 4))
    x = gd.data("x")
    return gd.program({D: d_loss(D(x), D(fake)), G: L.hinge_g(D(fake))},
                      gd.alternating(D=1, G=1))


def _differing(a, b):
    pa, pb = fingerprint_parts(a), fingerprint_parts(b)
    return sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))


@gd.primitive
def hinge_d(real, fake):  # the built-in's name, the built-in's formula: another primitive
    return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


def _hinge_with_margin(margin):
    @gd.primitive(name="hinge_d")
    def rule(real, fake):
        return jnp.mean(jax.nn.relu(margin - real)) + jnp.mean(jax.nn.relu(margin + fake))
    return rule


def test_a_user_primitive_is_not_the_builtin_of_that_name():
    builtin, user = _gan(L.hinge_d), _gan(hinge_d)
    assert gd.show(builtin) == gd.show(user)
    assert gd.fingerprint(builtin) != gd.fingerprint(user)
    assert _differing(builtin, user) == ["primitive hinge_d"]


def test_a_rules_closure_constants_are_part_of_the_fingerprint():
    one, two = _gan(_hinge_with_margin(1.0)), _gan(_hinge_with_margin(2.0))
    assert gd.show(one) == gd.show(two)
    assert _differing(one, two) == ["primitive hinge_d"]
    assert gd.fingerprint(one) == gd.fingerprint(_gan(_hinge_with_margin(1.0)))  # rebuilt


def test_optimizer_hyperparameters_are_part_of_the_fingerprint():
    a, b = _gan(lr=1e-3), _gan(lr=2e-3)
    assert _differing(a, b) == ["optimizer of D"]
    assert gd.fingerprint(a) == gd.fingerprint(_gan(lr=1e-3))
    assert gd.fingerprint(a) == combine(fingerprint_parts(a))


def _points(shape):
    P = gd.points("P", np.zeros(shape, np.float32), optax.sgd(0.1))
    return gd.program({P: gd.sum(P() ** 2)})


def _linear(n_in, n_out):
    M = gd.player("M", lambda r: nnx.Linear(n_in, n_out, rngs=r), optax.sgd(0.1))
    return gd.program({M: gd.mean(M(gd.data("x")) ** 2)})


@pytest.mark.parametrize("a, b", [(_points((4, 2)), _points((8, 1))),
                                  (_linear(2, 6), _linear(5, 3))],
                         ids=["points-4x2-8x1", "linear-2x6-5x3"])
def test_parameter_shapes_are_part_of_the_fingerprint(a, b):
    """Same text, same parameter count (8 points; 2*6+6 = 5*3+3 = 18 weights), other
    shapes: another program, whose checkpoints cannot be restored into this one."""
    assert gd.show(a) == gd.show(b)
    assert _differing(a, b) == ["parameter shapes"]
    assert gd.fingerprint(a) != gd.fingerprint(b)


_PROGRAM_FILE = '''
import jax, jax.numpy as jnp, optax
import gendsl as gd

DEFAULTS = {"lr": 1e-3, "margin": 1.0, "steps": 4, "batch_size": 8}

def build(cfg):
    @gd.primitive(name="hinge_d")
    def rule(real, fake):
        return jnp.mean(jax.nn.relu(cfg.margin - real)) + jnp.mean(jax.nn.relu(cfg.margin + fake))

    sched = optax.inject_hyperparams(optax.adam)(
        learning_rate=optax.linear_schedule(cfg.lr, 0.0, 100))
    G = gd.player("G", lambda r: gd.nn.MLP(4, (8,), 2, rngs=r), sched)
    D = gd.player("D", lambda r: gd.nn.MLP(2, (8,), 1, rngs=r), optax.adam(cfg.lr))
    fake = G(gd.latent("z", 4))
    x = gd.data("x")
    program = gd.program({D: rule(D(x), D(fake)), G: gd.losses.hinge_g(D(fake))},
                         gd.alternating(D=1, G=1))
    return gd.Experiment(program=program, source=gd.datasets.ring8(batch_size=cfg.batch_size))
'''

_PRINT_FINGERPRINT = """
import sys
from gendsl.run import build_experiment, load_program_file, program_config
from gendsl.terms.fingerprint import fingerprint
module = load_program_file(sys.argv[1])
print(fingerprint(build_experiment(module, program_config(module, sys.argv[2:])).program))
"""


def test_a_program_file_has_the_same_fingerprint_in_every_process(tmp_path):
    path = tmp_path / "prog.py"
    path.write_text(_PROGRAM_FILE)

    def in_process(seed, *sets):
        env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-c", _PRINT_FINGERPRINT, str(path), *sets],
                              env=env, capture_output=True, text=True, check=True).stdout.strip()

    def here(*sets):
        module = load_program_file(path)
        return gd.fingerprint(build_experiment(module, program_config(module, sets)).program)

    first = in_process(1)
    assert len(first) == 16 and in_process(2) == first == here()
    assert len({first, here("lr=2e-3"), here("margin=2.0")}) == 3


# -- the run directory: a changed config is refused unless allowed --------------------

def _fit(run_dir, *, compiled=None, steps=8, config=None, **kw):
    options = dict(checkpoint_every=4, log_every=4, progress=False, num_eval_samples=100)
    options.update(kw)
    return fit(compiled or FakeCompiled(), FakeSource(), run_dir=run_dir, steps=steps,
               config=config, **options)


def _files(run_dir):
    """Every path under ``run_dir`` with the hash of its bytes (None for folders)."""
    return {str(p.relative_to(run_dir)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                          if p.is_file() else None)
            for p in sorted(Path(run_dir).rglob("*"))}


CONFIG = {"lr": 0.05, "batch_size": 64, "steps": 8, "seed": 0, "steps_per_call": 1,
          "hidden": (4, 4)}


def test_a_changed_config_is_refused_then_accepted_with_allow_changes(tmp_path):
    _fit(tmp_path, config=CONFIG)
    written = (tmp_path / "config.json").read_bytes()
    before = _files(tmp_path)

    changed = {**CONFIG, "lr": 0.01, "steps": 12}
    with pytest.raises(ConfigChangedError) as refused:
        _fit(tmp_path, steps=12, config=changed)
    message = str(refused.value)
    assert "lr: 0.05 -> 0.01" in message and "steps" not in message.split("\n")[1:-1]
    assert "--run-dir" in message and "--allow-changes" in message
    assert isinstance(refused.value, CheckpointMismatchError)
    assert _files(tmp_path) == before  # nothing read into the run or written

    result = _fit(tmp_path, steps=12, config=changed, allow_changes=True)
    assert (result.resumed, result.start_step, result.step) == (True, 8, 12)
    assert (tmp_path / "config.json").read_bytes() == written
    [entry] = read_history(tmp_path)
    assert entry["step"] == 8 and entry["changes"] == {"lr": [0.05, 0.01]}
    assert entry["fingerprint"] is None and entry["time"]
    assert current_config(tmp_path) == {**json.loads(written), "lr": 0.01}

    # the recorded config is the run's now: the same config resumes without the flag
    again = _fit(tmp_path, steps=16, config={**changed, "steps": 16})
    assert again.start_step == 12 and len(read_history(tmp_path)) == 1


def test_run_management_keys_change_freely(tmp_path):
    _fit(tmp_path, config=CONFIG)
    longer = {**CONFIG, "steps": 12, "checkpoint_every": 2, "log_every": 1}
    result = _fit(tmp_path, steps=12, config=longer, checkpoint_every=2, log_every=1)
    assert (result.start_step, result.step) == (8, 12)
    assert read_history(tmp_path) == []
    assert json.loads((tmp_path / "config.json").read_text())["steps"] == 8  # kept


def test_added_and_removed_keys_are_changes(tmp_path):
    _fit(tmp_path, config=CONFIG)
    other = {k: v for k, v in CONFIG.items() if k != "hidden"} | {"depth": 3}
    with pytest.raises(ConfigChangedError, match=r"depth: \(absent\) -> 3[\s\S]*hidden: "
                       r"\[4, 4\] -> \(absent\)"):
        _fit(tmp_path, steps=12, config=other)
    _fit(tmp_path, steps=12, config=other, allow_changes=True)
    assert current_config(tmp_path) == json.loads(json.dumps(other))


def test_a_damaged_config_json_is_reported(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        _fit(tmp_path, config=CONFIG)


@pytest.mark.parametrize("setting, value", [("seed", 1), ("steps_per_call", 2)])
def test_seed_and_steps_per_call_are_checked_without_a_config(tmp_path, setting, value):
    _fit(tmp_path)  # a Python run: no config.json, the checkpoints' metadata says
    before = _files(tmp_path)
    with pytest.raises(ConfigChangedError, match=f"{setting}: [01] -> {value}"):
        _fit(tmp_path, steps=12, **{setting: value})
    assert _files(tmp_path) == before
    result = _fit(tmp_path, steps=12, allow_changes=True, **{setting: value})
    assert result.start_step == 8
    [entry] = read_history(tmp_path)
    assert entry["changes"] == {setting: [0 if setting == "seed" else 1, value]}
    _fit(tmp_path, steps=16, **{setting: value})  # accepted from now on


def test_a_changed_program_resumes_with_allow_changes_when_its_state_fits(tmp_path):
    _fit(tmp_path)
    old, new = FakeCompiled(), FakeCompiled(FakeProgram(lr=0.01))
    with pytest.raises(CheckpointMismatchError, match="--allow-changes"):
        _fit(tmp_path, compiled=new, steps=12)
    result = _fit(tmp_path, compiled=new, steps=12, allow_changes=True)
    assert (result.start_step, result.fingerprint) == (8, new.fingerprint)
    [entry] = read_history(tmp_path)
    assert entry["fingerprint"] == [old.fingerprint, new.fingerprint]
    assert entry["changes"] == {}
    with CheckpointStore(tmp_path / "checkpoints") as store:
        assert store.metadata(12)["fingerprint"] == new.fingerprint


def test_the_mismatch_names_the_parts_that_differ(tmp_path):
    old, new = FakeCompiled(), FakeCompiled(FakeProgram(lr=0.01))
    old.fingerprint_parts = {"program text": "a", "optimizer of G": "b"}
    new.fingerprint_parts = {"program text": "a", "optimizer of G": "c", "primitive f": "d"}
    _fit(tmp_path, compiled=old)
    with CheckpointStore(tmp_path / "checkpoints") as store:
        assert store.metadata(8)["fingerprint_parts"] == old.fingerprint_parts
    with pytest.raises(CheckpointMismatchError,
                       match=r"differs: optimizer of G, primitive f \(new\)"):
        _fit(tmp_path, compiled=new, steps=12)


def test_an_accepted_checkpoint_must_fit_the_state(tmp_path):
    with CheckpointStore(tmp_path / "checkpoints", async_save=False) as store:
        store.save(3, {"w": jnp.ones((2, 2))}, {"fingerprint": "old", "state_layout": 2})
        abstract = {"w": jax.ShapeDtypeStruct((3, 2), jnp.float32)}
        with pytest.raises(CheckpointMismatchError,
                           match=r"w is \(\(2, 2\), 'float32'\) in the checkpoint and "
                                 r"\(\(3, 2\), 'float32'\) here"):
            restore_latest(store, abstract, fingerprint="new", accept=lambda saved: True,
                           set_aside_to=tmp_path / "aside")
        assert store.steps() == [3] and not (tmp_path / "aside").exists()  # not set aside
        fits = {"w": jax.ShapeDtypeStruct((2, 2), jnp.float32)}
        tree, meta = restore_latest(store, fits, fingerprint="new", accept=lambda saved: True,
                                    set_aside_to=tmp_path / "aside")
        assert meta["fingerprint"] == "old" and np.asarray(tree["w"]).sum() == 4


# -- the command line -------------------------------------------------------------------

def test_cli_refuses_a_changed_set_then_accepts_it_with_allow_changes(tmp_path, capsys):
    run_dir = str(tmp_path)

    def run(*argv):
        return main(["run", PROGRAM, "--run-dir", run_dir, "--no-progress", *argv],
                    compile_fn=fake_compile)

    assert run("--steps", "6") == 0
    written = (tmp_path / "config.json").read_bytes()
    before = _files(tmp_path)
    capsys.readouterr()
    assert run("--steps", "12", "--set", "lr=0.02") == 1
    err = capsys.readouterr().err
    assert "ConfigChangedError" in err and "lr: 0.05 -> 0.02" in err
    assert _files(tmp_path) == before

    assert run("--steps", "12", "--set", "lr=0.02", "--allow-changes") == 0
    assert "resumed from step 6" in capsys.readouterr().out
    assert (tmp_path / "config.json").read_bytes() == written
    [entry] = read_history(tmp_path)
    assert entry["changes"] == {"lr": [0.05, 0.02]} and entry["step"] == 6
    assert entry["fingerprint"] == [FakeCompiled(FakeProgram(lr=0.05)).fingerprint,
                                    FakeCompiled(FakeProgram(lr=0.02)).fingerprint]


# -- end to end with the compiler -------------------------------------------------------

@pytest.mark.slow
def test_a_compiled_program_with_another_learning_rate_is_refused_then_accepted(tmp_path):
    source = gd.datasets.ring8(batch_size=16)

    def run(lr, steps, **kw):
        return fit(gd.compile(_gan(lr=lr)), source, run_dir=tmp_path, steps=steps,
                   checkpoint_every=2, progress=False, num_eval_samples=64, **kw)

    run(1e-3, 2)
    with pytest.raises(CheckpointMismatchError, match="differs: optimizer of D"):
        run(2e-3, 4)
    result = run(2e-3, 4, allow_changes=True)
    assert (result.start_step, result.step) == (2, 4)
    [entry] = read_history(tmp_path)
    assert entry["fingerprint"][1] == gd.fingerprint(_gan(lr=2e-3))
