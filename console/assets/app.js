// Switchyard operator console (SPEC §12). Plain JavaScript, no build step: a hash router,
// one render function per page, every number read from the control API (/api/v1) with the
// session cookie. Writes send the session's CSRF token (x-csrf-token) and the ETag they
// were based on (If-Match); a 412 shows what changed since the page was loaded.
"use strict";

// timers: intervals of the shown page; cleanups: what else it holds open (event streams).
const state = { role: "viewer", name: "", timers: [], cleanups: [], charts: [], gen: 0 };
const isAdmin = () => state.role === "admin";

// === DOM helpers (text only; never innerHTML with data) ===

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function main() { return document.getElementById("main"); }

function toast(msg) {
  const t = h("div", {}, msg);
  document.getElementById("toast").append(t);
  setTimeout(() => t.remove(), 5000);
}

function section(title, open, ...body) {
  return h("details", { class: "section", open: open }, h("summary", {}, h("h2", {}, title)), ...body);
}

function table(headers, rows, caption) {
  return h("div", { class: "table-wrap" }, h("table", {},
    caption ? h("caption", { class: "visually-hidden" }, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows)));
}

// === formatting ===

const fmt = {
  pct: (x) => (x === null || x === undefined || isNaN(x) ? "–" : (100 * x).toFixed(2) + " %"),
  ms: (us) => (us === null || us === undefined ? "–" : (us / 1000).toFixed(us < 10000 ? 1 : 0) + " ms"),
  num: (x, d = 2) => (x === null || x === undefined || isNaN(x) ? "–" : Number(x).toFixed(d)),
  time: (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19),
};

// === API ===

function csrf() {
  const m = document.cookie.match(/(?:^|; )sy_csrf=([^;]*)/);
  return m ? m[1] : "";
}

class ApiError extends Error {
  constructor(status, data) {
    super((data && data.error && data.error.message) || "HTTP " + status);
    this.status = status;
    this.data = data;
  }
}

async function api(method, path, opts = {}) {
  const headers = {};
  if (method !== "GET") headers["x-csrf-token"] = csrf();
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  if (opts.etag) headers["if-match"] = opts.etag;
  const r = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (r.status === 401) { location.assign("/ui/"); throw new ApiError(401, null); }
  const text = await r.text();
  let data = text;
  if ((r.headers.get("content-type") || "").includes("json")) data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new ApiError(r.status, data);
  return { data, etag: r.headers.get("etag"), headers: r.headers };
}

const enc = encodeURIComponent;

// === line diff (LCS; small documents) ===

function diffLines(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  const n = x.length, m = y.length;
  if (n * m > 4e6) return [["del", a], ["add", b]];
  const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push(["same", x[i]]); i++; j++; }
    else if (dp[i + 1][j] >= dp[i][j + 1]) out.push(["del", x[i++]]);
    else out.push(["add", y[j++]]);
  }
  while (i < n) out.push(["del", x[i++]]);
  while (j < m) out.push(["add", y[j++]]);
  return out;
}

function diffView(a, b, label) {
  const lines = diffLines(a, b).filter((l, k, all) =>
    l[0] !== "same" || all.slice(Math.max(0, k - 3), k + 4).some((o) => o[0] !== "same"));
  const pre = h("pre", { class: "diff", "aria-label": label || "differences" });
  for (const [kind, text] of lines) {
    pre.append(h("span", { class: kind }, (kind === "add" ? "+ " : kind === "del" ? "- " : "  ") + text + "\n"));
  }
  if (!lines.some((l) => l[0] !== "same")) pre.append("(no differences)");
  return pre;
}

const pretty = (v) => JSON.stringify(v, null, 2);

// "Changed since you loaded it": what the page loaded (an object, or a text such as a
// config version) against the server's current one, as a line diff, with a reload button.
function staleBox(loaded, now, note) {
  const text = (v) => (typeof v === "string" ? v : pretty(v));
  return h("div", { class: "stale", role: "alert" },
    h("strong", {}, "Not saved: this changed since you loaded it. "),
    "Review the differences (as you loaded it → as it is now), then ",
    h("button", { type: "button", class: "secondary", onclick: () => { for (const d of document.querySelectorAll("dialog")) d.close(); route(); } }, "reload"), ".",
    note ? h("p", { class: "muted" }, note) : null,
    diffView(text(loaded), text(now), "changes since loaded"));
}

