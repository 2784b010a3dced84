"""The service's domain layer: one ServiceError family, one quota helper, one embedding type.

- every :class:`~matfold_services.problems.ServiceError` (and the library's
  ``MatfoldInputError``) is answered by the one handler of ``errors.install`` with its
  status, ``{"detail": message}`` and ``Retry-After`` when it gives one;
- domain code raising from inside the real routes gives the documented JSON;
- :func:`matfold_services.quota.take` lets exactly one of two transactions take the last
  unit of a counter (both counters);
- the three request models that carry an embedding refuse the same bad ones with a 422.
"""

from __future__ import annotations

import ast
import json
import threading
import time
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text

import matfold_services
from matfold_kernel.errors import MatfoldInputError
from matfold_services import errors, problems
from matfold_services.access import StaleAccount
from matfold_services.app import PREFIX
from matfold_services.billing import BillingError
from matfold_services.db import make_engine, make_sessionmaker, migrate
from matfold_services.identity import HubUnavailable, UnknownHubUser
from matfold_services.models import Classroom, Material, ProteinStructure, User
from matfold_services.quota import QuotaExceeded, take, used
from matfold_services.routes.materials import MaterialIn
from matfold_services.routes.proteins import ProteinIn
from matfold_services.routes.search import QueryIn
from matfold_services.structures import StructureRejected

from tests.support.fake_hub import TokenUsers
from tests.support.in_process import serve_in_process

API = f"{PREFIX}/api"
TOKENS = {"tok-alice": "alice", "tok-bob": "bob", "tok-dave": "dave"}
PACKAGE = Path(matfold_services.__file__).parent


# --- the handler ------------------------------------------------------------------------------

CASES = [
    (problems.Invalid("a rule is broken"), 422, None),
    (problems.Unauthorized("send a token"), 401, None),
    (problems.Forbidden("this needs the owner role"), 403, None),
    (problems.NotFound("no such thing"), 404, None),
    (problems.Conflict("it changed; retry"), 409, None),
    (problems.Unavailable("the hub is away; retry", retry_after=2), 503, "2"),
    (problems.Unavailable("no database"), 503, None),
    (problems.ServiceError(418, "a status of its own"), 418, None),
    (BillingError(502, "Stripe failed; try again later"), 502, None),
    (QuotaExceeded("fold", 10, 10, "free"), 429, None),
    (StructureRejected(503, "the parsers are busy", retry_after=5), 503, "5"),
    (StructureRejected(413, "structure is 3.0 MiB"), 413, None),
    (StaleAccount("the hub account 'x' just changed; retry"), 409, None),
    (UnknownHubUser("users/x"), 404, None),
    (HubUnavailable("the hub answered 500"), 503, None),
    (MatfoldInputError("k must be an integer from 1 to 1000, got 0"), 422, None),
]


@pytest.fixture(scope="module")
def raising_app():
    """A bare app with only the service's handlers, whose routes raise what they are told."""
    app = FastAPI()
    errors.install(app)
    pending: dict[str, Exception] = {}

    def from_dependency(case: str) -> str:
        if case.startswith("dep-"):
            raise pending[case]
        return case

    @app.get("/sync/{case}")
    def sync_route(case: str = Depends(from_dependency)):  # runs in the thread pool
        raise pending[case]

    @app.get("/async/{case}")
    async def async_route(case: str = Depends(from_dependency)):
        raise pending[case]

    with TestClient(app, raise_server_exceptions=False) as client:
        client.pending = pending
        yield client


@pytest.mark.parametrize("where", ["sync", "async", "dependency"])
@pytest.mark.parametrize("error, status, retry_after", CASES, ids=lambda v: type(v).__name__
                         if isinstance(v, Exception) else None)
