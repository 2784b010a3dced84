"""Request-scoped dependencies: a database session and the calling user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request
from sqlalchemy.orm import Session

from ..access import StaleAccount, user_for
from ..models import User

__all__ = ["db_session", "hub_user", "caller", "DbId", "MAX_ID", "MAX_TOKEN"]

#: Longest token accepted in ``Authorization`` (hub tokens are 32 hex digits or so).
MAX_TOKEN = 512

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
    token = token.strip()
    if scheme.lower() not in ("token", "bearer") or not token:
        raise HTTPException(401, "the Authorization header must be 'token <token>'")
    if len(token) > MAX_TOKEN or not (token.isascii() and token.isprintable()) or " " in token:
        raise HTTPException(401, f"a hub token is printable ASCII without spaces, at most {MAX_TOKEN} characters")
    try:
        model = await auth.user_for_token(token, sync=False)
    except Exception:  # the hub is down or answered oddly: the caller may retry, it is not their fault
        raise HTTPException(503, "the hub cannot check tokens right now; retry", headers={"Retry-After": "2"}) from None
    if not model or model.get("kind", "user") != "user":
        raise HTTPException(401, "the hub does not know this token as a user's (expired or revoked?)")
    return model


def caller(model: dict = Depends(hub_user), session: Session = Depends(db_session)) -> User:
    """The caller's row in the service's database (of this hub account, not just this name)."""
    from ..identity import HubUnavailable, UnknownHubUser, account_created, parse_created

    name = model["name"]
    try:
        created = parse_created(model.get("created")) or account_created(name)
    except UnknownHubUser:
        raise HTTPException(401, f"the hub has no user {name!r} any more (deleted?)") from None
    except HubUnavailable:
        raise HTTPException(503, "the hub cannot confirm who you are right now; retry",
                            headers={"Retry-After": "2"}) from None
    try:
        user = user_for(session, name, created)
    except StaleAccount:
        session.rollback()
        raise HTTPException(401, f"this token belongs to a deleted account named {name!r}") from None
    session.commit()
    return user
