"""The model cache: the only code that loads models. Lazy, single-flight, LRU within a memory budget, GPU-aware."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import BertvizError, ModelUnavailable
from bertviz_ui.models import anatomy, hub
from bertviz_ui.models.lru import BoundedLRU
from bertviz_ui.models.policy import ModelPolicy, check_tokenizer_config
from bertviz_ui.models.sources import OFFLINE_LABEL, HubProbe, ModelSource, resolve
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head, Task

log = logging.getLogger(__name__)


class HubUnreachable(ModelUnavailable):
    """The model is not on this machine and the Hugging Face Hub can't be reached."""


class ThreadSafeTokenizer:
    """A tokenizer whose calls hold a lock.

    A fast tokenizer shared across threads raises "RuntimeError: Already borrowed" when two calls
    change its truncation or padding at once; serializing calls is cheap next to a forward pass.
    """

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer
        self._lock = threading.RLock()

    @property
    def unwrapped(self) -> Any:
        """The underlying tokenizer, for code that holds no lock (single-threaded references, tests)."""
        return self._tokenizer

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tokenizer(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._tokenizer)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._tokenizer, name)
        if not callable(attribute) or isinstance(attribute, type):
            return attribute

        @functools.wraps(attribute)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


@dataclass(frozen=True)
class LoadedModel:
    """A model (or a tokenizer alone) ready to use.

    Attributes:
        source: where it came from.
        head: what was loaded.
        model: the torch module in eval mode on ``device``; None for Head.TOKENIZER.
        tokenizer: its tokenizer, safe to share across threads.
        device: torch device string.
        dtype: "float32", "bfloat16", ...; None for a tokenizer alone.
        size_bytes: parameters and buffers in memory (0 for a tokenizer alone).
        load_seconds: time spent loading.
        newly_initialized: weights the checkpoint lacked (a head that starts untrained).
        fallback_from: the model that was asked for, when the offline model stands in for it.
    """

    source: ModelSource
    head: Head
    model: Model | None
    tokenizer: ThreadSafeTokenizer
    device: str
    dtype: str | None
    size_bytes: int
    load_seconds: float
    newly_initialized: tuple[str, ...] = ()
    fallback_from: str | None = None

    @property
    def label(self) -> str:
        """What the tab shows about where this model came from."""
        if self.fallback_from:
            return f"{OFFLINE_LABEL} (real weights; {self.fallback_from} can't be had without the Hub)"
        return self.source.label


@dataclass(frozen=True)
class CacheEntryInfo:
    """One row of the Models panel."""

    ref: str
    head: str
    source: str
    device: str
    dtype: str | None
    size_bytes: int
    load_seconds: float
    hits: int


@dataclass(frozen=True)
class CacheReport:
    """What the cache holds now."""

    device: str
    dtype: str
    budget_bytes: int
    used_bytes: int
    entries: tuple[CacheEntryInfo, ...]


@dataclass
class _Entry:
    loaded: LoadedModel
    hits: int = 0


Loader = Callable[[ModelSource, Head, str, Any, bool], LoadedModel]
# Raises (a domain error, for the user) when a freshly loaded model must not be used or kept.
Accept = Callable[[LoadedModel], None]


