"""The notebooks as users meet them: JupyterLab in a real (headless) browser.

JupyterLab is started as ``make lab`` starts it (root: the repository) on 127.0.0.1, a random free port
and a token, with autosave off; Debian's Chromium, driven by Playwright, opens notebooks from the file
browser, runs all cells from the Run menu and works the explorer's widgets. The committed notebooks are
never saved (checked byte for byte). Skipped, with the reason, where Chromium or Playwright is missing
(``.ci/run`` installs both; elsewhere: ``apt-get install chromium``, ``make setup``).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("SCRIBCIM_BROWSER_SHOTS", "")) if os.environ.get("SCRIBCIM_BROWSER_SHOTS") else None
CELLS = "window.jupyterapp.shell.currentWidget.content.model.cells"
#: (all code cells ran and the kernel is idle) or the first error output, for page.wait_for_function
DONE_JS = f"""() => {{ const w = window.jupyterapp.shell.currentWidget, cells = {CELLS};
    for (let i = 0; i < cells.length; i++) {{ const c = cells.get(i);
        const err = c.type === 'code' && c.outputs.toJSON().find(o => o.output_type === 'error');
        if (err) return 'error: ' + err.ename + ': ' + err.evalue;
        if (c.type === 'code' && c.executionCount === null) return false; }}
    return w.sessionContext.session.kernel.status === 'idle' && 'done'; }}"""
OUTPUT_TYPES_JS = f"""() => {{ const cells = {CELLS}, r = [];
    for (let i = 0; i < cells.length; i++) {{
        const c = cells.get(i); if (c.type === 'code') r.push(...c.outputs.toJSON().map(o => o.output_type)); }}
    return r; }}"""
SET_PARAMETERS_JS = """(src) => { const cells = window.jupyterapp.shell.currentWidget.content.widgets;
    cells.find(c => (c.model.getMetadata('tags') || []).includes('parameters')).model.sharedModel.setSource(src); }"""
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def chromium() -> str | None:
    """The system Chromium (``$SCRIBCIM_CHROMIUM`` first), or None."""
    names = [os.environ.get("SCRIBCIM_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"]
    return next((shutil.which(n) for n in names if n and shutil.which(n)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """JupyterLab at the repository root (as ``make lab``), isolated config, autosave off: its URL with token."""
    tmp, port, token = tmp_path_factory.mktemp("lab"), free_port(), os.urandom(16).hex()
    settings = tmp / "settings" / "@jupyterlab"
    for plugin, value in (("docmanager-extension/plugin", {"autosave": False}),
                          ("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False})):
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(value))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "IPYTHONDIR": str(tmp / "ipython")}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
           f"--LabApp.user_settings_dir={tmp / 'settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"]
    cmd += ["--allow-root"] if os.geteuid() == 0 else []
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO / "notebooks", env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # seconds on a loaded machine; a few on an idle one
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start: {(tmp / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"{url}/lab?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = chromium()
    if path is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium; .ci/run installs it): browser test skipped")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (make setup installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, lab) -> Iterator[object]:
    """JupyterLab in one page (loaded once); the committed notebooks are left exactly as they were."""
    before = {p: p.read_bytes() for p in (REPO / "notebooks").glob("*.ipynb")}
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.set_default_timeout(120_000)  # generous for a loaded machine; an idle one needs seconds
    pg.goto(lab)
    yield pg
    pg.close()
    assert {p: p.read_bytes() for p in (REPO / "notebooks").glob("*.ipynb")} == before, "a notebook was saved"


def notebook(page):
    """The notebook panel shown (others may stay open in hidden tabs)."""
    return page.locator(".jp-NotebookPanel").filter(visible=True)


def shot(page, name: str) -> None:
    """A screenshot into ``$SCRIBCIM_BROWSER_SHOTS`` when set (to look at what the browser drew)."""
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


T0 = time.monotonic()


def tick(what: str) -> None:
    print(f"{time.monotonic() - T0:6.1f} s {what}", flush=True)


def open_and_run(page, name: str, parameters: str) -> None:
    """Open ``notebooks/<name>`` from the file browser, set its parameters cell, Run > Run All Cells."""
    item = page.locator(".jp-DirListing-item", has_text=name)
    folder = page.locator(".jp-DirListing-item", has_text="notebooks")
    item.or_(folder).first.wait_for()
    if not item.count():  # at the repository root: into notebooks/ first
        folder.first.dblclick()
    item.dblclick()
    page.wait_for_function(f"() => {{ const w = window.jupyterapp.shell.currentWidget;"
                           f" return w?.context?.path === 'notebooks/{name}'"
                           " && w.sessionContext?.session?.kernel?.status === 'idle'; }", polling=500)
    tick("kernel idle")
    page.evaluate(SET_PARAMETERS_JS, parameters)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_timeout(500)
    state = page.wait_for_function(DONE_JS, polling=500, timeout=300_000).json_value()
    assert state == "done", state
    tick("ran all")


def shut_down_kernel(page) -> None:
    """Stop the shown notebook's kernel (its tab stays open, unsaved)."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")


