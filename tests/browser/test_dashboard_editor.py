"""The slot editor: a tech types "HH03 / Pastor Mike", it is saved through PUT /api/slots
(with the write token when one is configured) and every open page follows live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashkit import DemoDaemon, http_json, tile, wait_live
from playwright.sync_api import expect

from micboardd.server.auth import hash_token

TOKEN = "stage-left-secret"


def edit_label(page: Any, slot: int, text: str) -> None:
    tile(page, slot).hover()
    page.get_by_role("button", name=f"Edit slot {slot}", exact=True).click()
    editor = page.locator("#editor")
    expect(editor).to_be_visible()
    label = editor.locator(f'tr[data-slot="{slot}"] .ed-label')
    expect(label).to_be_focused()
    label.fill(text)


def test_label_typed_in_editor_is_saved_and_other_pages_follow(
    demo: DemoDaemon, open_page: Any
) -> None:
    page = open_page(demo.url + "/")
    other = open_page(demo.url + "/?view=tv&group=Band", 1280, 720)
    wait_live(page, 24)
    wait_live(other, 12)
    edit_label(page, 3, "HH03 / Pastor Mike")
    page.locator("#editor").get_by_role("button", name="Save").click()
    expect(page.locator("#editor")).to_be_hidden()
    for p in (page, other):
        expect(tile(p, 3).locator(".t-id")).to_have_text("HH03")
        expect(tile(p, 3).locator(".t-name")).to_have_text("Pastor Mike", timeout=2000)
    saved = http_json(f"{demo.url}/api/state")["slots"][2]
    assert (saved["slot"], saved["label_id"], saved["label_name"]) == (3, "HH03", "Pastor Mike")

    # an empty name falls back to the receiver's own channel name
    edit_label(page, 1, "HH01 /")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#editor")).to_be_hidden()
    expect(tile(other, 1).locator(".t-name")).to_have_text("VOX MARA")

    # moving a slot to another group: the TV page of Band loses it
    page.keyboard.press("e")
    row = page.locator('#editor tr[data-slot="2"]')
    row.locator(".ed-group").fill("Talk show")
    page.locator("#editor").get_by_role("button", name="Save").click()
    expect(page.locator("#editor")).to_be_hidden()
    expect(other.locator(".tile")).to_have_count(11)
    expect(page.locator("#groups")).to_contain_text("Talk show")


def test_editor_refuses_bad_input_without_saving(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, 24)
    before = http_json(f"{demo.url}/api/state")["slots"]
    page.keyboard.press("e")
    page.locator('#editor tr[data-slot="4"] .ed-slot').fill("5")  # slot 5 twice
    page.locator("#editor").get_by_role("button", name="Save").click()
    expect(page.locator("#ed-msg")).to_contain_text("Slot 5 is listed twice")
    expect(page.locator("#editor")).to_be_visible()
    page.locator("#editor").get_by_role("button", name="Cancel").click()
    assert http_json(f"{demo.url}/api/state")["slots"] == before


@pytest.fixture(scope="module")
def token_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDaemon]:
    """A small demo whose writes need a token, even from loopback."""
    tmp = tmp_path_factory.mktemp("token-demo")
    config = {
        "devices": [{"id": "rx-1", "driver": "shure-ulxd", "host": "127.0.0.1",
                     "model": "ULXD4Q", "simulate": {"model": "ULXD4Q",
                                                     "names": ["VOX 1", "VOX 2"]}}],
        "slots": [{"slot": n, "channel": f"rx-1/{n}", "label_id": f"HH0{n}"}
                  for n in (1, 2, 3, 4)],
        "http": {"tokens": [{"name": "foh", "sha256": hash_token(TOKEN)}]},
    }
    path = Path(tmp) / "token-demo.json"
    path.write_text(json.dumps(config))
    d = DemoDaemon(Path(tmp) / "state", config=path).start()
    try:
        yield d
    finally:
        d.stop()


def test_write_token_is_asked_once_kept_and_sent(token_daemon: DemoDaemon, open_page: Any) -> None:
    page = open_page(token_daemon.url + "/")
    wait_live(page, 4)
    editor = page.locator("#editor")
    edit_label(page, 2, "HH02 / Pastor Mike")
    editor.get_by_role("button", name="Save").click()
    expect(page.locator("#ed-msg")).to_contain_text("needs a write token")
    token_box = editor.get_by_label("Write token")
    expect(token_box).to_be_focused()
    token_box.fill("not-the-token")
    editor.get_by_role("button", name="Save").click()
    expect(page.locator("#ed-msg")).to_contain_text("refused this token")
    expect(tile(page, 2).locator(".t-name")).to_have_text("VOX 2")
    token_box.fill(TOKEN)
    with page.expect_request("**/api/slots") as req:
        editor.get_by_role("button", name="Save").click()
    assert req.value.headers["authorization"] == f"Bearer {TOKEN}"
    expect(editor).to_be_hidden()
    expect(tile(page, 2).locator(".t-name")).to_have_text("Pastor Mike")
    assert page.evaluate("() => localStorage.getItem('micboardd.token')") == TOKEN

    # the next visit uses the kept token without asking
    page.reload()
    wait_live(page, 4)
    edit_label(page, 4, "BP01 / Guitar")
    editor.get_by_role("button", name="Save").click()
    expect(editor).to_be_hidden()
    expect(tile(page, 4).locator(".t-name")).to_have_text("Guitar")


def test_editor_renames_the_receiver_channel_within_its_limit(
    demo: DemoDaemon, open_page: Any
) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, 24)
    page.keyboard.press("e")
    row = page.locator('#editor tr[data-slot="3"]')  # rx-band-a/3, a ULX-D: 8 characters
    name = row.locator(".ed-rxname")
    expect(name).to_have_value("BV PRIYA")
    # the family's limit is shown before saving, and typing stops there
    expect(name).to_have_attribute("maxlength", "8")
    expect(row.locator(".ed-limit")).to_have_text("8/8")
    name.fill("")
    name.press_sequentially("PASTOR MIKE")
    expect(name).to_have_value("PASTOR M")
    expect(row.locator(".ed-limit")).to_have_text("8/8")
    name.fill("PASTOR")
    expect(row.locator(".ed-limit")).to_have_text("6/8")
    page.locator("#editor").get_by_role("button", name="Save").click()
    expect(page.locator("#editor")).to_be_hidden()
    assert http_json(f"{demo.url}/api/state")["channels"]["rx-band-a/3"]["name"] == "PASTOR"
    # a name the receiver cannot take: its refusal is said, with the slot
    page.keyboard.press("e")
    name.fill("PR\u00caTRE")
    page.locator("#editor").get_by_role("button", name="Save").click()
    msg = page.locator("#ed-msg")
    expect(msg).to_have_attribute("data-kind", "error")
    expect(msg).to_contain_text(
        "Slot 3: the receiver did not take the name \u201cPR\u00caTRE\u201d")
    expect(msg).to_contain_text("ASCII")
    expect(page.locator("#editor")).to_be_visible()  # nothing lost: fix it and save again
    assert http_json(f"{demo.url}/api/state")["channels"]["rx-band-a/3"]["name"] == "PASTOR"
