"""The service's app driven in this process (no socket): for tests and benchmarks only.

Product code talks to the service over HTTP (``matfold_kernel.store``); this is the one
place outside the test files that uses ``fastapi.testclient``.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

__all__ = ["in_process_client"]


def in_process_client(app, **kwargs) -> TestClient:
    """A ``TestClient`` of `app` (keyword arguments as TestClient's, e.g. ``headers``)."""
    return TestClient(app, **kwargs)
