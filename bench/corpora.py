"""The benchmark's texts: the seed's sentence pair, filler prose cut to a token budget, and each case's inputs."""

from __future__ import annotations

from bertviz_ui.examples import TUTORIAL_REVIEWS
from bertviz_ui.models.types import Tokenizer

TUTORIAL_PAIR = ("The cat sat on the mat.", "It was a lazy afternoon.")
LONG_TARGETS = (128, 512)
# Ordinary prose with some rare words, so WordPiece splits a realistic share of them.
FILLER = (
    "BERT reads a sentence all at once rather than word by word, and every layer lets each token look at every "
    "other token through attention. Before any of that happens the tokenizer splits the text into WordPiece "
    "units: common words stay whole, while unusual ones such as photosynthesis, quarterback or unaffable "
    "break into a stem and continuation pieces marked with two hashes. The pieces become integer ids, a "
    "classification token goes in front and a separator closes each sentence, and a mask tells the model "
    "which positions are real text and which are padding. Researchers in Montreal, Nairobi and Kyoto fine-tune "
    "such encoders for sentiment, named entities, question answering and natural language inference, "
    "usually on a few thousand labelled examples and an afternoon of computation."
)

# 16 tokens with [CLS] and [SEP] in the uncased vocabulary; "[MASK]" becomes the checkpoint's own mask token.
MASK_SENTENCE = "The cat sat on the [MASK] and looked out of the open window."

# The seed's eight reviews, then 24 more of the same kind: 8-20 tokens each with [CLS] and [SEP] in the uncased
# vocabulary (379 in all), of varied lengths, so a batch pads (to 20) as a real one would.
SENTIMENT_TEXTS = (
    *TUTORIAL_REVIEWS,
    "I absolutely loved this film!",
    "This was the worst movie I have ever seen.",
    "I absolutely loved this product!",
    "Terrible quality, fell apart after a day.",
    "It's okay, nothing special.",
    "The soundtrack alone is worth the ticket price.",
    "Two hours of my life I will never get back, and the popcorn was stale too.",
    "A charming little story with a big heart.",
    "The plot made no sense, the jokes fell flat, and the ending was worse.",
    "Funny, warm and surprisingly clever.",
    "Stopped working after a week; the seller never replied.",
    "Fast delivery, sturdy build, exactly as described, and the instructions were easy to follow.",
    "The dialogue felt wooden and the pacing dragged badly.",
    "My kids watched it three times in a row.",
    "Overhyped and far too long.",
    "A quiet masterpiece that stays with you for days after the credits roll.",
    "The battery barely lasts a morning.",
    "Great value for the price, would buy again.",
    "Gorgeous visuals, but the characters were paper thin.",
    "I laughed, I cried, I recommended it to everyone.",
    "Cheap plastic, a loud motor, and it still smells of glue after a month.",
    "Not bad for a sequel.",
    "The customer service team answered at midnight and fixed everything within an hour.",
    "Predictable twists and a villain nobody will remember.",
)

QA_QUESTION = "Which cities do researchers fine-tune such encoders in?"


def text_of_tokens(tokenizer: Tokenizer, target: int) -> str:
    """The longest prefix of the filler prose (repeated as needed) that encodes to at most ``target`` tokens.

    Args:
        tokenizer: the checkpoint's tokenizer; lengths are counted in its tokens, specials included.
        target: the most tokens the encoded text may have.

    Returns:
        The text.
    """
    words = FILLER.split()
    # Every word is at least one token, so ``target`` words always reach the target.
    pool = [words[i % len(words)] for i in range(target)]
    low, high = 1, len(pool)
    while low < high:
        middle = (low + high + 1) // 2
        if len(tokenizer(" ".join(pool[:middle]))["input_ids"]) <= target:
            low = middle
        else:
            high = middle - 1
    return " ".join(pool[:low])


# Every text above, each run on its own: what int8 is checked on against fp32 (the fill_mask_int8 case's cosine).
BENCH_CORPUS = (*TUTORIAL_PAIR, MASK_SENTENCE, *SENTIMENT_TEXTS, QA_QUESTION, FILLER)
