"""The `utter` command: serve, worker, keys, migrate, enable-cloning, download-models."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time


def _settings():
    from .config import Settings

    return Settings()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .heap import keep_heap_flat
    from .main import create_app

    keep_heap_flat()
    settings = _settings()
    refusal = _exposure_refusal(settings, args.host)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    app = create_app(settings)
    shown_host = "localhost" if args.host in ("0.0.0.0", "127.0.0.1", "::") else args.host
    print(f"Utter is starting: open http://{shown_host}:{args.port}/  (API docs at /docs)", flush=True)
    # Connections still open when the grace runs out (listeners on /stream, say) are closed, so a
    # SIGTERM stops the process within its platform's stop timeout.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=True,
                forwarded_allow_ips=settings.trusted_proxies, timeout_graceful_shutdown=settings.stop_grace_seconds)
    return 0


LOOPBACK_ADDRESSES = ("127.0.0.1", "localhost", "::1")


def _exposure_refusal(settings, host: str) -> str | None:
    """Why `serve` must not start: listening beyond this machine with no access key (and nobody said so)."""
    if host in LOOPBACK_ADDRESSES or host.startswith("127.") or settings.open_access:
        return None
    from .access.keys import AccessKeys
    from .database import make_engine, make_sessionmaker, migrate

    migrate(settings)
    db = make_engine(settings)
    try:
        if AccessKeys(make_sessionmaker(db), settings.api_key).required():
            return None
    finally:
        db.dispose()
    return (f"Refusing to serve on {host} with no access key: anyone who can reach this machine could use the "
            "studio. Make a key with `utter keys create NAME` (or set UTTER_API_KEY), or set UTTER_OPEN_ACCESS=1 "
            "to serve it open on purpose (say, behind your own proxy that checks who comes in).")


def keys(args: argparse.Namespace) -> int:
    """Make, list and revoke access keys."""
    from .access.keys import AccessKeys
    from .database import make_engine, make_sessionmaker, migrate
    from .errors import UtterError

    settings = _settings()
    migrate(settings)
    db = make_engine(settings)
    access = AccessKeys(make_sessionmaker(db), settings.api_key)
    try:
        if args.action == "create":
            row, key = access.create(" ".join(args.name))
            print(key)
            print(f"Made key {row.prefix}… ({row.name}). It is shown this once: copy it now. From now on every "
                  "request to this Utter needs a key.", file=sys.stderr)
        elif args.action == "list":
            rows = access.list()
            for row in rows:
                state = "revoked" if row.revoked_at else "active"
                print(f"{row.id}  {row.prefix}…  {state:<7}  {row.created_at:%Y-%m-%d %H:%M}  {row.name}")
            if not rows:
                print("No access keys: the studio is open to anyone who can reach it.", file=sys.stderr)
        else:
            row = access.revoke(args.name[0])
            print(f"Revoked {row.prefix}… ({row.name}).")
    except UtterError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


def worker(args: argparse.Namespace) -> int:
    """Run generation tasks from the shared database without serving HTTP."""
    from .bootstrap import build_context, build_runner, cloning_setup
    from .heap import keep_heap_flat

    keep_heap_flat()
    ctx = build_context(_settings(), transcripts=False)
    runner = build_runner(ctx, args.threads)
    # Cloning switched on in the studio (another process) reaches this one too, without a restart.
    cloning = cloning_setup(ctx, runner)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner.start()
    print(f"Utter worker {runner.worker_id} running {runner.threads} thread(s) with engine {ctx.engine.info.name}",
          flush=True)
    stop.wait()
    cloning.stop()
    runner.stop()
    ctx.db.dispose()
    return 0


def migrate_cmd(args: argparse.Namespace) -> int:
    from .database import migrate

    migrate(_settings(), args.revision)
    print(f"Database migrated to {args.revision}.")
    return 0


def download_models(args: argparse.Namespace) -> int:
    from .adapters.tts.base import EngineError

    try:
        from .adapters.tts.qwen_download import download_models as fetch
    except ImportError:
        print("Downloading Qwen3-TTS weights needs the qwen extra: pip install 'utter[qwen]'", file=sys.stderr)
        return 1
    counted = [0]

    def on_bytes(count: int) -> None:
        counted[0] += count
        print(f"\r  {counted[0] / 1e6:,.1f} MB", end="", file=sys.stderr, flush=True)

    try:
        paths = fetch(_settings(), tuple(args.which), on_bytes=on_bytes)
    except EngineError as exc:
        print(f"\nerror: {exc.message}", file=sys.stderr)
        return 1
    if counted[0]:
        print(file=sys.stderr)
    for path in paths:
        print(f"downloaded {path}")
    return 0


def progress_line(status: dict, width: int = 30) -> str:
    """One line of the terminal progress bar for a set-up status (the same numbers the pages show)."""
    state, progress = status["state"], status.get("progress") or {}
    if state == "loading":
        return "loading Qwen3-TTS and measuring its speed here..."
    if state not in ("downloading", "verifying") or not progress.get("bytes_total"):
        return state
    fraction = progress.get("fraction") or 0.0
    filled = int(round(fraction * width))
    bar = "#" * filled + "-" * (width - filled)
    line = (f"{state:<11} [{bar}] {100 * fraction:5.1f}%  {progress['bytes_done'] / 1e9:.2f} of "
            f"{progress['bytes_total'] / 1e9:.2f} GB")
    if progress.get("bytes_per_second"):
        line += f"  {progress['bytes_per_second'] / 1e6:.1f} MB/s"
    if progress.get("seconds_left") is not None:
        left = int(progress["seconds_left"])
        line += f"  {left // 60}:{left % 60:02d} left"
    return line


def enable_cloning(args: argparse.Namespace) -> int:
    """Set up Qwen3-TTS here as the studio's button does, with a progress bar in the terminal."""
    from .adapters.tts.base import EngineError
    from .adapters.tts.registry import build_engine
    from .cloning_setup import ACTIVE, CloningSetup, SetupState
    from .errors import UtterError

    settings = _settings()
    try:
        engine = build_engine(settings)  # built, not loaded: only to know whether it clones already
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    setup = CloningSetup(settings, current_engine=lambda: engine, switch=None)
    if setup.state == SetupState.READY:
        print(f"Voice cloning is on already: {engine.info.label} ({engine.info.reason}).")
        return 0
    needs = setup.plan()
    if needs.get("download_bytes"):
        print(f"Qwen3-TTS ({settings.qwen_model}): {needs['download_bytes'] / 1e9:.2f} GB to download into "
              f"{needs['models_dir']}, {needs['free_bytes'] / 1e9:.1f} GB free.", file=sys.stderr)
    if needs.get("speed_note"):
        print(needs["speed_note"], file=sys.stderr)
    try:
        setup.start()
    except UtterError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    tty = sys.stderr.isatty()
    printed_at, printed_kind = 0.0, None
    while setup.state in ACTIVE and not stopped.is_set():
        status = setup.status()
        line = progress_line(status)
        kind = (status["state"], "[" in line)  # a phase, and whether its bar has begun
        if tty:
            print(f"\r{line:<100}", end="", file=sys.stderr, flush=True)
        elif kind != printed_kind or time.monotonic() - printed_at >= 5:
            print(line, file=sys.stderr, flush=True)  # a log, not a terminal: a line every few seconds
            printed_at, printed_kind = time.monotonic(), kind
        stopped.wait(0.5)
    if stopped.is_set():
        setup.stop()
        print("\nStopped; what arrived is kept: run `utter enable-cloning` again to resume.", file=sys.stderr)
        return 130
    setup.wait()
    if tty:
        print(file=sys.stderr)
    status = setup.status()
    if status["state"] != SetupState.READY.value:
        error = status.get("error") or {"message": status["state"], "code": status["state"]}
        print(f"error: {error['message']} ({error['code']})", file=sys.stderr)
        return 1
    print(f"Voice cloning is on: Qwen3-TTS is in {needs['models_dir']}. {status.get('note') or ''}".strip())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="utter", description="Utter: a self-hosted voice studio.")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="Run the web server (and its generation workers)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=serve)

    p = commands.add_parser("worker", help="Run generation tasks without serving HTTP")
    p.add_argument("--threads", type=int, default=None,
                   help="generation threads (default: as many generations as the engine serves at once)")
    p.set_defaults(func=worker)

    p = commands.add_parser("keys", help="Make, list and revoke access keys")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("name", nargs="*", help="create: who or what uses the key; revoke: its id or prefix")
    p.set_defaults(func=keys)

    p = commands.add_parser("migrate", help="Apply database migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=migrate_cmd)

    p = commands.add_parser("enable-cloning", help="Set up Qwen3-TTS on this machine (download, check, load), "
                            "as the studio's button does")
    p.set_defaults(func=enable_cloning)

    p = commands.add_parser("download-models", help="Download Qwen3-TTS weights (and, with asr, the multilingual "
                                                    "speech recogniser) into UTTER_MODELS_DIR")
    p.add_argument("which", nargs="*", default=["base", "design"], choices=["base", "design", "asr"],
                   help="base, design (Qwen3-TTS), asr (the multilingual recogniser that hears back other languages)")
    p.set_defaults(func=download_models)

    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
