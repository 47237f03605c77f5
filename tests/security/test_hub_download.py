"""Hub downloads through the model cache, against a local Hub-compatible server: the size cap is checked from the
Hub's metadata before any weight is fetched, a model refused for its head is not kept, errors read cleanly."""

from __future__ import annotations

import errno
import gc
import re
import weakref
from pathlib import Path

import pytest
import torch

from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models.cache import LoadedModel, ModelCache
from bertviz_ui.models.hub import plan_download
from bertviz_ui.models.sources import HubProbe
from bertviz_ui.registry import Head, task_by_id
from bertviz_ui.ui.ner import trained_token_classifier
from bertviz_ui.ui.sentiment import trained_classifier
from tests.security.hub_server import HubServer

pytestmark = pytest.mark.security

BERT = "google-bert/bert-base-uncased"  # served from the tiny masked-LM checkpoint
NER = "dslim/bert-base-NER"  # the tiny token classifier, in shards
LLAMA = "meta-llama/Llama-2-70b-hf"  # 140 GB, declared only
TEXT = "The cat sat on the mat."
# What a load of the tiny masked LM fetches (the served repo has exactly these files).
BERT_FILES = ("config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json")


def make_cache(cache_dir: Path, max_download_bytes: int | None = 2_000_000_000) -> ModelCache:
    return ModelCache(device="cpu", dtype=torch.float32, budget_bytes=1 << 30, cache_dir=cache_dir,
                      probe=HubProbe(timeout_s=2), max_download_bytes=max_download_bytes)


def fetched(hub: HubServer, repo: str) -> list[str]:
    """The files of ``repo`` whose bytes were asked for (GET), in order."""
    return [path.split("/resolve/", 1)[1].split("/", 1)[1] for method, path in hub.requested(repo)
            if method == "GET" and "/resolve/" in path]


def served_size(hub: HubServer, repo: str, paths: tuple[str, ...]) -> int:
    return sum(hub.repos[repo].files[path].size for path in paths)


def test_the_probe_finds_the_local_hub(hub):
    assert HubProbe(timeout_s=2).reachable() is True


