"""Model cache: single-flight loading, LRU eviction within a budget, offline fallback, thread-safe tokenizers."""

from __future__ import annotations

import dataclasses
import gc
import threading
import weakref
from concurrent.futures import Future
from pathlib import Path

import pytest
import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models import build_cache
from bertviz_ui.models import cache as cache_module
from bertviz_ui.models import device as device_module
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.models.loading import HubUnreachable, LoadedModel, ThreadSafeTokenizer
from bertviz_ui.models.policy import ModelPolicy
from bertviz_ui.models.sources import ModelSource
from bertviz_ui.registry import Head, task_by_id

DEADLINE_S = 30


class FakeModel:
    """Stands for a torch module: something a weak reference can watch."""


class FakeLoader:
    """Returns LoadedModel stand-ins of a given size, counting calls; can hold a load until released."""

    def __init__(self, size: int = 100, with_model: bool = False):
        self.size = size
        self.with_model = with_model
        self.calls: list[str] = []
        self.hold: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.fail: dict[str, Exception] = {}
        self._lock = threading.Lock()

    def __call__(self, source: ModelSource, head: Head, device: str, dtype, online: bool) -> LoadedModel:
        with self._lock:
            self.calls.append(source.ref)
        self.entered.setdefault(source.ref, threading.Event()).set()
        if source.ref in self.hold:
            assert self.hold[source.ref].wait(DEADLINE_S), "test never released the load"
        if source.ref in self.fail:
            raise self.fail[source.ref]
        return LoadedModel(source=source, head=head, model=FakeModel() if self.with_model else None,
                           tokenizer=ThreadSafeTokenizer(object()), device=device, dtype="float32",
                           size_bytes=self.size, load_seconds=0.0)


def make_cache(tmp_path: Path, loader: FakeLoader, budget: int = 10_000) -> ModelCache:
    return ModelCache(device="cpu", dtype=torch.float32, budget_bytes=budget, cache_dir=tmp_path, loader=loader)


def run_in_threads(count: int, target) -> list:
    results: list = [None] * count
    errors: list = []

    def work(i: int) -> None:
        try:
            results[i] = target(i)
        except Exception as error:  # noqa: BLE001 - collected and re-raised in the test thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
        assert not thread.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


def test_concurrent_requests_load_once(tmp_path):
    loader = FakeLoader()
    cache = make_cache(tmp_path, loader)
    arrived = threading.Semaphore(0)
    loader.hold["org/model"] = threading.Event()

    def release_when_all_arrived() -> None:
        for _ in range(8):
            arrived.acquire(timeout=DEADLINE_S)
        loader.hold["org/model"].set()

    releaser = threading.Thread(target=release_when_all_arrived)
    releaser.start()

    def request(_i: int) -> LoadedModel:
        arrived.release()
        return cache.load("org/model", Head.ENCODER)

    results = run_in_threads(8, request)
    releaser.join(DEADLINE_S)
    assert loader.calls == ["org/model"]
    assert all(result is results[0] for result in results)
    assert cache.report().entries[0].hits == 7


def test_a_slow_load_does_not_block_other_models(tmp_path):
    loader = FakeLoader()
    cache = make_cache(tmp_path, loader)
    loader.hold["org/slow"] = threading.Event()
    slow = threading.Thread(target=cache.load, args=("org/slow", Head.ENCODER))
    slow.start()
    assert loader.entered.setdefault("org/slow", threading.Event()).wait(DEADLINE_S)
    fast = threading.Thread(target=cache.load, args=("org/fast", Head.ENCODER))
    fast.start()
    fast.join(DEADLINE_S)
    assert not fast.is_alive(), "loading another model waited for the slow one"
    assert [e.ref for e in cache.report().entries] == ["org/fast"]
    loader.hold["org/slow"].set()
    slow.join(DEADLINE_S)
    assert {e.ref for e in cache.report().entries} == {"org/fast", "org/slow"}


def test_failed_load_reaches_every_waiter_and_is_retried(tmp_path):
    loader = FakeLoader()
    loader.fail["org/broken"] = ModelUnavailable("broken on purpose")
    cache = make_cache(tmp_path, loader)
    with pytest.raises(ModelUnavailable, match="broken on purpose"):
        cache.load("org/broken", Head.ENCODER)
    del loader.fail["org/broken"]
    assert cache.load("org/broken", Head.ENCODER).source.ref == "org/broken"
    assert loader.calls == ["org/broken", "org/broken"]


