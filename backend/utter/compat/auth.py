"""The optional access key (UTTER_API_KEY), read from the header each SDK sends.

Without a key configured any key is accepted: the SDKs insist on sending one, and a
self-hosted studio on a private network needs none.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from ..errors import UtterError


def _matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.strip().encode(), expected.encode())


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" else None


def require_openai_key(request: Request) -> None:
    """OpenAI's SDK sends `Authorization: Bearer <key>`."""
    expected = request.app.state.ctx.settings.api_key
    if expected and not _matches(_bearer(request), expected):
        raise UtterError(401, "invalid_api_key",
                         "Incorrect API key provided. This Utter server requires the access key it was configured "
                         "with (UTTER_API_KEY), sent as 'Authorization: Bearer <key>'.")


def require_elevenlabs_key(request: Request) -> None:
    """ElevenLabs' SDK sends `xi-api-key: <key>` (a Bearer header is accepted too)."""
    expected = request.app.state.ctx.settings.api_key
    if expected and not (_matches(request.headers.get("xi-api-key"), expected)
                         or _matches(_bearer(request), expected)):
        raise UtterError(401, "invalid_api_key",
                         "Invalid API key. This Utter server requires the access key it was configured with "
                         "(UTTER_API_KEY), sent in the 'xi-api-key' header.")
