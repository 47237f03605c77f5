"""Where the standalone exports are written: one temp folder per app, kept within a byte budget."""

from __future__ import annotations

import datetime
import tempfile
import threading
import uuid
from pathlib import Path

from gradio.utils import get_upload_folder

# Exports kept on disk at once (each holds plotly.js: about 4.9 MB); past it the oldest go first. The folder is inside
# Gradio's own cache, which Gradio serves without copying: a copy per export (Gradio's default for files elsewhere)
# would escape this budget, and a client exporting in a loop could fill the disk within delete_cache's hour.
MAX_EXPORT_BYTES = 256 * 1024 * 1024
PREFIX = "bertviz_ui-exports-"


class ExportFolder:
    """Where exports are written: one temp folder per app, at most ``max_bytes`` in all (oldest files deleted).

    Args:
        folder: the folder (default: a new folder in Gradio's cache, made on first write).
        max_bytes: the budget; the newest file is always kept, even alone over it.
    """

    def __init__(self, folder: Path | None = None, max_bytes: int = MAX_EXPORT_BYTES):
        self._folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        with self._lock:
            if self._folder is None:
                cache = Path(get_upload_folder())
                cache.mkdir(parents=True, exist_ok=True)
                self._folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=cache))
            self._folder.mkdir(parents=True, exist_ok=True)
            return self._folder

    def write(self, stem: str, document: str) -> Path:
        """Write ``document`` as ``<stem>-<time>-<random>.html``, then delete the oldest files past the budget."""
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{stem}-{stamp}-{uuid.uuid4().hex[:8]}.html"
        path.write_text(document, encoding="utf-8")
        self._prune(keep=path)
        return path

    def _prune(self, keep: Path) -> None:
        with self._lock:
            files = []
            for file in keep.parent.glob("*.html"):
                try:
                    files.append((file.stat().st_mtime_ns, file.stat().st_size, file))
                except FileNotFoundError:  # deleted meanwhile by another request's prune
                    continue
            total = sum(size for _, size, _ in files)
            for _, size, file in sorted(files):
                if total <= self.max_bytes:
                    break
                if file == keep:
                    continue
                file.unlink(missing_ok=True)
                total -= size
