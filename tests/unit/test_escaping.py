"""Every HTML renderer escapes what users and models control: text, labels, tokens, model names.

gr.HTML does not sanitize, and inline handlers such as onerror run in the browser. Each renderer gets
hand-built results (as displaCy's manual=True) whose every string is a markup payload, including the
strings a model's config or vocabulary supplies, which a crafted checkpoint controls.
"""

from __future__ import annotations

import dataclasses

import pytest

from bertviz_ui.models.cache import CacheEntryInfo, CacheReport
from bertviz_ui.render import fill_mask as fill_mask_render
from bertviz_ui.render import finetune as finetune_render
from bertviz_ui.render import ner as ner_render
from bertviz_ui.render import nsp as nsp_render
from bertviz_ui.render import qa as qa_render
from bertviz_ui.render import sentiment as sentiment_render
from bertviz_ui.render import zero_shot as zero_shot_render
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.render.models import cache_summary_html
from bertviz_ui.tasks import finetune as finetune_task
from bertviz_ui.tasks.fill_mask import (
    ContextComparison,
    FillMaskResult,
    LabToken,
    MaskComparison,
    MaskingLabResult,
    MaskPrediction,
    Prediction,
    QuantizedComparison,
)
from bertviz_ui.tasks.ner import Entity
from bertviz_ui.tasks.nsp import NspResult, PairScore, ParagraphNsp
from bertviz_ui.tasks.qa import Candidate, IndependentArgmax, QaResult, QaWindow
from bertviz_ui.tasks.sentiment import Attribution, HeadInside, TokenScore
from bertviz_ui.tasks.zero_shot import LabelScore, ZeroShotResult

XSS = '<img src=x onerror="window.__xss=1">'


def assert_escaped(html: str, *, shown: bool = True) -> None:
    assert "<img" not in html and "onerror=\"" not in html
    if shown:
        assert "&lt;img" in html


def _prediction() -> Prediction:
    return Prediction(token=XSS, piece=XSS, token_id=1, score=0.5)


def _fill_mask() -> FillMaskResult:
    return FillMaskResult(model=XSS, text=f"{XSS} [MASK] {XSS}", mask_token="[MASK]", tokens=(XSS,),
                          masks=(MaskPrediction(position=1, predictions=(_prediction(),)),), completed=XSS,
                          notes=(XSS,))


def _quantized() -> QuantizedComparison:
    mask = _fill_mask().masks[0]
    other = MaskPrediction(position=1, predictions=(Prediction(token=f"{XSS}2", piece=XSS, token_id=2, score=0.4),))
    return QuantizedComparison(model=XSS, text=XSS, tokens=(XSS,), masks=(
        MaskComparison(full=mask, int8=mask, same_top1=True, shared=1, moved=0.01),
        MaskComparison(full=mask, int8=other, same_top1=False, shared=0, moved=0.2)), full_bytes=4 << 20,
        int8_bytes=1 << 20, full_seconds=0.2, int8_seconds=0.05, notes=(XSS,))


def _masking_lab() -> MaskingLabResult:
    tokens = (LabToken(0, XSS, XSS, "masked", XSS, 0.5, 0.1, 2.3), LabToken(1, XSS, XSS, "not selected"))
    return MaskingLabResult(model=XSS, sentence=XSS, seed=0, probability=0.15, tokens=tokens,
                            counts={"masked": 1, "random": 0, "unchanged": 0}, mean_loss=2.3, notes=(XSS,))


def _nsp() -> NspResult:
    return NspResult(model=XSS, sentence_a=XSS, sentence_b=XSS, tokens=("[CLS]", XSS, "[SEP]", XSS, "[SEP]"),
                     token_type_ids=(0, 0, 0, 1, 1), logits=(1.0, -1.0), is_next=0.88, not_next=0.12)


def _attribution() -> Attribution:
    word = TokenScore(text=XSS, score=0.3, start=0, end=len(XSS))
    return Attribution(method="integrated_gradients", target_label=XSS, steps=8, tokens=(word,), words=(word,),
                       target_logit=1.0, baseline_logit=0.7, sum_of_attributions=0.3, delta=0.0,
                       forward_passes=3, seconds=0.01)


