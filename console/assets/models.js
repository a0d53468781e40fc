// The model catalog (SPEC §8, §12): the catalog's table (search, kind, pages), a model's
// detail (every field with its provenance, the members that serve it, lineage, edit and
// delete), a LiteLLM catalog file's import (a dry run first, then the import) and the
// review of an LLM-assisted proposal: its diff against the stored entry field by field,
// with the confidence of each, the operator choosing which fields to take. Every write is
// the control API's guarded PUT (If-Match, or If-None-Match: * for a new entry), so a
// stale page gets the "changed since you loaded it" diff.
"use strict";

// Field paths as the catalog names them (catalog/src/fields.rs), besides metrics.<name>
// and labels.<key>.
const MODEL_FIELDS = ["display_name", "kind", "modalities.input", "modalities.output", "limits.context_tokens",
  "limits.max_input_tokens", "limits.max_output_tokens", "pricing.input_per_mtok", "pricing.output_per_mtok",
  "pricing.currency", "capabilities.streaming", "capabilities.tools", "capabilities.json_mode", "capabilities.logprobs",
  "capabilities.explanations", "io_schema.inputs", "io_schema.outputs", "training.base_model", "training.dataset",
  "training.framework", "training.job"];
const MODEL_KINDS = ["chat", "completion", "embedding", "classifier", "regressor", "other"];

const modelHref = (id) => "#/model/" + enc(id);
// /models/{provider}/{name…}: each segment encoded, the name's slashes kept.
const modelPath = (id) => "/models/" + id.split("/").map(enc).join("/");
const show = (v) => (v === null || v === undefined ? "unknown" : typeof v === "object" ? JSON.stringify(v) : String(v));

// The value at field path `path` of `entry` (null when absent).
function fieldValue(entry, path) {
  const [head, ...rest] = path.split(".");
  if (head === "metrics" || head === "labels") return (entry[head] || {})[rest.join(".")] ?? null;
  return rest.reduce((o, k) => (o === null || o === undefined ? null : o[k]), entry[head]) ?? null;
}

// Sets field path `path` of `entry` to `value` (null removes a metric or label; a group
// such as `pricing` whose fields are all null becomes null).
function setField(entry, path, value) {
  const [head, ...rest] = path.split(".");
  const key = rest.join(".");
  if (head === "metrics" || head === "labels") {
    entry[head] = { ...(entry[head] || {}) };
    if (value === null) delete entry[head][key]; else entry[head][key] = value;
  } else if (!key) {
    entry[head] = value;
  } else {
    entry[head] = { ...(entry[head] || {}), [key]: value };
    if (["pricing", "io_schema"].includes(head) && Object.values(entry[head]).every((v) => v === null)) entry[head] = null;
  }
}

// Every field path `entry` has a value or provenance for.
function entryPaths(entry) {
  const extra = ["metrics", "labels"].flatMap((m) => Object.keys(entry[m] || {}).map((k) => m + "." + k));
  return [...MODEL_FIELDS, ...extra];
}

// === catalog table ===

async function modelsPage(el) {
  const q = h("input", { type: "search", id: "model-search", name: "q", placeholder: "id or display name", "aria-label": "search models" });
  const kind = h("select", { id: "model-kind", name: "kind", "aria-label": "kind" },
    h("option", { value: "" }, "any kind"), MODEL_KINDS.map((k) => h("option", { value: k }, k)));
  const body = h("tbody");
  const count = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "secondary", id: "models-more", hidden: true }, "More");
  let cursor = null, paged = false, shown = 0;
  const load = async (append) => {
    const params = new URLSearchParams({ limit: "100" });
    if (q.value.trim()) params.set("q", q.value.trim());
    if (kind.value) params.set("kind", kind.value);
    if (append) params.set("cursor", cursor);
    const { data } = await api("GET", "/models?" + params);
    const rows = data.models.map(modelRow);
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    shown = (append ? shown : 0) + rows.length;
    cursor = data.next_cursor || null;
    more.hidden = !cursor;
    count.textContent = shown ? `${shown} model(s)${cursor ? ", more below" : ""}` : "No model matches.";
  };
  more.addEventListener("click", () => { paged = true; load(true).catch((e) => toast(e.message)); });
  const form = h("form", { role: "search", class: "toolbar", onsubmit: (ev) => { ev.preventDefault(); paged = false; load(false).catch((e) => toast(e.message)); } },
    h("div", {}, h("label", { for: "model-search" }, "Search"), q), h("div", {}, h("label", { for: "model-kind" }, "Kind"), kind),
    h("button", { type: "submit" }, "Search"));
  kind.addEventListener("change", () => form.requestSubmit());
  el.replaceChildren(h("h1", {}, "Models"), form,
    isAdmin() ? h("p", { class: "toolbar" }, h("a", { class: "button", href: "#/models/import", id: "import-file-link" }, "Import a catalog file"),
      h("a", { class: "button", href: "#/models/propose", id: "propose-link" }, "Propose with an LLM"),
      h("span", { class: "muted" }, "Import from a provider on the Providers page (Discover).")) : null,
    count, table(["id", "kind", "display name", "context", "price in / out per Mtok", "updated"], [], "catalog"), more);
  el.querySelector("tbody").replaceWith(body);
  await load(false);
  every(el, 30000, () => (paged ? null : load(false)));
}

