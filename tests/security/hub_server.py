"""A Hub-compatible HTTP server for tests: real repo names served from tiny checkpoints, a fake huge repo, 401s.

It answers what huggingface_hub 2.x and transformers 5 request when HF_ENDPOINT points at it (found by logging
every request, not guessed):

- ``GET /api/models/{repo}`` and ``GET /api/models/{repo}/revision/{rev}``: the repo's info with ``siblings``;
  with ``?blobs=true`` (``HfApi().model_info(files_metadata=True)``) each sibling also has ``size``, ``blobId``
  and, for LFS files, ``lfs: {size, sha256, pointerSize}``.
- ``HEAD`` and ``GET /{repo}/resolve/{rev}/{file}``: ``ETag``, ``X-Repo-Commit``, ``Content-Length``, plus
  ``X-Linked-Size`` and ``X-Linked-Etag`` for LFS files (as the Hub sends before its CDN redirect).
  A missing file is 404 with ``X-Error-Code: EntryNotFound``.
- An unknown repo is 401 with ``X-Error-Code: RepoNotFound``: what huggingface.co answers an anonymous client
  (a missing repo and a private one look the same); huggingface_hub raises RepositoryNotFoundError for it.
  ``unknown_repo_status = 404`` answers as the Hub does a signed-in client.
- A gated repo's metadata is public (``gated: "auto"``); its files answer 401 with ``X-Error-Code: GatedRepo``.
- A file GET with ``Range: bytes=N-`` (huggingface_hub resuming a dropped transfer) is answered 206 from byte N.
- A Transfer set for a file makes the server a slow, stalling, flaky or paused Hub for it; every file transfer is
  recorded (TransferRecord: from which byte, how far it got, whether the client hung up).

A file declared by size only (the fake 140 GB repo's shards) has no bytes: asking for it answers 500, and every
request is recorded, so a test can assert that no weight file was ever asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from bertviz_ui.models.sources import tiny_checkpoint
from bertviz_ui.registry import Head

# Files the real Hub stores with Git LFS: their metadata has an lfs block, their HEAD an X-Linked-Size.
LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".ot", ".onnx", ".pt", ".pth")
UNKNOWN_REPO_STATUS = 401


@dataclass(frozen=True)
class RepoFile:
    """One file of a served repo: its bytes, or a declared size alone (then it is never served)."""

    size: int
    content: bytes | None = None


@dataclass
class Repo:
    """A served repository: files by path; ``broken_metadata`` makes its /api/models endpoint answer 500; a ``gated``
    one's files answer 401 GatedRepo (no token is ever sent)."""

    name: str
    files: dict[str, RepoFile] = field(default_factory=dict)
    broken_metadata: bool = False
    gated: bool = False

    @property
    def sha(self) -> str:
        """The commit hash of its only revision (any 40 hex digits do; derived from the name to be stable)."""
        return hashlib.sha1(f"commit:{self.name}".encode()).hexdigest()


@dataclass
class Transfer:
    """How the server sends one file's bytes; offsets count from the file's start, whatever byte a response starts at.

    Attributes:
        rate: bytes per second; None: as fast as the socket takes them.
        hold_at: the first response stops here until ``release`` is set (``holding`` is set when it gets there),
            sending a byte every 0.2 s meanwhile so the client's read timeout does not fire.
        drop_at, drops: the next ``drops`` responses (-1: all) close the connection on reaching ``drop_at``.
        stall_at, stalls: the next ``stalls`` responses (-1: all) send nothing more from ``stall_at`` on and close
            after ``stall_s``.
    """

    rate: float | None = None
    hold_at: int | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    drop_at: int | None = None
    drops: int = 0
    stall_at: int | None = None
    stalls: int = 0
    stall_s: float = 3.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, kind: str) -> bool:
        """Whether this response drops (``kind="drops"``) or stalls (``"stalls"``), counting it."""
        with self._lock:
            left = getattr(self, kind)
            if left == 0:
                return False
            if left > 0:
                setattr(self, kind, left - 1)
            return True


@dataclass
class TransferRecord:
    """One response carrying a file's bytes: from ``start`` (a resumed transfer starts past 0) to ``reached``."""

    repo: str
    path: str
    start: int
    size: int
    reached: int = 0
    hung_up: bool = False  # the client closed the connection before the last byte
    ended: threading.Event = field(default_factory=threading.Event)

    @property
    def complete(self) -> bool:
        return self.ended.is_set() and self.reached == self.size


