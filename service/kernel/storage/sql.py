"""SQL helpers every area's storage shares: integrity errors as ``DuplicateError``, timestamps
as each dialect stores them, and bulk writes through the driver for the fast paths."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.kernel.ports import DuplicateError

#: Unique violations as SQLAlchemy reports them, and as the drivers do on the bulk paths.
_INTEGRITY_ERRORS = (IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)


@contextmanager
def translate_integrity(session: Session, default: str) -> Iterator[None]:
    """Turn a unique-constraint violation into the port's DuplicateError."""
    try:
        yield
    except _INTEGRITY_ERRORS as exc:
        message = str(getattr(exc, "orig", None) or exc).lower()
        constraint = default
        for name in (
            "idempotency_keys",
            "serial",
            "organisations",
            "dedupe_key",
            "gtin",
            "product_id",
            "sscc",
        ):
            if name in message:
                constraint = name
        raise DuplicateError(constraint) from exc


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _sqlite_timestamp(at: datetime | None) -> Any:
    return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _same(at: datetime | None) -> Any:
    return at


def timestamp_writer(session: Session) -> Callable[[datetime | None], Any]:
    """How :func:`bulk_insert` and :func:`bulk_execute` must pass timestamps: PostgreSQL's
    driver takes aware datetimes, SQLite gets SQLAlchemy's own text form (in UTC)."""
    return _same if dialect(session) == "postgresql" else _sqlite_timestamp


def db_timestamp(session: Session, at: datetime | None) -> Any:
    """One timestamp as :func:`timestamp_writer` would pass it."""
    return timestamp_writer(session)(at)


def bulk_execute(session: Session, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run one statement (``?`` placeholders) over many rows through the driver, inside the
    session's transaction after flushing it: SQLAlchemy's own ``executemany`` spends more time
    preparing each row's parameters than the database spends on it. Values go as the driver
    takes them: timestamps through :func:`timestamp_writer`, JSON as text."""
    if not rows:
        return
    session.flush()
    driver = session.connection().connection.driver_connection
    if dialect(session) == "postgresql":
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            cursor.executemany(sql.replace("?", "%s"), rows)
        return
    driver.executemany(sql, rows)  # type: ignore[union-attr]


def driver_execute(
    session: Session, sql: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    """Run one statement (``?`` placeholders) once through the driver, inside the session's
    transaction after flushing it, and return the driver's rows (none for a plain write).
    For the few statements of every scan: SQLAlchemy's compile-cache lookup, parameter
    processing and result wrapping cost more CPU than the database's work. Values go and come
    as the driver takes them (timestamps through :func:`timestamp_writer`)."""
    session.flush()
    driver = session.connection().connection.driver_connection
    if dialect(session) == "postgresql":
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(sql.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description is not None else []
    cursor = driver.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    finally:
        cursor.close()


def bulk_insert(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert many rows inside the session's transaction, as fast as the dialect allows.

    PostgreSQL takes them through ``COPY ... FROM STDIN``; SQLite through the driver's
    ``executemany`` (one prepared statement). Either way nothing commits here.
    """
    if not rows:
        return
    session.flush()
    driver = session.connection().connection.driver_connection
    names = ", ".join(columns)
    if dialect(session) == "postgresql":
        with (
            driver.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    driver.executemany(  # type: ignore[union-attr]
        f"INSERT INTO {table} ({names}) VALUES ({marks})", rows
    )
