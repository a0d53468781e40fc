// Providers: searchable table, create/edit dialog with kind-specific fields and a
// write-only key, delete, discover and import (the catalog's pages are models.js).
"use strict";

// === providers ===

// The fields the dialog offers per kind; the API's `settings` fill them when editing, and
// every one of the kind is sent back, so an edit keeps what the YAML entry had.
const REMOTE = ["base_url", "api_key", "ca_file", "max_in_flight", "pool_max_idle_per_host"];
const KINDS = {
  openai: [...REMOTE, "api_version", "deployment"], anthropic: [...REMOTE, "api_version"], gemini: REMOTE,
  huggingface: REMOTE, oip: REMOTE, http: REMOTE,
  mock: ["latency_ms", "input_tokens", "output_tokens", "stream_chunks", "chunk_delay_ms", "error_rate"],
};
// [label, input type (number fields are sent as numbers), extra attributes]
const FIELDS = {
  base_url: ["Base URL", "url"],
  api_key: ["API key (sealed on write; never shown again)", "password"],
  ca_file: ["Extra CA certificates (PEM file path)", "text"],
  max_in_flight: ["Requests in flight at most (empty: unlimited)", "number", { min: "1" }],
  pool_max_idle_per_host: ["Idle connections kept per host (default 256)", "number", { min: "0" }],
  api_version: ["API version (openai: Azure api-version; anthropic: anthropic-version)", "text"],
  deployment: ["Azure deployment (default: the member's model)", "text"],
  latency_ms: ["Mock latency (ms)", "number", { min: "0" }],
  input_tokens: ["Mock prompt tokens", "number", { min: "0" }],
  output_tokens: ["Mock completion tokens", "number", { min: "0" }],
  stream_chunks: ["Mock chunks per stream", "number", { min: "1" }],
  chunk_delay_ms: ["Mock pause between chunks (ms)", "number", { min: "0" }],
  error_rate: ["Mock error rate (0–1)", "number", { min: "0", max: "1", step: "any" }],
};

// The table is re-read every 10 s and redrawn in place (keeping the search) when the
// config version moved; the rows' buttons then use the new version.
async function providersPage(el) {
  let { data: list, etag } = await api("GET", "/providers");
  const search = h("input", { type: "search", id: "provider-search", placeholder: "Search name, kind or URL", "aria-label": "search providers" });
  const body = h("tbody");
  const render = () => {
    const q = search.value.trim().toLowerCase();
    body.replaceChildren(...list.filter((p) => !q || [p.name, p.kind, p.base_url || ""].some((s) => s.toLowerCase().includes(q)))
      .map((p) => h("tr", { "data-provider": p.name }, h("td", {}, p.name), h("td", {}, p.kind),
        h("td", { class: "hide-narrow" }, p.base_url || "–"),
        h("td", {}, p.api_key ? `${p.api_key.source}${p.api_key.last4 ? " …" + p.api_key.last4 : ""}` : "none"),
        h("td", {}, isAdmin() ? [h("button", { class: "secondary", onclick: () => providerDialog(p, etag) }, "Edit"), " ",
          p.kind !== "mock" ? h("button", { class: "secondary", "data-action": "discover", onclick: () => discoverDialog(p.name) }, "Discover") : null, " ",
          h("button", { class: "danger", onclick: () => confirmThen(`Delete provider ${p.name}? Groups that use it make this fail.`, async () => {
            try { await api("DELETE", "/providers/" + enc(p.name), { etag }); toast(`${p.name} deleted`); route(); }
            catch (e) { writeFailed(e, p, async () => (await api("GET", "/providers/" + enc(p.name))).data); }
          }) }, "Delete")] : null))));
  };
  search.addEventListener("input", render);
  render();
  el.replaceChildren(h("h1", {}, "Providers"),
    h("div", { class: "toolbar" }, search, isAdmin() ? h("button", { id: "new-provider", onclick: () => providerDialog(null, etag) }, "New provider") : null),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["name", "kind", "base URL", "key", ""].map((x) => h("th", { scope: "col" }, x)))), body)));
  every(el, 10000, async () => {
    const now = await api("GET", "/providers");
    if (now.etag === etag) return;
    ({ data: list, etag } = now);
    render();
  });
}

