//! ggml tensor types and the dequantisers that turn their blocks into f32.
//!
//! A ggml tensor is a run of *blocks*: `block_size` consecutive values of a row stored in
//! `type_size` bytes. Plain types (F32, F16, …) have one value per block. The legacy quants
//! (Q4_0 … Q8_1) keep 32 values with one f16 scale `d` (and for `_1` types a minimum `m`):
//! `x = d·q + m`. The K-quants keep a 256-value super-block split into sub-blocks of 16 or 32,
//! each with a small integer scale (and minimum) that is itself multiplied by the f16
//! super-block scale: `x = (d·scᵢ)·q − (dmin·mᵢ)`.
//!
//! Each dequantiser works on one whole block given as a fixed-size array, so the compiler
//! sees every index in range and the inner loops carry no bounds checks. The layouts follow
//! ggml's `block_*` structs (`ggml-common.h`); the arithmetic follows the order of gguf-py's
//! `gguf.quants` (and ggml's `dequantize_row_*`), so results match them bit for bit
//! (`tests/gguf_quant.rs` checks this against fixtures made by gguf-py).

use half::f16;

use super::GgufError;

/// Values in a K-quant super-block.
const QK_K: usize = 256;

/// Every tensor type id that ggml defines (`enum ggml_type` in `ggml.h`; ids 4, 5, 31–33
/// and 36–38 belonged to removed types and are not valid in GGUF files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half float.
    F16,
    /// 32 values: f16 scale, 4-bit quants centred on 8.
    Q4_0,
    /// 32 values: f16 scale and minimum, 4-bit quants.
    Q4_1,
    /// 32 values: f16 scale, 5-bit quants centred on 16.
    Q5_0,
    /// 32 values: f16 scale and minimum, 5-bit quants.
    Q5_1,
    /// 32 values: f16 scale, 8-bit signed quants.
    Q8_0,
    /// 32 values: f16 scale and f16 sum, 8-bit signed quants.
    Q8_1,
    /// 256 values: 2-bit quants, 4-bit sub-block scales and minimums.
    Q2_K,
    /// 256 values: 3-bit quants, 6-bit signed sub-block scales.
    Q3_K,
    /// 256 values: 4-bit quants, 6-bit sub-block scales and minimums.
    Q4_K,
    /// 256 values: 5-bit quants, 6-bit sub-block scales and minimums.
    Q5_K,
    /// 256 values: 6-bit quants, 8-bit signed sub-block scales.
    Q6_K,
    /// 256 values: f32 scale, 8-bit signed quants and block sums.
    Q8_K,
    /// Importance-matrix 2-bit quant (lattice codebook).
    IQ2_XXS,
    /// Importance-matrix 2-bit quant with scales.
    IQ2_XS,
    /// Importance-matrix 3-bit quant.
    IQ3_XXS,
    /// Importance-matrix 1-bit quant.
    IQ1_S,
    /// Non-linear 4-bit quant, 32-value blocks.
    IQ4_NL,
    /// Importance-matrix 3-bit quant with signs.
    IQ3_S,
    /// Importance-matrix 2-bit quant with signs.
    IQ2_S,
    /// Non-linear 4-bit quant, 256-value blocks.
    IQ4_XS,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 64-bit float.
    F64,
    /// Importance-matrix 1-bit quant with a per-block scale.
    IQ1_M,
    /// bfloat16 (the top half of an f32).
    BF16,
    /// Ternary quant, base-3 packed.
    TQ1_0,
    /// Ternary quant, 2 bits each.
    TQ2_0,
    /// Microscaling FP4 (E2M1 values, E8M0 scale per 32).
    MXFP4,
    /// NVIDIA FP4 (E2M1 values, E4M3 scale per 16).
    NVFP4,
    /// 1-bit quant, 128-value blocks.
    Q1_0,
}

