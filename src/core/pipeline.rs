//! The whole pipeline for a spec: embed → project → per-head attention → concat → output.
//! Heads run in parallel on the rayon pool.

use ndarray::{Array1, Array2};
use rayon::prelude::*;

use super::attend::{HeadConfig, Score, Span, attend_head, concat_heads, head_columns, matmul};
use super::error::CoreError;
use super::kernels::Backend;
use super::rng::{seeded_matrix, seeded_vector, sinusoidal, token_embedding};
use super::spec::{
    MAX_TOKENS, ProjectionKind, Projections, Rows, ScoreKind, Sequence, SpanKind, Spec,
    check_finite, rows_to_array,
};
use super::tokenize::Tokenizer;
use super::trace::Trace;

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

/// Checks a spec's settings and resolves everything one head needs (`n_k` keys, head width
/// `d_k`): the score function's and local-p's parameters (explicit or seeded), the scale, the
/// masks and the temperature. The attention lab uses it to re-run a real head's Q, K, V.
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
    let span = match spec.span {
        SpanKind::Global => Span::Global,
        SpanKind::LocalM => Span::LocalM { d: local_d },
        SpanKind::LocalP => {
            if local_d == 0 {
                return Err(CoreError::invalid(
                    "local_d",
                    "local_p needs D ≥ 1 (σ = D/2)",
                ));
            }
            let p = spec.local_p_params.clone().unwrap_or_default();
            Span::LocalP {
                d: local_d,
                w_p: per_head_matrix("local_p_params.w_p", &p.w_p, head, heads, (d_k, d_k))?
                    .unwrap_or_else(|| seeded_matrix(&format!("w_p/h{head}"), spec.seed, d_k, d_k)),
                v_p: per_head_vector("local_p_params.v_p", &p.v_p, head, heads, d_k)?
                    .unwrap_or_else(|| seeded_vector(&format!("v_p/h{head}"), spec.seed, d_k)),
            }
        }
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
    // step: project
    let [w_q, w_k, w_v, w_o] = projections(spec, d_model)?;
    let q = matmul(backend, tq.x.view(), w_q.view());
    let k = matmul(backend, tk.x.view(), w_k.view());
    let v = matmul(backend, tk.x.view(), w_v.view());
    for (name, m) in [("Q", &q), ("K", &k), ("V", &v)] {
        check_finite(name, m)?;
    }
    // steps: scores … weighted sum, per head in parallel
    let head_traces: Vec<_> = configs
        .par_iter()
        .enumerate()
        .map(|(h, cfg)| {
            let (qh, kh, vh) = (
                head_columns(&q, h, d_k),
                head_columns(&k, h, d_k),
                head_columns(&v, h, d_k),
            );
            attend_head(backend, qh.view(), kh.view(), vh.view(), cfg)
        })
        .collect();
    // Finite inputs can still overflow f32 on the way (q·k of huge vectors, a huge
    // score_scale, a tiny τ whose 1/τ is ∞): refuse rather than hand out NaN weights.
    for (h, t) in head_traces.iter().enumerate() {
        check_finite(
            &format!(
                "head {h}'s weights (its scores overflow f32: lower the inputs or score_scale, or raise τ)"
            ),
            &t.weights,
        )?;
    }
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