def _head() -> HeadInside:
    return HeadInside(source=XSS, vector_size=2, vector_norm=1.0, vector_mean=0.0, vector_min=-1.0, vector_max=1.0,
                      vector_head=(1.0, -1.0), weight_shape=(2, 2), bias=(0.0, 0.0), logits=(1.0, 0.0),
                      probabilities=(0.73, 0.27), labels=(XSS, "other"))


def _zero_shot(multi_label: bool, method: str = "nli") -> ZeroShotResult:
    detail = LabelScore(label=XSS, hypothesis=f"This is {XSS}.", score=0.9, logits=(0.1, 0.2, 0.3))
    return ZeroShotResult(model=XSS, method=method, text=XSS, template="This is {}.", multi_label=multi_label,
                          labels=(XSS,), scores=(0.9,), hypotheses=(detail.hypothesis,), logits=(detail.logits,),
                          logit_names=(XSS, "neutral", "entailment"), details=(detail,), forward_passes=1,
                          seconds=0.01, notes=(XSS,))


def _qa(no_answer: bool = False) -> QaResult:
    window = QaWindow(index=0, tokens=("[CLS]", XSS, "[SEP]", XSS, "[SEP]"),
                      segments=("special", "question", "special", "context", "special"),
                      offsets=((0, 0), (0, 5), (0, 0), (0, len(XSS)), (0, 0)), start_logits=(0.0, 0.0, 0.0, 3.0, 0.0),
                      end_logits=(0.0, 0.0, 0.0, 3.0, 0.0), char_start=0, char_end=len(XSS), null_score=0.1,
                      best_score=0.8)
    candidate = Candidate(answer=XSS, start=0, end=len(XSS), score=0.8, window=0, token_start=3, token_end=3,
                          start_logit=3.0, end_logit=3.0, windows=(0,))
    return QaResult(model=XSS, question=XSS, context=XSS, answer="" if no_answer else XSS, start=0,
                    end=0 if no_answer else len(XSS), score=0.8, no_answer=no_answer, null_score=0.9 if no_answer else None,
                    window=None if no_answer else 0, candidates=(candidate,), windows=(window,), total_windows=1,
                    window_tokens=384, stride=128, max_answer_len=15, handle_impossible=no_answer,
                    independent_argmax=IndependentArgmax(1, 3, XSS, False, XSS), forward_passes=1, notes=(XSS,))


def _finetune() -> finetune_task.FinetuneResult:
    hp = finetune_task.Hyperparameters()
    return finetune_task.FinetuneResult(
        model=XSS, labels=(XSS, "ok"), label_counts={XSS: 2, "ok": 2}, hyperparameters=hp, scheme="holdout",
        scheme_description=XSS, n_train=2, n_evaluated=2, losses=(0.7,), learning_rates=(2e-5,), schedule=(2e-5,),
        epoch_metrics=(finetune_task.EpochMetrics(1, 0.7, 0.6, 0.5, 2),), accuracy=0.5, macro_f1=0.5,
        per_class=(finetune_task.ClassMetrics(XSS, 0.5, 0.5, 0.5, 1), finetune_task.ClassMetrics("ok", 0.5, 0.5, 0.5, 1)),
        confusion=((1, 0), (1, 0)), baseline=finetune_task.BaselineResult(XSS, 0.5, 0.5, (XSS, "ok"), ()),
        predictions=(), new_texts=(), total_params=10, trainable_params=2, encoder_forward_examples=4, elapsed_s=1.0,
        train_seconds=0.5, examples_per_s=8.0, steps=1, stopped_early=False, notes=(XSS,))


