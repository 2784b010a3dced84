"""How the store reaches the matfold service: JSON over HTTP with a token.

In a hub the service is the hub's and the token the user's hub token; on a laptop the
service is a child process of this kernel (:mod:`.local`) with a one-off token. Either
way the requests and the service's checks are the same.

Every ``POST``/``PUT`` carries a fresh ``Idempotency-Key``; the hub transport retries a
request whose answer was lost (connection cut, timeout) or refused for now (502, 503,
504, honouring ``Retry-After``) with the *same* key, so a create committed before the
answer was lost is not made twice.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
import uuid

from ..errors import MatfoldError, MatfoldInputError

__all__ = ["StoreError", "HTTPTransport", "IDEMPOTENT_METHODS", "RETRY_STATUSES"]

#: Methods sent with an ``Idempotency-Key`` (the service's creating routes).
IDEMPOTENT_METHODS = ("POST", "PUT")
#: Answers that mean "not now": the same request (and key) is sent again.
RETRY_STATUSES = (502, 503, 504)


def _new_key(method: str) -> dict:
    return {"Idempotency-Key": uuid.uuid4().hex} if method in IDEMPOTENT_METHODS else {}


class StoreError(MatfoldError):
    """The store refused a request (the message says why) or could not be reached."""


def _raise_for(status: int, detail, path: str):
    if isinstance(detail, list):  # pydantic validation errors
        detail = "; ".join(f"{'.'.join(str(x) for x in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    if status == 422:
        raise MatfoldInputError(str(detail))
    raise StoreError(f"{path}: {detail} (HTTP {status})")


class HTTPTransport:
    """JSON over HTTP to the matfold service with a token.

    Parameters
    ----------
    url : str
        The service's base URL (``.../services/matfold``); the API is under ``api/``.
    token : str
        Sent as ``Authorization: token <token>``.
    timeout : float
        Seconds per attempt.
    retries : int
        Further attempts after a lost answer or a 502/503/504 (same ``Idempotency-Key``).
    backoff : float
        Seconds before the first retry (doubling; a ``Retry-After`` answer wins, at most 30 s).
    """

    def __init__(self, url: str, token: str, timeout: float = 60.0, retries: int = 4, backoff: float = 0.5):
        self.url, self.token, self.timeout = url.rstrip("/") + "/", token, timeout
        self.retries, self.backoff = retries, backoff

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}({self.url!r})"

    def request(self, method: str, path: str, body=None):
        """`method` on ``api/<path>``; the decoded JSON answer (None when empty)."""
        return self.send(method, "api/" + path.lstrip("/"), body)

    def send(self, method: str, path: str, body=None):
        """`method` on `path` relative to the service's base URL (``health``, ``whoami``, ``api/...``)."""
        try:
            data = None if body is None else json.dumps(body, allow_nan=False).encode()
        except ValueError:
            raise MatfoldInputError(f"{method} {path}: NaN or infinite numbers cannot be stored; "
                                    "send finite numbers") from None
        headers = {"Authorization": f"token {self.token}", "Content-Type": "application/json", **_new_key(method)}
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2 ** attempt
            request = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                try:
                    detail = json.loads(exc.read()).get("detail", exc.reason)
                except ValueError:
                    detail = exc.reason
                if exc.code not in RETRY_STATUSES or attempt == self.retries:
                    _raise_for(exc.code, detail, path)
                try:
                    wait = min(30.0, float(exc.headers.get("Retry-After") or wait))
                except ValueError:
                    pass
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                if attempt == self.retries:
                    raise StoreError(f"cannot reach the matfold service at {self.url} ({exc}); "
                                     f"tried {attempt + 1} times") from None
            time.sleep(wait)
