"""Qwen3-TTS on Modal GPUs: spawn a call, keep its id, poll it, and play its pieces as they come.

The call id is stored on the generation, so a restarted web process polls the same
call instead of paying for the work twice. modal is imported only when this engine
is built (the `modal` extra).
"""

from __future__ import annotations

import contextlib
import logging
import queue
from collections.abc import Iterator

import numpy as np

from ...config import Settings
from . import modal_pieces
from . import qwen_inference as qi
from .base import DesignJob, EngineError, EngineInfo, SpeechJob, VoiceReference

log = logging.getLogger(__name__)

CLASS_NAME = "Qwen3TTS"
DESIGN_CLASS_NAME = "Qwen3TTSVoiceDesign"
TOKEN_HELP = (
    "Set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (create a token with `modal token new` or in "
    "Modal's dashboard under Settings > API Tokens), then restart Utter."
)


class ModalCalls:
    """The RemoteCalls of the Qwen3-TTS apps deployed on Modal (remote.RemoteEngine speaks through them)."""

    def __init__(self, settings: Settings, reason: str = "chosen in settings"):
        try:
            import modal  # noqa: F401
        except ImportError as exc:
            raise EngineError(
                "engine_not_installed", "The Modal client is not installed. Install it with: pip install 'utter[modal]'"
            ) from exc
        self.settings = settings
        self.info = EngineInfo(
            name="modal",
            label="Qwen3-TTS on Modal (GPU)",
            reason=reason,
            capabilities=qi.capabilities(can_design=bool(settings.modal_design_app_name)),
            details={"app": settings.modal_app_name, "design_app": settings.modal_design_app_name or "(none)"},
        )
        self._client = None
        self._pieces = None  # the pieces queue, looked up on first use

    def load(self) -> None:
        """Nothing to load: the GPU containers load the model when a call arrives."""

    def _client_or_none(self):
        """A client for the configured token; None lets modal use its own environment/config."""
        if self._client is None and self.settings.modal_configured:
            import modal

            self._client = modal.Client.from_credentials(self.settings.modal_token_id, self.settings.modal_token_secret)
        return self._client

    def _remote(self, app_name: str, class_name: str):
        import modal

        return modal.Cls.from_name(app_name, class_name, client=self._client_or_none())()

    def spawn_speech(self, job: SpeechJob, reference_audio: bytes | None, stream_key: str | None = None) -> str:
        if job.voice is None:
            raise qi.voice_required()
        with _modal_errors(self.settings.modal_app_name):
            call = self._remote(self.settings.modal_app_name, CLASS_NAME).generate.spawn(
                text=job.text,
                language=job.language,
                reference_audio=reference_audio,
                transcript=job.voice.transcript,
                voice_key=f"{job.voice.voice_id}:{job.voice.version}",
                stream_key=stream_key,
            )
        return call.object_id

    def pieces(self, stream_key: str, wait: float = 0.0) -> tuple[list[np.ndarray], bool]:
        """The pieces a call has sent to `stream_key` since the last read (waiting up to `wait` seconds for
        one), and whether it has sent its last. Never raises: on a failure to read, the call's result
        carries the audio instead, so the caller is told the pieces ended."""
        import modal

        try:
            if self._pieces is None:
                self._pieces = modal.Queue.from_name(modal_pieces.QUEUE_NAME, create_if_missing=True,
                                                     client=self._client_or_none())
            if wait > 0:
                items = self._pieces.get_many(modal_pieces.READ_AT_MOST, timeout=wait, partition=stream_key)
            else:
                items = self._pieces.get_many(modal_pieces.READ_AT_MOST, block=False, partition=stream_key)
        except queue.Empty:  # nothing came within `wait`
            return [], False
        except Exception:  # noqa: BLE001 - the result still holds all of the audio
            log.warning("modal.pieces_unreadable", exc_info=True)
            return [], True
        return modal_pieces.decode(items)

    def spawn_design(self, job: DesignJob, stream_key: str | None = None) -> str:
        app_name = self.settings.modal_design_app_name
        with _modal_errors(app_name):
            call = self._remote(app_name, DESIGN_CLASS_NAME).design.spawn(
                text=job.text, language=job.language, description=job.description, stream_key=stream_key
            )
        return call.object_id

    def likeness(self, voice: VoiceReference, samples: np.ndarray, sample_rate: int,
                 reference_audio: bytes | None) -> float:
        with _modal_errors(self.settings.modal_app_name):
            result = self._remote(self.settings.modal_app_name, CLASS_NAME).likeness.remote(
                audio=np.asarray(samples, dtype="<f4").tobytes(), sample_rate=sample_rate,
                reference_audio=reference_audio, transcript=voice.transcript,
                voice_key=f"{voice.voice_id}:{voice.version}",
            )
        error = result.get("error") if isinstance(result, dict) else None
        if error:
            raise EngineError(str(error.get("code", "remote_failed")), str(error.get("message", "The Modal call failed.")))
        try:
            return float(result["similarity"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError("remote_failed", f"The Modal app returned an unexpected result: {exc}") from exc

    def poll(self, call_id: str, wait: float = 0.0) -> tuple[np.ndarray, int] | None:
        import modal

        with _modal_errors(self.settings.modal_app_name):
            call = modal.FunctionCall.from_id(call_id, client=self._client_or_none())
            try:
                result = call.get(timeout=wait)  # returns as soon as the result is there
            except TimeoutError:  # the builtin one: still running
                return None
        return decode_result(result)

    def close(self) -> None:
        self._client = None
        self._pieces = None


def decode_result(result: dict) -> tuple[np.ndarray, int]:
    """The apps return {"audio": float32 little-endian bytes, "sample_rate": int}, or
    {"error": {"code", "message"}} for a failure to show as it is (e.g. a bad language)."""
    error = result.get("error") if isinstance(result, dict) else None
    if error:
        raise EngineError(str(error.get("code", "remote_failed")), str(error.get("message", "The Modal call failed.")))
    try:
        audio = np.frombuffer(result["audio"], dtype="<f4").astype(np.float32)
        return audio, int(result["sample_rate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineError("remote_failed", f"The Modal app returned an unexpected result: {exc}") from exc


@contextlib.contextmanager
def _modal_errors(app_name: str) -> Iterator[None]:
    """Turn modal's exceptions into EngineErrors with a stable code and a plain message."""
    from modal import exception as mx

    try:
        yield
    except EngineError:
        raise
    except mx.OutputExpiredError as exc:
        raise EngineError(
            "remote_expired", "The result of this Modal call has expired (Modal keeps results for a limited time); run it again."
        ) from exc
    except mx.FunctionTimeoutError as exc:
        raise EngineError("remote_timeout", "The Modal call ran past its time limit.", retryable=True) from exc
    except mx.AuthError as exc:
        raise EngineError("modal_auth", f"Modal could not authenticate ({_first_line(exc)}). {TOKEN_HELP}") from exc
    except mx.NotFoundError as exc:
        raise EngineError(
            "modal_app_not_found",
            f"The Modal app {app_name!r} (or this call) was not found. Deploy it with "
            "`modal deploy modal_app/qwen3_tts/app.py` (and app_voice_design.py for design), "
            f"or check UTTER_MODAL_APP_NAME. ({exc})",
        ) from exc
    except (mx.ConnectionError, OSError) as exc:  # OSError includes socket errors and time-outs
        raise EngineError("modal_unreachable", f"Could not reach Modal: {exc}", retryable=True) from exc
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise EngineError("remote_failed", f"The Modal call failed: TypeError: {exc}") from exc
        # A deployed app older than this web tier (re-raised from the container): say what to do.
        raise EngineError(
            "modal_app_outdated",
            f"The deployed Modal app {app_name!r} is older than this version of Utter ({exc}). Deploy it "
            "again: `modal deploy modal_app/qwen3_tts/app.py` (and app_voice_design.py for design).",
        ) from exc
    except Exception as exc:
        # A remote exception (modal re-raises the container's own exception type) or any
        # other modal.Error: the generation fails with what the GPU side said.
        log.warning("modal.call_failed", exc_info=True)
        raise EngineError("remote_failed", f"The Modal call failed: {type(exc).__name__}: {exc}") from exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(exc).__name__
