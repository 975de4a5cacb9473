"""Headless Chromium for tests of the pages mlrail serves in the Airflow UI.

The browser is Debian's ``chromium`` (``make chromium`` installs it), driven over the Chrome
DevTools Protocol (CDP) through one websocket. CDP reports what a page test asserts and
WebDriver does not (every request of the page and its frames, the main document's HTTP
status, console errors and CSP violations), and there is no driver binary to keep matched
to the browser's version.

    browser = Browser.start(tmp_dir)
    page = browser.open(f"{url}/mlrail/runs/{dag_id}/{run_id}", cookies={"_token": token})
    assert page.status == 200
    assert_offline(page)
    assert_no_console_errors(page)
    page.screenshot(screenshot_path("run-page"))
    browser.close()

Each page opens in a browser context of its own (cookies, storage and cache of that page
only): one test's login never leaks into another test.
"""

from __future__ import annotations

import base64
import ctypes
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (1280, 800)
# Network idle as Chromium's own "networkIdle" defines it: nothing in flight for 0.5 s.
QUIET_SECONDS = 0.5
# Debian's /usr/bin/chromium is a shell launcher that adds the flags of /etc/chromium.d
# (remote extensions, GPU rasterisation); the binary behind it takes ours only.
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
# Requests that never leave the browser.
LOCAL_SCHEMES = ("data:", "blob:", "about:")


class PageError(AssertionError):
    """A page could not be loaded or asked something: the test fails with the reason."""


class DevToolsError(PageError):
    """The browser refused a command (its page navigated away meanwhile, for one)."""


def find_chromium() -> str:
    """The Chromium binary: $CHROMIUM, else Debian's, else one on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise RuntimeError(
        "Chromium is not installed; run `make chromium` (or `make test`), which installs "
        "Debian's chromium package when it is missing"
    )


def chromium_flags(profile: Path, offline: bool) -> list[str]:
    """Command-line flags for one headless browser with a throw-away profile."""
    flags = [
        "--headless=new",
        # Port 0: Chromium picks a free port and writes it to DevToolsActivePort.
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        # The same pixels on every machine: window size, no HiDPI scaling, no scrollbars,
        # one UI language (Airflow's UI follows the browser's).
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--force-device-scale-factor=1",
        "--hide-scrollbars",
        "--lang=en-US",
        # No traffic of the browser's own (updates, sync, field trials) among the page's.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-proxy-server",
        # Containers give /dev/shm 64 MB, which a renderer can exhaust.
        "--disable-dev-shm-usage",
        "--mute-audio",
    ]
    if offline:
        # Every host name but the test servers' fails to resolve at once, as on an
        # air-gapped deployment: a CDN link fails fast instead of waiting on a timeout,
        # and still shows in Page.requests for assert_offline.
        flags.append("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost")
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    return [*flags, "about:blank"]


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills Chromium when the test process dies
    without a teardown (kill -9, a crash), so no browser outlives the test run."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class DevTools:
    """One websocket to the browser. Pages talk through it in flat sessions: a message
    carries the ``sessionId`` of its page or frame, and events go to that session's
    listener."""

    def __init__(self, url: str):
        self._socket = connect(url, max_size=None, proxy=None, ping_interval=None)
        self._ids = itertools.count(1)
        self._awaited: set[int] = set()
        self._replies: dict[int, dict] = {}
        self.listeners: dict[str, Callable[[str, dict, str], None]] = {}

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        """Send a command without waiting for its reply (used from event listeners)."""
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        return message_id

    def call(
        self, method: str, params: dict | None = None, session: str | None = None, timeout=30
    ) -> dict:
        """Send a command and return its result; events that arrive meanwhile are handled."""
        message_id = self.send(method, params, session)
        self._awaited.add(message_id)
        self.pump(lambda: message_id in self._replies, timeout, f"a reply to {method}")
        reply = self._replies.pop(message_id)
        if "error" in reply:
            raise DevToolsError(f"{method} failed: {reply['error'].get('message')}")
        return reply.get("result", {})

    def pump(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        """Handle incoming messages until ``done()``; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout} s")
            try:
                # A short wait: ``done`` may become true with no message (a quiet period).
                raw = self._socket.recv(timeout=0.05)
            except TimeoutError:
                continue
            self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict) -> None:
        if "id" in message:
            if message["id"] in self._awaited:
                self._awaited.discard(message["id"])
                self._replies[message["id"]] = message
            return
        listener = self.listeners.get(message.get("sessionId"))
        if listener:
            listener(message["method"], message.get("params", {}), message["sessionId"])

    def close(self) -> None:
        self._socket.close()


