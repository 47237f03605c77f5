"""The README's API table, run: each row's call against the tiny-mode app, with the parameters and outputs it lists.

The rows are read from README.md itself, so the table can't drift from the API: a new endpoint, a renamed or new
parameter, an output more or less, or a result key that went away fails here.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from gradio_client import Client

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| api_name | call | optional parameters | returns |"
# Builds and times five bert-sized models (about a minute of both cores): its row is checked against the API, not run.
NOT_RUN = {"/model_latency"}


@dataclass(frozen=True)
class Row:
    """One endpoint's row: its call's keyword arguments, the other parameters it names, what it returns."""

    api_name: str
    kwargs: dict
    optional: tuple[str, ...]
    outputs: tuple[str, ...]
    keys: tuple[str, ...]


def _without_parentheses(text: str) -> str:
    while True:
        shorter = re.sub(r"\([^()]*\)", "", text)
        if shorter == text:
            return text
        text = shorter


def _code(text: str) -> list[str]:
    return re.findall(r"`([^`]*)`", text)


def _kwargs(call: str) -> dict:
    """``client.predict(name=literal, ...)`` -> its keyword arguments; anything else in a call cell is an error."""
    node = ast.parse(call, mode="eval").body
    assert isinstance(node, ast.Call) and ast.unparse(node.func) == "client.predict" and not node.args, call
    return {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}


def _row(line: str) -> Row:
    name_cell, call_cell, optional_cell, returns_cell = (cell.strip() for cell in line.strip().strip("|").split("|"))
    (api_name,) = _code(name_cell)
    (call,) = _code(call_cell)
    optional = () if optional_cell == "none" else tuple(p.strip() for p in _without_parentheses(optional_cell)
                                                         .split(","))
    assert all(re.fullmatch(r"\w+", p) for p in optional), f"{api_name}: parameters as 'name (note), ...': {optional}"
    outputs = _code(returns_cell)[0]
    assert outputs.startswith("(") and outputs.endswith(")"), f"{api_name}: returns start with `(output, ...)`"
    keys = ()
    if "raw: " in returns_cell:
        described = _without_parentheses(returns_cell.split("raw: ", 1)[1])
        keys = tuple(re.match(r"\w+", span).group() for span in _code(described))
    return Row(api_name, _kwargs(call), optional, tuple(o.strip() for o in outputs[1:-1].split(",")), keys)


def readme_rows() -> list[Row]:
    lines = README.read_text().splitlines()
    start = lines.index(HEADER) + 2  # the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(_row(line))
    return rows


ROWS = readme_rows()


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture(scope="module")
def endpoints(client: Client) -> dict:
    return client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_one_row_per_endpoint(endpoints):
    names = [row.api_name for row in ROWS]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(endpoints)


@pytest.mark.parametrize("row", ROWS, ids=[row.api_name for row in ROWS])
def test_each_row_names_the_endpoints_parameters(endpoints, row):
    """The call passes the parameters without a default; the row names every other one, each with a default."""
    endpoint = endpoints[row.api_name]
    parameters = [p["parameter_name"] for p in endpoint["parameters"]]
    called = [name for name in row.kwargs if name != "api_name"]
    assert row.kwargs["api_name"] == row.api_name
    assert sorted(called + list(row.optional)) == sorted(parameters)
    assert [p for p in parameters if p in row.optional] == list(row.optional)  # in the API's order
    required = [p["parameter_name"] for p in endpoint["parameters"] if not p["parameter_has_default"]]
    assert set(required) <= set(called), f"{row.api_name} needs {required}"
    assert len(row.outputs) == len(endpoint["returns"]), f"{row.api_name} returns {len(endpoint['returns'])} values"


def test_every_call_runs_and_returns_what_its_row_says(client):
    """In the README's order, in one session (the lab's try and download use the model /finetune trained)."""
    failures = []
    for row in ROWS:
        if row.api_name in NOT_RUN:
            continue
        try:
            result = client.predict(**row.kwargs)
        except Exception as error:  # noqa: BLE001 - every row is run and every failure reported together
            failures.append(f"{row.api_name}: {error}")
            continue
        values = result if isinstance(result, tuple) else (result,)
        if len(values) != len(row.outputs):
            failures.append(f"{row.api_name}: {len(values)} values, the README lists {row.outputs}")
            continue
        raw = values[row.outputs.index("raw")] if "raw" in row.outputs else None
        missing = [key for key in row.keys if not isinstance(raw, dict) or key not in raw]
        if missing:
            failures.append(f"{row.api_name}: no {missing} in its raw output")
    assert failures == []
