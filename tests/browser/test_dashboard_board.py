"""Issue #18 in real Chromium against the demo daemon: a photo uploaded from the editor
appears on the right tile in every open page; the QR code decodes (with jsQR, a decoder
the page does not use) to the board's URL with its view and group; names pasted in bulk
land in the preview, then in the slots, as one audited change; a BLANK tile keeps its
place and a manual slot shows as not monitored; charts draw and hide per group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dashkit import DemoDaemon, http_json, tile, wait_live
from photokit import phone_photo
from playwright.sync_api import expect

JSQR = Path(__file__).with_name("vendor") / "jsqr" / "jsQR.js"

DECODE = """(canvas) => {
  const g = canvas.getContext("2d");
  const img = g.getImageData(0, 0, canvas.width, canvas.height);
  const found = jsQR(img.data, img.width, img.height);
  return found ? found.data : null;
}"""

INK = """(canvas) => {
  const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


def audit_actions(demo: DemoDaemon) -> list[str]:
    return [a["action"] for a in http_json(f"{demo.url}/api/audit")["audit"]]


def open_editor(page: Any) -> Any:
    page.keyboard.press("e")
    editor = page.locator("#editor")
    expect(editor).to_be_visible()
    return editor


def save(page: Any) -> None:
    page.locator("#editor").get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#editor")).to_be_hidden()


def photo_of(page: Any, slot: int) -> Any:
    return tile(page, slot).locator("img.t-photo-img")


def test_an_uploaded_photo_appears_on_the_right_tile_in_every_open_page(
        demo: DemoDaemon, open_page: Any, tmp_path: Path) -> None:
    desk = open_page(demo.url + "/")
    tv = open_page(demo.url + "/?view=tv&group=Band", 1280, 720)
    storage = open_page(demo.url + "/?view=photo&group=Band", 1080, 1920)
    for p, n in ((desk, 24), (tv, 12), (storage, 12)):
        wait_live(p, n)
    photo = tmp_path / "IMG_2041.JPG"
    photo.write_bytes(phone_photo(7))
    editor = open_editor(desk)
    # slot 3 shows "Priya \u2013 BV": the photo goes with that name (as in Micboard)
    with desk.expect_file_chooser() as chooser:
        editor.get_by_role("button", name="Photo of slot 3", exact=True).click()
    chooser.value.set_files(str(photo))
    expect(desk.locator("#ed-msg")).to_have_text("Photo of \u201cPriya \u2013 BV\u201d saved.",
                                                 timeout=20_000)
    [entry] = http_json(f"{demo.url}/api/photos")["photos"]
    assert entry["key"] == "name:priya \u2013 bv" and entry["source"]["bytes"] == len(
        photo.read_bytes())
    for p in (tv, storage):
        img = photo_of(p, 3)
        expect(img).to_have_attribute("src", entry["jpeg"])
        expect(img).to_be_visible()
        # decoded by the browser: the stored photo, at its size
        p.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                            arg=img.element_handle())
        assert img.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [
            entry["width"], entry["height"]]
        assert photo_of(p, 2).count() == 0 and photo_of(p, 4).count() == 0
    expect(editor.locator('tr[data-slot="3"] .ed-thumb')).to_have_attribute("src", entry["jpeg"])

    # dropped on slot 5's row, for the slot: the file comes from the page (drag and drop)
    editor.get_by_label("the slot").check()
    desk.evaluate("""async ([url]) => {
      const blob = await (await fetch(url)).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], "bass.jpg", { type: "image/jpeg" }));
      const row = document.querySelector('#ed-slots tr[data-slot="5"]');
      row.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true,
        cancelable: true }));
      row.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true,
        cancelable: true }));
    }""", [entry["jpeg"]])
    expect(desk.locator("#ed-msg")).to_have_text("Photo of slot 5 saved.", timeout=20_000)
    expect(photo_of(tv, 5)).to_be_visible()
    assert http_json(f"{demo.url}/api/state")["photos"]["slot:5"]["source"]["format"] == "JPEG"
    # removed from the editor: gone from every page
    editor.get_by_role("button", name="Remove the photo of slot 5").click()
    expect(desk.locator("#ed-msg")).to_have_text("Photo removed.")
    expect(photo_of(tv, 5)).to_have_count(0)
    expect(photo_of(storage, 5)).to_have_count(0)
    expect(photo_of(storage, 3)).to_be_visible()
    editor.get_by_role("button", name="Cancel").click()
    actions = audit_actions(demo)
    assert actions.count("photo") == 2 and actions.count("photo.remove") == 1


