"""The matfold hub service: HTTP API under ``/services/matfold/``.

This is the skeleton the hub registers (health, OpenAPI, identity); projects,
materials, predictions, quotas and billing arrive with the hub-service issue.
Callers authenticate with a JupyterHub token (``Authorization: token ...``), checked
against the hub, so identities and groups are the hub's.
"""

from __future__ import annotations

import asyncio
import os

from fastapi import Depends, FastAPI, Header, HTTPException

from .database import database_status

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
    auth = _hub_auth()

    async def current_user(authorization: str | None = Header(default=None)) -> dict:
        if auth is None:
            raise HTTPException(503, "this service runs outside a JupyterHub: no one can log in")
        if not authorization:
            raise HTTPException(401, "send a JupyterHub token: 'Authorization: token <token>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token.strip():
            raise HTTPException(401, "the Authorization header must be 'token <token>'")
        model = await auth.user_for_token(token.strip(), sync=False)
        if not model:
            raise HTTPException(401, "the hub does not know this token (expired or revoked?)")
        return model

    @app.get(f"{PREFIX}/health", summary="Is the service up, and its database?")
    async def health():
        db = await asyncio.to_thread(database_status)
        return {"status": "ok" if db.get("ok") else "degraded", "version": __version__,
                "database": db, "hub": auth is not None}

    @app.get(f"{PREFIX}/whoami", summary="The hub user behind the token")
    async def whoami(user: dict = Depends(current_user)):
        return {"name": user.get("name"), "kind": user.get("kind", "user"),
                "admin": bool(user.get("admin")), "groups": sorted(user.get("groups") or [])}

    return app