class Page:
    """A page opened by Browser.open: what it did while loading, and a handle to ask it.

    ``status`` is the HTTP status of the main document, ``url`` where the main frame is now,
    ``requests`` every URL the page and its frames (also out-of-process ones) requested,
    ``console_errors`` console.error calls, uncaught exceptions and the browser's own error
    entries (failed loads, CSP violations). They keep growing while the page lives.
    """

    def __init__(self, devtools: DevTools, context: str, target: str, session: str):
        self._devtools = devtools
        self._context = context
        self._frame = target  # a page target's id is its main frame's id
        self._session = session
        self._sessions = {session}
        self._loads: set[str] = set()  # loader ids whose load event fired
        # By request id alone: a frame in a process of its own is requested by its
        # parent's session and finishes loading in its own.
        self._in_flight: dict[str, str] = {}
        self._last_activity = time.monotonic()
        self.url = "about:blank"
        self.status: int | None = None
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self._listen(session)

    def _listen(self, session: str) -> None:
        self._sessions.add(session)
        self._devtools.listeners[session] = self._on_event
        for domain in ("Network", "Runtime", "Log"):
            self._devtools.send(f"{domain}.enable", session=session)
        # Frames from other sites run in processes of their own: attach to them too, paused
        # until their requests are watched as well.
        auto_attach = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}
        self._devtools.send("Target.setAutoAttach", auto_attach, session)
        self._devtools.send("Runtime.runIfWaitingForDebugger", session=session)

    def _on_event(self, method: str, params: dict, session: str) -> None:
        self._last_activity = time.monotonic()
        if method == "Target.attachedToTarget":
            self._listen(params["sessionId"])
        elif method.startswith("Network."):
            self._on_network(method, params)
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = params.get("args", [])
            self.console_errors.append(" ".join(_remote_text(a) for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            thrown = details.get("exception", {}).get("description") or details["text"]
            self.console_errors.append(thrown)
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            where = f" ({entry['url']})" if entry.get("url") else ""
            self.console_errors.append(f"{entry['text']}{where}")
        elif method == "Page.lifecycleEvent" and params["name"] == "load":
            self._loads.add(params["loaderId"])
        elif method == "Page.frameNavigated" and params["frame"]["id"] == self._frame:
            self.url = params["frame"]["url"]
            # The document before is gone, and Chromium does not always report the end of
            # the requests it had under way (the UI's call that answered 401 and sent it to
            # the login page): only the new document's own request is still in flight.
            new = params["frame"]["loaderId"]  # also the id of the document's request
            self._in_flight = {k: v for k, v in self._in_flight.items() if k == new}
        elif method == "Page.navigatedWithinDocument" and params["frameId"] == self._frame:
            self.url = params["url"]

    def _on_network(self, method: str, params: dict) -> None:
        key = params.get("requestId")
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            self.requests.append(url)
            if not url.startswith(LOCAL_SCHEMES):
                self._in_flight[key] = url
        elif method == "Network.responseReceived":
            if params["type"] == "Document" and params.get("frameId") == self._frame:
                self.status = params["response"]["status"]
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            self._in_flight.pop(key, None)

    def navigate(self, url: str, wait_for: str | None = None, timeout: float = 60) -> Page:
        """Go to ``url``; return once it fired its load event, ``wait_for`` (a CSS selector)
        matches, and no request has been in flight for QUIET_SECONDS."""
        call = self._devtools.call
        call("Page.enable", session=self._session)
        call("Page.setLifecycleEventsEnabled", {"enabled": True}, self._session)
        # The window of --window-size keeps room for browser UI even headless; the page's
        # own viewport is WINDOW exactly.
        viewport = {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1}
        call("Emulation.setDeviceMetricsOverride", {**viewport, "mobile": False}, self._session)
        started = call("Page.navigate", {"url": url}, self._session, timeout)
        if started.get("errorText"):
            raise PageError(f"{url}: {started['errorText']}")
        loader = started.get("loaderId")
        self._devtools.pump(lambda: loader in self._loads, timeout, f"load event of {url}")
        if wait_for:
            found = f"document.querySelector({json.dumps(wait_for)}) !== null"
            self._devtools.pump(lambda: self._matches(found), timeout, f"{wait_for} on {url}")
        try:
            self._devtools.pump(self._idle, timeout, f"network idle on {url}")
        except TimeoutError as error:
            raise PageError(f"{error}; in flight: {sorted(self._in_flight.values())}") from None
        return self

    def _matches(self, found: str) -> bool:
        try:
            return self.evaluate(found)
        except DevToolsError:
            return False  # asked while the page navigated (a redirect to a login page)

    def _idle(self) -> bool:
        quiet = time.monotonic() - self._last_activity >= QUIET_SECONDS
        return quiet and not self._in_flight

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = self._devtools.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self._session,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise PageError(details.get("exception", {}).get("description", details["text"]))
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """Write a PNG of the whole page, not just the window, to ``path``. A page that
        scrolls inside an element of its own (Airflow's UI) is as tall as the window."""
        size = self._devtools.call("Page.getLayoutMetrics", session=self._session)
        content = size["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": content["width"], "height": content["height"]}
        shot = self._devtools.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
            self._session,
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        """Close the page and drop its browser context (cookies included)."""
        if self._session not in self._devtools.listeners:
            return
        for session in self._sessions:
            self._devtools.listeners.pop(session, None)
        self._devtools.call("Target.disposeBrowserContext", {"browserContextId": self._context})

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _remote_text(value: dict) -> str:
    return str(value["value"]) if "value" in value else value.get("description", "")


class Browser:
    """A headless Chromium process of the test run; ``close`` ends it and its children.

    Always closed, also when a test fails: the pytest fixture closes it at teardown, and
    the kernel kills it if the test process dies before (PR_SET_PDEATHSIG).
    """

    def __init__(self, process: subprocess.Popen, devtools: DevTools):
        self._process = process
        self._devtools = devtools

    @property
    def pid(self) -> int:
        """The browser's process id, also the id of the process group of all its processes."""
        return self._process.pid

    @classmethod
    def start(cls, tmp_dir: Path, offline: bool = True, timeout: float = 30) -> Browser:
        """Start Chromium with a profile in ``tmp_dir``; its output goes to chromium.log."""
        profile = Path(tmp_dir) / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # an earlier browser's
        log = Path(tmp_dir) / "chromium.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [find_chromium(), *chromium_flags(profile, offline)],
                stdout=output,
                stderr=subprocess.STDOUT,
                # A process group of its own: close() ends the renderers and helpers too.
                start_new_session=True,
                preexec_fn=_die_with_parent,
                env={**os.environ, "TZ": "UTC"},
            )
        try:
            return cls(process, DevTools(_devtools_url(profile, process, log, timeout)))
        except BaseException:
            _kill_group(process)
            raise

    def open(
        self,
        url: str,
        cookies: dict[str, str] | None = None,
        wait_for: str | None = None,
        timeout: float = 60,
    ) -> Page:
        """Open ``url`` in a new page with ``cookies`` set for its origin, path /, as
        Airflow's login page sets ``_token``; see Page.navigate for what it waits for."""
        call = self._devtools.call
        context = call("Target.createBrowserContext", {"disposeOnDetach": True})
        context = context["browserContextId"]
        if cookies:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}/"
            jar = [
                {"name": name, "value": value, "url": origin, "path": "/"}
                for name, value in cookies.items()
            ]
            call("Storage.setCookies", {"cookies": jar, "browserContextId": context})
        target = call("Target.createTarget", {"url": "about:blank", "browserContextId": context})
        attached = call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self._devtools, context, target["targetId"], attached["sessionId"])
        return page.navigate(url, wait_for, timeout)

    def close(self) -> None:
        """End Chromium and every process it started; safe to call twice."""
        try:
            self._devtools.call("Browser.close", timeout=5)
            self._process.wait(timeout=10)
        except Exception:
            pass  # a browser that does not close when asked is killed below
        finally:
            self._devtools.close()
            _kill_group(self._process)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _devtools_url(profile: Path, process: subprocess.Popen, log: Path, timeout: float) -> str:
    """The browser's websocket address, from the DevToolsActivePort file Chromium writes
    into its profile once it listens (line 1: port, line 2: path)."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited ({process.returncode}):\n{log.read_text()}")
        lines = port_file.read_text().split() if port_file.exists() else []
        if len(lines) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)
    raise RuntimeError(f"Chromium wrote no DevToolsActivePort in {timeout} s:\n{log.read_text()}")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group already exited
    process.wait()


def screenshot_path(name: str) -> Path:
    """Where a test keeps the screenshot ``name``: $MLRAIL_TEST_ARTIFACTS/screenshots, by
    default .test-artifacts/screenshots in the repository (ignored by git)."""
    root = Path(os.environ.get("MLRAIL_TEST_ARTIFACTS") or ROOT / ".test-artifacts")
    return root / "screenshots" / f"{name}.png"


def assert_offline(page: Page, host: str = "127.0.0.1") -> None:
    """Every request of the page went to ``host``: a page that loads a script, a style or a
    font from a CDN breaks on an air-gapped deployment and tells a third party who reads it."""
    outside = [
        url
        for url in page.requests
        if not url.startswith(LOCAL_SCHEMES) and urlsplit(url).hostname != host
    ]
    assert not outside, f"{page.url} made requests outside {host}: {outside}"


def assert_no_console_errors(page: Page) -> None:
    """The page logged no error: no failed load, no CSP violation, no uncaught exception."""
    assert not page.console_errors, f"{page.url} logged errors:\n" + "\n".join(page.console_errors)


@dataclass(frozen=True)
class SvgChart:
    """An inline <svg> of a page (outermost ones only; icons are SVGs too)."""

    label: str  # aria-label, else its <title>, else its id
    shapes: int  # drawn elements inside it: paths, rects, circles, lines, text...
    width: float  # rendered size, CSS pixels
    height: float
    drawn_width: float  # bounding box of what is drawn inside (getBBox)
    drawn_height: float

    @property
    def non_empty(self) -> bool:
        """Something is drawn, and it takes room on the page: not an empty chart frame,
        not a chart of zero-height bars, not one hidden with display: none."""
        sizes = (self.width, self.height, self.drawn_width, self.drawn_height)
        return self.shapes > 0 and all(size > 0 for size in sizes)


SVG_CHARTS_JS = """(() => {
  const shapes = "path, rect, circle, ellipse, line, polyline, polygon, text, image, use";
  return [...document.querySelectorAll(SELECTOR)].map(svg => {
    const rect = svg.getBoundingClientRect();
    let drawn = {width: 0, height: 0};
    try { drawn = svg.getBBox(); } catch (error) {}  // throws when not rendered
    const title = svg.querySelector(":scope > title");
    return {
      label: svg.getAttribute("aria-label") || (title && title.textContent) || svg.id || "",
      shapes: svg.querySelectorAll(shapes).length,
      width: rect.width, height: rect.height,
      drawn_width: drawn.width, drawn_height: drawn.height,
    };
  });
})()"""


def svg_charts(page: Page, selector: str = "svg:not(svg svg)") -> list[SvgChart]:
    """The page's inline SVG charts (those ``selector`` matches), in document order."""
    script = SVG_CHARTS_JS.replace("SELECTOR", json.dumps(selector))
    return [SvgChart(**chart) for chart in page.evaluate(script)]
