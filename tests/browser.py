"""A real browser for the tests: Debian's Chromium driven by Playwright (no browser is downloaded),
a local HTTP server for a built book, and JupyterLab started on a free port.

Chromium runs headless with no network but localhost: the flags below keep it from calling home
(without them its own connections are refused by a closed network and logged as errors).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_ENABLE = (
    "browser tests skipped: Debian's Chromium is not installed (apt-get install chromium; .ci/run does it) "
    "or Playwright is missing (pip install -e '.[test]')"
)


def chromium_path() -> str | None:
    """The system's Chromium, or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    """Chromium's path; skips the test, saying how to enable it, when Chromium or Playwright is missing."""
    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        pytest.skip(HOW_TO_ENABLE)
    return path


@contextlib.contextmanager
def chromium():
    """A headless Chromium (Playwright gives each launch a fresh, temporary profile)."""
    from playwright.sync_api import sync_playwright

    path = require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """``folder`` over HTTP on 127.0.0.1 (a free port): yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class PageRecorder:
    """What a page did wrong while it loaded: console errors, failed requests, HTTP errors, and any
    request that left localhost."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text[:300]}"))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {str(e)[:300]}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url[:200]} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url[:200]}"))
        page.on("request", self._request)

    def _request(self, request) -> None:
        url = request.url
        if not url.startswith(("http://127.0.0.1", "data:", "blob:", "about:")):
            self.problems.append(f"a request left localhost: {url[:200]}")

    def take(self) -> list[str]:
        found, self.problems = self.problems, []
        return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, env: dict, timeout: float = 120):
    """``jupyter lab`` serving ``root`` on localhost (a free port, no token, its own settings and
    runtime folders under ``root``): yields ``(url, process)``; shut down with SIGTERM, which stops
    its kernels, and waited for."""
    home = root / ".jupyter-home"
    home.mkdir(exist_ok=True)
    port = free_port()
    log = open(root / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    env = {
        **env,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the tests run its commands, not menus
        ],
        env=env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {proc.returncode}: {(root / 'jupyterlab.log').read_text()[-2000:]}"
                )
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


def lab_environment(runs: Path) -> dict:
    """The environment of a JupyterLab whose kernels read the run cache ``runs``."""
    return {**os.environ, "STSSL_RUNS": str(runs), "PYTHONUNBUFFERED": "1"}
