"""Start-up housekeeping: what a crashed run left behind (half-extracted models, fine-tuning folders) is removed."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Staging folders of the offline model's extraction and of tiny checkpoint builds (models/sources.py).
STAGING_PATTERNS = ("offline/.extract-*", "tiny/*/.build-*")
# The fine-tuning lab's per-session folders (saved models for download), in the system temp dir.
FINETUNE_PREFIX = "bertviz-finetune-"


def remove_stale_files(cache_dir: Path, *, staging_age_s: float = 600.0, finetune_age_s: float = 6 * 3600.0,
                       temp_dir: Path | None = None) -> list[Path]:
    """Remove leftovers older than the given ages (younger ones may belong to another server building right now).

    Args:
        cache_dir: the app's cache directory (BERTVIZ_UI_CACHE_DIR).
        staging_age_s: minimum age of an extraction or build staging folder to remove.
        finetune_age_s: minimum age of a fine-tuning folder to remove (a session lasts at most its idle limit).
        temp_dir: where the lab's folders are (default: the system temp dir).

    Returns:
        The folders removed.
    """
    now = time.time()
    candidates = [(path, staging_age_s) for pattern in STAGING_PATTERNS for path in cache_dir.glob(pattern)]
    temp = temp_dir or Path(tempfile.gettempdir())
    candidates += [(path, finetune_age_s) for path in temp.glob(FINETUNE_PREFIX + "*")]
    removed = []
    for path, age in candidates:
        try:
            if path.is_dir() and not path.is_symlink() and now - path.stat().st_mtime > age:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        except OSError:
            continue
    if removed:
        log.info("Removed %d folders left by earlier runs", len(removed))
    return removed
