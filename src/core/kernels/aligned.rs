//! f32 buffers that start on a 64-byte boundary: a cache line, and one AVX-512 vector.
//!
//! The tiles load B (a weight panel, Kᵀ, V) a row of 64 floats at a time, four vectors of
//! 16. A `Vec<f32>` starts wherever the allocator puts it, on a 16-byte boundary for glibc's
//! blocks, so three buffers in four had every one of those loads straddle two cache lines.
//! One core of an Intel Xeon, 64 rows on hot weight panels at the SmolLM2-shaped model's
//! shapes: 165–173 GFLOP/s from 16-byte boundaries, 170–177 from 64-byte ones.

use std::mem::MaybeUninit;

use ndarray::{Array1, Array2, s};

/// Floats a 64-byte line holds: a buffer of f32 (or `MaybeUninit<f32>`) `LINE - 1` longer
/// than it needs has a line's start among its first `LINE` elements.
pub(crate) const LINE: usize = 16;

/// The index of the first element of `buf` (of f32 or `MaybeUninit<f32>`) that starts on a
/// 64-byte line: at most `LINE - 1`, as a 4-byte-aligned buffer is never further from one.
pub(crate) fn line_start<T>(buf: &[T]) -> usize {
    debug_assert_eq!(std::mem::size_of::<T>(), 4, "a buffer of f32");
    buf.as_ptr().align_offset(64).min(LINE - 1)
}

/// `len` elements of `data` from its first line start, as a rows × cols array (row-major).
fn array_from_line<T>(data: Vec<T>, (rows, cols): (usize, usize)) -> Array2<T> {
    let (off, len) = (line_start(&data), rows * cols);
    Array1::from_vec(data)
        .slice_move(s![off..off + len])
        .into_shape_with_order((rows, cols))
        .expect("contiguous values of that length")
}

/// `len` f32 values starting on a 64-byte boundary, as a slice (`Deref`).
#[derive(Debug, Default)]
pub struct AlignedVec {
    /// The values are `data[off..off + len]`; the up to 15 before them are padding.
    data: Vec<f32>,
    off: usize,
    len: usize,
}

impl AlignedVec {
    /// `len` zeros.
    pub fn zeros(len: usize) -> AlignedVec {
        let data = vec![0.0f32; len.checked_add(LINE - 1).expect("AlignedVec: length")];
        let off = line_start(&data);
        AlignedVec { data, off, len }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[f32]) -> AlignedVec {
        let mut v = AlignedVec::zeros(values.len());
        v.copy_from_slice(values);
        v
    }

    /// The values as a rows × cols array (row-major), still starting on the boundary.
    ///
    /// # Panics
    /// If rows × cols is not the length.
    pub fn into_array2(self, (rows, cols): (usize, usize)) -> Array2<f32> {
        assert_eq!(rows * cols, self.len, "AlignedVec: {rows}×{cols} values");
        array_from_line(self.data, (rows, cols))
    }
}

/// An uninitialised rows × cols array (row-major) starting on a 64-byte boundary: what
/// `Array2::uninit` gives, for a product's C, whose tiles store and reload rows of 64 floats
/// (one core of an Intel Xeon, 64 rows on hot weight panels: 2–3% faster than from a 16-byte
/// boundary).
pub fn uninit_array2((rows, cols): (usize, usize)) -> Array2<MaybeUninit<f32>> {
    let padded = rows
        .checked_mul(cols)
        .and_then(|len| len.checked_add(LINE - 1))
        .expect("uninit_array2: shape too large");
    let mut data: Vec<MaybeUninit<f32>> = Vec::with_capacity(padded);
    // SAFETY: the capacity is `padded`, and `MaybeUninit` needs no initialisation.
    unsafe { data.set_len(padded) };
    array_from_line(data, (rows, cols))
}

impl Clone for AlignedVec {
    /// A copy on its own 64-byte boundary (a cloned `Vec` lands elsewhere, with its offset).
    fn clone(&self) -> AlignedVec {
        AlignedVec::from_slice(self)
    }
}

impl std::ops::Deref for AlignedVec {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data[self.off..self.off + self.len]
    }
}

impl std::ops::DerefMut for AlignedVec {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.data[self.off..self.off + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length (including none) starts on a 64-byte boundary, holds zeros, and keeps the
    /// boundary through a clone and into an array.
    #[test]
    fn values_start_on_a_line() {
        for len in [0usize, 1, 15, 16, 17, 1000, 4096 * 3 + 5] {
            let mut v = AlignedVec::zeros(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            assert_eq!(v.as_ptr() as usize % 64, 0, "len {len}");
            for (i, x) in v.iter_mut().enumerate() {
                *x = i as f32;
            }
            let c = v.clone();
            assert_eq!(c.as_ptr() as usize % 64, 0, "clone of {len}");
            assert_eq!(&c[..], &v[..]);
            let u = uninit_array2((len, 3));
            assert_eq!((u.nrows(), u.ncols()), (len, 3));
            assert!(u.is_standard_layout());
            // An empty array's pointer is never read (ndarray leaves an empty slice's at the
            // buffer's start, on whatever boundary the allocator gave).
            if len > 0 {
                assert_eq!(u.as_ptr() as usize % 64, 0, "uninit {len} × 3");
            }
            if len == 1000 {
                let a = v.into_array2((40, 25));
                assert_eq!(a.as_ptr() as usize % 64, 0);
                assert_eq!(a[[1, 0]], 25.0);
                assert_eq!(a.as_slice().map(<[f32]>::len), Some(1000));
            }
        }
    }
}
