"""Standalone exports: one document that fetches nothing, hostile text kept as text, figures that parse back; the
export folder's byte budget."""

from __future__ import annotations

import json
import re

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.export import Part, ViewExport, plotly_js, script_json, standalone_html
from bertviz_ui.ui.export import shown_parts
from bertviz_ui.ui.export_folder import ExportFolder

HOSTILE = "</script><img src=x onerror=alert(1)><!--"


def _document(**view) -> str:
    figure = go.Figure(go.Bar(x=[HOSTILE, "b"], y=[0.25, 0.75], name=HOSTILE), layout={"title": HOSTILE})
    parts = [Part("chips", "Tokens", '<span class="bv-chip">cat</span>'), Part("bars", HOSTILE, figure),
             Part("table", "Table", pd.DataFrame({"token": [HOSTILE], "score": [0.5]}))]
    defaults = {"title": "Masked words", "model": HOSTILE, "texts": {"Text": HOSTILE}, "settings": {"Top-k": 5,
                "Pad": True, HOSTILE: HOSTILE}, "permalink": "http://127.0.0.1:7860/?tab=fill_mask&text=%3C"}
    return standalone_html(ViewExport(**(defaults | view)), parts)


def _outside_plotly(document: str) -> str:
    return document.replace(plotly_js(), "")


def test_the_document_loads_nothing_from_anywhere():
    rest = _outside_plotly(_document())
    # Scripts and styles are inline: no src, no <link>, no @import or url() (the permalink is an <a>, not a load).
    assert not re.search(r"<(script|img|iframe|link|source|video|audio)\b[^>]*\s(src|href)=", rest, re.IGNORECASE)
    assert "@import" not in rest and "url(" not in rest
    assert rest.count("<script") == 3  # the figure's JSON, plotly.js, the drawing script
    assert "default-src 'none'" in rest
    assert len(_document()) > 4_000_000  # plotly.js inlined


def test_hostile_text_stays_text_and_the_figure_json_parses_back():
    document = _document()
    rest = _outside_plotly(document)
    assert "<img" not in rest and "<!--" not in rest
    assert rest.count("</script>") == 3
    data = re.search(r'<script type="application/json" id="fig-1">(.*?)</script>', document, re.DOTALL).group(1)
    figure = json.loads(data)
    assert figure["layout"]["title"]["text"] == HOSTILE
    assert figure["data"][0]["x"] == [HOSTILE, "b"] and figure["data"][0]["name"] == HOSTILE
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in rest  # the model, text, setting and table


def test_the_header_names_model_texts_settings_and_the_permalink():
    header = re.search(r'<header class="bv-export-header">(.*?)</header>', _document(), re.DOTALL).group(1)
    assert "<th>Top-k</th><td>5</td>" in header and "<th>Pad</th><td>yes</td>" in header
    assert '<a href="http://127.0.0.1:7860/?tab=fill_mask&amp;text=%3C">' in header
    # Only http(s) or a relative query becomes a link.
    assert "<a " not in _outside_plotly(_document(permalink="javascript:alert(1)"))


def test_script_json_escapes_what_could_end_the_element():
    text = script_json({"t": HOSTILE + "&"})
    assert "<" not in text and ">" not in text and "&" not in text.replace("\\u0026", "")
    assert json.loads(text) == {"t": HOSTILE + "&"}


def test_a_view_without_figures_has_no_plotly():
    document = standalone_html(ViewExport(title="Tokenizer", model="m"), [Part("chips", "", "<b>x</b>")])
    assert "<script" not in document and len(document) < 20_000


def test_shown_parts_keep_order_and_skip_hidden_or_empty():
    figure = go.Figure()
    shown = {"header": "<b>m</b>", "bars": figure, "iterative": {"__type__": "update", "visible": False, "value": 1},
             "empty": "", "table": {"__type__": "update", "value": pd.DataFrame({"a": [1]})}, "raw": {"x": 1}}
    parts = shown_parts(shown, [("bars", "B"), ("header", ""), ("iterative", "I"), ("empty", "E"), ("table", "T"),
                                ("missing", "M")])
    assert [part.name for part in parts] == ["bars", "header", "table"]


def test_the_folder_deletes_the_oldest_files_past_its_budget(tmp_path):
    folder = ExportFolder(tmp_path, max_bytes=2_500)
    paths = [folder.write("view", "x" * 1_000) for _ in range(4)]
    left = sorted(tmp_path.glob("*.html"))
    assert paths[-1] in left and paths[-2] in left and paths[0] not in left
    assert sum(p.stat().st_size for p in left) <= 2_500
    # The newest file stays even alone over the budget.
    big = folder.write("view", "y" * 5_000)
    assert sorted(tmp_path.glob("*.html")) == [big]


def test_exports_live_in_gradios_cache_so_gradio_serves_them_without_a_copy(tmp_path, monkeypatch):
    """A file outside Gradio's cache is copied into it for the download, and that copy is outside the folder's byte
    budget: a client exporting in a loop would fill the disk for an hour. Inside, Gradio hands out the file itself."""
    import gradio as gr

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    path = ExportFolder().write("view", "<!doctype html><p>x</p>")
    assert path.parent.parent == tmp_path / "gradio"
    with gr.Blocks():
        shown = gr.File(interactive=False)
    assert shown.GRADIO_CACHE == str(tmp_path / "gradio")
    from gradio.processing_utils import move_files_to_cache

    served = move_files_to_cache(shown.postprocess(str(path)), shown, postprocess=True)
    assert served["path"] == str(path)
    assert [p for p in (tmp_path / "gradio").rglob("*.html")] == [path]
    elsewhere = tmp_path / "elsewhere.html"  # what the folder did before: a copy per export
    elsewhere.write_text("<p>y</p>")
    copied = move_files_to_cache(shown.postprocess(str(elsewhere)), shown, postprocess=True)
    assert copied["path"] != str(elsewhere) and len(list((tmp_path / "gradio").rglob("*.html"))) == 2
