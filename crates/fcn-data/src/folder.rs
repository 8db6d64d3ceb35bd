//! A generic folder adapter (images + label PNGs + a small class-map file), so a new feed needs
//! configuration, not code; and presets for Mapillary Vistas, BDD100K and RailSem19.
//!
//! Pairing follows mmsegmentation's `BaseSegDataset`:
//! * with a split list file, each line is trimmed and names `images_dir/<line><image_suffix>`
//!   and `labels_dir/<line><label_suffix>`; the file's order is kept (blank lines are skipped);
//! * without one, `images_dir` is scanned recursively for files ending in `image_suffix`
//!   (hidden files skipped, as mmengine does), the label is `labels_dir/<relative path minus
//!   image_suffix><label_suffix>`, and the list is sorted by path (byte order, as Python sorts
//!   `str`).
//!
//! Label PNGs are read as mmseg reads them: palette indices (not colours), 8-bit gray, or
//! 16-bit gray (kept as `u16`, not truncated; remap them with a class map).
//!
//! ```no_run
//! use fcn_data::Dataset;
//! use fcn_data::folder::{ClassMap, FolderConfig, FolderDataset};
//!
//! let config = FolderConfig::new("feed/images", "feed/labels", ".jpg", ".png")
//!     .with_split_file("feed/splits/train.txt");
//! let classes = ClassMap::read("feed/classes.txt".as_ref())?;
//! let dataset = FolderDataset::open(&config, classes)?;
//! let sample = dataset.get(0)?;
//! # Ok::<(), fcn_data::Error>(())
//! ```

use std::path::{Path, PathBuf};

use crate::classes::{ClassSet, voc_colormap};
use crate::dataset::{Dataset, check_index};
use crate::error::{Error, Result};
pub use crate::files::FilePair;
use crate::files::{pair_by_scan, read_pair};
use crate::sample::Sample;
use crate::taxonomy::LabelRemap;

/// Where a folder dataset's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderConfig {
    /// The folder of images.
    pub images_dir: PathBuf,
    /// The folder of label PNGs.
    pub labels_dir: PathBuf,
    /// What image file names end with (`.jpg`, `_leftImg8bit.png`).
    pub image_suffix: String,
    /// What label file names end with (`.png`, `_gtFine_labelTrainIds.png`).
    pub label_suffix: String,
    /// A list of sample names, one a line; without it the image folder is scanned.
    pub split_file: Option<PathBuf>,
}

impl FolderConfig {
    /// Images and labels told apart by suffix, every image in `images_dir` (no split file).
    pub fn new(
        images_dir: impl Into<PathBuf>,
        labels_dir: impl Into<PathBuf>,
        image_suffix: impl Into<String>,
        label_suffix: impl Into<String>,
    ) -> Self {
        Self {
            images_dir: images_dir.into(),
            labels_dir: labels_dir.into(),
            image_suffix: image_suffix.into(),
            label_suffix: label_suffix.into(),
            split_file: None,
        }
    }

    /// Only (and in the order of) the samples named in `split_file`.
    pub fn with_split_file(mut self, split_file: impl Into<PathBuf>) -> Self {
        self.split_file = Some(split_file.into());
        self
    }

    /// The image/label pairs this configuration names, checked to exist.
    pub fn pairs(&self) -> Result<Vec<FilePair>> {
        match &self.split_file {
            None => pair_by_scan(
                &self.images_dir,
                &self.labels_dir,
                &self.image_suffix,
                &self.label_suffix,
            ),
            Some(list) => self.pairs_from_list(list),
        }
    }

    fn pairs_from_list(&self, list: &Path) -> Result<Vec<FilePair>> {
        let text = std::fs::read_to_string(list).map_err(|source| Error::read(list, source))?;
        let mut pairs = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let id = line.trim();
            if id.is_empty() {
                continue;
            }
            let image = self.images_dir.join(format!("{id}{}", self.image_suffix));
            let label = self.labels_dir.join(format!("{id}{}", self.label_suffix));
            for file in [&image, &label] {
                if !file.is_file() {
                    return Err(Error::MissingEntry {
                        list: list.to_owned(),
                        line: number + 1,
                        entry: id.to_string(),
                        missing: file.clone(),
                    });
                }
            }
            pairs.push(FilePair {
                id: id.to_string(),
                image,
                label,
            });
        }
        Ok(pairs)
    }
}