def test_a_hub_model_downloads_and_matches_the_checkpoint_it_was_served_from(hub, cache_dir):
    cache = make_cache(cache_dir)
    downloaded = cache.load(BERT, Head.MASKED_LM)
    local = cache.load("tiny:masked_lm", Head.MASKED_LM)

    assert downloaded.source.kind == "hub" and downloaded.label == f"Hub: {BERT}"
    assert downloaded.tokenizer(TEXT)["input_ids"] == local.tokenizer(TEXT)["input_ids"] == [
        101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102]
    inputs = local.tokenizer(TEXT, return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(downloaded.model(**inputs).logits, local.model(**inputs).logits)
    # The metadata was read first; the weights came after, once.
    requests = hub.requested(BERT)
    assert requests[0] == ("GET", f"/api/models/{BERT}?blobs=true")
    assert sorted(set(fetched(hub, BERT))) == sorted(BERT_FILES)
    assert fetched(hub, BERT).count("model.safetensors") == 1


def test_a_140_gb_repo_is_refused_before_any_weight_is_fetched(hub, cache_dir):
    cache = make_cache(cache_dir, max_download_bytes=2_000_000_000)
    with pytest.raises(ModelUnavailable) as refused:
        cache.load(LLAMA, Head.ENCODER)
    assert str(refused.value) == (
        "meta-llama/Llama-2-70b-hf has 140.0 GB to download (weights, config and tokenizer); this server downloads "
        "models up to 2.0 GB (BERTVIZ_UI_MAX_MODEL_GB).")
    paths = [path for _method, path in hub.requested(LLAMA)]
    assert paths[0] == f"/api/models/{LLAMA}?blobs=true"
    assert not [path for path in paths if ".safetensors" in path and not path.endswith(".index.json")]
    # Only the small files that say which weights a load would take were read.
    assert set(fetched(hub, LLAMA)) == {"config.json", "model.safetensors.index.json"}
    assert cache.report().entries == ()


def test_a_cap_below_the_model_refuses_it_and_one_at_its_size_allows_it(hub, cache_dir):
    size = served_size(hub, BERT, BERT_FILES)
    with pytest.raises(ModelUnavailable, match=r"^google-bert/bert-base-uncased has 0\.00\d\d GB to download "
                                               r"\(weights, config and tokenizer\); this server downloads models "
                                               r"up to 0\.0000010 GB \(BERTVIZ_UI_MAX_MODEL_GB\)\.$"):
        make_cache(cache_dir, max_download_bytes=1000).load(BERT, Head.MASKED_LM)
    with pytest.raises(ModelUnavailable, match="BERTVIZ_UI_MAX_MODEL_GB"):
        make_cache(cache_dir, max_download_bytes=size - 1).load(BERT, Head.MASKED_LM)
    assert "model.safetensors" not in fetched(hub, BERT)

    loaded = make_cache(cache_dir, max_download_bytes=size).load(BERT, Head.MASKED_LM)
    assert loaded.model is not None and fetched(hub, BERT).count("model.safetensors") == 1


def test_a_model_already_in_the_hugging_face_cache_is_not_checked_again(hub, cache_dir):
    make_cache(cache_dir).load(BERT, Head.MASKED_LM)
    hub.clear()
    # Nothing is downloaded now, so a cap it is far above does not stand in the way (preloaded models keep working).
    loaded = make_cache(cache_dir, max_download_bytes=1000).load(BERT, Head.MASKED_LM)
    assert loaded.model is not None
    assert not [path for _method, path in hub.requested(BERT) if "blobs=true" in path]
    assert fetched(hub, BERT) == []


def test_a_sharded_model_counts_every_shard_and_is_kept_once_accepted(hub, cache_dir):
    files = hub.repos[NER].files
    shards = tuple(sorted(path for path in files if path.startswith("model-")))
    assert len(shards) == 2
    plan = plan_download(NER, weights=True)
    assert [path for path, _size in plan.weights] == ["model.safetensors.index.json", *shards]
    assert plan.total_bytes == sum(file.size for file in files.values())  # every file of this repo is needed

    cache = make_cache(cache_dir, max_download_bytes=plan.total_bytes)
    loaded = cache.load_for_task(task_by_id("ner"), NER, accept=trained_token_classifier)
    assert cache.held() == (loaded,) and loaded.model.config.id2label[3] == "B-PER"
    assert set(shards) <= set(fetched(hub, NER))


def test_a_model_refused_for_its_head_after_a_download_is_not_kept(hub, cache_dir):
    cache = make_cache(cache_dir)
    models: list[weakref.ref] = []

    def watched(loaded: LoadedModel) -> None:
        models.append(weakref.ref(loaded.model))
        trained_classifier(loaded)

    # bert-base-uncased has no classification head, so Sentiment refuses it (the real one too).
    with pytest.raises(ModelUnavailable, match="no trained classification head") as refused:
        cache.load_for_task(task_by_id("sentiment"), BERT, accept=watched)
    assert "model.safetensors" in fetched(hub, BERT)  # it was really downloaded and built
    assert cache.report().entries == () and cache.held() == ()
    gc.collect()
    # Freed even while the error that reports it (shown to the user, held here) is alive.
    assert len(models) == 1 and models[0]() is None and refused.value is not None


def test_an_unknown_repo_gets_a_clean_message(hub, cache_dir):
    with pytest.raises(ModelUnavailable) as unknown:
        make_cache(cache_dir).load("bertviz-tests/no-such-model", Head.MASKED_LM)
    assert str(unknown.value) == "No model named bertviz-tests/no-such-model on the Hub (or it is private)."
    assert fetched(hub, "bertviz-tests/no-such-model") == []


def test_metadata_that_cannot_be_read_refuses_the_download(hub, cache_dir):
    repo = "bertviz-tests/broken-metadata"
    with pytest.raises(ModelUnavailable) as broken:
        make_cache(cache_dir).load(repo, Head.ENCODER)
    message = str(broken.value)
    assert message == (f"The Hub's file list for {repo} could not be read, so the model was not downloaded (its "
                       "size is checked first). Try again in a moment.")
    assert hub.requested(repo) == [("GET", f"/api/models/{repo}?blobs=true")]  # nothing downloaded blind


class FullDisk:
    """A download's temporary file on a disk that fills up after ``room`` bytes: writes then fail with ENOSPC."""

    def __init__(self, file, room: int):
        self._file = file
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name: str):
        return getattr(self._file, name)


def test_a_disk_that_fills_up_at_the_write_gives_a_message_and_keeps_no_partial_file(hub, cache_dir, monkeypatch):
    """ENOSPC simulated where huggingface_hub writes a download's bytes, so that it is tested on every machine
    (tests/security/test_hub_app.py fills a real tmpfs where the kernel lets a test mount one)."""
    from huggingface_hub import constants, file_download

    real_http_get = file_download.http_get

    def on_a_full_disk(url, temp_file, **kwargs):
        file = FullDisk(temp_file, room=1_500_000) if url.endswith("/model.safetensors") else temp_file
        return real_http_get(url, file, **kwargs)

    monkeypatch.setattr(file_download, "http_get", on_a_full_disk)
    with pytest.raises(ModelUnavailable) as full:
        make_cache(cache_dir).load(BERT, Head.MASKED_LM)
    assert re.fullmatch(r"This server's disk filled up while downloading google-bert/bert-base-uncased's "
                        r"model\.safetensors \(\d\.\d MB of \d\.\d MB received\), so the download stopped\. Nothing "
                        r"half-downloaded was kept \(files already complete were\); free some space \(or set HF_HOME "
                        r"to a larger disk\) and try again\.", str(full.value)), str(full.value)
    repo = Path(constants.HF_HUB_CACHE) / "models--google-bert--bert-base-uncased"
    assert not list((repo / "blobs").glob("*.incomplete"))
    assert {path.name for path in (repo / "snapshots").glob("*/*")} == set(BERT_FILES) - {"model.safetensors"}

    monkeypatch.setattr(file_download, "http_get", real_http_get)  # room again: the next try fetches the rest
    hub.clear()
    assert make_cache(cache_dir).load(BERT, Head.MASKED_LM).model is not None
    assert fetched(hub, BERT) == ["model.safetensors"]
