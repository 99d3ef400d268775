"""ElevenLabs' pronunciation dictionaries through the official `elevenlabs` SDK (issue 18): made from a
PLS file or from rules, listed, read, changed, downloaded per version, and applied to speech through
`pronunciation_dictionary_locators` (the alias heard by a speech recogniser)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core import ApiError
from elevenlabs.pronunciation_dictionaries import (
    BodyAddAPronunciationDictionaryV1PronunciationDictionariesAddFromRulesPostRulesItem_Alias as AliasRule,
)
from elevenlabs.pronunciation_dictionaries import PronunciationDictionaryRule_Alias
from elevenlabs.types import PronunciationDictionaryVersionLocator

from utter.pronunciation.pls import parse_pls

from .helpers import upload_voice

LEXICON = b"""<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>Nguyen</grapheme><alias>Win</alias></lexeme>
  <lexeme><grapheme>tomato</grapheme><phoneme>t\xc9\x99\xcb\x88m\xc9\x91\xcb\x90to\xca\x8a</phoneme></lexeme>
</lexicon>
"""


def sdk(server) -> ElevenLabs:
    return ElevenLabs(base_url=server.url, api_key="anything", timeout=60)


def test_dictionaries_made_listed_read_changed_and_downloaded(make_server):
    server = make_server(asr="off")
    client = sdk(server)
    from_file = client.pronunciation_dictionaries.create_from_file(
        name="Names", file=("names.pls", io.BytesIO(LEXICON)), description="People we interview")
    assert (from_file.name, from_file.version_rules_num, from_file.description) == ("Names", 2, "People we interview")
    from_rules = client.pronunciation_dictionaries.create_from_rules(
        name="Jargon", rules=[AliasRule(string_to_replace="SQL", alias="sequel")])
    assert from_rules.version_rules_num == 1

    listed = client.pronunciation_dictionaries.list(page_size=1)
    assert listed.has_more and [d.name for d in listed.pronunciation_dictionaries] == ["Jargon"]
    rest = client.pronunciation_dictionaries.list(cursor=listed.next_cursor, page_size=1)
    assert not rest.has_more and [d.name for d in rest.pronunciation_dictionaries] == ["Names"]

    got = client.pronunciation_dictionaries.get(from_file.id)
    assert got.latest_version_id == from_file.version_id and got.latest_version_rules_num == 2
    assert [(r.type, r.string_to_replace) for r in got.rules] == [("alias", "Nguyen"), ("phoneme", "tomato")]
    assert got.rules[1].phoneme == "təˈmɑːtoʊ" and got.rules[1].alphabet == "ipa"

    added = client.pronunciation_dictionaries.rules.add(
        from_rules.id, rules=[PronunciationDictionaryRule_Alias(string_to_replace="GUI", alias="gooey")])
    assert added.version_rules_num == 2 and added.version_id != from_rules.version_id
    removed = client.pronunciation_dictionaries.rules.remove(from_rules.id, rule_strings=["SQL"])
    assert removed.version_rules_num == 1
    replaced = client.pronunciation_dictionaries.rules.set(
        from_rules.id, rules=[PronunciationDictionaryRule_Alias(string_to_replace="UI", alias="you eye"),
                              PronunciationDictionaryRule_Alias(string_to_replace="UX", alias="you ex")])
    assert replaced.version_rules_num == 2
    assert [r.string_to_replace for r in client.pronunciation_dictionaries.get(from_rules.id).rules] == ["UI", "UX"]

    # Each version downloads as the PLS file it was.
    first = b"".join(client.pronunciation_dictionaries.download(from_rules.id, from_rules.version_id))
    latest = b"".join(client.pronunciation_dictionaries.download(from_rules.id, removed.version_id))
    assert [r.string_to_replace for r in parse_pls(first)] == ["SQL"]
    assert [r.string_to_replace for r in parse_pls(latest)] == ["GUI"]
    assert [(r.string_to_replace, r.alias, r.phoneme) for r in parse_pls(
        b"".join(client.pronunciation_dictionaries.download(from_file.id, from_file.version_id)))] == [
        ("Nguyen", "Win", None), ("tomato", None, "təˈmɑːtoʊ")]


def test_bad_input_is_refused_in_elevenlabs_shape_and_nothing_is_saved(make_server):
    server = make_server(asr="off")
    client = sdk(server)
    with pytest.raises(ApiError) as malformed:
        client.pronunciation_dictionaries.create_from_file(name="Broken", file=("x.pls", io.BytesIO(b"<lexicon>")))
    assert malformed.value.status_code == 400 and malformed.value.body["detail"]["status"] == "pls_invalid"
    with pytest.raises(ApiError) as looping:
        client.pronunciation_dictionaries.create_from_rules(
            name="Loop", rules=[AliasRule(string_to_replace="A1", alias="B1"),
                                AliasRule(string_to_replace="B1", alias="A1")])
    assert looping.value.body["detail"]["status"] == "pronunciation_rule_loop"
    assert client.pronunciation_dictionaries.list().pronunciation_dictionaries == []
    with pytest.raises(ApiError) as missing:
        client.pronunciation_dictionaries.get("00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404


def test_locators_apply_a_dictionary_to_speech(make_server, speech_clips, transcriber):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])["id"]
    jargon = client.pronunciation_dictionaries.create_from_rules(
        name="Names", rules=[AliasRule(string_to_replace="Nguyen", alias="Winston")])
    text = "My friend Nguyen called me this morning about the new project."
    with client.text_to_speech.with_raw_response.convert(
            voice, text=text, output_format="pcm_16000",
            pronunciation_dictionary_locators=[PronunciationDictionaryVersionLocator(
                pronunciation_dictionary_id=jargon.id, version_id=jargon.version_id)]) as response:
        pcm = b"".join(response.data)
        generation_id = response.headers["history-item-id"]
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    words = re.findall(r"[a-z']+", transcriber.transcribe(samples, 16000, "en").text.lower())
    assert "winston" in words and "nguyen" not in words and "project" in words
    with server.client() as http:
        assert http.get(f"/api/generations/{generation_id}").json()["spoken_text"] == text.replace("Nguyen", "Winston")
    # ElevenLabs' history shows the text as sent.
    assert client.history.get(generation_id).text == text

    with pytest.raises(ApiError) as unknown:
        b"".join(client.text_to_speech.convert(voice, text=text, pronunciation_dictionary_locators=[
            PronunciationDictionaryVersionLocator(pronunciation_dictionary_id=jargon.id, version_id=voice)]))
    assert unknown.value.status_code == 404
    assert unknown.value.body["detail"]["status"] == "pronunciation_version_not_found"
