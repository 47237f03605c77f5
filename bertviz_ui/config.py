"""Configuration: every option declared once, read from environment variables and CLI flags."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bertviz_ui.errors import BadInput
from bertviz_ui.registry import TASKS, Task

PUBLIC_FINETUNE_SECONDS = 60.0


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise BadInput(f"Expected a yes/no value (1/0, true/false), got {raw!r}.")


def _parse_positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"Expected a number, got {raw!r}.") from None
    if not value > 0:
        raise BadInput(f"Expected a positive number, got {raw!r}.")
    return value


def _parse_device(raw: str) -> str:
    value = raw.strip().lower()
    if value in {"", "auto"}:
        return "auto"
    if value in {"cpu", "mps", "cuda"} or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise BadInput(f"Device must be auto, cpu, mps, cuda or cuda:N, got {raw!r}.")


QUANTIZE_CHOICES = ("none", "int8")


def _parse_quantize(raw: str) -> str:
    value = raw.strip().lower()
    if value in QUANTIZE_CHOICES:
        return value
    raise BadInput(f"Quantization must be {' or '.join(QUANTIZE_CHOICES)}, got {raw!r}.")


def _parse_patterns(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.replace("\n", ",").split(",") if part.strip())


def _parse_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"Expected a whole number, got {raw!r}.") from None
    if value < 1:
        raise BadInput(f"Expected at least 1, got {raw!r}.")
    return value


def _parse_window_ms(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadInput(f"Expected a number of milliseconds, got {raw!r}.") from None
    if not 0 <= value <= 1000:
        raise BadInput(f"Expected 0 (off) to 1000 milliseconds, got {raw!r}.")
    return value


def _parse_port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"Port must be a whole number, got {raw!r}.") from None
    if not 0 <= value <= 65535:
        raise BadInput(f"Port must be between 0 and 65535, got {raw!r}.")
    return value


@dataclass(frozen=True)
class Option:
    """One setting: its field name, environment variable, CLI flag, parser, default and help."""

    name: str
    env: str
    flag: str
    default: object
    help: str
    parse: object = str  # callable(str) -> value
    is_switch: bool = False


def model_option_help(task: Task) -> str:
    """The help of a tab's model setting, as --help and the README's configuration table show it."""
    others = [f"`{choice}`" for choice in task.choices if choice != task.default_model]
    also = f"; the tab also offers {', '.join(others)}" if others else ""
    return f"{task.title} tab's model: a Hub id or local directory (default `{task.default_model}`{also})."


def _model_options() -> tuple[Option, ...]:
    return tuple(
        Option(
            name=f"model_{task.id}",
            env=f"BERTVIZ_UI_MODEL_{task.id.upper()}",
            flag=f"--model-{task.id.replace('_', '-')}",
            default=None,
            help=model_option_help(task),
        )
        for task in TASKS
    )


OPTIONS: tuple[Option, ...] = (
    Option("tiny", "BERTVIZ_UI_TINY", "--tiny", False,
           "Run every tab on tiny random-weight checkpoints built locally (untrained; for tests and demos offline).",
           parse=_parse_bool, is_switch=True),
    Option("device", "BERTVIZ_UI_DEVICE", "--device", "auto",
           "Where models run: auto (cuda, else mps, else cpu), cpu, mps, cuda or cuda:N.", parse=_parse_device),
    Option("quantize", "BERTVIZ_UI_QUANTIZE", "--quantize", "none",
           "none, or int8: models for inference on CPU get their encoder layers' Linear weights in int8 (dynamic "
           "quantization: smaller and faster, predictions slightly changed); fine-tuning and gradient attributions "
           "always get full precision, and on a GPU it is ignored (said in the log and the Models panel).",
           parse=_parse_quantize),
    Option("cache_gb", "BERTVIZ_UI_CACHE_GB", "--cache-gb", None,
           "Memory budget of the model cache in GiB; least-recently-used models are evicted past it "
           "(default: half of free GPU memory on a GPU, else half of available RAM).",
           parse=_parse_positive_float),
    Option("cache_dir", "BERTVIZ_UI_CACHE_DIR", "--cache-dir", None,
           "Where tiny checkpoints and the extracted offline model are kept (default ~/.cache/bertviz_ui).",
           parse=lambda raw: Path(raw).expanduser()),
    Option("hub_timeout", "BERTVIZ_UI_HUB_TIMEOUT", "--hub-timeout", 3.0,
           "Seconds to wait when checking whether the Hugging Face Hub can be reached.",
           parse=_parse_positive_float),
    Option("finetune_seconds", "BERTVIZ_UI_FINETUNE_SECONDS", "--finetune-seconds", 300.0,
           "Fine-tuning lab: wall-clock limit of one training run in seconds, evaluation and baseline included "
           "(default 300; 60 in public mode); training stops in time to finish within it and keeps what it learned.",
           parse=_parse_positive_float),
    Option("request_gflop", "BERTVIZ_UI_REQUEST_GFLOP", "--request-gflop", 4500.0,
           "Work one request may ask for, in GFLOP estimated from the model's shape before it runs (about 60 s on "
           "2 CPU cores; scaled up on a GPU); larger requests are refused up front, saying what to lower.",
           parse=_parse_positive_float),
    Option("request_gb", "BERTVIZ_UI_REQUEST_GB", "--request-gb", 1.5,
           "Memory one request may add, in GB: batches are split to fit, and what can't fit is refused up front.",
           parse=_parse_positive_float),
    Option("public", "BERTVIZ_UI_PUBLIC", "--public", None,
           "Public mode for an open deployment: no local paths from visitors, Hub models only from an allow-list, "
           "no shared controls, tighter per-request budgets (default: on when SPACE_ID is set, i.e. on a Space).",
           parse=_parse_bool, is_switch=True),
    Option("allow_models", "BERTVIZ_UI_ALLOW_MODELS", "--allow-models", (),
           "Public mode: Hub ids visitors may load besides each tab's curated choices, as comma-separated glob "
           "patterns (google-bert/*,dslim/*; * allows any).", parse=_parse_patterns),
    Option("max_model_gb", "BERTVIZ_UI_MAX_MODEL_GB", "--max-model-gb", 2.0,
           "Largest Hub model that is downloaded, in GB (its weight files plus config and tokenizer files); "
           "checked from the Hub's file metadata before any weights are fetched.", parse=_parse_positive_float),
    Option("max_sessions", "BERTVIZ_UI_MAX_SESSIONS", "--max-sessions", 64,
           "Visitor sessions kept in memory at once (each holds its page's state and last results, about 1-2 MB); "
           "the least recently active is dropped past it.", parse=_parse_count),
    Option("session_minutes", "BERTVIZ_UI_SESSION_MINUTES", "--session-minutes", 30.0,
           "A visitor session idle this many minutes is freed, with its results and fine-tuned model.",
           parse=_parse_positive_float),
    Option("batch_window_ms", "BERTVIZ_UI_BATCH_WINDOW_MS", "--batch-window-ms", 10.0,
           "Cross-request batching: light-tab requests for the same model that arrive within this many milliseconds "
           "(or while its previous batch runs) share one padded forward, each getting the numbers a lone call gives; "
           "0 turns it off (default 10).", parse=_parse_window_ms),
    Option("batch_rows", "BERTVIZ_UI_BATCH_ROWS", "--batch-rows", 16,
           "Cross-request batching: sentences in one shared forward at most, and light-tab requests running at once "
           "per tab (default 16).", parse=_parse_count),
    Option("host", "BERTVIZ_UI_HOST", "--host", None,
           "Address to listen on (default 127.0.0.1; 0.0.0.0 on Spaces via GRADIO_SERVER_NAME)."),
    Option("port", "BERTVIZ_UI_PORT", "--port", None,
           "Port to listen on (default 7860, or GRADIO_SERVER_PORT).", parse=_parse_port),
    *_model_options(),
)


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one app instance."""

    tiny: bool = False
    device: str = "auto"
    quantize: str = "none"
    cache_gb: float | None = None
    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/bertviz_ui").expanduser())
    hub_timeout: float = 3.0
    finetune_seconds: float = 300.0
    request_gflop: float = 4500.0
    request_gb: float = 1.5
    public: bool = False
    allow_models: tuple[str, ...] = ()
    max_model_gb: float = 2.0
    max_sessions: int = 64
    session_minutes: float = 30.0
    batch_window_ms: float = 10.0
    batch_rows: int = 16
    host: str | None = None
    port: int | None = None
    models: Mapping[str, str] = field(default_factory=dict)

    def model_for(self, task_id: str) -> str:
        """The model a task starts with: its override, else the registry default."""
        from bertviz_ui.registry import task_by_id

        return self.models.get(task_id) or task_by_id(task_id).default_model


