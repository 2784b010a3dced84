"""Request-scoped dependencies: a database session and the calling user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request
from sqlalchemy.orm import Session

from ..access import user_for
from ..models import User

__all__ = ["db_session", "hub_user", "caller", "DbId", "MAX_ID"]

#: Largest row id (Postgres integer); larger ids in a path are a 422, not a 500.
MAX_ID = 2**31 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_ID, description="row id")]


def db_session(request: Request) -> Iterator[Session]:
    maker = request.app.state.sessionmaker
    if maker is None:
        raise HTTPException(503, "the service has no database (DATABASE_URL is not set)")
    with maker() as session:
        yield session


async def hub_user(request: Request, authorization: str | None = Header(default=None)) -> dict:
    """The hub's model of the caller (JupyterHub token in ``Authorization``)."""
    auth = request.app.state.hub_auth
    if auth is None:
        raise HTTPException(503, "this service runs outside a JupyterHub: no one can log in")
    if not authorization:
        raise HTTPException(401, "send a JupyterHub token: 'Authorization: token <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise HTTPException(401, "the Authorization header must be 'token <token>'")
    model = await auth.user_for_token(token.strip(), sync=False)
    if not model or model.get("kind", "user") != "user":
        raise HTTPException(401, "the hub does not know this token as a user's (expired or revoked?)")
    return model


def caller(model: dict = Depends(hub_user), session: Session = Depends(db_session)) -> User:
    """The caller's row in the service's database."""
    user = user_for(session, model["name"])
    session.commit()
    return user
