"""Hub download planning: which files transformers fetches for a repo's file list, and how sizes are shown.

Requests against a served repo are in tests/security/test_hub_download.py; these are the pure rules."""

from __future__ import annotations

import pytest

from bertviz_ui.models.hub import config_and_tokenizer_files, format_gb, weight_files

BERT_BASE_UNCASED = {  # the real repo's top level: five weight formats, one of which is loaded
    "config.json", "flax_model.msgpack", "model.onnx", "model.safetensors", "pytorch_model.bin", "rust_model.ot",
    "tf_model.h5", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    "coreml/fill-mask/float32_model.mlpackage/Data/com.apple.CoreML/weights/weight.bin",
}


def no_index(path: str) -> dict:
    raise AssertionError(f"{path} should not be read")


def plan(files: set[str], explicit: str | None = None, indexes: dict | None = None) -> tuple[str, ...]:
    return weight_files(files.__contains__, explicit, (indexes or {}).__getitem__ if indexes else no_index)


def test_safetensors_is_loaded_and_nothing_else():
    assert plan(BERT_BASE_UNCASED) == ("model.safetensors",)


def test_a_sharded_safetensors_model_is_its_index_and_every_shard_it_names():
    shards = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    index = {"weight_map": {"a": shards[1], "b": shards[0], "c": shards[1], "d": shards[2]}}
    files = {"config.json", "model.safetensors.index.json", *shards, "pytorch_model-00001-of-00002.bin"}
    assert plan(files, indexes={"model.safetensors.index.json": index}) == ("model.safetensors.index.json", *shards)


def test_a_shard_the_repo_lacks_is_not_counted():
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    files = {"model.safetensors.index.json", "model-00001-of-00002.safetensors"}
    assert plan(files, indexes={"model.safetensors.index.json": index}) == (
        "model.safetensors.index.json", "model-00001-of-00002.safetensors")


def test_an_index_may_name_any_file_and_that_file_counts():
    # transformers downloads whatever the weight_map names; a large non-.safetensors file is no way around the cap.
    index = {"weight_map": {"a": "data/archive.tar"}}
    files = {"model.safetensors.index.json", "data/archive.tar"}
    assert plan(files, indexes={"model.safetensors.index.json": index}) == ("model.safetensors.index.json",
                                                                              "data/archive.tar")


def test_pytorch_weights_when_there_is_no_safetensors():
    assert plan({"config.json", "pytorch_model.bin", "tf_model.h5"}) == ("pytorch_model.bin",)
    index = {"weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}}
    files = {"pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"}
    assert plan(files, indexes={"pytorch_model.bin.index.json": index}) == (
        "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin")


def test_safetensors_in_a_subfolder_are_not_what_transformers_loads():
    assert plan({"onnx/model.safetensors", "pytorch_model.bin"}) == ("pytorch_model.bin",)


def test_the_file_config_json_names_is_loaded_instead():
    files = {"model.safetensors", "big/weights.safetensors"}
    assert plan(files, explicit="big/weights.safetensors") == ("big/weights.safetensors",)
    assert plan(files, explicit="missing.safetensors") == ()


def test_a_repo_without_weights_downloads_none():
    assert plan({"config.json", "tokenizer.json", "README.md"}) == ()


def test_config_and_tokenizer_files_of_a_repo():
    files = [*sorted(BERT_BASE_UNCASED), "README.md", "additional_chat_templates/tool.jinja",
             "additional_chat_templates/more/deep.jinja", "onnx/tokenizer.json"]
    assert config_and_tokenizer_files(files) == ("additional_chat_templates/tool.jinja", "config.json",
                                                 "tokenizer.json", "tokenizer_config.json", "vocab.txt")


@pytest.mark.parametrize("size, shown", [
    (140_000_000_000, "140.0 GB"), (2_000_000_000, "2.0 GB"), (440_473_133, "0.4 GB"), (54_000_000, "0.054 GB"),
    (4_172_416, "0.0042 GB"), (1000, "0.0000010 GB"), (0, "0.0 GB"),
])
def test_sizes_are_shown_in_gigabytes_without_rounding_to_zero(size, shown):
    assert format_gb(size) == shown
