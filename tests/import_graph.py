"""The import graph of a package, read with ``ast``: the pure functions behind
tests/test_architecture.py.

Every ``import`` and ``from ... import`` statement counts, at module level or inside a
function; docstrings and comments are not code and never count. Each import is resolved
to the most specific module of the package it names: ``from gendsl import kernels`` is
an edge to the package ``gendsl.kernels``, ``from gendsl.terms.show import show_term``
one to the module ``gendsl.terms.show``. Importing a submodule also runs its parents'
``__init__.py``; those implicit edges are not drawn (a package's ``__init__`` re-exports
its modules, so drawing them would tie every package into a cycle with itself).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Edge:
    """One import statement: ``source`` imports ``target`` at ``file:line``."""

    source: str
    target: str
    file: str
    line: int

    @property
    def where(self) -> str:
        """``file:line`` of the import statement."""
        return f"{self.file}:{self.line}"


def read_package(root: Path, package: str) -> dict[str, tuple[str, str]]:
    """Returns every module of a package on disk.

    Args:
      root: the directory that holds the package directory.
      package: the package's name (its directory under ``root``).
    Returns:
      ``{module name: (file path relative to root, source text)}``; a package's
      ``__init__.py`` is named after the package.
    """
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root)
        parts = relative.with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = (relative.as_posix(), path.read_text())
    return modules


def import_edges(modules: Mapping[str, tuple[str, str]]) -> list[Edge]:
    """Returns every import between the given modules, in file and line order.

    Args:
      modules: ``{module name: (file, source text)}`` as from :func:`read_package`.
    Returns:
      One :class:`Edge` per imported module per statement; imports of modules outside
      ``modules`` and of a module by itself are left out.

    >>> src = {"p": ("p/__init__.py", "from p import a"), "p.a": ("p/a.py", "import os")}
    >>> [(e.source, e.target, e.where) for e in import_edges(src)]
    [('p', 'p.a', 'p/__init__.py:1')]
    """
    edges = []
    for name, (file, text) in modules.items():
        is_package = file.endswith("__init__.py")
        for line, candidates in imported_names(ast.parse(text, file), name, is_package):
            for candidate in candidates:
                target = resolve(candidate, modules)
                if target is not None and target != name:
                    edges.append(Edge(name, target, file, line))
    return edges


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """Yields each import statement of a parsed module with the names it may load.

    Args:
      tree: the module's ``ast``.
      module: the module's dotted name (to resolve relative imports).
      is_package: whether the module is a package's ``__init__.py``.
    Yields:
      ``(line, [(name, fallback), ...])``: for each imported item, the dotted name it
      may be (a module) and the module to fall back on when it is not (for
      ``from m import n``: ``m.n``, else ``m``).
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield node.lineno, [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            yield node.lineno, [(f"{base}.{alias.name}", base) for alias in node.names]


def resolve(candidate: tuple[str, str], modules: Mapping[str, object]) -> str | None:
    """Returns the module an imported item is: the item itself if it is a module, else
    the closest enclosing module of its fallback; None outside ``modules``.

    >>> known = {"g": 0, "g.k": 0, "g.t": 0, "g.t.show": 0}
    >>> resolve(("g.k", "g"), known), resolve(("g.t.show.show_term", "g.t.show"), known)
    ('g.k', 'g.t.show')
    >>> resolve(("g.GendslError", "g"), known), resolve(("os.path", "os.path"), known)
    ('g', None)
    """
    name, fallback = candidate
    if name in modules:
        return name
    while fallback and fallback not in modules:
        fallback = fallback.rpartition(".")[0]
    return fallback or None


def layer_of(module: str, layers: Sequence[Sequence[str]], root: str) -> tuple[int, str] | None:
    """Returns ``(layer index, entry)`` of the layer table entry a module belongs to.

    An entry covers itself and its submodules; ``root`` (the top package's
    ``__init__.py``) covers only itself.

    Args:
      module: a dotted module name.
      layers: entries per layer, bottom-up.
      root: the top package's name.
    Returns:
      The most specific entry covering ``module``, or None when no entry does.

    >>> layer_of("g.t.show", [["g.e"], ["g.t"], ["g"]], "g"), layer_of("g.x", [["g"]], "g")
    ((1, 'g.t'), None)
    """
    best = None
    for index, entries in enumerate(layers):
        for entry in entries:
            covers = module == entry or (entry != root and module.startswith(entry + "."))
            if covers and (best is None or len(entry) > len(best[1])):
                best = (index, entry)
    return best


def layer_offences(edges: Sequence[Edge], layers: Sequence[Sequence[str]], root: str) -> list[str]:
    """Returns the imports of a higher layer, or of another entry of the same layer.

    Imports within one entry (one package) are allowed; unassigned modules are
    reported by :func:`unassigned`, not here.

    Returns:
      ``"file:line: a (layer N) imports b (layer M)"`` per offending import.
    """
    offences = []
    for e in edges:
        source, target = layer_of(e.source, layers, root), layer_of(e.target, layers, root)
        if source and target and source[1] != target[1] and target[0] >= source[0]:
            offences.append(f"{e.where}: {e.source} (layer {source[0]}) imports "
                            f"{e.target} (layer {target[0]})")
    return offences


def forbidden_imports(edges: Sequence[Edge], importer: str, forbidden: Sequence[str]) -> list[str]:
    """Returns the imports from ``importer`` (or its submodules) of a ``forbidden``
    package (or its submodules), as ``"file:line: a imports b"``."""
    def within(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")
    return [f"{e.where}: {e.source} imports {e.target}" for e in edges
            if within(e.source, importer) and any(within(e.target, f) for f in forbidden)]


def unassigned(modules: Sequence[str], layers: Sequence[Sequence[str]], root: str) -> list[str]:
    """Returns the modules no entry of the layer table covers."""
    return [m for m in modules if layer_of(m, layers, root) is None]


def cycles(edges: Sequence[Edge]) -> list[list[Edge]]:
    """Returns import cycles that together use every edge lying on some cycle.

    For each edge ``a -> b`` inside a strongly connected component not yet on a
    reported cycle, the shortest way back ``b -> ... -> a`` closes a new cycle, so each
    import to cut shows up at least once.

    Returns:
      Cycles as lists of edges ``[a -> b, b -> c, ..., z -> a]``; empty when acyclic.
    """
    first: dict[tuple[str, str], Edge] = {}
    for e in edges:
        first.setdefault((e.source, e.target), e)
    graph: dict[str, list[str]] = {}
    for source, target in first:
        graph.setdefault(source, []).append(target)
    found, covered = [], set()
    for component in strongly_connected(graph):
        for source, target in first:
            if source in component and target in component and (source, target) not in covered:
                path = shortest_path(graph, target, source, component)
                loop = [source, *path]
                found.append([first[pair] for pair in zip(loop, loop[1:])])
                covered.update(zip(loop, loop[1:]))
    return found


def strongly_connected(graph: Mapping[str, Sequence[str]]) -> list[set[str]]:
    """Returns the strongly connected components with more than one node (Tarjan).

    >>> [sorted(c) for c in strongly_connected({"a": ["b"], "b": ["a", "c"], "c": []})]
    [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return components


def shortest_path(graph: Mapping[str, Sequence[str]], start: str, goal: str,
                  within: set[str]) -> list[str]:
    """Returns the nodes of a shortest path ``start -> ... -> goal`` inside ``within``
    (breadth first), both ends included; assumes one exists."""
    parent = {start: None}
    queue = [start]
    for node in queue:
        if node == goal:
            break
        for nxt in graph.get(node, ()):
            if nxt in within and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    path = [goal]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return path[::-1]


def describe_cycle(cycle: Sequence[Edge]) -> str:
    """Returns a cycle as ``a -> b -> a (file:line, file:line)``, one location per edge.

    >>> describe_cycle([Edge("a", "b", "a.py", 3), Edge("b", "a", "b.py", 5)])
    'a -> b -> a (a.py:3, b.py:5)'
    """
    chain = " -> ".join([cycle[0].source, *(e.target for e in cycle)])
    return f"{chain} ({', '.join(e.where for e in cycle)})"
