//! `fcn report`: one self-contained HTML page summarising a run directory.
//!
//! The page needs no server and no network: the plots are inline SVG drawn here, the images
//! are PNGs embedded as base64 data URIs. Everything it shows comes from the files the
//! training loop writes: `config.toml`, `log.jsonl` and `predictions/`. Missing pieces (no
//! evaluation yet, no saved predictions) are said on the page; a malformed log line is an
//! error naming the file and the line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fcn_metrics::{ConfusionMatrix, Report};
use ndarray::{Array2, Array3};
use serde::Deserialize;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::train::files;

/// Appends formatted text to a `String` (writing to a `String` cannot fail).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Writes `RUN_DIR/report.html`, atomically, and returns its path.
///
/// ```no_run
/// let path = fcn_train::write_report("runs/demo".as_ref())?;
/// println!("open {}", path.display());
/// # Ok::<(), fcn_train::TrainError>(())
/// ```
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    let html = render_report(run_dir)?;
    let path = run_dir.join(files::REPORT);
    fcn_data::write_atomically(&path, html.as_bytes())?;
    Ok(path)
}

/// The HTML page of the run in `run_dir`, without writing it.
pub fn render_report(run_dir: &Path) -> Result<String> {
    if !run_dir.is_dir() {
        return Err(TrainError::RunDir {
            path: run_dir.to_owned(),
            message: "is not a directory".into(),
        });
    }
    let config_path = run_dir.join(files::CONFIG);
    let config = if config_path.exists() {
        Some(TrainConfig::from_file(&config_path)?)
    } else {
        None
    };
    let log = read_log(&run_dir.join(files::LOG))?;
    let last_eval = log.as_ref().and_then(|l| l.evals.last());
    let ignore = last_eval.map_or(Some(255), |e| e.report.ignore_index);
    let num_classes = last_eval.map(|e| e.report.num_classes);
    let predictions = read_predictions(&run_dir.join(files::PREDICTIONS), ignore, num_classes)?;
    let palette = predictions
        .iter()
        .find_map(|p| p.palette.clone())
        .unwrap_or_default();
    let names: Vec<String> = match last_eval {
        Some(e) => e.report.per_class.iter().map(|c| c.name.clone()).collect(),
        None => (0..palette.len().min(256)).map(|c| c.to_string()).collect(),
    };
    let colors = class_colors(&palette, names.len());
    let page = Page {
        run_dir,
        config: config.as_ref(),
        log: log.as_ref(),
        names: &names,
        colors: &colors,
        predictions: &predictions,
    };
    Ok(page.render())
}

// ---------------------------------------------------------------------------------------------
// Reading the run directory

/// One line of `log.jsonl`.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record {
    Step(StepEntry),
    Eval(Box<EvalEntry>),
    /// A kind this version does not draw (kept readable by older reports).
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StepEntry {
    step: u64,
    loss: f64,
    #[serde(default)]
    lr: f64,
    #[serde(default)]
    images_per_s: f64,
    elapsed_s: f64,
}

#[derive(Deserialize)]
struct EvalEntry {
    step: u64,
    elapsed_s: f64,
    #[serde(default)]
    baseline_mean_iou: Option<f64>,
    report: Report,
    #[serde(default)]
    confusion: Option<ConfusionMatrix>,
}

/// The parsed log.
struct Log {
    steps: Vec<StepEntry>,
    evals: Vec<EvalEntry>,
    /// Wall-clock seconds over every process of the run (a resumed run restarts its clock).
    wall_s: f64,
}

impl Log {
    fn last_step(&self) -> u64 {
        let steps = self.steps.iter().map(|s| s.step);
        steps
            .chain(self.evals.iter().map(|e| e.step))
            .max()
            .unwrap_or(0)
    }
}

