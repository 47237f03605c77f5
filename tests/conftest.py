"""Shared fixtures: offline environment, a tiny-mode app server in a subprocess, Chromium for Playwright."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Tests never reach the Hub: fail fast instead of retrying for a minute.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", action="store_true", default=False,
                     help="save the browser tests' screenshots to docs/screenshots/ (the README's pictures) instead of "
                          "a temp folder")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """Where tiny checkpoints and the offline model are built once and reused (BERTVIZ_UI_CACHE_DIR)."""
    path = Path(os.environ.get("BERTVIZ_UI_CACHE_DIR", "~/.cache/bertviz_ui")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def app_server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real app (`python app.py --tiny`) on a free port; yields its URL, fails with its output."""
    with running_app(["--tiny"], cache_dir, tmp_path_factory.mktemp("server")) as (url, _process):
        yield url


@contextlib.contextmanager
def running_app(args: list[str], cache_dir: Path, log_dir: Path, env: dict[str, str] | None = None,
                prefix: tuple[str, ...] = ()):
    """`python app.py ARGS` on a free port until the block ends; yields (url, process); fails with its output.

    ``prefix`` runs the app through another command (``unshare ... exec "$@"``); it must exec the app, so the process
    is the app's."""
    port = free_port()
    log_path = log_dir / "app.log"
    full_env = {**os.environ, "BERTVIZ_UI_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("w") as log:
        process = subprocess.Popen([*prefix, sys.executable, "app.py", *args, "--port", str(port)], cwd=ROOT,
                                   env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while not _answers(url):
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"The app did not answer within 120 s:\n{log_path.read_text()}")
        # Paces the polling and returns at once if the app dies, so a crash is reported immediately.
        try:
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"The app exited with {process.returncode}:\n{log_path.read_text()}")
    try:
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def chromium_executable() -> str | None:
    """Debian's Chromium when Playwright's own browser is not installed (as on our machines and CI)."""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            if Path(playwright.chromium.executable_path).exists():
                return None
    except Exception:  # noqa: BLE001, S110 - no Playwright browser of its own: fall back to Debian's chromium below
        pass
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or ""):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch arguments, pointed at Debian's Chromium where needed."""
    args = dict(browser_type_launch_args)
    executable = chromium_executable()
    if executable:
        args["executable_path"] = executable
    args["args"] = [*args.get("args", []), "--no-sandbox", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
    return args
