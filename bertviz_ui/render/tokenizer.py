"""Tokenizer rendering: token chips grouped by word, the token table, special tokens, side-by-side comparison."""

from __future__ import annotations

import pandas as pd

from bertviz_ui.render.html import esc, notes_html
from bertviz_ui.tasks.tokenizer import Tokenization

# Drawing more chips than this makes the page sluggish; the table and JSON still hold every token.
MAX_CHIPS = 1000

TABLE_COLUMNS = ("#", "token", "input id", "token type", "attention mask", "start", "end", "characters",
                 "word id", "special")


def _chip(t: Tokenization, index: int, specials: frozenset[str]) -> str:
    token, token_id = t.tokens[index], t.input_ids[index]
    offset = t.offsets[index]
    if t.attention_mask[index] == 0:
        kind = "pad"
    elif t.special_tokens_mask[index] or token in specials:
        kind = "special"
    else:
        kind = "b" if t.token_type_ids[index] == 1 else "a"
    piece = " bv-piece" if token.startswith("##") else ""
    where = f" · chars {offset[0]}–{offset[1]}" if offset else ""
    title = f"#{index} · id {token_id} · type {t.token_type_ids[index]} · mask {t.attention_mask[index]}{where}"
    return (f'<span class="bv-chip bv-{kind}{piece}" title="{esc(title)}" data-index="{index}">'
            f'{esc(token)}<small>{token_id}</small></span>')


def chips_html(t: Tokenization, *, max_chips: int = MAX_CHIPS) -> str:
    """Token chips coloured by segment; the WordPiece pieces of one word are boxed under that word.

    Args:
        t: the tokenization.
        max_chips: draw at most this many tokens (the rest are counted).

    Returns:
        HTML (every token and word escaped).
    """
    specials = frozenset(s.token for s in t.special_tokens)
    group_of = {g.token_indices[0]: g for g in t.words if len(g.token_indices) > 1}
    inside = {i for g in group_of.values() for i in g.token_indices[1:]}
    parts = []
    shown = min(len(t.tokens), max_chips)
    for index in range(shown):
        if index in inside:
            continue
        group = group_of.get(index)
        if group is None:
            parts.append(_chip(t, index, specials))
            continue
        pieces = "".join(_chip(t, i, specials) for i in group.token_indices if i < shown)
        parts.append(f'<span class="bv-word" title="{esc(group.text)}: {len(group.token_indices)} tokens">'
                     f'<span class="bv-word-pieces">{pieces}</span>'
                     f'<span class="bv-word-text">{esc(group.text)}</span></span>')
    more = ""
    if shown < len(t.tokens):
        more = f'<p class="bv-more">… and {len(t.tokens) - shown:,} more tokens (all are in the table and JSON).</p>'
    removed = ""
    if t.truncated_tokens:
        cut = "".join(f'<span class="bv-chip bv-cut">{esc(tok)}</span>' for tok in t.truncated_tokens[:200])
        removed = f'<div class="bv-removed"><b>Removed by truncation</b> {cut}</div>'
    legend = ('<div class="bv-legend"><span class="bv-chip bv-a">sentence A</span>'
              + ('<span class="bv-chip bv-b">sentence B</span>' if t.text_pair else "")
              + '<span class="bv-chip bv-special">special</span>'
              + ('<span class="bv-chip bv-pad">padding</span>' if t.num_padding else "")
              + '<span class="bv-word-legend">boxed: one word split into WordPiece pieces (## = continues a word)</span>'
              + "</div>")
    return (f'<div class="bv-tokens" data-testid="token-chips">{legend}'
            f'<div class="bv-chip-flow">{"".join(parts)}</div>{more}{removed}</div>')


def token_table(t: Tokenization, *, max_rows: int = MAX_CHIPS) -> pd.DataFrame:
    """One row per token: id, segment, mask, character span, the characters it covers, word id, special."""
    sources = (t.text, t.text_pair or "")
    rows = []
    for index in range(min(len(t.tokens), max_rows)):
        offset, segment = t.offsets[index], t.sequence_ids[index]
        covered = sources[segment][offset[0]:offset[1]] if offset and segment is not None else ""
        rows.append((index, t.tokens[index], t.input_ids[index], t.token_type_ids[index], t.attention_mask[index],
                     "" if offset is None else offset[0], "" if offset is None else offset[1], covered,
                     "" if t.word_ids[index] is None else t.word_ids[index],
                     "yes" if t.special_tokens_mask[index] else ""))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def summary_html(t: Tokenization) -> str:
    """Counts, notes and the special tokens with what each is for."""
    pieces = sum(1 for tok in t.tokens if tok.startswith("##"))
    split_words = sum(1 for g in t.words if len(g.token_indices) > 1)
    stats = [
        ("tokens", f"{t.num_tokens}"),
        ("words", f"{len(t.words)}"),
        ("words split into pieces", f"{split_words}"),
        ("## continuation pieces", f"{pieces}"),
        ("padding", f"{t.num_padding}"),
        ("model maximum", f"{t.model_max_length}"),
    ]
    stat_html = "".join(f'<div class="bv-stat"><span>{esc(v)}</span><label>{esc(k)}</label></div>' for k, v in stats)
    rows = "".join(
        f"<tr><td><code>{esc(s.token)}</code></td><td>{s.id}</td><td>{esc(s.meaning)}</td></tr>"
        for s in t.special_tokens
    )
    table = ('<table class="bv-special-table"><thead><tr><th>special token</th><th>id</th><th>what it is for</th>'
             f"</tr></thead><tbody>{rows}</tbody></table>")
    return f'<div class="bv-summary" data-testid="token-summary"><div class="bv-stats">{stat_html}</div>{table}</div>'


def comparison_html(left: Tokenization, right: Tokenization) -> str:
    """Two tokenizers on the same input, side by side, with their token counts."""
    columns = []
    for t in (left, right):
        columns.append(
            f'<div class="bv-compare-col"><h3>{esc(t.model)}</h3>'
            f'<p><b>{t.num_tokens}</b> tokens</p>{chips_html(t, max_chips=300)}{notes_html(t.notes)}</div>'
        )
    same = left.tokens == right.tokens and left.input_ids == right.input_ids
    verdict = ("Both tokenizers produce identical tokens and ids." if same
               else f"They differ: {left.num_tokens} vs {right.num_tokens} tokens.")
    return (f'<div class="bv-compare" data-testid="token-compare"><p class="bv-verdict">{esc(verdict)}</p>'
            f'<div class="bv-compare-cols">{"".join(columns)}</div></div>')
