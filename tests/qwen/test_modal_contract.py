"""The Modal client against the Modal apps' real classes: what one side sends, the other accepts.

Modal's cloud cannot be reached from here, so the transport is played in-process: a spawn runs
the app's real method with `.local(**kwargs)` (which refuses a keyword the method does not
declare, as a deployed function would) and its result comes back through the client's own
`poll`. Everything on both sides of the wire is the product's code: ModalCalls and
RemoteEngine on the web tier, the apps' classes and the inference module on the GPU side.
"""

from __future__ import annotations

import collections
import inspect
import itertools
import queue
import threading
from pathlib import Path

import numpy as np
import pytest

from utter.adapters.tts.base import DesignJob, SpeechRequest, VoiceReference
from utter.adapters.tts.remote import RemoteEngine
from utter.config import Settings

from .test_modal_apps import load_app

modal = pytest.importorskip("modal")
pytestmark = pytest.mark.filterwarnings("ignore:.*executing locally.*:UserWarning")


class InProcessModal:
    """modal.Cls.from_name and modal.FunctionCall.from_id, answered by the apps' classes in this process.

    Each app class is one warm container (its prompt cache persists between calls) until `cold()`.
    """

    def __init__(self, apps: dict[str, object]):
        self.apps = apps  # class name -> the app module defining it
        self.containers: dict[str, object] = {}
        self.results: dict[str, dict] = {}
        self.sent: list[tuple[str, dict]] = []  # (method, kwargs) in order
        self._ids = itertools.count()

    def cold(self) -> None:
        self.containers.clear()

    def from_name(self, app_name, class_name, client=None):
        return lambda: _Container(self, class_name)

    def from_id(self, call_id, client=None):
        return self.results[call_id]


class _Container:
    def __init__(self, cloud: InProcessModal, class_name: str):
        self.cloud, self.class_name = cloud, class_name

    def __getattr__(self, method: str):
        cloud, class_name = self.cloud, self.class_name

        class Method:
            @staticmethod
            def spawn(**kwargs):
                """Runs the method in a thread of its own, as a container runs an input while the caller goes on."""
                instance = cloud.containers.get(class_name)
                if instance is None:
                    instance = cloud.containers[class_name] = getattr(cloud.apps[class_name], class_name)()
                cloud.sent.append((method, kwargs))
                call = _Call(f"fc-{next(cloud._ids)}")
                cloud.results[call.object_id] = call
                call.start(lambda: getattr(instance, method).local(**kwargs))  # TypeError on a keyword it does not take
                return call

            @staticmethod
            def remote(**kwargs):
                return Method.spawn(**kwargs).get()

        return Method


class _Call:
    """A spawned call: `get(timeout)` answers as modal.FunctionCall.get does (the builtin TimeoutError while
    it runs; the method's exception re-raised)."""

    def __init__(self, object_id):
        self.object_id = object_id
        self.finished = threading.Event()
        self.result = self.error = None

    def start(self, run):
        def target():
            try:
                self.result = run()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, as Modal does
                self.error = exc
            finally:
                self.finished.set()

        threading.Thread(target=target, daemon=True).start()

    def get(self, timeout=None):
        if not self.finished.wait(timeout):
            raise TimeoutError(f"{self.object_id} is still running")
        if self.error is not None:
            raise self.error
        return self.result


class InProcessQueue:
    """modal.Queue's partitions, in memory: put_many and get_many as they behave (get_many waits for an item
    up to `timeout`, then raises the stdlib's queue.Empty; block=False returns what is there)."""

    def __init__(self):
        self.items: dict[str | None, list] = collections.defaultdict(list)
        self.names: set[str] = set()
        self.written: set[str | None] = set()  # partitions put into
        self.changed = threading.Condition()

    def from_name(self, name, *, environment_name=None, create_if_missing=False, client=None):
        self.names.add(name)
        return self

    def put_many(self, vs, block=True, timeout=None, *, partition=None, partition_ttl=86400):
        with self.changed:
            self.written.add(partition)
            self.items[partition].extend(vs)
            self.changed.notify_all()

    def get_many(self, n_values, block=True, timeout=None, *, partition=None):
        with self.changed:
            if block and not self.changed.wait_for(lambda: self.items[partition], timeout):
                raise queue.Empty
            taken, self.items[partition] = self.items[partition][:n_values], self.items[partition][n_values:]
            return taken


class Task:
    """What an engine may ask of its task (generations.task.Task), kept in memory."""

    def __init__(self):
        self.prompts = None
        self.remote_calls: list[str] = []

    def record_remote_calls(self, call_ids):
        self.remote_calls = list(call_ids)


