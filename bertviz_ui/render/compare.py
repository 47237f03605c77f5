"""Two models side by side: each model's result in a column (stacked on a phone), then what differs. Escaped HTML."""

from __future__ import annotations

from bertviz_ui.render.html import esc, notes_html, percent
from bertviz_ui.render.tokenizer import comparison_html
from bertviz_ui.tasks.compare import AttentionDiff, FillMaskDiff, SentimentDiff, TokenizerDiff
from bertviz_ui.tasks.encoder import EncoderRun
from bertviz_ui.tasks.fill_mask import FillMaskResult
from bertviz_ui.tasks.sentiment import SentimentBatch
from bertviz_ui.tasks.tokenizer import Tokenization

# Lines of a sentiment batch drawn side by side; the diff table and the JSON hold every line.
SHOWN_LINES = 20


def header_html(label_a: str, label_b: str, *, untrained_a: bool, untrained_b: bool) -> str:
    """Which model is A and which is B, each with a plain warning when its weights are untrained."""
    def badge(name: str, label: str, untrained: bool) -> str:
        warning = ' <span class="bv-untrained">untrained random weights</span>' if untrained else ""
        return f'<div class="bv-model-badge"><b>Model {name}</b> {esc(label)}{warning}</div>'

    return (f'<div class="bv-compare-header" data-testid="compare-header">{badge("A", label_a, untrained_a)}'
            f'{badge("B", label_b, untrained_b)}</div>')


def _columns(left_title: str, left: str, right_title: str, right: str) -> str:
    """Two columns (one above the other on a narrow screen); the bodies arrive escaped."""
    return (f'<div class="bv-compare-cols"><div class="bv-compare-col"><h3>A: {esc(left_title)}</h3>{left}</div>'
            f'<div class="bv-compare-col"><h3>B: {esc(right_title)}</h3>{right}</div></div>')


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A small table; the cells arrive escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<div class="bv-compare-table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _diff(body: str) -> str:
    """The differences block, under its heading; ``body`` arrives escaped."""
    return f'<div class="bv-compare-diff" data-testid="compare-diff"><h3>What differs</h3>{body}</div>'


def _signed(delta: float | None) -> str:
    if delta is None:
        return "–"
    return f"{delta * 100:+.1f} pts"


# --- Tokenizer --------------------------------------------------------------------------------------


def tokenizer_sides_html(a: Tokenization, b: Tokenization) -> str:
    """Both tokenizations as the Tokenizer tab draws them (chips boxed by word), side by side."""
    return comparison_html(a, b)


def tokenizer_diff_html(diff: TokenizerDiff) -> str:
    """Token counts and each word split differently: its pieces under A and under B."""
    counts = (f"<p><b>{diff.tokens_a}</b> tokens under A, <b>{diff.tokens_b}</b> under B. "
              f"{len(diff.split_differently)} of {diff.words_compared} words split differently.</p>")
    rows = [(esc(w.text), " ".join(f"<code>{esc(p)}</code>" for p in w.pieces_a) or "–",
             " ".join(f"<code>{esc(p)}</code>" for p in w.pieces_b) or "–", "B" if w.segment else "A")
            for w in diff.split_differently]
    table = _table(("word", "pieces under A", "pieces under B", "sentence"), rows) if rows else ""
    return _diff(f"{counts}{table}{notes_html(diff.notes)}")


# --- Masked words -----------------------------------------------------------------------------------


def _top_k(result: FillMaskResult) -> str:
    parts = []
    for number, mask in enumerate(result.masks, start=1):
        items = "".join(f"<li><b>{esc(p.token)}</b> {esc(percent(p.score))}</li>" for p in mask.predictions)
        parts.append(f'<p class="bv-compare-mask">Mask {number}</p><ol>{items}</ol>')
    return f"<p>{esc(result.completed)}</p>{''.join(parts)}"


def fill_mask_sides_html(a: FillMaskResult, b: FillMaskResult) -> str:
    """Each model's top-k per mask, side by side."""
    return _columns(a.model, _top_k(a), b.model, _top_k(b))


