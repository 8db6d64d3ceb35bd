//! Cityscapes: `leftImg8bit` / `gtFine` (or `gtCoarse`) pairing, the full cityscapesScripts
//! label table, label ids -> train ids (19 classes, 255 ignore), and 16-bit instance ids.
//!
//! Layout: `leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png` with
//! `gtFine/{split}/{city}/{stem}_gtFine_labelIds.png` (8-bit label ids),
//! `_gtFine_instanceIds.png` (16-bit) and, when made by `createTrainIdLabelImgs.py`,
//! `_gtFine_labelTrainIds.png`. Images are found by a recursive scan sorted by path, as mmseg
//! does.
//!
//! ```
//! use fcn_data::cityscapes::{LABEL_ID_TO_TRAIN_ID, label_by_id};
//!
//! assert_eq!(LABEL_ID_TO_TRAIN_ID[7], 0); // road
//! assert_eq!(LABEL_ID_TO_TRAIN_ID[10], 255); // rail track is ignored in Cityscapes
//! assert_eq!(label_by_id(26).map(|l| l.name), Some("car"));
//! ```

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::classes::ClassSet;
use crate::dataset::Dataset;
use crate::dataset::check_index;
use crate::error::{Error, Result};
use crate::files::{check_sizes, missing_label, scan_suffix};
use crate::image_io::read_rgb;
use crate::label_png::read_label_png;
use crate::sample::{LabelMap, Sample};

/// One row of cityscapesScripts' `helpers/labels.py` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CityscapesLabel {
    /// The label's name.
    pub name: &'static str,
    /// The value in `_labelIds.png` (-1 for license plate, which is never drawn).
    pub id: i16,
    /// The train id (0..18), 255 for ignored labels, -1 for license plate.
    pub train_id: i16,
    /// The category name.
    pub category: &'static str,
    /// The category id.
    pub category_id: u8,
    /// Whether instances are annotated (`_instanceIds` holds `id * 1000 + k`).
    pub has_instances: bool,
    /// Whether evaluation ignores the label.
    pub ignore_in_eval: bool,
    /// Its colour (RGB).
    pub color: [u8; 3],
}

// One argument per column, in the order of the Python `Label` namedtuple, so rows read alike.
#[allow(clippy::too_many_arguments)]
const fn label(
    name: &'static str,
    id: i16,
    train_id: i16,
    category: &'static str,
    category_id: u8,
    has_instances: bool,
    ignore_in_eval: bool,
    color: [u8; 3],
) -> CityscapesLabel {
    CityscapesLabel {
        name,
        id,
        train_id,
        category,
        category_id,
        has_instances,
        ignore_in_eval,
        color,
    }
}

