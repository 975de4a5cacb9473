"""mlrail's pages and Airflow's UI in a real headless Chromium (tests/browser.py).

The first tests hold the harness to what it promises on literal pages served here, so a
page test that passes means something; the others open the pages of a real served project
(tests/plugins/ui_project.py) as a logged-in user does, and keep one screenshot per page
in the test artifacts folder.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import psutil
import pytest

from tests.browser import (
    WINDOW,
    Browser,
    assert_no_console_errors,
    assert_offline,
    screenshot_path,
    svg_charts,
)
from tests.conftest import ROOT
from tests.plugins.ui_project import DAG_ID, MODEL

pytestmark = pytest.mark.slow
# Where `make screenshots` puts the images README's "The Airflow UI" section shows.
README_SHOTS = ROOT / "docs" / "ui"

# Literal pages for the harness's own tests. /broken does every wrong thing a page test
# must see: a console.error, an uncaught exception, a load its CSP blocks, a 404, a CDN
# script, and a frame from another site (another process) that loads a file itself.
BROKEN = """<!doctype html><html><body><h1>broken</h1>
<svg id="drawn" width="200" height="100"><rect x="10" y="10" width="50" height="80"/></svg>
<svg id="empty" width="200" height="100"></svg>
<svg id="flat" width="200" height="100"><rect x="10" y="90" width="50" height="0"/></svg>
<script>console.error("stage table", 3); setTimeout(() => { throw new Error("late") });
fetch("/missing.json");</script>
<script src="https://cdn.example.com/chart.js"></script>
<iframe src="http://localhost:{port}/frame"></iframe></body></html>"""
FRAME = "<!doctype html><html><body><img src='/in-frame.png'></body></html>"
STRICT = "<!doctype html><html><body><img src='/blocked.png'></body></html>"


class LiteralPages(BaseHTTPRequestHandler):
    def do_GET(self):
        port = self.server.server_address[1]
        pages = {"/broken": BROKEN.replace("{port}", str(port)), "/frame": FRAME}
        pages["/strict"] = STRICT
        if self.path not in pages:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        if self.path == "/strict":
            self.send_header("Content-Security-Policy", "default-src 'none'")
        self.end_headers()
        self.wfile.write(pages[self.path].encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def literal_pages() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), LiteralPages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_harness_sees_what_a_broken_page_does(browser, literal_pages):
    page = browser.open(f"{literal_pages}/broken")
    assert page.status == 200
    requested = {urlsplit(url).path for url in page.requests}
    assert {"/missing.json", "/chart.js", "/frame", "/in-frame.png"} <= requested
    errors = "\n".join(page.console_errors)
    assert "stage table 3" in errors and "Error: late" in errors
    assert "404" in errors and "/in-frame.png" in errors  # a load failed inside the frame
    assert "ERR_NAME_NOT_RESOLVED (https://cdn.example.com/chart.js)" in errors
    with pytest.raises(AssertionError, match="cdn.example.com"):
        assert_offline(page)
    with pytest.raises(AssertionError, match="stage table"):
        assert_no_console_errors(page)
    charts = {chart.label: chart.non_empty for chart in svg_charts(page)}
    assert charts == {"drawn": True, "empty": False, "flat": False}

    blocked = browser.open(f"{literal_pages}/strict")
    assert "violates the following Content Security Policy" in "".join(blocked.console_errors)
    assert browser.open(f"{literal_pages}/nothing-here").status == 404


def test_each_page_has_its_own_cookies_and_a_fixed_viewport(browser, literal_pages):
    first = browser.open(f"{literal_pages}/frame", cookies={"_token": "first"})
    second = browser.open(f"{literal_pages}/frame")
    assert first.evaluate("document.cookie") == "_token=first"
    assert second.evaluate("document.cookie") == ""
    assert first.evaluate("[innerWidth, innerHeight, devicePixelRatio]") == [*WINDOW, 1]
    first.close()
    second.close()


def test_closing_the_browser_leaves_no_chromium_running(tmp_path):
    browser = Browser.start(tmp_path)
    browser.open("about:blank")
    group = browser.pid  # Chromium leads a process group of its own
    started = [p for p in psutil.process_iter() if _group(p) == group]
    assert len(started) > 1  # the browser and its helpers (zygotes, renderers, GPU)
    browser.close()
    # SIGKILL is delivered to the group at once, but a helper may take a moment to die;
    # one that has died and waits for init to reap it (a zombie) runs nothing.
    deadline = time.monotonic() + 10
    while (left := [p for p in started if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []


def _group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def _check_page(page, name: str):
    """What every page of the plugin must do: load, stay on the server, log no error, and
    draw every chart it has."""
    shot = page.screenshot(screenshot_path(name))
    assert page.status == 200, page.url
    assert_offline(page)
    assert_no_console_errors(page)
    width, height = _png_size(shot)
    assert width >= WINDOW[0] and height >= WINDOW[1]  # the whole page, at least the window
    charts = svg_charts(page, "svg.chart")  # mlrail's charts (mlrail.reports.charts)
    assert all(chart.non_empty for chart in charts), [c for c in charts if not c.non_empty]
    if os.environ.get("MLRAIL_UPDATE_SCREENSHOTS"):  # `make screenshots`: README's images
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SHOTS / f"{name}.png")
    return charts


def _tables(page) -> list[dict]:
    """Every table of the page as its header and rows of cell text, as a reader sees it."""
    return page.evaluate(
        """[...document.querySelectorAll("table")].map(t => ({
            header: [...t.querySelectorAll("thead th")].map(c => c.innerText.trim()),
            rows: [...t.querySelectorAll("tbody tr")].map(
                r => [...r.cells].map(c => c.innerText.trim().replace(/\\s+/g, " "))),
        }))"""
    )


def _table(page, column: str) -> dict:
    for table in _tables(page):
        if column in table["header"]:
            return table
    raise AssertionError(f"no table with a {column!r} column on {page.url}")


def _links(page) -> dict[str, str]:
    """Link text -> the path it opens (the last link of a text wins)."""
    return dict(
        page.evaluate(
            """[...document.querySelectorAll("a[href]")].map(
                a => [a.innerText.trim(), decodeURIComponent(new URL(a.href).pathname)])"""
        )
    )


def _open(browser, ui_project, path: str):
    return browser.open(ui_project.page(path), ui_project.cookies)


def test_the_models_page(browser, ui_project):
    with _open(browser, ui_project, "/mlrail/models") as page:
        _check_page(page, "models")
        models = _table(page, "model")
        (row,) = models["rows"]
        cells = dict(zip(models["header"], row, strict=True))
        assert cells["model"] == MODEL and cells["versions"] == "2"
        assert cells["blessed"] == "v2" and cells["production"] == "unset"
        assert cells["latest verdict"].startswith("blessed v2: Blessed:")
        assert _links(page)["v2"] == f"/mlrail/models/{MODEL}/versions/2"


def test_a_model_and_its_versions(browser, ui_project):
    with _open(browser, ui_project, f"/mlrail/models/{MODEL}") as page:
        _check_page(page, "model")
        versions = _table(page, "version")
        assert [r[0] for r in versions["rows"]] == ["v2", "v1"]
        history = _table(page, "alias")
        assert [r[2:4] for r in history["rows"]] == [["v1", "v2"], ["unset (first)", "v1"]]


def test_a_model_version_page(browser, ui_project):
    with _open(browser, ui_project, f"/mlrail/models/{MODEL}/versions/2") as page:
        _check_page(page, "model-version")
        checks = _table(page, "check")
        assert {r[0] for r in checks["rows"]} == {"threshold", "baseline"}
        assert {r[1] for r in checks["rows"]} == {"test"}  # the slice every check is on
        assert all(r[5] in ("pass", "fail") for r in checks["rows"])
        metrics = _table(page, "v2 (candidate)")
        assert metrics["header"][1:] == ["v2 (candidate)", "v1 (blessed then)", "difference"]
        links = _links(page)
        second = ui_project.runs.second
        assert links[f"{DAG_ID} / {second}"] == f"/mlrail/runs/{DAG_ID}/{second}"
        # The Airflow task instance that trained it, in Airflow's own UI.
        assert links["task train, try 1"] == f"/dags/{DAG_ID}/runs/{second}/tasks/train"
        assert links["statistics of dataset version 1"].startswith("/mlrail/statistics/")
        hyperparameters = _table_after(page, "Hyperparameters")
        assert {"epochs", "batch_size"} <= {r[0] for r in hyperparameters}
        text = page.evaluate("document.body.innerText")
        assert str(ui_project.env.settings.artifact_root) not in text


def _table_after(page, heading: str) -> list[list[str]]:
    """Rows of the first table after the heading ``heading``."""
    return page.evaluate(
        f"""(() => {{
            const h = [...document.querySelectorAll("h2, h3")]
                .find(e => e.innerText.trim() === {heading!r});
            let e = h.nextElementSibling;
            while (e && e.tagName !== "TABLE") e = e.nextElementSibling;
            return [...e.querySelectorAll("tr")].map(
                r => [...r.cells].map(c => c.innerText.trim()));
        }})()"""
    )


def test_the_runs_of_a_dag(browser, ui_project):
    with _open(browser, ui_project, f"/mlrail/runs/{DAG_ID}") as page:
        _check_page(page, "runs")
        runs = _table(page, "run")
        shown = [r[0] for r in runs["rows"]]
        assert set(shown) == set(vars(ui_project.runs).values()) and len(shown) == 4


def test_the_run_page(browser, ui_project):
    run = ui_project.runs.cached
    with _open(browser, ui_project, f"/mlrail/runs/{DAG_ID}/{run}") as page:
        _check_page(page, "run")
        stages = _table(page, "stage")
        states = {r[0].split()[0]: r[1] for r in stages["rows"]}
        # Push and the sandbox (a measurement of the machine now) are never cached.
        assert states["push"] == states["sandbox"] == "computed"
        assert all(
            state.startswith("cached from ")
            for stage, state in states.items()
            if stage not in ("push", "sandbox")
        ), states
        links = _links(page)
        assert links["push, try 1"] == f"/dags/{DAG_ID}/runs/{run}/tasks/push"
        assert links["GX Data Docs"].endswith("/gx-docs/index.html")
        assert links["statistics"].startswith("/mlrail/statistics/")


def test_the_sandbox_report(browser, ui_project):
    """The second run's candidate was measured against blessed v1, each in its own server."""
    (sandbox,) = ui_project.env.metadata.executions(
        run_id=ui_project.runs.second, component="sandbox"
    )
    verdict = ui_project.env.metadata.io_of(sandbox.id, "output")["infra_blessing"]
    with _open(browser, ui_project, f"/mlrail/runs/{DAG_ID}/{ui_project.runs.second}") as page:
        assert _links(page)["sandbox report"] == f"/mlrail/artifacts/{verdict.id}/files/report.html"
    report = f"/mlrail/artifacts/{verdict.id}/files/report.html"
    with _open(browser, ui_project, report) as page:
        charts = _check_page(page, "sandbox-report")
        # A latency CDF per concurrency level, the per-round ratios, memory over time.
        levels = sandbox.parameters["policy"]["concurrency"]
        assert len(charts) == len(levels) + 2
        checks = {r[0]: r[3] for r in _table(page, "check")["rows"]}
        assert set(checks) == {
            "errors",
            "latency_ratio",
            "throughput_ratio",
            "p99_budget",
            "memory",
            "parity",
            "malformed",
        }
        models = [r[0] for r in _table(page, "model")["rows"]]
        assert models == ["candidate", "blessed (v1)"]
        probes = {r[0]: r[2] for r in _table(page, "request")["rows"]}
        assert probes and set(probes.values()) == {"pass"}


