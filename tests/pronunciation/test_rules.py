"""Pronunciation rules (issue 18): whole words only, case as asked, applied once, never inside tags;
rules that would loop, and phoneme rules an engine cannot read, are refused with stable codes."""

from __future__ import annotations

import pytest

from utter.pronunciation.rules import MAX_RULES, Rewriter, RuleError, check_rules, make_rule

PIPER = "[[ {} ]]"


def rewrite(rules, text, markup=PIPER, symbols=frozenset()):
    return Rewriter(check_rules(rules)).rewrite(text, markup, symbols)


def test_an_alias_replaces_whole_words_only_and_never_inside_other_words():
    rules = [make_rule("SQL", alias="sequel")]
    assert rewrite(rules, "SQL, SQL's (SQL) and SQL-based. MySQL, SQLite, NoSQL and SQL2 stay.") == (
        "sequel, sequel's (sequel) and sequel-based. MySQL, SQLite, NoSQL and SQL2 stay.")


def test_case_is_matched_as_written_unless_the_rule_ignores_it():
    assert rewrite([make_rule("US", alias="United States")], "US and us and Us.") == "United States and us and Us."
    assert rewrite([make_rule("nyc", alias="New York City", case_sensitive=False)], "NYC, nyc, Nyc.") == (
        "New York City, New York City, New York City.")


def test_the_longest_written_form_wins_and_what_a_rule_writes_is_not_rewritten():
    rules = [make_rule("New York", alias="the big apple"), make_rule("New York Times", alias="the Times"),
             make_rule("Nguyen", alias="Win")]
    assert rewrite(rules, "New York Times in New York, by Nguyen.") == "the Times in the big apple, by Win."


def test_words_inside_tags_are_left_alone_and_pauses_kept():
    rules = [make_rule("time", alias="thyme"), make_rule("break", alias="brake")]
    text = 'A break in time.<break time="1.5s"/>On time.\n\nAgain.'
    assert rewrite(rules, text) == 'A brake in thyme.<break time="1.5s"/>On thyme.<break time="0.4s"/>Again.'


def test_a_text_no_rule_applies_to_comes_back_unchanged():
    text = 'Nothing to do here.\n\nReally <break time="1s"/> nothing.'
    assert rewrite([make_rule("SQL", alias="sequel")], text) is text


def test_a_phoneme_rule_is_written_for_an_engine_that_reads_phonemes():
    rule = make_rule("tomato", phoneme="/təˈmɑː.toʊ/", alphabet="ipa")
    assert rule.phoneme == "təˈmɑːtoʊ"  # slashes and syllable dots carry no sound
    assert rewrite([rule], "A tomato.") == "A [[ təˈmɑːtoʊ ]]."
    assert make_rule("gig", phoneme="gɪg:").phoneme == "ɡɪɡː"  # ASCII stand-ins for IPA letters


def test_without_phonemes_a_rule_says_its_alias_or_the_text_is_refused():
    both = make_rule("tomato", phoneme="təˈmɑːtoʊ", alias="tomahto")
    assert rewrite([both], "A tomato.", markup=None) == "A tomahto."
    with pytest.raises(RuleError) as refused:
        rewrite([make_rule("tomato", phoneme="təˈmɑːtoʊ")], "A tomato and a potato.", markup=None)
    assert refused.value.code == "pronunciation_phonemes_unsupported" and "tomato" in refused.value.message
    # A phoneme rule that does not occur in the text is no obstacle.
    assert rewrite([make_rule("tomato", phoneme="təˈmɑːtoʊ")], "A potato.", markup=None) == "A potato."


def test_phoneme_symbols_the_engine_does_not_know_are_refused():
    with pytest.raises(RuleError) as refused:
        rewrite([make_rule("Bach", phoneme="bɑχ")], "Bach.", symbols=frozenset("bɑx"))
    assert refused.value.code == "pronunciation_phoneme_unknown" and "χ" in refused.value.message


@pytest.mark.parametrize("rules", [
    [make_rule("SQL", alias="SQL server")],
    [make_rule("A1", alias="B1"), make_rule("B1", alias="A1")],
    [make_rule("one", alias="two"), make_rule("TWO", alias="three", case_sensitive=False)],
])
def test_rules_that_would_rewrite_their_own_result_are_refused(rules):
    with pytest.raises(RuleError) as refused:
        check_rules(rules)
    assert refused.value.code == "pronunciation_rule_loop"


def test_an_alias_may_contain_a_rule_word_inside_another_word():
    check_rules([make_rule("SQL", alias="MySQL's cousin")])


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"string_to_replace": "", "alias": "x"}, "pronunciation_rule_invalid"),
    ({"string_to_replace": "SQL", "alias": "  "}, "pronunciation_rule_invalid"),
    ({"string_to_replace": "SQL"}, "pronunciation_rule_invalid"),
    ({"string_to_replace": "SQL", "alias": "sequel", "word_boundaries": False}, "pronunciation_rule_invalid"),
    ({"string_to_replace": "SQL", "alias": '<break time="1s"/>'}, "pronunciation_rule_invalid"),
    ({"string_to_replace": "SQL", "alias": "x" * 201}, "pronunciation_rule_invalid"),
    ({"string_to_replace": "tomato", "phoneme": "T AH0 M EY1 T OW2", "alphabet": "cmu-arpabet"},
     "pronunciation_alphabet_unsupported"),
    ({"string_to_replace": "tomato", "phoneme": "[[ x ]] <b>", "alphabet": "ipa"}, "pronunciation_rule_invalid"),
])
def test_a_rule_that_cannot_be_used_is_refused(kwargs, code):
    with pytest.raises(RuleError) as refused:
        make_rule(kwargs.pop("string_to_replace"), **kwargs)
    assert refused.value.code == code


def test_a_dictionary_has_one_rule_per_word_and_a_size_limit():
    with pytest.raises(RuleError) as duplicate:
        check_rules([make_rule("SQL", alias="sequel"), make_rule("SQL", alias="ess queue ell")])
    assert duplicate.value.code == "pronunciation_rule_duplicate"
    check_rules([make_rule("SQL", alias="sequel"), make_rule("sql", alias="squeal")])  # case-sensitive: two words
    with pytest.raises(RuleError) as too_many:
        check_rules([make_rule(f"word{n}", alias="x") for n in range(MAX_RULES + 1)])
    assert too_many.value.code == "pronunciation_too_many_rules"