/// The full cityscapesScripts label table, in its order (35 rows).
pub const LABELS: [CityscapesLabel; 35] = [
    label("unlabeled", 0, 255, "void", 0, false, true, [0, 0, 0]),
    label("ego vehicle", 1, 255, "void", 0, false, true, [0, 0, 0]),
    label(
        "rectification border",
        2,
        255,
        "void",
        0,
        false,
        true,
        [0, 0, 0],
    ),
    label("out of roi", 3, 255, "void", 0, false, true, [0, 0, 0]),
    label("static", 4, 255, "void", 0, false, true, [0, 0, 0]),
    label("dynamic", 5, 255, "void", 0, false, true, [111, 74, 0]),
    label("ground", 6, 255, "void", 0, false, true, [81, 0, 81]),
    label("road", 7, 0, "flat", 1, false, false, [128, 64, 128]),
    label("sidewalk", 8, 1, "flat", 1, false, false, [244, 35, 232]),
    label("parking", 9, 255, "flat", 1, false, true, [250, 170, 160]),
    label(
        "rail track",
        10,
        255,
        "flat",
        1,
        false,
        true,
        [230, 150, 140],
    ),
    label(
        "building",
        11,
        2,
        "construction",
        2,
        false,
        false,
        [70, 70, 70],
    ),
    label(
        "wall",
        12,
        3,
        "construction",
        2,
        false,
        false,
        [102, 102, 156],
    ),
    label(
        "fence",
        13,
        4,
        "construction",
        2,
        false,
        false,
        [190, 153, 153],
    ),
    label(
        "guard rail",
        14,
        255,
        "construction",
        2,
        false,
        true,
        [180, 165, 180],
    ),
    label(
        "bridge",
        15,
        255,
        "construction",
        2,
        false,
        true,
        [150, 100, 100],
    ),
    label(
        "tunnel",
        16,
        255,
        "construction",
        2,
        false,
        true,
        [150, 120, 90],
    ),
    label("pole", 17, 5, "object", 3, false, false, [153, 153, 153]),
    label(
        "polegroup",
        18,
        255,
        "object",
        3,
        false,
        true,
        [153, 153, 153],
    ),
    label(
        "traffic light",
        19,
        6,
        "object",
        3,
        false,
        false,
        [250, 170, 30],
    ),
    label(
        "traffic sign",
        20,
        7,
        "object",
        3,
        false,
        false,
        [220, 220, 0],
    ),
    label(
        "vegetation",
        21,
        8,
        "nature",
        4,
        false,
        false,
        [107, 142, 35],
    ),
    label("terrain", 22, 9, "nature", 4, false, false, [152, 251, 152]),
    label("sky", 23, 10, "sky", 5, false, false, [70, 130, 180]),
    label("person", 24, 11, "human", 6, true, false, [220, 20, 60]),
    label("rider", 25, 12, "human", 6, true, false, [255, 0, 0]),
    label("car", 26, 13, "vehicle", 7, true, false, [0, 0, 142]),
    label("truck", 27, 14, "vehicle", 7, true, false, [0, 0, 70]),
    label("bus", 28, 15, "vehicle", 7, true, false, [0, 60, 100]),
    label("caravan", 29, 255, "vehicle", 7, true, true, [0, 0, 90]),
    label("trailer", 30, 255, "vehicle", 7, true, true, [0, 0, 110]),
    label("train", 31, 16, "vehicle", 7, true, false, [0, 80, 100]),
    label("motorcycle", 32, 17, "vehicle", 7, true, false, [0, 0, 230]),
    label("bicycle", 33, 18, "vehicle", 7, true, false, [119, 11, 32]),
    label(
        "license plate",
        -1,
        -1,
        "vehicle",
        7,
        false,
        true,
        [0, 0, 142],
    ),
];

/// Number of train classes.
pub const NUM_TRAIN_CLASSES: usize = 19;

/// The ignore value of train ids.
pub const IGNORE: u8 = 255;

/// Label id -> train id for every `u8` value: the table's `trainId` for ids 0..33, 255 for
/// every other value (as the reference LUT with default 255; license plate, id -1, never
/// occurs in a file).
pub const LABEL_ID_TO_TRAIN_ID: [u8; 256] = {
    let mut lut = [IGNORE; 256];
    let mut row = 0;
    while row < LABELS.len() {
        let label = &LABELS[row];
        if label.id >= 0 && label.train_id >= 0 {
            lut[label.id as usize] = label.train_id as u8;
        }
        row += 1;
    }
    lut
};

/// The table row of label id `id`.
pub fn label_by_id(id: i16) -> Option<&'static CityscapesLabel> {
    LABELS.iter().find(|l| l.id == id)
}

/// The row of train id `train_id` (0..18); for a duplicated train id the first row wins, as
/// cityscapesScripts' `trainId2label` (built from the reversed list) does.
pub fn label_by_train_id(train_id: u8) -> Option<&'static CityscapesLabel> {
    LABELS.iter().find(|l| l.train_id == i16::from(train_id))
}

