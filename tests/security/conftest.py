"""Security-test fixtures: a local Hub-compatible server and a Hugging Face client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.hub_server import HubServer, standard_repos


@pytest.fixture(scope="session")
def hub_server(cache_dir: Path) -> Iterator[HubServer]:
    """The server, started once; its repos are built from the tiny checkpoints in ``cache_dir``."""
    server = HubServer(standard_repos(cache_dir)).start()
    yield server
    server.stop()


@pytest.fixture
def hub(hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """The Hub client (huggingface_hub and transformers) aimed at the local server, with an empty HF_HOME.

    Setting the environment is not enough in a test process: tests/conftest.py sets HF_HUB_OFFLINE=1 before
    anything imports huggingface_hub, and huggingface_hub.constants reads the variables once, at import:
    ENDPOINT and HUGGINGFACE_CO_URL_TEMPLATE (the resolve URL; file_download formats it), HF_HUB_OFFLINE (read
    through is_offline_mode(), also by transformers), HF_HUB_DISABLE_XET, and every path under HF_HOME (the hub
    cache, the token, the agent-harness registry it fetches from {ENDPOINT}/api/agent-harnesses). Those module
    constants are patched; transformers 5 reads them from huggingface_hub at call time and keeps no copy.
    The environment is set too, for the app's HubProbe (it reads HF_ENDPOINT and HF_HUB_OFFLINE from it) and
    for any subprocess. No token is sent: HF_TOKEN is unset and the token path is in the empty HF_HOME.
    """
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)

    old_home = constants.HF_HOME
    for name, value in vars(constants).copy().items():
        if name.isupper() and isinstance(value, str) and value.startswith(old_home):
            monkeypatch.setattr(constants, name, str(home) + value[len(old_home):])
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", hub_server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        hub_server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    # transformers keeps one HfApi, made with the endpoint of its first use: a unit test that ran before (offline)
    # left one aimed at huggingface.co, and AutoTokenizer's chat-template listing then retried it with backoff for
    # 23 s per load (the hub tests took 47-93 s each in a full run instead of 1-5 s). A fresh one per test.
    import transformers.utils.hub

    monkeypatch.setattr(transformers.utils.hub, "_hf_api", None)
    hub_server.clear()
    yield hub_server
