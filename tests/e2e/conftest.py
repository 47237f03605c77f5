"""Browser-test fixtures: the app opened in a fresh page, and where screenshots for the docs go."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e.helpers import open_app

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def app_page(page: Page, app_server: str) -> Page:
    """A new page on the running app, once the Tokenize button can be clicked and the examples have arrived."""
    return open_app(page, app_server)


@pytest.fixture(scope="session")
def screenshot_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: a temp folder, so a test run leaves the clone as it was, or
    docs/screenshots/ (the README's pictures) when pytest runs with --screenshots."""
    if not request.config.getoption("--screenshots"):
        return tmp_path_factory.mktemp("screenshots")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
