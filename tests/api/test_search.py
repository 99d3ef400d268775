"""Searching the library by name finds names written in any alphabet, whatever their case, on both databases."""

from __future__ import annotations

from tests.api.test_flow import clone


def test_voice_search_folds_case_beyond_ascii(client, speech_clips):
    for name in ("Élodie Martin", "Дмитрий", "Plain Name"):
        assert clone(client, speech_clips["wav"], name=name).status_code == 201

    def found(term):
        return [v["name"] for v in client.get("/api/voices", params={"search": term}).json()["voices"]]

    assert found("élodie") == ["Élodie Martin"]
    assert found("ДМИТ") == ["Дмитрий"]
    assert found("plain") == ["Plain Name"]
