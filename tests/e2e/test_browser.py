"""A real JupyterLab in a real headless Chromium: the quickstart notebook, viewed and clicked.

Starts ``matfold lab`` (the README's path) on a free port of 127.0.0.1, opens the
notebook in Chromium through Playwright (no browser download: the system
Chromium), runs all cells from the Run menu, checks the viewer drew pixels and
that clicking an atom reaches the kernel. A second notebook shows a ProteinViewer
and carries its residue selection both ways: clicks in the sequence track and in
the 3D canvas reach the kernel, a selection set in Python is highlighted on the
page. The screenshots are kept in tests/artifacts/.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import requests
from PIL import Image

from matfold_widgets.standalone import CHROMIUM_ARGS, find_chromium

from tests.support.paths import NOTEBOOKS

pytestmark = pytest.mark.browser
NOTEBOOKS = NOTEBOOKS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOKS, root / "notebooks", ignore=shutil.ignore_patterns("*.png"))
    port, token = _free_port(), "matfold-test-token"
    # Render every cell (no virtual scrolling), so all viewers are in the page at once.
    settings = root / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    env = dict(os.environ, MATFOLD_LAB_TOKEN=token, JUPYTERLAB_WORKSPACES_DIR=str(root / "ws"),
               JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
               JUPYTER_RUNTIME_DIR=str(root / "runtime"))
    exe = Path(sys.executable).parent / "matfold"
    log = open(root / "lab.log", "w")
    process = subprocess.Popen(
        [str(exe), "lab", "--port", str(port), "--notebook-dir", str(root / "notebooks"), "--no-browser"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"matfold lab exited: {(root / 'lab.log').read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/api/status", params={"token": token}, timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    else:
        pytest.fail("JupyterLab did not answer within 90 s")
    yield {"url": url, "token": token, "root": root}
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _blocked_requests(page):
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "ws://127.0.0.1")) else None)
    return outside


def _accept_kernel(page, timeout=90.0):
    """Wait for an idle kernel; answer Lab's "Select Kernel" dialog if it asks."""
    deadline, quiet_since = time.time() + timeout, None
    while time.time() < deadline:
        dialog = page.locator(".jp-Dialog button:has-text('Select')")
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()
            quiet_since = None
        elif page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 1.5:
                return
        page.wait_for_timeout(250)
    raise AssertionError("the notebook's kernel did not become idle")


def test_quickstart_notebook_draws_and_picks(lab, page, artifacts_dir):
    outside = _blocked_requests(page)
    page.goto(f"{lab['url']}/lab/tree/01_crystal_quickstart.ipynb?token={lab['token']}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    _accept_kernel(page)
    # Run > Run All Cells, as a person would
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li.lm-Menu-item:has-text('Run All Cells')")

    viewer = page.locator(".matfold-crystal-viewer[data-ready='true']").first
    try:
        viewer.wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path=str(artifacts_dir / "browser-failure.png"))
        raise
    viewer.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)

    # 1. pixels: the canvas is not blank
    shot = artifacts_dir / "browser-crystal-viewer.png"
    viewer.screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    drawn = (np.abs(pixels - 255).sum(axis=2) > 60).mean()
    assert drawn > 0.05, f"only {drawn:.1%} of the viewer is drawn"
    canvas_colors = len(np.unique(pixels.reshape(-1, 3) // 16, axis=0))
    assert canvas_colors > 20  # shaded spheres, not a flat fill

    # 2. a click on an atom reaches the kernel
    handle = page.locator(".matfold-crystal-viewer").first.locator("xpath=..")
    count = handle.evaluate("el => el.matfoldViewer.atomCount()")
    assert count == 21  # BaTiO3 with corner, edge and body-centre copies
    box = page.locator(".matfold-crystal-viewer canvas").first.bounding_box()
    info = page.locator(".widget-html-content:has-text('Click an atom')").first
    info.wait_for()
    picked_text = None
    for index in range(count):  # the first atom that is not hidden behind another
        x, y = handle.evaluate(f"el => el.matfoldViewer.screenPosition({index})")
        page.mouse.click(box["x"] + x, box["y"] + y)
        status = page.locator(".matfold-crystal-viewer .mf-status").first.inner_text()
        if status.startswith("Picked"):
            picked_text = status
            break
    assert picked_text, "no atom could be clicked"
    label = picked_text.split()[1]
    # the kernel's observer rewrote the HTML widget below the viewer
    kernel_says = page.locator(f".widget-html-content:has-text('Picked {label}')").first
    kernel_says.wait_for(timeout=30_000)
    assert "fractional" in kernel_says.inner_text()

    kernel_says.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "browser-jupyterlab.png"))

    # 3. every viewer in the notebook drew, and nothing was fetched from outside 127.0.0.1
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    assert page.locator(".matfold-crystal-viewer[data-ready='true']").count() == 4
    assert page.locator(".matfold-crystal-viewer .mf-error").count() == 0
    assert outside == []


