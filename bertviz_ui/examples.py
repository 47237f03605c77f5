"""Examples from the seed text (the BERT tutorial this app grew from), shared by the tabs and the benchmark."""

# The eight labelled reviews its fine-tuning example trains on (1 = positive, 0 = negative).
TUTORIAL_REVIEWS = (
    "This movie was absolutely fantastic!",
    "I hated every minute of it.",
    "An incredible performance by the lead actor.",
    "Terrible writing, terrible acting.",
    "One of the best films I've seen this year.",
    "Complete waste of time and money.",
    "Beautifully crafted and deeply moving.",
    "Boring and predictable from start to finish.",
)
TUTORIAL_REVIEW_LABELS = (1, 0, 1, 0, 1, 0, 1, 0)

# The two new reviews its fine-tuned model is then asked about, with the answers it prints (Positive, Negative).
TUTORIAL_TEST_TEXTS = ("I absolutely loved this film!", "This was the worst movie I have ever seen.")
TUTORIAL_TEST_LABELS = (1, 0)