/// Reads `log.jsonl`; `None` when there is none yet.
fn read_log(path: &Path) -> Result<Option<Log>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io("cannot read", path, e)),
    };
    let mut log = Log {
        steps: Vec::new(),
        evals: Vec::new(),
        wall_s: 0.0,
    };
    let (mut previous, mut segment_max) = (0.0f64, 0.0f64);
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Record =
            serde_json::from_str(line).map_err(|source| TrainError::LogRecord {
                path: path.to_owned(),
                line: index + 1,
                source,
            })?;
        let elapsed = match &record {
            Record::Step(s) => s.elapsed_s,
            Record::Eval(e) => e.elapsed_s,
            Record::Other => continue,
        };
        if elapsed.is_finite() {
            if elapsed < previous {
                log.wall_s += segment_max;
                segment_max = 0.0;
            }
            segment_max = segment_max.max(elapsed);
            previous = elapsed;
        }
        match record {
            Record::Step(s) => log.steps.push(s),
            Record::Eval(e) => log.evals.push(*e),
            Record::Other => {}
        }
    }
    log.wall_s += segment_max;
    Ok(Some(log))
}

/// A saved validation prediction, ready to embed.
struct Prediction {
    stem: String,
    image_png: Vec<u8>,
    /// (height, width).
    size: (usize, usize),
    gt_png: Option<Vec<u8>>,
    pred_png: Option<Vec<u8>>,
    /// Correct pixels over counted ground-truth pixels.
    accuracy: Option<f64>,
    palette: Option<Vec<[u8; 3]>>,
}

/// Reads `predictions/NNNN_{image,gt,pred}.png` and blends the labels over the images.
fn read_predictions(
    dir: &Path,
    ignore: Option<u32>,
    num_classes: Option<usize>,
) -> Result<Vec<Prediction>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io("cannot read", dir, e)),
    };
    let mut stems = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io("cannot read", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix("_image.png") {
            stems.push(stem.to_owned());
        }
    }
    stems.sort();
    stems
        .into_iter()
        .map(|stem| read_prediction(dir, stem, ignore, num_classes))
        .collect()
}

/// A decoded label PNG with its palette (empty when it has none).
type Labels = (Array2<u16>, Vec<[u8; 3]>);

fn read_prediction(
    dir: &Path,
    stem: String,
    ignore: Option<u32>,
    num_classes: Option<usize>,
) -> Result<Prediction> {
    let image_path = dir.join(format!("{stem}_image.png"));
    let image_png =
        std::fs::read(&image_path).map_err(|e| TrainError::io("cannot read", &image_path, e))?;
    let image = fcn_data::decode_rgb(&image_png, &image_path)?;
    let (height, width, _) = image.dim();
    let mut palette = None;
    let mut labels = |kind: &str| -> Result<Option<Labels>> {
        let path = dir.join(format!("{stem}_{kind}.png"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TrainError::io("cannot read", &path, e)),
        };
        let map = fcn_data::decode_label_png(&bytes, &path)?.to_u16();
        if map.dim() != (height, width) {
            return Err(TrainError::PredictionSize {
                path,
                expected: (height, width),
                actual: map.dim(),
            });
        }
        let file_palette = png_palette(&bytes);
        if palette.is_none() {
            palette.clone_from(&file_palette);
        }
        Ok(Some((map, file_palette.unwrap_or_default())))
    };
    let gt = labels("gt")?;
    let pred = labels("pred")?;
    let n = num_classes.unwrap_or(usize::MAX);
    let encode = |labels: &Option<Labels>| -> Result<Option<Vec<u8>>> {
        match labels {
            Some((map, file_palette)) => {
                let colors = class_colors(file_palette, n.min(256));
                let blended = overlay(&image, map, &colors, ignore, n)?;
                Ok(Some(fcn_data::encode_rgb_png(&blended)?))
            }
            None => Ok(None),
        }
    };
    let accuracy = match (&gt, &pred) {
        (Some((gt, _)), Some((pred, _))) => {
            let (mut counted, mut correct) = (0u64, 0u64);
            for (&g, &p) in gt.iter().zip(pred.iter()) {
                if Some(u32::from(g)) == ignore || usize::from(g) >= n {
                    continue;
                }
                counted += 1;
                correct += u64::from(g == p);
            }
            (counted > 0).then(|| correct as f64 / counted as f64)
        }
        _ => None,
    };
    Ok(Prediction {
        gt_png: encode(&gt)?,
        pred_png: encode(&pred)?,
        stem,
        image_png,
        size: (height, width),
        accuracy,
        palette,
    })
}

