//! The integer types accepted as label maps.

pub(crate) mod sealed {
    /// Implemented only here, so the scans below stay internal.
    pub trait Sealed: Sized {
        /// Whether any value is outside `[0, n)`. Compares in the native type so the scan
        /// vectorises.
        fn any_outside(values: &[Self], n: u64) -> bool;

        /// Whether any value is non-negative, `>= n` and not `ignore`.
        fn any_unknown(values: &[Self], n: u64, ignore: u64) -> bool;
    }
}

/// An integer type a label map may be stored in: `u8`, `u16`, `u32`, `i32` or `i64`.
///
/// Negative values of the signed types mean "ignore", as the label tensors of
/// pytorch-fcn's loaders do (they mark void pixels with -1).
pub trait Label: Copy + PartialEq + Send + Sync + sealed::Sealed + 'static {
    /// The value widened to `i64` without loss.
    fn to_i64(self) -> i64;
}

macro_rules! impl_label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            #[inline(always)]
            fn to_i64(self) -> i64 {
                i64::from(self)
            }
        }

        impl sealed::Sealed for $t {
            fn any_outside(values: &[Self], n: u64) -> bool {
                // `n` beyond the type's range: only negative values can be outside.
                let classes = <$t>::try_from(n).map_or(0..=<$t>::MAX, |n| 0..=n.saturating_sub(1));
                values.iter().fold(false, |any, v| any | !classes.contains(v))
            }

            fn any_unknown(values: &[Self], n: u64, ignore: u64) -> bool {
                let Ok(limit) = <$t>::try_from(n) else {
                    return false; // every non-negative value of the type is a class
                };
                // An ignore value the type cannot hold matches nothing; 0 is a class, never flagged.
                let ignore = <$t>::try_from(ignore).unwrap_or(0);
                values.iter().fold(false, |any, &v| any | ((v >= limit) & (v != ignore)))
            }
        }
    )*};
}

impl_label!(u8, u16, u32, i32, i64);
