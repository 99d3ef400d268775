"""QwenCore: continuous batching of Qwen3-TTS generations, streamed as audio pieces.

Threading model: one scheduler thread owns the model, the static buffers and the
codec states. Any thread may call `clone`/`design` (which validate their arguments and
enqueue a request, returning a `Stream` at once) and read its stream; `Stream.cancel`
(or closing the iterator) only sets a flag and wakes the scheduler. Between steps the
scheduler drains its inbox, retires cancelled streams, admits waiting requests into
free rows (prefill each, then they join the batched step), runs one step for every
active row, and hands frames to the streaming codec: a stream's first piece as soon as
it has `first_frames` frames, then every `chunk_frames` steps for all streams at once
(on a shared clock, so the codec runs batched across streams), and the rest when a
stream ends (EOS, its max_new_tokens, or the cache's end).
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from .codec import CodecState, StreamingCodec
from .options import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PROMPT,
    SAMPLE_RATE,
    CoreUnavailable,
    Sampling,
)
from .prompt import build_prompt
from .stepper import FrameStepper, Hints, RowSettings, check_supported, default_buckets

log = logging.getLogger(__name__)

_END = object()


class Stream:
    """One generation: iterate it for float32 pieces of 24 kHz audio as they are decoded.

    Leaving the iteration early (break, `close()` on the iterator, garbage collection)
    cancels the generation, as does `cancel()` from any thread. Once it has ended,
    `codes` holds the generated codes ([frames, 16], long, CPU) and `finish_reason` says
    why it ended: "eos", "length" (max_new_tokens), "cache" (the static cache's end),
    "cancelled" or "error".
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, core: "QwenCore", label: str):
        self._core = core
        self.label = label
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self.codes: torch.Tensor | None = None
        self.finish_reason: str | None = None
        self.error: BaseException | None = None
        self.created = time.perf_counter()
        self.first_audio: float | None = None  # seconds from creation to the first piece
        self.finished: float | None = None  # seconds from creation to the end
        self.first_frames = core.first_frames  # frames in the first piece
        self.prompt_length: int | None = None

    # consumer side
    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    self._queue.put(_END)  # later iterations end at once too
                    if self.error is not None:
                        raise self.error
                    return
                yield item
        finally:
            if not self._done.is_set():
                self.cancel()

    def result(self, timeout: float | None = None) -> np.ndarray:
        """Wait for the end and return the audio not yet consumed, in one array."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.label} did not finish within {timeout} s")
        pieces = []
        while True:
            item = self._queue.get()
            if item is _END:
                self._queue.put(_END)
                break
            pieces.append(item)
        if self.error is not None:
            raise self.error
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def cancel(self) -> None:
        """Stop generating (no-op once ended); the stream then ends with finish_reason "cancelled"."""
        if self._done.is_set() or self._cancel.is_set():
            return
        self._cancel.set()
        self._core._wake()

    close = cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()

    # producer side (scheduler thread)
    def _put(self, piece: np.ndarray) -> None:
        if self.first_audio is None:
            self.first_audio = time.perf_counter() - self.created
        self._queue.put(piece)

    def _finish(self, reason: str, codes: torch.Tensor | None, error: BaseException | None = None) -> None:
        if self._done.is_set():  # ended already (its codec failed before the scheduler retired it)
            return
        self.codes = codes
        self.finish_reason = reason
        self.error = error
        self.finished = time.perf_counter() - self.created
        self._done.set()
        self._queue.put(_END)


@dataclass
class _Request:
    stream: Stream
    text: str
    language: str
    clone_item: Any
    instruct: str | None
    non_streaming_mode: bool
    settings: RowSettings
    max_new_tokens: int
    seed: int | None


@dataclass
class _Slot:
    request: _Request
    row: int
    pos: int  # next cache position (host copy of stepper.pos[row])
    max_frames: int
    cap_reason: str  # "length" or "cache"
    codec: CodecState
    generator: torch.Generator | None
    frames: list = field(default_factory=list)  # CPU [16] long tensors
    decoded: int = 0
    finish: str | None = None

    @property
    def stream(self) -> Stream:
        return self.request.stream

    @property
    def samples(self) -> bool:
        s = self.request.settings
        return bool(s.do_sample or s.subtalker_dosample)


def _resolve_wrapper(model: Any):
    """A qwen_tts.Qwen3TTSModel from itself or from utter's LoadedModel."""
    if hasattr(model, "generate_voice_clone"):
        return model
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "generate_voice_clone"):
        return inner
    raise CoreUnavailable("expected a qwen_tts.Qwen3TTSModel (or a LoadedModel holding one)")