/// Every type with its id, name, values per block and bytes per block (`ggml.c` type traits;
/// Q8_1 is 36 bytes there: gguf-py's table still says 40, from an older layout).
const TYPES: [(GgmlType, u32, &str, usize, usize); 34] = {
    use GgmlType::*;
    [
        (F32, 0, "F32", 1, 4),
        (F16, 1, "F16", 1, 2),
        (Q4_0, 2, "Q4_0", 32, 2 + 16),
        (Q4_1, 3, "Q4_1", 32, 2 + 2 + 16),
        (Q5_0, 6, "Q5_0", 32, 2 + 4 + 16),
        (Q5_1, 7, "Q5_1", 32, 2 + 2 + 4 + 16),
        (Q8_0, 8, "Q8_0", 32, 2 + 32),
        (Q8_1, 9, "Q8_1", 32, 2 + 2 + 32),
        (Q2_K, 10, "Q2_K", QK_K, 2 + 2 + QK_K / 16 + QK_K / 4),
        (Q3_K, 11, "Q3_K", QK_K, 2 + QK_K / 4 + QK_K / 8 + 12),
        (Q4_K, 12, "Q4_K", QK_K, 2 + 2 + QK_K / 2 + 12),
        (Q5_K, 13, "Q5_K", QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12),
        (Q6_K, 14, "Q6_K", QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16),
        (Q8_K, 15, "Q8_K", QK_K, 4 + QK_K + QK_K / 8),
        (IQ2_XXS, 16, "IQ2_XXS", QK_K, 2 + QK_K / 4),
        (IQ2_XS, 17, "IQ2_XS", QK_K, 2 + QK_K / 4 + QK_K / 32),
        (IQ3_XXS, 18, "IQ3_XXS", QK_K, 2 + QK_K / 4 + QK_K / 8),
        (IQ1_S, 19, "IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16),
        (IQ4_NL, 20, "IQ4_NL", 32, 2 + 16),
        (
            IQ3_S,
            21,
            "IQ3_S",
            QK_K,
            2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4,
        ),
        (IQ2_S, 22, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16),
        (IQ4_XS, 23, "IQ4_XS", QK_K, 2 + 2 + QK_K / 2 + QK_K / 64),
        (I8, 24, "I8", 1, 1),
        (I16, 25, "I16", 1, 2),
        (I32, 26, "I32", 1, 4),
        (I64, 27, "I64", 1, 8),
        (F64, 28, "F64", 1, 8),
        (IQ1_M, 29, "IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32),
        (BF16, 30, "BF16", 1, 2),
        (TQ1_0, 34, "TQ1_0", QK_K, 2 + 4 * 13),
        (TQ2_0, 35, "TQ2_0", QK_K, 2 + 64),
        (MXFP4, 39, "MXFP4", 32, 1 + 16),
        (NVFP4, 40, "NVFP4", 64, 4 + 32),
        (Q1_0, 41, "Q1_0", 128, 2 + 16),
    ]
};

/// The types [`dequantize_blocks`] reads, in the order error messages list them.
pub(crate) const DEQUANTIZABLE: [GgmlType; 19] = {
    use GgmlType::*;
    [
        F32, F16, BF16, F64, I8, I16, I32, I64, Q8_0, Q8_1, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
        Q4_K, Q5_K, Q6_K,
    ]
};

impl GgmlType {
    fn row(self) -> (GgmlType, u32, &'static str, usize, usize) {
        // TYPES lists every variant exactly once (checked by a unit test), in variant order.
        TYPES[self as usize]
    }

    /// The type with ggml id `id`, or `None` for an unknown or removed id.
    pub fn from_id(id: u32) -> Option<Self> {
        TYPES.iter().find(|r| r.1 == id).map(|r| r.0)
    }

    /// The ggml id (`GGML_TYPE_*`).
    pub fn id(self) -> u32 {
        self.row().1
    }

    /// The name ggml and gguf-py use, e.g. `"Q4_K"`.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Values per block (1 for plain types, 32 or 256 for most quants).
    pub fn block_size(self) -> usize {
        self.row().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.row().4
    }

    /// Whether [`dequantize_blocks`] can read this type.
    pub fn can_dequantize(self) -> bool {
        DEQUANTIZABLE.contains(&self) || self == GgmlType::Q8_K
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Names of the types attnscope can dequantise, for error messages ("F32, F16, …").
pub(crate) fn dequantizable_names() -> String {
    let mut names: Vec<&str> = DEQUANTIZABLE.iter().map(|t| t.name()).collect();
    names.push(GgmlType::Q8_K.name());
    names.join(", ")
}

/// Converts whole blocks of `ty` in `bytes` to f32 in `out`.
///
/// `bytes.len()` must be a whole number of `ty.type_size()`-byte blocks and `out.len()` must
/// be exactly that many blocks times `ty.block_size()`. Non-finite results (from f16
/// infinities in the file, say) are passed through, not refused.
pub fn dequantize_blocks(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), GgufError> {
    if !ty.can_dequantize() {
        return Err(GgufError::CannotDequantizeType {
            ty,
            supported: dequantizable_names(),
        });
    }
    let n_blocks = bytes.len() / ty.type_size();
    if !bytes.len().is_multiple_of(ty.type_size())
        || n_blocks.checked_mul(ty.block_size()) != Some(out.len())
    {
        return Err(GgufError::BlockSizeMismatch {
            ty,
            n_bytes: bytes.len(),
            n_values: out.len(),
        });
    }
    use GgmlType::*;
    match ty {
        F32 => each_block(bytes, out, |b: &[u8; 4], o: &mut [f32; 1]| {
            o[0] = f32::from_le_bytes(*b)
        }),
        F16 => each_block(bytes, out, |b: &[u8; 2], o: &mut [f32; 1]| {
            o[0] = f16::from_le_bytes(*b).to_f32()
        }),
        // bf16 is the top 16 bits of an f32.
        BF16 => each_block(bytes, out, |b: &[u8; 2], o: &mut [f32; 1]| {
            o[0] = f32::from_bits(u32::from(u16::from_le_bytes(*b)) << 16)
        }),
        F64 => each_block(bytes, out, |b: &[u8; 8], o: &mut [f32; 1]| {
            o[0] = f64::from_le_bytes(*b) as f32
        }),
        I8 => each_block(bytes, out, |b: &[u8; 1], o: &mut [f32; 1]| {
            o[0] = f32::from(b[0] as i8)
        }),
        I16 => each_block(bytes, out, |b: &[u8; 2], o: &mut [f32; 1]| {
            o[0] = f32::from(i16::from_le_bytes(*b))
        }),
        I32 => each_block(bytes, out, |b: &[u8; 4], o: &mut [f32; 1]| {
            o[0] = i32::from_le_bytes(*b) as f32
        }),
        I64 => each_block(bytes, out, |b: &[u8; 8], o: &mut [f32; 1]| {
            o[0] = i64::from_le_bytes(*b) as f32
        }),
        Q4_0 => each_block(bytes, out, q4_0),
        Q4_1 => each_block(bytes, out, q4_1),
        Q5_0 => each_block(bytes, out, q5_0),
        Q5_1 => each_block(bytes, out, q5_1),
        Q8_0 => each_block(bytes, out, q8_0),
        Q8_1 => each_block(bytes, out, q8_1),
        Q2_K => each_block(bytes, out, q2_k),
        Q3_K => each_block(bytes, out, q3_k),
        Q4_K => each_block(bytes, out, q4_k),
        Q5_K => each_block(bytes, out, q5_k),
        Q6_K => each_block(bytes, out, q6_k),
        Q8_K => each_block(bytes, out, q8_k),
        // can_dequantize() refused every other type above.
        _ => {
            return Err(GgufError::CannotDequantizeType {
                ty,
                supported: dequantizable_names(),
            });
        }
    }
    Ok(())
}

/// Runs `f` on each `B`-byte block and its `N` output values. The caller has checked that
/// both slices hold the same whole number of blocks.
fn each_block<const B: usize, const N: usize>(
    bytes: &[u8],
    out: &mut [f32],
    f: impl Fn(&[u8; B], &mut [f32; N]),
) {
    let (blocks, _) = bytes.as_chunks::<B>();
    let (outs, _) = out.as_chunks_mut::<N>();
    for (b, o) in blocks.iter().zip(outs) {
        f(b, o);
    }
}

/// The f16 at `b[i..i + 2]` as f32 (callers index inside fixed-size blocks).
#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

// Legacy quants. Value j < 16 of a block is the low nibble of byte j, value j + 16 the high
// nibble; a 5th bit, when there is one, is bit j of the 32-bit `qh`.

/// `block_q4_0 { d: f16, qs: [u8; 16] }`: x = d·(q − 8).
fn q4_0(b: &[u8; 18], o: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..16 {
        let q = b[2 + j];
        o[j] = d * f32::from(i16::from(q & 0x0F) - 8);
        o[j + 16] = d * f32::from(i16::from(q >> 4) - 8);
    }
}

/// `block_q4_1 { d: f16, m: f16, qs: [u8; 16] }`: x = d·q + m.
fn q4_1(b: &[u8; 20], o: &mut [f32; 32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for j in 0..16 {
        let q = b[4 + j];
        o[j] = d * f32::from(q & 0x0F) + m;
        o[j + 16] = d * f32::from(q >> 4) + m;
    }
}

/// `block_q5_0 { d: f16, qh: [u8; 4], qs: [u8; 16] }`: x = d·(q − 16).
fn q5_0(b: &[u8; 22], o: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for j in 0..16 {
        let q = b[6 + j];
        let lo = (q & 0x0F) | ((((qh >> j) & 1) as u8) << 4);
        let hi = (q >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
        o[j] = d * f32::from(i16::from(lo) - 16);
        o[j + 16] = d * f32::from(i16::from(hi) - 16);
    }
}

/// `block_q5_1 { d: f16, m: f16, qh: [u8; 4], qs: [u8; 16] }`: x = d·q + m.
fn q5_1(b: &[u8; 24], o: &mut [f32; 32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for j in 0..16 {
        let q = b[8 + j];
        let lo = (q & 0x0F) | ((((qh >> j) & 1) as u8) << 4);
        let hi = (q >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
        o[j] = d * f32::from(lo) + m;
        o[j + 16] = d * f32::from(hi) + m;
    }
}

/// `block_q8_0 { d: f16, qs: [i8; 32] }`: x = d·q.
fn q8_0(b: &[u8; 34], o: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        o[j] = d * f32::from(b[2 + j] as i8);
    }
}

/// `block_q8_1 { d: f16, s: f16, qs: [i8; 32] }`: x = d·q (s = d·Σq only speeds dot products).
fn q8_1(b: &[u8; 36], o: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        o[j] = d * f32::from(b[4 + j] as i8);
    }
}

// K-quants: 256 values in 8 sub-blocks of 32 (Q4_K, Q5_K) or 16 sub-blocks of 16 (Q2_K,
// Q3_K, Q6_K). Low bits of value `e` sit in the two 128-value halves: byte `h·32 + l` of the
// quants holds four 2-bit fields for values `h·128 + s·32 + l`, s = 0..4 (Q2_K, Q3_K,
// Q6_K's high bits), or two nibbles for values `c·64 + l` and `c·64 + 32 + l` (Q4_K, Q5_K).

/// `block_q2_K { scales: [u8; 16], qs: [u8; 64], d: f16, dmin: f16 }`: each 16-value
/// sub-block i has a 4-bit scale (low nibble) and minimum (high nibble):
/// x = (d·scᵢ)·q − dmin·mᵢ, q ∈ 0..4.
fn q2_k(b: &[u8; 84], o: &mut [f32; 256]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    for e in 0..QK_K {
        let (half, shift, l) = (e / 128, (e % 128) / 32, e % 32);
        let sc = scales[e / 16];
        let dl = d * f32::from(sc & 0x0F);
        let ml = dmin * f32::from(sc >> 4);
        let q = (qs[half * 32 + l] >> (2 * shift)) & 3;
        o[e] = dl * f32::from(q) - ml;
    }
}

/// `block_q3_K { hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: f16 }`: 2 low bits
/// in `qs`, and a high bit in `hmask` that, when *clear*, subtracts 4: q ∈ −4..4. The 16
/// scales are 6-bit, stored as low nibbles in bytes 0..8 and 2-bit tops in bytes 8..12, and
/// centred on 32: x = d·(sc − 32)·q.
fn q3_k(b: &[u8; 110], o: &mut [f32; 256]) {
    let (hmask, qs, sc) = (&b[0..32], &b[32..96], &b[96..108]);
    let d = f16_at(b, 108);
    let mut dl = [0f32; 16];
    for (i, dl) in dl.iter_mut().enumerate() {
        let lo = if i < 8 { sc[i] & 0x0F } else { sc[i - 8] >> 4 };
        let hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        *dl = d * f32::from(i16::from(lo | (hi << 4)) - 32);
    }
    for e in 0..QK_K {
        let (half, shift, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = (qs[half * 32 + l] >> (2 * shift)) & 3;
        let high_clear = (hmask[l] >> (e / 32)) & 1 == 0;
        let q = i16::from(low) - if high_clear { 4 } else { 0 };
        o[e] = dl[e / 16] * f32::from(q);
    }
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) of a Q4_K/Q5_K block, packed in 12
/// bytes: for j < 4 the low 6 bits of bytes j and j + 4; for j ≥ 4 a nibble of byte j + 4
/// plus the top 2 bits of bytes j − 4 and j.
fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Sub-block j's scale and minimum of a Q4_K / Q5_K block: (d·scⱼ, dmin·mⱼ).
fn scaled_min_k4(j: usize, d: f32, dmin: f32, scales: &[u8]) -> (f32, f32) {
    let (sc, m) = scale_min_k4(j, scales);
    (d * f32::from(sc), dmin * f32::from(m))
}

/// `block_q4_K { d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128] }`:
/// x = (d·scᵢ)·q − dmin·mᵢ over 8 sub-blocks of 32, q ∈ 0..16.
fn q4_k(b: &[u8; 144], o: &mut [f32; 256]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for c in 0..4 {
        let (d1, m1) = scaled_min_k4(2 * c, d, dmin, scales);
        let (d2, m2) = scaled_min_k4(2 * c + 1, d, dmin, scales);
        for l in 0..32 {
            let q = qs[c * 32 + l];
            o[c * 64 + l] = d1 * f32::from(q & 0x0F) - m1;
            o[c * 64 + 32 + l] = d2 * f32::from(q >> 4) - m2;
        }
    }
}

/// `block_q5_K { d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128] }`: as
/// Q4_K with a 5th bit: bit i of `qh[l]` for value l of sub-block i; q ∈ 0..32.
fn q5_k(b: &[u8; 176], o: &mut [f32; 256]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
    for c in 0..4 {
        let (d1, m1) = scaled_min_k4(2 * c, d, dmin, scales);
        let (d2, m2) = scaled_min_k4(2 * c + 1, d, dmin, scales);
        for l in 0..32 {
            let q = qs[c * 32 + l];
            let h1 = ((qh[l] >> (2 * c)) & 1) << 4;
            let h2 = ((qh[l] >> (2 * c + 1)) & 1) << 4;
            o[c * 64 + l] = d1 * f32::from((q & 0x0F) | h1) - m1;
            o[c * 64 + 32 + l] = d2 * f32::from((q >> 4) | h2) - m2;
        }
    }
}

/// `block_q6_K { ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16 }`: 4 low bits in
/// `ql` (byte `h·64 + k` holds values `h·128 + k` and `h·128 + 64 + k`), 2 high bits in `qh`,
/// centred on 32, with a signed 8-bit scale per 16 values: x = (d·scᵢ)·(q − 32).
fn q6_k(b: &[u8; 210], o: &mut [f32; 256]) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(b, 208);
    for e in 0..QK_K {
        let (half, r) = (e / 128, e % 128);
        let low = (ql[half * 64 + r % 64] >> (4 * (r / 64))) & 0x0F;
        let high = (qh[half * 32 + r % 32] >> (2 * (r / 32))) & 3;
        let q = i16::from(low | (high << 4)) - 32;
        o[e] = (d * f32::from(scales[e / 16] as i8)) * f32::from(q);
    }
}

/// `block_q8_K { d: f32, qs: [i8; 256], bsums: [i16; 16] }`: x = d·q (the sums only speed
/// dot products).
fn q8_k(b: &[u8; 292], o: &mut [f32; 256]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for e in 0..QK_K {
        o[e] = d * f32::from(b[4 + e] as i8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_table_matches_variants() {
        for (i, row) in TYPES.iter().enumerate() {
            assert_eq!(row.0 as usize, i, "{} out of order", row.2);
            assert_eq!(GgmlType::from_id(row.1), Some(row.0));
            assert_eq!(format!("{:?}", row.0), row.2);
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 42, u32::MAX] {
            assert_eq!(GgmlType::from_id(removed), None, "id {removed}");
        }
    }

    #[test]
    fn block_sizes_match_ggml_structs() {
        use GgmlType::*;
        let sizes = [
            (Q4_0, 18),
            (Q4_1, 20),
            (Q5_0, 22),
            (Q5_1, 24),
            (Q8_0, 34),
            (Q8_1, 36),
            (Q2_K, 84),
            (Q3_K, 110),
            (Q4_K, 144),
            (Q5_K, 176),
            (Q6_K, 210),
            (Q8_K, 292),
        ];
        for (ty, bytes) in sizes {
            assert_eq!(ty.type_size(), bytes, "{ty}");
        }
    }

    #[test]
    fn q8_1_is_d_times_q() {
        let mut b = [0u8; 36];
        b[0..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        b[2..4].copy_from_slice(&f16::from_f32(99.0).to_le_bytes());
        for j in 0..32 {
            b[4 + j] = (j as i8 - 16) as u8;
        }
        let mut o = [0f32; 32];
        dequantize_blocks(GgmlType::Q8_1, &b, &mut o).unwrap();
        for (j, v) in o.iter().enumerate() {
            assert_eq!(*v, 0.5 * (j as f32 - 16.0));
        }
    }

    #[test]
    fn integer_and_f64_types() {
        let mut o = [0f32; 2];
        dequantize_blocks(GgmlType::I8, &[0xFF, 7], &mut o).unwrap();
        assert_eq!(o, [-1.0, 7.0]);
        let bytes: Vec<u8> = [-3i16, 300].iter().flat_map(|v| v.to_le_bytes()).collect();
        dequantize_blocks(GgmlType::I16, &bytes, &mut o).unwrap();
        assert_eq!(o, [-3.0, 300.0]);
        let bytes: Vec<u8> = [-1.5f64, 2.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        dequantize_blocks(GgmlType::F64, &bytes, &mut o).unwrap();
        assert_eq!(o, [-1.5, 2.25]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut o = [0f32; 32];
        let e = dequantize_blocks(GgmlType::Q4_0, &[0; 17], &mut o).unwrap_err();
        assert!(e.to_string().contains("Q4_0"), "{e}");
        let e = dequantize_blocks(GgmlType::Q4_0, &[0; 36], &mut o).unwrap_err();
        assert!(e.to_string().contains("36 bytes"), "{e}");
        let e = dequantize_blocks(GgmlType::IQ2_XXS, &[0; 66], &mut [0f32; 256]).unwrap_err();
        assert!(e.to_string().contains("IQ2_XXS"), "{e}");
    }
}
