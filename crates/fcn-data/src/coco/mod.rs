//! MS COCO instances as semantic masks, decoded exactly as pycocotools decodes them.
//!
//! * [`Rle`]: run-length encoded masks (column-major runs, the compressed string codec, area,
//!   bounding box, union / intersection, boxes and polygons rasterised by `rleFrPoly`), all
//!   bit-exact with pycocotools 2.0.11 (`maskApi.c`), and [`Rle::iou`] / [`bbox_iou`].
//! * [`CocoInstances`]: an `instances_*.json` file (images, annotations with polygon,
//!   uncompressed or compressed RLE segmentations, categories), checked when it is read.
//! * [`Coco`]: a [`Dataset`] of images with semantic masks painted from the instances, in one
//!   of two label spaces ([`CocoClasses`]):
//!   * [`CocoClasses::AllCategories`]: the file's categories sorted by id get the contiguous
//!     values 1..=N (1..=80 for COCO: person = 1, ..., toothbrush = 80), background = 0;
//!   * [`CocoClasses::Voc21`]: torchvision's `references/segmentation` rule: categories in
//!     `CAT_LIST` become the 20 VOC classes, the others are dropped.
//!
//!   In both, as torchvision's `ConvertCocoPolysToMask` does, every kept instance (crowd ones
//!   too) is decoded to a binary mask, the label is the maximum of `mask * class` over
//!   instances, and any pixel covered by two or more kept instances, even of one class, becomes
//!   255 (ignore).
//! * [`CocoStuff`]: COCO-Stuff 164k label maps read from a folder (see [`StuffLabels`]).
//!
//! ```
//! use fcn_data::coco::Rle;
//!
//! // A 3x4 mask: runs are counted down the columns, zeros first.
//! let mask = ndarray::array![[0u8, 1, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1]];
//! let rle = Rle::encode(mask.view());
//! assert_eq!(rle.counts, [2, 5, 1, 1, 2, 1]);
//! assert_eq!(rle.to_compressed(), "251L10");
//! assert_eq!(Rle::from_compressed("251L10", 3, 4).decode()?, mask);
//!
//! // Polygons go through pycocotools' rasteriser.
//! let square = Rle::from_polygon(&[1.0, 1.0, 4.0, 1.0, 4.0, 4.0, 1.0, 4.0], 6, 7)?;
//! assert_eq!(square.area(), 9);
//! assert_eq!(square.to_bbox(), [1.0, 1.0, 3.0, 3.0]);
//! # Ok::<(), fcn_data::Error>(())
//! ```

mod polygon;
mod rle;
mod stuff;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::classes::{ClassSet, voc_colormap};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::image_io::{MAX_IMAGE_SIDE, read_rgb};
use crate::sample::{LabelMap, Sample};

pub use polygon::MAX_POLYGON_STEPS;
pub use rle::{Rle, bbox_iou};
pub use stuff::{COCO_STUFF_CLASSES, CocoStuff, StuffLabels, stuff_train_id};

/// The label of pixels covered by more than one kept instance.
pub const OVERLAP_LABEL: u8 = 255;

/// torchvision's `CAT_LIST`: the COCO category id of each VOC class (index = VOC class,
/// 0 = background).
pub const VOC_CATEGORY_IDS: [u64; 21] = [
    0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72,
];

/// The 21 PASCAL VOC class names, background first.
pub use crate::voc::VOC_CLASS_NAMES;

/// The segmentation of one annotation, as the JSON holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Segmentation {
    /// Polygons `[[x1, y1, x2, y2, ...], ...]` (the parts of one object).
    Polygons(Vec<Vec<f64>>),
    /// `{"counts": [..], "size": [h, w]}` (crowd annotations).
    UncompressedRle(Rle),
    /// `{"counts": "<string>", "size": [h, w]}`, already parsed.
    CompressedRle(Rle),
}

