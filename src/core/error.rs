//! Errors of the attention core. Each message is one line a user can act on.

/// Why a spec or an input could not be computed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CoreError {
    /// A sequence has no tokens (empty or blank text, or no vectors).
    #[error("the {0} sequence is empty: give at least one token or vector")]
    EmptySequence(&'static str),
    /// A sequence is longer than the core will materialise.
    #[error("the {which} sequence has {len} tokens, more than the limit of {limit}")]
    TooLong {
        /// "target" or "source".
        which: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A matrix or vector has the wrong shape.
    #[error("{what} has the wrong shape: expected {expected}, got {got}")]
    Shape {
        /// Which input.
        what: String,
        /// The shape it must have.
        expected: String,
        /// The shape it has.
        got: String,
    },
    /// A NaN or infinite number in an input.
    #[error("{what} contains {value} at [{row}, {col}]: every number must be finite")]
    NotFinite {
        /// Which input.
        what: String,
        /// Row of the bad value.
        row: usize,
        /// Column of the bad value.
        col: usize,
        /// The bad value.
        value: f32,
    },
    /// The heads do not split d_model evenly.
    #[error("d_model = {d_model} is not divisible by heads = {heads}")]
    HeadsDoNotDivide {
        /// Model width.
        d_model: usize,
        /// Requested heads.
        heads: usize,
    },
    /// A size beyond its documented cap (see `core::limits`).
    #[error("{field} = {value} is more than the limit of {limit}{why}")]
    OverLimit {
        /// The spec field.
        field: &'static str,
        /// The value asked for.
        value: String,
        /// The cap.
        limit: usize,
        /// What it would have cost, or why the cap exists.
        why: OverLimitWhy,
    },
    /// The whole trace would not fit the memory budget (see `core::limits`).
    #[error("this spec ({what}) would need {need} of memory, more than the limit of {limit}")]
    TooLarge {
        /// The sizes that make it large.
        what: String,
        /// The estimate, e.g. "21 GiB".
        need: String,
        /// The budget, e.g. "4 GiB".
        limit: String,
    },
    /// Any other invalid setting, named by its field.
    #[error("{field}: {message}")]
    Invalid {
        /// The spec field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl CoreError {
    /// Shorthand for [`CoreError::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Why a size cap of the core exists, said after the cap (typed, so the app can say it in the
/// language on screen).
#[derive(Debug, Clone, PartialEq)]
pub enum OverLimitWhy {
    /// Nothing more to say.
    None,
    /// A window or local span wider than the cap already covers every key.
    SpanCoversEveryKey,
    /// The four projections alone would need this much memory (e.g. "64 GiB").
    Projections(String),
}

impl std::fmt::Display for OverLimitWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => Ok(()),
            Self::SpanCoversEveryKey => f.write_str(" (a span that wide already covers every key)"),
            Self::Projections(need) => {
                write!(f, " (W_Q, W_K, W_V and W_O alone would need {need})")
            }
        }
    }
}
