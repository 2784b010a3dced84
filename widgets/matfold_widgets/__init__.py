"""matfold_widgets: Jupyter widgets of matfold (anywidget, bundled JavaScript, offline)."""

from .crystal_scene import MODES, build_scene
from .crystal_viewer import CrystalViewer, view_structure
from .elements import covalent_radius, element_color
from .standalone import find_chromium, render_png, standalone_html

__all__ = [
    "MODES",
    "CrystalViewer",
    "build_scene",
    "covalent_radius",
    "element_color",
    "find_chromium",
    "render_png",
    "standalone_html",
    "view_structure",
]
