//! Attention maths only: kernels, tokenizers, toy embeddings, score functions, masks, spans,
//! multi-head attention and the step-by-step trace. No egui here.
//!
//! The entry point is [`compute`]: a [`Spec`] in, a [`Trace`] out.

pub mod attend;
pub mod error;
pub mod kernels;
pub mod lab;
pub mod limits;
pub mod mechanism;
pub mod pipeline;
pub mod pool;
pub mod rng;
pub mod spec;
pub mod tokenize;
pub mod trace;

pub use attend::attend_head_with_input;
pub use attend::{HeadConfig, Score, Span, attend_head};
pub use error::{CoreError, OverLimitWhy};
pub use kernels::Backend;
pub use mechanism::{Mechanism, Norm, Rope, Source};
pub use pipeline::{compute, compute_with};
pub use spec::{LocalPParams, LocalPSource};
pub use spec::{ProjectionKind, Projections, ScoreKind, Sequence, SpanKind, Spec};
pub use tokenize::Tokenizer;
pub use trace::LocalPInfo;
pub use trace::{HeadTrace, RowStats, Step, Trace};
