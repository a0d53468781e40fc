//! `chart.png`: p99 latency per fixed-rate scenario and target (log scale), and the
//! saturation rate per target. Drawn with plotters' bitmap backend; text uses a TrueType
//! font registered at run time (ab_glyph, no system font libraries), DejaVu Sans by
//! default (`fonts-dejavu-core`).

use std::path::Path;

use anyhow::Context as _;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::summary::{self, Row};

const FAMILY: &str = "sans-serif";
const PALETTE: &[RGBColor] = &[
    RGBColor(0x55, 0x55, 0x55), // direct
    RGBColor(0x1f, 0x77, 0xb4), // switchyard
    RGBColor(0x2c, 0xa0, 0x2c), // nginx
    RGBColor(0xd6, 0x27, 0x28), // litellm
    RGBColor(0x94, 0x67, 0xbd), // others
    RGBColor(0xff, 0x7f, 0x0e),
];

/// Register `font` (a .ttf file) as the chart's text face.
pub fn register_font(font: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(font).with_context(|| format!("read font {}", font.display()))?;
    // plotters keeps fonts for the process's life; the chart is drawn once per process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{} is not a usable TrueType font", font.display()))
}

/// One panel of the chart.
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("chart: {e:?}")
}

/// Draw the chart to `out` (PNG). `title` goes on top.
pub fn draw(rows: &[Row], title: &str, out: &Path) -> anyhow::Result<()> {
    let runs: Vec<_> = rows.iter().map(|r| r.run.clone()).collect();
    let targets = summary::targets(&runs);
    let fixed: Vec<String> = summary::scenarios(&runs)
        .into_iter()
        .filter(|s| rows.iter().any(|r| &r.run.scenario == s && r.run.mode == "fixed"))
        .collect();
    let root = BitMapBackend::new(out, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, (FAMILY, 24)).map_err(err)?;
    let (top, bottom) = root.split_vertically(620);
    draw_latency(&top, rows, &fixed, &targets)?;
    draw_saturation(&bottom, rows, &targets)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Panel 1: p99 latency, log scale, grouped by scenario (`fixed`), one bar per target.
fn draw_latency(area: &Area<'_>, rows: &[Row], fixed: &[String], targets: &[String]) -> anyhow::Result<()> {
    let values: Vec<f64> = rows
        .iter()
        .filter(|r| r.run.mode == "fixed" && r.run.errors < r.run.requests)
        .map(|r| r.run.latency_us.p99 as f64 / 1000.0)
        .collect();
    let hi = values.iter().copied().fold(1.0, f64::max) * 3.0;
    let lo = values.iter().copied().fold(hi, f64::min).clamp(0.001, 0.05) / 2.0;
    let n = fixed.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption("p99 latency per scenario (ms, log scale; lower is better)", (FAMILY, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| category(fixed, *x))
        .y_desc("ms")
        .label_style((FAMILY, 15))
        .draw()
        .map_err(err)?;
    let width = 0.8 / targets.len().max(1) as f64;
    for (t, target) in targets.iter().enumerate() {
        let color = color(t);
        let bars: Vec<_> = fixed
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let r = rows.iter().find(|r| &r.run.target == target && &r.run.scenario == s)?;
                if r.run.errors >= r.run.requests {
                    return None;
                }
                let x0 = i as f64 - 0.4 + t as f64 * width;
                let v = (r.run.latency_us.p99 as f64 / 1000.0).max(lo);
                Some(Rectangle::new([(x0, lo), (x0 + width * 0.9, v)], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(target.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, 15))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Panel 2: saturation throughput per target (0 where no probe passed).
fn draw_saturation(area: &Area<'_>, rows: &[Row], targets: &[String]) -> anyhow::Result<()> {
    let sat: Vec<(usize, f64)> = targets
        .iter()
        .enumerate()
        .filter_map(|(t, target)| {
            let r = rows.iter().find(|r| &r.run.target == target && r.run.scenario == "saturation")?;
            Some((t, if r.run.probes.iter().any(|p| p.pass) { r.run.achieved_rate } else { 0.0 }))
        })
        .collect();
    let top_rate = sat.iter().map(|(_, v)| *v).fold(1.0, f64::max) * 1.2;
    let m = targets.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption("saturation throughput (req/s at p99 within bound, no errors; higher is better)", (FAMILY, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..(m as f64 - 0.5), 0f64..top_rate)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(m)
        .x_label_formatter(&|x| category(targets, *x))
        .y_desc("req/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FAMILY, 15))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            sat.iter().map(|&(t, v)| Rectangle::new([(t as f64 - 0.3, 0.0), (t as f64 + 0.3, v)], color(t).filled())),
        )
        .map_err(err)?;
    chart
        .draw_series(sat.iter().map(|&(t, v)| {
            Text::new(format!("{v:.0}"), (t as f64 - 0.1, v + top_rate * 0.07), (FAMILY, 16).into_font())
        }))
        .map_err(err)?;
    Ok(())
}

/// The label of category axis position `x`: the name at a whole index, nothing between.
fn category(names: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        names.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// The colour of the `t`-th target (the last one repeats past the palette's end).
fn color(t: usize) -> RGBColor {
    PALETTE[t.min(PALETTE.len() - 1)]
}
