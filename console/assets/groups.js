// Overview (a card per group, refreshed every 5 s) and the group page (members, weights,
// promote, pause, roll back; the experiment report, latency and error series and per-arm
// feature importance, refreshed in place). Writes send the group's ETag as If-Match.
"use strict";

// === overview ===

async function overview(el) {
  const { data: groups } = await api("GET", "/groups");
  const cards = h("div", { class: "cards" });
  el.replaceChildren(h("h1", {}, "Overview"),
    h("p", { class: "muted" }, "Per group, since its members or weights last changed; refreshed every 5 s."), cards);
  const slots = groups.map((g) => {
    const kpis = h("dl", { class: "kpis" });
    const verdict = h("span", { class: "verdict" }, "…");
    const champion = g.config.members.find((m) => m.role === "champion");
    cards.append(h("section", { class: "card", "aria-label": "group " + g.name, "data-group": g.name },
      h("h2", {}, h("a", { href: "#/group/" + enc(g.name) }, g.name)), " ", verdict,
      h("p", { class: "muted" }, `${g.config.members.length} members · champion ${champion ? champion.name : "–"}`),
      kpis));
    return { g, kpis, verdict };
  });
  const fill = async () => {
    await Promise.all(slots.map(async (s) => {
      try {
        const { data: r } = await api("GET", `/groups/${enc(s.g.name)}/experiment`);
        const k = summary(r);
        s.kpis.replaceChildren(...[["req/s", fmt.num(k.rps, 2)], ["error rate", fmt.pct(k.errorRate)],
          ["p95", fmt.ms(k.p95)], ["TTFT p50", fmt.ms(k.ttft)], ["cost/request", k.cost], ["requests", String(k.requests)]]
          .map(([t, v]) => h("div", {}, h("dd", { "data-kpi": t }, v), h("dt", {}, t))));
        s.verdict.className = "verdict " + r.verdict;
        s.verdict.textContent = r.verdict.replaceAll("_", " ");
      } catch (e) {
        s.kpis.replaceChildren(h("p", { class: "muted" }, "No analytics: " + e.message));
        s.verdict.textContent = "n/a";
      }
    }));
  };
  window.__overviewShown = performance.now();
  await fill();
  window.__overviewReady = performance.now();
  if (el.isConnected) state.timers.push(setInterval(fill, 5000));
}

function summary(r) {
  const requests = r.members.reduce((a, m) => a + m.requests, 0);
  const errors = r.members.reduce((a, m) => a + m.errors, 0);
  const champ = r.members.find((m) => m.role === "champion") || r.members[0] || {};
  const secs = Math.max(1, (r.until_ms - r.since_ms) / 1000);
  let cost = "–";
  const costs = r.members.flatMap((m) => m.cost || []);
  if (costs.length) {
    const cur = costs[0].currency;
    const same = costs.filter((c) => c.currency === cur);
    const total = same.reduce((a, c) => a + Number(c.total), 0);
    const n = same.reduce((a, c) => a + c.requests, 0);
    cost = n ? (total / n).toPrecision(3) + " " + cur : "–";
  }
  return { requests, rps: requests / secs, errorRate: requests ? errors / requests : null,
    p95: champ.latency_us ? champ.latency_us.p95 : null, ttft: champ.ttft_us ? champ.ttft_us.p50 : null, cost };
}

// === group ===

