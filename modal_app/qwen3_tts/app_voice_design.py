"""Qwen3-TTS VoiceDesign on a Modal A10G: a voice from a description, for Utter's /design.

There is no 0.6B VoiceDesign model; this is the 1.7B one (fits an A10G's 24 GB in bfloat16).

    modal run modal_app/qwen3_tts/app_voice_design.py      # download the weights once
    modal deploy modal_app/qwen3_tts/app_voice_design.py   # UTTER_MODAL_DESIGN_APP_NAME

Same inference module and result format as app.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import modal

APP_NAME = os.environ.get("UTTER_MODAL_DESIGN_APP_NAME", "utter-qwen3-tts-voice-design")
MODEL_ID = "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign"
MODELS_DIR = "/models"
MODEL_PATH_ENV = "UTTER_QWEN_DESIGN_MODEL_PATH"

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
    from utter.adapters.tts.qwen_download import download_model

    path = download_model(MODEL_ID, MODELS_DIR)
    volume.commit()
    return str(path)


@app.cls(image=image, gpu="A10G", volumes={MODELS_DIR: volume}, scaledown_window=300, timeout=900)
@modal.concurrent(max_inputs=8)  # a design's candidates (and other designs) are batched by the decoding core
class Qwen3TTSVoiceDesign:
    @modal.enter()
    def load(self) -> None:
        from utter.adapters.tts import qwen_inference as qi

        path = model_path()
        if not os.environ.get(MODEL_PATH_ENV) and not Path(path, "config.json").is_file():
            download_weights.local()
        self.loaded = qi.load_model(path, device="auto", dtype="auto", attn="sdpa")
        from utter.adapters.tts.modal_pieces import QUEUE_NAME

        self.pieces = modal.Queue.from_name(QUEUE_NAME, create_if_missing=True)  # where design streams

    @modal.method()
    def design(self, text: str, language: str, description: str, max_new_tokens: int | None = None,
               stream_key: str | None = None) -> dict:
        """Speak `text` in a new voice that matches `description`; with a `stream_key`, each piece also
        goes to that partition of the pieces queue as it is made (as app.py's `generate` does)."""
        from utter.adapters.tts import qwen_inference as qi
        from utter.adapters.tts.base import EngineError
        from utter.adapters.tts.modal_pieces import relay

        try:
            if stream_key:
                pieces = qi.stream_design(self.loaded, text, language, description, max_new_tokens=max_new_tokens)
                audio = relay(pieces, self.pieces.put_many, stream_key)
            else:
                audio = qi.generate_design(self.loaded, text, language, description, max_new_tokens=max_new_tokens)
        except EngineError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        return {"audio": audio.astype("<f4").tobytes(), "sample_rate": qi.SAMPLE_RATE}


@app.local_entrypoint()
def main() -> None:
    print("weights in", download_weights.remote())
