"""Models with known outputs for unit tests: BERT heads with fixed logits and rule-driven fakes."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from transformers import BertConfig, BertForMaskedLM, BertForNextSentencePrediction
from transformers.modeling_outputs import BaseModelOutput, NextSentencePredictorOutput

VOCAB_SIZE = 30522


def tiny_config(vocab_size: int = VOCAB_SIZE) -> BertConfig:
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=512)


def one_hot_probability(logit: float, vocab_size: int = VOCAB_SIZE) -> float:
    """Softmax probability of the one token with ``logit`` when every other logit is 0."""
    return math.exp(logit) / (math.exp(logit) + vocab_size - 1)


def fixed_mlm(target: int, logit: float = 10.0, vocab_size: int = VOCAB_SIZE) -> BertForMaskedLM:
    """A BertForMaskedLM whose vocabulary logits are 0 everywhere but ``logit`` at ``target``, at every position.

    BERT ties the decoder weight to the input embeddings, so zeroing it in place would zero the embeddings too:
    the decoder is replaced by a fresh, untied Linear with zero weight and a one-hot bias.
    """
    torch.manual_seed(0)
    model = BertForMaskedLM(tiny_config(vocab_size))
    predictions = model.cls.predictions
    assert predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight  # tied, as in BERT
    decoder = nn.Linear(predictions.decoder.in_features, vocab_size, bias=True)
    with torch.no_grad():
        decoder.weight.zero_()
        decoder.bias.zero_()
        decoder.bias[target] = logit
    predictions.decoder = decoder
    assert model.bert.embeddings.word_embeddings.weight.abs().sum() > 0  # the embeddings were left alone
    return model.eval()


def fixed_nsp(is_next_logit: float, not_next_logit: float) -> BertForNextSentencePrediction:
    """A BertForNextSentencePrediction whose logits are [is_next_logit, not_next_logit] for every pair."""
    torch.manual_seed(0)
    model = BertForNextSentencePrediction(tiny_config())
    with torch.no_grad():
        model.cls.seq_relationship.weight.zero_()
        model.cls.seq_relationship.bias.copy_(torch.tensor([is_next_logit, not_next_logit]))
    return model.eval()


# A mask rule sees one row of input ids and a mask's position and returns (token id, logit) for that mask.
MaskRule = Callable[[list[int], int], tuple[int, float]]


class _RuleEncoder(nn.Module):
    """Stands where BertModel is: its "hidden states" are already vocabulary logits, set by a rule at masks."""

    def __init__(self, rule: MaskRule, mask_token_id: int, vocab_size: int):
        super().__init__()
        self.rule = rule
        self.mask_token_id = mask_token_id
        self.vocab_size = vocab_size
        self.calls = 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_hidden_states: bool = False) -> BaseModelOutput:
        self.calls += 1
        batch, length = input_ids.shape
        hidden = torch.zeros(batch, length, self.vocab_size)
        for row in range(batch):
            ids = input_ids[row].tolist()
            for position, token_id in enumerate(ids):
                if token_id == self.mask_token_id:
                    target, logit = self.rule(ids, position)
                    hidden[row, position, target] = logit
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=(hidden,) if output_hidden_states else None)


class _IdentityHead(nn.Module):
    """Stands where BERT's ``cls`` is (it has ``predictions``, as the task code looks for)."""

    def __init__(self):
        super().__init__()
        self.predictions = nn.Identity()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.predictions(hidden)


class RuleMaskedLM(nn.Module):
    """A masked-LM fake: at each [MASK] the logit of one token comes from ``rule``; every other logit is 0."""

    def __init__(self, rule: MaskRule, mask_token_id: int, vocab_size: int = VOCAB_SIZE):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # the task code reads the device from the first parameter
        self.base_model = _RuleEncoder(rule, mask_token_id, vocab_size)
        self.cls = _IdentityHead()

    @property
    def forward_calls(self) -> int:
        return self.base_model.calls


class RuleNsp(nn.Module):
    """An NSP fake: IsNext (logits [2, -2]) iff segment B's first token id is larger than segment A's."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> NextSentencePredictorOutput:
        rows = []
        for ids, types in zip(input_ids.tolist(), token_type_ids.tolist()):
            first_a, first_b = ids[1], ids[types.index(1)]
            rows.append([2.0, -2.0] if first_b > first_a else [-2.0, 2.0])
        return NextSentencePredictorOutput(logits=torch.tensor(rows))


class FullForwardOnly(nn.Module):
    """Wraps a masked-LM model so that its vocabulary head can't be found: the task code must run the full forward."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_hidden_states: bool = False):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                          output_hidden_states=output_hidden_states)


