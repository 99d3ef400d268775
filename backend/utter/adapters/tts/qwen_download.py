"""`utter download-models`: fetch the Qwen3-TTS weights into a local folder.

Once they are on disk (models_dir/<model name>), `auto` engine selection finds them
and the in-process engine loads them without the hub.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .base import EngineError
from .qwen_inference import local_dir_name

if TYPE_CHECKING:  # the Modal image imports this module without the web tier's dependencies
    from ...config import Settings

log = logging.getLogger(__name__)


def download_model(model_id: str, models_dir: Path | str) -> Path:
    """Download one Hugging Face repo into models_dir/<name>; return that folder."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise EngineError(
            "engine_not_installed", "Downloading models needs huggingface_hub. Install it with: pip install 'utter[qwen]'"
        ) from exc

    target = Path(models_dir) / local_dir_name(model_id)
    log.info("models.download_started", extra={"model": model_id, "target": str(target)})
    try:
        snapshot_download(repo_id=model_id, local_dir=target)
    except Exception as exc:  # network, offline mode, unknown repo, disk: all end the same way for a person
        raise EngineError(
            "download_failed",
            f"Could not download {model_id} into {target}: could not reach Hugging Face or fetch the files "
            f"({_reason(exc)}). Run this where huggingface.co is reachable (and HF_HUB_OFFLINE is not set), "
            "or copy the model folder there yourself.",
        ) from exc
    return target


def download_models(settings: Settings, which: tuple[str, ...] = ("base", "design")) -> list[Path]:
    """Download the configured Base and/or VoiceDesign models; return their folders."""
    models = {"base": settings.qwen_model, "design": settings.qwen_design_model}
    unknown = set(which) - set(models)
    if unknown:
        raise EngineError("bad_request", f"Unknown model kind(s): {', '.join(sorted(unknown))}; use base and/or design.")
    paths = []
    for kind in which:
        model_id = models[kind]
        if not model_id:
            continue
        if Path(model_id).expanduser().is_dir():
            paths.append(Path(model_id).expanduser())  # already a local folder: nothing to fetch
            continue
        paths.append(download_model(model_id, settings.models_dir))
    return paths


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
