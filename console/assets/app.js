// Switchyard operator console (SPEC §12), the core: DOM helpers, the control API client,
// the hash router, the confirm dialog and start-up. Plain JavaScript, no build step; the
// pages live in their own files (groups.js, providers.js, models.js, inferences.js,
// history.js, jobs.js, job.js), loaded after this one, each pushing its routes. Every number is read
// from the control API (/api/v1) with the session cookie; writes send the session's CSRF
// token (x-csrf-token) and the ETag they were based on (If-Match).
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

// A problem of a 4xx answer as text: "path: message" (some routes send plain strings).
const problemText = (p) => (typeof p === "string" ? p : (p.path ? p.path + ": " : "") + p.message);

class ApiError extends Error {
  constructor(status, data) {
    super((data && data.error && data.error.message) || "HTTP " + status);
    this.status = status;
    this.data = data;
    this.problems = ((data && data.error && data.error.problems) || []).map(problemText);
  }
  // The message with its problems, on one line.
  detail(sep = ": ") { return this.message + (this.problems.length ? sep + this.problems.join("; ") : ""); }
}

async function api(method, path, opts = {}) {
  const headers = {};
  if (method !== "GET") headers["x-csrf-token"] = csrf();
  if (opts.body !== undefined || opts.raw !== undefined) headers["content-type"] = "application/json";
  if (opts.etag) headers["if-match"] = opts.etag;
  if (opts.create) headers["if-none-match"] = "*";
  const r = await fetch("/api/v1" + path, {
    method, headers, credentials: "same-origin",
    body: opts.raw !== undefined ? opts.raw : opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (r.status === 401) { location.assign("/ui/"); throw new ApiError(401, null); }
  const text = await r.text();
  let data = text;
  if ((r.headers.get("content-type") || "").includes("json")) data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new ApiError(r.status, data);
  return { data, etag: r.headers.get("etag"), headers: r.headers };
}

const enc = encodeURIComponent;

// === router ===

// [pattern, page] pairs; each page module (groups.js, providers.js, …) pushes its own.
const routes = [];

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
  // The nav entry of the page's section: #/job/x is under Jobs, #/group/x under Overview.
  const part = (x) => { const p = x.replace(/^#\/?/, "").split("/")[0].replace(/s$/, ""); return p === "group" ? "" : p; };
  for (const a of document.querySelectorAll("header nav a")) {
    a.toggleAttribute("aria-current", false);
    if (part(a.getAttribute("href")) === part(hash)) a.setAttribute("aria-current", "page");
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

// === live refresh ===

// Runs `fn` every `ms` while `el` (the page's container) is shown, skipping while a dialog
// is open or the tab is hidden; a failed refresh keeps what is shown.
function every(el, ms, fn) {
  if (!el.isConnected) return;
  state.timers.push(setInterval(() => {
    if (!el.isConnected || document.hidden || document.querySelector("dialog[open]")) return;
    Promise.resolve().then(fn).catch(() => {});
  }, ms));
}

// For a page whose writes are based on config version `etag`: when another change lands,
// a notice says so (the page's inputs are kept; a save would show the diff).
function watchVersion(el, etag) {
  const note = h("p", { class: "notice", role: "status", id: "version-changed", hidden: true });
  el.prepend(note);
  const v = (t) => String(t).replaceAll('"', "");
  every(el, 5000, async () => {
    const { etag: now } = await api("GET", "/config/versions?limit=1");
    if (!now || !etag || now === etag) return;
    note.hidden = false;
    note.replaceChildren(`The config changed on the server since you loaded this page (version ${v(etag)} → ${v(now)}). `,
      h("button", { type: "button", class: "secondary", onclick: () => route() }, "Reload"));
  });
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

// Deferred page modules register their routes before this runs.
document.addEventListener("DOMContentLoaded", start);
