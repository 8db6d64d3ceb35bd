//! Per-class charts as inline SVG: IoU bars and the row-normalised confusion matrix.

use fcn_metrics::{ConfusionMatrix, Report};

use super::text::{escape, percent, put, rgb, text_width};

pub(super) fn class_iou_bars(report: &Report, colors: &[[u8; 3]]) -> String {
    let label_w = report
        .per_class
        .iter()
        .map(|c| text_width(&c.name))
        .fold(60.0f64, f64::max)
        .min(260.0)
        + 28.0;
    let (bar_w, row_h, top) = (420.0, 24.0, 26.0);
    let width = label_w + bar_w + 70.0;
    let height = top + row_h * report.per_class.len() as f64 + 8.0;
    let mut svg = String::new();
    put!(
        svg,
        r##"<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="IoU per class">"##
    );
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let x = label_w + bar_w * pct / 100.0;
        put!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" class="grid"/><text x="{x:.1}" y="14" class="tick" text-anchor="middle">{pct}%</text>"##,
            top - 4.0,
            height - 6.0
        );
    }
    for (c, class) in report.per_class.iter().enumerate() {
        let y = top + row_h * c as f64;
        let color = rgb(colors.get(c).copied().unwrap_or([128, 128, 128]));
        put!(
            svg,
            r##"<rect x="4" y="{:.1}" width="14" height="14" rx="2" fill="{color}" stroke="#0003"/><text x="24" y="{:.1}" class="name">{}</text>"##,
            y + 4.0,
            y + 16.0,
            escape(&class.name)
        );
        match class.iou {
            Some(iou) => {
                let w = bar_w * iou.clamp(0.0, 1.0);
                put!(
                    svg,
                    r##"<rect x="{label_w:.1}" y="{:.1}" width="{w:.1}" height="16" rx="2" fill="#4c78a8"><title>{}: IoU {}</title></rect><text x="{:.1}" y="{:.1}" class="value">{:.1}%</text>"##,
                    y + 3.0,
                    escape(&class.name),
                    percent(Some(iou)),
                    label_w + w + 5.0,
                    y + 16.0,
                    100.0 * iou
                );
            }
            None => put!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" class="value muted">n/a (absent)</text>"##,
                label_w + 5.0,
                y + 16.0
            ),
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The sequential "Blues" colour scale, `v` in [0, 1].
fn blues(v: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 5] = [
        [247.0, 251.0, 255.0],
        [198.0, 219.0, 239.0],
        [107.0, 174.0, 214.0],
        [33.0, 113.0, 181.0],
        [8.0, 48.0, 107.0],
    ];
    let t = v.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |k: usize| (STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f).round() as u8;
    [mix(0), mix(1), mix(2)]
}

pub(super) fn confusion_heatmap(matrix: &ConfusionMatrix, names: &[String]) -> String {
    let n = matrix.num_classes();
    let name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
    let label_w = (0..n)
        .map(|c| text_width(&name(c)))
        .fold(40.0f64, f64::max)
        .min(220.0)
        + 12.0;
    let cell = (640.0 / n.max(1) as f64).clamp(10.0, 48.0);
    let (left, top) = (label_w + 26.0, label_w + 26.0);
    let grid = cell * n as f64;
    let legend_x = left + grid + 24.0;
    let width = legend_x + 70.0;
    let height = top + grid + 16.0;
    let mut svg = String::new();
    put!(
        svg,
        r##"<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="Confusion matrix">"##
    );
    put!(
        svg,
        r##"<text x="{:.1}" y="14" class="label" text-anchor="middle">predicted</text><text transform="translate(14 {:.1}) rotate(-90)" class="label" text-anchor="middle">ground truth</text>"##,
        left + grid / 2.0,
        top + grid / 2.0
    );
    let font = (cell * 0.36).clamp(8.0, 12.0);
    for c in 0..n {
        let pos = cell * c as f64 + cell / 2.0;
        put!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" class="name" text-anchor="end" style="font-size:{font:.0}px">{n}</text>"##,
            left - 6.0,
            top + pos + font * 0.35,
            n = escape(&name(c))
        );
        put!(
            svg,
            r##"<text transform="translate({:.1} {:.1}) rotate(-90)" class="name" style="font-size:{font:.0}px">{n}</text>"##,
            left + pos + font * 0.35,
            top - 6.0,
            n = escape(&name(c))
        );
    }
    for gt in 0..n {
        let row_total: u64 = (0..n).map(|p| matrix.count(gt, p)).sum();
        for pred in 0..n {
            let (x, y) = (left + cell * pred as f64, top + cell * gt as f64);
            let count = matrix.count(gt, pred);
            if row_total == 0 {
                put!(
                    svg,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="#e6e6e6" stroke="#fff" stroke-width="0.5"><title>{}: no ground-truth pixels</title></rect>"##,
                    escape(&name(gt))
                );
                continue;
            }
            let v = count as f64 / row_total as f64;
            put!(
                svg,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{}" stroke="#fff" stroke-width="0.5"><title>ground truth {} → predicted {}: {:.1}% ({count} px)</title></rect>"##,
                rgb(blues(v)),
                escape(&name(gt)),
                escape(&name(pred)),
                100.0 * v
            );
            if cell >= 26.0 && count > 0 {
                let fill = if v > 0.55 { "#fff" } else { "#1d2330" };
                let text = if v < 0.005 {
                    "<1".to_owned()
                } else {
                    format!("{:.0}", 100.0 * v)
                };
                put!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" style="font-size:{:.0}px;fill:{fill}">{}</text>"##,
                    x + cell / 2.0,
                    y + cell / 2.0 + 4.0,
                    (cell * 0.3).clamp(8.0, 12.0),
                    escape(&text)
                );
            }
        }
    }
    // The colour legend: a vertical gradient from 100% (top) to 0%.
    svg.push_str(r##"<defs><linearGradient id="blues" x1="0" x2="0" y1="1" y2="0">"##);
    for i in 0..=10 {
        let v = f64::from(i) / 10.0;
        put!(
            svg,
            r##"<stop offset="{v:.1}" stop-color="{}"/>"##,
            rgb(blues(v))
        );
    }
    svg.push_str("</linearGradient></defs>");
    let legend_h = grid.max(120.0);
    put!(
        svg,
        r##"<rect x="{legend_x:.1}" y="{top:.1}" width="14" height="{legend_h:.1}" fill="url(#blues)" stroke="#999" stroke-width="0.5"/>"##
    );
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = top + legend_h * (1.0 - pct / 100.0);
        put!(
            svg,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="axis"/><text x="{:.1}" y="{:.1}" class="tick">{pct}%</text>"##,
            legend_x + 14.0,
            legend_x + 18.0,
            legend_x + 21.0,
            y + 4.0
        );
    }
    put!(
        svg,
        r##"<text x="{legend_x:.1}" y="{:.1}" class="tick">of row</text>"##,
        top - 8.0
    );
    svg.push_str("</svg>");
    svg
}
