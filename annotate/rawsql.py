"""Rows of hand-written SQL as model instances, for the few reads every rating makes.

The ORM builds and compiles each query anew on every call, and on the next-clip, audio
and rating requests that cost more CPU than PostgreSQL spends running them (about 0.5 ms
a query, bench.load). Those reads are written once in SQL that PostgreSQL and SQLite both
run (annotate.access, annotate.selectors.rater_progress); their rows become instances
through the same field converters and `Model.from_db` the ORM uses, so a caller cannot
tell them apart from the ORM's.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]
Converters = tuple[tuple[int, tuple[Converter, ...], Any], ...]


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def columns(model: type[Model], alias: str) -> str:
    """Every concrete column of the model, in field order, as `alias."column"`."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


@cache
def _converters(
    vendor: str, model: type[Model]
) -> tuple[tuple[int, tuple[Converter, ...], Any], ...]:
    """Per column that needs one, the converters the ORM would apply to its values."""
    out = []
    for i, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(model._meta.db_table)
        found = tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))
        if found:
            out.append((i, found, col))
    return tuple(out)


def instance(model: type[M], row: Sequence[Any], start: int = 0) -> M:
    """The instance whose columns (as `columns` lists them) begin at row[start]."""
    fields = model._meta.concrete_fields
    values = list(row[start : start + len(fields)])
    for i, converters, col in _converters(connection.vendor, model):
        for convert in converters:
            values[i] = convert(values[i], col, connection)
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def instance_value(model: type[Model], field_name: str, value: Any) -> Any:
    """One column's value as the ORM gives it (a SQLite datetime is text until converted)."""
    field = model._meta.get_field(field_name)
    col = field.get_col(model._meta.db_table)  # type: ignore[union-attr]
    for convert in connection.ops.get_db_converters(col) + col.get_db_converters(connection):
        value = convert(value, col, connection)
    return value


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def when(moment: datetime) -> Any:
    """A datetime as a query parameter, as the ORM would pass it on this database."""
    return connection.ops.adapt_datetimefield_value(moment)


def fetchone(sql: str, params: Sequence[Any]) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
