"""Hub accounts as stable identities: a name plus the hub's creation time of the account.

A JupyterHub name can be deleted and later given to someone else; the service must
not hand the old account's projects to the new one. So a ``users`` row remembers the
hub's ``created`` time of its account (:mod:`matfold_services.access` compares it on
every request), and deleted accounts are found two ways:

- on contact: a request by a *newer* account under a known name detaches the old row
  (memberships removed, row kept for the record) and makes a fresh one;
- by a sweep (:func:`sweep`, run by the service every ``MATFOLD_SERVICE_SWEEP_SECONDS``,
  default 60) that lists the hub's users and detaches rows whose account is gone.

The creation time comes from the caller's own token model when its scopes show it
(full user tokens do), else from ``GET /hub/api/users/{name}`` with the service's token
(the service role has ``read:users``), cached for :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import ProjectMember, User
from .problems import NotFound, Unavailable

__all__ = ["CACHE_SECONDS", "HubUnavailable", "UnknownHubUser", "account_created", "parse_created",
           "list_accounts", "detach", "sweep", "hub_api"]

#: Seconds a looked-up account (or its absence) is trusted: the revocation bound.
CACHE_SECONDS = 4.0
_cache: dict[str, tuple[float, object]] = {}
_lock = threading.Lock()


class HubUnavailable(Unavailable):
    """The hub's API did not answer (or answered with an error) while asked about users (503).

    :mod:`matfold_services.access` words it for the caller (whose account could not be
    confirmed); the message here names the hub's answer, for the log.
    """


class UnknownHubUser(NotFound, LookupError):
    """The hub has no account of this name (404; :mod:`matfold_services.access` words it)."""


def hub_api() -> tuple[str, str] | None:
    """``(JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN)`` of this service, or None outside a hub."""
    api, token = os.environ.get("JUPYTERHUB_API_URL"), os.environ.get("JUPYTERHUB_API_TOKEN")
    return (api.rstrip("/"), token) if api and token else None


def parse_created(value) -> datetime | None:
    """The hub's ISO 8601 ``created`` (``2026-12-06T01:57:43.652146Z``) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _get(path: str, *, paginated: bool = False):
    api = hub_api()
    headers = {"Authorization": f"token {api[1]}"}
    if paginated:
        headers["Accept"] = "application/jupyterhub-pagination+json"
    request = urllib.request.Request(f"{api[0]}/{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise UnknownHubUser(path) from None
        raise HubUnavailable(f"the hub answered {exc.code} to GET {path}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise HubUnavailable(f"the hub did not answer GET {path} ({exc})") from None


def account_created(name: str) -> datetime | None:
    """The hub's creation time of account `name` (cached :data:`CACHE_SECONDS`).

    Returns None outside a hub (nothing to compare with).

    Raises
    ------
    UnknownHubUser
        The hub has no such account (deleted, or never made).
    HubUnavailable
        The hub could not be asked.
    """
    if hub_api() is None:
        return None
    now = time.monotonic()
    with _lock:
        stamp, value = _cache.get(name, (0.0, None))
    if now - stamp > CACHE_SECONDS:
        try:
            value = parse_created(_get(f"users/{urllib.parse.quote(name, safe='')}").get("created"))
        except UnknownHubUser:
            value = UnknownHubUser(name)
        with _lock:
            _cache[name] = (now, value)
    if isinstance(value, UnknownHubUser):
        raise UnknownHubUser(name)
    return value


def list_accounts() -> dict[str, datetime | None]:
    """Every hub user: ``{name: created}`` (all pages).

    Raises
    ------
    HubUnavailable
        Outside a hub, or when any page fails: a partial list must never be swept.
    """
    if hub_api() is None:
        raise HubUnavailable("not inside a hub (JUPYTERHUB_API_URL / JUPYTERHUB_API_TOKEN unset)")
    accounts: dict[str, datetime | None] = {}
    offset = 0
    while True:
        try:
            page = _get(f"users?offset={offset}&limit=200", paginated=True)
        except UnknownHubUser:
            raise HubUnavailable("the hub has no users API") from None
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise HubUnavailable("the hub's user list is not paginated as expected")
        for model in page["items"]:
            accounts[model["name"]] = parse_created(model.get("created"))
        following = (page.get("_pagination") or {}).get("next")
        if not following or not page["items"]:
            total = (page.get("_pagination") or {}).get("total")
            if isinstance(total, int) and total != len(accounts):
                raise HubUnavailable(f"the hub listed {len(accounts)} of {total} users (changing under us?)")
            return accounts
        offset = int(following.get("offset", offset + len(page["items"])))


def detach(session: Session, user: User) -> None:
    """Mark `user`'s account gone: memberships removed, the row kept (name, plan, usage)."""
    user.detached_at = datetime.now(timezone.utc)
    session.execute(delete(ProjectMember).where(ProjectMember.user_id == user.id))
    session.flush()


def sweep(session: Session, fetch=list_accounts) -> dict:
    """Detach the rows of hub accounts that no longer exist (or were replaced).

    Only rows older than the listing are judged (a row made while the list is fetched
    belongs to an account the list may not show yet). Rows never compared yet adopt the
    hub's creation time. The caller commits.

    Parameters
    ----------
    fetch : callable
        Returns ``{name: created}`` of every hub account (default :func:`list_accounts`).

    Returns
    -------
    dict
        ``{"detached": [names], "adopted": n, "checked": n}``.
    """
    started = session.scalar(select(func.now()))  # the transaction's start, before the listing
    accounts = fetch()
    detached, adopted = [], 0
    rows = session.scalars(select(User).where(User.detached_at.is_(None), User.created_at < started)).all()
    for row in rows:
        created = accounts.get(row.name)
        if row.name not in accounts or (created and row.hub_created and created > row.hub_created):
            detach(session, row)
            detached.append(row.name)
        elif row.hub_created is None and created is not None:
            row.hub_created = created
            adopted += 1
    session.flush()
    return {"detached": detached, "adopted": adopted, "checked": len(rows)}
