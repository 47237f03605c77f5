"""Ask the Hugging Face Hub about a repository before downloading it: which files a load fetches and their size."""

from __future__ import annotations

import functools
import json
import logging
import math
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models import downloads

log = logging.getLogger(__name__)

SETTING = "BERTVIZ_UI_MAX_MODEL_GB"
# config.json and the weight index are read to plan a download; real ones are kilobytes (Llama-2-70B's index: 66 kB).
MAX_JSON_BYTES = 16 * 2**20
DOWNLOAD_CHUNK_BYTES = 2**20

# What transformers 5 fetches for a config and a tokenizer besides weights: the names a BERT load asked a local
# Hub for (config.json, tokenizer_config.json, tokenizer.json, vocab.txt, added_tokens.json,
# special_tokens_map.json, chat_template.jinja, additional_chat_templates/), and other tokenizers' vocabularies.
CONFIG_AND_TOKENIZER_FILES = (
    "config.json", "tokenizer_config.json", "tokenizer.json", "special_tokens_map.json", "added_tokens.json",
    "chat_template.jinja", "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model",
    "tokenizer.model",
)
CHAT_TEMPLATE_DIR = "additional_chat_templates/"

# The order in which transformers 5 looks for weights when config.json names none (modeling_utils
# _get_resolved_checkpoint_files): a single safetensors file, its sharded index, then the PyTorch pickles.
WEIGHT_ENTRIES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class DownloadPlan:
    """The files a load of ``repo`` would download, with their sizes from the Hub's metadata.

    Attributes:
        repo: the Hub id.
        revision: the commit the sizes were read at.
        weights: (path, bytes) of each weight file (an index and every shard it names, for a sharded model).
        other: (path, bytes) of the config and tokenizer files.
    """

    repo: str
    revision: str
    weights: tuple[tuple[str, int], ...]
    other: tuple[tuple[str, int], ...]

    @property
    def total_bytes(self) -> int:
        return sum(size for _path, size in (*self.weights, *self.other))


def weight_files(has: Callable[[str], bool], explicit: str | None,
                 read_index: Callable[[str], Mapping[str, Any]]) -> tuple[str, ...]:
    """The weight files transformers 5 downloads for a model, as it picks them.

    Args:
        has: whether the repo has a file at this path.
        explicit: config.json's ``transformers_weights`` (a file it names is loaded instead of the defaults).
        read_index: the parsed JSON of an index file (``*.index.json``), for its ``weight_map``.

    Returns:
        The entry file and, when it is an index, every shard its weight_map names that the repo has; ()
        when the repo has no weights transformers would load.
    """
    entry = explicit if explicit else next((name for name in WEIGHT_ENTRIES if has(name)), None)
    if entry is None or not has(entry):
        return ()
    if not entry.endswith(".index.json"):
        return (entry,)
    weight_map = read_index(entry).get("weight_map") or {}
    if not isinstance(weight_map, Mapping):
        return (entry,)
    shards = sorted({str(shard) for shard in weight_map.values()})
    return (entry, *(shard for shard in shards if has(shard)))


def config_and_tokenizer_files(paths: Iterable[str]) -> tuple[str, ...]:
    """The files among ``paths`` that loading a config and a tokenizer fetches, sorted."""
    return tuple(sorted(path for path in paths if path in CONFIG_AND_TOKENIZER_FILES
                        or (path.startswith(CHAT_TEMPLATE_DIR) and path.endswith(".jinja")
                            and "/" not in path[len(CHAT_TEMPLATE_DIR):])))


def format_gb(size_bytes: int) -> str:
    """Bytes as gigabytes (1e9, as the Hub counts), with enough decimals that a small size is not shown as 0."""
    gb = size_bytes / 1e9
    if gb >= 0.1 or gb == 0:
        return f"{gb:.1f} GB"
    return f"{gb:.{1 - math.floor(math.log10(gb))}f} GB"


