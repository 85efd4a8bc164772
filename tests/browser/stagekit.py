"""Helpers for the stage-screen tests: a demo configuration with 32 slots in groups of 8
and 16, what the page measures of its tiles (font sizes, text cut or outside its tile),
and axe-core, vendored under tests/browser/vendor/ (a test tool, never served)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashkit import DEMO_CONFIG

AXE = Path(__file__).with_name("vendor") / "axe-core" / "axe.min.js"

EIGHT, SIXTEEN = "Eight", "Sixteen"


def stage_config(path: Path) -> Path:
    """The demo with 32 slots: group Eight has 8, Sixteen 16 and all of them 32. Labels and
    names are the demo's, the longest ones included."""
    config = json.loads(DEMO_CONFIG.read_text())
    base = config["slots"]
    slots = []
    for i in range(32):
        b = base[i % len(base)]
        group = EIGHT if i < 8 else SIXTEEN if i < 24 else "Rest"
        slots.append({"slot": i + 1, "channel": b["channel"],
                      "label_id": f"{b['label_id'][:2]}{i + 1:02d}",
                      "label_name": b["label_name"], "group": group})
    config["slots"] = slots
    config["groups"] = [{"name": EIGHT, "key": "1"}, {"name": SIXTEEN, "key": "2"},
                        {"name": "Rest", "key": "3"}]
    path.write_text(json.dumps(config, indent=1))
    return path


#: in the page: per tile the font sizes of its parts, and every piece of text that is cut
#: (an ancestor inside the tile scrolls or ellipsizes it) or lies outside its tile
MEASURE = """() => {
  const px = (e) => (e ? parseFloat(getComputedStyle(e).fontSize) : null);
  const shown = (e) => e.offsetParent !== null && !e.closest("[hidden]");
  const out = [];
  for (const t of document.querySelectorAll(".tile")) {
    const tr = t.getBoundingClientRect();
    const others = [...t.querySelectorAll(".t-note, .t-pct, .t-model, .m-lbl, .m-val, .ant, "
      + ".t-freq, .badge")].filter(shown).map(px);
    const problems = [];
    const walker = document.createTreeWalker(t, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const text = node.textContent.trim();
      const el = node.parentElement;
      if (!text || !shown(el)) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) {
        if (r.width > 0 && (r.left < tr.left - 0.5 || r.right > tr.right + 0.5
            || r.top < tr.top - 0.5 || r.bottom > tr.bottom + 0.5)) {
          problems.push(`"${text}" outside its tile`);
        }
      }
      for (let a = el; a && a !== t; a = a.parentElement) {
        if (a.scrollWidth > a.clientWidth + 1 || a.scrollHeight > a.clientHeight + 1) {
          if (getComputedStyle(a).overflow !== "visible") {
            problems.push(`"${text}" cut (${a.className})`);
            break;
          }
        }
      }
    }
    out.push({ slot: t.dataset.slot, w: tr.width, h: tr.height,
      label: px(t.querySelector(".t-id")), name: px(t.querySelector(".t-name")),
      status: px(t.querySelector(".t-status")), time: px(t.querySelector(".t-time")),
      other: Math.min(...others), problems });
  }
  return out;
}"""


def measure(page: Any) -> list[dict[str, Any]]:
    # two animation frames: the board has drawn and the layout has settled
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => "
                  "requestAnimationFrame(r)))")
    result: list[dict[str, Any]] = page.evaluate(MEASURE)
    return result


def axe_violations(page: Any, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A/AA and best practice)."""
    # a panel fading in is not what anyone reads: judge the page at rest
    page.wait_for_function("() => document.getAnimations().every((a) =>"
                           " a.playState !== 'running')")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: list[dict[str, Any]] = page.evaluate(
        """async (exclude) => {
          const r = await axe.run({ exclude: exclude.map((s) => [s]) },
            { resultTypes: ["violations"] });
          return r.violations.map((v) => ({ id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: "
              + n.failureSummary) }));
        }""", exclude or [])
    return result
