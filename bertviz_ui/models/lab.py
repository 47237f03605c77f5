"""The Fine-tuning lab's session store: what each browser session owns (its fine-tuned model, a training lock, a
cancel flag, a temp folder), found by session hash, with at most MAX_KEPT_MODELS fine-tuned models held at once."""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from bertviz_ui.errors import BadInput
from bertviz_ui.models.cleanup import FINETUNE_PREFIX
from bertviz_ui.models.device import release_memory
from bertviz_ui.models.lru import BoundedLRU
from bertviz_ui.models.types import Model

# Fine-tuned models kept at once across all sessions (each is a full copy of its encoder: 90 MB for MiniLM,
# 270 MB for distilbert-base). Finishing a training beyond this frees the model trained longest ago.
MAX_KEPT_MODELS = 8


class Trained(Protocol):
    """What the store needs of a fine-tuned model: the torch model, whose parameters say which device to free."""

    model: Model


T = TypeVar("T", bound=Trained)


def _device_of(trained: Trained) -> str:
    return str(next(trained.model.parameters()).device)


class LabSession(Generic[T]):
    """What one browser session owns: its fine-tuned model, a training lock, a cancel flag, a temp folder."""

    def __init__(self) -> None:
        self.key = uuid.uuid4().hex  # its place among the kept models (a hash is not always known)
        self.trained: T | None = None
        self.shown: Any = None  # what its last finished training showed (the lab's HTML export), kept with it
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.workdir: Path | None = None
        self.closed = False
        self.evicted = False  # its model was freed to make room for other sessions' models

    @property
    def training(self) -> bool:
        return self.lock.locked()

    def stopped(self, timeout: float) -> bool:
        """Whether no run holds the session, waiting up to ``timeout`` seconds for one to let go."""
        if not self.lock.acquire(timeout=timeout):
            return False
        self.lock.release()
        return True

    def folder(self) -> Path:
        """This session's temp folder (downloads), made on first use."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=FINETUNE_PREFIX))
        return self.workdir

    @contextmanager
    def training_run(self, device: str) -> Iterator[None]:
        """Hold the session's training lock for one run (BadInput if a run holds it already), with the cancel flag
        cleared; afterwards release the lock and give the run's freed memory back to ``device``."""
        if not self.lock.acquire(blocking=False):
            raise BadInput("This session is already training a model: wait for it to finish, or press Cancel.")
        try:
            self.cancel.clear()
            yield
        finally:
            self.lock.release()
            release_memory(device)

    def drop_model(self, device: str) -> None:
        """Free the session's fine-tuned model (before it trains another: two copies need not fit at once)."""
        previous, self.trained = self.trained, None
        del previous
        release_memory(device)

    def close(self) -> None:
        """Stop any training within a step, drop the model and delete the temp folder."""
        self.closed = True
        self.cancel.set()
        device = _device_of(self.trained) if self.trained is not None else None
        self.trained = None
        self.shown = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        release_memory(device or "cpu")


def _free_evicted(_key: str, ref: weakref.ReferenceType[LabSession]) -> None:
    """The LRU's on_evict: the session trained longest ago loses its model (and is told why when it asks)."""
    session = ref()
    if session is None or session.trained is None:
        return
    device = _device_of(session.trained)
    session.trained, session.evicted = None, True
    release_memory(device)


class Sessions(Generic[T]):
    """The lab sessions of one app, by session hash, so that closing a tab frees its model at once, and at most
    ``max_kept`` fine-tuned models are held at a time (the one trained longest ago goes first).

    Both hold sessions weakly: a session its owner forgets (Gradio drops a session's state) is collected with its
    model, and its place among the kept models is pruned at the next keep().
    """

    def __init__(self, max_kept: int = MAX_KEPT_MODELS) -> None:
        self.max_kept = max_kept
        self._lock = threading.Lock()
        self._by_hash: weakref.WeakValueDictionary[str, LabSession[T]] = weakref.WeakValueDictionary()
        # Sessions holding a model, by LabSession.key, trained longest ago first.
        self._kept: BoundedLRU[str, weakref.ReferenceType[LabSession[T]]] = BoundedLRU(
            max_entries=max_kept, on_evict=_free_evicted)
        # One keep() at a time, evictions included: an eviction never frees the model a later keep() gave the same
        # session. A lock of its own, so that get() and close() never wait for an eviction's memory release.
        self._keeping = threading.Lock()

    def keep(self, session: LabSession[T], trained: T | None) -> None:
        """Give ``session`` its fine-tuned model, freeing the oldest other sessions' models beyond max_kept."""
        with self._keeping:
            self._kept.discard_where(lambda _key, ref: (other := ref()) is None or other.trained is None
                                     or other is session)
            session.trained, session.evicted = trained, False
            self._kept.put(session.key, weakref.ref(session))

    @property
    def kept(self) -> int:
        """Sessions holding a fine-tuned model now."""
        return sum(1 for ref in self._kept.values() if (session := ref()) is not None and session.trained is not None)

    def get(self, session: LabSession[T] | None, session_hash: str | None) -> LabSession[T]:
        """The session's LabSession (made on first use, or anew after it was closed) registered under its hash."""
        if session is None or session.closed:
            session = LabSession()
        if session_hash:
            with self._lock:
                self._by_hash[session_hash] = session
        return session

    def close(self, session_hash: str | None) -> None:
        """A tab closed: stop its training, free its model and its temp folder now."""
        with self._lock:
            session = self._by_hash.pop(session_hash, None) if session_hash else None
        if session is not None:
            self._kept.pop(session.key)
            session.close()

    def __len__(self) -> int:
        return len(self._by_hash)


def close_state(session: Any) -> None:
    """gr.State's delete_callback: a session's state is deleted (tab closed an hour ago, or expired)."""
    if isinstance(session, LabSession):
        session.close()


def eager_attention(model: Model) -> Model:
    """``model`` switched to eager attention, so that it returns its attention weights (sdpa returns none); the lab's
    before-vs-after view reads them from a session's fine-tuned model. The switch stays (same arithmetic, a little
    slower): a /finetune_try running meanwhile in the same session gives the same answer either way."""
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        model.set_attn_implementation("eager")
    return model


def require_trained(session: LabSession[T] | None) -> T:
    """The session's fine-tuned model, else BadInput saying why there is none (not trained yet, or freed)."""
    if session is not None and session.trained is None and session.evicted:
        raise BadInput(f"Your fine-tuned model was freed to make room: this server keeps at most {MAX_KEPT_MODELS} "
                       "at a time, the oldest going first. Press Train to train it again.")
    if session is None or session.trained is None:
        raise BadInput("No fine-tuned model in this session yet: press Train first (each browser session trains "
                       "and keeps its own).")
    return session.trained
