"""The reproduction report: run every paper claim, write its numbers and figures, and
regenerate the verdict table of docs/results.md.

Claim modules are discovered in benchmarks/claims/ (every ``<name>.py`` not starting
with ``_``, sorted by file name). Each defines ``NAME`` (its file stem), ``TITLE`` (the
paper, as its docs/results.md section is headed) and ``run(quick, figures) -> dict``
returning ``{"claims": [{"claim", "experiment", "number", "verdict", "why", "figure",
"seeds"}, ...], "raw": {...}}`` with ``verdict`` one of reproduced / partly / not.

Each claim runs in its own process (one failure or out-of-memory does not stop the
others) and writes benchmarks/results/reproduce_<NAME>_<quick|full>.json; its figures
go to docs/figures/<NAME>_*.png. Then the table between ``<!-- verdicts:begin -->``
and ``<!-- verdicts:end -->`` in docs/results.md is rebuilt from the results files of
every discovered claim (which budget's results are preferred: below),
so ``--only`` refreshes some rows and keeps the others (a claim that fails loses its
results file of that budget, so its rows never show a stale run as current). The exit
status is 1 when any claim failed (each failure is named at the end), else 0.

``--recorded`` trains nothing: it calls each module's optional ``recorded(figures)``,
which builds the same result from the study results committed under
benchmarks/results/ (the measured full-scale runs) and redraws the figures; it writes
reproduce_<NAME>_recorded.json and the table marks those rows ``recorded``. A module
without ``recorded`` is skipped. The table prefers a claim's full results, then its
recorded ones, then its quick ones.

    python benchmarks/reproduce.py --quick                 # every claim, < 15 min on 2 cores
    python benchmarks/reproduce.py --full --only ode_gan   # one claim at paper scale
    python benchmarks/reproduce.py --recorded              # the table from committed results
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- verdicts:begin -->", "<!-- verdicts:end -->"
VERDICTS = ("reproduced", "partly", "not")
CLAIM_KEYS = ("claim", "experiment", "number", "verdict", "why", "figure", "seeds")
MODES = ("full", "recorded", "quick")
"""The budgets, in the order the table prefers them."""
NOT_RECORDED = 3
"""A claim process's exit status when ``--recorded`` finds no ``recorded()``."""


class ClaimError(Exception):
    """A claim module is missing a name or returned a malformed result."""


def discover(claims_dir: Path) -> dict[str, Path]:
    """Returns ``{name: path}`` of the claim modules in ``claims_dir``, sorted by name.

    Args:
      claims_dir: the folder of claim modules (``_``-prefixed files are skipped).
    Returns:
      The modules' file stems mapped to their paths.
    """
    return {p.stem: p for p in sorted(Path(claims_dir).glob("*.py")) if not p.name.startswith("_")}


def load_claim(path: Path):
    """Imports the claim module at ``path`` and checks its ``NAME``, ``TITLE`` and ``run``.

    Raises:
      ClaimError: a name is missing or ``NAME`` is not the file stem.
    """
    sys.path.insert(0, str(ROOT / "benchmarks"))  # claims may import the study scripts
    spec = importlib.util.spec_from_file_location(f"reproduce_claim_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for attr in ("NAME", "TITLE", "run"):
        if not hasattr(module, attr):
            raise ClaimError(f"{path}: a claim module must define {attr} (see benchmarks/reproduce.py)")
    if module.NAME != path.stem:
        raise ClaimError(f"{path}: NAME = {module.NAME!r} must equal the file stem {path.stem!r}")
    return module


def check_result(name: str, result) -> dict:
    """Returns ``result`` if it is a well-formed claim result, else raises ClaimError."""
    if not isinstance(result, dict) or not isinstance(result.get("claims"), list):
        raise ClaimError(f"claim {name}: run() must return a dict with a 'claims' list")
    for i, c in enumerate(result["claims"]):
        missing = [k for k in CLAIM_KEYS if k not in c]
        if missing:
            raise ClaimError(f"claim {name}: claims[{i}] lacks {missing}")
        if c["verdict"] not in VERDICTS:
            raise ClaimError(f"claim {name}: claims[{i}] verdict {c['verdict']!r}: "
                             f"use one of {VERDICTS}")
    return result


def results_path(results_dir: Path, name: str, mode: str) -> Path:
    """Where claim ``name``'s results of budget ``mode`` (see MODES) are written."""
    return Path(results_dir) / f"reproduce_{name}_{mode}.json"


def run_child(path: Path, mode: str, figures: Path, out: Path) -> None:
    """Runs one claim module in this process and writes its results to ``out``."""
    module = load_claim(path)
    figures.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if mode == "recorded":
        if not hasattr(module, "recorded"):
            sys.exit(NOT_RECORDED)
        result = module.recorded(figures)
    else:
        result = module.run(quick=(mode == "quick"), figures=figures)
    result = check_result(module.NAME, result)
    record = {"name": module.NAME, "title": module.TITLE, "mode": mode,
              "seconds": round(time.perf_counter() - t0, 1), **result}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=float) + "\n")