// A failed write: a stale version (412) re-reads the object with `reread` and shows what
// changed since the page loaded it, in `where` (the page, or the open dialog); any other
// failure is a toast with the validator's problems.
async function writeFailed(err, loaded, reread, where) {
  if (err.status === 412 && reread) {
    try {
      const now = await reread();
      const same = pretty(loaded) === pretty(now);
      const box = staleBox(loaded, now, same ? "This object is unchanged; another part of the config changed since you loaded the page." : null);
      const target = where || main();
      target.querySelectorAll(".stale").forEach((old) => old.remove());
      target.prepend(box);
      box.scrollIntoView();
      return;
    } catch (_) { /* fall through */ }
  }
  const problems = err.data && err.data.error && err.data.error.problems;
  toast("Not saved: " + err.message + (problems ? " — " + problems.join("; ") : ""));
}

// The text of config version `v` (YAML as stored, credentials sealed or referenced).
async function configText(v) { return (await api("GET", "/config/versions/" + v)).data; }

// For a write guarded by the config's version (the ETag "<n>"): the config as that
// version had it against the current version, so a stale rollback shows what moved.
function configSince(etag) {
  const loaded = Number(String(etag || "").replaceAll('"', ""));
  return async () => {
    const { data } = await api("GET", "/config/versions");
    const [a, b] = await Promise.all([configText(loaded), configText(data.current)]);
    return { loaded: `# version ${loaded}\n` + a, now: `# version ${data.current}\n` + b };
  };
}

// writeFailed for a config-versioned write whose "object" is the whole config text.
async function configWriteFailed(err, etag) {
  if (err.status !== 412) return writeFailed(err, null, null);
  try {
    const { loaded, now } = await configSince(etag)();
    const box = staleBox(loaded, now);
    main().querySelectorAll(".stale").forEach((old) => old.remove());
    main().prepend(box);
    box.scrollIntoView();
  } catch (e) { toast("Not saved: " + err.message); }
}

// === charts (uPlot) ===

function chartWidth(el) { return Math.max(240, Math.min(900, (el.clientWidth || main().clientWidth) - 8)); }

function barChart(el, names, values, opts = {}) {
  const xs = names.map((_, i) => i);
  const series = [{}, { label: opts.label || "value", fill: "rgba(29,78,216,.5)", stroke: "#1d4ed8",
    paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }];
  const data = [xs, values];
  if (opts.low && opts.high) {
    series.push({ label: "95 % low", stroke: "#6b7280", paths: () => null, points: { show: true, size: 5 } });
    series.push({ label: "95 % high", stroke: "#6b7280", paths: () => null, points: { show: true, size: 5 } });
    data.push(opts.low, opts.high);
  }
  const u = new uPlot({
    width: chartWidth(el), height: opts.height || 220, title: opts.title,
    scales: { x: { time: false, range: [-0.5, Math.max(0.5, xs.length - 0.5)] } },
    axes: [{ values: (_, ticks) => ticks.map((t) => (Number.isInteger(t) && names[t] !== undefined ? names[t] : "")),
      splits: () => xs, rotate: 0, size: 40 }, {}],
    series,
  }, data, el);
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", (opts.title || "chart") + ": " + names.map((n, i) => n + " " + fmt.num(values[i], 3)).join(", "));
  state.charts.push(u);
  return u;
}

