"""Question-answering rendering: the answer in its passage, segment-coloured tokens, start/end logit plots, the
candidate spans and the windows of a long context."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, percent, plot_text
from bertviz_ui.tasks.pieces import PIECES, WORDS, groups
from bertviz_ui.tasks.qa import QaResult, QaWindow

# A passage longer than this is shown as an excerpt around the answer (the table and JSON keep the offsets).
MAX_PASSAGE_CHARS = 6000
EXCERPT_MARGIN = 1500
# Context tokens visible at once in the logit plots; the range slider under them scrolls through the rest.
VISIBLE_TOKENS = 80
START_COLOUR = "#2f6fdf"
END_COLOUR = "#d9641e"


def _excerpt(context: str, start: int, end: int) -> tuple[int, int]:
    if len(context) <= MAX_PASSAGE_CHARS:
        return 0, len(context)
    return max(0, start - EXCERPT_MARGIN), min(len(context), end + EXCERPT_MARGIN)


def answer_html(result: QaResult) -> str:
    """The answer (or "no answer") and the passage with the answer highlighted; long passages as an excerpt.

    Args:
        result: the QA result.

    Returns:
        HTML; the question, the context and the answer are escaped.
    """
    if result.no_answer:
        if result.null_score is not None and result.candidates:
            why = (f"the null score P([CLS] start) &times; P([CLS] end) = {percent(result.null_score)} beats the "
                   f"best span, &ldquo;{esc(result.candidates[0].answer)}&rdquo; at "
                   f"{percent(result.candidates[0].score)}")
        else:
            why = "no span of the context could be scored"
        headline = f'<p class="bv-qa-answer" data-testid="qa-answer"><b>No answer</b>: {why}.</p>'
        lo, hi = _excerpt(result.context, 0, 0)
        passage = esc(result.context[lo:hi])
    else:
        where = (f"window {result.window + 1} of {len(result.windows)}, " if len(result.windows) > 1 else "")
        headline = (f'<p class="bv-qa-answer" data-testid="qa-answer"><b>Answer</b>: '
                    f'<mark class="bv-qa-mark">{esc(result.answer)}</mark> '
                    f"<span>score {percent(result.score)} ({where}characters {result.start}&ndash;{result.end})</span></p>")
        lo, hi = _excerpt(result.context, result.start, result.end)
        passage = (esc(result.context[lo:result.start]) + '<mark class="bv-qa-mark" data-testid="qa-highlight">'
                   + esc(result.context[result.start:result.end]) + "</mark>" + esc(result.context[result.end:hi]))
    cut = ""
    if (lo, hi) != (0, len(result.context)):
        cut = (f'<p class="bv-more">Showing characters {lo:,}&ndash;{hi:,} of {len(result.context):,} around the '
               "answer.</p>")
        passage = ("&hellip;" if lo else "") + passage + ("&hellip;" if hi < len(result.context) else "")
    return (f'<div class="bv-qa">{headline}<p class="bv-qa-question"><b>Question</b>: {esc(result.question)}</p>'
            f'{cut}<div class="bv-qa-passage" data-testid="qa-passage">{passage}</div></div>')


def tokens_html(window: QaWindow, result: QaResult) -> str:
    """The window's tokens as BERT read them, coloured by segment (question, context, special); the answer's
    tokens outlined."""
    answer = set()
    if result.window == window.index and not result.no_answer:
        best = result.candidates[0]
        answer = set(range(best.token_start, best.token_end + 1))
    css = {"question": "bv-a", "context": "bv-b", "special": "bv-special"}
    chips = []
    for i, (token, segment) in enumerate(zip(window.tokens, window.segments)):
        outline = " bv-qa-in" if i in answer else ""
        chips.append(f'<span class="bv-chip {css[segment]}{outline}" title="#{i} · {segment}">{esc(token)}'
                     f"<small>{i}</small></span>")
    legend = ('<div class="bv-legend"><span class="bv-chip bv-a">question</span><span class="bv-chip bv-b">'
              'context</span><span class="bv-chip bv-special">special</span><span class="bv-chip bv-b bv-qa-in">'
              "answer</span><span>Only context tokens can start or end an answer.</span></div>")
    return f'<div class="bv-tokens" data-testid="qa-tokens">{legend}<div class="bv-chip-flow">{"".join(chips)}</div></div>'


def _units(window: QaWindow, unit: str) -> tuple[list[str], list[tuple[int, ...]], np.ndarray, np.ndarray]:
    """The plotted units over the window's context: labels, token positions of each, and start and end logits.

    Words: a word's start (end) probability is the sum of its pieces' (the softmax runs over tokens), so its logit
    is the log-sum-exp of theirs; the softmax over words then gives exactly those sums."""
    positions = [i for i, segment in enumerate(window.segments) if segment == "context"]
    word_ids = [window.word_ids[i] for i in positions] if window.word_ids else [None] * len(positions)
    grouping = groups([window.tokens[i] for i in positions], word_ids,
                      unit=unit if window.word_ids else PIECES)
    members = [tuple(positions[k] for k in group) for group in grouping.members]
    starts = np.array([np.logaddexp.reduce([window.start_logits[i] for i in group]) for group in members])
    ends = np.array([np.logaddexp.reduce([window.end_logits[i] for i in group]) for group in members])
    labels = [f"{plot_text(text)} <sub>{group[0]}</sub>" for text, group in zip(grouping.labels, members)]
    return labels, members, starts, ends


def logits_figure(window: QaWindow, result: QaResult, unit: str = PIECES) -> go.Figure:
    """Start and end logits over the window's context tokens, or its words (two rows, one shared axis), the chosen
    start and end marked; long windows open on the answer and scroll with the range slider."""
    # A category axis named by token (unique with its position): plotly shows as many names as fit the width (every
    # one on a desktop, every fifth or so on a phone) where an axis given every name draws them over each other.
    labels, members, starts, ends = _units(window, unit)
    slot = {position: k for k, group in enumerate(members) for position in group}
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=("Start logits (answer begins)",
                                           "End logits (answer ends)"))
    for row, (values, colour, name) in enumerate(((starts, START_COLOUR, "start"), (ends, END_COLOUR, "end")),
                                                 start=1):
        figure.add_trace(go.Bar(
            x=labels, y=values.tolist(), marker_color=colour, name=f"{name} logit",
            customdata=[[label, group[0]] for label, group in zip(labels, members)],
            hovertemplate=f"token #%{{customdata[1]}} %{{customdata[0]}}<br>{name} logit %{{y:.3f}}<extra></extra>"),
            row=row, col=1)
    chosen = not result.no_answer and result.window == window.index
    count = len(labels)
    shown = (-0.5, count - 0.5)
    if count > VISIBLE_TOKENS:
        centre = slot[result.candidates[0].token_start] if chosen else 0
        first = min(max(0, centre - VISIBLE_TOKENS // 2), count - VISIBLE_TOKENS)
        shown = (first - 0.5, first + VISIBLE_TOKENS - 0.5)
        figure.update_xaxes(range=list(shown), row=2, col=1)
        figure.update_xaxes(rangeslider={"visible": True, "thickness": 0.06}, row=2, col=1)
    if chosen:
        best = result.candidates[0]
        for row, index, values in ((1, best.token_start, starts), (2, best.token_end, ends)):
            # The star is a marker (the range slider repeats it in miniature, where the span is); its words are an
            # annotation, which the range slider doesn't squash. They point into the plot, away from its edge.
            at = slot[index]
            figure.add_trace(go.Scatter(x=[labels[at]], y=[float(values[at])], mode="markers", hoverinfo="skip",
                                        marker={"symbol": "star", "size": 16, "color": "#111"},
                                        name="chosen start" if row == 1 else "chosen end"), row=row, col=1)
            right_half = at > (shown[0] + shown[1]) / 2
            figure.add_annotation(x=labels[at], y=float(values[at]),
                                  text="chosen " + ("start" if row == 1 else "end"), showarrow=False,
                                  xanchor="right" if right_half else "left", xshift=-12 if right_half else 12,
                                  bgcolor="rgba(255,255,255,0.8)", row=row, col=1)
            figure.add_vrect(x0=slot[best.token_start] - 0.5, x1=slot[best.token_end] + 0.5, fillcolor="#ffd54a",
                             opacity=0.35, line_width=0, row=row, col=1)
    figure.update_xaxes(type="category", tickangle=-60, row=2, col=1)
    words = unit == WORDS and bool(window.word_ids)
    title = f"{count} context {'words (log-sum-exp of their pieces)' if words else 'tokens'}"
    if len(result.windows) > 1:
        title = f"Window {window.index + 1} of {len(result.windows)}: {title}"
    if count > VISIBLE_TOKENS:
        title += f" ({VISIBLE_TOKENS} shown; drag the slider below to scroll)"
    figure.update_layout(height=520, margin={"l": 40, "r": 20, "t": 70, "b": 10}, showlegend=False, title=title,
                         bargap=0.15)
    return frame(figure)


def candidates_table(result: QaResult) -> pd.DataFrame:
    """The top-k spans (and the null answer when it is allowed): where each lies and how it scored."""
    rows = [{"rank": rank, "answer": c.answer, "characters": f"{c.start}–{c.end}",
             "window": ", ".join(str(w + 1) for w in c.windows), "tokens": f"{c.token_start}–{c.token_end}",
             "start logit": round(c.start_logit, 4), "end logit": round(c.end_logit, 4), "score": round(c.score, 6)}
            for rank, c in enumerate(result.candidates, start=1)]
    if result.null_score is not None:
        rows.append({"rank": "null", "answer": "(no answer: [CLS] as start and end)", "characters": "",
                     "window": "lowest of all", "tokens": "0–0", "start logit": None, "end logit": None,
                     "score": round(result.null_score, 6)})
    columns = ["rank", "answer", "characters", "window", "tokens", "start logit", "end logit", "score"]
    return pd.DataFrame(rows, columns=columns)


def windows_html(result: QaResult) -> str:
    """Which part of the context each window covers, as bars over the context's length, and the answer's place."""
    length = max(1, len(result.context))
    bars = []
    for w in result.windows:
        left, width = 100 * w.char_start / length, max(0.4, 100 * (w.char_end - w.char_start) / length)
        holds = " bv-qa-win-answer" if w.index == result.window and not result.no_answer else ""
        bars.append(f'<div class="bv-qa-win-row"><span>window {w.index + 1}</span><div class="bv-qa-win-track">'
                    f'<div class="bv-qa-win{holds}" style="left:{left:.2f}%;width:{width:.2f}%" '
                    f'title="characters {w.char_start}–{w.char_end}, best span {percent(w.best_score)}"></div></div>'
                    f"<small>chars {w.char_start:,}&ndash;{w.char_end:,} · best span {percent(w.best_score)}</small>"
                    "</div>")
    if not result.no_answer:
        at = 100 * result.start / length
        bars.append(f'<div class="bv-qa-win-row"><span>answer</span><div class="bv-qa-win-track">'
                    f'<div class="bv-qa-win-pin" style="left:{at:.2f}%"></div></div>'
                    f"<small>character {result.start:,}</small></div>")
    unread = ""
    if result.total_windows > len(result.windows):
        more = result.total_windows - len(result.windows)
        about = "About " if result.total_windows_estimated else ""
        unread = (f"<p>{about}{more:,} more windows were not read; the bars cover "
                  f"characters 0&ndash;{result.windows[-1].char_end:,} of {len(result.context):,}.</p>")
    forwards = "one batched forward" if result.forward_passes == 1 else f"{result.forward_passes} batched forwards"
    intro = (f"<p>{len(result.windows)} windows of {result.window_tokens} tokens (question included), "
             f"consecutive windows sharing {result.stride} context tokens, scored in {forwards}.</p>")
    return f'<div class="bv-qa-windows" data-testid="qa-windows">{intro}{unread}{"".join(bars)}</div>'


def independent_argmax_html(result: QaResult) -> str:
    """What the seed's argmax(start), argmax(end) recipe would return here, and why the span search differs."""
    seed = result.independent_argmax
    if seed is None:
        return ""
    window = result.windows[0]
    verdict = "same answer" if seed.valid and seed.text.lower() == result.answer.lower() else seed.reason
    return (f'<div class="bv-qa-seed" data-testid="qa-seed"><p>The seed text\'s recipe takes <code>argmax</code> of the '
            f"start logits and of the end logits separately over all tokens: here token {seed.token_start} "
            f"(<code>{esc(window.tokens[seed.token_start])}</code>) to token {seed.token_end} "
            f"(<code>{esc(window.tokens[seed.token_end])}</code>), giving &ldquo;{esc(seed.text)}&rdquo; "
            f"({esc(verdict)}). It also joins tokens back into text, so an uncased model answers in lower case; "
            "the span search above keeps only context tokens, requires end &ge; start within the length limit, "
            "and cuts the answer from your text by character offsets.</p></div>")
