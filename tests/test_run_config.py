"""Config, --set parsing and the program-file protocol."""

from __future__ import annotations

import json
import re

import pytest
from run_fakes import FakeProgram, FakeSource, fake_compile

from gendsl.errors import ConfigError
from gendsl.run import (
    STANDARD_DEFAULTS,
    Config,
    Experiment,
    UnknownConfigKeyError,
    apply_overrides,
    build_experiment,
    load_program_file,
    parse_value,
    program_config,
    fit_experiment,
)


@pytest.mark.parametrize(
    "text, default, expected",
    [
        ("42", 7, 42),
        ("1_000", 7, 1000),
        ("1e4", 7, 10_000),
        ("-3", 7, -3),
        ("3e-4", 0.1, 3e-4),
        ("2", 0.1, 2.0),
        ("True", False, True),
        ("no", True, False),
        ("0", True, False),
        ("on", False, True),
        ("hello world", "x", "hello world"),
        ("", "x", ""),
        ("64,64", (32,), (64, 64)),
        ("[64, 128]", (32,), (64, 128)),
        ("0.5, 1.5", [0.1], [0.5, 1.5]),
        ("a,b", ("x",), ("a", "b")),
        ("1,2", (), (1, 2)),
        ("", (1,), ()),
        ('{"a": 1}', {}, {"a": 1}),
        ("12", None, 12),
        ("adam", None, "adam"),
    ],
)
def test_parse_value_follows_the_default_type(text, default, expected):
    value = parse_value("k", text, default)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "text, default, message",
    [
        ("1.5", 7, "integer"),
        ("ten", 7, "integer"),
        ("fast", 0.1, "number"),
        ("maybe", True, "boolean"),
        ("[1,", (1,), "JSON list"),
        ("1,x", (1,), "list of int items, but .x. is not one"),
        ("[1]", {}, "JSON object"),
    ],
)
def test_parse_value_errors_name_key_and_type(text, default, message):
    with pytest.raises(ConfigError, match=f"--set k={re.escape(text)}: .*{message}"):
        parse_value("k", text, default)


def test_apply_overrides_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"Unknown config key 'lrr'; valid keys: lr, steps\."):
        apply_overrides({"lr": 0.1, "steps": 10}, ["lrr=1"])
    cfg = apply_overrides({"lr": 0.1, "steps": 10}, ["lr=1", "steps=5", "lr=2"])
    assert (cfg.lr, cfg.steps) == (2.0, 5)  # later assignments win


def test_config_is_immutable_with_replace():
    cfg = Config({"lr": 0.1})
    with pytest.raises(AttributeError, match="immutable"):
        cfg.lr = 0.2
    with pytest.raises(UnknownConfigKeyError, match="valid keys: lr"):
        cfg.replace(momentum=0.9)
    with pytest.raises(UnknownConfigKeyError):
        cfg.momentum
    assert getattr(cfg, "momentum", None) is None  # an AttributeError, as getattr expects
    assert cfg.replace(lr=0.2) == Config({"lr": 0.2}) and cfg.lr == 0.1
    assert hash(cfg) == hash(Config({"lr": 0.1})) and dict(cfg) == {"lr": 0.1}


def _write(path, text):
    path.write_text(text)
    return path


def test_program_file_loads_with_sibling_imports_and_defaults(tmp_path):
    _write(tmp_path / "helper_for_program.py", "LR = 0.125\n")
    program = _write(tmp_path / "prog.py", (
        "from helper_for_program import LR\n"
        "from run_fakes import FakeProgram, FakeSource\n"
        "from gendsl.run import Experiment\n"
        "DEFAULTS = {'lr': LR, 'steps': 50}\n"
        "def build(cfg):\n"
        "    return Experiment(program=FakeProgram(lr=cfg.lr), source=FakeSource())\n"
    ))
    module = load_program_file(program)
    cfg = program_config(module, ["lr=0.5"])
    assert cfg.lr == 0.5 and cfg.steps == 50  # the file's default beats the standard one
    assert cfg.seed == STANDARD_DEFAULTS["seed"] and cfg.log_every == 100
    experiment = build_experiment(module, cfg)
    assert experiment == Experiment(program=FakeProgram(lr=0.5), source=FakeSource())


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("missing.py", None, "does not exist"),
        ("prog.txt", "DEFAULTS = {}", "is not a .py file"),
        ("no_defaults.py", "def build(cfg): pass", "has no DEFAULTS dict"),
        ("bad_defaults.py", "DEFAULTS = [1]\ndef build(cfg): pass", "must be a dict"),
        ("no_build.py", "DEFAULTS = {}", "has no build"),
    ],
)
def test_program_file_errors(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_program_file(path)


def test_build_must_return_an_experiment(tmp_path):
    path = _write(tmp_path / "p.py", "DEFAULTS = {}\ndef build(cfg): return 3\n")
    module = load_program_file(path)
    with pytest.raises(ConfigError, match="returned int; it must return gd.Experiment"):
        build_experiment(module, program_config(module))


def test_fit_experiment_takes_the_loop_settings_from_the_config(tmp_path):
    experiment = Experiment(program=FakeProgram(), source=FakeSource())
    cfg = Config({**STANDARD_DEFAULTS, "steps": 6, "steps_per_call": 4, "log_every": 2})
    result = fit_experiment(experiment, fake_compile(experiment.program), cfg, tmp_path,
                            progress=False)
    assert result.step == 6
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps_per_call"] == 4
    assert json.loads((tmp_path / "config.json").read_text())["log_every"] == 2
