"""The service's app driven in this process (no socket): for tests and benchmarks only.

Product code talks to the service over HTTP (``matfold_kernel.store``); this is the one
place outside the test files that uses ``fastapi.testclient``.
"""

from __future__ import annotations

import contextlib

from fastapi.testclient import TestClient

__all__ = ["in_process_client", "serve_in_process"]


def in_process_client(app, **kwargs) -> TestClient:
    """A ``TestClient`` of `app` (keyword arguments as TestClient's, e.g. ``headers``)."""
    return TestClient(app, **kwargs)


@contextlib.contextmanager
def serve_in_process(hub_auth, app=None, **kwargs):
    """A running client of a new app (``create_app()`` on ``$DATABASE_URL``) with `hub_auth`.

    The client's ``db`` is the app's sessionmaker; its engine is disposed at the end, so a
    test's database can be dropped afterwards.
    """
    if app is None:
        from matfold_services.app import create_app

        app = create_app()
    app.state.hub_auth = hub_auth
    with TestClient(app, **kwargs) as client:
        client.db = app.state.sessionmaker
        yield client
    app.state.sessionmaker.kw["bind"].dispose()
