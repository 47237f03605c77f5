"""Extractive QA: the span search against transformers 4.x's algorithm, crafted logits pinning each rule, windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.registry import Head
from bertviz_ui.render.qa import logits_figure
from bertviz_ui.tasks.budget import Budget, OverBudget, forward_flops, shape_of
from bertviz_ui.tasks.pieces import PIECES, WORDS
from bertviz_ui.tasks.qa import MAX_WINDOWS, answer_question, window_stride
from tests.unit.crafted import fixed_span_model
from tests.unit.qa_reference import reference_qa

pytestmark = pytest.mark.usefixtures("one_thread")

EIFFEL = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.\n"
          "It is named after the engineer Gustave Eiffel, whose company designed and built the tower.\n"
          "Constructed from 1887 to 1889 as the entrance arch to the 1889 World's Fair, it was initially\n"
          "criticized by some of France's leading artists and intellectuals but has become a global\n"
          "cultural icon of France and one of the most recognisable structures in the world.")
QUESTIONS = ("Where is the Eiffel Tower located?", "Who designed the Eiffel Tower?", "When was the Eiffel Tower built?")


@pytest.fixture(scope="module")
def qa(cache):
    return cache.load("tiny:question_answering", Head.QUESTION_ANSWERING)


def _filler(count: int) -> list[str]:
    # Single-token words of the uncased vocabulary, varied so no two windows read alike.
    words = ("red", "blue", "green", "small", "large", "old", "new", "warm", "cold", "dark")
    return [words[i % len(words)] for i in range(count)]


def _ask(question, context, model, tokenizer, **options):
    return answer_question(question, context, model=model, tokenizer=tokenizer, **options)


# --- equality with transformers 4.x's pipeline algorithm ---------------------------------------------------------

@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("top_k,max_answer_len,impossible", [(1, 15, False), (5, 15, False), (3, 4, True),
                                                               (10, 30, True)])
def test_short_context_equals_4x_pipeline(qa, question, top_k, max_answer_len, impossible):
    ours = _ask(question, EIFFEL, qa.model, qa.tokenizer, top_k=top_k, max_answer_len=max_answer_len,
                handle_impossible=impossible)
    theirs = reference_qa(question, EIFFEL, model=qa.model, tokenizer=qa.tokenizer, top_k=top_k,
                          max_answer_len=max_answer_len, handle_impossible_answer=impossible)
    spans = [a for a in theirs if a["answer"]]
    assert [(c.answer, c.start, c.end) for c in ours.candidates[:len(spans)]] == \
        [(a["answer"], a["start"], a["end"]) for a in spans]
    assert [c.score for c in ours.candidates[:len(spans)]] == pytest.approx([a["score"] for a in spans], rel=1e-4)
    best = theirs[0]
    assert (ours.answer, ours.start, ours.end) == (best["answer"], best["start"], best["end"])
    assert ours.score == pytest.approx(best["score"], rel=1e-4)
    assert ours.context[ours.start:ours.end] == ours.answer
    assert len(ours.windows) == 1


@pytest.mark.parametrize("top_k,impossible", [(1, False), (5, False), (8, True)])
def test_windowed_context_equals_4x_pipeline(qa, top_k, impossible):
    context = " ".join([EIFFEL] * 6)
    ours = _ask(QUESTIONS[1], context, qa.model, qa.tokenizer, top_k=top_k, handle_impossible=impossible,
                window_tokens=96)
    theirs = reference_qa(QUESTIONS[1], context, model=qa.model, tokenizer=qa.tokenizer, top_k=top_k,
                          handle_impossible_answer=impossible, max_seq_len=96, doc_stride=ours.stride)
    assert len(ours.windows) > 4
    spans = [a for a in theirs if a["answer"]]
    assert [(c.answer, c.start, c.end) for c in ours.candidates[:len(spans)]] == \
        [(a["answer"], a["start"], a["end"]) for a in spans]
    assert [c.score for c in ours.candidates[:len(spans)]] == pytest.approx([a["score"] for a in spans], rel=1e-4)
    assert (ours.answer, ours.start, ours.end) == (theirs[0]["answer"], theirs[0]["start"], theirs[0]["end"])


def test_default_stride_is_4x_for_ordinary_questions():
    # 4.x: min(window // 2, 128); ours is the same while a window keeps at least 256 context tokens (any question
    # up to 125 tokens in 384-token windows), and at most half the room otherwise, so windows still move on.
    assert window_stride(384, 10, 3) == 128
    assert window_stride(384, 125, 3) == 128
    assert window_stride(256, 10, 3) == 121
    assert window_stride(96, 10, 3) == 41  # room 83 -> at most half of it
    assert window_stride(384, 300, 3) == 40  # 4.x would pass 128 > room 81 and the tokenizer would panic


def test_every_window_in_one_forward(uncased):
    words = _filler(400)
    model = fixed_span_model(uncased, {"red": 1.0}, {"blue": 1.0})
    result = _ask("what colour?", " ".join(words), model, uncased, window_tokens=64)
    assert len(result.windows) == result.total_windows > 8
    assert (model.calls, model.rows) == (1, len(result.windows))
    assert result.forward_passes == 1
    one_by_one = _ask("what colour?", " ".join(words), model, uncased, window_tokens=64, window_batch=1)
    assert one_by_one.forward_passes == model.calls - 1 == len(result.windows)
    assert one_by_one.candidates == result.candidates


# --- crafted logits pin the rules ---------------------------------------------------------------------------------

def test_answer_across_a_window_boundary_comes_from_the_window_holding_all_of_it(uncased):
    words = _filler(80)
    words[24], words[30] = "zebra", "elephant"  # window 0 holds context tokens 0-26, window 1 starts at 14
    context = " ".join(words)
    model = fixed_span_model(uncased, {"zebra": 10.0}, {"elephant": 10.0})
    result = _ask("what ?", context, model, uncased, window_tokens=32)
    assert result.stride == 13
    assert result.windows[0].char_end < context.index("elephant") < result.windows[1].char_end
    assert result.answer == " ".join(words[24:31])
    assert context[result.start:result.end] == result.answer
    assert result.window == 1
    assert result.score == pytest.approx(1.0, abs=0.01)


def test_answer_at_the_last_context_token(uncased):
    context = "red blue green small large old new warm cold dark zebra"
    model = fixed_span_model(uncased, {"zebra": 10.0}, {"zebra": 10.0})
    result = _ask("what ?", context, model, uncased)
    assert (result.answer, result.start, result.end) == ("zebra", len(context) - 5, len(context))
    assert result.windows[0].tokens[-1] == "[SEP]" and result.windows[0].tokens[-2] == "zebra"


def test_answer_at_the_last_token_of_the_last_window(uncased):
    words = _filler(100) + ["zebra"]
    model = fixed_span_model(uncased, {"zebra": 10.0}, {"zebra": 10.0})
    result = _ask("what ?", " ".join(words), model, uncased, window_tokens=32)
    assert result.answer == "zebra" and result.window == len(result.windows) - 1
    assert result.end == len(" ".join(words))


def test_null_answer_wins_only_when_allowed(uncased):
    context = "The tower stands in Paris."
    model = fixed_span_model(uncased, {"[CLS]": 10.0, "paris": 2.0}, {"[CLS]": 10.0, "paris": 2.0})
    allowed = _ask("Who built it?", context, model, uncased, handle_impossible=True)
    assert (allowed.no_answer, allowed.answer, allowed.start, allowed.end) == (True, "", 0, 0)
    assert allowed.score == allowed.null_score > allowed.candidates[0].score
    assert allowed.window is None
    assert any("No answer" in note for note in allowed.notes)
    forced = _ask("Who built it?", context, model, uncased, handle_impossible=False)
    assert (forced.no_answer, forced.answer) == (False, "Paris")
    assert forced.null_score is None


def test_only_context_tokens_and_end_after_start(uncased):
    # The question's "tower" and [SEP] score highest, and the best end token precedes the best start token.
    context = "paris was first then tower came"
    model = fixed_span_model(uncased, {"what": 20.0, "[SEP]": 20.0, "came": 8.0, "tower": 5.0},
                             {"what": 20.0, "[SEP]": 20.0, "paris": 9.0, "came": 6.0})
    result = _ask("what tower?", context, model, uncased)
    assert result.answer == "came"  # start "came" (8), end "came" (6); "paris" ends before any good start
    assert all(result.windows[0].segments[c.token_start] == "context" for c in result.candidates)
    assert all(c.token_end >= c.token_start for c in result.candidates)
    seed = result.independent_argmax
    assert seed is not None and not seed.valid  # argmax of each lands in the question: the seed's bug


def test_max_answer_length_is_counted_in_tokens(uncased):
    context = "zebra red blue green small elephant"  # zebra ... elephant is 6 tokens
    model = fixed_span_model(uncased, {"zebra": 10.0}, {"elephant": 10.0})
    assert _ask("what ?", context, model, uncased, max_answer_len=6).answer == context
    short = _ask("what ?", context, model, uncased, max_answer_len=5)
    assert short.answer != context
    assert all(c.token_end - c.token_start < 5 for c in short.candidates)


def test_span_is_widened_to_whole_words(uncased):
    context = "It was designed by Gustave Eiffel himself."
    assert uncased.tokenize("Eiffel") == ["e", "##iff", "##el"]
    model = fixed_span_model(uncased, {"##iff": 10.0}, {"##iff": 10.0})
    result = _ask("who?", context, model, uncased)
    assert (result.answer, result.start) == ("Eiffel", context.index("Eiffel"))


def test_same_answer_from_overlapping_windows_adds_scores(uncased):
    words = _filler(60)
    words[20] = "zebra"  # inside the overlap of windows 0 and 1
    model = fixed_span_model(uncased, {"zebra": 10.0}, {"zebra": 10.0})
    result = _ask("what ?", " ".join(words), model, uncased, window_tokens=32)
    best = result.candidates[0]
    assert best.answer == "zebra" and best.windows == (0, 1)
    assert best.score == pytest.approx(2.0, abs=0.01)  # ~1 in each window, as 4.x summed them


def test_candidates_are_ranked_and_offsets_hold(qa):
    result = _ask(QUESTIONS[0], EIFFEL, qa.model, qa.tokenizer, top_k=20, max_answer_len=30)
    assert len(result.candidates) == 20
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    for c in result.candidates:
        assert EIFFEL[c.start:c.end] == c.answer
        window = result.windows[c.window]
        assert c.start_logit == window.start_logits[c.token_start]
        assert c.end_logit == window.end_logits[c.token_end]


def test_result_json_has_the_promised_fields(qa):
    data = _ask(QUESTIONS[2], EIFFEL, qa.model, qa.tokenizer).to_dict()
    for key in ("answer", "start", "end", "score", "tokens", "start_logits", "end_logits", "candidates"):
        assert key in data
    assert len(data["tokens"]) == len(data["start_logits"]) == len(data["end_logits"])
    assert data["tokens"][0] == "[CLS]"
    assert EIFFEL[data["start"]:data["end"]] == data["answer"]


def test_segments_mark_question_and_context(qa):
    result = _ask("Who designed it?", EIFFEL, qa.model, qa.tokenizer)
    window = result.windows[0]
    first_sep = window.tokens.index("[SEP]")
    assert set(window.segments[1:first_sep]) == {"question"}
    assert set(window.segments[first_sep + 1:-1]) == {"context"}
    assert window.segments[0] == window.segments[first_sep] == window.segments[-1] == "special"


# --- long and bad input ----------------------------------------------------------------------------------------

def test_a_50000_token_context_is_capped_and_says_so(uncased):
    words = _filler(50_000)
    words[-1] = "zebra"  # beyond the windows read
    model = fixed_span_model(uncased, {"zebra": 10.0, "red": 1.0}, {"zebra": 10.0, "red": 1.0})
    context = " ".join(words)
    result = _ask("what ?", context, model, uncased)
    assert result.total_windows > MAX_WINDOWS == len(result.windows)
    assert (model.calls, model.rows) == (1, MAX_WINDOWS)
    assert result.answer == "red" and result.start < result.windows[-1].char_end
    assert any(f"only the first {MAX_WINDOWS} were read" in note for note in result.notes)


@pytest.mark.parametrize("question,context,message", [
    ("", EIFFEL, "Question is empty"),
    ("   ", EIFFEL, "Question is empty"),
    ("Who?", "", "Context is empty"),
    ("Who?", None, "Context is empty"),
    (42, EIFFEL, "Question must be text"),
    ("Who?", "x" * 300_001, "Context is 300,001 characters"),
])
def test_bad_text_is_refused_clearly(qa, question, context, message):
    with pytest.raises(BadInput, match=message):
        _ask(question, context, qa.model, qa.tokenizer)


def test_a_question_longer_than_the_window_is_refused(uncased):
    model = fixed_span_model(uncased, {}, {})
    with pytest.raises(BadInput, match=r"The question is 400 tokens; .* at most 365 tokens"):
        _ask(" ".join(_filler(400)), EIFFEL, model, uncased)


def test_the_longest_allowed_question_still_windows_without_panicking(uncased):
    model = fixed_span_model(uncased, {"zebra": 5.0}, {"zebra": 5.0})
    context = " ".join(_filler(100) + ["zebra"])
    result = _ask(" ".join(_filler(365)), context, model, uncased)
    assert result.stride == 8 and len(result.windows) == result.total_windows > 10 and result.answer == "zebra"


@pytest.mark.parametrize("options,message", [
    ({"max_answer_len": 0}, "Maximum answer length"),
    ({"max_answer_len": 10**6}, "Maximum answer length"),
    ({"max_answer_len": "ten"}, "Maximum answer length"),
    ({"top_k": 0}, "Number of candidates"),
    ({"top_k": 21}, "Number of candidates"),
    ({"top_k": 2.5}, "Number of candidates"),
])
def test_bad_numbers_are_refused(qa, options, message):
    with pytest.raises(BadInput, match=message):
        _ask("Who?", EIFFEL, qa.model, qa.tokenizer, **options)


def test_a_random_span_head_is_refused(qa):
    with pytest.raises(ModelUnavailable, match="no trained question-answering head"):
        answer_question("Who?", EIFFEL, model=qa.model, tokenizer=qa.tokenizer,
                        newly_initialized=("qa_outputs.weight", "qa_outputs.bias"))


def test_html_in_the_context_comes_back_verbatim(uncased):
    context = 'Look: <img src=x onerror="alert(1)"> zebra & <b>bold</b>'
    model = fixed_span_model(uncased, {"zebra": 10.0}, {"zebra": 10.0})
    result = _ask("<script>?</script>", context, model, uncased)
    assert result.answer == "zebra" and context[result.start:result.end] == "zebra"
    assert result.question == "<script>?</script>"


def test_bfloat16_model_gives_the_same_answer(qa):
    # A GPU model runs in half precision; the span search works on float32 copies of its logits.
    model = qa.model.to(torch.bfloat16)
    try:
        half = _ask(QUESTIONS[1], EIFFEL, model, qa.tokenizer, top_k=3)
    finally:
        model.to(torch.float32)
    full = _ask(QUESTIONS[1], EIFFEL, qa.model, qa.tokenizer, top_k=3)
    assert half.windows[0].start_logits == pytest.approx(full.windows[0].start_logits, abs=0.05)
    assert isinstance(half.score, float)


def test_distilbert_without_token_types_equals_4x_pipeline(uncased):
    # The registry's fast QA model is a DistilBERT: no token_type_ids in its forward.
    from transformers import DistilBertConfig, DistilBertForQuestionAnswering

    torch.manual_seed(0)
    model = DistilBertForQuestionAnswering(DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64)).eval()
    context = " ".join([EIFFEL] * 3)
    ours = _ask(QUESTIONS[0], context, model, uncased, top_k=5, window_tokens=128)
    theirs = reference_qa(QUESTIONS[0], context, model=model, tokenizer=uncased, top_k=5, max_seq_len=128,
                          doc_stride=ours.stride)
    assert len(ours.windows) > 1
    assert [(c.answer, c.start, c.end) for c in ours.candidates] == [(a["answer"], a["start"], a["end"]) for a in theirs]
    assert [c.score for c in ours.candidates] == pytest.approx([a["score"] for a in theirs], rel=1e-4)


# --- Budgets ------------------------------------------------------------------------------------------------------

class _Spy:
    """The tokenizer, recording how long each text it tokenized was."""

    def __init__(self, tokenizer):
        self.tokenizer, self.lengths = tokenizer, []

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def __call__(self, *texts, **kwargs):
        self.lengths += [len(text) for text in texts if isinstance(text, str)]
        return self.tokenizer(*texts, **kwargs)


def test_a_300000_character_context_is_tokenized_only_as_far_as_the_windows_read(uncased):
    context = " ".join(_filler(70_000))[:300_000]
    model = fixed_span_model(uncased, {"red": 1.0}, {"red": 1.0})
    spy = _Spy(uncased)
    result = _ask("what ?", context, model, spy)
    assert len(context) == 300_000 and max(spy.lengths) < 100_000
    reference = uncased.unwrapped("what ?", context, truncation="only_second", max_length=384, stride=result.stride,
                                  return_overflowing_tokens=True, return_offsets_mapping=True)
    total = len(reference["input_ids"])
    assert len(result.windows) == MAX_WINDOWS < total
    for window in result.windows:  # exactly the windows the whole context gives
        assert window.tokens == tuple(uncased.convert_ids_to_tokens(reference["input_ids"][window.index]))
        assert list(window.offsets) == [tuple(o) for o in reference["offset_mapping"][window.index]]
    assert result.total_windows_estimated and abs(result.total_windows - total) <= 0.02 * total
    assert any(f"The context is about {result.total_windows:,} windows of 384 tokens long; only the first "
               f"{MAX_WINDOWS} were read (up to character {result.windows[-1].char_end:,} of 300,000)" in note
               for note in result.notes)


def test_a_context_read_whole_keeps_its_exact_window_count(uncased):
    model = fixed_span_model(uncased, {"red": 1.0}, {"red": 1.0})
    context = " ".join(_filler(3_000))  # 12 windows: the first prefix holds them all
    result = _ask("what ?", context, model, uncased)
    reference = uncased.unwrapped("what ?", context, truncation="only_second", max_length=384, stride=result.stride,
                                  return_overflowing_tokens=True)
    assert not result.total_windows_estimated and len(result.windows) == result.total_windows == 12
    assert len(reference["input_ids"]) == 12


def test_the_budget_caps_the_windows_read_and_says_so(uncased):
    model = fixed_span_model(uncased, {"red": 1.0}, {"red": 1.0})
    context = " ".join(_filler(5_000))
    budget = Budget(gflop=forward_flops(shape_of(model), 384, 3.5) / 1e9)  # 3 windows fit, 4 don't
    result = _ask("what ?", context, model, uncased, budget=budget)
    assert len(result.windows) == 3 and (model.calls, model.rows) == (1, 3)
    assert any("only the first 3 were read (this model reads at most 3 per request within the budget)" in note
               for note in result.notes)
    with pytest.raises(OverBudget, match="^Reading one window of 384 tokens with this model would take"):
        _ask("what ?", context, model, uncased, budget=Budget(gflop=1e-3))


def test_windows_run_in_batches_that_fit_memory_with_the_same_answer(uncased):
    context = " ".join(_filler(2_000) + ["zebra"] + _filler(100))
    whole = _ask("what ?", context, fixed_span_model(uncased, {"zebra": 5.0}, {"zebra": 5.0}), uncased)
    model = fixed_span_model(uncased, {"zebra": 5.0}, {"zebra": 5.0})
    batched = _ask("what ?", context, model, uncased, budget=Budget(memory_gb=1e-9))  # one window per forward
    assert len(batched.windows) == 8 and model.calls == batched.forward_passes == 8 and whole.forward_passes == 1
    assert (batched.answer, batched.start, batched.score) == (whole.answer, whole.start, whole.score) == (
        "zebra", context.index("zebra"), pytest.approx(whole.score))
    assert any("in 8 batched forwards" in note for note in batched.notes)


# --- words or pieces in the logit plot ---------------------------------------------------------------------------

def test_words_plot_a_words_probability_as_the_sum_of_its_pieces(qa):
    result = _ask("Who built it?", "Gustave Eiffel's company constructed the unbelievably tall tower.", qa.model,
                  qa.tokenizer)
    window = result.windows[0]
    pieces_figure = logits_figure(window, result, PIECES)
    words_figure = logits_figure(window, result, WORDS)
    context = [i for i, s in enumerate(window.segments) if s == "context"]
    assert len(pieces_figure.data[0].x) == len(context)
    words = [label.split(" <sub>")[0] for label in words_figure.data[0].x]
    assert "unbelievably" in words and not any(word.startswith("##") for word in words)
    assert len(words) < len(context)  # some word was split into pieces

    def softmax(values):
        exp = np.exp(np.asarray(values, dtype=np.float64) - max(values))
        return exp / exp.sum()

    # Over the context, P(word starts the answer) = the sum of its pieces' probabilities.
    token_p = softmax([window.start_logits[i] for i in context])
    word_p = softmax(list(words_figure.data[0].y))
    at = {position: k for k, position in enumerate(context)}
    first_of = [int(label.split("<sub>")[1].split("<")[0]) for label in words_figure.data[0].x]
    for k, first in enumerate(first_of):
        last = first_of[k + 1] if k + 1 < len(first_of) else context[-1] + 1
        np.testing.assert_allclose(word_p[k], sum(token_p[at[i]] for i in range(first, last)), rtol=1e-6)
