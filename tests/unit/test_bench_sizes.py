"""bench.sizes without a server: every public endpoint has inputs or a reason, the attention text's length, the table."""

from __future__ import annotations

from bench import sizes
from bertviz_ui.ui.app import build_demo


def test_every_public_endpoint_is_measured_or_says_why_not(settings):
    """A new endpoint gets a row in `python -m bench.sizes` (its inputs here) or a reason in SKIPPED."""
    demo = build_demo(settings)
    public = {f"/{fn.api_name}" for fn in demo.fns.values() if fn.api_name and fn.api_visibility == "public"}
    assert set(sizes.inputs()) | set(sizes.SKIPPED) == public
    assert not set(sizes.inputs()) & set(sizes.SKIPPED)


def test_the_attention_text_is_128_tokens(uncased):
    assert len(uncased(sizes.ATTENTION_TEXT)["input_ids"]) == 128


def test_the_table_gives_bytes_and_attentions_outputs():
    measured = [
        sizes.Size("/tokenize", True, complete_bytes=7_812, stream_bytes=8_034, seconds=0.1,
                   outputs={"tokenizer-header": 500}),
        sizes.Size("/attention", True, complete_bytes=430_172, stream_bytes=430_400, seconds=0.8,
                   outputs={"attention-model-view": 194_757, "attention-json": 9_597}),
        sizes.Size("/model_latency", False, message="skipped: a minute of both cores"),
    ]
    assert sizes.format_table(measured).splitlines() == [
        "endpoint                 response     stream  seconds  note",
        "/tokenize                  7.8 kB     8.0 kB      0.1",
        "/attention                0.43 MB    0.43 MB      0.8",
        "  attention-model-view    0.19 MB",
        "  attention-json           9.6 kB",
        "/model_latency                  -          -      0.0  skipped: a minute of both cores",
    ]
