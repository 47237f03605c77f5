"""Similarity: mean-pooled cosine of every pair, checked against sentence-transformers and one forward per text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertviz_ui.errors import BadInput
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.render.similarity import PAIR_COLUMNS, matrix_figure, pairs_table, summary_html
from bertviz_ui.tasks.budget import Budget, OverBudget
from bertviz_ui.tasks.similarity import MAX_SENTENCES, compare_sentences, parse_sentences

EATING, BREAD, BABY = "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."
SENTENCES = [EATING, BREAD, BABY, "A man is riding a horse.", "A monkey is playing drums."]


@pytest.fixture(scope="module")
def minilm(cache):
    return cache.load(OFFLINE_MODEL_ID, Head.ENCODER)


@pytest.fixture(scope="module")
def result(minilm):
    return compare_sentences("\n".join(SENTENCES), model=minilm.model, tokenizer=minilm.tokenizer, label="MiniLM")


def test_real_minilm_ranks_bread_closer_to_food_than_a_baby(result):
    eating, bread, baby = 0, 1, 2
    assert result.matrix[eating][bread] > result.matrix[eating][baby] + 0.3
    assert result.nearest[eating] == bread and result.nearest[bread] == eating
    assert (result.pairs[0].first, result.pairs[0].second) == (eating, bread)


def test_equals_sentence_transformers_on_the_same_checkpoint(minilm, result):
    """sentence-transformers' own pipeline (Transformer + mean Pooling) on the same folder gives the same cosines."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(minilm.source.location, device="cpu")
    vectors = reference.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=True)
    assert np.allclose(np.array(result.matrix), vectors @ vectors.T, atol=1e-5)


def test_padding_never_changes_a_sentence_one_forward_each(minilm, result):
    """Batched and padded equals each sentence alone (the mask keeps padding out of the mean)."""
    model, tokenizer = minilm.model, minilm.tokenizer
    alone = []
    for sentence in SENTENCES:
        with torch.inference_mode():
            hidden = model(**tokenizer(sentence, return_tensors="pt"))[0][0]
        alone.append(torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy())
    alone = np.stack(alone)
    assert np.allclose(np.array(result.matrix), alone @ alone.T, atol=1e-5)


def test_matrix_pairs_and_nearest_are_consistent(result):
    matrix = np.array(result.matrix)
    count = len(SENTENCES)
    assert matrix.shape == (count, count) and np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0)
    assert len(result.pairs) == count * (count - 1) // 2
    assert [p.cosine for p in result.pairs] == sorted((p.cosine for p in result.pairs), reverse=True)
    assert all(matrix[p.first, p.second] == p.cosine for p in result.pairs)
    others = matrix - 3 * np.eye(count)
    assert result.nearest == tuple(int(i) for i in others.argmax(1))
    assert result.mean_cosine == pytest.approx(np.mean([p.cosine for p in result.pairs]))
    assert result.tokens[0] == 8 and result.notes == ()  # [CLS] a man is eating food . [SEP]; spread: no note


def test_a_crowded_space_gets_a_note(minilm):
    """Every pair above 0.75 (here near-copies) is said; two sentences alone never get the note."""
    copies = ["The cat sat.", "The cat sat!", "The cat sat?"]
    crowded = compare_sentences(copies, model=minilm.model, tokenizer=minilm.tokenizer)
    assert min(p.cosine for p in crowded.pairs) > 0.75 and any("narrow cone" in note for note in crowded.notes)
    pair = compare_sentences(copies[:2], model=minilm.model, tokenizer=minilm.tokenizer)
    assert pair.notes == ()


def test_long_sentences_are_truncated_with_a_note(minilm):
    long = "!" * 999  # every "!" is a token of its own
    truncated = compare_sentences([EATING, long], model=minilm.model, tokenizer=minilm.tokenizer)
    assert truncated.tokens == (8, 512) and "Sentence 2 was longer than the model's 512 tokens" in truncated.notes[0]


@pytest.mark.parametrize(("raw", "message"), [
    ("", "empty"),
    ("only one", "at least two"),
    ("\n".join(f"s{i}" for i in range(MAX_SENTENCES + 1)), "up to 16"),
    (f"short\n{'x' * 1001}", "Sentence 2 is 1,001 characters"),
    (42, "must be text"),
])
def test_bad_input_is_refused_before_the_model(raw, message):
    with pytest.raises(BadInput, match=message):
        parse_sentences(raw)


def test_blank_lines_are_skipped():
    assert parse_sentences("a\n\n  \n b ") == ("a", "b")


def test_over_budget_is_refused_up_front(minilm):
    with pytest.raises(OverBudget, match="fewer or shorter sentences"):
        compare_sentences(SENTENCES, model=minilm.model, tokenizer=minilm.tokenizer, budget=Budget(gflop=0.001))


def test_render_matrix_table_and_summary(result):
    figure = matrix_figure(result)
    assert np.allclose(np.array(figure.data[0].z), np.array(result.matrix))
    assert figure.data[0].x[0] == "1. A man is eating food."
    table = pairs_table(result)
    assert list(table.columns) == list(PAIR_COLUMNS) and len(table) == len(result.pairs)
    assert table.iloc[0]["sentence"] == f"1. {EATING}" and table.iloc[0]["paired with"] == f"2. {BREAD}"
    html = summary_html(result)
    assert "Closest pair: <b>1</b> and <b>2</b>" in html and "Mean pooling" in html
