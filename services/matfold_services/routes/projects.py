"""Projects and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access import live_user, member_account, require_role, role_in
from ..idempotency import Idempotency, idempotency
from ..models import Project, ProjectMember, Role, User
from ..problems import Conflict, Invalid, NotFound
from .deps import DbId, caller, db_session

#: A JupyterHub user name in a path (hub names have no '/' or whitespace).
UserName = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[^/\s]+$")]

__all__ = ["router"]

router = APIRouter(tags=["projects"])

PROPERTY_NAMES = ("formation_energy", "band_gap", "bulk_modulus", "shear_modulus",
                  "debye_temperature", "e_above_hull", "plddt")


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    target_properties: list[str] = Field(default_factory=list, max_length=len(PROPERTY_NAMES))


class ProjectPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    target_properties: list[str] | None = None


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    target_properties: list[str]
    role: Role


class MemberIn(BaseModel):
    role: Role


def _check_properties(names):
    bad = [n for n in names or [] if n not in PROPERTY_NAMES]
    if bad:
        raise Invalid(f"unknown target properties {bad}; use {', '.join(PROPERTY_NAMES)}")


def _out(project: Project, role: Role) -> ProjectOut:
    return ProjectOut(id=project.id, name=project.name, description=project.description,
                      target_properties=list(project.target_properties or []), role=role)


@router.post("/projects", status_code=201, response_model=ProjectOut, summary="Create a project (you own it)")
def create_project(body: ProjectIn, user: User = Depends(caller), session: Session = Depends(db_session),
                   idem: Idempotency = Depends(idempotency)):
    _check_properties(body.target_properties)
    project = Project(name=body.name, description=body.description, target_properties=body.target_properties)
    session.add(project)
    session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=user.id, role=Role.owner))
    return idem.commit(201, lambda: _out(project, Role.owner))


@router.get("/projects", response_model=list[ProjectOut], summary="Projects you are a member of")
def list_projects(user: User = Depends(caller), session: Session = Depends(db_session)):
    rows = session.execute(
        select(Project, ProjectMember.role).join(ProjectMember, ProjectMember.project_id == Project.id)
        .where(ProjectMember.user_id == user.id).order_by(Project.id)).all()
    return [_out(project, role) for project, role in rows]


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project(project_id: DbId, user: User = Depends(caller), session: Session = Depends(db_session)):
    project = require_role(session, user, project_id, Role.viewer)
    return _out(project, role_in(session, user, project_id))


@router.patch("/projects/{project_id}", response_model=ProjectOut, summary="Edit (editor or owner)")
def update_project(project_id: DbId, body: ProjectPatch, user: User = Depends(caller),
                   session: Session = Depends(db_session)):
    project = require_role(session, user, project_id, Role.editor)
    _check_properties(body.target_properties)
    for field, value in body.model_dump(exclude_none=True).items():
        setattr(project, field, value)
    session.commit()
    return _out(project, role_in(session, user, project_id))


@router.delete("/projects/{project_id}", status_code=204, summary="Delete (owner only)")
def delete_project(project_id: DbId, user: User = Depends(caller), session: Session = Depends(db_session)):
    project = require_role(session, user, project_id, Role.owner)
    session.delete(project)
    session.commit()


@router.get("/projects/{project_id}/members", summary="Members and roles (any member)")
def list_members(project_id: DbId, user: User = Depends(caller), session: Session = Depends(db_session)):
    require_role(session, user, project_id, Role.viewer)
    rows = session.execute(select(User.name, ProjectMember.role).join(ProjectMember, ProjectMember.user_id == User.id)
                           .where(ProjectMember.project_id == project_id).order_by(User.name)).all()
    return [{"user": name, "role": role.value} for name, role in rows]


@router.put("/projects/{project_id}/members/{username}", summary="Add a member or change a role (owner)")
def set_member(project_id: DbId, username: UserName, body: MemberIn, user: User = Depends(caller),
               session: Session = Depends(db_session), idem: Idempotency = Depends(idempotency)):
    require_role(session, user, project_id, Role.owner)
    if username == user.name and body.role != Role.owner:
        raise Conflict("you cannot demote yourself; make another member owner first")
    member = member_account(session, username)  # the current hub account: a deleted one's row is never re-used
    row = session.scalars(select(ProjectMember).where(ProjectMember.project_id == project_id,
                                                       ProjectMember.user_id == member.id)).first()
    if row is None:
        session.add(ProjectMember(project_id=project_id, user_id=member.id, role=body.role))
    else:
        row.role = body.role
    return idem.commit(200, lambda: {"user": username, "role": body.role.value})


@router.delete("/projects/{project_id}/members/{username}", status_code=204, summary="Remove a member (owner)")
def remove_member(project_id: DbId, username: UserName, user: User = Depends(caller),
                  session: Session = Depends(db_session)):
    require_role(session, user, project_id, Role.owner)
    if username == user.name:
        raise Conflict("an owner cannot remove themselves; delete the project instead")
    member = live_user(session, username)
    row = member and session.scalars(select(ProjectMember).where(
        ProjectMember.project_id == project_id, ProjectMember.user_id == member.id)).first()
    if not row:
        raise NotFound(f"{username!r} is not a member of project {project_id}")
    session.delete(row)
    session.commit()
