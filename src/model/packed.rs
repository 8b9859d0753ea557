//! Quantised weights kept packed for decoding. A decoding step multiplies one row by every
//! weight matrix: it is bound by the bytes it reads, and the f32 copy of SmolLM2-135M is
//! 537 MB per token. A GGUF file's Q4_0 / Q4_1 / Q8_0 matrices are kept as well in a packed
//! form (per 32-value block an f32 scale, an f32 offset and the 4- or 8-bit codes: 0.75 or
//! 1.25 bytes a weight instead of 4), and a one-row product reads those:
//! Σᵢ (s·qᵢ + o)·xᵢ = s·Σᵢ qᵢxᵢ + o·Σᵢ xᵢ (the same values the dequantiser gives: the
//! 32 products of a block summed in f32, the blocks in f64, so a decoding step agrees with
//! the forward pass's f32 products to ~1e-6). The f32 copy still serves the many-row
//! products of a forward pass.

use rayon::prelude::*;

use crate::core::kernels::Backend;
use crate::gguf::GgmlType;

/// Values per block.
const BLOCK: usize = 32;
/// Rows per parallel task.
const ROWS_PER_TASK: usize = 64;

/// The codes of every block, row after row.
#[derive(Clone, Debug)]
enum Codes {
    /// Two 4-bit codes a byte: byte j of a block holds value j (low nibble) and j + 16.
    Nibbles(Vec<u8>),
    /// One signed 8-bit code a value.
    Bytes(Vec<i8>),
}

/// A `rows × cols` matrix (PyTorch's `out × in`: one row per output) of quantised blocks.
#[derive(Clone, Debug)]
pub struct PackedRows {
    rows: usize,
    cols: usize,
    /// Per block (rows × cols / 32): the scale s.
    scale: Vec<f32>,
    /// Per block: the offset o (empty when every offset is 0).
    offset: Vec<f32>,
    codes: Codes,
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

impl PackedRows {
    /// Packs a GGUF tensor of `rows` rows of `cols` values from its raw bytes; `None` for a
    /// type it does not pack (the f32 copy is used then), a row length that is not whole
    /// blocks, or bytes of the wrong length.
    pub fn from_gguf(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize) -> Option<PackedRows> {
        if cols == 0 || !cols.is_multiple_of(BLOCK) {
            return None;
        }
        let blocks = rows.checked_mul(cols / BLOCK)?;
        let size = match ty {
            GgmlType::Q4_0 => 18,
            GgmlType::Q4_1 => 20,
            GgmlType::Q8_0 => 34,
            _ => return None,
        };
        if bytes.len() != blocks.checked_mul(size)? {
            return None;
        }
        let mut scale = Vec::with_capacity(blocks);
        let mut offset = Vec::new();
        let codes = match ty {
            GgmlType::Q8_0 => {
                let mut q = Vec::with_capacity(blocks * BLOCK);
                for b in bytes.chunks_exact(size) {
                    scale.push(f16_at(b, 0));
                    q.extend(b[2..].iter().map(|&c| c as i8));
                }
                Codes::Bytes(q)
            }
            _ => {
                // Q4_0: x = d·(q − 8) = d·q − 8d; Q4_1: x = d·q + m.
                let start = if ty == GgmlType::Q4_1 { 4 } else { 2 };
                let mut q = Vec::with_capacity(blocks * BLOCK / 2);
                offset.reserve(blocks);
                for b in bytes.chunks_exact(size) {
                    let d = f16_at(b, 0);
                    scale.push(d);
                    offset.push(if ty == GgmlType::Q4_1 {
                        f16_at(b, 2)
                    } else {
                        -8.0 * d
                    });
                    q.extend_from_slice(&b[start..start + 16]);
                }
                Codes::Nibbles(q)
            }
        };
        Some(PackedRows {
            rows,
            cols,
            scale,
            offset,
            codes,
        })
    }

