"""What a classroom run reports: per-endpoint figures and their Markdown table, the server's RSS and CPU, and the
machine and checkout the figures come from."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import Call, Server, Table, _percentile


@dataclass(frozen=True)
class Figures:
    """One row of the table: requests, failed ones, and the p50/p95/max seconds and mean answer size (bytes) of the
    answered ones (None when none was answered)."""

    endpoint: str
    requests: int
    errors: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None
    mean_bytes: float | None


def figures(calls: Sequence[Call], endpoints: Sequence[str]) -> tuple[Figures, ...]:
    """One Figures per endpoint, in ``endpoints``' order, then one for "all" the calls together."""
    rows = []
    for name, mine in [*((e, [c for c in calls if c.endpoint == e]) for e in endpoints), ("all", list(calls))]:
        answered = [c for c in mine if c.ok]
        seconds = [c.seconds for c in answered]
        rows.append(Figures(name, len(mine), len(mine) - len(answered),
                            _percentile(seconds, 0.5) if seconds else None,
                            _percentile(seconds, 0.95) if seconds else None, max(seconds, default=None),
                            sum(c.bytes for c in answered) / len(answered) if answered else None))
    return tuple(rows)


def summary_table(rows: Sequence[Figures], title: str = "classroom") -> Table:
    """The rows as a load.Table (``.markdown()`` for the README): seconds to 2 decimals, KB per answer, "-" for none."""
    table = Table(title, header=("endpoint", "requests", "errors", "p50 s", "p95 s", "max s", "KB/answer"))
    for row in rows:
        table.rows.append((row.endpoint, row.requests, row.errors,
                           *("-" if x is None else f"{x:.2f}" for x in (row.p50_s, row.p95_s, row.max_s)),
                           "-" if row.mean_bytes is None else f"{row.mean_bytes / 1024:.0f}"))
    return table


def sample_rss(server: Server, stop: threading.Event, every_s: float = 1.0) -> tuple[threading.Thread, list[float]]:
    """A started thread appending the server's RSS (MB) to the list it returns, every ``every_s``, until ``stop``."""
    samples: list[float] = []

    def sample() -> None:
        while True:
            rss = server.rss_mb()
            if rss is not None:
                samples.append(round(rss, 1))
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread, samples


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (None without /proc or a pid)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def describe_machine() -> str:
    """CPU model, cores this process may use, RAM and the load average, for the table's caption."""
    model, memory = "unknown CPU", ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
        memory = f", {kb / 1024 ** 2:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"{model}, {cores} cores{memory}{load}"


def describe_checkout(app_dir: Path) -> str:
    """The commit app.py runs from, marked when tracked files differ from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(app_dir), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "no git commit"
    return commit + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")
