"""Run the quality tests over several seeds and record which seeds pass.

A quality test (``@pytest.mark.quality``) trains with the ``quality_seed`` fixture (0 in
CI) and asserts a measured quality. This tool reruns those tests with other seeds
(``pytest -m quality --quality-seed S``), one pytest process per seed, and writes
``benchmarks/results/quality_seeds.json``: for each test, the seeds it passed and failed
on. Each quality test's docstring states the count ("passes for K of N seeds"), and
``tests/test_quality_seeds.py`` checks that the docstrings agree with the record, so a
test's margin is never tuned to one lucky seed without saying so.

    python tools/seed_sweep.py                      # seeds 0-4, every quality test
    python tools/seed_sweep.py --seeds 5 6 -k ga_ntk  # more seeds for some tests (merged)
    python tools/seed_sweep.py --workers 2           # pytest-xdist inside each seed

Hand-written because it is glue: pytest runs the tests, JUnit XML reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "quality_seeds.json"


def outcomes(junit_xml: Path) -> dict[str, str]:
    """Returns: ``{"tests/test_x.py::name": "passed" | "failed" | "skipped"}`` from a
    JUnit XML report (pytest's ``--junitxml``)."""
    result = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        node = f"{module}.py::{case.get('name')}"
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            result[node] = "failed"
        elif "skipped" in tags:
            result[node] = "skipped"
        else:
            result[node] = "passed"
    return result


def merge(record: dict, seed: int, seed_outcomes: dict[str, str]) -> dict:
    """Returns: ``record`` with ``seed``'s outcomes replacing any earlier ones for it.

    >>> merge({"tests": {}}, 3, {"t::a": "passed", "t::b": "failed"})["tests"]["t::b"]
    {'passed': [], 'failed': [3]}
    """
    tests = {name: {k: list(v) for k, v in entry.items()} for name, entry in record.get("tests", {}).items()}
    for name, outcome in seed_outcomes.items():
        if outcome == "skipped":
            continue
        entry = tests.setdefault(name, {"passed": [], "failed": []})
        for key in ("passed", "failed"):
            entry[key] = sorted(s for s in entry[key] if s != seed)
        entry[outcome].append(seed)
        entry[outcome].sort()
    return {**record, "tests": dict(sorted(tests.items()))}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("-k", default=None, help="pytest -k expression to select quality tests")
    parser.add_argument("--workers", type=int, default=1, help="pytest-xdist workers per seed")
    parser.add_argument("--record", type=Path, default=RECORD)
    args = parser.parse_args(argv)
    record = json.loads(args.record.read_text()) if args.record.exists() else {"tests": {}}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "junit.xml"
            # no per-test time limit: a sweep measures quality, and a loaded machine must
            # not turn a slow pass into a failure
            cmd = [sys.executable, "-m", "pytest", "-q", "-m", "quality", "-p", "no:randomly",
                   "--timeout=0", "--quality-seed", str(seed), f"--junitxml={report}", "tests"]
            if args.k:
                cmd += ["-k", args.k]
            if args.workers > 1:
                cmd += ["-n", str(args.workers)]
            start = time.monotonic()
            load = os.getloadavg()[0]
            subprocess.run(cmd, cwd=ROOT)
            if not report.exists():
                print(f"seed {seed}: pytest wrote no report", file=sys.stderr)
                return 1
            seed_outcomes = outcomes(report)
        record = merge(record, seed, seed_outcomes)
        record.update(commit=_commit(), date=time.strftime("%Y-%m-%d"))
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(record, indent=1) + "\n")
        passed = sum(v == "passed" for v in seed_outcomes.values())
        print(f"seed {seed}: {passed} of {len(seed_outcomes)} quality tests passed in "
              f"{time.monotonic() - start:.0f} s (load {load:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
