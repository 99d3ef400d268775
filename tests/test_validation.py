"""What people type, checked the same way by every route: names, transcripts, text, languages, ids, speed."""

from __future__ import annotations

import uuid

import pytest

from utter.errors import UtterError
from utter.validation import (
    MAX_NAME_CHARS,
    MAX_TRANSCRIPT_CHARS,
    check_speed,
    clean_text,
    clean_language,
    clean_name,
    clean_transcript,
    parse_id,
)


def refused(call, *args, **kwargs) -> UtterError:
    with pytest.raises(UtterError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_names_are_trimmed_and_inner_whitespace_collapsed():
    assert clean_name("  My \t  voice\n") == "My voice"
    assert clean_name("x" * MAX_NAME_CHARS) == "x" * MAX_NAME_CHARS


@pytest.mark.parametrize("name", [None, "", "   \n\t "])
def test_a_missing_name_is_refused_naming_the_field(name):
    error = refused(clean_name, name, field="voice_name")
    assert (error.status, error.code, error.field) == (422, "name_missing", "voice_name")
    assert error.message == "Give the voice a name."
    assert refused(clean_name, name).field == "name"


def test_a_name_over_the_limit_is_refused():
    # Whitespace is collapsed before counting: 100 words of one letter are 199 characters.
    assert clean_name(" ".join("a" * 50) + "   ") == " ".join("a" * 50)
    error = refused(clean_name, "x" * (MAX_NAME_CHARS + 1), field="title")
    assert (error.status, error.code, error.field) == (422, "name_too_long", "title")
    assert f"at most {MAX_NAME_CHARS} characters" in error.message
    assert refused(clean_name, "x" * (MAX_NAME_CHARS + 1)).field == "name"


def test_transcripts_are_collapsed_and_empty_means_none():
    assert clean_transcript("  Hello \n there ") == "Hello there"
    assert clean_transcript(None) is None
    assert clean_transcript(" \n ") is None
    assert clean_transcript("w" * MAX_TRANSCRIPT_CHARS) == "w" * MAX_TRANSCRIPT_CHARS


def test_a_transcript_over_the_limit_is_refused():
    error = refused(clean_transcript, "w" * (MAX_TRANSCRIPT_CHARS + 1))
    assert (error.status, error.code, error.field) == (422, "transcript_too_long", "transcript")
    assert f"at most {MAX_TRANSCRIPT_CHARS} characters" in error.message


def test_text_must_be_there_and_within_the_limit():
    assert clean_text("a", 1, "text") == "a"
    assert clean_text("  x" * 5 + " \n", 20, "text") == "x  x  x  x  x"
    assert clean_text("Tab\tand\x00 bell\x07.", 50, "text") == "Tab and bell."
    empty = refused(clean_text, "", 10, "input")
    assert (empty.status, empty.code, empty.field, empty.message) == (
        422, "text_empty", "input", "Type something to say: this text has no words in it.")
    assert refused(clean_text, "\u200b\ufeff . !", 10, "input").code == "text_empty"
    long = refused(clean_text, "x" * 11, 10, "input")
    assert (long.status, long.code, long.field) == (422, "text_too_long", "input")
    assert long.message == "The text is 11 characters long; the limit is 10."
    assert refused(clean_text, "a\ud800b", 10, "input").code == "text_invalid"


def test_languages_are_normalised_and_auto_is_the_default():
    assert clean_language(" EN ") == "en"
    assert clean_language(None) == "auto"
    assert clean_language("") == "auto"
    # An engine's list does not restrict "auto" (the engine detects the language).
    assert clean_language("auto", allowed=("en",)) == "auto"
    assert clean_language("de", allowed=("en", "de")) == "de"
    assert clean_language("de", allowed=None) == "de"


def test_an_unknown_language_lists_the_known_ones():
    error = refused(clean_language, "klingon", field="lang")
    assert (error.status, error.code, error.field) == (422, "language_unknown", "lang")
    assert error.message.startswith("Unknown language 'klingon'. Use one of: auto, en, zh, ")
    assert refused(clean_language, "xx").field == "language"


def test_a_language_the_engine_cannot_speak_is_refused_with_what_it_speaks():
    error = refused(clean_language, "fr", allowed=("en", "de"), field="lang")
    assert (error.status, error.code, error.field) == (422, "language_unsupported", "lang")
    assert error.message == "The running engine cannot speak French; it speaks: English, German."
    assert refused(clean_language, "fr", allowed=("en",)).field == "language"


def test_ids_are_parsed_or_refused_with_the_callers_code():
    voice_id = uuid.uuid4()
    assert parse_id(str(voice_id), "voice", "invalid_voice_id") == voice_id
    assert parse_id(voice_id.hex, "voice", "invalid_voice_id") == voice_id
    for bad in ("not-an-id", None, 12):
        error = refused(parse_id, bad, "voice", "invalid_voice_id", field="voice_id")
        assert (error.status, error.code, error.field) == (422, "invalid_voice_id", "voice_id")
        assert error.message == f"{bad!r} is not a valid voice id."
        assert error.__suppress_context__  # the ValueError behind it is not chained into logs
    assert refused(parse_id, "nope", "generation", "invalid_generation_id").field is None


def test_speed_defaults_to_normal_and_stays_in_range():
    assert check_speed(None) == 1.0 and isinstance(check_speed(None), float)
    assert check_speed(2) == 2.0 and isinstance(check_speed(2), float)
    assert check_speed(0.25) == 0.25
    assert check_speed(4.0) == 4.0
    for speed in (0.24, 4.01, 0):
        error = refused(check_speed, speed, field="rate")
        assert (error.status, error.code, error.field) == (422, "speed_out_of_range", "rate")
        assert error.message == (f"speed must be between 0.25 and 4.0 (1.0 is normal); got {float(speed)}.")
    assert refused(check_speed, 5).field == "speed"
