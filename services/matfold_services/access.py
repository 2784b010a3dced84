"""Who the caller is in the service's database, and what they may do in a project.

Outsiders get 404 for a project (its existence is not revealed); members whose
role is too weak get 403 naming the role needed.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .models import Project, ProjectMember, Role, User

__all__ = ["live_user", "user_for", "require_role", "role_in", "StaleAccount"]


class StaleAccount(Exception):
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
    from .identity import detach

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


def role_in(session: Session, user: User, project_id: int) -> Role | None:
    return session.scalars(
        select(ProjectMember.role).where(ProjectMember.project_id == project_id,
                                         ProjectMember.user_id == user.id)
    ).first()


def require_role(session: Session, user: User, project_id: int, minimum: Role) -> Project:
    """The project, if `user` holds at least `minimum` in it; else 404 or 403."""
    role = role_in(session, user, project_id)
    project = session.get(Project, project_id) if role else None
    if role is None or project is None:
        raise HTTPException(404, f"project {project_id} not found (or you are not a member)")
    if role.rank < minimum.rank:
        raise HTTPException(403, f"this needs the {minimum.value} role in project {project_id}; "
                                 f"you are {role.value}")
    return project
