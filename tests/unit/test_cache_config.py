"""The cache reads a model's configuration alone (for the model comparison) and lists the models it holds."""

from __future__ import annotations

import pytest

from bertviz_ui.errors import BadInput
from bertviz_ui.models.cache import HubUnreachable
from bertviz_ui.registry import Head


def test_config_of_a_local_checkpoint(cache):
    config = cache.load_config("tiny:encoder")
    assert config.model_type == "bert" and config.hidden_size == 32 and config.num_hidden_layers == 2


def test_config_of_the_offline_model(cache):
    config = cache.load_config("sentence-transformers/all-MiniLM-L6-v2")
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (6, 384, 12)


def test_config_without_the_hub_fails_fast_with_a_message(cache):
    with pytest.raises(HubUnreachable, match="configuration of google-bert/bert-large-uncased is not on this machine"):
        cache.load_config("google-bert/bert-large-uncased")


def test_config_of_a_malformed_reference(cache):
    with pytest.raises(BadInput):
        cache.load_config("<b>bad</b>")


def test_held_lists_loaded_models_not_tokenizers(cache):
    loaded = cache.load("tiny:encoder", Head.ENCODER)
    cache.load("sentence-transformers/all-MiniLM-L6-v2", Head.TOKENIZER)
    held = cache.held()
    assert any(entry is loaded for entry in held)
    assert all(entry.model is not None for entry in held)
