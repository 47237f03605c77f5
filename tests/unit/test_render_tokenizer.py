"""Tokenizer rendering: chips, grouping, table and comparison, and that nothing user- or model-controlled is unescaped."""

from __future__ import annotations

import re

from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.render.tokenizer import chips_html, comparison_html, summary_html, token_table
from bertviz_ui.tasks.tokenizer import tokenize

XSS = '<img src=x onerror="window.__xss=1">'


def chip_texts(html: str) -> list[str]:
    return re.findall(r'<span class="bv-chip[^"]*"[^>]*>(.*?)<small>', html)


def test_chips_one_per_token_coloured_by_segment(uncased):
    result = tokenize("The cat sat on the mat.", "It was a lazy afternoon.", tokenizer=uncased)
    html = chips_html(result)
    flow = html.split('bv-chip-flow')[1]
    assert chip_texts(flow) == list(result.tokens)
    assert flow.count('class="bv-chip bv-b"') == 6  # it was a lazy afternoon .
    assert flow.count('class="bv-chip bv-special"') == 3  # [CLS] [SEP] [SEP]
    assert 'title="#0 · id 101 · type 0 · mask 1"' in html


def test_pieces_boxed_under_their_word(uncased):
    html = chips_html(tokenize("Elon Musk", tokenizer=uncased))
    box = re.search(r'<span class="bv-word" title="Elon: 2 tokens">(.*?)<span class="bv-word-text">Elon</span>', html)
    assert box and chip_texts(box.group(1)) == ["el", "##on"]
    assert 'bv-piece' in box.group(1)


def test_chip_cap_counts_the_rest(uncased):
    result = tokenize("word " * 50, tokenizer=uncased)
    html = chips_html(result, max_chips=10)
    assert "and 42 more tokens" in html


def test_table_rows_hold_ids_offsets_and_characters(uncased):
    result = tokenize("The cat sat on the mat.", "It was a lazy afternoon.", tokenizer=uncased)
    table = token_table(result)
    assert len(table) == 16
    mat = table[table["token"] == "mat"].iloc[0]
    assert (mat["input id"], mat["start"], mat["end"], mat["characters"], mat["word id"]) == (13523, 19, 22, "mat", 5)
    assert table.iloc[9]["characters"] == "It" and table.iloc[9]["token type"] == 1
    assert table.iloc[0]["special"] == "yes" and table.iloc[0]["start"] == ""


def test_user_text_and_labels_are_escaped(uncased):
    result = tokenize(XSS, XSS, tokenizer=uncased, model=XSS, split_special_tokens=True)
    for html in (chips_html(result), summary_html(result), comparison_html(result, result),
                 model_badge_html(XSS, untrained=True), notes_html([XSS])):
        assert "<img" not in html
    assert "&lt;img" in comparison_html(result, result)
    assert "&lt;img" in model_badge_html(XSS, untrained=False)


def test_comparison_verdicts(uncased):
    a = tokenize("Unaffable", tokenizer=uncased, model="A")
    b = tokenize("Unaffable", tokenizer=uncased, model="B", split_special_tokens=True)
    assert "identical" in comparison_html(a, b)
    c = tokenize("Unaffable words", tokenizer=uncased, model="C")
    assert f"{a.num_tokens} vs {c.num_tokens} tokens" in comparison_html(a, c)


def test_summary_lists_special_tokens_with_meanings(uncased):
    html = summary_html(tokenize("The cat", tokenizer=uncased))
    assert "<td><code>[CLS]</code></td><td>101</td>" in html
    assert "<td><code>[PAD]</code></td><td>0</td>" in html