async function groupPage(el, name) {
  const { data: g, etag } = await api("GET", "/groups/" + enc(name));
  const loaded = g.config;
  const reread = async () => (await api("GET", "/groups/" + enc(name))).data.config;
  const inputs = {};
  const rows = loaded.members.map((m) => {
    const weight = m.role === "shadow" ? h("span", { class: "muted" }, `mirror ${m.mirror_percent ?? 0} %`)
      : isAdmin() ? (inputs[m.name] = h("input", { type: "number", min: "0", step: "any", value: m.weight,
        "aria-label": "weight of " + m.name, name: "weight-" + m.name }))
        : String(m.weight);
    const act = isAdmin() && m.role === "challenger"
      ? h("button", { class: "secondary", "data-action": "promote", "data-member": m.name,
        onclick: () => confirmThen(`Promote ${m.name} to champion of ${name}? The current champion becomes a challenger at weight 0.`,
          () => write("POST", `/groups/${enc(name)}/promote`, { member: m.name }, `${m.name} promoted`)) }, "Promote")
      : null;
    return h("tr", { "data-member": m.name }, h("td", {}, m.name), h("td", {}, m.role), h("td", { class: "hide-narrow" }, m.provider),
      h("td", { class: "hide-narrow" }, m.model), h("td", {}, weight), h("td", {}, act));
  });
  const write = async (method, path, body, done) => {
    try {
      await api(method, path, { body, etag });
      toast(done);
      route();
    } catch (e) { writeFailed(e, loaded, reread); }
  };
  const controls = isAdmin() ? h("div", { class: "toolbar" },
    h("button", { id: "save-weights", onclick: () => {
      const weights = {};
      for (const [m, input] of Object.entries(inputs)) weights[m] = Number(input.value);
      write("PUT", `/groups/${enc(name)}/weights`, { weights }, "Weights saved");
    } }, "Save weights"),
    h("button", { class: "secondary", id: "pause", onclick: () => confirmThen(`Pause ${name}? All traffic goes to the champion until weights are set again.`,
      () => write("POST", `/groups/${enc(name)}/pause`, undefined, "Paused")) }, "Pause"),
    h("button", { class: "secondary", id: "rollback", onclick: () => rollbackLast(etag) }, "Roll back last change")) : null;
  const exp = h("div", {}, h("p", { class: "muted" }, "Loading the experiment…"));
  const imp = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const ser = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  el.replaceChildren(h("h1", {}, "Group ", name),
    h("p", { class: "muted" }, `config version ${g.version} · the experiment, series and feature importance are refreshed every 10 s`),
    section("Members and weights", true, table(["member", "role", "provider", "model", "weight", ""], rows, "members"), controls),
    section("Experiment", true, exp),
    section("Per-arm feature importance", true, imp),
    section("Latency and error series (last hour)", true, ser));
  watchVersion(el, etag);
  await Promise.all([experimentView(exp, name), importanceView(imp, name), seriesView(ser, name)]);
  every(el, 10000, () => Promise.all([experimentView(exp, name, true), importanceView(imp, name, true), seriesView(ser, name, true)]));
}

// The experiment report into `el`; `again` (a refresh) keeps what is shown on a failure.
async function experimentView(el, name, again) {
  let r;
  try { r = (await api("GET", `/groups/${enc(name)}/experiment`)).data; } catch (e) {
    if (again) throw e;
    el.replaceChildren(h("p", { class: "muted" }, "No experiment data: " + e.message));
    return;
  }
  const rows = r.members.map((m) => h("tr", {}, h("td", {}, m.member), h("td", {}, m.role), h("td", {}, String(m.requests)),
    h("td", {}, fmt.pct(m.share)), h("td", {}, fmt.pct(m.error_rate)), h("td", {}, fmt.ms(m.latency_us.p50)),
    h("td", {}, fmt.ms(m.latency_us.p95)), h("td", { class: "hide-narrow" }, fmt.ms(m.ttft_us.p50)),
    h("td", { class: "hide-narrow" }, m.feedback.map((f) => `${f.metric} ${fmt.num(f.mean, 3)} (n=${f.samples})`).join(", ") || "–"),
    h("td", { class: "hide-narrow" }, (m.cost || []).map((c) => `${c.per_request} ${c.currency}`).join(", ") || "–")));
  const srm = r.srm;
  dropCharts(el);
  el.replaceChildren(
    h("p", {}, "Verdict: ", h("span", { class: "verdict " + r.verdict, id: "verdict" }, r.verdict.replaceAll("_", " ")),
      ` · window ${fmt.time(r.since_ms)} – ${fmt.time(r.until_ms)} · primary metric ${r.primary_metric} · α ${r.alpha}`),
    h("p", { class: srm.alert ? "error" : "muted" }, `SRM check: χ² ${fmt.num(srm.chi_squared, 2)}, p ${fmt.num(srm.p_value, 4)}${srm.alert ? " — ALERT: traffic does not match the weights" : ""}`),
    table(["member", "role", "requests", "share", "errors", "p50", "p95", "TTFT p50", "feedback", "cost/req"], rows, "per-member results"),
    ...r.notes.map((n) => h("p", { class: "notice" }, n)));
  const metrics = [...new Set(r.challengers.flatMap((c) => c.comparisons.map((x) => x.metric)))];
  for (const metric of metrics) {
    const comps = r.challengers.map((c) => ({ name: c.member, ...c.comparisons.find((x) => x.metric === metric) }))
      .filter((c) => c.difference !== undefined);
    const box = h("div", { class: "chart", "data-chart": "interval-" + metric });
    el.append(box);
    intervalChart(box, comps, `${metric}: challenger − champion (anytime-valid interval)`);
  }
  if (!metrics.length) el.append(h("p", { class: "muted" }, "No challenger to compare yet."));
}

