"""Loading one model from its source: tokenizer and weights through transformers, placed on a device, made safe
to share across threads, with load errors turned into messages for the user. Only the model cache calls this."""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import BertvizError, ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.policy import check_tokenizer_config
from bertviz_ui.models.sources import OFFLINE_LABEL, ModelSource
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.registry import Head

log = logging.getLogger(__name__)


class HubUnreachable(ModelUnavailable):
    """The model is not on this machine and the Hugging Face Hub can't be reached."""


class ThreadSafeTokenizer:
    """A tokenizer whose calls hold a lock.

    A fast tokenizer shared across threads raises "RuntimeError: Already borrowed" when two calls
    change its truncation or padding at once; serializing calls is cheap next to a forward pass.
    """

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer
        self._lock = threading.RLock()

    @property
    def unwrapped(self) -> Any:
        """The underlying tokenizer, for code that holds no lock (single-threaded references, tests)."""
        return self._tokenizer

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tokenizer(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._tokenizer)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._tokenizer, name)
        if not callable(attribute) or isinstance(attribute, type):
            return attribute

        @functools.wraps(attribute)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


@dataclass(frozen=True)
class LoadedModel:
    """A model (or a tokenizer alone) ready to use.

    Attributes:
        source: where it came from.
        head: what was loaded.
        model: the torch module in eval mode on ``device``; None for Head.TOKENIZER.
        tokenizer: its tokenizer, safe to share across threads.
        device: torch device string.
        dtype: "float32", "bfloat16", ...; None for a tokenizer alone.
        size_bytes: parameters and buffers in memory (0 for a tokenizer alone).
        load_seconds: time spent loading.
        newly_initialized: weights the checkpoint lacked (a head that starts untrained).
        fallback_from: the model that was asked for, when the offline model stands in for it.
        origin: how a Hub model got here ("downloaded 440.5 MB from huggingface.co in 35.0 s (revision 86b5e09)", "from
            this machine's Hugging Face cache"); "" for other sources.
        quantization: "int8 (dynamic)" when the transformer layers' weights are int8 (models/quantization.py); "".
        fp32_size_bytes: the size before quantization; 0 when not quantized.
    """

    source: ModelSource
    head: Head
    model: Model | None
    tokenizer: ThreadSafeTokenizer
    device: str
    dtype: str | None
    size_bytes: int
    load_seconds: float
    newly_initialized: tuple[str, ...] = ()
    fallback_from: str | None = None
    origin: str = ""
    quantization: str = ""
    fp32_size_bytes: int = 0

    @property
    def label(self) -> str:
        """What the tab shows about where this model came from, and its precision when quantized."""
        if self.fallback_from:
            where = f"{OFFLINE_LABEL} (real weights; {self.fallback_from} can't be had without the Hub)"
        else:
            where = self.source.label
        return f"{where} — {self.precision_label}" if self.quantization else where

    @property
    def precision_label(self) -> str:
        """Both sizes of a quantized model ("int8 (dynamic): 91.2 MB, fp32 would be 417.7 MB"); "" otherwise."""
        if not self.quantization:
            return ""
        return (f"{self.quantization}: {self.size_bytes / 2**20:.1f} MB, fp32 would be "
                f"{self.fp32_size_bytes / 2**20:.1f} MB")


_IMPORT_LOCK = threading.Lock()


def import_transformers() -> Any:
    """transformers, with the Auto classes the cache uses resolved once, under a lock.

    transformers imports them lazily on first access; two threads doing that at the same moment made one of them read
    "module 'transformers' has no attribute 'AutoTokenizer'" (seen with 10 visitors loading different models at once).
    """
    with _IMPORT_LOCK:
        import transformers

        for name in ("AutoConfig", "AutoTokenizer", *sorted(set(anatomy.AUTO_CLASSES.values()))):
            getattr(transformers, name)
    return transformers


# An absolute path in a library's message (not the path part of a URL): the server's layout is nobody's business.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/[^\s'\"(),]+")


def without_paths(text: str, source: ModelSource) -> str:
    """A library's message with the model's directory shown as the name asked for, and other server paths hidden."""
    return _ABSOLUTE_PATH.sub("(a server path)", text.replace(source.location, source.ref))


