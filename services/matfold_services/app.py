"""The matfold service: HTTP API under ``/services/matfold/``.

Projects, materials, proteins, predictions, similarity search, quotas and billing,
plus health, OpenAPI and identity. Callers authenticate with a token
(``Authorization: token ...``) that ``app.state.hub_auth`` turns into a user: in a hub
JupyterHub's ``HubAuth`` (identities and groups are the hub's); in the laptop store,
which runs this service as a child of the kernel, :class:`~matfold_services.localauth.LocalTokenAuth`
(one user, one token).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os

from fastapi import Depends, FastAPI

from .db import database_status, database_url
from .routes.deps import hub_user

__all__ = ["create_app", "PREFIX", "TOKEN_CACHE_SECONDS", "SWEEP_SECONDS", "DISTRIBUTION", "version"]

#: The distribution (``[project] name`` in pyproject.toml) whose version the service reports.
DISTRIBUTION = "matfold"

#: Where JupyterHub's proxy routes the service.
PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/matfold/").rstrip("/")
#: Seconds the hub's answer about a token is trusted: a revoked token or a deleted user is
#: refused at most this long after the hub forgets it (4, so that with polling and the
#: request in flight the refusal lands within the 5 s promised).
TOKEN_CACHE_SECONDS = 4
#: Seconds between sweeps of deleted hub accounts (``MATFOLD_SERVICE_SWEEP_SECONDS``; 0: never).
SWEEP_SECONDS = 60.0
log = logging.getLogger("matfold_services")


def version() -> str:
    """The installed version of :data:`DISTRIBUTION`, or ``0+unknown`` when it is not installed."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _hub_auth():
    if not os.environ.get("JUPYTERHUB_API_TOKEN"):
        return None
    from jupyterhub.services.auth import HubAuth

    return HubAuth(api_token=os.environ["JUPYTERHUB_API_TOKEN"], cache_max_age=TOKEN_CACHE_SECONDS)


def _auth_mode(auth) -> str:
    """``hub``, ``local`` (one user, see :mod:`.localauth`) or ``none`` (nobody can log in)."""
    return "none" if auth is None else getattr(auth, "mode", "hub")


def _housekeeping(maker) -> dict:
    """One round: detach deleted hub accounts (inside a hub) and forget old idempotency keys."""
    from . import identity
    from .idempotency import purge

    result = {}
    with maker() as session:
        result["purged_keys"] = purge(session)
        if identity.hub_api() is not None:
            result.update(identity.sweep(session))
        session.commit()
    return result


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    try:
        period = float(os.environ.get("MATFOLD_SERVICE_SWEEP_SECONDS", SWEEP_SECONDS))
    except ValueError:
        log.warning("MATFOLD_SERVICE_SWEEP_SECONDS=%r is not a number of seconds; using %s",
                    os.environ["MATFOLD_SERVICE_SWEEP_SECONDS"], SWEEP_SECONDS)
        period = SWEEP_SECONDS

    async def loop():
        while True:
            try:
                result = await asyncio.to_thread(_housekeeping, app.state.sessionmaker)
                if result.get("detached"):
                    log.info("detached deleted hub accounts: %s", ", ".join(result["detached"]))
            except Exception as exc:  # the hub or the database is away: try next round
                log.warning("housekeeping skipped: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            await asyncio.sleep(period)

    task = asyncio.create_task(loop()) if period > 0 and app.state.sessionmaker is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_app(auth=None) -> FastAPI:
    """The FastAPI application (OpenAPI at ``{PREFIX}/openapi.json``).

    Parameters
    ----------
    auth : object, optional
        What turns a token into a user (``await auth.user_for_token(token)``); default:
        JupyterHub's ``HubAuth`` when ``JUPYTERHUB_API_TOKEN`` is set, else nobody can log in.
    """
    __version__ = version()
    app = FastAPI(
        title="matfold service",
        version=__version__,
        description="Projects, materials, predictions, quotas and search for matfold.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.hub_auth = auth if auth is not None else _hub_auth()
    app.state.sessionmaker = None
    url = database_url()
    if url:
        from .db import make_engine, make_sessionmaker, migrate

        migrate(url)  # migrations run on start
        app.state.sessionmaker = make_sessionmaker(make_engine(url))
    from .routes import billing, materials, projects, proteins, search, usage

    for module in (projects, materials, proteins, search, usage, billing):
        app.include_router(module.router, prefix=f"{PREFIX}/api")

    from . import errors
    from .guard import RequestGuard

    errors.install(app)
    app.add_middleware(RequestGuard, api_prefix=f"{PREFIX}/api")

    @app.get(f"{PREFIX}/health", summary="Is the service up, and its database?")
    async def health():
        db = await asyncio.to_thread(database_status)
        return {"status": "ok" if db.get("ok") else "degraded", "version": __version__,
                "database": db, "auth": _auth_mode(app.state.hub_auth),
                "hub": _auth_mode(app.state.hub_auth) == "hub"}

    @app.get(f"{PREFIX}/whoami", summary="The hub user behind the token")
    async def whoami(user: dict = Depends(hub_user)):
        return {"name": user.get("name"), "kind": user.get("kind", "user"),
                "admin": bool(user.get("admin")), "groups": sorted(user.get("groups") or [])}

    return app