function intervalChart(el, comparisons, title) {
  // One x position per challenger: the difference and its anytime-valid interval.
  const names = comparisons.map((c) => c.name);
  const xs = names.map((_, i) => i);
  const d = comparisons.map((c) => c.difference);
  const lo = comparisons.map((c) => c.lower ?? null);
  const hi = comparisons.map((c) => c.upper ?? null);
  const u = new uPlot({
    width: chartWidth(el), height: 200, title,
    scales: { x: { time: false, range: [-0.5, xs.length - 0.5] },
      // Around 0 and the intervals (with no interval yet, a small band around 0, not 0–100).
      y: { range: (_, min, max) => {
        const lo = Math.min(min ?? 0, 0), hi = Math.max(max ?? 0, 0);
        const pad = Math.max((hi - lo) * 0.15, 0.01);
        return [lo - pad, hi + pad];
      } } },
    axes: [{ values: (_, t) => t.map((v) => (Number.isInteger(v) && names[v] !== undefined ? names[v] : "")), splits: () => xs }, {}],
    series: [{}, { label: "lower", stroke: "#9ca3af", paths: () => null, points: { show: true, size: 8 } },
      { label: "challenger − champion", stroke: "#1d4ed8", paths: () => null, points: { show: true, size: 10 } },
      { label: "upper", stroke: "#9ca3af", paths: () => null, points: { show: true, size: 8 } },
      { label: "0", stroke: "#b91c1c", dash: [4, 4], points: { show: false } }],
  }, [xs, lo, d, hi, xs.map(() => 0)], el);
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", title + ": " + comparisons.map((c) =>
    `${c.name} ${fmt.num(c.difference, 4)} [${fmt.num(c.lower, 4)}, ${fmt.num(c.upper, 4)}]`).join("; "));
  state.charts.push(u);
}

// === router ===

