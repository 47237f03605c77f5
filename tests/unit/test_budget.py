"""Budgets: FLOP and activation estimates from a model's shape, the budget's refusals, and bounded tokenizing."""

from __future__ import annotations

import types

import pytest
import torch
import transformers

from bertviz_ui.config import Settings, load_settings
from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.budget import (
    CPU_GFLOPS,
    DEFAULT_REQUEST_GFLOP,
    Budget,
    ModelShape,
    OverBudget,
    activation_bytes,
    duration,
    forward_flops,
    largest,
    leading_tokens,
    shape_of,
    text_prefix,
    training_step_flops,
    vocabulary_flops,
)
from bertviz_ui.ui.context import AppContext

BERT_BASE = ModelShape(layers=12, hidden=768, intermediate=3072, heads=12, vocab=30522, parameters=110_000_000,
                       eager=False)


def _stub(config, parameters: int = 0):
    """Something shaped like a model: a config and parameters (one tensor of ``parameters`` elements)."""
    return types.SimpleNamespace(config=config, parameters=lambda: iter([torch.empty(parameters)]))


# --- Shapes ---------------------------------------------------------------------------------------------------

def test_bert_base_shape_is_read_from_its_config():
    shape = shape_of(_stub(transformers.BertConfig(), parameters=7))
    assert (shape.layers, shape.hidden, shape.intermediate, shape.heads, shape.vocab, shape.parameters) == (
        12, 768, 3072, 12, 30522, 7)


def test_distilbert_albert_and_bart_names_are_read():
    distil = shape_of(_stub(transformers.DistilBertConfig()))
    assert (distil.layers, distil.hidden, distil.intermediate, distil.heads) == (6, 768, 3072, 12)
    albert = shape_of(_stub(transformers.AlbertConfig(hidden_size=768, intermediate_size=3072,
                                                      num_attention_heads=12)))
    assert (albert.layers, albert.hidden, albert.intermediate) == (12, 768, 3072)  # shared weights, same work
    bart = shape_of(_stub(transformers.BartConfig(d_model=1024, encoder_layers=12, decoder_layers=12,
                                                  encoder_ffn_dim=4096, encoder_attention_heads=16)))
    # The decoder reads the whole input too, with cross-attention: 1.5 encoder layers each.
    assert (bart.layers, bart.hidden, bart.intermediate, bart.heads) == (30, 1024, 4096, 16)


def test_attention_kind_follows_the_model():
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=100)
    model = transformers.BertModel(config)
    model.set_attn_implementation("sdpa")
    assert shape_of(model).eager is False and shape_of(model).parameters == sum(p.numel() for p in model.parameters())
    model.set_attn_implementation("eager")
    assert shape_of(model).eager is True


# --- FLOPs and memory ------------------------------------------------------------------------------------------

def test_forward_flops_of_bert_base():
    per_layer = 8 * 128 * 768**2 + 4 * 128 * 768 * 3072 + 4 * 128**2 * 768
    assert forward_flops(BERT_BASE, 128) == 12 * per_layer == pytest.approx(22.35e9, rel=1e-3)
    assert forward_flops(BERT_BASE, 128, batch=4) == 4 * forward_flops(BERT_BASE, 128)
    # The attention term grows with the square of the length: 512 tokens cost more than 4x 128.
    assert forward_flops(BERT_BASE, 512) > 4 * forward_flops(BERT_BASE, 128)


def test_training_step_is_three_forwards_plus_the_optimizer():
    assert training_step_flops(BERT_BASE, 64, 4, trainable=0) == 3 * forward_flops(BERT_BASE, 64, 4)
    assert training_step_flops(BERT_BASE, 64, 4) > training_step_flops(BERT_BASE, 64, 4, trainable=0)
    assert vocabulary_flops(BERT_BASE, 2) == 2 * 2 * 768 * (768 + 30522)


def test_activations_grow_with_batch_layers_and_attention_kind():
    one = activation_bytes(BERT_BASE, 512, 1, mode="inputs")
    assert activation_bytes(BERT_BASE, 512, 8, mode="inputs") == 8 * one
    # Saved for backward: every layer; inference frees each layer's tensors, so one layer's worth.
    per_layer = 4 * 512 * (8 * 768 + 3 * 3072)
    assert one == 12 * per_layer
    eager = ModelShape(**{**BERT_BASE.__dict__, "eager": True})
    assert activation_bytes(eager, 512, 1, mode="inputs") == 12 * 4 * 512 * (8 * 768 + 3 * 3072 + 2 * 12 * 512)
    assert activation_bytes(BERT_BASE, 512, 1) < per_layer
    assert activation_bytes(BERT_BASE, 512, 1, mode="training") > activation_bytes(eager, 512, 1, mode="inputs")


def test_the_estimates_match_peak_memory_measured_here():
    """Peak RSS measured on this machine (bert-base, 2 threads, batch 8 x 512): 2.7 GB for a backward pass to the
    inputs with sdpa attention, 4.4 GB with eager, 6.6 GB of activations for a training step. The estimates
    stay within 15% below and 40% above, so chunks sized from them fit."""
    eager = ModelShape(**{**BERT_BASE.__dict__, "eager": True})
    for estimate, measured in ((activation_bytes(BERT_BASE, 512, 8, mode="inputs"), 2.7e9),
                               (activation_bytes(eager, 512, 8, mode="inputs"), 4.4e9),
                               (activation_bytes(BERT_BASE, 512, 8, mode="training"), 6.6e9)):
        assert 0.85 * measured <= estimate <= 1.4 * measured


