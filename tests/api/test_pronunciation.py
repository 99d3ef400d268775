"""Pronunciation dictionaries over HTTP (issue 18), heard by a speech recogniser in real Piper speech:
the alias is heard and the word it replaces is not, other words are left alone, a phoneme spelling
is spoken by Piper; dictionaries attach to one request or to a voice; PLS files go in and out; bad
rules and files are refused whole with nothing saved."""

from __future__ import annotations

import re

import pytest

from tests.compat.helpers import upload_voice
from tests.support.app_fixtures import wait_for_generation
from utter.audio import codec

RATE = 22050
TEXT = "My friend Nguyen called me this morning about the new MySQL project."
BASE = "/api/pronunciation-dictionaries"


def heard(client, transcriber, generation: dict) -> list[str]:
    """The words the recogniser hears in a finished generation, lower case, without punctuation."""
    done = wait_for_generation(client, generation["status_url"])
    assert done["status"] == "done", done
    samples = codec.decode(client.get(done["audio_url"]).content, target_rate=RATE).samples
    return re.findall(r"[a-z0-9']+", transcriber.transcribe(samples, RATE, "en").text.lower())


def generate(client, voice: str, text: str, dictionaries=()) -> dict:
    response = client.post("/api/generate", json={"voice_id": voice, "text": text,
                                                  "pronunciation_dictionary_ids": list(dictionaries)})
    assert response.status_code == 202, response.text
    return response.json()


def dictionary(client, rules, name="Work words") -> dict:
    response = client.post(BASE, json={"name": name, "rules": rules})
    assert response.status_code == 201, response.text
    return response.json()


