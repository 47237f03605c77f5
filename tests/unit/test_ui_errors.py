"""Handlers' errors become messages: domain errors verbatim (escaped), anything else generic, streams included."""

from __future__ import annotations

import functools
import logging

import gradio as gr
import pytest

from bertviz_ui.errors import BadInput
from bertviz_ui.ui.errors import user_errors


def refuse(text: str) -> str:
    raise BadInput(f"No <b>{text}</b> here.")


def crash(text: str) -> str:
    raise RuntimeError(f"internal detail {text}")


class Panic(BaseException):
    """Like tokenizers' PanicException, which derives from BaseException."""


def stream(fail_with: BaseException | None):
    yield "step 1"
    if fail_with is not None:
        raise fail_with
    yield "done"


def test_domain_errors_keep_their_message_escaped():
    with pytest.raises(gr.Error, match="No &lt;b&gt;x&lt;/b&gt; here.") as caught:
        user_errors("answering")(refuse)("x")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("error", [RuntimeError("internal detail"), Panic("thread panicked")])
def test_anything_else_is_logged_and_shown_generically(error, caplog):
    def fail():
        raise error

    with caplog.at_level(logging.ERROR, logger="bertviz_ui"), pytest.raises(gr.Error) as caught:
        user_errors("answering")(fail)()
    assert "Something went wrong while answering" in str(caught.value)
    assert "internal detail" not in str(caught.value) and "panicked" not in str(caught.value)
    assert "Unexpected error while answering" in caplog.text and type(error).__name__ in caplog.text


def test_gr_error_and_interrupts_pass_through():
    def stop():
        raise gr.Error("already a message")

    with pytest.raises(gr.Error, match="already a message"):
        user_errors("x")(stop)()

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        user_errors("x")(interrupted)()


def test_streaming_handlers_stay_generators_and_convert_errors_mid_stream():
    wrapped = user_errors("training")(functools.partial(stream, BadInput("Stop <now>.")))
    outputs = wrapped()
    assert next(outputs) == "step 1"
    with pytest.raises(gr.Error, match="Stop &lt;now&gt;."):
        next(outputs)
    assert list(user_errors("training")(functools.partial(stream, None))()) == ["step 1", "done"]
    with pytest.raises(gr.Error, match="Something went wrong while training"):
        list(user_errors("training")(functools.partial(stream, RuntimeError("boom")))())


def test_closing_a_stream_is_not_an_error():
    outputs = user_errors("training")(functools.partial(stream, None))()
    assert next(outputs) == "step 1"
    outputs.close()  # GeneratorExit inside: must propagate, not become a message


def test_gradios_own_errors_get_one_short_message_and_ours_keep_their_words():
    import gradio.queueing
    import gradio.utils

    from bertviz_ui.ui.errors import MALFORMED, short_payload_errors

    short_payload_errors()
    short_payload_errors()  # idempotent: wrapped once
    assert gradio.queueing.error_payload is gradio.utils.error_payload
    internal = ValueError("An event handler didn't receive enough input values: [<gradio.components.dropdown.Dropdown "
                          "object at 0x7f>]")
    assert gradio.utils.error_payload(internal, False)["error"] == MALFORMED
    assert gradio.utils.error_payload(gr.Error("Choose a model."), False)["error"] == "Choose a model."
    # An operator who asks for Gradio's own texts (show_error=True) still gets them.
    assert "Dropdown" in gradio.utils.error_payload(internal, True)["error"]
