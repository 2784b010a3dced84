"""Gradient-boosted regression trees on the composition descriptor, evaluated in numpy.

A composition ensemble may carry a tree ensemble beside its networks: its value is
then ``(1 - w) · networks + w · trees``, with the weight ``w`` chosen on the
validation split (``matfold blend-trees``). The trees see what the networks do not
weigh alike — the fraction-weighted statistics of the elemental properties
(:func:`.features.describe`) — and their errors are only partly correlated with the
networks', so the blend is better than either on the tasks where it is kept.

The trees are fitted with LightGBM (only needed for training) and stored as four
flat arrays, nodes of all trees in pre-order: an internal node's left child is the
next node, ``right`` gives the other; a leaf has ``feature == -1`` and its value in
``threshold``. Thresholds are rounded *down* to float32: the descriptor is float32,
so ``x <= t`` decides exactly as LightGBM's double comparison does.

Batches run on ONNX Runtime's ``TreeEnsembleRegressor`` (0.18 ms per formula for
8.6 k trees, 7x the numpy walk); its graph is built on first use (1-5 s for 2-14 k
trees), so a few rows — one formula in a notebook — take the numpy walk (8 ms for
14 k trees), as does everything where ONNX Runtime is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MatfoldDependencyError
from .composition import MAX_Z
from .features import describe

__all__ = ["TreeEnsemble", "composition_descriptor"]

#: batches smaller than this take the numpy walk under ``backend="auto"``
SMALL_BATCH = 64


def composition_descriptor(idx: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """The :func:`.features.describe` matrix (n, N_FEATURES) of encoded compositions.

    ``idx`` holds element numbers 1..94 (0 = padding) and ``frac`` fractions or amounts
    (they are normalised per row), both (n, L), as :func:`.compnet.encode_compositions`
    gives them.
    """
    idx = np.asarray(idx)
    if len(idx) > 2048:  # in chunks: describe() holds three (rows, 94, 24) float64 arrays on the way
        return np.concatenate([composition_descriptor(idx[i:i + 2048], frac[i:i + 2048])
                               for i in range(0, len(idx), 2048)])
    amounts = np.where(idx > 0, np.asarray(frac, np.float64), 0.0)
    total = amounts.sum(axis=1, keepdims=True)
    matrix = np.zeros((len(idx), MAX_Z), np.float64)
    rows = np.repeat(np.arange(len(idx)), idx.shape[1]).reshape(idx.shape)
    np.add.at(matrix, (rows[idx > 0], idx[idx > 0] - 1), (amounts / np.where(total > 0, total, 1))[idx > 0])
    return describe(matrix)


@dataclass
class TreeEnsemble:
    """Regression trees whose outputs add up to the prediction (in the task's target unit).

    ``feature`` (N,) int16, ``threshold`` (N,) float32, ``right`` (N,) int32 over the
    nodes of all trees; ``roots`` (T,) int32; ``depth`` the deepest path (edges).
    """

    feature: np.ndarray
    threshold: np.ndarray
    right: np.ndarray
    roots: np.ndarray
    depth: int
    #: the number of columns the trees were fitted on (None: not recorded, before 2026-12-05)
    n_features: int | None = None
    _session: object = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_lightgbm(cls, booster, num_iteration: int | None = None) -> "TreeEnsemble":
        """Convert a trained ``lightgbm.Booster`` (numerical splits, no missing values)."""
        dump = booster.dump_model(num_iteration=num_iteration)
        feature, threshold, right, roots = [], [], [], []
        depth = 0

        def walk(node, level):
            nonlocal depth
            here = len(feature)
            if "leaf_value" in node or "split_feature" not in node:
                feature.append(-1)
                threshold.append(np.float32(node.get("leaf_value", 0.0)))
                right.append(-1)
                depth = max(depth, level)
                return
            if node.get("decision_type", "<=") != "<=":
                raise ValueError(f"cannot convert a {node['decision_type']!r} split (numerical '<=' only)")
            t = np.float32(node["threshold"])
            if float(t) > float(node["threshold"]):  # round down: x <= t32 iff x <= t for float32 x
                t = np.nextafter(t, np.float32(-np.inf))
            feature.append(int(node["split_feature"]))
            threshold.append(t)
            right.append(-1)
            walk(node["left_child"], level + 1)
            right[here] = len(feature)
            walk(node["right_child"], level + 1)

        for tree in dump["tree_info"]:
            roots.append(len(feature))
            walk(tree["tree_structure"], 0)
        return cls(np.asarray(feature, np.int16), np.asarray(threshold, np.float32),
                   np.asarray(right, np.int32), np.asarray(roots, np.int32), depth, int(booster.num_feature()))

    def __len__(self) -> int:
        return len(self.roots)

    def predict(self, x: np.ndarray, backend: str = "auto") -> np.ndarray:
        """Sum of the trees' leaves for descriptor rows ``x`` (n, F) → (n,) float64.

        ``backend`` is ``"onnx"`` (ONNX Runtime; float32 sums, within 1e-5 relative of
        numpy's), ``"numpy"`` or ``"auto"`` (ONNX Runtime, when installed, for batches of
        :data:`SMALL_BATCH` rows or more).
        """
        if backend not in ("auto", "onnx", "numpy"):
            raise ValueError(f"unknown tree backend {backend!r}: use 'auto', 'onnx' or 'numpy'")
        x = np.ascontiguousarray(x, np.float32)
        if self.n_features is not None and (x.ndim != 2 or x.shape[1] != self.n_features):
            raise ValueError(f"these trees read {self.n_features} features per row, not {x.shape[1:]}")
        if backend == "numpy" or len(x) == 0 or (backend == "auto" and len(x) < SMALL_BATCH):
            return self._walk(x)
        session = self.onnx_session(x.shape[1], required=backend == "onnx")
        if session is None:
            return self._walk(x)
        return session.run(None, {"x": x})[0][:, 0].astype(np.float64)

    def _walk(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """The numpy evaluation: all (row, tree) paths of a batch step down together; a path
        leaves the active set at its leaf, so the work follows the paths' lengths."""
        out = np.zeros(len(x), np.float64)
        feat = self.feature.astype(np.int64)
        roots = self.roots.astype(np.int64)
        for start in range(0, len(x), batch_size):
            rows = x[start:start + batch_size]
            flat = rows.ravel()
            node = np.tile(roots, len(rows))  # (rows · trees,), row-major
            offset = np.repeat(np.arange(len(rows), dtype=np.int64) * x.shape[1], len(roots))
            active = np.flatnonzero(feat[node] >= 0)
            while active.size:
                here = node[active]
                go_left = flat[offset[active] + feat[here]] <= self.threshold[here]
                here = np.where(go_left, here + 1, self.right[here])
                node[active] = here
                active = active[feat[here] >= 0]
            out[start:start + len(rows)] = self.threshold[node].reshape(len(rows), -1).sum(axis=1, dtype=np.float64)
        return out

    def to_onnx(self, n_features: int) -> bytes:
        """The trees as one ONNX ``TreeEnsembleRegressor`` (ai.onnx.ml opset 3): input ``x``
        (n, ``n_features``) float32, output ``y`` (n, 1).

        The node lists are encoded straight to protobuf bytes (packed varints and floats):
        filling 1.8 M nodes into onnx's message objects took 4 s and 900 MB.
        """
        from onnx import TensorProto, helper

        n = len(self.feature)
        tree = np.searchsorted(self.roots, np.arange(n), side="right") - 1
        local = np.arange(n) - self.roots[tree]  # node ids count from 0 in each tree
        leaf = self.feature < 0
        lists = {
            "nodes_treeids": tree, "nodes_nodeids": local, "nodes_featureids": np.where(leaf, 0, self.feature),
            "nodes_values": np.where(leaf, 0, self.threshold).astype(np.float32),
            "nodes_modes": leaf,  # LEAF or BRANCH_LEQ
            "nodes_truenodeids": np.where(leaf, 0, local + 1),
            "nodes_falsenodeids": np.where(leaf, 0, self.right - self.roots[tree]),
            "target_treeids": tree[leaf], "target_nodeids": local[leaf], "target_ids": np.zeros(int(leaf.sum()), int),
            "target_weights": self.threshold[leaf].astype(np.float32),
        }
        node = helper.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1,
                                aggregate_function="SUM", post_transform="NONE", base_values=[0.0])
        node_bytes = node.SerializeToString() + b"".join(_field(5, _attribute(k, v)) for k, v in lists.items())
        graph = helper.make_graph(
            [], "matfold-trees", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, n_features])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("ai.onnx.ml", 3)])
        model.ClearField("graph")
        # GraphProto.node is field 1, ModelProto.graph field 7
        return model.SerializeToString() + _field(7, graph.SerializeToString() + _field(1, node_bytes))

    def onnx_session(self, n_features: int, required: bool = True):
        """The ONNX Runtime session of these trees (built on first use, kept); None when
        ONNX Runtime is missing and not ``required``."""
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError:
                if not required:
                    return None
                raise MatfoldDependencyError("the ONNX backend needs onnxruntime: pip install 'matfold[ml]'") from None
            self._session = ort.InferenceSession(self.to_onnx(n_features), providers=["CPUExecutionProvider"])
        return self._session

    # -- persistence (plain tensors, for ``torch.load(weights_only=True)``) ------
    def to_state(self) -> dict:
        import torch

        return {"feature": torch.from_numpy(self.feature.copy()), "threshold": torch.from_numpy(self.threshold.copy()),
                "right": torch.from_numpy(self.right.copy()), "roots": torch.from_numpy(self.roots.copy()),
                "depth": int(self.depth), **({"n_features": int(self.n_features)} if self.n_features else {})}

    @classmethod
    def from_state(cls, state: dict) -> "TreeEnsemble":
        return cls(state["feature"].numpy().astype(np.int16), state["threshold"].numpy().astype(np.float32),
                   state["right"].numpy().astype(np.int32), state["roots"].numpy().astype(np.int32),
                   int(state["depth"]), state.get("n_features"))


