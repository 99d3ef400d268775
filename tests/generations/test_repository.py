"""The generations table as the task queue and the history: every query, on SQLite and PostgreSQL.

Each test names the promise it checks: a task is claimed by one worker, oldest first; only its
owner can touch it; a dead owner's task comes back, and is given up after its last attempt;
the history pages and searches; unsaved design previews expire only when their whole design has.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from utter.generations import repository
from utter.models import Generation, GenerationKind, GenerationStatus, utcnow

from .task_support import (  # noqa: F401 - fixtures
    add_generation,
    ago,
    ctx,
    empty_database_url,
    later,
    make_ctx,
    queue_database_url,
    read,
)

QUEUED, RUNNING, DONE = GenerationStatus.QUEUED, GenerationStatus.RUNNING, GenerationStatus.DONE
FAILED, CANCELLED = GenerationStatus.FAILED, GenerationStatus.CANCELLED


def claim(ctx, worker="w1", lease=60, max_attempts=2):
    with ctx.sessions() as session:
        return repository.claim(session, worker, lease, max_attempts)


def call(ctx, function, *args, **kwargs):
    with ctx.sessions() as session:
        return function(session, *args, **kwargs)


def near(when, expected, seconds=5.0) -> bool:
    return abs((when - expected).total_seconds()) < seconds


# --- reading ---------------------------------------------------------------------------------


def test_get_and_snapshot(ctx):
    generation_id = add_generation(ctx, text="Read me.")
    with ctx.sessions() as session:
        assert repository.get(session, generation_id).text == "Read me."
        snap = repository.snapshot(session, generation_id)
        assert snap not in session  # detached: a reader may keep it past the session
        assert repository.get(session, uuid.uuid4()) is None
        assert repository.snapshot(session, uuid.uuid4()) is None
    assert snap.text == "Read me."


def test_history_is_speech_newest_first_with_the_total(ctx):
    base = utcnow() - timedelta(hours=1)
    ids = [add_generation(ctx, text=f"Text {n}", created_at=base + timedelta(minutes=n)) for n in range(4)]
    add_generation(ctx, text="A preview", kind=GenerationKind.DESIGN, created_at=base + timedelta(minutes=9))
    rows, total = call(ctx, repository.history, limit=10)
    assert [r.id for r in rows] == ids[::-1] and total == 4
    rows, total = call(ctx, repository.history, limit=2, offset=1)
    assert [r.id for r in rows] == [ids[2], ids[1]] and total == 4


def test_history_by_voice(ctx):
    from utter.models import Voice

    voice = Voice(name="Ada", reference_key="references/a.wav", reference_seconds=12.0)
    with ctx.sessions() as session:
        session.add(voice)
        session.commit()
    mine = add_generation(ctx, voice_id=voice.id)
    add_generation(ctx)
    rows, total = call(ctx, repository.history, limit=10, voice_id=voice.id)
    assert [r.id for r in rows] == [mine] and total == 1


def test_history_pages_by_cursor_through_equal_times(ctx):
    same = utcnow() - timedelta(minutes=5)
    ids = [add_generation(ctx, created_at=same, id=uuid.UUID(int=n)) for n in (10, 20, 30)]  # ties: by id
    # The highest and the lowest id: a cursor that compared ids alone would bring them back.
    newest = add_generation(ctx, created_at=same + timedelta(seconds=30), id=uuid.UUID(int=2**128 - 1))
    older = add_generation(ctx, created_at=same - timedelta(seconds=30), id=uuid.UUID(int=1))
    first, total = call(ctx, repository.history, limit=2)
    assert [r.id for r in first] == [newest, ids[0]] and total == 5
    second, total = call(ctx, repository.history, limit=2, after=first[-1])
    assert [r.id for r in second] == [ids[1], ids[2]] and total == 5
    third, _ = call(ctx, repository.history, limit=2, after=second[-1])
    assert [r.id for r in third] == [older]


def test_history_search_is_case_blind_and_literal(ctx):
    hits = {
        "percent": add_generation(ctx, text="It rose by 50% today."),
        "underscore": add_generation(ctx, text="Call my_function now."),
        "backslash": add_generation(ctx, text="A back\\slash here."),
        "case": add_generation(ctx, text="SHOUTING about Dogs."),
        "accents": add_generation(ctx, text="Bonjour, ÉLODIE."),
        "cyrillic": add_generation(ctx, text="Привет, мир."),
    }
    add_generation(ctx, text="It rose by 50 points today.")
    add_generation(ctx, text="Call myXfunction now.")
    add_generation(ctx, text="A back/slash here.")

    def found(term):
        rows, total = call(ctx, repository.history, limit=10, search=term)
        assert total == len(rows)
        return {r.id for r in rows}

    assert found("50%") == {hits["percent"]}
    assert found("my_f") == {hits["underscore"]}
    assert found("k\\s") == {hits["backslash"]}
    assert found("dogs") == {hits["case"]}
    # Beyond ASCII too (SQLite's own lower() folds only A-Z).
    assert found("élodie") == {hits["accents"]}
    assert found("ПРИВЕТ") == {hits["cyrillic"]}
    assert len(found("")) == 9


def test_counting_and_finding_live_tasks(ctx):
    queued = [add_generation(ctx, status=QUEUED) for _ in range(2)]
    running = add_generation(ctx, status=RUNNING, worker_id="w")
    done = add_generation(ctx, status=DONE)
    add_generation(ctx, status=FAILED)
    assert call(ctx, repository.queued_count) == 2
    assert call(ctx, repository.live_among, [*queued, running, done, uuid.uuid4()]) == {*queued, running}
    assert call(ctx, repository.live_among, []) == set()


def test_held_by_other(ctx):
    def held(status, worker):
        generation_id = add_generation(ctx, status=status, worker_id=worker)
        return call(ctx, repository.held_by_other, generation_id, "me")

    assert held(RUNNING, "other") and held(DONE, "other")
    assert not held(RUNNING, "me") and not held(DONE, "me")
    assert not held(QUEUED, None) and not held(RUNNING, None)
    assert not held(FAILED, "other") and not held(CANCELLED, "other") and not held(QUEUED, "other")
    assert not call(ctx, repository.held_by_other, uuid.uuid4(), "me")


# --- what people ask for ---------------------------------------------------------------------


def test_admitted_rows_are_committed_for_the_workers_up_to_the_limit(ctx):
    rows = [Generation(voice_name="Ada", text="One."), Generation(voice_name="Ada", text="Two.")]
    assert call(ctx, repository.admit, rows, 2) is True
    assert call(ctx, repository.queued_count) == 2  # seen from another session
    # One more would make three waiting: refused, and nothing of it is kept.
    assert call(ctx, repository.admit, [Generation(voice_name="Ada", text="Three.")], 2) is False
    assert call(ctx, repository.queued_count) == 2
    assert call(ctx, repository.admit, [Generation(voice_name="Ada", text="Four.")], 3) is True


def test_cancel_stops_live_tasks_only(ctx):
    queued = add_generation(ctx)
    running = add_generation(ctx, status=RUNNING, worker_id="w", lease_expires_at=later(60))
    done = add_generation(ctx, status=DONE)
    assert call(ctx, repository.cancel, queued) is True
    assert call(ctx, repository.cancel, running) is True
    assert call(ctx, repository.cancel, done) is False
    assert call(ctx, repository.cancel, uuid.uuid4()) is False
    for generation_id in (queued, running):
        row = read(ctx, generation_id)
        assert row.status == CANCELLED and row.lease_expires_at is None and near(row.finished_at, utcnow())
    assert read(ctx, done).status == DONE and read(ctx, done).finished_at is None


def test_delete_rows(ctx):
    keep, gone1, gone2 = (add_generation(ctx) for _ in range(3))
    call(ctx, repository.delete_rows, [gone1, gone2])
    assert read(ctx, gone1) is None and read(ctx, gone2) is None and read(ctx, keep) is not None


def test_fail_queued_for_voice(ctx):
    from utter.models import Voice

    voices = [Voice(name=n, reference_key=f"references/{n}.wav", reference_seconds=12.0) for n in ("a", "b")]
    with ctx.sessions() as session:
        session.add_all(voices)
        session.commit()
    mine = add_generation(ctx, voice_id=voices[0].id)
    mine_running = add_generation(ctx, voice_id=voices[0].id, status=RUNNING, worker_id="w")
    other = add_generation(ctx, voice_id=voices[1].id)
    with ctx.sessions() as session:
        repository.fail_queued_for_voice(session, voices[0].id, "voice_deleted", "The voice was deleted.")
        session.rollback()  # the caller commits: nothing happened yet
    assert read(ctx, mine).status == QUEUED
    with ctx.sessions() as session:
        repository.fail_queued_for_voice(session, voices[0].id, "voice_deleted", "The voice was deleted.")
        session.commit()
    row = read(ctx, mine)
    assert (row.status, row.error_code, row.error_message) == (FAILED, "voice_deleted", "The voice was deleted.")
    assert near(row.finished_at, utcnow())
    assert read(ctx, mine_running).status == RUNNING and read(ctx, other).status == QUEUED


# --- design previews -------------------------------------------------------------------------


def preview(ctx, design_id, candidate=0, status=DONE, finished=None, voice_id=None, output_key=None):
    return add_generation(ctx, kind=GenerationKind.DESIGN, design_id=design_id, candidate=candidate, status=status,
                          finished_at=finished, voice_id=voice_id, output_key=output_key)


def test_design_previews_in_candidate_order(ctx):
    design = uuid.uuid4()
    second, first = preview(ctx, design, 1), preview(ctx, design, 0)
    preview(ctx, uuid.uuid4(), 0)
    add_generation(ctx, design_id=design, candidate=2)  # speech never counts as a preview
    assert [p.id for p in call(ctx, repository.design_previews, design)] == [first, second]


def test_a_preview_is_saved_as_a_voice_once(ctx):
    from utter.models import Voice

    voices = [Voice(name=n, reference_key=f"references/{n}.wav", reference_seconds=12.0) for n in ("a", "b")]
    with ctx.sessions() as session:
        session.add_all(voices)
        session.commit()
    chosen = preview(ctx, uuid.uuid4())
    with ctx.sessions() as session:
        assert repository.claim_preview_for_voice(session, chosen, voices[0].id) is True
        session.rollback()  # not committed by the claim itself
    assert read(ctx, chosen).voice_id is None
    with ctx.sessions() as session:
        assert repository.claim_preview_for_voice(session, chosen, voices[0].id) is True
        session.commit()
    with ctx.sessions() as session:
        assert repository.claim_preview_for_voice(session, chosen, voices[1].id) is False
        session.commit()
    assert read(ctx, chosen).voice_id == voices[0].id


def test_previews_expire_only_when_their_whole_design_has_finished_before_the_cutoff(ctx):
    from utter.models import Voice

    voice = Voice(name="Saved", reference_key="references/s.wav", reference_seconds=12.0)
    with ctx.sessions() as session:
        session.add(voice)
        session.commit()
    cutoff = utcnow() - timedelta(hours=1)
    old = ago(3 * 3600)
    expired_design, live_design, recent_design = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    gone = [preview(ctx, expired_design, 0, DONE, old, output_key="previews/a.wav"),
            preview(ctx, expired_design, 1, FAILED, old)]
    saved = preview(ctx, expired_design, 2, DONE, old, voice_id=voice.id)
    kept = [preview(ctx, live_design, 0, DONE, old), preview(ctx, live_design, 1, RUNNING, None),
            preview(ctx, recent_design, 0, DONE, old), preview(ctx, recent_design, 1, DONE, ago(60)),
            preview(ctx, uuid.uuid4(), 0, CANCELLED, cutoff)]  # finished exactly at the cutoff: not before it
    speech = add_generation(ctx, status=DONE, finished_at=old)
    expired = call(ctx, repository.expire_previews, cutoff, 10)
    assert sorted(expired) == sorted([(gone[0], "previews/a.wav"), (gone[1], None)])
    assert all(read(ctx, g) is None for g in gone)
    assert all(read(ctx, k) is not None for k in [*kept, saved, speech])
    assert call(ctx, repository.expire_previews, cutoff, 10) == []


def test_expiring_previews_goes_in_batches(ctx):
    old = ago(3 * 3600)
    for _ in range(3):
        preview(ctx, uuid.uuid4(), 0, DONE, old)
    assert len(call(ctx, repository.expire_previews, utcnow(), 2)) == 2
    assert len(call(ctx, repository.expire_previews, utcnow(), 2)) == 1


# --- the task queue --------------------------------------------------------------------------


def test_claim_takes_the_oldest_queued_task_and_marks_it_ours(ctx):
    newer = add_generation(ctx, created_at=ago(10))
    oldest = add_generation(ctx, created_at=ago(20), chunks_done=3, segments=4, progress=0.5)
    assert claim(ctx, "w1", lease=90) == oldest
    row = read(ctx, oldest)
    assert (row.status, row.worker_id, row.attempts) == (RUNNING, "w1", 1)
    assert (row.chunks_done, row.segments, row.progress) == (0, 0, 0.0)
    assert near(row.lease_expires_at, later(90)) and near(row.started_at, utcnow())
    assert claim(ctx, "w2") == newer
    assert claim(ctx, "w3") is None


def test_a_running_task_is_taken_over_only_after_its_lease_and_within_its_attempts(ctx):
    started = ago(600)
    live = add_generation(ctx, status=RUNNING, worker_id="a", attempts=1, lease_expires_at=later(30))
    add_generation(ctx, status=RUNNING, worker_id="b", attempts=2, lease_expires_at=ago(30))
    expired = add_generation(ctx, status=RUNNING, worker_id="c", attempts=1, lease_expires_at=ago(30),
                             started_at=started)
    assert claim(ctx, "w", max_attempts=2) == expired
    row = read(ctx, expired)
    assert (row.worker_id, row.attempts) == ("w", 2)
    assert near(row.started_at, started, 1)  # the first start is kept
    assert claim(ctx, "w", max_attempts=2) is None
    assert read(ctx, live).worker_id == "a"


def test_a_task_is_claimed_once(ctx):
    add_generation(ctx)
    assert claim(ctx, "w1") is not None
    assert claim(ctx, "w2") is None


def test_only_the_owner_renews_records_and_finishes(ctx):
    mine = add_generation(ctx, status=RUNNING, worker_id="me", lease_expires_at=later(5), chunks_total=4)
    assert call(ctx, repository.renew, mine, "me", 300) is True
    assert near(read(ctx, mine).lease_expires_at, later(300))
    assert call(ctx, repository.set_chunks, mine, "me", 1, 4, 200) is True
    row = read(ctx, mine)
    assert (row.chunks_done, row.chunks_total, row.progress) == (1, 4, 0.25) and near(row.lease_expires_at, later(200))
    assert call(ctx, repository.set_segments, mine, "me", 3, 100) is True
    row = read(ctx, mine)
    assert row.segments == 3 and near(row.lease_expires_at, later(100))
    assert call(ctx, repository.record_remote_calls, mine, "me", "fc-1 fc-2") is True
    assert read(ctx, mine).remote_call_id == "fc-1 fc-2"
    for stranger in ("you", None):
        assert call(ctx, repository.renew, mine, stranger, 300) is False
        assert call(ctx, repository.set_chunks, mine, stranger, 2, 4, 300) is False
        assert call(ctx, repository.set_segments, mine, stranger, 9, 300) is False
        assert call(ctx, repository.record_remote_calls, mine, stranger, "x") is False
        assert call(ctx, repository.finish, mine, stranger, status=FAILED) is False
    row = read(ctx, mine)
    assert (row.chunks_done, row.segments, row.remote_call_id, row.status) == (1, 3, "fc-1 fc-2", RUNNING)
    assert call(ctx, repository.finish, mine, "me", status=FAILED, error_code="engine_failed") is True
    row = read(ctx, mine)
    assert (row.status, row.error_code, row.lease_expires_at) == (FAILED, "engine_failed", None)
    assert near(row.finished_at, utcnow())
    # Finished is no longer running: not ours to touch any more.
    assert call(ctx, repository.renew, mine, "me", 300) is False


def test_finish_done_counts_every_chunk(ctx):
    chunked = add_generation(ctx, status=RUNNING, worker_id="me", chunks_total=3, chunks_done=2, progress=0.6)
    single = add_generation(ctx, status=RUNNING, worker_id="me")
    assert call(ctx, repository.finish_done, chunked, "me", output_key="generated/x.mp3") is True
    assert call(ctx, repository.finish_done, single, "me") is True
    row = read(ctx, chunked)
    assert (row.status, row.progress, row.chunks_done, row.chunks_total, row.output_key) == (
        DONE, 1.0, 3, 3, "generated/x.mp3")
    assert row.lease_expires_at is None and near(row.finished_at, utcnow())
    row = read(ctx, single)
    assert (row.chunks_done, row.chunks_total) == (1, 1)
    assert call(ctx, repository.finish_done, single, "me") is False


def test_a_stopping_process_hands_back_its_tasks_without_using_an_attempt(ctx):
    mine = [add_generation(ctx, status=RUNNING, worker_id="me", attempts=1, lease_expires_at=later(60))
            for _ in range(2)]
    theirs = add_generation(ctx, status=RUNNING, worker_id="you", attempts=1, lease_expires_at=later(60))
    finished = add_generation(ctx, status=DONE, worker_id="me", attempts=1)
    assert call(ctx, repository.hand_back, "me") == 2
    for generation_id in mine:
        row = read(ctx, generation_id)
        assert (row.status, row.worker_id, row.lease_expires_at, row.attempts) == (QUEUED, None, None, 0)
    assert read(ctx, theirs).status == RUNNING and read(ctx, finished).status == DONE
    assert call(ctx, repository.hand_back, "me") == 0


def test_orphans_of_dead_owners_are_released_at_once(ctx):
    dead = add_generation(ctx, status=RUNNING, worker_id="dead", lease_expires_at=later(600))
    alive = add_generation(ctx, status=RUNNING, worker_id="alive", lease_expires_at=later(600))
    ownerless = add_generation(ctx, status=RUNNING, worker_id=None, lease_expires_at=later(600))
    add_generation(ctx, status=DONE, worker_id="dead")
    asked = []

    def gone(worker_id):
        asked.append(worker_id)
        return worker_id in ("dead", None)

    now = utcnow()
    assert call(ctx, repository.release_orphans, gone, now=now) == 2
    assert near(read(ctx, dead).lease_expires_at, now, 0.01)
    assert near(read(ctx, ownerless).lease_expires_at, now, 0.01)  # a running task nobody owns is an orphan too
    assert near(read(ctx, alive).lease_expires_at, later(600))
    assert sorted(asked, key=str) == sorted(["dead", "alive", None], key=str)
    # Released means claimable now.
    assert {claim(ctx, "new"), claim(ctx, "new")} == {dead, ownerless}


def test_release_orphans_defaults_to_now(ctx):
    dead = add_generation(ctx, status=RUNNING, worker_id="dead", lease_expires_at=later(600))
    assert call(ctx, repository.release_orphans, lambda w: True) == 1
    assert near(read(ctx, dead).lease_expires_at, utcnow())


def test_tasks_past_their_last_attempt_fail_as_worker_lost(ctx):
    lost = add_generation(ctx, status=RUNNING, worker_id="a", attempts=2, lease_expires_at=ago(1))
    over = add_generation(ctx, status=RUNNING, worker_id="b", attempts=3, lease_expires_at=ago(1))
    retry = add_generation(ctx, status=RUNNING, worker_id="c", attempts=1, lease_expires_at=ago(1))
    leased = add_generation(ctx, status=RUNNING, worker_id="d", attempts=2, lease_expires_at=later(60))
    queued = add_generation(ctx, attempts=2)
    now = utcnow()
    assert sorted(call(ctx, repository.fail_exhausted, 2, now=now)) == sorted([lost, over])
    row = read(ctx, lost)
    assert (row.status, row.error_code, row.worker_id, row.lease_expires_at) == (FAILED, "worker_lost", None, None)
    assert row.error_message == ("The process running this generation stopped 2 times; it was given up. "
                                 "Try generating again.")
    assert near(row.finished_at, now, 0.01)
    assert read(ctx, retry).status == RUNNING and read(ctx, leased).status == RUNNING
    assert read(ctx, queued).status == QUEUED
    assert call(ctx, repository.fail_exhausted, 2) == []


def test_fail_exhausted_defaults_to_now(ctx):
    lost = add_generation(ctx, status=RUNNING, worker_id="a", attempts=2, lease_expires_at=ago(1))
    assert call(ctx, repository.fail_exhausted, 2) == [lost]
    assert near(read(ctx, lost).finished_at, utcnow())


# --- edges that only exact tests see -----------------------------------------------------------


def test_empty_counts_are_zero(ctx):
    assert call(ctx, repository.queued_count) == 0
    assert call(ctx, repository.history, limit=10) == ([], 0)


def test_saving_one_preview_leaves_the_others_unsaved(ctx):
    from utter.models import Voice

    voice = Voice(name="a", reference_key="references/a.wav", reference_seconds=12.0)
    with ctx.sessions() as session:
        session.add(voice)
        session.commit()
    design = uuid.uuid4()
    chosen, other = preview(ctx, design, 0), preview(ctx, design, 1)
    with ctx.sessions() as session:
        assert repository.claim_preview_for_voice(session, chosen, voice.id) is True
        session.commit()
    assert read(ctx, other).voice_id is None


def test_a_design_is_kept_while_any_preview_looks_unfinished_by_its_status_or_its_time(ctx):
    cutoff, old = utcnow() - timedelta(hours=1), ago(3 * 3600)
    by_status, by_time, at_cutoff = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept = [preview(ctx, by_status, 0, DONE, old), preview(ctx, by_status, 1, RUNNING, old),
            preview(ctx, by_time, 0, DONE, old), preview(ctx, by_time, 1, DONE, None),
            preview(ctx, at_cutoff, 0, DONE, old), preview(ctx, at_cutoff, 1, DONE, cutoff)]
    speech_design = uuid.uuid4()
    gone = preview(ctx, speech_design, 0, DONE, old)
    add_generation(ctx, design_id=speech_design, status=RUNNING, worker_id="w")  # speech never keeps a design
    assert call(ctx, repository.expire_previews, cutoff, 10) == [(gone, None)]
    assert all(read(ctx, k) is not None for k in kept)


def test_the_oldest_runnable_task_goes_first_whichever_way_it_became_runnable(ctx):
    add_generation(ctx, created_at=ago(10))
    stale = add_generation(ctx, status=RUNNING, worker_id="gone", attempts=1, lease_expires_at=ago(5),
                           created_at=ago(60))
    assert claim(ctx, "w") == stale


def test_a_finished_task_is_never_claimed_even_with_a_stale_lease(ctx):
    for status in (DONE, FAILED, GenerationStatus.CANCELLED):
        add_generation(ctx, status=status, worker_id="gone", attempts=1, lease_expires_at=ago(5))
    assert claim(ctx, "w") is None


def test_a_lease_that_ends_this_instant_is_over(ctx, monkeypatch):
    now = utcnow()
    monkeypatch.setattr(repository, "utcnow", lambda: now)
    ending = add_generation(ctx, status=RUNNING, worker_id="gone", attempts=1, lease_expires_at=now)
    lost = add_generation(ctx, status=RUNNING, worker_id="gone", attempts=2, lease_expires_at=now)
    assert call(ctx, repository.fail_exhausted, 2, now=now) == [lost]
    assert claim(ctx, "w") == ending


def test_set_chunks_records_the_total(ctx):
    mine = add_generation(ctx, status=RUNNING, worker_id="me")
    assert call(ctx, repository.set_chunks, mine, "me", 1, 3, 60) is True
    assert read(ctx, mine).chunks_total == 3


def test_releasing_orphans_touches_each_row_once_and_only_while_it_is_still_the_dead_owners(ctx):
    from utter.models import Generation

    two = [add_generation(ctx, status=RUNNING, worker_id="dead", lease_expires_at=later(600)) for _ in range(2)]
    assert call(ctx, repository.release_orphans, lambda w: True) == 2
    assert all(read(ctx, g).lease_expires_at <= utcnow() for g in two)
    taken = add_generation(ctx, status=RUNNING, worker_id="dead2", lease_expires_at=later(600))
    finished = add_generation(ctx, status=RUNNING, worker_id="dead3", lease_expires_at=later(600))

    def meanwhile(dead, change):
        def gone(worker_id):
            # Between the look and the update, another process changes the row.
            if worker_id == dead:
                with ctx.sessions() as session:
                    change(session)
                    session.commit()
            return worker_id == dead
        return gone

    def take_over(session):
        session.get(Generation, taken).worker_id = "new"

    def finish(session):
        row = session.get(Generation, finished)
        row.status, row.lease_expires_at = DONE, None

    assert call(ctx, repository.release_orphans, meanwhile("dead2", take_over)) == 0
    assert near(read(ctx, taken).lease_expires_at, later(600))
    assert call(ctx, repository.release_orphans, meanwhile("dead3", finish)) == 0
    assert read(ctx, finished).lease_expires_at is None


def test_of_two_processes_racing_for_a_task_only_one_gets_it(ctx):
    from sqlalchemy import update

    from utter.models import Generation

    first = add_generation(ctx, created_at=ago(20))
    second = add_generation(ctx, created_at=ago(10))
    with ctx.sessions() as session:
        look = session.scalars

        def rival_claims_first_meanwhile(statement):
            candidates = list(look(statement))
            # Another process claims the oldest task between our look at the queue and our update.
            with ctx.sessions() as rival:
                rival.execute(update(Generation).where(Generation.id == candidates[0])
                              .values(status=RUNNING, worker_id="rival", attempts=1, lease_expires_at=later(60)))
                rival.commit()
            return candidates

        session.scalars = rival_claims_first_meanwhile
        assert repository.claim(session, "me", 60, 2) == second
    assert (read(ctx, first).worker_id, read(ctx, first).attempts) == ("rival", 1)


def test_a_lease_renewed_while_the_reaper_looks_is_not_given_up(ctx):
    from sqlalchemy import update

    from utter.models import Generation

    renewed = add_generation(ctx, status=RUNNING, worker_id="slow", attempts=2, lease_expires_at=ago(1))
    with ctx.sessions() as session:
        look = session.scalars

        def owner_renews_meanwhile(statement):
            candidates = list(look(statement))
            with ctx.sessions() as owner:
                owner.execute(update(Generation).where(Generation.id == renewed).values(lease_expires_at=later(60)))
                owner.commit()
            return candidates

        session.scalars = owner_renews_meanwhile
        assert repository.fail_exhausted(session, 2) == []
    assert read(ctx, renewed).status == RUNNING


def test_a_preview_saved_while_previews_expire_is_kept_and_not_reported_gone(ctx):
    from utter.models import Voice

    voice = Voice(name="Saved", reference_key="references/s.wav", reference_seconds=12.0)
    with ctx.sessions() as session:
        session.add(voice)
        session.commit()
    old = ago(3 * 3600)
    design = uuid.uuid4()
    saved, other = (preview(ctx, design, 0, DONE, old, output_key="previews/saved.wav"),
                    preview(ctx, design, 1, DONE, old, output_key="previews/other.wav"))
    with ctx.sessions() as session:
        run = session.execute
        calls = []

        def saved_meanwhile(statement, *args, **kwargs):
            result = run(statement, *args, **kwargs)
            if not calls:  # right after the look for expired previews
                calls.append(1)
                with ctx.sessions() as saver:
                    repository.claim_preview_for_voice(saver, saved, voice.id)
                    saver.commit()
            return result

        session.execute = saved_meanwhile
        gone = repository.expire_previews(session, utcnow(), 10)
    assert gone == [(other, "previews/other.wav")]  # the saved one's file must stay
    assert read(ctx, saved).voice_id == voice.id