    /// Rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Row length (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        let codes = match &self.codes {
            Codes::Nibbles(q) => q.len(),
            Codes::Bytes(q) => q.len(),
        };
        4 * (self.scale.len() + self.offset.len()) + codes
    }

    /// The same matrix with row `i` taken from row `order[i]` (`order` a permutation).
    pub fn permute_rows(&self, order: &[usize]) -> Option<PackedRows> {
        if order.len() != self.rows || order.iter().any(|&r| r >= self.rows) {
            return None;
        }
        let nb = self.cols / BLOCK;
        let pick = |v: &[f32]| -> Vec<f32> {
            if v.is_empty() {
                return Vec::new();
            }
            order
                .iter()
                .flat_map(|&r| v[r * nb..(r + 1) * nb].iter().copied())
                .collect()
        };
        let codes = match &self.codes {
            Codes::Nibbles(q) => {
                let w = nb * BLOCK / 2;
                Codes::Nibbles(
                    order
                        .iter()
                        .flat_map(|&r| q[r * w..(r + 1) * w].iter().copied())
                        .collect(),
                )
            }
            Codes::Bytes(q) => {
                let w = nb * BLOCK;
                Codes::Bytes(
                    order
                        .iter()
                        .flat_map(|&r| q[r * w..(r + 1) * w].iter().copied())
                        .collect(),
                )
            }
        };
        Some(PackedRows {
            rows: self.rows,
            cols: self.cols,
            scale: pick(&self.scale),
            offset: pick(&self.offset),
            codes,
        })
    }

    /// out[r] = Σᵢ W[r, i]·x[i] for every row, rows in parallel. `x` is `cols` long and
    /// `out` `rows` long.
    pub fn gemv(&self, backend: Backend, x: &[f32], out: &mut [f32]) {
        assert_eq!(x.len(), self.cols, "packed product: input width");
        assert_eq!(out.len(), self.rows, "packed product: output height");
        let nb = self.cols / BLOCK;
        // Σ x over each block, for the offsets.
        let xsum: Vec<f32> = x.chunks_exact(BLOCK).map(|c| c.iter().sum()).collect();
        let simd = matches!(backend, Backend::Avx2 | Backend::Avx512) && avx2_fma();
        out.par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(t, chunk)| {
                for (k, o) in chunk.iter_mut().enumerate() {
                    let r = t * ROWS_PER_TASK + k;
                    let blocks = r * nb..(r + 1) * nb;
                    let scale = &self.scale[blocks.clone()];
                    let dot = match &self.codes {
                        Codes::Nibbles(q) => {
                            let q = &q[r * nb * 16..(r + 1) * nb * 16];
                            let offset = &self.offset[blocks];
                            nibble_row(simd, q, scale, x) + dot(offset, &xsum)
                        }
                        Codes::Bytes(q) => {
                            byte_row(simd, &q[r * nb * 32..(r + 1) * nb * 32], scale, x)
                        }
                    };
                    *o = dot;
                }
            });
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Σ aᵢbᵢ over equal-length slices, 8 lanes with FMA on a SIMD backend (a decoding step's
/// q·k over the cached keys).
pub fn dot_f32(backend: Backend, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: lengths");
    #[cfg(target_arch = "x86_64")]
    if matches!(backend, Backend::Avx2 | Backend::Avx512) && avx2_fma() {
        // SAFETY: AVX2 and FMA are present; the lengths are equal (asserted).
        return unsafe { dot_avx2(a, b) };
    }
    let _ = backend;
    dot(a, b)
}

/// y += α·x over equal-length slices (a decoding step's Σⱼ pⱼvⱼ).
pub fn axpy_f32(backend: Backend, alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: lengths");
    #[cfg(target_arch = "x86_64")]
    if matches!(backend, Backend::Avx2 | Backend::Avx512) && avx2_fma() {
        // SAFETY: AVX2 and FMA are present; the lengths are equal (asserted).
        return unsafe { axpy_avx2(alpha, x, y) };
    }
    let _ = backend;
    for (o, &v) in y.iter_mut().zip(x) {
        *o += alpha * v;
    }
}

/// y += Σᵢ xᵢ·rowᵢ for the rows of a matrix at row stride `stride` (row i is
/// `rows[i·stride..][..y.len()]`): [`axpy_f32`] once per row, in the order i = 0, 1, …, with
/// the same bits, but y held in registers through all the rows on a SIMD backend (a
/// decoding step's product with W, a column block or a panel of it at a time). A call per
/// row loaded and stored y every time, and on 16-wide panels (AVX2) its overhead came to
/// more than the 16 columns' work: a SmolLM2-shaped decode fell from 30–39 to 23 tokens/s.
///
/// # Panics
/// If `rows` does not hold x.len() rows of y.len() values at `stride`.
pub fn axpy_rows_f32(backend: Backend, x: &[f32], rows: &[f32], stride: usize, y: &mut [f32]) {
    let (k, n) = (x.len(), y.len());
    assert!(
        k == 0 || n == 0 || (stride >= n && (k - 1) * stride + n <= rows.len()),
        "axpy_rows: {k} rows of {n} at stride {stride} in {}",
        rows.len()
    );
    #[cfg(target_arch = "x86_64")]
    if matches!(backend, Backend::Avx2 | Backend::Avx512) && avx2_fma() {
        // SAFETY: AVX2 and FMA are present; the rows fit (asserted).
        return unsafe { axpy_rows_avx2(x, rows, stride, y) };
    }
    if n > 0 {
        for (i, &xi) in x.iter().enumerate() {
            axpy_f32(backend, xi, &rows[i * stride..i * stride + n], y);
        }
    }
}

/// [`axpy_rows_f32`] with AVX2: y's whole vectors four at a time in registers through every
/// row (the FMAs `axpy_avx2` runs, in its order), then its tail column by column as
/// `axpy_avx2`'s scalar tail adds.
///
/// # Safety
/// AVX2 and FMA must be available; `rows` must hold x.len() rows of y.len() values at
/// `stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_rows_avx2(x: &[f32], rows: &[f32], stride: usize, y: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = y.len();
    let full = n / 8 * 8;
    let (yp, rp) = (y.as_mut_ptr(), rows.as_ptr());
    for c0 in (0..full).step_by(32) {
        let nv = ((full - c0) / 8).min(4);
        // SAFETY: c0 + 8·nv ≤ full ≤ n, so every y access is inside y, and every row access
        // (i·stride + c0 + 8v + 8 ≤ (k − 1)·stride + n) inside `rows` (the caller's contract).
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            for (v, a) in acc.iter_mut().enumerate().take(nv) {
                *a = _mm256_loadu_ps(yp.add(c0 + 8 * v));
            }
            for (i, &xi) in x.iter().enumerate() {
                let xv = _mm256_set1_ps(xi);
                let row = rp.add(i * stride + c0);
                for (v, a) in acc.iter_mut().enumerate().take(nv) {
                    *a = _mm256_fmadd_ps(xv, _mm256_loadu_ps(row.add(8 * v)), *a);
                }
            }
            for (v, a) in acc.iter().enumerate().take(nv) {
                _mm256_storeu_ps(yp.add(c0 + 8 * v), *a);
            }
        }
    }
    for (j, yj) in y.iter_mut().enumerate().skip(full) {
        for (i, &xi) in x.iter().enumerate() {
            *yj += xi * rows[i * stride + j];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 ≤ n, inside both slices.
        unsafe {
            acc = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
                acc,
            );
        }
        i += 8;
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    lanes.iter().sum::<f32>() + dot(&a[i..n], &b[i..n])
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(alpha: f32, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = x.len().min(y.len());
    let a = _mm256_set1_ps(alpha);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 ≤ n, inside both slices.
        unsafe {
            let p = y.as_mut_ptr().add(i);
            _mm256_storeu_ps(
                p,
                _mm256_fmadd_ps(a, _mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(p)),
            );
        }
        i += 8;
    }
    for k in i..n {
        y[k] += alpha * x[k];
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_fma() -> bool {
    false
}

/// Σ over blocks of scale·Σⱼ qⱼxⱼ for one row of 4-bit codes.
fn nibble_row(simd: bool, q: &[u8], scale: &[f32], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is true only when the CPU has AVX2 and FMA; the slices hold
        // scale.len() blocks (16 code bytes and 32 inputs each), as the caller cut them.
        return unsafe { nibble_row_avx2(q, scale, x) };
    }
    let _ = simd;
    let mut total = 0.0f64;
    for (b, &s) in scale.iter().enumerate() {
        let (qb, xb) = (&q[b * 16..b * 16 + 16], &x[b * 32..b * 32 + 32]);
        let mut acc = 0.0f32;
        for j in 0..16 {
            acc += f32::from(qb[j] & 0x0F) * xb[j] + f32::from(qb[j] >> 4) * xb[j + 16];
        }
        total += f64::from(s) * f64::from(acc);
    }
    total as f32
}

/// Σ over blocks of scale·Σⱼ qⱼxⱼ for one row of signed 8-bit codes.
fn byte_row(simd: bool, q: &[i8], scale: &[f32], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: as for `nibble_row`: AVX2 and FMA are present; 32 codes and inputs a block.
        return unsafe { byte_row_avx2(q, scale, x) };
    }
    let _ = simd;
    let mut total = 0.0f32;
    for (b, &s) in scale.iter().enumerate() {
        let (qb, xb) = (&q[b * 32..b * 32 + 32], &x[b * 32..b * 32 + 32]);
        total += s * qb
            .iter()
            .zip(xb)
            .map(|(&c, &v)| f32::from(c) * v)
            .sum::<f32>();
    }
    total
}