def test_an_unexpected_loader_error_reaches_every_waiter_as_one_message_without_paths(tmp_path):
    loader = FakeLoader()
    loader.fail["org/odd"] = AttributeError("module at /srv/secret/site-packages has no attribute 'AutoTokenizer'")
    loader.hold["org/odd"] = threading.Event()
    cache = make_cache(tmp_path, loader)
    caught: list[BaseException] = []

    def load(_: int) -> None:
        try:
            cache.load("org/odd", Head.ENCODER)
        except BaseException as error:  # noqa: BLE001 - collected for the assertions below
            caught.append(error)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    assert loader.entered.setdefault("org/odd", threading.Event()).wait(DEADLINE_S)
    loader.hold["org/odd"].set()
    for thread in threads:
        thread.join(DEADLINE_S)
    # Whether a thread waited on the first load or arrived after it failed and tried again, it reads the same words.
    assert [type(error) for error in caught] == [ModelUnavailable] * 3
    assert {str(error) for error in caught} == {"org/odd could not be loaded (AttributeError)."}


def test_least_recently_used_model_is_evicted_past_the_budget(tmp_path, monkeypatch):
    released: list[str] = []
    monkeypatch.setattr(device_module, "release_memory", lambda device: released.append(device))
    loader = FakeLoader(size=100)
    cache = make_cache(tmp_path, loader, budget=250)
    cache.load("org/a", Head.ENCODER)
    cache.load("org/b", Head.ENCODER)
    cache.load("org/a", Head.ENCODER)  # a is now more recent than b
    cache.load("org/c", Head.ENCODER)
    assert [e.ref for e in cache.report().entries] == ["org/c", "org/a"]
    assert released == ["cpu"]
    assert cache.report().used_bytes == 200


def test_a_model_larger_than_the_budget_still_loads_alone(tmp_path):
    loader = FakeLoader(size=1000)
    cache = make_cache(tmp_path, loader, budget=250)
    cache.load("org/a", Head.ENCODER)
    cache.load("org/b", Head.ENCODER)
    assert [e.ref for e in cache.report().entries] == ["org/b"]


def test_same_checkpoint_with_two_heads_is_two_entries(tmp_path):
    loader = FakeLoader()
    cache = make_cache(tmp_path, loader)
    cache.load("org/a", Head.ENCODER)
    cache.load("org/a", Head.MASKED_LM)
    assert sorted(e.head for e in cache.report().entries) == ["encoder", "masked_lm"]


def test_clear_drops_everything(tmp_path):
    cache = make_cache(tmp_path, FakeLoader())
    cache.load("org/a", Head.ENCODER)
    cache.clear()
    assert cache.report().entries == ()


# --- accept: a model refused for its head is never kept -------------------------------------------

class Refuse:
    """An accept check that refuses every model, remembering a weak reference to each one it saw."""

    def __init__(self):
        self.seen: list[weakref.ref] = []

    def __call__(self, loaded: LoadedModel) -> None:
        self.seen.append(weakref.ref(loaded.model))
        raise ModelUnavailable("no trained head")


def test_a_refused_model_is_not_kept_and_its_memory_is_released(tmp_path, monkeypatch):
    released: list[str] = []
    monkeypatch.setattr(device_module, "release_memory", lambda device: released.append(device))
    cache = make_cache(tmp_path, FakeLoader(with_model=True))
    refuse = Refuse()
    with pytest.raises(ModelUnavailable, match="no trained head") as refused:
        cache.load("org/base", Head.SEQUENCE_CLASSIFICATION, accept=refuse)
    assert cache.report().entries == () and cache.held() == () and cache.report().used_bytes == 0
    assert released == ["cpu"]
    gc.collect()
    # Dead while the error (which reaches the user, and is still held here) lives: its frames let the model go.
    assert refuse.seen[0]() is None and refused.value is not None