@pytest.fixture
def cloud(monkeypatch, tiny_qwen_base_dir, tiny_qwen_design_dir):
    monkeypatch.setenv("UTTER_QWEN_MODEL_PATH", str(tiny_qwen_base_dir))
    monkeypatch.setenv("UTTER_QWEN_DESIGN_MODEL_PATH", str(tiny_qwen_design_dir))
    speech_app, design_app = load_app("app.py"), load_app("app_voice_design.py")
    fake = InProcessModal({"Qwen3TTS": speech_app, "Qwen3TTSVoiceDesign": design_app})
    monkeypatch.setattr(modal.Cls, "from_name", fake.from_name)
    monkeypatch.setattr(modal.FunctionCall, "from_id", fake.from_id)
    fake.queue = InProcessQueue()
    monkeypatch.setattr(modal.Queue, "from_name", fake.queue.from_name)
    fake.signatures = {
        "generate": inspect.signature(speech_app.Qwen3TTS._get_user_cls().generate._get_raw_f()),
        "design": inspect.signature(design_app.Qwen3TTSVoiceDesign._get_user_cls().design._get_raw_f()),
        "likeness": inspect.signature(speech_app.Qwen3TTS._get_user_cls().likeness._get_raw_f()),
    }
    return fake


@pytest.fixture
def engine(tmp_path):
    from utter.adapters.tts.modal_client import ModalCalls

    return RemoteEngine(ModalCalls(Settings(_env_file=None, data_dir=tmp_path), reason="test"))


def _speak(engine, request) -> dict[int, np.ndarray]:
    audio: dict[int, list[np.ndarray]] = {}
    for piece in engine.speak(request, Task()):
        assert piece.sample_rate == 24000
        audio.setdefault(piece.chunk, []).append(piece.samples)
    return {chunk: np.concatenate(parts) for chunk, parts in audio.items()}


def _result_audio(cloud, call_id) -> np.ndarray:
    call = cloud.results[call_id]
    assert call.finished.wait(60)
    return np.frombuffer(call.result["audio"], dtype="<f4")


def test_speech_calls_match_the_apps_method_and_its_answers_decode(cloud, engine, reference_wav: Path):
    voice = VoiceReference("voice-1", reference_wav, "This is my reference clip.", "r1")
    request = SpeechRequest(chunks=("Hello there.", "A second part."), language="en", voice=voice)
    spoken = _speak(engine, request)
    assert sorted(spoken) == [0, 1] and all(audio.size > 0 and audio.dtype == np.float32 for audio in spoken.values())
    declared = cloud.signatures["generate"].parameters
    for method, kwargs in cloud.sent:
        assert method == "generate" and set(kwargs) <= set(declared)
    first, second = (kwargs for _, kwargs in cloud.sent)
    assert first["reference_audio"][:4] == b"RIFF" and second["reference_audio"] is None
    assert first["voice_key"] == second["voice_key"] == "voice-1:r1"
    assert (first["text"], first["language"], first["transcript"]) == ("Hello there.", "en", "This is my reference clip.")


def test_a_cold_container_asks_for_the_recording_and_gets_it(cloud, engine, reference_wav: Path):
    voice = VoiceReference("voice-1", reference_wav, None, "r1")
    _speak(engine, SpeechRequest(chunks=("Hello.",), language="en", voice=voice))
    cloud.cold()
    cloud.sent.clear()
    spoken = _speak(engine, SpeechRequest(chunks=("First.", "Second."), language="en", voice=voice))
    assert sorted(spoken) == [0, 1]
    # A call in this voice came back a moment ago, so the next text went without the recording; the cold
    # container asked for it, got it with the call made again, and knew the voice for the second part.
    assert [(kwargs["text"], kwargs["reference_audio"] is not None) for _, kwargs in cloud.sent] == [
        ("First.", False), ("First.", True), ("Second.", False)]


def test_design_calls_match_the_apps_method_and_stream(cloud, engine):
    task = Task()
    pieces, running_at_first = [], None
    for piece in engine.speak_design(DesignJob("Hello, I am new here.", "en", "A calm, low voice."), task):
        if piece.samples.size and running_at_first is None:
            running_at_first = not cloud.results[task.remote_calls[0]].finished.is_set()
        pieces.append(piece)
    assert pieces[-1].end and all(p.sample_rate == 24000 for p in pieces)
    [(method, kwargs)] = cloud.sent
    assert method == "design" and set(kwargs) <= set(cloud.signatures["design"].parameters)
    stream_key = kwargs.pop("stream_key")
    assert kwargs == {"text": "Hello, I am new here.", "language": "en", "description": "A calm, low voice."}
    # The design is heard as it is made, and what is heard is the call's result.
    assert running_at_first and len(stream_key) == 32 and cloud.queue.written == {stream_key}
    heard = np.concatenate([p.samples for p in pieces])
    assert np.array_equal(heard, _result_audio(cloud, task.remote_calls[0]))


