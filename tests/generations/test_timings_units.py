"""Typed words, their matching to the words spoken, and subtitle cues, without audio (issue 18)."""

from __future__ import annotations

from utter.audio.alignment import TimedWord
from utter.generations.subtitles import MAX_LINE_CHARS, cues, srt, vtt
from utter.generations.timings import match_words, spoken_words, typed_words


def test_typed_words_leave_tags_out_and_point_into_the_text():
    text = 'Hi, there.<break time="1s"/>It costs $45 <emphasis>to</emphasis>day.'
    words = typed_words(text)
    assert [w.text for w in words] == ["Hi,", "there.", "It", "costs", "$45", "today."]
    assert text[words[1].offset: words[1].offset + words[1].length] == "there."
    assert text[words[-1].offset:].startswith("to</emphasis>day.") and words[-1].length == len("to</emphasis>day.")


def test_a_phoneme_spelling_is_one_spoken_word():
    assert spoken_words("say [[ təˈmɑːtoʊ ]] now") == ("say", "təˈmɑːtoʊ", "now")


def timed(*words):
    return [TimedWord(text, start, end, 1.0) for text, start, end in words]


def test_words_said_differently_share_the_time_of_what_was_said():
    typed = typed_words("It costs $45 today.")
    spoken = timed(("It", 0.0, 0.2), ("costs", 0.2, 0.6), ("forty", 0.7, 1.0), ("five", 1.0, 1.3),
                   ("dollars", 1.3, 1.8), ("today.", 1.9, 2.4))
    words = match_words(typed, spoken)
    assert [(w["text"], w["start"], w["end"]) for w in words] == [
        ("It", 0.0, 0.2), ("costs", 0.2, 0.6), ("$45", 0.7, 1.8), ("today.", 1.9, 2.4)]


def test_an_alias_takes_its_place_and_unsaid_punctuation_takes_no_time():
    typed = typed_words("Ask Nguyen — now")
    spoken = timed(("Ask", 0.0, 0.3), ("Win", 0.4, 0.7), ("now", 0.9, 1.2))
    words = match_words(typed, spoken)
    assert [(w["text"], w["start"], w["end"]) for w in words] == [
        ("Ask", 0.0, 0.3), ("Nguyen", 0.4, 0.7), ("—", 0.7, 0.7), ("now", 0.9, 1.2)]


def word_list(text: str, pause_after: int | None = None, per_word: float = 0.3):
    words, clock = [], 0.0
    for index, token in enumerate(text.split()):
        words.append({"text": token, "start": clock, "end": clock + per_word - 0.05})
        clock += per_word + (1.0 if index == pause_after else 0.0)
    return words


def test_cues_end_at_sentences_and_pauses_and_keep_lines_short():
    text = ("The first sentence is short. The second one goes on for quite a while longer than any subtitle line "
            "could hold on its own without being split into several cues along the way. Then a pause comes here "
            "and the speech goes on afterwards.")
    words = word_list(text, pause_after=text.split().index("here"))
    made = cues(words)
    assert [word for cue in made for line in cue.lines for word in line.split()] == text.split()
    assert made[0].lines == ("The first sentence is short.",)
    assert any(cue.lines[-1].endswith("here") for cue in made)
    for cue in made:
        assert len(cue.lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in cue.lines)
        assert cue.end - cue.start <= 7.0
    assert all(a.end <= b.start for a, b in zip(made, made[1:]))


def test_a_slow_speaker_gets_a_new_cue_after_seven_seconds():
    made = cues(word_list("one two three four five six seven eight nine ten eleven twelve", per_word=1.0))
    assert len(made) == 2 and made[0].end - made[0].start <= 7.0


def test_srt_and_vtt_formats():
    made = cues([{"text": "A<b>&", "start": 0.0, "end": 1.2}, {"text": "c.", "start": 3661.5, "end": 3662.0}])
    assert srt(made) == "1\n00:00:00,000 --> 00:00:01,200\nA<b>&\n\n2\n01:01:01,500 --> 01:01:02,200\nc.\n"
    assert vtt(made).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.200\nA&lt;b&gt;&amp;\n\n01:01:01.500")


def test_character_alignment_covers_every_character_with_times_that_never_go_back():
    from utter.generations.timings import character_alignment, laid_out

    text = 'Hi there.<break time="1s"/> Bye'
    words = [{"start": 0.1, "end": 0.3, "offset": 0, "length": 2}, {"start": 0.3, "end": 0.8, "offset": 3, "length": 6},
             {"start": 1.9, "end": 2.2, "offset": 28, "length": 3}]
    alignment = character_alignment(text, words)
    assert "".join(alignment["characters"]) == text
    starts, ends = alignment["character_start_times_seconds"], alignment["character_end_times_seconds"]
    assert starts == sorted(starts) and ends == sorted(ends) and all(s <= e for s, e in zip(starts, ends))
    assert starts[0] == 0.1 and ends[1] == 0.3 and starts[3] == 0.3 and ends[8] == 0.8
    assert starts[28] == 1.9 and ends[-1] == 2.2
    assert 0.8 <= starts[15] <= 1.9  # inside the tag: in the pause
    spoken, placed = laid_out([{"text": "forty", "start": 0.0, "end": 0.4}, {"text": "five", "start": 0.4, "end": 0.7}])
    assert spoken == "forty five" and placed[1]["offset"] == 6


