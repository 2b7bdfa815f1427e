"""Rows become typed values in one place (core.store.rows): fields by column name, JSON documents from
``<field>_json`` columns, converters on values only (a NULL stays None)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

import pytest

from core.store.rows import from_row


@dataclass(frozen=True)
class Sample:
    id: int
    flag: bool
    tags: tuple[str, ...]
    decided_at: datetime | None


def row(sql: str) -> sqlite3.Row:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    found: sqlite3.Row = conn.execute(sql).fetchone()
    conn.close()
    return found


def test_fields_come_from_their_columns_and_json_documents_from_their_json_columns() -> None:
    made = from_row(
        Sample,
        row("""SELECT 7 AS id, 1 AS flag, '["a","b"]' AS tags_json, '2026-12-01T10:00:00+00:00' AS decided_at"""),
        flag=bool,
        tags=tuple,
        decided_at=datetime.fromisoformat,
    )
    assert made == Sample(7, True, ("a", "b"), datetime(2026, 12, 1, 10, tzinfo=UTC))


def test_a_null_stays_none_and_is_never_converted() -> None:
    made = from_row(Sample, row("SELECT 7 AS id, 0 AS flag, NULL AS tags_json, NULL AS decided_at"), flag=bool)
    assert made == Sample(7, False, None, None)  # type: ignore[arg-type]  # tags NULL in the row: None


def test_a_field_with_no_column_is_an_error_naming_it() -> None:
    with pytest.raises(KeyError, match=r"Sample\.tags: the row has no column tags or tags_json"):
        from_row(Sample, row("SELECT 7 AS id, 0 AS flag, NULL AS decided_at"))


def test_a_mapping_serves_as_a_row_for_fields_computed_from_several_columns() -> None:
    found = row("SELECT 7 AS id, 1 AS flag, NULL AS decided_at")
    made = from_row(Sample, {**dict(found), "tags": ("a", "b")}, flag=bool)
    assert made == Sample(7, True, ("a", "b"), None)


class Color(Enum):
    RED = "red"


@dataclass(frozen=True)
class Declared:
    flag: bool
    tags: tuple[str, ...]
    decided_at: datetime | None
    color: Color
    note: str


def test_a_fields_declared_type_says_how_its_stored_value_is_read() -> None:
    sql = """SELECT 1 AS flag, '["a","b"]' AS tags_json, '2026-12-01T10:00:00+00:00' AS decided_at,
                    'red' AS color, '2026-12-01' AS note"""
    made = from_row(Declared, row(sql))
    assert made == Declared(True, ("a", "b"), datetime(2026, 12, 1, 10, tzinfo=UTC), Color.RED, "2026-12-01")
    assert type(made.flag) is bool and type(made.tags) is tuple


def test_a_named_converter_wins_over_the_declared_type() -> None:
    made = from_row(
        Declared,
        row("SELECT 0 AS flag, NULL AS tags_json, NULL AS decided_at, 'red' AS color, 'x' AS note"),
        note=str.upper,
    )
    assert made.note == "X" and made.flag is False and made.decided_at is None
