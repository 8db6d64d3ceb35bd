//! The helpers that more than one fcn-rs crate needs, kept once: a seeded random generator
//! ([`SplitMix64`]), atomic file writes ([`write_atomically`]), the input normalisations of FCN
//! models ([`Preprocess`]) and [`median`]. A leaf crate: it depends on nothing of the workspace.
//!
//! ```
//! use fcn_common::{Preprocess, SplitMix64, median};
//!
//! // Reproducible randomness: the stream depends on the seed only.
//! let mut a = SplitMix64::from_keys(&[7, 0, 3]);
//! let mut b = SplitMix64::from_keys(&[7, 0, 3]);
//! assert_eq!(a.next_u64(), b.next_u64());
//!
//! // One RGB pixel normalised as the Caffe FCN weights expect: BGR, minus the mean pixel.
//! let mut chw = [0f32; 3];
//! Preprocess::Caffe.normalize_into(&[10, 20, 30], (1, 1), &mut chw, 1)?;
//! assert_eq!(chw[0], (30.0 - fcn_common::CAFFE_MEAN_BGR[0]) as f32);
//! assert_eq!("imagenet".parse::<Preprocess>()?, Preprocess::ImageNet);
//!
//! assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
//! # Ok::<(), fcn_common::Error>(())
//! ```
#![deny(missing_docs)]

mod atomic;
mod error;
mod preprocess;
mod rng;
mod stats;

pub use atomic::write_atomically;
pub use error::{Error, Result};
pub use preprocess::{CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD, Preprocess};
pub use rng::SplitMix64;
pub use stats::median;
