"""The seed's model comparison, measured: configs read (or a kept snapshot), parameters counted on the architecture
built from them, latency timed for the models loaded in this app and for random-weight copies of the five."""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import BertvizError
from bertviz_ui.models import anatomy
from bertviz_ui.models.device import release_memory
from bertviz_ui.models.types import Config
from bertviz_ui.tasks.budget import Budget, ModelShape, forward_flops, largest, shape_of
from bertviz_ui.tasks.parameters import build_on_meta

if TYPE_CHECKING:
    from bertviz_ui.models.cache import LoadedModel

# The seed's comparison table, as printed: parameters and relative speed (its accuracy column is not checkable here).
TUTORIAL_TABLE = (
    ("bert-base", "google-bert/bert-base-uncased", "110M", "1x"),
    ("bert-large", "google-bert/bert-large-uncased", "340M", "0.4x"),
    ("roberta-base", "FacebookAI/roberta-base", "125M", "1x"),
    ("distilbert-base", "distilbert/distilbert-base-uncased", "66M", "1.6x"),
    ("albert-base", "albert/albert-base-v2", "12M", "0.9x"),
)
BASELINE = "google-bert/bert-base-uncased"
SNAPSHOT_LABEL = "snapshot of config.json (Hub unreachable)"

# The published config.json of each model (the fields that shape the network), kept so the comparison works offline.
# Parameters are still counted by building the architecture from these, never copied.
CONFIG_SNAPSHOTS: Mapping[str, Mapping[str, Any]] = {
    "google-bert/bert-base-uncased": {
        "model_type": "bert", "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
        "pad_token_id": 0, "layer_norm_eps": 1e-12, "hidden_act": "gelu"},
    "google-bert/bert-large-uncased": {
        "model_type": "bert", "vocab_size": 30522, "hidden_size": 1024, "num_hidden_layers": 24,
        "num_attention_heads": 16, "intermediate_size": 4096, "max_position_embeddings": 512, "type_vocab_size": 2,
        "pad_token_id": 0, "layer_norm_eps": 1e-12, "hidden_act": "gelu"},
    "FacebookAI/roberta-base": {
        "model_type": "roberta", "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1,
        "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-05, "hidden_act": "gelu"},
    "distilbert/distilbert-base-uncased": {
        "model_type": "distilbert", "vocab_size": 30522, "dim": 768, "n_layers": 6, "n_heads": 12,
        "hidden_dim": 3072, "max_position_embeddings": 512, "pad_token_id": 0, "sinusoidal_pos_embds": False,
        "activation": "gelu"},
    "albert/albert-base-v2": {
        "model_type": "albert", "vocab_size": 30000, "embedding_size": 128, "hidden_size": 768,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "num_hidden_groups": 1,
        "inner_group_num": 1, "max_position_embeddings": 512, "type_vocab_size": 2, "pad_token_id": 0,
        "bos_token_id": 2, "eos_token_id": 3, "layer_norm_eps": 1e-12, "hidden_act": "gelu_new"},
}
LATENCY_TOKENS = 128
LATENCY_REPEATS = 5  # timed forwards of a loaded model (after one warm-up)
LATENCY_RANDOM_REPEATS = 3  # of a random-weight copy built for the comparison

@dataclass(frozen=True)
class ComparisonRow:
    """One model of the comparison: hyperparameters from its config, parameters measured, latency if measured."""

    name: str
    model_id: str
    config_source: str
    architecture: str
    layers: int
    hidden: int
    heads: int
    parameters: int
    seed_parameters: str
    seed_speed: str
    latency_ms: float | None = None
    latency_source: str = ""
    speed: float | None = None


@dataclass(frozen=True)
class Comparison:
    """The seed's comparison table, measured: configs read, parameters counted, latencies timed on this machine."""

    rows: tuple[ComparisonRow, ...]
    baseline: str
    tokens: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ModelSupply(Protocol):
    """What the comparison needs of the model cache: the models it holds, configs by id, and where and in which
    dtype to build the random-weight copies."""

    device: str
    dtype: torch.dtype

    def held(self) -> Sequence[LoadedModel]: ...

    def load_config(self, ref: str) -> Config: ...


def snapshot_config(model_id: str) -> Any:
    """A transformers config built from the kept snapshot of ``model_id``'s config.json."""
    from transformers import AutoConfig

    fields = dict(CONFIG_SNAPSHOTS[model_id])
    return AutoConfig.for_model(fields.pop("model_type"), **fields)


def comparison_row(name: str, model_id: str, config: Config, *, config_source: str, seed_parameters: str = "",
                   seed_speed: str = "") -> ComparisonRow:
    """Hyperparameters read from ``config`` and parameters counted on the architecture built from it (meta)."""
    model = build_on_meta(config)
    return ComparisonRow(name=name, model_id=model_id, config_source=config_source, architecture=type(model).__name__,
                         layers=int(config.num_hidden_layers), hidden=int(config.hidden_size),
                         heads=int(config.num_attention_heads), parameters=sum(p.numel() for p in model.parameters()),
                         seed_parameters=seed_parameters, seed_speed=seed_speed)


def measure_latency(model: torch.nn.Module, *, tokens: int = LATENCY_TOKENS, repeats: int = 5) -> float:
    """Median seconds of one encoder forward over ``tokens`` tokens (batch 1), after a warm-up call.

    The input is the same for every model (ids 1000-1999, in every vocabulary here), so latencies compare.
    """
    base = anatomy.encoder(model)
    parameter = next(base.parameters())
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (1, tokens), generator=generator).to(parameter.device)
    mask = torch.ones_like(ids)
    sync = torch.cuda.synchronize if parameter.device.type == "cuda" else (lambda: None)
    times = []
    with torch.inference_mode():
        base(input_ids=ids, attention_mask=mask)
        sync()
        for _ in range(repeats):
            started = time.perf_counter()
            base(input_ids=ids, attention_mask=mask)
            sync()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def latency_flops(shape: ModelShape, forwards: int) -> float:
    """The work of timing a model: ``forwards`` forwards over LATENCY_TOKENS tokens."""
    return forwards * forward_flops(shape, LATENCY_TOKENS)


