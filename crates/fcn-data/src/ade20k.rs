//! ADE20K: the SceneParsing benchmark (`ADEChallengeData2016`, 150 classes) and the full
//! ADE20K format's `_seg.png` class and instance decoding.
//!
//! SceneParsing layout: `images/{training,validation}/ADE_*.jpg` with
//! `annotations/{training,validation}/ADE_*.png` (mode L, 0 = "other objects", 1..150 the
//! classes). mmseg reads them with `reduce_zero_label=True` ([`reduce_zero_label`]), giving
//! classes 0..149 and 255 ignore.
//!
//! ```
//! use fcn_data::ade20k::{CLASS_NAMES, reduce_zero_label};
//! use ndarray::array;
//!
//! let mut label = array![[0u8, 1, 150, 255]];
//! reduce_zero_label(&mut label);
//! assert_eq!(label, array![[255u8, 0, 149, 255]]);
//! assert_eq!(CLASS_NAMES[6], "road");
//! ```

use std::path::Path;

use ndarray::{Array2, Array3};

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::dataset::check_index;
use crate::error::{Error, Result};
use crate::files::{FilePair, check_sizes, pair_by_scan, read_pair, scan_suffix};
use crate::image_io::read_rgb;
use crate::sample::{LabelMap, Sample};

/// mmseg's `reduce_zero_label`, in its order: `gt[gt == 0] = 255; gt = gt - 1;
/// gt[gt == 254] = 255`. So 0 -> 255, k -> k - 1 for 1..254, 255 -> 255.
pub fn reduce_zero_label(label: &mut Array2<u8>) {
    label.mapv_inplace(|v| {
        let v = if v == 0 { 255 } else { v };
        let v = v.wrapping_sub(1);
        if v == 254 { 255 } else { v }
    });
}

/// The embedded `objectInfo150.csv` of CSAILVision/sceneparsing.
pub const OBJECT_INFO_150_CSV: &str = include_str!("../data/objectInfo150.csv");

/// One row of `objectInfo150.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    /// The pixel value in the annotations (1..150).
    pub index: u8,
    /// The fraction of pixels of the class over the dataset.
    pub ratio: f64,
    /// Number of training images holding the class.
    pub train: u32,
    /// Number of validation images holding the class.
    pub val: u32,
    /// Whether the class is stuff (1) rather than a thing (0).
    pub stuff: bool,
    /// The `Name` column as written: ';' stands for spaces and for the commas between
    /// synonyms, so it is ambiguous; [`CLASS_NAMES`] holds the readable short names.
    pub raw_name: String,
}

/// Parses `objectInfo150.csv` text (`Idx,Ratio,Train,Val,Stuff,Name`); `origin` names it in
/// errors.
pub fn parse_object_info(text: &str, origin: &Path) -> Result<Vec<ObjectInfo>> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        let line_name = || format!("line {}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim().split(',').collect();
        let [index, ratio, train, val, stuff, name] = fields[..] else {
            return Err(Error::format(
                origin,
                line_name(),
                "6 fields: Idx,Ratio,Train,Val,Stuff,Name",
                format!("{} fields", fields.len()),
            ));
        };
        let bad = |what: &str, text: &str| {
            Error::format(origin, line_name(), what.to_string(), format!("{text:?}"))
        };
        rows.push(ObjectInfo {
            index: index.parse().map_err(|_| bad("Idx 1..255", index))?,
            ratio: ratio.parse().map_err(|_| bad("a Ratio number", ratio))?,
            train: train.parse().map_err(|_| bad("a Train count", train))?,
            val: val.parse().map_err(|_| bad("a Val count", val))?,
            stuff: match stuff {
                "0" => false,
                "1" => true,
                _ => return Err(bad("Stuff 0 or 1", stuff)),
            },
            raw_name: name.to_string(),
        });
    }
    Ok(rows)
}