const routes = [
  [/^#?\/?$/, overview],
  [/^#\/group\/([^/]+)$/, groupPage],
  [/^#\/providers$/, providersPage],
  [/^#\/models$/, modelsPage],
  [/^#\/inferences$/, inferencesPage],
  [/^#\/inference\/([^/]+)$/, inferencePage],
  [/^#\/audit$/, auditPage],
  [/^#\/config$/, configPage],
];

// Each navigation renders into a fresh container; a slower earlier page keeps writing
// into its own detached one and never overwrites the newer page, its marker or its timers.
async function route() {
  const gen = ++state.gen;
  state.timers.forEach(clearInterval);
  state.timers = [];
  state.cleanups.forEach((f) => f());
  state.cleanups = [];
  state.charts.forEach((c) => c.destroy());
  state.charts = [];
  const hash = location.hash || "#/";
  for (const a of document.querySelectorAll("header nav a")) {
    const target = a.getAttribute("href");
    a.toggleAttribute("aria-current", false);
    if (target === hash || (target !== "#/" && hash.startsWith(target))) a.setAttribute("aria-current", "page");
  }
  for (const [re, page] of routes) {
    const m = hash.match(re);
    if (m) {
      const el = h("div", {}, h("p", { class: "muted" }, "Loading…"));
      main().replaceChildren(el);
      delete document.body.dataset.page;
      try {
        await page(el, ...m.slice(1).map(decodeURIComponent));
      } catch (e) {
        el.replaceChildren(h("p", { class: "error", role: "alert" }, "Could not load this page: " + e.message));
      }
      if (gen === state.gen) document.body.dataset.page = page.name;
      return;
    }
  }
  main().replaceChildren(h("p", {}, "No such page. ", h("a", { href: "#/" }, "Overview")));
}

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
  el.replaceChildren(h("h1", {}, "Group ", name),
    h("p", { class: "muted" }, `config version ${g.version}`),
    section("Members and weights", true, table(["member", "role", "provider", "model", "weight", ""], rows, "members"), controls),
    section("Experiment", true, exp),
    section("Per-arm feature importance", true, imp),
    section("Latency and error series", false, h("p", { class: "muted" },
      "The control API has no time-series route yet (SPEC §4); use Prometheus' switchyard_request_duration_seconds and switchyard_requests_total.")));
  await Promise.all([experimentView(exp, name), importanceView(imp, name)]);
}

async function experimentView(el, name) {
  let r;
  try { r = (await api("GET", `/groups/${enc(name)}/experiment`)).data; } catch (e) {
    el.replaceChildren(h("p", { class: "muted" }, "No experiment data: " + e.message));
    return;
  }
  const rows = r.members.map((m) => h("tr", {}, h("td", {}, m.member), h("td", {}, m.role), h("td", {}, String(m.requests)),
    h("td", {}, fmt.pct(m.share)), h("td", {}, fmt.pct(m.error_rate)), h("td", {}, fmt.ms(m.latency_us.p50)),
    h("td", {}, fmt.ms(m.latency_us.p95)), h("td", { class: "hide-narrow" }, fmt.ms(m.ttft_us.p50)),
    h("td", { class: "hide-narrow" }, m.feedback.map((f) => `${f.metric} ${fmt.num(f.mean, 3)} (n=${f.samples})`).join(", ") || "–"),
    h("td", { class: "hide-narrow" }, (m.cost || []).map((c) => `${c.per_request} ${c.currency}`).join(", ") || "–")));
  const srm = r.srm;
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

async function importanceView(el, name) {
  let r;
  try { r = (await api("GET", `/groups/${enc(name)}/explanations?top=10`)).data; } catch (e) {
    el.replaceChildren(h("p", { class: "muted" }, "No explanations: " + e.message));
    return;
  }
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

function confirmThen(question, action) {
  const dlg = h("dialog", { "aria-labelledby": "confirm-q", id: "confirm" },
    h("p", { id: "confirm-q" }, question),
    h("menu", {},
      h("button", { class: "secondary", onclick: () => dlg.close() }, "Cancel"),
      h("button", { id: "confirm-ok", onclick: () => { dlg.close(); action(); } }, "Confirm")));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

// === providers ===

const KINDS = {
  openai: ["base_url", "api_key"], anthropic: ["base_url", "api_key"], gemini: ["base_url", "api_key"],
  huggingface: ["base_url", "api_key"], oip: ["base_url", "api_key"], http: ["base_url", "api_key"], mock: ["latency_ms"],
};

async function providersPage(el) {
  const { data: list, etag } = await api("GET", "/providers");
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

async function modelsPage(el) {
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
  let cursor = null;
  const load = async (append) => {
    const q = new URLSearchParams({ limit: "50" });
    for (const k of ["group", "member", "status"]) if (f[k].value) q.set(k, f[k].value);
    if (f.since.value) q.set("since", String(new Date(f.since.value).getTime()));
    if (append && cursor) q.set("cursor", cursor);
    const { data } = await api("GET", "/inferences?" + q);
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
      ["request", "time", "group", "member", "status", "latency", "tokens in/out"].map((x) => h("th", { scope: "col" }, x)))), body)), more);
  await load(false);
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

// === audit and config versions ===

async function auditPage(el) {
  const { data } = await api("GET", "/audit?limit=100");
  const none = data.length ? [] : [h("tr", {}, h("td", { colspan: "6", class: "muted" }, "No audited changes yet."))];
  el.replaceChildren(h("h1", {}, "Audit"), table(["time", "actor", "action", "target", "version", "change"], none.concat(data.map((e) =>
    h("tr", {}, h("td", {}, fmt.time(e.timestamp_ms)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.target),
      h("td", {}, String(e.config_version)),
      h("td", {}, h("details", {}, h("summary", {}, "diff"), diffView(pretty(e.before), pretty(e.after), "before → after"),
        e.reason ? h("p", { class: "muted" }, e.reason) : null))))), "audit trail"));
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
  async function showDiff(version) {
    const before = versions.find((x) => x.version < version);
    const [a, b] = await Promise.all([before ? configText(before.version) : "", configText(version)]);
    view.replaceChildren(h("h2", {}, `Version ${before ? before.version : "(none)"} → ${version}`), diffView(a, b, "config diff"));
  }
}

// === start ===

async function start() {
  try {
    const r = await fetch("/ui/session", { credentials: "same-origin" });
    if (!r.ok) { location.assign("/ui/"); return; }
    const who = await r.json();
    state.role = who.role;
    state.name = who.name;
  } catch (_) { return; }
  document.body.classList.toggle("viewer", !isAdmin());
  document.getElementById("who").textContent = `${state.name} (${state.role})`;
  document.getElementById("signout-csrf").value = csrf();
  window.addEventListener("hashchange", route);
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => state.charts.forEach((u) => u.setSize({ width: chartWidth(u.root.parentElement), height: u.height })), 100);
  });
  await route();
}

// Deferred page modules (jobs.js) register their routes before this runs.
document.addEventListener("DOMContentLoaded", start);
