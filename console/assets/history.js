// Audit (who changed what, with a before → after diff; new entries added live) and config
// versions (diff against the previous version, roll back; a newer version is announced,
// the rows the buttons act on stay as loaded).
"use strict";

// === audit and config versions ===

function auditRow(e) {
  return h("tr", { "data-audit": auditKey(e) }, h("td", {}, fmt.time(e.timestamp_ms)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.target),
    h("td", {}, String(e.config_version)),
    h("td", {}, h("details", {}, h("summary", {}, "diff"), diffView(pretty(e.before), pretty(e.after), "before → after"),
      e.reason ? h("p", { class: "muted" }, e.reason) : null)));
}

const auditKey = (e) => [e.timestamp_ms, e.actor, e.action, e.target, e.config_version].join("|");

// Newest first; every 10 s the entries newer than the top row are added above it (rows
// already shown, and any diff opened in them, stay).
async function auditPage(el) {
  const { data } = await api("GET", "/audit?limit=100");
  const none = data.length ? [] : [h("tr", { class: "none" }, h("td", { colspan: "6", class: "muted" }, "No audited changes yet."))];
  el.replaceChildren(h("h1", {}, "Audit"), h("p", { class: "muted" }, "New entries appear at the top (checked every 10 s)."),
    table(["time", "actor", "action", "target", "version", "change"], none.concat(data.map(auditRow)), "audit trail"));
  const body = el.querySelector("tbody");
  every(el, 10000, async () => {
    const { data: now } = await api("GET", "/audit?limit=100");
    const top = body.querySelector("tr[data-audit]");
    const at = top ? now.findIndex((e) => auditKey(e) === top.dataset.audit) : now.length;
    const fresh = at < 0 ? now : now.slice(0, at);
    if (!fresh.length) return;
    if (at < 0) body.replaceChildren();
    body.querySelector("tr.none")?.remove();
    body.prepend(...fresh.map(auditRow));
    while (body.children.length > 100) body.lastElementChild.remove();
  });
}

async function configPage(el) {
  const { data, etag } = await api("GET", "/config/versions");
  const view = h("div", { id: "version-diff" });
  const versions = [...data.versions].reverse();
  el.replaceChildren(h("h1", {}, "Config versions"), h("p", {}, `Serving version ${data.current}.`),
    table(["version", "stored", "actor", "reason", ""], versions.map((v) => h("tr", { "data-version": v.version },
      h("td", {}, String(v.version) + (v.version === data.current ? " (current)" : "")), h("td", {}, fmt.time(v.stored_ms)),
      h("td", {}, v.actor || "–"), h("td", { class: "hide-narrow" }, v.reason || ""),
      h("td", {}, h("button", { class: "secondary", onclick: () => showDiff(v.version) }, "Diff"), " ",
        isAdmin() && v.version !== data.current ? h("button", { "data-action": "rollback", onclick: () => confirmThen(
          `Roll back to version ${v.version}? It is applied as a new version; credentials stay as they are.`, async () => {
            try {
              const { data: r } = await api("POST", "/config/rollback", { body: { version: v.version }, etag });
              toast(`Version ${r.version} restores ${r.restored}`);
              route();
            } catch (e) { configWriteFailed(e, etag); }
          }) }, "Roll back") : null))), "versions"), view);
  watchVersion(el, etag);
  async function showDiff(version) {
    const before = versions.find((x) => x.version < version);
    const [a, b] = await Promise.all([before ? configText(before.version) : "", configText(version)]);
    view.replaceChildren(h("h2", {}, `Version ${before ? before.version : "(none)"} → ${version}`), diffView(a, b, "config diff"));
  }
}

routes.push([/^#\/audit$/, auditPage], [/^#\/config$/, configPage]);
