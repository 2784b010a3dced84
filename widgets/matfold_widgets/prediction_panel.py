"""The prediction panel: six crystal properties with uncertainty bars, units, models and warnings."""

from __future__ import annotations

import math
from pathlib import Path

import anywidget
import traitlets

__all__ = ["PredictionPanel"]

_STATIC = Path(__file__).parent / "static"


def _clean(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif hasattr(v, "item"):  # numpy scalars
            v = v.item()
        out[k] = v
    return out


class PredictionPanel(anywidget.AnyWidget):
    """Show the rows of :func:`matfold_kernel.predict` as cards with ±1σ/±2σ bars.

    Parameters
    ----------
    rows : PropertyTable or list of dict, optional
        What ``predict`` returned for one input (rows of several inputs are shown one after another).
    title : str, optional
        Heading; defaults to the formula.

    Call :meth:`show` to predict and display in one step: ``PredictionPanel().show("LiFePO4")``.
    """

    _esm = _STATIC / "prediction_panel.js"
    _css = _STATIC / "prediction_panel.css"

    rows = traitlets.List(help="prediction rows (property, value, uncertainty, unit, model, ...)").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, rows=None, title: str | None = None, **kwargs):
        rows = [_clean(dict(r)) for r in (rows or [])]
        if title is None:
            title = rows[0]["formula"] or rows[0]["input"] if rows else ""
        super().__init__(rows=rows, title=title, **kwargs)

    def show(self, x, properties=None, backend: str = "auto") -> "PredictionPanel":
        """Predict for ``x`` (a formula, structure or file) and display the result here."""
        from matfold_kernel import predict

        table = predict(x, properties=properties, backend=backend)
        self.rows = [_clean(dict(r)) for r in table]
        self.title = table[0]["formula"] or table[0]["input"] if table else ""
        return self

    def to_html(self, path=None, *, width: int = 800) -> str:
        """A self-contained HTML page of this panel (JavaScript inlined, no network)."""
        from .standalone import standalone_html

        html = standalone_html(esm=(_STATIC / "prediction_panel.js").read_text(),
                               css=(_STATIC / "prediction_panel.css").read_text(),
                               state={"rows": self.rows, "title": self.title}, width=width,
                               title=f"matfold predictions {self.title}")
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def save_png(self, path, *, width: int = 800, height: int = 420, scale: float = 2.0) -> Path:
        """Render this panel to PNG with headless Chromium."""
        from .standalone import render_png

        return render_png(self.to_html(width=width), path, width=width, height=height, scale=scale)
