"""Refuse oversized request bodies while they stream, before they are buffered anywhere.

Starlette spools multipart uploads to disk before a handler runs, so a size check in
the handler would come after a 2 GB upload had already been written. This middleware
answers 413 at once when Content-Length is too big, and stops reading a chunked body
the moment it passes the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_upload_bytes: int):
        self.app = app
        self.limit_mb = max_upload_bytes // (1024 * 1024)
        # Room for the form's other fields and multipart boundaries around the file.
        self.max_bytes = max_upload_bytes + 256 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        is_upload = headers.get(b"content-type", b"").startswith(b"multipart/")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, is_upload)
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            # Form parsing turns our exception into a generic 400; swallow that response.
            if exceeded:
                return
            response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if exceeded and not response_started:
            await self._refuse(send, is_upload)

    async def _refuse(self, send: Send, is_upload: bool) -> None:
        limit_mb = self.limit_mb
        if is_upload:
            error = {"code": "audio_too_large", "field": "audio",
                     "message": f"The audio file is too big: the limit is {limit_mb} MB."}
        else:
            error = {"code": "payload_too_large", "field": None,
                     "message": f"The request body is too big: the limit is {limit_mb} MB."}
        body = json.dumps({"error": error}).encode()
        await send({
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})
