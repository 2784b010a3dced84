"""The protein viewer widget: cartoon, ribbon, surface, ball-and-stick, with a sequence track."""

from __future__ import annotations

import json
from pathlib import Path

import anywidget
import traitlets

from matfold_kernel.errors import MatfoldInputError

__all__ = ["ProteinViewer", "STYLES", "COLOR_SCHEMES"]

_STATIC = Path(__file__).parent / "static"
STYLES = ("cartoon", "ribbon", "surface", "ball-and-stick")
COLOR_SCHEMES = ("plddt", "chain", "secondary-structure", "hydrophobicity", "values")


class ProteinViewer(anywidget.AnyWidget):
    """An interactive 3D view of a protein, drawn by 3Dmol.js bundled with matfold (offline).

    Parameters
    ----------
    structure : path, PDB/mmCIF text, biotite AtomArray or FoldResult
    style : {"cartoon", "ribbon", "surface", "ball-and-stick"}
    color_by : {"plddt", "chain", "secondary-structure", "hydrophobicity", "values"}
        ``plddt`` uses the AlphaFold bands on the B-factors; ``values`` colours by
        :meth:`color_by_values`.

    Attributes
    ----------
    selected : list of [chain, residue number]
        Residues selected in 3D or in the sequence track (shift-click adds); set it
        from Python to select.
    """

    _esm = _STATIC / "protein_viewer.js"
    _css = _STATIC / "protein_viewer.css"

    pdb = traitlets.Unicode("", help="PDB text on view").tag(sync=True)
    style = traitlets.Unicode("cartoon").tag(sync=True)
    color_by = traitlets.Unicode("plddt").tag(sync=True)
    values = traitlets.Dict(help="{'A:12': 0.7, ...} in 0-1 for color_by='values'").tag(sync=True)
    highlights = traitlets.List(help="[{'chain', 'resi', 'color'}] drawn as sticks (pockets, variants)").tag(sync=True)
    selected = traitlets.List(help="[[chain, resi], ...] selected residues").tag(sync=True)
    height = traitlets.Unicode("460px").tag(sync=True)
    background = traitlets.Unicode("white").tag(sync=True)

    def __init__(self, structure=None, **kwargs):
        super().__init__(**kwargs)
        if structure is not None:
            self.structure = structure

    @property
    def structure(self):
        """The biotite ``AtomArray`` on view."""
        from matfold_kernel.protein import read_protein

        return read_protein(self.pdb, "pdb", name="<viewer>") if self.pdb else None

    @structure.setter
    def structure(self, value):
        import io

        from biotite.structure.io.pdb import PDBFile

        from matfold_kernel.protein import read_protein

        if hasattr(value, "pdb") and isinstance(getattr(value, "pdb"), str):  # a FoldResult
            atoms = read_protein(value.pdb, "pdb", name="<fold>")
        elif hasattr(value, "coord") and hasattr(value, "res_id"):
            atoms = value
        else:
            atoms = read_protein(value)
        out = PDBFile()
        out.set_structure(atoms)
        buffer = io.StringIO()
        out.write(buffer)
        self.selected = []
        self.pdb = buffer.getvalue()

    @traitlets.validate("style")
    def _check_style(self, proposal):
        if proposal["value"] not in STYLES:
            raise MatfoldInputError(f"unknown style {proposal['value']!r}; use one of {', '.join(STYLES)}")
        return proposal["value"]

    @traitlets.validate("color_by")
    def _check_color(self, proposal):
        if proposal["value"] not in COLOR_SCHEMES:
            raise MatfoldInputError(f"unknown colouring {proposal['value']!r}; use one of {', '.join(COLOR_SCHEMES)}")
        return proposal["value"]

    def color_by_values(self, values, chain: str | None = None, vmin=None, vmax=None) -> None:
        """Colour residues by any per-residue array (blue low, white, red high).

        Parameters
        ----------
        values : mapping {(chain, resi): value} or array of one value per residue of `chain`
        chain : str, optional
            With an array: the chain (default: the first).
        vmin, vmax : float, optional
            Range mapped to the colour ramp (default: the values' range).
        """
        import numpy as np

        if not isinstance(values, dict):
            atoms = self.structure
            ca = atoms[atoms.atom_name == "CA"]
            chain = chain or str(ca.chain_id[0])
            ids = ca.res_id[ca.chain_id == chain]
            values = np.asarray(values, dtype=float)
            if len(values) != len(ids):
                raise MatfoldInputError(f"{len(values)} values for {len(ids)} residues of chain {chain}")
            values = {(chain, int(r)): float(v) for r, v in zip(ids, values)}
        array = np.array(list(values.values()), dtype=float)
        lo = float(np.nanmin(array)) if vmin is None else vmin
        hi = float(np.nanmax(array)) if vmax is None else vmax
        span = hi - lo or 1.0
        self.values = {f"{c}:{r}": (v - lo) / span for (c, r), v in values.items()}
        self.color_by = "values"

    def to_html(self, path=None, *, width: int = 800, height: int = 600) -> str:
        """A self-contained HTML page of this view (JavaScript inlined, no network)."""
        from .standalone import standalone_html

        state = {name: getattr(self, name) for name in
                 ("pdb", "style", "color_by", "values", "highlights", "selected", "background")}
        state["height"] = f"{height}px"
        html = standalone_html(esm=(_STATIC / "protein_viewer.js").read_text(),
                               css=(_STATIC / "protein_viewer.css").read_text(),
                               state=json.loads(json.dumps(state)), width=width, title="matfold protein")
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def save_png(self, path, *, width: int = 800, height: int = 600, scale: float = 2.0) -> Path:
        """Render this view to PNG with headless Chromium (see CrystalViewer.save_png)."""
        from .standalone import render_png

        return render_png(self.to_html(width=width, height=height), path, width=width, height=height, scale=scale)