function providerDialog(p, etag) {
  const set = (p && p.settings) || {};
  const f = {
    name: h("input", { id: "p-name", name: "name", required: true, value: p ? p.name : "", readonly: p ? true : null }),
    kind: h("select", { id: "p-kind", name: "kind" }, Object.keys(KINDS).map((k) => h("option", { value: k, selected: p && p.kind === k }, k))),
  };
  for (const [k, [, type, attrs]] of Object.entries(FIELDS)) {
    const value = k === "base_url" ? (p && p.base_url) : set[k];
    f[k] = h("input", { id: "p-" + k, name: k, type, value: value === undefined || value === null ? "" : String(value), ...(attrs || {}) });
  }
  f.api_key.setAttribute("autocomplete", "new-password");
  f.api_key.placeholder = p && p.api_key ? "unchanged (write-only)" : "write-only";
  const wrap = {};
  const field = (k, label) => (wrap[k] = h("div", {}, h("label", { for: "p-" + k }, label), f[k]));
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { method: "dialog" }, h("h2", {}, p ? "Edit provider" : "New provider"),
    field("name", "Name"), field("kind", "Kind"), Object.entries(FIELDS).map(([k, [label]]) => field(k, label)), err,
    h("menu", {}, h("button", { type: "button", class: "secondary", onclick: () => dlg.close() }, "Cancel"),
      h("button", { type: "submit", id: "p-save" }, "Save")));
  const dlg = h("dialog", { "aria-label": "provider" }, form);
  const showKind = () => {
    const need = KINDS[f.kind.value];
    for (const k of Object.keys(FIELDS)) wrap[k].hidden = !need.includes(k);
  };
  f.kind.addEventListener("change", showKind);
  showKind();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { kind: f.kind.value };
    for (const k of KINDS[f.kind.value]) {
      const v = f[k].value.trim();
      if (v !== "") body[k] = FIELDS[k][1] === "number" ? Number(v) : v;
    }
    // Extra headers are not edited here; an edit keeps them (the PUT replaces the entry).
    if (p && p.headers && Object.keys(p.headers).length) body.headers = p.headers;
    try {
      await api("PUT", "/providers/" + enc(f.name.value), { body, etag });
      f.api_key.value = "";
      dlg.close();
      toast(`${f.name.value} saved`);
      route();
    } catch (e) {
      if (e.status === 412 && p) {
        err.textContent = "";
        writeFailed(e, p, async () => (await api("GET", "/providers/" + enc(p.name))).data, form);
        return;
      }
      err.textContent = e.detail();
    }
  });
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

// What a provider offers against the catalog; import the selected models.
async function discoverDialog(provider) {
  let reply;
  try { reply = (await api("POST", `/providers/${enc(provider)}/discover`, { body: {} })).data; } catch (e) {
    toast("Discovery failed: " + e.message);
    return;
  }
  const boxes = [];
  const rows = reply.models.map((m) => {
    const box = h("input", { type: "checkbox", value: m.id, checked: m.status !== "in_catalog", "aria-label": "import " + m.id });
    boxes.push(box);
    return h("tr", { "data-discovered": m.id }, h("td", {}, box), h("td", {}, m.id), h("td", {}, m.status.replaceAll("_", " ")),
      h("td", {}, m.changes.length ? m.changes.map((c) => c.path || c.field || "").join(", ") : "–"));
  });
  const dlg = h("dialog", { "aria-label": "discovered models", id: "discover" },
    h("h2", {}, `${provider} offers ${reply.models.length} model(s)`),
    rows.length ? table(["", "id", "status", "changed fields"], rows, "discovered models") : h("p", { class: "muted" }, "Nothing found."),
    reply.problems.length ? h("p", { class: "notice" }, `${reply.problems.length} item(s) left out or partly unknown`) : null,
    h("menu", {}, h("button", { class: "secondary", onclick: () => dlg.close() }, "Close"),
      h("button", { id: "import-selected", onclick: async () => {
        const models = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!models.length) { toast("Select at least one model."); return; }
        try {
          const { data } = await api("POST", "/models/import", { body: { provider, models } });
          const counts = Object.entries(data).filter(([k, v]) => typeof v === "number").map(([k, v]) => `${k} ${v}`).join(", ");
          dlg.close();
          toast(`Imported from ${provider}: ${counts}`);
        } catch (e) { toast("Import failed: " + e.message); }
      } }, "Import selected")));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

routes.push([/^#\/providers$/, providersPage]);
