"""The kernel's way to the matfold service.

Inside a hub-spawned server, the service URL (``MATFOLD_SERVICE_URL``) and the
user's token (``JUPYTERHUB_API_TOKEN``) come from the environment the hub set;
notebooks never see database credentials. (Outside a hub the store will talk to
the embedded database directly; that arrives with the hub-service issue.)
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from .errors import MatfoldError

__all__ = ["ServiceClient", "MatfoldServiceError"]


class MatfoldServiceError(MatfoldError):
    """The matfold service answered with an error, or could not be reached."""


@dataclass
class ServiceClient:
    """A small HTTP client of the matfold service.

    Parameters
    ----------
    url : str
        Base URL ending in ``/services/matfold/``.
    token : str
        A JupyterHub token of the calling user.
    timeout : float
        Seconds per request.
    """

    url: str
    token: str
    timeout: float = 10.0

    @classmethod
    def from_environment(cls) -> ServiceClient:
        """Build from ``MATFOLD_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN`` (set by the hub)."""
        url = os.environ.get("MATFOLD_SERVICE_URL")
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not url or not token:
            raise MatfoldServiceError(
                "not inside a matfold JupyterHub server (MATFOLD_SERVICE_URL or "
                "JUPYTERHUB_API_TOKEN is not set); start one with 'matfold hub'"
            )
        return cls(url=url if url.endswith("/") else url + "/", token=token)

    def get(self, path: str) -> dict:
        """GET ``path`` (relative to the service) and decode the JSON answer."""
        request = urllib.request.Request(self.url + path.lstrip("/"),
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.load(exc).get("detail", "")
            except Exception:
                detail = ""
            raise MatfoldServiceError(f"the matfold service answered {exc.code} for {path}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise MatfoldServiceError(f"cannot reach the matfold service at {self.url} ({exc})") from None

    def health(self) -> dict:
        """Service and database status."""
        return self.get("health")

    def whoami(self) -> dict:
        """The hub user behind this client's token: name, admin, groups."""
        return self.get("whoami")
