"""Schema migrations, applied in order at start-up. Each file in store/sql/migrations is one
version; the applied versions are recorded in `schema_migrations`."""

from __future__ import annotations

import contextlib
import sqlite3
from importlib import resources

from sagepipe.store.db import Database, PostgresDatabase, SqliteDatabase

_TYPES = {
    "sqlite": {
        "serial_pk": "INTEGER PRIMARY KEY",
        "real": "REAL",
        "json_array": "json_array",
        "job_arn_of_attempt": "json_extract(job, '$.arn')",
        "scope_of_job_arn": "substr(job_arn, 1, instr(job_arn, '/') - 1)",
    },
    "postgres": {
        "serial_pk": "BIGSERIAL PRIMARY KEY",
        "real": "DOUBLE PRECISION",
        "json_array": "json_build_array",
        "job_arn_of_attempt": "(job::json ->> 'arn')",
        "scope_of_job_arn": "split_part(job_arn, '/', 1)",
    },
}


def migration_files() -> list[tuple[int, str]]:
    folder = resources.files("sagepipe.store").joinpath("sql", "migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def render(text: str, dialect: str) -> list[str]:
    for key, value in _TYPES[dialect].items():
        text = text.replace("{" + key + "}", value)
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migrate(db: Database) -> list[int]:
    """Apply pending migrations; returns the versions applied now."""
    if isinstance(db, SqliteDatabase):
        return _migrate_sqlite(db)
    assert isinstance(db, PostgresDatabase)
    return _migrate_postgres(db)


def _migrate_sqlite(db: SqliteDatabase) -> list[int]:
    with contextlib.closing(db.connect()) as conn:
        return _migrate_sqlite_on(conn)


def _migrate_sqlite_on(conn: sqlite3.Connection) -> list[int]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for version, text in migration_files():
            if version in done:
                continue
            for statement in render(text, "sqlite"):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
            applied.append(version)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return applied


def _migrate_postgres(db: PostgresDatabase) -> list[int]:
    with db._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        # Several servers may start at once against one database: one migrates, others wait.
        cur.execute("SELECT pg_advisory_xact_lock(7420115)")
        cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
        cur.execute("SELECT version FROM schema_migrations")
        done = {row["version"] for row in cur.fetchall()}  # type: ignore[call-overload]
        applied = []
        for version, text in migration_files():
            if version in done:
                continue
            for statement in render(text, "postgres"):
                cur.execute(statement)
            cur.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied
