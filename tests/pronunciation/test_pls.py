"""W3C PLS lexicons (issue 18): read as ElevenLabs writes them, written so they read back the same,
and a malformed, hostile or oversized file refused with a stable code."""

from __future__ import annotations

import pytest

from utter.pronunciation.pls import MAX_PLS_BYTES, parse_pls, write_pls
from utter.pronunciation.rules import RuleError, make_rule

ELEVENLABS_STYLE = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0"
      xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
      xsi:schemaLocation="http://www.w3.org/2005/01/pronunciation-lexicon
        http://www.w3.org/TR/2007/CR-pronunciation-lexicon-20071212/pls.xsd"
      alphabet="ipa" xml:lang="en-US">
  <lexeme>
    <grapheme>tomato</grapheme>
    <grapheme>Tomato</grapheme>
    <phoneme>/təˈmɑːtoʊ/</phoneme>
  </lexeme>
  <lexeme>
    <grapheme>UN</grapheme>
    <alias>United Nations</alias>
  </lexeme>
</lexicon>
""".encode()


def test_an_elevenlabs_lexicon_is_read_one_rule_per_grapheme():
    rules = parse_pls(ELEVENLABS_STYLE)
    assert [(r.string_to_replace, r.alias, r.phoneme, r.case_sensitive) for r in rules] == [
        ("tomato", None, "təˈmɑːtoʊ", True), ("Tomato", None, "təˈmɑːtoʊ", True),
        ("UN", "United Nations", None, True)]


def test_rules_written_as_pls_read_back_the_same():
    rules = [make_rule("Nguyen", alias="Win"), make_rule("sql", alias="sequel", case_sensitive=False),
             make_rule("tomato", phoneme="təˈmɑːtoʊ", alias="tomahto"), make_rule("AT&T", alias="A T and T"),
             make_rule("Zoë", alias="Zoey")]
    data = write_pls(rules)
    assert data.startswith(b"<?xml") and b"pronunciation-lexicon" in data
    assert parse_pls(data) == rules
    assert parse_pls(write_pls(parse_pls(data))) == rules


@pytest.mark.parametrize(("data", "code"), [
    (b"not xml at all", "pls_invalid"),
    (b"<lexicon><lexeme><grapheme>a</grapheme>", "pls_invalid"),  # cut short
    (b"<html><body>hello</body></html>", "pls_invalid"),
    (b'<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"></lexicon>', "pls_invalid"),
    (b'<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"><lexeme><alias>x</alias></lexeme></lexicon>',
     "pls_invalid"),
    (b'<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"><lexeme><grapheme>x</grapheme></lexeme>'
     b"</lexicon>", "pls_invalid"),
    (b'<?xml version="1.0"?><!DOCTYPE lexicon [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
     b"<lexicon><lexeme><grapheme>&b;</grapheme><alias>x</alias></lexeme></lexicon>", "pls_invalid"),
    (b'<?xml version="1.0"?><!DOCTYPE lexicon [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     b"<lexicon><lexeme><grapheme>&x;</grapheme><alias>x</alias></lexeme></lexicon>", "pls_invalid"),
    (b'<lexicon><lexeme><grapheme>SQL</grapheme><alias>SQL server</alias></lexeme></lexicon>',
     "pronunciation_rule_loop"),
    (b'<lexicon alphabet="x-sampa"><lexeme><grapheme>a</grapheme><phoneme>"{</phoneme></lexeme></lexicon>',
     "pronunciation_alphabet_unsupported"),
])
def test_a_file_that_cannot_be_used_whole_is_refused(data, code):
    with pytest.raises(RuleError) as refused:
        parse_pls(data)
    assert refused.value.code == code and refused.value.message


def test_an_oversized_file_is_refused_before_it_is_parsed():
    lexeme = b"<lexeme><grapheme>word</grapheme><alias>other</alias></lexeme>"
    data = b"<lexicon>" + lexeme * (MAX_PLS_BYTES // len(lexeme) + 1) + b"</lexicon>"
    with pytest.raises(RuleError) as refused:
        parse_pls(data)
    assert refused.value.code == "pls_too_large"
