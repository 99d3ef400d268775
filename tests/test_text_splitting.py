"""Splitting text for the engine, exactly: where sentences end, where over-long sentences are cut,
and how pieces are packed into chunks (the first one short, none over the limit, none empty)."""

from __future__ import annotations

from utter.audio.text import chunk_text, split_sentences


def words(pieces: list[str]) -> list[str]:
    return " ".join(pieces).split()


def test_a_lowercase_word_after_the_mark_continues_the_sentence_only_if_it_starts_lowercase():
    assert split_sentences("Wow! iPhones sell well.") == ["Wow! iPhones sell well."]
    assert split_sentences("It costs 5! 3am is late.") == ["It costs 5!", "3am is late."]


def test_odd_punctuation_loses_no_words():
    for text in ("I think . . . maybe. Yes.", "?! Really.", "... and so on. Fine"):
        assert words(split_sentences(text)) == text.split()
        assert words(chunk_text(text, 20)) == text.split()


def test_the_first_chunk_is_short_even_when_the_first_sentence_is_long():
    long = ("This opening sentence rambles on and on with many words so that it is far longer "
            "than the short first chunk allows.")
    assert chunk_text(long + " Then a short one.", 400, first_max_chars=50) == [
        "This opening sentence rambles on and on with many",
        "words so that it is far longer than the short first chunk allows. Then a short one.",
    ]


def test_a_long_second_sentence_is_cut_at_the_full_limit():
    text = "Hi. The second sentence is long enough that it must be cut somewhere."
    assert chunk_text(text, 40, first_max_chars=20) == [
        "Hi.", "The second sentence is long enough that", "it must be cut somewhere."]


def test_a_sentence_that_fits_a_chunk_is_not_cut_to_fill_the_short_first_one():
    assert chunk_text("Hi. Aaaa bbbb, cccc dddd eeee.", 40, first_max_chars=20) == [
        "Hi.", "Aaaa bbbb, cccc dddd eeee."]


def test_pieces_are_packed_up_to_exactly_the_limit():
    assert chunk_text("Aaaa. Bbbb.", 11) == ["Aaaa. Bbbb."]  # 5 + space + 5 = 11
    assert chunk_text("Aaaa. Bbbb.", 10) == ["Aaaa.", "Bbbb."]
    assert chunk_text("Xxxxxxxxxx.", 11) == ["Xxxxxxxxxx."]  # a sentence of exactly the limit, no empty chunk
    assert chunk_text("", 10) == []


def test_over_long_sentences_are_cut_at_the_last_comma_semicolon_or_colon():
    for mark in ",;:":
        text = f"alpha beta{mark} gamma{mark} delta epsilon zeta eta theta iota kappa"
        assert chunk_text(text, 30) == [f"alpha beta{mark} gamma{mark}", "delta epsilon zeta eta theta", "iota kappa"]


def test_a_comma_too_early_in_the_window_is_passed_over_for_the_last_space():
    # 31 // 3 = 10: a comma at 10 is late enough to cut at, one at 8 is not.
    assert chunk_text("abcdefghij, klmnop qrstuv wxyz abcdef ghi", 31) == [
        "abcdefghij,", "klmnop qrstuv wxyz abcdef ghi"]
    assert chunk_text("abcdefgh, klmnop qrstuv wxyz abcdef ghijk", 31) == [
        "abcdefgh, klmnop qrstuv wxyz", "abcdef ghijk"]


def test_without_punctuation_the_cut_is_at_the_last_space_that_fits():
    assert chunk_text("one two three four five six seven eight nine ten", 20) == [
        "one two three four", "five six seven", "eight nine ten"]
    assert chunk_text("xxxxx yyyy zzzzz", 10) == ["xxxxx", "yyyy zzzzz"]  # what is left fits exactly
    assert chunk_text("a bbbbbbbbbbbb", 10) == ["a", "bbbbbbbbbb", "bb"]  # a space at 1 is still a space


def test_text_without_spaces_is_cut_hard_at_the_limit():
    assert chunk_text("这" * 25, 10) == ["这" * 10, "这" * 10, "这" * 5]