def test_every_waiter_gets_the_refusal_and_a_later_call_loads_again(tmp_path, monkeypatch):
    waiting = threading.Semaphore(0)

    class CountedFuture(Future):
        """Tells the test when a caller starts waiting for the load in flight."""

        def result(self, timeout=None):
            waiting.release()
            return super().result(timeout)

    monkeypatch.setattr(cache_module, "Future", CountedFuture)
    loader = FakeLoader(with_model=True)
    loader.hold["org/base"] = threading.Event()
    cache = make_cache(tmp_path, loader)
    refuse = Refuse()

    def release_when_three_wait() -> None:
        # One caller loads (held in the loader); the other three wait for it. Then the load finishes.
        for _ in range(3):
            assert waiting.acquire(timeout=DEADLINE_S)
        loader.hold["org/base"].set()

    releaser = threading.Thread(target=release_when_three_wait)
    releaser.start()

    def request(_i: int) -> str:
        try:
            cache.load("org/base", Head.SEQUENCE_CLASSIFICATION, accept=refuse)
        except ModelUnavailable as error:
            return str(error)
        return "accepted"

    assert run_in_threads(4, request) == ["no trained head"] * 4
    releaser.join(DEADLINE_S)
    assert loader.calls == ["org/base"] and cache.report().entries == ()
    accepted = cache.load("org/base", Head.SEQUENCE_CLASSIFICATION, accept=lambda loaded: None)
    assert loader.calls == ["org/base", "org/base"]
    assert cache.held() == (accepted,)


def test_a_held_model_is_checked_for_each_caller_and_stays_held(tmp_path):
    cache = make_cache(tmp_path, FakeLoader(with_model=True))
    loaded = cache.load("org/base", Head.SEQUENCE_CLASSIFICATION)
    with pytest.raises(ModelUnavailable, match="no trained head"):
        cache.load("org/base", Head.SEQUENCE_CLASSIFICATION, accept=Refuse())
    assert cache.held() == (loaded,)


def test_an_accept_check_that_breaks_is_a_load_failure_and_nothing_is_kept(tmp_path):
    def broken(loaded: LoadedModel) -> None:
        raise KeyError("label2id")

    cache = make_cache(tmp_path, FakeLoader(with_model=True))
    with pytest.raises(ModelUnavailable, match=r"org/base could not be loaded \(KeyError\)"):
        cache.load("org/base", Head.SEQUENCE_CLASSIFICATION, accept=broken)
    assert cache.held() == ()


def test_sentiment_refuses_an_encoder_checkpoint_before_the_cache_keeps_it(settings):
    from bertviz_ui.ui.sentiment import trained_classifier

    cache = build_cache(settings)  # of its own: the session cache may hold this model, loaded without a check
    with pytest.raises(ModelUnavailable, match="no trained classification head"):
        cache.load_for_task(task_by_id("sentiment"), "tiny:encoder", accept=trained_classifier)
    assert cache.report().entries == () and cache.held() == ()
    kept = cache.load_for_task(task_by_id("sentiment"), "tiny:sequence_classification", accept=trained_classifier)
    assert cache.held() == (kept,)


def test_build_cache_caps_downloads_at_the_setting(settings):
    assert build_cache(dataclasses.replace(settings, max_model_gb=0.5)).max_download_bytes == 500_000_000


# --- Real loading through from_pretrained, on tiny checkpoints and the offline model ----------------

def test_tiny_heads_load_with_their_labels(cache):
    sentiment = cache.load("tiny:sequence_classification", Head.SEQUENCE_CLASSIFICATION)
    assert sentiment.model.config.id2label == {0: "NEGATIVE", 1: "POSITIVE"}
    assert sentiment.newly_initialized == ()
    assert sentiment.source.untrained and sentiment.model.training is False
    ner = cache.load("tiny:token_classification", Head.TOKEN_CLASSIFICATION)
    assert ner.model.config.id2label[3] == "B-PER" and len(ner.model.config.id2label) == 9
    nli = cache.load("tiny:nli", Head.NLI)
    assert nli.model.config.label2id["entailment"] == 2
    assert sentiment.tokenizer("The cat sat on the mat.")["input_ids"][1:3] == [1996, 4937]


def test_head_missing_from_checkpoint_is_reported(cache):
    loaded = cache.load("tiny:encoder", Head.SEQUENCE_CLASSIFICATION)
    assert "classifier.weight" in loaded.newly_initialized