/// The classes of a folder dataset and, optionally, how raw label values become them.
///
/// The text format, one entry a line (`#` starts a comment line, blank lines are skipped):
///
/// ```text
/// # value,name[,r,g,b]: classes 0, 1, 2, ... in order
/// 0,road,128,64,128
/// 1,rail track,230,150,140
/// 2,train
/// # optional remapping of the raw label values: source_value -> class (name or value)
/// 7 -> road
/// 12 -> 1
/// ignore 255
/// ```
///
/// Without any `->` line, label values are the class values. With one or more, the listed raw
/// values become their class and every unlisted value becomes the ignore value. `ignore V`
/// sets the ignore value (default 255; `ignore none` for none). Classes without a colour get
/// the VOC colour of their index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMap {
    /// The classes.
    pub classes: ClassSet,
    /// How raw values become classes (`None`: they already are).
    pub remap: Option<LabelRemap>,
}

impl ClassMap {
    /// Label values are the class values of `classes`.
    pub fn identity(classes: ClassSet) -> Self {
        Self {
            classes,
            remap: None,
        }
    }

    /// Reads a class-map file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::read(path, source))?;
        Self::parse(&text, path)
    }

    /// Parses a class map; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let mut names: Vec<String> = Vec::new();
        let mut colors: Vec<Option<[u8; 3]>> = Vec::new();
        // (line number, source value, class as written)
        let mut remaps: Vec<(usize, u16, String)> = Vec::new();
        let mut ignore: Option<u16> = Some(255);
        for (index, raw_line) in text.lines().enumerate() {
            let number = index + 1;
            let line_name = format!("line {number}");
            let line = raw_line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((source, class)) = line.split_once("->") {
                let source = source.trim();
                let value = source.parse::<u16>().map_err(|_| {
                    Error::format(
                        origin,
                        &line_name,
                        "a source value 0..65535 before '->'",
                        format!("{source:?}"),
                    )
                })?;
                remaps.push((number, value, class.trim().to_string()));
            } else if let Some(value) = line.strip_prefix("ignore ") {
                let value = value.trim();
                ignore = if value == "none" {
                    None
                } else {
                    Some(value.parse::<u16>().map_err(|_| {
                        Error::format(
                            origin,
                            &line_name,
                            "ignore followed by 0..65535 or 'none'",
                            format!("{value:?}"),
                        )
                    })?)
                };
            } else {
                let fields: Vec<&str> = line.split(',').map(str::trim).collect();
                if fields.len() != 2 && fields.len() != 5 {
                    return Err(Error::format(
                        origin,
                        &line_name,
                        "value,name or value,name,r,g,b",
                        format!("{} fields in {line:?}", fields.len()),
                    ));
                }
                if fields[0].parse::<usize>().ok() != Some(names.len()) {
                    return Err(Error::format(
                        origin,
                        &line_name,
                        format!(
                            "class value {} (classes are listed 0, 1, 2, ... in order)",
                            names.len()
                        ),
                        format!("{:?}", fields[0]),
                    ));
                }
                if fields[1].is_empty() {
                    return Err(Error::format(
                        origin,
                        &line_name,
                        "a class name",
                        "an empty name",
                    ));
                }
                let color = if fields.len() == 5 {
                    let mut rgb = [0u8; 3];
                    for (channel, text) in rgb.iter_mut().zip(&fields[2..]) {
                        *channel = text.parse().map_err(|_| {
                            Error::format(
                                origin,
                                &line_name,
                                "colour components 0..255",
                                format!("{text:?}"),
                            )
                        })?;
                    }
                    Some(rgb)
                } else {
                    None
                };
                names.push(fields[1].to_string());
                colors.push(color);
            }
        }
        if names.is_empty() {
            return Err(Error::format(
                origin,
                "classes",
                "at least one 'value,name' line",
                "none",
            ));
        }
        if let Some(v) = ignore.filter(|&v| usize::from(v) < names.len()) {
            return Err(Error::format(
                origin,
                "ignore",
                format!("a value outside the classes 0..{}", names.len() - 1),
                v.to_string(),
            ));
        }
        let palette = voc_colormap(names.len());
        let colors = colors
            .iter()
            .zip(palette)
            .map(|(given, default)| given.unwrap_or(default))
            .collect();
        let classes = ClassSet::new(names, colors)?.with_ignore(ignore);
        let remap = if remaps.is_empty() {
            None
        } else {
            let Some(ignore_u8) = ignore.and_then(|v| u8::try_from(v).ok()) else {
                return Err(Error::format(
                    origin,
                    "ignore",
                    "an ignore value 0..255 when remapping (unlisted values go to it)",
                    format!("{ignore:?}"),
                ));
            };
            let mut remap = LabelRemap::all_to(ignore_u8);
            for (number, source, class) in remaps {
                let target = match class.parse::<usize>() {
                    Ok(value) if value < classes.len() => Some(value),
                    Ok(_) => None,
                    Err(_) => classes.index_of(&class),
                };
                // Class values are below the ignore value, so below 256.
                let Some(target) = target.and_then(|t| u8::try_from(t).ok()) else {
                    return Err(Error::format(
                        origin,
                        format!("line {number}"),
                        "a class name or value after '->'",
                        format!("{class:?}"),
                    ));
                };
                remap.set(source, target);
            }
            Some(remap)
        };
        Ok(Self { classes, remap })
    }
}

