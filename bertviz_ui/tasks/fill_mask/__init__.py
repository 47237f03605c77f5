"""Masked words: BERT's masked-language-model pretraining task, live (pure compute, no UI).

One module per job: ``prediction`` fills the masks, ``exploration`` looks at one mask (left side only, layer by
layer, click to mask), ``lab`` draws pretraining's masking, ``quantized`` sets fp32 and int8 predictions side by side;
``masks`` holds the steps they share (what they need to know of model families comes from models/anatomy.py).
"""

from bertviz_ui.tasks.fill_mask.exploration import (
    ContextComparison,
    LayerPredictions,
    LayerStep,
    Word,
    compare_context,
    mask_word,
    predictions_through_layers,
    sentence_words,
)
from bertviz_ui.tasks.fill_mask.lab import (
    ROLE_MASKED,
    ROLE_NOT_SELECTED,
    ROLE_RANDOM,
    ROLE_SPECIAL,
    ROLE_UNCHANGED,
    LabToken,
    MaskingLabResult,
    corrupt,
    masking_lab,
)
from bertviz_ui.tasks.fill_mask.masks import (
    CANONICAL_MASK,
    KNOWN_MASK_TOKENS,
    MAX_MASKS,
    MAX_TOP_K,
    MaskPrediction,
    Prediction,
    check_budget,
    check_mlm_head,
    mask_logits,
    normalize_masks,
)
from bertviz_ui.tasks.fill_mask.prediction import (
    FillMaskResult,
    FillStep,
    IterativeFill,
    iterative_fill,
    predict_masks,
)
from bertviz_ui.tasks.fill_mask.quantized import MaskComparison, QuantizedComparison, compare_quantized

__all__ = [
    "CANONICAL_MASK", "KNOWN_MASK_TOKENS", "MAX_MASKS", "MAX_TOP_K",
    "ROLE_MASKED", "ROLE_NOT_SELECTED", "ROLE_RANDOM", "ROLE_SPECIAL", "ROLE_UNCHANGED",
    "ContextComparison", "FillMaskResult", "FillStep", "IterativeFill", "LabToken", "LayerPredictions", "LayerStep",
    "MaskComparison", "MaskPrediction", "MaskingLabResult", "Prediction", "QuantizedComparison", "Word",
    "check_budget", "check_mlm_head", "compare_context", "compare_quantized", "corrupt", "iterative_fill",
    "mask_logits", "mask_word", "masking_lab", "normalize_masks", "predict_masks", "predictions_through_layers",
    "sentence_words",
]
