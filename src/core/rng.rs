//! Deterministic toy numbers: one splitmix64 stream per label, the same on every machine.
//!
//! The recipe is documented in `docs/spec-format.md` and re-implemented independently in
//! `tools/numpy_reference.py`; change neither without the other.

use ndarray::{Array1, Array2};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// 64-bit FNV-1a of a byte string.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A splitmix64 stream seeded by a label and a user seed.
#[derive(Clone, Debug)]
pub struct Stream {
    state: u64,
}

impl Stream {
    /// The stream for `label` under `seed`: state₀ = fnv1a64(label) XOR (seed · golden).
    pub fn new(label: &str, seed: u64) -> Self {
        Stream {
            state: fnv1a64(label.as_bytes()) ^ seed.wrapping_mul(GOLDEN),
        }
    }

    /// The next raw 64-bit output of splitmix64.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value uniform in [−a, a): u = top 24 bits / 2²⁴, x = (2u − 1)·a, in f32.
    pub fn next_sym(&mut self, a: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / 16_777_216.0;
        (2.0 * u - 1.0) * a
    }
}

/// A `rows × cols` matrix filled row-major from the stream for `label`, entries in
/// [−√(3/rows), √(3/rows)) so that x·W keeps unit variance (fan-in = rows).
pub fn seeded_matrix(label: &str, seed: u64, rows: usize, cols: usize) -> Array2<f32> {
    let a = (3.0 / rows.max(1) as f32).sqrt();
    let mut s = Stream::new(label, seed);
    Array2::from_shape_fn((rows, cols), |_| s.next_sym(a))
}

/// A vector of `len` values from the stream for `label`, in [−√(3/len), √(3/len)).
pub fn seeded_vector(label: &str, seed: u64, len: usize) -> Array1<f32> {
    let a = (3.0 / len.max(1) as f32).sqrt();
    let mut s = Stream::new(label, seed);
    Array1::from_shape_fn(len, |_| s.next_sym(a))
}

/// A token's toy embedding: label `"tok:" + token`, entries in [−√3, √3) (unit variance).
pub fn token_embedding(token: &str, seed: u64, d_model: usize) -> Vec<f32> {
    let mut s = Stream::new(&format!("tok:{token}"), seed);
    let a = 3.0f32.sqrt();
    (0..d_model).map(|_| s.next_sym(a)).collect()
}

/// Sinusoidal position encoding (Vaswani et al. 2017), computed in f64:
/// PE[pos][2m] = sin(pos / 10000^(2m/d)), PE[pos][2m+1] = cos(pos / 10000^(2m/d)).
pub fn sinusoidal(pos: usize, d_model: usize) -> Vec<f32> {
    (0..d_model)
        .map(|i| {
            let m2 = (i / 2 * 2) as f64;
            let angle = pos as f64 / 10000f64.powf(m2 / d_model as f64);
            (if i % 2 == 0 { angle.sin() } else { angle.cos() }) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_do_not_drift() {
        // Pinned so that a change to the recipe (which would silently change every lesson and
        // fixture) fails here first.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        let mut s = Stream { state: 0 };
        assert_eq!(s.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(s.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn embeddings_are_deterministic_and_distinct() {
        assert_eq!(token_embedding("猫", 7, 8), token_embedding("猫", 7, 8));
        assert_ne!(token_embedding("猫", 7, 8), token_embedding("猫", 8, 8));
        assert_ne!(token_embedding("cat", 7, 8), token_embedding("dog", 7, 8));
        let e = token_embedding("x", 1, 1000);
        assert!(e.iter().all(|v| v.abs() <= 3f32.sqrt()));
        let mean = e.iter().sum::<f32>() / 1000.0;
        assert!(mean.abs() < 0.15, "mean {mean}");
    }

    #[test]
    fn sinusoidal_matches_the_formula() {
        let pe = sinusoidal(3, 4);
        assert!((pe[0] - 3f32.sin()).abs() < 1e-6);
        assert!((pe[1] - 3f32.cos()).abs() < 1e-6);
        assert!((pe[2] - (3.0f64 / 100.0).sin() as f32).abs() < 1e-6);
    }
}