def fixed_classifier(logits: tuple[float, ...], labels: tuple[str, ...] = ("NEGATIVE", "POSITIVE")):
    """A BertForSequenceClassification whose logits are ``logits`` for every text (zero weight, bias = logits).

    With a zero weight every gradient reaching the input is zero: integrated gradients must give 0 everywhere.
    """
    from transformers import BertForSequenceClassification

    assert len(logits) == len(labels)
    config = tiny_config()
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(logits))
    return model.eval()


# A token rule sees one row of input ids and a position and returns logits by label name for that token; labels it
# leaves out get logit 0.
TokenRule = Callable[[list[int], int], dict[str, float]]


def rule_token_classifier(rule: TokenRule, labels: tuple[str, ...]):
    """A tiny BertForTokenClassification whose logits are replaced by ``rule``'s, token by token.

    The real model still runs (transformers' pipeline and the task code see a genuine BertForTokenClassification:
    config, device, dtype, 512 positions); a forward hook then swaps its logits for the rule's, so every token's
    label and score is known. ``model.shapes`` records the input_ids shape of each forward.
    """
    from transformers import BertForTokenClassification

    config = tiny_config()
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    torch.manual_seed(0)
    model = BertForTokenClassification(config).eval()
    model.shapes = []

    def replace_logits(module, args, kwargs, output):
        input_ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        model.shapes.append(tuple(input_ids.shape))
        logits = torch.zeros(*input_ids.shape, len(labels))
        for row, ids in enumerate(input_ids.tolist()):
            for position in range(len(ids)):
                for label, logit in rule(ids, position).items():
                    logits[row, position, config.label2id[label]] = logit
        output.logits = logits
        return output

    model.register_forward_hook(replace_logits, with_kwargs=True)
    return model


def scaled_copy(model: nn.Module, layer: str, factor: float) -> nn.Module:
    """A deep copy of ``model`` with the weight of the submodule at ``layer`` multiplied by ``factor``.

    Random tiny heads give logits that barely depend on the input; scaling the last layer spreads them so that
    a wrong pairing, padding or index shows beyond a test's tolerance.
    """
    import copy

    model = copy.deepcopy(model)
    with torch.no_grad():
        model.get_submodule(layer).weight.mul_(factor)
    return model.eval()


def relabelled_classifier(model: nn.Module, labels: tuple[str, ...]) -> nn.Module:
    """A deep copy of a sequence classifier whose output rows are reordered to ``labels`` (names from its config).

    The copy computes the same logit for each label name as ``model``, only at a different index: any result
    keyed by label name must not change.
    """
    import copy

    old = model.config.label2id
    order = [old[label] for label in labels]
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[order].clone())
        model.classifier.bias.copy_(model.classifier.bias[order].clone())
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}
    return model.eval()


class FixedSpanModel(nn.Module):
    """An extractive QA model whose start and end logits depend only on each token's id: ``start[token_id]`` and
    ``end[token_id]`` (0 for every other token), wherever the token stands. It counts its forward calls and the
    rows it read."""

    def __init__(self, start: dict[int, float], end: dict[int, float], vocab_size: int = VOCAB_SIZE):
        super().__init__()
        self.start_table = nn.Parameter(torch.zeros(vocab_size), requires_grad=False)
        self.end_table = nn.Parameter(torch.zeros(vocab_size), requires_grad=False)
        with torch.no_grad():
            for token_id, logit in start.items():
                self.start_table[token_id] = logit
            for token_id, logit in end.items():
                self.end_table[token_id] = logit
        self.calls = 0
        self.rows = 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None):
        from transformers.modeling_outputs import QuestionAnsweringModelOutput

        self.calls += 1
        self.rows += input_ids.shape[0]
        return QuestionAnsweringModelOutput(start_logits=self.start_table[input_ids],
                                            end_logits=self.end_table[input_ids])


def fixed_span_model(tokenizer, start: dict[str, float], end: dict[str, float]) -> FixedSpanModel:
    """FixedSpanModel with its logits given per token string (e.g. {"paris": 10.0, "[CLS]": 3.0})."""
    ids = tokenizer.convert_tokens_to_ids
    return FixedSpanModel({ids(t): v for t, v in start.items()}, {ids(t): v for t, v in end.items()},
                          vocab_size=len(tokenizer)).eval()