def is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def _blob_sha(content: bytes | None, size: int) -> str:
    """Git's blob id of the content (of a placeholder for size-only files)."""
    data = content if content is not None else b""
    return hashlib.sha1(b"blob %d\0" % size + data).hexdigest()


def _sha256(content: bytes | None, size: int) -> str:
    return hashlib.sha256(content if content is not None else f"declared:{size}".encode()).hexdigest()


def repo_from_directory(name: str, directory: Path) -> Repo:
    """A repo holding every file of a saved checkpoint directory (top level, as save_pretrained writes it)."""
    files = {path.name: RepoFile(path.stat().st_size, path.read_bytes())
             for path in sorted(directory.iterdir()) if path.is_file() and not path.name.startswith(".")}
    return Repo(name, files)


def huge_repo(name: str = "meta-llama/Llama-2-70b-hf", shards: int = 29, total_bytes: int = 140_000_000_000) -> Repo:
    """A 140 GB sharded repo: small config, tokenizer and index files with content; weight shards by size only."""
    shard_names = [f"model-{i:05d}-of-{shards:05d}.safetensors" for i in range(1, shards + 1)]
    index = {"metadata": {"total_size": total_bytes},
             "weight_map": {f"model.layers.{i}.weight": shard for i, shard in enumerate(shard_names)}}
    text_files = {
        "config.json": json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}).encode(),
        "generation_config.json": b"{}",
        "model.safetensors.index.json": json.dumps(index).encode(),
        "tokenizer_config.json": b"{}",
    }
    files = {path: RepoFile(len(content), content) for path, content in text_files.items()}
    for shard in shard_names:
        files[shard] = RepoFile(total_bytes // shards)
    return Repo(name, files)


def sharded_checkpoint(head: Head, cache_dir: Path) -> Path:
    """The tiny checkpoint of ``head`` saved again in 2 MB shards with a model.safetensors.index.json (built once)."""
    from transformers import AutoModel, AutoModelForTokenClassification

    target = cache_dir / "tiny-sharded" / head.value
    if (target / "model.safetensors.index.json").is_file():
        return target
    source = tiny_checkpoint(head, cache_dir)
    auto = AutoModelForTokenClassification if head is Head.TOKEN_CLASSIFICATION else AutoModel
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        auto.from_pretrained(source).save_pretrained(staging, max_shard_size="2MB")
        for path in source.iterdir():
            if path.name.startswith("tokenizer") or path.name == "special_tokens_map.json":
                shutil.copyfile(path, staging / path.name)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def standard_repos(cache_dir: Path) -> dict[str, Repo]:
    """The repos the tests use, under the names the app knows them by.

    - google-bert/bert-base-uncased: the tiny masked-LM checkpoint (no classification head, like the real one).
    - dslim/bert-base-NER: the tiny token-classification checkpoint, in shards with an index.
    - meta-llama/Llama-2-70b-hf: 140 GB in 29 shards, declared only.
    - bertviz-tests/broken-metadata: its files are there, its metadata endpoint fails.
    """
    broken = repo_from_directory("bertviz-tests/broken-metadata", tiny_checkpoint(Head.ENCODER, cache_dir))
    broken.broken_metadata = True
    repos = [
        repo_from_directory("google-bert/bert-base-uncased", tiny_checkpoint(Head.MASKED_LM, cache_dir)),
        repo_from_directory("dslim/bert-base-NER", sharded_checkpoint(Head.TOKEN_CLASSIFICATION, cache_dir)),
        huge_repo(),
        broken,
    ]
    return {repo.name: repo for repo in repos}


class HubServer:
    """A threaded Hub-compatible server on 127.0.0.1 (port 0: a free one); records every request it gets.

    Args:
        repos: the repos it serves, by name.
    """

    def __init__(self, repos: dict[str, Repo]):
        self.repos = repos
        self.requests: list[tuple[str, str]] = []
        self.transfers: dict[tuple[str, str], Transfer] = {}  # (repo, path) -> how its bytes are sent
        self.records: list[TransferRecord] = []
        self.unknown_repo_status = UNKNOWN_REPO_STATUS
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def requested(self, repo: str) -> list[tuple[str, str]]:
        """The (method, path) of every request that named ``repo``, in order."""
        with self._lock:
            return [(m, p) for m, p in self.requests if f"/{repo}/" in p or p.split("?")[0].endswith(f"/{repo}")]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.records.clear()

    def begin_transfer(self, repo: str, path: str, start: int, size: int) -> TransferRecord:
        record = TransferRecord(repo, path, start, size, reached=start)
        with self._lock:
            self.records.append(record)
        return record

    def transfers_of(self, repo: str, path: str) -> list[TransferRecord]:
        """Every response that carried bytes of ``repo``'s ``path``, in order."""
        with self._lock:
            return [record for record in self.records if (record.repo, record.path) == (repo, path)]


# What may follow a repo name in /api/models/{repo}/...: the endpoints this server knows or refuses knowingly.
_API_ACTIONS = {"revision", "tree", "paths-info", "refs", "commits", "discussions"}


def _range_start(header: str | None, size: int) -> int:
    """The first byte a ``Range: bytes=N-`` header asks for (0 without one, or for one past the end)."""
    match = re.fullmatch(r"bytes=(\d+)-", (header or "").strip())
    start = int(match.group(1)) if match else 0
    return start if start < size else 0


def _split_api_path(rest: str) -> tuple[str, str, str]:
    """'org/name/tree/main/dir' -> ('org/name', 'tree', 'main/dir'); repo ids have one or two parts."""
    parts = rest.strip("/").split("/")
    for end in (1, 2):
        if len(parts) > end and parts[end] in _API_ACTIONS:
            return "/".join(parts[:end]), parts[end], "/".join(parts[end + 1:])
    return "/".join(parts), "", ""


def _handler_for(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:
            """Silent: requests are recorded on the server instead of printed."""

        def do_HEAD(self) -> None:
            self._dispatch(body=False)

        def do_GET(self) -> None:
            self._dispatch(body=True)

        def do_POST(self) -> None:
            self._drain()
            self._dispatch(body=True)

        def _drain(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)

        def _dispatch(self, body: bool) -> None:
            server.record(self.command, self.path)
            parts = urlsplit(self.path)
            path = parts.path
            if path.startswith("/api/models/") and self.command in ("GET", "HEAD"):
                name, action, rest = _split_api_path(unquote(path[len("/api/models/"):]))
                if action == "tree":
                    revision, _, folder = rest.partition("/")
                    self._tree(name, revision, folder, body)
                elif action in ("", "revision"):
                    self._model_info(name, rest, parse_qs(parts.query), body)
                else:
                    self._send(404, {"error": "Not found"}, body)
            elif "/resolve/" in path and self.command in ("GET", "HEAD"):
                repo, rest = path.lstrip("/").split("/resolve/", 1)
                revision, _, filename = rest.partition("/")
                self._resolve(unquote(repo), unquote(revision), unquote(filename), body)
            else:
                self._send(404, {"error": "Not found"}, body, {"X-Error-Code": "EntryNotFound"})

        def _repo(self, name: str, body: bool) -> Repo | None:
            repo = server.repos.get(name)
            if repo is None:
                self._send(server.unknown_repo_status, {"error": "Repository not found"}, body,
                           {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            return repo

        def _model_info(self, name: str, revision: str, query: dict, body: bool) -> None:
            repo = self._repo(name, body)
            if repo is None:
                return
            if revision and revision not in ("main", repo.sha):
                self._send(404, {"error": "Invalid rev id"}, body, {"X-Error-Code": "RevisionNotFound"})
                return
            if repo.broken_metadata:
                self._send(500, {"error": "Internal Error - We're working hard to fix this as soon as possible!"},
                           body)
                return
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for path, file in sorted(repo.files.items()):
                sibling: dict = {"rfilename": path}
                if blobs:
                    sibling.update(size=file.size, blobId=_blob_sha(file.content, file.size))
                    if is_lfs(path):
                        sibling["lfs"] = {"size": file.size, "sha256": _sha256(file.content, file.size),
                                          "pointerSize": 134}
                siblings.append(sibling)
            info = {"_id": repo.sha[:24], "id": repo.name, "modelId": repo.name, "sha": repo.sha, "private": False,
                    "gated": "auto" if repo.gated else False, "disabled": False, "downloads": 0, "likes": 0, "tags": ["transformers"],
                    "library_name": "transformers", "lastModified": "2024-01-01T00:00:00.000Z",
                    "siblings": siblings}
            self._send(200, info, body)

        def _tree(self, name: str, revision: str, folder: str, body: bool) -> None:
            """One level of a folder: transformers lists additional_chat_templates/ when it loads a tokenizer."""
            repo = self._repo(name, body)
            if repo is None:
                return
            prefix = folder.strip("/") + "/" if folder.strip("/") else ""
            entries, folders = [], set()
            for path, file in sorted(repo.files.items()):
                if not path.startswith(prefix):
                    continue
                head, _, tail = path[len(prefix):].partition("/")
                if tail:
                    folders.add(prefix + head)
                else:
                    entries.append({"type": "file", "oid": _blob_sha(file.content, file.size), "size": file.size,
                                    "path": path})
            if prefix and not entries and not folders:
                self._send(404, {"error": f"{folder} does not exist on {revision}"}, body,
                           {"X-Error-Code": "EntryNotFound"})
                return
            self._send(200, [*({"type": "directory", "oid": "0" * 40, "size": 0, "path": f} for f in sorted(folders)),
                             *entries], body)

        def _resolve(self, name: str, revision: str, filename: str, body: bool) -> None:
            repo = self._repo(name, body)
            if repo is None:
                return
            if revision not in ("main", repo.sha):
                self._send(404, {"error": "Invalid rev id"}, body, {"X-Error-Code": "RevisionNotFound"})
                return
            if repo.gated:
                message = (f"Access to model {repo.name} is restricted. You must have access to it and be "
                           "authenticated to access it. Please log in.")
                self._send(401, {"error": message}, body, {"X-Error-Code": "GatedRepo", "X-Error-Message": message})
                return
            file = repo.files.get(filename)
            if file is None:
                self._send(404, {"error": "Entry not found"}, body,
                           {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found",
                            "X-Repo-Commit": repo.sha})
                return
            if file.content is None:
                self._send(500, {"error": "This test server never serves declared-only files"}, body)
                return
            headers = {"X-Repo-Commit": repo.sha, "Content-Type": "application/octet-stream"}
            if is_lfs(filename):
                etag = f'"{_sha256(file.content, file.size)}"'
                headers.update({"ETag": etag, "X-Linked-Etag": etag, "X-Linked-Size": str(file.size)})
            else:
                headers["ETag"] = f'"{_blob_sha(file.content, file.size)}"'
            start = _range_start(self.headers.get("Range"), len(file.content)) if body else 0
            if not body:
                self._send_bytes(200, file.content, body, headers)
                return
            if start:
                headers["Content-Range"] = f"bytes {start}-{len(file.content) - 1}/{len(file.content)}"
            self.send_response(206 if start else 200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(file.content) - start))
            self.end_headers()
            transfer = server.transfers.get((repo.name, filename)) or Transfer()
            record = server.begin_transfer(repo.name, filename, start, len(file.content))
            try:
                self._stream(file.content, start, transfer, record)
            except (BrokenPipeError, ConnectionResetError):
                record.hung_up = True
            finally:
                record.ended.set()

        def _stream(self, data: bytes, start: int, transfer: Transfer, record: TransferRecord) -> None:
            """Send data[start:] as ``transfer`` says, in 64 kB pieces (so a client that hangs up is noticed)."""
            drops = transfer.drop_at is not None and transfer.take("drops")
            stalls = transfer.stall_at is not None and transfer.stall_at >= start and transfer.take("stalls")
            began, position = time.monotonic(), start
            while position < len(data):
                stop = len(data)
                for mark in (transfer.drop_at if drops else None, transfer.stall_at if stalls else None,
                             transfer.hold_at if not transfer.holding.is_set() else None):
                    if mark is not None and mark >= position:
                        stop = min(stop, mark)
                if position == stop:
                    if drops and position == transfer.drop_at:
                        self.close_connection = True
                        return
                    if stalls and position == transfer.stall_at:
                        threading.Event().wait(transfer.stall_s)
                        self.close_connection = True
                        return
                    transfer.holding.set()
                    while not transfer.release.wait(0.2) and time.monotonic() - began < 60:
                        self.wfile.write(data[position:position + 1])  # a byte now and then: no read timeout
                        self.wfile.flush()
                        position += 1
                        record.reached = position
                    continue
                piece = data[position:min(stop, position + 65536)]
                self.wfile.write(piece)
                self.wfile.flush()
                position += len(piece)
                record.reached = position
                if transfer.rate:
                    threading.Event().wait(max(0.0, began + (position - start) / transfer.rate - time.monotonic()))

        def _send(self, status: int, payload: dict | list, body: bool, headers: dict | None = None) -> None:
            self._send_bytes(status, json.dumps(payload).encode(), body,
                             {"Content-Type": "application/json", **(headers or {})})

        def _send_bytes(self, status: int, data: bytes, body: bool, headers: dict) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler
