"""The qa case: answer_question() on a context of exactly 8 full windows, batched against one forward per window."""

from __future__ import annotations

from typing import Any

from bench.corpora import QA_QUESTION, text_of_tokens
from bench.harness import BenchCase, Models, Sample
from bench.random_models import RANDOM_DISTILBERT_QA, RANDOM_SEED, load_one_head
from bertviz_ui.models.types import Tokenizer
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks.modeling import model_max_length
from bertviz_ui.tasks.qa import WINDOW_TOKENS as QA_WINDOW_TOKENS
from bertviz_ui.tasks.qa import answer_question, window_stride

# The qa case's extractive QA model: distilbert-base-sized, like the tab's fast distilled-SQuAD choice.
DEFAULT_QA_MODEL = RANDOM_DISTILBERT_QA
QA_WINDOWS = 8


def qa_samples(models: Models) -> tuple[Sample, ...]:
    """QA_QUESTION and a context of filler prose that the tab reads as exactly QA_WINDOWS windows."""
    loaded = models[Head.QUESTION_ANSWERING]
    tokenizer = loaded.tokenizer
    window = min(model_max_length(tokenizer, loaded.model), QA_WINDOW_TOKENS)
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    question = len(tokenizer(QA_QUESTION, add_special_tokens=False)["input_ids"])
    room = window - question - specials
    step = room - window_stride(window, question, specials)
    # The last window is full: QA_WINDOWS windows of ``window`` tokens, every one the same length.
    context = text_of_tokens(tokenizer, room + (QA_WINDOWS - 1) * step + 2)
    return (Sample(f"{QA_WINDOWS} windows", QA_QUESTION, context),)


def qa_window_tokens(tokenizer: Tokenizer, sample: Sample) -> int:
    """The tokens the model reads for a QA sample: every window's, question and specials included."""
    question = len(tokenizer(sample.text, add_special_tokens=False)["input_ids"])
    stride = window_stride(QA_WINDOW_TOKENS, question, tokenizer.num_special_tokens_to_add(pair=True))
    encoding = tokenizer(sample.text, sample.text_pair, truncation="only_second", max_length=QA_WINDOW_TOKENS,
                         return_overflowing_tokens=True, stride=stride)
    return sum(len(ids) for ids in encoding["input_ids"])


def _qa_batched(models: Models, sample: Sample) -> Any:
    loaded = models[Head.QUESTION_ANSWERING]
    return answer_question(sample.text, sample.text_pair, model=loaded.model, tokenizer=loaded.tokenizer,
                           newly_initialized=loaded.newly_initialized)


def _qa_one_window_per_call(models: Models, sample: Sample) -> Any:
    loaded = models[Head.QUESTION_ANSWERING]
    return answer_question(sample.text, sample.text_pair, model=loaded.model, tokenizer=loaded.tokenizer,
                           newly_initialized=loaded.newly_initialized, window_batch=1)


CASE = BenchCase(
    name="qa",
    run_task=_qa_batched,
    run_baseline=_qa_one_window_per_call,
    heads=(Head.QUESTION_ANSWERING,),
    task_label=f"{QA_WINDOWS} windows batched",
    baseline_label=f"{QA_WINDOWS} sequential calls",
    make_samples=qa_samples,
    note=f"{QA_WINDOWS} windows batched = bertviz_ui.tasks.qa.answer_question(question, context) on a context "
         f"that fills exactly {QA_WINDOWS} windows of {QA_WINDOW_TOKENS} tokens: one forward of all "
         f"{QA_WINDOWS}; {QA_WINDOWS} sequential calls = the same with window_batch=1, one forward per window. "
         "Both give the same answer and candidates (the tab's whole result, no rendering); the tokens column "
         "counts every window's tokens. Both run under torch.inference_mode() and are warmed up. "
         f"Default model {RANDOM_DISTILBERT_QA}: DistilBertForQuestionAnswering(DistilBertConfig()) built in "
         f"memory with torch.manual_seed({RANDOM_SEED}) (distilbert-base size, random weights: timing only), "
         f"with the bert-base-uncased tokenizer of {OFFLINE_MODEL_ID}; --qa-model changes it.",
    ref=DEFAULT_QA_MODEL,
    load=load_one_head(Head.QUESTION_ANSWERING),
    speedup=True,
    count_tokens=qa_window_tokens,
)
