"""Classrooms: one JupyterHub group per class, instructor and student roles.

A classroom file (YAML or JSON) looks like::

    chem101:
      instructors: [alice]
      students: [bob, carol]
      monthly_folds: 200          # shared by the class each month (read by the service)
      monthly_predictions: 5000

Instructors may see their students' servers and start or stop them; the matfold
service reads the groups (and their ``properties``) for classroom quotas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from matfold_kernel.errors import MatfoldInputError

__all__ = ["Classroom", "load_classrooms", "classroom_groups", "classroom_roles", "INSTRUCTOR_SCOPES"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

#: What an instructor may do, each limited to the classroom's group.
INSTRUCTOR_SCOPES = ("read:users", "list:users", "read:users:activity", "read:servers",
                     "servers", "read:groups", "list:groups")


@dataclass(frozen=True)
class Classroom:
    name: str
    instructors: tuple[str, ...]
    students: tuple[str, ...]
    properties: dict = field(default_factory=dict)


def load_classrooms(path) -> list[Classroom]:
    """Read a classroom file; raise `MatfoldInputError` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise MatfoldInputError("no such classroom file; check MATFOLD_HUB_CLASSROOMS", str(path))
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise MatfoldInputError(f"is not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc})",
                                str(path)) from None
    if not isinstance(data, dict):
        raise MatfoldInputError("must map classroom names to {instructors, students}", str(path))
    rooms = []
    for name, spec in data.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise MatfoldInputError(
                f"classroom name {name!r} must be lower-case letters, digits, '-', '_' or '.'", str(path))
        spec = spec or {}
        if not isinstance(spec, dict):
            raise MatfoldInputError(f"classroom {name!r} must be a mapping", str(path))
        instructors = tuple(spec.get("instructors") or ())
        students = tuple(spec.get("students") or ())
        if not instructors:
            raise MatfoldInputError(f"classroom {name!r} has no instructors", str(path))
        extra = {k: v for k, v in spec.items() if k not in ("instructors", "students")}
        rooms.append(Classroom(name, instructors, students, extra))
    return rooms


def classroom_groups(rooms) -> dict:
    """``c.JupyterHub.load_groups`` entries: members and properties of each class."""
    return {
        room.name: {
            "users": sorted(set(room.instructors) | set(room.students)),
            "properties": {"matfold_classroom": True, "instructors": list(room.instructors),
                           **room.properties},
        }
        for room in rooms
    }


def classroom_roles(rooms) -> list[dict]:
    """``c.JupyterHub.load_roles`` entries: an instructor and a student role per class."""
    roles = []
    for room in rooms:
        roles.append({
            "name": f"instructor-{room.name}",
            "description": f"Instructor of {room.name}: sees and starts/stops students' servers",
            "users": list(room.instructors),
            "scopes": [f"{scope}!group={room.name}" for scope in INSTRUCTOR_SCOPES] + ["admin-ui"],
        })
        roles.append({
            "name": f"student-{room.name}",
            "description": f"Student of {room.name}",
            "users": list(room.students),
            "scopes": ["self", f"read:groups!group={room.name}"],
        })
    return roles
