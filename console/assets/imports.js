// Filling the catalog from outside (SPEC §8, §12): a LiteLLM catalog file (a dry run
// shows every row's outcome, then the import stores it) and an LLM-assisted proposal
// (a source sent through one of the gateway's groups; the operator reviews the proposal
// field by field against the stored entry, with each field's confidence, and saves the
// fields they accept through the catalog's guarded PUT). Uses models.js's field helpers.
"use strict";

// === LiteLLM catalog file ===

const SHOWN_ROWS = 500;

// Both pages write (the dry run and the proposal need the writer's role too).
function adminsOnly(el, title) {
  if (isAdmin()) return false;
  el.replaceChildren(h("h1", {}, title), h("p", { class: "muted" }, "Only admins import into the catalog."));
  return true;
}

async function importFilePage(el) {
  if (adminsOnly(el, "Import a catalog file")) return;
  const file = h("input", { type: "file", id: "import-file", accept: ".json,application/json" });
  const result = h("div", { id: "import-result" });
  const go = h("button", { type: "button", id: "import-run", hidden: true }, "Import");
  let text = null;
  const run = async (dryRun) => {
    result.replaceChildren(h("p", { class: "muted" }, dryRun ? "Checking every row…" : "Importing…"));
    try {
      const { data } = await api("POST", "/models/import-file?dry_run=" + dryRun, { raw: text });
      result.replaceChildren(importSummary(data));
      go.hidden = !dryRun || data.failed > 0 || data.created + data.updated === 0;
      if (!dryRun) toast(`Imported: ${data.created} created, ${data.updated} updated`);
    } catch (e) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, e.detail()));
    }
  };
  file.addEventListener("change", async () => {
    go.hidden = true;
    if (!file.files.length) return;
    text = await file.files[0].text();
    await run(true);
  });
  go.addEventListener("click", () => run(false));
  el.replaceChildren(h("h1", {}, "Import a catalog file"),
    h("p", {}, "A file in LiteLLM's model_prices_and_context_window.json format (up to 16 MiB). Choosing it runs a dry run: every row's outcome, nothing stored. ",
      "Import then merges what the file states over the stored entries (provenance file); fields it does not state stay."),
    h("div", { class: "toolbar" }, h("div", {}, h("label", { for: "import-file" }, "Catalog file"), file), go), result,
    h("p", {}, h("a", { href: "#/models" }, "Back to the models")));
}

function importSummary(d) {
  const counts = ["mapped", "skipped", "created", "updated", "unchanged", "failed"].map((k) => `${d[k]} ${k}`).join(" · ");
  const status = h("select", { id: "import-status", "aria-label": "rows with status" }, h("option", { value: "" }, "every row"),
    [...new Set(d.rows.map((r) => r.status))].map((s) => h("option", { value: s }, s)));
  const body = h("tbody");
  const render = () => {
    const rows = d.rows.filter((r) => !status.value || r.status === status.value);
    body.replaceChildren(...rows.slice(0, SHOWN_ROWS).map((r) => h("tr", { "data-row": r.key, class: r.status === "failed" ? "error" : null },
      h("td", {}, r.key), h("td", {}, r.id ? h("a", { href: modelHref(r.id) }, r.id) : "–"), h("td", {}, r.status),
      h("td", {}, (r.problems || []).map(problemText).join("; ") || "–"))));
    note.textContent = rows.length > SHOWN_ROWS ? `Showing the first ${SHOWN_ROWS} of ${rows.length} rows.` : `${rows.length} row(s).`;
  };
  const note = h("p", { class: "muted" });
  status.addEventListener("change", render);
  const wrap = h("div", {}, h("p", { id: "import-counts", role: "status" }, (d.dry_run ? "Dry run: " : "Imported: ") + counts),
    h("div", { class: "toolbar" }, h("label", { for: "import-status" }, "Show"), status), note,
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["key", "id", "status", "problems"].map((x) => h("th", { scope: "col" }, x)))), body)));
  render();
  return wrap;
}

// === LLM-assisted proposal ===

