"""Watching a download (models/downloads.py, hub.fetch's messages): the progress text, byte counting, the requests
watching one download, and the cache sharing a download's progress with every request waiting for it."""

from __future__ import annotations

import errno
import threading
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models import downloads, hub
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.models.downloads import (
    DiskFull,
    DownloadCancelled,
    DownloadProgress,
    FileBar,
    Tracker,
    Watchers,
    format_size,
)
from bertviz_ui.models.loading import LoadedModel, ThreadSafeTokenizer
from bertviz_ui.registry import Head

DEADLINE_S = 30
BERT_BASE = (("model.safetensors", 440_449_768), ("tokenizer.json", 466_062), ("vocab.txt", 231_508))
SQUAD_LARGE = (("model.safetensors", 1_340_622_760), ("tokenizer.json", 466_062))


def test_sizes_read_as_the_hub_counts_them():
    assert [format_size(size) for size in (0, 231_508, 440_449_768, 999_999_999, 1_340_622_760)] == [
        "0.0 MB", "0.2 MB", "440.4 MB", "1000.0 MB", "1.34 GB"]


def test_before_any_byte_the_progress_says_what_will_be_fetched_and_its_size():
    assert DownloadProgress("google-bert/bert-base-uncased", BERT_BASE).describe() == (
        "Downloading google-bert/bert-base-uncased from the Hub: 3 files, 441.1 MB (model.safetensors: 440.4 MB)")
    assert DownloadProgress("org/m", (("vocab.txt", 231_508),)).describe() == (
        "Downloading org/m from the Hub: 1 file, 0.2 MB (vocab.txt: 0.2 MB)")


def test_while_bytes_arrive_it_shows_how_many_the_rate_and_the_time_left():
    progress = DownloadProgress("org/m", BERT_BASE, done_bytes=120_000_000, current="model.safetensors",
                                elapsed_s=10.0)
    # (441.1 - 120.0) MB at 12 MB/s: 26.8 s
    assert progress.describe() == (
        "Downloading org/m: 120.0 MB of 441.1 MB at 12.0 MB/s, about 27 s left (model.safetensors)")
    assert progress.fraction == pytest.approx(120_000_000 / 441_147_338)
    large = DownloadProgress("org/squad", SQUAD_LARGE, done_bytes=500_000_000, current="model.safetensors",
                             elapsed_s=250.0)
    assert large.describe() == ("Downloading org/squad: 500.0 MB of 1.34 GB at 2.0 MB/s, about 7 min left "
                                "(model.safetensors)")


def test_when_every_file_is_in_it_says_the_model_is_loading():
    done = DownloadProgress("org/m", BERT_BASE, done_bytes=441_147_338, elapsed_s=36.6, finished=True)
    assert done.describe() == "Downloaded org/m (441.1 MB in 37 s); loading it"
    assert done.fraction == 1.0


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_counts_bytes_shows_the_plan_first_and_reports_at_most_ten_times_a_second():
    clock, seen = Clock(), []
    tracker = Tracker("org/m", BERT_BASE, seen.append, clock=clock)
    tracker.report_plan()
    tracker.start_file("model.safetensors")
    bar = FileBar(tracker, unit="B", unit_scale=True, total=440_449_768, initial=0, desc="model.safetensors")
    with bar:
        clock.now += 0.2
        bar.update(1_000_000)  # within the plan's 0.3 s: the plan stays in view
        clock.now += 0.2
        bar.update(1_000_000)
        clock.now += 0.05
        bar.update(1_000_000)  # 50 ms after the last report: counted, not reported
        clock.now += 0.06
        bar.update(1_000_000)
    assert [(p.done_bytes, p.current, p.elapsed_s) for p in seen] == [
        (0, "", 0.0), (2_000_000, "model.safetensors", pytest.approx(0.4)),
        (4_000_000, "model.safetensors", pytest.approx(0.51))]
    tracker.report(force=True, finished=True)
    assert seen[-1].finished and seen[-1].current == "" and seen[-1].done_bytes == 4_000_000