def kv_bytes_per_row(tts, cache_len: int, trail_cap: int) -> int:
    tc = tts.talker.config
    head_dim = getattr(tc, "head_dim", tc.hidden_size // tc.num_attention_heads)
    elem = torch.empty(0, dtype=tts.talker.dtype).element_size()
    kv = 2 * tc.num_hidden_layers * tc.num_key_value_heads * cache_len * head_dim * elem
    return kv + trail_cap * tc.hidden_size * elem + tc.vocab_size * 16


def default_max_batch(tts, cache_len: int, trail_cap: int) -> int:
    """Rows that fit: on CUDA, half of the free memory less 1 GiB (cap 64); on CPU, a fifth
    of the available RAM up to 2 GiB (cap 4: CPU decoding is memory-bound and a few rows
    already share each weight read)."""
    per_row = kv_bytes_per_row(tts, cache_len, trail_cap)
    device = tts.talker.device
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        budget, cap = 0.5 * free - (1 << 30), 64
    else:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 << 30
        budget, cap = min(0.2 * avail, 2 << 30), 4
    return int(max(1, min(cap, budget // per_row)))


def unsupported_reason(model: Any) -> str | None:
    """Why the core cannot run `model` (None if it can): the engine then uses qwen-tts's generate."""
    try:
        wrapper = _resolve_wrapper(model)
        check_supported(wrapper.model)
        if wrapper.model.tts_model_type not in ("base", "voice_design"):
            raise CoreUnavailable(f"model type {wrapper.model.tts_model_type!r} (the core runs base and voice_design)")
        StreamingCodec(wrapper.model.speech_tokenizer)
    except CoreUnavailable as exc:
        return str(exc)
    return None


class QwenCore:
    """Static-cache, batched, streaming decoding for one loaded Qwen3-TTS model.

    `model`: a `qwen_tts.Qwen3TTSModel` (or utter's `LoadedModel`); the core uses its
    modules in place, on their device and dtype. `max_batch`: concurrent generations
    (default from memory); `max_frames`: the longest generation the cache holds (the
    runaway cap, default 1200 frames = 96 s); `max_prompt`: prompt positions reserved;
    `use_graphs`: CUDA graphs (default: on when the model is on CUDA). `first_frames` /
    `chunk_frames`: frames in a stream's first audio piece / between later pieces.
    `cpu_threads`: intra-op threads of the scheduler thread on CPU (default: the
    process's); 1 avoids multi-threaded small-matrix products, which stall when the
    machine's other cores are busy.
    """

    def __init__(
        self,
        model: Any,
        *,
        device: str | torch.device | None = None,
        max_batch: int | None = None,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_prompt: int = DEFAULT_MAX_PROMPT,
        use_graphs: bool | None = None,
        first_frames: int = 2,
        chunk_frames: int = 8,
        prime_cache_size: int = 32,
        cpu_threads: int | None = None,
        name: str = "qwen-core",
    ):
        self.wrapper = _resolve_wrapper(model)
        tts = self.wrapper.model
        check_supported(tts)
        self.kind = tts.tts_model_type
        if self.kind not in ("base", "voice_design"):
            raise CoreUnavailable(f"model type {self.kind!r} (the core runs base and voice_design)")
        self.device = tts.talker.device
        if device is not None and torch.device(device) != self.device and not (
            torch.device(device).type == self.device.type and torch.device(device).index in (None, self.device.index)
        ):
            raise CoreUnavailable(f"the model is on {self.device}, not {device}: move the model first")
        self.codec = StreamingCodec(tts.speech_tokenizer)
        if use_graphs is None:
            use_graphs = self.device.type == "cuda" and os.environ.get("UTTER_QWEN_CORE_GRAPHS", "1") != "0"
        self.use_graphs = bool(use_graphs)
        self.max_frames = int(max_frames)
        self.max_prompt = int(max_prompt)
        self.cache_len = -(-(self.max_prompt + self.max_frames) // 64) * 64
        self.trail_cap = self.max_prompt
        self.max_batch = int(max_batch or default_max_batch(tts, self.cache_len, self.trail_cap))
        self.first_frames = max(1, int(first_frames))
        self.chunk_frames = max(1, int(chunk_frames))
        self.eos_id = tts.config.talker_config.codec_eos_token_id
        self.stepper = FrameStepper(
            self.wrapper, max_batch=self.max_batch, cache_len=self.cache_len, trail_cap=self.trail_cap,
            use_graphs=self.use_graphs, buckets=default_buckets(self.max_batch) if self.use_graphs else None,
        )
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(random.getrandbits(63))
        self._primed: collections.OrderedDict = collections.OrderedDict()
        self._prime_cache_size = prime_cache_size
        self._inbox: queue.Queue = queue.Queue()
        self._waiting: collections.deque[_Request] = collections.deque()
        self._slots: list[_Slot] = []
        self._tick = 0
        self._closed = False
        self._broken: BaseException | None = None
        self._ready = threading.Event()
        self.steps = 0  # steps run (for tests and stats)
        self.batch_sizes: collections.Counter = collections.Counter()  # steps per batch size
        self.seconds: collections.Counter = collections.Counter()  # wall time in prefill / step / codec
        self._cpu_threads = int(cpu_threads) if cpu_threads and self.device.type == "cpu" else None
        # On a CPU with a core to spare, the codec decodes the last frames in a thread of its own while
        # the next frames are stepped (on CUDA the kernels already run beside the Python that queues
        # them). Its jobs run in order, so a stream's pieces, and then its end, arrive in order.
        self._codec_lock = threading.Lock()  # one decode (or priming) at a time through the codec's modules
        self._codec_worker = (ThreadPoolExecutor(1, thread_name_prefix=f"{name}-codec",
                                                 initializer=torch.set_num_threads, initargs=(1,))
                              if self.device.type == "cpu" and (os.cpu_count() or 1) >= 2 else None)
        self._threads_set = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        previous = torch.get_num_threads()
        self._thread.start()
        if self._cpu_threads:
            # torch.set_num_threads is per OS thread (OpenMP/MKL) but also becomes the default
            # of threads created later; set it in the scheduler thread, then put the
            # process default back from here.
            self._threads_set.wait(30)
            torch.set_num_threads(previous)

    # ------------------------------------------------------------- public API

    def clone(
        self,
        prompt: Any,
        text: str,
        language: str = "Auto",
        *,
        sampling: Sampling | None = None,
        max_new_tokens: int | None = None,
        non_streaming_mode: bool = False,
    ) -> Stream:
        """Speak `text` in the voice of `prompt` (what `create_voice_clone_prompt` returns: a
        list of one VoiceClonePromptItem, or the item). In-context when the item has
        reference codes (icl_mode), x-vector only otherwise. Base model only."""
        if self.kind != "base":
            raise ValueError(f"clone needs a Base model; this one is {self.kind!r}")
        items = prompt if isinstance(prompt, (list, tuple)) else [prompt]
        if len(items) != 1:
            raise ValueError("one prompt item per generation")
        item = items[0]
        if getattr(item, "icl_mode", False) and (getattr(item, "ref_code", None) is None or not getattr(item, "ref_text", None)):
            raise ValueError("an in-context clone prompt needs its reference codes and ref_text")
        return self._submit(text, language, clone_item=item, instruct=None, sampling=sampling,
                            max_new_tokens=max_new_tokens, non_streaming_mode=non_streaming_mode, label="clone")

    def design(
        self,
        text: str,
        instruct: str,
        language: str = "Auto",
        *,
        sampling: Sampling | None = None,
        max_new_tokens: int | None = None,
        non_streaming_mode: bool = True,
    ) -> Stream:
        """Speak `text` in a voice described by `instruct`. VoiceDesign model only."""
        if self.kind != "voice_design":
            raise ValueError(f"design needs a VoiceDesign model; this one is {self.kind!r}")
        return self._submit(text, language, clone_item=None, instruct=instruct or None, sampling=sampling,
                            max_new_tokens=max_new_tokens, non_streaming_mode=non_streaming_mode, label="design")

    def warmup(self, timeout: float | None = None) -> bool:
        """Wait until buffers are ready (and CUDA graphs captured). True when ready."""
        return self._ready.wait(timeout)

    @property
    def active(self) -> int:
        return len(self._slots)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the scheduler; streams still running end with an error."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(("close", None))
        self._thread.join(timeout)

    def __enter__(self) -> "QwenCore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ submission

    def _submit(self, text, language, *, clone_item, instruct, sampling, max_new_tokens, non_streaming_mode, label) -> Stream:
        if self._closed:
            raise CoreUnavailable("this QwenCore is closed")
        if self._broken is not None:
            raise CoreUnavailable(f"this QwenCore failed: {self._broken}")
        if not text:
            raise ValueError("empty text")
        self.wrapper._validate_languages([language])
        sampling = sampling or Sampling()
        merged = self.wrapper._merge_generate_kwargs(max_new_tokens=max_new_tokens, **sampling.given())
        settings = RowSettings(**{k: merged[k] for k in RowSettings.__dataclass_fields__})
        cap = int(merged["max_new_tokens"]) if max_new_tokens is None else int(max_new_tokens)
        if max_new_tokens is None:
            cap = min(cap, self.max_frames + 1)
        stream = Stream(self, label)
        self._inbox.put(("request", _Request(stream, text, language, clone_item, instruct, bool(non_streaming_mode),
                                             settings, cap, sampling.seed)))
        if not self._thread.is_alive() and not stream.done():  # it stopped while we queued
            stream._finish("error", None, CoreUnavailable(f"this QwenCore stopped: {self._broken or 'closed'}"))
        return stream

    def _wake(self) -> None:
        self._inbox.put(("wake", None))

    # -------------------------------------------------------- scheduler thread

    def _run(self) -> None:
        if self._cpu_threads:
            torch.set_num_threads(self._cpu_threads)
        self._threads_set.set()
        if self.stepper.graphs is not None:
            try:
                with torch.no_grad():
                    self.stepper.graphs.capture()
            except Exception:  # noqa: BLE001 - the same step runs eagerly
                log.warning("QwenCore: CUDA graph capture failed; running the step eagerly", exc_info=True)
                self.stepper.graphs = None
                self.use_graphs = False
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
        self._ready.set()
        while True:
            try:
                if not self._drain(block=not self._slots and not self._waiting):
                    break
                with torch.no_grad():
                    self._retire_cancelled()
                    self._admit()
                    if self._slots:
                        self._step()
            except BaseException as exc:  # noqa: BLE001
                log.exception("QwenCore step failed")
                self._broken = exc
                self._fail_all(exc)
                return
        self._fail_all(RuntimeError("QwenCore closed"))
        if self._codec_worker is not None:
            self._codec_worker.shutdown(wait=True)

    def _in_order(self, work) -> None:
        """Run codec work, and what must follow it, in order: in the codec thread when there is one."""
        if self._codec_worker is None:
            work()
        else:
            self._codec_worker.submit(work)

    def _drain(self, block: bool) -> bool:
        """Take commands from the inbox; False once closing."""
        try:
            command, payload = self._inbox.get(block=block)
        except queue.Empty:
            return True
        while True:
            if command == "close":
                return False
            if command == "request":
                self._waiting.append(payload)
            try:
                command, payload = self._inbox.get_nowait()
            except queue.Empty:
                return True

    def _fail_all(self, error: BaseException) -> None:
        for slot in self._slots:
            self._in_order(functools.partial(slot.stream._finish, "error", self._codes(slot), error))
        self._slots.clear()
        while self._waiting:
            self._waiting.popleft().stream._finish("error", None, error)
        while True:
            try:
                command, payload = self._inbox.get_nowait()
            except queue.Empty:
                break
            if command == "request":
                payload.stream._finish("error", None, error)

    def _retire_cancelled(self) -> None:
        if any(s.stream.cancelled for s in self._slots):
            for slot in self._slots:
                if slot.stream.cancelled:
                    slot.finish = "cancelled"
            self._retire()
        if any(r.stream.cancelled for r in self._waiting):
            keep = collections.deque()
            for request in self._waiting:
                if request.stream.cancelled:
                    request.stream._finish("cancelled", torch.zeros(0, 16, dtype=torch.long))
                else:
                    keep.append(request)
            self._waiting = keep

    def _admit(self) -> None:
        while self._waiting and len(self._slots) < self.max_batch:
            request = self._waiting.popleft()
            started = time.perf_counter()
            try:
                slot = self._prefill(request, row=len(self._slots))
            except Exception as exc:  # noqa: BLE001 - this request's problem, not the core's
                request.stream._finish("error", None, exc)
                self.stepper.release(len(self._slots))
                continue
            finally:
                self.seconds["prefill"] += time.perf_counter() - started
            if slot is None:
                continue
            self._slots.append(slot)

    def _prefill(self, request: _Request, row: int) -> _Slot | None:
        prompt = build_prompt(self.wrapper, request.text, request.language, clone_item=request.clone_item,
                              instruct=request.instruct, non_streaming_mode=request.non_streaming_mode)
        request.stream.prompt_length = prompt.length
        # qwen-tts: max_new_tokens talker tokens, and the frame of the last one is never made.
        frames_cap = max(0, request.max_new_tokens - 1)
        room = self.cache_len - prompt.length
        if room <= 0:
            raise ValueError(f"prompt of {prompt.length} positions does not fit the cache ({self.cache_len})")
        if frames_cap == 0:
            request.stream._finish("length", torch.zeros(0, 16, dtype=torch.long))
            return None
        generator = None
        if request.seed is not None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(int(request.seed))
        self.stepper.prefill(row, prompt.embeds, prompt.trailing, request.settings,
                             noise_gen=generator or self._generator)
        codec_state = self._codec_state(prompt.ref_codes)
        return _Slot(
            request=request, row=row, pos=prompt.length, max_frames=min(frames_cap, room),
            cap_reason="length" if frames_cap <= room else "cache", codec=codec_state, generator=generator,
        )

    def _codec_state(self, ref_codes: torch.Tensor | None) -> CodecState:
        """A fresh codec state; for in-context clones, primed with the reference codes (qwen-tts
        decodes reference + generated codes together and cuts the reference off), cached per voice."""
        if ref_codes is None:
            return self.codec.new_state()
        codes = ref_codes.to(self.codec.device).long()
        key = (tuple(codes.shape), codes.cpu().numpy().tobytes())
        state = self._primed.get(key)
        if state is None:
            started = time.perf_counter()
            state = self.codec.new_state()
            with self._codec_lock:
                self.codec.decode([state], codes[None])
            self.seconds["codec_priming"] += time.perf_counter() - started
            self._primed[key] = state
            while len(self._primed) > self._prime_cache_size:
                self._primed.popitem(last=False)
        else:
            self._primed.move_to_end(key)
        return state.clone()

    def _step(self) -> None:
        st = self.stepper
        n = len(self._slots)
        sample = any(s.samples for s in self._slots)
        if sample:
            if any(s.generator is not None for s in self._slots):
                for slot in self._slots:
                    st.fill_noise(slot.row, slot.generator or self._generator)
            else:
                st.fill_noise(slice(0, n), self._generator)
        kv_len = max(s.pos for s in self._slots) + 1
        hints = Hints.of([s.request.settings for s in self._slots], st.vocab, st.cp_vocab)
        started = time.perf_counter()
        size = st.run_step(n, hints=hints, kv_len=kv_len)
        out = torch.cat((st.frame[:n], st.token[:n, None]), dim=1).cpu()  # one transfer (and a copy on CPU)
        frames, tokens = out[:, :-1], out[:, -1].tolist()
        self.seconds["step"] += time.perf_counter() - started
        self.steps += 1
        self.batch_sizes[size] += 1
        self._tick += 1
        for slot in self._slots:
            slot.frames.append(frames[slot.row])
            slot.pos += 1
            if slot.stream.cancelled:
                slot.finish = "cancelled"
            elif tokens[slot.row] == self.eos_id:
                slot.finish = "eos"
            elif len(slot.frames) >= slot.max_frames:
                slot.finish = slot.cap_reason
        self._decode_ready()
        if any(s.finish for s in self._slots):
            self._retire()

    def _decode_ready(self) -> None:
        tick = self._tick % self.chunk_frames == 0
        groups: dict[int, list[_Slot]] = collections.defaultdict(list)
        for slot in self._slots:
            pending = len(slot.frames) - slot.decoded
            if pending <= 0 or slot.finish == "cancelled":
                continue
            if slot.finish or tick or (slot.decoded == 0 and pending >= self.first_frames):
                groups[pending].append(slot)
        for pending, slots in groups.items():
            codes = torch.stack([torch.stack(s.frames[s.decoded:]) for s in slots]).to(self.codec.device)
            for slot in slots:
                slot.decoded += pending
            self._in_order(functools.partial(self._decode, [s.codec for s in slots], [s.stream for s in slots], codes))

    def _decode(self, states: list[CodecState], streams: list[Stream], codes: torch.Tensor) -> None:
        started = time.perf_counter()
        try:
            with self._codec_lock, torch.no_grad():
                audio = self.codec.decode(states, codes).cpu().numpy()
        except Exception as exc:  # noqa: BLE001 - these streams fail; the others go on
            log.exception("QwenCore codec failed")
            for stream in streams:
                stream._finish("error", None, exc)
            return
        finally:
            self.seconds["codec"] += time.perf_counter() - started
        for stream, piece in zip(streams, audio):
            if not stream.done():
                stream._put(np.ascontiguousarray(piece, dtype=np.float32))

    def _retire(self) -> None:
        """End finished streams and free their rows, keeping active rows packed at 0..n-1."""
        st = self.stepper
        for row in range(len(self._slots) - 1, -1, -1):
            slot = self._slots[row]
            if not slot.finish:
                continue
            self._in_order(functools.partial(slot.stream._finish, slot.finish, self._codes(slot)))
            last = len(self._slots) - 1
            if row != last:
                moved = self._slots[last]
                st.move_row(last, row, moved.pos)
                moved.row = row
                self._slots[row] = moved
            self._slots.pop()
            st.release(last)

    @staticmethod
    def _codes(slot: _Slot) -> torch.Tensor:
        return torch.stack(slot.frames) if slot.frames else torch.zeros(0, 16, dtype=torch.long)
