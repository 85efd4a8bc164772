// Names in bulk: a column pasted from a spreadsheet (the cast list from stage management)
// lands on the slots in order. One column: names. Two columns (tab-separated, as a
// spreadsheet copies them): ID and name. Pure functions: the editor shows the plan as a
// preview, then puts it into its rows; saving is the editor's one PUT /api/slots.

const MAX_ID = 16;
const MAX_NAME = 64;

/** The pasted text as rows [{id, name}] (id undefined with one column). */
export function parseBulk(text) {
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
  while (lines.length && !lines[0].trim()) lines.shift();
  const cells = lines.map((l) => l.split("\t").map((c) => c.trim()));
  const two = cells.length > 0 && cells.every((c) => c.length === 2)
    && cells.some((c) => c[0] !== "");
  return cells.map((c) => (two ? { id: c[0], name: c[1] } : { name: c.join(" ").trim() }));
}

/**
 * What lands where: [{slot, before: {label_id, label_name}, after: {...}}] for the
 * slots from `start` on, in slot order, skipping BLANK spacers; rows past the last slot
 * are returned as `left` (not applied).
 */
export function planBulk(slots, rows, start = null) {
  const targets = slots.filter((s) => s.kind !== "blank"
    && (start === null || s.slot >= start)).sort((a, b) => a.slot - b.slot);
  const plan = [];
  const problems = [];
  rows.forEach((r, i) => {
    const s = targets[i];
    if (!s) return;
    const after = { label_id: s.label_id ?? null, label_name: r.name || null };
    if (r.id !== undefined) after.label_id = r.id || null;
    if (after.label_id && after.label_id.length > MAX_ID) {
      problems.push(`line ${i + 1}: the ID "${after.label_id}" is longer than ${MAX_ID}`);
    }
    if (after.label_name && after.label_name.length > MAX_NAME) {
      problems.push(`line ${i + 1}: the name is longer than ${MAX_NAME} characters`);
    }
    plan.push({ slot: s.slot, before: { label_id: s.label_id ?? null,
      label_name: s.label_name ?? null }, after });
  });
  return { plan, left: rows.slice(targets.length), problems };
}
