"""Thousands of rows in one bound parameter: a JSON array the database unpacks itself.

An executemany of 100,000 rows has SQLAlchemy process every value of every row in Python (types, datetimes,
JSON): most of a reminder round's time (bench/fanout.py). Sent as one JSON text, the rows cost one
json.dumps, and the database's JSON functions (SQLite's json_each, PostgreSQL's json_array_elements) turn
them back into rows for an INSERT ... SELECT.
"""
from __future__ import annotations

import json

from sqlalchemy import JSON, ColumnElement, String, TableValuedAlias, cast, func, literal
from sqlmodel.ext.asyncio.session import AsyncSession


def json_rows(session: AsyncSession, rows: list[list]) -> TableValuedAlias:
    """A FROM clause of the `rows`, each a JSON array in the column `value` (read with `field`)."""
    data = literal(json.dumps(rows, ensure_ascii=False, separators=(",", ":")), String)
    if _postgresql(session):
        return func.json_array_elements(cast(data, JSON)).table_valued("value")
    return func.json_each(data).table_valued("value")


def field(session: AsyncSession, rows: TableValuedAlias, index: int, as_json: bool = False) -> ColumnElement:
    """Element `index` of each row: as text, or `as_json` (an object for a JSON column)."""
    if _postgresql(session):
        return rows.c.value.op("->" if as_json else "->>")(index)
    return func.json_extract(rows.c.value, f"$[{index}]")  # an object comes out as its JSON text


def _postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