/// Eight f64 lanes that sum blocks' f32 lanes (each block's products stay f32; blocks add
/// in f64, so long rows lose nothing to the running sum).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct F64x8(std::arch::x86_64::__m256d, std::arch::x86_64::__m256d);

#[cfg(target_arch = "x86_64")]
impl Default for F64x8 {
    fn default() -> Self {
        // SAFETY: _mm256_setzero_pd needs AVX, which every caller (an AVX2 function) has; it
        // only builds a zero value.
        unsafe {
            F64x8(
                std::arch::x86_64::_mm256_setzero_pd(),
                std::arch::x86_64::_mm256_setzero_pd(),
            )
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl F64x8 {
    #[target_feature(enable = "avx2,fma")]
    fn add(&mut self, v: std::arch::x86_64::__m256) {
        use std::arch::x86_64::*;
        self.0 = _mm256_add_pd(self.0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        self.1 = _mm256_add_pd(self.1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }

    #[target_feature(enable = "avx2,fma")]
    fn sum(self) -> f32 {
        use std::arch::x86_64::*;
        let v = _mm256_add_pd(self.0, self.1);
        let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
        let s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
        _mm_cvtsd_f64(s) as f32
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn nibble_row_avx2(q: &[u8], scale: &[f32], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    assert!(q.len() >= scale.len() * 16 && x.len() >= scale.len() * 32);
    let mask = _mm_set1_epi8(0x0F);
    let mut total = F64x8::default();
    for (b, &s) in scale.iter().enumerate() {
        // SAFETY: block b's 16 code bytes and 32 inputs are inside the slices (asserted).
        unsafe {
            let raw = _mm_loadu_si128(q.as_ptr().add(b * 16).cast());
            let lo = _mm_and_si128(raw, mask);
            let hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
            let xp = x.as_ptr().add(b * 32);
            let f = |v: __m128i| _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
            let mut d = _mm256_mul_ps(f(lo), _mm256_loadu_ps(xp));
            d = _mm256_fmadd_ps(f(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(xp.add(8)), d);
            d = _mm256_fmadd_ps(f(hi), _mm256_loadu_ps(xp.add(16)), d);
            d = _mm256_fmadd_ps(f(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(xp.add(24)), d);
            total.add(_mm256_mul_ps(_mm256_set1_ps(s), d));
        }
    }
    total.sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn byte_row_avx2(q: &[i8], scale: &[f32], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    assert!(q.len() >= scale.len() * 32 && x.len() >= scale.len() * 32);
    let mut total = F64x8::default();
    for (b, &s) in scale.iter().enumerate() {
        // SAFETY: block b's 32 codes and 32 inputs are inside the slices (asserted).
        unsafe {
            let qp = q.as_ptr().add(b * 32);
            let xp = x.as_ptr().add(b * 32);
            let f = |k: usize| {
                _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(qp.add(k).cast())))
            };
            let mut d = _mm256_mul_ps(f(0), _mm256_loadu_ps(xp));
            d = _mm256_fmadd_ps(f(8), _mm256_loadu_ps(xp.add(8)), d);
            d = _mm256_fmadd_ps(f(16), _mm256_loadu_ps(xp.add(16)), d);
            d = _mm256_fmadd_ps(f(24), _mm256_loadu_ps(xp.add(24)), d);
            total.add(_mm256_mul_ps(_mm256_set1_ps(s), d));
        }
    }
    total.sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::dequantize_blocks;

    /// Random blocks of a type: f16 scales (and mins), random codes.
    fn blocks(ty: GgmlType, n: usize, seed: u64) -> Vec<u8> {
        let mut s = crate::core::rng::Stream::new("packed", seed);
        let mut out = Vec::new();
        for _ in 0..n {
            let d = half::f16::from_f32(0.01 + (s.next_u64() % 100) as f32 * 1e-3);
            out.extend_from_slice(&d.to_le_bytes());
            if ty == GgmlType::Q4_1 {
                let m = half::f16::from_f32(-0.05 + (s.next_u64() % 100) as f32 * 1e-3);
                out.extend_from_slice(&m.to_le_bytes());
            }
            let codes = if ty == GgmlType::Q8_0 { 32 } else { 16 };
            out.extend((0..codes).map(|_| s.next_u64() as u8));
        }
        out
    }

    #[test]
    fn dot_and_axpy_equal_the_plain_loops() {
        for n in [0, 1, 7, 8, 9, 64, 67] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            for backend in Backend::ALL {
                assert!(
                    (dot_f32(backend, &a, &b) - want).abs() <= 1e-5,
                    "{backend} n={n}"
                );
                let mut y = b.clone();
                axpy_f32(backend, 0.5, &a, &mut y);
                for i in 0..n {
                    assert!((y[i] - (b[i] + 0.5 * a[i])).abs() <= 1e-6);
                }
            }
        }
    }

    /// A decoding step's Σᵢ xᵢ·rowᵢ in one call gives the bits of one `axpy_f32` per row in
    /// order: whole vectors, tails, several register groups, strides wider than y, no rows.
    #[test]
    fn rows_at_once_give_the_bits_of_one_axpy_per_row() {
        for (k, n, stride) in [
            (0usize, 16usize, 16usize),
            (5, 0, 3),
            (576, 16, 16),
            (37, 70, 73),
            (9, 7, 64),
            (3, 40, 40),
        ] {
            let x: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
            let rows: Vec<f32> = (0..k * stride).map(|i| (i as f32 * 0.11).cos()).collect();
            let y0: Vec<f32> = (0..n).map(|i| i as f32 * 0.01 - 0.2).collect();
            for backend in Backend::ALL {
                let mut want = y0.clone();
                for (i, &xi) in x.iter().enumerate() {
                    axpy_f32(backend, xi, &rows[i * stride..i * stride + n], &mut want);
                }
                let mut got = y0.clone();
                axpy_rows_f32(backend, &x, &rows, stride, &mut got);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{backend} k={k} n={n} stride={stride}"
                );
            }
        }
    }

    #[test]
    fn packed_products_equal_the_dequantised_matrix() {
        let (rows, cols) = (70, 96);
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0] {
            let bytes = blocks(ty, rows * cols / 32, ty.id() as u64);
            let mut w = vec![0.0f32; rows * cols];
            dequantize_blocks(ty, &bytes, &mut w).unwrap();
            let x: Vec<f32> = (0..cols)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.1)
                .collect();
            let p = PackedRows::from_gguf(ty, &bytes, rows, cols).unwrap();
            for backend in Backend::ALL {
                let mut out = vec![0.0f32; rows];
                p.gemv(backend, &x, &mut out);
                for r in 0..rows {
                    let want: f32 = w[r * cols..(r + 1) * cols]
                        .iter()
                        .zip(&x)
                        .map(|(a, b)| a * b)
                        .sum();
                    assert!(
                        (out[r] - want).abs() <= 1e-5 * want.abs().max(1.0),
                        "{ty} {backend}: row {r}: {} vs {want}",
                        out[r]
                    );
                }
            }
            // Rows permuted: row i is row order[i].
            let order: Vec<usize> = (0..rows).rev().collect();
            let q = p.permute_rows(&order).unwrap();
            let (mut a, mut b) = (vec![0.0; rows], vec![0.0; rows]);
            p.gemv(Backend::Scalar, &x, &mut a);
            q.gemv(Backend::Scalar, &x, &mut b);
            assert!(order.iter().enumerate().all(|(i, &r)| b[i] == a[r]));
        }
        // What it does not pack.
        assert!(PackedRows::from_gguf(GgmlType::Q4_K, &[0; 144], 1, 256).is_none());
        assert!(PackedRows::from_gguf(GgmlType::Q8_0, &[0; 33], 1, 32).is_none());
        assert!(PackedRows::from_gguf(GgmlType::Q8_0, &[0; 34], 1, 31).is_none());
    }
}