/// The rows of the embedded `objectInfo150.csv`.
pub fn object_info_150() -> Vec<ObjectInfo> {
    match parse_object_info(OBJECT_INFO_150_CSV, Path::new("objectInfo150.csv")) {
        Ok(rows) => rows,
        // The embedded file is checked by the tests.
        Err(error) => unreachable!("embedded objectInfo150.csv is malformed: {error}"),
    }
}

/// The 150 classes (0..149, mmseg names and palette, 255 ignored), the label space after
/// [`reduce_zero_label`].
pub fn classes() -> ClassSet {
    let names = CLASS_NAMES.iter().map(|n| n.to_string()).collect();
    match ClassSet::new(names, PALETTE.to_vec()) {
        Ok(set) => set,
        Err(_) => unreachable!("150 names and 150 colours"),
    }
}

/// The raw label space (0 "other objects", not evaluated, then the 150 classes at 1..150; no
/// ignore value), for reading without [`reduce_zero_label`].
pub fn raw_classes() -> ClassSet {
    let names = std::iter::once("other objects")
        .chain(CLASS_NAMES)
        .map(str::to_string)
        .collect();
    let colors = std::iter::once([0, 0, 0]).chain(PALETTE).collect();
    let evaluated = std::iter::once(false).chain([true; 150]).collect();
    match ClassSet::new(names, colors).and_then(|set| set.with_evaluated(evaluated)) {
        Ok(set) => set.with_ignore(None),
        Err(_) => unreachable!("151 names, colours and flags"),
    }
}

/// A SceneParsing split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `training` (20210 images).
    Training,
    /// `validation` (2000 images).
    Validation,
}

impl Split {
    /// The folder name.
    pub fn folder(self) -> &'static str {
        match self {
            Split::Training => "training",
            Split::Validation => "validation",
        }
    }
}

/// ADE20K SceneParsing (`ADEChallengeData2016`).
#[derive(Debug, Clone)]
pub struct Ade20k {
    pairs: Vec<FilePair>,
    reduce_zero_label: bool,
    classes: ClassSet,
}

impl Ade20k {
    /// `split` of the dataset at `root` (the `ADEChallengeData2016` folder). With
    /// `reduce_zero_label` (mmseg's setting) labels are 0..149 and 255; without, the raw 0..150.
    pub fn open(root: &Path, split: Split, reduce_zero_label: bool) -> Result<Self> {
        let pairs = pair_by_scan(
            &root.join("images").join(split.folder()),
            &root.join("annotations").join(split.folder()),
            ".jpg",
            ".png",
        )?;
        let classes = if reduce_zero_label {
            classes()
        } else {
            raw_classes()
        };
        Ok(Self {
            pairs,
            reduce_zero_label,
            classes,
        })
    }

    /// The image/label pairs, in order.
    pub fn pairs(&self) -> &[FilePair] {
        &self.pairs
    }
}