impl Segmentation {
    /// Reads a JSON segmentation; the error says what is wrong with it.
    fn from_json(value: &Value) -> std::result::Result<Self, (String, String)> {
        let bad = |expected: &str, found: String| Err((expected.to_string(), found));
        match value {
            Value::Array(polygons) => {
                let mut parsed = Vec::with_capacity(polygons.len());
                for (p, polygon) in polygons.iter().enumerate() {
                    let Some(numbers) = polygon.as_array() else {
                        return bad(
                            "a list of polygons (lists of numbers)",
                            format!("polygon {p} = {}", short(polygon)),
                        );
                    };
                    let mut coordinates = Vec::with_capacity(numbers.len());
                    for number in numbers {
                        let Some(value) = number.as_f64() else {
                            return bad(
                                "numbers in each polygon",
                                format!("{} in polygon {p}", short(number)),
                            );
                        };
                        coordinates.push(value);
                    }
                    parsed.push(coordinates);
                }
                Ok(Segmentation::Polygons(parsed))
            }
            Value::Object(fields) => {
                let size = fields.get("size").and_then(Value::as_array);
                let size: Option<Vec<usize>> = size.and_then(|s| {
                    s.iter()
                        .map(|v| v.as_u64().and_then(|n| usize::try_from(n).ok()))
                        .collect()
                });
                let Some([h, w]) = size.as_deref().and_then(|s| <[usize; 2]>::try_from(s).ok())
                else {
                    return bad(
                        "an RLE with \"size\": [height, width]",
                        short(fields.get("size").unwrap_or(&Value::Null)),
                    );
                };
                match fields.get("counts") {
                    Some(Value::String(text)) => Ok(Segmentation::CompressedRle(
                        Rle::from_compressed(text, h, w),
                    )),
                    Some(Value::Array(numbers)) => {
                        let mut counts = Vec::with_capacity(numbers.len());
                        for number in numbers {
                            match number.as_u64().and_then(|n| u32::try_from(n).ok()) {
                                Some(count) => counts.push(count),
                                None => {
                                    return bad(
                                        "RLE counts that are integers in 0..2^32",
                                        short(number),
                                    );
                                }
                            }
                        }
                        Ok(Segmentation::UncompressedRle(Rle::new(h, w, counts)))
                    }
                    other => bad(
                        "RLE \"counts\" as a string or a list of integers",
                        short(other.unwrap_or(&Value::Null)),
                    ),
                }
            }
            other => bad("a list of polygons or an RLE object", short(other)),
        }
    }

    /// The RLE pycocotools' `COCO.annToRLE` makes for an image of `h` x `w`: polygons are
    /// rasterised one by one and unioned; an RLE is taken as it is (with its own size).
    ///
    /// pycocotools' `frPyObjects` reads a polygon list whose first polygon has 4 numbers as a
    /// list of boxes and then raises `TypeError` (2.0.11); one whose first polygon has fewer
    /// numbers, or an empty list, raises too. These are `InvalidArgument` errors here.
    pub fn to_rle(&self, h: usize, w: usize) -> Result<Rle> {
        match self {
            Segmentation::Polygons(polygons) => {
                let first = polygons.first().map_or(0, Vec::len);
                if first <= 4 {
                    let reason = if first == 4 {
                        "its first polygon has 4 numbers, which pycocotools takes for a box list and refuses"
                    } else {
                        "its first polygon has fewer than 6 numbers, which pycocotools refuses"
                    };
                    return Err(Error::invalid("polygon list", reason));
                }
                let rles = polygons
                    .iter()
                    .map(|polygon| Rle::from_polygon(polygon, h, w))
                    .collect::<Result<Vec<_>>>()?;
                Rle::union(&rles)
            }
            Segmentation::UncompressedRle(rle) | Segmentation::CompressedRle(rle) => {
                Ok(rle.clone())
            }
        }
    }
}

/// A JSON value, cut short for an error message.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// One entry of `images`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CocoImage {
    /// The image id.
    pub id: u64,
    /// The file name inside the images folder.
    pub file_name: String,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

/// One entry of `categories`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CocoCategory {
    /// The category id (1..=90 in COCO, with gaps).
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its super-category.
    #[serde(default)]
    pub supercategory: String,
}

/// One entry of `annotations`, its segmentation parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoAnnotation {
    /// The annotation id.
    pub id: u64,
    /// The image it belongs to.
    pub image_id: u64,
    /// Its category.
    pub category_id: u64,
    /// Whether it marks a crowd (then usually an uncompressed RLE).
    pub iscrowd: bool,
    /// The annotation tool's area (not the rasterised pixel count).
    pub area: f64,
    /// The object's shape.
    pub segmentation: Segmentation,
}

/// The file as serde reads it. Segmentations stay raw JSON text (borrowed from the file's
/// bytes) and are parsed one at a time afterwards: precise errors, and no tree of every
/// annotation's numbers at once (instances_train2017 is 450 MB).
#[derive(Deserialize)]
struct RawInstances<'a> {
    images: Vec<CocoImage>,
    #[serde(default, borrow)]
    annotations: Vec<RawAnnotation<'a>>,
    #[serde(default)]
    categories: Vec<CocoCategory>,
}