# --- The budget ------------------------------------------------------------------------------------------------

def test_default_budget_is_sixty_seconds_at_the_assumed_speed():
    budget = Budget()
    assert budget.gflop == DEFAULT_REQUEST_GFLOP and budget.seconds(budget.flops) == pytest.approx(60.0)
    assert Settings().request_gflop == DEFAULT_REQUEST_GFLOP and Settings().request_gb == budget.memory_gb


@pytest.mark.parametrize("device, factor", [("cpu", 1), ("cuda", 20), ("cuda:1", 20), ("mps", 4)])
def test_an_accelerator_scales_the_limit_and_the_speed(device, factor):
    budget = Budget.for_device(device, gflop=100.0, memory_gb=2.0)
    assert (budget.gflop, budget.memory_gb, budget.device) == (100.0 * factor, 2.0, device)
    assert budget.seconds(budget.flops) == Budget.for_device("cpu", gflop=100.0).seconds(100e9)


def test_app_context_budget_comes_from_settings_and_the_cache_device():
    settings = load_settings(["--request-gflop", "250", "--request-gb", "0.5"], {})
    cache = types.SimpleNamespace(device="cuda")
    budget = AppContext(settings=settings, cache=cache).budget
    assert (budget.gflop, budget.memory_gb) == (250 * 20, 0.5)
    with pytest.raises(BadInput, match="BERTVIZ_UI_REQUEST_GFLOP"):
        load_settings([], {"BERTVIZ_UI_REQUEST_GFLOP": "-1"})


def test_check_refuses_above_the_budget_and_not_at_it():
    budget = Budget(gflop=10.0)
    budget.check("At the limit", 10e9, "never shown")
    with pytest.raises(OverBudget, match=r"Too much would take about 4 s here; one request may use "
                                         r"less than a second of work\. Do less\.") as caught:
        Budget(gflop=0.01).check("Too much", 4 * CPU_GFLOPS * 1e9, lambda: "Do less.")
    assert isinstance(caught.value, BadInput)  # shown to the user like any bad input
    with pytest.raises(OverBudget, match="about 9 minutes"):
        budget.check("Much more", 540 * CPU_GFLOPS * 1e9, "Less.")


@pytest.mark.parametrize("seconds, text", [(0.2, "less than a second"), (59.6, "about 60 s"), (540, "about 9 minutes"),
                                           (9000, "about 2.5 hours"), (36000, "about 10 hours")])
def test_durations_read_naturally(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize("limit", [0, 1, 7, 49, 50])
def test_most_is_the_largest_count_that_fits(limit):
    budget = Budget(gflop=limit * 3.0)
    found = budget.most(lambda n: n * 3e9, 50)
    assert found == limit
    assert found == max([n for n in range(51) if n * 3e9 <= budget.flops])
    assert largest(lambda n: n <= 4, 3) == 3 and largest(lambda n: False, 9, low=2) == 1


def test_rows_per_batch_fill_the_activation_share():
    budget = Budget(memory_gb=1.0)
    per_row = activation_bytes(BERT_BASE, 512, 1, mode="inputs")
    rows = budget.rows_per_batch(BERT_BASE, 512, mode="inputs")
    assert rows == int(0.5e9 // per_row) and rows * per_row <= budget.activation_bytes < (rows + 1) * per_row
    assert budget.rows_per_batch(BERT_BASE, 512, mode="inputs", cap=1) == 1
    assert Budget(memory_gb=1e-6).rows_per_batch(BERT_BASE, 512) == 1  # never zero


# --- Tokenizing only what is read ----------------------------------------------------------------------------

def test_a_prefix_cut_at_whitespace_tokenizes_to_the_first_tokens(uncased):
    text = "Unaffable words 😀 and Elon Musk's rockets, " * 400
    prefix = text_prefix(text, 1000)
    assert len(prefix) <= 1000 and text.startswith(prefix) and text[len(prefix)] == " "
    whole = uncased.unwrapped(text, return_offsets_mapping=True, add_special_tokens=False)
    part = uncased.unwrapped(prefix, return_offsets_mapping=True, add_special_tokens=False)
    count = len(part["input_ids"])
    assert count > 100
    assert part["input_ids"] == whole["input_ids"][:count]
    assert part["offset_mapping"] == whole["offset_mapping"][:count]
    assert text_prefix("short", 10) == "short" and text_prefix("x" * 50, 10) == "x" * 10  # no whitespace: cut


def test_leading_tokens_tokenizes_a_prefix_and_grows_it_only_when_needed(uncased):
    seen = []

    def tokenizer(text, **kwargs):
        seen.append(len(text))
        return uncased(text, **kwargs)

    text = "word " * 100_000
    prefix, encoding = leading_tokens(tokenizer, text, 512)
    assert len(seen) == 1 and 512 * 16 - 5 <= seen[0] <= 512 * 16 and text.startswith(prefix)
    assert len(encoding["input_ids"]) > 512
    seen.clear()
    spaced = ("x" + " " * 99) * 2000  # 100 characters per token: the first prefix holds too few
    prefix, encoding = leading_tokens(tokenizer, spaced, 512)
    assert seen == [512 * 16, 512 * 32, 512 * 64, 512 * 128] and len(encoding["input_ids"]) > 512
    assert leading_tokens(tokenizer, "two words", 512)[0] == "two words"
