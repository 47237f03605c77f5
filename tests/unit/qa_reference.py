"""The question-answering pipeline of transformers 4.x, reimplemented as its documented algorithm: the oracle the tab's
span search is compared with (transformers 5 removed the pipeline itself).

Deliberately written differently from bertviz_ui.tasks.qa (one forward per window, as 4.x did; explicit loops over
spans instead of matrices; float32 arithmetic as 4.x's numpy code had), so the two don't share a mistake.

4.x, fast tokenizer, question first: windows of min(model max, 384) tokens with doc_stride min(window // 2, 128);
per window, tokens that are neither context nor [CLS] get logit -10000; start and end are soft-maxed; the null score
is P_start[0] * P_end[0] (minimum over windows); [CLS] is then zeroed; the top_k spans by P_start[s] * P_end[e] with
s <= e <= s + max_answer_len - 1 and both ends in the context; each span widened to whole words (token_to_word,
word_to_chars); an answer whose text equals an earlier one (ignoring case) adds its score to it; with
handle_impossible_answer the null answer {"answer": "", "start": 0, "end": 0} joins; best top_k returned.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch


def reference_qa(question: str, context: str, *, model: Any, tokenizer: Any, top_k: int = 1,
                 max_answer_len: int = 15, handle_impossible_answer: bool = False, max_seq_len: int | None = None,
                 doc_stride: int | None = None) -> list[dict]:
    """Answers as 4.x's pipeline returned them (always a list here), best first."""
    if max_seq_len is None:
        max_seq_len = min(tokenizer.model_max_length, 384)
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, 128)
    enc = tokenizer(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True, return_token_type_ids=True)
    min_null_score = 1000000.0
    answers: list[dict] = []
    accepted = set(inspect.signature(model.forward).parameters)
    for span in range(len(enc["input_ids"])):
        inputs = {"input_ids": torch.tensor([enc["input_ids"][span]]),
                  "attention_mask": torch.tensor([enc["attention_mask"][span]]),
                  "token_type_ids": torch.tensor([enc["token_type_ids"][span]])}
        inputs = {k: v for k, v in inputs.items() if k in accepted}
        with torch.no_grad():
            out = model(**inputs)
        start = out.start_logits[0].float().numpy()
        end = out.end_logits[0].float().numpy()
        sequence_ids = enc.sequence_ids(span)
        keep = [sid == 1 or token_id == tokenizer.cls_token_id
                for sid, token_id in zip(sequence_ids, enc["input_ids"][span])]
        start = np.where(keep, start, np.float32(-10000.0)).astype(np.float32)
        end = np.where(keep, end, np.float32(-10000.0)).astype(np.float32)
        start = np.exp(start - start.max()) / np.exp(start - start.max()).sum()
        end = np.exp(end - end.max()) / np.exp(end - end.max()).sum()
        if handle_impossible_answer:
            min_null_score = min(min_null_score, float(start[0] * end[0]))
        start[0] = end[0] = 0.0
        spans = []
        for s in range(len(start)):
            for e in range(s, min(len(end), s + max_answer_len)):
                if keep[s] and keep[e] and (s, e) != (0, 0):
                    spans.append((float(start[s] * end[e]), s, e))
        spans.sort(key=lambda item: -item[0])
        for score, s, e in spans[:top_k]:
            if score == 0.0:
                continue
            start_word, end_word = enc.token_to_word(span, s), enc.token_to_word(span, e)
            first = enc.word_to_chars(span, start_word, sequence_index=1)[0]
            last = enc.word_to_chars(span, end_word, sequence_index=1)[1]
            text = context[first:last]
            same = [a for a in answers if a["answer"].lower() == text.lower()]
            if same:
                same[0]["score"] += score
            else:
                answers.append({"score": score, "start": first, "end": last, "answer": text})
    if handle_impossible_answer:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
