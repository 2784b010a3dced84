"""Engines, sessions and migrations of the service's Postgres."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

__all__ = ["sqlalchemy_url", "make_engine", "make_sessionmaker", "migrate", "alembic_config"]

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
