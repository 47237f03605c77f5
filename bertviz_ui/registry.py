"""Task registry: each task's id, default Hub model, curated choices and the head it needs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Head(str, Enum):
    """What the model cache loads for a task: a tokenizer alone or a model with a given head."""

    TOKENIZER = "tokenizer"
    ENCODER = "encoder"
    MASKED_LM = "masked_lm"
    NEXT_SENTENCE = "next_sentence"
    SEQUENCE_CLASSIFICATION = "sequence_classification"
    TOKEN_CLASSIFICATION = "token_classification"
    QUESTION_ANSWERING = "question_answering"
    NLI = "nli"

    @property
    def description(self) -> str:
        """What a model with this head is, for messages ("a masked-language-model model")."""
        return {"masked_lm": "masked-language-model", "next_sentence": "next-sentence-prediction",
                "nli": "natural-language-inference (sequence-classification)"}.get(self.value,
                                                                                   self.value.replace("_", "-"))


OFFLINE_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

ENCODER_CHOICES = (
    "google-bert/bert-base-uncased",
    "google-bert/bert-base-cased",
    "FacebookAI/roberta-base",
    "distilbert/distilbert-base-uncased",
    OFFLINE_MODEL_ID,
)


@dataclass(frozen=True)
class Task:
    """One task of the app.

    Attributes:
        id: the task's noun, shared by its module, tab, API name and environment variable.
        title: the tab's title (the Models panel, settings help and README use it too).
        head: what the cache loads for it.
        default_model: Hub id used unless overridden.
        choices: curated models offered in the tab (any Hub id or local path may also be typed).
        offline_fallback: whether the offline all-MiniLM-L6-v2 encoder can stand in when the Hub
            is unreachable (true for tasks that need only an encoder and its tokenizer).
        offline_alternative: what else in the tab works without the Hub, said when its model can't be had.
    """

    id: str
    title: str
    head: Head
    default_model: str
    choices: tuple[str, ...]
    offline_fallback: bool = False
    offline_alternative: str = ""


# In the order the tabs appear. Titles are the tabs' own; ids name every layer's module (tasks/<id>, render/<id>,
# ui/<id>), the API and BERTVIZ_UI_MODEL_<ID>.
TASKS: tuple[Task, ...] = (
    Task("tokenizer", "Tokenizer", Head.TOKENIZER, "google-bert/bert-base-uncased", ENCODER_CHOICES, True),
    Task("fill_mask", "Masked words", Head.MASKED_LM, "google-bert/bert-base-uncased", ENCODER_CHOICES[:4]),
    Task("nsp", "Next sentence", Head.NEXT_SENTENCE, "google-bert/bert-base-uncased",
         ("google-bert/bert-base-uncased", "google-bert/bert-base-cased")),
    Task("sentiment", "Sentiment", Head.SEQUENCE_CLASSIFICATION,
         "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
         ("distilbert/distilbert-base-uncased-finetuned-sst-2-english",)),
    Task("ner", "Entities", Head.TOKEN_CLASSIFICATION, "dslim/bert-base-NER", ("dslim/bert-base-NER",)),
    Task("zero_shot", "Zero-shot", Head.NLI, "facebook/bart-large-mnli",
         ("facebook/bart-large-mnli", "cross-encoder/nli-distilroberta-base"),
         offline_alternative="switch Method to \"Embedding similarity\", which runs offline on all-MiniLM-L6-v2"),
    Task("qa", "Question answering", Head.QUESTION_ANSWERING,
         "google-bert/bert-large-uncased-whole-word-masking-finetuned-squad",
         ("google-bert/bert-large-uncased-whole-word-masking-finetuned-squad",
          "distilbert/distilbert-base-cased-distilled-squad")),
    Task("similarity", "Similarity", Head.ENCODER, "google-bert/bert-base-uncased",
         ("google-bert/bert-base-uncased", OFFLINE_MODEL_ID, "google-bert/bert-base-cased", "FacebookAI/roberta-base"),
         True),
    Task("attention", "Inside BERT", Head.ENCODER, "google-bert/bert-base-uncased", ENCODER_CHOICES, True),
    Task("finetune", "Fine-tuning lab", Head.ENCODER, "distilbert/distilbert-base-uncased",
         ("distilbert/distilbert-base-uncased", "google-bert/bert-base-uncased", OFFLINE_MODEL_ID), True),
)


def task_by_id(task_id: str) -> Task:
    """Look a task up by id; raises KeyError naming the known ids."""
    for task in TASKS:
        if task.id == task_id:
            return task
    raise KeyError(f"Unknown task {task_id!r}; known: {', '.join(t.id for t in TASKS)}")
