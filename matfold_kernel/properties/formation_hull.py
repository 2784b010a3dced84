"""The convex hull of known formation energies, evaluated fast at many compositions.

A formation-energy network may predict the energy *above* this hull instead of the
formation energy itself (``CompNetConfig.hull_offset``): the hull of the training
phases at a formula's composition is where most compounds sit (half of the Matbench
``mp_e_form`` val rows are within 0.03 eV/atom above the hull of the train rows), and
it carries what the training set knows about that chemical system, which a network
otherwise has to remember in its weights. The ensemble adds the hull energy back.

The hull is the lower convex envelope of (composition, formation energy per atom)
over the phases of a chemical system and of all its subsystems, the elements at 0.
Per chemical system it is computed once with Qhull and kept as its facet planes; the
hull energy at a composition is then the largest facet plane there (a convex
piecewise-linear function is the maximum of its pieces). Systems of more than
:data:`LARGEST_HULL` elements, where Qhull is slow, solve a linear program per formula.
It equals pymatgen's ``PhaseDiagram.get_hull_energy_per_atom`` (tests check it); a
screen of 20,000 Matbench formulas takes 6.4 s (0.3 ms a formula; pymatgen: 5 ms), and
4.6 s once its systems' planes are built.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Mapping, Sequence

import numpy as np

from .composition import fractions

__all__ = ["FormationHull"]

#: systems of more elements than this are not hulled (Qhull takes 10-150 ms in 5-6 dimensions):
#: their few formulas each solve the linear program of the lowest mixture of phases instead
LARGEST_HULL = 4


class FormationHull:
    """Lower convex hull of formation energies (eV/atom) of a table of phases.

    ``formulas`` and ``energies`` (eV/atom) list the phases; where a composition is
    listed more than once (polymorphs), the lowest energy counts.
    """

    def __init__(self, formulas: Sequence[str], energies: Sequence[float]):
        self.formulas = [str(f) for f in formulas]
        self.energies = np.asarray(energies, np.float64)
        if len(self.formulas) != len(self.energies):
            raise ValueError(f"{len(self.formulas)} formulas for {len(self.energies)} energies")
        #: each listed phase's composition as a hashable key (parsed once)
        self._keys = [_key(fractions(f)) for f in self.formulas]
        lowest: dict[tuple, float] = {}
        for key, energy in zip(self._keys, self.energies):
            if energy < lowest.get(key, np.inf):
                lowest[key] = float(energy)
        #: per set of elements: [(fractions key, energy)]
        self._groups: dict[frozenset, list[tuple[tuple, float]]] = {}
        for key, energy in lowest.items():
            self._groups.setdefault(frozenset(el for el, _ in key), []).append((key, energy))
        #: per set of elements: the lower facets' planes (None: flat at 0), built on first use
        self._planes: dict[frozenset, tuple | None] = {}

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def clear_cache(self) -> None:
        """Forget the chemical systems' planes built so far (for benchmarks of a first screen)."""
        self._planes.clear()

    # -- evaluation ---------------------------------------------------------
    def energy(self, compositions: Iterable[Mapping[str, float] | str]) -> np.ndarray:
        """Hull formation energy (eV/atom, ≤ 0) at each composition (formula or ``{element: amount}``)."""
        comps = [fractions(c) for c in compositions]
        out = np.zeros(len(comps))
        by_system: dict[frozenset, list[int]] = {}
        for i, comp in enumerate(comps):
            by_system.setdefault(frozenset(comp), []).append(i)
        for system, rows in by_system.items():
            elements = sorted(system)
            if len(elements) > LARGEST_HULL:
                _, x, energies = self._points(system)
                for i in rows:
                    out[i] = _lowest_mixture(x, energies, [comps[i][e] for e in elements[:-1]])
                continue
            planes = self._planes.get(system)
            if planes is None and system not in self._planes:
                planes = self._planes[system] = _lower_planes(*self._points(system)[1:])
            if planes is not None:
                x = np.array([[comps[i][e] for e in elements[:-1]] for i in rows], np.float64)
                out[rows] = _evaluate(planes, x.reshape(len(rows), len(elements) - 1))
        return out

    def leave_one_out(self) -> np.ndarray:
        """The hull energy at each listed phase's composition from every *other* listed phase (eV/atom).

        What a training row looks like to a network that predicts the energy above the
        hull: a val formula is not in the training table, though its other polymorphs may
        be, so each row's own entry is left out and its polymorphs are kept.
        """
        keys = self._keys
        full = self.energy([dict(k) for k in keys])
        out = full.copy()
        best: dict[tuple, int] = {}
        second: dict[tuple, float] = {}
        for i in np.argsort(self.energies, kind="stable"):  # lowest first
            if keys[i] not in best:
                best[keys[i]] = int(i)
            elif keys[i] not in second:
                second[keys[i]] = float(self.energies[i])
        # only the lowest polymorph of a formula, and only on the hull, shapes the hull
        shaping: dict[frozenset, list[tuple[tuple, int]]] = {}
        for key, i in best.items():
            if self.energies[i] <= full[i] + 1e-6 and self.energies[i] < 0.0:
                shaping.setdefault(frozenset(el for el, _ in key), []).append((key, i))
        for system, phases in shaping.items():
            keys_, x, energies = self._points(system)
            where = {k: j for j, k in enumerate(keys_)}
            for key, i in phases:
                j = where[key]
                if key in second and second[key] < 0.0:
                    x_, e_ = x, energies.copy()
                    e_[j] = second[key]
                else:
                    x_, e_ = np.delete(x, j, axis=0), np.delete(energies, j)
                if len(system) > LARGEST_HULL:
                    out[i] = _lowest_mixture(x_, e_, x[j])
                    continue
                planes = _lower_planes(x_, e_)
                out[i] = 0.0 if planes is None else float(_evaluate(planes, x[j:j + 1])[0])
        return out

    # -- per chemical system -------------------------------------------------
    def _points(self, system: frozenset) -> tuple[list, np.ndarray, np.ndarray]:
        """The phases under ``system`` (its subsystems' too) below 0 eV/atom, and its elements at 0:
        their keys (None for the elements), fractions of all but the last element (n, k-1) and
        energies (n,)."""
        elements = sorted(system)
        column = {e: c for c, e in enumerate(elements)}
        keys: list = [None] * len(elements)
        rows = [np.eye(len(elements))]
        energies = [np.zeros(len(elements))]
        for r in range(1, len(elements) + 1):
            for sub in itertools.combinations(elements, r):
                group = self._groups.get(frozenset(sub))
                if group is None:
                    continue
                # phases at or above 0 are never under the elements' line (a single element's
                # phases count: one below 0 would lower the hull)
                phases = [(key, e) for key, e in group if e < 0.0]
                if not phases:
                    continue
                block = np.zeros((len(phases), len(elements)))
                for n, (key, _) in enumerate(phases):
                    for el, f in key:
                        block[n, column[el]] = f
                keys.extend(key for key, _ in phases)
                rows.append(block)
                energies.append(np.array([e for _, e in phases]))
        return keys, np.concatenate(rows)[:, :-1], np.concatenate(energies)

    # -- persistence ---------------------------------------------------------
    def to_state(self) -> dict:
        """The phase table for a checkpoint: formulas joined by spaces and float32 energies."""
        import torch

        return {"formulas": " ".join(self.formulas), "energies": torch.from_numpy(self.energies.astype(np.float32))}

    @classmethod
    def from_state(cls, state: dict) -> "FormationHull":
        energies = state["energies"]
        energies = energies.numpy() if hasattr(energies, "numpy") else np.asarray(energies)
        return cls(state["formulas"].split(" "), energies.astype(np.float64))