def timing_config(config: Config, max_bytes: float, dtype_bytes: int = 4) -> tuple[Any, int]:
    """The config to build for timing within ``max_bytes`` of weights, and the model's own layer count.

    Encoder layers all cost the same, so a copy with fewer layers, timed and scaled by the layer ratio, measures
    a model whose random-weight copy would not fit (bert-large's 1.3 GB). Returns ``config`` itself when it fits.
    """
    layers = int(config.num_hidden_layers)

    def weights(count: int) -> float:
        fewer = copy.deepcopy(config)
        fewer.num_hidden_layers = count
        return dtype_bytes * sum(p.numel() for p in build_on_meta(fewer).parameters())

    if weights(layers) <= max_bytes:
        return config, layers
    fitting = max(1, largest(lambda count: weights(count) <= max_bytes, layers))
    fewer = copy.deepcopy(config)
    fewer.num_hidden_layers = fitting
    return fewer, layers


@one_build_at_a_time
def build_random(config: Config, *, seed: int = 0) -> torch.nn.Module:
    """The architecture with random weights on the CPU in eval mode (random weights time as trained ones do)."""
    from transformers import AutoModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModel.from_config(config).eval()


def with_latencies(comparison: Comparison, latencies: Mapping[str, tuple[float, str]],
                   notes: Sequence[str] = ()) -> Comparison:
    """Put measured latencies (seconds, how measured) into the rows and the speed relative to the baseline.

    The baseline is bert-base when it was measured, else the first measured row (said in the notes).
    """
    rows = [dataclasses.replace(r, latency_ms=latencies[r.model_id][0] * 1000, latency_source=latencies[r.model_id][1])
            if r.model_id in latencies else r for r in comparison.rows]
    measured = [r for r in rows if r.latency_ms]
    all_notes = [*comparison.notes, *notes]
    baseline = next((r for r in measured if r.model_id == BASELINE), measured[0] if measured else None)
    if baseline is not None:
        if baseline.model_id != BASELINE:
            all_notes.append(f"bert-base was not timed, so speed is relative to {baseline.name}.")
        all_notes.append(f"Speed = {baseline.name}'s latency / the model's (above 1x: faster than {baseline.name}).")
        rows = [dataclasses.replace(r, speed=round(baseline.latency_ms / r.latency_ms, 3)) if r.latency_ms else r
                for r in rows]
    return dataclasses.replace(comparison, rows=tuple(rows), baseline=baseline.name if baseline else "",
                               notes=tuple(all_notes))


def compare_models(load_config: Callable[[str], Any], *, extra: Sequence[tuple[str, str, Any]] = ()) -> Comparison:
    """The seed's five models with configs read (or the kept snapshot), parameters counted; no latency yet.

    Args:
        load_config: returns a model id's config; raises when it can't (the snapshot is used then).
        extra: further (name, model id, config) rows, e.g. models loaded in this app.

    Returns:
        Comparison without latencies (see with_latencies).
    """
    rows, snapshots = [], []
    for name, model_id, seed_params, seed_speed in TUTORIAL_TABLE:
        try:
            config, source = load_config(model_id), "config.json"
        except (BertvizError, OSError, ValueError):
            config, source = snapshot_config(model_id), SNAPSHOT_LABEL
            snapshots.append(name)
        rows.append(comparison_row(name, model_id, config, config_source=source, seed_parameters=seed_params,
                                   seed_speed=seed_speed))
    for name, model_id, config in extra:
        rows.append(comparison_row(name, model_id, config, config_source="loaded model"))
    notes = [("Parameters: each architecture built from its config on the meta device (shapes only) and counted "
              "with sum(p.numel()), base model with its pooler where it has one, no task head."),
             f"Latency: the median of timed forwards over the same {LATENCY_TOKENS} token ids, batch 1, after a warm-up."]
    if snapshots:
        notes.append(f"The Hub can't be reached, so {', '.join(snapshots)} use a snapshot of their published "
                     "config.json kept in the code.")
    return Comparison(rows=tuple(rows), baseline="", tokens=LATENCY_TOKENS, notes=tuple(notes))