/// Converts a `_labelIds` map to train ids through [`LABEL_ID_TO_TRAIN_ID`].
pub fn label_ids_to_train_ids(label_ids: &Array2<u8>) -> Array2<u8> {
    label_ids.mapv(|id| LABEL_ID_TO_TRAIN_ID[usize::from(id)])
}

/// The label id of an `_instanceIds` value: the value itself below 1000, else `value / 1000`.
pub fn instance_label_id(value: u16) -> u16 {
    if value < 1000 { value } else { value / 1000 }
}

/// The 0-based instance number of an `_instanceIds` value (`value % 1000`), or `None` for a
/// value below 1000 (a label without instances, or a `*group` region).
pub fn instance_number(value: u16) -> Option<u16> {
    (value >= 1000).then_some(value % 1000)
}

/// The label-id map of an `_instanceIds` map (each value through [`instance_label_id`]).
pub fn instance_ids_to_label_ids(instance_ids: &Array2<u16>) -> Array2<u8> {
    // Label ids are below 34, so every result fits `u8`; larger values saturate to ignore.
    instance_ids.mapv(|v| u8::try_from(instance_label_id(v)).unwrap_or(IGNORE))
}

/// The 19 train classes (names, colours; 255 ignored).
pub fn train_classes() -> ClassSet {
    let rows = (0..NUM_TRAIN_CLASSES as u8).filter_map(label_by_train_id);
    let (names, colors): (Vec<String>, Vec<[u8; 3]>) =
        rows.map(|l| (l.name.to_string(), l.color)).unzip();
    match ClassSet::new(names, colors) {
        Ok(set) => set,
        Err(_) => unreachable!("the label table has every train id"),
    }
}

/// The 34 label-id classes (0..33); those the table ignores in evaluation are marked not
/// evaluated. No value is ignored outright (unlabeled is a class, 0).
pub fn label_id_classes() -> ClassSet {
    let rows: Vec<&CityscapesLabel> = LABELS.iter().filter(|l| l.id >= 0).collect();
    let names = rows.iter().map(|l| l.name.to_string()).collect();
    let colors = rows.iter().map(|l| l.color).collect();
    let evaluated = rows.iter().map(|l| !l.ignore_in_eval).collect();
    match ClassSet::new(names, colors).and_then(|set| set.with_evaluated(evaluated)) {
        Ok(set) => set.with_ignore(None),
        Err(_) => unreachable!("the label table is well formed"),
    }
}

/// Which annotation set to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Annotation {
    /// `gtFine`.
    #[default]
    Fine,
    /// `gtCoarse` (which also has the `train_extra` split).
    Coarse,
}

impl Annotation {
    /// `gtFine` or `gtCoarse`.
    pub fn folder(self) -> &'static str {
        match self {
            Annotation::Fine => "gtFine",
            Annotation::Coarse => "gtCoarse",
        }
    }
}

/// What a sample's label map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Train ids (0..18, 255) computed from `_labelIds.png` through the LUT.
    #[default]
    TrainIds,
    /// The `_labelTrainIds.png` files made by `createTrainIdLabelImgs.py` or mmseg's converter.
    ShippedTrainIds,
    /// The raw label ids (0..33), as torchvision's `Cityscapes(target_type='semantic')`.
    LabelIds,
    /// The raw 16-bit `_instanceIds.png` values (`id * 1000 + k`, or a plain id).
    InstanceIds,
}

impl Target {
    fn file_suffix(self) -> &'static str {
        match self {
            Target::TrainIds | Target::LabelIds => "labelIds.png",
            Target::ShippedTrainIds => "labelTrainIds.png",
            Target::InstanceIds => "instanceIds.png",
        }
    }
}

#[derive(Debug, Clone)]
struct Frame {
    id: String,
    image: PathBuf,
    label: PathBuf,
    /// `Some` when `label` is a `_polygons.json` to rasterise (no label PNG).
    polygons: Option<PolygonEncoding>,
}

/// A Cityscapes split.
#[derive(Debug, Clone)]
pub struct Cityscapes {
    frames: Vec<Frame>,
    target: Target,
    classes: ClassSet,
}