def plan_download(repo: str, *, weights: bool, timeout_s: float = 10.0) -> DownloadPlan:
    """Read the Hub's file metadata for ``repo`` (and its config.json and weight index, if any) and plan a load.

    Nothing but metadata and those small JSON files is fetched.

    Args:
        repo: a Hub id.
        weights: plan a model load (weights included), not a tokenizer alone.
        timeout_s: seconds to wait for each answer from the Hub.

    Returns:
        DownloadPlan. Raises ModelUnavailable when the repo does not exist, is gated or disabled, or its
        metadata can't be read (a download is never started blind).
    """
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(repo, files_metadata=True, timeout=timeout_s)
    except Exception as error:  # HTTP, network, parsing: each one means "don't download", with a message
        raise _explain(repo, error) from error
    sizes: dict[str, int | None] = {s.rfilename: s.lfs.size if s.lfs else s.size for s in info.siblings or ()}
    revision = info.sha or "main"

    def read_json(path: str) -> Mapping[str, Any]:
        size = _known_size(repo, path, sizes)
        if size > MAX_JSON_BYTES:
            raise ModelUnavailable(f"{repo}'s {path} is {format_gb(size)}, far larger than any real one, so the "
                                   "model was not downloaded.")
        return _download_json(repo, path, revision, timeout_s)

    weight_paths: tuple[str, ...] = ()
    if weights:
        config = read_json("config.json") if "config.json" in sizes else {}
        explicit = config.get("transformers_weights")
        weight_paths = weight_files(sizes.__contains__, str(explicit) if explicit else None, read_json)
    other_paths = config_and_tokenizer_files(sizes)
    return DownloadPlan(repo, revision, tuple((p, _known_size(repo, p, sizes)) for p in weight_paths),
                        tuple((p, _known_size(repo, p, sizes)) for p in other_paths))


def check_download_size(repo: str, max_bytes: int, *, weights: bool, timeout_s: float = 10.0) -> DownloadPlan:
    """Plan the download of ``repo`` and refuse it when it exceeds ``max_bytes``.

    Returns:
        The plan. Raises ModelUnavailable (with the size in GB and the setting to change) when it is too large,
        or when plan_download can't tell.
    """
    plan = plan_download(repo, weights=weights, timeout_s=timeout_s)
    if plan.total_bytes > max_bytes:
        what = "weights, config and tokenizer" if plan.weights else "config and tokenizer files"
        raise ModelUnavailable(f"{repo} has {format_gb(plan.total_bytes)} to download ({what}); this server "
                               f"downloads models up to {format_gb(max_bytes)} ({SETTING}).")
    return plan


@dataclass(frozen=True)
class Fetched:
    """What a fetch downloaded: how many files and bytes, from where, in how long."""

    repo: str
    revision: str
    files: int
    size_bytes: int
    seconds: float

    def describe(self, *, public: bool = False) -> str:
        """Where the model came from, for the Models panel (``public``: a mirror's host is not named)."""
        if not self.files:
            return "from this machine's Hugging Face cache"
        return (f"downloaded {downloads.format_size(self.size_bytes)} from {endpoint_name(public=public)} in "
                f"{self.seconds:.1f} s (revision {self.revision[:7]})")


def endpoint_name(*, public: bool = False) -> str:
    """The Hub this process downloads from: huggingface.co, or a mirror's host (HF_ENDPOINT); on a public server a
    mirror is "a Hub mirror": its address is the operator's business, as server paths are."""
    from huggingface_hub import constants

    host = urlsplit(constants.ENDPOINT).netloc or constants.ENDPOINT
    return host if host == "huggingface.co" or not public else "a Hub mirror"


