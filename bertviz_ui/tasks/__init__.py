"""Task compute: pure functions from input (and a model or tokenizer) to frozen result dataclasses."""
