"""The quality tests say honestly for how many seeds they pass.

Every test marked ``@pytest.mark.quality`` trains with the ``quality_seed`` fixture and
states in its docstring "passes for K of N seeds"; ``tools/seed_sweep.py`` measured that
count into ``benchmarks/results/quality_seeds.json``. These checks read the test files'
source (nothing is trained), so a docstring cannot drift from the measurement, and a
quality test cannot silently pin a seed of its own choosing.
"""

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "quality_seeds.json"
COUNT = re.compile(r"passes for (\d+) of (\d+) seeds")


def _is_quality_mark(decorator) -> bool:
    return ast.unparse(decorator) == "pytest.mark.quality"


def quality_tests() -> dict[str, ast.FunctionDef]:
    """Returns: ``{"tests/test_x.py::name": function node}`` for every quality test."""
    found = {}
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(map(_is_quality_mark, node.decorator_list)):
                found[f"tests/{path.name}::{node.name}"] = node
    return found


def test_there_are_quality_tests_and_each_takes_the_quality_seed():
    tests = quality_tests()
    assert len(tests) >= 7, sorted(tests)
    for name, node in tests.items():
        assert "quality_seed" in [a.arg for a in node.args.args], (
            f"{name} is marked quality but does not take the quality_seed fixture")
        pinned = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)
                  and isinstance(c.value, str) and re.fullmatch(r"seed=\d+", c.value)]
        assert not pinned, f"{name} pins {pinned} in its program settings; use seed={{quality_seed}}"


def test_each_docstring_states_the_measured_count():
    record = json.loads(RECORD.read_text())["tests"]
    for name, node in quality_tests().items():
        doc = ast.get_docstring(node) or ""
        match = COUNT.search(" ".join(doc.split()))
        assert match, f"{name}: its docstring must say 'passes for K of N seeds' (tools/seed_sweep.py)"
        assert name in record, f"{name} has no entry in {RECORD.name}: run tools/seed_sweep.py -k {node.name}"
        passed, failed = record[name]["passed"], record[name]["failed"]
        assert (int(match[1]), int(match[2])) == (len(passed), len(passed) + len(failed)), (
            f"{name}: the docstring says {match[0]!r} but {RECORD.name} records passes for seeds "
            f"{passed} and failures for {failed}")
        assert 0 in passed, f"{name} fails for seed 0, the seed CI runs: fix the test or its margin"


def _sweep():
    spec = importlib.util.spec_from_file_location("seed_sweep", ROOT / "tools" / "seed_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_sweep_reads_junit_outcomes_and_merges_seeds(tmp_path):
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="tests.test_a" name="test_ok"/>'
        '<testcase classname="tests.test_a" name="test_bad"><failure message="x"/></testcase>'
        '<testcase classname="tests.test_b" name="test_err"><error message="x"/></testcase>'
        '<testcase classname="tests.test_b" name="test_skip"><skipped message="x"/></testcase>'
        '</testsuite></testsuites>')
    sweep = _sweep()
    out = sweep.outcomes(xml)
    assert out == {"tests/test_a.py::test_ok": "passed", "tests/test_a.py::test_bad": "failed",
                   "tests/test_b.py::test_err": "failed", "tests/test_b.py::test_skip": "skipped"}
    record = sweep.merge({"tests": {}}, 0, out)
    record = sweep.merge(record, 1, {"tests/test_a.py::test_ok": "failed"})
    record = sweep.merge(record, 0, {"tests/test_a.py::test_ok": "passed"})  # rerun replaces
    assert record["tests"]["tests/test_a.py::test_ok"] == {"passed": [0], "failed": [1]}
    assert "tests/test_b.py::test_skip" not in record["tests"]


@pytest.mark.parametrize("doc, ok", [("Passes for 3 of 5 seeds.", False), ("passes for 3 of\n 5 seeds", True)])
def test_the_count_pattern(doc, ok):
    assert bool(COUNT.search(" ".join(doc.split()))) == ok
