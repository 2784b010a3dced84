"""Hostile requests against the matfold service, and a flood of them beside a normal user.

Shared by ``tests/test_security_service.py`` and ``benchmarks/security_service.py``: each
request is one the issue found to give 500 (or worse, 503 to *other* users) before the
service refused bad input itself.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

__all__ = ["Hostile", "catalogue", "flood"]


@dataclass(frozen=True)
class Hostile:
    kind: str
    method: str
    path: str          # below .../services/matfold/api/
    body: bytes | None
    headers: tuple = ()
    expected: int = 422


def catalogue(project_id: int) -> list[Hostile]:
    """One request of each hostile kind (bodies as raw bytes: no client may "fix" them)."""
    big = b'{"name": "' + b"a" * 5_000_000 + b'"}'
    return [
        Hostile("lone surrogate", "POST", "projects", b'{"name": "\\ud800"}'),
        Hostile("lone surrogate key", "POST", "projects", b'{"name": "x", "\\udfff": 1}'),
        Hostile("NaN", "POST", "usage/fold", b'{"quantity": NaN}'),
        Hostile("Infinity", "POST", "usage/fold", b'{"quantity": Infinity}'),
        Hostile("-Infinity", "POST", f"projects/{project_id}/proteins",
                b'{"name": "a", "sequence": "AC", "mean_plddt": -Infinity}'),
        Hostile("1e999", "POST", f"projects/{project_id}/proteins",
                b'{"name": "a", "sequence": "AC", "mean_plddt": 1e999}'),
        Hostile("5000-digit integer", "POST", "usage/fold", b'{"quantity": ' + b"1" * 5000 + b"}"),
        Hostile("deep nesting", "POST", "projects", b"[" * 50_000),
        Hostile("deep valid nesting", "POST", "projects", b'{"name": "x", "d": ' + b"[" * 500 + b"]" * 500 + b"}"),
        Hostile("invalid UTF-8", "POST", "projects", b'{"name": "\xff\xfe"}'),
        Hostile("garbage JSON", "POST", "projects", b'{"name": '),
        Hostile("oversize body", "POST", "projects", big, expected=413),
        Hostile("oversize material", "POST", f"projects/{project_id}/materials",
                b'{"structure": "' + b"x" * (5 * 2**20) + b'"}', expected=413),
        Hostile("non-ASCII Stripe-Signature", "POST", "billing/webhook", b"{}",
                (("Stripe-Signature", "t=1,v1=\xe9\xe9"),), expected=400),
        Hostile("huge Stripe-Signature", "POST", "billing/webhook", b"{}",
                (("Stripe-Signature", "t=1,v1=" + "a" * 6000),), expected=400),
        Hostile("non-ASCII token", "GET", "projects", None, (("Authorization", "token \xe9t\xe9"),), expected=401),
        Hostile("bad Idempotency-Key", "POST", "projects", b'{"name": "k"}',
                (("Idempotency-Key", "k" * 201),), expected=422),
        Hostile("validation error echo", "POST", "projects", b'{"name": "' + b"\\ud83d\\ude00" * 300 + b'"}'),
    ]


def _send(session: requests.Session, base: str, token: str, item: Hostile) -> int:
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json", **dict(item.headers)}
    response = session.request(item.method, base + item.path, data=item.body, headers=headers, timeout=60)
    return response.status_code


def flood(base: str, hostile_token: str, normal_token: str, project_id: int, *, normal_requests: int = 300,
          hostile_threads: int = 4, normal_threads: int = 4) -> dict:
    """User X sends the catalogue in a loop while user Y makes `normal_requests` ordinary calls.

    Parameters
    ----------
    base : str
        ``{hub}/services/matfold/api/``.

    Returns
    -------
    dict
        ``{"hostile": {kind: Counter(status)}, "normal": Counter(status), "wrong": [(kind, status)],
        "seconds": s}`` — ``wrong`` lists hostile answers other than the expected status.
    """
    items = catalogue(project_id)
    hostile: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    wrong: list[tuple[str, object]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def attack():
        session = requests.Session()
        while not stop.is_set():
            for item in items:
                try:
                    status = _send(session, base, hostile_token, item)
                except requests.RequestException as exc:
                    status = type(exc).__name__
                with lock:
                    hostile[item.kind][status] += 1
                    if status != item.expected:
                        wrong.append((item.kind, status))
                if stop.is_set():
                    break

    def normal(i: int):
        headers = {"Authorization": f"token {normal_token}"}
        try:
            if i % 3 == 0:
                answer = requests.post(base + "projects", json={"name": f"normal {i}"}, headers=headers, timeout=60)
            elif i % 3 == 1:
                answer = requests.get(base + "projects", headers=headers, timeout=60)
            else:
                answer = requests.get(base + "usage", headers=headers, timeout=60)
            return answer.status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    start = time.perf_counter()
    attackers = [threading.Thread(target=attack, daemon=True) for _ in range(hostile_threads)]
    for thread in attackers:
        thread.start()
    try:
        with ThreadPoolExecutor(normal_threads) as pool:
            normal_codes = collections.Counter(pool.map(normal, range(normal_requests)))
    finally:
        stop.set()
        for thread in attackers:
            thread.join(timeout=120)
    return {"hostile": dict(hostile), "normal": normal_codes, "wrong": wrong,
            "seconds": time.perf_counter() - start}
