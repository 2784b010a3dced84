"""Crystal graphs: periodic neighbour lists for the structure models.

A crystal becomes a graph with one node per site and one directed edge per
(centre, neighbour) pair within a cutoff radius, periodic images included. Every
structure model (CGCNN now, MEGNet-class models later) builds its graph here.

Units: all distances, cutoffs and Gaussian centres/widths are in Å; images are
integer lattice translations.

Edge convention (PyTorch Geometric's ``source_to_target`` flow): ``edge_index[0]``
is the neighbour *j* (the source of the message), ``edge_index[1]`` the centre *i*
that receives it. Messages are summed at the centre.

PyG's ``radius_graph`` needs ``pyg-lib`` (not on PyPI), so the neighbour search is
pymatgen's ``Structure.get_neighbor_list`` (a cell-list search in C).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..crystal.io import read_structure
from ..crystal.validate import validate_structure
from ..errors import MatfoldInputError

__all__ = [
    "CrystalGraph",
    "GraphBatch",
    "as_structure",
    "collate",
    "crystal_graph",
    "gaussian_centers",
    "gaussian_expansion",
]


@dataclass
class CrystalGraph:
    """The neighbour graph of one crystal.

    Attributes
    ----------
    atomic_numbers : np.ndarray, shape=(n,), int64
        Atomic number Z of each site.
    edge_index : np.ndarray, shape=(2, e), int64
        Row 0: neighbour (source) site index; row 1: centre (target) site index.
        Edges are grouped by centre, nearest neighbour first.
    distances : np.ndarray, shape=(e,), float64
        Centre-neighbour distance of each edge, in Å.
    images : np.ndarray, shape=(e, 3), int64
        Lattice translation (in cell vectors) of the neighbour's periodic image.
    cutoff : float
        Search radius, Å.
    max_neighbors : int or None
        At most this many nearest neighbours were kept per centre (None: all within cutoff).
    counts : np.ndarray, shape=(n,), int64
        Number of neighbours found within the cutoff for each centre (before truncation).
    """

    atomic_numbers: np.ndarray
    edge_index: np.ndarray
    distances: np.ndarray
    images: np.ndarray
    cutoff: float
    max_neighbors: int | None
    counts: np.ndarray
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def num_atoms(self) -> int:
        return int(self.atomic_numbers.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def sparse_centers(self) -> np.ndarray:
        """Indices of centres with fewer than ``max_neighbors`` neighbours within the cutoff."""
        if self.max_neighbors is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.counts < self.max_neighbors)


def as_structure(obj, name: str | None = None):
    """A validated pymatgen ``Structure`` from a Structure, ASE ``Atoms``, or a file path.

    Raises
    ------
    MatfoldInputError
        The object is not a periodic crystal, or fails
        :func:`~matfold_kernel.crystal.validate.validate_structure` (empty, NaN,
        flat cell, overlapping atoms, over the size limits).
    """
    from pymatgen.core import IStructure, Structure

    if isinstance(obj, (Structure, IStructure)):
        return validate_structure(obj, name)
    if isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__") or hasattr(obj, "get_cell"):
        return read_structure(obj, name=name)
    raise MatfoldInputError(
        f"expected a pymatgen Structure, an ase.Atoms or a structure file, got "
        f"{type(obj).__name__}; read files with matfold_kernel.crystal.read_structure",
        name,
    )


def crystal_graph(structure, cutoff: float = 8.0, max_neighbors: int | None = 12) -> CrystalGraph:
    """Neighbour graph of a periodic structure.

    Every site is a centre; its neighbours are all sites (periodic images
    included, the site's own images too, itself excluded) closer than ``cutoff``,
    sorted by distance, the nearest ``max_neighbors`` kept. Ties at equal distance
    keep pymatgen's order.

    Parameters
    ----------
    structure : pymatgen.core.Structure
        An ordered structure (every site one element at full occupancy); lattice in Å.
    cutoff : float
        Search radius in Å.
    max_neighbors : int or None
        Keep at most this many nearest neighbours per centre; None keeps all.

    Returns
    -------
    CrystalGraph

    Raises
    ------
    MatfoldInputError
        A site is disordered (partial occupancy or mixed species).
    """
    if not cutoff > 0:
        raise MatfoldInputError(f"cutoff must be positive (Å), got {cutoff!r}")
    if not structure.is_ordered:
        bad = next(i for i, site in enumerate(structure) if not site.is_ordered)
        raise MatfoldInputError(
            f"site {bad + 1} ({structure[bad].species_string}) is disordered; structure models "
            "need one element per fully occupied site. Order the structure first (e.g. pymatgen's "
            "OrderDisorderedStructureTransformation) or use a composition model"
        )
    numbers = np.array([site.specie.Z for site in structure], dtype=np.int64)
    n = len(numbers)
    centers, neighbors, images, distances = structure.get_neighbor_list(cutoff, exclude_self=True)
    centers = np.asarray(centers, dtype=np.int64)
    neighbors = np.asarray(neighbors, dtype=np.int64)
    images = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    distances = np.asarray(distances, dtype=np.float64)
    # Group by centre, nearest first; lexsort is stable, so ties keep pymatgen's order.
    order = np.lexsort((distances, centers))
    centers, neighbors, images, distances = centers[order], neighbors[order], images[order], distances[order]
    counts = np.bincount(centers, minlength=n).astype(np.int64)
    if max_neighbors is not None and centers.size:
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(centers.size) - starts[centers]
        keep = rank < max_neighbors
        centers, neighbors, images, distances = centers[keep], neighbors[keep], images[keep], distances[keep]
    return CrystalGraph(
        atomic_numbers=numbers,
        edge_index=np.stack([neighbors, centers]).astype(np.int64).reshape(2, -1),
        distances=distances,
        images=np.rint(images).astype(np.int64),
        cutoff=float(cutoff),
        max_neighbors=max_neighbors,
        counts=counts,
    )


def gaussian_centers(dmin: float = 0.0, dmax: float = 8.0, step: float = 0.2) -> np.ndarray:
    """Centres (Å) of a Gaussian distance basis: ``dmin, dmin + step, ..., dmax``.

    Same grid as CGCNN's ``np.arange(dmin, dmax + step, step)`` (41 centres for 0-8 Å).

    Returns
    -------
    np.ndarray, shape=(k,)
    """
    return np.arange(dmin, dmax + step, step)


def gaussian_expansion(distances, centers=None, width: float = 0.2) -> np.ndarray:
    """Expand distances on a Gaussian basis: ``exp(-(d - mu_k)**2 / width**2)``.

    Parameters
    ----------
    distances : array_like, shape=(e,)
        Distances in Å.
    centers : array_like, shape=(k,), optional
        Basis centres in Å (default :func:`gaussian_centers`).
    width : float
        Width in Å (CGCNN calls it ``var`` and uses the step, 0.2 Å).

    Returns
    -------
    np.ndarray, shape=(e, k)
    """
    mu = gaussian_centers() if centers is None else np.asarray(centers, dtype=np.float64)
    d = np.asarray(distances, dtype=np.float64)
    return np.exp(-((d[..., None] - mu) ** 2) / width**2)


@dataclass
class GraphBatch:
    """Several crystal graphs joined into one disconnected graph.

    Attributes
    ----------
    atomic_numbers : np.ndarray, shape=(N,), int64
    edge_index : np.ndarray, shape=(2, E), int64
        Site indices into the batch (each graph's indices shifted by the sites before it).
    distances : np.ndarray, shape=(E,), float32
        Å.
    batch : np.ndarray, shape=(N,), int64
        Index of the crystal each site belongs to.
    num_atoms : np.ndarray, shape=(G,), int64
        Sites per crystal.
    """

    atomic_numbers: np.ndarray
    edge_index: np.ndarray
    distances: np.ndarray
    batch: np.ndarray
    num_atoms: np.ndarray

    #: Input names, in the order structure models take them.
    NAMES = ("atomic_numbers", "edge_index", "distances", "batch", "num_atoms")

    @property
    def num_graphs(self) -> int:
        return int(self.num_atoms.shape[0])

    def as_dict(self) -> dict[str, np.ndarray]:
        """The arrays by input name (what an ONNX session takes)."""
        return {name: getattr(self, name) for name in self.NAMES}

    def to_torch(self, device=None) -> tuple:
        """The arrays as torch tensors, in :attr:`NAMES` order."""
        import torch

        return tuple(torch.as_tensor(getattr(self, name), device=device) for name in self.NAMES)

    def to_pyg(self):
        """A ``torch_geometric.data.Data`` with ``z``, ``edge_index``, ``edge_attr`` (distances), ``batch``."""
        import torch
        from torch_geometric.data import Data

        return Data(
            z=torch.as_tensor(self.atomic_numbers),
            edge_index=torch.as_tensor(self.edge_index),
            edge_attr=torch.as_tensor(self.distances),
            batch=torch.as_tensor(self.batch),
            num_nodes=int(self.atomic_numbers.shape[0]),
        )


def collate(graphs: Sequence[CrystalGraph]) -> GraphBatch:
    """Join graphs into one :class:`GraphBatch` (node indices offset per graph)."""
    if not graphs:
        raise MatfoldInputError("no structures to batch: give at least one")
    sizes = np.array([g.num_atoms for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return GraphBatch(
        atomic_numbers=np.concatenate([g.atomic_numbers for g in graphs]).astype(np.int64),
        edge_index=np.concatenate([g.edge_index + off for g, off in zip(graphs, offsets)], axis=1).astype(np.int64),
        distances=np.concatenate([g.distances for g in graphs]).astype(np.float32),
        batch=np.repeat(np.arange(len(graphs), dtype=np.int64), sizes),
        num_atoms=sizes,
    )
