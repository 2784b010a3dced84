"""The crystal viewer widget: ball-and-stick, polyhedra, space-filling, in 3D."""

from __future__ import annotations

import json
from pathlib import Path

import anywidget
import traitlets

from matfold_kernel.errors import MatfoldInputError

from .crystal_scene import MODES, build_scene

__all__ = ["CrystalViewer", "view_structure"]

_STATIC = Path(__file__).parent / "static"


class CrystalViewer(anywidget.AnyWidget):
    """An interactive 3D view of a crystal structure.

    Parameters
    ----------
    structure : pymatgen Structure, ase.Atoms, path or file text
        Anything :func:`matfold_kernel.read_structure` reads.
    mode : {"ball-and-stick", "polyhedral", "space-filling"}
    supercell : (int, int, int)
        Repeats along a, b, c (1-10 each).

    Attributes
    ----------
    picked : dict or None
        Set by the browser when the user clicks an atom: ``index`` (drawn atom),
        ``site`` (index into :attr:`structure`), ``element``, ``label``, ``image``
        (cell offset) and ``cartesian`` (Å). Observe it with
        ``viewer.observe(callback, "picked")``.

    Examples
    --------
    >>> viewer = CrystalViewer("BaTiO3.cif", mode="polyhedral", supercell=(2, 2, 2))  # doctest: +SKIP
    >>> viewer  # doctest: +SKIP
    """

    _esm = _STATIC / "crystal_viewer.js"
    _css = _STATIC / "crystal_viewer.css"

    mode = traitlets.Unicode("ball-and-stick", help="ball-and-stick, polyhedral or space-filling").tag(sync=True)
    supercell = traitlets.Tuple(
        traitlets.Int(), traitlets.Int(), traitlets.Int(), default_value=(1, 1, 1),
        help="repeats along a, b, c",
    ).tag(sync=True)
    show_cell = traitlets.Bool(True, help="draw the cell edges and a/b/c axes").tag(sync=True)
    show_labels = traitlets.Bool(False, help="label every atom").tag(sync=True)
    show_legend = traitlets.Bool(True, help="show the element colour legend").tag(sync=True)
    background = traitlets.Unicode("#ffffff", help="CSS colour behind the structure").tag(sync=True)
    height = traitlets.Unicode("420px", help="CSS height of the view").tag(sync=True)
    title = traitlets.Unicode("", help="shown in the status line; default: the reduced formula").tag(sync=True)
    picked = traitlets.Dict(allow_none=True, default_value=None, help="last atom clicked in the browser").tag(sync=True)
    scene = traitlets.Dict(help="geometry computed by matfold_widgets.crystal_scene; read-only").tag(sync=True)

    _structure = None

    def __init__(self, structure=None, **kwargs):
        super().__init__(**kwargs)
        if not self.mode:
            self.mode = "ball-and-stick"
        if structure is not None:
            self.structure = structure

    # -- structure ---------------------------------------------------------------
    @property
    def structure(self):
        """The pymatgen ``Structure`` on view (set it to show another one)."""
        return self._structure

    @structure.setter
    def structure(self, value):
        from matfold_kernel import read_structure

        self._structure = read_structure(value)
        self.picked = None
        self._update_scene()
        self.title = self._structure.composition.reduced_formula

    @traitlets.validate("mode")
    def _check_mode(self, proposal):
        if proposal["value"] not in MODES:
            raise MatfoldInputError(
                f"unknown viewer mode {proposal['value']!r}; use one of {', '.join(MODES)}"
            )
        return proposal["value"]

    @traitlets.validate("supercell")
    def _check_supercell(self, proposal):
        value = tuple(int(n) for n in proposal["value"])
        if any(not 1 <= n <= 10 for n in value):
            raise MatfoldInputError(f"supercell must be three whole numbers from 1 to 10, got {value}")
        return value

    @traitlets.observe("mode", "supercell")
    def _on_view_change(self, change):
        self._update_scene()

    def _update_scene(self):
        if self._structure is not None:
            self.scene = build_scene(self._structure, self.supercell, self.mode)

    @property
    def picked_site(self):
        """The pymatgen ``PeriodicSite`` of the last clicked atom, or None."""
        if not self.picked or self._structure is None:
            return None
        return self._structure[int(self.picked["site"])]

    # -- export ------------------------------------------------------------------
    def to_html(self, path=None, *, width: int = 800, height: int = 600) -> str:
        """A self-contained HTML page of this view (JavaScript inlined, no network).

        Parameters
        ----------
        path : str or Path, optional
            Write the page there as well as returning it.
        width, height : int
            Size of the view in CSS pixels.

        Returns
        -------
        str
            The HTML text.
        """
        from .standalone import standalone_html

        state = {name: getattr(self, name) for name in self.keys if not name.startswith("_")
                 and name not in ("layout", "comm", "log", "tabbable", "tooltip")}
        state["height"] = f"{height}px"
        html = standalone_html(
            esm=(_STATIC / "crystal_viewer.js").read_text(),
            css=(_STATIC / "crystal_viewer.css").read_text(),
            state=json.loads(json.dumps(state, default=list)),
            width=width,
            title=self.title or "matfold structure",
        )
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def save_png(self, path, *, width: int = 800, height: int = 600, scale: float = 2.0) -> Path:
        """Render this view to a PNG file with headless Chromium, from Python.

        Works without an open notebook view (in scripts and on a hub alike).

        Parameters
        ----------
        path : str or Path
            Where to write the PNG.
        width, height : int
            Size of the view in CSS pixels; the image is `scale` times larger.
        scale : float
            Device pixel ratio (2 gives a sharp figure).

        Returns
        -------
        Path
            The written file.
        """
        from .standalone import render_png

        return render_png(self.to_html(width=width, height=height), path, width=width,
                          height=height, scale=scale)


def view_structure(structure, **kwargs) -> CrystalViewer:
    """Shortcut for ``CrystalViewer(structure, **kwargs)``."""
    return CrystalViewer(structure, **kwargs)
