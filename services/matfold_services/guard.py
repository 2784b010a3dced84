"""The guard in front of every route: body size per route, strict JSON, no escaped errors.

A pure ASGI middleware (:class:`RequestGuard`) that, before any route runs:

- refuses a body larger than the route's limit with 413 naming the limit (the
  ``Content-Length`` is checked first; a streamed body is counted as it arrives);
- refuses a JSON body that Python's parser would accept but JSON does not: ``NaN``,
  ``Infinity``, numbers that overflow a 64-bit float (``1e999``), lone UTF-16
  surrogates (``"\\ud800"``), nesting deeper than :data:`MAX_DEPTH`, invalid UTF-8 or
  JSON, with 422 and a message that names the place but never echoes the input;
- turns any exception that escapes the application into a 500 JSON answer.

The last point is what keeps one user's bad requests from hurting others: an
exception escaping to uvicorn makes it close the connection *after* a complete-looking
response, and JupyterHub's proxy, which keeps connections to the service alive and
shares them between users, then sends the next request — anyone's — into the closed
socket and answers it 503 (measured: 41 of another user's 300 requests).

The Stripe webhook's body is left as it is (its signature covers the raw bytes and
:func:`matfold_services.billing.verify_event` checks it).
"""

from __future__ import annotations

import json
import logging
import math
import re

__all__ = ["RequestGuard", "DEFAULT_LIMIT", "ROUTE_LIMITS", "MAX_DEPTH", "body_limit", "check_json"]

log = logging.getLogger("matfold_services")

#: Body limit of routes not listed in :data:`ROUTE_LIMITS` (bytes).
DEFAULT_LIMIT = 64 * 1024
#: (method, path pattern under ``{PREFIX}/api``, limit in bytes). Materials carry a
#: structure (bounded to 2 MiB of text by the parser, more as a pymatgen dict); proteins
#: carry their files (a 10,000-residue PDB is about 6.5 MB).
ROUTE_LIMITS = (
    ("POST", re.compile(r"/projects/[^/]+/materials/?"), 4 * 1024 * 1024),
    ("POST", re.compile(r"/projects/[^/]+/proteins/?"), 8 * 1024 * 1024),
    ("POST", re.compile(r"/billing/webhook/?"), 256 * 1024),
)
#: Deepest nesting of arrays and objects accepted in a JSON body.
MAX_DEPTH = 64
#: Routes whose raw body is checked by the route itself (not parsed here).
RAW_BODY = (re.compile(r"/billing/webhook/?"),)
#: A refused body is read and dropped up to this many bytes before the 413 is sent: a
#: proxy in front (JupyterHub's) that cannot finish writing the request answers 503
#: instead of passing the 413 on. Larger bodies get the 413 and a closed connection.
MAX_DRAIN = 64 * 2**20


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n // 1024} KiB"


def body_limit(method: str, subpath: str) -> int:
    """The body limit (bytes) of `method` on `subpath` (the path after ``{PREFIX}/api``)."""
    for verb, pattern, limit in ROUTE_LIMITS:
        if verb == method and pattern.fullmatch(subpath):
            return limit
    return DEFAULT_LIMIT


class _Refused(ValueError):
    pass


def _constant(name: str):
    raise _Refused(f"{name} is not a JSON number; send finite numbers only")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"a number with {len(text)} characters overflows a 64-bit float; send finite numbers only")
    return value


def _where(path: list) -> str:
    shown = "".join(f"[{p}]" if isinstance(p, int) else f".{_clip(p)}" for p in path[:8])
    return "body" + shown + ("..." if len(path) > 8 else "")


def _clip(text: str, n: int = 40) -> str:
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= n else safe[:n] + "..."


def check_json(body: bytes) -> str | None:
    """Why `body` is not strict JSON (a message without the input), or None when it is."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8 (byte {exc.start}); send JSON in UTF-8"
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float)
    except _Refused as exc:
        return str(exc)
    except json.JSONDecodeError as exc:
        return f"the body is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    except RecursionError:
        return f"the body nests arrays or objects deeper than {MAX_DEPTH} levels"
    except ValueError as exc:  # e.g. an integer beyond Python's 4300-digit limit
        return f"the body has a number that cannot be read ({str(exc).split(';')[0][:80]})"
    stack = [(value, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return f"the body nests arrays or objects deeper than {MAX_DEPTH} levels (at {_where(path)})"
        if isinstance(node, dict):
            for key, item in node.items():
                if not _encodable(key):
                    return f"a key in {_where(path)} has a lone UTF-16 surrogate; send valid Unicode text"
                stack.append((item, path + [key]))
        elif isinstance(node, list):
            stack.extend((item, path + [i]) for i, item in enumerate(node))
        elif isinstance(node, str) and not _encodable(node):
            return f"{_where(path)} has a lone UTF-16 surrogate; send valid Unicode text"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_json(headers: dict) -> bool:
    # as FastAPI decides: no content type, or application/json, or application/*+json
    ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return not ctype or ctype == b"application/json" or (ctype.startswith(b"application/") and ctype.endswith(b"+json"))


class RequestGuard:
    """ASGI middleware: see the module's description.

    Parameters
    ----------
    app : ASGI application
    api_prefix : str
        Where the API routes live (``{PREFIX}/api``); limits are matched below it.
    """

    def __init__(self, app, api_prefix: str):
        self.app = app
        self.api_prefix = api_prefix.rstrip("/")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            replay = await self._screen(scope, receive, watched_send)
            if replay is not None:
                await self.app(scope, replay, watched_send)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path", "")[:200])
            if started:
                raise  # half an answer is out: only closing the connection can end it
            await _answer(watched_send, 500, "the service failed on this request (logged); "
                                             "it is not your input's fault, retry later")

    async def _screen(self, scope, receive, send):
        """Read and check the body; returns a `receive` that replays it, or None when refused."""
        method, path = scope["method"], scope.get("path", "")
        sub = path[len(self.api_prefix):] if path.startswith(self.api_prefix + "/") else None
        limit = body_limit(method, sub) if sub is not None else DEFAULT_LIMIT
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers") or []:
            headers.setdefault(name, value)  # the first of repeated headers, as Starlette reads them
        what = f"{method} {_clip(sub or path, 80)}"
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                declared = int(declared)
            except ValueError:
                await _answer(send, 400, "Content-Length is not a number", close=True)
                return None
            if declared > limit:
                await self._drain(receive, MAX_DRAIN if declared <= MAX_DRAIN else 0)
                await _answer(send, 413, f"the body has {declared} bytes; {what} takes at most {_size(limit)}",
                              close=True)
                return None
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > limit:
                drained = await self._drain(receive, MAX_DRAIN - size) if more else True
                await _answer(send, 413, f"the body is larger than {_size(limit)}, the most {what} takes"
                                         + ("" if drained else " (connection closed)"), close=True)
                return None
            chunks.append(chunk)
        body = b"".join(chunks)
        if body and _is_json(headers) and not any(p.fullmatch(sub or "") for p in RAW_BODY):
            problem = check_json(body)
            if problem:
                await _answer(send, 422, problem)
                return None
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    @staticmethod
    async def _drain(receive, budget: int) -> bool:
        """Read and drop the rest of a refused body (up to `budget` bytes), so the proxy in
        front can deliver the refusal instead of failing on a half-written request."""
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                return False
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return False


async def _answer(send, status: int, detail: str, *, close: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
