"""Settings: the public environment variables and CLI flags, and clear messages for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertviz_ui.config import OPTIONS, Settings, load_settings
from bertviz_ui.errors import BadInput
from bertviz_ui.registry import TASKS

PUBLIC_MODEL_VARIABLES = {f"BERTVIZ_UI_MODEL_{name}" for name in
                          ("TOKENIZER", "FILL_MASK", "NSP", "SENTIMENT", "NER", "QA", "ZERO_SHOT", "ATTENTION",
                           "FINETUNE")}


def test_model_variables_are_the_public_contract():
    """Names once published never go away; a new tab adds its own, one per registry task."""
    names = {o.env for o in OPTIONS if o.env.startswith("BERTVIZ_UI_MODEL_")}
    assert PUBLIC_MODEL_VARIABLES <= names
    assert names == {f"BERTVIZ_UI_MODEL_{task.id.upper()}" for task in TASKS}


def test_every_option_has_a_flag_and_help():
    for option in OPTIONS:
        assert option.flag.startswith("--") and option.help and option.env.startswith("BERTVIZ_UI_")


def test_defaults_without_environment():
    settings = load_settings([], environ={})
    assert settings.tiny is False and settings.device == "auto" and settings.cache_gb is None
    assert settings.models == {}
    assert settings.model_for("ner") == "dslim/bert-base-NER"


def test_environment_then_flags_flags_win():
    environ = {"BERTVIZ_UI_MODEL_NER": "/models/ner", "BERTVIZ_UI_TINY": "1", "BERTVIZ_UI_CACHE_GB": "2.5",
               "BERTVIZ_UI_DEVICE": "CPU", "BERTVIZ_UI_CACHE_DIR": "/tmp/bv"}
    settings = load_settings(["--model-ner", "org/other-ner", "--model-zero-shot", "org/nli", "--port", "7999"],
                             environ=environ)
    assert settings.models == {"ner": "org/other-ner", "zero_shot": "org/nli"}
    assert settings.tiny is True and settings.cache_gb == 2.5 and settings.device == "cpu"
    assert settings.cache_dir == Path("/tmp/bv") and settings.port == 7999


def test_tiny_flag():
    assert load_settings(["--tiny"], environ={}).tiny is True


@pytest.mark.parametrize("environ, message", [
    ({"BERTVIZ_UI_TINY": "maybe"}, "BERTVIZ_UI_TINY"),
    ({"BERTVIZ_UI_CACHE_GB": "-1"}, "BERTVIZ_UI_CACHE_GB"),
    ({"BERTVIZ_UI_CACHE_GB": "lots"}, "BERTVIZ_UI_CACHE_GB"),
    ({"BERTVIZ_UI_DEVICE": "tpu"}, "BERTVIZ_UI_DEVICE"),
    ({"BERTVIZ_UI_PORT": "99999"}, "BERTVIZ_UI_PORT"),
])
def test_bad_values_name_the_variable(environ, message):
    with pytest.raises(BadInput, match=message):
        load_settings([], environ=environ)


def test_bad_flag_value_names_the_flag():
    with pytest.raises(BadInput, match="--cache-gb"):
        load_settings(["--cache-gb", "0"], environ={})


def test_every_task_has_a_default_and_choices():
    for task in TASKS:
        assert task.default_model in task.choices
        assert Settings().model_for(task.id) == task.default_model


def test_public_mode_follows_space_id_and_shortens_training_unless_told_otherwise():
    assert load_settings([], {}).public is False
    space = load_settings([], {"SPACE_ID": "someone/bertviz"})
    assert space.public is True and space.finetune_seconds == 60.0
    assert load_settings([], {"SPACE_ID": "someone/bertviz", "BERTVIZ_UI_PUBLIC": "0"}).public is False
    assert load_settings(["--public", "--finetune-seconds", "200"], {}).finetune_seconds == 200.0
    assert load_settings([], {}).finetune_seconds == 300.0
    assert load_settings(["--allow-models", "google-bert/*, dslim/*"], {}).allow_models == ("google-bert/*", "dslim/*")