#[derive(Deserialize)]
struct RawAnnotation<'a> {
    id: u64,
    image_id: u64,
    category_id: u64,
    #[serde(default)]
    iscrowd: u8,
    #[serde(default)]
    area: f64,
    #[serde(borrow)]
    segmentation: &'a RawValue,
}

/// A COCO instances file (`annotations/instances_*.json`), checked when read: every
/// annotation belongs to a listed image and category, its segmentation has one of the three
/// forms, and an RLE covers exactly its image.
#[derive(Debug, Clone)]
pub struct CocoInstances {
    /// The file it was read from.
    pub path: PathBuf,
    /// Images, in file order.
    pub images: Vec<CocoImage>,
    /// Annotations, in file order.
    pub annotations: Vec<CocoAnnotation>,
    /// Categories, in file order.
    pub categories: Vec<CocoCategory>,
    /// For each image (by position in `images`), the positions of its annotations.
    annotations_of_image: Vec<Vec<usize>>,
    image_position: HashMap<u64, usize>,
}

impl CocoInstances {
    /// Reads and checks an instances JSON file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
        Self::parse(&bytes, path)
    }

    /// Parses and checks instances JSON; `path` names it in errors.
    pub fn parse(json: &[u8], path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let raw: RawInstances<'_> = serde_json::from_slice(json).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;

        let mut image_position = HashMap::with_capacity(raw.images.len());
        for (position, image) in raw.images.iter().enumerate() {
            let field = || format!("images[{position}] (id {})", image.id);
            if image_position.insert(image.id, position).is_some() {
                return Err(Error::format(
                    &path,
                    field(),
                    "a unique image id",
                    "a repeated id",
                ));
            }
            let max_side = MAX_IMAGE_SIDE as usize;
            if image.height == 0
                || image.width == 0
                || image.height > max_side
                || image.width > max_side
            {
                return Err(Error::format(
                    &path,
                    field(),
                    format!("height and width in 1..={max_side}"),
                    format!("{}x{}", image.height, image.width),
                ));
            }
        }
        let category_ids: std::collections::HashSet<u64> =
            raw.categories.iter().map(|c| c.id).collect();

        let mut annotations = Vec::with_capacity(raw.annotations.len());
        let mut annotations_of_image = vec![Vec::new(); raw.images.len()];
        for (position, annotation) in raw.annotations.into_iter().enumerate() {
            let field =
                |what: &str| format!("annotations[{position}] (id {}){what}", annotation.id);
            let Some(&image) = image_position.get(&annotation.image_id) else {
                return Err(Error::format(
                    &path,
                    field(".image_id"),
                    "the id of an entry of images",
                    annotation.image_id.to_string(),
                ));
            };
            if !category_ids.contains(&annotation.category_id) {
                return Err(Error::format(
                    &path,
                    field(".category_id"),
                    "the id of an entry of categories",
                    annotation.category_id.to_string(),
                ));
            }
            let segmentation_json: Value = serde_json::from_str(annotation.segmentation.get())
                .map_err(|source| Error::Json {
                    path: path.clone(),
                    source,
                })?;
            let segmentation =
                Segmentation::from_json(&segmentation_json).map_err(|(expected, found)| {
                    Error::format(&path, field(".segmentation"), expected, found)
                })?;
            if let Segmentation::UncompressedRle(rle) | Segmentation::CompressedRle(rle) =
                &segmentation
            {
                let info = &raw.images[image];
                if (rle.h, rle.w) != (info.height, info.width) {
                    return Err(Error::format(
                        &path,
                        field(".segmentation.size"),
                        format!("the image's size [{}, {}]", info.height, info.width),
                        format!("[{}, {}]", rle.h, rle.w),
                    ));
                }
                if rle.validate().is_err() {
                    return Err(Error::format(
                        &path,
                        field(".segmentation.counts"),
                        format!(
                            "counts summing to {}x{} = {} pixels",
                            rle.h,
                            rle.w,
                            rle.h * rle.w
                        ),
                        format!("counts summing to {}", rle.counts_sum()),
                    ));
                }
            }
            annotations_of_image[image].push(annotations.len());
            annotations.push(CocoAnnotation {
                id: annotation.id,
                image_id: annotation.image_id,
                category_id: annotation.category_id,
                iscrowd: annotation.iscrowd != 0,
                area: annotation.area,
                segmentation,
            });
        }
        Ok(Self {
            path,
            images: raw.images,
            annotations,
            categories: raw.categories,
            annotations_of_image,
            image_position,
        })
    }

    /// The position in `images` of the image with this id.
    pub fn image_position(&self, image_id: u64) -> Option<usize> {
        self.image_position.get(&image_id).copied()
    }

    /// The annotations of the image at `image_position`, in file order.
    pub fn annotations_of(&self, image_position: usize) -> impl Iterator<Item = &CocoAnnotation> {
        self.annotations_of_image
            .get(image_position)
            .into_iter()
            .flatten()
            .map(|&a| &self.annotations[a])
    }

    /// The RLE of an annotation (pycocotools' `annToRLE`), errors naming the file and the
    /// annotation.
    pub fn annotation_rle(&self, annotation: &CocoAnnotation) -> Result<Rle> {
        let Some(image) = self
            .image_position(annotation.image_id)
            .map(|p| &self.images[p])
        else {
            return Err(Error::format(
                &self.path,
                format!("annotation id {}.image_id", annotation.id),
                "the id of an entry of images",
                annotation.image_id.to_string(),
            ));
        };
        annotation
            .segmentation
            .to_rle(image.height, image.width)
            .map_err(|error| {
                Error::format(
                    &self.path,
                    format!("annotation id {}.segmentation", annotation.id),
                    "a segmentation pycocotools can rasterise",
                    error.to_string(),
                )
            })
    }

    /// The binary mask of an annotation (pycocotools' `annToMask`), row-major.
    pub fn annotation_mask(&self, annotation: &CocoAnnotation) -> Result<Array2<u8>> {
        let rle = self.annotation_rle(annotation)?;
        rle.decode().map_err(|error| {
            Error::format(
                &self.path,
                format!("annotation id {}.segmentation", annotation.id),
                "an RLE covering its image",
                error.to_string(),
            )
        })
    }

    /// The semantic mask of the image at `image_position` with torchvision's rule: for each
    /// annotation whose category `class_of` maps to a class, its mask painted by maximum;
    /// pixels covered by two or more such annotations become [`OVERLAP_LABEL`].
    pub fn semantic_mask(
        &self,
        image_position: usize,
        class_of: impl Fn(u64) -> Option<u8>,
    ) -> Result<Array2<u8>> {
        let Some(image) = self.images.get(image_position) else {
            return Err(Error::IndexOutOfRange {
                index: image_position,
                len: self.images.len(),
            });
        };
        let (h, w) = (image.height, image.width);
        let mut label = vec![0u8; h * w];
        let mut coverage = vec![0u8; h * w];
        for annotation in self.annotations_of(image_position) {
            let Some(class) = class_of(annotation.category_id) else {
                continue;
            };
            let rle = self.annotation_rle(annotation)?;
            if (rle.h, rle.w) != (h, w) || rle.validate().is_err() {
                return Err(Error::format(
                    &self.path,
                    format!("annotation id {}.segmentation", annotation.id),
                    format!("a mask of its image's size {h}x{w}"),
                    format!(
                        "an RLE of {}x{} with counts summing to {}",
                        rle.h,
                        rle.w,
                        rle.counts_sum()
                    ),
                ));
            }
            for (start, length) in rle.foreground_runs() {
                rle::for_each_run_pixel(h, w, start, length, |index| {
                    label[index] = label[index].max(class);
                    coverage[index] = coverage[index].saturating_add(1);
                });
            }
        }
        for (value, &count) in label.iter_mut().zip(&coverage) {
            if count > 1 {
                *value = OVERLAP_LABEL;
            }
        }
        Array2::from_shape_vec((h, w), label).map_err(|source| Error::Shape {
            what: "semantic mask",
            source,
        })
    }
}

