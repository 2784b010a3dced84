"""matfold_services: the matfold hub service (health, identity; projects and quotas next)."""

from .app import PREFIX, create_app
from .db import database_status, database_url

__all__ = ["PREFIX", "create_app", "database_status", "database_url"]
