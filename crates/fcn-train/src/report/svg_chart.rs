//! Line charts as inline SVG: rounded axes, series with legends, smoothing and thinning.

use super::text::{escape, put, text_width};

/// Rounded tick positions covering `[lo, hi]`: (domain low, domain high, ticks, step).
fn nice_ticks(lo: f64, mut hi: f64, target: usize) -> (f64, f64, Vec<f64>, f64) {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        hi = lo + lo.abs().max(1.0) * 0.1;
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let step = magnitude
        * if norm < 1.5 {
            1.0
        } else if norm < 3.0 {
            2.0
        } else if norm < 7.0 {
            5.0
        } else {
            10.0
        };
    let start = (lo / step).floor() * step;
    let end = (hi / step - 1e-9).ceil() * step;
    let count = ((end - start) / step).round() as usize;
    let ticks = (0..=count).map(|i| start + i as f64 * step).collect();
    (start, end, ticks, step)
}

fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let text = format!("{value:.decimals$}");
    if text.starts_with('-') && text.trim_start_matches(['-', '0', '.']).is_empty() {
        text[1..].to_owned()
    } else {
        text
    }
}

/// A line of a chart.
pub(super) struct Series {
    pub(super) label: String,
    pub(super) points: Vec<(f64, f64)>,
    pub(super) color: &'static str,
    pub(super) width: f64,
    pub(super) dashed: bool,
    pub(super) markers: bool,
    pub(super) opacity: f64,
}

/// The axes of a chart.
pub(super) struct Chart<'a> {
    pub(super) title: &'a str,
    pub(super) x_label: &'a str,
    pub(super) y_label: &'a str,
    pub(super) x_range: (f64, f64),
    pub(super) y_range: (f64, f64),
}

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 330.0;

pub(super) fn line_chart(chart: &Chart<'_>, series: &[Series]) -> String {
    let (ml, mr, mt, mb) = (64.0, 18.0, 44.0, 48.0);
    let (pw, ph) = (CHART_W - ml - mr, CHART_H - mt - mb);
    let (x0, x1, x_ticks, x_step) = nice_ticks(chart.x_range.0, chart.x_range.1, 6);
    let (y0, y1, y_ticks, y_step) = nice_ticks(chart.y_range.0, chart.y_range.1, 5);
    let sx = |x: f64| ml + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| mt + ph - (y - y0) / (y1 - y0) * ph;
    let mut svg = String::new();
    put!(
        svg,
        r##"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" viewBox="0 0 {CHART_W} {CHART_H}" role="img" aria-label="{title}">"##,
        title = escape(chart.title)
    );
    put!(
        svg,
        r##"<text x="{ml}" y="18" class="title">{}</text>"##,
        escape(chart.title)
    );
    for &y in &y_ticks {
        let py = sy(y);
        put!(
            svg,
            r##"<line x1="{ml}" x2="{:.1}" y1="{py:.1}" y2="{py:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
            ml + pw,
            ml - 6.0,
            py + 4.0,
            tick_label(y, y_step)
        );
    }
    for &x in &x_ticks {
        let px = sx(x);
        put!(
            svg,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{:.1}" y2="{:.1}" class="axis"/><text x="{px:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"##,
            mt + ph,
            mt + ph + 5.0,
            mt + ph + 18.0,
            tick_label(x, x_step)
        );
    }
    put!(
        svg,
        r##"<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{:.1}" class="axis"/><line x1="{ml}" x2="{:.1}" y1="{:.1}" y2="{:.1}" class="axis"/>"##,
        mt + ph,
        ml + pw,
        mt + ph,
        mt + ph
    );
    put!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" class="label" text-anchor="middle">{}</text>"##,
        ml + pw / 2.0,
        CHART_H - 8.0,
        escape(chart.x_label)
    );
    put!(
        svg,
        r##"<text transform="translate(16 {:.1}) rotate(-90)" class="label" text-anchor="middle">{}</text>"##,
        mt + ph / 2.0,
        escape(chart.y_label)
    );
    put!(
        svg,
        r##"<clipPath id="plot-{id}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/></clipPath><g clip-path="url(#plot-{id})">"##,
        ml - 5.0,
        mt - 5.0,
        pw + 10.0,
        ph + 10.0,
        id = chart_id(chart.title)
    );
    for s in series {
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| (sx(x), sy(y)))
            .collect();
        let dash = if s.dashed {
            r##" stroke-dasharray="7 5""##
        } else {
            ""
        };
        if points.len() > 1 {
            let coords: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            put!(
                svg,
                r##"<polyline fill="none" stroke="{}" stroke-width="{}" stroke-opacity="{}" stroke-linejoin="round"{dash} points="{}"/>"##,
                s.color,
                s.width,
                s.opacity,
                coords.join(" ")
            );
        }
        if s.markers || points.len() == 1 {
            for (x, y) in &points {
                put!(
                    svg,
                    r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{}" stroke="#fff" stroke-width="1"/>"##,
                    s.color
                );
            }
        }
    }
    svg.push_str("</g>");
    // The legend, right-aligned above the plot.
    let mut x = ml + pw;
    for s in series.iter().rev() {
        x -= text_width(&s.label) + 40.0;
        let dash = if s.dashed {
            r##" stroke-dasharray="7 5""##
        } else {
            ""
        };
        put!(
            svg,
            r##"<line x1="{x:.1}" x2="{:.1}" y1="34" y2="34" stroke="{}" stroke-width="2.5" stroke-opacity="{}"{dash}/><text x="{:.1}" y="38" class="legend">{}</text>"##,
            x + 20.0,
            s.color,
            s.opacity.max(0.6),
            x + 25.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn chart_id(title: &str) -> String {
    title
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// A debiased exponential moving average (TensorBoard's smoothing).
pub(super) fn smooth(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let n = points.len();
    let weight = if n < 8 {
        0.0
    } else {
        (1.0 - 6.0 / n as f64).clamp(0.6, 0.98)
    };
    let mut average = 0.0;
    let mut debias = 1.0;
    points
        .iter()
        .map(|&(x, y)| {
            average = weight * average + (1.0 - weight) * y;
            debias *= weight;
            (x, average / (1.0 - debias))
        })
        .collect()
}

/// At most `max` points, evenly strided (the last one kept).
pub(super) fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let stride = points.len().div_ceil(max);
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % stride == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_round_the_domain() {
        let (lo, hi, ticks, step) = nice_ticks(0.0, 1180.0, 6);
        assert_eq!((lo, hi, step), (0.0, 1200.0, 200.0));
        assert_eq!(ticks.len(), 7);
        let (lo, hi, _, step) = nice_ticks(0.31, 2.93, 5);
        assert_eq!(step, 0.5);
        assert!(lo <= 0.31 && hi >= 2.93);
        // A flat series still gets an axis.
        let (lo, hi, ticks, _) = nice_ticks(0.5, 0.5, 5);
        assert!(lo < hi && ticks.len() >= 2);
    }
}
