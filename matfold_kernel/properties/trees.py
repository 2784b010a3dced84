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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TreeEnsemble", "composition_descriptor"]


def composition_descriptor(idx: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """The :func:`.features.describe` matrix (n, N_FEATURES) of encoded compositions.

    ``idx`` holds element numbers 1..94 (0 = padding) and ``frac`` fractions or amounts
    (they are normalised per row), both (n, L), as :func:`.compnet.encode_compositions`
    gives them.
    """
    from .composition import MAX_Z
    from .features import describe

    idx = np.asarray(idx)
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
                   np.asarray(right, np.int32), np.asarray(roots, np.int32), depth)

    def __len__(self) -> int:
        return len(self.roots)

    def predict(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Sum of the trees' leaves for descriptor rows ``x`` (n, F) → (n,) float64.

        All (row, tree) paths of a batch step down together; a path leaves the active
        set at its leaf, so the work follows the paths' lengths, not the deepest tree.
        """
        x = np.ascontiguousarray(x, np.float32)
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

    # -- persistence (plain tensors, for ``torch.load(weights_only=True)``) ------
    def to_state(self) -> dict:
        import torch

        return {"feature": torch.from_numpy(self.feature.copy()), "threshold": torch.from_numpy(self.threshold.copy()),
                "right": torch.from_numpy(self.right.copy()), "roots": torch.from_numpy(self.roots.copy()),
                "depth": int(self.depth)}

    @classmethod
    def from_state(cls, state: dict) -> "TreeEnsemble":
        return cls(state["feature"].numpy().astype(np.int16), state["threshold"].numpy().astype(np.float32),
                   state["right"].numpy().astype(np.int32), state["roots"].numpy().astype(np.int32),
                   int(state["depth"]))
