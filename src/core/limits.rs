//! Size limits of the core: every size that comes from a user or a file (d_model, heads,
//! token counts, vector widths, `max_tokens`, window, local D) is checked here against an
//! explicit cap, and then the whole trace against one memory budget, before anything is
//! allocated. A spec that asks for `"d_model": 2147483648` is refused with a message that
//! says how much memory it would have needed, instead of aborting on a failed allocation.
//!
//! The estimate counts the f32 matrices a [`Trace`](super::Trace) keeps
//! (n_q = queries, n_k = keys, d = d_model, h = heads, d_k = d / h, d_a = additive width):
//!
//! ```text
//! global:   X_q, X_k, Q, K, V, concat, output     (3·n_q + 3·n_k)·d   (+ X's twice while embedding)
//!           W_Q, W_K, W_V, W_O                     4·d²
//! per head: raw, scaled, logits, weights          4·n_q·n_k  (+ ¼ for the bool mask)
//!           q, k, v, context                      (2·n_q + 2·n_k)·d_k
//!           W_a or W_p, W₁, W₂, v_a, v_p           2·d_k² + 2·d_a·d_k + 2·d_k
//! ```
//!
//! times 4 bytes. It is an upper estimate within a few percent of what the trace holds.

use super::error::{CoreError, OverLimitWhy};
use super::spec::{MAX_TOKENS, Sequence, Spec};

/// Widest d_model (and explicit vector) the core accepts: 4096 keeps W_Q … W_O at 256 MiB.
pub const MAX_D_MODEL: usize = 4096;

/// Most heads a spec may ask for (heads must also divide d_model, so h ≤ d_model).
pub const MAX_HEADS: usize = 256;

/// Largest window and local-span half width D: a value of [`MAX_TOKENS`] already lets every
/// query see every key, so nothing larger means anything.
pub const MAX_SPAN: usize = MAX_TOKENS;

/// Memory budget of one trace in bytes (4 GiB): `compute` refuses a spec whose estimated
/// trace is larger. [`compute_with_budget`](super::pipeline::compute_with_budget) takes a
/// smaller one (the fuzzer and the property tests use a few MiB).
pub const MAX_TRACE_BYTES: u64 = 4 << 30;

/// The sizes a spec asks for, known before anything is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSize {
    /// Queries.
    pub n_q: usize,
    /// Keys.
    pub n_k: usize,
    /// Model width.
    pub d_model: usize,
    /// Heads.
    pub heads: usize,
    /// Width of the additive score's hidden layer (d_k unless explicit W₁ says otherwise).
    pub d_a: usize,
}

impl TraceSize {
    /// Estimated bytes of the trace (see the module docs for the formula).
    pub fn bytes(&self) -> u128 {
        let [n_q, n_k, d, h, d_a] =
            [self.n_q, self.n_k, self.d_model, self.heads, self.d_a].map(|x| x as u128);
        let d_k = d / h.max(1);
        let global = (5 * n_q + 5 * n_k) * d + 4 * d * d;
        let per_head = 4 * n_q * n_k
            + n_q * n_k / 4
            + (2 * n_q + 2 * n_k) * d_k
            + 2 * d_k * d_k
            + 2 * d_a * d_k
            + 2 * d_k;
        4 * (global + h * per_head)
    }

    /// Bytes of the n × n matrices (scores, scaled, logits, weights, mask) of one head.
    pub fn head_matrix_bytes(&self) -> u128 {
        let (n_q, n_k) = (self.n_q as u128, self.n_k as u128);
        4 * (4 * n_q * n_k + n_q * n_k / 4)
    }

    /// Estimated peak bytes of a lean trace: the whole trace without any head's n × n
    /// matrices, plus those of the `kept` heads and of the `in_flight` heads being computed,
    /// plus every head's overview (≤ 256² floats) and row statistics.
    pub fn lean_bytes(&self, kept: usize, in_flight: usize) -> u128 {
        let h = self.heads as u128;
        let side = super::pool::OVERVIEW_SIDE as u128;
        let small = self.bytes() - h * self.head_matrix_bytes();
        let overview = (self.n_q as u128).min(side) * (self.n_k as u128).min(side);
        let stats = 4 * self.n_q as u128;
        small
            + (kept.min(self.heads) + in_flight.min(self.heads)) as u128 * self.head_matrix_bytes()
            + h * 4 * (overview + stats)
    }
}