def test_a_restarted_file_is_counted_once():
    clock = Clock()
    tracker = Tracker("org/m", BERT_BASE, None, clock=clock)
    tracker.start_file("tokenizer.json")
    tracker.add(466_062)
    tracker.end_file(466_062)
    tracker.start_file("model.safetensors")
    bar = FileBar(tracker)
    bar.update(3_000_000)
    bar.update(-3_000_000)  # huggingface_hub's Range was ignored: the file starts over, the bar goes back
    bar.update(440_449_768)
    tracker.end_file(440_449_768)
    assert tracker.done_bytes == 466_062 + 440_449_768


def progress(done: int = 0) -> DownloadProgress:
    return DownloadProgress("org/m", BERT_BASE, done_bytes=done, elapsed_s=1.0)


def leaving(seen: list) -> callable:
    def callback(update: DownloadProgress) -> None:
        seen.append(update)
        raise DownloadCancelled("my page closed")

    return callback


def test_every_watcher_gets_the_progress_and_a_late_one_the_latest_at_once():
    watchers, first, second = Watchers(), [], []
    with watchers.joined(first.append):
        watchers(progress(1))
        with watchers.joined(second.append):
            watchers(progress(2))
        watchers(progress(3))
    assert [p.done_bytes for p in first] == [1, 2, 3]
    assert [p.done_bytes for p in second] == [1, 2]


def test_a_download_nobody_watches_is_never_cancelled():
    watchers = Watchers()
    watchers(progress(1))
    with watchers.joined(None) as membership:
        watchers(progress(2))
    assert not membership.left


def test_a_watcher_that_leaves_stops_the_download_only_when_it_was_the_last():
    watchers, staying, gone = Watchers(), [], []
    with watchers.joined(staying.append) as stays, watchers.joined(leaving(gone)) as leaves:
        watchers(progress(1))  # one left, one still waits: the download goes on
        watchers(progress(2))
    assert [p.done_bytes for p in staying] == [1, 2] and len(gone) == 1
    assert leaves.left and not stays.left

    alone = Watchers()
    with alone.joined(leaving([])) as membership, pytest.raises(DownloadCancelled, match=(
            r"^The download of org/m was cancelled: every request waiting for it was cancelled or its page closed\. "
            r"Files already complete are kept; the next try fetches the rest\.$")):
        alone(progress(1))
    assert membership.left


def test_a_broken_watcher_only_removes_itself():
    watchers, staying = Watchers(), []

    def broken(update: DownloadProgress) -> None:
        raise RuntimeError("a bug in one page's callback")

    with watchers.joined(staying.append), watchers.joined(broken):
        watchers(progress(1))
        watchers(progress(2))
    assert [p.done_bytes for p in staying] == [1, 2]


def test_the_reporter_is_the_one_installed_around_the_call():
    seen: list = []
    assert downloads.reporter() is None
    with downloads.reporting_to(seen.append):
        assert downloads.reporter() == seen.append
        with downloads.reporting_to(None):
            assert downloads.reporter() is None
    assert downloads.reporter() is None


class DownloadingLoader:
    """Reports download progress to whatever the cache installed, a step at a time as the test releases them."""

    def __init__(self):
        self.calls = 0
        self.step = threading.Semaphore(0)
        self.reported = threading.Event()

    def __call__(self, source, head, device, dtype, online) -> LoadedModel:
        self.calls += 1
        report = downloads.reporter()
        for done in (0, 1, 2):
            report(progress(done))
            self.reported.set()
            assert self.step.acquire(timeout=DEADLINE_S)
        return LoadedModel(source=source, head=head, model=None, tokenizer=ThreadSafeTokenizer(object()),
                           device=device, dtype=None, size_bytes=0, load_seconds=0.0)


