"""int8 for CPU inference (BERTVIZ_UI_QUANTIZE=int8): the setting, what the cache loads and reports, outputs close to
fp32 (tiny checkpoints, and the real all-MiniLM-L6-v2), and fp32 for everything that takes gradients or trains."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from bench.cases.fill_mask_int8 import COSINE_TARGET, hidden_state_cosines
from bench.corpora import BENCH_CORPUS
from bertviz_ui import examples
from bertviz_ui.config import Settings, load_settings
from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models import anatomy, build_cache
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.models.loading import LoadedModel, ThreadSafeTokenizer
from bertviz_ui.models.quantization import (
    INT8_LABEL,
    Int8Linear,
    Precision,
    model_bytes,
    quantize_int8,
    quantize_loaded,
)
from bertviz_ui.models.sources import ModelSource
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.render.models import cache_summary_html, cache_table
from bertviz_ui.tasks.sentiment import attribute
from bertviz_ui.ui import attention, finetune, sentiment
from bertviz_ui.ui.context import AppContext

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def int8_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, quantize="int8")


@pytest.fixture(scope="module")
def int8_cache(int8_settings: Settings) -> ModelCache:
    return build_cache(int8_settings)


def int8_layers(model) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, Int8Linear)]


# --- The setting --------------------------------------------------------------------------------------------------

def test_quantize_defaults_to_none_and_reads_env_and_flag():
    assert load_settings((), {}).quantize == "none"
    assert load_settings((), {"BERTVIZ_UI_QUANTIZE": " INT8 "}).quantize == "int8"
    assert load_settings(("--quantize", "int8"), {"BERTVIZ_UI_QUANTIZE": "none"}).quantize == "int8"


@pytest.mark.parametrize(("argv", "environ", "names"), [
    ((), {"BERTVIZ_UI_QUANTIZE": "int4"}, "BERTVIZ_UI_QUANTIZE"),
    (("--quantize", "fp16"), {}, "--quantize"),
])
def test_a_bad_quantize_value_is_a_start_up_error_naming_the_setting(argv, environ, names):
    with pytest.raises(BadInput, match=rf"{names}: Quantization must be none or int8, got '(int4|fp16)'"):
        load_settings(argv, environ)


# --- The layer ----------------------------------------------------------------------------------------------------

def test_int8_linear_is_close_to_the_linear_it_replaces_and_refuses_gradients():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    layer = Int8Linear(linear)
    x = torch.randn(3, 7, 64)
    with torch.inference_mode():
        expected, got = linear(x), layer(x)
    assert got.shape == (3, 7, 48) and got.dtype == torch.float32
    # 8-bit weights and inputs: errors of about 1% of the outputs' scale, nowhere near their size.
    assert float((got - expected).abs().max()) < 0.02 * float(expected.abs().max())
    assert layer.weight_int8.dtype == torch.int8 and layer.weight_int8.shape == (64, 48)
    assert model_bytes(layer) == 64 * 48 + 4 * 48 + 4 * 48  # int8 weights, fp32 scales and bias
    with pytest.raises(RuntimeError, match="inference only"):
        layer(x.requires_grad_(True))


# --- The cache ----------------------------------------------------------------------------------------------------

def test_inference_loads_are_int8_on_cpu_with_both_sizes(int8_cache, cache):
    loaded = int8_cache.load("tiny:masked_lm", Head.MASKED_LM)
    full = cache.load("tiny:masked_lm", Head.MASKED_LM)  # the default cache: quantize none
    assert full.quantization == "" and full.fp32_size_bytes == 0 and not int8_layers(full.model)
    # Every Linear of the transformer layers, nothing outside them (embeddings, MLM head, pooler stay fp32).
    stack = anatomy.layer_stack(loaded.model)
    assert int8_layers(stack) and not any(type(m) is torch.nn.Linear for m in stack.modules())
    assert type(loaded.model.cls.predictions.transform.dense) is torch.nn.Linear
    assert loaded.quantization == INT8_LABEL and loaded.dtype == "float32"
    assert loaded.fp32_size_bytes == full.size_bytes == model_bytes(full.model)
    assert loaded.size_bytes == model_bytes(loaded.model) < loaded.fp32_size_bytes
    assert loaded.precision_label == (f"int8 (dynamic): {loaded.size_bytes / 2**20:.1f} MB, fp32 would be "
                                      f"{full.size_bytes / 2**20:.1f} MB")
    assert loaded.label.endswith(f" — {loaded.precision_label}") and full.label == full.source.label


def test_the_models_panel_shows_both_sizes_and_what_int8_does(int8_cache):
    loaded = int8_cache.load("tiny:masked_lm", Head.MASKED_LM)
    full = int8_cache.load("tiny:masked_lm", Head.MASKED_LM, precision=Precision.FULL)
    report = int8_cache.report()
    assert (report.quantize, report.precision) == ("int8", "int8")
    table = cache_table(report)
    rows = table[table["model"] == "tiny:masked_lm"].set_index("dtype")
    assert rows.loc[INT8_LABEL, "size (MB)"] == round(loaded.size_bytes / 2**20, 1)
    assert rows.loc[INT8_LABEL, "fp32 size (MB)"] == round(full.size_bytes / 2**20, 1)
    assert rows.loc["float32", "fp32 size (MB)"] == "—"
    assert "Inference uses <b>int8 (dynamic)</b> models" in cache_summary_html(report)


def test_each_precision_is_its_own_entry_and_tokenizers_have_one(int8_cache):
    int8 = int8_cache.load("tiny:nli", Head.NLI)
    full = int8_cache.load("tiny:nli", Head.NLI, precision=Precision.FULL)
    assert int8.model is not full.model and int8_layers(int8.model) and not int8_layers(full.model)
    assert int8_cache.load("tiny:nli", Head.NLI) is int8
    assert int8_cache.load("tiny:nli", Head.NLI, precision="full") is full
    tokenizer = int8_cache.load("tiny:encoder", Head.TOKENIZER)
    assert tokenizer.quantization == "" and tokenizer.size_bytes == 0
    assert int8_cache.load("tiny:encoder", Head.TOKENIZER, precision=Precision.FULL) is tokenizer


def test_the_memory_budget_counts_the_int8_size(int8_settings):
    cache = build_cache(int8_settings)
    sizes = {}
    for ref, head in (("tiny:masked_lm", Head.MASKED_LM), ("tiny:encoder", Head.ENCODER)):
        sizes[ref] = cache.load(ref, head)
    cache.clear()
    int8_total = sum(loaded.size_bytes for loaded in sizes.values())
    assert int8_total < sum(loaded.fp32_size_bytes for loaded in sizes.values())
    # A budget both int8 models fit in exactly, and their fp32 sizes would not: both stay.
    cache = ModelCache(device="cpu", dtype=torch.float32, budget_bytes=int8_total, cache_dir=int8_settings.cache_dir,
                       quantize="int8")
    first = cache.load("tiny:masked_lm", Head.MASKED_LM)
    cache.load("tiny:encoder", Head.ENCODER)
    report = cache.report()
    assert report.used_bytes == int8_total and len(report.entries) == 2
    assert cache.load("tiny:masked_lm", Head.MASKED_LM) is first  # not evicted


@pytest.mark.parametrize("head", [Head.MASKED_LM, Head.SEQUENCE_CLASSIFICATION, Head.QUESTION_ANSWERING,
                                  Head.TOKEN_CLASSIFICATION])
def test_int8_outputs_stay_close_to_fp32_on_tiny_checkpoints(int8_cache, head):
    full = int8_cache.load(f"tiny:{head.value}", head, precision=Precision.FULL)
    int8 = int8_cache.load(f"tiny:{head.value}", head)
    inputs = full.tokenizer("The cat sat on the mat, and the dog slept by the door.", return_tensors="pt")
    with torch.inference_mode():
        a = anatomy.encoder(full.model)(**inputs).last_hidden_state[0]
        b = anatomy.encoder(int8.model)(**inputs).last_hidden_state[0]
    cosine = torch.nn.functional.cosine_similarity(a, b, dim=-1)
    assert float(cosine.min()) > 0.99


def test_int8_keeps_the_real_minilm_within_the_cosine_target(int8_cache):
    full = int8_cache.load(OFFLINE_MODEL_ID, Head.ENCODER, precision=Precision.FULL)
    int8 = int8_cache.load(OFFLINE_MODEL_ID, Head.ENCODER)
    cosines = hidden_state_cosines(full.model, int8.model, full.tokenizer, BENCH_CORPUS)
    assert cosines.numel() > 500 and float(cosines.mean()) >= COSINE_TARGET
    assert int8.size_bytes < 0.7 * int8.fp32_size_bytes  # 6 layers of 384 wide: embeddings are half of MiniLM


def test_an_architecture_without_known_layers_is_served_as_loaded(caplog):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with pytest.raises(ModelUnavailable, match="doesn't know where"):
        quantize_int8(model)
    loaded = LoadedModel(source=ModelSource("odd", "/x", "local", "odd"), head=Head.ENCODER, model=model,
                         tokenizer=ThreadSafeTokenizer(object()), device="cpu", dtype="float32", size_bytes=80,
                         load_seconds=0.0)
    with caplog.at_level(logging.WARNING, logger="bertviz_ui.models.quantization"):
        assert quantize_loaded(loaded) is loaded and type(model[0]) is torch.nn.Linear
    assert "int8 doesn't know where Sequential's layers are; kept in float32" in caplog.text


# --- Off the CPU --------------------------------------------------------------------------------------------------

class _Loader:
    def __call__(self, source: ModelSource, head: Head, device: str, dtype, online: bool) -> LoadedModel:
        return LoadedModel(source=source, head=head, model=torch.nn.Linear(2, 2),
                           tokenizer=ThreadSafeTokenizer(object()), device=device, dtype="bfloat16", size_bytes=100,
                           load_seconds=0.0)


def test_on_a_gpu_int8_is_ignored_and_said_so(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="bertviz_ui.models.cache"):
        cache = ModelCache(device="cuda", dtype=torch.bfloat16, budget_bytes=10_000, cache_dir=tmp_path,
                           loader=_Loader(), quantize="int8")
    assert "int8 applies to CPU only: models on cuda load in bfloat16" in caplog.text
    assert cache.precision is Precision.FULL
    loaded = cache.load("tiny:encoder", Head.ENCODER)  # the fake loader: nothing reaches a GPU
    assert loaded.quantization == "" and loaded.size_bytes == 100
    with pytest.raises(ModelUnavailable, match="int8 quantization runs on CPU only; this server runs models on cuda"):
        cache.load("tiny:encoder", Head.ENCODER, precision=Precision.INT8)
    report = cache.report()
    assert (report.quantize, report.precision) == ("int8", "full")
    assert "<b>int8 applies to CPU only</b>" in cache_summary_html(report)


# --- Gradients and training always get fp32 --------------------------------------------------------------------------

@pytest.fixture
def int8_ctx(int8_settings, int8_cache, monkeypatch):
    """An app context on the int8 cache that records the precision of every model load."""
    asked: list[tuple[str, Head, Precision | None, bool]] = []
    original = int8_cache.load

    def recording(ref, head, **kwargs):
        loaded = original(ref, head, **kwargs)
        asked.append((ref, head, kwargs.get("precision"), bool(loaded.model is not None and
                                                               int8_layers(loaded.model))))
        return loaded

    monkeypatch.setattr(int8_cache, "load", recording)
    return AppContext(settings=int8_settings, cache=int8_cache), asked


def test_gradient_attributions_get_the_fp32_classifier(int8_ctx):
    ctx, asked = int8_ctx
    sentiment.run_sentiment(ctx, "tiny:sequence_classification", "good film")
    assert asked[-1][2:] == (None, True)  # classifying is inference: int8
    for method in ("integrated_gradients", "gradient_x_input"):
        shown = sentiment.run_explain(ctx, "tiny:sequence_classification", "good film", 1, "predicted", method, 4)
        assert asked[-1][2:] == (Precision.FULL, False) and shown["raw"]["attributions"]["words"]


def test_gradients_through_an_int8_model_fail_loudly(int8_cache):
    int8 = int8_cache.load("tiny:sequence_classification", Head.SEQUENCE_CLASSIFICATION)
    with pytest.raises(RuntimeError, match="inference only"):
        attribute("good film", model=int8.model, tokenizer=int8.tokenizer, method="gradient_x_input")


def test_the_finetuning_lab_previews_and_trains_fp32(int8_ctx):
    ctx, asked = int8_ctx
    rows = [(text, str(label)) for text, label in zip(examples.TUTORIAL_REVIEWS, examples.TUTORIAL_REVIEW_LABELS)]
    finetune.run_preview(ctx, "tiny:encoder", rows, 1e-4, 4, 1, 0.1, 64, 1.0, 0, False)
    assert asked[-1][2:] == (Precision.FULL, False)
    stream = finetune.run_finetune(ctx, finetune.Sessions(), None, "tiny:encoder", rows, 1e-4, 4, 1, 0.1, 64, 1.0, 0,
                                   False, "", progress=lambda *a, **k: None)
    final = list(stream)[-1]
    assert final["raw"]["losses"] and all(entry[2:] == (Precision.FULL, False) for entry in asked[1:])
    assert not int8_layers(final["session"].trained.model)


def test_parameter_counts_are_taken_on_the_fp32_model(int8_ctx, cache):
    ctx, asked = int8_ctx
    shown = attention.show_parameters(attention.InsideBert(ctx), "tiny:encoder", "none", 2)
    assert asked[-1][2:] == (Precision.FULL, False)
    full = cache.load("tiny:encoder", Head.ENCODER)
    assert shown["raw"]["count"]["total"] == sum(p.numel() for p in full.model.parameters())
