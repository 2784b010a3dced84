"""The service's API behind a real hub: every route's authorization, and quotas.

One ``matfold hub`` for the module (JupyterHub, proxy, service, embedded Postgres);
callers use real hub tokens through the proxy.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.hub
USERS = ("alice", "bob", "carol", "dave")  # owner, editor, viewer, outsider


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubProcess(tmp_path_factory.mktemp("svc") / "hub") as hub:
        tokens = {}
        for name in USERS:
            hub.api.create_user(name)
            tokens[name] = hub.api.user_token(name)
        hub.tokens = tokens
        yield hub


def call(hub, who, method, path, **kwargs):
    headers = {"Authorization": f"token {hub.tokens[who]}"} if who else {}
    return requests.request(method, f"{hub.url}/services/matfold/api/{path}", headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def project(hub):
    created = call(hub, "alice", "POST", "projects",
                   json={"name": "Perovskites", "target_properties": ["band_gap"]})
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert call(hub, "alice", "PUT", f"projects/{pid}/members/bob", json={"role": "editor"}).status_code == 200
    assert call(hub, "alice", "PUT", f"projects/{pid}/members/carol", json={"role": "viewer"}).status_code == 200
    return pid


def test_owner_sees_project_with_role(hub, project):
    listed = call(hub, "alice", "GET", "projects").json()
    assert [(p["name"], p["role"]) for p in listed] == [("Perovskites", "owner")]
    members = call(hub, "carol", "GET", f"projects/{project}/members").json()
    assert members == [{"user": "alice", "role": "owner"}, {"user": "bob", "role": "editor"},
                       {"user": "carol", "role": "viewer"}]


@pytest.mark.parametrize("who, method, path, body, expected", [
    # reading: any member; outsiders learn nothing (404), anonymous callers 401
    (None, "GET", "projects/{p}", None, 401),
    ("dave", "GET", "projects/{p}", None, 404),
    ("carol", "GET", "projects/{p}", None, 200),
    ("dave", "GET", "projects/{p}/members", None, 404),
    # editing: editor and owner
    ("carol", "PATCH", "projects/{p}", {"description": "x"}, 403),
    ("dave", "PATCH", "projects/{p}", {"description": "x"}, 404),
    ("bob", "PATCH", "projects/{p}", {"description": "ABX3 screening"}, 200),
    # membership and deletion: owner only
    ("bob", "PUT", "projects/{p}/members/dave", {"role": "viewer"}, 403),
    ("carol", "DELETE", "projects/{p}/members/bob", None, 403),
    ("dave", "DELETE", "projects/{p}", None, 404),
    ("bob", "DELETE", "projects/{p}", None, 403),
    # validation: clear 4xx
    ("alice", "PUT", "projects/{p}/members/bob", {"role": "superuser"}, 422),
    ("alice", "PATCH", "projects/{p}", {"target_properties": ["colour"]}, 422),
    ("alice", "PUT", "projects/{p}/members/alice", {"role": "viewer"}, 409),
    ("alice", "GET", "projects/999999", None, 404),
    ("alice", "GET", "projects/not-a-number", None, 422),
    (None, "POST", "projects", {"name": "x"}, 401),
    ("alice", "POST", "projects", {"name": ""}, 422),
    (None, "GET", "usage", None, 401),
    ("dave", "POST", "usage/prediction", {"project_id": "{p}"}, 404),
    ("carol", "POST", "usage/prediction", {"project_id": "{p}"}, 403),
    ("alice", "POST", "usage/teleport", {}, 404),
])
def test_authorization_matrix(hub, project, who, method, path, body, expected):
    if isinstance(body, dict) and body.get("project_id") == "{p}":
        body = dict(body, project_id=project)
    response = call(hub, who, method, path.format(p=project), json=body)
    assert response.status_code == expected, response.text
    assert "detail" in response.json() or expected == 200
    if expected >= 400:
        assert "Perovskites" not in response.text  # never data in an error


def test_bad_token_is_401(hub):
    response = requests.get(f"{hub.url}/services/matfold/api/projects",
                            headers={"Authorization": "token forged"}, timeout=30)
    assert response.status_code == 401


def test_quota_race_through_the_api(hub):
    def fold(_):
        return call(hub, "dave", "POST", "usage/fold", json={"quantity": 1}).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(fold, range(50)))
    assert sorted(set(codes)) == [200, 429]
    assert codes.count(200) == 10
    usage = call(hub, "dave", "GET", "usage").json()
    assert usage["plan"] == "free" and usage["fold"] == {"used": 10, "limit": 10, "remaining": 0}
    refused = call(hub, "dave", "POST", "usage/fold", json={})
    assert refused.status_code == 429 and "upgrade the plan" in refused.json()["detail"]


def test_owner_deletes_project_last(hub, project):
    assert call(hub, "alice", "DELETE", f"projects/{project}/members/carol").status_code == 204
    assert call(hub, "carol", "GET", f"projects/{project}").status_code == 404
    assert call(hub, "alice", "DELETE", f"projects/{project}").status_code == 204
    assert call(hub, "bob", "GET", "projects").json() == []


def test_classroom_pool_pays_for_students(tmp_path):
    classes = tmp_path / "classes.yaml"
    classes.write_text("chem101:\n  instructors: [ines]\n  students: [sam, sara]\n  monthly_folds: 3\n")
    with HubProcess(tmp_path / "hub", env={"MATFOLD_HUB_CLASSROOMS": str(classes)}) as hub:
        tokens = {name: hub.api.user_token(name) for name in ("sam", "sara")}
        hub.api.create_user("olga")
        tokens["olga"] = hub.api.user_token("olga")

        def fold(who):
            return requests.post(f"{hub.url}/services/matfold/api/usage/fold", json={"quantity": 1},
                                 headers={"Authorization": f"token {tokens[who]}"}, timeout=30)

        assert [fold("sam").status_code for _ in range(2)] == [200, 200]
        assert fold("sara").status_code == 200
        refused = fold("sara")  # the class's 3 folds are shared and used up
        assert refused.status_code == 429 and "classroom chem101" in refused.json()["detail"]
        usage = requests.get(f"{hub.url}/services/matfold/api/usage", timeout=30,
                             headers={"Authorization": f"token {tokens['sam']}"}).json()
        assert usage["fold"] == {"used": 3, "limit": 3, "remaining": 0, "classroom": "chem101"}
        assert usage["prediction"]["limit"] == 1000 and "classroom" not in usage["prediction"]  # plan pays
        assert fold("olga").status_code == 200  # outside the class: her own plan


def test_every_route_refuses_anonymous_callers(hub, project):
    """Walk the OpenAPI: each operation without a token is a 401.

    The Stripe webhook has no hub token by design: unsigned it is a 400, and 503
    here because this hub has no STRIPE_WEBHOOK_SECRET.
    """
    spec = requests.get(f"{hub.url}/services/matfold/openapi.json", timeout=30).json()
    checked = 0
    for path, operations in spec["paths"].items():
        if path.endswith(("/health", "/openapi.json")):
            continue
        concrete = (path.replace("{project_id}", str(project)).replace("{material_id}", "1")
                    .replace("{protein_id}", "1").replace("{username}", "bob").replace("{kind}", "fold"))
        for method in operations:
            response = requests.request(method.upper(), hub.url + concrete, json={}, timeout=30)
            expected = (400, 503) if path.endswith("/billing/webhook") else (401,)
            assert response.status_code in expected, (method, path, response.status_code, response.text)
            assert "Perovskites" not in response.text
            checked += 1
    assert checked >= 20