/// Image/label pairs from folders, with a class map.
#[derive(Debug, Clone)]
pub struct FolderDataset {
    pairs: Vec<FilePair>,
    class_map: ClassMap,
}

impl FolderDataset {
    /// The pairs `config` names, with `class_map`'s classes.
    pub fn open(config: &FolderConfig, class_map: ClassMap) -> Result<Self> {
        Ok(Self::from_pairs(config.pairs()?, class_map))
    }

    /// A dataset over pairs found some other way.
    pub fn from_pairs(pairs: Vec<FilePair>, class_map: ClassMap) -> Self {
        Self { pairs, class_map }
    }

    /// The image/label pairs, in order.
    pub fn pairs(&self) -> &[FilePair] {
        &self.pairs
    }

    /// The class map.
    pub fn class_map(&self) -> &ClassMap {
        &self.class_map
    }
}

impl Dataset for FolderDataset {
    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.pairs.len())?;
        let pair = &self.pairs[index];
        let (image, mut label) = read_pair(&pair.image, &pair.label)?;
        if let Some(remap) = &self.class_map.remap {
            label = remap.apply(&label);
        }
        Ok(Sample {
            image,
            label,
            id: pair.id.clone(),
            image_path: Some(pair.image.clone()),
            label_path: Some(pair.label.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.class_map.classes
    }
}

// ---------------------------------------------------------------------------------------------
// Presets

/// BDD100K semantic segmentation: `root/images/10k/{split}/*.jpg` with
/// `root/labels/sem_seg/masks/{split}/*.png` (L-mode Cityscapes train ids 0..18, 255 ignore).
/// `root` is the `bdd100k` folder; `split` is `train`, `val` (or `test`, which has no masks).
pub fn bdd100k(root: &Path, split: &str) -> Result<FolderDataset> {
    let config = FolderConfig::new(
        root.join("images/10k").join(split),
        root.join("labels/sem_seg/masks").join(split),
        ".jpg",
        ".png",
    );
    FolderDataset::open(
        &config,
        ClassMap::identity(crate::cityscapes::train_classes()),
    )
}

/// Mapillary Vistas label versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapillaryVersion {
    /// v1.2: 66 labels, 65 'Unlabeled'.
    V1_2,
    /// v2.0: 124 labels, 123 'Unlabeled'.
    V2_0,
}

impl MapillaryVersion {
    /// The version folder and config name part: `v1.2` or `v2.0`.
    pub fn name(self) -> &'static str {
        match self {
            MapillaryVersion::V1_2 => "v1.2",
            MapillaryVersion::V2_0 => "v2.0",
        }
    }
}

