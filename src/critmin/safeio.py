"""Safe parsing of the YAML, JSON and CSV files critmin reads: bounded work, one-line errors.

Every reader of a user's or a World's YAML/JSON/CSV goes through here (chains, scenarios, the registry,
the IEA build input, a World's ``datapackage.json``). The limits, and how to raise them, are in the
README's "Limits" section:

* **YAML** is parsed by libyaml (the C parser where PyYAML has it) into a node graph that is checked
  *before* any Python object is built: nesting depth at most :data:`MAX_DEPTH`; aliases (``*name``) may
  add at most :data:`MAX_ALIAS_NODES` nodes to the document once expanded (a "billion laughs" alias
  bomb of 1 KB would expand to hundreds of millions); an alias of one of its own ancestors (a recursive
  document) is refused; a key given twice in one mapping is refused. Numbers follow YAML 1.2: ``7_5``
  and ``1:30`` stay text (YAML 1.1 read them as 75 and 90), and an impossible date such as
  ``2025-02-30`` is named instead of crashing the loader.
* **JSON**: the same depth limit; duplicate keys in one object are refused.
* **Files** over :data:`MAX_TEXT_BYTES` are refused before they are read.
* **CSV** (the ``csv`` module): a field longer than the module's limit (131,072 characters) is named
  with its line instead of a ``_csv.Error``.

Every failure is an :class:`~critmin.errors.InputError` naming the file (``source``), the line or field
path, and the problem.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from critmin.errors import InputError, read_user_text

#: Deepest nesting of mappings/lists a YAML or JSON file may have (critmin's own files use under 10).
MAX_DEPTH = int(os.environ.get("CRITMIN_MAX_DEPTH", "64"))
#: Nodes YAML aliases may add to a document when expanded (beyond the document's own nodes).
MAX_ALIAS_NODES = int(os.environ.get("CRITMIN_YAML_ALIAS_NODES", "100000"))
#: Largest YAML or JSON file read (bytes).
MAX_TEXT_BYTES = int(os.environ.get("CRITMIN_MAX_TEXT_BYTES", str(256 << 20)))

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML is a dependency
    yaml = None  # type: ignore[assignment]


# ---------------------------------------------------------------------------------------------------- YAML
def _loader_class() -> type:
    """A safe loader (libyaml's parser where available) with YAML 1.2 numbers and checked dates."""
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        """critmin's YAML loader: safe constructors, YAML 1.2 integers and floats, dates that exist."""

        yaml_implicit_resolvers: dict = {}

        def construct_yaml_timestamp(self, node: Any) -> Any:  # noqa: ANN401 - a date or datetime
            try:
                return super().construct_yaml_timestamp(node)
            except ValueError as exc:
                raise yaml.constructor.ConstructorError(
                    None, None, f"impossible date {node.value!r} ({exc})", node.start_mark) from None

    # Copy the resolvers, then replace YAML 1.1's int and float rules (underscores, sexagesimal 1:30, 0b1)
    # by YAML 1.2's core schema.
    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
        for k, v in base.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                 list("-+0123456789"))
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                   r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+0123456789."))
    Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    Loader.add_constructor("tag:yaml.org,2002:timestamp", Loader.construct_yaml_timestamp)
    return Loader


def _construct_int(loader: Any, node: Any) -> int:  # noqa: ANN401 - a PyYAML loader and node
    """A YAML 1.2 integer: decimal, ``0o`` octal or ``0x`` hexadecimal."""
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


_LOADER: type | None = None


def _line(mark: Any) -> str | None:  # noqa: ANN401 - a PyYAML mark
    return f"line {mark.line + 1}" if mark is not None else None


def _check_nodes(root: Any, source: str) -> None:  # noqa: ANN401 - a PyYAML node
    """Depth, alias expansion, recursion and duplicate keys of a composed YAML document (iteratively)."""
    from yaml.nodes import MappingNode, SequenceNode

    sizes: dict[int, int] = {}  # id(node) -> expanded node count
    distinct = 0
    # Post-order walk with an explicit stack: (node, depth, children done?)
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            if isinstance(node, MappingNode):
                kids = [c for pair in node.value for c in pair]
            else:
                kids = list(node.value)
            sizes[key] = 1 + sum(sizes[id(c)] for c in kids)
            continue
        if key in sizes:
            continue  # an alias of a node already measured: counted by its size, not walked again
        if key in on_path:
            raise InputError(source, _line(node.start_mark), "recursive YAML alias (a node contains itself)")
        if depth > MAX_DEPTH:
            raise InputError(source, _line(node.start_mark),
                             f"nesting deeper than {MAX_DEPTH} levels (limit: CRITMIN_MAX_DEPTH)")
        distinct += 1
        if isinstance(node, MappingNode | SequenceNode):
            on_path.add(key)
            stack.append((node, depth, True))
            if isinstance(node, MappingNode):
                seen: dict[tuple[str, str], Any] = {}
                for k, _ in node.value:
                    if k.tag == "tag:yaml.org,2002:merge" or not isinstance(k.value, str):
                        continue
                    ident = (k.tag, k.value)
                    if ident in seen:
                        raise InputError(source, _line(k.start_mark), f"duplicate key {k.value!r} (first on "
                                         f"{_line(seen[ident].start_mark)})")
                    seen[ident] = k
                kids = [c for pair in node.value for c in pair]
            else:
                kids = list(node.value)
            for c in reversed(kids):
                if id(c) in on_path:
                    raise InputError(source, _line(c.start_mark), "recursive YAML alias (a node contains itself)")
                stack.append((c, depth + 1, False))
        else:
            sizes[key] = 1
    expanded = sizes.get(id(root), 1)
    if expanded - distinct > MAX_ALIAS_NODES:
        raise InputError(source, None, f"YAML aliases expand the document to {expanded:,} nodes, more than "
                         f"{MAX_ALIAS_NODES:,} beyond its own {distinct:,} (an alias bomb?; limit: "
                         "CRITMIN_YAML_ALIAS_NODES)")


