"""One model is built at a time in this process: transformers 5 builds models under process-wide patches of torch.

`from_pretrained` and `from_config` set torch's default dtype and patch torch's init and creation functions for the
whole process while a model is constructed (transformers.modeling_utils.get_init_context). Two threads building at
once broke each other: a tiny checkpoint loaded beside another came out with meta tensors ("Cannot copy out of meta
tensor", seen with 8 visitors loading different models). Everything in the app that constructs a model holds this lock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

_LOCK = threading.RLock()
T = TypeVar("T")


def one_build_at_a_time(build: Callable[..., T]) -> Callable[..., T]:
    """Decorate a function that constructs a model so it runs while no other model is being constructed."""

    @functools.wraps(build)
    def locked(*args: object, **kwargs: object) -> T:
        with _LOCK:
            return build(*args, **kwargs)

    return locked