def cache_with(loader, tmp_path: Path) -> ModelCache:
    return ModelCache(device="cpu", dtype=torch.float32, budget_bytes=1 << 30, cache_dir=tmp_path, loader=loader)


def in_thread(target) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(target())
        except Exception as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def load_reporting_to(cache: ModelCache, callback) -> LoadedModel:
    with downloads.reporting_to(callback):
        return cache.load("org/m", Head.ENCODER)


class Seen(list):
    """A progress callback that keeps what it got and signals each arrival."""

    def __init__(self):
        super().__init__()
        self.arrived = threading.Semaphore(0)

    def __call__(self, update: DownloadProgress) -> None:
        self.append(update)
        self.arrived.release()


def test_a_request_waiting_for_a_load_sees_the_download_the_first_one_runs(tmp_path):
    loader = DownloadingLoader()
    cache = cache_with(loader, tmp_path)
    owner_seen, waiter_seen = Seen(), Seen()
    owner, owner_outcome = in_thread(lambda: load_reporting_to(cache, owner_seen))
    assert owner_seen.arrived.acquire(timeout=DEADLINE_S)
    waiter, waiter_outcome = in_thread(lambda: load_reporting_to(cache, waiter_seen))
    # The waiter gets the latest report as it joins (in its own thread), then the rest from the owner's thread.
    for _step in range(3):
        assert waiter_seen.arrived.acquire(timeout=DEADLINE_S)
        loader.step.release()
    owner.join(DEADLINE_S)
    waiter.join(DEADLINE_S)
    assert isinstance(owner_outcome[0], LoadedModel) and waiter_outcome[0] is owner_outcome[0]
    assert loader.calls == 1
    assert [p.done_bytes for p in owner_seen] == [0, 1, 2] and [p.done_bytes for p in waiter_seen] == [0, 1, 2]


def test_when_every_waiting_request_has_gone_the_download_stops_and_nothing_is_kept(tmp_path):
    loader = DownloadingLoader()
    cache = cache_with(loader, tmp_path)
    gone: list = []
    owner, outcome = in_thread(lambda: load_reporting_to(cache, leaving(gone)))
    owner.join(DEADLINE_S)  # its request left at the first report, the only one watching: the report raised
    assert isinstance(outcome[0], DownloadCancelled) and len(gone) == 1 and not loader.reported.is_set()
    assert cache.report().entries == ()


def test_a_request_that_joins_a_download_everyone_else_left_starts_it_again(tmp_path):
    class LeftOnce(DownloadingLoader):
        def __call__(self, *args):
            if self.calls:
                return super().__call__(*args)
            self.calls += 1
            downloads.reporter()(progress(0))
            self.reported.set()
            assert self.step.acquire(timeout=DEADLINE_S)
            raise DownloadCancelled("everyone who watched it left")

    loader = LeftOnce()
    cache = cache_with(loader, tmp_path)
    first, first_outcome = in_thread(lambda: load_reporting_to(cache, None))  # a script: it watches nothing
    assert loader.reported.wait(DEADLINE_S)  # the first load is under way
    joined = Seen()
    second, second_outcome = in_thread(lambda: load_reporting_to(cache, joined))
    assert joined.arrived.acquire(timeout=DEADLINE_S)  # the second request waits for the first load
    loader.step.release()  # which is cancelled under its feet: the second one starts it again
    for _step in range(3):
        assert joined.arrived.acquire(timeout=DEADLINE_S)
        loader.step.release()
    first.join(DEADLINE_S)
    second.join(DEADLINE_S)
    assert isinstance(first_outcome[0], DownloadCancelled)
    assert isinstance(second_outcome[0], LoadedModel) and loader.calls == 2


class ReadTimeout(Exception):
    """Named as httpx's (huggingface_hub's messages are matched by class name)."""


class RemoteProtocolError(Exception):
    """Named as httpx's."""


