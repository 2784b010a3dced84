"""Who the caller is in the service's database, and what they may do in a project.

Outsiders get 404 for a project (its existence is not revealed); members whose
role is too weak get 403 naming the role needed.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .models import Project, ProjectMember, Role, User

__all__ = ["user_for", "require_role", "role_in"]


def user_for(session: Session, name: str) -> User:
    """The row of hub user `name`, created on first contact (race-free)."""
    session.execute(insert(User).values(name=name, plan="free").on_conflict_do_nothing(index_elements=["name"]))
    return session.scalars(select(User).where(User.name == name)).one()


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
