"""Mutation testing of gendsl's core with cosmic-ray, package by package, on N cores.

Each package of the core (listed with the tests that may kill its mutants in
``tools/mutation.toml``) gets a cosmic-ray session in ``.mutation/<package>.sqlite``:
cosmic-ray enumerates every mutant, the operators kept in the config and a
seeded sample of ``--sample`` mutants per package are tested, the rest are
marked skipped.  Each mutant runs only the fast tests mapped to its module
(``pytest -x -m "not slow"``, plus the module's own doctests) in a private copy
of the tree, one copy per worker, so ``--jobs`` workers never see each other's
mutants.  The report (``benchmarks/results/mutation.json`` and ``.md``) gives
the score per package and every surviving mutant with file:line and its diff;
mutants listed as equivalent in the config are shown apart and left out of
the score.

Usage::

    python tools/mutation.py                       # whole core, 2 workers
    python tools/mutation.py --package solvers --jobs 2 --sample 40 --seed 1
    python tools/mutation.py --resume              # finish an interrupted run
    python tools/mutation.py --resume --retest     # test the survivors again
    python tools/mutation.py --report-only         # rebuild the report
    cr-report .mutation/solvers.sqlite             # cosmic-ray's own view

A package whose tests fail on the unmutated code (the baseline must be green) is
named with the failing command and its mutants are left pending.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cosmic_ray.commands.init import init as cr_init
import cosmic_ray.plugins
from cosmic_ray.mutating import mutate_and_test, mutate_code
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_config import CONFIG, ROOT, Package, load_config  # noqa: E402

SESSIONS = ROOT / ".mutation"
RESULTS = ROOT / "benchmarks" / "results"
COPIED = ("gendsl", "tests", "programs", "docs", "benchmarks", "pyproject.toml", "README.md")


def test_command(tests, *module_paths: str) -> str:
    """Returns: the pytest command line run against one mutant of ``module_paths[0]`` (the
    baseline passes every module of a package that shares ``tests``, for their doctests)."""
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
            "-p", "no:timeout", "-m", "not slow", "-W", "ignore", *tests, *module_paths]
    return shlex.join(args)


def kept(operator_name: str, patterns) -> bool:
    """Returns: whether an operator (``core/Name``) matches one of the kept regexes."""
    name = operator_name.split("/")[-1]
    return any(re.fullmatch(p, name) for p in patterns)


def init_session(package: Package, settings, seed: int, sample: int | None) -> Path:
    """Enumerate the package's mutants with cosmic-ray and skip all but the sample.

    Returns:
        The session database path.
    """
    SESSIONS.mkdir(exist_ok=True)
    db_path = SESSIONS / f"{package.name}.sqlite"
    if db_path.exists():
        db_path.unlink()
    count = package.sample if sample is None else sample
    with use_db(str(db_path), WorkDB.Mode.create) as db:
        cr_init([Path(os.path.relpath(f, ROOT)) for f in package.files()], db, {})
        items = sorted(db.work_items, key=lambda w: (str(w.mutations[0].module_path),
                                                     w.mutations[0].operator_name,
                                                     w.mutations[0].occurrence))
        pool = [w for w in items if kept(w.mutations[0].operator_name, settings["operators"])]
        random.Random(seed).shuffle(pool)
        chosen = []
        for w in pool:  # mutants that are not valid Python (a bare '*' turned into '+') are no test
            if count and len(chosen) == count:
                break
            if _compiles(w.mutations[0]):
                chosen.append(w)
        chosen_ids = {w.job_id for w in chosen}
        skipped = [w.job_id for w in items if w.job_id not in chosen_ids]
        db.set_multiple_results(skipped, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    meta = {"seed": seed, "sample": len(chosen), "generated": len(items), "kept_operators": len(pool)}
    (SESSIONS / f"{package.name}.json").write_text(json.dumps(meta))
    return db_path


def _compiles(mutation) -> bool:
    """Returns: whether the mutated module is still valid Python."""
    source = Path(mutation.module_path).read_text()
    operator = cosmic_ray.plugins.get_operator(mutation.operator_name)(**(mutation.operator_args or {}))
    mutated = mutate_code(source, operator, mutation.occurrence)
    try:
        compile(mutated or "", str(mutation.module_path), "exec")
    except SyntaxError:
        return False
    return mutated is not None


_WORKDIR = None


def _worker_init(root: str, base: str) -> None:
    global _WORKDIR
    _WORKDIR = tempfile.mkdtemp(prefix="worker-", dir=base)
    shared = Path(root).parent / "shared"  # the reference fixtures the tests read as ../shared
    if shared.is_dir():
        try:
            (Path(base) / "shared").symlink_to(shared, target_is_directory=True)
        except FileExistsError:  # another worker linked it first
            pass
    for name in COPIED:
        src = Path(root) / name
        dst = Path(_WORKDIR) / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.png"))
        elif src.exists():
            shutil.copy2(src, dst)
    os.chdir(_WORKDIR)


def _baseline(command: str) -> tuple[bool, float, str]:
    start = time.monotonic()
    proc = subprocess.run(shlex.split(command), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return proc.returncode == 0, time.monotonic() - start, proc.stdout[-3000:] + proc.stderr[-2000:]


def _run(item, command: str, timeout: float):
    start = time.monotonic()
    result = mutate_and_test(item.mutations, command, timeout)
    return item.job_id, result, time.monotonic() - start


def _to_test(db, retest: bool):
    """Returns: the session's pending work items, plus its survivors when ``retest``."""
    items = list(db.pending_work_items)
    if retest:
        survived = {job for job, r in db.results if r.test_outcome == TestOutcome.SURVIVED}
        items += [w for w in db.work_items if w.job_id in survived]
    return sorted(items, key=lambda w: w.job_id)


