"""Pauses written in text (issue 18): break tags and paragraph breaks become silences between the
chunks an engine speaks; other markup is dropped; anything else with angle brackets is read."""

from __future__ import annotations

import pytest

from utter.audio.markup import MAX_BREAK_SECONDS, PARAGRAPH_PAUSE_SECONDS, MarkupError, Pause, parse, plain_text
from utter.audio.text import plan_speech


@pytest.mark.parametrize(("tag", "seconds"), [
    ('<break time="1.5s"/>', 1.5), ('<break time="500ms" />', 0.5), ("<break time='2s'>", 2.0),
    ('<BREAK TIME="0.25S"/>', 0.25), ('< break time = "3.0s" / >', 3.0), (f'<break time="{MAX_BREAK_SECONDS:g}s"/>',
                                                                          MAX_BREAK_SECONDS),
])
def test_a_break_tag_is_a_pause_of_its_time(tag, seconds):
    assert parse(f"Before.{tag}After.") == ["Before.", Pause(seconds), "After."]


def test_a_blank_line_is_a_paragraph_pause_and_a_single_line_break_is_not():
    assert parse("One.\nStill one.\n\n  \n Two.") == ["One.\nStill one.", Pause(PARAGRAPH_PAUSE_SECONDS), "Two."]


def test_a_break_beside_a_paragraph_sets_that_pause_and_breaks_in_a_row_add_up():
    assert parse('One.\n\n<break time="2s"/>\n\nTwo.') == ["One.", Pause(2.0), "Two."]
    assert parse('One.<break time="1s"/><break time="1.5s"/>Two.') == ["One.", Pause(2.5), "Two."]


def test_other_markup_is_dropped_and_its_words_kept_while_other_angle_brackets_are_text():
    assert plain_text('Say <emphasis level="strong">this</emphasis> now.') == "Say this now."
    assert plain_text("If x < y and y > z, then <3.") == "If x < y and y > z, then <3."
    assert plain_text("Arrows <- and -> stay.") == "Arrows <- and -> stay."


@pytest.mark.parametrize(("text", "code"), [
    (f'Wait <break time="{MAX_BREAK_SECONDS + 0.5:g}s"/> now.', "break_too_long"),
    ('Wait <break time="6000ms"/> now.', "break_too_long"),
    ('Wait <break time="3s"/><break time="3s"/> now.', "break_too_long"),
    ("Wait <break/> now.", "break_invalid"),
    ('Wait <break time="soon"/> now.', "break_invalid"),
    ('Wait <break time="-1s"/> now.', "break_invalid"),
    ("Wait <break time=1s/> now.", "break_invalid"),  # meant as a break: never read out as words
])
def test_a_break_that_cannot_be_honoured_is_refused(text, code):
    with pytest.raises(MarkupError) as refused:
        parse(text)
    assert refused.value.code == code and "break" in refused.value.message.lower()


def test_the_plan_puts_each_pause_between_chunks_and_chunks_never_cross_a_pause():
    text = ('<break time="1s"/>First sentence here. Second one.<break time="0.5s"/>Third.\n\n'
            'A new paragraph that is long enough to be cut in two.<break time="2s"/>')
    plan = plan_speech(text, max_chars=30, first_max_chars=20)
    assert plan.lead == 1.0
    assert plan.chunks == ("First sentence here.", "Second one.", "Third.", "A new paragraph that is long",
                           "enough to be cut in two.")
    assert plan.pauses == (0.0, 0.5, PARAGRAPH_PAUSE_SECONDS, 0.0, 2.0)


def test_punctuation_alone_between_pauses_is_not_sent_to_the_engine():
    plan = plan_speech('Hello.<break time="1s"/> . <break time="1s"/>Bye.', 200)
    assert plan.chunks == ("Hello.", "Bye.") and plan.pauses == (2.0, 0.0)
