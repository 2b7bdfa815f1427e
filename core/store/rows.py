"""How a stored row becomes a typed value: the one place a query's columns are matched to a row type's fields.

A field reads the column named like it; a JSON document is stored in a column named ``<field>_json`` and
read back parsed. A query whose column has another name aliases it (``AS``) rather than the type
following the table; a field made from several columns (a scope, a row's children) is computed by the
caller and passed in a mapping beside the row's own columns (``{**dict(row), "scope": ...}``).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")


def from_row(cls: type[D], row: sqlite3.Row | Mapping[str, Any], **convert: Callable[[Any], object]) -> D:
    """A ``cls`` (a dataclass) made from ``row`` (a row, or a mapping of column names to values): each field
    from its column, through ``convert[field]`` when one is given (a timestamp's parse, a flag's ``bool``).
    A NULL stays None, never converted; a field the row has no column for is a KeyError naming it."""
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