/// The PLTE chunk of a PNG file, if it has one (palette index = class).
fn png_palette(bytes: &[u8]) -> Option<Vec<[u8; 3]>> {
    let mut rest = bytes.strip_prefix(b"\x89PNG\r\n\x1a\n")?;
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = &rest[4..8];
        let data = rest.get(8..8usize.checked_add(len)?)?;
        match kind {
            b"PLTE" => {
                return Some(data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect());
            }
            b"IDAT" | b"IEND" => return None,
            _ => rest = rest.get(12 + len..)?,
        }
    }
    None
}

/// One colour per class: the file's palette, completed with the VOC colour map.
fn class_colors(palette: &[[u8; 3]], n: usize) -> Vec<[u8; 3]> {
    let voc = fcn_data::voc_colormap(n.max(palette.len()).min(256));
    (0..n.min(256))
        .map(|c| palette.get(c).or(voc.get(c)).copied().unwrap_or([0, 0, 0]))
        .collect()
}

/// The class colours blended at 50% over `image`; ignored and unknown labels leave the image.
fn overlay(
    image: &Array3<u8>,
    labels: &Array2<u16>,
    colors: &[[u8; 3]],
    ignore: Option<u32>,
    num_classes: usize,
) -> Result<Array3<u8>> {
    let colors = &colors[..colors.len().min(num_classes)];
    let ignore = ignore.and_then(|i| u16::try_from(i).ok());
    Ok(fcn_data::overlay_labels(image, labels, colors, ignore)?)
}

// ---------------------------------------------------------------------------------------------
// Text helpers

/// Escapes text for HTML and SVG content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn data_uri(png: &[u8]) -> String {
    format!("data:image/png;base64,{}", base64(png))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{:.2}%", 100.0 * v))
}

fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "n/a".into();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let s = seconds.round() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h} h {m:02} min {s:02} s")
    } else {
        format!("{m} min {s:02} s")
    }
}

/// `fcn8s` -> `FCN-8s`.
fn arch_name(arch: &str) -> String {
    match arch.strip_prefix("fcn") {
        Some(rest) => format!("FCN-{rest}"),
        None => arch.to_owned(),
    }
}