/// Which label space [`Coco`] paints its masks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CocoClasses {
    /// Every category: sorted by id, the categories get 1..=N (COCO: 1..=80), 0 is
    /// background, 255 marks overlaps.
    AllCategories,
    /// The 21 VOC classes through torchvision's `CAT_LIST` ([`VOC_CATEGORY_IDS`]); other
    /// categories are dropped.
    Voc21,
}

/// A COCO split as a semantic-segmentation [`Dataset`]: `<image_dir>/<file_name>` with masks
/// painted from an instances file. Samples are ordered by image id, as torchvision's
/// `CocoDetection` orders them; ids are the images' file stems.
#[derive(Debug, Clone)]
pub struct Coco {
    instances: CocoInstances,
    image_dir: PathBuf,
    /// Positions in `instances.images`, sorted by image id.
    order: Vec<usize>,
    class_of_category: HashMap<u64, u8>,
    classes: ClassSet,
}

impl Coco {
    /// Reads `annotation_file` (e.g. `annotations/instances_val2017.json`) for the images in
    /// `image_dir` (e.g. `val2017`).
    pub fn new(
        image_dir: impl Into<PathBuf>,
        annotation_file: impl AsRef<Path>,
        classes: CocoClasses,
    ) -> Result<Self> {
        Self::from_instances(image_dir, CocoInstances::read(annotation_file)?, classes)
    }