def fill_mask_diff_html(diff: FillMaskDiff) -> str:
    """Per mask: the words that entered and left the top-k going from A to B, and the probability change of words in
    both."""
    parts = []
    for mask in diff.masks:
        entered = ", ".join(esc(w) for w in mask.entered) or "none"
        left = ", ".join(esc(w) for w in mask.left) or "none"
        same = "the same" if mask.top1_a == mask.top1_b else "different"
        rows = [(esc(d.word), esc(percent(d.score_a)), esc(percent(d.score_b)), esc(_signed(d.delta)))
                for d in mask.shared]
        table = _table(("word in both", "A", "B", "B − A"), rows) if rows else ""
        parts.append(f'<p class="bv-compare-mask">Mask {mask.mask}: top guess {same} '
                     f"(<b>{esc(mask.top1_a)}</b> vs <b>{esc(mask.top1_b)}</b>)</p>"
                     f"<p>Entered B's top-k: {entered}. Left it: {left}.</p>{table}")
    return _diff("".join(parts) + notes_html(diff.notes))


# --- Sentiment --------------------------------------------------------------------------------------


def _classes(batch: SentimentBatch) -> str:
    parts = []
    for row in batch.rows[:SHOWN_LINES]:
        bars = "".join(
            f'<div class="bv-compare-bar"><span>{esc(s.label)}</span>'
            f'<span class="bv-compare-track"><span style="width:{100 * s.score:.1f}%"></span></span>'
            f"<span>{esc(percent(s.score))}</span></div>" for s in row.scores)
        parts.append(f'<p class="bv-compare-line">{esc(row.text)} → <b>{esc(row.label)}</b></p>{bars}')
    more = (f"<p><small>{len(batch.rows) - SHOWN_LINES} more line(s) in the table below.</small></p>"
            if len(batch.rows) > SHOWN_LINES else "")
    return "".join(parts) + more


def sentiment_sides_html(a: SentimentBatch, b: SentimentBatch) -> str:
    """Each model's class probabilities per line, side by side."""
    return _columns(a.model, _classes(a), b.model, _classes(b))


def sentiment_diff_html(diff: SentimentDiff) -> str:
    """Per line: both predicted labels, and B minus A for each class (labels matched by name)."""
    agree = f"<p>The models agree on {diff.agreement:.0%} of the lines.</p>"
    labels = [c.label for c in diff.lines[0].classes] if diff.lines else []
    rows = [(esc(line.text), esc(line.label_a), esc(line.label_b),
             *(esc(_signed(c.delta)) for c in line.classes)) for line in diff.lines]
    table = _table(("line", "A", "B", *(f"Δ {label}" for label in labels)), rows)
    return _diff(f"{agree}{notes_html(diff.notes)}{table}")


# --- Attention --------------------------------------------------------------------------------------


def _run_summary(run: EncoderRun) -> str:
    tokens = " ".join(f"<code>{esc(t)}</code>" for t in run.tokens[:64])
    more = f" … ({len(run.tokens)} in all)" if len(run.tokens) > 64 else ""
    return (f"<p><b>{run.layers}</b> layers × <b>{run.heads}</b> heads, <b>{len(run.tokens)}</b> tokens</p>"
            f"<p>{tokens}{more}</p>{notes_html(run.notes)}")


def attention_sides_html(a: EncoderRun, b: EncoderRun) -> str:
    """Each model's shape and tokens, side by side (the Inside BERT views show either model's attention)."""
    return _columns(a.model, _run_summary(a), b.model, _run_summary(b))


def attention_diff_html(diff: AttentionDiff) -> str:
    """Per layer, the mean Jensen-Shannon distance between the models' word-level attention, as bars; or why there
    is none."""
    if not diff.available:
        return _diff(f"<p>No per-layer distance: {esc(diff.reason)}</p>")
    bars = "".join(
        f'<div class="bv-compare-bar"><span>layer {layer}</span>'
        f'<span class="bv-compare-track"><span style="width:{100 * d:.1f}%"></span></span><span>{d:.3f}</span></div>'
        for layer, d in enumerate(diff.distances))
    words = " ".join(f"<code>{esc(w)}</code>" for w in diff.words[:64])
    return _diff("<p>Mean Jensen-Shannon distance (base 2: 0 = the same attention, 1 = attention on different words) "
                 "between the two models' attention rows, averaged over heads and measured between words "
                 f"({len(diff.words)} units):</p>{bars}<p><small>{words}</small></p>")
