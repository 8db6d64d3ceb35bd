//! Class sets: names, colours, the ignore value and which classes are evaluated.

use ndarray::{Array2, Array3};

use crate::error::{Error, Result};

/// The classes of a dataset or label space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSet {
    names: Vec<String>,
    colors: Vec<[u8; 3]>,
    ignore: Option<u16>,
    evaluated: Vec<bool>,
}

impl ClassSet {
    /// Classes `0..names.len()` with the given colours, ignore value 255, all evaluated.
    pub fn new(names: Vec<String>, colors: Vec<[u8; 3]>) -> Result<Self> {
        if names.is_empty() {
            return Err(Error::invalid("class set", "no classes"));
        }
        if colors.len() != names.len() {
            return Err(Error::invalid(
                "class set",
                format!("{} names but {} colours", names.len(), colors.len()),
            ));
        }
        let evaluated = vec![true; names.len()];
        Ok(Self {
            names,
            colors,
            ignore: Some(255),
            evaluated,
        })
    }

    /// Classes named `names`, coloured with the VOC colour map.
    pub fn with_voc_colors<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Result<Self> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let colors = voc_colormap(names.len());
        Self::new(names, colors)
    }

    /// Sets the ignore value (`None`: every value is a class).
    pub fn with_ignore(mut self, ignore: Option<u16>) -> Self {
        self.ignore = ignore;
        self
    }

    /// Marks which classes count in evaluation (one flag per class).
    pub fn with_evaluated(mut self, evaluated: Vec<bool>) -> Result<Self> {
        if evaluated.len() != self.names.len() {
            return Err(Error::invalid(
                "class set",
                format!(
                    "{} evaluation flags for {} classes",
                    evaluated.len(),
                    self.names.len()
                ),
            ));
        }
        self.evaluated = evaluated;
        Ok(self)
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: a class set has at least one class.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Class names, by index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Class colours (RGB), by index.
    pub fn colors(&self) -> &[[u8; 3]] {
        &self.colors
    }

    /// The label value that marks pixels to ignore.
    pub fn ignore(&self) -> Option<u16> {
        self.ignore
    }

    /// Whether each class counts in evaluation.
    pub fn evaluated(&self) -> &[bool] {
        &self.evaluated
    }

    /// The index of the class called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// The PASCAL VOC colour map (bit-interleaved RGB, as in the VOC devkit's `labelcolormap.m`)
/// for `n` classes. Index 255 (void) is (224, 224, 192) when `n` reaches 256.
pub fn voc_colormap(n: usize) -> Vec<[u8; 3]> {
    (0..n)
        .map(|i| {
            let mut c = i;
            let mut rgb = [0u8; 3];
            for bit in 0..8 {
                for (channel, value) in rgb.iter_mut().enumerate() {
                    *value |= (((c >> channel) & 1) as u8) << (7 - bit);
                }
                c >>= 3;
            }
            rgb
        })
        .collect()
}

/// `image` (H x W x 3) with each pixel's class colour blended over it at 50%; pixels labelled
/// `ignore`, or with a label past the end of `colors`, keep the image. Labels and image must
/// have the same height and width.
pub fn overlay_labels<T: Copy + Into<u16>>(
    image: &Array3<u8>,
    labels: &Array2<T>,
    colors: &[[u8; 3]],
    ignore: Option<u16>,
) -> Result<Array3<u8>> {
    let (h, w, _) = image.dim();
    if labels.dim() != (h, w) {
        return Err(Error::invalid(
            "overlay",
            format!(
                "labels are {:?} (h, w) but the image is {:?}",
                labels.dim(),
                (h, w)
            ),
        ));
    }
    let mut out = image.clone();
    for ((y, x), &label) in labels.indexed_iter() {
        let label: u16 = label.into();
        if Some(label) == ignore {
            continue;
        }
        if let Some(color) = colors.get(usize::from(label)) {
            for (c, &channel) in color.iter().enumerate() {
                let v = &mut out[[y, x, c]];
                *v = ((u16::from(*v) + u16::from(channel)) / 2) as u8;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_colormap_matches_the_devkit() {
        let map = voc_colormap(256);
        assert_eq!(map[0], [0, 0, 0]);
        assert_eq!(map[1], [128, 0, 0]);
        assert_eq!(map[2], [0, 128, 0]);
        assert_eq!(map[15], [192, 128, 128]);
        assert_eq!(map[20], [0, 64, 128]);
        assert_eq!(map[255], [224, 224, 192]);
    }

    #[test]
    fn bad_class_sets_are_refused() {
        assert!(ClassSet::new(vec![], vec![]).is_err());
        assert!(ClassSet::new(vec!["a".into()], vec![]).is_err());
        let set = ClassSet::with_voc_colors(["a", "b"]).unwrap();
        assert!(set.clone().with_evaluated(vec![true]).is_err());
        assert_eq!(set.index_of("b"), Some(1));
    }
}
