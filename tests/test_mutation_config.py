"""The mutation-testing map (tools/mutation.toml) names files and tests that exist, so a
renamed test or module cannot silently drop out of the mutation run (docs/mutation.md)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "tools" / "mutation.toml").read_text())


def _test_ids():
    for package in CONFIG["package"]:
        yield from package["tests"]
        for tests in package.get("modules", {}).values():
            yield from tests


def test_every_mutated_path_and_mapped_module_exists():
    names = [p["name"] for p in CONFIG["package"]]
    assert len(set(names)) == len(names)
    for package in CONFIG["package"]:
        for path in package["paths"]:
            assert (ROOT / path).exists(), f"{package['name']}: {path} is gone"
        folders = [ROOT / p for p in package["paths"] if (ROOT / p).is_dir()]
        for module in package.get("modules", {}):
            assert any((f / module).exists() for f in folders), f"{package['name']}: {module} is gone"


def test_every_mapped_test_exists():
    for test_id in _test_ids():
        path, _, name = test_id.partition("::")
        if re.fullmatch(r"tests/test_mutation_\w+\.py", path) and not name:
            continue  # a package's mutation tests are optional until it has survivors
        assert (ROOT / path).exists(), f"{path} is gone"
        if name:
            assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), (
                f"{test_id} is gone")


def test_the_kept_operators_are_valid_regexes_and_equivalents_give_a_reason():
    for pattern in CONFIG["settings"]["operators"]:
        re.compile(pattern)
    for entry in CONFIG.get("equivalent", []):
        assert (ROOT / entry["module"]).exists() and entry["reason"].strip()
        assert {"before", "after"} <= set(entry)


def test_every_module_runs_its_packages_survivor_tests():
    """A test written against a survivor lives in ``tests/test_mutation_<package>.py``; a
    per-module map that lists other files must not leave it out (a simulator test there
    once never ran against the simulator's mutants)."""
    from load_file import load_module
    packages, _, _ = load_module("tools/mutation_config.py", "gendsl_mutation_config").load_config()
    for package in packages.values():
        survivors = f"tests/test_mutation_{package.name}.py"
        if not (ROOT / survivors).exists():
            continue
        for module in package.files():
            assert survivors in package.tests_for(str(module)), (package.name, module)
