// One fine-tuning job, live (SPEC §10, §12): its state along draft → … → enrolled, what it
// asked and produced, the trainer's metrics, and its event log. Events arrive over the
// API's Server-Sent Events stream (GET /api/v1/jobs/{id}/events?follow=1, resumed from the
// last sequence number) and the job itself is re-read every 2 s until it is final; both
// update the page in place. Admins can start a validated draft and cancel (confirmed).
"use strict";

const JOB_PATH = ["draft", "validating", "queued", "running", "succeeded", "registered", "enrolled"];
const when = (ms) => (ms ? fmt.time(ms) : "–");

function jobFinal(j) {
  return ["failed", "cancelled", "enrolled"].includes(j.state) || (j.state === "registered" && !j.spec.enroll);
}

// The states a job goes through, the current one marked (failed / cancelled end the line).
function jobStepper(j) {
  const path = j.spec.enroll ? JOB_PATH : JOB_PATH.slice(0, -1);
  const at = path.indexOf(j.state);
  const items = path.map((s, i) => h("li", { class: i < at ? "done" : i === at ? "current" : "", "aria-current": i === at ? "step" : null }, s));
  if (at < 0) items.push(h("li", { class: "current " + j.state, "aria-current": "step" }, j.state));
  return h("ol", { class: "stepper", "aria-label": "job progress" }, items);
}

function jobFacts(j) {
  const facts = [["group", j.spec.group], ["trainer", j.spec.provider], ["base model", j.spec.base_model],
    ["tenant", j.spec.tenant || "–"], ["created by", j.created_by], ["created", when(j.created_at_ms)],
    ["validated", when(j.validated_at_ms)], ["started", when(j.started_at_ms)], ["finished", when(j.finished_at_ms)],
    ["trainer status", j.provider_status || "–"], ["trainer job", j.provider_job_id || "–"],
    ["fine-tuned model", j.fine_tuned_model || "–"], ["catalog entry", j.catalog_id || "–"],
    ["challenger", j.member ? h("a", { href: "#/group/" + enc(j.member.split("/")[0]) }, j.member)
      : j.spec.enroll ? `→ ${j.spec.enroll.group} at weight ${j.spec.enroll.weight}` : "–"]];
  return [h("dl", { class: "kpis job-facts" }, facts.map(([k, v]) => h("div", {}, h("dd", { "data-fact": k }, v), h("dt", {}, k)))),
    j.error ? h("p", { class: "error", role: "alert" }, "Error: " + j.error) : null];
}

function jobDataset(j) {
  const d = j.dataset;
  if (!d) return h("p", { class: "muted" }, "Not built yet (it is built while validating).");
  return [h("dl", { class: "kpis" }, [["training examples", d.train_rows], ["validation examples", d.validation_rows],
    ["skipped", d.skipped_rows], ["redactions", d.redactions]].map(([k, v]) => h("div", {}, h("dd", {}, String(v)), h("dt", {}, k)))),
  h("p", {}, d.description), h("p", { class: "muted" }, `trainer files: ${d.train_file || "–"}, ${d.validation_file || "–"}`)];
}

function jobCheckpoint(j) {
  const m = Object.entries(j.metrics || {});
  return m.length ? table(["metric", "value"], m.map(([k, v]) => h("tr", { "data-metric": k }, h("td", {}, k), h("td", {}, fmt.num(v, 4)))), "last checkpoint's metrics")
    : h("p", { class: "muted" }, "No checkpoint metrics yet (the trainer reports them once it has a checkpoint).");
}