RENDERERS = {
    "model badge": lambda: model_badge_html(XSS, untrained=True),
    "notes": lambda: notes_html([XSS]),
    "cache summary": lambda: cache_summary_html(CacheReport(
        device=XSS, dtype=XSS, budget_bytes=1, used_bytes=0,
        entries=(CacheEntryInfo(XSS, XSS, XSS, XSS, XSS, 0, 0.0, 0),))),
    "cache summary, int8 asked for off the CPU": lambda: cache_summary_html(CacheReport(
        device=XSS, dtype=XSS, budget_bytes=1, used_bytes=0, entries=(), quantize="int8", precision="full")),
    "fill-mask completed sentence": lambda: fill_mask_render.completed_html(_fill_mask()),
    "masking lab": lambda: fill_mask_render.masking_lab_html(_masking_lab()),
    "fill-mask mask token": lambda: fill_mask_render.mask_token_html(XSS),
    "fill-mask left side": lambda: fill_mask_render.left_text_html(ContextComparison(
        mask_index=0, both_sides=_fill_mask().masks[0], left_only=_fill_mask().masks[0], left_text=XSS)),
    "fill-mask clicked word": lambda: fill_mask_render.click_masked_html(f"{XSS} [MASK]", f"{XSS}!", _fill_mask()),
    "fill-mask fp32 vs. int8": lambda: fill_mask_render.quantized_html(_quantized()),
    "NSP pair": lambda: nsp_render.segment_chips_html(_nsp()),
    "entities": lambda: ner_render.entities_html(f"{XSS} and {XSS}", (Entity(XSS, XSS, 0, len(XSS), 0.9),),
                                                 title=XSS),
    "attribution heatmap": lambda: sentiment_render.heatmap_html(XSS, _attribution()),
    "attribution cost": lambda: sentiment_render.cost_html(_attribution()),
    "inside the head": lambda: sentiment_render.head_html(_head()),
    "zero-shot single-label": lambda: zero_shot_render.explanation_html(_zero_shot(False)),
    "zero-shot multi-label": lambda: zero_shot_render.explanation_html(_zero_shot(True)),
    "zero-shot similarity": lambda: zero_shot_render.explanation_html(_zero_shot(False, "embedding similarity")),
    "QA answer": lambda: qa_render.answer_html(_qa()),
    "QA no answer": lambda: qa_render.answer_html(_qa(no_answer=True)),
    "QA tokens": lambda: qa_render.tokens_html(_qa().windows[0], _qa()),
    "QA argmax recipe": lambda: qa_render.independent_argmax_html(_qa()),
    "fine-tuning data": lambda: finetune_render.data_html(finetune_task.validate([(XSS, XSS), ("b", XSS), ("c", "ok"),
                                                                                  ("d", "ok"), ("", "")])),
    "fine-tuning parameters": lambda: finetune_render.params_html(finetune_task.ParameterCounts(10, 2, 2), frozen=True,
                                                                  model=XSS),
    "fine-tuning status": lambda: finetune_render.status_html(finetune_task.StepEvent(XSS, 1, 2, 1, 0.7, 2e-5, 1.0,
                                                                                      0.5, 8.0), phase=XSS),
    "fine-tuning message": lambda: finetune_render.message_html(XSS),
    "fine-tuning report": lambda: finetune_render.report_html(_finetune()),
    "fine-tuning setup": lambda: finetune_render.setup_html(finetune_task.SetupPreview(
        data=finetune_task.validate([(XSS, XSS), ("b", XSS), ("c", "ok"), ("d", "ok")]),
        split=finetune_task.Split("holdout", (0, 1), (((0, 1), (2, 3)),), XSS),
        counts=finetune_task.ParameterCounts(10, 2, 2), schedule=(1e-4,)), model=XSS, untrained=True),
}


def _encoder_run():
    import numpy as np

    from bertviz_ui.tasks.encoder import EncoderRun, _summaries

    tokens = ("[CLS]", XSS, "[SEP]")
    kinds = ("cls", "word", "sep")
    attentions = np.full((1, 1, 3, 3), 1 / 3, dtype=np.float32)
    return EncoderRun(model=XSS, model_type="bert", text=XSS, text_pair="", tokens=tokens, token_ids=(101, 1, 102),
                      segments=(0, 0, 0), word_ids=(None, 0, None), kinds=kinds, attentions=attentions,
                      hidden_states=np.ones((2, 3, 4), dtype=np.float32), embedding_parts=None,
                      summaries=_summaries(attentions, kinds), total_tokens=3, notes=(XSS,), seconds=0.01)


