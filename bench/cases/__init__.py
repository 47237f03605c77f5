"""The benchmark's cases, found by discovery: one module per benchmarked tab, named after its registry task id."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping, Sequence

from bench.harness import BenchCase
from bertviz_ui.registry import TASKS

# Registry tasks without a case, each with why. A task added to the registry gets a case module here or an entry
# in this map; tests/unit/test_bench_cases.py fails until it has one or the other.
# The lab's before-vs-after view (/finetune_compare) has no case of its own: it is forwards of two encoders (the
# similarity case's kind of work) plus CKA and JS arithmetic on a few hundred tokens, with no alternative to time.
NOT_BENCHMARKED: Mapping[str, str] = {
    "nsp": "one forward of the NSP head and a softmax: nothing beyond the bare forward to compare, and transformers "
           "5 has no NSP pipeline",
    "ner": "the tab runs transformers' own TokenClassificationPipeline stages (preprocess, forward, postprocess), "
           "so there is no alternative of ours to time against it",
    "zero_shot": "no case written yet: one batched NLI forward scored by pipeline('zero-shot-classification')'s "
                 "rules",
    "similarity": "one batched encoder forward, mean pooling and a matrix product, as sentence-transformers' "
                  "encode does (tested equal): no slower or faster alternative of ours to time",
    "attention": "no case written yet: one encoder forward with attentions (the tokenizer case's baseline) plus "
                 "NumPy views; rollout and flow read that forward (flow's SciPy max-flow against networkx's: "
                 "3 ms vs. 0.3-0.5 s a problem on MiniLM at 64 tokens, measured when it was chosen)",
}

# Features across tabs, not registry tasks, without a case of their own, each with why.
NOT_BENCHMARKED_FEATURES: Mapping[str, str] = {
    "compare": "Compare with…: the tab's own task run once per model (each benchmarked or explained above) plus "
               "NumPy diffs of the two results: no alternative of ours to time against it",
}


def discover_cases(package: str, path: Iterable[str]) -> tuple[BenchCase, ...]:
    """Every case module of a package, in the registry's task order.

    Args:
        package: the package's dotted name.
        path: its ``__path__``. Every module in it not starting with "_" must expose ``CASE``, a BenchCase.

    Returns:
        The cases, by their task (``task``, else their name); one of no registry task (a test flags it) comes after
        the rest, by name.
    """
    found = [importlib.import_module(f"{package}.{info.name}").CASE
             for info in pkgutil.iter_modules(list(path)) if not info.name.startswith("_")]
    order = {task.id: index for index, task in enumerate(TASKS)}
    return tuple(sorted(found, key=lambda case: (order.get(case.task or case.name, len(order)), case.name)))


CASES: tuple[BenchCase, ...] = discover_cases(__name__, __path__)


def select_cases(names: Sequence[str] | None, cases: Sequence[BenchCase] = CASES) -> tuple[BenchCase, ...]:
    """The cases named, in the order named; all of them when ``names`` is empty or None.

    Args:
        names: case names (as given to ``--cases``).
        cases: the registry to pick from.

    Returns:
        The cases. Raises ValueError naming the unknown name and the known ones.
    """
    if not names:
        return tuple(cases)
    by_name = {case.name: case for case in cases}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"Unknown benchmark case {unknown[0]!r}; known: {', '.join(by_name)}.")
    return tuple(by_name[name] for name in dict.fromkeys(names))
