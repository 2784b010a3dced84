"""Request-scoped dependencies: a database session and the calling user.

They refuse with :mod:`~matfold_services.problems` errors, answered by the one handler
of :mod:`matfold_services.errors` like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy.orm import Session

from ..access import HUB_RETRY_AFTER, caller_account
from ..models import User
from ..problems import Unauthorized, Unavailable

__all__ = ["db_session", "hub_user", "caller", "DbId", "MAX_ID", "MAX_TOKEN"]

#: Longest token accepted in ``Authorization`` (hub tokens are 32 hex digits or so).
MAX_TOKEN = 512

#: Largest row id (Postgres integer); larger ids in a path are a 422, not a 500.
MAX_ID = 2**31 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_ID, description="row id")]


def db_session(request: Request) -> Iterator[Session]:
    maker = request.app.state.sessionmaker
    if maker is None:
        raise Unavailable("the service has no database (DATABASE_URL is not set)")
    with maker() as session:
        yield session


async def hub_user(request: Request, authorization: str | None = Header(default=None)) -> dict:
    """The hub's model of the caller (JupyterHub token in ``Authorization``)."""
    auth = request.app.state.hub_auth
    if auth is None:
        raise Unavailable("this service runs outside a JupyterHub: no one can log in")
    if not authorization:
        raise Unauthorized("send a JupyterHub token: 'Authorization: token <token>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() not in ("token", "bearer") or not token:
        raise Unauthorized("the Authorization header must be 'token <token>'")
    if len(token) > MAX_TOKEN or not (token.isascii() and token.isprintable()) or " " in token:
        raise Unauthorized(f"a hub token is printable ASCII without spaces, at most {MAX_TOKEN} characters")
    try:
        model = await auth.user_for_token(token, sync=False)
    except Exception:  # the hub is down or answered oddly: the caller may retry, it is not their fault
        raise Unavailable("the hub cannot check tokens right now; retry", retry_after=HUB_RETRY_AFTER) from None
    if not model or model.get("kind", "user") != "user":
        raise Unauthorized("the hub does not know this token as a user's (expired or revoked?)")
    return model


def caller(model: dict = Depends(hub_user), session: Session = Depends(db_session)) -> User:
    """The caller's row in the service's database (of this hub account, not just this name)."""
    user = caller_account(session, model)
    session.commit()
    return user
