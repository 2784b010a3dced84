"""matfold_services: the matfold service, an HTTP API that JupyterHub runs beside the notebooks.

Callers are hub users (a JupyterHub token, checked against the hub); the service keeps
their projects and members with roles, materials with predictions, measurements and
their comparison, protein structures, similarity search over embeddings (pgvector),
monthly quotas (per plan, or a classroom's shared pool) and Stripe billing, in Postgres.

Layout: ``routes/`` is the HTTP layer (request models, one module per concept); the
domain modules beside it (:mod:`.access`, :mod:`.quota`, :mod:`.billing`,
:mod:`.identity`, :mod:`.similarity`, :mod:`.structures`, :mod:`.idempotency`) raise
:class:`~matfold_services.problems.ServiceError` subclasses, which one handler in
:mod:`.errors` turns into HTTP answers. The service imports :mod:`matfold_kernel`,
never the other way round.
"""

from .app import PREFIX, create_app
from .db import database_status, database_url

__all__ = ["PREFIX", "create_app", "database_status", "database_url"]
