//! The transit taxonomy: one label space for street and rail scenes, so several datasets train
//! one model.
//!
//! The first 19 classes are the Cityscapes train ids in their order (so Cityscapes, KITTI and
//! BDD100K labels need no remapping); class 19 is rail track, which street datasets lack and
//! rail and tram feeds need. Value 255 is ignore.

use crate::classes::ClassSet;

/// Name and colour (RGB, Cityscapes-like) of each transit class, by index.
pub const TRANSIT_CLASSES: [(&str, [u8; 3]); 20] = [
    ("road", [128, 64, 128]),
    ("sidewalk", [244, 35, 232]),
    ("building", [70, 70, 70]),
    ("wall", [102, 102, 156]),
    ("fence", [190, 153, 153]),
    ("pole", [153, 153, 153]),
    ("traffic light", [250, 170, 30]),
    ("traffic sign", [220, 220, 0]),
    ("vegetation", [107, 142, 35]),
    ("terrain", [152, 251, 152]),
    ("sky", [70, 130, 180]),
    ("person", [220, 20, 60]),
    ("rider", [255, 0, 0]),
    ("car", [0, 0, 142]),
    ("truck", [0, 0, 70]),
    ("bus", [0, 60, 100]),
    ("train/tram", [0, 80, 100]),
    ("motorcycle", [0, 0, 230]),
    ("bicycle", [119, 11, 32]),
    ("rail track", [230, 150, 140]),
];

/// The label value of ignored pixels in the transit taxonomy.
pub const TRANSIT_IGNORE: u8 = 255;

/// The transit taxonomy as a class set (ignore 255, every class evaluated).
pub fn transit_classes() -> ClassSet {
    let names = TRANSIT_CLASSES.iter().map(|(n, _)| n.to_string()).collect();
    let colors = TRANSIT_CLASSES.iter().map(|(_, c)| *c).collect();
    match ClassSet::new(names, colors) {
        Ok(set) => set,
        // The table above is non-empty with one colour per name.
        Err(_) => unreachable!("the transit table is well formed"),
    }
}
