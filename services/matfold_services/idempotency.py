"""``Idempotency-Key``: a retried create answers what the first one did, and creates nothing.

A client that lost the answer to a create (a crash, a cut connection) cannot know
whether it was committed; it retries with the same key. Routes that create rows take
the :func:`idempotency` dependency and end with :meth:`Idempotency.commit`:

1. before the work, ``(user, key)`` is inserted into ``idempotency_keys`` in the
   request's transaction. A concurrent duplicate blocks on the unique index until the
   first commits (then it replays the stored answer) or rolls back (then it does the work);
2. the answer (status and JSON body) is written to that row and committed *with* the
   created rows, so there is never a committed create without its stored answer;
3. the same key with another method, path or body is refused (422) naming the first request.

Failed requests store nothing (their transaction rolls back), so a retry after a 4xx or
5xx runs again. Keys are kept :data:`KEEP_HOURS` hours (:func:`purge`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .models import IdempotentRequest, User
from .problems import Conflict, Invalid
from .routes.deps import caller, db_session

__all__ = ["HEADER", "MAX_KEY", "KEEP_HOURS", "Replay", "Idempotency", "idempotency", "purge"]

HEADER = "Idempotency-Key"
#: Longest key accepted (characters, printable ASCII).
MAX_KEY = 200
#: How long a key's answer is kept (hours).
KEEP_HOURS = 24


class Replay(Exception):
    """The stored answer of an earlier request with the same key (sent back as it was)."""

    def __init__(self, status: int, body):
        self.status, self.body = status, body
        super().__init__(f"replay of a {status} answer")


def fingerprint(method: str, target: str, body: bytes) -> str:
    """SHA-256 of the request: method, path with query, and the body as canonical JSON."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except ValueError:
        canonical = body
    return hashlib.sha256(f"{method} {target}\n".encode() + canonical).hexdigest()


@dataclass
class Idempotency:
    """The key of one request (None: the client sent none) and its claimed row."""

    session: Session
    user_id: int
    key: str | None
    fingerprint: str = ""
    request: str = ""
    row_id: int | None = None

    def claim(self) -> None:
        """Take the key for this request, or raise :class:`Replay`, :class:`Invalid` (the key
        was used for another request) or :class:`Conflict` (its first request still runs)."""
        if self.key is None:
            return
        self.row_id = self.session.execute(
            insert(IdempotentRequest).values(user_id=self.user_id, key=self.key, fingerprint=self.fingerprint,
                                             request=self.request)
            .on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(IdempotentRequest.id)).scalar()
        if self.row_id is not None:
            return
        first = self.session.scalars(select(IdempotentRequest).where(
            IdempotentRequest.user_id == self.user_id, IdempotentRequest.key == self.key)).one()
        self.session.rollback()
        if first.fingerprint != self.fingerprint:
            raise Invalid(f"{HEADER} {self.key!r} was already used for another request "
                          f"({first.request} with other content); send a fresh key with each new request")
        if first.status is None:
            raise Conflict(f"the request with {HEADER} {self.key!r} is still being processed; retry")
        raise Replay(first.status, first.response)

    def commit(self, status: int, answer: Callable[[], object]):
        """Flush the work, store ``answer()`` under the key, commit both; returns the answer."""
        self.session.flush()
        body = jsonable_encoder(answer())
        if self.row_id is not None:
            self.session.execute(update(IdempotentRequest).where(IdempotentRequest.id == self.row_id)
                                 .values(status=status, response=body))
        self.session.commit()
        return body


async def idempotency(request: Request, user: User = Depends(caller), session: Session = Depends(db_session),
                      key: str | None = Header(default=None, alias=HEADER,
                                               description="any unique string (<= 200 ASCII characters) per "
                                                           "create: a retry with the same key creates nothing "
                                                           "and gets the first answer")) -> Idempotency:
    """The request's :class:`Idempotency`, its key claimed (a route dependency)."""
    if key is not None and (not key or len(key) > MAX_KEY or not (key.isascii() and key.isprintable())):
        raise Invalid(f"{HEADER} must be 1 to {MAX_KEY} printable ASCII characters "
                      f"(got {min(len(key), 10**6)} characters)")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # without a key nothing is compared: skip re-reading and hashing the body
    fp = fingerprint(request.method, target, await request.body()) if key is not None else ""
    idem = Idempotency(session, user.id, key, fp, f"{request.method} {target}"[:300])
    await run_in_threadpool(idem.claim)
    return idem


def purge(session: Session, hours: float = KEEP_HOURS) -> int:
    """Delete keys older than `hours`; returns how many. The caller commits."""
    cutoff = datetime.now(timezone.utc) - timedelta(hours=hours)
    return session.execute(delete(IdempotentRequest).where(IdempotentRequest.created_at < cutoff)).rowcount