async function proposePage(el) {
  if (adminsOnly(el, "Propose an entry with an LLM")) return;
  const { data: groups } = await api("GET", "/groups");
  const source = h("textarea", { id: "t-source", rows: 8, spellcheck: "false", required: true, placeholder: '{"model": "…", "card": "…"}' });
  const hints = h("textarea", { id: "t-hints", rows: 2, spellcheck: "false", placeholder: '{"provider": "openai"}' });
  const via = h("select", { id: "t-group" }, groups.map((g) => h("option", { value: g.name }, g.name)));
  const review = h("div", { id: "review" });
  const form = h("form", { class: "job-form", onsubmit: async (ev) => {
    ev.preventDefault();
    let body;
    try { body = { source: JSON.parse(source.value), hints: hints.value.trim() ? JSON.parse(hints.value) : null, via_group: via.value }; }
    catch (e) { review.replaceChildren(h("p", { class: "error", role: "alert" }, "Source and hints must be JSON: " + e.message)); return; }
    review.replaceChildren(h("p", { class: "muted" }, `Asking ${via.value}…`));
    try { review.replaceChildren(await proposalReview((await api("POST", "/models/transform", { body })).data)); }
    catch (e) { review.replaceChildren(h("p", { class: "error", role: "alert" }, "The proposal failed: " + e.message)); }
  } },
  h("div", {}, h("label", { for: "t-source" }, "Source (any JSON: a model card, a vendor page's data)"), source),
  h("div", {}, h("label", { for: "t-hints" }, "Hints (JSON, optional)"), hints),
  h("div", {}, h("label", { for: "t-group" }, "Ask through group"), via),
  h("div", { class: "toolbar" }, h("button", { type: "submit", id: "t-run" }, "Propose")));
  el.replaceChildren(h("h1", {}, "Propose an entry with an LLM"),
    h("p", { class: "muted" }, "The source goes through the group like any request (recorded under tenant system, client catalog-transform). Nothing is stored until you save the fields you accept."),
    form, review);
}

// The review of one transform reply: problems, then the diff against the stored entry
// with a checkbox per field (fields the LLM leaves unknown or that contradict provider or
// file data start unchecked), then save.
async function proposalReview(reply) {
  const ids = h("p", { class: "muted" }, "Inferences: ", reply.request_ids.map((r, i) => [i ? ", " : "", h("a", { href: "#/inference/" + enc(r) }, r)]),
    reply.retried ? " (asked twice: the first answer did not validate)" : "");
  const problems = reply.problems.length ? h("ul", { class: "error", id: "review-problems" }, reply.problems.map((p) => h("li", {}, problemText(p)))) : null;
  if (!reply.proposal) return h("div", {}, h("p", { class: "error", role: "alert" }, "No proposal: the answers did not validate."), problems, ids);
  const p = reply.proposal;
  let current = null, etag = null;
  try { ({ data: current, etag } = await api("GET", modelPath(p.id))); } catch (e) { if (e.status !== 404) throw e; }
  const picks = reply.diff.map((c) => {
    const conf = reply.confidence[c.path];
    const box = h("input", { type: "checkbox", name: "accept", value: c.path, checked: c.after !== null && !(conf <= 0.1), "aria-label": "accept " + c.path });
    const row = h("tr", { "data-field": c.path, class: conf <= 0.1 ? "error" : null }, h("td", {}, box), h("td", {}, h("code", {}, c.path)),
      h("td", {}, show(c.before)), h("td", {}, show(c.after)), h("td", {}, conf === undefined ? "–" : fmt.num(conf, 2)));
    return { c, box, row };
  });
  const err = h("div", { class: "review-error" });
  const save = async () => {
    const entry = structuredClone(current || { id: p.id, provider: p.provider, name: p.name });
    delete entry.created_at; delete entry.updated_at;
    entry.provenance = { ...(entry.provenance || {}) };
    for (const { c, box } of picks) {
      if (!box.checked) continue;
      setField(entry, c.path, c.after);
      if (c.after === null || !(p.provenance || {})[c.path]) delete entry.provenance[c.path];
      else entry.provenance[c.path] = p.provenance[c.path];
    }
    try {
      await api("PUT", modelPath(p.id), current ? { body: entry, etag } : { body: entry, create: true });
      toast(`${p.id} saved`);
      location.hash = modelHref(p.id);
    } catch (e) {
      if (e.status === 412) return writeFailed(e, current, async () => (await api("GET", modelPath(p.id))).data, err);
      err.replaceChildren(h("p", { class: "error", role: "alert" }, "Not saved: " + e.detail()));
    }
  };
  return h("div", {}, h("h2", {}, `Proposal for ${p.id}`, current ? ` (stored version ${String(etag).replaceAll('"', "")})` : " (new)"),
    problems, ids,
    picks.length ? table(["take", "field", "stored", "proposed", "confidence"], picks.map((x) => x.row), "proposed changes")
      : h("p", { class: "muted" }, "The proposal matches the stored entry."),
    h("p", { class: "muted" }, "Confidence is agreement with provider and file data (0.9 agrees, 0.1 contradicts, 0.5 the LLM alone), not the model's own claim."),
    err, picks.length ? h("div", { class: "toolbar" }, h("button", { type: "button", id: "review-save", onclick: save }, current ? "Save the checked fields" : "Create the entry")) : null);
}

routes.push([/^#\/models\/import$/, importFilePage], [/^#\/models\/propose$/, proposePage]);
