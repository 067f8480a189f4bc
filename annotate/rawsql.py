"""SQL written once for the statements every rating makes, and its rows as model instances.

The ORM builds and compiles each query anew on every call, and on the next-clip, audio
and rating requests that cost more CPU than PostgreSQL spends running them (about 0.5 ms
a query, bench.load). Those statements are written once in SQL that PostgreSQL and SQLite
both run (annotate.access, annotate.selectors.rater_progress, annotate.services.assignments
and .ratings, annotate.learning.settle); their rows become instances through the same
field converters and `Model.from_db` the ORM uses, so a caller cannot tell them apart
from the ORM's.
"""

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]
Converters = tuple[tuple[int, tuple[Converter, ...], Any], ...]
Row = tuple[Any, ...]
Statement = tuple[str, list[Any]]  # SQL and its parameters


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def columns(model: type[Model], alias: str) -> str:
    """Every concrete column of the model, in field order, as `alias."column"`."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


@cache
def _converters(vendor: str, model: type[Model]) -> Converters:
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


def fetch_sets(statements: Sequence[Statement]) -> list[list[Row]]:
    """Each SELECT's rows, the statements run in order: in one round trip on PostgreSQL
    (psycopg's pipeline mode, each statement bound on the server and so prepared once it
    recurs, see config.env), one by one elsewhere. Every statement must return rows. The
    queries log shows a pipelined batch as one entry, as it reaches the server."""
    if connection.vendor != "postgresql":
        sets = []
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                sets.append(cursor.fetchall())
        return sets
    with connection.cursor() as logged, contextlib.ExitStack() as stack:
        raw = connection.connection
        cursors = [stack.enter_context(raw.cursor()) for _ in statements]
        if hasattr(logged, "debug_sql"):  # queries are logged (DEBUG, or a test counting)
            stack.enter_context(
                logged.debug_sql(
                    ";\n".join(sql for sql, _ in statements),
                    [value for _, params in statements for value in params],
                )
            )
        with connection.wrap_database_errors, raw.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
            return [cursor.fetchall() for cursor in cursors]


def fetchone(sql: str, params: Sequence[Any]) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def update_from_values(
    model: type[Model],
    columns_types: dict[str, str],
    rows: list[tuple],
    *,
    skip_locked: bool = False,
) -> int:
    """UPDATE the model's rows in one statement: each row is (id, *values) in the order of
    `columns_types` ({column: SQL type to cast to}). What bulk_update does, without the
    ORM building a CASE expression per row on every call. `skip_locked`: rows another
    transaction has locked are left as they are (where the database locks rows), instead
    of waiting for it while holding the others. Returns how many rows it updated."""
    if not rows:
        return 0
    skip = ""
    if skip_locked and connection.features.has_select_for_update_skip_locked:
        ids = ", ".join(["%s"] * len(rows))
        unlocked = f"SELECT id FROM {table(model)} WHERE id IN ({ids}) FOR UPDATE SKIP LOCKED"
        skip = f" AND {table(model)}.id IN ({unlocked})"
    row_sql = "(" + ", ".join(["%s"] * (len(columns_types) + 1)) + ")"
    values = ", ".join([row_sql] * len(rows))
    sets = ", ".join(
        f"{name} = CAST(v.column{i} AS {sql_type})"
        for i, (name, sql_type) in enumerate(columns_types.items(), start=2)
    )
    params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(model)} SET {sets} FROM (VALUES {values}) AS v "
            f"WHERE {table(model)}.id = v.column1{skip}",
            params + ([row[0] for row in rows] if skip else []),
        )
        return cursor.rowcount
