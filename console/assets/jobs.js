// Jobs list and the create-job form (SPEC §10, §12). Reads GET /api/v1/jobs every 3 s and
// replaces only the table's rows (no page reload); admins get a "New job" form that posts
// POST /api/v1/jobs and opens the new job; viewers get no write control. Loaded after
// app.js and uses its helpers (h, api, fmt, table, toast, section, state).
"use strict";

const JOB_STATES = ["draft", "validating", "queued", "running", "succeeded", "failed", "cancelled", "registered", "enrolled"];

// The latest time anything happened to a job (the API has no `updated_at`).
function jobUpdated(j) {
  return Math.max(j.created_at_ms, j.validated_at_ms || 0, j.started_at_ms || 0, j.finished_at_ms || 0);
}

// Ids begin with their creation time; the tail (random) tells jobs apart, as the
// default challenger name `ft-<last 8>` does.
function shortJobId(id) { return "…" + id.slice(-8); }

function jobBadge(j) {
  return h("span", { class: "job-state " + j.state, "data-state": j.state }, j.state + (j.cancel_requested && !["cancelled", "failed"].includes(j.state) ? " (cancelling)" : ""));
}

async function jobsPage(el) {
  const filter = h("select", { id: "job-filter", name: "state", "aria-label": "only jobs in state" },
    h("option", { value: "" }, "any state"), JOB_STATES.map((s) => h("option", { value: s }, s)));
  const body = h("tbody");
  const more = h("p", { class: "muted", hidden: true }, "Showing the newest 100; filter by state to see others.");
  let drawn = null;
  const fill = async () => {
    const q = new URLSearchParams({ limit: "100" });
    if (filter.value) q.set("state", filter.value);
    const { data } = await api("GET", "/jobs?" + q);
    more.hidden = !data.next_cursor;
    if (JSON.stringify(data.jobs) === drawn) return;  // unchanged: keep the rows (and focus)
    drawn = JSON.stringify(data.jobs);
    body.replaceChildren(...data.jobs.map((j) => h("tr", { "data-job": j.id },
      h("td", {}, h("a", { href: "#/job/" + enc(j.id), title: j.id, "aria-label": "job " + j.id }, h("code", {}, shortJobId(j.id)))),
      h("td", {}, jobBadge(j)), h("td", {}, j.spec.group),
      h("td", {}, `${j.spec.provider} · ${j.spec.base_model}`),
      h("td", { class: "hide-narrow" }, fmt.time(j.created_at_ms)), h("td", {}, fmt.time(jobUpdated(j))),
      h("td", { class: "hide-narrow" }, j.created_by))));
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No jobs yet.")));
  };
  filter.addEventListener("change", fill);
  await fill();
  el.replaceChildren(h("h1", {}, "Fine-tuning jobs"),
    h("p", { class: "muted" }, "Newest first; refreshed every 3 s."),
    isAdmin() ? section("New job", false, await jobForm()) : null,
    h("div", { class: "toolbar" }, h("label", {}, "state", filter)),
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "visually-hidden" }, "jobs"),
      h("thead", {}, h("tr", {}, ["job", "state", "group", "trainer · base model", "created", "updated", "by"]
        .map((x, i) => h("th", { scope: "col", class: i === 4 || i === 6 ? "hide-narrow" : null }, x)))), body)), more);
  every(el, 3000, fill);
}

