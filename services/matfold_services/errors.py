"""How errors become answers: the sender's 4xx, the database's 503, never an echo.

- A :class:`~matfold_services.problems.ServiceError` raised anywhere below a route
  (domain code, a dependency) is answered by one handler: its ``status``,
  ``{"detail": message}`` and ``Retry-After`` when it gives one. The library's
  :class:`~matfold_kernel.errors.MatfoldInputError` (input matfold cannot use) is a 422
  the same way.
- A request that fails validation gets 422 with each error's place (``loc``), message
  and type, clipped and made encodable; the offending input is never sent back (the
  default handler echoed it, and could not encode a lone surrogate or NaN: a 500).
- The database being down (connection refused or lost, pool exhausted, a
  serialization failure) is a 503 ``{"detail": "the database is unavailable; retry"}``
  with ``Retry-After: 2``; the engine's ``pool_pre_ping`` reconnects once it is back.
- A value Postgres refuses (NUL in text, a number out of range) is a 422; two requests
  racing for one unique row (IntegrityError) a 409.
- A stored :class:`~matfold_services.idempotency.Replay` is sent back as it was.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from matfold_kernel.errors import MatfoldInputError

from .idempotency import Replay
from .problems import ServiceError

__all__ = ["install", "answer", "DATABASE_DOWN", "RETRY_AFTER", "MAX_ERRORS", "clean_errors"]

DATABASE_DOWN = "the database is unavailable; retry"
#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER = 2
#: Validation errors listed in one answer (the rest are counted).
MAX_ERRORS = 20


def _text(value, limit: int = 200) -> str:
    text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "..."


def clean_errors(errors) -> list[dict]:
    """Pydantic errors without ``input``/``ctx``: ``loc`` (clipped), ``msg``, ``type``."""
    cleaned = []
    for error in list(errors)[:MAX_ERRORS]:
        loc = [p if isinstance(p, int) else _text(p, 64) for p in list(error.get("loc") or ())[:10]]
        cleaned.append({"loc": loc, "msg": _text(error.get("msg", "invalid")),
                        "type": _text(error.get("type", ""), 64)})
    if len(errors) > MAX_ERRORS:
        cleaned.append({"loc": [], "msg": f"and {len(errors) - MAX_ERRORS} more errors", "type": "too_many_errors"})
    return cleaned


def _unavailable(exc: Exception) -> bool:
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def answer(exc: Exception) -> JSONResponse:
    """The HTTP answer to a :class:`ServiceError` or a ``MatfoldInputError`` (422)."""
    if isinstance(exc, ServiceError):
        return JSONResponse(status_code=exc.status, content={"detail": exc.detail}, headers=exc.headers)
    return JSONResponse(status_code=422, content={"detail": str(exc)})


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(ServiceError)
    @app.exception_handler(MatfoldInputError)
    async def _refused(request: Request, exc: Exception):
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": clean_errors(exc.errors())})

    @app.exception_handler(sa_exc.DBAPIError)
    async def _database(request: Request, exc: sa_exc.DBAPIError):
        if isinstance(exc, sa_exc.DataError):
            # Postgres refused a value the schema let through (NUL in text, out-of-range
            # number): the caller's input, so a 422 that says which rule it broke.
            reason = _text(str(getattr(exc, "orig", exc)).strip().splitlines()[0], 300)
            return JSONResponse(status_code=422, content={"detail": f"a value cannot be stored: {reason}"})
        if isinstance(exc, sa_exc.IntegrityError):
            # two requests raced for one unique row (the same member added twice at once)
            return JSONResponse(status_code=409, content={"detail": "this conflicts with a concurrent change "
                                                                    "of the same thing; retry"})
        if _unavailable(exc):
            return JSONResponse(status_code=503, content={"detail": DATABASE_DOWN},
                                headers={"Retry-After": str(RETRY_AFTER)})
        raise exc  # a bug (ProgrammingError...): the guard logs it and answers 500

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_exhausted(request: Request, exc: sa_exc.TimeoutError):
        return JSONResponse(status_code=503, content={"detail": DATABASE_DOWN},
                            headers={"Retry-After": str(RETRY_AFTER)})

    @app.exception_handler(Replay)
    async def _replay(request: Request, exc: Replay):
        return JSONResponse(status_code=exc.status, content=exc.body, headers={"Idempotent-Replayed": "true"})
