"""Permalinks, the pure part (bertviz_ui/permalink.py): a link's text read back as checked values, and written."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from bertviz_ui import permalink
from bertviz_ui.errors import BadInput

FIELDS = (
    permalink.model("model", "Model"),
    permalink.text("text", "Text", max_chars=30),
    permalink.number("top_k", "Top-k", low=1, high=50, whole=True),
    permalink.number("rate", "Rate", low=0.05, high=0.5),
    permalink.flag("pad", "Pad"),
    permalink.choice("unit", "Unit", ("pieces", "words")),
    permalink.choice("layer", "Layer", (0, 1, 2)),
    permalink.integers("heads", "Heads", low=0, high=11),
)
TABS = {"fill_mask": ("Masked words", FIELDS), "models": ("Models", ())}


def read(query: str) -> permalink.Restored:
    return permalink.read(parse_qsl(query, keep_blank_values=True), TABS)


def test_the_issues_example_link_reads_as_its_tab_and_text() -> None:
    restored = read("tab=fill_mask&text=The+cat+%5BMASK%5D+on+the+mat.")
    assert restored == permalink.Restored("fill_mask", {"text": "The cat [MASK] on the mat."}, ())


def test_every_kind_round_trips_through_the_query_it_writes() -> None:
    values = {"model": "google-bert/bert-base-uncased", "text": "a & b = c?", "top_k": 7, "rate": 0.15, "pad": True,
              "unit": "words", "layer": 2, "heads": [3, 1]}
    query = permalink.query("fill_mask", FIELDS, values)
    assert query.startswith("tab=fill_mask&model=google-bert%2Fbert-base-uncased&text=a+%26+b+%3D+c%3F&top_k=7")
    restored = read(query)
    assert restored.tab == "fill_mask" and restored.notes == ()
    assert restored.values == values
    assert type(restored.values["layer"]) is int and type(restored.values["top_k"]) is int


def test_blank_settings_are_left_out_of_the_link() -> None:
    query = permalink.query("fill_mask", FIELDS, {"text": "   ", "heads": [], "model": None, "pad": False})
    assert dict(parse_qsl(query)) == {"tab": "fill_mask", "pad": "false"}


def test_numbers_are_written_as_the_browser_writes_them() -> None:
    # The page writes String(value): 5 -> "5", 0.15 -> "0.15"; the server's copy (exports) must say the same.
    spec = permalink.number("x", "X")
    assert [spec.write(v) for v in (5, 5.0, 0.15, -1)] == ["5", "5", "0.15", "-1"]


@pytest.mark.parametrize(("query", "note"), [
    ("tab=fill_mask&top_k=500", "Top-k must be a whole number between 1 and 50"),
    ("tab=fill_mask&top_k=2.5", "Top-k must be a whole number between 1 and 50"),
    ("tab=fill_mask&top_k=nan", "Top-k must be a whole number"),
    ("tab=fill_mask&rate=1e9", "Rate must be a number between 0.05 and 0.5"),
    ("tab=fill_mask&layer=maybe", "Layer must be one of: 0, 1, 2"),
    ("tab=fill_mask&unit=letters", "Unit must be one of: pieces, words"),
    ("tab=fill_mask&heads=1,99", "Heads must be a whole number between 0 and 11"),
    ("tab=fill_mask&text=" + "x" * 31, "Text is 31 characters; this tab takes up to 30"),
    ("tab=fill_mask&model=", "Model: the link names no model"),
    ("tab=fill_mask&model=a%0Ab", "control characters"),
    ("tab=fill_mask&colour=red", "'colour' is not a setting of Masked words; ignored."),
])
def test_a_bad_parameter_is_ignored_with_a_note_and_the_rest_kept(query: str, note: str) -> None:
    restored = read(query + "&pad=yes")
    assert restored.tab == "fill_mask"
    assert restored.values == {"pad": True}
    assert len(restored.notes) == 1 and note in restored.notes[0]


def test_a_repeated_parameter_keeps_its_first_value() -> None:
    restored = read("tab=fill_mask&top_k=3&top_k=9&tab=models")
    assert restored.tab == "fill_mask" and restored.values == {"top_k": 3}
    assert restored.notes == ("tab was given more than once; the first was used.",
                              "'top_k' was given more than once; the first was used.")


def test_an_unknown_tab_or_none_ignores_every_setting() -> None:
    unknown = read("tab=%3Cscript%3E&text=hi")
    assert unknown.tab is None and unknown.values == {}
    assert "'<script>' is not one of this app's tabs (fill_mask, models)" in unknown.notes[0]
    assert read("text=hi").notes == ("This link names no tab (tab=…), so its settings were ignored.",)


def test_gradio_own_parameters_pass_silently_and_a_plain_page_has_no_notes() -> None:
    assert read("") == permalink.Restored(None)
    assert read("__theme=dark&view=api") == permalink.Restored(None)
    assert read("__theme=dark&tab=models") == permalink.Restored("models")


def test_a_flood_of_bad_parameters_gets_a_few_notes_and_a_count() -> None:
    restored = read("tab=fill_mask&" + "&".join(f"p{i}=1" for i in range(40)))
    assert len(restored.notes) == permalink.MAX_NOTES + 1
    assert restored.notes[-1] == f"… and {40 - permalink.MAX_NOTES} more parameters ignored."


def test_long_parameter_names_are_shortened_in_notes() -> None:
    restored = read("tab=fill_mask&" + "n" * 5000 + "=1")
    assert len(restored.notes[0]) < 120


def test_flags_read_the_usual_spellings_and_nothing_else() -> None:
    spec = permalink.flag("pad", "Pad")
    assert [spec.read(v) for v in ("true", "1", "Yes", "on", "false", "0", "no", "OFF")] == [True] * 4 + [False] * 4
    with pytest.raises(BadInput, match="Pad must be true or false"):
        spec.read("maybe")


def test_read_never_trusts_the_choice_text() -> None:
    with pytest.raises(BadInput):
        permalink.choice("layer", "Layer", (0, 1)).read("0 ")
