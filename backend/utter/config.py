"""Settings, read the 12-factor way: environment variables, then `.env`, then defaults.

Nothing needs to be set: the defaults keep everything under the working directory
(an `uploads/` folder and a SQLite file beside it) and use the embedded CPU engine.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineChoice(StrEnum):
    AUTO = "auto"
    PIPER = "piper"
    QWEN = "qwen"
    MODAL = "modal"


class AsrChoice(StrEnum):
    AUTO = "auto"  # transcribe references when faster-whisper is installed
    OFF = "off"


class StorageChoice(StrEnum):
    LOCAL = "local"
    R2 = "r2"


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3, accepting Neon/Heroku-style `postgres://`."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _seed_name(name: str) -> AliasChoices:
    """The seed's variables keep their plain names (DATABASE_URL, R2_*, MODAL_*); UTTER_* works too."""
    return AliasChoices(name, f"UTTER_{name}")


class Settings(BaseSettings):
    """Every other setting is read from UTTER_<NAME> (e.g. UTTER_ENGINE), so generic names cannot clash."""

    model_config = SettingsConfigDict(env_prefix="UTTER_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", populate_by_name=True)

    env: str = Field("development", validation_alias=_seed_name("ENV"), description="development or production")
    data_dir: Path = Field(Path("."), description="Where the default SQLite file and uploads/ live")
    database_url: str = Field("", description="SQLAlchemy URL; empty means a SQLite file in data_dir", validation_alias=_seed_name("DATABASE_URL"))
    db_pool_size: int = Field(5, description="Connections kept per process (small for Neon's free tier)")

    storage: StorageChoice = StorageChoice.LOCAL
    uploads_dir: Path | None = Field(None, description="Local storage root; default data_dir/uploads")
    r2_endpoint: str = Field("", validation_alias=_seed_name("R2_ENDPOINT"))
    r2_access_key: str = Field("", validation_alias=_seed_name("R2_ACCESS_KEY"))
    r2_secret_key: str = Field("", validation_alias=_seed_name("R2_SECRET_KEY"))
    r2_bucket: str = Field("utter-voice", validation_alias=_seed_name("R2_BUCKET"))
    r2_region: str = "auto"
    presign_seconds: int = Field(900, description="Lifetime of presigned audio URLs")

    engine: EngineChoice = EngineChoice.AUTO
    qwen_model: str = Field("Qwen/Qwen3-TTS-12Hz-0.6B-Base", description="HF id or local directory")
    qwen_design_model: str = "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign"
    qwen_device: str = Field("auto", description="auto, cuda, cuda:N or cpu")
    qwen_dtype: str = Field("auto", description="auto, bfloat16, float16 or float32")
    qwen_attn: str = "sdpa"
    qwen_cpu_precision: str = Field("auto", description="On a CPU: auto (float32), float32 or int8 (opt-in: int8 "
                                    "linear layers, ~4x fewer bytes a frame; see docs/qwen.md)")
    qwen_cpu_threads: int = Field(0, ge=0, description="On a CPU: threads of the decoding thread; 0 = automatic")
    qwen_cpu_max_rtf: float = Field(3.0, gt=0, description="auto picks Qwen3-TTS on a CPU only when it is expected "
                                    "to take at most this many seconds per second of speech")
    text_normalization: Literal["auto", "always", "off"] = Field(
        "auto", description="Numbers, money, dates and abbreviations in words before speaking (English): auto = for "
        "engines that read them literally (Piper), always, or off")
    heard_back: Literal["auto", "on", "off"] = Field(
        "auto", description="Each part of a generation transcribed and compared with its text, and spoken again "
        "when it went wrong: auto = for engines that can (Qwen3-TTS, in-process and on Modal), on, or off")
    models_dir: Path | None = Field(None, description="Where Qwen3-TTS weights are downloaded to (set up in the "
                                    "studio, `utter enable-cloning` or `utter download-models`)")
    hf_endpoint: str = Field("", validation_alias=AliasChoices("HF_ENDPOINT", "UTTER_HF_ENDPOINT"),
                             description="The Hugging Face hub (or a mirror of it) weights are downloaded from; "
                                         "empty: huggingface.co")
    modal_token_id: str = Field("", validation_alias=_seed_name("MODAL_TOKEN_ID"))
    modal_token_secret: str = Field("", validation_alias=_seed_name("MODAL_TOKEN_SECRET"))
    modal_app_name: str = "utter-qwen3-tts"
    modal_design_app_name: str = "utter-qwen3-tts-voice-design"

    asr: AsrChoice = Field(AsrChoice.AUTO, description="auto: transcribe references when faster-whisper is installed; off")
    asr_model: str = Field("", description="faster-whisper size name (e.g. small) or local model directory; "
                                           "empty means the bundled Whisper tiny.en")
    asr_multilingual_model: str = Field(
        "Systran/faster-whisper-small", description="The multilingual faster-whisper model (a Hugging Face id) "
        "that hears back generations in languages other than English; fetched by `utter download-models asr`")
    asr_device: str = Field("cpu", description="cpu, cuda or auto")
    asr_compute_type: str = Field("int8", description="CTranslate2 compute type, e.g. int8, float16, auto")
    asr_wait_seconds: float = Field(20.0, description="How long a clone waits for its transcript; longer "
                                                      "transcriptions finish in the background")

    max_upload_mb: int = 50
    min_reference_seconds: float = 10.0
    max_reference_seconds: float = 300.0
    max_text_chars: int = Field(5000, description="Longest text per generation; long text is spoken chunk by chunk")
    max_queue: int = Field(100, description="Generations allowed to wait; beyond this POST answers 503")
    workers: int | None = Field(None, ge=0, description="Generation threads in each serving process (0: leave it to "
                                "`utter worker`); unset: as many generations as the engine serves at once")
    task_lease_seconds: int = Field(120, description="A claimed task whose process stops renewing is retried after this")
    task_max_attempts: int = 2
    stop_grace_seconds: float = Field(10, description="On SIGTERM, how long the task in hand may run on before "
                                                      "it is handed back to the queue")
    preview_ttl_hours: float = Field(24, description="Unsaved voice-design previews are deleted this long after "
                                                     "their design finished")
    public_url: str = Field("", description="The address people reach Utter at (https://voices.example.com): the "
                            "Host it answers to, and the base of the absolute URLs it builds")
    allowed_hosts: str = Field("", description="More Host names to answer to, comma-separated (\"*\": any); loopback "
                               "names and the public URL's host always work")
    trusted_proxies: str = Field("127.0.0.1", description="Proxies whose X-Forwarded-* headers are believed "
                                 "(comma-separated addresses, or \"*\" behind a platform's proxy)")
    api_key: str = Field("", description="An access key given in the environment (beside those `utter keys create` "
                                         "makes): when any exists, every request needs one")
    open_access: bool = Field(False, description="Let `utter serve` listen on a non-loopback address with no access "
                                                 "key (anyone who reaches it can use it)")
    rate_limit_per_minute: int = Field(600, ge=0, description="Requests a minute each access key may make "
                                                             "(0: no limit)")

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value.strip())

    @model_validator(mode="after")
    def _defaults_under_data_dir(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'utter.db').resolve()}"
        if self.uploads_dir is None:
            self.uploads_dir = self.data_dir / "uploads"
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        return self

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def modal_configured(self) -> bool:
        return bool(self.modal_token_id and self.modal_token_secret)