    /// A dataset over already-read instances.
    pub fn from_instances(
        image_dir: impl Into<PathBuf>,
        instances: CocoInstances,
        classes: CocoClasses,
    ) -> Result<Self> {
        let (class_of_category, class_set) = match classes {
            CocoClasses::AllCategories => {
                let mut categories: Vec<&CocoCategory> = instances.categories.iter().collect();
                categories.sort_by_key(|c| c.id);
                if categories.len() > 254 {
                    return Err(Error::format(
                        &instances.path,
                        "categories",
                        "at most 254 categories (labels are u8, 255 marks overlaps)",
                        categories.len().to_string(),
                    ));
                }
                let map = categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.id, (i + 1) as u8))
                    .collect();
                let names = std::iter::once("background".to_string())
                    .chain(categories.iter().map(|c| c.name.clone()));
                (map, ClassSet::with_voc_colors(names)?)
            }
            CocoClasses::Voc21 => {
                let map = VOC_CATEGORY_IDS
                    .iter()
                    .enumerate()
                    .map(|(class, &id)| (id, class as u8))
                    .collect();
                let set = ClassSet::new(
                    VOC_CLASS_NAMES.iter().map(|n| n.to_string()).collect(),
                    voc_colormap(VOC_CLASS_NAMES.len()),
                )?;
                (map, set)
            }
        };
        let mut order: Vec<usize> = (0..instances.images.len()).collect();
        order.sort_by_key(|&p| instances.images[p].id);
        Ok(Self {
            instances,
            image_dir: image_dir.into(),
            order,
            class_of_category,
            classes: class_set,
        })
    }

    /// Keeps only the images torchvision trains on (`_coco_remove_images_without_annotations`):
    /// those whose kept annotations' `area` fields sum to more than 1000.
    pub fn keep_annotated_images(mut self) -> Self {
        let instances = &self.instances;
        let class_of_category = &self.class_of_category;
        self.order.retain(|&position| {
            let area: f64 = instances
                .annotations_of(position)
                .filter(|a| class_of_category.contains_key(&a.category_id))
                .map(|a| a.area)
                .sum();
            area > 1000.0
        });
        self
    }

    /// The instances file.
    pub fn instances(&self) -> &CocoInstances {
        &self.instances
    }

    /// The `images` entry of sample `index`.
    pub fn image_info(&self, index: usize) -> Result<&CocoImage> {
        self.position(index).map(|p| &self.instances.images[p])
    }

    /// The semantic mask of sample `index`, without reading its image.
    pub fn semantic_mask(&self, index: usize) -> Result<Array2<u8>> {
        let position = self.position(index)?;
        self.instances.semantic_mask(position, |category| {
            self.class_of_category.get(&category).copied()
        })
    }

    fn position(&self, index: usize) -> Result<usize> {
        self.order
            .get(index)
            .copied()
            .ok_or(Error::IndexOutOfRange {
                index,
                len: self.order.len(),
            })
    }
}

impl Dataset for Coco {
    fn len(&self) -> usize {
        self.order.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let info = self.image_info(index)?;
        let image_path = self.image_dir.join(&info.file_name);
        let image = read_rgb(&image_path)?;
        let (height, width, _) = image.dim();
        if (height, width) != (info.height, info.width) {
            return Err(Error::SizeMismatch {
                image: image_path,
                image_size: (height, width),
                label: self.instances.path.clone(),
                label_size: (info.height, info.width),
            });
        }
        let label = self.semantic_mask(index)?;
        let id = Path::new(&info.file_name).file_stem().map_or_else(
            || info.file_name.clone(),
            |s| s.to_string_lossy().into_owned(),
        );
        Ok(Sample {
            image,
            label: LabelMap::U8(label),
            id,
            image_path: Some(image_path),
            label_path: Some(self.instances.path.clone()),
        })
    }

    fn classes(&self) -> &ClassSet {
        &self.classes
    }
}