class ModelCache:
    """Loads models lazily, once, and keeps the most recently used within a memory budget.

    Args:
        device: torch device string models are placed on.
        dtype: torch dtype for inference weights on that device.
        budget_bytes: evict least-recently-used models when the total exceeds this.
        cache_dir: where tiny checkpoints and the offline model are kept.
        probe: answers whether the Hub can be reached.
        loader: function that does the actual loading (tests pass a fake).
        policy: which references a request may name (public mode, allow-list, refused folders).
        max_download_bytes: refuse a Hub model whose download (weights, config, tokenizer) is larger, as told by
            the Hub's file metadata before anything is fetched; None: no limit.
    """

    def __init__(self, *, device: str, dtype: Any, budget_bytes: int, cache_dir: Path,
                 probe: HubProbe | None = None, loader: Loader | None = None, policy: ModelPolicy | None = None,
                 max_download_bytes: int | None = None):
        self.device = device
        self.dtype = dtype
        self.cache_dir = cache_dir
        self.max_download_bytes = max_download_bytes
        self._probe = probe or HubProbe()
        self._loader = loader or load_pretrained
        self.policy = policy or ModelPolicy()
        self._lock = threading.Lock()
        self._entries: BoundedLRU[tuple[str, Head], _Entry] = BoundedLRU(
            max_bytes=budget_bytes, size=lambda entry: entry.loaded.size_bytes)
        self._inflight: dict[tuple[str, Head], Future] = {}
        self._model_locks: dict[tuple[str, Head], threading.Lock] = {}

    @property
    def budget_bytes(self) -> int:
        """Least recently used models are evicted when the total exceeds this."""
        return self._entries.max_bytes

    # -- public API -------------------------------------------------------------------------------

    def load(self, ref: str, head: Head, *, attentions: bool = False, accept: Accept | None = None) -> LoadedModel:
        """Return the model for ``ref`` with ``head``, loading it on first use.

        Args:
            ref: Hub id, local directory, ``tiny:<head>`` or the offline model's id.
            head: what to load.
            attentions: the caller reads attention weights, so the model must use eager attention
                (sdpa returns an empty tuple).
            accept: a check of the model (a task's head check) that raises to refuse it. A fresh load is checked
                before it is stored: a refused model is not kept, its memory is released, and every caller
                waiting for it gets the error (a later call loads and checks it again). A model already held
                is checked too, for this caller.

        Returns:
            LoadedModel. Raises BadInput or ModelUnavailable with a message for the user.
        """
        source = resolve(ref, self.cache_dir, self.policy)
        key = (source.location, head)
        loaded = self._get_or_load(key, lambda: self._fetch(source, head), source.ref, accept)
        if attentions and loaded.model is not None:
            self._ensure_eager(key, loaded)
        return loaded

    def load_for_task(self, task: Task, ref: str, *, attentions: bool = False,
                      accept: Accept | None = None) -> LoadedModel:
        """Like load, with the task's head.

        Without the Hub, an encoder-only task's *default* model falls back to the offline all-MiniLM-L6-v2
        (same uncased vocabulary, real weights). A model the user picked is never silently replaced: comparing
        bert-base-cased with a stand-in would show the wrong tokenizer.
        """
        try:
            return self.load(ref, task.head, attentions=attentions, accept=accept)
        except HubUnreachable as error:
            if not task.offline_fallback or ref.strip() != task.default_model:
                raise HubUnreachable(
                    f"{error} To start this tab with one, set BERTVIZ_UI_MODEL_{task.id.upper()}."
                ) from error
            offline = self.load(OFFLINE_MODEL_ID, task.head, attentions=attentions, accept=accept)
            return dataclasses.replace(offline, fallback_from=ref.strip())

    def load_config(self, ref: str) -> Any:
        """Only the model's configuration (config.json, a few kB), never its weights; nothing is cached here.

        Args:
            ref: Hub id, local directory, ``tiny:<head>`` or the offline model's id.

        Returns:
            A transformers PretrainedConfig. Raises BadInput for a malformed reference, HubUnreachable when
            the config is not on this machine and the Hub can't be reached, ModelUnavailable otherwise.
        """
        transformers = _transformers()

        source = resolve(ref, self.cache_dir, self.policy)
        online = self._probe.reachable()
        kwargs = {"local_files_only": True} if source.kind == "hub" and not online else {}
        try:
            return transformers.AutoConfig.from_pretrained(source.location, **kwargs)
        except (OSError, ValueError, KeyError) as error:
            if source.kind == "hub" and not online:
                raise HubUnreachable(f"The configuration of {source.ref} is not on this machine and the Hub can't "
                                     "be reached.") from error
            raise ModelUnavailable(f"No configuration could be read for {source.ref} "
                                   f"({_without_paths(_first_line(error), source)}).") \
                from error

    def held(self) -> tuple[LoadedModel, ...]:
        """The models loaded now (not tokenizers alone), most recently used first; loads nothing."""
        return tuple(e.loaded for e in self._entries.values() if e.loaded.model is not None)

    def report(self) -> CacheReport:
        """A snapshot for the Models panel."""
        held = self._entries.items()
        entries = tuple(
            CacheEntryInfo(
                # A directory's name only: the panel is shared, and a server path is nobody's business.
                ref=entry.loaded.source.label if entry.loaded.source.kind == "local" else entry.loaded.source.ref,
                head=head.value,
                source=entry.loaded.source.label,
                device=entry.loaded.device,
                dtype=entry.loaded.dtype,
                size_bytes=entry.loaded.size_bytes,
                load_seconds=entry.loaded.load_seconds,
                hits=entry.hits,
            )
            for (_location, head), entry in held
        )
        used = sum(entry.loaded.size_bytes for _key, entry in held)
        return CacheReport(self.device, str(self.dtype).replace("torch.", ""), self.budget_bytes, used, entries)

    def clear(self) -> None:
        """Drop every model and give the memory back."""
        self._entries.clear()
        self._release()

    # -- internals --------------------------------------------------------------------------------

    def _fetch(self, source: ModelSource, head: Head) -> LoadedModel:
        """Load through the loader; a Hub model that would be downloaded is first checked against the size cap."""
        online = self._probe.reachable()
        weights = head is not Head.TOKENIZER
        # Offline, or with the files in the local Hugging Face cache, nothing is downloaded: nothing to check.
        if (self.max_download_bytes is not None and source.kind == "hub" and online
                and not hub.is_cached(source.location, weights=weights)):
            hub.fetch(hub.check_download_size(source.location, self.max_download_bytes, weights=weights))
        return self._loader(source, head, self.device, self.dtype, online)

    def _get_or_load(self, key: tuple[str, Head], load: Callable[[], LoadedModel], name: str,
                     accept: Accept | None = None) -> LoadedModel:
        with self._lock:
            entry = self._entries.get(key)
            future = None if entry is not None else self._inflight.get(key)
            owner = entry is None and future is None
            if entry is not None:
                entry.hits += 1
            elif owner:
                future = Future()
                self._inflight[key] = future
        if not owner:
            if entry is not None:
                loaded = entry.loaded
            else:
                loaded = future.result()  # raises the owner's error (a failed load or a refusal) for every waiter
                with self._lock:
                    if (waited := self._entries.get(key)) is not None:
                        waited.hits += 1
            if accept is not None:
                accept(loaded)
            return loaded
        loaded = None
        try:
            loaded = load()
            if accept is not None:
                accept(loaded)
        except BaseException as error:  # tokenizers' PanicException derives from BaseException
            refused = loaded is not None
            loaded = None
            _forget_locals(error)
            with self._lock:
                del self._inflight[key]
            if refused:
                self._release()
            if isinstance(error, (BertvizError, KeyboardInterrupt, SystemExit)):
                future.set_exception(error)
                raise
            log.error("Loading %s failed", name, exc_info=error)
            # The name asked for, never the server's path; every waiter gets the same message.
            shown = ModelUnavailable(f"{name} could not be loaded ({type(error).__name__}).")
            future.set_exception(shown)
            raise shown from error
        with self._lock:
            evicted = self._entries.put(key, _Entry(loaded))
            del self._inflight[key]
        future.set_result(loaded)
        if evicted:
            log.info("Evicted %s to stay within %.1f GiB",
                     ", ".join(f"{location} ({head.value})" for (location, head), _entry in evicted),
                     self.budget_bytes / 2**30)
            self._release()
        return loaded

    def _ensure_eager(self, key: tuple[str, Head], loaded: LoadedModel) -> None:
        with self._lock:
            lock = self._model_locks.setdefault(key, threading.Lock())
        with lock:
            if getattr(loaded.model.config, "_attn_implementation", "eager") != "eager":
                loaded.model.set_attn_implementation("eager")

    def _release(self) -> None:
        from bertviz_ui.models.device import release_memory

        release_memory(self.device)


