"""The mutation run's package map (``tools/mutation.toml``): which files are mutated and
which fast tests run against each mutant. Apart from ``tools/mutation.py`` so that the
suite can check the map without cosmic-ray installed (tests/test_mutation_config.py).
No ``from __future__ import annotations``: that test loads it by path, outside
``sys.modules``, where dataclasses cannot resolve string annotations."""

import dataclasses
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tools" / "mutation.toml"


@dataclasses.dataclass(frozen=True)
class Package:
    """One package of the core and the fast tests that may kill its mutants.

    Args:
        name: short name, used for the session file and in the report.
        paths: source files or folders whose ``*.py`` files are mutated.
        tests: test files run against every mutant of the package.
        modules: per-module test files (file name -> tests) replacing ``tests``.
        sample: how many mutants to test (0: all of them).
    """

    name: str
    paths: tuple[str, ...]
    tests: tuple[str, ...]
    modules: dict
    sample: int

    def files(self) -> list[Path]:
        """Returns: the source files of the package, sorted, ``__init__.py`` included."""
        out = []
        for p in self.paths:
            path = Path(p)
            out.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
        return out

    def tests_for(self, module_path: str) -> tuple[str, ...]:
        """Returns: the test files (those that exist) to run against a mutant of ``module_path``:
        the module's own list (else the package's), always with the package's
        ``tests/test_mutation_<package>.py``, where the tests written for survivors live."""
        tests = list(self.modules.get(Path(module_path).name, self.tests))
        survivors = f"tests/test_mutation_{self.name}.py"
        if survivors not in tests:
            tests.append(survivors)
        return tuple(t for t in tests if (ROOT / t.split("::")[0]).exists())


def load_config(path: Path = CONFIG):
    """Read the package map, the kept operators and the equivalent mutants.

    Returns:
        ``(packages, settings, equivalents)``: packages by name, the
        ``[settings]`` table, and the list of ``[[equivalent]]`` tables.
    """
    raw = tomllib.loads(path.read_text())
    packages = {}
    for entry in raw["package"]:
        packages[entry["name"]] = Package(
            name=entry["name"],
            paths=tuple(entry["paths"]),
            tests=tuple(entry["tests"]),
            modules=dict(entry.get("modules", {})),
            sample=int(entry.get("sample", raw["settings"]["sample"])),
        )
    return packages, raw["settings"], raw.get("equivalent", [])
