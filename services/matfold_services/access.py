"""Who the caller is in the service's database, and what they may do in a project.

Outsiders get 404 for a project (its existence is not revealed); members whose
role is too weak get 403 naming the role needed. Errors are
:mod:`~matfold_services.problems` (the caller's account: 401/503; another member's:
404/409/503), so routes call these and never translate.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .identity import HubUnavailable, UnknownHubUser, account_created, detach, parse_created
from .models import Project, ProjectMember, Role, User
from .problems import Conflict, Forbidden, NotFound, Unauthorized, Unavailable

__all__ = ["live_user", "user_for", "caller_account", "member_account", "require_role", "role_in",
           "StaleAccount", "HUB_RETRY_AFTER"]

#: Seconds to wait before retrying when the hub cannot confirm an account.
HUB_RETRY_AFTER = 2


class StaleAccount(Conflict):
    """A request by an account older than the one the service knows under that name
    (a deleted account's token, still cached by the hub client)."""


def live_user(session: Session, name: str, *, lock: bool = False) -> User | None:
    """The current (not detached) row of hub user `name`, or None."""
    query = select(User).where(User.name == name, User.detached_at.is_(None))
    return session.scalars(query.with_for_update() if lock else query).first()


def user_for(session: Session, name: str, created: datetime | None = None) -> User:
    """The row of hub account `name`, created on first contact (race-free).

    Parameters
    ----------
    created : datetime, optional
        The hub's creation time of the account (UTC). A row of an older account under
        the same name is detached first (:func:`matfold_services.identity.detach`: its
        memberships go), so a new account reusing a deleted name inherits nothing.
        None (no hub to ask) trusts the name.

    Raises
    ------
    StaleAccount
        When `created` is older than the row's account: the caller is a deleted account.
    """
    row = live_user(session, name)
    if row is not None and (created is None or row.hub_created == created):
        return row
    if row is not None:
        row = live_user(session, name, lock=True)  # one request detaches; the others wait, then see it
    if row is not None and created is not None:
        if row.hub_created is None:
            row.hub_created = created  # a row from before identities were kept: adopt
            session.flush()
            return row
        if created < row.hub_created:
            raise StaleAccount(f"the hub account {name!r} of {created.isoformat()} was replaced by a newer one")
        if created > row.hub_created:
            detach(session, row)
    session.execute(insert(User).values(name=name, plan="free", hub_created=created)
                    .on_conflict_do_nothing(index_elements=["name"], index_where=User.detached_at.is_(None)))
    return live_user(session, name)


def caller_account(session: Session, model: dict) -> User:
    """The row of the hub account behind a request (`model`: the hub's model of its token).

    Raises
    ------
    Unauthorized
        The hub no longer has the account, or the token is a deleted account's.
    Unavailable
        The hub cannot confirm the account now (``Retry-After``).
    """
    name = model["name"]
    try:
        created = parse_created(model.get("created")) or account_created(name)
    except UnknownHubUser:
        raise Unauthorized(f"the hub has no user {name!r} any more (deleted?)") from None
    except HubUnavailable:
        raise Unavailable("the hub cannot confirm who you are right now; retry",
                          retry_after=HUB_RETRY_AFTER) from None
    try:
        return user_for(session, name, created)
    except StaleAccount:
        session.rollback()
        raise Unauthorized(f"this token belongs to a deleted account named {name!r}") from None


def member_account(session: Session, name: str) -> User:
    """The row of hub account `name` as the hub knows it now (never a deleted account's).

    Raises
    ------
    NotFound
        The hub has no user `name` (they must log in once).
    Unavailable
        The hub cannot confirm the account now (``Retry-After``).
    StaleAccount
        The account changed while this request ran (409; retry).
    """
    try:
        return user_for(session, name, account_created(name))
    except UnknownHubUser:
        raise NotFound(f"the hub has no user {name!r}; they must log in to the hub once") from None
    except HubUnavailable:
        raise Unavailable("the hub cannot confirm this user right now; retry",
                          retry_after=HUB_RETRY_AFTER) from None
    except StaleAccount:
        raise StaleAccount(f"the hub account {name!r} just changed; retry") from None


def role_in(session: Session, user: User, project_id: int) -> Role | None:
    return session.scalars(
        select(ProjectMember.role).where(ProjectMember.project_id == project_id,
                                         ProjectMember.user_id == user.id)
    ).first()


def require_role(session: Session, user: User, project_id: int, minimum: Role, *,
                 missing: str | None = None) -> Project:
    """The project, if `user` holds at least `minimum` in it.

    Parameters
    ----------
    missing : str, optional
        The 404 message when `user` is no member (default: the project's own), so
        that a route about a thing in the project (a material) names that thing.

    Raises
    ------
    NotFound
        No such project, or `user` is not a member (existence is not revealed).
    Forbidden
        A member whose role is below `minimum`.
    """
    role = role_in(session, user, project_id)
    project = session.get(Project, project_id) if role else None
    if role is None or project is None:
        raise NotFound(missing or f"project {project_id} not found (or you are not a member)")
    if role.rank < minimum.rank:
        raise Forbidden(f"this needs the {minimum.value} role in project {project_id}; you are {role.value}")
    return project