def test_the_statistics_page(browser, ui_project):
    statistics = ui_project.env.metadata.executions(
        run_id=ui_project.runs.first, component="statistics"
    )
    (artifact,) = ui_project.env.metadata.io_of(statistics[0].id, "output").values()
    with _open(browser, ui_project, f"/mlrail/statistics/{artifact.id}") as page:
        charts = _check_page(page, "statistics")
        features = _table(page, "split")
        schema = ui_project.env.artifacts.read_json(_schema_uri(ui_project), "schema.json")
        names = [f["name"] for f in schema["features"]] + [schema["label"]["name"]]
        # A chart per feature, splits overlaid, plus the colour key.
        assert len(charts) == len(names) + 1
        shown = page.evaluate(
            "[...document.querySelectorAll('tr.feature > td:first-child strong')]"
            ".map(e => e.innerText)"
        )
        assert shown == names  # in the schema's order, the label last
        assert len(features["rows"]) == 3 * len(names)  # a row per split (train, eval, test)
        flagged = page.evaluate("document.querySelectorAll('td.flag').length")
        assert flagged > 0  # the generated trips miss some pickup and dropoff areas
        assert "No anomalies" in page.evaluate("document.body.innerText")


def _schema_uri(ui_project) -> str:
    (execution,) = ui_project.env.metadata.executions(
        run_id=ui_project.runs.first, component="schema"
    )
    return ui_project.env.metadata.io_of(execution.id, "output")["schema"].uri


