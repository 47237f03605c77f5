"""What the tasks need of a model and of a tokenizer, as Protocols: transformers' objects, the cache's thread-safe
tokenizer wrapper, tiny checkpoints and the tests' crafted fakes all fit, and nothing here imports transformers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

# A config object: transformers' PretrainedConfig or a test's SimpleNamespace. Tasks read attributes such as
# ``num_hidden_layers`` or ``id2label`` with getattr and a default, so no Protocol can say more than this.
Config = Any


@runtime_checkable
class Tokenizer(Protocol):
    """A Hugging Face tokenizer as the tasks use it (fast tokenizers: offsets and word ids come from here)."""

    mask_token: str | None
    mask_token_id: int | None
    pad_token_id: int | None
    model_max_length: int

    def __call__(self, text: Any, text_pair: Any = None, **kwargs: Any) -> Mapping[str, Any]: ...

    def convert_ids_to_tokens(self, ids: Any, skip_special_tokens: bool = False) -> Any: ...

    def decode(self, token_ids: Any, **kwargs: Any) -> str: ...


@runtime_checkable
class Model(Protocol):
    """A torch transformers model: an encoder alone or one with a task head. Where the head or the encoder lives
    in each architecture is models/anatomy.py's business, never a task's."""

    config: Config

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def parameters(self) -> Iterator[Any]: ...

    def eval(self) -> Model: ...


# A batch of texts as the tasks accept it.
Texts = Sequence[str]