def test_which_languages_get_an_aligner(transcriber):
    from utter.generations.timings import aligner_for

    for language in ("en", "auto"):
        aligner, why_not = aligner_for(language, transcriber, None)
        assert why_not is None and aligner.language == "en"  # tiny.en hears "auto" as English
    aligner, why_not = aligner_for("de", transcriber, None)
    assert aligner is None and why_not["words"] is None
    assert why_not["error"]["code"] == "timings_language_unsupported"
    assert "knows English only" in why_not["error"]["message"]
    aligner, why_not = aligner_for("en", None, None)
    assert aligner is None and why_not["error"]["code"] == "timings_unavailable"


def test_a_dialogues_cues_never_hold_two_lines_and_vtt_names_each_speaker():
    words = [{"text": "Hello", "start": 0.0, "end": 0.3, "line": 0}, {"text": "there", "start": 0.3, "end": 0.6, "line": 0},
             {"text": "Hi", "start": 0.7, "end": 0.9, "line": 1}, {"text": "you", "start": 0.9, "end": 1.1, "line": 1},
             {"text": "Bye", "start": 1.2, "end": 1.4, "line": 2}]
    made = cues(words, ["Ann", "B<n>", "Ann"])
    assert [(cue.lines, cue.speaker) for cue in made] == [(("Hello there",), "Ann"), (("Hi you",), "B<n>"),
                                                          (("Bye",), "Ann")]
    assert "<v Ann>Hello there</v>" in vtt(made) and "<v B&lt;n&gt;>Hi you</v>" in vtt(made)
    assert "<v" not in srt(made)
    # Without speakers (or past their list) the cues are plain.
    assert [cue.speaker for cue in cues(words)] == [None, None, None]
    assert [cue.speaker for cue in cues(words, ["Ann"])] == ["Ann", None, None]
    # A speech generation's words have no line: only sentences and pauses end a cue.
    assert len(cues([{k: v for k, v in w.items() if k != "line"} for w in words])) == 1


def test_a_dialogue_lines_words_point_into_the_script_after_the_speakers_name():
    from utter.generations.dialogue import line_offsets, script_text

    lines = [{"voice_name": "Ann", "text": "Did you <break time=\"1s\"/> hear?"}, {"voice_name": "Bo", "text": "No."}]
    script = script_text(lines)
    offsets = line_offsets(lines)
    for line, offset in zip(lines, offsets):
        assert script[offset: offset + len(line["text"])] == line["text"]
        for word in typed_words(line["text"]):
            assert script[offset + word.offset: offset + word.offset + len(word.text)] == word.text


def test_a_record_times_each_passage_inside_its_window_and_places_its_words(piper_engine, transcriber, tmp_path):
    """timings.make on real speech: two passages (a dialogue's lines), each aligned in its own window; their
    typed words in order, placed at the passage's offset and marked with its line; a number typed as digits
    takes the time of the words said for it."""
    from types import SimpleNamespace

    import numpy as np

    from utter.adapters.tts.base import SpeechJob
    from utter.audio import codec
    from utter.generations import timings

    rate = piper_engine.info.capabilities.sample_rate
    first, second = (np.concatenate(list(piper_engine.synthesize(SpeechJob(text, "en"))))
                     for text in ("Good morning to all of you.", "The shop opens at nine."))
    gap = np.zeros(int(0.8 * rate), np.float32)
    path = tmp_path / "speech.wav"
    codec.write_wav(path, np.concatenate([first, gap, second]), rate)
    split = len(first) / rate
    windows = [(0.0, split)], [(split + 0.8, split + 0.8 + len(second) / rate)]
    passages = [timings.Passage("Good morning to all of you.", ["Good morning to all of you."], windows[0], 5, 0),
                timings.Passage("The shop opens at 9.", ["The shop opens at nine."], windows[1], 40, 1)]
    record = timings.make(timings.Aligner(transcriber, "en"), path, passages)
    assert (record["version"], record["aligner"], record["language"], record["error"]) == (
        timings.VERSION, transcriber.name, "en", None)
    assert record["seconds"] > 0
    words = record["words"]
    assert [(w["text"], w["line"]) for w in words] == [(t, 0) for t in "Good morning to all of you.".split()] + [
        (t, 1) for t in "The shop opens at 9.".split()]
    for passage, line in zip(passages, (0, 1)):
        mine = [w for w in words if w["line"] == line]
        assert [w["offset"] - passage.offset for w in mine] == [w.offset for w in timings.typed_words(passage.text)]
        start, end = passage.windows[0]
        assert all(start - 0.15 <= w["start"] <= w["end"] <= end + 0.15 for w in mine), mine
        assert all(a["end"] <= b["start"] for a, b in zip(mine, mine[1:]))
    said = record["spoken"]
    assert [w["text"] for w in said][-2:] == ["at", "nine."] and said[-1]["line"] == 1
    assert (words[-1]["start"], words[-1]["end"]) == (said[-1]["start"], said[-1]["end"])

    # The same through for_generation, and the reasons it gives when it cannot make one.
    generation = SimpleNamespace(id="g", language="en")
    ctx = SimpleNamespace(recogniser=transcriber, multilingual_recogniser=None)
    assert timings.for_generation(ctx, generation, path, passages)["words"] == words
    failed = timings.for_generation(ctx, generation, tmp_path / "missing.wav", passages)
    assert failed["words"] is None and failed["error"]["code"] == "timings_failed"
    off = timings.for_generation(SimpleNamespace(recogniser=None, multilingual_recogniser=None), generation, path,
                                 passages)
    assert off["words"] is None and off["error"]["code"] == "timings_unavailable"