def fetch(plan: DownloadPlan, progress: downloads.ProgressCallback | None = None) -> Fetched:
    """Download every file of a checked plan into the local Hugging Face cache, reporting progress.

    Done before the model is built, so the download runs while other models load: building itself is one at a time
    (bertviz_ui/building.py), and from_pretrained then finds every file here. Each file lands in the cache whole or
    not at all (huggingface_hub writes a temporary file and renames it; a failed transfer's is deleted), so a failed
    or cancelled fetch leaves the files already complete and the next one fetches the rest.

    Args:
        plan: from check_download_size.
        progress: gets the plan before any byte, then bytes and rate while files arrive; raising from it
            (DownloadCancelled) stops the download at the next chunk.

    Returns:
        Fetched. Raises ModelUnavailable (DiskFull, DownloadCancelled) with a message for the user.
    """
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache

    missing = tuple((path, size) for path, size in (*plan.other, *plan.weights)
                    if not isinstance(try_to_load_from_cache(plan.repo, path, revision=plan.revision), str))
    _check_room(plan.repo, missing)
    # Progress and cancellation act between chunks; huggingface_hub reads 10 MB at a time, so a slow link would show
    # nothing for many seconds and a cancelled download would go on as long. 1 MB costs nothing measurable.
    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, DOWNLOAD_CHUNK_BYTES)
    tracker = downloads.Tracker(plan.repo, missing, progress)
    if missing:
        tracker.report_plan()
    for path, size in missing:
        tracker.start_file(path)
        try:
            hf_hub_download(plan.repo, path, revision=plan.revision,
                            tqdm_class=functools.partial(downloads.FileBar, tracker))
        except Exception as error:  # HTTP, network, disk, cancelled: each one means "can't load", with a message
            raise _explain_download(plan.repo, path, tracker, error) from error
        tracker.end_file(size)
        tracker.report()
    if missing:
        tracker.report(force=True, finished=True)
    return Fetched(plan.repo, plan.revision, len(missing), tracker.done_bytes, tracker.elapsed_s)


def is_cached(repo: str, *, weights: bool) -> bool:
    """Whether a load of ``repo`` (at its main revision) would find its files in the local Hugging Face cache.

    Asks the cache only, never the Hub: a model downloaded before (or preloaded) needs no size check.
    """
    from huggingface_hub import try_to_load_from_cache

    def cached(path: str) -> str | None:
        found = try_to_load_from_cache(repo, path)
        return found if isinstance(found, str) else None

    def read(path: str) -> Mapping[str, Any]:
        found = cached(path)
        try:
            data = json.loads(Path(found).read_text(encoding="utf-8")) if found else {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, Mapping) else {}

    if not weights:
        return cached("tokenizer_config.json") is not None or cached("tokenizer.json") is not None
    if cached("config.json") is None:
        return False
    explicit = read("config.json").get("transformers_weights")
    files = weight_files(lambda path: cached(path) is not None, str(explicit) if explicit else None, read)
    if not files:
        return False
    # A shard the index names but the cache lacks would be downloaded: look for each one.
    index = read(files[0]).get("weight_map") if files[0].endswith(".index.json") else None
    expected = set(index.values()) if isinstance(index, Mapping) else set()
    return expected <= set(files)


def _download_json(repo: str, path: str, revision: str, timeout_s: float) -> Mapping[str, Any]:
    from huggingface_hub import hf_hub_download

    try:
        local = hf_hub_download(repo, path, revision=revision, etag_timeout=timeout_s)
    except Exception as error:  # HTTP, network, disk: each one means "don't download", with a message
        raise _explain(repo, error) from error
    try:
        data = json.loads(Path(local).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"{repo}'s {path} is not valid JSON, so the model can't be loaded.") from error
    if not isinstance(data, Mapping):
        raise ModelUnavailable(f"{repo}'s {path} is not a JSON object, so the model can't be loaded.")
    return data


def _explain(repo: str, error: BaseException) -> ModelUnavailable:
    """A message for the user (no URLs, no paths); the details go to the log."""
    from huggingface_hub.errors import DisabledRepoError, GatedRepoError, RepositoryNotFoundError

    if isinstance(error, ModelUnavailable):
        return error
    if isinstance(error, GatedRepoError):
        return ModelUnavailable(f"{repo} is gated on the Hub (it needs an accepted licence and a token), so this "
                                "server can't download it.")
    if isinstance(error, RepositoryNotFoundError):
        return ModelUnavailable(f"No model named {repo} on the Hub (or it is private).")
    if isinstance(error, DisabledRepoError):
        return ModelUnavailable(f"{repo} has been disabled on the Hub.")
    log.warning("Could not read the Hub's metadata for %s: %r", repo, error)
    return ModelUnavailable(f"The Hub's file list for {repo} could not be read, so the model was not downloaded "
                            "(its size is checked first). Try again in a moment.")


