"""Re-encoding Utter's MP3 stream into another format as the bytes arrive.

Utter's worker makes one thing: an MP3 at 44.1 kHz, 128 kb/s, chunk by chunk. Another
format is made by decoding those MP3 bytes as they arrive (a parser on a bare codec
context, so no container has to be complete first) and encoding them again at the codec,
sample rate and bitrate asked for, so the first audio leaves before the whole text is
spoken. MP3s are encoded as the worker encodes its own (LAME through lameenc, a third of
the CPU time of PyAV's build); everything else by FFmpeg's encoders.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import av
import numpy as np
from starlette.concurrency import run_in_threadpool

from .codec import Mp3Writer

# PyAV's default I/O buffer is 32 KB: 8 s of 32 kb/s Opus would wait in it before the client heard any.
_IO_BUFFER_BYTES = 4096
_SMALL_LAST_FRAME = 64  # AV_CODEC_CAP_SMALL_LAST_FRAME: the encoder takes a short final frame


@dataclass(frozen=True)
class OutputFormat:
    name: str  # as the caller spelled it
    codec: str  # FFmpeg encoder ("libmp3lame" stands for LAME, which lameenc provides)
    sample_rate: int
    bitrate: int | None  # bits per second, for lossy codecs
    media_type: str
    # How the encoded audio is framed: a PyAV muxer ("ogg", "adts", "flac"), "wav" (a header of
    # our own, then PCM), "raw" (the codec's bytes as they are: PCM, G.711, or MP3 frames).
    container: str
    passthrough: bool = False  # exactly the worker's MP3: no decoding at all


def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """A mono 16-bit WAV header; without a length the sizes say "unknown" (0xFFFFFFFF), as streamed WAV does."""
    data = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data))


def finish_wav(streamed: bytes) -> bytes:
    """Put the real sizes into a streamed WAV once all of it is known."""
    header = wav_header(struct.unpack_from("<I", streamed, 24)[0], len(streamed) - 44)
    return header + streamed[44:]


class _Sink:
    """A write-only file for PyAV muxers. With no seek(), muxers write a plain forward stream."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def write(self, data) -> int:
        self._pending += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        piece, self._pending = bytes(self._pending), bytearray()
        return piece


class Encoder:
    """Encodes decoded frames (any rate or layout) to one OutputFormat; write() and finish() return bytes."""

    def __init__(self, fmt: OutputFormat):
        self.fmt = fmt
        self._sink = _Sink()
        self._container = None
        self._started = False
        if fmt.container in ("ogg", "adts", "flac"):
            self._container = av.open(self._sink, mode="w", format=fmt.container, buffer_size=_IO_BUFFER_BYTES)
            stream = self._container.add_stream(fmt.codec, rate=fmt.sample_rate, layout="mono")
            if fmt.bitrate:
                stream.bit_rate = fmt.bitrate
            self._codec = stream.codec_context
            self._stream = stream
        else:
            self._codec = av.CodecContext.create(fmt.codec, "w")
            self._codec.sample_rate = fmt.sample_rate
            self._codec.layout = "mono"
            self._codec.format = av.Codec(fmt.codec, "w").audio_formats[0].name
            if fmt.bitrate:
                self._codec.bit_rate = fmt.bitrate
            self._codec.open()
        self._resampler = av.AudioResampler(format=self._codec.format.name, layout="mono", rate=fmt.sample_rate)
        self._fifo = av.AudioFifo()
        self._pts = 0

    def write(self, frame: av.AudioFrame | None) -> bytes:
        """Encode a frame (None flushes the resampler); returns whatever bytes are ready."""
        out = [self._start()]
        for resampled in self._resampler.resample(frame):
            resampled.pts = None
            self._fifo.write(resampled)
        size = self._codec.frame_size or 1024
        while self._fifo.samples >= size:
            out.append(self._encode(self._fifo.read(size)))
        return b"".join(out)

    def finish(self) -> bytes:
        out = [self.write(None)]
        if self._fifo.samples:
            out.append(self._encode(self._pad(self._fifo.read())))
        out.append(self._encode(None))
        if self._container is not None:
            self._container.close()
            out.append(self._sink.take())
        return b"".join(out)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return wav_header(self.fmt.sample_rate) if self.fmt.container == "wav" else b""

    def _pad(self, frame: av.AudioFrame) -> av.AudioFrame:
        # Encoders with a fixed frame size (Opus, AAC) refuse a short last frame: pad it with silence.
        size = self._codec.frame_size
        if not size or frame.samples == size or self._codec.codec.capabilities & _SMALL_LAST_FRAME:
            return frame
        data = frame.to_ndarray()
        padded = np.zeros((data.shape[0], size), dtype=data.dtype)
        padded[:, : frame.samples] = data
        out = av.AudioFrame.from_ndarray(padded, format=frame.format.name, layout="mono")
        out.sample_rate = frame.sample_rate
        return out

    def _encode(self, frame: av.AudioFrame | None) -> bytes:
        if frame is not None:
            frame.pts = self._pts
            self._pts += frame.samples
        if self._container is not None:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            return self._sink.take()
        return b"".join(bytes(packet) for packet in self._codec.encode(frame))


class LameEncoder:
    """Encoder's interface for MP3: write() and finish() return bytes."""

    def __init__(self, fmt: OutputFormat):
        self.fmt = fmt
        self._sink = _Sink()
        self._writer: Mp3Writer | None = None

    def write(self, frame: av.AudioFrame | None) -> bytes:
        if frame is None:
            return b""
        if self._writer is None:  # the input rate is known only from the first decoded frame
            self._writer = Mp3Writer(self._sink, frame.sample_rate, bitrate=self.fmt.bitrate,
                                     output_rate=self.fmt.sample_rate)
        self._writer.write_frame(frame)
        return self._sink.take()

    def finish(self) -> bytes:
        if self._writer is not None:
            self._writer.close()
        return self._sink.take()


def encoder_for(fmt: OutputFormat) -> Encoder | LameEncoder:
    return LameEncoder(fmt) if fmt.codec == "libmp3lame" else Encoder(fmt)


class Transcoder:
    """MP3 bytes in, as they arrive; the OutputFormat's bytes out, as soon as they can be made."""

    def __init__(self, fmt: OutputFormat):
        self.fmt = fmt
        self._decoder = av.CodecContext.create("mp3", "r")
        self._encoder = encoder_for(fmt)

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        return b"".join(self._decode(self._decoder.parse(data)))

    def finish(self) -> bytes:
        out = self._decode(self._decoder.parse(None))
        out += [self._encoder.write(frame) for frame in self._decoder.decode(None)]
        out.append(self._encoder.finish())
        return b"".join(out)

    def _decode(self, packets) -> list[bytes]:
        out = []
        for packet in packets:
            try:
                frames = self._decoder.decode(packet)
            except av.InvalidDataError:
                continue  # the ID3 tag or LAME's info frame at the start: nothing to hear
            out += [self._encoder.write(frame) for frame in frames]
        return out


async def transcode_stream(chunks: AsyncIterator[bytes], fmt: OutputFormat) -> AsyncIterator[bytes]:
    """Turn MP3 byte chunks as they arrive into `fmt` byte chunks; the coding runs in worker threads,
    a chunk at a time, so the event loop stays free while a listener waits."""
    if fmt.passthrough:
        async for chunk in chunks:
            yield chunk
        return
    transcoder = Transcoder(fmt)
    async for chunk in chunks:
        out = await run_in_threadpool(transcoder.feed, chunk)
        if out:
            yield out
    tail = await run_in_threadpool(transcoder.finish)
    if tail:
        yield tail