def _inside_renderers() -> dict:
    from bertviz_ui.render import attention as attention_render
    from bertviz_ui.render import attention_rollout as rollout_render
    from bertviz_ui.render import comparison as comparison_render
    from bertviz_ui.render import embeddings as embeddings_render
    from bertviz_ui.render import parameters as parameters_render
    from bertviz_ui.tasks.attention import attention_view
    from bertviz_ui.tasks.attention_rollout import rollout_view
    from bertviz_ui.tasks.comparison import Comparison
    from bertviz_ui.tasks.embeddings import embeddings_view
    from bertviz_ui.tasks.parameters import ModuleCount, ParameterCount, seed_check

    count = ParameterCount(model=XSS, architecture=XSS, head=XSS, modules=(ModuleCount(XSS, XSS, 1, 1),), total=1,
                           trainable=1, encoder=0, notes=(XSS,))
    view = attention_view(_encoder_run(), 0, None)
    return {
        "attention run header": lambda: attention_render.run_header_html(_encoder_run(), untrained=True),
        "attention view notes": lambda: attention_render.view_notes_html(dataclasses.replace(view, notes=(XSS,))),
        "embeddings check": lambda: embeddings_render.embeddings_header_html(
            dataclasses.replace(embeddings_view(_encoder_run(), 1), notes=(XSS,))),
        "parameter summary": lambda: parameters_render.count_summary_html(count),
        "seed check": lambda: parameters_render.seed_check_html(dataclasses.replace(seed_check(), notes=(XSS,))),
        "comparison notes": lambda: comparison_render.comparison_html(Comparison((), XSS, 1, (XSS,))),
        "rollout notes, words": lambda: rollout_render.rollout_notes_html(
            dataclasses.replace(rollout_view(_encoder_run(), 0, 1, "words", True), notes=(XSS,))),
        "rollout notes, flow refused": lambda: rollout_render.rollout_notes_html(
            dataclasses.replace(rollout_view(_encoder_run(), 0, 1), flow_reason=XSS)),
    }


RENDERERS.update(_inside_renderers())


def _similarity():
    from bertviz_ui.tasks.similarity import SentencePair, SimilarityResult

    return SimilarityResult(model=XSS, sentences=(XSS, XSS), tokens=(3, 3), matrix=((1.0, 0.5), (0.5, 1.0)),
                            pairs=(SentencePair(0, 1, 0.5),), nearest=(1, 0), mean_cosine=0.5, pooling=XSS,
                            notes=(XSS,))


def _similarity_renderers() -> dict:
    from bertviz_ui.render import similarity as similarity_render

    return {"similarity summary": lambda: similarity_render.summary_html(_similarity())}


RENDERERS.update(_similarity_renderers())


