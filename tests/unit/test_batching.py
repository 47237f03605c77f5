"""Cross-request batching: concurrent requests share one padded forward and each gets what a lone call gives."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import torch

from bertviz_ui.registry import Head
from bertviz_ui.tasks.batching import MicroBatcher, forward, pad_together
from bertviz_ui.tasks.fill_mask import iterative_fill, predict_masks
from bertviz_ui.tasks.ner import recognize
from bertviz_ui.tasks.nsp import predict_next_sentence
from bertviz_ui.tasks.qa import answer_question
from bertviz_ui.tasks.sentiment import classify
from bertviz_ui.tasks.zero_shot import classify_zero_shot

pytestmark = pytest.mark.usefixtures("one_thread")

TOLERANCE = 1e-5
# Different lengths on purpose: the batch is padded, and each caller's rows must come back unpadded.
SENTENCES = ("The cat [MASK] on the mat.", "Paris is the [MASK] of France, and a lovely city to visit in spring.",
             "I [MASK] it.", "The doctor told me to take the [MASK] twice a day with a glass of [MASK].")
# A batch fills as soon as its rows reach max_rows; the long window only matters if a test is broken.
WINDOW_S = 60.0


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once, one thread each; a call's exception is returned in its place."""
    def attempt(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(attempt, calls))


def batcher_for(rows: int) -> MicroBatcher:
    return MicroBatcher(window_s=WINDOW_S, max_rows=rows)


# --- The batcher on its own ---------------------------------------------------------------------------------------

def test_concurrent_calls_with_one_key_run_as_one_batch_and_each_gets_its_own_result():
    batcher, seen = batcher_for(5), []

    def double(items: list[int]) -> list[int]:
        seen.append(sorted(items))
        return [2 * item for item in items]

    results = together([lambda i=i: batcher.run("key", i, double) for i in range(5)])
    assert results == [0, 2, 4, 6, 8]
    assert seen == [[0, 1, 2, 3, 4]]
    stats = batcher.stats()
    assert (stats.forwards, stats.requests, stats.largest) == (1, 5, 5)


def test_calls_with_different_keys_never_share_a_batch():
    batcher, seen = MicroBatcher(window_s=0.05, max_rows=4), []
    barrier = threading.Barrier(4)

    def tag(key: str) -> Callable[[list[str]], list[str]]:
        def run(items: list[str]) -> list[str]:
            seen.append((key, sorted(items)))
            return [f"{key}:{item}" for item in items]
        return run

    def call(key: str, item: str) -> str:
        barrier.wait()
        return batcher.run(key, item, tag(key))

    results = together([lambda: call("a", "1"), lambda: call("b", "2"), lambda: call("a", "3"),
                        lambda: call("b", "4")])
    assert results == ["a:1", "b:2", "a:3", "b:4"]
    assert all(key == item_key for key, items in seen for item_key in {"a" if i in "13" else "b" for i in items})


def test_a_failing_item_fails_only_its_own_caller():
    batcher = batcher_for(4)

    def strict(items: list[int]) -> list[int]:
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item + 100 for item in items]

    results = together([lambda i=i: batcher.run("key", i, strict) for i in (1, -1, 2, 3)])
    assert results[0] == 101 and results[2:] == [102, 103]
    assert isinstance(results[1], ValueError)
    # One batch that failed, then each item alone.
    assert batcher.stats().forwards == 3


def test_nobody_waits_forever_when_the_batch_dies_of_a_base_exception():
    batcher = batcher_for(3)

    class Stop(BaseException):
        """Not an Exception: escapes the batcher's handling, as a KeyboardInterrupt would."""

    def dies(items: list[int]) -> list[int]:
        raise Stop

    results = together([lambda i=i: batcher.run("key", i, dies) for i in range(3)])
    # The leader's own thread gets the BaseException; the others are told their batch stopped.
    assert sum(isinstance(r, Stop) for r in results) == 1
    assert sum(isinstance(r, RuntimeError) and "stopped" in str(r) for r in results) == 2


