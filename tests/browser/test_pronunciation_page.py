"""/pronunciation (issue 18): make a dictionary of rules, see a refused rule explained in place, make it a
voice's default, export it as PLS and import a lexicon file (a bad one refused), delete it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from utter.pronunciation.pls import parse_pls

from .conftest import api_clone, api_get, screenshot

pytestmark = pytest.mark.browser

LEXICON = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>Nguyen</grapheme><alias>Win</alias></lexeme>
</lexicon>
""".encode()


def fill_rule(row, word: str, says: str, kind: str = "alias") -> None:
    row.get_by_label("Word as written").fill(word)
    row.get_by_label("Kind").select_option(kind)
    row.get_by_label("Say it as").fill(says)


def test_make_edit_use_export_import_and_delete_a_dictionary(server, page, watch, speech_clips, tmp_path):
    watch.allow(r"status of 4\d\d")  # the refusals this test provokes on purpose
    voice = api_clone(server, speech_clips["wav"], "Narrator")
    page.goto(server.url + "/pronunciation")
    expect(page.locator("#dictionaries-status")).to_have_text("No dictionaries yet.")

    page.get_by_role("button", name="New dictionary").click()
    page.get_by_label("Name", exact=True).fill("Work words")
    rows = page.locator("#rules tr")
    fill_rule(rows.nth(0), "SQL", "sequel")
    page.get_by_role("button", name="Add a rule").click()
    fill_rule(rows.nth(1), "tomato", "təˈmɑːtoʊ", kind="phoneme")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#editor-status")).to_have_text("Saved: version 1, 2 rules.")
    expect(page.locator("#dictionaries > li")).to_have_count(1)
    expect(page.locator("#dictionaries > li")).to_contain_text("Work words 2 rules · version 1")

    # A rule whose alias another rule would rewrite is refused, explained, and nothing is saved.
    page.get_by_role("button", name="Add a rule").click()
    fill_rule(rows.nth(2), "sequel", "SQL")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#editor-error")).to_contain_text("rewrites again")
    [saved] = api_get(server, "/api/pronunciation-dictionaries")["dictionaries"]
    assert saved["version"] == 1 and [r["string_to_replace"] for r in saved["rules"]] == ["SQL", "tomato"]
    assert saved["rules"][1] == {"type": "phoneme", "string_to_replace": "tomato", "alias": None,
                                      "phoneme": "təˈmɑːtoʊ", "alphabet": "ipa", "case_sensitive": True,
                                      "word_boundaries": True}
    rows.nth(2).get_by_role("button", name="Remove this rule").click()
    rows.nth(0).get_by_label("Match case").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#editor-status")).to_have_text("Saved: version 2, 2 rules.")

    # The voice's default.
    page.get_by_label("Every text in this voice uses this dictionary").select_option(voice["id"])
    page.get_by_role("button", name="Use for this voice").click()
    expect(page.locator("#voices-using")).to_have_text("Used by: Narrator.")
    screenshot(page, "pronunciation-editor-desktop")
    assert api_get(server, f"/api/voices/{voice['id']}")["pronunciation_dictionary_id"] == saved["id"]

    # Export: the PLS file holds the rules as saved.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as PLS").click()
    download.value.save_as(tmp_path / "exported.pls")
    exported = parse_pls((tmp_path / "exported.pls").read_bytes())
    assert [(r.string_to_replace, r.alias, r.phoneme, r.case_sensitive) for r in exported] == [
        ("SQL", "sequel", None, False), ("tomato", None, "təˈmɑːtoʊ", True)]

    # Import: a broken file is refused in place; a good one becomes a dictionary.
    broken = tmp_path / "broken.pls"
    broken.write_bytes(b"<lexicon><lexeme>")
    page.get_by_label("PLS file").set_input_files(str(broken))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-error")).to_contain_text("not a readable XML lexicon")
    good = tmp_path / "names.pls"
    good.write_bytes(LEXICON)
    page.get_by_label("PLS file").set_input_files(str(good))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#dictionaries > li")).to_have_count(2)
    expect(page.locator("#editor-title")).to_have_text("Edit “names”")
    expect(page.locator("#rules tr").nth(0).get_by_label("Say it as")).to_have_value("Win")

    # Delete, after confirming.
    page.locator("#dictionaries > li").filter(has_text="Work words").get_by_role("button").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#dictionaries > li")).to_have_count(1)
    assert api_get(server, f"/api/voices/{voice['id']}")["pronunciation_dictionary_id"] is None


def test_the_generate_page_names_a_dictionary_for_one_text(server, page, speech_clips):
    voice = api_clone(server, speech_clips["wav"], "Narrator")
    with server.client() as client:
        client.post("/api/pronunciation-dictionaries", json={
            "name": "Guests", "rules": [{"string_to_replace": "Nguyen", "alias": "Winston"}]}).json()
    page.goto(server.url + "/generate")
    expect(page.locator("#generate-form[data-ready='true']")).to_have_count(1)
    page.get_by_label("Voice", exact=True).select_option(voice["id"])
    page.get_by_label("Pronunciation dictionary").select_option(label="Guests (1 rule)")
    page.get_by_label("Text", exact=True).fill("Nguyen called this morning.")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#result")).to_be_visible(timeout=30_000)
    [generation] = api_get(server, "/api/generations")["generations"]
    assert (generation["text"], generation["spoken_text"]) == ("Nguyen called this morning.",
                                                             "Winston called this morning.")