function modelRow(e) {
  const p = e.pricing || {};
  return h("tr", { "data-model": e.id }, h("td", {}, h("a", { href: modelHref(e.id) }, e.id)), h("td", {}, e.kind || "–"),
    h("td", {}, e.display_name || "–"), h("td", {}, e.limits && e.limits.context_tokens ? String(e.limits.context_tokens) : "–"),
    h("td", {}, p.input_per_mtok || p.output_per_mtok ? `${p.input_per_mtok ?? "?"} / ${p.output_per_mtok ?? "?"} ${p.currency || ""}` : "–"),
    h("td", { class: "hide-narrow" }, e.updated_at ? e.updated_at.slice(0, 19).replace("T", " ") : "–"));
}

// === one model ===

async function modelPage(el, id) {
  const [{ data: entry, etag }, { data: groups }] = await Promise.all([api("GET", modelPath(id)), api("GET", "/groups")]);
  const prov = entry.provenance || {};
  const rows = entryPaths(entry).filter((p) => fieldValue(entry, p) !== null || prov[p]).map((p) => h("tr", { "data-field": p },
    h("td", {}, h("code", {}, p)), h("td", {}, show(fieldValue(entry, p))),
    h("td", {}, prov[p] ? prov[p].source : "–"), h("td", {}, prov[p] ? fmt.num(prov[p].confidence, 2) : "–")));
  const users = groups.flatMap((g) => g.config.members.filter((m) => m.provider === entry.provider && m.model === entry.name)
    .map((m) => h("li", {}, h("a", { href: "#/group/" + enc(g.name) }, g.name), ` · ${m.name} (${m.role}, weight ${m.weight})`)));
  const job = entry.training && entry.training.job;
  el.replaceChildren(h("h1", {}, "Model ", h("code", {}, entry.id)),
    h("p", { class: "muted" }, `provider ${entry.provider} · name ${entry.name} · version ${String(etag).replaceAll('"', "")}`,
      entry.updated_at ? ` · updated ${entry.updated_at.slice(0, 19).replace("T", " ")}` : ""),
    section("Fields", true, rows.length ? table(["field", "value", "source", "confidence"], rows, "fields and provenance")
      : h("p", { class: "muted" }, "Nothing is known about this model yet.")),
    section("Inputs and outputs", !!entry.io_schema, ioTables(entry.io_schema)),
    section("Lineage", !!job, job ? h("p", {}, "Trained by fine-tuning job ", h("a", { href: "#/job/" + enc(job) }, job),
      entry.training.base_model ? ` from ${entry.training.base_model}` : "", entry.training.dataset ? ` on ${entry.training.dataset}` : "")
      : h("p", { class: "muted" }, "Not trained here.")),
    section("Served by", true, users.length ? h("ul", { id: "model-users" }, users) : h("p", { class: "muted" }, "No group member uses this model.")),
    isAdmin() ? modelEditor(entry, etag) : null);
}

function ioTables(io) {
  if (!io) return h("p", { class: "muted" }, "Unknown.");
  return ["inputs", "outputs"].map((k) => table([k, "datatype", "shape"], (io[k] || []).map((t) =>
    h("tr", {}, h("td", {}, t.name), h("td", {}, t.datatype || "–"), h("td", {}, JSON.stringify(t.shape ?? null)))), k));
}

// The entry as JSON in a text area: validate, save (If-Match), delete.
function modelEditor(entry, etag) {
  const { created_at, updated_at, ...editable } = entry;
  const text = h("textarea", { id: "model-json", rows: 18, spellcheck: "false", "aria-label": "entry as JSON" }, pretty(editable));
  const status = h("p", { role: "status", id: "model-status" });
  const parsed = () => { try { return JSON.parse(text.value); } catch (e) { status.textContent = "Not JSON: " + e.message; return null; } };
  const reread = async () => { const { created_at: c, updated_at: u, ...now } = (await api("GET", modelPath(entry.id))).data; return now; };
  const save = async () => {
    const body = parsed();
    if (!body) return;
    try {
      await api("PUT", modelPath(entry.id), { body, etag });
      toast(`${entry.id} saved`);
      route();
    } catch (e) { await writeFailed(e, editable, reread); }
  };
  const validate = async () => {
    const body = parsed();
    if (!body) return;
    try { await api("POST", "/models/validate", { body }); status.textContent = "Valid."; }
    catch (e) { status.textContent = e.detail(); }
  };
  const remove = () => confirmThen(`Delete ${entry.id} from the catalog? Members that use it keep working; its metadata and prices are lost.`, async () => {
    try { await api("DELETE", modelPath(entry.id), { etag }); toast(`${entry.id} deleted`); location.hash = "#/models"; }
    catch (e) { await writeFailed(e, editable, reread); }
  });
  return section("Edit", false, h("p", { class: "muted" }, "Fields you change get provenance operator. created_at and updated_at are kept by the server."),
    text, status, h("div", { class: "toolbar" }, h("button", { type: "button", class: "secondary", id: "model-validate", onclick: validate }, "Validate"),
      h("button", { type: "button", id: "model-save", onclick: save }, "Save"),
      h("button", { type: "button", class: "danger", id: "model-delete", onclick: remove }, "Delete")));
}

routes.push([/^#\/models$/, modelsPage], [/^#\/model\/(.+)$/, modelPage]);
