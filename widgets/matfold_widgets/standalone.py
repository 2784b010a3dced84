"""Views outside Jupyter: self-contained HTML pages and PNG figures.

A standalone page carries the bundled viewer JavaScript, the widget state and a
small stand-in for the anywidget model, so it opens from disk with no network.
PNG figures are that page rendered by headless Chromium (Debian's ``chromium``
package, or ``MATFOLD_CHROMIUM`` pointing at a Chromium/Chrome binary).
"""

from __future__ import annotations

import html as html_lib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from matfold_kernel.errors import MatfoldDependencyError
from matfold_kernel.programs import find_program

__all__ = ["standalone_html", "render_png", "find_chromium", "CHROMIUM_ARGS"]

#: Flags for headless Chromium on a machine with no GPU and no outside network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{margin:0;background:#fff}} #view{{width:{width}px}} {css}
.mf-figure .mf-toolbar, .mf-figure .mf-status {{display:none}}
.mf-figure .matfold-crystal-viewer, .mf-figure .matfold-protein-viewer {{border:none;border-radius:0}}</style></head>
<body class="{body_class}"><div id="view"></div>
<script type="module">
const ESM = {esm};
const state = {state};
const listeners = {{}};
const model = {{
  standalone: true,
  get: (name) => state[name],
  set: (name, value) => {{ state[name] = value; (listeners["change:" + name] || []).forEach((cb) => cb()); }},
  on: (event, cb) => {{ (listeners[event] = listeners[event] || []).push(cb); }},
  off: (event, cb) => {{ listeners[event] = (listeners[event] || []).filter((f) => f !== cb); }},
  save_changes: () => {{}},
  send: () => {{}},
}};
const url = URL.createObjectURL(new Blob([ESM], {{ type: "text/javascript" }}));
const widget = (await import(url)).default;
widget.render({{ model, el: document.getElementById("view") }});
</script></body></html>
"""


def _script_json(value) -> str:
    return json.dumps(value).replace("</", "<\\/")


def standalone_html(esm: str, css: str, state: dict, *, width: int = 800, title: str = "matfold",
                    figure: bool = False) -> str:
    """A page that runs an anywidget ESM module on fixed state, offline.

    Parameters
    ----------
    esm, css : str
        The bundled widget JavaScript and CSS.
    state : dict
        Trait values the widget reads with ``model.get``.
    width : int
        Width of the view in CSS pixels.
    title : str
        Page title.
    figure : bool
        Hide the toolbar and status line (for PNG figures).
    """
    return _PAGE.format(
        title=html_lib.escape(title),
        width=int(width),
        css=css,
        esm=_script_json(esm),
        state=_script_json(state),
        body_class="mf-figure" if figure else "",
    )


def find_chromium() -> str:
    """Path of a Chromium or Chrome binary; ``MATFOLD_CHROMIUM`` wins.

    Raises
    ------
    MatfoldDependencyError
        When none is installed, saying how to install one.
    """
    return find_program(
        [os.environ.get("MATFOLD_CHROMIUM")]
        + [shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome", "chrome")],
        "PNG export renders the view in headless Chromium, and none was found; install it "
        "(Debian/Ubuntu: apt-get install chromium) or set MATFOLD_CHROMIUM to its path",
    )


def _render(html: str, path: Path, width: int, height: int, scale: float) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise MatfoldDependencyError(
            "PNG export needs the 'playwright' package (pip install playwright); no browser "
            "download is needed, matfold uses the system Chromium"
        ) from None
    # figure mode: no toolbar in the picture
    html = html.replace('<body class="">', '<body class="mf-figure">', 1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    device_scale_factor=scale)
            page.set_content(html)
            page.wait_for_selector("#view [data-ready='true'], .mf-error", timeout=30_000)
            page.wait_for_timeout(300)  # let the first WebGL frame land
            error = page.query_selector(".mf-error")
            if error:
                raise MatfoldDependencyError(f"the headless browser could not draw: {error.inner_text()}")
            page.query_selector("#view > div").screenshot(path=str(path))
        finally:
            browser.close()


def render_png(html: str, path, *, width: int = 800, height: int = 600, scale: float = 2.0) -> Path:
    """Render a standalone page to a PNG file with headless Chromium.

    Runs in a worker thread, so it works inside a running notebook (whose event
    loop Playwright's synchronous API refuses to share).

    Returns
    -------
    Path
        The written PNG.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_render, html, path, int(width), int(height), float(scale)).result()
    return path
