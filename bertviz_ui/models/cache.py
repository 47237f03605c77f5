"""The model cache: the only code that loads models. Lazy, single-flight, LRU within a memory budget, GPU-aware."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_ui.errors import BertvizError, ModelUnavailable
from bertviz_ui.models import downloads, hub
from bertviz_ui.models.loading import (
    HubUnreachable,
    LoadedModel,
    first_line,
    forget_locals,
    import_transformers,
    load_pretrained,
    without_paths,
)
from bertviz_ui.models.lru import BoundedLRU
from bertviz_ui.models.policy import ModelPolicy
from bertviz_ui.models.quantization import Precision, int8_supported, quantize_loaded
from bertviz_ui.models.sources import TINY_PREFIX, HubProbe, ModelSource, resolve
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head, Task

log = logging.getLogger(__name__)


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
    origin: str = ""
    quantization: str = ""
    fp32_size_bytes: int = 0


@dataclass(frozen=True)
class CacheReport:
    """What the cache holds now.

    Attributes:
        quantize: the BERTVIZ_UI_QUANTIZE setting ("none" or "int8").
        precision: what inference loads get: "full", or "int8" when quantize is int8 and models run on the CPU.
    """

    device: str
    dtype: str
    budget_bytes: int
    used_bytes: int
    entries: tuple[CacheEntryInfo, ...]
    quantize: str = "none"
    precision: str = "full"


@dataclass
class _Entry:
    loaded: LoadedModel
    hits: int = 0


Loader = Callable[[ModelSource, Head, str, Any, bool], LoadedModel]
Key = tuple[str, Head, Precision]
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
        quantize: "int8": models loaded for inference on the CPU get int8 transformer layers (callers that need
            gradients ask for Precision.FULL); "none": every model in full precision.
    """

    def __init__(self, *, device: str, dtype: Any, budget_bytes: int, cache_dir: Path,
                 probe: HubProbe | None = None, loader: Loader | None = None, policy: ModelPolicy | None = None,
                 max_download_bytes: int | None = None, quantize: str = "none"):
        self.device = device
        self.dtype = dtype
        self.quantize = quantize
        self.precision = Precision.FULL
        if quantize == "int8" and device != "cpu":
            log.warning("BERTVIZ_UI_QUANTIZE=int8 applies to CPU only: models on %s load in %s.", device,
                        str(dtype).replace("torch.", ""))
        elif quantize == "int8" and not int8_supported():
            log.warning("BERTVIZ_UI_QUANTIZE=int8: this torch has no int8 matrix product on the CPU "
                        "(torch._int_mm); models load in full precision.")
        elif quantize == "int8":
            self.precision = Precision.INT8
        self.cache_dir = cache_dir
        self.max_download_bytes = max_download_bytes
        self._probe = probe or HubProbe()
        self._loader = loader or load_pretrained
        self.policy = policy or ModelPolicy()
        self._lock = threading.Lock()
        # Sized by what a model really takes: an int8 model counts its int8 size.
        self._entries: BoundedLRU[Key, _Entry] = BoundedLRU(
            max_bytes=budget_bytes, size=lambda entry: entry.loaded.size_bytes)
        self._inflight: dict[Key, Future] = {}
        # Everyone waiting for an in-flight load, so each sees its download's progress (models/downloads.py).
        self._watchers: dict[Key, downloads.Watchers] = {}
        self._model_locks: dict[Key, threading.Lock] = {}

    @property
    def budget_bytes(self) -> int:
        """Least recently used models are evicted when the total exceeds this."""
        return self._entries.max_bytes

    # -- public API -------------------------------------------------------------------------------

    def load(self, ref: str, head: Head, *, attentions: bool = False, accept: Accept | None = None,
             precision: Precision | None = None) -> LoadedModel:
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
            precision: Precision.FULL for a caller that needs gradients or trains (it gets the model unquantized
                whatever the server's setting), Precision.INT8 for int8 (CPU only), None for the server's
                inference precision (``self.precision``). Each precision is its own cache entry.

        Returns:
            LoadedModel. Raises BadInput or ModelUnavailable with a message for the user.
        """
        precision = self.precision if precision is None else Precision(precision)
        if head is Head.TOKENIZER:
            precision = Precision.FULL  # no weights: one entry, whatever was asked
        elif precision is Precision.INT8 and self.device != "cpu":
            raise ModelUnavailable(f"int8 quantization runs on CPU only; this server runs models on {self.device}.")
        source = resolve(ref, self.cache_dir, self.policy)
        key = (source.location, head, precision)
        loaded = self._get_or_load(key, lambda: self._fetch(source, head, precision), source.ref, accept)
        if attentions and loaded.model is not None:
            self._ensure_eager(key, loaded)
        return loaded

    def load_for_task(self, task: Task, ref: str, *, attentions: bool = False, accept: Accept | None = None,
                      precision: Precision | None = None) -> LoadedModel:
        """Like load, with the task's head.

        Without the Hub, an encoder-only task's *default* model falls back to the offline all-MiniLM-L6-v2
        (same uncased vocabulary, real weights). A model the user picked is never silently replaced: comparing
        bert-base-cased with a stand-in would show the wrong tokenizer.
        """
        try:
            return self.load(ref, task.head, attentions=attentions, accept=accept, precision=precision)
        except HubUnreachable as error:
            if not task.offline_fallback or ref.strip() != task.default_model:
                raise HubUnreachable(f"{error} {what_works_offline(task)}") from error
            offline = self.load(OFFLINE_MODEL_ID, task.head, attentions=attentions, accept=accept,
                                precision=precision)
            return dataclasses.replace(offline, fallback_from=ref.strip())

    def load_config(self, ref: str) -> Any:
        """Only the model's configuration (config.json, a few kB), never its weights; nothing is cached here.

        Args:
            ref: Hub id, local directory, ``tiny:<head>`` or the offline model's id.

        Returns:
            A transformers PretrainedConfig. Raises BadInput for a malformed reference, HubUnreachable when
            the config is not on this machine and the Hub can't be reached, ModelUnavailable otherwise.
        """
        transformers = import_transformers()

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
                                   f"({without_paths(first_line(error), source)}).") \
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
                origin=entry.loaded.origin,
                quantization=entry.loaded.quantization,
                fp32_size_bytes=entry.loaded.fp32_size_bytes,
            )
            for (_location, head, _precision), entry in held
        )
        used = sum(entry.loaded.size_bytes for _key, entry in held)
        return CacheReport(self.device, str(self.dtype).replace("torch.", ""), self.budget_bytes, used, entries,
                           quantize=self.quantize, precision=self.precision.value)

    def clear(self) -> None:
        """Drop every model and give the memory back."""
        self._entries.clear()
        self._release()

    # -- internals --------------------------------------------------------------------------------

    def _fetch(self, source: ModelSource, head: Head, precision: Precision = Precision.FULL) -> LoadedModel:
        """Load through the loader; a Hub model that would be downloaded is first checked against the size cap, then
        downloaded with its progress reported to every request waiting for it; quantized if asked."""
        online = self._probe.reachable()
        weights = head is not Head.TOKENIZER
        origin = ""
        if source.kind == "hub":
            # Offline, or with the files in the local Hugging Face cache, nothing is downloaded: nothing to check.
            if hub.is_cached(source.location, weights=weights):
                origin = "from this machine's Hugging Face cache"
            elif self.max_download_bytes is not None and online:
                plan = hub.check_download_size(source.location, self.max_download_bytes, weights=weights)
                origin = hub.fetch(plan, progress=downloads.reporter()).describe(public=self.policy.public)
            elif online:
                origin = f"downloaded from {hub.endpoint_name(public=self.policy.public)}"
        loaded = self._loader(source, head, self.device, self.dtype, online)
        if precision is Precision.INT8:
            loaded = quantize_loaded(loaded)
        return dataclasses.replace(loaded, origin=origin) if origin else loaded

    def _get_or_load(self, key: Key, load: Callable[[], LoadedModel], name: str,
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
                self._watchers[key] = downloads.Watchers()
            watchers = self._watchers.get(key)
        if not owner:
            if entry is not None:
                loaded = entry.loaded
            else:
                try:
                    with watchers.joined(downloads.reporter()) as membership:
                        loaded = future.result()  # raises the owner's error (a failed load or a refusal) for everyone
                except downloads.DownloadCancelled:
                    if membership.left:
                        raise
                    # Everyone else left as this request joined: it still wants the model, so it starts again.
                    return self._get_or_load(key, load, name, accept)
                with self._lock:
                    if (waited := self._entries.get(key)) is not None:
                        waited.hits += 1
            if accept is not None:
                accept(loaded)
            return loaded
        loaded = None
        try:
            with watchers.joined(downloads.reporter()), downloads.reporting_to(watchers):
                loaded = load()
            if accept is not None:
                accept(loaded)
        except BaseException as error:  # tokenizers' PanicException derives from BaseException
            refused = loaded is not None
            loaded = None
            forget_locals(error)
            with self._lock:
                del self._inflight[key]
                del self._watchers[key]
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
            del self._watchers[key]
        future.set_result(loaded)
        if evicted:
            log.info("Evicted %s to stay within %.1f GiB",
                     ", ".join(f"{location} ({head.value}, {precision.value})"
                               for (location, head, precision), _entry in evicted),
                     self.budget_bytes / 2**30)
            self._release()
        return loaded

    def _ensure_eager(self, key: Key, loaded: LoadedModel) -> None:
        with self._lock:
            lock = self._model_locks.setdefault(key, threading.Lock())
        with lock:
            if getattr(loaded.model.config, "_attn_implementation", "eager") != "eager":
                loaded.model.set_attn_implementation("eager")

    def _release(self) -> None:
        from bertviz_ui.models.device import release_memory

        release_memory(self.device)


def what_works_offline(task: Task) -> str:
    """What a tab can do right now without the Hub, and how to get the real model: every "can't be had" message ends
    with this, so nobody is left at a dead end."""
    offline = []
    if task.offline_fallback:
        offline.append(f"pick {OFFLINE_MODEL_ID} (real weights, shipped with the app)")
    if task.offline_alternative:
        offline.append(task.offline_alternative)
    tiny = "encoder" if task.head is Head.TOKENIZER else task.head.value
    offline.append(f"type {TINY_PREFIX}{tiny} in the model box, or start the app with python app.py --tiny (tiny "
                   "random weights: real mechanics, meaningless predictions)")
    return (f"What works on this machine now: {'; '.join(offline)}. For the real model, connect to the internet "
            f"once (it is then kept in the Hugging Face cache), or set BERTVIZ_UI_MODEL_{task.id.upper()} to a local "
            "copy saved with save_pretrained.")