def _time_loaded(cache: ModelSupply, budget: Budget) -> tuple[Comparison, dict[str, tuple[float, str]], float, list[str]]:
    """The five models (configs through the cache, else the snapshot) plus the models loaded in this app, timed
    while the request's budget lasts; returns the comparison, the latencies, the work spent and notes."""
    known = {model_id for _, model_id, _, _ in TUTORIAL_TABLE}
    held, extra, latencies, untimed = {}, [], {}, []
    spent = 0.0
    for loaded in cache.held():
        held.setdefault(loaded.source.location, loaded)
    for location, loaded in held.items():
        ref = loaded.source.ref
        if ref not in known and location not in known:
            base = anatomy.encoder(loaded.model)
            extra.append((ref, ref, base.config))
        cost = latency_flops(shape_of(loaded.model), LATENCY_REPEATS + 1)
        if not budget.fits(spent + cost):
            untimed.append(ref)
            continue
        spent += cost
        where = ", ".join(filter(None, (loaded.device, loaded.quantization)))  # "cpu, int8 (dynamic)"
        latencies[ref] = (measure_latency(loaded.model, repeats=LATENCY_REPEATS), f"loaded model ({where})")
    notes = [f"Not timed, to keep this request within its budget: {', '.join(untimed)}."] if untimed else []
    return compare_models(cache.load_config, extra=extra), latencies, spent, notes


def compare_loaded_models(cache: ModelSupply, budget: Budget) -> Comparison:
    """The seed's comparison table, measured; latency for the models loaded in this app.

    Args:
        cache: the app's model cache (its held models are timed, its configs read).
        budget: what the request may cost; models beyond it are left untimed, as the notes say.

    Returns:
        Comparison with latencies and speeds where measured.
    """
    comparison, latencies, _, notes = _time_loaded(cache, budget)
    result = with_latencies(comparison, latencies, notes)
    if not latencies:
        result = with_latencies(result, {}, [("No model is loaded yet, so nothing was timed: press the timing button, "
                                             "or run another tab first.")])
    return result


def time_random_builds(cache: ModelSupply, budget: Budget) -> Comparison:
    """Time random-weight copies of the five models built from their configs (random weights time as trained ones).

    A copy whose weights would take more than half the request's memory is built with fewer layers and its time
    scaled up by the layer count (the layers of these encoders cost the same); the notes say which.

    Args:
        cache: the app's model cache (loaded models are timed as they are; copies are built on its device and dtype).
        budget: what the request may cost; models beyond it are left untimed, as the notes say.

    Returns:
        Comparison with latencies and speeds where measured.
    """
    comparison, latencies, spent, notes = _time_loaded(cache, budget)
    for row in comparison.rows:
        if row.model_id in latencies or row.config_source == "loaded model":
            continue
        try:
            config = cache.load_config(row.model_id)
        except BertvizError:  # the Hub is unreachable or the config unreadable: the snapshot has the same shapes
            config = snapshot_config(row.model_id)
        built, layers = timing_config(config, budget.memory_bytes / 2, torch.tensor([], dtype=cache.dtype)
                                      .element_size())
        cost = latency_flops(shape_of(build_on_meta(built)), LATENCY_RANDOM_REPEATS + 1)
        if not budget.fits(spent + cost):
            notes.append(f"{row.name} was not timed, to keep this request within its budget.")
            continue
        spent += cost
        model = build_random(built).to(device=cache.device, dtype=cache.dtype)
        scale = layers / built.num_hidden_layers
        latencies[row.model_id] = (measure_latency(model, repeats=LATENCY_RANDOM_REPEATS) * scale,
                                   f"random weights ({cache.device})" + (
                                       f", {built.num_hidden_layers} of {layers} layers timed, x{scale:g}"
                                       if scale != 1 else ""))
        if scale != 1:
            notes.append(f"{row.name}'s random copy would take more memory than a request may use: "
                         f"{built.num_hidden_layers} of its {layers} layers were built and timed, and the time "
                         f"multiplied by {scale:g} (its layers cost the same).")
        del model
        release_memory(cache.device)
    return with_latencies(comparison, latencies, [f"Random-weight copies timed with {torch.get_num_threads()} "
                                                  "CPU threads" if cache.device == "cpu" else
                                                  "Random-weight copies timed on the accelerator.", *notes])