def load_settings(argv: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables, then CLI flags (flags win).

    Args:
        argv: command-line arguments (without the program name).
        environ: environment mapping; defaults to os.environ.

    Returns:
        Settings. Raises BadInput naming the variable or flag when a value is malformed.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for option in OPTIONS:
        raw = environ.get(option.env)
        if raw is not None and raw.strip() != "":
            try:
                values[option.name] = option.parse(raw)
            except BadInput as error:
                raise BadInput(f"{option.env}: {error}") from None

    parser = argparse.ArgumentParser(
        prog="python app.py", description="bertviz_ui: see BERT at work on your own text.", allow_abbrev=False
    )
    for option in OPTIONS:
        if option.is_switch:
            parser.add_argument(option.flag, dest=option.name, action="store_true", default=None,
                                help=f"{option.help} [{option.env}]")
        else:
            parser.add_argument(option.flag, dest=option.name, default=None, metavar="VALUE",
                                help=f"{option.help} [{option.env}]")
    args = parser.parse_args(list(argv))
    for option in OPTIONS:
        raw = getattr(args, option.name)
        if raw is None:
            continue
        if option.is_switch:
            values[option.name] = bool(raw)
            continue
        try:
            values[option.name] = option.parse(raw)
        except BadInput as error:
            raise BadInput(f"{option.flag}: {error}") from None

    models = {
        task.id: str(values.pop(f"model_{task.id}")).strip()
        for task in TASKS
        if values.get(f"model_{task.id}")
    }
    for task in TASKS:
        values.pop(f"model_{task.id}", None)
    if values.get("public") is None:
        # A Hugging Face Space sets SPACE_ID: the open internet is the default audience there.
        values["public"] = bool(environ.get("SPACE_ID", "").strip())
    if values["public"] and "finetune_seconds" not in values:
        # Public mode: a training run is one request like any other, so it gets the same minute.
        values["finetune_seconds"] = PUBLIC_FINETUNE_SECONDS
    return Settings(models=models, **values)