def test_eager_attention_when_attentions_are_shown(cache):
    loaded = cache.load("tiny:masked_lm", Head.MASKED_LM)
    inputs = loaded.tokenizer("The cat sat.", return_tensors="pt")
    assert loaded.model(**inputs, output_attentions=True).attentions in ((), None)  # the sdpa trap
    loaded = cache.load("tiny:masked_lm", Head.MASKED_LM, attentions=True)
    attentions = loaded.model(**inputs, output_attentions=True).attentions
    assert len(attentions) == 2 and attentions[0].shape == (1, 2, 6, 6)


def test_size_and_dtype_are_measured(cache):
    loaded = cache.load("tiny:question_answering", Head.QUESTION_ANSWERING)
    params = sum(p.numel() for p in loaded.model.parameters())
    assert loaded.size_bytes >= params * 4 and loaded.dtype == "float32" and loaded.device == "cpu"


def test_encoder_tasks_fall_back_to_the_offline_model_without_the_hub(cache):
    loaded = cache.load_for_task(task_by_id("tokenizer"), "google-bert/bert-base-uncased")
    assert loaded.fallback_from == "google-bert/bert-base-uncased"
    assert loaded.label.startswith("offline: all-MiniLM-L6-v2")
    assert loaded.tokenizer("The cat sat on the mat.")["input_ids"] == [101, 1996, 4937, 2938, 2006, 1996, 13523,
                                                                         1012, 102]


def test_tasks_with_heads_name_their_variable_without_the_hub(cache):
    with pytest.raises(HubUnreachable, match="BERTVIZ_UI_MODEL_NER"):
        cache.load_for_task(task_by_id("ner"), "dslim/bert-base-NER")


@pytest.mark.parametrize(("task_id", "ref", "works"), [
    ("ner", "dslim/bert-base-NER", ["tiny:token_classification in the model box", "python app.py --tiny"]),
    ("fill_mask", "google-bert/bert-base-uncased", ["tiny:masked_lm in the model box"]),
    ("zero_shot", "facebook/bart-large-mnli", ['switch Method to "Embedding similarity"', "tiny:nli"]),
    # A model picked by hand is never replaced, but the offline model is offered by name.
    ("attention", "google-bert/bert-base-cased", ["pick sentence-transformers/all-MiniLM-L6-v2", "tiny:encoder"]),
])
def test_a_model_that_cannot_be_had_names_what_works_now(cache, task_id, ref, works):
    with pytest.raises(HubUnreachable) as caught:
        cache.load_for_task(task_by_id(task_id), ref)
    message = str(caught.value)
    assert message.startswith(f"{ref} is not in this machine's Hugging Face cache")
    assert all(phrase in message for phrase in works), message
    assert f"BERTVIZ_UI_MODEL_{task_id.upper()}" in message and "connect to the internet once" in message


@pytest.fixture()
def temp_dirs_allowed(cache, monkeypatch):
    """These tests keep their directories in the temp dir, which the app itself never loads from."""
    monkeypatch.setattr(cache, "policy", ModelPolicy(refused_roots=()))


@pytest.mark.usefixtures("temp_dirs_allowed")
def test_directory_that_is_not_a_model(cache, tmp_path):
    with pytest.raises(ModelUnavailable, match="not a model"):
        cache.load(str(tmp_path), Head.ENCODER)


@pytest.mark.usefixtures("temp_dirs_allowed")
def test_tokenizer_only_directory_cannot_be_a_masked_lm(cache, tmp_path):
    source = cache.load("tiny:encoder", Head.TOKENIZER)
    source.tokenizer.save_pretrained(str(tmp_path))
    with pytest.raises(ModelUnavailable, match="not as a masked-language-model model"):
        cache.load(str(tmp_path), Head.MASKED_LM)


def test_bad_model_names(cache):
    with pytest.raises(BadInput):
        cache.load("<img src=x onerror=alert(1)>", Head.TOKENIZER)
    with pytest.raises(ModelUnavailable, match="No directory"):
        cache.load("/no/such/model", Head.TOKENIZER)