def test_an_error_the_app_returns_keeps_its_code(cloud, engine, reference_wav: Path):
    from utter.adapters.tts.base import EngineError

    voice = VoiceReference("voice-1", reference_wav, None, "r1")
    with pytest.raises(EngineError) as error:
        _speak(engine, SpeechRequest(chunks=("Hej.",), language="sv", voice=voice))
    assert error.value.code == "unsupported_language"


def test_likeness_is_scored_in_the_container_with_the_voices_prompt(cloud, engine, reference_wav: Path):
    """The web tier sends the result's samples; the container scores them with the speaker encoder against
    the prompt it keeps for the voice, and asks for the recording when it has none (a cold container)."""
    from utter.audio import codec

    voice = VoiceReference("voice-1", reference_wav, None, "r1")
    _speak(engine, SpeechRequest(chunks=("Hello.",), language="en", voice=voice))
    cloud.sent.clear()
    itself = codec.decode(reference_wav, target_rate=24000).samples
    assert engine.likeness(voice, itself, 24000, None) > 0.999  # the reference scored against itself
    [(method, kwargs)] = cloud.sent
    assert method == "likeness" and set(kwargs) <= set(cloud.signatures["likeness"].parameters)
    assert kwargs["reference_audio"] is None and kwargs["voice_key"] == "voice-1:r1"
    cloud.cold()
    cloud.sent.clear()
    t = np.arange(24000) / 24000
    other = (0.3 * np.random.default_rng(3).standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 2500 * t))
    assert engine.likeness(voice, other.astype(np.float32), 24000, None) < 0.99
    assert [kwargs["reference_audio"] is not None for _, kwargs in cloud.sent] == [False, True]


def test_speech_streams_its_pieces_while_the_container_speaks(cloud, engine, reference_wav: Path):
    """The app sends each piece the core decodes to the call's partition of the pieces queue; the web tier
    passes them on while the call still runs, then takes from the result only what they did not carry."""
    voice = VoiceReference("voice-1", reference_wav, "This is my reference clip.", "r1")
    task = Task()
    pieces, running_at_first = [], None
    for piece in engine.speak(SpeechRequest(chunks=("Hello there, this part is streamed.",), language="en",
                                            voice=voice), task):
        if piece.samples.size and running_at_first is None:
            running_at_first = not cloud.results[task.remote_calls[0]].finished.is_set()
        pieces.append(piece)
    assert running_at_first, "the first audio waited for the whole call"
    assert pieces[-1].end and all(not p.end for p in pieces[:-1])
    assert sum(1 for p in pieces[:-1] if p.samples.size) >= 2  # 2 frames first, then 8 at a time
    heard = np.concatenate([p.samples for p in pieces])
    assert np.array_equal(heard, _result_audio(cloud, task.remote_calls[0]))
    assert cloud.queue.names == {"utter-qwen3-tts-pieces"}
    [(_, kwargs)] = cloud.sent
    assert len(kwargs["stream_key"]) == 32 and cloud.queue.written == {kwargs["stream_key"]}


def test_pieces_that_stop_short_are_made_up_from_the_result(cloud, engine, reference_wav: Path):
    """A container that cannot send its pieces after the first (the queue failing) still speaks the whole
    part: the web tier stops waiting for pieces and takes the rest from the call's result."""
    sent = []
    put_many = cloud.queue.put_many

    def first_then_fail(vs, *args, **kwargs):
        if sent:
            raise ConnectionError("the queue went away")
        sent.append(vs)
        put_many(vs, *args, **kwargs)

    cloud.queue.put_many = first_then_fail
    voice = VoiceReference("voice-1", reference_wav, "This is my reference clip.", "r1")
    task = Task()
    pieces = list(engine.speak(SpeechRequest(chunks=("Hello there, this part is streamed.",), language="en",
                                             voice=voice), task))
    streamed = [p.samples for p in pieces[:-1] if p.samples.size]
    assert len(streamed) == len(sent[0]) >= 1 and pieces[-1].end and pieces[-1].samples.size > 0
    heard = np.concatenate([p.samples for p in pieces])
    assert np.array_equal(heard, _result_audio(cloud, task.remote_calls[0]))
