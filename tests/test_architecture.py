"""The one-way house: gendsl's imports point down the layer table, never up, never
sideways, never in a cycle. Read with ``ast`` (tests/import_graph.py), so docstrings,
comments and doctests are not code, and function-level imports count like any other."""

import re
from pathlib import Path


from import_graph import (Edge, cycles, describe_cycle, forbidden_imports, import_edges, layer_of,
                          layer_offences, read_package, unassigned)

# The layers, bottom-up (index = layer number). A module may import modules of its own
# entry (its package) and of any LOWER layer; importing a higher layer, or another entry
# of its own layer (sideways), is an offence. Every module must be covered by an entry,
# so a new package is placed deliberately. "gendsl" is the root __init__.py only.
# docs/architecture.md shows the same list (test_the_docs_show_the_same_layers).
LAYERS = (
    ("gendsl.errors",),
    ("gendsl.sharding",),
    ("gendsl.kernels", "gendsl.nn"),
    ("gendsl.solvers",),
    ("gendsl.terms",),
    ("gendsl.primitives", "gendsl.datasets"),
    ("gendsl.losses", "gendsl.metrics"),
    ("gendsl.compiler",),
    ("gendsl.samplers", "gendsl.geometry"),
    ("gendsl.run",),
    ("gendsl.recipes",),
    ("gendsl.experiments", "gendsl.loaded_run"),
    ("gendsl.sampling_run",),
    ("gendsl.cli", "gendsl"),
)
NOT_BUILT_YET: set[str] = set()  # entries allowed to be absent

# The runner knows the compiler only through the Stepper protocol.
RUNNER = "gendsl.run"
NOT_FOR_THE_RUNNER = ("gendsl.compiler", "gendsl.terms", "gendsl.solvers", "gendsl.primitives")

ROOT = Path(__file__).resolve().parent.parent
MODULES = read_package(ROOT, "gendsl")
EDGES = import_edges(MODULES)


def report(title: str, offences: list[str]) -> str:
    return f"{title} ({len(offences)}):\n  " + "\n  ".join(offences)


def test_no_import_cycles():
    found = [describe_cycle(c) for c in cycles(EDGES)]
    assert not found, report("import cycles among gendsl modules; cut one import of each", found)


def test_imports_point_down_the_layers():
    offences = layer_offences(EDGES, LAYERS, "gendsl")
    assert not offences, report(
        "imports of a higher layer or sideways (see LAYERS in tests/test_architecture.py)",
        offences)


def test_the_runner_knows_the_compiler_only_through_a_protocol():
    offences = forbidden_imports(EDGES, RUNNER, NOT_FOR_THE_RUNNER)
    assert not offences, report(f"{RUNNER} imports what it must reach through a Stepper", offences)


def test_every_module_has_a_layer():
    missing = unassigned(list(MODULES), LAYERS, "gendsl")
    assert not missing, report("modules in no layer; add their package to LAYERS", missing)


def test_every_layer_entry_exists():
    absent = [entry for entries in LAYERS for entry in entries
              if entry not in MODULES and entry not in NOT_BUILT_YET]
    assert not absent, report("LAYERS names modules that do not exist", absent)


def test_the_docs_show_the_same_layers():
    text = (ROOT / "docs" / "architecture.md").read_text()
    shown = {int(m.group(1)): tuple(re.findall(r"\bgendsl(?:\.\w+)*", m.group(2)))
             for m in re.finditer(r"^ *(\d+) +(gendsl.*)$", text, re.MULTILINE)}
    assert shown == dict(enumerate(LAYERS)), "docs/architecture.md's layer list differs from LAYERS"


# -- the checker itself can fail -----------------------------------------------------------

PLANTED = {
    "g": ("g/__init__.py", "from g import k, t\n"),
    "g.k": ("g/k/__init__.py", "from .dense import Dense\n"),
    "g.k.dense": ("g/k/dense.py", '"""import g.t  (a docstring, not code)"""\n'),
    "g.t": ("g/t/__init__.py", ""),
    "g.t.term": ("g/t/term.py", "def show():\n    from g.t.show import show_term\n"),
    "g.t.show": ("g/t/show.py", "from ..k import dense\nimport g.t.term\n"),
    "g.e": ("g/e.py", "from g.t.term import Term\n"),
}
PLANTED_LAYERS = (("g.e",), ("g.k",), ("g.t",), ("g",))


def test_the_checker_resolves_imports():
    got = {(e.source, e.target, e.line) for e in import_edges(PLANTED)}
    assert got == {("g", "g.k", 1), ("g", "g.t", 1), ("g.k", "g.k.dense", 1),
                   ("g.t.term", "g.t.show", 2), ("g.t.show", "g.k.dense", 1),
                   ("g.t.show", "g.t.term", 2), ("g.e", "g.t.term", 1)}


def test_the_checker_finds_a_planted_cycle():
    found = [describe_cycle(c) for c in cycles(import_edges(PLANTED))]
    assert found == ["g.t.term -> g.t.show -> g.t.term (g/t/term.py:2, g/t/show.py:2)"]


def test_the_checker_finds_a_planted_upward_arrow():
    assert layer_offences(import_edges(PLANTED), PLANTED_LAYERS, "g") == [
        "g/e.py:1: g.e (layer 0) imports g.t.term (layer 2)"]
    sideways = [Edge("g.k.dense", "g.e", "g/k/dense.py", 4)]
    assert layer_offences(sideways, (("g.k", "g.e"),), "g") == [
        "g/k/dense.py:4: g.k.dense (layer 0) imports g.e (layer 0)"]


def test_the_checker_finds_unplaced_modules_and_forbidden_imports():
    assert unassigned(list(PLANTED), PLANTED_LAYERS[1:], "g") == ["g.e"]
    assert layer_of("g", PLANTED_LAYERS, "g") == (3, "g")
    assert forbidden_imports(import_edges(PLANTED), "g.t", ["g.k"]) == [
        "g/t/show.py:1: g.t.show imports g.k.dense"]
