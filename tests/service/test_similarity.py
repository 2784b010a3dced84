"""Similarity search over embeddings on a real Postgres with pgvector (HNSW, cosine)."""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest
from matfold_services import similarity
from matfold_services.db import make_engine, make_sessionmaker, migrate
from matfold_services.similarity import (
    DEFAULT_EF_SEARCH,
    exact_similar_materials,
    exact_similar_proteins,
    similar_materials,
    similar_proteins,
)
from pgvector.psycopg import register_vector
from sqlalchemy import text

from matfold_kernel.errors import MatfoldInputError

K = 20


def clustered(n: int, dim: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` unit vectors in `clusters` Gaussian clusters of varied size and spread; (X, labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 0.8, clusters)
    labels = rng.choice(clusters, size=n, p=weights / weights.sum())
    spreads = rng.uniform(0.4, 1.0, clusters)
    X = centres[labels] + rng.normal(size=(n, dim)) * (spreads[labels, None] / np.sqrt(dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), labels


def load(url: str, table: str, X: np.ndarray, projects: np.ndarray) -> list[int]:
    """COPY rows with these embeddings into `table`; returns their ids in order."""
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute("INSERT INTO projects (id, name, description, target_properties) "
                     "SELECT g, 'p' || g, '', '[]' FROM unnest(%s::int[]) AS g ON CONFLICT DO NOTHING",
                     (sorted({int(p) for p in projects}),))
        first = conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
        if table == "materials":
            columns, row = "project_id, formula, reduced_formula, elements, embedding", \
                lambda p, v: (int(p), "NaCl", "NaCl", ["Na", "Cl"], v)
            types = ["int4", "varchar", "varchar", "varchar[]", "vector"]
        else:
            columns, row = "project_id, name, sequence, sequence_hash, files, embedding", \
                lambda p, v: (int(p), "prot", "MKV", "h", "{}", v)
            types = ["int4", "varchar", "text", "varchar", "json", "vector"]
        with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for p, v in zip(projects, X):
                copy.write_row(row(p, v))
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id > %s ORDER BY id", (first,))]
        conn.execute(f"ANALYZE {table}")
    assert len(ids) == len(X)
    return ids


@pytest.fixture
def maker(database_url):
    migrate(database_url)
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def materials(database_url, maker):
    """3,000 clustered 128-d embeddings in project 1, plus 200 held-out query points."""
    X, _ = clustered(3200, 128, 40, seed=1)
    ids = load(database_url, "materials", X[:3000], np.ones(3000, dtype=int))
    return {"X": X[:3000], "ids": ids, "queries": X[3000:]}


def uses_hnsw(session, statement: str, params: dict) -> bool:
    plan = "\n".join(r[0] for r in session.execute(text("EXPLAIN " + statement), params))
    return "embedding_hnsw" in plan


def test_recall_at_20_against_exact_search(maker, materials):
    recalls, exact_vs_numpy = [], []
    X, ids = materials["X"], np.array(materials["ids"])
    with maker() as session:
        for q in materials["queries"]:
            approx = similar_materials(session, q, K)
            exact = exact_similar_materials(session, q, K)
            assert len(approx) == len(exact) == K
            assert [d for _, d in approx] == sorted(d for _, d in approx)
            recalls.append(len({i for i, _ in approx} & {i for i, _ in exact}) / K)
            brute = ids[np.argsort(-(X @ q))[:K]]
            exact_vs_numpy.append(len(set(brute) & {i for i, _ in exact}) / K)
            # distances are cosine distances: 1 - cos(angle)
            i, d = exact[0]
            assert d == pytest.approx(1 - float(X[ids.tolist().index(i)] @ q), abs=1e-5)
        session.rollback()
    assert np.mean(exact_vs_numpy) >= 0.999
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_the_approximate_search_uses_the_index_and_the_exact_search_does_not(maker, materials):
    q = "[" + ",".join(map(str, materials["queries"][0])) + "]"
    with maker() as session:
        assert uses_hnsw(session, "SELECT id FROM materials ORDER BY embedding <=> CAST(:q AS vector(128)) "
                         "LIMIT 20", {"q": q})
        assert not uses_hnsw(session, "SELECT id, cosine_distance(embedding, CAST(:q AS vector(128))) AS d "
                             "FROM materials WHERE embedding IS NOT NULL ORDER BY d, id LIMIT 20", {"q": q})
        similar_materials(session, materials["queries"][0], K, ef_search=77)
        assert session.execute(text("SHOW hnsw.ef_search")).scalar() == "77"
        assert session.execute(text("SHOW hnsw.iterative_scan")).scalar() == "relaxed_order"
        similar_materials(session, materials["queries"][0], K)
        assert session.execute(text("SHOW hnsw.ef_search")).scalar() == str(DEFAULT_EF_SEARCH)
        session.rollback()  # SET LOCAL ends with the transaction
        assert session.execute(text("SHOW hnsw.ef_search")).scalar() == "40"


def test_nearest_neighbour_of_a_stored_vector_is_itself_and_exclude_id_removes_it(maker, materials):
    X, ids = materials["X"], materials["ids"]
    with maker() as session:
        for row in (0, 1234, 2999):
            result = similar_materials(session, X[row], K)
            assert result[0][0] == ids[row]
            assert result[0][1] == pytest.approx(0.0, abs=1e-6)
            without = similar_materials(session, X[row], K, exclude_id=ids[row])
            assert ids[row] not in [i for i, _ in without]
            assert len(without) == K
            assert without[0][1] > 1e-6
            # the rest of the list is unchanged: the same neighbours, one place up
            assert [i for i, _ in without[:K - 1]] == [i for i, _ in result[1:]]
            exact = exact_similar_materials(session, X[row], K, exclude_id=ids[row])
            assert ids[row] not in [i for i, _ in exact]
        # scaling the query does not change anything (cosine distance)
        scaled = similar_materials(session, 1e-3 * X[5].astype(np.float64), K)
        assert scaled[0][0] == ids[5]


@pytest.fixture
def exact_calls(monkeypatch):
    """Counts the calls of the exact search made from inside similar_materials."""
    calls = []
    original = similarity._exact

    def spy(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    monkeypatch.setattr(similarity, "_exact", spy)
    return calls


@pytest.mark.parametrize("threshold", [0, None, 10**9], ids=["hnsw-iterative-scan", "default", "all-exact"])
def test_project_filter_returns_only_that_project_and_still_k_results(
        database_url, maker, monkeypatch, exact_calls, threshold):
    # Project 1: 2,800 points in 20 clusters (+ 50 held-out queries). Project 2:
    # 2,200 points in 20 other clusters, far from project 1's queries, so HNSW's
    # first candidates all belong to project 1 and a post-filter alone would leave
    # (almost) nothing of project 2.
    X1, _ = clustered(2850, 128, 20, seed=21)
    X2, _ = clustered(2200, 128, 20, seed=22)
    X, projects = np.r_[X1[:2800], X2], np.r_[np.ones(2800, int), np.full(2200, 2)]
    queries = X1[2800:]
    ids = load(database_url, "materials", X, projects)
    project_of = dict(zip(ids, projects.tolist()))
    if threshold is not None:
        monkeypatch.setattr(similarity, "EXACT_FILTER_ROWS", threshold)
    size = {1: 2800, 2: 2200}
    with maker() as session:
        # The scenario is real: a plain filtered HNSW query (no iterative scan) starves.
        q = "[" + ",".join(map(str, queries[0])) + "]"
        plain = ("SELECT id FROM materials WHERE project_id = ANY(CAST(:p AS integer[])) "
                 "ORDER BY embedding <=> CAST(:q AS vector(128)) LIMIT 20")
        session.execute(text("SET LOCAL hnsw.iterative_scan = off"))
        assert uses_hnsw(session, plain, {"p": [2], "q": q})
        assert len(session.execute(text(plain), {"p": [2], "q": q}).all()) < K
        session.rollback()

        recalls, took_exact_path = [], []
        for q in queries:
            for wanted in ([2], [1], [1, 2]):
                before = len(exact_calls)
                result = similar_materials(session, q, K, project_ids=wanted)
                took_exact_path.append(len(exact_calls) > before)
                assert took_exact_path[-1] == (sum(size[p] for p in wanted) <= similarity.EXACT_FILTER_ROWS)
                assert len(result) == K
                assert {project_of[i] for i, _ in result} <= set(wanted)
                exact = exact_similar_materials(session, q, K, project_ids=wanted)
                assert {project_of[i] for i, _ in exact} <= set(wanted)
                recalls.append(len({i for i, _ in result} & {i for i, _ in exact}) / K)
            assert similar_materials(session, q, K, project_ids=[]) == []
            session.rollback()
        assert np.mean(recalls) >= 0.95
        assert set(took_exact_path) == {0: {False}, None: {True, False}, 10**9: {True}}[threshold]
        # a project with no materials: fewer than k rows → exact search → nothing
        assert similar_materials(session, queries[0], K, project_ids=[99]) == []


def test_project_filter_falls_back_to_exact_search_when_the_index_walk_gives_up(
        database_url, maker, monkeypatch, exact_calls):
    X, labels = clustered(3000, 128, 30, seed=3)
    projects = np.where(labels < 10, 1, 2)
    ids = load(database_url, "materials", X, projects)
    project_of = dict(zip(ids, projects.tolist()))
    biggest = np.argmax(np.bincount(labels, minlength=30)[:10])  # of project 1's clusters
    q = X[np.flatnonzero(labels == biggest)[0]]
    monkeypatch.setattr(similarity, "EXACT_FILTER_ROWS", 0)  # take the HNSW path
    with maker() as session:
        literal = "[" + ",".join(map(str, q)) + "]"
        assert uses_hnsw(session, "SELECT id FROM materials WHERE project_id = ANY(CAST(:p AS integer[])) "
                         "ORDER BY embedding <=> CAST(:q AS vector(128)) LIMIT 20", {"p": [2], "q": literal})
        # The first pass (ef_search = k) stays in the query's cluster (project 1), and the
        # iterative scan may visit only 30 more tuples: it cannot find 20 rows of project 2.
        session.execute(text("SELECT set_config('hnsw.max_scan_tuples', '30', true)"))
        result = similar_materials(session, q, K, project_ids=[2], ef_search=K)
        assert exact_calls == ["materials"]
        exact = exact_similar_materials(session, q, K, project_ids=[2])
        assert result == exact
        assert len(result) == K and {project_of[i] for i, _ in result} == {2}


def test_fewer_than_k_rows_when_fewer_qualify(database_url, maker):
    X, _ = clustered(12, 128, 3, seed=4)
    ids = load(database_url, "materials", X, np.array([1] * 10 + [2] * 2))
    with maker() as session:
        session.execute(text("INSERT INTO materials (project_id, formula, reduced_formula, elements, embedding) "
                             "VALUES (1, 'Fe', 'Fe', '{Fe}', NULL), "
                             "(1, 'Fe', 'Fe', '{Fe}', CAST(:zero AS vector(128)))"),
                        {"zero": "[" + ",".join(["0"] * 128) + "]"})
        everything = similar_materials(session, X[0], K)
        assert sorted(i for i, _ in everything) == sorted(ids)  # no NULL, no zero vector
        assert all(math.isfinite(d) for _, d in everything)
        assert exact_similar_materials(session, X[0], K) == everything
        small = similar_materials(session, X[0], K, project_ids=[2])
        assert sorted(i for i, _ in small) == ids[10:]
        assert len(similar_materials(session, X[0], 3)) == 3


@pytest.mark.parametrize("bad, message", [
    (np.ones(127), "must have 128 numbers, got 127"),
    (np.ones(1280), "must have 128 numbers, got 1280"),
    ([], "must have 128 numbers, got 0"),
    (np.r_[np.ones(5), np.nan, np.ones(122)], "NaN at index 5"),
    (np.r_[np.ones(127), np.inf], "infinite at index 127"),
    (np.zeros(128), "all zeros"),
    ([0.0] * 128, "all zeros"),
    (np.ones((2, 128)), "flat sequence of 128 numbers, got an array of shape (2, 128)"),
    ("0.1, 0.2", "must be a sequence of 128 numbers, got str"),
    (None, "must be a sequence of 128 numbers, got NoneType"),
    (["a"] * 128, "must hold only numbers"),
    (np.ones(128) * 1j, "real numbers"),
])
def test_bad_vectors_raise_matfold_input_error(maker, bad, message):
    with maker() as session:
        for search in (similar_materials, exact_similar_materials):
            with pytest.raises(MatfoldInputError, match="material embedding") as info:
                search(session, bad, K)
            assert message in str(info.value)
            assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "k must be an integer from 1 to 1000, got 0"),
    ({"k": 2.5}, "k must be an integer"),
    ({"k": True}, "k must be an integer"),
    ({"ef_search": 0}, "ef_search must be an integer from 1 to 1000, got 0"),
    ({"ef_search": 5000}, "ef_search must be an integer from 1 to 1000, got 5000"),
    ({"project_ids": 3}, "project_ids must be a list of integers"),
    ({"project_ids": ["3"]}, "project_ids must be a list of integers, got the element '3'"),
    ({"exclude_id": "7"}, "exclude_id must be an integer or None"),
])
def test_bad_arguments_raise_matfold_input_error(maker, kwargs, message):
    with maker() as session, pytest.raises(MatfoldInputError) as info:
        similar_materials(session, np.ones(128), **kwargs)
    assert message in str(info.value)


def test_proteins_on_1280_d_vectors(database_url, maker):
    X, _ = clustered(700, 1280, 10, seed=5)
    ids = load(database_url, "protein_structures", X[:600], np.r_[np.ones(500, int), np.full(100, 2)])
    with maker() as session:
        result = similar_proteins(session, X[17], 10)
        assert result[0] == (ids[17], pytest.approx(0.0, abs=1e-6))
        assert len(result) == 10
        assert ids[17] not in [i for i, _ in similar_proteins(session, X[17], 10, exclude_id=ids[17])]
        filtered = similar_proteins(session, X[17], 10, project_ids=[2])
        assert len(filtered) == 10 and all(i in ids[500:] for i, _ in filtered)
        recalls = []
        for q in X[600:]:
            approx = similar_proteins(session, q, K)
            exact = exact_similar_proteins(session, q, K)
            recalls.append(len({i for i, _ in approx} & {i for i, _ in exact}) / K)
        assert np.mean(recalls) >= 0.95
        with pytest.raises(MatfoldInputError, match="protein embedding must have 1280 numbers, got 128"):
            similar_proteins(session, np.ones(128))
        with pytest.raises(MatfoldInputError, match="protein embedding is all zeros"):
            exact_similar_proteins(session, np.zeros(1280))