// Every checkpoint the trainer kept, by step, with its metrics side by side.
function jobCheckpoints(j) {
  const list = j.checkpoints || [];
  if (!list.length) return h("p", { class: "muted" }, "No checkpoints listed (the trainer's list is read when the job succeeds).");
  const names = [...new Set(list.flatMap((c) => Object.keys(c.metrics || {})))].filter((n) => n !== "step").sort();
  return table(["step", "model", "taken", ...names], list.map((c) => h("tr", { "data-checkpoint": c.id },
    h("td", {}, String(c.step)), h("td", {}, h("code", {}, c.model || "–")), h("td", {}, c.created_at_ms ? fmt.time(c.created_at_ms) : "–"),
    ...names.map((n) => h("td", {}, fmt.num((c.metrics || {})[n], 4))))), "checkpoints");
}

function jobControls(j, refresh) {
  if (!isAdmin()) return null;
  const act = (path, done) => async () => {
    try { await api("POST", `/jobs/${enc(j.id)}/${path}`); toast(done); } catch (e) { toast("Not done: " + e.message); }
    refresh();
  };
  return h("div", { class: "toolbar" },
    j.state === "draft" && j.validated_at_ms ? h("button", { id: "job-start", onclick: act("start", "Job started") }, "Start training") : null,
    j.state === "draft" || ["validating", "queued", "running"].includes(j.state)
      ? h("button", { class: "danger", id: "job-cancel", "data-action": "cancel", disabled: j.cancel_requested,
        onclick: () => confirmThen(`Cancel job ${shortJobId(j.id)} (${j.state})? A job at the trainer is cancelled there too; this cannot be undone.`,
          act("cancel", "Cancel requested")) }, j.cancel_requested ? "Cancelling…" : "Cancel job")
      : null);
}

// One row of the event log.
function jobEventRow(e) {
  const data = e.data && typeof e.data === "object" && Object.keys(e.data).length ? JSON.stringify(e.data) : "";
  return h("tr", { "data-seq": e.seq, class: e.level === "error" ? "error" : null },
    h("td", {}, fmt.time(e.at_ms)), h("td", { class: "hide-narrow" }, e.source), h("td", {}, e.level), h("td", { class: "hide-narrow" }, e.type),
    h("td", {}, e.message, data ? h("div", { class: "muted" }, h("code", {}, data)) : null),
    h("td", {}, [e.state, e.provider_status].filter(Boolean).join(" / ")));
}

// The trainer's metrics events as lines over their step (or their order).
function jobMetricsChart(box, events, prev) {
  if (prev) { prev.destroy(); state.charts = state.charts.filter((c) => c !== prev); }
  const points = events.filter((e) => e.type === "metrics" && e.data && typeof e.data === "object");
  const names = [...new Set(points.flatMap((e) => Object.keys(e.data).filter((k) => k !== "step" && typeof e.data[k] === "number")))];
  if (!names.length) { box.replaceChildren(h("p", { class: "muted" }, "No metrics events from the trainer yet.")); return null; }
  box.replaceChildren();
  const xs = points.map((e, i) => (typeof e.data.step === "number" ? e.data.step : i));
  const colors = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#b91c1c"];
  const u = new uPlot({ width: chartWidth(box), height: 200, title: "trainer metrics by step",
    scales: { x: { time: false } }, axes: [{ label: "step" }, {}],
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: colors[i % colors.length], points: { show: true, size: 6 } }))],
  }, [xs, ...names.map((n) => points.map((e) => (typeof e.data[n] === "number" ? e.data[n] : null)))], box);
  box.setAttribute("role", "img");
  box.setAttribute("aria-label", "trainer metrics: " + points.map((e, i) => `step ${xs[i]} ` + names.map((n) => `${n} ${fmt.num(e.data[n], 4)}`).join(" ")).join("; "));
  state.charts.push(u);
  return u;
}

