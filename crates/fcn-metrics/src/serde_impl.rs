//! Serialisation of the confusion matrix, validated on the way in.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ConfusionMatrix, OutOfRange};

/// The on-disk form: settings plus row-major counts.
#[derive(Serialize, Deserialize)]
struct MatrixRepr {
    num_classes: usize,
    ignore_index: Option<u32>,
    #[serde(default)]
    out_of_range: OutOfRange,
    counts: Vec<u64>,
}

impl Serialize for ConfusionMatrix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MatrixRepr {
            num_classes: self.num_classes(),
            ignore_index: self.ignore_index(),
            out_of_range: self.out_of_range(),
            counts: self.counts().to_vec(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ConfusionMatrix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = MatrixRepr::deserialize(deserializer)?;
        ConfusionMatrix::from_counts(repr.num_classes, repr.counts)
            .map(|m| {
                m.with_ignore_index(repr.ignore_index)
                    .with_out_of_range(repr.out_of_range)
            })
            .map_err(serde::de::Error::custom)
    }
}