impl Cityscapes {
    /// `split` (`train`, `val`, `test`, or `train_extra` for coarse) of the dataset at `root`
    /// (the folder holding `leftImg8bit` and `gtFine`), with `target` labels.
    ///
    /// A frame without its label PNG but with `<stem>_gtFine_polygons.json` gets its label ids
    /// or train ids by [`rasterize_polygons`], as `createTrainIdLabelImgs.py` would have made
    /// them; instance ids need the PNG.
    pub fn open(root: &Path, split: &str, annotation: Annotation, target: Target) -> Result<Self> {
        const IMAGE_SUFFIX: &str = "_leftImg8bit.png";
        let images_dir = root.join("leftImg8bit").join(split);
        let labels_dir = root.join(annotation.folder()).join(split);
        let label_suffix = format!("_{}_{}", annotation.folder(), target.file_suffix());
        let mut frames = Vec::new();
        for relative in scan_suffix(&images_dir, IMAGE_SUFFIX)? {
            let stem = &relative[..relative.len() - IMAGE_SUFFIX.len()];
            let image = images_dir.join(&relative);
            let mut label = labels_dir.join(format!("{stem}{label_suffix}"));
            let mut polygons = None;
            if !label.is_file() {
                // Without the PNG, rasterise the polygons as cityscapesScripts would.
                let json = labels_dir.join(format!("{stem}_{}_polygons.json", annotation.folder()));
                let encoding = match target {
                    Target::TrainIds | Target::ShippedTrainIds => Some(PolygonEncoding::TrainIds),
                    Target::LabelIds => Some(PolygonEncoding::LabelIds),
                    Target::InstanceIds => None,
                };
                match encoding {
                    Some(encoding) if json.is_file() => {
                        label = json;
                        polygons = Some(encoding);
                    }
                    _ => return Err(missing_label(&image, &label)),
                }
            }
            let id = stem.rsplit('/').next().unwrap_or(stem).to_string();
            frames.push(Frame {
                id,
                image,
                label,
                polygons,
            });
        }
        let classes = match target {
            Target::TrainIds | Target::ShippedTrainIds => train_classes(),
            Target::LabelIds | Target::InstanceIds => label_id_classes(),
        };
        Ok(Self {
            frames,
            target,
            classes,
        })
    }

    /// The image files, in order.
    pub fn image_paths(&self) -> impl Iterator<Item = &Path> {
        self.frames.iter().map(|f| f.image.as_path())
    }

    /// The label files, in order (a `_polygons.json` where the PNG is absent).
    pub fn label_paths(&self) -> impl Iterator<Item = &Path> {
        self.frames.iter().map(|f| f.label.as_path())
    }

    fn read_label(&self, path: &Path) -> Result<LabelMap> {
        let raw = read_label_png(path)?;
        match (self.target, raw) {
            (Target::InstanceIds, LabelMap::U16(map)) => Ok(LabelMap::U16(map)),
            (Target::InstanceIds, LabelMap::U8(_)) => Err(Error::format(
                path,
                "bit depth",
                "a 16-bit instance-id PNG",
                "8 bits",
            )),
            (Target::TrainIds, LabelMap::U8(map)) => Ok(LabelMap::U8(label_ids_to_train_ids(&map))),
            (Target::LabelIds | Target::ShippedTrainIds, LabelMap::U8(map)) => {
                Ok(LabelMap::U8(map))
            }
            (_, LabelMap::U16(_)) => Err(Error::format(
                path,
                "bit depth",
                "an 8-bit label PNG",
                "16 bits",
            )),
        }
    }
}

