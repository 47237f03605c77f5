"""Limits on a request before Gradio sees it: a URL too long for any link is refused with 414 and a sentence."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# Links carry their tab's text (ui/permalink), so they may be long, but not past this: Gradio's page route fails with
# a 500 on URLs of 64 KB and more (httpx's "URL too long"), and no link this app writes needs half of it.
MAX_URL_BYTES = 32 * 1024
TOO_LONG = (f"This address is too long for this server (at most {MAX_URL_BYTES // 1024} KB). A link carries its "
            "tab's text: shorten the text, or paste it into the tab instead.").encode()

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RefuseLongUrls:
    """ASGI middleware: an HTTP request whose path and query exceed MAX_URL_BYTES gets 414 and TOO_LONG."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _url_bytes(scope) > MAX_URL_BYTES:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1009})
                return
            await send({"type": "http.response.start", "status": 414,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(TOO_LONG)).encode())]})
            await send({"type": "http.response.body", "body": TOO_LONG})
            return
        await self.app(scope, receive, send)


def _url_bytes(scope: Scope) -> int:
    path = scope.get("raw_path") or scope.get("path", "").encode()
    return len(path) + len(scope.get("query_string", b""))
