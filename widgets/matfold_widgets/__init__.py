"""matfold_widgets: Jupyter widgets of matfold (anywidget, bundled JavaScript, offline)."""

from .crystal_scene import MODES, build_scene
from .crystal_viewer import CrystalViewer, view_structure
from .elements import covalent_radius, element_color
from .prediction_panel import PredictionPanel
from .protein_viewer import COLOR_SCHEMES, STYLES, ProteinViewer
from .standalone import find_chromium, render_png, standalone_html

__all__ = [
    "COLOR_SCHEMES",
    "MODES",
    "STYLES",
    "PredictionPanel",
    "ProteinViewer",
    "CrystalViewer",
    "build_scene",
    "covalent_radius",
    "element_color",
    "find_chromium",
    "render_png",
    "standalone_html",
    "view_structure",
]