def test_an_alias_is_heard_instead_of_the_word_and_other_words_are_left_alone(make_server, speech_clips, transcriber):
    server = make_server(asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        words = dictionary(client, [{"string_to_replace": "Nguyen", "alias": "Winston"},
                                    {"string_to_replace": "SQL", "alias": "sequel"}])
        plain = heard(client, transcriber, generate(client, voice, TEXT))
        queued = generate(client, voice, TEXT, [words["id"]])
        # Only whole words are rewritten: "SQL" inside "MySQL" is left alone.
        assert (queued["text"], queued["spoken_text"]) == (
            TEXT, "My friend Winston called me this morning about the new MySQL project.")
        ruled = heard(client, transcriber, queued)
    assert "winston" in ruled and "nguyen" not in ruled
    assert "winston" not in plain  # Piper says the name its own way without the rule
    for word in ("friend", "morning", "new", "project"):
        assert word in plain and word in ruled


def test_a_phoneme_spelling_is_spoken_by_piper(make_server, speech_clips, transcriber):
    server = make_server(asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        # A made-up word, spelt in IPA (espeak-ng's, as Piper reads it) as "banana".
        fruit = dictionary(client, [{"type": "phoneme", "string_to_replace": "Xyloq", "phoneme": "bɐnˈænə",
                                     "alphabet": "ipa"}], name="Fruit")
        assert "banana" not in heard(client, transcriber, generate(client, voice, "I would like one Xyloq for lunch."))
        queued = generate(client, voice, "I would like one Xyloq for lunch.", [fruit["id"]])
        assert queued["spoken_text"] == "I would like one [[ bɐnˈænə ]] for lunch."
        assert "banana" in heard(client, transcriber, queued)
        unknown = dictionary(client, [{"type": "phoneme", "string_to_replace": "Bach", "phoneme": "bɑ☃",
                                       "alphabet": "ipa"}], name="Composers")
        refused = client.post("/api/generate", json={"voice_id": voice, "text": "Bach wrote it.",
                                                     "pronunciation_dictionary_ids": [unknown["id"]]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "pronunciation_phoneme_unknown"


def test_a_voice_uses_its_default_dictionary_after_the_requests_own(client, speech_clips):
    voice = upload_voice(client, speech_clips["wav"])["id"]
    default = dictionary(client, [{"string_to_replace": "SQL", "alias": "sequel"},
                                  {"string_to_replace": "Nguyen", "alias": "Win"}], name="Voice words")
    changed = client.patch(f"/api/voices/{voice}", json={"pronunciation_dictionary_id": default["id"]})
    assert changed.status_code == 200 and changed.json()["pronunciation_dictionary_id"] == default["id"]
    assert generate(client, voice, "Nguyen likes SQL.")["spoken_text"] == "Win likes sequel."
    request_words = dictionary(client, [{"string_to_replace": "SQL", "alias": "ess queue ell"}], name="Request words")
    # The request's dictionary comes first; the voice's still covers the rest.
    assert generate(client, voice, "Nguyen likes SQL.", [request_words["id"]])["spoken_text"] == (
        "Win likes ess queue ell.")

    assert client.delete(f"{BASE}/{default['id']}").status_code == 204
    assert client.get(f"/api/voices/{voice}").json()["pronunciation_dictionary_id"] is None
    listed = client.get("/api/voices").json()["voices"]
    assert listed[0]["pronunciation_dictionary_id"] is None  # the cached list noticed too
    assert generate(client, voice, "Nguyen likes SQL.")["spoken_text"] is None
    missing = client.patch(f"/api/voices/{voice}", json={"pronunciation_dictionary_id": default["id"]})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "pronunciation_dictionary_not_found"


def test_edits_make_versions_and_every_version_exports_as_pls(client):
    made = dictionary(client, [{"string_to_replace": "SQL", "alias": "sequel"}])
    first_version = made["latest_version_id"]
    edited = client.patch(f"{BASE}/{made['id']}", json={"name": "Renamed", "rules": [
        {"string_to_replace": "SQL", "alias": "sequel"}, {"string_to_replace": "nyc", "alias": "New York City",
                                                          "case_sensitive": False}]}).json()
    assert (edited["name"], edited["version"], edited["rules_count"]) == ("Renamed", 2, 2)
    assert edited["latest_version_id"] != first_version
    old = client.get(f"{BASE}/{made['id']}/pls", params={"version_id": first_version})
    new = client.get(edited["pls_url"])
    assert old.headers["content-type"].startswith("application/pls+xml")
    assert 'filename="Renamed.pls"' in new.headers["content-disposition"]
    assert old.content.count(b"<lexeme") == 1 and new.content.count(b"<lexeme") == 2

    # Round trip: the exported file imports as a dictionary with the same rules.
    imported = client.post(f"{BASE}/import", files={"file": ("again.pls", new.content, "application/pls+xml")})
    assert imported.status_code == 201, imported.text
    assert imported.json()["name"] == "again" and imported.json()["rules"] == edited["rules"]


@pytest.mark.parametrize(("rules", "code"), [
    ([{"string_to_replace": "SQL", "alias": "SQL server"}], "pronunciation_rule_loop"),
    ([{"string_to_replace": "SQL", "alias": "sequel", "word_boundaries": False}], "pronunciation_rule_invalid"),
    ([{"type": "phoneme", "string_to_replace": "a", "phoneme": "AH0", "alphabet": "cmu-arpabet"}],
     "pronunciation_alphabet_unsupported"),
])
def test_unusable_rules_are_refused_and_nothing_is_saved(client, rules, code):
    refused = client.post(BASE, json={"name": "Bad", "rules": rules})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == code
    assert refused.json()["error"]["field"] == "rules"
    good = dictionary(client, [{"string_to_replace": "SQL", "alias": "sequel"}])
    again = client.patch(f"{BASE}/{good['id']}", json={"name": "Changed", "rules": rules})
    assert again.status_code == 422
    kept = client.get(f"{BASE}/{good['id']}").json()
    assert (kept["name"], kept["version"]) == ("Work words", 1)  # the name was not changed either
    assert client.get(BASE).json()["total"] == 1


def test_a_bad_pls_file_is_refused_and_nothing_is_saved(client):
    for data, status, code in [
        (b"<lexicon><lexeme><grapheme>SQL</grapheme>", 422, "pls_invalid"),
        (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY e SYSTEM "file:///etc/passwd">]><lexicon/>', 422, "pls_invalid"),
        (b"<lexicon>" + b" " * 1_000_001 + b"</lexicon>", 413, "pls_too_large"),
    ]:
        refused = client.post(f"{BASE}/import", files={"file": ("bad.pls", data, "application/pls+xml")})
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code)
        assert refused.json()["error"]["field"] == "file"
    assert client.get(BASE).json()["total"] == 0


def test_a_text_the_rules_would_make_too_long_is_refused_and_not_queued(make_server, speech_clips):
    server = make_server(asr="off", max_text_chars=60)
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        long_alias = dictionary(client, [{"string_to_replace": "UN", "alias": "the United Nations General Assembly"}])
        refused = client.post("/api/generate", json={"voice_id": voice, "text": "The UN met. The UN spoke.",
                                                     "pronunciation_dictionary_ids": [long_alias["id"]]})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "pronunciation_too_long" and "60" in refused.json()["error"]["message"]
        unknown = client.post("/api/generate", json={"voice_id": voice, "text": "Hello.",
                                                     "pronunciation_dictionary_ids": [voice]})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "pronunciation_dictionary_not_found"
        assert client.get("/api/generations").json()["total"] == 0