def test_the_handler_answers_each_error_with_its_status_detail_and_retry_after(
        raising_app, where, error, status, retry_after):
    case = f"dep-{id(error)}" if where == "dependency" else str(id(error))
    raising_app.pending[case] = error
    answer = raising_app.get(f"/{'sync' if where == 'dependency' else where}/{case}")
    assert answer.status_code == status
    assert answer.json() == {"detail": str(error)}
    assert answer.headers.get("Retry-After") == retry_after


def test_every_domain_error_is_a_service_error_with_the_status_it_always_had():
    assert issubclass(BillingError, problems.ServiceError) and issubclass(QuotaExceeded, problems.ServiceError)
    assert issubclass(StructureRejected, problems.ServiceError)
    assert issubclass(StaleAccount, problems.Conflict) and issubclass(UnknownHubUser, problems.NotFound)
    assert issubclass(UnknownHubUser, LookupError) and issubclass(HubUnavailable, problems.Unavailable)
    assert QuotaExceeded("fold", 3, 3, "free", classroom="chem101").status == 429
    assert str(QuotaExceeded("fold", 3, 3, "free", classroom="chem101")) == (
        "monthly fold quota of classroom chem101 is used up (3 of 3); ask your instructor, or wait for next month")
    assert StructureRejected(422, "bad").detail == "bad"