_IMPORT_LOCK = threading.Lock()


def _transformers() -> Any:
    """transformers, with the Auto classes the cache uses resolved once, under a lock.

    transformers imports them lazily on first access; two threads doing that at the same moment made one of them read
    "module 'transformers' has no attribute 'AutoTokenizer'" (seen with 10 visitors loading different models at once).
    """
    with _IMPORT_LOCK:
        import transformers

        for name in ("AutoConfig", "AutoTokenizer", *sorted(set(anatomy.AUTO_CLASSES.values()))):
            getattr(transformers, name)
    return transformers


# An absolute path in a library's message (not the path part of a URL): the server's layout is nobody's business.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/[^\s'\"(),]+")


def _without_paths(text: str, source: ModelSource) -> str:
    """A library's message with the model's directory shown as the name asked for, and other server paths hidden."""
    return _ABSOLUTE_PATH.sub("(a server path)", text.replace(source.location, source.ref))


def _forget_locals(error: BaseException | None) -> None:
    """Clear the local variables of the finished frames in an error's tracebacks (and its causes').

    A loader's or an accept check's frame holds the model it was given; the exception, handed to every waiter
    and shown to the user, would otherwise keep a refused model in memory.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__




@one_build_at_a_time
def load_pretrained(source: ModelSource, head: Head, device: str, dtype: Any, hub_online: bool) -> LoadedModel:
    """Load a tokenizer and, unless only a tokenizer is asked for, a model with ``head``.

    Args:
        source: where from.
        head: which head (Head.TOKENIZER loads the tokenizer alone).
        device: where the model goes.
        dtype: weights' dtype for inference.
        hub_online: whether the Hub can be reached; if not, only files already cached are used.

    Returns:
        LoadedModel. Raises ModelUnavailable (HubUnreachable when the Hub is the problem).
    """
    transformers = _transformers()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # transformers would otherwise start a thread for a .bin-only Hub repo that asks a conversion Space to open a pull
    # request and then downloads the converted weights: a second download, past the size cap, to nobody's benefit.
    os.environ["DISABLE_SAFETENSORS_CONVERSION"] = "1"
    kwargs = {"local_files_only": True} if source.kind == "hub" and not hub_online else {}
    started = time.perf_counter()
    try:
        tokenizer_config = transformers.utils.cached_file(
            source.location, "tokenizer_config.json", _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False, **kwargs)
        if tokenizer_config:
            check_tokenizer_config(Path(tokenizer_config), source.ref)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.location, **kwargs)
        model, missing = None, ()
        if head is not Head.TOKENIZER:
            auto_class = getattr(transformers, anatomy.auto_class(head))
            model, info = auto_class.from_pretrained(source.location, dtype=dtype, output_loading_info=True,
                                                     **kwargs)
            missing = tuple(sorted(info.get("missing_keys", ())))
            prepare_for_inference(model, head, device, dtype)
    except BertvizError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise _explain_load_error(source, head, error, hub_online) from error
    size = 0
    if model is not None:
        size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    return LoadedModel(
        source=source,
        head=head,
        model=model,
        tokenizer=ThreadSafeTokenizer(tokenizer),
        device=device if model is not None else "cpu",
        dtype=str(dtype).replace("torch.", "") if model is not None else None,
        size_bytes=size,
        load_seconds=time.perf_counter() - started,
        newly_initialized=missing,
    )


def prepare_for_inference(model: Model, head: Head, device: str, dtype: Any) -> None:
    """Place a freshly built model on its device and dtype in eval mode, with its weights laid out for speed."""
    model.to(device=device, dtype=dtype).eval()
    if head is Head.MASKED_LM and device == "cpu":
        column_major_vocabulary(model)


def column_major_vocabulary(model: Model) -> None:
    """Store the vocabulary projection column-major (same values, same tensor, no extra memory).

    Fill-mask applies the 30k-row projection to one or a few hidden states. On CPU, BLAS multiplies a
    single row by a row-major [vocab, hidden] weight at about half the memory bandwidth (7 ms vs 3.7 ms
    for bert-base here); column-major storage takes the fast path, leaves 16+-row products as fast as
    before, and the tied input embedding still looks rows up cheaply.
    """
    output = model.get_output_embeddings()
    weight = getattr(output, "weight", None)
    if weight is not None and weight.dim() == 2 and weight.is_contiguous():
        weight.data = weight.data.t().contiguous().t()


def _explain_load_error(source: ModelSource, head: Head, error: BaseException, hub_online: bool) -> ModelUnavailable:
    what = head.description
    detail = _without_paths(_first_line(error), source)
    if "Unrecognized configuration class" in detail:
        why = " RoBERTa and most later encoders were pretrained without NSP." if head is Head.NEXT_SENTENCE else ""
        return ModelUnavailable(f"{source.ref} can't be used as a {what} model: its architecture has no such "
                                f"head.{why}")
    if "Unrecognized model" in detail:
        return ModelUnavailable(f"{source.ref} has no usable model configuration (config.json): it may serve as a "
                                f"tokenizer, not as a {what} model.")
    if source.kind == "hub" and not hub_online:
        return HubUnreachable(
            f"{source.ref} is not in this machine's Hugging Face cache and the Hub can't be reached. "
            "Connect to the internet once to download it, or use a local copy (a directory saved with "
            "save_pretrained): type its path in the model box."
        )
    if source.kind == "hub":
        return ModelUnavailable(f"No model named {source.ref} could be loaded from the Hub ({detail}).")
    return ModelUnavailable(f"{source.ref} could not be loaded as a {what} model ({detail}).")