def test_thread_safe_tokenizer_under_concurrent_changing_settings(uncased):
    texts = ["The cat sat on the mat. " * n for n in range(1, 9)]

    def work(i: int) -> int:
        total = 0
        for j in range(40):
            kwargs = {"max_length": 8 + (i + j) % 5, "truncation": True, "padding": "max_length"} if j % 2 else {}
            total += len(uncased(texts[(i + j) % 8], **kwargs)["input_ids"])
        return total

    assert all(total > 0 for total in run_in_threads(8, work))


def test_device_and_precision(monkeypatch):
    assert device_module.choose_device("cpu") == "cpu"
    assert device_module.inference_dtype("cpu") is torch.float32
    if not torch.cuda.is_available():
        assert device_module.choose_device("auto") in {"cpu", "mps"}
        with pytest.raises(BadInput, match="no CUDA device"):
            device_module.choose_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert device_module.inference_dtype("cuda") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert device_module.inference_dtype("cuda:0") is torch.float16


def test_default_budget_is_half_of_available_memory():
    budget = device_module.default_budget_bytes("cpu")
    assert 0 < budget < 1 << 50


class MeetingTokenizer:
    """A fake tokenizer that notices when two calls are inside it at once (two threads meet at a barrier)."""

    def __init__(self):
        self.barrier = threading.Barrier(2, timeout=0.3)
        self.met = False

    def __call__(self, text: str) -> dict:
        try:
            self.barrier.wait()
            self.met = True
        except threading.BrokenBarrierError:
            pass
        return {"input_ids": [len(text)]}


@pytest.mark.parametrize("wrap, overlapped", [(ThreadSafeTokenizer, False), (lambda tok: tok, True)])
def test_thread_safe_tokenizer_serializes_calls(wrap, overlapped):
    fake = MeetingTokenizer()
    tokenizer = wrap(fake)
    run_in_threads(2, lambda i: tokenizer("x" * i))
    assert fake.met is overlapped


def test_a_model_the_user_picked_is_never_replaced(cache):
    with pytest.raises(HubUnreachable, match="google-bert/bert-base-cased"):
        cache.load_for_task(task_by_id("tokenizer"), "google-bert/bert-base-cased")


def test_masked_lm_vocabulary_is_stored_column_major_with_identical_outputs(cache):
    from bertviz_ui.models.loading import column_major_vocabulary
    from bertviz_ui.tasks.fill_mask import mask_logits

    loaded = cache.load("tiny:masked_lm", Head.MASKED_LM)
    weight = loaded.model.get_output_embeddings().weight
    assert not weight.is_contiguous() and weight.t().is_contiguous()
    assert weight is loaded.model.get_input_embeddings().weight  # still tied
    encoding = loaded.tokenizer("The cat [MASK] on the mat.", return_tensors="pt")
    fast, _ = mask_logits(loaded.model, encoding, [(0, 3)])
    weight.data = weight.data.contiguous()
    try:
        slow, _ = mask_logits(loaded.model, encoding, [(0, 3)])
    finally:
        column_major_vocabulary(loaded.model)
    assert torch.allclose(fast, slow, atol=1e-5, rtol=0)


@pytest.mark.parametrize("build", ["load", "tiny", "meta", "random", "finetune"])
def test_every_model_construction_waits_for_the_one_in_progress(settings, build):
    """transformers 5 builds models under process-wide patches of torch: two at once gave meta tensors."""
    from bertviz_ui import building
    from bertviz_ui.models import sources
    from bertviz_ui.tasks import comparison, finetune, parameters

    fresh = build_cache(settings)  # a cache of its own over the built tiny checkpoints: loading them builds nothing
    encoder = fresh.load("tiny:encoder", Head.ENCODER)  # imports done before the timed part
    work = {
        "load": lambda: fresh.load("tiny:masked_lm", Head.MASKED_LM),
        "tiny": lambda: sources._tiny_model(Head.MASKED_LM),
        "meta": lambda: parameters.build_on_meta(encoder_config()),
        "random": lambda: comparison.build_random(encoder_config()),
        "finetune": lambda: finetune.build_classifier(encoder.model, ["a", "b"], 0, "cpu"),
    }[build]
    with building._LOCK:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join(2.0)  # a generous wait: it finishes in well under a second when nothing holds the lock
        assert thread.is_alive(), "the construction did not wait for the lock"
    thread.join(DEADLINE_S)
    assert not thread.is_alive()


def encoder_config():
    from transformers import BertConfig

    return BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64)