/// The largest spec (or session) file read, in bytes (16 MiB: a spec with explicit
/// matrices at the largest d_model is a few MiB of JSON).
pub const MAX_SPEC_BYTES: u64 = 16 << 20;

/// The largest `config.json` of a model read, in bytes (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The largest `tokenizer.json` read, in bytes (Gemma 3's, among the largest, is 33 MB).
pub const MAX_TOKENIZER_BYTES: u64 = 256 << 20;

/// UTF-8 text from `r`, at most `max` bytes: reading stops one byte past the limit, so a
/// pipe, `/dev/zero` or a file that grows while it is read (whose size the file system does
/// not tell beforehand) is refused instead of filling memory. More than `max` bytes is an
/// error of kind [`std::io::ErrorKind::FileTooLarge`]; text that is not UTF-8 one of kind
/// `InvalidData`.
pub fn read_text_from(r: impl std::io::Read, max: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    r.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("more than {} ({max} bytes)", human_bytes(u128::from(max))),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// [`read_text_from`] on the file at `path`.
pub fn read_text(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    read_text_from(std::fs::File::open(path)?, max)
}

/// Formats a byte count the way people read it: "512 B", "3.5 MiB", "64 GiB", "2.0e3 EiB".
pub fn human_bytes(bytes: u128) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    human_bytes_f64(bytes as f64)
}