_PROTEIN_CELLS = [
    """import json
from pathlib import Path

import ipywidgets as widgets
from matfold_widgets import ProteinViewer


log = Path(LOG)
viewer = ProteinViewer("data/proteins/1A8O.pdb", color_by="secondary-structure", height="420px")
said = widgets.HTML("kernel: nothing selected")

def on_select(change):
    with log.open("a") as handle:
        handle.write(json.dumps(change["new"]) + "\\n")
    said.value = f"kernel: {change['new']}"

viewer.observe(on_select, "selected")
display(viewer, said)""",
    'viewer.selected = [["A", 200], ["A", 201]]',
    'print("kernel selection:", json.dumps(viewer.selected))',
]


def _run_cell(panel, page, index):
    """Put the cursor in cell `index` and press Shift+Enter, as a person would."""
    panel.locator(".jp-Cell").nth(index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def _kernel_log(path: Path, expected, timeout=30.0):
    """Wait until the kernel's observer has written `expected` as its latest selection."""
    deadline, entries = time.time() + timeout, []
    while time.time() < deadline:
        if path.is_file():
            entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if entries and entries[-1] == expected:
                return entries
        time.sleep(0.2)
    raise AssertionError(f"the kernel saw {entries[-3:]} as its latest selections, not {expected}")


def _yellow(png: bytes) -> np.ndarray:
    """Mask of the selection spheres' yellow (lit or shaded) in a screenshot."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (r > 120) & (g > 120) & (np.abs(r - g) < 40) & (b < 0.5 * g)


def test_protein_viewer_selection_round_trip(lab, page, artifacts_dir):
    log = lab["root"] / "protein-selection.jsonl"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(_PROTEIN_CELLS[0].replace("LOG", repr(str(log))))]
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in _PROTEIN_CELLS[1:]]
    nbformat.write(notebook, lab["root"] / "notebooks" / "protein_selection.ipynb")

    outside = _blocked_requests(page)
    # a workspace of its own: Lab does not restore the quickstart notebook beside it
    page.goto(f"{lab['url']}/lab/workspaces/protein-selection/tree/protein_selection.ipynb?token={lab['token']}")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(timeout=90_000)
    _accept_kernel(page)
    _run_cell(panel, page, 0)
    root = panel.locator(".matfold-protein-viewer[data-rendered]")
    try:
        root.wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path=str(artifacts_dir / "browser-protein-failure.png"))
        raise
    root.scroll_into_view_if_needed()
    said = panel.locator(".widget-html-content:has-text('kernel:')")

    # 1. the sequence track: a click selects, shift-click adds; the kernel sees both
    spans = root.locator(".mf-res")
    assert spans.count() == 70  # 1A8O, residues 151-220
    spans.nth(9).click()
    _kernel_log(log, [["A", 160]])
    spans.nth(20).click(modifiers=["Shift"])
    _kernel_log(log, [["A", 160], ["A", 171]])
    said.filter(has_text="[['A', 160], ['A', 171]]").wait_for(timeout=30_000)

    # 2. the 3D canvas: click residues' C-alpha until one is on top, as a user clicks what they see
    el = root.locator("xpath=..")
    canvas = root.locator(".mf-stage canvas").first
    box = canvas.bounding_box()
    clicked = None
    for resi in range(151, 221):
        at = el.evaluate(f"el => el.matfoldViewer.screenPosition('A', {resi})")
        if not at or not (5 < at[0] < box["width"] - 5 and 5 < at[1] < box["height"] - 5):
            continue
        page.mouse.click(box["x"] + at[0], box["y"] + at[1])
        keys = root.locator(".mf-res.mf-selected").evaluate_all("spans => spans.map(s => s.dataset.key)")
        if keys == [f"A:{resi}"]:
            clicked = resi
            break
    assert clicked, "no residue could be clicked in the 3D view"
    _kernel_log(log, [["A", clicked]])
    said.filter(has_text=f"[['A', {clicked}]]").wait_for(timeout=30_000)

    # 3. Python sets the selection: the track highlights it and 3D draws its spheres
    page.wait_for_timeout(500)
    frames = root.get_attribute("data-rendered")
    before = canvas.screenshot()
    _run_cell(panel, page, 1)
    page.wait_for_function(
        "([el, n]) => el.dataset.rendered !== n", arg=[root.element_handle(), frames], timeout=60_000)
    keys = root.locator(".mf-res.mf-selected").evaluate_all("spans => spans.map(s => s.dataset.key)")
    assert keys == ["A:200", "A:201"]
    page.wait_for_timeout(300)
    after = canvas.screenshot()
    x, y = (int(v) for v in el.evaluate("el => el.matfoldViewer.screenPosition('A', 200)"))
    near = (slice(max(0, y - 25), y + 25), slice(max(0, x - 25), x + 25))
    assert _yellow(after)[near].sum() > 20 + _yellow(before)[near].sum()  # spheres where residue 200 is
    _kernel_log(log, [["A", 200], ["A", 201]])

    # 4. and the kernel agrees when asked
    _run_cell(panel, page, 2)
    output = panel.locator(".jp-OutputArea-output:has-text('kernel selection:')")
    output.wait_for(timeout=60_000)
    assert json.loads(output.inner_text().split("kernel selection:")[1]) == [["A", 200], ["A", 201]]
    root.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "browser-protein-viewer.png"))
    assert outside == []


@pytest.mark.hub
def test_hub_login_page_to_jupyterlab(tmp_path, page, artifacts_dir):
    from tests.support.hub_process import HubProcess

    outside = _blocked_requests(page)
    with HubProcess(tmp_path / "hub") as hub:
        # the admin account matfold hub made, with the first password it printed
        page.goto(f"{hub.url}/hub/login")
        page.fill("input#username_input", "admin")
        page.fill("input#password_input", hub.admin_password("admin"))
        page.screenshot(path=str(artifacts_dir / "browser-hub-login.png"))
        page.click("input#login_submit, button#login_submit")
        # the hub spawns the server and sends the browser to JupyterLab in the notebooks
        try:
            page.wait_for_url(f"{hub.url}/user/admin/lab**", timeout=120_000)
        except Exception:
            page.screenshot(path=str(artifacts_dir / "browser-hub-failure.png"))
            print(page.url)
            raise
        listing = page.locator(".jp-DirListing-item:has-text('01_crystal_quickstart.ipynb')")
        listing.first.wait_for(timeout=90_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts_dir / "browser-hub-jupyterlab.png"))
        assert "matfold-notebooks" in page.url
        # a wrong password is refused on the login page
        page.context.clear_cookies()
        page.goto(f"{hub.url}/hub/login")
        page.fill("input#username_input", "intruder")
        page.fill("input#password_input", "wrong-password")
        page.click("input#login_submit, button#login_submit")
        page.locator(".login_error, p.login_error").first.wait_for(timeout=30_000)
    assert outside == []
