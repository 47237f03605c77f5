"""The finetune case: one epoch of the Fine-tuning lab's loop (fit) against the seed's bare PyTorch loop."""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch

from bench.harness import BenchCase, Models, Sample, line_tokens
from bench.random_models import RANDOM_SEED
from bertviz_ui.examples import TUTORIAL_REVIEWS
from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head

FINETUNE_COPIES = 4  # the seed's 8 reviews, 4 times: 32 examples, 8 steps of 4 per epoch
FINETUNE_MAX_LENGTH = 64
_finetune_models: weakref.WeakKeyDictionary[LoadedModel, Any] = weakref.WeakKeyDictionary()


def finetune_samples(models: Models) -> tuple[Sample, ...]:
    """The seed's labelled reviews, FINETUNE_COPIES times, a review per line: one epoch of training per call."""
    texts = list(TUTORIAL_REVIEWS) * FINETUNE_COPIES
    return (Sample(f"{len(texts)} reviews, 1 epoch, batch 4", "\n".join(texts)),)


def finetune_classifier(loaded: LoadedModel) -> Any:
    """One classifier per encoder, built as the lab builds it (a copy: the shared encoder is never trained); both
    variants train it in turn, so the timings compare the loops alone."""
    model = _finetune_models.get(loaded)
    if model is None:
        from bertviz_ui.tasks.finetune import build_classifier

        model = build_classifier(loaded.model, ["0", "1"], RANDOM_SEED, loaded.device)
        _finetune_models[loaded] = model
    return model


def _finetune_data(sample: Sample) -> tuple[list[str], list[int]]:
    from bertviz_ui.examples import TUTORIAL_REVIEW_LABELS

    texts = sample.text.splitlines()
    return texts, list(TUTORIAL_REVIEW_LABELS) * (len(texts) // len(TUTORIAL_REVIEW_LABELS))


def _finetune_task(models: Models, sample: Sample) -> Any:
    from bertviz_ui.tasks import finetune as lab

    loaded = models[Head.ENCODER]
    texts, labels = _finetune_data(sample)
    encoded = lab.Encoded(loaded.tokenizer, texts, FINETUNE_MAX_LENGTH, loaded.device)
    hp = lab.Hyperparameters(epochs=1, max_length=FINETUNE_MAX_LENGTH)
    return list(lab.fit(finetune_classifier(loaded), encoded, labels, range(len(texts)), (), hp,
                        clock=lab.Clock(None, None)))


def _finetune_bare_loop(models: Models, sample: Sample) -> Any:
    # The seed's loop: tokenize once padded to the longest, shuffle, AdamW + linear schedule + clipping.
    from transformers import get_linear_schedule_with_warmup

    loaded = models[Head.ENCODER]
    model = finetune_classifier(loaded)
    texts, labels = _finetune_data(sample)
    encoding = loaded.tokenizer(texts, truncation=True, padding=True, max_length=FINETUNE_MAX_LENGTH,
                                return_tensors="pt").to(loaded.device)
    targets = torch.tensor(labels, device=loaded.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, eps=1e-8)
    steps = math.ceil(len(texts) / 4)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=int(steps * 0.1),
                                                num_training_steps=steps)
    model.train()
    order = torch.randperm(len(texts))
    losses = []
    for start in range(0, len(texts), 4):
        index = order[start:start + 4].to(loaded.device)
        loss = model(**{key: value[index] for key, value in encoding.items()}, labels=targets[index]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


CASE = BenchCase(
    name="finetune",
    run_task=_finetune_task,
    run_baseline=_finetune_bare_loop,
    heads=(Head.ENCODER,),
    task_label="lab fit()",
    baseline_label="bare loop",
    make_samples=finetune_samples,
    note="lab fit() = one epoch of bertviz_ui.tasks.finetune.fit (the Fine-tuning lab's loop: per-batch padding, "
         "AdamW eps 1e-8, linear warmup/decay, clipping at 1.0, loss, lr and examples/s recorded per step, "
         "cancel and deadline checks) on the seed's 8 reviews x4 (32 examples, batch 4, max length 64); bare "
         "loop = the seed's PyTorch loop on the same classifier object and data (tokenized once, padded to the "
         "longest). Both train one classifier built once from the encoder as the lab builds it; examples/s = "
         "32 / the median. The ratio is the lab's time in bare loops (1.1x would be 10% slower). Default model "
         f"{OFFLINE_MODEL_ID} (real weights).",
    ref=OFFLINE_MODEL_ID,
    count_tokens=line_tokens,
)
