"""The app in its default mode (not --tiny) against the local Hub-compatible server, through Gradio's queue as a browser
uses it (join, then the SSE stream): the first click downloads the real default repo (a tiny checkpoint served under
its name) with its progress in the tab; a slow, stalling, dropping, missing, gated or disk-filling download says why,
the Hugging Face cache holds no half file afterwards, and the next try works.

Where the kernel allows it (a user and mount namespace: `unshare -rm`), the app's HF_HOME is a 64 MB tmpfs of its
own, so the full-disk cases fill a real disk and the write fails with the kernel's ENOSPC; elsewhere those two tests
are skipped (tests/unit/test_downloads.py simulates ENOSPC at the write instead).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bertviz_ui.models.downloads import format_size
from bertviz_ui.models.sources import tiny_checkpoint
from bertviz_ui.registry import Head
from tests import queue_stream
from tests.conftest import running_app
from tests.e2e.helpers import PAGE_LOAD_MS, plot_svg
from tests.queue_stream import Call
from tests.security.hub_server import HubServer, Transfer, TransferRecord, repo_from_directory

pytestmark = [pytest.mark.security, pytest.mark.hub]

BERT = "google-bert/bert-base-uncased"  # Masked words' default, as the standard repos serve it
WEIGHTS = "model.safetensors"
TEXT = "The cat [MASK] on the mat."
TMPFS = "64m"
DEADLINE_S = 60
# Served by this module only, each the tiny masked LM, so that every test downloads afresh.
SLOW = "distilbert/distilbert-base-uncased"  # one of Masked words' own choices
MISSING = "bertviz-tests/published-later"
GATED = "bertviz-tests/gated-bert"
STALLING = "bertviz-tests/stalling-bert"
DROPPING = "bertviz-tests/dropping-bert"
DROPS_ONCE = "bertviz-tests/drops-once-bert"
FILLS_DISK = "bertviz-tests/disk-filling-bert"
WATCHED = "bertviz-tests/watched-in-a-browser"
TOO_BIG_FOR_DISK = "bertviz-tests/too-big-for-the-disk"
MODULE_REPOS = (SLOW, GATED, STALLING, DROPPING, DROPS_ONCE, FILLS_DISK, TOO_BIG_FOR_DISK, WATCHED)
KEPT = "Nothing half-downloaded was kept (files already complete were); "


def private_disk_possible(where: Path) -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs in a namespace of its own."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs '{where}'"],
                           capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@dataclass
class HubApp:
    url: str
    pid: int
    home: Path  # HF_HOME, as the app sees it
    private_disk: bool
    fn_index: dict[str, int]

    def path(self, inside: Path) -> Path:
        """A path of the app's as this process reaches it: through /proc/PID/root when it is on the app's own tmpfs."""
        return Path(f"/proc/{self.pid}/root{inside}") if self.private_disk else inside

    def blobs(self, repo: str) -> Path:
        return self.path(self.home / "hub" / f"models--{repo.replace('/', '--')}" / "blobs")

    def snapshot_files(self, repo: str) -> set[str]:
        snapshots = self.path(self.home / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots")
        return {path.name for path in snapshots.glob("*/*")}


@pytest.fixture(scope="module")
def hub_app(hub_server: HubServer, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubApp]:
    """`python app.py` (default mode) with HF_ENDPOINT on the test server and an empty HF_HOME of its own."""
    masked_lm = tiny_checkpoint(Head.MASKED_LM, cache_dir)
    for name in MODULE_REPOS:
        hub_server.repos[name] = repo_from_directory(name, masked_lm)
    hub_server.repos[GATED].gated = True
    base = tmp_path_factory.mktemp("hub-app")
    home = base / "hf-home"
    home.mkdir()
    private = private_disk_possible(home)
    prefix = ("unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size={TMPFS} tmpfs "$HF_HOME" && exec "$@"', "sh")
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(home),
           "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_TOKEN": "",
           # A stalled transfer is given up after 1 s without a byte (then retried by huggingface_hub), not 10.
           "HF_HUB_DOWNLOAD_TIMEOUT": "1"}
    try:
        with running_app([], cache_dir, base, env=env, prefix=prefix if private else ()) as (url, process):
            yield HubApp(url, process.pid, home, private, queue_stream.fn_indexes(url))
    finally:
        for name in MODULE_REPOS:
            hub_server.repos.pop(name, None)
        hub_server.transfers.clear()


def call(app: HubApp, api_name: str, data: list, leave_when: Callable[[Call], bool] | None = None) -> Call:
    return queue_stream.call(app.url, app.fn_index[api_name], data, leave_when=leave_when, timeout_s=DEADLINE_S * 2)


def fill_mask(app: HubApp, model: str, **options) -> Call:
    return call(app, "fill_mask", [model, TEXT, 3], **options)


def top_tokens(result: Call) -> list[str]:
    return [prediction["token"] for prediction in result.output[3]["masks"][0]["predictions"]]


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for something another process does (it has no event to wait on), within a generous deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"still not true after {DEADLINE_S} s: {what}"
        threading.Event().wait(0.05)


def assert_no_half_files(app: HubApp, repo: str) -> None:
    """huggingface_hub deletes a failed transfer's temporary file as the error unwinds: wait for it, then look."""
    eventually(lambda: not list(app.blobs(repo).glob("*.incomplete")), f"{repo}'s partial file is deleted")
    assert WEIGHTS not in app.snapshot_files(repo)