def _compare_renderers() -> dict:
    import numpy as np

    from bertviz_ui.render import compare as compare_render
    from bertviz_ui.tasks.compare import (
        AttentionDiff,
        ClassDelta,
        FillMaskDiff,
        LineDiff,
        MaskDiff,
        SentimentDiff,
        TokenizerDiff,
        WordDelta,
        WordSplit,
    )
    from bertviz_ui.tasks.sentiment import Classification, ClassScore, SentimentBatch

    batch = SentimentBatch(model=XSS, labels=(XSS,), rows=(Classification(XSS, XSS, 0.9, (ClassScore(XSS, 0.9),), 3,
                                                                          False, False),),
                           skipped_empty_lines=0, forward_passes=1, notes=(XSS,))
    sentiment = SentimentDiff(same_labels=False, only_a=(XSS,), only_b=(XSS,), agreement=1.0, notes=(XSS,),
                              lines=(LineDiff(XSS, XSS, XSS, True, (ClassDelta(XSS, 0.9, 0.8, -0.1),)),))
    tokenizer = TokenizerDiff(tokens_a=3, tokens_b=4, identical=False, words_compared=1, notes=(XSS,),
                              split_differently=(WordSplit(0, XSS, (XSS,), (XSS, XSS)),))
    fill_mask = FillMaskDiff(masks=(MaskDiff(1, XSS, XSS, (XSS,), (XSS,), (WordDelta(XSS, 0.5, 0.4, -0.1),)),),
                             notes=(XSS,))
    attention = AttentionDiff(unit="words", words=(XSS,), layers_a=1, layers_b=1, distances=(0.5,), available=True,
                              reason="")
    run = dataclasses.replace(_encoder_run(), attentions=np.full((1, 1, 3, 3), 1 / 3, dtype=np.float32))
    return {
        "compare header": lambda: compare_render.header_html(XSS, XSS, untrained_a=True, untrained_b=False),
        "compare tokenizer sides": lambda: compare_render.tokenizer_sides_html(*_tokenizations()),
        "compare tokenizer diff": lambda: compare_render.tokenizer_diff_html(tokenizer),
        "compare fill-mask sides": lambda: compare_render.fill_mask_sides_html(_fill_mask(), _fill_mask()),
        "compare fill-mask diff": lambda: compare_render.fill_mask_diff_html(fill_mask),
        "compare sentiment sides": lambda: compare_render.sentiment_sides_html(batch, batch),
        "compare sentiment diff": lambda: compare_render.sentiment_diff_html(sentiment),
        "compare attention sides": lambda: compare_render.attention_sides_html(run, run),
        "compare attention diff": lambda: compare_render.attention_diff_html(attention),
        "compare attention diff, none": lambda: compare_render.attention_diff_html(
            dataclasses.replace(attention, available=False, reason=XSS, distances=())),
    }


def _tokenizations():
    from bertviz_ui.tasks.tokenizer import Tokenization, WordGroup

    t = Tokenization(model=XSS, text=XSS, text_pair=None, tokens=("[CLS]", XSS, "[SEP]"), input_ids=(101, 1, 102),
                     token_type_ids=(0, 0, 0), attention_mask=(1, 1, 1), offsets=(None, (0, len(XSS)), None),
                     word_ids=(None, 0, None), sequence_ids=(None, 0, None), special_tokens_mask=(1, 0, 1),
                     words=(WordGroup(0, 0, XSS, (1,)),), special_tokens=(), num_tokens=3, num_padding=0,
                     truncated_tokens=(), untruncated_length=3, model_max_length=512, max_length=None, padding=False,
                     truncation="longest_first", split_special_tokens=False, typed_special_tokens=(), notes=(XSS,))
    return t, t


RENDERERS.update(_compare_renderers())


def _explanation_check(task: str):
    from bertviz_ui.tasks.explanation_check import METHODS, ExplanationCheck, Word

    curves = {name: (0.9, 0.4) for name in (*METHODS, "random")}
    return ExplanationCheck(task=task, model=XSS, text=XSS, target=XSS, target_id=1, position=0, read_from=XSS,
                            p0=0.9, replacement=XSS, tokens=(XSS,), words=(Word(XSS, 0, len(XSS), (1,)),),
                            methods=METHODS, scores={name: (0.5,) for name in METHODS}, removed=(0, 1),
                            fractions=(0.0, 1.0), curves=curves, aopc={name: 0.5 for name in curves},
                            ranking=tuple(curves), steps=4, random_orders=3, deleted_versions=7, forward_passes=4,
                            seconds=0.01, notes=(XSS,))


def _explanation_check_renderers() -> dict:
    from bertviz_ui.render import explanation_check as check_render

    return {"explanation check summary": lambda: check_render.summary_html(_explanation_check("sentiment")),
            "explanation check summary, masked words": lambda: check_render.summary_html(
                _explanation_check("fill_mask")),
            "explanation check word scores": lambda: check_render.scores_html(_explanation_check("sentiment"))}


RENDERERS.update(_explanation_check_renderers())