/// Mapillary Vistas: `root/{split}/images/*.jpg` with `root/{split}/{version}/labels/*.png`
/// (P-mode, index = label), classes from `root/config_{version}.json`. `split` is `training`
/// or `validation`.
///
/// 'Unlabeled' (the last label, `evaluate: false`): with `unlabeled_to_ignore` false it stays a
/// class, as in mmseg's `MapillaryDataset_v1` (marked not evaluated); with true its pixels
/// become 255, the ignore value.
pub fn mapillary_vistas(
    root: &Path,
    split: &str,
    version: MapillaryVersion,
    unlabeled_to_ignore: bool,
) -> Result<FolderDataset> {
    let config = root.join(format!("config_{}.json", version.name()));
    mapillary_vistas_with_config(root, split, version, &config, unlabeled_to_ignore)
}

/// As [`mapillary_vistas`], with the config JSON at `config`.
pub fn mapillary_vistas_with_config(
    root: &Path,
    split: &str,
    version: MapillaryVersion,
    config: &Path,
    unlabeled_to_ignore: bool,
) -> Result<FolderDataset> {
    let labels = read_config_labels(config)?;
    let mut names = Vec::new();
    let mut colors = Vec::new();
    let mut evaluated = Vec::new();
    for (index, label) in labels.iter().enumerate() {
        let field = |name: &str| format!("labels[{index}].{name}");
        names.push(label.get_str("readable", config, &field("readable"))?);
        colors.push(label.get_color(config, &field("color"))?);
        evaluated.push(match label.0.get("evaluate") {
            None => true,
            Some(value) => value.as_bool().ok_or_else(|| {
                Error::format(
                    config,
                    field("evaluate"),
                    "true or false",
                    value.to_string(),
                )
            })?,
        });
    }
    let last = names.len().checked_sub(1);
    let unlabeled = last.filter(|&i| names[i] == "Unlabeled");
    let mut classes = ClassSet::new(names, colors)?.with_evaluated(evaluated)?;
    let mut remap = None;
    if unlabeled_to_ignore {
        let Some(unlabeled) = unlabeled else {
            return Err(Error::format(
                config,
                "labels",
                "'Unlabeled' as the last label",
                "another name",
            ));
        };
        let kept = (0..unlabeled).map(|i| {
            // Mapillary has fewer than 255 labels: checked when reading the config.
            let i = i as u16;
            (i, i as u8)
        });
        remap = Some(LabelRemap::from_pairs(kept, 255));
        let names = classes.names()[..unlabeled].to_vec();
        let colors = classes.colors()[..unlabeled].to_vec();
        let evaluated = classes.evaluated()[..unlabeled].to_vec();
        classes = ClassSet::new(names, colors)?.with_evaluated(evaluated)?;
    }
    let folder = FolderConfig::new(
        root.join(split).join("images"),
        root.join(split).join(version.name()).join("labels"),
        ".jpg",
        ".png",
    );
    FolderDataset::open(&folder, ClassMap { classes, remap })
}

/// RailSem19 splits. There is no official one; this crate's rule uses the frame number in the
/// file name (`rsNNNNN`), so it holds for any subset of the files: frames 0..7499 train,
/// 7500..8499 validation (a contiguous hold-out, so neighbouring, near-identical frames do not
/// fall on both sides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RailSem19Split {
    /// Every frame.
    All,
    /// Frames `rs00000`..`rs07499`.
    Train,
    /// Frames `rs07500`..`rs08499`.
    Val,
}

/// The first frame number of [`RailSem19Split::Val`].
pub const RAILSEM19_FIRST_VAL_FRAME: u32 = 7500;

/// RailSem19: `root/jpgs/rs19_val/rsNNNNN.jpg` with `root/uint8/rs19_val/rsNNNNN.png` (L-mode,
/// value = index in `root/rs19-config.json` `labels`, 255 ignore). `root` is the `rs19_val`
/// folder of the download.
pub fn railsem19(root: &Path, split: RailSem19Split) -> Result<FolderDataset> {
    let config = root.join("rs19-config.json");
    let labels = read_config_labels(&config)?;
    let mut names = Vec::new();
    let mut colors = Vec::new();
    for (index, label) in labels.iter().enumerate() {
        names.push(label.get_str("name", &config, &format!("labels[{index}].name"))?);
        colors.push(label.get_color(&config, &format!("labels[{index}].color"))?);
    }
    let classes = ClassSet::new(names, colors)?;
    let mut pairs = pair_by_scan(
        &root.join("jpgs/rs19_val"),
        &root.join("uint8/rs19_val"),
        ".jpg",
        ".png",
    )?;
    if split != RailSem19Split::All {
        let mut kept = Vec::new();
        for pair in pairs {
            let frame = pair
                .id
                .strip_prefix("rs")
                .and_then(|digits| digits.parse::<u32>().ok())
                .ok_or_else(|| {
                    Error::format(
                        &pair.image,
                        "file name",
                        "rsNNNNN.jpg (a frame number)",
                        pair.id.clone(),
                    )
                })?;
            if (frame < RAILSEM19_FIRST_VAL_FRAME) == (split == RailSem19Split::Train) {
                kept.push(pair);
            }
        }
        pairs = kept;
    }
    Ok(FolderDataset::from_pairs(
        pairs,
        ClassMap::identity(classes),
    ))
}