def assert_fetched_once(records: list[TransferRecord]) -> None:
    """The file was fetched from its first byte once, to its last: a read that timed out on a loaded machine may be
    resumed (huggingface_hub asks for the rest with a Range header), never started over."""
    assert records and records[0].start == 0, records
    assert all(record.start > 0 for record in records[1:]), records
    assert records[-1].complete and not records[-1].hung_up, records


def to_fetch(hub_server: HubServer, repo: str) -> tuple[int, int]:
    """The bytes a first load of ``repo`` downloads with progress, and how many files: config.json comes earlier,
    when the download is planned."""
    files = {path: file.size for path, file in hub_server.repos[repo].files.items() if path != "config.json"}
    return sum(files.values()), len(files)


def test_the_first_click_downloads_the_default_model_with_its_progress_in_the_tab(hub_app, hub_server):
    hub_server.transfers[(BERT, WEIGHTS)] = Transfer(rate=2_000_000)  # about two seconds: several reports
    try:
        result = fill_mask(hub_app, BERT)
    finally:
        del hub_server.transfers[(BERT, WEIGHTS)]

    assert len(top_tokens(result)) == 3
    total, count = to_fetch(hub_server, BERT)
    weights = hub_server.repos[BERT].files[WEIGHTS].size
    descriptions = [desc for desc, _fraction in result.progress]
    # Before any byte: what will be fetched and its size.
    assert descriptions[0] == (f"Downloading {BERT} from the Hub: {count} files, {format_size(total)} "
                               f"({WEIGHTS}: {format_size(weights)})")
    during = [desc for desc in descriptions if " MB/s" in desc]
    assert len(during) >= 3, descriptions
    assert all(re.fullmatch(rf"Downloading {BERT}: \d+\.\d MB of {format_size(total)} at \d+\.\d MB/s"
                            rf"(, about \d+ s left)? \(({WEIGHTS}|tokenizer.*|special_tokens_map.json)\)", desc)
               for desc in during), during
    fractions = [fraction for _desc, fraction in result.progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert re.fullmatch(rf"Downloaded {BERT} \({format_size(total)} in \d+ s\); loading it", descriptions[-1])
    assert_fetched_once(hub_server.transfers_of(BERT, WEIGHTS))

    # The Models panel says where it came from.
    table = call(hub_app, "models", []).output[1]
    row = next(row for row in table["data"] if row[0] == BERT)
    assert re.fullmatch(rf"Hub: {BERT}, downloaded {format_size(total)} from 127\.0\.0\.1:\d+ in \d+\.\d s "
                        rf"\(revision {hub_server.repos[BERT].sha[:7]}\)", row[table["headers"].index("source")])


def test_a_slow_download_stops_when_its_page_closes_and_the_next_try_starts_afresh(hub_app, hub_server):
    hub_server.transfers[(SLOW, WEIGHTS)] = Transfer(rate=750_000)  # 6 s for the weights: plenty of time to leave

    def receiving(running: Call) -> bool:
        return any(" MB/s" in desc and WEIGHTS in desc for desc, _fraction in running.progress)

    left = fill_mask(hub_app, SLOW, leave_when=receiving)
    assert left.completed is None and re.search(r"at \d+\.\d MB/s, about \d+ s left", left.progress[-1][0])
    first = hub_server.transfers_of(SLOW, WEIGHTS)[0]
    assert first.ended.wait(DEADLINE_S)
    # The app hung up: the rest of the file was never sent.
    assert first.hung_up and first.reached < first.size
    assert_no_half_files(hub_app, SLOW)

    del hub_server.transfers[(SLOW, WEIGHTS)]
    assert len(top_tokens(fill_mask(hub_app, SLOW))) == 3
    assert_fetched_once(hub_server.transfers_of(SLOW, WEIGHTS)[1:])


def test_a_repo_that_is_not_on_the_hub_says_so_and_loads_once_published(hub_app, hub_server, cache_dir):
    hub_server.unknown_repo_status = 404  # as the Hub answers a signed-in client
    try:
        assert fill_mask(hub_app, MISSING).error == f"No model named {MISSING} on the Hub (or it is private)."
    finally:
        hub_server.unknown_repo_status = 401
    hub_server.repos[MISSING] = repo_from_directory(MISSING, tiny_checkpoint(Head.MASKED_LM, cache_dir))
    try:
        assert len(top_tokens(fill_mask(hub_app, MISSING))) == 3
    finally:
        del hub_server.repos[MISSING]


def test_a_gated_repo_says_so_and_downloads_nothing_until_it_opens(hub_app, hub_server):
    assert fill_mask(hub_app, GATED).error == (
        f"{GATED} is gated on the Hub (it needs an accepted licence and a token), so this server can't download it.")
    assert hub_server.transfers_of(GATED, WEIGHTS) == [] and hub_app.snapshot_files(GATED) == set()
    hub_server.repos[GATED].gated = False
    assert len(top_tokens(fill_mask(hub_app, GATED))) == 3


def test_a_stalled_transfer_is_abandoned_with_a_message_and_the_next_try_works(hub_app, hub_server):
    # Every response stops after 1.5 MB; huggingface_hub waits 1 s for a byte, resumes, and gives up after 5 tries.
    hub_server.transfers[(STALLING, WEIGHTS)] = Transfer(stall_at=1_500_000, stalls=-1, stall_s=3)
    try:
        error = fill_mask(hub_app, STALLING).error
    finally:
        del hub_server.transfers[(STALLING, WEIGHTS)]
    total, _count = to_fetch(hub_server, STALLING)
    assert re.fullmatch(rf"The Hub stopped sending {STALLING}'s {WEIGHTS} \(\d\.\d MB of {format_size(total)} "
                        rf"received\) and did not resume when asked again, so the download was abandoned\. "
                        rf"{re.escape(KEPT)}try again in a moment\.", error), error
    assert len(hub_server.transfers_of(STALLING, WEIGHTS)) == 6  # the first try and 5 resumptions
    assert_no_half_files(hub_app, STALLING)
    assert len(top_tokens(fill_mask(hub_app, STALLING))) == 3


def test_a_connection_that_keeps_dropping_is_given_up_with_a_message_and_the_next_try_works(hub_app, hub_server):
    hub_server.transfers[(DROPPING, WEIGHTS)] = Transfer(drop_at=1_500_000, drops=-1)
    try:
        error = fill_mask(hub_app, DROPPING).error
    finally:
        del hub_server.transfers[(DROPPING, WEIGHTS)]
    total, _count = to_fetch(hub_server, DROPPING)
    assert re.fullmatch(rf"The connection to the Hub dropped while downloading {DROPPING}'s {WEIGHTS} \(\d\.\d MB of "
                        rf"{format_size(total)} received\) and could not be resumed, so the download was abandoned\. "
                        rf"{re.escape(KEPT)}try again in a moment\.", error), error
    assert_no_half_files(hub_app, DROPPING)
    assert len(top_tokens(fill_mask(hub_app, DROPPING))) == 3


def test_a_connection_dropped_once_resumes_where_it_stopped_with_the_same_bytes(hub_app, hub_server):
    hub_server.transfers[(DROPS_ONCE, WEIGHTS)] = Transfer(drop_at=2_500_000, drops=1)
    try:
        resumed = fill_mask(hub_app, DROPS_ONCE)
    finally:
        del hub_server.transfers[(DROPS_ONCE, WEIGHTS)]
    records = hub_server.transfers_of(DROPS_ONCE, WEIGHTS)
    # huggingface_hub wrote two whole 1 MB chunks before the drop and asked for the rest from there.
    assert [(record.start, record.reached) for record in records] == [(0, 2_500_000), (2**21, records[1].size)]
    # Same checkpoint as the default model's: same predictions, so the file was put back together byte for byte.
    assert resumed.output[3]["masks"] == fill_mask(hub_app, BERT).output[3]["masks"]


def fill_disk(app: HubApp, leave_free: int) -> Path:
    """Fill the app's own tmpfs to the last byte (a real file on a real, full filesystem), then give ``leave_free``
    bytes back: whatever the app writes meanwhile, the disk ends with about that much room."""
    ballast = app.path(app.home / "ballast")
    with ballast.open("wb", buffering=0) as handle:
        try:
            while handle.write(b"\0" * 2**20):
                pass
        except OSError as full:
            assert full.errno == errno.ENOSPC, full
        handle.truncate(max(0, handle.seek(0, os.SEEK_END) - leave_free))
    return ballast


def test_a_disk_that_fills_up_mid_download_says_so_and_the_next_try_works_once_there_is_room(hub_app, hub_server):
    if not hub_app.private_disk:
        pytest.skip("no tmpfs of the app's own here (unshare -rm not permitted)")
    transfer = hub_server.transfers[(FILLS_DISK, WEIGHTS)] = Transfer(hold_at=1_500_000)
    results: list[Call] = []
    worker = threading.Thread(target=lambda: results.append(fill_mask(hub_app, FILLS_DISK)))
    worker.start()
    try:
        assert transfer.holding.wait(DEADLINE_S)  # the space was checked and bytes arrive: now the disk fills
        ballast = fill_disk(hub_app, leave_free=200_000)
    finally:
        transfer.release.set()
        worker.join(DEADLINE_S)
        del hub_server.transfers[(FILLS_DISK, WEIGHTS)]
    total, _count = to_fetch(hub_server, FILLS_DISK)
    assert re.fullmatch(rf"This server's disk filled up while downloading {FILLS_DISK}'s {WEIGHTS} \(\d\.\d MB of "
                        rf"{format_size(total)} received\), so the download stopped\. {re.escape(KEPT)}free some "
                        rf"space \(or set HF_HOME to a larger disk\) and try again\.", results[0].error)
    assert_no_half_files(hub_app, FILLS_DISK)
    ballast.unlink()
    assert len(top_tokens(fill_mask(hub_app, FILLS_DISK))) == 3


def test_a_download_the_disk_has_no_room_for_is_refused_before_it_starts(hub_app, hub_server):
    if not hub_app.private_disk:
        pytest.skip("no tmpfs of the app's own here (unshare -rm not permitted)")
    ballast = fill_disk(hub_app, leave_free=1_000_000)
    try:
        error = fill_mask(hub_app, TOO_BIG_FOR_DISK).error
    finally:
        ballast.unlink()
    total, _count = to_fetch(hub_server, TOO_BIG_FOR_DISK)
    assert re.fullmatch(rf"This server's disk has \d\.\d MB free where models are kept and {TOO_BIG_FOR_DISK} needs "
                        rf"{format_size(total)}, so it was not downloaded\. Free some space \(or set HF_HOME to a "
                        rf"larger disk\) and try again\.", error), error
    assert hub_server.transfers_of(TOO_BIG_FOR_DISK, WEIGHTS) == []
    assert len(top_tokens(fill_mask(hub_app, TOO_BIG_FOR_DISK))) == 3


def test_in_the_browser_the_tab_says_what_it_downloads_then_how_far_it_got(hub_app, hub_server, page: Page):
    hub_server.transfers[(WATCHED, WEIGHTS)] = Transfer(rate=1_000_000)  # about four seconds
    total, count = to_fetch(hub_server, WATCHED)
    weights = hub_server.repos[WATCHED].files[WEIGHTS].size
    try:
        page.goto(hub_app.url)
        expect(page.locator("#tokenizer-run")).to_be_enabled(timeout=PAGE_LOAD_MS)
        page.get_by_role("tab", name="Masked words").click()
        # The tab's example sentence arrives with the page (ui/prefill.py): wait for it before pressing Predict.
        expect(page.locator("#fill-mask-text textarea")).not_to_have_value("", timeout=PAGE_LOAD_MS)
        page.locator("#fill-mask-model input").fill(WATCHED)
        page.locator("#fill-mask-model input").press("Enter")
        page.locator("#fill-mask-run").click()
        expect(page.get_by_text(f"Downloading {WATCHED} from the Hub: {count} files, {format_size(total)} "
                                f"({WEIGHTS}: {format_size(weights)})").first).to_be_visible(timeout=DEADLINE_S * 1000)
        expect(page.get_by_text(re.compile(rf"Downloading {WATCHED}: \d+\.\d MB of {format_size(total)} at "
                                           rf"\d+\.\d MB/s")).first).to_be_visible(timeout=DEADLINE_S * 1000)
        expect(plot_svg(page, "fill-mask-plot")).to_be_visible(timeout=DEADLINE_S * 1000)
    finally:
        hub_server.transfers.pop((WATCHED, WEIGHTS), None)
    page.get_by_role("tab", name="Models").click()
    page.locator("#models-refresh").click()
    expect(page.locator("#models-table").get_by_role(
        "gridcell", name=f"Hub: {WATCHED}, downloaded {format_size(total)} from 127.0.0.1:")).to_be_visible()
