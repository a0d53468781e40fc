// Charts with the vendored uPlot: bars (attributions, feature importance with intervals)
// and challenger − champion intervals. Each chart gets an aria-label with its numbers and
// is registered in state.charts (destroyed on navigation, resized with the window).
"use strict";

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

// Destroys the charts drawn inside `container` (before it is drawn again).
function dropCharts(container) {
  const inside = state.charts.filter((u) => container.contains(u.root));
  inside.forEach((u) => u.destroy());
  state.charts = state.charts.filter((u) => !inside.includes(u));
}
