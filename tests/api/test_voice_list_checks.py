"""Concurrent GET /api/voices requests share database checks, but never one that began before they arrived."""

from __future__ import annotations

import asyncio
import threading

from utter.voices.listing import VoiceListCache


class GatedCache(VoiceListCache):
    """The real sharing logic; each database check is replaced by one we hold open until released."""

    def __init__(self) -> None:
        super().__init__()
        self.checks: list[threading.Event] = []

    def _checked(self, sessions, storage):
        gate = threading.Event()
        number = len(self.checks)
        self.checks.append(gate)
        assert gate.wait(10), "the test never released this check"
        return f"library as of check {number}".encode(), b"", f'"{number}"'


async def _until(condition) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def _request(cache: VoiceListCache) -> asyncio.Task:
    return asyncio.ensure_future(cache.current(None, None))


def test_requests_arriving_during_a_check_share_the_next_one():
    async def scenario():
        cache = GatedCache()
        first = _request(cache)
        await _until(lambda: len(cache.checks) == 1)
        # These arrive while check 0 runs: its answer may predate a change they expect to see.
        later = [_request(cache) for _ in range(5)]
        await asyncio.sleep(0.05)
        cache.checks[0].set()
        assert (await first)[0] == b"library as of check 0"
        await _until(lambda: len(cache.checks) == 2)
        cache.checks[1].set()
        answers = {(await task)[0] for task in later}
        assert answers == {b"library as of check 1"}
        assert len(cache.checks) == 2  # five requests, one check between them

    asyncio.run(scenario())


def test_a_request_that_goes_away_does_not_cancel_the_check_others_wait_for():
    async def scenario():
        cache = GatedCache()
        first = _request(cache)
        await _until(lambda: len(cache.checks) == 1)
        leaving, staying = _request(cache), _request(cache)
        cache.checks[0].set()
        await first
        await _until(lambda: len(cache.checks) == 2)
        leaving.cancel()
        await asyncio.sleep(0.05)
        cache.checks[1].set()
        assert (await staying)[0] == b"library as of check 1"
        assert leaving.cancelled()

    asyncio.run(scenario())


def test_a_failed_check_fails_its_requests_and_the_next_request_checks_again():
    class FailingOnce(GatedCache):
        def _checked(self, sessions, storage):
            if not self.checks:
                self.checks.append(threading.Event())
                raise ConnectionError("database unreachable")
            return super()._checked(sessions, storage)

    async def scenario():
        cache = FailingOnce()
        try:
            await cache.current(None, None)
        except ConnectionError:
            pass
        else:
            raise AssertionError("the check's error was swallowed")
        retry = _request(cache)
        await _until(lambda: len(cache.checks) == 2)
        cache.checks[1].set()
        assert (await retry)[0] == b"library as of check 1"

    asyncio.run(scenario())
