//! The whole pipeline for a spec: embed → project → per-head attention → concat → output.
//! Heads run in parallel on the rayon pool.

use ndarray::{Array1, Array2};
use rayon::prelude::*;

use super::attend::{
    HeadConfig, Score, Span, attend_head_with_input, concat_heads, head_columns, matmul,
};
use super::error::CoreError;
use super::kernels::Backend;
use super::limits::MAX_TRACE_BYTES;
use super::mechanism::Mechanism;
use super::pool::{OVERVIEW_SIDE, PoolMethod, pool};
use super::rng::{Stream, seeded_matrix, seeded_vector, sinusoidal, token_embedding};
use super::spec::{
    LocalPSource, MAX_TOKENS, ProjectionKind, Projections, Rows, ScoreKind, Sequence, SpanKind,
    Spec, check_finite, rows_to_array,
};
use super::tokenize::Tokenizer;
use super::trace::{HeadTrace, Trace};

/// d_model for text when the spec does not give one.
pub const DEFAULT_D_MODEL: usize = 8;

/// Tokens and embeddings of one sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedded {
    /// Display tokens.
    pub tokens: Vec<String>,
    /// X, n × d_model.
    pub x: Array2<f32>,
    /// How many tokens the text had before truncation (`None` = not truncated).
    pub truncated_from: Option<usize>,
}

/// Embeds a sequence: toy embeddings (+ positions) for text, or the explicit vectors.
pub fn embed(
    which: &'static str,
    seq: &Sequence,
    tokenizer: Tokenizer,
    d_model: Option<usize>,
    seed: u64,
    positions: bool,
    max_tokens: Option<usize>,
) -> Result<Embedded, CoreError> {
    let mut truncated_from = None;
    let (tokens, x) = match (&seq.text, &seq.vectors) {
        (Some(_), Some(_)) => {
            return Err(CoreError::invalid(
                which_field(which),
                "give either text or vectors, not both",
            ));
        }
        (None, None) => return Err(CoreError::EmptySequence(which)),
        (Some(text), None) => {
            let mut tokens = tokenizer.tokenize(text);
            if let Some(max) = max_tokens
                && tokens.len() > max
            {
                truncated_from = Some(tokens.len());
                tokens.truncate(max);
            }
            check_len(which, tokens.len())?;
            let d = d_model.unwrap_or(DEFAULT_D_MODEL);
            if d == 0 {
                return Err(CoreError::invalid("d_model", "must be ≥ 1"));
            }
            let mut x = Array2::zeros((tokens.len(), d));
            for (i, tok) in tokens.iter().enumerate() {
                let e = token_embedding(tok, seed, d);
                let pe = if positions {
                    sinusoidal(i, d)
                } else {
                    vec![0.0; d]
                };
                for m in 0..d {
                    x[[i, m]] = e[m] + pe[m];
                }
            }
            (tokens, x)
        }
        (None, Some(vectors)) => {
            if vectors.is_empty() {
                return Err(CoreError::EmptySequence(which));
            }
            check_len(which, vectors.len())?;
            let x = rows_to_array(&format!("{which} vectors"), vectors, None)?;
            if x.ncols() == 0 {
                return Err(CoreError::invalid(
                    which_field(which),
                    "vectors must have at least one number",
                ));
            }
            if let Some(d) = d_model
                && d != x.ncols()
            {
                return Err(CoreError::Shape {
                    what: format!("{which} vectors"),
                    expected: format!("d_model = {d} numbers per vector"),
                    got: format!("{}", x.ncols()),
                });
            }
            let tokens = match &seq.tokens {
                Some(t) if t.len() == x.nrows() => t.clone(),
                Some(t) => {
                    return Err(CoreError::Shape {
                        what: format!("{which} tokens"),
                        expected: format!("{} labels (one per vector)", x.nrows()),
                        got: format!("{}", t.len()),
                    });
                }
                None => (1..=x.nrows()).map(|i| format!("x{i}")).collect(),
            };
            (tokens, x)
        }
    };
    if tokens.is_empty() {
        return Err(CoreError::EmptySequence(which));
    }
    Ok(Embedded {
        tokens,
        x,
        truncated_from,
    })
}

