"""Tokenizer task: exact ids, segments, offsets, padding/truncation and bad input against the real vocabulary."""

from __future__ import annotations

import json

import pytest

from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.tokenizer import tokenize

SEED_PAIR_TOKENS = ('[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]',
                    'it', 'was', 'a', 'lazy', 'afternoon', '.', '[SEP]')


def test_seed_sentence_ids(uncased):
    result = tokenize("The cat sat on the mat.", tokenizer=uncased)
    assert result.input_ids == (101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102)
    assert result.tokens == ('[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]')
    assert result.token_type_ids == (0,) * 9
    assert result.attention_mask == (1,) * 9
    assert result.num_tokens == 9 and result.num_padding == 0


def test_seed_pair_tokens_and_types(uncased):
    result = tokenize("The cat sat on the mat.", "It was a lazy afternoon.", tokenizer=uncased)
    assert result.tokens == SEED_PAIR_TOKENS
    assert result.token_type_ids == (0,) * 9 + (1,) * 7
    assert result.sequence_ids[9] == 1 and result.sequence_ids[0] is None


def test_offsets_point_into_each_segment(uncased):
    text, pair = "The cat sat on the mat.", "It was a lazy afternoon."
    result = tokenize(text, pair, tokenizer=uncased)
    assert result.offsets[0] is None and result.offsets[8] is None
    assert text[slice(*result.offsets[6])] == "mat"
    assert pair[slice(*result.offsets[13])] == "afternoon"
    assert result.word_ids[:3] == (None, 0, 1)


def test_wordpiece_pieces_grouped_under_their_word(uncased):
    result = tokenize("Elon Musk founded Tesla in California.", tokenizer=uncased)
    assert result.tokens[1:5] == ('el', '##on', 'mu', '##sk')
    assert result.word_ids[1:5] == (0, 0, 1, 1)
    elon, musk = result.words[0], result.words[1]
    assert (elon.text, elon.token_indices) == ("Elon", (1, 2))
    assert (musk.text, musk.token_indices) == ("Musk", (3, 4))


def test_special_tokens_explained_with_their_ids(uncased):
    result = tokenize("x", tokenizer=uncased)
    ids = {s.token: s.id for s in result.special_tokens}
    assert ids == {"[CLS]": 101, "[SEP]": 102, "[PAD]": 0, "[MASK]": 103, "[UNK]": 100}
    assert all(s.meaning for s in result.special_tokens)


def test_padding_adds_pad_tokens_with_mask_zero(uncased):
    result = tokenize("The cat sat on the mat.", tokenizer=uncased, max_length=12, padding=True)
    assert result.tokens[-3:] == ("[PAD]",) * 3
    assert result.attention_mask == (1,) * 9 + (0,) * 3
    assert result.num_padding == 3 and result.num_tokens == 9
    assert any("3 [PAD]" in note for note in result.notes)


def test_truncation_longest_first_reports_removed_tokens(uncased):
    result = tokenize("The cat sat on the mat.", "It was a lazy afternoon.", tokenizer=uncased, max_length=12)
    assert result.tokens == ('[CLS]', 'the', 'cat', 'sat', 'on', 'the', '[SEP]', 'it', 'was', 'a', 'lazy', '[SEP]')
    assert result.truncated_tokens == ('mat', '.', 'afternoon', '.')
    assert result.untruncated_length == 16


def test_truncation_only_second_keeps_first_sentence(uncased):
    result = tokenize("The cat sat on the mat.", "It was a lazy afternoon.", tokenizer=uncased, max_length=13,
                      truncation="only_second")
    assert result.tokens[:9] == SEED_PAIR_TOKENS[:9]
    assert result.tokens[9:] == ('it', 'was', 'a', '[SEP]')
    assert result.truncated_tokens == ('lazy', 'afternoon', '.')


def test_impossible_truncation_is_a_clear_message(uncased):
    with pytest.raises(BadInput, match="can't be met"):
        tokenize("a b c d e f g h", "x y", tokenizer=uncased, max_length=5, truncation="only_second")


def test_typed_special_tokens_read_as_special_unless_split(uncased):
    as_special = tokenize("The cat [MASK] here [SEP]", tokenizer=uncased)
    assert 103 in as_special.input_ids and as_special.typed_special_tokens == ("[MASK]", "[SEP]")
    assert any("typed literally" in note for note in as_special.notes)
    as_text = tokenize("The cat [MASK] here [SEP]", tokenizer=uncased, split_special_tokens=True)
    assert 103 not in as_text.input_ids
    assert as_text.tokens[3:6] == ("[", "mask", "]")


@pytest.mark.parametrize("text, expected", [
    ("hi 😀", ('[CLS]', 'hi', '[UNK]', '[SEP]')),
    ("a\u200bb", ('[CLS]', 'ab', '[SEP]')),          # zero-width space vanishes
    ("x\x07y", ('[CLS]', 'x', '##y', '[SEP]')),      # the control character is dropped; y continues x
    ("שלום", ('[CLS]', 'ש', '##ל', '##ו', '##ם', '[SEP]')),  # right-to-left script
])
def test_unusual_characters(uncased, text, expected):
    result = tokenize(text, tokenizer=uncased)
    assert result.tokens == expected
    for offset in result.offsets:
        assert offset is None or 0 <= offset[0] <= offset[1] <= len(text)


@pytest.mark.parametrize("text", ["", "   \n\t", None])
def test_empty_text_is_refused(uncased, text):
    with pytest.raises(BadInput, match="empty"):
        tokenize(text, tokenizer=uncased)


def test_non_text_is_refused(uncased):
    with pytest.raises(BadInput, match="must be text"):
        tokenize(12345, tokenizer=uncased)


def test_hundred_thousand_characters_is_refused_with_the_limit(uncased):
    with pytest.raises(BadInput, match="100,000 characters; this tab takes up to 20,000"):
        tokenize("word " * 20_000, tokenizer=uncased)


def test_long_text_without_limit_notes_model_maximum(uncased):
    result = tokenize("word " * 600, tokenizer=uncased)
    assert result.num_tokens == 602
    assert any("more than this model reads (512)" in note for note in result.notes)


@pytest.mark.parametrize("max_length, message", [
    (1, "between 3 and 512"), (100_000, "between 3 and 512"), (3.5, "whole number"), ("abc", "whole number"),
    (True, "whole number"),
])
def test_max_length_bounds(uncased, max_length, message):
    with pytest.raises(BadInput, match=message):
        tokenize("The cat", tokenizer=uncased, max_length=max_length)


def test_padding_without_max_length_is_refused(uncased):
    with pytest.raises(BadInput, match="Padding needs a max length"):
        tokenize("The cat", tokenizer=uncased, padding=True)


def test_unknown_truncation_strategy_is_refused(uncased):
    with pytest.raises(BadInput, match="Truncation must be one of"):
        tokenize("The cat", tokenizer=uncased, truncation="middle_out")


def test_result_serializes_to_json_with_contract_keys(uncased):
    payload = tokenize("The cat sat on the mat.", "It was a lazy afternoon.", tokenizer=uncased).to_dict()
    for key in ("tokens", "input_ids", "token_type_ids", "attention_mask", "offsets", "word_ids"):
        assert key in payload
    assert json.loads(json.dumps(payload))["input_ids"][:3] == [101, 1996, 4937]