def run(packages, jobs: int, settings, retest: bool = False) -> None:
    """Test every pending mutant of ``packages`` (and the survivors, when ``retest``) on
    ``jobs`` workers, recording each result.

    A package whose tests fail on the unmutated code is reported and left pending.
    """
    with tempfile.TemporaryDirectory(prefix="gendsl-mutation-") as base, \
            concurrent.futures.ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(str(ROOT), base)) as ex:
        # one XLA compilation cache for the baselines and every mutant's tests: a mutant
        # recompiles only the programs its change reaches (the cache is keyed by the HLO)
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(base) / "xla-cache"))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        # One baseline per package and set of tests (with all of its modules' doctests),
        # not one per module: most modules of a package share their tests.
        groups = {}
        for package in packages:
            for f in sorted(_pending_modules(package, retest)):
                groups.setdefault((package.name, tuple(package.tests_for(str(f)))), []).append(str(f))
        commands = {test_command(tests, *modules): key for key, modules in groups.items()
                    for tests in [key[1]]}
        timeouts, broken = {}, set()
        for (command, key), (ok, seconds, output) in zip(commands.items(), ex.map(_baseline, commands)):
            name = key[0]
            if not ok:
                broken.add(name)
                print(f"mutation: the unmutated tests of package {name!r} fail, its mutants are not tested; "
                      f"fix them or the test map in {CONFIG.name}.\n$ {command}\n{output}", flush=True)
                continue
            timeouts[key] = max(float(settings["min_timeout"]), settings["timeout_factor"] * seconds)
            skipped = re.search(r"(\d+) skipped", output)
            print(f"[{name}] baseline green in {seconds:.0f}s"
                  f"{f' ({skipped[1]} SKIPPED: their mutants are not tested by them)' if skipped else ''}"
                  f": {command.split(' -W ignore ')[-1]}", flush=True)
        futures = {}
        for package in (p for p in packages if p.name not in broken):
            with use_db(str(SESSIONS / f"{package.name}.sqlite"), WorkDB.Mode.open) as db:
                pending = _to_test(db, retest)
            for item in pending:
                module = str(item.mutations[0].module_path)
                tests = tuple(package.tests_for(module))
                futures[ex.submit(_run, item, test_command(tests, module),
                                  timeouts[(package.name, tests)])] = (package, item)
        total = len(futures)
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            package, item = futures[future]
            job_id, result, seconds = future.result()
            with use_db(str(SESSIONS / f"{package.name}.sqlite"), WorkDB.Mode.open) as db:
                db.set_result(job_id, result)
            m = item.mutations[0]
            outcome = (result.test_outcome or result.worker_outcome).value
            print(f"[{done}/{total}] {outcome:9} {m.module_path}:{m.start_pos[0]} "
                  f"{m.operator_name.split('/')[-1]} ({seconds:.0f}s)", flush=True)


def _pending_modules(package: Package, retest: bool):
    with use_db(str(SESSIONS / f"{package.name}.sqlite"), WorkDB.Mode.open) as db:
        return {w.mutations[0].module_path for w in _to_test(db, retest)}


def _changed_lines(diff: str) -> tuple[str, str]:
    minus = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return "\n".join(minus), "\n".join(plus)


def _equivalent_reason(module: str, diff: str, equivalents) -> str | None:
    before, after = _changed_lines(diff)
    for entry in equivalents:
        if entry["module"] == module and entry["before"].strip() == before and entry["after"].strip() == after:
            return entry["reason"]
    return None


