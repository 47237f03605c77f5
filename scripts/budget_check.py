"""Per-request cost check: every endpoint's handler at its worst input on bert-base / distilbert-base sized models.

    python scripts/budget_check.py [--cases NAME,...] [--threads 2] [--timeout 900] [--json PATH]

Each case runs in a child process of its own (a fresh process per case, so one case's freed memory can't hide the
next one's): the child builds its random-weight models in memory (as the benchmark's bench/random_models.py does: no
download, random weights cost what trained ones do), runs one small warm-up, resets the peak-RSS counter
(/proc/self/clear_refs), then calls the endpoint's own handler (task and rendering) once and reports the wall-clock
seconds, the peak RSS above what the process held before the call (VmHWM - VmRSS) and the size of what the response
would carry. A case passes when it finishes within 60 s (the fine-tuning lab: within its own time limit, 300 s by
default, plus 5 s) and +1.5 GB, or when it is refused up front (then the message is printed).

Cases named "...@edge" run the largest input the budgets still accept (computed with bertviz_ui.tasks.budget);
they are skipped on code without that module, so the same script measures the code before and after budgets.
Slow: about 17 minutes once budgets refuse the worst inputs (the fine-tuning edge alone runs to its 300 s limit),
over an hour without them. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LIMIT_S = 60.0
LIMIT_GB = 1.5
FINETUNE_GRACE_S = 5.0
# Words that are one token each in the uncased vocabulary: about 3 characters per token with the space, so a
# text of N characters is close to the most tokens N characters can hold.
SHORT_WORDS = ["a", "an", "of", "to", "in", "it", "is", "be", "as", "at", "so", "we", "he", "by", "or", "on", "do", "if", "me", "my", "up", "go", "no", "us", "am", "the", "and", "for", "are", "was", "not", "but", "you", "all", "any", "can", "had", "her", "his", "one", "our", "out", "day", "get", "has", "him", "how", "man", "new", "now", "old", "see", "two", "way", "who", "boy", "did", "its", "let", "put", "say", "she", "too", "use"]


# --- Inputs --------------------------------------------------------------------------------------------------

def words(count: int, seed: int = 0, *, vocabulary: tuple[str, ...] | list[str] = SHORT_WORDS) -> str:
    """``count`` short words (one token each), seeded."""
    rng = random.Random(seed)
    return " ".join(rng.choice(vocabulary) for _ in range(count))


def text_of(chars: int, seed: int = 0) -> str:
    """Short words up to exactly ``chars`` characters (or just under)."""
    rng = random.Random(seed)
    parts, size = [], 0
    while True:
        word = rng.choice(SHORT_WORDS)
        if size + len(word) + (1 if parts else 0) > chars:
            break
        size += len(word) + (1 if parts else 0)
        parts.append(word)
    return " ".join(parts)


# --- Memory --------------------------------------------------------------------------------------------------

def _status() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {key: int(re.search(rf"{key}:\s+(\d+)", text).group(1)) * 1024 for key in ("VmHWM", "VmRSS")}


def _settle() -> int:
    """Collect garbage, give freed heap back, reset the peak-RSS counter; returns the RSS now."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")
    return _status()["VmRSS"]


def response_bytes(outputs: Any) -> int:
    """About what gradio sends for these outputs: figures as plotly JSON, tables and dicts as JSON, text as is.
    A handler's values by output name (ui.components.Outputs) count as its outputs."""
    import plotly.graph_objects as go

    if isinstance(outputs, Mapping):
        outputs = tuple(outputs.values())
    elif not isinstance(outputs, (tuple, list)):
        outputs = (outputs,)
    total = 0
    for value in outputs:
        if isinstance(value, go.Figure):
            total += len(json.dumps(value.to_json()))  # gradio sends the figure's JSON as a string
        elif isinstance(value, str):
            total += len(value.encode())
        elif hasattr(value, "to_json") and hasattr(value, "columns"):  # a table: headers and rows
            total += len(value.to_json(orient="split", index=False))
        elif value is None:
            continue
        else:
            total += len(json.dumps(value, default=str, separators=(",", ":")))
    return total


# --- Models --------------------------------------------------------------------------------------------------

