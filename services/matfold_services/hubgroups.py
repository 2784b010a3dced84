"""Classroom quotas from the hub: a JupyterHub group whose properties say so.

``matfold hub`` loads classrooms as groups with properties such as
``{"matfold_classroom": true, "monthly_folds": 200, "monthly_predictions": 5000}``;
the service reads them with its own hub token (scope ``read:groups``) and keeps
them for a minute.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

__all__ = ["classroom_limits", "CACHE_SECONDS"]

CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, dict | None]] = {}


def _group(name: str) -> dict | None:
    api, token = os.environ.get("JUPYTERHUB_API_URL"), os.environ.get("JUPYTERHUB_API_TOKEN")
    if not api or not token:
        return None
    request = urllib.request.Request(f"{api.rstrip('/')}/groups/{name}",
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def classroom_limits(groups) -> dict[str, dict]:
    """``{group: {"monthly_folds": n | None, "monthly_predictions": n | None}}`` for classroom groups."""
    result = {}
    now = time.monotonic()
    for name in sorted(groups or []):
        stamp, model = _cache.get(name, (0.0, None))
        if now - stamp > CACHE_SECONDS:
            model = _group(name)
            _cache[name] = (now, model)
        props = (model or {}).get("properties") or {}
        if props.get("matfold_classroom"):
            result[name] = {k: (int(props[k]) if isinstance(props.get(k), int) else None)
                            for k in ("monthly_folds", "monthly_predictions")}
    return result
