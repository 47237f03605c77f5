"""The bad-input catalog against every public endpoint of `python app.py --tiny --public`: no internals, no crash.

Endpoints and their parameters are read from the running app's own API description, so a new endpoint is covered
without editing this file.
"""

from __future__ import annotations

import pytest
import requests

from bench.load import call
from tests.conftest import running_app

pytestmark = pytest.mark.security

HTML = "<img src=x onerror=alert(1)>"
LEAKS = ("Traceback", "site-packages", "object at 0x", "gradio.components", "/root/", "/tmp/", "/home/", HTML,
         "\"error\": null")


@pytest.fixture(scope="module")
def server(cache_dir, tmp_path_factory):
    with running_app(["--tiny", "--public"], cache_dir, tmp_path_factory.mktemp("bad-input")) as running:
        yield running


def _endpoints(url: str) -> dict[str, list[dict]]:
    info = requests.get(f"{url}gradio_api/info", timeout=30).json()
    return {name.lstrip("/"): spec["parameters"] for name, spec in info["named_endpoints"].items()}


def _variants(parameters: list[dict]) -> dict[str, list]:
    def text_or(value, other):
        return [value if "str" in str(p.get("python_type", {}).get("type", "")) else other for p in parameters]

    return {
        "all None": [None] * len(parameters),
        "wrong types": [{"__class__": "x", "a": [1, 2]}] * len(parameters),
        "markup": text_or(HTML, 1),
        "huge text": text_or("A " * 150_000, 10**12),
        "negative numbers": text_or("", -(10**9)),
        "too many values": [None] * (len(parameters) + 5),
    }


def test_every_endpoint_survives_the_catalog_without_leaking(server):
    url, process = server
    endpoints = _endpoints(url)
    assert {"tokenize", "ner", "qa", "attention", "finetune"} <= set(endpoints)
    failures = []
    for name, parameters in endpoints.items():
        for variant, data in _variants(parameters).items():
            if not parameters and variant != "all None":
                continue
            result = call(url, name, data, timeout_s=120)
            leaked = [leak for leak in LEAKS if leak in result.message]
            if leaked:
                failures.append(f"/{name} with {variant}: {leaked} in {result.message[:300]!r}")
            assert process.poll() is None, f"the server died on /{name} with {variant}"
    assert failures == []
    # Still serving.
    assert call(url, "tokenize", ["tiny:encoder", "still here", "", 0, False, "longest_first", False, ""]).ok


def test_a_link_too_long_for_any_view_gets_a_sentence_not_a_server_error(server):
    """Links carry their text in the URL; Gradio's page route answered a 64 KB one with a 500 ("URL too long")."""
    url, process = server
    for path in ("", "gradio_api/info", "gradio_api/queue/join"):
        response = requests.get(f"{url}{path}?tab=qa&context=" + "a" * 70_000, timeout=30)
        assert response.status_code == 414
        assert response.text.startswith("This address is too long for this server (at most 32 KB).")
    assert requests.get(f"{url}?tab=qa&context=" + "a" * 20_000, timeout=30).status_code == 200
    assert process.poll() is None
