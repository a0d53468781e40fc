// Line diffs and the "changed since you loaded it" path (SPEC §12): a write refused with
// 412 re-reads the object and shows, as a line diff, what the page loaded against what the
// server has now — for a group, a provider (in its dialog) or the whole config (rollback).
"use strict";

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
  toast("Not saved: " + (err.detail ? err.detail(" — ") : err.message));
}

// The text of config version `v` (YAML as stored, credentials sealed or referenced).
async function configText(v) { return (await api("GET", "/config/versions/" + v)).data; }

// A failed write guarded by the config's version (a rollback; the ETag is "<n>"): on a
// 412, the config text of the version the page loaded against the current version's.
async function configWriteFailed(err, etag) {
  if (err.status !== 412) return writeFailed(err, null, null);
  try {
    const loaded = Number(String(etag || "").replaceAll('"', ""));
    const { data } = await api("GET", "/config/versions");
    const [a, b] = await Promise.all([configText(loaded), configText(data.current)]);
    const box = staleBox(`# version ${loaded}\n` + a, `# version ${data.current}\n` + b);
    main().querySelectorAll(".stale").forEach((old) => old.remove());
    main().prepend(box);
    box.scrollIntoView();
  } catch (e) { toast("Not saved: " + err.message); }
}