def _check_room(repo: str, files: tuple[tuple[str, int], ...]) -> None:
    """Refuse a download the disk holding the Hugging Face cache has no room for, before any byte is fetched."""
    from huggingface_hub import constants

    needed = sum(size for _path, size in files)
    place = Path(constants.HF_HUB_CACHE)
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        free = shutil.disk_usage(place).free
    except OSError:
        return  # can't tell: the download itself will say if the disk fills
    if needed and free < needed:
        raise downloads.DiskFull(
            f"This server's disk has {downloads.format_size(free)} free where models are kept and {repo} needs "
            f"{downloads.format_size(needed)}, so it was not downloaded. Free some space (or set HF_HOME to a larger "
            "disk) and try again.")


# What huggingface_hub's HTTP client raises when a transfer stops (httpx, its httpx2 fork, or requests in older
# versions): matched by class name, so the messages survive a change of client library.
_TIMEOUTS = ("TimeoutException", "ReadTimeout", "ConnectTimeout", "Timeout")
_DROPPED = ("RemoteProtocolError", "NetworkError", "ConnectError", "ReadError", "ConnectionError",
            "ChunkedEncodingError", "ProtocolError")


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _explain_download(repo: str, path: str, tracker: downloads.Tracker, error: BaseException) -> ModelUnavailable:
    """A message for a download that stopped: what, how far, why, and that the cache holds no half file."""
    from huggingface_hub.errors import DisabledRepoError, GatedRepoError, RepositoryNotFoundError

    chain = _causes(error)
    for cause in chain:
        if isinstance(cause, ModelUnavailable):
            return cause
        if isinstance(cause, GatedRepoError | RepositoryNotFoundError | DisabledRepoError):
            return _explain(repo, cause)
    where = (f"{repo}'s {path} ({downloads.format_size(tracker.done_bytes)} of "
             f"{downloads.format_size(sum(size for _path, size in tracker.files))} received)")
    kept = "Nothing half-downloaded was kept (files already complete were); "
    if any(downloads.is_disk_full(cause) for cause in chain):
        return downloads.DiskFull(f"This server's disk filled up while downloading {where}, so the download "
                                  f"stopped. {kept}free some space (or set HF_HOME to a larger disk) and try again.")
    names = {kind.__name__ for cause in chain for kind in type(cause).__mro__}
    log.warning("Downloading %s from %s failed: %r", path, repo, error)
    if names & set(_TIMEOUTS):
        return ModelUnavailable(f"The Hub stopped sending {where} and did not resume when asked again, so the "
                                f"download was abandoned. {kept}try again in a moment.")
    if names & set(_DROPPED):
        return ModelUnavailable(f"The connection to the Hub dropped while downloading {where} and could not be "
                                f"resumed, so the download was abandoned. {kept}try again in a moment.")
    if any("Consistency check failed" in str(cause) for cause in chain):
        return ModelUnavailable(f"{where} arrived with the wrong size, so it was not kept. Try again in a moment.")
    status = next((getattr(getattr(cause, "response", None), "status_code", None) for cause in chain
                   if getattr(getattr(cause, "response", None), "status_code", None)), None)
    if status:
        return ModelUnavailable(f"The Hub answered HTTP {status} for {where}, so the model was not downloaded. "
                                "Try again in a moment.")
    return ModelUnavailable(f"{where} could not be downloaded ({type(error).__name__}). {kept}try again in a "
                            "moment.")


def _known_size(repo: str, path: str, sizes: Mapping[str, int | None]) -> int:
    size = sizes.get(path)
    if size is None:
        raise ModelUnavailable(f"The Hub did not say how large {repo}'s {path} is, so the model was not downloaded "
                               "(its size is checked first).")
    return int(size)