def test_window_zero_turns_batching_off():
    batcher, sizes = MicroBatcher(window_s=0), []

    def count(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    assert together([lambda i=i: batcher.run("key", i, count) for i in range(4)]) == [0, 1, 2, 3]
    assert sizes == [1, 1, 1, 1] and not batcher.enabled


def test_caps_split_the_batch_by_rows_and_by_padded_tokens():
    batcher, sizes = MicroBatcher(window_s=0.2, max_rows=2, max_tokens=10_000), []

    def count(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    assert together([lambda i=i: batcher.run("key", i, count) for i in range(4)]) == [0, 1, 2, 3]
    assert max(sizes) <= 2 and sum(sizes) == 4
    wide, sizes = MicroBatcher(window_s=0.2, max_rows=16, max_tokens=100), []
    # 3 rows of 40 tokens are 120 padded tokens: never in one batch.
    assert together([lambda i=i: wide.run("key", i, count, width=40) for i in range(3)]) == [0, 1, 2]
    assert max(sizes) <= 2


def test_padding_keeps_each_rows_tokens_and_masks_the_rest():
    short = {"input_ids": torch.tensor([[101, 7, 102]])}
    long = {"input_ids": torch.tensor([[101, 5, 6, 7, 102]]), "attention_mask": torch.ones(1, 5, dtype=torch.long),
            "token_type_ids": torch.tensor([[0, 0, 0, 1, 1]])}
    batch = pad_together([short, long], pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 7, 102, 0, 0], [101, 5, 6, 7, 102]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]


# --- Each task: batched numbers equal lone ones ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def masked_lm(cache):
    return cache.load("tiny:masked_lm", Head.MASKED_LM)


def scores(result) -> list[float]:
    return [p.score for mask in result.masks for p in mask.predictions]


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
def test_fill_mask_batched_equals_lone_for_texts_of_different_lengths(masked_lm, monkeypatch, packed):
    if not packed:  # the padded batch other architectures take (BERT's requests are packed into one sequence)
        monkeypatch.setattr("bertviz_ui.tasks.fill_mask.masks.MAX_PACKED_TOKENS", 0)
    lone = [predict_masks(text, model=masked_lm.model, tokenizer=masked_lm.tokenizer, top_k=5) for text in SENTENCES]
    batcher = batcher_for(len(SENTENCES))
    batched = together([lambda t=t: predict_masks(t, model=masked_lm.model, tokenizer=masked_lm.tokenizer, top_k=5,
                                                  batcher=batcher) for t in SENTENCES])
    assert batcher.stats().forwards == 1 and batcher.stats().largest == len(SENTENCES)
    for alone, together_ in zip(lone, batched, strict=True):
        assert [p.token_id for m in together_.masks for p in m.predictions] == [
            p.token_id for m in alone.masks for p in m.predictions]
        assert scores(together_) == pytest.approx(scores(alone), abs=TOLERANCE)
        assert together_.completed == alone.completed


def test_iterative_fill_steps_batch_with_other_requests(masked_lm):
    text = SENTENCES[3]
    lone = iterative_fill(text, model=masked_lm.model, tokenizer=masked_lm.tokenizer)
    batcher = MicroBatcher(window_s=0.05, max_rows=2)
    results = together([lambda: iterative_fill(text, model=masked_lm.model, tokenizer=masked_lm.tokenizer,
                                               batcher=batcher)] * 2)
    for result in results:
        assert [s.prediction.token_id for s in result.steps] == [s.prediction.token_id for s in lone.steps]
        assert [s.prediction.score for s in result.steps] == pytest.approx(
            [s.prediction.score for s in lone.steps], abs=TOLERANCE)


def test_a_failing_request_in_a_fill_mask_batch_does_not_fail_its_neighbours(masked_lm):
    model, tokenizer = masked_lm.model, masked_lm.tokenizer
    vocabulary = model.config.vocab_size
    good = [tokenizer(text, return_tensors="pt") for text in SENTENCES[:3]]
    broken = tokenizer("The cat [MASK] here.", return_tensors="pt")
    broken["input_ids"][0, 1] = vocabulary + 5  # no such row in the embedding table: the forward raises
    from bertviz_ui.tasks.fill_mask.masks import row_mask_logits

    def masks_of(encoding) -> list[int]:
        return (encoding["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()

    lone = [row_mask_logits(model, encoding, masks_of(encoding)) for encoding in good]
    batcher = batcher_for(4)
    encodings = [good[0], broken, good[1], good[2]]
    results = together([lambda e=e: row_mask_logits(model, e, masks_of(e), batcher=batcher) for e in encodings])
    assert isinstance(results[1], IndexError)
    for alone, batched in zip(lone, [results[0], results[2], results[3]], strict=True):
        assert torch.allclose(batched, alone, atol=TOLERANCE)


@pytest.mark.parametrize(("head", "outputs", "per_token"), [
    (Head.SEQUENCE_CLASSIFICATION, ("logits",), False),
    (Head.TOKEN_CLASSIFICATION, ("logits",), True),
    (Head.QUESTION_ANSWERING, ("start_logits", "end_logits"), True),
])
def test_forward_batched_equals_lone_and_cuts_each_callers_rows_back(cache, head, outputs, per_token):
    loaded = cache.load(f"tiny:{head.value}", head)
    encodings = [loaded.tokenizer(text.replace("[MASK]", "word"), return_tensors="pt") for text in SENTENCES]
    # One caller brings two rows of its own, already padded.
    encodings.append(loaded.tokenizer(["Two rows", "of different lengths here"], padding=True, return_tensors="pt"))
    lone = [forward(loaded.model, e, outputs=outputs, per_token=per_token) for e in encodings]
    batcher = batcher_for(len(encodings) + 1)
    batched = together([lambda e=e: forward(loaded.model, e, outputs=outputs, per_token=per_token, batcher=batcher)
                        for e in encodings])
    assert batcher.stats().forwards == 1
    for alone, together_ in zip(lone, batched, strict=True):
        for a, b in zip(alone, together_, strict=True):
            assert a.shape == b.shape
            assert torch.allclose(a, b, atol=TOLERANCE)


def test_the_light_tasks_give_the_same_answers_batched(cache):
    """Two different requests at once through each task's own entry point, against each alone."""
    nsp = cache.load("tiny:next_sentence", Head.NEXT_SENTENCE)
    sentiment = cache.load("tiny:sequence_classification", Head.SEQUENCE_CLASSIFICATION)
    ner = cache.load("tiny:token_classification", Head.TOKEN_CLASSIFICATION)
    nli = cache.load("tiny:nli", Head.NLI)
    qa = cache.load("tiny:question_answering", Head.QUESTION_ANSWERING)
    jobs = {
        "nsp": (lambda a, b, **kw: predict_next_sentence(a, b, model=nsp.model, tokenizer=nsp.tokenizer, **kw).is_next,
                [("The cat sat on the mat.", "It was a lazy afternoon."), ("Hi.", "The stock market fell sharply.")]),
        "sentiment": (lambda t, **kw: [r.score for r in classify(t, model=sentiment.model,
                                                                 tokenizer=sentiment.tokenizer, **kw).rows],
                      [("I loved this movie!\nThe plot was thin and the acting worse.",), ("Fine.",)]),
        "ner": (lambda t, **kw: [(e.start, e.end, round(e.score, 5)) for e in recognize(
            t, model=ner.model, tokenizer=ner.tokenizer, strategy="none", **kw).entities],
                [("Angela Merkel met Emmanuel Macron in Paris.",), ("Apple is in Cupertino.",)]),
        "zero_shot": (lambda t, **kw: list(classify_zero_shot(
            t, "politics, sports, cooking", model=nli.model, tokenizer=nli.tokenizer, **kw).scores),
                      [("The new tax bill passed the senate.",), ("He scored twice in the final.",)]),
        "qa": (lambda q, c, **kw: [s.score for s in answer_question(
            q, c, model=qa.model, tokenizer=qa.tokenizer, **kw).candidates],
               [("Who designed it?", "The tower was designed by Gustave Eiffel's company in 1887."),
                ("When?", "It opened in 1889.")]),
    }
    rows = {"nsp": 2, "sentiment": 3, "ner": 2, "zero_shot": 6, "qa": 2}  # both requests' rows: the batch is full
    for name, (run, args) in jobs.items():
        lone = [run(*a) for a in args]
        batcher = batcher_for(rows[name])
        batched = together([lambda a=a, run=run, batcher=batcher: run(*a, batcher=batcher) for a in args])
        assert batcher.stats().forwards == 1, name
        for alone, result in zip(lone, batched, strict=True):
            assert result == pytest.approx(alone, abs=TOLERANCE), name