def collect(packages, equivalents) -> dict:
    """Read the sessions of ``packages`` into the report's data.

    Returns:
        ``{"packages": {name: {...score...}}, "mutants": [...]}``; each mutant has
        package, module, line, operator, outcome (killed, survived, equivalent,
        incompetent) and diff.
    """
    report = {"packages": {}, "mutants": []}
    for package in packages:
        db_path = SESSIONS / f"{package.name}.sqlite"
        if not db_path.exists():
            continue
        meta = json.loads((SESSIONS / f"{package.name}.json").read_text())
        counts = dict.fromkeys(("killed", "survived", "equivalent", "incompetent", "pending"), 0)
        with use_db(str(db_path), WorkDB.Mode.open) as db:
            results = dict(db.results)
            for item in db.work_items:
                result = results.get(item.job_id)
                if result is not None and result.worker_outcome in (WorkerOutcome.SKIPPED, WorkerOutcome.NO_TEST):
                    continue
                m = item.mutations[0]
                if result is None:
                    counts["pending"] += 1
                    continue
                if result.worker_outcome != WorkerOutcome.NORMAL:
                    outcome = "incompetent"
                elif result.test_outcome == TestOutcome.SURVIVED:
                    reason = _equivalent_reason(str(m.module_path), result.diff or "", equivalents)
                    outcome = "survived" if reason is None else "equivalent"
                else:
                    outcome = "killed"
                counts[outcome] += 1
                entry = {"package": package.name, "module": str(m.module_path), "line": m.start_pos[0],
                         "operator": m.operator_name.split("/")[-1], "outcome": outcome,
                         "timeout": result.output == "timeout", "diff": result.diff or ""}
                if outcome == "equivalent":
                    entry["reason"] = reason
                report["mutants"].append(entry)
        scored = counts["killed"] + counts["survived"]
        report["packages"][package.name] = {
            **meta, **counts,
            "score": round(counts["killed"] / scored, 3) if scored else None,
        }
    report["mutants"].sort(key=lambda e: (e["package"], e["module"], e["line"], e["operator"]))
    return report


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(report: dict) -> tuple[Path, Path]:
    """Write ``mutation.json`` and ``mutation.md`` under ``benchmarks/results``.

    Returns:
        The two paths written.
    """
    report = {"commit": _commit(), "date": time.strftime("%Y-%m-%d"), **report}
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path, md_path = RESULTS / "mutation.json", RESULTS / "mutation.md"
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# Mutation report (cosmic-ray, commit {report['commit']}, {report['date']})", "",
             "Score = killed / (killed + survived); equivalent mutants are listed apart and not scored.", "",
             "| package | generated | kept operators | sampled (seed) | killed | survived | equivalent "
             "| incompetent | pending | score |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, p in report["packages"].items():
        score = "n/a" if p["score"] is None else f"{100 * p['score']:.0f}%"
        lines.append(f"| {name} | {p['generated']} | {p['kept_operators']} | {p['sample'] or 'all'} ({p['seed']}) "
                     f"| {p['killed']} | {p['survived']} | {p['equivalent']} | {p['incompetent']} "
                     f"| {p['pending']} | {score} |")
    for title, outcome in (("Surviving mutants", "survived"), ("Equivalent mutants (not scored)", "equivalent")):
        lines += ["", f"## {title}", ""]
        chosen = [m for m in report["mutants"] if m["outcome"] == outcome]
        if not chosen:
            lines.append("None.")
        for m in chosen:
            lines += [f"### {m['module']}:{m['line']} ({m['operator']})", ""]
            if "reason" in m:
                lines += [m["reason"], ""]
            lines += ["```diff", m["diff"].strip(), "```", ""]
    md_path.write_text("\n".join(lines).rstrip() + "\n")
    return json_path, md_path


def main(argv=None) -> int:
    """Run the mutation testing described in the module docstring.

    Returns:
        0 (the score is read from the report, not from the exit code).
    """
    packages, settings, equivalents = load_config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", action="append", choices=sorted(packages),
                        help="restrict to a package (repeatable); default: the whole core")
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("--sample", type=int, default=None,
                        help="mutants tested per package (0: all); default: each package's 'sample'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (another seed: fresh mutants)")
    parser.add_argument("--resume", action="store_true", help="keep the sessions, test only pending mutants")
    parser.add_argument("--retest", action="store_true",
                        help="with --resume: test the survivors again (after adding tests)")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report from the sessions")
    args = parser.parse_args(argv)
    chosen = [packages[n] for n in (args.package or packages)]
    os.chdir(ROOT)
    if not args.report_only:
        for package in chosen:
            if not (args.resume and (SESSIONS / f"{package.name}.sqlite").exists()):
                init_session(package, settings, args.seed, args.sample)
        run(chosen, args.jobs, settings, retest=args.retest)
    paths = write_report(collect(list(packages.values()), equivalents))
    print("report:", *(os.path.relpath(p, ROOT) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