/// One object of a config's `labels` array.
struct ConfigLabel(serde_json::Map<String, serde_json::Value>);

impl ConfigLabel {
    fn get_str(&self, key: &str, path: &Path, field: &str) -> Result<String> {
        match self.0.get(key) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            other => Err(Error::format(path, field, "a string", json_found(other))),
        }
    }

    fn get_color(&self, path: &Path, field: &str) -> Result<[u8; 3]> {
        let value = self.0.get("color");
        let bad = || Error::format(path, field, "[r, g, b] with 0..255", json_found(value));
        let Some(serde_json::Value::Array(items)) = value else {
            return Err(bad());
        };
        if items.len() != 3 {
            return Err(bad());
        }
        let mut rgb = [0u8; 3];
        for (channel, item) in rgb.iter_mut().zip(items) {
            *channel = item
                .as_u64()
                .and_then(|v| u8::try_from(v).ok())
                .ok_or_else(bad)?;
        }
        Ok(rgb)
    }
}

fn json_found(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "nothing".to_string(), |v| v.to_string())
}

/// The `labels` array of a Mapillary or RailSem19 config JSON (at most 255 labels, so values
/// fit `u8` beside the ignore value).
fn read_config_labels(path: &Path) -> Result<Vec<ConfigLabel>> {
    let bytes = std::fs::read(path).map_err(|source| Error::read(path, source))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    let Some(serde_json::Value::Array(labels)) = json.get("labels") else {
        return Err(Error::format(
            path,
            "labels",
            "an array of labels",
            json_found(json.get("labels")),
        ));
    };
    if labels.is_empty() || labels.len() > 255 {
        return Err(Error::format(
            path,
            "labels",
            "1 to 255 labels",
            labels.len().to_string(),
        ));
    }
    labels
        .iter()
        .enumerate()
        .map(|(index, label)| match label {
            serde_json::Value::Object(map) => Ok(ConfigLabel(map.clone())),
            other => Err(Error::format(
                path,
                format!("labels[{index}]"),
                "an object",
                other.to_string(),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_map_with_remap() {
        let text = "# feed\n0,road,128,64,128\n1,rail track\n\n7 -> road\n12 -> 1\nignore 250\n";
        let map = ClassMap::parse(text, Path::new("c.txt")).unwrap();
        assert_eq!(map.classes.names(), ["road", "rail track"]);
        assert_eq!(map.classes.colors()[0], [128, 64, 128]);
        assert_eq!(map.classes.colors()[1], voc_colormap(2)[1]);
        assert_eq!(map.classes.ignore(), Some(250));
        let remap = map.remap.unwrap();
        assert_eq!((remap.get(7), remap.get(12), remap.get(0)), (0, 1, 250));
    }

    #[test]
    fn class_map_errors_name_the_line() {
        let cases = [
            ("0,a\n2,b\n", "line 2"),
            ("0,a\n1,b,1,2\n", "line 2"),
            ("0,a\nx -> a\n", "line 2"),
            ("0,a\n\n3 -> b\n", "line 3"),
            ("0,a,1,2,300\n", "line 1"),
            ("0,a\nignore 0\n", "ignore"),
            ("# nothing\n", "classes"),
        ];
        for (text, place) in cases {
            let message = ClassMap::parse(text, Path::new("dir/classes.txt"))
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("dir/classes.txt") && message.contains(place),
                "{message}"
            );
        }
    }
}