impl Dataset for Ade20k {
    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.pairs.len())?;
        let pair = &self.pairs[index];
        let (image, label) = read_pair(&pair.image, &pair.label)?;
        let LabelMap::U8(mut label) = label else {
            return Err(Error::format(
                &pair.label,
                "bit depth",
                "an 8-bit label PNG",
                "16 bits",
            ));
        };
        if self.reduce_zero_label {
            reduce_zero_label(&mut label);
        }
        Ok(Sample {
            image,
            label: LabelMap::U8(label),
            id: pair.id.clone(),
            image_path: Some(pair.image.clone()),
            label_path: Some(pair.label.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

/// The decoded full-format `_seg.png`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullSegmentation {
    /// Class per pixel, `(R / 10) * 256 + G` (0 unlabeled; else the 1-based `name_ndx` of the
    /// image's JSON, `objectnames[class - 1]` of the index file).
    pub classes: Array2<u16>,
    /// Instance per pixel: the rank of B among the distinct B values of the image (0 for the
    /// smallest), as `np.unique(B, return_inverse=True)` gives.
    pub instances: Array2<u16>,
}

/// Decodes an RGB `_seg.png` (or `_parts_N.png`) image held as HxWx3, as CSAILVision's
/// `utils_ade20k.loadAde20K` does. An array without 3 channels is an `InvalidArgument`.
pub fn decode_full_segmentation(rgb: &Array3<u8>) -> Result<FullSegmentation> {
    let (height, width, channels) = rgb.dim();
    if channels != 3 {
        return Err(Error::NotRgb {
            what: "ADE20K segmentation image",
            channels,
        });
    }
    let classes = Array2::from_shape_fn((height, width), |(y, x)| {
        u16::from(rgb[[y, x, 0]] / 10) * 256 + u16::from(rgb[[y, x, 1]])
    });
    let mut present = [false; 256];
    for y in 0..height {
        for x in 0..width {
            present[usize::from(rgb[[y, x, 2]])] = true;
        }
    }
    let mut rank = [0u16; 256];
    let mut next = 0;
    for (value, &seen) in present.iter().enumerate() {
        if seen {
            rank[value] = next;
            next += 1;
        }
    }
    let instances =
        Array2::from_shape_fn((height, width), |(y, x)| rank[usize::from(rgb[[y, x, 2]])]);
    Ok(FullSegmentation { classes, instances })
}

/// Reads and decodes a full-format `_seg.png`.
pub fn read_full_segmentation(path: &Path) -> Result<FullSegmentation> {
    decode_full_segmentation(&read_rgb(path)?)
}

/// Full-format ADE20K images with their `_seg.png` classes as `u16` label maps: every
/// `*.jpg` under a folder (recursively, sorted) that has `<stem>_seg.png` beside it.
///
/// Class values are the 1-based ADE object indices (0 unlabeled); the class set names them
/// `"ade:<value>"` up to `num_classes` (the index file's `objectnames` hold the real names),
/// with 0 as ignore.
#[derive(Debug, Clone)]
pub struct Ade20kFull {
    pairs: Vec<FilePair>,
    classes: ClassSet,
}

impl Ade20kFull {
    /// The images under `dir` (for example `images/ADE/training`); `num_classes` is the
    /// number of object names (3688 in ADE20K_2021_17_01).
    pub fn open(dir: &Path, num_classes: usize) -> Result<Self> {
        if num_classes == 0 || num_classes >= usize::from(u16::MAX) {
            return Err(Error::invalid(
                "num_classes",
                format!("{num_classes} is not in 1..65534"),
            ));
        }
        let mut pairs = Vec::new();
        for relative in scan_suffix(dir, ".jpg")? {
            let id = relative[..relative.len() - ".jpg".len()].to_string();
            let label = dir.join(format!("{id}_seg.png"));
            if label.is_file() {
                pairs.push(FilePair {
                    image: dir.join(&relative),
                    label,
                    id: id.rsplit('/').next().unwrap_or(&id).to_string(),
                });
            }
        }
        let names = (0..=num_classes)
            .map(|v| {
                if v == 0 {
                    "unlabeled".to_string()
                } else {
                    format!("ade:{v}")
                }
            })
            .collect();
        let colors = crate::classes::voc_colormap(num_classes + 1);
        let classes = ClassSet::new(names, colors)?.with_ignore(Some(0));
        Ok(Self { pairs, classes })
    }

    /// The image/label pairs, in order.
    pub fn pairs(&self) -> &[FilePair] {
        &self.pairs
    }
}

impl Dataset for Ade20kFull {
    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.pairs.len())?;
        let pair = &self.pairs[index];
        let image = read_rgb(&pair.image)?;
        let label = LabelMap::U16(read_full_segmentation(&pair.label)?.classes);
        check_sizes(&image, &pair.image, &label, &pair.label)?;
        Ok(Sample {
            image,
            label,
            id: pair.id.clone(),
            image_path: Some(pair.image.clone()),
            label_path: Some(pair.label.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

/// The 150 class names, as mmseg's `ADE20KDataset` lists them (pixel value - 1).
pub const CLASS_NAMES: [&str; 150] = [
    "wall",
    "building",
    "sky",
    "floor",
    "tree",
    "ceiling",
    "road",
    "bed",
    "windowpane",
    "grass",
    "cabinet",
    "sidewalk",
    "person",
    "earth",
    "door",
    "table",
    "mountain",
    "plant",
    "curtain",
    "chair",
    "car",
    "water",
    "painting",
    "sofa",
    "shelf",
    "house",
    "sea",
    "mirror",
    "rug",
    "field",
    "armchair",
    "seat",
    "fence",
    "desk",
    "rock",
    "wardrobe",
    "lamp",
    "bathtub",
    "railing",
    "cushion",
    "base",
    "box",
    "column",
    "signboard",
    "chest of drawers",
    "counter",
    "sand",
    "sink",
    "skyscraper",
    "fireplace",
    "refrigerator",
    "grandstand",
    "path",
    "stairs",
    "runway",
    "case",
    "pool table",
    "pillow",
    "screen door",
    "stairway",
    "river",
    "bridge",
    "bookcase",
    "blind",
    "coffee table",
    "toilet",
    "flower",
    "book",
    "hill",
    "bench",
    "countertop",
    "stove",
    "palm",
    "kitchen island",
    "computer",
    "swivel chair",
    "boat",
    "bar",
    "arcade machine",
    "hovel",
    "bus",
    "towel",
    "light",
    "truck",
    "tower",
    "chandelier",
    "awning",
    "streetlight",
    "booth",
    "television receiver",
    "airplane",
    "dirt track",
    "apparel",
    "pole",
    "land",
    "bannister",
    "escalator",
    "ottoman",
    "bottle",
    "buffet",
    "poster",
    "stage",
    "van",
    "ship",
    "fountain",
    "conveyer belt",
    "canopy",
    "washer",
    "plaything",
    "swimming pool",
    "stool",
    "barrel",
    "basket",
    "waterfall",
    "tent",
    "bag",
    "minibike",
    "cradle",
    "oven",
    "ball",
    "food",
    "step",
    "tank",
    "trade name",
    "microwave",
    "pot",
    "animal",
    "bicycle",
    "lake",
    "dishwasher",
    "screen",
    "blanket",
    "sculpture",
    "hood",
    "sconce",
    "vase",
    "traffic light",
    "tray",
    "ashcan",
    "fan",
    "pier",
    "crt screen",
    "plate",
    "monitor",
    "bulletin board",
    "shower",
    "radiator",
    "glass",
    "clock",
    "flag",
];

/// mmseg's ADE20K palette (RGB), by class index.
pub const PALETTE: [[u8; 3]; 150] = [
    [120, 120, 120],
    [180, 120, 120],
    [6, 230, 230],
    [80, 50, 50],
    [4, 200, 3],
    [120, 120, 80],
    [140, 140, 140],
    [204, 5, 255],
    [230, 230, 230],
    [4, 250, 7],
    [224, 5, 255],
    [235, 255, 7],
    [150, 5, 61],
    [120, 120, 70],
    [8, 255, 51],
    [255, 6, 82],
    [143, 255, 140],
    [204, 255, 4],
    [255, 51, 7],
    [204, 70, 3],
    [0, 102, 200],
    [61, 230, 250],
    [255, 6, 51],
    [11, 102, 255],
    [255, 7, 71],
    [255, 9, 224],
    [9, 7, 230],
    [220, 220, 220],
    [255, 9, 92],
    [112, 9, 255],
    [8, 255, 214],
    [7, 255, 224],
    [255, 184, 6],
    [10, 255, 71],
    [255, 41, 10],
    [7, 255, 255],
    [224, 255, 8],
    [102, 8, 255],
    [255, 61, 6],
    [255, 194, 7],
    [255, 122, 8],
    [0, 255, 20],
    [255, 8, 41],
    [255, 5, 153],
    [6, 51, 255],
    [235, 12, 255],
    [160, 150, 20],
    [0, 163, 255],
    [140, 140, 140],
    [250, 10, 15],
    [20, 255, 0],
    [31, 255, 0],
    [255, 31, 0],
    [255, 224, 0],
    [153, 255, 0],
    [0, 0, 255],
    [255, 71, 0],
    [0, 235, 255],
    [0, 173, 255],
    [31, 0, 255],
    [11, 200, 200],
    [255, 82, 0],
    [0, 255, 245],
    [0, 61, 255],
    [0, 255, 112],
    [0, 255, 133],
    [255, 0, 0],
    [255, 163, 0],
    [255, 102, 0],
    [194, 255, 0],
    [0, 143, 255],
    [51, 255, 0],
    [0, 82, 255],
    [0, 255, 41],
    [0, 255, 173],
    [10, 0, 255],
    [173, 255, 0],
    [0, 255, 153],
    [255, 92, 0],
    [255, 0, 255],
    [255, 0, 245],
    [255, 0, 102],
    [255, 173, 0],
    [255, 0, 20],
    [255, 184, 184],
    [0, 31, 255],
    [0, 255, 61],
    [0, 71, 255],
    [255, 0, 204],
    [0, 255, 194],
    [0, 255, 82],
    [0, 10, 255],
    [0, 112, 255],
    [51, 0, 255],
    [0, 194, 255],
    [0, 122, 255],
    [0, 255, 163],
    [255, 153, 0],
    [0, 255, 10],
    [255, 112, 0],
    [143, 255, 0],
    [82, 0, 255],
    [163, 255, 0],
    [255, 235, 0],
    [8, 184, 170],
    [133, 0, 255],
    [0, 255, 92],
    [184, 0, 255],
    [255, 0, 31],
    [0, 184, 255],
    [0, 214, 255],
    [255, 0, 112],
    [92, 255, 0],
    [0, 224, 255],
    [112, 224, 255],
    [70, 184, 160],
    [163, 0, 255],
    [153, 0, 255],
    [71, 255, 0],
    [255, 0, 163],
    [255, 204, 0],
    [255, 0, 143],
    [0, 255, 235],
    [133, 255, 0],
    [255, 0, 235],
    [245, 0, 255],
    [255, 0, 122],
    [255, 245, 0],
    [10, 190, 212],
    [214, 255, 0],
    [0, 204, 255],
    [20, 0, 255],
    [255, 255, 0],
    [0, 153, 255],
    [0, 41, 255],
    [0, 255, 204],
    [41, 0, 255],
    [41, 255, 0],
    [173, 0, 255],
    [0, 245, 255],
    [71, 0, 255],
    [122, 0, 255],
    [0, 255, 184],
    [0, 92, 255],
    [184, 255, 0],
    [0, 133, 255],
    [255, 214, 0],
    [25, 194, 194],
    [102, 255, 0],
    [92, 0, 255],
];

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn reduce_zero_label_covers_every_value() {
        let mut all = Array2::from_shape_fn((1, 256), |(_, x)| x as u8);
        reduce_zero_label(&mut all);
        assert_eq!(all[[0, 0]], 255);
        for k in 1..=254usize {
            assert_eq!(all[[0, k]], (k - 1) as u8);
        }
        assert_eq!(all[[0, 255]], 255);
    }

    #[test]
    fn full_decoding_formula() {
        let mut rgb = Array3::zeros((1, 3, 3));
        // (R / 10) * 256 + G: R = 19 -> 1, so 256 + 56 = 312 (building).
        rgb[[0, 0, 0]] = 19;
        rgb[[0, 0, 1]] = 56;
        rgb[[0, 0, 2]] = 40;
        rgb[[0, 1, 2]] = 7;
        rgb[[0, 2, 2]] = 40;
        let seg = decode_full_segmentation(&rgb).unwrap();
        assert!(decode_full_segmentation(&Array3::zeros((1, 1, 4))).is_err());
        assert_eq!(seg.classes, array![[312u16, 0, 0]]);
        assert_eq!(seg.instances, array![[1u16, 0, 1]]);
    }
}
