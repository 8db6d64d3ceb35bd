//! The input normalisations of FCN models: how RGB bytes become network input. fcn-core applies
//! it to images it predicts on, fcn-data's loader to training batches: one table, so training
//! and prediction see identical input.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The Caffe VGG16 mean pixel, in **BGR** order, on the 0..255 scale (`voc_layers.py`).
pub const CAFFE_MEAN_BGR: [f64; 3] = [104.006_987_93, 116.668_767_62, 122.678_914_34];
/// torchvision's ImageNet mean, RGB, on the 0..1 scale.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// torchvision's ImageNet standard deviation, RGB.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How RGB bytes become network input. Named `caffe` and `imagenet` in TOML files, on the
/// command line and in weight files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// The reference (Caffe) weights: RGB -> BGR, 0..255, minus [`CAFFE_MEAN_BGR`], computed as
    /// `f32(f64(v) - mean)` like FCN's numpy code.
    #[default]
    Caffe,
    /// torchvision-trained weights: `(v / 255 - mean) / std` in `f32`, RGB, with
    /// [`IMAGENET_MEAN`] and [`IMAGENET_STD`].
    #[serde(rename = "imagenet")]
    #[cfg_attr(feature = "clap", value(name = "imagenet"))]
    ImageNet,
}

impl Preprocess {
    /// Every choice, in the order of [`Preprocess::NAMES`].
    pub const ALL: [Preprocess; 2] = [Preprocess::Caffe, Preprocess::ImageNet];
    /// The names of the choices.
    pub const NAMES: &'static [&'static str] = &["caffe", "imagenet"];

    /// The name used in TOML files, on the command line and in weight files.
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::Caffe => "caffe",
            Preprocess::ImageNet => "imagenet",
        }
    }

    /// Per output channel (in network order), the RGB channel it reads and the value of every
    /// byte.
    fn tables(self) -> [(usize, [f32; 256]); 3] {
        let mut tables = [(0usize, [0f32; 256]); 3];
        for (channel, (source, table)) in tables.iter_mut().enumerate() {
            match self {
                Preprocess::Caffe => {
                    // Network channel 0 is blue (RGB index 2).
                    *source = 2 - channel;
                    for (v, t) in table.iter_mut().enumerate() {
                        *t = (v as f64 - CAFFE_MEAN_BGR[channel]) as f32;
                    }
                }
                Preprocess::ImageNet => {
                    *source = channel;
                    for (v, t) in table.iter_mut().enumerate() {
                        *t = (v as f32 / 255.0 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel];
                    }
                }
            }
        }
        tables
    }

    /// Normalises interleaved RGB bytes of a `(height, width)` image into the top-left corner
    /// of three planes of `out_width` columns (`out` holds 3 x `out.len() / (3 out_width)` x
    /// `out_width` values, channel-major); the other cells are left as they are, for padded
    /// batches. An image that does not hold `height x width` pixels or does not fit is an
    /// [`Error::ImageSize`].
    pub fn normalize_into(
        self,
        rgb: &[u8],
        (height, width): (usize, usize),
        out: &mut [f32],
        out_width: usize,
    ) -> Result<()> {
        let plane = out.len() / 3;
        let out_height = plane.checked_div(out_width).unwrap_or(0);
        if rgb.len() != height * width * 3 || width > out_width || height > out_height {
            return Err(Error::ImageSize {
                bytes: rgb.len(),
                height,
                width,
                out_height,
                out_width,
            });
        }
        for (c, (source, table)) in self.tables().iter().enumerate() {
            let dst_plane = &mut out[c * plane..c * plane + out_height * out_width];
            for y in 0..height {
                let src_row = &rgb[y * width * 3..(y + 1) * width * 3];
                let dst_row = &mut dst_plane[y * out_width..y * out_width + width];
                for (d, px) in dst_row.iter_mut().zip(src_row.chunks_exact(3)) {
                    *d = table[usize::from(px[*source])];
                }
            }
        }
        Ok(())
    }

    /// The normalised image, 3 x H x W, of an H x W x 3 image ([`Error::ImageSize`] unless it
    /// has 3 channels).
    #[cfg(feature = "ndarray")]
    pub fn to_chw(self, image: &ndarray::Array3<u8>) -> Result<ndarray::Array3<f32>> {
        let (h, w, _) = image.dim();
        let mut out = vec![0f32; 3 * h * w];
        self.write_chw(image, &mut out, w)?;
        Ok(ndarray::Array3::from_shape_vec((3, h, w), out)
            .expect("3 x h x w values for a 3 x h x w array"))
    }

    /// Writes the normalised image into the top-left corner of a 3 x `out.len() / (3 width)`
    /// x `width` CHW buffer (whose other cells are left as they are), for padded batches. An
    /// image without 3 channels, or larger than the buffer, is an [`Error::ImageSize`].
    #[cfg(feature = "ndarray")]
    pub fn write_chw(
        self,
        image: &ndarray::Array3<u8>,
        out: &mut [f32],
        width: usize,
    ) -> Result<()> {
        let (h, w, channels) = image.dim();
        if channels != 3 {
            let plane = out.len() / 3;
            return Err(Error::ImageSize {
                bytes: h * w * channels,
                height: h,
                width: w,
                out_height: plane.checked_div(width).unwrap_or(0),
                out_width: width,
            });
        }
        match image.as_slice() {
            Some(rgb) => self.normalize_into(rgb, (h, w), out, width),
            None => {
                let rgb: Vec<u8> = image.iter().copied().collect();
                self.normalize_into(&rgb, (h, w), out, width)
            }
        }
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preprocess {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Preprocess::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::UnknownChoice {
                what: "preprocessing",
                value: s.to_owned(),
                allowed: Preprocess::NAMES,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_pixel(p: Preprocess, rgb: [u8; 3]) -> [f32; 3] {
        let mut out = [0f32; 3];
        p.normalize_into(&rgb, (1, 1), &mut out, 1).unwrap();
        out
    }

    #[test]
    fn caffe_swaps_to_bgr_and_subtracts_the_mean() {
        let v = one_pixel(Preprocess::Caffe, [10, 20, 30]);
        assert_eq!(v[0], (30.0 - 104.006_987_93f64) as f32);
        assert_eq!(v[1], (20.0 - 116.668_767_62f64) as f32);
        assert_eq!(v[2], (10.0 - 122.678_914_34f64) as f32);
    }

    #[test]
    fn imagenet_matches_torchvision() {
        let v = one_pixel(Preprocess::ImageNet, [255, 0, 128]);
        assert!((v[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
        assert!((v[1] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        assert!((v[2] - (128.0 / 255.0 - 0.406) / 0.225).abs() < 1e-5);
    }

    #[test]
    fn writes_into_the_corner_of_a_padded_buffer() {
        let mut out = vec![7f32; 3 * 2 * 3];
        Preprocess::Caffe
            .normalize_into(&[1, 2, 3, 4, 5, 6], (1, 2), &mut out, 3)
            .unwrap();
        assert_eq!(out[0], (3.0 - CAFFE_MEAN_BGR[0]) as f32);
        assert_eq!(out[1], (6.0 - CAFFE_MEAN_BGR[0]) as f32);
        assert_eq!(out[2], 7.0);
        assert_eq!(out[3], 7.0);
        assert_eq!(out[6], (2.0 - CAFFE_MEAN_BGR[1]) as f32);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let mut out = [0f32; 3];
        let p = Preprocess::ImageNet;
        assert!(p.normalize_into(&[1, 2], (1, 1), &mut out, 1).is_err());
        assert!(p.normalize_into(&[0; 6], (1, 2), &mut out, 1).is_err());
        assert!(p.normalize_into(&[0; 3], (1, 1), &mut out, 0).is_err());
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn arrays_need_three_channels_and_room() {
        let two = ndarray::Array3::<u8>::zeros((2, 2, 2));
        assert!(Preprocess::Caffe.to_chw(&two).is_err());
        let image = ndarray::Array3::<u8>::zeros((4, 4, 3));
        let mut small = vec![0f32; 3 * 3 * 4];
        assert!(
            Preprocess::ImageNet
                .write_chw(&image, &mut small, 4)
                .is_err()
        );
        assert!(
            Preprocess::ImageNet
                .write_chw(&image, &mut small, 0)
                .is_err()
        );
        let chw = Preprocess::Caffe
            .to_chw(&image.slice_move(ndarray::s![.., ..;2, ..]))
            .unwrap();
        assert_eq!(chw.dim(), (3, 4, 2));
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for p in Preprocess::ALL {
            assert_eq!(p.to_string().parse::<Preprocess>(), Ok(p));
        }
        let err = "vgg".parse::<Preprocess>().unwrap_err().to_string();
        assert!(
            err.contains("\"vgg\"") && err.contains("caffe, imagenet"),
            "{err}"
        );
    }

    #[cfg(feature = "clap")]
    #[test]
    fn command_line_names_are_the_same() {
        use clap::ValueEnum;
        for p in Preprocess::ALL {
            let value = p.to_possible_value().unwrap();
            assert_eq!(value.get_name(), p.name());
        }
    }

    #[test]
    fn toml_names_are_caffe_and_imagenet() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct Model {
            preprocess: Preprocess,
        }
        let m: Model = toml::from_str("preprocess = \"imagenet\"").unwrap();
        assert_eq!(m.preprocess, Preprocess::ImageNet);
        assert_eq!(
            toml::to_string(&Model {
                preprocess: Preprocess::Caffe
            })
            .unwrap()
            .trim(),
            "preprocess = \"caffe\""
        );
        let err = toml::from_str::<Model>("preprocess = \"image-net\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("caffe") && err.contains("imagenet"), "{err}");
    }
}