NLI_LABELS = ("contradiction", "neutral", "entailment")
NER_LABELS = ("O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


def _architectures() -> dict[str, tuple[Any, Any, Callable[[], Any]]]:
    """ref -> (head, architecture, config factory): every model a case loads, built in memory."""
    import transformers

    from bertviz_ui.models.sources import SENTIMENT_LABELS
    from bertviz_ui.registry import Head

    def labelled(config_class: Any, names: tuple[str, ...]) -> Callable[[], Any]:
        return lambda: config_class(num_labels=len(names), id2label=dict(enumerate(names)),
                                    label2id={name: i for i, name in enumerate(names)})

    bert, distil = transformers.BertConfig, transformers.DistilBertConfig
    return {
        "random/bert-base-mlm": (Head.MASKED_LM, transformers.BertForMaskedLM, bert),
        "random/bert-base-nsp": (Head.NEXT_SENTENCE, transformers.BertForNextSentencePrediction, bert),
        "random/bert-base-sentiment": (Head.SEQUENCE_CLASSIFICATION, transformers.BertForSequenceClassification,
                                       labelled(bert, SENTIMENT_LABELS)),
        "random/distilbert-base-sentiment": (Head.SEQUENCE_CLASSIFICATION,
                                             transformers.DistilBertForSequenceClassification,
                                             labelled(distil, SENTIMENT_LABELS)),
        "random/bert-base-ner": (Head.TOKEN_CLASSIFICATION, transformers.BertForTokenClassification,
                                 labelled(bert, NER_LABELS)),
        "random/bert-base-qa": (Head.QUESTION_ANSWERING, transformers.BertForQuestionAnswering, bert),
        "random/distilbert-base-qa": (Head.QUESTION_ANSWERING, transformers.DistilBertForQuestionAnswering, distil),
        "random/bert-base-nli": (Head.NLI, transformers.BertForSequenceClassification, labelled(bert, NLI_LABELS)),
        "random/bert-base": (Head.ENCODER, transformers.BertModel, bert),
        "random/distilbert-base": (Head.ENCODER, transformers.DistilBertModel, distil),
    }


def make_context(threads: int) -> Any:
    """An AppContext whose cache builds the random/* refs in memory and loads anything else as the app does."""
    import torch

    from bench.random_models import random_model  # the benchmark's seeded in-memory build, reused as is
    from bertviz_ui.config import Settings
    from bertviz_ui.models import build_cache
    from bertviz_ui.models.cache import ModelCache, load_pretrained
    from bertviz_ui.ui.context import AppContext

    torch.set_num_threads(threads)
    settings = Settings(device="cpu", cache_gb=20)
    real = build_cache(settings)
    built = _architectures()

    def loader(source: Any, head: Any, device: str, dtype: Any, online: bool) -> Any:
        if source.ref in built:
            wanted, architecture, config = built[source.ref]
            if head is wanted or (head.value == "encoder" and wanted.value == "encoder"):
                return random_model(real, ref=source.ref, head=head, architecture=architecture, config=config(),
                                    built_with=f"{config().__class__.__name__}")
            if head.value == "tokenizer":
                return real.load("sentence-transformers/all-MiniLM-L6-v2", head)
        return load_pretrained(source, head, device, dtype, online)

    cache = ModelCache(device=real.device, dtype=real.dtype, budget_bytes=20 * 2**30,
                       cache_dir=settings.cache_dir, loader=loader)
    return AppContext(settings=settings, cache=cache)


def _warm(ctx: Any, ref: str, head: Any, attentions: bool = False) -> None:
    import torch

    loaded = ctx.cache.load(ref, head, attentions=attentions)
    if loaded.model is not None:
        with torch.inference_mode():
            loaded.model(input_ids=torch.tensor([[101, 1996, 4937, 102]]))


# --- Cases ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One endpoint at one input: ``prepare`` (not measured) returns the call that is measured."""

    name: str
    endpoint: str
    what: str
    prepare: Callable[[Any], Callable[[], Any]]
    limit_s: float = LIMIT_S
    edge: bool = False  # needs bertviz_ui.tasks.budget


def _budget_module() -> Any:
    try:
        from bertviz_ui.tasks import budget
    except ImportError:
        return None
    return budget


def _call(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: fn(*args)


def prepare_tokenize(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.tokenizer import run_tokenizer

    ref = "random/bert-base"
    ctx.cache.load(ref, _head("tokenizer"))
    return _call(run_tokenizer, ctx, ref, text_of(20_000), text_of(20_000, 1), 0, False, "longest_first", True, ref)


def _head(name: str) -> Any:
    from bertviz_ui.registry import Head

    return Head(name)


def _masked_text(tokens: int, masks: int) -> str:
    body = words(tokens - 2 - masks).split()
    step = len(body) // masks
    for k in range(masks):
        body.insert(k * (step + 1), "[MASK]")
    return " ".join(body)


def prepare_fill_mask(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.fill_mask import run_fill_mask

    ref = "random/bert-base-mlm"
    _warm(ctx, ref, _head("masked_lm"))
    return _call(run_fill_mask, ctx, ref, _masked_text(512, 8), 50)


def prepare_fill_mask_analysis(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.fill_mask import run_analysis

    ref = "random/bert-base-mlm"
    _warm(ctx, ref, _head("masked_lm"))
    return _call(run_analysis, ctx, ref, _masked_text(512, 8), 8, 50)


def prepare_masking_lab(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.fill_mask import run_masking_lab

    ref = "random/bert-base-mlm"
    _warm(ctx, ref, _head("masked_lm"))
    return _call(run_masking_lab, ctx, ref, words(510), 0, 0.5)


def prepare_nsp(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.nsp import run_nsp

    ref = "random/bert-base-nsp"
    _warm(ctx, ref, _head("next_sentence"))
    return _call(run_nsp, ctx, ref, words(254), words(255, 1))


def _paragraph(sentences: int, tokens_each: int) -> str:
    # Each sentence ends with "." (its own token): pairs of them are 2 * tokens_each + 3 tokens.
    # Words of one or two letters, so that 24 sentences of 254 tokens fit the 20,000 characters a text may have.
    tiny = [word for word in SHORT_WORDS if len(word) <= 2]
    # " ." rather than ".": spaCy keeps "no." together as an abbreviation and would not split there.
    return " ".join(words(tokens_each - 1, seed, vocabulary=tiny) + " ." for seed in range(sentences))


def prepare_nsp_paragraph(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.nsp import run_paragraph

    ref = "random/bert-base-nsp"
    _warm(ctx, ref, _head("next_sentence"))
    paragraph = _paragraph(24, 254)
    assert len(paragraph) <= 20_000, len(paragraph)
    return _call(run_paragraph, ctx, ref, paragraph, 0)


def _sentiment_lines(count: int, chars: int) -> str:
    return "\n".join(text_of(chars, seed) for seed in range(count))


def prepare_sentiment(ref: str, lines: int | None = None) -> Callable[[Any], Callable[[], Any]]:
    def prepare(ctx: Any) -> Callable[[], Any]:
        from bertviz_ui.ui.sentiment import run_sentiment

        _warm(ctx, ref, _head("sequence_classification"))
        count = lines
        if count is None:  # the edge: as many 512-token lines as the budget accepts (each line its own pass)
            budget = _budget_module()
            shape = budget.shape_of(ctx.cache.load(ref, _head("sequence_classification")).model)
            count = ctx.budget.most(lambda k: k * budget.forward_flops(shape, 512), 256)
        return _call(run_sentiment, ctx, ref, _sentiment_lines(count, 20_000))

    return prepare


def prepare_explain(ref: str, steps: int | None = 256) -> Callable[[Any], Callable[[], Any]]:
    def prepare(ctx: Any) -> Callable[[], Any]:
        from bertviz_ui.ui.sentiment import run_explain

        _warm(ctx, ref, _head("sequence_classification"))
        count = steps
        if count is None:
            from bertviz_ui.tasks.sentiment import most_steps

            count = most_steps(ctx.cache.load(ref, _head("sequence_classification")).model, 512, ctx.budget)
        return _call(run_explain, ctx, ref, text_of(20_000), 1, "predicted", "integrated_gradients", count)

    return prepare


def prepare_ner(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.ner import run_ner

    ref = "random/bert-base-ner"
    _warm(ctx, ref, _head("token_classification"))
    return _call(run_ner, ctx, ref, text_of(20_000), "average")


def prepare_qa(ref: str, question_tokens: int) -> Callable[[Any], Callable[[], Any]]:
    def prepare(ctx: Any) -> Callable[[], Any]:
        from bertviz_ui.ui.qa import run_qa

        _warm(ctx, ref, _head("question_answering"))
        question = words(question_tokens, 7) + "?"
        return _call(run_qa, ctx, ref, question, text_of(300_000), 64, 20, True)

    return prepare


def _labels(count: int) -> str:
    return "\n".join(f"label {k} " + text_of(88, k) for k in range(count))


def prepare_zero_shot(labels: int | None = 50) -> Callable[[Any], Callable[[], Any]]:
    def prepare(ctx: Any) -> Callable[[], Any]:
        from bertviz_ui.ui.zero_shot import run_zero_shot

        ref = "random/bert-base-nli"
        _warm(ctx, ref, _head("nli"))
        count = labels
        if count is None:  # every pair is 512 tokens (the text truncated to fit beside its hypothesis)
            budget = _budget_module()
            shape = budget.shape_of(ctx.cache.load(ref, _head("nli")).model)
            count = ctx.budget.most(lambda k: budget.forward_flops(shape, 512, k), 50)
        template = "This example, " + text_of(170) + ", is about {}."
        return _call(run_zero_shot, ctx, ref, "nli", text_of(20_000), _labels(count), template, False)

    return prepare


def prepare_similarity(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.registry import OFFLINE_MODEL_ID
    from bertviz_ui.ui.zero_shot import run_zero_shot

    _warm(ctx, OFFLINE_MODEL_ID, _head("encoder"))
    template = "This example, " + text_of(170) + ", is about {}."
    return _call(run_zero_shot, ctx, OFFLINE_MODEL_ID, "embedding similarity", text_of(20_000), _labels(50),
                 template, False)


def prepare_similarity_bert(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.tasks.zero_shot import classify_by_similarity

    loaded = ctx.cache.load("random/bert-base", _head("encoder"))
    _warm(ctx, "random/bert-base", _head("encoder"))
    template = "This example, " + text_of(170) + ", is about {}."
    return lambda: classify_by_similarity(text_of(20_000), _labels(50), model=loaded.model,
                                          tokenizer=loaded.tokenizer, template=template)


def prepare_attention(tokens: int) -> Callable[[Any], Callable[[], Any]]:
    def prepare(ctx: Any) -> Callable[[], Any]:
        from bertviz_ui.ui.attention import InsideBert, show_attention, show_embeddings

        ref = "random/bert-base"
        _warm(ctx, ref, _head("encoder"), attentions=True)
        inside = InsideBert(ctx)
        half = (tokens - 3) // 2
        text, pair = words(half), words(tokens - 3 - half, 1)
        if tokens >= 512:
            text, pair = text_of(20_000), text_of(20_000, 1)

        def run() -> Any:
            outputs = show_attention(inside, ref, text, pair, 0, [], -1, False, "all", True)
            more = show_embeddings(inside, outputs["state"], 0, "word")
            return (*(value for name, value in outputs.items() if name != "state"), *more.values())

        return run

    return prepare


def prepare_parameters(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.attention import InsideBert, show_parameters

    ref = "random/bert-base"
    ctx.cache.load(ref, _head("encoder"), attentions=True)
    return _call(show_parameters, InsideBert(ctx), ref, "masked LM", 1000)


def prepare_comparison(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.attention import show_comparison

    for ref, head in (("random/bert-base-mlm", "masked_lm"), ("random/bert-base-nsp", "next_sentence"),
                      ("random/bert-base-sentiment", "sequence_classification"), ("random/bert-base", "encoder")):
        _warm(ctx, ref, _head(head))
    return _call(show_comparison, ctx)


def prepare_latency(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.attention import show_latency

    return _call(show_latency, ctx)


def _finetune_table(examples: int, labels: int, chars: int) -> list[list[str]]:
    return [[text_of(chars, k), f"class {k % labels}"] for k in range(examples)]


def prepare_finetune(ref: str, *, examples: int, labels: int, batch: int, epochs: int, max_length: int,
                     chars: int = 1000) -> Callable[[Any], Callable[[], Any]]:
    def prepare(ctx: Any) -> Callable[[], Any]:
        import bertviz_ui.ui.finetune as lab

        _warm(ctx, ref, _head("encoder"))
        table = _finetune_table(examples, labels, chars)
        new_texts = "\n".join(text_of(chars, 1000 + k) for k in range(20))
        sessions = lab.Sessions()

        def run() -> Any:
            last = None
            for last in lab.run_finetune(ctx, sessions, None, ref, table, 2e-5, batch, epochs, 0.1, max_length, 1.0,
                                         0, False, new_texts):
                pass
            return last

        return run

    return prepare


def prepare_finetune_edge(ref: str) -> Callable[[Any], Callable[[], Any]]:
    # 1,000-character examples at max length 512: the largest batch whose step fits the memory budget, then the most
    # examples (with 20 new texts) the time limit accepts, found by asking finetune() itself (it refuses up front).
    def prepare(ctx: Any) -> Callable[[], Any]:
        from bertviz_ui.tasks.budget import OverBudget, largest
        from bertviz_ui.tasks.finetune import Hyperparameters, finetune, most_batch, validate

        loaded = ctx.cache.load(ref, _head("encoder"))
        texts = [row[0] for row in _finetune_table(1000, 20, 1000)]
        longest = max(len(ids) for ids in loaded.tokenizer(texts, truncation=True, max_length=512)["input_ids"])
        batch = most_batch(loaded.model, longest, ctx.budget)
        new_texts = [text_of(1000, 1000 + k) for k in range(20)]

        def accepted(examples: int) -> bool:
            events = finetune(validate(_finetune_table(examples, 20, 1000)),
                              Hyperparameters(batch_size=batch, epochs=20, max_length=512), encoder=loaded.model,
                              tokenizer=loaded.tokenizer, new_texts=new_texts,
                              max_seconds=ctx.settings.finetune_seconds, budget=ctx.budget)
            try:
                next(events)
                return True
            except OverBudget:
                return False
            finally:
                events.close()

        examples = largest(accepted, 1000, low=40)
        print(f"finetune edge: batch {batch}, {examples} examples", file=sys.stderr)
        return prepare_finetune(ref, examples=examples, labels=20, batch=batch, epochs=20, max_length=512)(ctx)

    return prepare


def prepare_nsp_paragraph_edge(ctx: Any) -> Callable[[], Any]:
    # As many 254-token sentences as the budget accepts: 2 (s - 1) pairs of 511 tokens.
    from bertviz_ui.ui.nsp import run_paragraph

    budget = _budget_module()
    ref = "random/bert-base-nsp"
    _warm(ctx, ref, _head("next_sentence"))
    shape = budget.shape_of(ctx.cache.load(ref, _head("next_sentence")).model)
    sentences = ctx.budget.most(lambda s: budget.forward_flops(shape, 511, 2 * (s - 1)), 24, low=2)
    return _call(run_paragraph, ctx, ref, _paragraph(sentences, 254), 0)


def prepare_finetune_preview(ctx: Any) -> Callable[[], Any]:
    from bertviz_ui.ui.finetune import run_preview

    ref = "random/distilbert-base"
    ctx.cache.load(ref, _head("encoder"))
    return _call(run_preview, ctx, ref, _finetune_table(1000, 20, 1000), 2e-5, 1, 20, 0.1, 512, 1.0, 0, False)


def prepare_finetune_download(ctx: Any) -> Callable[[], Any]:
    # A session holding a fine-tuned bert-base-sized classifier (its copy of the encoder, 20 labels), zipped.
    import bertviz_ui.ui.finetune as lab
    from bertviz_ui.tasks.finetune import TrainedModel, build_classifier

    loaded = ctx.cache.load("random/bert-base", _head("encoder"))
    labels = tuple(f"class {k}" for k in range(20))
    session = lab.LabSession()
    session.trained = TrainedModel(model=build_classifier(loaded.model, labels, 0, "cpu"), tokenizer=loaded.tokenizer,
                                   labels=labels, max_length=512, base="random/bert-base")

    def run() -> Any:
        try:
            return lab.run_download(session)
        finally:
            session.close()

    return run


FINETUNE_S = 300.0 + FINETUNE_GRACE_S
CASES: tuple[Case, ...] = (
    Case("tokenize", "/tokenize", "20,000 + 20,000 characters, no max length, compared with itself",
         prepare_tokenize),
    Case("fill_mask", "/fill_mask", "512 tokens, 8 masks, top_k 50 (iterative fill too)", prepare_fill_mask),
    Case("fill_mask_analysis", "/fill_mask_analysis", "512 tokens, 8 masks, mask 8, top_k 50",
         prepare_fill_mask_analysis),
    Case("masking_lab", "/masking_lab", "510 tokens, selection rate 0.5", prepare_masking_lab),
    Case("nsp", "/nsp", "a 512-token pair", prepare_nsp),
    Case("nsp_paragraph", "/nsp_paragraph", "24 sentences of 254 tokens (46 pairs of 511 tokens)",
         prepare_nsp_paragraph),
    Case("nsp_paragraph@edge", "/nsp_paragraph", "as many 254-token sentences as the budget accepts",
         prepare_nsp_paragraph_edge, edge=True),
    Case("sentiment[distilbert]", "/sentiment", "256 lines x 20,000 characters",
         prepare_sentiment("random/distilbert-base-sentiment", 256)),
    Case("sentiment[bert]", "/sentiment", "256 lines x 20,000 characters",
         prepare_sentiment("random/bert-base-sentiment", 256)),
    Case("sentiment[bert]@edge", "/sentiment", "as many 20,000-character lines as the budget accepts",
         prepare_sentiment("random/bert-base-sentiment"), edge=True),
    Case("sentiment_explain[distilbert]", "/sentiment_explain", "IG, 256 steps, a 512-token line",
         prepare_explain("random/distilbert-base-sentiment")),
    Case("sentiment_explain[bert]", "/sentiment_explain", "IG, 256 steps, a 512-token line",
         prepare_explain("random/bert-base-sentiment")),
    Case("sentiment_explain[distilbert]@edge", "/sentiment_explain", "IG, the most steps accepted, 512 tokens",
         prepare_explain("random/distilbert-base-sentiment", None), edge=True),
    Case("sentiment_explain[bert]@edge", "/sentiment_explain", "IG, the most steps accepted, 512 tokens",
         prepare_explain("random/bert-base-sentiment", None), edge=True),
    Case("ner", "/ner", "20,000 characters (about 6,600 tokens), strategy average", prepare_ner),
    Case("qa[distilbert]", "/qa", "300,000-character context, short question",
         prepare_qa("random/distilbert-base-qa", 12)),
    Case("qa[bert]", "/qa", "300,000-character context, short question", prepare_qa("random/bert-base-qa", 12)),
    Case("qa[bert]/long-question", "/qa", "300,000-character context, a 360-token question (16-token windows)",
         prepare_qa("random/bert-base-qa", 360)),
    Case("zero_shot", "/zero_shot", "NLI, 20,000-character text, 50 labels of 100 characters, 200-char template",
         prepare_zero_shot()),
    Case("zero_shot@edge", "/zero_shot", "NLI, 20,000-character text, the most labels accepted",
         prepare_zero_shot(None), edge=True),
    Case("zero_shot/similarity", "/zero_shot", "embedding similarity (MiniLM), 20,000 characters, 50 labels",
         prepare_similarity),
    Case("zero_shot/similarity[bert]", "(task)", "classify_by_similarity on bert-base, 20,000 characters, 50 labels",
         prepare_similarity_bert),
    Case("attention[128]", "/attention", "128 tokens (text + pair), then the embeddings view",
         prepare_attention(128)),
    Case("attention[512]", "/attention", "20,000 + 20,000 characters (512 tokens), then the embeddings view",
         prepare_attention(512)),
    Case("parameters", "/parameters", "masked-LM head, 1,000 labels", prepare_parameters),
    Case("model_comparison", "/model_comparison", "4 bert-base-sized models held, each timed",
         prepare_comparison),
    Case("model_latency", "/model_latency", "random-weight copies of the five models (bert-large included)",
         prepare_latency),
    Case("finetune_preview", "/finetune_preview", "1,000 examples, batch 1, 20 epochs (20,000-step schedule)",
         prepare_finetune_preview),
    Case("finetune[distilbert]", "/finetune", "1,000 x 1,000 chars, 20 labels, batch 64, 20 epochs, max length 512",
         prepare_finetune("random/distilbert-base", examples=1000, labels=20, batch=64, epochs=20, max_length=512),
         limit_s=FINETUNE_S),
    Case("finetune[distilbert]@edge", "/finetune", "as above with the largest batch, then the most examples accepted",
         prepare_finetune_edge("random/distilbert-base"), limit_s=FINETUNE_S, edge=True),
    Case("finetune[distilbert]/cv", "/finetune", "19 x 1,000 chars (5-fold CV), batch 19, 20 epochs, max length 512",
         prepare_finetune("random/distilbert-base", examples=19, labels=2, batch=19, epochs=20, max_length=512),
         limit_s=FINETUNE_S),
    Case("finetune_download[bert]", "/finetune_download", "a session's fine-tuned bert-base-sized model, zipped",
         prepare_finetune_download),
    Case("finetune[bert]", "/finetune", "seed-sized: 8 reviews' worth (8 x 60 chars), batch 4, 3 epochs, length 64",
         prepare_finetune("random/bert-base", examples=8, labels=2, batch=4, epochs=3, max_length=64, chars=60),
         limit_s=FINETUNE_S),
)


# --- Running -------------------------------------------------------------------------------------------------

def run_case(name: str, threads: int) -> dict[str, Any]:
    """Prepare and measure one case in this process; the result as a dict."""
    from bertviz_ui.errors import BertvizError

    case = next(c for c in CASES if c.name == name)
    if case.edge and _budget_module() is None:
        return {"case": name, "status": "skipped", "note": "no bertviz_ui.tasks.budget here"}
    ctx = make_context(threads)
    call = case.prepare(ctx)
    before = _settle()
    started = time.perf_counter()
    status, message, outputs = "ran", "", None
    try:
        outputs = call()
    except BertvizError as error:
        status, message = "refused", str(error)
    except Exception as error:  # noqa: BLE001 - gr.Error and the like: reported, not fatal
        status, message = "error", f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - started
    peak = _status()["VmHWM"] - before
    size = response_bytes(outputs) if status == "ran" else 0
    return {"case": name, "status": status, "seconds": round(seconds, 2), "rss_gb": round(peak / 1e9, 3),
            "response_bytes": size, "message": message[:400]}


def verdict(row: dict[str, Any], limit_s: float) -> str:
    if row["status"] == "skipped":
        return "skip"
    if row["status"] == "error" or row["status"] == "timeout":
        return "FAIL"
    within = row["seconds"] <= limit_s and row["rss_gb"] <= LIMIT_GB
    if row["status"] == "refused":
        return "pass (refused)" if within else "FAIL"
    return "pass" if within else "FAIL"


def format_rows(rows: list[dict[str, Any]]) -> str:
    header = ["case", "endpoint", "status", "seconds", "+RSS GB", "response KB", "verdict"]
    table = [header]
    for row in rows:
        case = next(c for c in CASES if c.name == row["case"])
        table.append([row["case"], case.endpoint, row["status"], f"{row.get('seconds', 0):.1f}",
                      f"{row.get('rss_gb', 0):.2f}", f"{row.get('response_bytes', 0) / 1000:.0f}",
                      verdict(row, case.limit_s)])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in table]
    for row in rows:
        if row.get("message"):
            lines.append(f"  {row['case']}: {row['message']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/budget_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (default all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a case is killed (default 900)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--run-case", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_case:
        print("RESULT " + json.dumps(run_case(args.run_case, args.threads)), flush=True)
        return 0
    wanted = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = set(wanted) - {case.name for case in CASES}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    rows = []
    for case in CASES:
        if wanted and case.name not in wanted:
            continue
        command = [sys.executable, __file__, "--run-case", case.name, "--threads", str(args.threads)]
        try:
            done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=args.timeout,
                                  cwd=ROOT)
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
            row = json.loads(line[7:]) if line else {"case": case.name, "status": "error", "seconds": 0,
                                                     "rss_gb": 0, "message": done.stderr.strip()[-400:]}
        except subprocess.TimeoutExpired:
            row = {"case": case.name, "status": "timeout", "seconds": args.timeout, "rss_gb": 0,
                   "message": f"killed after {args.timeout:.0f} s"}
        rows.append(row)
        print(f"{case.name}: {row['status']} {row.get('seconds', 0):.1f} s, +{row.get('rss_gb', 0):.2f} GB, "
              f"{row.get('response_bytes', 0) / 1000:.0f} kB -> {verdict(row, case.limit_s)}", flush=True)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print(format_rows(rows))
    return 0 if all(verdict(row, next(c for c in CASES if c.name == row["case"]).limit_s) != "FAIL"
                    for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