def load_yaml(text: str, source: str) -> Any:  # noqa: ANN401 - any YAML document
    """Parse one YAML document from ``text`` (read from ``source``, named in errors) under the limits above."""
    global _LOADER
    if _LOADER is None:
        _LOADER = _loader_class()
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        problem = problem.replace("exceeded maximum nesting depth", "nesting deeper than the parser's limit")
        raise InputError(source, _line(mark), f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(source, None, f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    except RecursionError:
        raise InputError(source, None, f"nesting too deep (limit {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()


def read_yaml(path: str | os.PathLike[str], source: str | None = None) -> Any:  # noqa: ANN401 - any document
    """:func:`load_yaml` of the file ``path`` (size checked first; errors name ``source`` or the path)."""
    return load_yaml(read_text(path, source), source or str(path))


# ---------------------------------------------------------------------------------------------------- JSON
def _no_duplicates(source: str) -> Any:  # noqa: ANN401 - an object_pairs_hook
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise InputError(source, k, "duplicate key in a JSON object")
            out[k] = v
        return out

    return hook


def json_depth(value: Any) -> int:  # noqa: ANN401 - a JSON value
    """Nesting depth of a JSON value (a scalar is 0), computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
            deepest = max(deepest, d + 1)
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
            deepest = max(deepest, d + 1)
    return deepest


def load_json(text: str, source: str) -> Any:  # noqa: ANN401 - any JSON document
    """Parse JSON ``text`` (from ``source``): depth at most :data:`MAX_DEPTH`, no duplicate keys, no NaN/Infinity."""
    import json

    def constant(name: str) -> Any:  # noqa: ANN401
        raise InputError(source, None, f"{name} is not a JSON number")

    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates(source), parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(source, None, f"nesting deeper than {MAX_DEPTH} levels (limit: CRITMIN_MAX_DEPTH)") from None
    if json_depth(data) > MAX_DEPTH:
        raise InputError(source, None, f"nesting deeper than {MAX_DEPTH} levels (limit: CRITMIN_MAX_DEPTH)")
    return data


def read_json(path: str | os.PathLike[str], source: str | None = None) -> Any:  # noqa: ANN401 - any document
    """:func:`load_json` of the file ``path`` (size checked first; errors name ``source`` or the path)."""
    return load_json(read_text(path, source), source or str(path))


# ---------------------------------------------------------------------------------------------------- text
def read_text(path: str | os.PathLike[str], source: str | None = None) -> str:
    """The UTF-8 text of ``path`` if it is at most :data:`MAX_TEXT_BYTES` (InputError otherwise)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        size = 0  # read_user_text names the problem
    if size > MAX_TEXT_BYTES:
        raise InputError(source or str(p), None, f"file of {size:,} bytes is larger than the {MAX_TEXT_BYTES:,} "
                         "bytes critmin reads as YAML/JSON (limit: CRITMIN_MAX_TEXT_BYTES)")
    try:
        return read_user_text(p)
    except InputError as exc:
        if source is None:
            raise
        raise InputError(source, exc.field, exc.problem) from None


# ---------------------------------------------------------------------------------------------------- CSV
def csv_rows(path: str | os.PathLike[str], source: str | None = None,
             encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    """The rows of a small CSV file as dicts (header on line 1); InputError naming the line on any problem
    (a field over the ``csv`` module's limit, an unterminated quote, a row wider than the header)."""
    where = source or str(path)
    p = Path(path)
    try:
        fh = open(p, encoding=encoding, newline="")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputError(where, None, "file not found") from None
    except OSError as exc:
        raise InputError(where, None, f"cannot read: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh, strict=True)
        rows: list[dict[str, str]] = []
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(where, "line 1", "file is empty (no header)")
            header = [h.strip() for h in header]
            for fields in reader:
                if not fields:
                    continue
                if len(fields) > len(header):
                    raise InputError(where, f"line {reader.line_num}",
                                     f"{len(fields)} fields, the header has {len(header)}")
                rows.append(dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=True)))
        except csv.Error as exc:
            msg = str(exc)
            if "field larger than field limit" in msg:
                msg = f"a field is longer than {csv.field_size_limit():,} characters (the CSV reader's limit)"
            raise InputError(where, f"line {reader.line_num}", f"malformed CSV: {msg}") from None
        except UnicodeDecodeError as exc:
            raise InputError(where, f"byte {exc.start}", f"not valid {encoding} text") from None
    return rows


def checked_rows(reader: Any, source: str) -> Iterator[Any]:  # noqa: ANN401 - a csv reader and its rows
    """The rows of a ``csv.reader``/``csv.DictReader``, with a ``csv.Error`` (a field over the module's limit,
    a stray quote in strict mode) turned into an InputError naming ``source`` and the line."""
    it = iter(reader)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except csv.Error as exc:
            msg = str(exc)
            if "field larger than field limit" in msg:
                msg = f"a field is longer than {csv.field_size_limit():,} characters (the CSV reader's limit)"
            raise InputError(source, f"line {reader.line_num}", f"malformed CSV: {msg}") from None
        yield row
