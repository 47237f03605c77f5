"""Per-request budgets: the work and memory a request asks for, estimated from the model's shape before it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Config, Model, Tokenizer

# Calibration (scripts/budget_check.py measures every endpoint against it). bert-base and distilbert-base with 2
# torch threads on this project's 2-vCPU machines, timed here: forwards ran at 150-195 GFLOP/s in batches and
# 90-160 GFLOP/s one 128-512-token sequence at a time when the cores were free, and at 35-60 GFLOP/s while other
# processes kept them busy; forward + backward to the inputs (integrated gradients) and a training step took 2x and
# 3.5-4.5x a forward's time, as the FLOP counts below say. 75 GFLOP/s is half the free machine's batched speed (a
# machine shared with one other busy process), so the default budget of 4,500 GFLOP is about 60 s there and about
# 25 s on a free machine; it is 50 bert-base forwards of 512 tokens.
CPU_GFLOPS = 75.0
DEFAULT_REQUEST_GFLOP = 4500.0
DEFAULT_REQUEST_GB = 1.5
# Accelerators run the same work many times faster; the limit scales with them (a request still gets ~60 s).
DEVICE_SPEEDUP = {"cuda": 20.0, "mps": 4.0}
# Of the memory budget, what one batch's activations may take; the rest covers the inputs, outputs, the allocator's
# slack and rendering.
ACTIVATION_SHARE = 0.5
# Bytes kept per token and layer, in floats, fitted to peak-RSS measurements of bert-base and distilbert-base:
# hidden-sized and intermediate-sized tensors, plus (eager attention, or any attention in training, where dropout
# sends sdpa to its math kernel) per-head rows of T attention weights.
_FORWARD = (8.0, 2.0, 2.0)  # one layer's transient tensors (inference frees each layer's after it)
_INPUT_GRADIENTS = (8.0, 3.0, 2.0)  # saved for a backward pass to the inputs (eval mode), per layer
_TRAINING = (12.0, 3.5, 2.5)  # saved for a training step's backward pass (dropout masks too), per layer
# A training step's optimizer work (AdamW and clipping: memory-bound), in forward-FLOP equivalents per parameter:
# about 0.3 s for bert-base's 110M parameters here.
OPTIMIZER_FLOP_PER_PARAMETER = 100.0


class OverBudget(BadInput):
    """The request would take more time or memory than one request may use; the message says what to lower."""


@dataclass(frozen=True)
class ModelShape:
    """What a forward pass costs depends on: layers, widths, heads, vocabulary, parameters, attention kind.

    ``layers`` counts encoder layers; an encoder-decoder's decoder layers count 1.5 each (self- and
    cross-attention). ``eager`` is true when attention weights are materialized (T x T per head).
    """

    layers: float
    hidden: int
    intermediate: int
    heads: int
    vocab: int
    parameters: int
    eager: bool = True


def _first(config: Config, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def shape_of(model: Model) -> ModelShape:
    """The shape of ``model`` from its config (BERT, DistilBERT, RoBERTa, ALBERT, BART, ... names), parameters counted.

    Args:
        model: a transformers model (or anything with ``config`` and ``parameters()``).

    Returns:
        ModelShape; fields the config lacks fall back to bert-base's.
    """
    config = getattr(model, "config", None)
    parameters = sum(p.numel() for p in model.parameters()) if hasattr(model, "parameters") else 0
    hidden = _first(config, "hidden_size", "dim", "d_model") or 768
    encoder = _first(config, "encoder_layers", "num_hidden_layers", "n_layers") or 12
    decoder = _first(config, "decoder_layers") if getattr(config, "is_encoder_decoder", False) else None
    layers = float(encoder) + 1.5 * float(decoder or 0)
    intermediate = _first(config, "intermediate_size", "hidden_dim", "encoder_ffn_dim", "ffn_dim") or 4 * hidden
    heads = _first(config, "num_attention_heads", "n_heads", "encoder_attention_heads") or max(1, hidden // 64)
    vocab = _first(config, "vocab_size") or 30522
    implementation = getattr(config, "_attn_implementation", None)
    return ModelShape(layers=layers, hidden=hidden, intermediate=intermediate, heads=heads, vocab=vocab,
                      parameters=parameters, eager=implementation in (None, "eager"))


def forward_flops(shape: ModelShape, tokens: int, batch: int = 1) -> float:
    """FLOPs (2 per multiply-add) of one encoder forward over ``batch`` sequences of ``tokens`` tokens.

    Per layer and sequence: 8TH^2 (query, key, value, output projections) + 4THI (feed-forward) + 4T^2H
    (attention scores and their weighted sum). Embedding lookups, norms and small heads are left out.
    """
    t, h = float(tokens), float(shape.hidden)
    return batch * shape.layers * (8 * t * h * h + 4 * t * h * shape.intermediate + 4 * t * t * h)


def vocabulary_flops(shape: ModelShape, positions: int) -> float:
    """FLOPs of a masked-LM head (transform, then the vocabulary projection) at ``positions`` positions."""
    return 2.0 * positions * shape.hidden * (shape.hidden + shape.vocab)


def training_step_flops(shape: ModelShape, tokens: int, batch: int, trainable: int | None = None) -> float:
    """A training step: forward, backward (twice the forward: inputs and weights) and the optimizer update."""
    trainable = shape.parameters if trainable is None else trainable
    return 3 * forward_flops(shape, tokens, batch) + OPTIMIZER_FLOP_PER_PARAMETER * trainable


def activation_bytes(shape: ModelShape, tokens: int, batch: int = 1, *, mode: str = "forward",
                     dtype_bytes: int = 4) -> float:
    """Peak activation memory of one pass over ``batch`` sequences of ``tokens`` tokens.

    Args:
        shape: the model's shape.
        tokens: sequence length (padded).
        batch: sequences in the batch.
        mode: "forward" (inference: one layer's tensors at a time), "inputs" (a backward pass to the inputs, as
            integrated gradients do: every layer's saved tensors) or "training" (train mode, full backward).
        dtype_bytes: 4 for float32, 2 for half precision.
    """
    per_hidden, per_intermediate, per_attention = {"forward": _FORWARD, "inputs": _INPUT_GRADIENTS,
                                                   "training": _TRAINING}[mode]
    attention = per_attention * shape.heads * tokens if (shape.eager or mode == "training") else 0.0
    floats = per_hidden * shape.hidden + per_intermediate * shape.intermediate + attention
    layers = 1.0 if mode == "forward" else shape.layers
    return float(dtype_bytes) * batch * tokens * layers * floats


def duration(seconds: float) -> str:
    """"less than a second", "about 40 s", "about 9 minutes", "about 2 hours"."""
    if seconds < 0.5:
        return "less than a second"
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.0f} hours" if seconds >= 10 * 3600 else f"about {seconds / 3600:.1f} hours"


def gigabytes(size: float) -> str:
    """A byte count as "1.2 GB" (or "300 MB")."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


@dataclass(frozen=True)
class Budget:
    """What one request may cost: ``gflop`` of estimated work and ``memory_gb`` of memory on top of the models.

    Attributes:
        gflop: estimated GFLOP per request (BERTVIZ_UI_REQUEST_GFLOP; scaled up on an accelerator).
        memory_gb: memory per request in GB (BERTVIZ_UI_REQUEST_GB).
        gflops_per_s: the throughput assumed when telling the user how long something would take.
        device: where models run (for the messages).
    """

    gflop: float = DEFAULT_REQUEST_GFLOP
    memory_gb: float = DEFAULT_REQUEST_GB
    gflops_per_s: float = CPU_GFLOPS
    device: str = "cpu"

    @classmethod
    def for_device(cls, device: str, *, gflop: float = DEFAULT_REQUEST_GFLOP,
                   memory_gb: float = DEFAULT_REQUEST_GB) -> Budget:
        """The budget on ``device``: an accelerator's limit and assumed speed are scaled up by DEVICE_SPEEDUP."""
        speedup = DEVICE_SPEEDUP.get(device.split(":")[0], 1.0)
        return cls(gflop=gflop * speedup, memory_gb=memory_gb, gflops_per_s=CPU_GFLOPS * speedup, device=device)

    @property
    def flops(self) -> float:
        return self.gflop * 1e9

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9

    @property
    def activation_bytes(self) -> float:
        """What one batch's activations may take."""
        return self.memory_bytes * ACTIVATION_SHARE

    def seconds(self, flops: float) -> float:
        """How long ``flops`` of work takes at the assumed speed."""
        return flops / (self.gflops_per_s * 1e9)

    def fits(self, flops: float) -> bool:
        return flops <= self.flops

    def refuse(self, what: str, flops: float, advice: str) -> OverBudget:
        """The error for work over budget: how long it would take, the limit, and what to lower."""
        return OverBudget(f"{what} would take {duration(self.seconds(flops))} here; one request may use "
                          f"{duration(self.seconds(self.flops))} of work. {advice}")

    def refuse_memory(self, what: str, advice: str) -> OverBudget:
        """The error for a batch whose activations can't fit: what it needs, what a request may use, what to lower."""
        return OverBudget(f"{what}; one request may use {gigabytes(self.activation_bytes)} for them. {advice}")

    def check(self, what: str, flops: float, advice: Callable[[], str] | str) -> None:
        """Raise OverBudget (see refuse) when ``flops`` is over budget; ``advice`` is made only then."""
        if not self.fits(flops):
            raise self.refuse(what, flops, advice() if callable(advice) else advice)

    def most(self, cost: Callable[[int], float], high: int, *, low: int = 1) -> int:
        """The largest n in [low, high] whose ``cost(n)`` fits (cost grows with n); low - 1 when none does."""
        return largest(lambda n: self.fits(cost(n)), high, low=low)

    def rows_per_batch(self, shape: ModelShape, tokens: int, *, mode: str = "forward", cap: int | None = None,
                       dtype_bytes: int = 4) -> int:
        """How many sequences of ``tokens`` tokens one pass may take so its activations fit (at least 1)."""
        per_row = activation_bytes(shape, tokens, 1, mode=mode, dtype_bytes=dtype_bytes)
        rows = max(1, int(self.activation_bytes // max(per_row, 1.0)))
        return min(rows, cap) if cap is not None else rows


def largest(fits: Callable[[int], bool], high: int, *, low: int = 1) -> int:
    """The largest n in [low, high] for which ``fits(n)`` holds (false from some n on); low - 1 when none does."""
    if high < low or not fits(low):
        return low - 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def text_prefix(text: str, chars: int) -> str:
    """``text`` cut to at most ``chars`` characters, at a whitespace so the last word stays whole.

    Tokenizers split at whitespace, so the tokens of the prefix are exactly the first tokens of the whole text
    (offsets included): tokenizing a prefix known to hold enough tokens gives what truncating the whole text
    would, without tokenizing all of it. Text without whitespace in its last half is cut at ``chars``.
    """
    if len(text) <= chars:
        return text
    cut = max(text.rfind(" ", 0, chars + 1), text.rfind("\n", 0, chars + 1), text.rfind("\t", 0, chars + 1))
    return text[:cut] if cut > chars // 2 else text[:chars]


def leading_tokens(tokenizer: Tokenizer, text: str, tokens: int, *, chars_per_token: int = 16,
                   **kwargs: Any) -> tuple[str, Any]:
    """Tokenize only as much of ``text`` as its first ``tokens`` tokens need.

    Tries a prefix of ``tokens * chars_per_token`` characters (cut at whitespace, see text_prefix), and doubles it
    until the prefix yields more than ``tokens`` tokens or is the whole text: a 20,000-character text is not
    tokenized whole to read its first 512 tokens, and a text of long words is still read far enough.

    Args:
        tokenizer: called as ``tokenizer(prefix, **kwargs)``; its output must have "input_ids" (one sequence).
        text: the whole text.
        tokens: how many tokens (special tokens included) the caller reads at most.
        chars_per_token: the first prefix's length per token (English averages 4-5).
        kwargs: passed to the tokenizer.

    Returns:
        (the prefix, the tokenizer's output for it); the prefix is ``text`` itself when it had to be read whole.
    """
    chars = max(1, tokens * chars_per_token)
    while True:
        prefix = text_prefix(text, chars)
        encoding = tokenizer(prefix, **kwargs)
        if len(prefix) == len(text) or len(encoding["input_ids"]) > tokens:
            return prefix, encoding
        chars *= 2