def _finetune_comparison():
    from bertviz_ui.tasks.finetune import FinetuneComparison, HeadChange, Neighbour

    neighbours = (Neighbour(0, XSS, XSS, 0.9), Neighbour(1, "fine", "ok", 0.5))
    maps = ((0.5, 0.5), (0.25, 0.75))
    return FinetuneComparison(
        model=XSS, text=XSS, tokens=(XSS, XSS), labels=(XSS, "ok"), probabilities=(0.7, 0.3), predicted=XSS,
        neighbours_base=neighbours, neighbours_tuned=neighbours[::-1], searched=2,
        cka_layers=("embeddings", "layer 0"), cka=(1.0, 0.9), cka_tokens={"text": 2, "examples": 4},
        moved_layers=("layer 0",), attention_change=((0.1, 0.2),), top_heads=(HeadChange(0, 1, 0.2, maps, maps),),
        notes=(XSS,))


def _finetune_compare_renderers() -> dict:
    from bertviz_ui.render import finetune_compare as compare_render

    return {"fine-tuning before vs after": lambda: compare_render.compare_html(_finetune_comparison())}


RENDERERS.update(_finetune_compare_renderers())


def _html_renderers() -> list[str]:
    """Every public ``*_html`` function of bertviz_ui/render that takes an argument (what it shows can carry markup)."""
    import importlib
    import inspect
    import pkgutil

    import bertviz_ui.render

    found = []
    for info in pkgutil.iter_modules(bertviz_ui.render.__path__):
        module = importlib.import_module(f"bertviz_ui.render.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if (function.__module__ == module.__name__ and name.endswith("_html") and not name.startswith("_")
                    and inspect.signature(function).parameters):
                found.append(f"{info.name}.{name}")
    return found


def test_every_html_renderer_is_fed_markup_here():
    """A new renderer needs a case above: this lists the ones this file never calls."""
    import re
    from pathlib import Path

    source = Path(__file__).read_text()
    missing = [name for name in _html_renderers() if not re.search(rf"(?<![\w]){name.split('.')[1]}\(", source)]
    assert len(_html_renderers()) > 30 and missing == []


def _export_renderers() -> dict:
    import pandas as pd
    import plotly.graph_objects as go

    from bertviz_ui.render.export import Part, ViewExport, standalone_html

    view = ViewExport(title=XSS, model=XSS, texts={XSS: XSS}, settings={XSS: XSS}, permalink=f"http://h/?t={XSS}",
                      created=XSS, version=XSS)
    parts = [Part(XSS, XSS, go.Figure(go.Bar(x=[XSS], y=[1]), layout={"title": XSS})),
             Part(XSS, XSS, pd.DataFrame({XSS: [XSS]}))]
    return {"standalone export": lambda: standalone_html(view, parts)}


RENDERERS.update(_export_renderers())


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderer_escapes_markup_from_users_and_models(name):
    assert_escaped(RENDERERS[name]())


def test_paragraph_summary_shows_counts_only():
    html = nsp_render.paragraph_summary_html(ParagraphNsp(
        model=XSS, sentences=(XSS, XSS), pairs=(PairScore(0, 1, True, 0.9, 0.1),), seed=0, accuracy=1.0))
    assert_escaped(html, shown=False)
    assert "2 sentences, 1 pairs" in html


def test_finished_line_shows_numbers_only():
    assert_escaped(finetune_render.finished_html(_finetune(), total_s=9.0), shown=False)


def test_qa_windows_show_numbers_only():
    assert_escaped(qa_render.windows_html(_qa()), shown=False)


def test_qa_plot_labels_show_markup_as_typed():
    figure = qa_render.logits_figure(_qa().windows[0], _qa())
    ticks = figure.data[0].x  # the token axis is a category axis named by token
    assert ticks and all("<img" not in t and "&lt;img" in t for t in ticks)


def _figure_text(figure) -> str:
    import json

    return json.dumps(figure.to_plotly_json(), default=str, ensure_ascii=False)


