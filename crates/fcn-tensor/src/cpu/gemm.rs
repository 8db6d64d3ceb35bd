//! Single-precision GEMM on strided matrices, and a pointer that parallel tasks share to write
//! disjoint parts of one output.
//!
//! Backed by the `gemm` crate (runtime dispatch to AVX2/FMA kernels); `docs/benchmarks.md` has
//! the measurements behind the choice. Convolutions call it single-threaded inside their own
//! parallel loops over tiles (ARCHITECTURE.md decision 3); a plain matrix product lets it split
//! the work over the rayon pool itself.
#![allow(unsafe_code)]

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows x cols` matrix with row stride `rs`. Panics if it overruns `data`.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize) -> Self {
        Self::strided(data, rows, cols, rs, 1)
    }

    /// Any strides. Panics if the last element is outside `data`.
    pub(crate) fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        if rows > 0 && cols > 0 {
            assert!(
                (rows - 1) * rs + (cols - 1) * cs < data.len(),
                "matrix overruns its slice"
            );
        }
        Self {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// The transpose (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }
}

/// How many threads one GEMM call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The calling thread only (inside a parallel loop).
    One,
    /// The whole rayon pool.
    Pool,
}

/// `c = a * b` (or `c += a * b` with `accumulate`), `c` row-major `m x n` with row stride `rs`.
/// Panics on mismatched shapes or an output that overruns `c`.
pub(crate) fn gemm(
    c: &mut [f32],
    rs: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
    threads: Threads,
) {
    let (m, n) = (a.rows, b.cols);
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    if m > 0 && n > 0 {
        assert!((m - 1) * rs + n <= c.len(), "output overruns its slice");
    }
    // SAFETY: operand and output extents were checked against their slices above.
    unsafe { gemm_with(c.as_mut_ptr(), rs, a, b, accumulate, threads) }
}

/// [`gemm`] into a raw output, for tasks that write disjoint strided parts of one buffer.
///
/// # Safety
/// `c` must be valid for writes of the `m x n` matrix with row stride `rs` (m = `a`'s rows,
/// n = `b`'s columns), and no other thread may access those elements during the call.
pub(crate) unsafe fn gemm_unchecked(
    c: *mut f32,
    rs: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
) {
    // SAFETY: forwarded from the caller.
    unsafe { gemm_with(c, rs, a, b, accumulate, Threads::One) }
}

/// # Safety
/// As [`gemm_unchecked`].
unsafe fn gemm_with(
    c: *mut f32,
    rs: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
    threads: Threads,
) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row i of the output is valid for writes (caller's contract).
                unsafe { std::slice::from_raw_parts_mut(c.add(i * rs), n) }.fill(0.0);
            }
        }
        return;
    }
    // SAFETY: a and b were bounds-checked at construction; c is the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            match threads {
                Threads::One => gemm::Parallelism::None,
                Threads::Pool => gemm::Parallelism::Rayon(rayon::current_num_threads()),
            },
        );
    }
}

/// A buffer that parallel tasks write at disjoint positions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SharedMut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: SharedMut is only a pointer; the functions that use it document that each task
// writes a region no other task touches.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    pub(crate) fn new(buffer: &mut [f32]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }

    /// A buffer not yet initialised: every element must be written through the pointer before
    /// the owner reads it or sets its length over it.
    pub(crate) fn uninit(buffer: &mut [std::mem::MaybeUninit<f32>]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr().cast(),
            len: buffer.len(),
        }
    }

    /// The pointer to element `offset`, which must be inside the buffer.
    pub(crate) fn at(&self, offset: usize) -> *mut f32 {
        assert!(offset < self.len, "offset outside the shared buffer");
        // SAFETY: offset is within the allocation (checked).
        unsafe { self.ptr.add(offset) }
    }

    /// Checks that an `m x n` matrix with row stride `rs` at `offset` lies inside the buffer.
    pub(crate) fn check(&self, offset: usize, m: usize, n: usize, rs: usize) {
        if m > 0 && n > 0 {
            assert!(
                offset + (m - 1) * rs + n <= self.len,
                "matrix overruns the shared buffer"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn plain_transposed_and_accumulated_products() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| (v % 5) as f32 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v % 3) as f32 * 0.5).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        gemm(
            &mut c,
            n,
            Mat::new(&a, m, k, k),
            Mat::new(&b, k, n, n),
            false,
            Threads::One,
        );
        assert_eq!(c, want);
        // a stored transposed: (k x m) row-major, used through .t().
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let mut c2 = vec![1.0; m * n];
        gemm(
            &mut c2,
            n,
            Mat::new(&at, k, m, m).t(),
            Mat::new(&b, k, n, n),
            true,
            Threads::Pool,
        );
        assert_eq!(c2, want.iter().map(|v| v + 1.0).collect::<Vec<_>>());
    }
}
