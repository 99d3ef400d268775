"""Odd input a hostile or careless client sends gets a clear 4xx with a stable code, never a 500."""

from __future__ import annotations

import pytest

from tests.api.test_bad_input import assert_error, post_clone
from tests.compat.helpers import upload_voice


@pytest.fixture
def voice(client, speech_clips):
    return upload_voice(client, speech_clips["wav"])


def test_a_lone_surrogate_in_text_is_refused(client, voice):
    # JSON may carry an unpaired surrogate escape; it is not text any engine or database can take.
    response = client.post("/api/generate", content='{"voice_id": "%s", "text": "Hello \\ud800 there."}' % voice["id"],
                           headers={"content-type": "application/json"})
    assert_error(response, 422, "text_invalid", "text")


def test_a_lone_surrogate_in_a_transcript_is_refused(client, voice):
    response = client.patch(f"/api/voices/{voice['id']}", content='{"transcript": "Hi \\udfff."}',
                            headers={"content-type": "application/json"})
    assert_error(response, 422, "text_invalid", "transcript")


@pytest.mark.parametrize("text", ["\u200b\u200c\u200d\ufeff", "\x00\x01\x02", " \u2060 \u00ad "])
def test_text_with_nothing_to_say_is_refused_up_front(client, voice, text):
    response = client.post("/api/generate", json={"voice_id": voice["id"], "text": text})
    assert_error(response, 422, "text_empty", "text")


def test_names_lose_control_and_direction_override_characters(client, voice):
    response = client.patch(f"/api/voices/{voice['id']}", json={"name": "Evil\u202e\x00\x07 Name\u200f"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Evil Name"
    assert_error(client.patch(f"/api/voices/{voice['id']}", json={"name": "\u202e\x00"}), 422, "name_missing", "name")


def test_a_nul_in_a_stored_file_path_is_not_found(client):
    assert_error(client.get("/uploads/references/%00.wav"), 404, "file_not_found")


def test_a_long_file_name_is_kept_short_and_an_absurd_one_refused(client, speech_clips):
    response = post_clone(client, content=speech_clips["wav"].read_bytes(), filename="x" * 1000 + ".wav")
    assert response.status_code == 201, response.text
    assert len(response.json()["original_filename"]) <= 255
    # The multipart parser refuses a header this long: a clear 400, not a crash.
    refused = post_clone(client, content=speech_clips["wav"].read_bytes(), filename="x" * 5000 + ".wav")
    assert_error(refused, 400, "invalid_request")


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=-1", "limit=0", "limit=100000"])
def test_out_of_range_paging_is_a_422(client, query):
    assert client.get(f"/api/generations?{query}").status_code == 422


def test_an_oversized_page_token_is_a_clear_error(client):
    response = client.get("/v2/voices", params={"next_page_token": "9" * 5000})
    assert response.status_code == 400 and response.json()["detail"]["status"] == "invalid_page_token"