# -- protobuf wire format, for the long node lists of :meth:`TreeEnsemble.to_onnx` -----
def _varints(values: np.ndarray) -> bytes:
    """Non-negative integers as concatenated protobuf varints (7 bits a byte, low first)."""
    v = np.asarray(values, np.uint64).reshape(-1)
    if len(v) > 1 << 18:  # in chunks: the (n, 10) byte table of 1.8 M values is 140 MB on the way
        return b"".join(_varints(v[start:start + (1 << 18)]) for start in range(0, len(v), 1 << 18))
    groups = np.stack([(v >> np.uint64(7 * k)) & np.uint64(0x7F) for k in range(10)], axis=1).astype(np.uint8)
    length = 1 + sum((v >= np.uint64(1) << np.uint64(7 * k)).astype(np.int64) for k in range(1, 10))
    column = np.arange(10)
    groups[column < (length[:, None] - 1)] |= 0x80  # continuation bit on all bytes but the last
    return groups[column < length[:, None]].tobytes()


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varints(np.array([number << 3 | 2])) + _varints(np.array([len(payload)])) + payload


def _attribute(name: str, values: np.ndarray) -> bytes:
    """An onnx AttributeProto: INTS (packed), FLOATS (packed) or, for a bool array, the
    STRINGS ``LEAF`` (True) / ``BRANCH_LEQ`` (False)."""
    head = _field(1, name.encode())
    if values.dtype == bool:  # AttributeProto.strings = 9, type STRINGS = 8 (field 20)
        leaf, branch = _field(9, b"LEAF"), _field(9, b"BRANCH_LEQ")
        body = b"".join(np.where(values, leaf, branch).tolist())  # neither ends in NUL, which "S" would strip
        kind = 8
    elif values.dtype.kind == "f":  # floats = 7, FLOATS = 6
        body, kind = _field(7, np.asarray(values, "<f4").tobytes()), 6
    else:  # ints = 8, INTS = 7
        body, kind = _field(8, _varints(values)), 7
    return head + _varints(np.array([20 << 3])) + _varints(np.array([kind])) + body