def test_no_module_of_the_service_raises_http_exceptions():
    """HTTP is the handler's business: domain code and routes raise ServiceErrors."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            if "HTTPException" in names or (isinstance(node, ast.Name) and node.id == "HTTPException"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


# --- domain errors raised from inside the real routes ---------------------------------------

@pytest.fixture
def client(database_url, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    with serve_in_process(TokenUsers(TOKENS, down="tok-down")) as test_client:
        yield test_client


def call(client, who, method, path, **kwargs):
    token = {name: tok for tok, name in TOKENS.items()}.get(who, who)
    headers = {"Authorization": f"token {token}", **kwargs.pop("headers", {})}
    return client.request(method, f"{API}/{path}", headers=headers, **kwargs)


@pytest.fixture
def project(client):
    pid = call(client, "alice", "POST", "projects", json={"name": "Oxides"}).json()["id"]
    assert call(client, "alice", "PUT", f"projects/{pid}/members/bob", json={"role": "viewer"}).status_code == 200
    return pid


def test_access_errors_from_routes_are_the_documented_json(client, project):
    answer = call(client, "dave", "GET", f"projects/{project}")
    assert (answer.status_code, answer.json()) == (
        404, {"detail": f"project {project} not found (or you are not a member)"})
    answer = call(client, "bob", "PATCH", f"projects/{project}", json={"name": "mine now"})
    assert (answer.status_code, answer.json()) == (
        403, {"detail": f"this needs the editor role in project {project}; you are viewer"})
    answer = call(client, "alice", "PUT", f"projects/{project}/members/alice", json={"role": "viewer"})
    assert (answer.status_code, answer.json()) == (
        409, {"detail": "you cannot demote yourself; make another member owner first"})
    answer = call(client, "alice", "POST", "projects", json={"name": "x", "target_properties": ["colour"]})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("unknown target properties ['colour']")


def test_a_material_of_a_hidden_project_is_not_found_by_its_own_name(client, project):
    with client.db() as session:
        alice = session.scalars(select(User).where(User.name == "alice")).one()
        material = Material(project_id=project, formula="Na1 Cl1", reduced_formula="NaCl", elements=["Cl", "Na"],
                            spacegroup_number=225, spacegroup_symbol="Fm-3m", structure={}, created_by=alice.id)
        session.add(material)
        session.commit()
        material_id = material.id
    answer = call(client, "dave", "GET", f"materials/{material_id}")
    assert (answer.status_code, answer.json()) == (
        404, {"detail": f"material {material_id} not found (or you are not a member of its project)"})
    answer = call(client, "bob", "POST", f"materials/{material_id}/predictions",
                  json={"property": "band_gap", "value": 1, "unit": "eV"})
    assert (answer.status_code, answer.json()) == (
        403, {"detail": f"this needs the editor role in project {project}; you are viewer"})
    answer = call(client, "bob", "GET", f"materials/{material_id}/similar")
    assert (answer.status_code, answer.json()) == (
        409, {"detail": f"material {material_id} has no embedding; save it with one to search"})


def test_quota_idempotency_and_hub_errors_from_routes(client):
    assert call(client, "alice", "POST", "usage/fold", json={"quantity": 10}).json() == {"kind": "fold", "used": 10}
    answer = call(client, "alice", "POST", "usage/fold", json={"quantity": 1})
    assert (answer.status_code, answer.json()) == (429, {"detail": "monthly fold quota of the free plan is used up "
                                                                   "(10 of 10); upgrade the plan or wait for next month"})
    answer = call(client, "alice", "POST", "usage/dance", json={})
    assert (answer.status_code, answer.json()) == (404, {"detail": "unknown usage kind 'dance'; use fold, prediction"})

    key = {"Idempotency-Key": "once"}
    assert call(client, "alice", "POST", "projects", json={"name": "a"}, headers=key).status_code == 201
    answer = call(client, "alice", "POST", "projects", json={"name": "b"}, headers=key)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("Idempotency-Key 'once' was already used for another request")

    answer = call(client, "tok-down", "GET", "projects")
    assert (answer.status_code, answer.json(), answer.headers.get("Retry-After")) == (
        503, {"detail": "the hub cannot check tokens right now; retry"}, "2")
    answer = client.get(f"{API}/projects")
    assert (answer.status_code, answer.json()) == (
        401, {"detail": "send a JupyterHub token: 'Authorization: token <token>'"})


def test_a_structure_too_large_is_refused_by_its_domain_error(client, project):
    answer = call(client, "alice", "POST", f"projects/{project}/materials", json={"structure": "x" * (2**21 + 10)})
    assert (answer.status_code, answer.json()) == (
        413, {"detail": "structure is 2.0 MiB, over the 2 MiB limit; send one structure at a time"})


# --- one quota helper: the last unit goes to exactly one transaction -------------------------

@pytest.fixture
def maker(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _owner(session, counter: str) -> int:
    if counter == "user":
        session.add(row := User(name="racer", plan="free"))
    else:
        session.add(row := Classroom(hub_group="class-chem101", monthly_folds=3, monthly_predictions=0))
    session.commit()
    return row.id


def _wait_until_blocked(maker, pid: int) -> None:
    """Until backend `pid` waits for a row lock (it must, while the other holds the row)."""
    deadline = time.monotonic() + 30
    with maker() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"), {"p": pid})
            watcher.rollback()
            if waiting == "Lock":
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited for the counter's row lock")


@pytest.mark.parametrize("first_ends", ["commit", "rollback"])
@pytest.mark.parametrize("counter", ["user", "classroom"])
def test_of_two_transactions_for_the_last_unit_exactly_one_wins(maker, counter, first_ends):
    limit = 3
    with maker() as session:
        owner = _owner(session, counter)
        assert take(session, counter, owner, "fold", limit - 1, limit) == limit - 1
        session.commit()
    first, second = maker(), maker()
    second_pid = second.scalar(text("SELECT pg_backend_pid()"))
    assert take(first, counter, owner, "fold", 1, limit) == limit  # holds the row until it ends
    result = {}
    racer = threading.Thread(target=lambda: result.update(total=take(second, counter, owner, "fold", 1, limit)))
    racer.start()
    _wait_until_blocked(maker, second_pid)
    getattr(first, first_ends)()
    racer.join(timeout=30)
    assert not racer.is_alive()
    second.commit()
    first.close(), second.close()
    # committed: the second finds the pool spent; rolled back: the second gets the unit
    assert result["total"] == (None if first_ends == "commit" else limit)
    with maker() as session:
        assert used(session, counter, owner, "fold") == limit


def test_take_counts_nothing_past_the_limit(maker):
    with maker() as session:
        owner = _owner(session, "user")
        assert take(session, "user", owner, "prediction", 5, 4) is None
        assert take(session, "user", owner, "prediction", 4, 4) == 4
        assert take(session, "user", owner, "prediction", 1, 4) is None
        session.commit()
        assert used(session, "user", owner, "prediction") == 4 and used(session, "user", owner, "fold") == 0


# --- one embedding type for the three request models -----------------------------------------

BAD_EMBEDDINGS = [  # (what, the material's list, the protein's list, what the message names)
    ("wrong length", [1.0, 2.0], [1.0] * 128, "must have {dim} numbers, got {n}"),
    ("all zeros", [0.0] * 128, [0.0] * 1280, "is all zeros"),
    ("not numbers", ["a"] + [1.0] * 127, ["a"] + [1.0] * 1279, "valid number"),
    ("not a list", "0.1, 0.2", "0.1, 0.2", "valid list"),
]


def _requests(project: int, material, protein):
    return [("POST", f"projects/{project}/materials", {"structure": "x\n", "embedding": material}, 128, material),
            ("POST", "search/materials", {"embedding": material}, 128, material),
            ("POST", f"projects/{project}/proteins", {"name": "p", "sequence": "MKT", "embedding": protein},
             1280, protein)]


@pytest.mark.parametrize("what, material, protein, message", BAD_EMBEDDINGS, ids=[b[0] for b in BAD_EMBEDDINGS])
def test_the_three_routes_refuse_the_same_bad_embeddings(client, project, what, material, protein, message):
    call(client, "alice", "PUT", f"projects/{project}/members/bob", json={"role": "editor"})
    for method, path, body, dim, sent in _requests(project, material, protein):
        answer = call(client, "bob", method, path, json=body)
        assert answer.status_code == 422, (path, answer.text)
        [error] = answer.json()["detail"]
        assert error["loc"][:2] == ["body", "embedding"], (path, error)
        assert message.format(dim=dim, n=len(sent)) in error["msg"], (path, error)
        if what in ("wrong length", "all zeros"):
            assert ("protein embedding" if dim == 1280 else "material embedding") in error["msg"]


def test_the_three_routes_refuse_nan(client, project):
    """JSON has no NaN: the body guard refuses it before the model; the models refuse it too."""
    for method, path, body, _, _ in _requests(project, [float("nan")] * 128, [float("nan")] * 1280):
        answer = call(client, "alice", method, path, content=json.dumps(body),
                      headers={"Content-Type": "application/json"})
        assert answer.status_code == 422 and "NaN" in str(answer.json()["detail"]), (path, answer.text)
    for model, kwargs, dim in [(MaterialIn, {"structure": "x"}, 128), (QueryIn, {}, 128),
                               (ProteinIn, {"name": "p", "sequence": "MKT"}, 1280)]:
        with pytest.raises(ValidationError, match="contains 1 NaN or infinite value"):
            model(**kwargs, embedding=[1.0] * (dim - 1) + [float("nan")])
        with pytest.raises(ValidationError, match="the first is infinite at index 0"):
            model(**kwargs, embedding=[float("inf")] + [1.0] * (dim - 1))


def test_a_good_embedding_is_stored_as_sent(client, project):
    answer = call(client, "alice", "POST", f"projects/{project}/proteins",
                  json={"name": "p", "sequence": "MKT", "embedding": [2.0] + [0.0] * 1279})
    assert answer.status_code == 201, answer.text
    with client.db() as session:
        stored = session.get(ProteinStructure, answer.json()["id"]).embedding
    assert list(stored[:2]) == [2.0, 0.0]  # not scaled to unit length: only the search scales
    assert call(client, "alice", "POST", "search/materials", json={"embedding": [1.0] * 128}).json() == []