def forget_locals(error: BaseException | None) -> None:
    """Clear the local variables of the finished frames in an error's tracebacks (and its causes').

    A loader's or an accept check's frame holds the model it was given; the exception, handed to every waiter
    and shown to the user, would otherwise keep a refused model in memory.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__




@one_build_at_a_time
def load_pretrained(source: ModelSource, head: Head, device: str, dtype: Any, hub_online: bool) -> LoadedModel:
    """Load a tokenizer and, unless only a tokenizer is asked for, a model with ``head``.

    Args:
        source: where from.
        head: which head (Head.TOKENIZER loads the tokenizer alone).
        device: where the model goes.
        dtype: weights' dtype for inference.
        hub_online: whether the Hub can be reached; if not, only files already cached are used.

    Returns:
        LoadedModel. Raises ModelUnavailable (HubUnreachable when the Hub is the problem).
    """
    transformers = import_transformers()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # transformers would otherwise start a thread for a .bin-only Hub repo that asks a conversion Space to open a pull
    # request and then downloads the converted weights: a second download, past the size cap, to nobody's benefit.
    os.environ["DISABLE_SAFETENSORS_CONVERSION"] = "1"
    kwargs = {"local_files_only": True} if source.kind == "hub" and not hub_online else {}
    started = time.perf_counter()
    try:
        tokenizer_config = transformers.utils.cached_file(
            source.location, "tokenizer_config.json", _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False, **kwargs)
        if tokenizer_config:
            check_tokenizer_config(Path(tokenizer_config), source.ref)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.location, **kwargs)
        model, missing = None, ()
        if head is not Head.TOKENIZER:
            auto_class = getattr(transformers, anatomy.auto_class(head))
            model, info = auto_class.from_pretrained(source.location, dtype=dtype, output_loading_info=True,
                                                     **kwargs)
            missing = tuple(sorted(info.get("missing_keys", ())))
            prepare_for_inference(model, head, device, dtype)
    except BertvizError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise _explain_load_error(source, head, error, hub_online) from error
    size = 0
    if model is not None:
        size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    return LoadedModel(
        source=source,
        head=head,
        model=model,
        tokenizer=ThreadSafeTokenizer(tokenizer),
        device=device if model is not None else "cpu",
        dtype=str(dtype).replace("torch.", "") if model is not None else None,
        size_bytes=size,
        load_seconds=time.perf_counter() - started,
        newly_initialized=missing,
    )


def prepare_for_inference(model: Model, head: Head, device: str, dtype: Any) -> None:
    """Place a freshly built model on its device and dtype in eval mode, with its weights laid out for speed."""
    model.to(device=device, dtype=dtype).eval()
    if head is Head.MASKED_LM and device == "cpu":
        column_major_vocabulary(model)


def column_major_vocabulary(model: Model) -> None:
    """Store the vocabulary projection column-major (same values, same tensor, no extra memory).

    Fill-mask applies the 30k-row projection to one or a few hidden states. On CPU, BLAS multiplies a
    single row by a row-major [vocab, hidden] weight at about half the memory bandwidth (7 ms vs 3.7 ms
    for bert-base here); column-major storage takes the fast path, leaves 16+-row products as fast as
    before, and the tied input embedding still looks rows up cheaply.
    """
    output = model.get_output_embeddings()
    weight = getattr(output, "weight", None)
    if weight is not None and weight.dim() == 2 and weight.is_contiguous():
        weight.data = weight.data.t().contiguous().t()


def _explain_load_error(source: ModelSource, head: Head, error: BaseException, hub_online: bool) -> ModelUnavailable:
    what = head.description
    detail = without_paths(first_line(error), source)
    if "Unrecognized configuration class" in detail:
        why = " RoBERTa and most later encoders were pretrained without NSP." if head is Head.NEXT_SENTENCE else ""
        return ModelUnavailable(f"{source.ref} can't be used as a {what} model: its architecture has no such "
                                f"head.{why}")
    if "Unrecognized model" in detail:
        return ModelUnavailable(f"{source.ref} has no usable model configuration (config.json): it may serve as a "
                                f"tokenizer, not as a {what} model.")
    if source.kind == "hub" and not hub_online:
        return HubUnreachable(
            f"{source.ref} is not in this machine's Hugging Face cache and the Hub can't be reached. "
            "Connect to the internet once to download it, or use a local copy (a directory saved with "
            "save_pretrained): type its path in the model box."
        )
    if source.kind == "hub":
        return ModelUnavailable(f"No model named {source.ref} could be loaded from the Hub ({detail}).")
    return ModelUnavailable(f"{source.ref} could not be loaded as a {what} model ({detail}).")
