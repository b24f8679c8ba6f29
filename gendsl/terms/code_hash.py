"""A stable hash of Python values, functions included: what a fingerprint hashes.

:func:`code_hash` hashes a value by what it *computes with*, in a way that is the same in
every process (no ``id()``, no ``hash()`` of strings, no memory addresses):

* a function by its module, qualified name and source text (``inspect.getsource``, and
  for a lambda the exact text of its body; its compiled code when there is no source:
  ``co_code``, ``co_consts``, ``co_names``, which then depend on the Python version),
  plus its defaults, keyword defaults and the contents of its closure cells,
  recursively. So ``optax.adam(1e-3)`` and
  ``optax.adam(2e-3)`` (closures over the learning rate) differ, and a rule closing over
  ``margin = 2`` differs from one closing over ``margin = 1``;
* ``functools.partial`` by its function, arguments and keywords; bound methods by their
  function and instance; anything with ``__wrapped__`` (``jax.jit``, ``functools.wraps``)
  by the wrapped function;
* named tuples (optax's ``GradientTransformation``) and dataclasses by their type and
  fields; tuples, lists, dicts and sets by their items (dicts and sets in any order);
* numbers, strings, bytes and None by value; numpy and JAX arrays by dtype, shape and
  bytes (typed PRNG keys by their key data); classes, modules and builtins by name;
* any other object by its type's qualified name and its ``repr``; when the repr shows a
  memory address, by its type and attributes (``vars``), or its type alone if it has none
  (optax's ``WrappedSchedule``, say, is hashed by the schedule it wraps).

What is out: module-level globals a function reads by name are **not** followed (a rule
that reads a mutable global, or calls a helper whose code changes, keeps its hash), and
values nested deeper than :data:`MAX_DEPTH` are cut off. A reference cycle hashes as a
back-reference to where the cycle started.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import inspect
import re
import textwrap
import types
from typing import Any

import numpy as np

MAX_DEPTH = 64
"""Values nested deeper than this are hashed as a marker only."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{4,}")


def code_hash(value: Any) -> str:
    """Returns a hex SHA-256 digest of ``value`` (see the module docstring).

    Args:
      value: any Python value; functions are hashed by code and closure.
    Returns:
      64 hex digits, the same in every process for equal values.

    >>> def make(margin):
    ...     return lambda x: max(0.0, margin - x)
    >>> code_hash(make(1.0)) == code_hash(make(1.0)), code_hash(make(1.0)) == code_hash(make(2.0))
    (True, False)
    >>> code_hash({"a": (1, 2.0)}) == code_hash({"a": (1, 2.0)}) != code_hash({"a": (1, 2)})
    True
    """
    h = hashlib.sha256()
    _Hasher(h).add(value, 0)
    return h.hexdigest()