def _cell(text) -> str:
    return "—" if text in (None, "") else str(text).replace("|", "\\|").replace("\n", " ")


def _figure_link(figure, results_md: Path) -> str:
    if not figure:
        return "—"
    rel = os.path.relpath(ROOT / figure, Path(results_md).resolve().parent)
    return f"[{Path(figure).name}]({rel})"


def table(claims: dict[str, Path], results_dir: Path, results_md: Path) -> str:
    """The verdict table: one row per claim of every module that has results.

    Args:
      claims: the discovered modules (``discover``).
      results_dir: where the ``reproduce_<NAME>_<mode>.json`` files are.
      results_md: the report (figure links are made relative to it).
    Returns:
      A Markdown table (a line saying none ran when no module has results).
    """
    rows = ["| paper | claim | number | verdict | seeds | figure | budget |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in claims:
        for mode in MODES:
            path = results_path(results_dir, name, mode)
            if path.exists():
                record = json.loads(path.read_text())
                for c in record["claims"]:
                    rows.append("| " + " | ".join([
                        _cell(record["title"]), _cell(c["claim"]), _cell(c["number"]),
                        f"**{c['verdict']}**", _cell(c["seeds"]),
                        _figure_link(c["figure"], results_md), mode]) + " |")
                break
    if len(rows) == 2:
        return "No claim has results yet: run `python benchmarks/reproduce.py --quick`."
    return "\n".join(rows)


def update_report(results_md: Path, text: str) -> None:
    """Replaces what lies between the verdict markers of ``results_md`` with ``text``.

    Raises:
      ClaimError: the file lacks the two markers.
    """
    doc = Path(results_md).read_text()
    if BEGIN not in doc or END not in doc or doc.index(BEGIN) > doc.index(END):
        raise ClaimError(f"{results_md}: add the lines {BEGIN} and {END} (in that order) "
                         "where the verdict table belongs")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    Path(results_md).write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def parse(argv=None) -> argparse.Namespace:
    """Parses the command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--quick", dest="mode", action="store_const", const="quick",
                        help="the small budget (the default): under 15 minutes on 2 cores")
    budget.add_argument("--full", dest="mode", action="store_const", const="full",
                        help="the papers' settings (hours)")
    budget.add_argument("--recorded", dest="mode", action="store_const", const="recorded",
                        help="no training: each claim's recorded() from committed results")
    p.set_defaults(mode="quick")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these claims")
    p.add_argument("--claims-dir", type=Path, default=ROOT / "benchmarks" / "claims")
    p.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures")
    p.add_argument("--results-md", type=Path, default=ROOT / "docs" / "results.md")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per claim")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Runs the selected claims, each in its own process, and rebuilds the table.

    Returns:
      0 when every claim ran, 1 when any failed, 2 for an unknown ``--only`` name.
    """
    args = parse(argv)
    if args.child is not None:  # inside one claim's process
        run_child(args.child, args.mode, args.figures, args.out)
        return 0
    claims = discover(args.claims_dir)
    unknown = sorted(set(args.only or ()) - set(claims))
    if unknown:
        print(f"--only {' '.join(unknown)}: no such claim in {args.claims_dir}; "
              f"choose from {', '.join(claims) or '(none)'}", file=sys.stderr)
        return 2
    selected = [n for n in claims if not args.only or n in args.only]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    failed, t0 = {}, time.perf_counter()
    for name in selected:
        out = results_path(args.results_dir, name, args.mode)
        print(f"[{time.perf_counter() - t0:7.1f}s] {name}: start ({args.mode})", flush=True)
        out.unlink(missing_ok=True)  # a failed rerun must not leave the last run's rows
        start = time.perf_counter()
        cmd = [sys.executable, str(Path(__file__).resolve()), f"--{args.mode}",
               "--child", str(claims[name]), "--out", str(out), "--figures", str(args.figures)]
        try:
            rc = subprocess.run(cmd, env=env, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = f"timed out after {args.timeout:g} s"
        took = time.perf_counter() - start
        if rc == NOT_RECORDED and args.mode == "recorded":
            print(f"[{time.perf_counter() - t0:7.1f}s] {name}: skipped (no recorded())", flush=True)
        elif rc == 0:
            n = len(json.loads(out.read_text())["claims"])
            print(f"[{time.perf_counter() - t0:7.1f}s] {name}: done in {took:.1f}s, {n} claims "
                  f"-> {out}", flush=True)
        else:
            failed[name] = rc if isinstance(rc, str) else f"exit status {rc}"
            print(f"[{time.perf_counter() - t0:7.1f}s] {name}: FAILED ({failed[name]}) after "
                  f"{took:.1f}s", flush=True)
    update_report(args.results_md, table(claims, args.results_dir, args.results_md))
    print(f"[{time.perf_counter() - t0:7.1f}s] verdict table rebuilt in {args.results_md}")
    if failed:
        print("failed claims: " + ", ".join(f"{n} ({why})" for n, why in failed.items()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
