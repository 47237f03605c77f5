"""Cross-request batching: forwards for the same model that arrive within a short window run as one padded batch.

A classroom presses the same button within seconds; each request alone is a forward of one short sentence, and a
forward of 16 sentences costs a few times one, not 16 times. ``MicroBatcher.run`` lets the first request of a group
wait for others (until none joined for ``window_s``, at most a few windows, or until the model's previous batch
finishes), pads them together (or packs them into one sequence: fill_mask, sentiment), runs one forward
and hands each caller its own rows, cut back to its own length: the numbers a lone call gives (tests pin 1e-5).
A batch that fails is re-run one request at a time, so a failing input fails only itself.

Hand-written because Gradio's ``batch=True`` events batch per event, fail the whole batch with one bad input, and
can't mix models; a serving engine's batching (Ray Serve's ``@serve.batch``) would mean a second server.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model
from bertviz_ui.tasks.modeling import model_inputs

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_WINDOW_S = 0.01
# The first request of a batch waits while others keep joining, at most this many windows in all.
MAX_WINDOWS = 4
DEFAULT_MAX_ROWS = 16
# Padded tokens in one batch (rows x longest): a long text never makes 15 short ones wait on a 16 x 512 forward.
DEFAULT_MAX_TOKENS = 4096


@dataclass
class _Batch(Generic[T]):
    items: list[T] = field(default_factory=list)
    futures: list[Future] = field(default_factory=list)
    rows: int = 0
    width: int = 0
    full: threading.Event = field(default_factory=threading.Event)

    def fits(self, rows: int, width: int, max_rows: int, max_tokens: int) -> bool:
        together = self.rows + rows
        return together <= max_rows and together * max(self.width, width) <= max_tokens


@dataclass(frozen=True)
class BatchStats:
    """What the batcher did: forwards run (a re-run after a failure counts), requests served, the largest batch."""

    forwards: int
    requests: int
    largest: int


class MicroBatcher:
    """Groups concurrent calls that share a key into one call of a batch function.

    Args:
        window_s: how long the first request of a batch waits for others; 0 turns batching off (every call runs
            alone, at once, as without a batcher).
        max_rows: rows (sentences) in one batch at most.
        max_tokens: rows x longest row in one batch at most (a request bigger than that runs alone).
    """

    def __init__(self, window_s: float = DEFAULT_WINDOW_S, max_rows: int = DEFAULT_MAX_ROWS,
                 max_tokens: int = DEFAULT_MAX_TOKENS):
        self.window_s = window_s
        self.max_rows = max_rows
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._open: dict[Hashable, _Batch] = {}
        self._runs: dict[Hashable, tuple[threading.Lock, int]] = {}  # key -> (its run lock, batches holding it)
        self._forwards = self._requests = self._largest = 0

    @property
    def enabled(self) -> bool:
        return self.window_s > 0

    def stats(self) -> BatchStats:
        with self._lock:
            return BatchStats(self._forwards, self._requests, self._largest)

    def run(self, key: Hashable, item: T, run_batch: Callable[[list[T]], Sequence[R]], *, rows: int = 1,
            width: int = 1) -> R:
        """``run_batch([item, ...])[i]`` for this call's item, batched with concurrent calls under the same key.

        Args:
            key: calls batch together only with the same key (the model and what is computed).
            item: this call's input.
            run_batch: items -> one result per item, in order; called with one item when running alone.
            rows, width: the item's rows and longest row in tokens (for the batch's caps).
        """
        if not self.enabled:
            return self._call(run_batch, [item])[0]
        future: Future = Future()
        with self._lock:
            batch = self._open.get(key)
            leader = batch is None or not batch.fits(rows, width, self.max_rows, self.max_tokens)
            if leader:
                if batch is not None:
                    batch.full.set()  # its leader starts now; this call leads the next batch
                batch = _Batch()
                self._open[key] = batch
                run_lock = self._hold_run_lock(key)
            batch.items.append(item)
            batch.futures.append(future)
            batch.rows += rows
            batch.width = max(batch.width, width)
            if batch.rows >= self.max_rows:
                batch.full.set()
        if not leader:
            return future.result()
        try:
            self._gather(batch)
            with run_lock:  # one batch of a key at a time: calls that arrive meanwhile join the next one
                with self._lock:
                    if self._open.get(key) is batch:
                        del self._open[key]
                self._execute(batch, run_batch)
        finally:
            self._release_run_lock(key)
        return future.result()

    def _gather(self, batch: _Batch) -> None:
        """Wait until no request joined for ``window_s`` (a class's clicks reach the handlers a few ms apart, one
        after another), the batch is full, or MAX_WINDOWS windows have passed."""
        deadline = time.monotonic() + self.window_s * MAX_WINDOWS
        while True:
            joined = len(batch.items)
            left = deadline - time.monotonic()
            if left <= 0 or batch.full.wait(min(self.window_s, left)) or len(batch.items) == joined:
                return

    def _hold_run_lock(self, key: Hashable) -> threading.Lock:
        lock, holders = self._runs.get(key, (None, 0))
        lock = lock or threading.Lock()
        self._runs[key] = (lock, holders + 1)
        return lock

    def _release_run_lock(self, key: Hashable) -> None:
        with self._lock:
            lock, holders = self._runs[key]
            if holders <= 1:
                del self._runs[key]  # keys name models: none is kept once its batches are done
            else:
                self._runs[key] = (lock, holders - 1)

    def _call(self, run_batch: Callable[[list[T]], Sequence[R]], items: list[T]) -> Sequence[R]:
        results = run_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"A batch of {len(items)} gave {len(results)} results.")
        with self._lock:
            self._forwards += 1
            self._requests += len(items)
            self._largest = max(self._largest, len(items))
        return results

    def _execute(self, batch: _Batch, run_batch: Callable[[list[T]], Sequence[R]]) -> None:
        try:
            self._settle(batch, run_batch)
        finally:  # whatever escaped (a BaseException), no caller is left waiting
            for future in batch.futures:
                if not future.done():
                    future.set_exception(RuntimeError("The batch this request was in stopped."))

    def _settle(self, batch: _Batch, run_batch: Callable[[list[T]], Sequence[R]]) -> None:
        try:
            for future, result in zip(batch.futures, self._call(run_batch, batch.items), strict=True):
                future.set_result(result)
            return
        except Exception as error:  # noqa: BLE001 - re-run alone below, so each caller gets its own outcome
            if len(batch.items) == 1:
                batch.futures[0].set_exception(error)
                return
            log.info("A batch of %d failed (%s); running its requests one at a time.", len(batch.items),
                     type(error).__name__)
        for item, future in zip(batch.items, batch.futures, strict=True):
            try:
                future.set_result(self._call(run_batch, [item])[0])
            except Exception as error:  # noqa: BLE001 - this caller's own failure, raised in its own thread
                future.set_exception(error)


# --- Padded forwards --------------------------------------------------------------------------------------------

def pad_together(parts: Sequence[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """Stack encodings of any row counts and lengths into one right-padded batch.

    Padding: ``pad_id`` for input_ids, 0 elsewhere; an attention mask of ones is made for a part without one, so
    padded positions are masked and the real tokens keep their positions (BERT, RoBERTa: right padding).
    """
    width = max(int(part["input_ids"].shape[1]) for part in parts)
    names = {name for part in parts for name in part} | {"attention_mask"}
    batch = {}
    for name in sorted(names):
        rows = []
        for part in parts:
            tensor = part.get(name)
            if tensor is None:
                tensor = torch.ones_like(part["input_ids"]) if name == "attention_mask" else torch.zeros_like(
                    part["input_ids"])
            fill = pad_id if name == "input_ids" else 0
            rows.append(torch.nn.functional.pad(tensor, (0, width - tensor.shape[1]), value=fill))
        batch[name] = torch.cat(rows)
    return batch


# Tokens in one packed sequence at most: its attention is total x total per head (1024 tokens: 4 MB a head).
MAX_PACKED_TOKENS = 1024


def packed_hidden(model: Model, sequences: Sequence[Sequence[int]],
                  token_types: Sequence[Sequence[int]] | None = None) -> tuple[torch.Tensor, list[int]]:
    """The encoder's last hidden states for several sequences run as one, without padding.

    The sequences are concatenated (each keeps its own [CLS] ... [SEP]), positions restart at 0 for each, and a
    block-diagonal attention mask keeps each from seeing the others: the same arithmetic as one forward per
    sequence, with none of the padding a padded batch computes. Only for encoders with plain positions
    (anatomy.plain_positions: BERT, DistilBERT).

    Returns:
        (hidden [total tokens, width], where each sequence starts in it).
    """
    base = anatomy.encoder(model)
    parameter = next(model.parameters())
    device, dtype = parameter.device, parameter.dtype
    ids = torch.tensor([token for sequence in sequences for token in sequence], device=device)[None]
    positions = torch.cat([torch.arange(len(sequence), device=device) for sequence in sequences])[None]
    total = ids.shape[1]
    mask = torch.full((total, total), torch.finfo(dtype).min, dtype=dtype, device=device)
    starts, cursor = [], 0
    for sequence in sequences:
        mask[cursor:cursor + len(sequence), cursor:cursor + len(sequence)] = 0
        starts.append(cursor)
        cursor += len(sequence)
    inputs = {"input_ids": ids, "attention_mask": mask[None, None], "position_ids": positions}
    if "token_type_ids" in inspect.signature(base.forward).parameters:
        types = [t for row in token_types for t in row] if token_types is not None else None
        inputs["token_type_ids"] = (torch.tensor(types, device=device)[None] if types is not None
                                    else torch.zeros_like(ids))
    return base(**inputs)[0][0], starts


def pad_id_of(model: Model) -> int:
    pad = getattr(getattr(model, "config", None), "pad_token_id", None)
    return int(pad) if pad is not None else 0


def forward(model: Model, encoding: Any, *, outputs: tuple[str, ...] = ("logits",), per_token: bool = False,
            batcher: MicroBatcher | None = None) -> tuple[torch.Tensor, ...]:
    """The model's named outputs for ``encoding`` (any rows), in float32, batched with concurrent requests.

    Args:
        model: a model whose forward returns ``outputs`` (e.g. "logits"; "start_logits", "end_logits").
        encoding: tokenizer output with tensors.
        outputs: the output fields wanted.
        per_token: the outputs have a token axis (NER, QA): each caller's rows are cut back to its own length.
        batcher: batches with concurrent calls on the same model; None runs alone.

    Returns:
        One tensor per output, this encoding's rows only.
    """
    inputs = {name: tensor.cpu() for name, tensor in model_inputs(model, encoding).items()}
    rows, width = int(inputs["input_ids"].shape[0]), int(inputs["input_ids"].shape[1])

    def run_batch(parts: list[dict[str, torch.Tensor]]) -> list[tuple[torch.Tensor, ...]]:
        together = parts[0] if len(parts) == 1 else pad_together(parts, pad_id_of(model))
        with torch.inference_mode():
            result = model(**model_inputs(model, together))
        tensors = [getattr(result, name).float().cpu() for name in outputs]
        split, start = [], 0
        for part in parts:
            count, length = int(part["input_ids"].shape[0]), int(part["input_ids"].shape[1])
            split.append(tuple(t[start:start + count, :length] if per_token else t[start:start + count]
                               for t in tensors))
            start += count
        return split

    if batcher is None:
        return run_batch([inputs])[0]
    return batcher.run((id(model), "forward", outputs, per_token), inputs, run_batch, rows=rows, width=width)
