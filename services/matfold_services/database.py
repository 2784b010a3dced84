"""The service's Postgres: ``DATABASE_URL`` (``matfold hub`` starts an embedded one)."""

from __future__ import annotations

import os

__all__ = ["database_url", "database_status"]


def database_url() -> str:
    """``$DATABASE_URL``, or empty when the service runs without a database."""
    return os.environ.get("DATABASE_URL", "")


def database_status(url: str | None = None) -> dict:
    """Connect, make sure pgvector is there, report versions.

    Returns
    -------
    dict
        ``{"ok": bool, "postgres": str, "pgvector": str}`` or ``{"ok": False, "error": ...}``.
    """
    url = database_url() if url is None else url
    if not url:
        return {"ok": False, "error": "DATABASE_URL is not set"}
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            version = conn.execute("SHOW server_version").fetchone()[0]
            vector = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()[0]
    except psycopg.Error as exc:
        return {"ok": False, "error": str(exc).strip().splitlines()[0]}
    return {"ok": True, "postgres": version, "pgvector": vector}