def test_an_artifact_page(browser, ui_project):
    (train,) = ui_project.env.metadata.executions(run_id=ui_project.runs.first, component="train")
    model = ui_project.env.metadata.io_of(train.id, "output")["model"]
    with _open(browser, ui_project, f"/mlrail/artifacts/{model.id}") as page:
        _check_page(page, "artifact")
        files = [r[0] for r in _table(page, "file")["rows"]]
        assert "saved_model/saved_model.pb" in files
        assert str(ui_project.env.settings.artifact_root) not in page.evaluate(
            "document.body.innerText"
        )


def test_the_data_docs(browser, ui_project):
    run = ui_project.runs.first
    docs = f"/mlrail/runs/{DAG_ID}/{run}/gx-docs/index.html"
    page = browser.open(ui_project.page(docs), ui_project.cookies)
    # Served with "Content-Security-Policy: sandbox": a script in them would be blocked
    # and logged, so no console error also means the docs need no script.
    _check_page(page, "data-docs")
    assert "Validation Results" in page.evaluate("document.body.innerText")


def test_the_airflow_ui_is_logged_in_by_the_token_cookie(browser, ui_project):
    """Airflow's login page only stores the token it gets from POST /auth/token in the
    ``_token`` cookie; the UI then sends that cookie with its API calls, and without it an
    API call answers 401 and the UI goes to the login page."""
    # The sidebar renders once the UI has its config and the user (/ui/config, /ui/auth/me).
    navigation = "[data-testid=nav-sidebar] [data-testid=nav-dags-link]"
    # Closed when done: the UI keeps polling the API, and a stopping server waits for that.
    with browser.open(ui_project.page("/"), ui_project.cookies, wait_for=navigation) as home:
        _check_page(home, "airflow-home")
        assert urlsplit(home.url).path == "/"

    with browser.open(ui_project.page("/"), wait_for="input[type=password]") as anonymous:
        assert urlsplit(anonymous.url).path == "/auth/login", anonymous.url
        assert "401 (Unauthorized)" in "".join(anonymous.console_errors)