fn which_field(which: &'static str) -> &'static str {
    if which == "source" {
        "source"
    } else {
        "target"
    }
}

fn check_len(which: &'static str, len: usize) -> Result<(), CoreError> {
    if len > MAX_TOKENS {
        return Err(CoreError::TooLong {
            which,
            len,
            limit: MAX_TOKENS,
        });
    }
    Ok(())
}

/// A d × d identity.
fn identity(d: usize) -> Array2<f32> {
    Array2::eye(d)
}

/// The four projection matrices (each d_model × d_model).
fn projections(spec: &Spec, d: usize) -> Result<[Array2<f32>; 4], CoreError> {
    let names = ["w_q", "w_k", "w_v", "w_o"];
    Ok(match &spec.projections {
        Projections::Named(ProjectionKind::Identity) => {
            [identity(d), identity(d), identity(d), identity(d)]
        }
        Projections::Named(ProjectionKind::Seeded) => {
            names.map(|n| seeded_matrix(n, spec.seed, d, d))
        }
        Projections::Explicit(e) => {
            let given = [&e.w_q, &e.w_k, &e.w_v, &e.w_o];
            let mut out = [identity(d), identity(d), identity(d), identity(d)];
            for ((slot, m), name) in out.iter_mut().zip(given).zip(names) {
                if let Some(m) = m {
                    *slot = rows_to_array(&format!("projections.{name}"), m, Some((d, d)))?;
                }
            }
            out
        }
    })
}

/// The h-th explicit matrix of a per-head list, with its shape checked.
fn per_head_matrix(
    what: &str,
    list: &Option<Vec<Rows>>,
    head: usize,
    heads: usize,
    shape: (usize, usize),
) -> Result<Option<Array2<f32>>, CoreError> {
    let Some(list) = list else { return Ok(None) };
    if list.len() != heads {
        return Err(CoreError::Shape {
            what: what.to_owned(),
            expected: format!("one matrix per head ({heads})"),
            got: format!("{}", list.len()),
        });
    }
    rows_to_array(&format!("{what}[{head}]"), &list[head], Some(shape)).map(Some)
}

/// The h-th explicit vector of a per-head list, with its length checked.
fn per_head_vector(
    what: &str,
    list: &Option<Vec<Vec<f32>>>,
    head: usize,
    heads: usize,
    len: usize,
) -> Result<Option<Array1<f32>>, CoreError> {
    let Some(list) = list else { return Ok(None) };
    if list.len() != heads {
        return Err(CoreError::Shape {
            what: what.to_owned(),
            expected: format!("one vector per head ({heads})"),
            got: format!("{}", list.len()),
        });
    }
    let arr = rows_to_array(
        &format!("{what}[{head}]"),
        &vec![list[head].clone()],
        Some((1, len)),
    )?;
    Ok(Some(arr.row(0).to_owned()))
}

/// Resolves the score function for one head (explicit parameters or seeded ones).
fn head_score(spec: &Spec, head: usize, heads: usize, d_k: usize) -> Result<Score, CoreError> {
    let p = spec.score_params.clone().unwrap_or_default();
    let seed = spec.seed;
    Ok(match spec.score {
        ScoreKind::Dot => Score::Dot,
        ScoreKind::ScaledDot => Score::ScaledDot,
        ScoreKind::Cosine => Score::Cosine,
        ScoreKind::General => Score::General {
            w_a: per_head_matrix("score_params.w_a", &p.w_a, head, heads, (d_k, d_k))?
                .unwrap_or_else(|| seeded_matrix(&format!("w_a/h{head}"), seed, d_k, d_k)),
        },
        ScoreKind::Additive => {
            // d_a is taken from explicit W₁ when given (any d_a ≥ 1), else d_k.
            let d_a =
                p.w1.as_ref()
                    .and_then(|l| l.get(head))
                    .map_or(d_k, Vec::len);
            if d_a == 0 {
                return Err(CoreError::invalid(
                    "score_params.w1",
                    "needs at least one row",
                ));
            }
            Score::Additive {
                w1: per_head_matrix("score_params.w1", &p.w1, head, heads, (d_a, d_k))?
                    .unwrap_or_else(|| seeded_matrix(&format!("w1/h{head}"), seed, d_a, d_k)),
                w2: per_head_matrix("score_params.w2", &p.w2, head, heads, (d_a, d_k))?
                    .unwrap_or_else(|| seeded_matrix(&format!("w2/h{head}"), seed, d_a, d_k)),
                v: per_head_vector("score_params.v", &p.v, head, heads, d_a)?
                    .unwrap_or_else(|| seeded_vector(&format!("v_a/h{head}"), seed, d_a)),
            }
        }
    })
}

/// Largest hidden size d_p of local-p's position predictor (`local_p_dim`).
pub const MAX_LOCAL_P_DIM: usize = 4096;

/// Resolves local-p for one head: D, σ, the predictor's source and its parameters W_p
/// (d_p × d_in) and v_p (d_p), explicit or seeded. `d_model` is the width of X, the
/// predictor's input for `LocalPSource::Input`.
///
/// Seeded W_p takes d_p·d_in values row-major from the stream `"w_p/h{head}"` with
/// amplitude √(3/d_in) (its fan-in), v_p d_p values from `"v_p/h{head}"` with √(3/d_p): for
/// the default d_p = d_in = d_k these are exactly the matrices of earlier versions.
fn local_p_span(
    spec: &Spec,
    local_d: usize,
    head: usize,
    heads: usize,
    d_k: usize,
) -> Result<Span, CoreError> {
    let sigma = match spec.local_sigma {
        Some(s) => s,
        None if local_d == 0 => {
            return Err(CoreError::invalid(
                "local_d",
                "local_p with D = 0 needs an explicit local_sigma (σ = D/2 would be 0)",
            ));
        }
        None => local_d as f32 / 2.0,
    };
    let (d_in, input) = match spec.local_p_source {
        LocalPSource::Query => (d_k, "d_k"),
        LocalPSource::Input => (d_k * heads, "d_model"),
    };
    let d_p = match local_p_dim(spec)? {
        Some(d_p) => d_p,
        None => d_in,
    };
    let p = spec.local_p_params.clone().unwrap_or_default();
    let shape = |what: String, rows: &Rows, expect: (usize, usize), how: &str| {
        let arr = rows_to_array(&what, rows, None)?;
        if arr.dim() != expect {
            return Err(CoreError::Shape {
                what,
                expected: format!("{}×{} ({how})", expect.0, expect.1),
                got: format!("{}×{}", arr.nrows(), arr.ncols()),
            });
        }
        Ok(arr)
    };
    let per_head = |what: &str, n: usize| -> Result<(), CoreError> {
        if n != heads {
            return Err(CoreError::Shape {
                what: what.to_owned(),
                expected: format!("one entry per head ({heads})"),
                got: format!("{n}"),
            });
        }
        Ok(())
    };
    let w_p = match &p.w_p {
        Some(list) => {
            per_head("local_p_params.w_p", list.len())?;
            shape(
                format!("local_p_params.w_p[{head}]"),
                &list[head],
                (d_p, d_in),
                &format!("d_p × {input}, d_p = local_p_dim or {input}"),
            )?
        }
        None => {
            let a = (3.0 / d_in as f32).sqrt();
            let mut s = Stream::new(&format!("w_p/h{head}"), spec.seed);
            Array2::from_shape_fn((d_p, d_in), |_| s.next_sym(a))
        }
    };
    let v_p = match &p.v_p {
        Some(list) => {
            per_head("local_p_params.v_p", list.len())?;
            let what = format!("local_p_params.v_p[{head}]");
            let v = &list[head];
            if v.len() != d_p {
                return Err(CoreError::Shape {
                    what,
                    expected: format!("{d_p} numbers (d_p, = local_p_dim or {input})"),
                    got: format!("{}", v.len()),
                });
            }
            rows_to_array(&what, &vec![v.clone()], None)?
                .row(0)
                .to_owned()
        }
        None => seeded_vector(&format!("v_p/h{head}"), spec.seed, d_p),
    };
    Ok(Span::LocalP {
        d: local_d,
        sigma,
        source: spec.local_p_source,
        w_p,
        v_p,
    })
}

/// The checked `local_p_dim` (d_p), `None` when the spec leaves it to the default.
fn local_p_dim(spec: &Spec) -> Result<Option<usize>, CoreError> {
    let Some(n) = spec.local_p_dim else {
        return Ok(None);
    };
    usize::try_from(n)
        .ok()
        .filter(|d| (1..=MAX_LOCAL_P_DIM).contains(d))
        .map(Some)
        .ok_or_else(|| {
            CoreError::invalid(
                "local_p_dim",
                format!("d_p must be between 1 and {MAX_LOCAL_P_DIM}, got {n}"),
            )
        })
}

/// Checks a spec's settings and resolves everything one head needs (`n_k` keys, head width
/// `d_k`): the score function's and local-p's parameters (explicit or seeded), the scale, the
/// masks and the temperature. The attention lab uses it to re-run a real head's Q, K, V.
/// For local-p with `local_p_source = "input"`, W_p's d_in is d_model = `heads` · `d_k`, and
/// the head must run with X (`attend_head_with_input`).
pub fn head_config(
    spec: &Spec,
    head: usize,
    heads: usize,
    d_k: usize,
    n_k: usize,
) -> Result<HeadConfig, CoreError> {
    if !(spec.temperature.is_finite() && spec.temperature > 0.0) {
        return Err(CoreError::invalid(
            "temperature",
            format!("τ must be a finite number > 0, got {}", spec.temperature),
        ));
    }
    let local_d = usize::try_from(spec.local_d)
        .map_err(|_| CoreError::invalid("local_d", format!("must be ≥ 0, got {}", spec.local_d)))?;
    if let Some(s) = spec.local_sigma
        && !(s.is_finite() && s > 0.0)
    {
        return Err(CoreError::invalid(
            "local_sigma",
            format!("σ must be a finite number > 0 (or null for D/2), got {s}"),
        ));
    }
    local_p_dim(spec)?;
    let span = match spec.span {
        SpanKind::Global => Span::Global,
        SpanKind::LocalM => Span::LocalM { d: local_d },
        SpanKind::LocalP => local_p_span(spec, local_d, head, heads, d_k)?,
    };
    let window = match spec.window {
        None => None,
        Some(w) => Some(
            usize::try_from(w)
                .map_err(|_| CoreError::invalid("window", format!("must be ≥ 0, got {w}")))?,
        ),
    };
    if let Some(p) = &spec.padding
        && p.len() != n_k
    {
        return Err(CoreError::Shape {
            what: "padding".into(),
            expected: format!("one flag per key position ({n_k})"),
            got: format!("{}", p.len()),
        });
    }
    Ok(HeadConfig {
        score: head_score(spec, head, heads, d_k)?,
        scale: resolve_scale(spec, d_k)?,
        span,
        causal: spec.causal,
        window,
        padding: spec.padding.clone(),
        temperature: spec.temperature,
    })
}

/// The multiplier of raw scores: the explicit one, else 1/√d_k for scaled dot, else 1.
fn resolve_scale(spec: &Spec, d_k: usize) -> Result<f32, CoreError> {
    match spec.score_scale {
        Some(s) if !s.is_finite() => {
            Err(CoreError::invalid("score_scale", "must be a finite number"))
        }
        Some(s) => Ok(s),
        None if spec.score == ScoreKind::ScaledDot => Ok(1.0 / (d_k as f32).sqrt()),
        None => Ok(1.0),
    }
}

/// Computes the full trace of a spec with the fastest kernels this CPU has.
pub fn compute(spec: &Spec) -> Result<Trace, CoreError> {
    compute_with(spec, Backend::best())
}

/// Computes the full trace of a spec on a chosen kernel backend.
pub fn compute_with(spec: &Spec, backend: Backend) -> Result<Trace, CoreError> {
    compute_with_budget(spec, backend, super::limits::MAX_TRACE_BYTES)
}

/// [`compute_with`] under a memory budget in bytes: every size is checked against its cap
/// and the estimated trace against `budget_bytes` before anything is allocated
/// (see [`super::limits`]).
pub fn compute_with_budget(
    spec: &Spec,
    backend: Backend,
    budget_bytes: u64,
) -> Result<Trace, CoreError> {
    super::limits::check_spec(spec, budget_bytes)?;
    compute_checked(spec, backend, None)
}

/// A full trace of `spec` would hold this many bytes or more: the app computes it lean
/// ([`compute_lean`]) instead, keeping the n × n matrices of the focused head only.
pub const LEAN_ABOVE_BYTES: u64 = 1 << 30;

/// Whether a full trace of `spec` would pass [`LEAN_ABOVE_BYTES`] (an invalid spec: no; its
/// compute reports the problem).
pub fn wants_lean(spec: &Spec) -> bool {
    super::limits::check_spec(spec, LEAN_ABOVE_BYTES)
        .is_err_and(|e| matches!(e, CoreError::TooLarge { .. }))
}

/// The trace of `spec` keeping the n × n matrices (scores, scaled, logits, mask, weights)
/// of the heads in `keep` only. Every head is still computed in full, one per thread at a
/// time, and keeps its Q, K, V, context, row statistics, summary and a max-pooled overview
/// of its weights, so memory grows with n² for `keep` and the heads in flight, not for all
/// heads. [`open_head`] recomputes any other head's matrices; everything else (concat,
/// output) is the full trace's, bit for bit.
pub fn compute_lean(spec: &Spec, backend: Backend, keep: &[usize]) -> Result<Trace, CoreError> {
    let in_flight = rayon::current_num_threads().max(1);
    super::limits::check_spec_lean(spec, MAX_TRACE_BYTES, keep.len(), in_flight)?;
    compute_checked(spec, backend, Some(keep))
}

/// Head `head` of a lean trace of `spec` with all its matrices, recomputed from the Q, K, V
/// the trace kept: the same arithmetic as [`compute_with`], so the same bits.
pub fn open_head(
    spec: &Spec,
    backend: Backend,
    trace: &Trace,
    head: usize,
) -> Result<HeadTrace, CoreError> {
    let t = trace.head_traces.get(head).ok_or_else(|| {
        CoreError::invalid("head", format!("the trace has {} heads", trace.heads))
    })?;
    let cfg = head_config(spec, head, trace.heads, trace.d_k, trace.n_k())?;
    Ok(attend_head_with_input(
        backend,
        t.q.view(),
        t.k.view(),
        t.v.view(),
        Some(trace.x_q.view()),
        &cfg,
    ))
}

/// The lean trace `trace` of `spec` focused on `head` instead: `head` reopened
/// ([`open_head`]) unless it has its matrices, every other head thinned to its overview.
pub fn refocus_lean(
    spec: &Spec,
    backend: Backend,
    trace: &Trace,
    head: usize,
) -> Result<Trace, CoreError> {
    let mut opened = if trace.has_matrices(head) {
        None
    } else {
        Some(open_head(spec, backend, trace, head)?)
    };
    let dims = (trace.n_q(), trace.n_k());
    // Copied head by head: the previously focused head's matrices are pooled from the
    // shared trace, never copied (272 MB at 4,096 tokens).
    Ok(trace.with_heads(|h, ht| {
        if h == head {
            opened.take().unwrap_or_else(|| ht.clone())
        } else if ht.overview.is_none() && ht.weights.dim() == dims {
            let mut thin_copy = without_matrices(ht);
            thin_copy.overview = Some(overview_of(ht));
            thin_copy
        } else {
            ht.clone()
        }
    }))
}

/// Drops a computed head's n × n matrices in place, keeping a max-pooled overview of its
/// weights (what [`without_matrices`] copies, without copying the rest).
fn thin(t: &mut HeadTrace) {
    t.overview = Some(overview_of(t));
    for m in [
        &mut t.raw_scores,
        &mut t.scaled,
        &mut t.logits,
        &mut t.weights,
    ] {
        *m = Array2::zeros((0, 0));
    }
    t.allowed = Array2::from_elem((0, 0), false);
}

/// A head's weights max-pooled to at most [`OVERVIEW_SIDE`]² (what a lean trace keeps).
fn overview_of(t: &HeadTrace) -> super::pool::Pooled {
    pool(t.weights.view(), OVERVIEW_SIDE, PoolMethod::Max)
}

/// A copy of a head without its n × n matrices (they become 0 × 0); the n × d ones, the
/// statistics and the overview are kept.
fn without_matrices(t: &HeadTrace) -> HeadTrace {
    let none = || Array2::zeros((0, 0));
    HeadTrace {
        q: t.q.clone(),
        k: t.k.clone(),
        v: t.v.clone(),
        raw_scores: none(),
        scaled: none(),
        logits: none(),
        allowed: Array2::from_elem((0, 0), false),
        weights: none(),
        context: t.context.clone(),
        empty_rows: t.empty_rows.clone(),
        centers: t.centers.clone(),
        local_p: t.local_p,
        q_unrotated: t.q_unrotated.clone(),
        k_unrotated: t.k_unrotated.clone(),
        row_stats: t.row_stats.clone(),
        summary: t.summary,
        overview: t.overview.clone(),
    }
}

/// What every step before the scores makes from a spec: its [`Inputs`], and Q, K, V
/// checked finite.
struct Prepared {
    inputs: Inputs,
    qkv: [Array2<f32>; 3],
}

/// Steps embed and project of `spec`, with every check they make.
fn prepare(spec: &Spec, backend: Backend) -> Result<Prepared, CoreError> {
    let inputs = inputs(spec)?;
    let (x_q, x_k, [w_q, w_k, w_v, _]) = (&inputs.tq.x, &inputs.tk.x, &inputs.w);
    let q = matmul(backend, x_q.view(), w_q.view());
    let k = matmul(backend, x_k.view(), w_k.view());
    let v = matmul(backend, x_k.view(), w_v.view());
    for (name, m) in [("Q", &q), ("K", &k), ("V", &v)] {
        check_finite(name, m)?;
    }
    Ok(Prepared {
        inputs,
        qkv: [q, k, v],
    })
}

/// What a spec gives before any product: embeddings, head settings and projection
/// matrices, each checked.
struct Inputs {
    heads: usize,
    tq: Embedded,
    tk: Embedded,
    d_model: usize,
    d_k: usize,
    configs: Vec<HeadConfig>,
    w: [Array2<f32>; 4],
}

/// Step embed and the projection matrices of `spec` (n × d and d × d work).
fn inputs(spec: &Spec) -> Result<Inputs, CoreError> {
    let heads = spec.heads_checked()?;
    // step: embed
    let tq = embed(
        "target",
        &spec.target,
        spec.tokenizer,
        spec.d_model,
        spec.seed,
        spec.positions,
        spec.max_tokens,
    )?;
    let d_model = tq.x.ncols();
    let tk = match &spec.source {
        Some(src) => embed(
            "source",
            src,
            spec.tokenizer,
            Some(d_model),
            spec.seed,
            spec.positions,
            spec.max_tokens,
        )?,
        None => tq.clone(),
    };
    if d_model % heads != 0 {
        return Err(CoreError::HeadsDoNotDivide { d_model, heads });
    }
    let d_k = d_model / heads;
    let n_k = tk.tokens.len();
    let configs = (0..heads)
        .map(|h| head_config(spec, h, heads, d_k, n_k))
        .collect::<Result<Vec<_>, _>>()?;
    // step: project (the matrices; the products are `prepare`'s)
    let w = projections(spec, d_model)?;
    Ok(Inputs {
        heads,
        tq,
        tk,
        d_model,
        d_k,
        configs,
        w,
    })
}

/// Whether `spec` passes every check [`compute`] makes of its inputs: every size within its
/// cap, the text or vectors embeddable, the heads dividing d_model, every head's settings
/// valid, the projections well-formed. It does no product (n × d and d × d work, no memory
/// budget), so the app can refuse a spec file with the CLI's reason, at once, before taking
/// anything from it. (Q, K or V overflowing f32, found only by computing them, is left to
/// the computation.)
pub fn check(spec: &Spec) -> Result<(), CoreError> {
    super::limits::check_spec(spec, u64::MAX)?;
    inputs(spec).map(|_| ())
}

/// The pipeline of a spec whose sizes were checked; `keep`: lean, with the matrices of
/// these heads only.
fn compute_checked(
    spec: &Spec,
    backend: Backend,
    keep: Option<&[usize]>,
) -> Result<Trace, CoreError> {
    let Prepared {
        inputs:
            Inputs {
                heads,
                tq,
                tk,
                d_model,
                d_k,
                configs,
                w: [w_q, w_k, w_v, w_o],
            },
        qkv: [q, k, v],
    } = prepare(spec, backend)?;
    // steps: scores … weighted sum, per head in parallel
    let head_traces: Vec<HeadTrace> = configs
        .par_iter()
        .enumerate()
        .map(|(h, cfg)| {
            let (qh, kh, vh) = (
                head_columns(&q, h, d_k),
                head_columns(&k, h, d_k),
                head_columns(&v, h, d_k),
            );
            let mut t = attend_head_with_input(
                backend,
                qh.view(),
                kh.view(),
                vh.view(),
                Some(tq.x.view()),
                cfg,
            );
            // Finite inputs can still overflow f32 on the way (q·k of huge vectors, a huge
            // score_scale, a tiny τ whose 1/τ is ∞): refuse rather than hand out NaN weights.
            check_finite(
                &format!(
                    "head {h}'s weights (its scores overflow f32: lower the inputs or score_scale, or raise τ)"
                ),
                &t.weights,
            )?;
            if keep.is_some_and(|k| !k.contains(&h)) {
                thin(&mut t);
            }
            Ok(t)
        })
        .collect::<Result<_, CoreError>>()?;
    // steps: concat, output projection
    let contexts: Vec<_> = head_traces.iter().map(|t| &t.context).collect();
    let concat = concat_heads(&contexts);
    let output = matmul(backend, concat.view(), w_o.view());
    let scale = configs.first().map_or(1.0, |c| c.scale);
    Ok(Trace {
        version: 1,
        truncated_q: tq.truncated_from,
        truncated_k: if spec.source.is_some() {
            tk.truncated_from
        } else {
            None
        },
        tokens_q: tq.tokens,
        tokens_k: tk.tokens,
        self_attention: spec.source.is_none(),
        d_model,
        heads,
        d_k,
        scale,
        temperature: spec.temperature,
        mechanism: Mechanism::of_spec(spec),
        kernel: backend.name().to_owned(),
        x_q: tq.x,
        x_k: tk.x,
        w_q,
        w_k,
        w_v,
        w_o,
        head_traces,
        concat,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::attend::attend_head;

    fn local_p_spec() -> Spec {
        Spec {
            span: SpanKind::LocalP,
            d_model: Some(8),
            heads: 2,
            ..Spec::for_text("the cat sat on the mat")
        }
    }

    /// A lean trace is the full trace without the other heads' n × n matrices: the kept
    /// head, Q, K, V, contexts, statistics, concat and output are the same bits; the other
    /// heads carry the max-pooled overview of their weights; reopening a head gives exactly
    /// the full trace's head. Over 256 tokens, so the overview really pools.
    #[test]
    fn lean_trace_keeps_one_head_and_reopens_the_others_bit_for_bit() {
        let words: Vec<String> = (0..300).map(|i| format!("w{}", i % 37)).collect();
        for (score, causal) in [(ScoreKind::ScaledDot, true), (ScoreKind::Additive, false)] {
            let spec = Spec {
                heads: 3,
                d_model: Some(12),
                score,
                causal,
                ..Spec::for_text(words.join(" "))
            };
            let backend = Backend::best();
            let full = compute_with(&spec, backend).unwrap();
            let lean = compute_lean(&spec, backend, &[1]).unwrap();
            assert_eq!(lean.n_q(), 300);
            assert_eq!(lean.concat, full.concat);
            assert_eq!(lean.output, full.output);
            assert_eq!(lean.head_traces[1], full.head_traces[1]);
            for h in [0, 2] {
                let (l, f) = (&lean.head_traces[h], &full.head_traces[h]);
                assert!(!lean.has_matrices(h) && full.has_matrices(h));
                assert_eq!(
                    (&l.q, &l.k, &l.v, &l.context),
                    (&f.q, &f.k, &f.v, &f.context)
                );
                assert_eq!((&l.row_stats, &l.summary), (&f.row_stats, &f.summary));
                let o = l.overview.as_ref().expect("a thinned head has an overview");
                assert_eq!(o, &pool(f.weights.view(), OVERVIEW_SIDE, PoolMethod::Max));
                assert_eq!(o.values.dim(), (256, 256));
                assert_eq!(open_head(&spec, backend, &lean, h).unwrap(), *f);
            }
            // Focusing head 2 instead: its matrices back, head 1 thinned like the others.
            let moved = refocus_lean(&spec, backend, &lean, 2).unwrap();
            assert_eq!(moved.head_traces[2], full.head_traces[2]);
            assert!(!moved.has_matrices(1) && !moved.has_matrices(0));
            assert_eq!(moved.head_traces[0], lean.head_traces[0]);
            let (m, f) = (&moved.head_traces[1], &full.head_traces[1]);
            assert_eq!(
                (&m.q, &m.k, &m.v, &m.context, &m.row_stats, &m.summary),
                (&f.q, &f.k, &f.v, &f.context, &f.row_stats, &f.summary)
            );
            let o = moved.head_traces[1].overview.as_ref().unwrap();
            assert_eq!(
                o,
                &pool(
                    full.head_traces[1].weights.view(),
                    OVERVIEW_SIDE,
                    PoolMethod::Max
                )
            );
            assert_eq!(moved.output, full.output);
        }
    }

    /// 12 heads at 4,096 tokens: the full trace (3.3 GB of n × n matrices) is over the lean
    /// threshold, and the lean one (the focused head and two in flight) is well under it.
    #[test]
    fn toy_4096_tokens_is_lean_and_fits() {
        let words = vec!["w"; 4096].join(" ");
        let spec = Spec {
            heads: 12,
            d_model: Some(96),
            ..Spec::for_text(&words)
        };
        assert!(wants_lean(&spec));
        let size = crate::core::limits::check_spec_lean(&spec, u64::MAX, 1, 2).unwrap();
        assert!(size.bytes() > 3 << 30, "{}", size.bytes());
        assert!(
            size.lean_bytes(1, 2) < 900 << 20,
            "{}",
            size.lean_bytes(1, 2)
        );
        assert!(!wants_lean(&Spec::for_text("the cat sat on the mat")));
    }

    #[test]
    fn default_local_p_parameters_are_the_old_streams() {
        let spec = local_p_spec();
        for head in 0..2 {
            let Span::LocalP {
                w_p, v_p, sigma, ..
            } = head_config(&spec, head, 2, 4, 6).unwrap().span
            else {
                panic!("not local_p");
            };
            assert_eq!(w_p, seeded_matrix(&format!("w_p/h{head}"), 42, 4, 4));
            assert_eq!(v_p, seeded_vector(&format!("v_p/h{head}"), 42, 4));
            assert_eq!(sigma, 1.0);
        }
    }

    #[test]
    fn input_source_reads_x_and_records_it() {
        let mut spec = local_p_spec();
        spec.local_p_source = LocalPSource::Input;
        spec.local_p_dim = Some(3);
        spec.local_sigma = Some(0.75);
        let trace = compute(&spec).unwrap();
        for t in &trace.head_traces {
            let info = t.local_p.unwrap();
            assert_eq!((info.d_p, info.d_in, info.sigma), (3, 8, 0.75));
            assert_eq!(info.source, LocalPSource::Input);
        }
        // W_p is 3 × d_model: the stream's first 24 values, amplitude √(3/8)
        let Span::LocalP { w_p, .. } = head_config(&spec, 1, 2, 4, 6).unwrap().span else {
            panic!("not local_p");
        };
        let mut s = Stream::new("w_p/h1", 42);
        let a = (3.0f32 / 8.0).sqrt();
        assert!(w_p.iter().all(|&w| w == s.next_sym(a)));
    }

    #[test]
    fn input_source_without_x_masks_every_row_instead_of_panicking() {
        let mut spec = local_p_spec();
        spec.local_p_source = LocalPSource::Input;
        let cfg = head_config(&spec, 0, 2, 4, 3).unwrap();
        let q = Array2::<f32>::ones((3, 4));
        let t = attend_head(Backend::Scalar, q.view(), q.view(), q.view(), &cfg);
        assert_eq!(t.empty_rows, [true, true, true]);
        assert!(t.centers.is_none());
    }

    #[test]
    fn zero_half_width_needs_sigma() {
        let mut spec = local_p_spec();
        spec.local_d = 0;
        let err = compute(&spec).unwrap_err().to_string();
        assert!(err.contains("local_sigma"), "{err}");
        spec.local_sigma = Some(0.5);
        assert!(compute(&spec).is_ok());
    }
}