def _figures() -> dict:
    from bertviz_ui.render import attention as attention_render
    from bertviz_ui.render import attention_rollout as rollout_render
    from bertviz_ui.render import embeddings as embeddings_render
    from bertviz_ui.render import parameters as parameters_render
    from bertviz_ui.tasks.attention import attention_view, every_layer
    from bertviz_ui.tasks.attention_rollout import rollout_view
    from bertviz_ui.tasks.embeddings import embeddings_view
    from bertviz_ui.tasks.parameters import ModuleCount, ParameterCount

    run = _encoder_run()
    view = attention_view(run, 0, None)
    count = ParameterCount(model=XSS, architecture=XSS, head=XSS, modules=(ModuleCount(XSS, XSS, 1, 1),), total=1,
                           trainable=1, encoder=0, notes=(XSS,))
    return {
        "attention head view": lambda: attention_render.head_view_figure(view),
        "attention heatmap": lambda: attention_render.heatmap_figure(view),
        "attention model view": lambda: attention_render.model_view_figure(every_layer(run), layer=0, head=0),
        "rollout heatmap": lambda: rollout_render.rollout_heatmap_figure(rollout_view(run, 0, 1, "words")),
        "rollout bars": lambda: rollout_render.rollout_bars_figure(rollout_view(run, 0, 1, "pieces", True)),
        "embedding parts": lambda: embeddings_render.parts_figure(embeddings_view(run, 1)),
        "embedding change": lambda: embeddings_render.change_figure(embeddings_view(run, 1)),
        "embedding PCA by word": lambda: embeddings_render.pca_figure(embeddings_view(run, 1), "word"),
        "parameters per module": lambda: parameters_render.module_figure(count),
        "fine-tuning confusion": lambda: finetune_render.confusion_figure(_finetune()),
        "QA logits": lambda: qa_render.logits_figure(_qa().windows[0], _qa()),
        "fine-tuning top heads": lambda: _compare_render().top_heads_figure(_finetune_comparison()),
    }


def _compare_render():
    from bertviz_ui.render import finetune_compare

    return finetune_compare


@pytest.mark.parametrize("name", sorted(_figures()))
def test_figures_show_markup_as_text(name):
    # plotly.js reads labels as pseudo-HTML: tokens, labels and model or module names must arrive as &lt;img...
    text = _figure_text(_figures()[name]())
    assert "<img" not in text and "&lt;img" in text


def test_attention_head_legend_has_no_user_text():
    from bertviz_ui.render import attention as attention_render
    from bertviz_ui.tasks.attention import attention_view

    assert_escaped(attention_render.legend_html(attention_view(_encoder_run(), 0, None)), shown=False)


def test_tokenizer_renderers_escape_the_model_vocabulary(uncased):
    """A crafted checkpoint's vocabulary is markup too: every token string replaced by the payload."""
    from bertviz_ui.render import tokenizer as tokenizer_render
    from bertviz_ui.tasks.tokenizer import tokenize

    result = tokenize("Hello world.", "Again.", tokenizer=uncased, model=XSS)
    crafted = dataclasses.replace(result, tokens=tuple(XSS for _ in result.tokens), notes=(XSS,))
    for html in (tokenizer_render.chips_html(crafted), tokenizer_render.comparison_html(crafted, crafted)):
        assert_escaped(html)
    assert_escaped(tokenizer_render.summary_html(crafted), shown=False)  # counts and special tokens only


def test_finished_status_shows_numbers_only():
    assert_escaped(finetune_render.finished_html(_finetune()), shown=False)


@pytest.mark.parametrize("escaped", [False, True])
def test_error_panel_escapes_raw_messages_and_never_escapes_twice(escaped):
    """The panel gets gr.Error's message: escaped by ui/errors.py, or raw from anything else that raises one."""
    import html as html_module

    from bertviz_ui.render.html import error_panel_html

    message = f"Model {XSS} not found & gone"
    shown = error_panel_html(html_module.escape(message, quote=False) if escaped else message)
    assert_escaped(shown)
    assert "&amp;lt;" not in shown and "&amp;amp;" not in shown and "found &amp; gone" in shown