def test_the_qr_code_decodes_to_the_boards_url(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/?group=Talk%20show")
    wait_live(page)
    page.get_by_role("button", name="QR code of this board (q)").click()
    canvas = page.locator("#qr-code")
    expect(canvas).to_have_attribute("data-url", page.url)
    page.add_script_tag(path=str(JSQR))
    assert canvas.evaluate(DECODE) == page.url == demo.url + "/?group=Talk%20show"
    # 127.0.0.1 is this computer: the page says so; the address typed in is encoded
    expect(page.locator("#qr-note")).to_be_visible()
    page.locator("#qr-url").fill("http://foh-mac.local:8058/?group=Talk+show")
    expect(canvas).to_have_attribute("data-url", "http://foh-mac.local:8058/?group=Talk+show")
    assert canvas.evaluate(DECODE) == "http://foh-mac.local:8058/?group=Talk+show"
    expect(page.locator("#qr-note")).to_be_hidden()
    page.keyboard.press("Escape")
    # in the TV view (no toolbar) the key opens it, with the view in the address
    page.keyboard.press("t")
    page.keyboard.press("q")
    expect(canvas).to_have_attribute("data-url", demo.url + "/?group=Talk+show&view=tv")
    assert canvas.evaluate(DECODE) == demo.url + "/?group=Talk+show&view=tv"


def test_pasted_names_land_in_the_preview_then_in_the_slots(
        demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, 24)
    editor = open_editor(page)
    editor.get_by_text("Paste names from a spreadsheet").click()
    editor.get_by_label("First slot the names land on").fill("9")
    # two columns, as a spreadsheet copies them: ID and name
    paste = "LAV1\tDana Whitfield\nLAV2\tOscar Lindqvist\nLAV3\tAmara Okafor\n"
    editor.get_by_label("Names to paste, one per line").fill(paste)
    preview = editor.locator("#ed-bulk-preview tr")
    expect(preview).to_have_count(3)
    expect(preview.nth(0)).to_have_text("9LAV1 / Dana \u2013 hostLAV1 / Dana Whitfield")
    expect(preview.nth(2)).to_have_text("11LAV3 / Guest 2LAV3 / Amara Okafor")
    assert http_json(f"{demo.url}/api/state")["slots"][8]["label_name"] == "Dana \u2013 host"
    editor.get_by_role("button", name="Put into the slots").click()
    expect(editor.locator('tr[data-slot="10"] .ed-label')).to_have_value("LAV2 / Oscar Lindqvist")
    layouts = audit_actions(demo).count("layout")
    save(page)
    expect(tile(page, 10).locator(".t-name")).to_have_text("Oscar Lindqvist")
    expect(tile(page, 11).locator(".t-name")).to_have_text("Amara Okafor")
    slots = {s["slot"]: s for s in http_json(f"{demo.url}/api/state")["slots"]}
    assert [slots[n]["label_name"] for n in (9, 10, 11, 12)] == [
        "Dana Whitfield", "Oscar Lindqvist", "Amara Okafor", "Guest 3 / handheld"]
    assert audit_actions(demo).count("layout") == layouts + 1
    # one column of names, pasted again the same: saving it changes nothing
    editor = open_editor(page)
    editor.get_by_label("First slot the names land on").fill("9")
    editor.get_by_label("Names to paste, one per line").fill(
        "Dana Whitfield\nOscar Lindqvist\nAmara Okafor")
    expect(editor.locator("#ed-bulk-preview tr .ed-bulk-after").nth(1)).to_have_text(
        "LAV2 / Oscar Lindqvist")
    editor.get_by_role("button", name="Put into the slots").click()
    save(page)
    assert audit_actions(demo).count("layout") == layouts + 1


def test_a_blank_tile_keeps_its_place_and_a_manual_slot_is_not_monitored(
        demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    tv = open_page(demo.url + "/?view=tv&group=IEM", 1280, 720)
    wait_live(page, 24)
    wait_live(tv, 3)
    editor = open_editor(page)
    editor.get_by_label("Kind of slot 19").select_option("blank")
    editor.get_by_role("button", name="Add slot").click()
    row = editor.locator('tr[data-slot="25"]')
    row.get_by_label("Kind of slot 25").select_option("manual")
    row.locator(".ed-label").fill("PSM9 / Priya wedge pack")
    row.locator(".ed-group").fill("IEM")
    row.get_by_label("Note of slot 25").fill("no network: check by hand")
    save(page)
    blank = tile(page, 19)
    expect(blank).to_have_attribute("data-kind", "blank")
    order = page.locator(".tile").evaluate_all("ts => ts.map(t => t.dataset.slot)")
    assert order[17:20] == ["18", "19", "20"]  # the blank keeps slot 19's place
    manual = tile(tv, 25)
    expect(manual).to_have_attribute("data-kind", "manual")
    expect(manual.locator(".t-name")).to_have_text("Priya wedge pack")
    expect(manual.locator(".t-note")).to_have_text("no network: check by hand")
    expect(manual.locator(".t-status")).to_have_text("MANUAL")
    expect(tv.locator(".tile")).to_have_count(4)
    state = http_json(f"{demo.url}/api/state")
    placeholders = [s for s in state["slots"] if s["kind"] != "rx"]
    assert [(s["slot"], s["kind"], s["channel"]) for s in placeholders] == [
        (19, "blank", None), (25, "manual", None)]
    assert not [a for a in state.get("alerts", {}).values() if a.get("slot") in (19, 25)]
    assert manual.locator("canvas.t-chart").count() == 0


def test_charts_draw_and_hide_per_group(demo: DemoDaemon, open_page: Any) -> None:
    page = open_page(demo.url + "/")
    wait_live(page, 25)  # the demo's 24 and the manual slot added above
    chart = tile(page, 1).locator("canvas.t-chart")
    expect(chart).to_have_count(1)
    page.wait_for_function(f"(c) => ({INK})(c) > 0", arg=chart.element_handle())
    # the levels drawn are the tile's: RF and audio noted from the meters received
    noted = page.evaluate("""() => {
      const w = window.micboard.board.charts.window("rx-band-a/1");
      const last = (a) => [...a].filter((v) => !Number.isNaN(v)).pop();
      return [last(w.rf), last(w.af)];
    }""")
    ch = http_json(f"{demo.url}/api/state")["channels"]["rx-band-a/1"]
    assert noted == [ch["rf"]["level_pct"], ch["audio"]["level_pct"]]
    editor = open_editor(page)
    band = editor.locator("#ed-groups tr").filter(has=page.locator('input[value="Band"]'))
    band.get_by_label("Live charts on this group's tiles").uncheck()
    save(page)
    expect(chart).to_have_count(0)
    expect(tile(page, 9).locator("canvas.t-chart")).to_have_count(1)  # Talk show keeps them
    groups = {g["name"]: g for g in http_json(f"{demo.url}/api/state")["groups"]}
    assert groups["Band"]["charts"] is False and groups["Talk show"]["charts"] is True