def _frame(page) -> dict:
    """What the UI's plugin frame shows: its address, sandbox and (same origin) heading."""
    return page.evaluate(
        """(() => { const f = document.querySelector("iframe");
            const doc = f.contentDocument;  // null when the sandbox gives it an origin apart
            return {src: f.getAttribute("src"), sandbox: f.getAttribute("sandbox"),
                    heading: doc && doc.querySelector("h1") && doc.querySelector("h1").innerText};
        })()"""
    )


def test_airflows_navigation_opens_the_models_page(browser, ui_project):
    sidebar = "[data-testid=nav-sidebar] a[href='/plugin/mlrail-models']"
    with browser.open(ui_project.page("/"), ui_project.cookies, wait_for=sidebar) as home:
        assert home.evaluate(f"document.querySelector({sidebar!r}).innerText") == "Models"
    with browser.open(ui_project.page("/plugin/mlrail-models"), ui_project.cookies) as page:
        page.navigate(page.url, wait_for="iframe")
        _check_page(page, "airflow-models")
        assert _frame(page) == {
            "src": "/mlrail/models",
            "sandbox": "allow-scripts allow-same-origin allow-forms allow-downloads",
            "heading": "Models",
        }
        # The frame's address is mirrored in Airflow's: a deep link opens the same page.
        assert urlsplit(page.url).path == "/plugin/mlrail-models/mlrail/models"


def test_a_dag_run_has_an_mlrail_tab_with_its_stages(browser, ui_project):
    run = ui_project.runs.second
    tab = "a[href$='/plugin/mlrail-run']"
    path = f"/dags/{DAG_ID}/runs/{run}"
    with browser.open(ui_project.page(path), ui_project.cookies, wait_for=tab) as page:
        assert page.evaluate(f"document.querySelector({tab!r}).innerText") == "mlrail run"
        page.navigate(ui_project.page(f"{path}/plugin/mlrail-run"), wait_for="iframe")
        _check_page(page, "airflow-run-tab")
        frame = _frame(page)
        assert unquote(urlsplit(frame["src"]).path) == f"/mlrail/runs/{DAG_ID}/{run}"
        # The frame's page loaded with the login cookie (a 401 would be a console error).
        loaded = {unquote(urlsplit(url).path) for url in page.requests}
        assert f"/mlrail/runs/{DAG_ID}/{run}" in loaded
