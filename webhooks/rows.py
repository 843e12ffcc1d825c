"""Plain multi-row SQL for the hot paths (a save, a batch of attempts): one statement with its
values prepared by the model's own fields, without the ORM's per-query compilation."""
import datetime as dt
import functools
import uuid

from django.db import connection, models

# On PostgreSQL the preparation of these exact field classes (a subclass may encrypt) returns
# values of these types unchanged (psycopg2 adapts them; Django registers UUIDs), so the hot
# paths pass them as they are and prepare only the rest: JSON, encrypted secrets, enum members,
# naive times, and everything on SQLite.
_NONE = type(None)
_PASSED_AS_IS = {
    models.IntegerField: (int, _NONE), models.PositiveIntegerField: (int, _NONE),
    models.PositiveSmallIntegerField: (int, _NONE), models.SmallIntegerField: (int, _NONE),
    models.BigIntegerField: (int, _NONE), models.BooleanField: (bool, _NONE), models.CharField: (str, _NONE),
    models.TextField: (str, _NONE), models.UUIDField: (uuid.UUID, _NONE), models.DateTimeField: (dt.datetime, _NONE),
    models.ForeignKey: (uuid.UUID, _NONE),
}


def _prepared(field, plain: tuple, value):
    if type(value) in plain and getattr(value, "tzinfo", True) is not None:  # aware times only
        return value
    return field.get_db_prep_save(value, connection)


def values_sql(model, names: tuple, instances: list) -> tuple[str, list]:
    """`(columns) VALUES (…), (…)` with values prepared by the model's fields."""
    fields = [model._meta.get_field(name) for name in names]
    postgresql = connection.vendor == "postgresql"
    plain = [_PASSED_AS_IS.get(type(f), ()) if postgresql else () for f in fields]
    prepare = list(zip(fields, plain))
    values = [_prepared(f, types, getattr(obj, f.attname)) for obj in instances for f, types in prepare]
    row = f"({', '.join(['%s'] * len(fields))})"
    return f"({', '.join(f.column for f in fields)}) VALUES {', '.join([row] * len(instances))}", values


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
    """Per column of `model` that needs it: what turns the database's value into the field's
    (SQLite's text UUIDs and times, JSON, decrypted secrets…), as the ORM's compiler would."""
    key = (connection.vendor, model)
    if key not in _CONVERTERS:
        table, entries = model._meta.db_table, []
        for column, field in enumerate(model._meta.concrete_fields):
            expression = field.get_col(table)
            functions = [*connection.ops.get_db_converters(expression), *field.get_db_converters(connection)]
            if functions:
                entries.append((column, functions, expression))
        _CONVERTERS[key] = entries
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


@functools.cache
def columns(model) -> str:
    """Every concrete column of `model`, in field order (what `instances` expects)."""
    return ", ".join(field.column for field in model._meta.concrete_fields)