def _key(fracs: Mapping[str, float]) -> tuple:
    """A hashable composition: (element, fraction rounded to 1e-9) pairs, sorted by element."""
    return tuple(sorted((el, round(float(f), 9)) for el, f in fracs.items()))


def _lowest_mixture(x: np.ndarray, energies: np.ndarray, at) -> float:
    """The lowest energy (eV/atom) of a mixture of the phases (fractions ``x`` of all but the last
    element, (n, k-1)) with the composition ``at`` (k-1 fractions): the hull energy there."""
    from scipy.optimize import linprog

    full = np.c_[x, 1.0 - x.sum(axis=1)]  # each phase's fractions of all k elements
    target = np.append(at, 1.0 - np.sum(at))
    res = linprog(energies, A_eq=full.T, b_eq=target, bounds=(0, None), method="highs")
    if not res.success:  # cannot happen: the elements alone make any composition
        raise RuntimeError(f"hull energy: {res.message}")
    return float(res.fun)


def _evaluate(planes, x: np.ndarray) -> np.ndarray:
    """The hull energy at fractions ``x`` (n, k-1): the largest facet plane there."""
    slopes, offsets = planes
    return (x @ slopes.T + offsets).max(axis=1)


def _lower_planes(x: np.ndarray, energies: np.ndarray):
    """Planes ``E = slopes · x + offset`` of the lower facets of the points (x, E), or None
    where the hull is flat (no point below 0, or a single element)."""
    k = x.shape[1]
    if k == 0:  # one element: its lowest phase (the elements' references are 0)
        return (np.zeros((1, 0)), np.array([min(0.0, float(energies.min()))]))
    if not (energies < 0).any():
        return None
    from scipy.spatial import ConvexHull, QhullError

    points = np.c_[x, energies]
    try:
        hull = ConvexHull(points)
    except QhullError:  # degenerate (e.g. all phases on one line of a ternary): joggle
        hull = ConvexHull(points, qhull_options="QJ")
    eq = hull.equations  # normal · p + offset = 0 on the facet, normals pointing out
    lower = eq[eq[:, k] < -1e-12]
    return (-lower[:, :k] / lower[:, k:k + 1], -lower[:, k + 1] / lower[:, k])
