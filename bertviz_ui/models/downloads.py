"""Watching a model download: what it fetches, how far it got, who still waits for it, and why it stopped."""

from __future__ import annotations

import contextlib
import errno
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from bertviz_ui.errors import ModelUnavailable


def format_size(size_bytes: float) -> str:
    """Bytes as MB or GB (1e6, 1e9: as the Hub counts), one or two decimals."""
    if size_bytes >= 1e9:
        return f"{size_bytes / 1e9:.2f} GB"
    return f"{size_bytes / 1e6:.1f} MB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class DownloadProgress:
    """Where one model's download stands.

    Attributes:
        repo: the Hub id.
        files: (path, bytes) of every file this download fetches (files already in the local cache are not listed).
        done_bytes: bytes received so far, over all files.
        current: the file being received now ("" before the first and after the last).
        elapsed_s: seconds since the download started.
        finished: every file is in the local cache.
    """

    repo: str
    files: tuple[tuple[str, int], ...]
    done_bytes: int = 0
    current: str = ""
    elapsed_s: float = 0.0
    finished: bool = False

    @property
    def total_bytes(self) -> int:
        return sum(size for _path, size in self.files)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else 1.0

    @property
    def rate(self) -> float | None:
        """Bytes per second so far; None until something has arrived."""
        return self.done_bytes / self.elapsed_s if self.done_bytes and self.elapsed_s > 0 else None

    def describe(self) -> str:
        """One line for the progress bar: the plan before any byte arrives, then bytes, rate and time left."""
        total = format_size(self.total_bytes)
        if self.finished:
            return f"Downloaded {self.repo} ({total} in {_duration(self.elapsed_s)}); loading it"
        if not self.done_bytes:
            biggest, size = max(self.files, key=lambda file: file[1], default=("", 0))
            count = f"{len(self.files)} file{'s' * (len(self.files) != 1)}"
            return f"Downloading {self.repo} from the Hub: {count}, {total} ({biggest}: {format_size(size)})"
        line = f"Downloading {self.repo}: {format_size(self.done_bytes)} of {total}"
        if (rate := self.rate) is not None:
            line += f" at {format_size(rate)}/s"
            if self.done_bytes < self.total_bytes:
                line += f", about {_duration((self.total_bytes - self.done_bytes) / rate)} left"
        return line + (f" ({self.current})" if self.current else "")


ProgressCallback = Callable[[DownloadProgress], None]


class Tracker:
    """Counts one download's bytes (fed by huggingface_hub's progress bars, see FileBar) and reports them.

    Reports go to ``callback`` at most every ``interval_s`` seconds, plus the plan before the first byte (left in
    view for ``plan_s`` seconds before bytes replace it) and the end; an exception from the callback
    (DownloadCancelled) propagates into huggingface_hub and stops the download.
    """

    def __init__(self, repo: str, files: tuple[tuple[str, int], ...], callback: ProgressCallback | None, *,
                 clock: Callable[[], float] = time.monotonic, interval_s: float = 0.1, plan_s: float = 0.3):
        self.repo = repo
        self.files = files
        self.done_bytes = 0
        self.current = ""
        self._callback = callback
        self._clock = clock
        self._interval_s = interval_s
        self._plan_s = plan_s
        self._started = clock()
        self._reported = -1e9
        self._showing_plan = False
        self._file_start = 0

    @property
    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def snapshot(self, *, finished: bool = False) -> DownloadProgress:
        return DownloadProgress(self.repo, self.files, self.done_bytes, "" if finished else self.current,
                                self.elapsed_s, finished)

    def report(self, *, force: bool = False, finished: bool = False) -> None:
        now = self._clock()
        wait = self._plan_s if self._showing_plan else self._interval_s
        if self._callback is None or (not force and now - self._reported < wait):
            return
        self._reported, self._showing_plan = now, False
        self._callback(self.snapshot(finished=finished))

    def report_plan(self) -> None:
        """What will be fetched and its size, before any byte."""
        if self._callback is not None:
            self._reported, self._showing_plan = self._clock(), True
            self._callback(self.snapshot())

    def add(self, size: int) -> None:
        self.done_bytes = max(0, self.done_bytes + size)
        self.report()

    def start_file(self, path: str) -> None:
        self.current = path
        self._file_start = self.done_bytes

    def end_file(self, size: int) -> None:
        """The file is in the cache: count it at its planned size (a resumed or restarted transfer counts it once)."""
        self.done_bytes = self._file_start + size


