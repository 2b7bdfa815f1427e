"""How a stored row becomes a typed value: the one place a query's columns are matched to a row type's fields.

A field reads the column named like it; a JSON document is stored in a column named ``<field>_json`` and
read back parsed. The field's declared type says how a stored value is read: a ``datetime`` parsed from its
ISO text, a ``bool`` from SQLite's 0/1, an enum looked up by its value, a ``tuple`` from a JSON list; any other
type as stored, unless the caller names a converter. A query whose column has another name aliases it (``AS``) rather than the type
following the table; a field made from several columns (a scope, a row's children) is computed by the
caller and passed in a mapping beside the row's own columns (``{**dict(row), "scope": ...}``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


def _timestamp(value: Any) -> object:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _tuple(value: Any) -> object:
    return tuple(value) if isinstance(value, list) else value


_BY_TYPE: dict[object, Callable[[Any], object]] = {datetime: _timestamp, bool: bool, tuple: _tuple}


@functools.cache
def _declared(cls: type) -> dict[str, Callable[[Any], object]]:
    """The converter each field's declared type implies (``X | None`` as ``X``); fields of other types have none."""
    found: dict[str, Callable[[Any], object]] = {}
    for name, hint in typing.get_type_hints(cls).items():
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            if len(kinds) != 1:
                continue
            hint = kinds[0]
        base = typing.get_origin(hint) or hint
        if base in _BY_TYPE:
            found[name] = _BY_TYPE[base]
        elif isinstance(base, type) and issubclass(base, Enum):
            found[name] = base
    return found


def from_row(cls: type[D], row: sqlite3.Row | Mapping[str, Any], **convert: Callable[[Any], object]) -> D:
    """A ``cls`` (a dataclass) made from ``row`` (a row, or a mapping of column names to values): each field
    from its column, through ``convert[field]`` when one is given, else through what its declared type implies.
    A NULL stays None, never converted; a field the row has no column for is a KeyError naming it."""
    convert = {**_declared(cls), **convert}
    columns = set(row.keys())
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.name in columns:
            value = row[f.name]
        elif f"{f.name}_json" in columns:
            document = row[f"{f.name}_json"]
            value = None if document is None else json.loads(document)
        else:
            raise KeyError(f"{cls.__name__}.{f.name}: the row has no column {f.name} or {f.name}_json")
        how = convert.get(f.name)
        values[f.name] = how(value) if how is not None and value is not None else value
    return cls(**values)
