"""The matfold hub service: HTTP API under ``/services/matfold/``.

This is the skeleton the hub registers (health, OpenAPI, identity); projects,
materials, predictions, quotas and billing arrive with the hub-service issue.
Callers authenticate with a JupyterHub token (``Authorization: token ...``), checked
against the hub, so identities and groups are the hub's.
"""

from __future__ import annotations

import asyncio
import os

from fastapi import Depends, FastAPI

from .db import database_status, database_url
from .routes.deps import hub_user

__all__ = ["create_app", "PREFIX"]

#: Where JupyterHub's proxy routes the service.
PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/matfold/").rstrip("/")


def _hub_auth():
    if not os.environ.get("JUPYTERHUB_API_TOKEN"):
        return None
    from jupyterhub.services.auth import HubAuth

    return HubAuth(api_token=os.environ["JUPYTERHUB_API_TOKEN"], cache_max_age=60)


def create_app() -> FastAPI:
    """The FastAPI application (OpenAPI at ``{PREFIX}/openapi.json``)."""
    from matfold_kernel import __version__

    app = FastAPI(
        title="matfold service",
        version=__version__,
        description="Projects, materials, predictions, quotas and search for matfold.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.hub_auth = _hub_auth()
    app.state.sessionmaker = None
    url = database_url()
    if url:
        from .db import make_engine, make_sessionmaker, migrate

        migrate(url)  # migrations run on start
        app.state.sessionmaker = make_sessionmaker(make_engine(url))
    from .routes import billing, materials, projects, proteins, search, usage

    for module in (projects, materials, proteins, search, usage, billing):
        app.include_router(module.router, prefix=f"{PREFIX}/api")

    from fastapi.responses import JSONResponse
    from sqlalchemy.exc import DataError

    @app.exception_handler(DataError)
    async def _unstorable(request, exc: DataError):
        # Postgres refused a value the schema let through (NUL in text, out-of-range
        # number): the caller's input, so a 422 that says which rule it broke.
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return JSONResponse(status_code=422, content={"detail": f"a value cannot be stored: {reason}"})

    @app.get(f"{PREFIX}/health", summary="Is the service up, and its database?")
    async def health():
        db = await asyncio.to_thread(database_status)
        return {"status": "ok" if db.get("ok") else "degraded", "version": __version__,
                "database": db, "hub": app.state.hub_auth is not None}

    @app.get(f"{PREFIX}/whoami", summary="The hub user behind the token")
    async def whoami(user: dict = Depends(hub_user)):
        return {"name": user.get("name"), "kind": user.get("kind", "user"),
                "admin": bool(user.get("admin")), "groups": sorted(user.get("groups") or [])}

    return app
