//! Seeded transforms applied to an image and its label map together, and the two input
//! normalisations of FCN models: composition ([`Compose`]), Pillow-exact resampling,
//! geometric and photometric augmentation, normalisation, each in a module of its own.
//!
//! Labels are never interpolated: every geometric transform moves label values with nearest
//! neighbour sampling, and padding fills labels with the ignore value. Randomness comes from an
//! explicit [`SplitMix64`] generator that the caller seeds (the [`loader`](crate::loader) seeds
//! it from the run's seed, the epoch and the sample's position), never from thread timing.
//!
//! Resizing matches Pillow exactly: [`resize_bilinear`] is `Image.resize(size, BILINEAR)`
//! (Pillow's separable, antialiased convolution with its 22-bit fixed-point coefficients) and
//! [`resize_nearest`] is `Image.resize(size, NEAREST)`. Both are checked against Pillow by the
//! golden tests (`tests/golden/make_transforms.py`).
//!
//! ```
//! use fcn_data::synthetic::SyntheticTransit;
//! use fcn_data::transforms::{Compose, HorizontalFlip, Normalization, RandomCrop, SplitMix64};
//! use fcn_data::Dataset;
//!
//! let data = SyntheticTransit::train(1, 96, 128, 7)?;
//! let pipeline = Compose::new()
//!     .then(HorizontalFlip::new(0.5)?)
//!     .then(RandomCrop::new(64, 64)?);
//! let mut rng = SplitMix64::from_keys(&[7, 0, 0]);
//! let sample = pipeline.apply(data.get(0)?, &mut rng)?;
//! assert_eq!(sample.dim(), (64, 64));
//! let chw = Normalization::Caffe.to_chw(&sample.image)?;
//! assert_eq!(chw.dim(), (3, 64, 64));
//! # Ok::<(), fcn_data::Error>(())
//! ```

mod compose;
mod geometric;
mod normalize;
mod photometric;
mod pixels;
mod resample;

pub use compose::{Compose, Transform};
/// The workspace's seeded generator (one copy, in `fcn-common`).
pub use fcn_common::SplitMix64;
pub use geometric::{CAFFE_MEAN_PIXEL, HorizontalFlip, RandomCrop, RandomScale, Resize};
pub use normalize::{CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, Normalization};
pub use photometric::PhotometricJitter;
pub use resample::{resize_bilinear, resize_label, resize_nearest};