// The create form: the fields of POST /api/v1/jobs; the server validates (422 problems
// are shown under the form with their paths).
async function jobForm() {
  const [{ data: groups }, { data: providers }] = await Promise.all([api("GET", "/groups"), api("GET", "/providers")]);
  const trainers = providers.filter((p) => p.kind === "openai" || p.kind === "http");
  const groupSelect = (id) => h("select", { id, name: id }, groups.map((g) => h("option", { value: g.name }, g.name)));
  const f = {
    group: groupSelect("j-group"),
    provider: h("select", { id: "j-provider", name: "provider" }, trainers.map((p) => h("option", { value: p.name }, `${p.name} (${p.kind})`))),
    base_model: h("input", { id: "j-base_model", name: "base_model", required: true, placeholder: "e.g. gpt-4o-mini-2024-07-18" }),
    tenant: h("input", { id: "j-tenant", name: "tenant", placeholder: "records without a tenant" }),
    source: h("select", { id: "j-source", name: "source" }, h("option", { value: "records" }, "records of the group"), h("option", { value: "file" }, "file under jobs.dataset_dir")),
    path: h("input", { id: "j-path", name: "path", placeholder: "relative path" }),
    since: h("input", { id: "j-since", name: "since", type: "datetime-local" }),
    until: h("input", { id: "j-until", name: "until", type: "datetime-local" }),
    metric: h("input", { id: "j-metric", name: "metric", placeholder: "e.g. thumbs_up" }),
    min: h("input", { id: "j-min", name: "min", type: "number", step: "any", value: "1" }),
    max_examples: h("input", { id: "j-max_examples", name: "max_examples", type: "number", min: "1" }),
    hyper: h("textarea", { id: "j-hyper", name: "hyperparameters", rows: "2" }, '{"n_epochs": 2}'),
    suffix: h("input", { id: "j-suffix", name: "suffix" }),
    start: h("input", { id: "j-start", name: "start", type: "checkbox", checked: true }),
    enroll: h("input", { id: "j-enroll", name: "enroll", type: "checkbox" }),
    enroll_group: groupSelect("j-enroll_group"),
    weight: h("input", { id: "j-weight", name: "weight", type: "number", min: "0", step: "any", value: "5" }),
  };
  const field = (k, label) => h("div", { "data-field": k }, h("label", { for: f[k].id }, label), f[k]);
  const err = h("div", { class: "error", role: "alert", id: "job-form-error" });
  const records = h("fieldset", {}, h("legend", {}, "Records"), field("since", "since"), field("until", "until"),
    field("metric", "feedback metric (keep requests rated at least min)"), field("min", "min"), field("max_examples", "max examples (newest kept)"));
  const file = h("fieldset", { hidden: true }, h("legend", {}, "File"), field("path", "path"));
  const enrollBox = h("fieldset", { hidden: true }, h("legend", {}, "Enrol as challenger"), field("enroll_group", "group"), field("weight", "weight"));
  f.source.addEventListener("change", () => { records.hidden = f.source.value !== "records"; file.hidden = !records.hidden; });
  f.enroll.addEventListener("change", () => { enrollBox.hidden = !f.enroll.checked; });
  const form = h("form", { id: "job-form", class: "job-form", novalidate: true },
    trainers.length ? null : h("p", { class: "notice" }, "No provider can train: add one of kind openai or http on the Providers page."),
    field("group", "group (its records make the dataset)"), field("provider", "trainer (provider)"), field("base_model", "base model"),
    field("tenant", "tenant"), field("source", "dataset"), records, file, field("hyper", "hyperparameters (JSON, passed to the trainer)"),
    field("suffix", "model name suffix"),
    h("label", {}, f.start, " start once validated"), h("label", {}, f.enroll, " enrol the model as a challenger"), enrollBox,
    err, h("div", { class: "toolbar" }, h("button", { type: "submit", id: "job-create" }, "Create job")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    let spec;
    try { spec = jobSpec(f); } catch (e) { err.textContent = e.message; return; }
    try {
      const { data: job } = await api("POST", "/jobs", { body: spec });
      toast(`Job ${shortJobId(job.id)} created`);
      location.hash = "#/job/" + enc(job.id);
    } catch (e) {
      err.replaceChildren(h("p", {}, "Not created: " + e.message), e.problems.length ? h("ul", {}, e.problems.map((p) => h("li", {}, p))) : null);
    }
  });
  return form;
}

// The POST /api/v1/jobs body from the form's fields (only what was filled in).
function jobSpec(f) {
  const ms = (input) => (input.value ? new Date(input.value).getTime() : undefined);
  let hyperparameters = {};
  if (f.hyper.value.trim()) {
    try { hyperparameters = JSON.parse(f.hyper.value); } catch (e) { throw new Error("hyperparameters: not JSON (" + e.message + ")"); }
  }
  const dataset = { source: f.source.value };
  if (f.source.value === "file") dataset.path = f.path.value;
  else {
    if (f.since.value) dataset.since = ms(f.since);
    if (f.until.value) dataset.until = ms(f.until);
    if (f.metric.value) dataset.feedback = { metric: f.metric.value, min: Number(f.min.value) };
    if (f.max_examples.value) dataset.max_examples = Number(f.max_examples.value);
  }
  const spec = { group: f.group.value, provider: f.provider.value, base_model: f.base_model.value.trim(), dataset, hyperparameters, start: f.start.checked };
  if (f.tenant.value) spec.tenant = f.tenant.value;
  if (f.suffix.value) spec.suffix = f.suffix.value;
  if (f.enroll.checked) spec.enroll = { group: f.enroll_group.value, weight: Number(f.weight.value) };
  return spec;
}

routes.push([/^#\/jobs$/, jobsPage]);