class _Hasher:
    """Feeds a value's tagged, length-prefixed encoding into a hashlib object."""

    def __init__(self, h: Any):
        self.h = h
        self.path: list[int] = []  # ids of the containers being hashed (cycle guard only)

    def token(self, tag: str, text: str | bytes = b"") -> None:
        data = text.encode() if isinstance(text, str) else bytes(text)
        self.h.update(f"{tag}:{len(data)}:".encode())
        self.h.update(data)

    def add(self, value: Any, depth: int) -> None:
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            self.token(type(value).__name__, repr(value) if not isinstance(value, bytes)
                       else value)
            return
        if value is Ellipsis:
            self.token("ellipsis")
            return
        if depth > MAX_DEPTH:
            self.token("deep")
            return
        if id(value) in self.path:
            self.token("cycle", str(len(self.path) - self.path.index(id(value))))
            return
        self.path.append(id(value))
        try:
            self._add_compound(value, depth + 1)
        finally:
            self.path.pop()

    def _add_compound(self, value: Any, depth: int) -> None:
        if isinstance(value, (type, types.ModuleType, types.BuiltinFunctionType)):
            self.token("named", _qualified_name(value))
        elif isinstance(value, enum.Enum):
            self.token("enum", f"{_qualified_name(type(value))}.{value.name}")
        elif _is_array(value):
            self._add_array(value)
        elif isinstance(value, types.FunctionType):
            self._add_function(value, depth)
        elif isinstance(value, types.CodeType):
            self._add_code(value, depth)
        elif isinstance(value, types.MethodType):
            self.token("method")
            self.add(value.__func__, depth)
            self.add(value.__self__, depth)
        elif isinstance(value, functools.partial):
            self.token("partial")
            self.add(value.func, depth)
            self.add(value.args, depth)
            self.add(value.keywords, depth)
        elif isinstance(value, tuple) and hasattr(type(value), "_fields"):  # a NamedTuple
            self.token("namedtuple", _qualified_name(type(value)))
            self._add_items(zip(type(value)._fields, value), depth)
        elif isinstance(value, (tuple, list)):
            self.token(type(value).__name__, str(len(value)))
            for item in value:
                self.add(item, depth)
        elif isinstance(value, dict):
            self.token("dict", str(len(value)))
            self._add_unordered([(k, v) for k, v in value.items()], depth)
        elif isinstance(value, (set, frozenset)):
            self.token("set", str(len(value)))
            self._add_unordered(list(value), depth)
        elif dataclasses.is_dataclass(value):
            self.token("dataclass", _qualified_name(type(value)))
            self._add_items(((f.name, getattr(value, f.name, None))
                             for f in dataclasses.fields(value)), depth)
        elif getattr(value, "__wrapped__", None) is not None:  # jax.jit, functools.wraps
            self.token("wrapper", _qualified_name(type(value)))
            self.add(value.__wrapped__, depth)
        else:
            try:
                text = repr(value)
            except Exception:  # a broken repr: the type alone
                text = "0x0000"
            self.token("object", _qualified_name(type(value)))
            if not _ADDRESS.search(text):
                self.token("repr", text)
            elif isinstance(getattr(value, "__dict__", None), dict):  # its attributes
                self.add(vars(value), depth)

    def _add_items(self, items, depth: int) -> None:
        for name, item in items:
            self.token("field", name)
            self.add(item, depth)

    def _add_unordered(self, items: list[Any], depth: int) -> None:
        digests = []
        for item in items:
            sub = _Hasher(hashlib.sha256())
            sub.path = self.path
            sub.add(item, depth)
            digests.append(sub.h.hexdigest())
        for digest in sorted(digests):
            self.token("item", digest)

    def _add_function(self, fn: types.FunctionType, depth: int) -> None:
        self.token("function", f"{fn.__module__}.{fn.__qualname__}")
        source = _source(fn)
        if source is not None:
            self.token("source", source)
        else:
            self._add_code(fn.__code__, depth)
        self.add(fn.__defaults__, depth)
        self.add(fn.__kwdefaults__, depth)
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            self.token("cell", name)
            try:
                contents = cell.cell_contents
            except ValueError:  # a cell not filled yet
                self.token("empty")
                continue
            self.add(contents, depth)

    def _add_code(self, code: types.CodeType, depth: int) -> None:
        self.token("code", code.co_name)
        self.token("bytecode", code.co_code)
        self.add(code.co_names, depth)
        self.add(code.co_consts, depth)  # nested functions' code objects recursively

    def _add_array(self, value: Any) -> None:
        import jax

        if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            self.token("key", str(jax.random.key_impl(value)))
            value = jax.random.key_data(value)
        array = np.asarray(value)
        self.token("array", f"{array.dtype.str}{array.shape}")
        self.token("data", np.ascontiguousarray(array).tobytes())


def _is_array(value: Any) -> bool:
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    module = type(value).__module__ or ""
    return module.startswith(("jax", "jaxlib")) and hasattr(value, "shape") and hasattr(
        value, "dtype")


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or ""
    return f"{module}.{name}" if module else name


def _source(fn: types.FunctionType) -> str | None:
    """The function's source text; for a lambda also the exact text of its body and its
    parameters' names (two lambdas on one line share their lines)."""
    code = fn.__code__
    try:
        text = textwrap.dedent(inspect.getsource(code))  # the code's: no unwrapping
        if code.co_name == "<lambda>":
            text += f"\n{code.co_varnames}\n{_span(inspect.findsource(code)[0], code)}"
        return text
    except (OSError, TypeError, IndentationError, IndexError):
        return None


def _span(lines: list[str], code: types.CodeType) -> str:
    """The source text the code's instructions come from (its columns, Python >= 3.11)."""
    positions = [p for p in getattr(code, "co_positions", lambda: ())()
                 if None not in p and p[2:] != (0, 0)]
    if not positions:
        return ""
    (line, col), (end_line, end_col) = min((p[0], p[2]) for p in positions), max(
        (p[1], p[3]) for p in positions)
    if line == end_line:
        return lines[line - 1][col:end_col]
    return "".join([lines[line - 1][col:], *lines[line:end_line - 1],
                    lines[end_line - 1][:end_col]])
