"""Helpers for the compatible-API tests: the official SDKs pointed at a real Utter server."""

from __future__ import annotations

import io

import av

# The servers in these tests run with asr="off": they are about the APIs, not transcripts.


def upload_voice(client, path, name="Narrator") -> dict:
    """A voice made through Utter's own API, for tests whose subject is not voice creation."""
    with open(path, "rb") as handle:
        response = client.post("/api/clone", data={"name": name},
                               files={"audio": (path.name, handle, "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()


# Raw formats carry no header: PyAV is told what they are.
_RAW_DEMUXERS = {"pcm_s16le": "s16le", "pcm_mulaw": "mulaw", "pcm_alaw": "alaw"}


def probe(data: bytes, raw_codec: str | None = None, raw_rate: int | None = None) -> dict:
    """Decode audio bytes completely: container, codec, sample rate, channels, decoded seconds, bitrate."""
    options = {}
    fmt = None
    if raw_codec:
        fmt = _RAW_DEMUXERS[raw_codec]
        options = {"sample_rate": str(raw_rate), "ch_layout": "mono"}
    with av.open(io.BytesIO(data), format=fmt, options=options) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        ctx = stream.codec_context
        return {"container": container.format.name, "codec": ctx.name, "rate": ctx.sample_rate,
                "channels": ctx.channels, "seconds": samples / ctx.sample_rate,
                "bitrate": ctx.bit_rate or container.bit_rate}
