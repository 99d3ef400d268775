"""Qwen3-TTS 0.6B Base on a Modal A10G: voice cloning for Utter.

    pip install -e '.[modal]'                      # the image adds the local `utter` package
    modal run modal_app/qwen3_tts/app.py           # download the weights into the volume once
    modal deploy modal_app/qwen3_tts/app.py        # then point Utter at it (UTTER_MODAL_APP_NAME)

The inference code is `utter.adapters.tts.qwen_inference`, the same module the
in-process engine runs; this file only wires it to a GPU container.

Results are {"audio": float32 little-endian bytes, "sample_rate": 24000}, or
{"error": {"code", "message"}} for a failure Utter should show as it is.

The model decodes through the fast core (static KV cache, CUDA graphs), and one container
takes CONCURRENT_INPUTS calls at once, whose frames the core batches in one step.

Speech calls stream: given a `stream_key`, `generate` sends each piece of audio, as the core
decodes it, to that partition of the `utter-qwen3-tts-pieces` queue, so the web tier plays the first audio
while the GPU still speaks (utter/adapters/tts/modal_pieces.py says why a queue and not a
generator method). The result is still the whole audio, for a web tier that restarted.

Utter sends a long text as one call per chunk. Only the first carries the reference
recording (up to 14 MB for a 5-minute clip); the rest name the voice, whose clone prompt
the warm container keeps, and get the error "reference_needed" when another container
without it takes them, so that Utter sends that one again with the recording.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import modal

APP_NAME = os.environ.get("UTTER_MODAL_APP_NAME", "utter-qwen3-tts")
MODEL_ID = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"
MODELS_DIR = "/models"
# Set to a local checkpoint folder to run the class elsewhere (tests use `.local()`).
MODEL_PATH_ENV = "UTTER_QWEN_MODEL_PATH"
PROMPTS_KEPT = 64  # clone prompts kept per warm container, by voice id and version
# Inputs one container takes at once: their frames are batched in one step by the decoding core.
CONCURRENT_INPUTS = 16

app = modal.App(APP_NAME)
volume = modal.Volume.from_name("utter-qwen3-tts-models", create_if_missing=True)
image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("sox")
    .pip_install_from_requirements(str(Path(__file__).resolve().parents[1] / "requirements.txt"))
    .env({"HF_HOME": f"{MODELS_DIR}/hf"})
    .add_local_python_source("utter")
)


def model_path() -> str:
    override = os.environ.get(MODEL_PATH_ENV)
    if override:
        return override
    from utter.adapters.tts.qwen_inference import local_dir_name

    return f"{MODELS_DIR}/{local_dir_name(MODEL_ID)}"


@app.function(image=image, volumes={MODELS_DIR: volume}, timeout=1800)
def download_weights() -> str:
    """Fetch the weights into the volume (no GPU needed); later containers start from it."""
    from utter.adapters.tts.qwen_download import download_model

    path = download_model(MODEL_ID, MODELS_DIR)
    volume.commit()
    return str(path)


@app.cls(image=image, gpu="A10G", volumes={MODELS_DIR: volume}, scaledown_window=300, timeout=900)
@modal.concurrent(max_inputs=CONCURRENT_INPUTS)
class Qwen3TTS:
    @modal.enter()
    def load(self) -> None:
        from utter.adapters.tts import qwen_inference as qi

        path = model_path()
        if not os.environ.get(MODEL_PATH_ENV) and not Path(path, "config.json").is_file():
            # First start before `modal run`: fetch into the volume now rather than fail.
            download_weights.local()
        self.loaded = qi.load_model(path, device="auto", dtype="auto", attn="sdpa")
        self.prompts: OrderedDict[str, list] = OrderedDict()
        # Inputs run in threads of their own; the core batches their frames, and this lock keeps
        # the prompt cache and qwen-tts's prompt building (its encoders) to one input at a time.
        self.prompt_lock = threading.Lock()
        # Where `generate` streams its pieces when the caller gives a stream key (modal_pieces.py says why).
        from utter.adapters.tts.modal_pieces import QUEUE_NAME

        self.pieces = modal.Queue.from_name(QUEUE_NAME, create_if_missing=True)

    @modal.method()
    def generate(
        self,
        text: str,
        language: str,
        reference_audio: bytes | None,
        transcript: str | None = None,
        voice_key: str | None = None,
        max_new_tokens: int | None = None,
        stream_key: str | None = None,
    ) -> dict:
        """Speak `text` in the voice of `reference_audio` (WAV bytes) and its transcript, or in
        the voice `voice_key` names when this container has its prompt already.

        With a `stream_key`, each piece is also sent to that partition of the pieces queue as the
        core decodes it, and the result is exactly those pieces joined."""
        from utter.adapters.tts import qwen_inference as qi
        from utter.adapters.tts.base import EngineError
        from utter.adapters.tts.modal_pieces import relay

        try:
            with self.prompt_lock:
                prompt = self._prompt(reference_audio, transcript, voice_key)
            if stream_key:
                pieces = qi.stream_clone_long(self.loaded, prompt, text, language, max_new_tokens=max_new_tokens)
                audio = relay(pieces, self.pieces.put_many, stream_key)
            else:
                audio = qi.generate_clone_long(self.loaded, prompt, text, language, max_new_tokens=max_new_tokens)
        except EngineError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        return {"audio": audio.astype("<f4").tobytes(), "sample_rate": qi.SAMPLE_RATE}

    @modal.method()
    def likeness(
        self,
        audio: bytes,
        sample_rate: int,
        reference_audio: bytes | None,
        transcript: str | None = None,
        voice_key: str | None = None,
    ) -> dict:
        """How alike `audio` (float32 little-endian samples) is to the voice: the cosine similarity of
        its speaker embedding to the reference's, by the Base model's own speaker encoder."""
        import numpy as np

        from utter.adapters.tts import qwen_inference as qi
        from utter.adapters.tts.base import EngineError

        try:
            with self.prompt_lock:
                prompt = self._prompt(reference_audio, transcript, voice_key)
                samples = np.frombuffer(audio, dtype="<f4").astype(np.float32)
                return {"similarity": qi.speaker_similarity(self.loaded, prompt, samples, int(sample_rate))}
        except EngineError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}

    def _prompt(self, reference_audio: bytes | None, transcript: str | None, voice_key: str | None) -> list:
        """A warm container reuses a voice's clone prompt; the key carries the voice's version."""
        from utter.adapters.tts import qwen_inference as qi
        from utter.adapters.tts.base import REFERENCE_NEEDED, EngineError

        if voice_key and voice_key in self.prompts:
            self.prompts.move_to_end(voice_key)
            return self.prompts[voice_key]
        if reference_audio is None:
            raise EngineError(REFERENCE_NEEDED, "This container has no prompt for the voice; send its recording.")
        audio, rate = qi.read_audio(reference_audio)
        prompt = qi.build_clone_prompt(self.loaded, audio, rate, transcript)
        if voice_key:
            self.prompts[voice_key] = prompt
            while len(self.prompts) > PROMPTS_KEPT:
                self.prompts.popitem(last=False)
        return prompt


@app.local_entrypoint()
def main() -> None:
    print("weights in", download_weights.remote())