fn rgb([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

// ---------------------------------------------------------------------------------------------
// Plots

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
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
    color: &'static str,
    width: f64,
    dashed: bool,
    markers: bool,
    opacity: f64,
}

/// The axes of a chart.
struct Chart<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 330.0;

fn line_chart(chart: &Chart<'_>, series: &[Series]) -> String {
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
fn smooth(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
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
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
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

fn loss_chart(log: &Log, x_max: f64) -> String {
    let raw: Vec<(f64, f64)> = log
        .steps
        .iter()
        .filter(|s| s.loss.is_finite())
        .map(|s| (s.step as f64, s.loss))
        .collect();
    let smoothed = thin(smooth(&raw), 2000);
    let y_max = raw.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let y_min = raw.iter().map(|p| p.1).fold(0.0f64, f64::min);
    line_chart(
        &Chart {
            title: "Training loss",
            x_label: "step",
            y_label: "loss",
            x_range: (0.0, x_max),
            y_range: (y_min, y_max),
        },
        &[
            Series {
                label: "per step".into(),
                points: thin(raw, 2000),
                color: "#4c78a8",
                width: 1.0,
                dashed: false,
                markers: false,
                opacity: 0.35,
            },
            Series {
                label: "smoothed".into(),
                points: smoothed,
                color: "#1f4e8c",
                width: 2.2,
                dashed: false,
                markers: false,
                opacity: 1.0,
            },
        ],
    )
}

fn iou_chart(log: &Log, x_max: f64) -> String {
    let miou: Vec<(f64, f64)> = log
        .evals
        .iter()
        .filter_map(|e| Some((e.step as f64, 100.0 * e.report.mean_iou?)))
        .collect();
    let baseline: Vec<(f64, f64)> = log
        .evals
        .iter()
        .filter_map(|e| Some((e.step as f64, 100.0 * e.baseline_mean_iou?)))
        .collect();
    // A constant baseline spans the whole axis.
    let baseline = match baseline.as_slice() {
        [] => baseline,
        [first, ..] if baseline.iter().all(|p| (p.1 - first.1).abs() < 1e-9) => {
            vec![(0.0, first.1), (x_max, first.1)]
        }
        _ => baseline,
    };
    let y_max = miou
        .iter()
        .chain(&baseline)
        .map(|p| p.1)
        .fold(10.0f64, f64::max);
    line_chart(
        &Chart {
            title: "Validation mean IoU",
            x_label: "step",
            y_label: "mean IoU (%)",
            x_range: (0.0, x_max),
            y_range: (0.0, (y_max * 1.1).min(100.0)),
        },
        &[
            Series {
                label: "mean IoU".into(),
                points: miou,
                color: "#e45756",
                width: 2.2,
                dashed: false,
                markers: true,
                opacity: 1.0,
            },
            Series {
                label: "majority-class baseline".into(),
                points: baseline,
                color: "#555555",
                width: 1.6,
                dashed: true,
                markers: false,
                opacity: 1.0,
            },
        ],
    )
}

/// Rough width of a label in pixels at 12px.
fn text_width(text: &str) -> f64 {
    7.0 * text.chars().count() as f64
}

fn class_iou_bars(report: &Report, colors: &[[u8; 3]]) -> String {
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

fn confusion_heatmap(matrix: &ConfusionMatrix, names: &[String]) -> String {
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

// ---------------------------------------------------------------------------------------------
// The page

struct Page<'a> {
    run_dir: &'a Path,
    config: Option<&'a TrainConfig>,
    log: Option<&'a Log>,
    names: &'a [String],
    colors: &'a [[u8; 3]],
    predictions: &'a [Prediction],
}

const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#5b6475;--bg:#f4f5f7;--card:#fff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:1340px;margin:0 auto;padding:24px}
h1{margin:0;font-size:26px}
h2{margin:0 0 12px;font-size:18px}
.sub{color:var(--muted);margin-top:4px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}
.card{background:var(--card);border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px #0002;min-width:160px}
.card .k{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:24px;font-weight:600}
.card .v small{font-size:14px;font-weight:400;color:var(--muted);margin-left:6px}
.card .d{font-size:12px;color:var(--muted)}
section{background:var(--card);border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 3px #0002;overflow-x:auto}
table.cfg{border-collapse:collapse}
table.cfg th{text-align:left;color:var(--muted);font-weight:500;padding:3px 16px 3px 0;vertical-align:top}
table.cfg td{padding:3px 0}
.plots{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
svg{max-width:100%;height:auto}
svg text{font-family:inherit;font-size:12px;fill:var(--fg)}
svg .title{font-size:15px;font-weight:600}
svg .tick{fill:var(--muted);font-size:11px}
svg .label{font-size:12px;fill:var(--muted)}
svg .legend{font-size:12px}
svg .muted{fill:#999}
svg .grid{stroke:#e6e8ec;stroke-width:1}
svg .axis{stroke:#888;stroke-width:1}
.note{color:#6b4d00;background:#fff5d6;padding:8px 12px;border-radius:6px;display:inline-block}
.legendrow{margin:0 0 12px}
.legendrow span{display:inline-block;margin:0 14px 4px 0;white-space:nowrap}
.sw{display:inline-block;width:13px;height:13px;border-radius:2px;margin-right:5px;vertical-align:-2px;border:1px solid #0003}
.grid-pred{display:grid;grid-template-columns:max-content repeat(3,minmax(0,280px));gap:8px 12px;align-items:center}
.grid-pred .h{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.grid-pred img{width:100%;display:block;border-radius:4px}
.grid-pred img.px{image-rendering:pixelated}
.grid-pred .stem{font-variant-numeric:tabular-nums;color:var(--muted);font-size:12px}
.missing{color:#999;font-style:italic}
footer{color:var(--muted);font-size:12px;margin:20px 0}
"#;

impl Page<'_> {
    fn run_name(&self) -> String {
        let dir = self
            .run_dir
            .canonicalize()
            .unwrap_or_else(|_| self.run_dir.to_owned());
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.run_dir.display().to_string())
    }

    fn render(&self) -> String {
        let name = self.run_name();
        let mut html = String::new();
        put!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>FCN run {} \u{2014} report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
            escape(&name)
        );
        self.header(&mut html, &name);
        self.curves(&mut html);
        self.classes(&mut html);
        self.predictions_grid(&mut html);
        put!(
            html,
            "<footer>Generated by fcn-train {} from <code>{}</code>. Self-contained: no scripts, no external resources.</footer>\n</main>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION"),
            escape(&self.run_dir.display().to_string())
        );
        html
    }

    fn header(&self, html: &mut String, name: &str) {
        put!(html, "<header>\n<h1>{}</h1>\n", escape(name));
        if let Some(c) = self.config {
            let width = if c.model.width_divisor == 1 {
                "full VGG16 width".to_owned()
            } else {
                format!("VGG16 width / {}", c.model.width_divisor)
            };
            put!(
                html,
                "<div class=\"sub\">{} \u{b7} {} \u{b7} {} \u{b7} {} lr {} ({})</div>\n",
                escape(&arch_name(c.model.arch.name())),
                escape(&width),
                escape(&c.data.train.join(" + ")),
                c.optim.optimizer.kind(),
                c.optim.lr,
                c.optim.decay.kind()
            );
        } else {
            put!(
                html,
                "<div class=\"sub\">No {} in the run directory.</div>\n",
                files::CONFIG
            );
        }
        html.push_str("</header>\n<div class=\"cards\">\n");
        let card = |html: &mut String, key: &str, value: &str, detail: &str| {
            put!(
                html,
                "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{value}</div><div class=\"d\">{}</div></div>\n",
                escape(key),
                escape(detail)
            );
        };
        let iterations = self.config.map(|c| c.train.iterations);
        match self.log {
            Some(log) => {
                let done = log.last_step();
                let steps = match iterations {
                    Some(total) => format!("{done}<small>/ {total}</small>"),
                    None => done.to_string(),
                };
                let speed = log
                    .steps
                    .iter()
                    .rev()
                    .take(50)
                    .map(|s| s.images_per_s)
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .collect::<Vec<_>>();
                let speed = if speed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{:.1} images/s recently",
                        speed.iter().sum::<f64>() / speed.len() as f64
                    )
                };
                card(html, "steps", &steps, &speed);
                let lr = log
                    .steps
                    .last()
                    .map(|s| format!("last lr {:.3e}", s.lr))
                    .unwrap_or_default();
                card(html, "wall time", &escape(&duration(log.wall_s)), &lr);
                match log.evals.last() {
                    Some(e) => {
                        card(
                            html,
                            "final mean IoU",
                            &format!(
                                "{}<small>baseline {}</small>",
                                percent(e.report.mean_iou),
                                percent(e.baseline_mean_iou)
                            ),
                            &format!("at step {}; baseline = majority class everywhere", e.step),
                        );
                        card(
                            html,
                            "pixel accuracy",
                            &percent(e.report.pixel_accuracy),
                            &format!("mean class accuracy {}", percent(e.report.mean_accuracy)),
                        );
                        let best = log
                            .evals
                            .iter()
                            .filter_map(|e| Some((e.report.mean_iou?, e.step)))
                            .max_by(|a, b| a.0.total_cmp(&b.0));
                        if let Some((best, step)) = best {
                            card(
                                html,
                                "best mean IoU",
                                &percent(Some(best)),
                                &format!("at step {step}"),
                            );
                        }
                        card(
                            html,
                            "validation pixels",
                            &e.report.num_pixels.to_string(),
                            &format!(
                                "{} classes{}",
                                e.report.num_classes,
                                e.report
                                    .num_images
                                    .map(|n| format!(", {n} images"))
                                    .unwrap_or_default()
                            ),
                        );
                    }
                    None => card(html, "final mean IoU", "n/a", "no evaluation yet"),
                }
            }
            None => card(html, "steps", "0", "no log.jsonl yet"),
        }
        html.push_str("</div>\n");
        if let Some(c) = self.config {
            self.config_table(html, c);
        }
    }

    fn config_table(&self, html: &mut String, c: &TrainConfig) {
        let synthetic = |sets: &[String], images: usize| {
            sets.iter()
                .map(|s| {
                    if s == "synthetic" {
                        format!(
                            "synthetic ({images} images, {}\u{d7}{})",
                            c.data.synthetic_height, c.data.synthetic_width
                        )
                    } else {
                        s.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let o = &c.optim;
        let mut optimizer = format!(
            "{} lr {} ({} schedule",
            o.optimizer.kind(),
            o.lr,
            o.decay.kind()
        );
        if o.warmup.steps > 0 {
            put!(optimizer, ", {} warm-up steps", o.warmup.steps);
        }
        optimizer.push(')');
        if let Some(momentum) = o.optimizer.momentum() {
            put!(optimizer, ", momentum {momentum}");
        }
        put!(
            optimizer,
            ", weight decay {}, {} loss",
            o.weight_decay,
            o.loss
        );
        let t = &c.train;
        let a = &c.augment;
        let mut augment = Vec::new();
        if let Some([h, w]) = a.crop {
            augment.push(format!("crop {h}\u{d7}{w}"));
        }
        if a.scale != [1.0, 1.0] {
            augment.push(format!("scale {}\u{2013}{}", a.scale[0], a.scale[1]));
        }
        if a.flip {
            augment.push("flip".into());
        }
        if a.jitter > 0.0 {
            augment.push(format!("jitter {}", a.jitter));
        }
        let rows = [
            (
                "model",
                format!(
                    "{}, width divisor {}, dropout {}, {} preprocessing{}",
                    c.model.arch,
                    c.model.width_divisor,
                    c.model.dropout,
                    c.model.preprocess,
                    c.model
                        .init
                        .as_ref()
                        .map(|i| format!(", initialised from {i}"))
                        .unwrap_or_default()
                ),
            ),
            (
                "training data",
                synthetic(&c.data.train, c.data.synthetic_train),
            ),
            (
                "validation data",
                synthetic(&c.data.val, c.data.synthetic_val),
            ),
            ("optimizer", optimizer),
            (
                "loop",
                format!(
                    "{} steps, batch {} \u{d7} {} accumulated, evaluation every {}, seed {}, device {}",
                    t.iterations, t.batch_size, t.accumulate, t.eval_every, t.seed, t.device
                ),
            ),
            (
                "augmentation",
                if augment.is_empty() {
                    "none".into()
                } else {
                    augment.join(", ")
                },
            ),
        ];
        html.push_str("<section>\n<h2>Configuration</h2>\n<table class=\"cfg\">\n");
        for (key, value) in rows {
            put!(
                html,
                "<tr><th>{}</th><td>{}</td></tr>\n",
                escape(key),
                escape(&value)
            );
        }
        html.push_str("</table>\n</section>\n");
    }

    fn curves(&self, html: &mut String) {
        html.push_str("<section>\n<h2>Training curves</h2>\n");
        let Some(log) = self.log else {
            html.push_str("<p class=\"note\">No training log yet.</p>\n</section>\n");
            return;
        };
        let x_max = self
            .config
            .map_or(0, |c| c.train.iterations)
            .max(log.last_step())
            .max(1) as f64;
        html.push_str("<div class=\"plots\">\n");
        if log.steps.is_empty() {
            html.push_str("<p class=\"note\">No training step logged yet.</p>\n");
        } else {
            html.push_str(&loss_chart(log, x_max));
            html.push('\n');
        }
        if log.evals.is_empty() {
            html.push_str("<p class=\"note\">No evaluation yet: the validation mean IoU appears after the first one.</p>\n");
        } else {
            html.push_str(&iou_chart(log, x_max));
            html.push('\n');
        }
        html.push_str("</div>\n</section>\n");
    }

    fn classes(&self, html: &mut String) {
        let Some(eval) = self.log.and_then(|l| l.evals.last()) else {
            html.push_str("<section>\n<h2>Per-class scores</h2>\n<p class=\"note\">No evaluation yet.</p>\n</section>\n");
            return;
        };
        put!(
            html,
            "<section>\n<h2>IoU per class <small class=\"sub\">(step {}, class order)</small></h2>\n",
            eval.step
        );
        html.push_str(&class_iou_bars(&eval.report, self.colors));
        html.push_str("\n</section>\n");
        if let Some(matrix) = &eval.confusion {
            html.push_str("<section>\n<h2>Confusion matrix <small class=\"sub\">(rows: ground truth, normalised per row; grey: no ground-truth pixels; hover a cell for counts)</small></h2>\n");
            html.push_str(&confusion_heatmap(matrix, self.names));
            html.push_str("\n</section>\n");
        }
    }

    fn predictions_grid(&self, html: &mut String) {
        if self.predictions.is_empty() {
            return;
        }
        html.push_str("<section>\n<h2>Validation predictions <small class=\"sub\">(class colours blended at 50%; ignored pixels left as the image)</small></h2>\n<div class=\"legendrow\">");
        for (name, &color) in self.names.iter().zip(self.colors) {
            put!(
                html,
                "<span><i class=\"sw\" style=\"background:{}\"></i>{}</span>",
                rgb(color),
                escape(name)
            );
        }
        html.push_str("</div>\n<div class=\"grid-pred\">\n<div></div><div class=\"h\">image</div><div class=\"h\">ground truth</div><div class=\"h\">prediction</div>\n");
        for p in self.predictions {
            let class = if p.size.1 < 200 { " class=\"px\"" } else { "" };
            let accuracy = p
                .accuracy
                .map(|a| format!("<br>{:.1}% px", 100.0 * a))
                .unwrap_or_default();
            put!(
                html,
                "<div class=\"stem\">#{}{accuracy}</div>",
                escape(&p.stem)
            );
            let alt = escape(&p.stem);
            put!(
                html,
                "<img{class} alt=\"image {alt}\" src=\"{}\">",
                data_uri(&p.image_png)
            );
            for (kind, png) in [("ground truth", &p.gt_png), ("prediction", &p.pred_png)] {
                match png {
                    Some(png) => put!(
                        html,
                        "<img{class} alt=\"{kind} {alt}\" src=\"{}\">",
                        data_uri(png)
                    ),
                    None => put!(html, "<div class=\"missing\">no {kind}</div>"),
                }
            }
            html.push('\n');
        }
        html.push_str("</div>\n</section>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(escape(r#"<b>&"x"'"#), "&lt;b&gt;&amp;&quot;x&quot;&#39;");
    }

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

    #[test]
    fn wall_time_adds_the_segments_of_a_resumed_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let lines = [
            r#"{"kind":"step","step":1,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":10.0}"#,
            r#"{"kind":"step","step":2,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":20.0}"#,
            r#"{"kind":"step","step":3,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":5.0}"#,
            r#"{"kind":"future","step":3}"#,
            r#"{"kind":"step","step":4,"loss":1.0,"lr":0.1,"images_per_s":1.0,"elapsed_s":7.0}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let log = read_log(&path).unwrap().unwrap();
        assert_eq!(log.steps.len(), 4);
        assert!((log.wall_s - 27.0).abs() < 1e-9);
    }

    #[test]
    fn png_palette_reads_the_plte_chunk() {
        let labels = Array2::from_shape_vec((1, 2), vec![0u8, 1]).unwrap();
        let png = fcn_data::encode_palette_png(&labels, &[[1, 2, 3], [4, 5, 6]]).unwrap();
        assert_eq!(png_palette(&png), Some(vec![[1, 2, 3], [4, 5, 6]]));
        assert_eq!(png_palette(b"not a png"), None);
    }

    #[test]
    fn overlay_blends_half_and_leaves_ignored_pixels() {
        let image = Array3::from_elem((1, 3, 3), 100u8);
        let labels = Array2::from_shape_vec((1, 3), vec![0u16, 255, 7]).unwrap();
        let out = overlay(&image, &labels, &[[200, 0, 100]], Some(255), 1).unwrap();
        assert_eq!(
            out.slice(ndarray::s![0, 0, ..]).to_vec(),
            vec![150, 50, 100]
        );
        assert_eq!(
            out.slice(ndarray::s![0, 1, ..]).to_vec(),
            vec![100, 100, 100]
        );
        assert_eq!(
            out.slice(ndarray::s![0, 2, ..]).to_vec(),
            vec![100, 100, 100]
        );
    }
}
