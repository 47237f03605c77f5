"""Browser-test fixtures: the app opened in a fresh page, and where screenshots for the docs go."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PAGE_LOAD_MS

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def app_page(page: Page, app_server: str) -> Page:
    """A new page on the running app, once the Tokenize button can be clicked."""
    page.goto(app_server)
    expect(page.locator("#tokenizer-run")).to_be_enabled(timeout=PAGE_LOAD_MS)
    return page


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """docs/screenshots/, created if missing; each run overwrites the files in it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
