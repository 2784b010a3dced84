"""A trained composition ensemble: load, predict with mean and uncertainty, save.

The members' outputs are combined as a mixture of their Laplace distributions, with
equal weights unless the merge that made the ensemble chose a run more than once
(``member_weights``; :func:`~.training.select_runs` with ``weighted=True``). Its
variance adds the members' spread (epistemic) to the mean Laplace variance 2b²
(aleatoric); the standard deviation is then multiplied by the
calibration factor chosen on the validation split so that 68 % of val errors fall
within 1σ. The value reported is the mixture's median or its mean (``point``, chosen
on val when the ensemble is calibrated). The median is the estimate with the lowest
expected absolute error under the predictive distribution: where the members
disagree (a metal or a narrow-gap insulator), it follows the majority instead of
landing between them, and it commutes with the log10 of the modulus tasks.

Members may differ in whether they read the cell size (``CompNetConfig.cell_size``):
such an ensemble takes the amounts as written, and its other members normalise them
to fractions first.

An ensemble may also carry gradient-boosted trees on the composition descriptor
(:mod:`.trees`): the reported value is then ``(1 - w) · value + w · trees`` with the
weight ``w`` chosen on val; the spread (and so the uncertainty) stays the networks'.
The trees run on ONNX Runtime with either backend (numpy where it is missing).
Trees may also read what other tasks' shipped ensembles predict for the formula
(``tree_inputs``; log K reads the AFLOW bulk modulus, another calculation of the same
property): those ensembles are loaded on first use and must be the very files the
trees were fitted on (their SHA-256 is kept), or prediction stops with what to do.

Formation-energy members may predict the energy above the hull of the training
phases (``CompNetConfig.hull_offset``): the ensemble then carries that phase table
(:class:`~.formation_hull.FormationHull`) and adds the hull energy at each formula to
those members' locations, so every member's output is a formation energy again.
Their target is scaled by its own mean and standard deviation (0.34 eV/atom against
1.0 for the formation energy; with the formation energy's scaling a run scored 0.093
eV/atom on val instead of 0.085), so an ensemble that mixes them with plain members
keeps a scaling per member (``member_scaling``).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import MatfoldDependencyError, MatfoldInputError
from .compnet import CompNet, CompNetConfig, encode_compositions
from .composition import ELEMENTS
from .formation_hull import FormationHull
from .onnx_compnet import export_ensemble
from .trees import TreeEnsemble, composition_descriptor
from .weights import model_dir

__all__ = ["CompositionEnsemble", "EnsemblePrediction", "FORMAT", "POINTS", "laplace_mixture_median"]

FORMAT = "matfold-compnet/1"

#: the point estimates an ensemble can report
POINTS = ("mean", "median")


@dataclass
class EnsemblePrediction:
    """Arrays (n,) in the task's target unit.

    ``value`` is the reported estimate: ``median`` or ``mean`` of the predictive
    mixture, as the ensemble's ``point`` says; ``raw_std`` and ``std`` its standard
    deviation before and after calibration; ``members`` each member's location and
    ``scales`` its Laplace scale b (arrays (n, M)).
    """

    value: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    raw_std: np.ndarray
    std: np.ndarray
    members: np.ndarray
    scales: np.ndarray
    #: the trees' estimate (n,) when the ensemble carries trees, else None
    trees: np.ndarray | None = None


def _normalised(weights, m: int) -> np.ndarray:
    """Mixture weights (M,) summing to 1; equal when ``weights`` is None."""
    if weights is None:
        return np.full(m, 1.0 / m)
    w = np.asarray(weights, np.float64)
    if w.shape != (m,) or not np.all(w >= 0) or w.sum() <= 0:
        raise ValueError(f"member weights must be {m} non-negative numbers, not all 0")
    return w / w.sum()


def laplace_mixture_median(mus: np.ndarray, scales: np.ndarray, iterations: int = 48,
                           weights: np.ndarray | None = None) -> np.ndarray:
    """Median of the mixture of Laplace(mus[:, k], scales[:, k]), per row.

    ``mus`` and ``scales`` have shape (n, M) with scales > 0; ``weights`` (M,) weigh the
    members (default equal). Bisection on the mixture's CDF over
    [min(mu - 20b), max(mu + 20b)]; 48 halvings leave an error below 1e-13 of that bracket.
    """
    mus = np.asarray(mus, np.float64)
    scales = np.asarray(scales, np.float64)
    if mus.shape[0] == 0:
        return np.zeros(0)
    w = _normalised(weights, mus.shape[1])
    lo = (mus - 20 * scales).min(axis=1)
    hi = (mus + 20 * scales).max(axis=1)
    inv = 1.0 / scales
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        z = (mid[:, None] - mus) * inv
        half = 0.5 * np.exp(-np.abs(z))
        cdf = np.where(z < 0, half, 1.0 - half) @ w
        below = cdf < 0.5
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _stack_module(members, normalise: Sequence[bool]):
    import torch

    class _FromAmounts(torch.nn.Module):
        """A member that takes fractions, behind a module that takes the amounts as written."""

        def __init__(self, member):
            super().__init__()
            self.net = member

        def forward(self, idx, frac):  # named as the ONNX input: here it holds the amounts
            return self.net(idx, frac / frac.sum(dim=-1, keepdim=True))

    class _Stack(torch.nn.Module):
        """All members in one module: (idx, frac) → (B, M, 2), for export and batched inference."""

        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList(members)
            # per member, the module that takes the ensemble's input (a plain list: the
            # weights stay registered once, under members)
            self.runners = [_FromAmounts(m) if norm else m for m, norm in zip(members, normalise)]

        def train(self, mode: bool = True):
            # the adapters are not submodules: they follow the stack's mode here
            super().train(mode)
            for r in self.runners:
                r.train(mode)
            return self

        def forward(self, idx, frac):
            return torch.stack([r(idx, frac) for r in self.runners], dim=1)

    return _Stack().eval()


def mixture_prediction(mus: np.ndarray, scales: np.ndarray, calibration: float = 1.0,
                       point: str = "mean", weights: np.ndarray | None = None) -> EnsemblePrediction:
    """The prediction of the Laplace mixture of members (locations ``mus``, scales, (n, M)),
    weighted by ``weights`` (M,) or equally."""
    w = _normalised(weights, mus.shape[1])
    mean = mus @ w
    median = laplace_mixture_median(mus, scales, weights=w)
    raw_std = np.sqrt(((mus - mean[:, None]) ** 2) @ w + (2 * scales**2) @ w)
    value = median if point == "median" else mean
    return EnsemblePrediction(value, mean, median, raw_std, raw_std * calibration, mus, scales)


def _compositions(idx: np.ndarray, frac: np.ndarray) -> list[dict[str, float]]:
    """Encoded compositions back to ``{symbol: amount}``."""
    return [{ELEMENTS[z - 1]: float(f) for z, f in zip(row_i, row_f) if z > 0} for row_i, row_f in zip(idx, frac)]


class CompositionEnsemble:
    """The members of one task's composition model, with the target scaling they share."""

    def __init__(self, task: str, config: CompNetConfig, states: Sequence[dict], mean: float, std: float,
                 calibration: float = 1.0, metrics: dict | None = None,
                 member_configs: Sequence[CompNetConfig] | None = None, point: str = "mean",
                 trees: TreeEnsemble | None = None, tree_weight: float = 0.0,
                 member_weights: Sequence[float] | None = None, hull: FormationHull | None = None,
                 member_scaling: Sequence[Sequence[float]] | None = None,
                 tree_inputs: Sequence[dict] | None = None,
                 input_loader: Callable[[str, str], "CompositionEnsemble"] | None = None):
        import torch

        self.task = task
        self.config = config
        #: one config per member; they differ at most in dropout and cell_size
        self.member_configs = list(member_configs) if member_configs else [config] * len(states)
        if len(self.member_configs) != len(states):
            raise ValueError(f"{len(self.member_configs)} member configs for {len(states)} members")
        #: the members take the amounts as written (some read the cell size), not fractions
        self.takes_amounts = any(c.cell_size for c in self.member_configs)
        #: members whose output is the energy above the hull of ``hull``'s phases
        self.hull_offset = np.array([c.hull_offset for c in self.member_configs], bool)
        if self.hull_offset.any() and hull is None:
            raise ValueError("members predict the energy above the hull: pass the hull of their training phases")
        #: the training phases' hull (formation energies, eV/atom) when some members need it
        self.hull = hull if self.hull_offset.any() else None
        self.target_mean = float(mean)
        self.target_std = float(std)
        #: (M, 2) each member's target mean and standard deviation where they differ, else None
        #: (all members use ``target_mean`` and ``target_std``)
        self.member_scaling = None
        if member_scaling is not None:
            scaling = np.asarray(member_scaling, np.float64).reshape(-1, 2)
            if len(scaling) != len(states) or not np.all(scaling[:, 1] > 0):
                raise ValueError(f"member scaling must give a mean and a positive std for each of {len(states)} members")
            if not np.all(scaling == scaling[0]):
                self.member_scaling = scaling
            else:
                self.target_mean, self.target_std = float(scaling[0, 0]), float(scaling[0, 1])
        self.calibration = float(calibration)
        self.metrics = dict(metrics or {})
        if point not in POINTS:
            raise ValueError(f"point estimate {point!r} is not one of {POINTS}")
        #: the estimate :meth:`predict_arrays` reports as ``value``
        self.point = point
        #: each member's weight in the mixture (a run chosen twice by a weighted merge weighs 2);
        #: None: equal weights
        self.member_weights = None
        if member_weights is not None and len(set(member_weights)) > 1:
            _normalised(member_weights, len(states))  # checks them
            self.member_weights = np.asarray(member_weights, np.float64)
        #: gradient-boosted trees blended into the value with weight ``tree_weight`` (0..1)
        self.trees = trees
        self.tree_weight = float(tree_weight) if trees is not None else 0.0
        #: other tasks' shipped ensembles whose values the trees read after the descriptor:
        #: ``{"task": ..., "sha256": ...}`` each, the hash that of the file they were fitted on
        self.tree_inputs = tree_inputs if trees is not None else None
        #: ``input_loader(task, device)`` gives the shipped ensemble of a task the trees read;
        #: the model loader (:func:`.models.load_composition_model`) hands it over
        self.input_loader = input_loader
        nets = []
        for state, cfg in zip(states, self.member_configs):
            net = CompNet(cfg)
            net.load_state_dict({k: v.float() for k, v in state.items()})
            nets.append(net.eval())
        self.module = _stack_module(nets, [self.takes_amounts and not c.cell_size for c in self.member_configs])
        self.device = torch.device("cpu")
        self._onnx = None
        self._hash: str | None = None
        self.source: Path | None = None

    @classmethod
    def from_members(cls, task, config, states, mean, std, member_configs=None, hull=None):
        return cls(task, config, states, mean, std, member_configs=member_configs, hull=hull)

    # -- persistence -------------------------------------------------------
    def checkpoint(self, calibration: float | None = None, metrics: dict | None = None,
                   point: str | None = None) -> dict:
        """A dict for ``torch.save``: float16 weights (about 1 MB per member), scaling, metrics."""
        if point is not None:
            if point not in POINTS:
                raise ValueError(f"point estimate {point!r} is not one of {POINTS}")
            self.point = point
        if calibration is not None:
            self.calibration = float(calibration)
        if metrics is not None:
            self.metrics = dict(metrics)
        mixed = any(c != self.config for c in self.member_configs)
        return {
            "format": FORMAT,
            "task": self.task,
            "config": self.config.to_dict(),
            **({"member_configs": [c.to_dict() for c in self.member_configs]} if mixed else {}),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "calibration": self.calibration,
            "point": self.point,
            "metrics": self.metrics,
            **({"member_weights": self.member_weights.tolist()} if self.member_weights is not None else {}),
            **({"member_scaling": self.member_scaling.tolist()} if self.member_scaling is not None else {}),
            **({"trees": self.trees.to_state(), "tree_weight": self.tree_weight} if self.trees is not None else {}),
            **({"tree_inputs": self.tree_inputs} if self.tree_inputs else {}),
            **({"hull": self.hull.to_state()} if self.hull is not None else {}),
            "members": [
                {k: v.detach().half() for k, v in m.state_dict().items()} for m in self.module.members
            ],
        }

    @classmethod
    def load(cls, path: str | Path | bytes,
             input_loader: Callable[[str, str], "CompositionEnsemble"] | None = None) -> "CompositionEnsemble":
        """Load a checkpoint written by :func:`matfold_kernel.properties.training.train_task`.

        ``input_loader(task, device)``: where the trees find the models they read (see
        :meth:`input_models`); :func:`.models.load_composition_model` passes the shipped ones.
        """
        import torch

        source = io.BytesIO(path) if isinstance(path, bytes) else path
        ckpt = torch.load(source, map_location="cpu", weights_only=True)
        if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
            raise ValueError("not a matfold composition model checkpoint")
        member_configs = [CompNetConfig(**c) for c in ckpt["member_configs"]] if "member_configs" in ckpt else None
        model = cls(ckpt["task"], CompNetConfig(**ckpt["config"]), ckpt["members"], ckpt["target_mean"],
                    ckpt["target_std"], ckpt["calibration"], ckpt["metrics"], member_configs,
                    ckpt.get("point", "mean"),  # checkpoints before 2026-12 report the mean
                    TreeEnsemble.from_state(ckpt["trees"]) if "trees" in ckpt else None,
                    ckpt.get("tree_weight", 0.0), ckpt.get("member_weights"),
                    FormationHull.from_state(ckpt["hull"]) if "hull" in ckpt else None,
                    ckpt.get("member_scaling"), ckpt.get("tree_inputs"), input_loader)
        model.source = None if isinstance(path, bytes) else Path(path)
        return model

    def to(self, device) -> "CompositionEnsemble":
        """Move the members to a torch device (``"cuda"`` when present)."""
        import torch

        self.device = torch.device(device)
        self.module.to(self.device)
        self.tree_inputs = self.tree_inputs  # the models the trees read follow on their next use
        return self

    # -- inference ---------------------------------------------------------
    def encode(self, compositions) -> tuple[np.ndarray, np.ndarray]:
        """Formulas or ``{symbol: amount}`` mappings → the (idx, frac) arrays these members take."""
        return encode_compositions(compositions, amounts=self.takes_amounts)

    def raw_outputs(self, idx: np.ndarray, frac: np.ndarray, backend: str = "torch",
                    batch_size: int = 2048) -> np.ndarray:
        """Member outputs (n, M, 2) in standardised units: mean and log Laplace scale."""
        outs = []
        for start in range(0, len(idx), batch_size):
            i, f = idx[start:start + batch_size], frac[start:start + batch_size]
            if backend == "onnx":
                outs.append(self.onnx_session().run(i, f))
            else:
                import torch

                with torch.inference_mode():
                    o = self.module(torch.from_numpy(i).to(self.device), torch.from_numpy(f).to(self.device))
                outs.append(o.float().cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, len(self.module.members), 2), np.float32)

    def predict_arrays(self, idx: np.ndarray, frac: np.ndarray, backend: str = "torch",
                       trees: bool = True) -> EnsemblePrediction:
        """Value, mean, median and std in the target unit for encoded compositions.

        ``trees=False``: the networks' mixture alone (what a merge reads), without running
        the trees or the models they read."""
        raw = self.raw_outputs(idx, frac, backend).astype(np.float64)
        mean, std = self.scaling()
        mus = raw[:, :, 0] * std + mean
        if self.hull is not None:
            mus[:, self.hull_offset] += self.hull.energy(_compositions(idx, frac))[:, None]
        b = np.exp(np.clip(raw[:, :, 1], -7, 5)) * std
        pred = mixture_prediction(mus, b, self.calibration, self.point, self.member_weights)
        if self.trees is not None and trees:
            pred.trees = self.trees.predict(self.tree_features(idx, frac, backend), "onnx" if backend == "onnx" else "auto")
            pred.value = self.blend(pred.value, pred)
        return pred

    @property
    def tree_inputs(self) -> list[dict]:
        """Other tasks' shipped ensembles whose values the trees read after the descriptor:
        ``{"task": ..., "sha256": ...}`` each, the hash that of the file they were fitted on."""
        return self._tree_inputs

    @tree_inputs.setter
    def tree_inputs(self, refs: Sequence[dict] | None) -> None:
        self._tree_inputs = [dict(ref) for ref in refs or ()]
        self._input_models = None  # loaded (and checked) again on first use

    def tree_features(self, idx: np.ndarray, frac: np.ndarray, backend: str = "torch") -> np.ndarray:
        """What the trees read (n, F): the composition descriptor, then the value each of
        :attr:`tree_inputs` predicts (in that task's unit) for the compositions as this
        ensemble encodes them (as written when it reads the cell size, else as fractions),
        run on ``backend``."""
        x = composition_descriptor(idx, frac)
        if not self.tree_inputs or len(x) == 0:
            return x
        compositions = _compositions(idx, frac)
        # float32 like the descriptor: the trees' thresholds decide float32 inputs exactly
        return np.column_stack([x] + [m.predict_arrays(*m.encode(compositions), backend).value
                                      for m in self.input_models()]).astype(np.float32)

    def input_models(self) -> list["CompositionEnsemble"]:
        """The shipped ensembles of :attr:`tree_inputs` (from :attr:`input_loader`, on first use).

        Raises :class:`~matfold_kernel.errors.MatfoldInputError` when one of them is not the
        file the trees were fitted on: its values would mean something else to them.
        """
        if self._input_models is None:
            if self.input_loader is None:
                raise MatfoldDependencyError(
                    f"the trees of this {self.task} model read the predictions of the "
                    f"{', '.join(r['task'] for r in self.tree_inputs)} model(s), and nothing handed them over: "
                    "load it with matfold_kernel.properties.models.load_composition_model(task, path)")
            models = []
            refit = (f"refit them with `matfold blend-trees --task {self.task} --tree-inputs "
                     f"{','.join(r['task'] for r in self.tree_inputs)}`"
                     + (f" --model {self.source}" if self.source is not None else "") + ", or reinstall matfold")
            for ref in self.tree_inputs:
                try:
                    model = self.input_loader(ref["task"], str(self.device))
                except MatfoldDependencyError as exc:
                    raise MatfoldDependencyError(f"the trees of this {self.task} model read the {ref['task']} "
                                                 f"model's predictions: {exc}") from exc
                if model.source_hash() != ref["sha256"]:
                    raise MatfoldInputError(
                        f"the trees of this {self.task} model read the predictions of the {ref['task']} model "
                        f"they were fitted on (SHA-256 {ref['sha256']}...), but the shipped one is another "
                        f"({model.source_hash()}...): {refit}")
                models.append(model)
            self._input_models = models
        return self._input_models

    def scaling(self) -> tuple[np.ndarray, np.ndarray]:
        """Each member's target mean and standard deviation, arrays (M,)."""
        if self.member_scaling is not None:
            return self.member_scaling[:, 0], self.member_scaling[:, 1]
        m = len(self.member_configs)
        return np.full(m, self.target_mean), np.full(m, self.target_std)

    def blend(self, value: np.ndarray, pred: EnsemblePrediction, weight: float | None = None) -> np.ndarray:
        """``value`` (the networks' mean or median) blended with the trees of ``pred``, if any,
        with ``weight`` (default: this ensemble's ``tree_weight``)."""
        weight = self.tree_weight if weight is None else weight
        if pred.trees is None or weight == 0.0:
            return value
        return (1.0 - weight) * value + weight * pred.trees

    def onnx_session(self):
        """The ONNX Runtime session of this ensemble (exported on first use, cached in memory)."""
        if self._onnx is None:
            cache = None
            if self.source is not None:
                cache = model_dir() / "onnx" / f"{self.task}-{self.source_hash()}"
            self._onnx = export_ensemble(self, cache=cache)
        return self._onnx

    def source_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the checkpoint file this ensemble came from."""
        if self._hash is None:
            self._hash = hashlib.sha256(Path(self.source).read_bytes()).hexdigest()[:16]
        return self._hash
