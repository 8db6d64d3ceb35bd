//! Arbitrary label maps and settings: an error that leaves the matrix unchanged, or counts that
//! equal the definition; never a panic.
#![no_main]

use fcn::metrics::{ConfusionMatrix, OutOfRange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [n, ignore, flags, rest @ ..] = data else {
        return;
    };
    let n = usize::from(*n % 70) + 1; // across the laned (n <= 63) and direct loops
    let ignore = (flags & 1 == 0).then_some(u32::from(*ignore));
    let lenient = flags & 2 != 0;
    let (pred, target) = rest.split_at(rest.len() / 2);
    let target = &target[..pred.len()];
    let mut m = ConfusionMatrix::new(n)
        .unwrap()
        .with_ignore_index(ignore)
        .with_out_of_range(if lenient { OutOfRange::Skip } else { OutOfRange::Error });
    match m.update(pred, target) {
        Ok(()) => {
            let mut expected = vec![0u64; n * n];
            for (&p, &t) in pred.iter().zip(target) {
                let t = u32::from(t);
                if (t as usize) < n && Some(t) != ignore {
                    expected[t as usize * n + usize::from(p)] += 1;
                }
            }
            assert_eq!(m.counts(), &expected[..]);
        }
        Err(_) => assert_eq!(m.total(), 0),
    }
});