/// [`human_bytes`] of an estimate too large for any integer type (a d_model near 2⁶³).
pub fn human_bytes_f64(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{value:.0} B"),
        _ if value >= 1e4 => format!("{value:.1e} {}", UNITS[unit]),
        _ if value.fract() == 0.0 || value >= 100.0 => format!("{value:.0} {}", UNITS[unit]),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// Checks a spec's sizes against the caps above and its estimated trace against
/// `budget_bytes`, without allocating anything proportional to them (text is tokenized,
/// which costs what the text itself costs). Returns the sizes on success.
pub fn check_spec(spec: &Spec, budget_bytes: u64) -> Result<TraceSize, CoreError> {
    let size = sizes(spec)?;
    within(&size, size.bytes(), budget_bytes)
}

/// [`check_spec`] for a lean trace ([`compute_lean`](super::pipeline::compute_lean)) that
/// keeps the n × n matrices of `kept` heads and computes `in_flight` heads at a time.
pub fn check_spec_lean(
    spec: &Spec,
    budget_bytes: u64,
    kept: usize,
    in_flight: usize,
) -> Result<TraceSize, CoreError> {
    let size = sizes(spec)?;
    within(&size, size.lean_bytes(kept, in_flight), budget_bytes)
}

/// `size` if `bytes` fits the budget, else the error that says how much it needed.
fn within(size: &TraceSize, bytes: u128, budget_bytes: u64) -> Result<TraceSize, CoreError> {
    if bytes > u128::from(budget_bytes) {
        let TraceSize {
            n_q,
            n_k,
            d_model,
            heads,
            ..
        } = *size;
        return Err(CoreError::TooLarge {
            what: format!("n_q = {n_q}, n_k = {n_k}, d_model = {d_model}, heads = {heads}"),
            need: human_bytes(bytes),
            limit: human_bytes(u128::from(budget_bytes)),
        });
    }
    Ok(*size)
}

/// Every size of a spec checked against its cap (nothing allocated).
fn sizes(spec: &Spec) -> Result<TraceSize, CoreError> {
    let heads = spec.heads_checked()?;
    if heads > MAX_HEADS {
        return Err(over("heads", heads, MAX_HEADS, OverLimitWhy::None));
    }
    if let Some(max) = spec.max_tokens
        && max > MAX_TOKENS
    {
        return Err(over("max_tokens", max, MAX_TOKENS, OverLimitWhy::None));
    }
    for (field, value) in [("window", spec.window), ("local_d", Some(spec.local_d))] {
        if let Some(v) = value
            && v > MAX_SPAN as i64
        {
            return Err(over(field, v, MAX_SPAN, OverLimitWhy::SpanCoversEveryKey));
        }
    }
    // d_model: the spec's, else the target vectors' width, else the default for text.
    let d_model = match (spec.d_model, width(&spec.target)) {
        (Some(d), _) => d,
        (None, Some(w)) => w,
        (None, None) => super::pipeline::DEFAULT_D_MODEL,
    };
    let widths = [width(&spec.target), spec.source.as_ref().and_then(width)];
    for d in std::iter::once(d_model).chain(widths.into_iter().flatten()) {
        if d > MAX_D_MODEL {
            // In f64: d may be near 2⁶⁴, and a wrapped integer estimate would read "0 B".
            let projections = 16.0 * d as f64 * d as f64;
            return Err(over(
                "d_model",
                d,
                MAX_D_MODEL,
                OverLimitWhy::Projections(human_bytes_f64(projections)),
            ));
        }
    }
    let n_q = seq_len(spec, &spec.target, "target")?;
    let n_k = match &spec.source {
        Some(src) => seq_len(spec, src, "source")?,
        None => n_q,
    };
    let d_k = d_model / heads;
    let d_a = spec
        .score_params
        .as_ref()
        .and_then(|p| p.w1.as_ref())
        .and_then(|l| l.iter().map(Vec::len).max())
        .unwrap_or(d_k)
        .max(d_k);
    Ok(TraceSize {
        n_q,
        n_k,
        d_model,
        heads,
        d_a,
    })
}

/// Width of explicit vectors (the longest row, so a ragged list is not under-counted).
fn width(seq: &Sequence) -> Option<usize> {
    seq.vectors
        .as_ref()
        .and_then(|v| v.iter().map(Vec::len).max())
}

/// Tokens a sequence will have after `max_tokens`, refusing more than [`MAX_TOKENS`].
fn seq_len(spec: &Spec, seq: &Sequence, which: &'static str) -> Result<usize, CoreError> {
    let len = match (&seq.text, &seq.vectors) {
        (Some(text), None) => {
            let n = spec.tokenizer.tokenize(text).len();
            spec.max_tokens.map_or(n, |m| n.min(m))
        }
        (None, Some(v)) => v.len(),
        // Both or neither: `embed` names the mistake; nothing is allocated for it.
        _ => 0,
    };
    if len > MAX_TOKENS {
        return Err(CoreError::TooLong {
            which,
            len,
            limit: MAX_TOKENS,
        });
    }
    Ok(len)
}

fn over(field: &'static str, value: impl ToString, limit: usize, why: OverLimitWhy) -> CoreError {
    CoreError::OverLimit {
        field,
        value: value.to_string(),
        limit,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_reads_naturally() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(64 << 30), "64 GiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
    }

    /// The estimate must not under-count: for every committed spec it is at least the bytes
    /// the computed trace actually holds.
    #[test]
    fn estimate_is_an_upper_bound_of_every_fixture_trace() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/specs");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            let spec = Spec::from_json(&std::fs::read_to_string(&path).expect("read"))
                .expect("fixture parses");
            let Ok(trace) = super::super::compute(&spec) else {
                continue;
            };
            let size = check_spec(&spec, MAX_TRACE_BYTES).expect("computed, so it fits");
            let f32s = |a: &ndarray::Array2<f32>| a.len();
            let mut held = [
                &trace.x_q,
                &trace.x_k,
                &trace.w_q,
                &trace.w_k,
                &trace.w_v,
                &trace.w_o,
                &trace.concat,
                &trace.output,
            ]
            .map(f32s)
            .iter()
            .sum::<usize>()
                * 4;
            for t in &trace.head_traces {
                held += [
                    &t.q,
                    &t.k,
                    &t.v,
                    &t.raw_scores,
                    &t.scaled,
                    &t.logits,
                    &t.weights,
                    &t.context,
                ]
                .map(f32s)
                .iter()
                .sum::<usize>()
                    * 4
                    + t.allowed.len();
            }
            assert!(
                size.bytes() >= held as u128,
                "{}: estimate {} < held {held}",
                path.display(),
                size.bytes()
            );
            checked += 1;
        }
        assert!(checked > 50, "only {checked} fixtures computed");
    }

    #[test]
    fn default_spec_fits_and_d_model_2_pow_31_does_not() {
        let spec = Spec::for_text("the cat sat");
        let size = check_spec(&spec, MAX_TRACE_BYTES).expect("fits");
        assert_eq!((size.n_q, size.d_model, size.heads), (3, 8, 1));
        let big = Spec {
            d_model: Some(1 << 31),
            ..spec
        };
        let e = check_spec(&big, MAX_TRACE_BYTES).unwrap_err().to_string();
        assert!(
            e.contains("d_model = 2147483648") && e.contains("EiB"),
            "{e}"
        );
    }
}