impl Dataset for Cityscapes {
    fn len(&self) -> usize {
        self.frames.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        check_index(index, self.frames.len())?;
        let frame = &self.frames[index];
        let image = read_rgb(&frame.image)?;
        let label = match frame.polygons {
            Some(encoding) => LabelMap::U8(rasterize_polygons(&frame.label, encoding)?),
            None => self.read_label(&frame.label)?,
        };
        check_sizes(&image, &frame.image, &label, &frame.label)?;
        Ok(Sample {
            image,
            label,
            id: frame.id.clone(),
            image_path: Some(frame.image.clone()),
            label_path: Some(frame.label.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}

// ---------------------------------------------------------------------------------------------
// Polygons: `_gtFine_polygons.json` rasterised as cityscapesScripts' `json2labelImg.py` does, with
// Pillow's polygon filler (`libImaging/Draw.c`, `ImagingDrawPolygon` + `polygon_generic`).

/// Which values a rasterised polygon file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolygonEncoding {
    /// Label ids; the background is 'unlabeled' (0).
    LabelIds,
    /// Train ids; the background is 'unlabeled' (255).
    TrainIds,
}

/// Rasterises a `_polygons.json` file as `json2labelImg.createLabelImage` does: an
/// `imgHeight` x `imgWidth` map filled with 'unlabeled', then each object's polygon in file
/// order (later ones overwrite earlier ones); objects with a true `deleted` are skipped, a label
/// `<name>group` unknown to the table becomes `<name>`, labels with a negative id (license
/// plate) are not drawn, and an unknown label is an error.
pub fn rasterize_polygons(path: &Path, encoding: PolygonEncoding) -> Result<Array2<u8>> {
    let bytes = std::fs::read(path).map_err(|source| Error::read(path, source))?;
    rasterize_polygons_json(&bytes, path, encoding)
}

/// As [`rasterize_polygons`], for JSON held in memory; `path` names it in errors.
pub fn rasterize_polygons_json(
    bytes: &[u8],
    path: &Path,
    encoding: PolygonEncoding,
) -> Result<Array2<u8>> {
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    let side = |key: &str| -> Result<usize> {
        json.get(key)
            .and_then(serde_json::Value::as_u64)
            .filter(|&v| v <= u64::from(crate::image_io::MAX_IMAGE_SIDE))
            .map(|v| v as usize)
            .ok_or_else(|| {
                Error::format(
                    path,
                    key,
                    format!("an integer 0..{}", crate::image_io::MAX_IMAGE_SIDE),
                    json.get(key).map_or("nothing".into(), |v| v.to_string()),
                )
            })
    };
    let (height, width) = (side("imgHeight")?, side("imgWidth")?);
    let Some(objects) = json.get("objects").and_then(serde_json::Value::as_array) else {
        return Err(Error::format(path, "objects", "an array", "something else"));
    };
    let value_of = |label: &CityscapesLabel| match encoding {
        PolygonEncoding::LabelIds => label.id as u8,
        PolygonEncoding::TrainIds => label.train_id as u8,
    };
    let unlabeled = &LABELS[0];
    let mut canvas = Array2::from_elem((height, width), value_of(unlabeled));
    for (index, object) in objects.iter().enumerate() {
        let field = |name: &str| format!("objects[{index}].{name}");
        let deleted = match object.get("deleted") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(other) => {
                return Err(Error::format(
                    path,
                    field("deleted"),
                    "a number or boolean",
                    other.to_string(),
                ));
            }
        };
        if deleted {
            continue;
        }
        let Some(name) = object.get("label").and_then(serde_json::Value::as_str) else {
            return Err(Error::format(
                path,
                field("label"),
                "a string",
                "something else",
            ));
        };
        let known = |n: &str| LABELS.iter().find(|l| l.name == n);
        let label = known(name)
            .or_else(|| name.strip_suffix("group").and_then(known))
            .ok_or_else(|| Error::format(path, field("label"), "a Cityscapes label name", name))?;
        if label.id < 0 {
            continue;
        }
        let points = polygon_points(object.get("polygon"), path, &field("polygon"))?;
        fill_polygon_like_pillow(&mut canvas, &points, value_of(label));
    }
    Ok(canvas)
}

fn polygon_points(
    value: Option<&serde_json::Value>,
    path: &Path,
    field: &str,
) -> Result<Vec<[f64; 2]>> {
    let bad = || {
        Error::format(
            path,
            field,
            "at least 2 [x, y] number pairs",
            "something else",
        )
    };
    let Some(items) = value.and_then(serde_json::Value::as_array) else {
        return Err(bad());
    };
    if items.len() < 2 {
        // Pillow refuses fewer than 2 points ("coordinate list must contain at least 2").
        return Err(bad());
    }
    items
        .iter()
        .map(|item| match item.as_array().map(Vec::as_slice) {
            Some([x, y]) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => Ok([x, y]),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        })
        .collect()
}

/// An edge of Pillow's polygon engine.
#[derive(Debug, Clone, Copy)]
struct Edge {
    x0: i64,
    y0: i64,
    xmin: i64,
    ymin: i64,
    xmax: i64,
    ymax: i64,
    dx: f32,
}

impl Edge {
    fn new(x0: i64, y0: i64, x1: i64, y1: i64) -> Self {
        let dx = if y0 == y1 {
            0.0
        } else {
            (x1 - x0) as f32 / (y1 - y0) as f32
        };
        Self {
            x0,
            y0,
            xmin: x0.min(x1),
            ymin: y0.min(y1),
            xmax: x0.max(x1),
            ymax: y0.max(y1),
            dx,
        }
    }

    /// The edge's x at row `y` (f32 arithmetic, as the C code).
    fn x_at(&self, y: i64) -> f32 {
        (y - self.y0) as f32 * self.dx + self.x0 as f32
    }
}

/// Pillow's `ROUND_UP`: half away from zero.
fn round_up(f: f32) -> i64 {
    if f >= 0.0 {
        (f + 0.5).floor() as i64
    } else {
        -((f.abs() + 0.5).floor() as i64)
    }
}

/// Pillow's `ROUND_DOWN`: half towards zero.
fn round_down(f: f32) -> i64 {
    if f >= 0.0 {
        (f - 0.5).ceil() as i64
    } else {
        -((f.abs() - 0.5).ceil() as i64)
    }
}

/// Pillow's `hline8`: columns `x0..=x1` of row `y`, clipped to the canvas.
fn hline(canvas: &mut Array2<u8>, x0: i64, y: i64, x1: i64, value: u8) {
    let (height, width) = canvas.dim();
    let (height, width) = (height as i64, width as i64);
    if y < 0 || y >= height || x0 >= width || x1 < 0 {
        return;
    }
    let (x0, x1) = (x0.max(0), x1.min(width - 1));
    if x0 <= x1 {
        let mut row = canvas.row_mut(y as usize);
        for x in x0..=x1 {
            row[x as usize] = value;
        }
    }
}

/// Fills the polygon through `points` with `value`, pixel for pixel as Pillow's
/// `ImageDraw.polygon(points, fill=value)` on an 8-bit image: coordinates truncated to
/// integers, consecutive horizontal edges merged, horizontal edges drawn as lines, scan lines
/// with Pillow's corner rules and rounding.
pub fn fill_polygon_like_pillow(canvas: &mut Array2<u8>, points: &[[f64; 2]], value: u8) {
    // `(int)` in C; `as` saturates where C would be undefined.
    let xy: Vec<(i64, i64)> = points
        .iter()
        .map(|p| (i64::from(p[0] as i32), i64::from(p[1] as i32)))
        .collect();
    let Some(&first) = xy.first() else {
        return;
    };
    let mut edges: Vec<Edge> = Vec::with_capacity(xy.len());
    for i in 0..xy.len() - 1 {
        let ((x0, y0), (x1, y1)) = (xy[i], xy[i + 1]);
        if i != 0 && y0 == y1 && y0 == xy[i - 1].1 {
            // A horizontal edge right after another: extend that one when both run the same way.
            let before = xy[i - 1].0;
            if let Some(last) = edges.last_mut() {
                if x1 > x0 && x0 > before {
                    last.xmax = x1;
                    continue;
                } else if x1 < x0 && x0 < before {
                    last.xmin = x1;
                    continue;
                }
            }
        }
        edges.push(Edge::new(x0, y0, x1, y1));
    }
    let last = xy[xy.len() - 1];
    if last != first {
        edges.push(Edge::new(last.0, last.1, first.0, first.1));
    }
    fill_edges(canvas, &edges, value);
}

/// Pillow's `polygon_generic` for an 8-bit image without a mask.
fn fill_edges(canvas: &mut Array2<u8>, edges: &[Edge], value: u8) {
    if edges.is_empty() {
        return;
    }
    let height = canvas.dim().0 as i64;
    let mut ymin = height - 1;
    let mut ymax = 0;
    let mut table: Vec<&Edge> = Vec::with_capacity(edges.len());
    for edge in edges {
        ymin = ymin.min(edge.ymin);
        ymax = ymax.max(edge.ymax);
        if edge.ymin == edge.ymax {
            hline(canvas, edge.xmin, edge.ymin, edge.xmax, value);
            continue;
        }
        table.push(edge);
    }
    let ymin = ymin.max(0);
    let ymax = ymax.min(height);
    let mut xx: Vec<f32> = Vec::with_capacity(table.len() * 2);
    for y in ymin..=ymax {
        xx.clear();
        for (i, current) in table.iter().enumerate() {
            if y < current.ymin || y > current.ymax {
                continue;
            }
            xx.push(current.x_at(y));
            let last = xx.len() - 1;
            if y == current.ymax && y < ymax {
                // Needed to draw consistent polygons (Pillow's comment).
                xx.push(xx[last]);
            } else if (y == current.ymin || y == current.ymax) && current.dx != 0.0 {
                // Connect discontiguous corners.
                for other in &table[..i] {
                    if (y != other.ymin && y != other.ymax) || other.dx == 0.0 {
                        continue;
                    }
                    if xx[last].round() != other.x_at(y).round() {
                        continue;
                    }
                    let offset = if y == current.ymax { -1 } else { 1 };
                    let adjacent = current.x_at(y + offset);
                    if y + offset >= other.ymin && y + offset <= other.ymax {
                        let adjacent_other = other.x_at(y + offset);
                        if xx[last] > adjacent + 1.0 && xx[last] > adjacent_other + 1.0 {
                            xx[last] = adjacent.max(adjacent_other).round() + 1.0;
                        } else if xx[last] < adjacent - 1.0 && xx[last] < adjacent_other - 1.0 {
                            xx[last] = adjacent.min(adjacent_other).round() - 1.0;
                        }
                        break;
                    }
                }
            }
        }
        xx.sort_by(f32::total_cmp);
        for pair in xx.chunks_exact(2) {
            hline(canvas, round_up(pair[0]), y, round_down(pair[1]), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shape() {
        assert_eq!(LABELS.len(), 35);
        let train_ids: Vec<i16> = LABELS
            .iter()
            .map(|l| l.train_id)
            .filter(|&t| (0..19).contains(&t))
            .collect();
        assert_eq!(train_ids, (0..19).collect::<Vec<_>>());
        assert_eq!(train_classes().names()[16], "train");
        assert_eq!(label_id_classes().len(), 34);
        assert_eq!(LABEL_ID_TO_TRAIN_ID[34], 255);
        assert_eq!(LABEL_ID_TO_TRAIN_ID[255], 255);
    }

    #[test]
    fn instance_values() {
        assert_eq!(instance_label_id(26002), 26);
        assert_eq!(instance_number(26002), Some(2));
        assert_eq!(instance_label_id(24000), 24);
        assert_eq!(instance_number(24000), Some(0));
        assert_eq!(instance_label_id(7), 7);
        assert_eq!(instance_number(7), None);
    }
}
