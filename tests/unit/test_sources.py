"""Model sources: how references resolve, the verified offline model, tiny checkpoints, the Hub probe."""

from __future__ import annotations

import socket

import pytest

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models import sources
from bertviz_ui.models.policy import ModelPolicy
from bertviz_ui.models.sources import HubProbe, resolve
from bertviz_ui.registry import Head


def test_hub_ids_resolve_without_loading(cache_dir):
    source = resolve("  google-bert/bert-base-uncased ", cache_dir)
    assert (source.kind, source.location, source.label) == ("hub", "google-bert/bert-base-uncased",
                                                            "Hub: google-bert/bert-base-uncased")
    assert resolve("bert-base-uncased", cache_dir).kind == "hub"


def test_offline_model_is_extracted_and_verified(cache_dir):
    source = resolve("sentence-transformers/all-MiniLM-L6-v2", cache_dir)
    assert source.kind == "offline" and source.label == "offline: all-MiniLM-L6-v2"
    location = sources.Path(source.location)
    assert (location / ".sha256-verified").read_text().strip() == sources.OFFLINE_SHA256
    assert (location / "model.safetensors").stat().st_size == 90868376


def test_offline_model_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "OFFLINE_SHA256", "0" * 64)
    with pytest.raises(ModelUnavailable, match="checksum"):
        sources.offline_model_dir(tmp_path)
    assert not (tmp_path / "offline" / "all-MiniLM-L6-v2").exists()


def test_tiny_checkpoints_are_built_once(cache_dir):
    first = resolve("tiny:masked_lm", cache_dir)
    assert first.kind == "tiny" and first.untrained and "random-weight" in first.label
    stamp = (sources.Path(first.location) / "config.json").stat().st_mtime_ns
    assert sources.tiny_checkpoint(Head.MASKED_LM, cache_dir) == sources.Path(first.location)
    assert (sources.Path(first.location) / "config.json").stat().st_mtime_ns == stamp
    assert (sources.Path(first.location) / "tokenizer.json").is_file()


@pytest.mark.parametrize("ref, error, message", [
    ("", BadInput, "Choose a model"),
    ("tiny:decoder", BadInput, "Unknown tiny checkpoint"),
    ("<img src=x onerror=alert(1)>", BadInput, "neither a Hub id"),
    ("org/name/extra", BadInput, "neither a Hub id"),
    ("org/../name", BadInput, "neither a Hub id"),
    ("x" * 600, BadInput, "too long"),
    ("/definitely/not/here", ModelUnavailable, "No directory"),
])
def test_bad_references(cache_dir, ref, error, message):
    with pytest.raises(error, match=message):
        resolve(ref, cache_dir)


def test_a_file_is_not_a_model(cache_dir, tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(ModelUnavailable, match="is a file"):
        resolve(str(path), cache_dir, ModelPolicy(refused_roots=()))  # the test's file lies in the temp dir


def test_local_directory_resolves(cache_dir):
    location = resolve("tiny:encoder", cache_dir).location
    source = resolve(location, cache_dir)
    assert source.kind == "local" and source.label == "local: encoder"


def test_probe_says_unreachable_when_nothing_listens(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again once the block ends
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert HubProbe(timeout_s=3).reachable() is False


def test_probe_sees_a_listening_endpoint(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert HubProbe(timeout_s=3).reachable() is True


def test_probe_respects_hf_hub_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert HubProbe().reachable() is False
