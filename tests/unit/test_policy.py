"""What a request may name as a model: refused folders, public mode, the allow-list, tokenizer configs that point out."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch

from bertviz_ui.config import Settings
from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models import model_policy
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.models.cleanup import FINETUNE_PREFIX, remove_stale_files
from bertviz_ui.models.policy import (
    PUBLIC_PATH_REFUSED,
    WRITABLE_FOLDER_REFUSED,
    ModelPolicy,
    check_tokenizer_config,
)
from bertviz_ui.models.sources import resolve, tiny_checkpoint
from bertviz_ui.registry import Head


def _config(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "tokenizer_config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("config", [
    {"tokenizer_class": "BertTokenizer", "vocab": "/dev/zero"},
    {"tokenizer_class": "BertTokenizer", "vocab": "/etc/passwd"},
    {"tokenizer_class": "BertTokenizer", "vocab": "app.py"},  # relative to the server's working directory
    {"tokenizer_class": "RobertaTokenizer", "merges": "../../secret.txt"},
    {"tokenizer_class": "BertTokenizer", "init_kwargs": {"vocab": "/etc/passwd"}},
    {"tokenizer_class": "SomeTokenizer", "spm_file": "/etc/passwd"},
    {"tokenizer_class": "SomeTokenizer", "extra_files": ["ok.txt", "../outside.txt"]},
    {"tokenizer_class": "SomeTokenizer", "sp_model_path": "~/.ssh/id_rsa"},
])
def test_a_tokenizer_config_naming_an_outside_file_is_refused(tmp_path, config):
    with pytest.raises(ModelUnavailable, match="names a file outside the model's own directory"):
        check_tokenizer_config(_config(tmp_path, config), "some/model")


@pytest.mark.parametrize("config", [
    # What save_pretrained wrote on the saving machine: transformers 5 ignores these keys (checked).
    {"tokenizer_class": "BertTokenizer", "name_or_path": "/home/someone/bert", "tokenizer_file": "/root/t.json",
     "special_tokens_map_file": "/root/.cache/special_tokens_map.json", "vocab_file": "/abs/vocab.txt"},
    {"tokenizer_class": "BertTokenizer", "vocab": {"[PAD]": 0, "[UNK]": 1}},  # an inline vocabulary is data
    {"tokenizer_class": "RobertaTokenizer", "merges": ["a b", "c d"]},
    {"tokenizer_class": "BertTokenizer", "model_max_length": 512, "added_tokens_decoder": {"0": {"content": "/"}}},
    {"tokenizer_class": "SomeTokenizer", "vocab_files": ["vocab.txt"], "cache_dir": "sub/dir"},
])
def test_ordinary_tokenizer_configs_pass(tmp_path, config):
    check_tokenizer_config(_config(tmp_path, config), "some/model")


def test_a_model_directory_whose_tokenizer_points_outside_is_not_loaded(tmp_path, cache_dir):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_checkpoint(Head.ENCODER, cache_dir), model_dir)
    config = json.loads((model_dir / "tokenizer_config.json").read_text())
    (model_dir / "tokenizer.json").unlink()
    (model_dir / "tokenizer_config.json").write_text(json.dumps({**config, "vocab": "/etc/passwd"}))
    # refused_roots=() lets this test's temp dir through, so the tokenizer check itself is what refuses.
    cache = ModelCache(device="cpu", dtype=torch.float32, budget_bytes=10**9, cache_dir=cache_dir,
                       policy=ModelPolicy(refused_roots=()))
    with pytest.raises(ModelUnavailable, match="'vocab'"):
        cache.load(str(model_dir), Head.TOKENIZER)
    assert cache.report().entries == ()


def test_the_temp_dir_is_refused_with_the_same_words_whether_the_path_exists_or_not(tmp_path, cache_dir):
    real = tmp_path / "real"
    shutil.copytree(tiny_checkpoint(Head.ENCODER, cache_dir), real)
    messages = set()
    for ref in (str(real), str(tmp_path / "missing"), str(real / "config.json"), "/tmp", "/dev/zero", "/proc/self"):
        with pytest.raises(ModelUnavailable) as caught:
            resolve(ref, cache_dir)
        messages.add(str(caught.value))
    assert messages == {WRITABLE_FOLDER_REFUSED}


def test_a_link_into_a_refused_folder_is_refused(tmp_path, cache_dir):
    outside = Path.home() / f".bertviz-policy-test-{os.getpid()}"
    try:
        outside.symlink_to(tmp_path)
        with pytest.raises(ModelUnavailable, match="temporary or upload folders"):
            resolve(str(outside), cache_dir)
    finally:
        outside.unlink(missing_ok=True)


def test_public_mode_refuses_every_path_alike_and_never_asks_the_filesystem(cache_dir, monkeypatch):
    policy = ModelPolicy(public=True, allowed=("google-bert/*",))
    asked = []
    monkeypatch.setattr(Path, "is_dir", lambda self: asked.append(self) or True)
    monkeypatch.setattr(Path, "exists", lambda self: asked.append(self) or True)
    messages = set()
    for ref in ("/etc", "/no/such", "../x", "~/models", "./local", "C:\\models", "/tmp/gradio/abc"):
        with pytest.raises(BadInput) as caught:
            resolve(ref, cache_dir, policy)
        messages.add(str(caught.value))
    assert messages == {PUBLIC_PATH_REFUSED}
    assert asked == []
    # A Hub id that also names a folder here is still read as a Hub id: the filesystem is not asked.
    assert resolve("google-bert/bert-base-cased", cache_dir, policy).kind == "hub"
    assert asked == []


def test_public_mode_allow_list(cache_dir):
    policy = model_policy(Settings(public=True, allow_models=("dslim/*", "Org/Exact-Model"),
                                   models={"ner": "my-org/private-ner"}))
    for allowed in ("dslim/bert-base-NER", "dslim/distilbert-NER", "org/exact-model", "my-org/private-ner",
                    "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "tiny:masked_lm",
                    "sentence-transformers/all-MiniLM-L6-v2"):
        resolve(allowed, cache_dir, policy)
    for refused in ("meta-llama/Llama-2-70b-hf", "dslim", "other/dslim-model", "org/exact-model-2"):
        with pytest.raises(BadInput, match="BERTVIZ_UI_ALLOW_MODELS"):
            resolve(refused, cache_dir, policy)
    everything = model_policy(Settings(public=True, allow_models=("*",)))
    assert resolve("meta-llama/Llama-2-70b-hf", cache_dir, everything).kind == "hub"


def test_local_mode_allows_any_hub_id_and_a_configured_directory_even_in_public_mode(tmp_path, cache_dir):
    assert resolve("meta-llama/Llama-2-70b-hf", cache_dir, model_policy(Settings())).kind == "hub"
    model_dir = tmp_path / "served"
    shutil.copytree(tiny_checkpoint(Head.ENCODER, cache_dir), model_dir)
    policy = model_policy(Settings(public=True, models={"attention": str(model_dir)}))
    assert resolve(str(model_dir), cache_dir, policy).kind == "local"


def test_stale_staging_and_finetune_folders_are_removed_at_start_up(tmp_path):
    cache, temp = tmp_path / "cache", tmp_path / "temp"
    old_extract = cache / "offline" / ".extract-abc"
    young_build = cache / "tiny" / "v1" / ".build-xyz"
    old_finetune = temp / f"{FINETUNE_PREFIX}123"
    kept_model = cache / "tiny" / "v1" / "encoder"
    for folder in (old_extract, young_build, old_finetune, kept_model):
        folder.mkdir(parents=True)
    long_ago = time.time() - 7 * 3600
    for folder in (old_extract, old_finetune, kept_model):
        os.utime(folder, (long_ago, long_ago))
    removed = remove_stale_files(cache, temp_dir=temp)
    assert sorted(removed) == sorted([old_extract, old_finetune])
    assert young_build.is_dir() and kept_model.is_dir() and not old_extract.exists()


def test_with_the_server_in_a_temp_folder_a_relative_name_is_judged_as_what_it_is(tmp_path, cache_dir, monkeypatch):
    """CI clones (and some hosts) run the app from under the temp dir: junk stays junk, a real folder there is refused."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput, match="neither a Hub id"):
        resolve("<img src=x onerror=alert(1)>", cache_dir)
    shutil.copytree(tiny_checkpoint(Head.ENCODER, cache_dir), tmp_path / "uploaded" / "model")
    with pytest.raises(ModelUnavailable, match="temporary or upload folders"):
        resolve("uploaded/model", cache_dir)
