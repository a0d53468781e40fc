// The inference browser: a filtered, paged list (its first page refreshed while nothing
// more was loaded) and one inference's detail with bodies, feedback and attribution charts.
"use strict";

// === inferences ===

async function inferencesPage(el) {
  const params = new URLSearchParams(location.search);
  const { data: groups } = await api("GET", "/groups");
  const f = {
    group: h("select", { id: "f-group", name: "group" }, h("option", { value: "" }, "any group"), groups.map((g) => h("option", { value: g.name }, g.name))),
    member: h("input", { id: "f-member", name: "member", placeholder: "member" }),
    status: h("select", { id: "f-status", name: "status" }, ["", "ok", "error", "5xx"].map((s) => h("option", { value: s }, s || "any status"))),
    since: h("input", { id: "f-since", name: "since", type: "datetime-local" }),
  };
  const body = h("tbody");
  const more = h("button", { class: "secondary", hidden: true }, "More");
  // `shown`: the query of the rows on screen; a refresh re-reads it (not the half-typed
  // filters), and only while one page is shown; `seq` drops answers overtaken by a newer one.
  let cursor = null, shown = "", pages = 0, seq = 0, firstIds = "";
  const load = async (append, again) => {
    let q = new URLSearchParams({ limit: "50" });
    for (const k of ["group", "member", "status"]) if (f[k].value) q.set(k, f[k].value);
    if (f.since.value) q.set("since", String(new Date(f.since.value).getTime()));
    if (again) q = new URLSearchParams(shown);
    if (append) { q = new URLSearchParams(shown); if (cursor) q.set("cursor", cursor); }
    const mine = ++seq;
    const { data } = await api("GET", "/inferences?" + q);
    if (mine !== seq) return;
    const first = data.items.map((r) => r.request_id).join();
    if (again && first === firstIds) return;  // nothing new: keep the rows (and focus)
    if (!append) { shown = q.toString(); pages = 1; firstIds = first; } else pages++;
    cursor = data.next_cursor;
    more.hidden = !cursor;
    const rows = data.items.map((r) => h("tr", { "data-request": r.request_id },
      h("td", {}, h("a", { href: "#/inference/" + enc(r.request_id) }, r.request_id.slice(0, 12) + "…")),
      h("td", { class: "hide-narrow" }, fmt.time(r.timestamp_ms)), h("td", {}, r.group), h("td", {}, r.member),
      h("td", {}, String(r.status)), h("td", {}, fmt.ms(r.total_us)),
      h("td", { class: "hide-narrow" }, `${r.input_tokens ?? "–"} / ${r.output_tokens ?? "–"}`)));
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No inferences match.")));
  };
  more.addEventListener("click", () => load(true));
  const form = h("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); load(false); } },
    ...Object.entries(f).map(([k, input]) => h("label", {}, k, input)), h("button", { type: "submit" }, "Filter"));
  if (params.get("group")) f.group.value = params.get("group");
  el.replaceChildren(h("h1", {}, "Inferences"), form,
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {},
      ["request", "time", "group", "member", "status", "latency", "tokens in/out"].map((x) => h("th", { scope: "col" }, x)))), body)), more,
    h("p", { class: "muted" }, "The first page is refreshed every 10 s until you load more."));
  await load(false);
  every(el, 10000, () => (pages === 1 ? load(false, true) : null));
}

async function inferencePage(el, id) {
  const { data: d } = await api("GET", "/inferences/" + enc(id));
  const r = d.record;
  const facts = [["group", r.group], ["member", `${r.member} (${r.role})`], ["provider / model", `${r.provider} / ${r.upstream_model}`],
    ["assignment", r.assignment], ["status", `${r.status} ${r.error_class}`], ["latency", `${fmt.ms(r.total_us)} (upstream ${fmt.ms(r.upstream_us)}, overhead ${fmt.ms(r.overhead_us)})`],
    ["TTFT", fmt.ms(r.ttft_us)], ["tokens in / out", `${r.input_tokens ?? "–"} / ${r.output_tokens ?? "–"}`],
    ["config version", String(r.config_version)], ["time", fmt.time(r.timestamp_ms)], ["trace id", r.trace_id || "–"]];
  const attr = h("div", {});
  el.replaceChildren(h("h1", {}, "Inference ", h("code", {}, r.request_id)),
    h("dl", { class: "kpis" }, facts.map(([k, v]) => h("div", {}, h("dd", {}, v), h("dt", {}, k)))),
    section("Attributions", true, attr),
    section("Request body", !!d.request_body, d.request_body ? h("pre", {}, d.request_body) : h("p", { class: "muted" }, "Not logged (records.log_bodies is off for this group).")),
    section("Response body", !!d.response_body, d.response_body ? h("pre", {}, d.response_body) : h("p", { class: "muted" }, "Not logged.")),
    section("Feedback", d.feedback.length > 0, d.feedback.length
      ? table(["metric", "value", "time"], d.feedback.map((f) => h("tr", {}, h("td", {}, f.metric), h("td", {}, String(f.value)), h("td", {}, fmt.time(f.timestamp_ms)))), "feedback")
      : h("p", { class: "muted" }, "No feedback.")));
  if (!d.attributions.length) attr.append(h("p", { class: "muted" }, "No attributions for this inference."));
  for (const a of d.attributions) {
    const box = h("div", { class: "chart", "data-chart": "attribution" });
    attr.append(h("p", {}, `${a.source} ${a.method} · instance ${a.instance} · output ${a.output_name || a.output}` +
      (a.base_value !== null ? ` · base ${fmt.num(a.base_value, 3)}` : "") + (a.output_value !== null ? ` · output ${fmt.num(a.output_value, 3)}` : "")), box);
    barChart(box, a.names, a.values, { title: `${a.method} attribution`, label: "attribution" });
  }
}

routes.push([/^#\/inferences$/, inferencesPage], [/^#\/inference\/([^/]+)$/, inferencePage]);
