"""A local stand-in for the Stripe API, for tests (the test machine cannot reach Stripe).

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) answering the calls
matfold makes, with the object shapes Stripe documents (https://docs.stripe.com/api):

- ``POST /v1/customers``, ``GET /v1/customers/{id}`` (``cus_...``)
- ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}`` (``cs_test_...``)
- ``POST /v1/billing_portal/sessions`` (``bps_...``)
- ``GET /v1/subscriptions/{id}``: the state a test last gave :meth:`StripeServer.subscription`
  or :meth:`StripeServer.set_subscription` (the billing code re-reads it to settle ties)

Requests must carry ``Authorization: Bearer <key>`` with the server's key (else 401, as
Stripe answers); each request is kept in ``requests`` with its form-encoded body both
flat (``form["line_items[0][price]"]``) and nested (``params["line_items"][0]["price"]``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

__all__ = ["StripeServer", "decode_form"]


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (``a[b][0][c]=v``) back to nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        path = [head] + ([p.rstrip("]") for p in rest.rstrip("]").split("][")] if rest else [])
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _lists(root)


def _lists(node):
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


class StripeServer:
    """Start with ``with StripeServer(key) as server:``; ``server.url`` is the API base."""

    def __init__(self, api_key: str = "sk_test_matfold"):
        self.api_key = api_key
        self.requests: list[dict] = []
        self.objects: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "StripeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def calls(self, method: str, path: str) -> list[dict]:
        """The recorded requests to `path` (query string excluded)."""
        return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def subscription(self, checkout_id: str, status: str = "active", *, price: str | None = None) -> dict:
        """The ``subscription`` object a completed checkout would create (for a webhook event)."""
        checkout = self.objects[checkout_id]
        now = int(time.time())
        price = price or checkout["_line_items"][0]["price"]
        sub_id = checkout.get("subscription") or _id("sub_")
        checkout.update(subscription=sub_id, status="complete", payment_status="paid")
        item = {"id": _id("si_"), "object": "subscription_item", "quantity": 1, "subscription": sub_id,
                "current_period_start": now, "current_period_end": now + 30 * 86400,
                "price": {"id": price, "object": "price", "currency": "usd", "recurring": {"interval": "month"}}}
        sub = {"id": sub_id, "object": "subscription", "customer": checkout["customer"], "status": status,
               "livemode": False, "created": now, "cancel_at_period_end": False,
               "metadata": checkout.get("_subscription_metadata", {}),
               "items": {"object": "list", "data": [item], "has_more": False,
                         "url": f"/v1/subscription_items?subscription={sub_id}"}}
        return self.set_subscription(sub)

    def set_subscription(self, sub: dict) -> dict:
        """Make `sub` the subscription's current state (what ``GET /v1/subscriptions/{id}`` answers)."""
        with self._lock:
            self.objects[sub["id"]] = sub
        return sub

    # --- the API ----------------------------------------------------------------------------

    def _create(self, path: str, params: dict) -> tuple[int, dict]:
        now = int(time.time())
        if path == "/v1/customers":
            obj = {"id": _id("cus_"), "object": "customer", "created": now, "livemode": False,
                   "name": params.get("name"), "email": params.get("email"),
                   "metadata": params.get("metadata", {})}
        elif path == "/v1/checkout/sessions":
            missing = [p for p in ("mode", "success_url", "line_items") if p not in params]
            if missing:
                return _error(400, f"Missing required param: {missing[0]}.", param=missing[0])
            if params.get("customer") and params["customer"] not in self.objects:
                return _error(400, f"No such customer: '{params['customer']}'", param="customer",
                              code="resource_missing")
            sid = _id("cs_test_")
            obj = {"id": sid, "object": "checkout.session", "created": now, "livemode": False,
                   "mode": params["mode"], "status": "open", "payment_status": "unpaid",
                   "customer": params.get("customer"), "client_reference_id": params.get("client_reference_id"),
                   "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
                   "metadata": params.get("metadata", {}), "subscription": None,
                   "url": f"https://checkout.stripe.com/c/pay/{sid}",
                   "_line_items": params["line_items"],
                   "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata", {})}
        elif path == "/v1/billing_portal/sessions":
            if params.get("customer") not in self.objects:
                return _error(400, f"No such customer: '{params.get('customer')}'", param="customer",
                              code="resource_missing")
            obj = {"id": _id("bps_"), "object": "billing_portal.session", "created": now, "livemode": False,
                   "customer": params["customer"], "return_url": params.get("return_url"),
                   "url": f"https://billing.stripe.com/p/session/test_{secrets.token_hex(16)}"}
        else:
            return _error(404, f"Unrecognized request URL (POST: {path}).")
        self.objects[obj["id"]] = obj
        return 200, obj

    def _retrieve(self, path: str) -> tuple[int, dict]:
        collection, _, oid = path.rpartition("/")
        if collection in ("/v1/customers", "/v1/checkout/sessions", "/v1/subscriptions") and oid in self.objects:
            return 200, self.objects[oid]
        return _error(404, f"No such object: '{oid}'", code="resource_missing")

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                pairs = parse_qsl(body or parts.query, keep_blank_values=True)
                record = {"method": method, "path": parts.path, "form": dict(pairs),
                          "params": decode_form(pairs), "headers": dict(self.headers)}
                with server._lock:
                    server.requests.append(record)
                    scheme, _, key = (self.headers.get("Authorization") or "").partition(" ")
                    if scheme != "Bearer" or key != server.api_key:
                        status, obj = _error(401, f"Invalid API Key provided: {key[:8]}****",
                                             kind="invalid_request_error")
                    elif method == "POST":
                        status, obj = server._create(parts.path, record["params"])
                    else:
                        status, obj = server._retrieve(parts.path)
                public = {k: v for k, v in obj.items() if not k.startswith("_")}
                data = json.dumps(public).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", _id("req_"))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler


def _error(status: int, message: str, *, kind: str = "invalid_request_error", **extra) -> tuple[int, dict]:
    return status, {"error": {"type": kind, "message": message, **extra}}