async function importanceView(el, name, again) {
  let r;
  try { r = (await api("GET", `/groups/${enc(name)}/explanations?top=10`)).data; } catch (e) {
    if (again) throw e;
    el.replaceChildren(h("p", { class: "muted" }, "No explanations: " + e.message));
    return;
  }
  dropCharts(el);
  el.replaceChildren();
  const withData = r.members.filter((m) => m.features.length);
  if (!withData.length) el.append(h("p", { class: "muted" }, "No attributions recorded for this group in the last 7 days."));
  for (const m of withData) {
    const box = h("div", { class: "chart", "data-chart": "importance-" + m.member });
    el.append(h("h3", {}, `${m.member} (${m.role}, ${m.samples} samples)`), box);
    barChart(box, m.features.map((f) => f.feature), m.features.map((f) => f.mean_abs),
      { title: "mean |attribution|", label: "mean |attribution|", low: m.features.map((f) => f.ci_low), high: m.features.map((f) => f.ci_high) });
  }
  for (const c of r.comparisons || []) {
    el.append(h("p", {}, `${c.challenger}: rank correlation with the champion ${fmt.num(c.rank_correlation, 3)}`));
  }
}

// GET …/series: per member, p95 latency and error rate per minute of the last hour.
async function seriesView(el, name, again) {
  let r;
  try { r = (await api("GET", `/groups/${enc(name)}/series`)).data; } catch (e) {
    if (again) throw e;
    el.replaceChildren(h("p", { class: "muted" }, "No series: " + e.message));
    return;
  }
  dropCharts(el);
  if (!r.members.length) { el.replaceChildren(h("p", { class: "muted" }, "No requests in the last hour.")); return; }
  const ts = [...new Set(r.members.flatMap((m) => m.points.map((p) => p.t_ms)))].sort((a, b) => a - b);
  const at = (m, f) => ts.map((t) => { const p = m.points.find((x) => x.t_ms === t); return p ? f(p) : null; });
  const colors = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#b91c1c", "#0e7490"];
  const draw = (kind, title, f) => {
    const box = h("div", { class: "chart", "data-chart": "series-" + kind });
    el.append(box);
    const u = new uPlot({ width: chartWidth(box), height: 180, title, scales: { x: { time: true } },
      series: [{}, ...r.members.map((m, i) => ({ label: m.member, stroke: colors[i % colors.length], spanGaps: false, points: { show: true, size: 4 } }))],
    }, [ts.map((t) => t / 1000), ...r.members.map((m) => at(m, f))], box);
    box.setAttribute("role", "img");
    state.charts.push(u);
    return box;
  };
  el.replaceChildren(h("p", { class: "muted" }, `${fmt.time(r.since_ms)} – ${fmt.time(r.until_ms)}, buckets of ${r.step_ms / 1000} s (UTC)`));
  const lat = draw("latency", "p95 latency (ms)", (p) => p.p95_us / 1000);
  const err = draw("errors", "error rate (%)", (p) => (100 * p.errors) / p.requests);
  const sum = (m, k) => m.points.reduce((a, p) => a + p[k], 0);
  lat.setAttribute("aria-label", "p95 latency per minute: " + r.members.map((m) => `${m.member} max ${fmt.ms(Math.max(...m.points.map((p) => p.p95_us)))}`).join(", "));
  err.setAttribute("aria-label", "errors: " + r.members.map((m) => `${m.member} ${sum(m, "errors")} of ${sum(m, "requests")} requests`).join(", "));
}

async function rollbackLast(etag) {
  try {
    const { data } = await api("GET", "/config/versions");
    const prev = data.versions.map((v) => v.version).filter((v) => v < data.current).pop();
    if (!prev) { toast("There is no earlier version to roll back to."); return; }
    confirmThen(`Roll the whole config back to version ${prev} (current ${data.current})? Credentials stay as they are.`, async () => {
      try {
        const { data: r } = await api("POST", "/config/rollback", { body: { version: prev }, etag });
        toast(`Rolled back: version ${r.version} restores ${r.restored}`);
        route();
      } catch (e) { configWriteFailed(e, etag); }
    });
  } catch (e) { toast(e.message); }
}

routes.push([/^#?\/?$/, overview], [/^#\/group\/([^/]+)$/, groupPage]);