def redrawn(page, before: str, timeout_s: float = 60.0) -> str:
    """Wait until the explorer's image is another one than ``before``; its new ``src``."""
    img = notebook(page).locator(".widget-output img")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if img.count() == 1 and (src := img.get_attribute("src")) and src != before:
            return src
        page.wait_for_timeout(200)
    raise AssertionError("the explorer did not redraw")


def readout(page, name: str) -> int:
    return int(notebook(page).locator(".widget-slider", has_text=name).locator(".widget-readout").inner_text())


def test_explorer_in_jupyterlab(page, phantom_cim_run):
    """06_explorer: the widget draws; slice, layer and case redraw it (a new case at its LV centre); an error in
    a redraw is shown in the panel."""
    from scribcim.notebook.explorer import Explorer
    open_and_run(page, "06_explorer.ipynb", f'run_dir = "{phantom_cim_run}"\ndata_root = None\n'
                                            'checkpoint = "best"\nout_dir = None')
    assert sorted(set(page.evaluate(OUTPUT_TYPES_JS))) == ["display_data", "execute_result", "stream"]
    img = notebook(page).locator(".widget-output img")
    assert img.count() == 1 and img.evaluate("i => i.naturalWidth") > 300  # the view, really drawn
    shot(page, "explorer_start")
    src = img.get_attribute("src")
    z = readout(page, "slice")
    notebook(page).locator(".widget-slider", has_text="slice").locator(".noUi-handle").press("ArrowLeft")
    src = redrawn(page, src)
    assert readout(page, "slice") == z - 1
    notebook(page).locator(".widget-checkbox", has_text="scribble").locator("input").check()
    src = redrawn(page, src)
    ex = Explorer(phantom_cim_run)
    select = notebook(page).locator(".widget-dropdown", has_text="case").locator("select")
    other = next(c for c in ex.cases if c != select.input_value())
    select.select_option(other)
    src = redrawn(page, src)
    start = ex.start_of(other)
    assert (readout(page, "slice"), readout(page, "row"), readout(page, "col")) == (
        start["slice_index"], start["row"], start["col"])
    shot(page, "explorer_new_case")
    tick("explorer redrawn 3 times")
    # a redraw that fails: its error appears in the panel (a widget callback has no cell of its own)
    notebook(page).locator(".jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("explorer.render = lambda *args, **kwargs: 1 / 0")
    page.keyboard.press("Shift+Enter")
    page.wait_for_timeout(1000)
    notebook(page).locator(".widget-checkbox", has_text="error map").locator("input").check()
    notebook(page).locator(".widget-output", has_text="ZeroDivisionError").wait_for(timeout=30_000)
    assert img.count() == 0
    shot(page, "explorer_error")
    tick("explorer error shown")
    shut_down_kernel(page)


def test_data_tour_in_jupyterlab(page):
    """01_data_tour (on the synthetic phantom; real ACDC: tests/test_tour.py): tables and three figures drawn; a
    relative out_dir lands under the repository root, not under notebooks/ where the kernel starts."""
    out = Path("build") / f"browser-test-{os.getpid()}" / "tour"  # relative: from the repository root
    params = f'dataset = "phantom"\ndata_root = None\nfold = 1\npart = "all"\nn_examples = 3\nout_dir = "{out}"'

    try:
        open_and_run(page, "01_data_tour.ipynb", params)
        outputs = page.evaluate(OUTPUT_TYPES_JS)
        assert "error" not in outputs and outputs.count("display_data") >= 7  # 3 tables, 3 figures, files written
        assert notebook(page).locator(".jp-OutputArea-output img").count() == 3
        assert notebook(page).locator(".jp-OutputArea-output table").count() >= 3
        shot(page, "data_tour")
        shut_down_kernel(page)
        assert (REPO / out / "tour.csv").is_file() and not (REPO / "notebooks" / out).exists()
    finally:
        shutil.rmtree(REPO / out.parent, ignore_errors=True)


@pytest.fixture
def report_out() -> Iterator[Path]:
    """A build folder for a notebook's tables and figures, relative to the repository root; removed afterwards."""
    out = Path("build") / f"browser-test-{os.getpid()}"
    try:
        yield out
    finally:
        shutil.rmtree(REPO / out, ignore_errors=True)


def run_report(page, name: str, params: str, shot_name: str) -> tuple[int, list[str]]:
    """Open and run notebook ``name`` with ``params``; fail on an error output; (images shown, text of each output
    area); screenshot, then shut its kernel down."""
    open_and_run(page, name, params)
    assert "error" not in page.evaluate(OUTPUT_TYPES_JS)
    images = notebook(page).locator(".jp-OutputArea-output img").count()
    text = notebook(page).locator(".jp-OutputArea").all_inner_texts()
    shot(page, shot_name)
    shut_down_kernel(page)
    return images, text


def test_results_in_jupyterlab(page, report_out):
    """04_results on the committed results: the method tables, and the comparison across seeds of the committed
    cpu-mm175 runs (seed tables, targets, far-field report) with their figures; files go where the parameters say."""
    out = report_out
    params = (f'results_root = "results"\ntables_dir = "{out}/tables"\nfigures_dir = "{out}/figures"\n'
              'comparisons = [["acdc", "quick"]]\nreference = "cim"\ncheckpoint = "best"\n'
              'grid_profiles = ["cpu-mm175"]')
    images, text = run_report(page, "04_results.ipynb", params, "results")
    # the box plot, the seed figure of each dataset with cpu-mm175 runs, the far-field heat map
    assert images >= 3
    assert any("cim − pce_selfdice" in t for t in text) and any("cim: mean Dice >= 0.85" in t for t in text)
    assert (REPO / out / "tables" / "cpu-mm175_targets.md").is_file()
    assert (REPO / out / "figures" / "acdc_cpu-mm175_far_field.png").is_file()


def test_robustness_in_jupyterlab(page, report_out):
    """07_robustness on the committed results: the multi-seed report (table, differences, slopes, change from
    level 0, coverage and geometry of the training scribbles) and its figure; the files go where the parameters
    say, the committed ones are untouched."""
    out = report_out
    params = (f'config = "workflow/config.yaml"\nprofile = None\nresults_root = "results"\n'
              f'tables_dir = "{out}/tables"\nfigures_dir = "{out}/figures"\ncheckpoint = "best"')
    images, text = run_report(page, "07_robustness.ipynb", params, "robustness")
    assert images == 1
    text = "\n".join(text)
    assert "cim − pce_selfdice" in text and "Coverage of the training scribbles" in text
    assert "36 of 36 planned runs present" in text and "Where those scribbles lie" in text
    assert "Change from the lowest level" in text
    assert (REPO / out / "tables" / "acdc_cpu-mm175_robustness_seeds.md").is_file()
    assert (REPO / out / "figures" / "acdc_cpu-mm175_robustness_seeds.png").is_file()