def tracker_at(done: int) -> Tracker:
    tracker = Tracker("org/m", (("model.safetensors", 4_000_000), ("vocab.txt", 500_000)), None)
    tracker.done_bytes = done
    return tracker


KEPT = "Nothing half-downloaded was kept (files already complete were); "


@pytest.mark.parametrize(("error", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device"),
     (f"This server's disk filled up while downloading org/m's model.safetensors (1.5 MB of 4.5 MB received), so the "
     f"download stopped. {KEPT}free some space (or set HF_HOME to a larger disk) and try again.")),
    (ReadTimeout("The read operation timed out"),
     (f"The Hub stopped sending org/m's model.safetensors (1.5 MB of 4.5 MB received) and did not resume when asked "
     f"again, so the download was abandoned. {KEPT}try again in a moment.")),
    (RemoteProtocolError("peer closed connection without sending complete message body"),
     (f"The connection to the Hub dropped while downloading org/m's model.safetensors (1.5 MB of 4.5 MB received) and "
     f"could not be resumed, so the download was abandoned. {KEPT}try again in a moment.")),
    (OSError("Consistency check failed: file should be of size 4000000 but has size 3999000 (model.safetensors)."),
     ("org/m's model.safetensors (1.5 MB of 4.5 MB received) arrived with the wrong size, so it was not kept. Try "
     "again in a moment.")),
    (KeyError("something else"),
     (f"org/m's model.safetensors (1.5 MB of 4.5 MB received) could not be downloaded (KeyError). {KEPT}try again in "
     f"a moment.")),
])
def test_a_download_that_stops_says_what_how_far_and_why(error, expected):
    assert str(hub._explain_download("org/m", "model.safetensors", tracker_at(1_500_000), error)) == expected


def test_the_reason_is_found_behind_the_error_huggingface_hub_wraps_it_in():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as full:
            raise RuntimeError("wrapped") from full
    except RuntimeError as wrapped:
        explained = hub._explain_download("org/m", "model.safetensors", tracker_at(0), wrapped)
    assert isinstance(explained, DiskFull)


def test_a_cancelled_download_keeps_its_own_message():
    cancelled = DownloadCancelled("The download of org/m was cancelled.")
    assert hub._explain_download("org/m", "model.safetensors", tracker_at(0), cancelled) is cancelled


def test_a_download_the_disk_has_no_room_for_is_refused_first(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "not-yet" / "hub"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(hub.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1_000_000, 1_000_000))
    with pytest.raises(DiskFull) as full:
        hub._check_room("org/m", BERT_BASE)
    assert str(full.value) == (
        "This server's disk has 1.0 MB free where models are kept and org/m needs 441.1 MB, so it was not "
        "downloaded. Free some space (or set HF_HOME to a larger disk) and try again.")
    hub._check_room("org/m", (("vocab.txt", 231_508),))  # fits
    assert isinstance(full.value, ModelUnavailable)


def test_the_models_panel_names_the_hub_it_came_from_but_a_public_server_not_its_mirror(monkeypatch):
    from huggingface_hub import constants

    fetched = hub.Fetched("org/m", "86b5e0934494bd15c9632b12f734a8a67f723594", 3, 441_147_338, 35.04)
    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    assert fetched.describe() == fetched.describe(public=True) == (
        "downloaded 441.1 MB from huggingface.co in 35.0 s (revision 86b5e09)")
    monkeypatch.setattr(constants, "ENDPOINT", "http://mirror.internal:8080")
    assert fetched.describe() == "downloaded 441.1 MB from mirror.internal:8080 in 35.0 s (revision 86b5e09)"
    assert fetched.describe(public=True) == "downloaded 441.1 MB from a Hub mirror in 35.0 s (revision 86b5e09)"
    assert hub.Fetched("org/m", "86b5e09", 0, 0, 0.1).describe() == "from this machine's Hugging Face cache"