async function jobPage(el, id) {
  let { data: job } = await api("GET", "/jobs/" + enc(id));
  const { data: first } = await api("GET", `/jobs/${enc(id)}/events`);
  const badge = h("span", { id: "job-state", "aria-live": "polite" });
  const parts = { stepper: h("div"), controls: h("div"), facts: h("div"), dataset: h("div"), checkpoint: h("div"), checkpoints: h("div") };
  const chartBox = h("div", { class: "chart", "data-chart": "job-metrics" });
  const latest = h("p", { id: "job-latest" });
  const log = h("tbody", { id: "job-events" });
  const live = h("span", { class: "muted", id: "job-live" });
  const events = [];
  let lastSeq = 0, chart = null, stream = null, stopped = false;

  // Redrawn only when the job changed, so a focused button keeps its focus.
  let drawn = "";
  const show = (j) => {
    job = j;
    if (JSON.stringify(j) === drawn) return;
    drawn = JSON.stringify(j);
    badge.replaceChildren(jobBadge(j));
    parts.stepper.replaceChildren(jobStepper(j));
    parts.controls.replaceChildren(jobControls(j, refresh) || "");
    parts.facts.replaceChildren(...jobFacts(j).filter(Boolean));
    parts.dataset.replaceChildren(...[jobDataset(j)].flat());
    parts.checkpoint.replaceChildren(jobCheckpoint(j));
    parts.checkpoints.replaceChildren(jobCheckpoints(j));
    live.textContent = jobFinal(j) ? "final; nothing more will happen" : "live: events streamed, state re-read every 2 s";
  };
  const addEvents = (evs) => {
    const fresh = evs.filter((e) => e.seq > lastSeq);
    if (!fresh.length) return;
    lastSeq = fresh[fresh.length - 1].seq;
    events.push(...fresh);
    log.querySelector("tr.none")?.remove();
    log.append(...fresh.map(jobEventRow));
    const m = events.filter((e) => e.type === "metrics").pop();
    latest.textContent = m ? `Latest from the trainer: ${m.message}` : "";
    if (fresh.some((e) => e.type === "metrics")) chart = jobMetricsChart(chartBox, events, chart);
  };
  async function refresh() {
    if (stopped) return;
    try { show((await api("GET", "/jobs/" + enc(id))).data); } catch (_) { /* keep what is shown */ }
  }
  const follow = () => {
    if (stopped || jobFinal(job)) return;
    stream = new EventSource(`/api/v1/jobs/${enc(id)}/events?follow=1&after=${lastSeq}`);
    stream.onmessage = (m) => { addEvents([JSON.parse(m.data)]); refresh(); };
    // The stream ends when the job is final; otherwise (a dropped connection) resume.
    stream.onerror = () => { stream.close(); if (!stopped) setTimeout(() => refresh().then(follow), 2000); };
  };

  show(job);
  log.append(h("tr", { class: "none" }, h("td", { colspan: "6", class: "muted" }, "No events yet.")));
  addEvents(first.events);
  el.replaceChildren(h("h1", {}, "Job ", h("code", {}, id), " ", badge), h("p", {}, live),
    parts.stepper, parts.controls, parts.facts,
    section("Progress and metrics", true, latest, chartBox, h("h3", {}, "Last checkpoint"), parts.checkpoint,
      h("h3", {}, "Checkpoints"), parts.checkpoints),
    section("Dataset", true, parts.dataset),
    section("Events", true, h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "visually-hidden" }, "job events"),
      h("thead", {}, h("tr", {}, ["time", "source", "level", "type", "message", "state / trainer status"]
        .map((x, i) => h("th", { scope: "col", class: i === 1 || i === 3 ? "hide-narrow" : null }, x)))), log))),
    section("What was asked", false, h("pre", {}, pretty(job.spec))),
    h("p", {}, h("a", { href: "#/jobs" }, "← all jobs")));
  if (!chart) chart = jobMetricsChart(chartBox, events, null);
  if (!el.isConnected) return;
  state.cleanups.push(() => { stopped = true; if (stream) stream.close(); });
  state.timers.push(setInterval(() => { if (!jobFinal(job)) refresh(); }, 2000));
  follow();
}

routes.push([/^#\/job\/([^/]+)$/, jobPage]);
