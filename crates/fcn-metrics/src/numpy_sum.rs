//! Summation in numpy's order, so that means match `np.nanmean` and `np.sum` to the last bit.

/// Sums like numpy's `add.reduce` on a contiguous `float64` array: pairwise, with eight
/// partial sums for blocks of at most 128 values and plain accumulation below eight.
pub(crate) fn pairwise_sum(values: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        values.iter().fold(-0.0, |acc, v| acc + v)
    } else if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        for block in values[8..whole].chunks_exact(8) {
            for (acc, v) in r.iter_mut().zip(block) {
                *acc += v;
            }
        }
        let head = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        values[whole..].iter().fold(head, |acc, v| acc + v)
    } else {
        let half = n / 2;
        let half = half - half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// `np.nanmean` of values where `None` stands for NaN: the sum with zeros in their places,
/// divided by the number of defined values. `None` when no value is defined.
pub(crate) fn nanmean(values: &[Option<f64>]) -> Option<f64> {
    let defined = values.iter().filter(|v| v.is_some()).count();
    if defined == 0 {
        return None;
    }
    let filled: Vec<f64> = values.iter().map(|v| v.unwrap_or(0.0)).collect();
    Some(pairwise_sum(&filled) / defined as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sums_are_sequential() {
        assert_eq!(pairwise_sum(&[]), -0.0);
        assert_eq!(pairwise_sum(&[1.0, 2.0, 3.5]), 6.5);
    }

    #[test]
    fn pairwise_order_matches_numpy_where_sequential_does_not() {
        // numpy 2.4: np.sum([0.1] * 10) == 1.0, while a left-to-right sum gives
        // 0.9999999999999999; and np.sum of `nine` is 1.0 against 1.0000000000000002.
        let ten = [0.1; 10];
        assert_eq!(ten.iter().fold(0.0, |a, b| a + b), 0.9999999999999999);
        assert_eq!(pairwise_sum(&ten), 1.0);
        let nine = [0.1, 0.2, 0.3, 0.1, 0.05, 0.05, 0.1, 0.05, 0.05];
        assert_eq!(nine.iter().fold(0.0, |a, b| a + b), 1.0000000000000002);
        assert_eq!(pairwise_sum(&nine), 1.0);
    }

    #[test]
    fn nanmean_skips_undefined() {
        assert_eq!(nanmean(&[None, Some(0.5), Some(1.0)]), Some(0.75));
        assert_eq!(nanmean(&[None, None]), None);
    }
}
