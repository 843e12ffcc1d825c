"""Plain multi-row SQL for the hot paths (a save, a batch of attempts): one statement with its
values prepared by the model's own fields, without the ORM's per-query compilation."""
from django.db import connection


def values_sql(model, names: tuple, instances: list, *, event_column: bool = False) -> tuple[str, list]:
    """`(columns) VALUES (…), (…)` with values prepared by the model's fields.

    With `event_column`, the event_id column is taken from the CTE `e` instead (PostgreSQL):
    `(columns) SELECT … FROM e, (VALUES …) AS v`, so nothing is inserted when `e` is empty.
    """
    fields = [model._meta.get_field(name) for name in names]
    if event_column:
        fields = [f for f in fields if f.attname != "event_id"]
    values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in instances for f in fields]
    row = f"({', '.join(['%s'] * len(fields))})"
    rows = ", ".join([row] * len(instances))
    columns = [f.column for f in fields]
    if not event_column:
        return f"({', '.join(columns)}) VALUES {rows}", values
    casts = [f"v.{c}::{f.db_type(connection)}" for f, c in zip(fields, columns)]
    return (
        f"(event_id, {', '.join(columns)}) SELECT e.id, {', '.join(casts)} FROM e, (VALUES {rows}) AS v({', '.join(columns)})",
        values,
    )


def insert_rows(model, names: tuple, instances: list, *, suffix: str = "") -> list:
    """One INSERT of `instances`; returns the RETURNING rows."""
    sql, values = values_sql(model, names, instances)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} {sql} {suffix}", values)
        returned = cursor.fetchall() if "RETURNING" in suffix else []
    for obj in instances:
        obj._state.adding, obj._state.db = False, connection.alias
    return returned


_CONVERTERS: dict = {}


def _converters(model) -> list:
    """Per column of `model`: what turns the database's value into the field's (SQLite's text
    UUIDs and times, JSON, decrypted secrets…), as the ORM's compiler would apply them."""
    key = (connection.vendor, model)
    if key not in _CONVERTERS:
        table = model._meta.db_table
        _CONVERTERS[key] = [
            (column, [*connection.ops.get_db_converters(field.get_col(table)), *field.get_db_converters(connection)], field.get_col(table))
            for column, field in enumerate(model._meta.concrete_fields)
        ]
        _CONVERTERS[key] = [entry for entry in _CONVERTERS[key] if entry[1]]
    return _CONVERTERS[key]


def instances(model, rows) -> list:
    """Model instances from rows holding every concrete column in field order — what a query
    set would build, without its machinery (for queries that run on every batch)."""
    converters = _converters(model)
    built = []
    for row in rows:
        if converters:
            row = list(row)
            for column, functions, expression in converters:
                for function in functions:
                    row[column] = function(row[column], expression, connection)
        built.append(model.from_db(connection.alias, None, row))
    return built


def columns(model) -> str:
    """Every concrete column of `model`, in field order (what `instances` expects)."""
    return ", ".join(field.column for field in model._meta.concrete_fields)
