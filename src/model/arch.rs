//! What a forward pass keeps per layer. The architectures themselves are data
//! ([`super::network::Network`], built by `families.rs`) run by one forward
//! ([`Transformer`]).

use std::borrow::Cow;

use ndarray::Array2;

use crate::core::pool::{OVERVIEW_SIDE, PoolMethod, Pooled, Pooling, describe_pooling, pool};

pub use super::network::Transformer;
use super::nn::{HeadCapture, HeadDigest};

/// One layer's captured attention and the hidden state that entered it.
#[derive(Clone, Debug)]
pub struct LayerRun {
    /// Hidden state entering the layer (after embeddings or the previous layer), n × d.
    pub input: Array2<f32>,
    /// Per captured head (all heads of a short run; none of a long run's layers until one
    /// is opened, then that head), in head order: Q, K, V, scores, probabilities, context.
    /// Find a head with [`LayerRun::head`].
    pub heads: Vec<HeadCapture>,
    /// All heads' contexts side by side (n × h·dh), kept when some head is captured (0 × 0
    /// otherwise).
    pub concat: Array2<f32>,
    /// Per head, always: statistics, undefined rows and, for a head whose matrix is not
    /// kept, the pooled overview (see [`LayerRun::overview`]).
    pub digests: Vec<HeadDigest>,
    /// Attention output after W_O and its bias, n × d (0 × 0 in a long run until the layer
    /// is opened).
    pub attn_out: Array2<f32>,
    /// Each head's context averaged over the first rows a run asked for (h·dh; empty
    /// otherwise): what a mean knock-out puts in a head's place.
    pub context_mean: Vec<f32>,
    /// The multiplier this layer applied to q·k (1/√d_h, or 1 for GPT-2 with
    /// `scale_attn_weights = false`): the trace's scale step shows this, not a re-derivation.
    pub scale: f32,
    /// This layer's sliding window W as config.json gives it (query i sees keys j with
    /// i − W < j ≤ i); `None` for a global layer. The trace's `Mechanism::window` is the
    /// core's half width, W − 1.
    pub window: Option<usize>,
    /// This layer's RoPE base θ (Gemma 3: local and global layers differ); `None` without
    /// rotary positions.
    pub rope_theta: Option<f32>,
    /// A decoder layer's cross-attention over the encoder output (its `input` is the
    /// self-attention's residual output; its heads' K and V come from the encoder).
    pub cross: Option<Box<LayerRun>>,
}

impl LayerRun {
    /// The captured head `h`, if this run kept its matrices.
    pub fn head(&self, h: usize) -> Option<&HeadCapture> {
        self.heads.iter().find(|c| c.head == h)
    }

    /// Head `h`'s probabilities max-pooled to at most [`OVERVIEW_SIDE`]²: the one its digest
    /// kept, or, for a head whose full matrix the run kept (the digest then keeps none), the
    /// pooling of that matrix, made now (callers cache what they draw from it).
    pub fn overview(&self, h: usize) -> Option<Cow<'_, Pooled>> {
        match self.digests.get(h).and_then(|d| d.overview.as_ref()) {
            Some(o) => Some(Cow::Borrowed(o)),
            None => self
                .head(h)
                .map(|c| Cow::Owned(pool(c.probs.view(), OVERVIEW_SIDE, PoolMethod::Max))),
        }
    }

    /// Whether head `h` has an overview to draw ([`LayerRun::overview`] gives it).
    pub fn has_overview(&self, h: usize) -> bool {
        self.digests.get(h).is_some_and(|d| d.overview.is_some()) || self.head(h).is_some()
    }

    /// How head `h`'s overview is pooled ("max-pooled 4096×4096 → 256×256"), without
    /// pooling a kept matrix to say it.
    pub fn overview_description(&self, h: usize) -> Option<Pooling> {
        match self.digests.get(h).and_then(|d| d.overview.as_ref()) {
            Some(o) => Some(o.describe()),
            None => self.head(h).map(|c| {
                let (n_q, n_k) = c.probs.dim();
                describe_pooling(n_q, n_k, OVERVIEW_SIDE, PoolMethod::Max)
            }),
        }
    }
}