class FileBar:
    """What huggingface_hub takes for a tqdm bar (``tqdm_class``): it counts the bytes into a Tracker.

    Only the calls huggingface_hub makes on a download's bar (update, close, use as a context manager); a class
    of its own rather than a tqdm subclass, because huggingface_hub disables its tqdm subclasses when progress bars
    are off (as they are here, transformers' bars would clutter the log) and a disabled bar counts nothing.
    """

    def __init__(self, tracker: Tracker, **_bar_options: object):
        self._tracker = tracker

    def update(self, n: float = 1) -> None:
        self._tracker.add(int(n))

    def close(self) -> None:
        """Nothing to close: the tracker outlives the file."""

    def __enter__(self):  # returns self; typing.Self would need Python 3.11
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class DownloadCancelled(ModelUnavailable):
    """Nobody waits for this download any more (every request that wanted it was cancelled or its page closed).

    A progress callback raises it to stop the download at the next chunk.
    """


class DiskFull(ModelUnavailable):
    """The local Hugging Face cache has no room for a download."""


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


class Watchers:
    """Every request waiting for one model's download: each gets its progress; the download stops when all have gone.

    Called as a ProgressCallback by the code that downloads. A watcher leaves by raising DownloadCancelled from its
    callback (its request was cancelled); any other error from a watcher's callback is its own problem and only
    removes it. The download itself is cancelled only when somebody watched and nobody does any more: a load that no
    request watches (a script, a test) is never cancelled.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._callbacks: list[ProgressCallback] = []
        self._watched = False
        self._last: DownloadProgress | None = None

    def __call__(self, progress: DownloadProgress) -> None:
        with self._lock:
            self._last = progress
            callbacks = list(self._callbacks)
        for callback in callbacks:
            self._send(callback, progress)
        with self._lock:
            abandoned = self._watched and not self._callbacks
        if abandoned:
            raise DownloadCancelled(f"The download of {progress.repo} was cancelled: every request waiting for it "
                                    "was cancelled or its page closed. Files already complete are kept; the next try "
                                    "fetches the rest.")

    @contextlib.contextmanager
    def joined(self, callback: ProgressCallback | None) -> Iterator[Membership]:
        """``callback`` gets this download's progress (the latest at once) until the block ends or it raises."""
        membership = Membership()
        if callback is None:
            yield membership
            return
        with self._lock:
            self._callbacks.append(callback)
            self._watched = True
            last = self._last
        if last is not None:
            self._send(callback, last)
        try:
            yield membership
        finally:
            membership.left = membership.left or self._leave(callback) is False

    def _send(self, callback: ProgressCallback, progress: DownloadProgress) -> None:
        try:
            callback(progress)
        except Exception:  # noqa: BLE001 - DownloadCancelled or a broken watcher: either way it stops watching
            self._leave(callback)

    def _leave(self, callback: ProgressCallback) -> bool:
        """Remove ``callback``; False if it had left already (its callback raised)."""
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
                return True
            return False


@dataclass
class Membership:
    """One request's place among a download's watchers; ``left`` once its own callback gave up (it was cancelled)."""

    left: bool = False


# The progress callback of the request running in this thread (set by the UI around a handler). A context variable
# and not a parameter: the download happens deep inside the model cache, under every tab's handler; threading a
# parameter through each of them would change every tab for one concern.
_REPORTER: ContextVar[ProgressCallback | None] = ContextVar("bertviz_ui_download_reporter", default=None)


@contextlib.contextmanager
def reporting_to(callback: ProgressCallback | None) -> Iterator[None]:
    """Downloads started inside the block report to ``callback`` (and stop when it raises DownloadCancelled)."""
    token = _REPORTER.set(callback)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def reporter() -> ProgressCallback | None:
    """The callback downloads started now report to, if any."""
    return _REPORTER.get()
