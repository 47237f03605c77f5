"""The package's import graph: no cycles, and no layer imports one above it (ui -> render -> tasks; models beside)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bertviz_ui"
# What each layer may not import (its callers).
FORBIDDEN = {"tasks": ("ui", "render"), "render": ("ui",), "models": ("ui", "render", "tasks")}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every bertviz_ui module and the bertviz_ui modules it imports anywhere (functions and TYPE_CHECKING too)."""
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bertviz_ui"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    targets.add(candidate if candidate in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.startswith("bertviz_ui")}
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def test_no_module_imports_itself_back():
    graph = import_graph()
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for target in graph[node]:
            if target == path[0]:
                cycles.append(" -> ".join([*path, target]))
            elif target not in path and len(path) < 8:
                visit(target, [*path, target])

    for start in graph:
        if start != "bertviz_ui":  # the package's __init__ imports nothing that imports it back
            visit(start, [start])
    assert cycles == []


def test_no_layer_imports_one_above_it():
    wrong = [f"{name} imports {target}" for name, targets in import_graph().items() for target in targets
             if name.split(".")[1:2] and target.split(".")[1:2]
             and target.split(".")[1] in FORBIDDEN.get(name.split(".")[1], ())]
    assert wrong == []


# A room that does one job stays readable; past this, split it by job (see docs/ARCHITECTURE.md).
MAX_MODULE_LINES = 400


def test_no_runtime_module_is_over_the_size_limit():
    sizes = {str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines())
             for path in PACKAGE.rglob("*.py")}
    assert {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_only_ui_imports_gradio():
    """Compute, rendering and models run under scripts and tests alike: the UI framework stays in ui/."""
    wrong = []
    for path in [p for layer in ("models", "tasks", "render") for p in (PACKAGE / layer).rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{path.name} imports {name}" for name in names if name.split(".")[0] == "gradio"]
    assert wrong == []


# Submodule names that belong to one architecture or another: only models/anatomy.py may reach for them (ALBERT's
# MLM head, `predictions`, is left out: the word is every task's noun for its outputs).
ARCHITECTURE_NAMES = {"base_model", "pre_classifier", "pooler", "pooler_activation", "out_proj", "lm_head", "cls",
                      "vocab_projector", "vocab_transform", "vocab_layer_norm", "generator_lm_head",
                      "word_embeddings", "position_embeddings", "token_type_embeddings", "embeddings_project",
                      "bert", "roberta", "distilbert", "albert", "electra"}


def test_only_anatomy_names_an_architectures_submodules():
    wrong = []
    for layer in ("tasks", "render", "ui"):
        for path in (PACKAGE / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ARCHITECTURE_NAMES:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}")
    assert wrong == []
