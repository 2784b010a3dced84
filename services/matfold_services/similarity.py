"""Similarity search over model embeddings (pgvector HNSW, cosine distance).

Materials carry 128-number embeddings (``materials.embedding``), protein structures
1280-number mean-pooled ESM-2 embeddings (``protein_structures.embedding``). Both
columns have an HNSW index with ``vector_cosine_ops`` (``m = 16``,
``ef_construction = 64``, migration 0001), which these functions use.

Every embedding a request carries is checked by :func:`check_embedding`, through the
request models' :data:`MaterialEmbedding` / :data:`ProteinEmbedding` types.

Distances are **cosine distances**, ``1 - cos(angle)``: dimensionless, 0 for the
same direction, 1 for orthogonal vectors, 2 for opposite ones. The length of a
vector does not matter, so the query is scaled to unit length before it is sent.

Approximate search (:func:`similar_materials`, :func:`similar_proteins`) walks the
HNSW graph; :func:`exact_similar_materials` and :func:`exact_similar_proteins`
compare the query with every candidate embedding (a scan, no index ordering) and
are meant for recall checks and small candidate sets.

Notes
-----
The approximate functions change two settings with ``set_config(..., is_local =>
true)`` (i.e. ``SET LOCAL``): ``hnsw.ef_search`` and ``hnsw.iterative_scan``. They
last until the end of the caller's transaction; every call sets its own values, so
calls do not influence each other. A session whose connection is in autocommit mode
has no transaction to hold them, and the search then runs with the server's
defaults (lower recall, possibly fewer than `k` rows with a filter).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, Field
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer

from matfold_kernel.errors import MatfoldInputError

from .models import MATERIAL_EMBEDDING_DIM, PROTEIN_EMBEDDING_DIM

__all__ = [
    "DEFAULT_EF_SEARCH",
    "EXACT_FILTER_ROWS",
    "MAX_K",
    "check_embedding",
    "embedding_type",
    "MaterialEmbedding",
    "ProteinEmbedding",
    "exact_similar_materials",
    "exact_similar_proteins",
    "similar_materials",
    "similar_proteins",
]

#: Candidate-list size of the HNSW search when the caller gives none. Measured with
#: ``benchmarks/similarity.py`` (100,000 clustered 128-d embeddings, k = 20, 2 shared
#: cores, index m = 16 / ef_construction = 64), over 7-9 index builds: recall@20
#: 0.975-0.994 at ef_search = 100 (p50 1.4-1.9 ms), 0.968-0.991 at 64, 0.966-0.986
#: at 40, and on average only +0.002 more at 200 (+0.3-0.5 ms). Past 100 the index,
#: not the search width, limits recall: the remaining misses are a few queries
#: (1-2 %) whose graph walk ends in another cluster at any ef_search.
DEFAULT_EF_SEARCH = 100

#: Most neighbours one call returns.
MAX_K = 1000

#: With a project filter that at most this many rows pass, the approximate search
#: runs the exact search instead: it is then both exact and faster. HNSW with a
#: filter walks roughly k / (share of rows passing) graph nodes, while exact search
#: costs roughly in proportion to the rows passing. Measured at 100,000 materials
#: (p50): 985 rows (1 %) 1.4 ms exact against 13 ms HNSW; 3,056 rows 2.7-4.4 ms
#: against 4.5-6.1 ms; 4,879 rows 6.7 ms against 4.0 ms; 10,042 rows 8-12 ms against
#: 2.8-3.0 ms. On a larger table the same row count is a smaller share, which
#: only makes HNSW slower, so the threshold is a row count, not a share.
EXACT_FILTER_ROWS = 4000

#: pgvector accepts hnsw.ef_search in 1..1000.
_EF_SEARCH_RANGE = (1, 1000)

# (table, embedding length, label used in messages)
_TABLES = {
    "materials": ("materials", MATERIAL_EMBEDDING_DIM, "material embedding"),
    "proteins": ("protein_structures", PROTEIN_EMBEDDING_DIM, "protein embedding"),
}


def check_embedding(embedding, dim: int, what: str = "embedding") -> np.ndarray:
    """Validate a query vector and scale it to unit length.

    Parameters
    ----------
    embedding : sequence of float or 1-D numpy array
        The query vector, `dim` numbers (any unit; only its direction matters).
    dim : int
        Required length (128 for materials, 1280 for proteins).
    what : str
        Name of the vector in error messages.

    Returns
    -------
    numpy.ndarray
        The vector divided by its Euclidean norm, float64, shape ``(dim,)``.

    Raises
    ------
    MatfoldInputError
        When it is not a flat sequence of `dim` real numbers, contains NaN or
        infinity, or is all zeros (cosine distance to a zero vector is undefined).
    """
    if isinstance(embedding, (str, bytes, bytearray)) or embedding is None or isinstance(embedding, dict):
        raise MatfoldInputError(
            f"{what} must be a sequence of {dim} numbers, got {type(embedding).__name__}")
    try:
        raw = np.asarray(embedding)
    except (TypeError, ValueError) as exc:
        raise MatfoldInputError(f"{what} must be a flat sequence of {dim} numbers: {exc}") from None
    if raw.ndim != 1:
        raise MatfoldInputError(
            f"{what} must be a flat sequence of {dim} numbers, got an array of shape {raw.shape}")
    if raw.shape[0] != dim:
        raise MatfoldInputError(f"{what} must have {dim} numbers, got {raw.shape[0]}")
    if raw.dtype.kind not in "biuf":
        if raw.dtype.kind == "c":
            raise MatfoldInputError(f"{what} must hold real numbers, got complex values")
        try:
            raw = raw.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise MatfoldInputError(f"{what} must hold only numbers: {exc}") from None
    vector = raw.astype(np.float64)
    bad = ~np.isfinite(vector)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        kind = "NaN" if math.isnan(vector[index]) else "infinite"
        raise MatfoldInputError(
            f"{what} contains {int(bad.sum())} NaN or infinite value(s); the first is {kind} at "
            f"index {index}; every entry must be a finite number")
    scale = np.abs(vector).max()
    if scale == 0.0:
        raise MatfoldInputError(
            f"{what} is all zeros; cosine distance to a zero vector is undefined — "
            "give a vector with at least one non-zero entry")
    vector = vector / scale  # avoid overflow/underflow in the norm
    return vector / np.linalg.norm(vector)


def embedding_type(dim: int, what: str):
    """A request-model field type: `dim` finite numbers, not all zero, checked by :func:`check_embedding`.

    The list is kept as sent (not scaled: only the direction is compared). A refusal is
    pydantic's 422 with :func:`check_embedding`'s message; elements that are no numbers
    are refused by ``list[float]`` before it runs.
    """
    def check(value: list[float]) -> list[float]:
        check_embedding(value, dim, what)  # MatfoldInputError is a ValueError: pydantic reports it
        return value

    return Annotated[list[float], AfterValidator(check),
                     Field(description=f"{dim} finite numbers, not all zero (only the direction counts)")]


#: A material's embedding in a request (:data:`~matfold_services.models.MATERIAL_EMBEDDING_DIM` numbers).
MaterialEmbedding = embedding_type(MATERIAL_EMBEDDING_DIM, "material embedding")
#: A protein's embedding in a request (:data:`~matfold_services.models.PROTEIN_EMBEDDING_DIM` numbers).
ProteinEmbedding = embedding_type(PROTEIN_EMBEDDING_DIM, "protein embedding")


def _vector_literal(unit: np.ndarray) -> str:
    """pgvector text form of a unit vector (float32, as the column stores it)."""
    return "[" + ",".join(repr(v) for v in unit.astype(np.float32).tolist()) + "]"


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= MAX_K:
        raise MatfoldInputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def _check_ef_search(ef_search) -> int:
    if ef_search is None:
        return DEFAULT_EF_SEARCH
    low, high = _EF_SEARCH_RANGE
    if isinstance(ef_search, bool) or not isinstance(ef_search, numbers.Integral) or not low <= ef_search <= high:
        raise MatfoldInputError(f"ef_search must be an integer from {low} to {high}, got {ef_search!r}")
    return int(ef_search)


def _check_ids(project_ids) -> list[int] | None:
    if project_ids is None:
        return None
    if isinstance(project_ids, (str, bytes)) or not isinstance(project_ids, Iterable):
        raise MatfoldInputError(f"project_ids must be a list of integers, got {project_ids!r}")
    ids = list(project_ids)
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise MatfoldInputError(f"project_ids must be a list of integers, got the element {value!r}")
    return sorted({int(v) for v in ids})


def _check_exclude(exclude_id) -> int | None:
    if exclude_id is None:
        return None
    if isinstance(exclude_id, bool) or not isinstance(exclude_id, numbers.Integral):
        raise MatfoldInputError(f"exclude_id must be an integer or None, got {exclude_id!r}")
    return int(exclude_id)


def _filters(project_ids, exclude_id) -> tuple[str, dict]:
    where, params = ["embedding IS NOT NULL"], {}
    if project_ids is not None:
        where.append("project_id = ANY(CAST(:project_ids AS integer[]))")
        params["project_ids"] = project_ids
    if exclude_id is not None:
        where.append("id <> :exclude_id")
        params["exclude_id"] = exclude_id
    return " AND ".join(where), params


def _bind(statement: str, params: dict):
    clause = text(statement)
    if "project_ids" in params:
        clause = clause.bindparams(bindparam("project_ids", type_=ARRAY(Integer)))
    return clause


def _exact(session, kind: str, embedding, k, project_ids, exclude_id) -> list[tuple[int, float]]:
    table, dim, what = _TABLES[kind]
    unit = check_embedding(embedding, dim, what)
    k, project_ids, exclude_id = _check_k(k), _check_ids(project_ids), _check_exclude(exclude_id)
    if project_ids == []:
        return []
    where, params = _filters(project_ids, exclude_id)
    # cosine_distance() is the function behind <=>; the planner only matches the
    # operator against an index ordering, so this is always a scan that computes the
    # distance of every candidate row. Stored zero vectors have distance NaN, which
    # Postgres sorts after every number; they are dropped here, as the HNSW index
    # leaves them out.
    statement = (
        f"SELECT id, cosine_distance(embedding, CAST(:q AS vector({dim}))) AS distance "
        f"FROM {table} WHERE {where} ORDER BY distance, id LIMIT :k")
    params.update(q=_vector_literal(unit), k=k)
    rows = session.execute(_bind(statement, params), params).all()
    return [(int(i), float(d)) for i, d in rows if not math.isnan(d)]


def _approximate(session, kind: str, embedding, k, project_ids, exclude_id, ef_search
                 ) -> list[tuple[int, float]]:
    table, dim, what = _TABLES[kind]
    unit = check_embedding(embedding, dim, what)
    k, ef_search = _check_k(k), _check_ef_search(ef_search)
    project_ids, exclude_id = _check_ids(project_ids), _check_exclude(exclude_id)
    if project_ids == []:
        return []
    # Without iterative scan, HNSW returns at most ef_search candidates and the WHERE
    # clause is applied to those afterwards, so a filter that rejects most of them
    # gives fewer than k rows. relaxed_order keeps scanning the graph until k rows
    # pass (or hnsw.max_scan_tuples is reached); its results may be slightly out of
    # order, hence the re-sort outside the MATERIALIZED CTE (as pgvector advises).
    settings = ("SELECT set_config('hnsw.ef_search', :ef, true), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', true)")
    params = {"ef": str(max(ef_search, k))}
    if project_ids is None:
        session.execute(text(settings), params)
    else:
        # In the same round trip: do more than EXACT_FILTER_ROWS rows pass the
        # project filter? (An index-only scan of ix_*_project_id, stopped early.)
        settings += (f", (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE project_id = "
                     "ANY(CAST(:project_ids AS integer[])) LIMIT :limit) AS candidates)")
        params.update(project_ids=project_ids, limit=EXACT_FILTER_ROWS + 1)
        candidates = session.execute(_bind(settings, params), params).one()[2]
        if candidates <= EXACT_FILTER_ROWS:
            return _exact(session, kind, unit, k, project_ids, exclude_id)
    where, params = _filters(project_ids, exclude_id)
    statement = (
        f"WITH nearest AS MATERIALIZED (SELECT id, embedding <=> CAST(:q AS vector({dim})) AS distance "
        f"FROM {table} WHERE {where} ORDER BY distance LIMIT :k) "
        "SELECT id, distance FROM nearest ORDER BY distance, id")
    params.update(q=_vector_literal(unit), k=k)
    rows = session.execute(_bind(statement, params), params).all()
    if len(rows) < k:
        # Either fewer than k rows qualify, or the iterative scan gave up
        # (hnsw.max_scan_tuples) on a filter that only a few rows far from the query
        # pass. The exact search settles both; it is cheap in the first case and
        # rare in the second.
        return _exact(session, kind, unit, k, project_ids, exclude_id)
    return [(int(i), float(d)) for i, d in rows]


def similar_materials(session, embedding: Sequence[float], k: int = 20, *,
                      project_ids: Iterable[int] | None = None, exclude_id: int | None = None,
                      ef_search: int | None = None) -> list[tuple[int, float]]:
    """The `k` materials whose embeddings are nearest to `embedding` (approximate, HNSW).

    Parameters
    ----------
    session : sqlalchemy.orm.Session or sqlalchemy.engine.Connection
        Open session on the service database; the search runs in its transaction.
    embedding : sequence of float or 1-D numpy array
        Query vector of 128 finite numbers, not all zero. Only its direction
        matters (cosine distance), so any scale is fine.
    k : int, default 20
        How many neighbours to return, 1 to :data:`MAX_K`.
    project_ids : iterable of int, optional
        Only materials of these projects; an empty iterable returns ``[]``.
        ``None`` searches all projects (the caller checks access). When at most
        :data:`EXACT_FILTER_ROWS` materials belong to them, the search is exact.
    exclude_id : int, optional
        A material id to leave out, typically the material the query came from.
    ef_search : int, optional
        HNSW candidate-list size, 1 to 1000; larger is slower and more accurate.
        Defaults to :data:`DEFAULT_EF_SEARCH`; raised to `k` when smaller.

    Returns
    -------
    list of (int, float)
        ``(material id, cosine distance)``, nearest first (ties by id); cosine
        distance is ``1 - cos(angle)``, dimensionless, in [0, 2]. Fewer than `k`
        items only when fewer materials with an embedding pass the filters.
        Materials without an embedding, or with an all-zero one, never appear.

    Raises
    ------
    MatfoldInputError
        For a malformed query vector (wrong length, NaN/infinity, all zeros) or
        out-of-range `k`, `ef_search`, `project_ids`, `exclude_id`.

    Notes
    -----
    Sets ``hnsw.ef_search`` and ``hnsw.iterative_scan = relaxed_order`` with SET LOCAL
    (see the module notes). When the index walk yields fewer than `k` rows the call
    falls back to :func:`exact_similar_materials`, so a project filter still
    returns `k` materials whenever the project has that many.
    """
    return _approximate(session, "materials", embedding, k, project_ids, exclude_id, ef_search)


def similar_proteins(session, embedding: Sequence[float], k: int = 20, *,
                     project_ids: Iterable[int] | None = None, exclude_id: int | None = None,
                     ef_search: int | None = None) -> list[tuple[int, float]]:
    """The `k` protein structures nearest to `embedding` (approximate, HNSW).

    Same as :func:`similar_materials` for ``protein_structures``: the query is a
    1280-number (mean-pooled ESM-2) vector and the result is
    ``(protein structure id, cosine distance)``, nearest first.
    """
    return _approximate(session, "proteins", embedding, k, project_ids, exclude_id, ef_search)


def exact_similar_materials(session, embedding: Sequence[float], k: int = 20, *,
                            project_ids: Iterable[int] | None = None,
                            exclude_id: int | None = None) -> list[tuple[int, float]]:
    """The exact `k` nearest materials, by comparing the query with every embedding.

    Parameters and result as :func:`similar_materials` (no `ef_search`). It does
    not use the HNSW index (it orders by ``cosine_distance(embedding, query)``,
    which the planner cannot serve from the index) and changes no settings. Its
    cost grows linearly with the number of candidate rows: use it for recall
    checks, or on small filtered sets.
    """
    return _exact(session, "materials", embedding, k, project_ids, exclude_id)


def exact_similar_proteins(session, embedding: Sequence[float], k: int = 20, *,
                           project_ids: Iterable[int] | None = None,
                           exclude_id: int | None = None) -> list[tuple[int, float]]:
    """The exact `k` nearest protein structures; see :func:`exact_similar_materials`."""
    return _exact(session, "proteins", embedding, k, project_ids, exclude_id)
