//! `fcn data inspect | convert | preview`: look at a dataset, turn it into label PNGs, or write
//! a few overlays to look at.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fcn_data::registry::{open_dataset, transit_source};
use fcn_data::taxonomy::Remapped;
use fcn_data::{ClassSet, Dataset, LabelMap};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Which label space `convert` and `preview` write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassChoice {
    /// The dataset's own classes.
    All,
    /// The 21 VOC classes (COCO through torchvision's rule; VOC and SBD as they are).
    Voc21,
    /// The transit taxonomy.
    Transit,
}

impl std::str::FromStr for ClassChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "voc21" => Ok(Self::Voc21),
            "transit" => Ok(Self::Transit),
            other => Err(format!("{other:?}: expected all, voc21 or transit")),
        }
    }
}

/// Opens `format` at `root` (`synthetic` needs no root; its split is `train` or `val`).
pub fn open(
    format: &str,
    root: Option<&Path>,
    split: Option<&str>,
    classes: ClassChoice,
) -> Result<Arc<dyn Dataset>> {
    if format == "synthetic" {
        let train = match split.unwrap_or("train") {
            "train" => true,
            "val" => false,
            other => {
                return Err(Error::Data(fcn_data::Error::invalid(
                    "split",
                    format!("{other:?} for synthetic; expected train or val"),
                )));
            }
        };
        let config = fcn_train::TrainConfig::default();
        return Ok(fcn_train::open_dataset("synthetic", &config, train)?);
    }
    let root = root.ok_or_else(|| {
        Error::Data(fcn_data::Error::invalid(
            "dataset",
            format!("{format} needs a ROOT folder"),
        ))
    })?;
    let format = match (format, classes) {
        ("coco", ClassChoice::Voc21) => "coco-voc",
        (f, _) => f,
    };
    let dataset = open_dataset(format, root, split)?;
    match classes {
        ClassChoice::Transit => {
            let source = transit_source(format).ok_or_else(|| {
                Error::Data(fcn_data::Error::invalid(
                    "classes",
                    format!("{format} has no transit-taxonomy table"),
                ))
            })?;
            Ok(Arc::new(Remapped::to_transit(dataset, source)))
        }
        ClassChoice::Voc21 if !matches!(format, "voc" | "sbd" | "coco-voc") => {
            Err(Error::Data(fcn_data::Error::invalid(
                "classes",
                format!("voc21 is available for voc, sbd and coco, not {format}"),
            )))
        }
        _ => Ok(dataset),
    }
}

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
        fcn_data::write_gray_png(&out.join(format!("{stem}.png")), &sample.label)?;
        if images {
            fcn_data::write_rgb_png(&out.join(format!("{stem}_image.png")), &sample.image)?;
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
                LabelMap::U8(l) => fcn_data::overlay_labels(&sample.image, l, colors, ignore)?,
                LabelMap::U16(l) => fcn_data::overlay_labels(&sample.image, l, colors, ignore)?,
            };
            let path = out.join(format!("{}_overlay.png", file_stem(&sample.id)));
            fcn_data::write_rgb_png(&path, &overlay)?;
            Ok(path)
        })
        .collect()
}
