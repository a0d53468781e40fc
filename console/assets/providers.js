// Providers (searchable table, create/edit dialog with kind-specific fields and a
// write-only key, delete, discover and import) and the models page (the catalog).
"use strict";

// === providers ===

const KINDS = {
  openai: ["base_url", "api_key"], anthropic: ["base_url", "api_key"], gemini: ["base_url", "api_key"],
  huggingface: ["base_url", "api_key"], oip: ["base_url", "api_key"], http: ["base_url", "api_key"], mock: ["latency_ms"],
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
  const f = {
    name: h("input", { id: "p-name", name: "name", required: true, value: p ? p.name : "", readonly: p ? true : null }),
    kind: h("select", { id: "p-kind", name: "kind" }, Object.keys(KINDS).map((k) => h("option", { value: k, selected: p && p.kind === k }, k))),
    base_url: h("input", { id: "p-base_url", name: "base_url", type: "url", value: p && p.base_url ? p.base_url : "" }),
    api_key: h("input", { id: "p-api_key", name: "api_key", type: "password", autocomplete: "new-password",
      placeholder: p && p.api_key ? "unchanged (write-only)" : "write-only" }),
    latency_ms: h("input", { id: "p-latency_ms", name: "latency_ms", type: "number", min: "0", value: "20" }),
  };
  const wrap = {};
  const field = (k, label) => (wrap[k] = h("div", {}, h("label", { for: "p-" + k }, label), f[k]));
  const err = h("p", { class: "error", role: "alert" });
  const form = h("form", { method: "dialog" }, h("h2", {}, p ? "Edit provider" : "New provider"),
    field("name", "Name"), field("kind", "Kind"), field("base_url", "Base URL"),
    field("api_key", "API key (sealed on write; never shown again)"), field("latency_ms", "Mock latency (ms)"), err,
    h("menu", {}, h("button", { type: "button", class: "secondary", onclick: () => dlg.close() }, "Cancel"),
      h("button", { type: "submit", id: "p-save" }, "Save")));
  const dlg = h("dialog", { "aria-label": "provider" }, form);
  const showKind = () => {
    const need = KINDS[f.kind.value];
    for (const k of ["base_url", "api_key", "latency_ms"]) wrap[k].hidden = !need.includes(k);
  };
  f.kind.addEventListener("change", showKind);
  showKind();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const need = KINDS[f.kind.value];
    const body = { kind: f.kind.value };
    if (need.includes("base_url") && f.base_url.value) body.base_url = f.base_url.value;
    if (need.includes("api_key") && f.api_key.value) body.api_key = f.api_key.value;
    if (need.includes("latency_ms")) body.latency_ms = Number(f.latency_ms.value);
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
      const problems = e.data && e.data.error && e.data.error.problems;
      err.textContent = e.message + (problems ? ": " + problems.join("; ") : "");
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

// === models (catalog) ===

// Re-read every 30 s and redrawn in place.
async function modelsPage(el) {
  await modelsTable(el);
  every(el, 30000, () => modelsTable(el));
}

async function modelsTable(el) {
  const { data } = await api("GET", "/models");
  const items = data.items || data.models || [];
  el.replaceChildren(h("h1", {}, "Models"),
    items.length ? table(["id", "kind", "display name", "price in / out per Mtok"], items.map((m) => {
      const e = m.entry || m;
      const p = e.pricing || {};
      return h("tr", {}, h("td", {}, e.id), h("td", {}, e.kind || "–"), h("td", {}, e.display_name || "–"),
        h("td", {}, p.input_per_mtok ? `${p.input_per_mtok} / ${p.output_per_mtok} ${p.currency || ""}` : "–"));
    }), "catalog") : h("p", { class: "muted" }, "The catalog is empty."),
    h("p", { class: "muted" }, "Import from a provider on the Providers page (Discover). File import and the review of an LLM-assisted import are not in the console yet; use the API (README)."));
}

routes.push([/^#\/providers$/, providersPage], [/^#\/models$/, modelsPage]);
