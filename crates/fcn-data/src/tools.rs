//! Dataset tools, as `fcn data inspect | convert | preview` runs them: count the pixels of
//! each class, write label PNGs, write overlays to look at. Each returns what it found or
//! wrote; printing is the caller's.
//!
//! ```
//! use fcn_data::registry::DataSpec;
//! use fcn_data::tools::inspect;
//!
//! let mut spec = DataSpec::parse("synthetic")?;
//! spec.split = Some("val".into());
//! let scenes = spec.open_with(&fcn_data::registry::OpenOptions {
//!     synthetic: fcn_data::registry::SyntheticOptions { val: 2, height: 32, width: 32, ..Default::default() },
//!     ..Default::default()
//! })?;
//! let found = inspect(scenes.as_ref(), || {})?;
//! assert_eq!(found.samples, 2);
//! assert_eq!(found.histogram.iter().sum::<u64>() + found.ignored, 2 * 32 * 32);
//! # Ok::<(), fcn_data::Error>(())
//! ```

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::sample::LabelMap;

/// What `inspect` found.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Samples.
    pub samples: usize,
    /// Pixels per class value (index = value; values past the class list included).
    pub histogram: Vec<u64>,
    /// Ignored pixels.
    pub ignored: u64,
    /// Smallest and largest (height, width).
    pub sizes: ((usize, usize), (usize, usize)),
    /// The class set.
    pub classes: ClassSet,
}

fn label_values(label: &LabelMap) -> Vec<u16> {
    match label {
        LabelMap::U8(a) => a.iter().map(|&v| u16::from(v)).collect(),
        LabelMap::U16(a) => a.iter().copied().collect(),
    }
}

/// Reads every sample (in parallel) and counts pixels per class.
pub fn inspect(dataset: &dyn Dataset, progress: impl Fn() + Sync) -> Result<Inspection> {
    let classes = dataset.classes().clone();
    let ignore = classes.ignore();
    let per_sample = (0..dataset.len())
        .into_par_iter()
        .map(|i| {
            let sample = dataset.get(i)?;
            let mut hist = vec![0u64; 256];
            let mut ignored = 0;
            for v in label_values(&sample.label) {
                if Some(v) == ignore {
                    ignored += 1;
                } else {
                    let v = usize::from(v);
                    if v >= hist.len() {
                        hist.resize(v + 1, 0);
                    }
                    hist[v] += 1;
                }
            }
            progress();
            Ok((hist, ignored, sample.dim()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut histogram = vec![0u64; classes.len()];
    let mut ignored = 0;
    let (mut min, mut max) = ((usize::MAX, usize::MAX), (0, 0));
    for (hist, ign, dim) in per_sample {
        if hist.len() > histogram.len() {
            histogram.resize(hist.len(), 0);
        }
        for (h, v) in histogram.iter_mut().zip(&hist) {
            *h += v;
        }
        ignored += ign;
        min = min.min(dim);
        max = max.max(dim);
    }
    // Trim zero counts beyond the class list.
    while histogram.len() > classes.len() && histogram.last() == Some(&0) {
        histogram.pop();
    }
    Ok(Inspection {
        samples: dataset.len(),
        histogram,
        ignored,
        sizes: (min, max),
        classes,
    })
}

impl std::fmt::Display for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "samples: {}", self.samples)?;
        if self.samples > 0 {
            writeln!(
                f,
                "sizes (h x w): {} x {} .. {} x {}",
                self.sizes.0.0, self.sizes.0.1, self.sizes.1.0, self.sizes.1.1
            )?;
        }
        let total: u64 = self.histogram.iter().sum::<u64>() + self.ignored;
        let pct = |n: u64| {
            if total == 0 {
                0.0
            } else {
                100.0 * n as f64 / total as f64
            }
        };
        writeln!(
            f,
            "{:>5}  {:<28}{:>14}{:>9}",
            "value", "class", "pixels", "%"
        )?;
        for (value, &n) in self.histogram.iter().enumerate() {
            let name = self
                .classes
                .names()
                .get(value)
                .map_or("(not a class)", String::as_str);
            writeln!(f, "{value:>5}  {name:<28}{n:>14}{:>8.2}%", pct(n))?;
        }
        let ignore = self.classes.ignore().map_or("-".into(), |v| v.to_string());
        write!(
            f,
            "{ignore:>5}  {:<28}{:>14}{:>8.2}%",
            "(ignored)",
            self.ignored,
            pct(self.ignored)
        )
    }
}

/// Writes one label PNG per sample into `out`, named `<id>.png` (8-bit grayscale, or 16-bit
/// when the labels need it); with `images`, also `<id>_image.png`. Returns the count.
pub fn convert(
    dataset: &dyn Dataset,
    out: &Path,
    images: bool,
    progress: impl Fn() + Sync,
) -> Result<usize> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        action: "cannot create",
        path: out.to_owned(),
        source,
    })?;
    (0..dataset.len()).into_par_iter().try_for_each(|i| {
        let sample = dataset.get(i)?;
        let stem = file_stem(&sample.id);
        crate::label_png::write_gray_png(&out.join(format!("{stem}.png")), &sample.label)?;
        if images {
            crate::image_io::write_rgb_png(&out.join(format!("{stem}_image.png")), &sample.image)?;
        }
        progress();
        Ok::<(), Error>(())
    })?;
    Ok(dataset.len())
}

/// A sample id as a file name (path separators replaced).
fn file_stem(id: &str) -> String {
    id.replace(['/', '\\'], "_")
}

/// Writes `count` overlays (image with class colours blended at 50%) into `out`.
pub fn preview(dataset: &dyn Dataset, out: &Path, count: usize) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        action: "cannot create",
        path: out.to_owned(),
        source,
    })?;
    let classes = dataset.classes();
    let colors = classes.colors();
    let ignore = classes.ignore();
    let n = count.min(dataset.len());
    // Spread the previews over the dataset.
    let picks: Vec<usize> = (0..n).map(|k| k * dataset.len() / n.max(1)).collect();
    picks
        .into_par_iter()
        .map(|i| {
            let sample = dataset.get(i)?;
            let overlay = match &sample.label {
                LabelMap::U8(l) => {
                    crate::classes::overlay_labels(&sample.image, l, colors, ignore)?
                }
                LabelMap::U16(l) => {
                    crate::classes::overlay_labels(&sample.image, l, colors, ignore)?
                }
            };
            let path = out.join(format!("{}_overlay.png", file_stem(&sample.id)));
            crate::image_io::write_rgb_png(&path, &overlay)?;
            Ok(path)
        })
        .collect()
}
