//! One description of a transformer, and one forward pass over it.
//!
//! Every family's serde config (`config.rs`, `families.rs`) is converted once into a
//! [`Network`]: the norms and where they sit, the attention (query and KV heads, head width,
//! biases, q/k norm, positions, scale, sliding window per layer, soft-cap), the MLP, the
//! embedding scale, and the name map from the checkpoint's safetensors keys to the block's
//! parts ([`Keys`]). [`Transformer`] loads the weights by those names and runs the one
//! block loop for every family (after candle-transformers `models/llama.rs`, where a
//! family is data and one forward reads it).
//!
//! Legend: `n` = tokens, `d` = model width, `h` = query heads, `g` = KV heads,
//! `dh` = head width, `ff` = MLP width.

use std::mem::MaybeUninit;

use ndarray::{Array1, Array2, ArrayView2, s};
use rayon::prelude::*;

use crate::core::attend::side_by_side;
use crate::core::kernels::{self, Backend};

use super::ModelError;
use super::arch::LayerRun;
use super::nn::{
    AttnParams, LayerNorm, Linear, LinearWeights, NormLayer, RmsNorm, RopeTable, activation,
    attention_heads, gated, write_into,
};
use super::weights::{RowTable, Weights};

/// The normalisation every norm of a block uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormKind {
    /// (x − mean) / √(var + ε) · γ + β.
    LayerNorm,
    /// x / √(mean(x²) + ε) · γ, or · (1 + γ) when `plus_one` (Gemma).
    RmsNorm {
        /// Gemma's (1 + γ).
        plus_one: bool,
    },
}

/// Where a block's norms sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// After each residual sum (BERT): x ← N(x + f(x)).
    Post,
    /// Before each sub-layer (GPT-2, Llama): x ← x + f(N(x)).
    Pre,
    /// Before and after each sub-layer (Gemma 2/3): x ← x + N₂(f(N₁(x))).
    Sandwich,
}

/// How RoPE's frequencies are rescaled (`rope_scaling` / `rope_parameters.rope_type`).
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE ("default").
    None,
    /// ω / factor ("linear").
    Linear {
        /// The divisor.
        factor: f32,
    },
    /// Llama 3.1's band-wise scaling ("llama3"): long wavelengths are divided by `factor`,
    /// short ones kept, the band between interpolated.
    Llama3 {
        /// Divisor of the low frequencies.
        factor: f32,
        /// Wavelengths above original / low_freq_factor are scaled.
        low_freq_factor: f32,
        /// Wavelengths below original / high_freq_factor are kept.
        high_freq_factor: f32,
        /// The pretraining context length.
        original_max_position_embeddings: f32,
    },
}

/// Rotary positions of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    /// Base θ.
    pub theta: f32,
    /// Frequency scaling.
    pub scaling: RopeScaling,
}

impl RopeSpec {
    /// ωᵢ = θ^(−2i/dh) for i < dh/2, rescaled as the config says (HuggingFace
    /// `modeling_rope_utils`), in f32.
    pub fn inv_freq(&self, dh: usize) -> Vec<f32> {
        let base: Vec<f32> = (0..dh / 2)
            .map(|i| 1.0 / (f64::from(self.theta).powf((2 * i) as f64 / dh as f64)) as f32)
            .collect();
        match self.scaling {
            RopeScaling::None => base,
            RopeScaling::Linear { factor } => base.iter().map(|w| w / factor).collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old,
            } => {
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.iter()
                    .map(|&w| {
                        let wavelen = 2.0 * std::f32::consts::PI / w;
                        if wavelen < high_wavelen {
                            w
                        } else if wavelen > low_wavelen {
                            w / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * w / factor + smooth * w
                        }
                    })
                    .collect()
            }
        }
    }

    /// The config.json name of the scaling, if any.
    pub fn scaling_name(&self) -> Option<String> {
        match self.scaling {
            RopeScaling::None => None,
            RopeScaling::Linear { .. } => Some("linear".into()),
            RopeScaling::Llama3 { .. } => Some("llama3".into()),
        }
    }
}

/// What differs between layers.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Sliding window W (query i sees keys j with i − W < j ≤ i), `None` for global layers.
    pub window: Option<usize>,
    /// Rotary positions of this layer (`None`: learned or no positions).
    pub rope: Option<RopeSpec>,
}

/// The attention every layer shares.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionSpec {
    /// Query heads.
    pub heads: usize,
    /// KV heads (= heads without grouped-query attention).
    pub kv_heads: usize,
    /// Head width.
    pub head_dim: usize,
    /// Bias on the Q, K, V projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub o_bias: bool,
    /// Per-head RMSNorm of q and k before RoPE (Qwen 3, Gemma 3).
    pub qk_norm: bool,
    /// Multiplier of q·k (1/√dh, Gemma: 1/√query_pre_attn_scalar, GPT-2 may use 1).
    pub scale: f32,
    /// Logit soft-cap.
    pub softcap: Option<f32>,
    /// Causal mask.
    pub causal: bool,
}

/// The feed-forward block.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// Width.
    pub intermediate: usize,
    /// Activation, named as in config.json.
    pub activation: String,
    /// down(act(gate(x)) ⊙ up(x)) (SwiGLU / GeGLU) instead of down(act(up(x))).
    pub gated: bool,
    /// Biases on the MLP's linear maps.
    pub bias: bool,
}

/// How the token embedding is formed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbeddingSpec {
    /// A learned position table is added (BERT, GPT-2).
    pub learned_positions: bool,
    /// BERT's token-type table, of this many rows; its row 0 is added.
    pub token_type: Option<usize>,
    /// A norm follows the embedding sum (BERT).
    pub norm: bool,
    /// The embedding is multiplied by this (Gemma: √d).
    pub scale: Option<f32>,
    /// Rows of the learned position table before position 0 (BART's table starts at row 2).
    pub position_offset: usize,
    /// Fixed sinusoidal positions are added (Marian): for i < d/2, sin(p·ωᵢ) in column i and
    /// cos(p·ωᵢ) in column d/2 + i, ωᵢ = 10000^(−2i/d).
    pub sinusoidal: bool,
}

/// How the projections are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearLayout {
    /// PyTorch `nn.Linear`, weight `out × in`.
    Torch,
    /// GPT-2 `Conv1D`, weight `in × out`.
    Conv1d,
}

/// Q, K, V as one fused projection or three.
#[derive(Clone, Debug, PartialEq)]
pub enum QkvKeys {
    /// Three projections.
    Separate {
        /// Q.
        q: &'static str,
        /// K.
        k: &'static str,
        /// V.
        v: &'static str,
    },
    /// One projection whose output is [Q | K | V] (GPT-2 `c_attn`).
    Fused(&'static str),
}

/// The family's name map: safetensors keys without the `.weight` / `.bias` suffix. Block
/// names are relative to `{prefix}{layers}.{l}.`; the others to `{prefix}`, where `prefix`
/// is the first of `prefixes` under which the embedding exists.
#[derive(Clone, Debug, PartialEq)]
pub struct Keys {
    /// Candidate prefixes (e.g. "bert." for BertForX checkpoints, "" for BertModel).
    pub prefixes: &'static [&'static str],
    /// Token embedding.
    pub embed: &'static str,
    /// Learned positions.
    pub positions: Option<&'static str>,
    /// Token types.
    pub token_type: Option<&'static str>,
    /// Norm after the embedding.
    pub embed_norm: Option<&'static str>,
    /// Norm after the last block.
    pub final_norm: Option<&'static str>,
    /// The block list ("encoder.layer", "h", "layers").
    pub layers: &'static str,
    /// Projections' storage.
    pub layout: LinearLayout,
    /// Q, K, V.
    pub qkv: QkvKeys,
    /// Output projection.
    pub o: &'static str,
    /// Per-head q norm.
    pub q_norm: Option<&'static str>,
    /// Per-head k norm.
    pub k_norm: Option<&'static str>,
    /// Norm before attention (Pre, Sandwich).
    pub attn_in: Option<&'static str>,
    /// Norm of the attention output (Sandwich).
    pub attn_out: Option<&'static str>,
    /// Norm after the attention residual (Post).
    pub attn_residual: Option<&'static str>,
    /// Norm before the MLP (Pre, Sandwich).
    pub mlp_in: Option<&'static str>,
    /// Norm of the MLP output (Sandwich).
    pub mlp_out: Option<&'static str>,
    /// Norm after the MLP residual (Post).
    pub mlp_residual: Option<&'static str>,
    /// Gate projection (gated MLPs).
    pub gate: Option<&'static str>,
    /// Up projection.
    pub up: &'static str,
    /// Down projection.
    pub down: &'static str,
    /// Cross-attention over an encoder's output (a decoder of an encoder–decoder model).
    pub cross: Option<CrossKeys>,
}

/// A decoder block's cross-attention: its projections and its norm (before the sub-layer
/// when the placement is Pre, after its residual sum when Post).
#[derive(Clone, Debug, PartialEq)]
pub struct CrossKeys {
    /// Q (from the decoder).
    pub q: &'static str,
    /// K (from the encoder output).
    pub k: &'static str,
    /// V (from the encoder output).
    pub v: &'static str,
    /// Output projection.
    pub o: &'static str,
    /// Its norm.
    pub norm: &'static str,
}

/// A whole network, as data.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// config.json's `model_type`.
    pub model_type: String,
    /// Embedding rows.
    pub vocab_size: usize,
    /// Model width d.
    pub hidden: usize,
    /// Longest input in tokens.
    pub max_positions: usize,
    /// Norm kind of every norm.
    pub norm: NormKind,
    /// Norm ε.
    pub norm_eps: f32,
    /// Where the norms sit.
    pub placement: Placement,
    /// Embedding.
    pub embedding: EmbeddingSpec,
    /// Attention shared by all layers.
    pub attention: AttentionSpec,
    /// Per layer: window and RoPE.
    pub layers: Vec<LayerSpec>,
    /// Feed-forward.
    pub mlp: MlpSpec,
    /// The LM head is the embedding (not loaded either way: attention does not need it).
    pub tied_lm_head: bool,
    /// Safetensors names.
    pub keys: Keys,
}

impl Network {
    /// Width of all query heads together (h·dh).
    pub fn q_width(&self) -> usize {
        self.attention.heads * self.attention.head_dim
    }

    /// Width of all KV heads together (g·dh).
    pub fn kv_width(&self) -> usize {
        self.attention.kv_heads * self.attention.head_dim
    }
}

struct Block {
    qkv: Qkv,
    o: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    attn_in: Option<NormLayer>,
    attn_out: Option<NormLayer>,
    attn_residual: Option<NormLayer>,
    mlp_in: Option<NormLayer>,
    mlp_out: Option<NormLayer>,
    mlp_residual: Option<NormLayer>,
    gate: Option<Linear>,
    up: Linear,
    down: Linear,
    cross: Option<Box<CrossBlock>>,
}

/// Cross-attention weights of one decoder block.
struct CrossBlock {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    /// Before the sub-layer (Pre).
    norm_in: Option<NormLayer>,
    /// After the residual sum (Post).
    norm_residual: Option<NormLayer>,
}

/// The encoder output projected once for one decoder layer's cross-attention: K and V
/// (n_source × h·dh), what every decoder row and every decoding step reads.
#[derive(Clone, Debug)]
pub struct CrossKv {
    /// Keys.
    pub k: Array2<f32>,
    /// Values.
    pub v: Array2<f32>,
}

enum Qkv {
    Separate(Box<[Linear; 3]>),
    Fused(Linear),
}

/// A network with its weights, ready to run.
pub struct Transformer {
    net: Network,
    embed: Embedding,
    positions: Option<Array2<f32>>,
    token_type: Option<Array1<f32>>,
    embed_norm: Option<NormLayer>,
    blocks: Vec<Block>,
    final_norm: Option<NormLayer>,
    inv_freq: Vec<Option<Vec<f32>>>,
    /// The rotary tables of the last run's length, per distinct set of frequencies (every
    /// layer of a Llama shares one; Gemma 3's local and global layers have two): computing
    /// n × dh/2 sines and cosines in f64 for each of 30 layers was 1–2% of a forward.
    rope_tables: std::sync::Mutex<Vec<RopeEntry>>,
    /// A separate LM head (`lm_head.weight`, vocab × d), when the checkpoint has one.
    lm_head: Option<Array2<f32>>,
    /// The LM head packed, when the file quantised it in a packed type (a decoding step's
    /// logits read these; a quantised tied head is then never dequantised).
    head_packed: Option<std::sync::Arc<super::packed::PackedRows>>,
    /// A tied head read from a quantised embedding: dequantised once, on first use.
    tied_rows: std::sync::OnceLock<Result<Array2<f32>, String>>,
}

/// A cached rotary table: its frequencies, its length and the table.
type RopeEntry = (Vec<f32>, usize, std::sync::Arc<RopeTable>);

/// Keys and values of every layer for the tokens so far (K after its norm and RoPE), so a
/// new token computes one query row per layer.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    /// Per layer: K rows (t × g·dh) and V rows (t × g·dh), flat.
    layers: Vec<(Vec<f32>, Vec<f32>)>,
    len: usize,
    /// Per layer the encoder output's K and V (a decoder of an encoder–decoder model).
    cross: Vec<CrossKv>,
}

impl KvCache {
    /// An empty cache whose steps also attend over an encoder output, projected per layer
    /// ([`Transformer::cross_kv`]).
    pub fn with_cross(cross: Vec<CrossKv>) -> KvCache {
        KvCache {
            cross,
            ..KvCache::default()
        }
    }

    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One decoding step's results: the next-token logits and the new token's attention row in
/// every layer and head (over the t + 1 tokens so far).
#[derive(Clone, Debug)]
pub struct StepOut {
    /// Logits over the vocabulary (`None` when the model has no LM head).
    pub logits: Option<Vec<f32>>,
    /// `[layer][head][key]`.
    pub attention: Vec<Vec<Vec<f32>>>,
    /// `[layer][head][source token]`: the new token's cross-attention row (empty without an
    /// encoder).
    pub cross: Vec<Vec<Vec<f32>>>,
}

/// Loads weights by name for one network.
struct Loader<'a> {
    w: &'a mut Weights,
    net: &'a Network,
    prefix: &'static str,
}

impl Loader<'_> {
    /// A linear map `n_in → n_out` named `name` (+ ".weight", ".bias").
    fn linear(
        &mut self,
        name: &str,
        n_in: usize,
        n_out: usize,
        bias: bool,
    ) -> Result<Linear, ModelError> {
        let w = match self.net.keys.layout {
            LinearLayout::Torch => {
                LinearWeights::from_out_in(self.w.matrix(&format!("{name}.weight"), n_out, n_in)?)
            }
            LinearLayout::Conv1d => {
                LinearWeights::for_machine(self.w.matrix(&format!("{name}.weight"), n_in, n_out)?)
            }
        };
        let b = if bias {
            self.w.vector(&format!("{name}.bias"), n_out)?
        } else {
            Array1::zeros(n_out)
        };
        let packed = match self.net.keys.layout {
            LinearLayout::Torch => self.w.take_packed(&format!("{name}.weight"), n_out, n_in),
            LinearLayout::Conv1d => None,
        };
        Ok(Linear { w, b, packed })
    }

    fn rms(&mut self, name: &str, d: usize) -> Result<RmsNorm, ModelError> {
        let mut weight = self.w.vector(&format!("{name}.weight"), d)?;
        if matches!(self.net.norm, NormKind::RmsNorm { plus_one: true }) {
            weight += 1.0;
        }
        Ok(RmsNorm {
            weight,
            eps: self.net.norm_eps,
        })
    }

    fn norm(&mut self, name: &str, d: usize) -> Result<NormLayer, ModelError> {
        Ok(match self.net.norm {
            NormKind::LayerNorm => NormLayer::Layer(LayerNorm {
                weight: self.w.vector(&format!("{name}.weight"), d)?,
                bias: self.w.vector(&format!("{name}.bias"), d)?,
                eps: self.net.norm_eps,
            }),
            NormKind::RmsNorm { .. } => NormLayer::Rms(self.rms(name, d)?),
        })
    }

    fn opt_norm(
        &mut self,
        block: &str,
        name: Option<&str>,
        d: usize,
    ) -> Result<Option<NormLayer>, ModelError> {
        name.map(|n| self.norm(&format!("{block}{n}"), d))
            .transpose()
    }

    fn block(&mut self, l: usize) -> Result<Block, ModelError> {
        let net = self.net;
        let keys = &net.keys;
        let (d, a, m) = (net.hidden, &net.attention, &net.mlp);
        let b = format!("{}{}.{l}.", self.prefix, keys.layers);
        let (qw, kvw) = (net.q_width(), net.kv_width());
        let qkv = match &keys.qkv {
            QkvKeys::Separate { q, k, v } => {
                let q_name = format!("{b}{q}");
                // A wrong head_dim shows first as q_proj's rows: say which fields disagree.
                if let Some(shape) = self.w.shape(&format!("{q_name}.weight")) {
                    let rows = match keys.layout {
                        LinearLayout::Torch => shape.first(),
                        LinearLayout::Conv1d => shape.get(1),
                    };
                    if shape.len() == 2 && rows.is_some_and(|&r| r != qw) {
                        return Err(ModelError::Field {
                            field: "head_dim".into(),
                            message: format!(
                                "{} × {} heads = {qw}, but {q_name}.weight has {} output rows",
                                a.head_dim,
                                a.heads,
                                rows.copied().unwrap_or(0)
                            ),
                        });
                    }
                }
                Qkv::Separate(Box::new([
                    self.linear(&q_name, d, qw, a.qkv_bias)?,
                    self.linear(&format!("{b}{k}"), d, kvw, a.qkv_bias)?,
                    self.linear(&format!("{b}{v}"), d, kvw, a.qkv_bias)?,
                ]))
            }
            QkvKeys::Fused(name) => {
                Qkv::Fused(self.linear(&format!("{b}{name}"), d, qw + 2 * kvw, a.qkv_bias)?)
            }
        };
        let dh = a.head_dim;
        let mut qk = |name: Option<&str>| -> Result<Option<RmsNorm>, ModelError> {
            match name {
                Some(n) if a.qk_norm => Ok(Some(self.rms(&format!("{b}{n}"), dh)?)),
                _ => Ok(None),
            }
        };
        let (q_norm, k_norm) = (qk(keys.q_norm)?, qk(keys.k_norm)?);
        let (pre, sandwich, post) = (
            net.placement != Placement::Post,
            net.placement == Placement::Sandwich,
            net.placement == Placement::Post,
        );
        let pick = |on: bool, n: Option<&'static str>| if on { n } else { None };
        Ok(Block {
            qkv,
            o: self.linear(&format!("{b}{}", keys.o), qw, d, a.o_bias)?,
            q_norm,
            k_norm,
            attn_in: self.opt_norm(&b, pick(pre, keys.attn_in), d)?,
            attn_out: self.opt_norm(&b, pick(sandwich, keys.attn_out), d)?,
            attn_residual: self.opt_norm(&b, pick(post, keys.attn_residual), d)?,
            mlp_in: self.opt_norm(&b, pick(pre, keys.mlp_in), d)?,
            mlp_out: self.opt_norm(&b, pick(sandwich, keys.mlp_out), d)?,
            mlp_residual: self.opt_norm(&b, pick(post, keys.mlp_residual), d)?,
            gate: match keys.gate {
                Some(g) if m.gated => {
                    Some(self.linear(&format!("{b}{g}"), d, m.intermediate, m.bias)?)
                }
                _ => None,
            },
            up: self.linear(&format!("{b}{}", keys.up), d, m.intermediate, m.bias)?,
            down: self.linear(&format!("{b}{}", keys.down), m.intermediate, d, m.bias)?,
            cross: match &keys.cross {
                Some(c) => Some(Box::new(CrossBlock {
                    q: self.linear(&format!("{b}{}", c.q), d, qw, a.qkv_bias)?,
                    k: self.linear(&format!("{b}{}", c.k), d, qw, a.qkv_bias)?,
                    v: self.linear(&format!("{b}{}", c.v), d, qw, a.qkv_bias)?,
                    o: self.linear(&format!("{b}{}", c.o), qw, d, a.o_bias)?,
                    norm_in: self.opt_norm(&b, pick(pre, Some(c.norm)), d)?,
                    norm_residual: self.opt_norm(&b, pick(post, Some(c.norm)), d)?,
                })),
                None => None,
            },
        })
    }
}

/// The token embedding: an f32 table, or rows read on demand (a quantised GGUF table).
enum Embedding {
    Dense(Array2<f32>),
    Rows(RowTable),
}

/// Rows of an embedding table for the ids (checked against the table size).
fn embed(table: &Embedding, ids: &[u32]) -> Result<Array2<f32>, ModelError> {
    let (vocab, d) = match table {
        Embedding::Dense(t) => t.dim(),
        Embedding::Rows(t) => (t.rows, t.cols),
    };
    let mut x = Array2::zeros((ids.len(), d));
    for (i, &id) in ids.iter().enumerate() {
        if id as usize >= vocab {
            return Err(ModelError::BadTokenId { id, vocab });
        }
        match table {
            Embedding::Dense(t) => x.row_mut(i).assign(&t.row(id as usize)),
            Embedding::Rows(t) => {
                let mut row = x.row_mut(i);
                let out = row.as_slice_mut().expect("fresh rows are contiguous");
                t.row(id as usize, out).map_err(ModelError::Gguf)?;
            }
        }
    }
    Ok(x)
}

/// Runs `f` on row blocks of an n-row input, in parallel, each block writing its rows of N
/// outputs (output i is `widths[i]` wide) in place: `f` gets its rows, the threads its
/// products may use (1 when the blocks run in parallel, all of them when there is one
/// block), and its rows of each output as uninitialised memory (rows × `widths[i]`). Blocks
/// are about [`kernels::row_block`] rows (⌈n / threads⌉, 8 to [`kernels::ROW_BLOCK`]), as
/// even as possible, so no block of a many-row input has a single row (a one-row product
/// takes the decoding path, which sums differently).
/// Every row's numbers are the same however the rows are split.
///
/// A block's products land in its rows of the outputs ([`Linear::forward_into`]): stacking
/// per-block arrays afterwards was a copy of every output (2% of a 512-token MiniLM
/// forward), and doing that after the blocks, a serial copy between two parallel regions.
///
/// # Safety
/// `f` must write every element of every output slice it is given.
unsafe fn by_row_blocks<const N: usize>(
    n: usize,
    widths: [usize; N],
    f: impl Fn(std::ops::Range<usize>, usize, [&mut [MaybeUninit<f32>]; N]) + Sync,
) -> [Array2<f32>; N] {
    let threads = rayon::current_num_threads().max(1);
    let blocks = n.div_ceil(kernels::row_block(n, threads)).max(1);
    let bounds: Vec<std::ops::Range<usize>> = (0..blocks)
        .map(|b| b * n / blocks..(b + 1) * n / blocks)
        .collect();
    let mut outs = widths.map(|w| kernels::uninit_array2((n, w)));
    let mut dsts: Vec<Vec<&mut [MaybeUninit<f32>]>> =
        bounds.iter().map(|_| Vec::with_capacity(N)).collect();
    for (out, &w) in outs.iter_mut().zip(&widths) {
        let mut rest = out.as_slice_mut().expect("a fresh array");
        for (rows, dst) in bounds.iter().zip(dsts.iter_mut()) {
            let (mine, after) = std::mem::take(&mut rest).split_at_mut(rows.len() * w);
            dst.push(mine);
            rest = after;
        }
    }
    fn parts<const N: usize>(dst: Vec<&mut [MaybeUninit<f32>]>) -> [&mut [MaybeUninit<f32>]; N] {
        dst.try_into()
            .unwrap_or_else(|_| unreachable!("one slice per output"))
    }
    if blocks == 1 {
        let dst = dsts.pop().expect("one block");
        f(0..n, threads, parts(dst));
    } else {
        dsts.into_par_iter()
            .zip(bounds)
            .for_each(|(dst, rows)| f(rows, 1, parts(dst)));
    }
    // SAFETY: the blocks' row ranges partition 0..n, each block's slices are its rows of
    // every output, and `f` wrote every element of them (the caller's contract).
    outs.map(|o| unsafe { o.assume_init() })
}

/// Memory a block wrote in full, read back as numbers.
///
/// # Safety
/// Every element of `out` must have been written.
unsafe fn written(out: &[MaybeUninit<f32>]) -> &[f32] {
    // SAFETY: the caller's contract; `MaybeUninit<f32>` has f32's layout.
    unsafe { &*(std::ptr::from_ref(out) as *const [f32]) }
}

/// Memory a block wrote in full, as numbers to change in place.
///
/// # Safety
/// Every element of `out` must have been written.
unsafe fn written_mut(out: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: the caller's contract; `MaybeUninit<f32>` has f32's layout.
    unsafe { &mut *(std::ptr::from_mut(out) as *mut [f32]) }
}

/// Rows `rows` of x as a new array: one copy of their span (ndarray's `to_owned` of a row
/// slice went element by element, 1% of a 512-token forward).
fn rows_of(x: &Array2<f32>, rows: std::ops::Range<usize>) -> Array2<f32> {
    let d = x.ncols();
    match x.as_slice() {
        Some(all) => {
            Array2::from_shape_vec((rows.len(), d), all[rows.start * d..rows.end * d].to_vec())
                .expect("rows × d values")
        }
        None => x.slice(s![rows, ..]).to_owned(),
    }
}

/// `x` normalised in place by `norm`, if the block has one there.
fn apply(norm: Option<&NormLayer>, mut x: Array2<f32>) -> Array2<f32> {
    if let Some(n) = norm {
        n.apply(&mut x);
    }
    x
}

impl Transformer {
    /// Builds the network from its weights: every tensor by its checkpoint name (a missing or
    /// misshapen key is named in the error).
    pub fn load(net: &Network, w: &mut Weights) -> Result<Transformer, ModelError> {
        let keys = &net.keys;
        let prefix = keys
            .prefixes
            .iter()
            .copied()
            .find(|p| w.contains(&format!("{p}{}.weight", keys.embed)))
            .unwrap_or(keys.prefixes.first().copied().unwrap_or(""));
        let d = net.hidden;
        let mut ld = Loader { w, net, prefix };
        let mut blocks = Vec::with_capacity(net.layers.len());
        for l in 0..net.layers.len() {
            blocks.push(ld.block(l)?);
        }
        let p = prefix;
        let embed_key = format!("{p}{}.weight", keys.embed);
        let embed = match ld.w.take_rows(&embed_key, net.vocab_size, d)? {
            Some(rows) => Embedding::Rows(rows),
            None => Embedding::Dense(ld.w.matrix(&embed_key, net.vocab_size, d)?),
        };
        let positions = match keys.positions {
            Some(k) if net.embedding.learned_positions => Some(ld.w.matrix(
                &format!("{p}{k}.weight"),
                net.max_positions + net.embedding.position_offset,
                d,
            )?),
            _ => None,
        };
        let token_type = match (keys.token_type, net.embedding.token_type) {
            (Some(k), Some(rows)) => Some(
                ld.w.matrix(&format!("{p}{k}.weight"), rows, d)?
                    .row(0)
                    .to_owned(),
            ),
            _ => None,
        };
        let embed_norm = match keys.embed_norm {
            Some(k) if net.embedding.norm => Some(ld.norm(&format!("{p}{k}"), d)?),
            _ => None,
        };
        let final_norm = keys
            .final_norm
            .map(|k| ld.norm(&format!("{p}{k}"), d))
            .transpose()?;
        let inv_freq = net
            .layers
            .iter()
            .map(|l| l.rope.as_ref().map(|r| r.inv_freq(net.attention.head_dim)))
            .collect();
        // The LM head: the embedding when tied; else `lm_head.weight` if the checkpoint has
        // it (attention does not need it, so a checkpoint without one still loads).
        let (lm_head, head_packed) = if net.tied_lm_head || !ld.w.contains("lm_head.weight") {
            (None, ld.w.take_packed(&embed_key, net.vocab_size, d))
        } else {
            let packed = ld.w.take_packed("lm_head.weight", net.vocab_size, d);
            (
                Some(ld.w.matrix("lm_head.weight", net.vocab_size, d)?),
                packed,
            )
        };
        Ok(Transformer {
            net: net.clone(),
            embed,
            positions,
            token_type,
            embed_norm,
            blocks,
            final_norm,
            inv_freq,
            rope_tables: Default::default(),
            lm_head,
            head_packed,
            tied_rows: std::sync::OnceLock::new(),
        })
    }

    /// The description this network was built from.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The embedded input of the blocks (n × d): token rows, scaled, plus positions and token
    /// type, normalised where the family does.
    fn embed_input(&self, ids: &[u32], first_pos: usize) -> Result<Array2<f32>, ModelError> {
        let end = first_pos + ids.len();
        let net = &self.net;
        let mut x = embed(&self.embed, ids)?;
        if let Some(scale) = net.embedding.scale {
            x *= scale;
        }
        if (self.positions.is_some() || net.embedding.sinusoidal) && end > net.max_positions {
            return Err(ModelError::TooManyTokens {
                what: "the text",
                n: end,
                max: net.max_positions,
            });
        }
        if let Some(pos) = &self.positions {
            let off = net.embedding.position_offset;
            x += &pos.slice(s![first_pos + off..end + off, ..]);
        }
        if net.embedding.sinusoidal {
            x += &sinusoidal_positions(first_pos, ids.len(), net.hidden);
        }
        if let Some(tt) = &self.token_type {
            x += tt;
        }
        Ok(apply(self.embed_norm.as_ref(), x))
    }

    /// Runs every block on the ids (one segment, no padding); returns each layer's captures
    /// and the final hidden state (after the final norm, where the family has one).
    /// `opts` says which heads keep their full matrices and when to stop.
    pub fn forward(
        &self,
        backend: Backend,
        ids: &[u32],
        opts: &ForwardOpts<'_>,
    ) -> Result<(Vec<LayerRun>, Array2<f32>), ModelError> {
        kernels::on_pool_awake(|| self.forward_on_pool(backend, ids, opts))
    }

    fn forward_on_pool(
        &self,
        backend: Backend,
        ids: &[u32],
        opts: &ForwardOpts<'_>,
    ) -> Result<(Vec<LayerRun>, Array2<f32>), ModelError> {
        let mut x = self.embed_input(ids, 0)?;
        let layers = self.blocks.len();
        let mut runs = Vec::with_capacity(layers);
        let capture = vec![opts.full; self.net.attention.heads];
        for l in 0..layers {
            if opts
                .cancel
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            {
                return Err(ModelError::Cancelled);
            }
            let work = LayerWork {
                cross: opts.cross.and_then(|c| c.get(l)),
                ..LayerWork::shown(&capture, opts.special_keys)
            };
            let (mut run, next) = self.layer(backend, l, &x, work);
            let next = next.expect("asked for the block output");
            if !opts.full {
                // The layer's output projection is recomputed with the layer when it is opened.
                run.attn_out = Array2::zeros((0, 0));
            }
            run.input = std::mem::replace(&mut x, next);
            runs.push(run);
            if let Some(report) = opts.progress {
                report((l + 1) as f32 / layers as f32);
            }
        }
        Ok((runs, apply(self.final_norm.as_ref(), x)))
    }

    /// Block `l` on its input x (n × d): the layer's run (its `input` left empty: the caller
    /// owns x) with full matrices for the heads with `work.capture[h]`, and with `work.mlp` the
    /// block's output (the attention alone is what opening a layer needs).
    /// Deterministic: the same x gives the same numbers bit for bit, which is what lets a
    /// long run drop its matrices and recompute one layer when it is opened.
    /// Runs on rayon's pool ([`kernels::on_pool`]).
    pub fn layer(
        &self,
        backend: Backend,
        l: usize,
        x: &Array2<f32>,
        work: LayerWork<'_>,
    ) -> (LayerRun, Option<Array2<f32>>) {
        kernels::on_pool(|| self.layer_on_pool(backend, l, x, work))
    }

    fn layer_on_pool(
        &self,
        backend: Backend,
        l: usize,
        x: &Array2<f32>,
        work: LayerWork<'_>,
    ) -> (LayerRun, Option<Array2<f32>>) {
        let LayerWork {
            capture,
            special_keys,
            mlp,
            kv,
            digests: want_digests,
            ablate,
            mean_rows,
            cross,
        } = work;
        let net = &self.net;
        let a = &net.attention;
        let (block, spec) = (&self.blocks[l], &net.layers[l]);
        let n = x.nrows();
        let (q, k, v) = {
            let widths = [self.net.q_width(), self.net.kv_width(), self.net.kv_width()];
            // SAFETY: `project_qkv_into` writes all of each block's rows of Q, K and V.
            let [q, k, v] = unsafe {
                by_row_blocks(n, widths, |rows, threads, dst| {
                    let h_in = apply(block.attn_in.as_ref(), rows_of(x, rows));
                    self.project_qkv_into(backend, threads, block, &h_in, dst);
                })
            };
            (q, k, v)
        };
        let rope = self.inv_freq[l].as_ref().map(|f| self.rope_table(f, n));
        if let Some((kc, vc)) = kv {
            // The KV cache of a prompt: K per KV head (normed, rotated), side by side per row.
            let heads: Vec<Array2<f32>> = (0..a.kv_heads)
                .map(|g| {
                    super::nn::head_slice(&k, g, a.head_dim, block.k_norm.as_ref(), rope.as_deref())
                        .0
                })
                .collect();
            let views: Vec<_> = heads.iter().map(|h| h.view()).collect();
            let rows = side_by_side(&views).expect("heads share n");
            kc.extend(rows.iter());
            vc.extend(v.as_standard_layout().iter());
        }
        let params = AttnParams {
            heads: a.heads,
            kv_heads: a.kv_heads,
            head_dim: a.head_dim,
            scale: a.scale,
            softcap: a.softcap,
            causal: a.causal,
            window: spec.window,
            q_norm: block.q_norm.as_ref(),
            k_norm: block.k_norm.as_ref(),
            rope: rope.as_deref(),
            special_keys,
            digests: want_digests,
            blocked: &ablate.map(|ab| ab.blocked(l)).unwrap_or_default(),
        };
        let mut heads = attention_heads(backend, &q, &k, &v, &params, capture);
        drop((q, k, v));
        // The context side by side (n × h·dh), built here only when it is changed or read as
        // a whole first; otherwise each row block below builds its own rows of it.
        let mut concat = (ablate.is_some() || mean_rows > 0).then(|| {
            let views: Vec<_> = heads.contexts.iter().map(|c| c.view()).collect();
            side_by_side(&views).expect("heads share n")
        });
        let context_mean = match &concat {
            Some(c) if mean_rows > 0 => {
                let rows = c.slice(s![..mean_rows.min(n), ..]);
                rows.mean_axis(ndarray::Axis(0))
                    .map(|m| m.to_vec())
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        if let (Some(ab), Some(c)) = (ablate, concat.as_mut()) {
            ab.knock(l, a.head_dim, c);
        }
        // The rest of the block is row by row: the output projection, the residual sums and
        // the MLP run on each row block in one parallel task (a decoder's cross-attention,
        // which reads all rows, splits it). A run that captures heads keeps the context too.
        let whole_block = mlp && block.cross.is_none();
        let keep_concat = capture.iter().any(|&c| c);
        let (d, hd) = (x.ncols(), a.heads * a.head_dim);
        let widths = [
            d,
            if whole_block { d } else { 0 },
            if keep_concat && concat.is_none() {
                hd
            } else {
                0
            },
        ];
        let work = |rows: std::ops::Range<usize>,
                    threads: usize,
                    [d_out, d_next, d_concat]: [&mut [MaybeUninit<f32>]; 3]| {
            let input = match &concat {
                Some(c) => rows_of(c, rows.clone()),
                None => {
                    let views: Vec<_> = (heads.contexts.iter())
                        .map(|c| c.slice(s![rows.clone(), ..]))
                        .collect();
                    side_by_side(&views).expect("heads share n")
                }
            };
            let then = if whole_block {
                block.gate.as_ref().or(Some(&block.up))
            } else {
                None
            };
            block
                .o
                .forward_into(backend, threads, &input, then, d_out, None);
            if whole_block {
                // SAFETY: `forward_into` wrote all of `d_out`.
                let attn_out = ArrayView2::from_shape((rows.len(), d), unsafe { written(d_out) })
                    .expect("rows × d values");
                let x1 = self.attn_residual(block, &x.slice(s![rows, ..]), attn_out);
                self.mlp_residual_into(backend, threads, block, x1, d_next);
            }
            if !d_concat.is_empty() {
                write_into(d_concat, &input);
            }
        };
        // SAFETY: each block writes all of its rows of the three outputs (the last two only
        // when they are wanted; otherwise they are 0 wide).
        let [attn_out, next, concat_rows] = unsafe { by_row_blocks(n, widths, work) };
        let kept_concat = match concat {
            Some(c) if keep_concat => c,
            _ if keep_concat => concat_rows,
            _ => Array2::zeros((0, 0)),
        };
        let captures = heads.captures_with_contexts();
        let digests = std::mem::take(&mut heads.digests);
        let run = LayerRun {
            input: Array2::zeros((0, 0)),
            heads: captures,
            concat: kept_concat,
            digests,
            attn_out,
            context_mean,
            scale: a.scale,
            window: spec.window,
            rope_theta: spec.rope.as_ref().map(|r| r.theta),
            cross: None,
        };
        if !mlp {
            return (run, None);
        }
        if whole_block {
            return (run, Some(next));
        }
        let mut run = run;
        let x1 = self.attn_residual(block, &x.view(), run.attn_out.view());
        let x1 = match (&block.cross, cross) {
            (Some(cb), Some(ckv)) => {
                let (x2, cross_run) =
                    self.cross_attend(backend, cb, x1, ckv, capture, want_digests);
                run.cross = Some(Box::new(cross_run));
                x2
            }
            _ => x1,
        };
        let next = self.mlp_residual(backend, rayon::current_num_threads(), block, x1);
        (run, Some(next))
    }

    /// The encoder output's K and V for every decoder layer's cross-attention (empty for a
    /// network without cross-attention).
    pub fn cross_kv(&self, backend: Backend, memory: &Array2<f32>) -> Vec<CrossKv> {
        self.blocks
            .iter()
            .filter_map(|b| b.cross.as_ref())
            .map(|c| CrossKv {
                k: c.k.forward(backend, memory),
                v: c.v.forward(backend, memory),
            })
            .collect()
    }

    /// Whether the blocks attend over an encoder output.
    pub fn has_cross(&self) -> bool {
        self.blocks.iter().any(|b| b.cross.is_some())
    }

    /// Cross-attention of a decoder block on x1 (its self-attention's residual output):
    /// queries from x1, keys and values from the encoder (`ckv`), every source token visible.
    /// Returns the sub-layer's residual output and the run of its heads.
    fn cross_attend(
        &self,
        backend: Backend,
        cb: &CrossBlock,
        x1: Array2<f32>,
        ckv: &CrossKv,
        capture: &[bool],
        digests: bool,
    ) -> (Array2<f32>, LayerRun) {
        let a = &self.net.attention;
        let q =
            cb.q.forward(backend, &apply(cb.norm_in.as_ref(), x1.clone()));
        let params = AttnParams {
            heads: a.heads,
            kv_heads: a.heads,
            head_dim: a.head_dim,
            scale: a.scale,
            softcap: None,
            causal: false,
            window: None,
            q_norm: None,
            k_norm: None,
            rope: None,
            special_keys: &[],
            digests,
            blocked: &[],
        };
        let mut out = attention_heads(backend, &q, &ckv.k, &ckv.v, &params, capture);
        let views: Vec<_> = out.contexts.iter().map(|c| c.view()).collect();
        let concat = side_by_side(&views).expect("heads share n");
        let (heads, digests) = (
            out.captures_with_contexts(),
            std::mem::take(&mut out.digests),
        );
        let attn_out = cb.o.forward(backend, &concat);
        let x2 = apply(cb.norm_residual.as_ref(), &x1 + &attn_out);
        let kept_concat = if capture.iter().any(|&c| c) {
            concat
        } else {
            Array2::zeros((0, 0))
        };
        let run = LayerRun {
            input: x1,
            heads,
            concat: kept_concat,
            digests,
            attn_out,
            context_mean: Vec::new(),
            scale: a.scale,
            window: None,
            rope_theta: None,
            cross: None,
        };
        (x2, run)
    }

    /// The rotary table of frequencies `inv_freq` for positions 0..n, from the cache when a
    /// layer of this length already made it (the same numbers: it is the same computation).
    fn rope_table(&self, inv_freq: &[f32], n: usize) -> std::sync::Arc<RopeTable> {
        let mut tables = self.rope_tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, t)) = tables.iter().find(|(f, len, _)| *len == n && f == inv_freq) {
            return t.clone();
        }
        let table = std::sync::Arc::new(RopeTable::new(inv_freq, n));
        // Keep the tables of this length only: a new length replaces them.
        tables.retain(|(_, len, _)| *len == n);
        tables.push((inv_freq.to_vec(), n, table.clone()));
        table
    }

    /// The self-attention's residual sum, with the family's norms.
    fn attn_residual(
        &self,
        block: &Block,
        x: &ArrayView2<f32>,
        attn_out: ArrayView2<f32>,
    ) -> Array2<f32> {
        // a + x (the same sums as x + a: f32 addition commutes), in one pass over both when
        // the attention output has no norm of its own.
        let x1 = match (&block.attn_out, attn_out.as_slice(), x.as_slice()) {
            (None, Some(a), Some(xs)) => {
                let sum: Vec<f32> = a.iter().zip(xs).map(|(&a, &b)| a + b).collect();
                Array2::from_shape_vec(attn_out.raw_dim(), sum).expect("the shape of a")
            }
            _ => {
                let mut a = apply(block.attn_out.as_ref(), attn_out.to_owned());
                a += x;
                a
            }
        };
        apply(block.attn_residual.as_ref(), x1)
    }

    /// The MLP on x1 and its residual sum: the block's output. Its products run on `threads`.
    fn mlp_residual(
        &self,
        backend: Backend,
        threads: usize,
        block: &Block,
        x1: Array2<f32>,
    ) -> Array2<f32> {
        let mut out = Array2::<f32>::uninit(x1.raw_dim());
        let dst = out.as_slice_mut().expect("a fresh array");
        self.mlp_residual_into(backend, threads, block, x1, dst);
        // SAFETY: `mlp_residual_into` writes every element of `out`.
        unsafe { out.assume_init() }
    }

    /// [`Transformer::mlp_residual`] into `out` (x1's shape, contiguous, maybe
    /// uninitialised), every element of which it writes. Without a norm on the MLP's output,
    /// the down projection adds x1 in its tile as it writes `out`: no separate sum, no copy.
    fn mlp_residual_into(
        &self,
        backend: Backend,
        threads: usize,
        block: &Block,
        x1: Array2<f32>,
        out: &mut [MaybeUninit<f32>],
    ) {
        let x1 = if x1.is_standard_layout() {
            x1
        } else {
            x1.as_standard_layout().into_owned()
        };
        let normed = block.mlp_in.as_ref().map(|n| {
            let mut m = x1.clone();
            n.apply(&mut m);
            m
        });
        let m_in = normed.as_ref().unwrap_or(&x1);
        let f = match &block.gate {
            Some(gate) => {
                let mut g = gate.forward_then(backend, threads, m_in, Some(&block.up));
                let u = block
                    .up
                    .forward_then(backend, threads, m_in, Some(&block.down));
                gated(backend, &self.net.mlp.activation, &mut g, &u);
                g
            }
            None => {
                let mut f = block
                    .up
                    .forward_then(backend, threads, m_in, Some(&block.down));
                activation(backend, &self.net.mlp.activation, &mut f);
                f
            }
        };
        let x1s = x1.as_slice().expect("standard layout");
        match &block.mlp_out {
            None => block
                .down
                .forward_into(backend, threads, &f, None, out, Some(x1s)),
            Some(norm) => {
                let mut f2 = block.down.forward_on(backend, threads, &f);
                norm.apply(&mut f2);
                f2 += &x1;
                write_into(out, &f2);
            }
        }
        if let Some(norm) = &block.mlp_residual {
            // SAFETY: every element of `out` was written just above.
            let out = unsafe { written_mut(out) };
            norm.apply_rows(out, x1.ncols());
        }
    }

    /// [`Transformer::project_qkv`] into Q, K and V's rows (n × h·dh, n × g·dh, n × g·dh;
    /// uninitialised, all written).
    fn project_qkv_into(
        &self,
        backend: Backend,
        threads: usize,
        block: &Block,
        h_in: &Array2<f32>,
        [dq, dk, dv]: [&mut [MaybeUninit<f32>]; 3],
    ) {
        match &block.qkv {
            Qkv::Separate(qkv) => {
                qkv[0].forward_into(backend, threads, h_in, Some(&qkv[1]), dq, None);
                qkv[1].forward_into(backend, threads, h_in, Some(&qkv[2]), dk, None);
                qkv[2].forward_into(backend, threads, h_in, None, dv, None);
            }
            Qkv::Fused(_) => {
                let (q, k, v) = self.project_qkv(backend, threads, block, h_in);
                for (d, a) in [(dq, q), (dk, k), (dv, v)] {
                    write_into(d, &a);
                }
            }
        }
    }

    /// Q (n × h·dh), K and V (n × g·dh) of a block's normed input.
    fn project_qkv(
        &self,
        backend: Backend,
        threads: usize,
        block: &Block,
        h_in: &Array2<f32>,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        let (qw, kvw) = (self.net.q_width(), self.net.kv_width());
        match &block.qkv {
            Qkv::Separate(qkv) => (
                qkv[0].forward_then(backend, threads, h_in, Some(&qkv[1])),
                qkv[1].forward_then(backend, threads, h_in, Some(&qkv[2])),
                qkv[2].forward_on(backend, threads, h_in),
            ),
            Qkv::Fused(f) => {
                let qkv = f.forward_on(backend, threads, h_in);
                (
                    qkv.slice(s![.., ..qw]).to_owned(),
                    qkv.slice(s![.., qw..qw + kvw]).to_owned(),
                    qkv.slice(s![.., qw + kvw..]).to_owned(),
                )
            }
        }
    }

    /// Whether this network can name a next token: causal, with an LM head (separate or the
    /// embedding).
    pub fn has_lm_head(&self) -> bool {
        self.net.attention.causal && (self.net.tied_lm_head || self.lm_head.is_some())
    }

    /// The LM head as vocab × d rows.
    fn head_rows(&self) -> Result<&Array2<f32>, ModelError> {
        if let Some(h) = &self.lm_head {
            return Ok(h);
        }
        match &self.embed {
            Embedding::Dense(t) => Ok(t),
            Embedding::Rows(t) => self
                .tied_rows
                .get_or_init(|| {
                    let mut m = Array2::zeros((t.rows, t.cols));
                    for (r, mut row) in m.rows_mut().into_iter().enumerate() {
                        t.row(r, row.as_slice_mut().expect("fresh rows are contiguous"))?;
                    }
                    Ok(m)
                })
                .as_ref()
                .map_err(|e| ModelError::Gguf(e.clone())),
        }
    }

    /// Logits of one final hidden row (after the final norm): head · h, vocab in parallel.
    pub fn logits(&self, h: &[f32]) -> Result<Vec<f32>, ModelError> {
        if let Some(p) = &self.head_packed
            && p.cols() == h.len()
        {
            let mut out = vec![0.0f32; p.rows()];
            p.gemv(Backend::best(), h, &mut out);
            return Ok(out);
        }
        let head = self.head_rows()?;
        let head = head.as_slice().expect("owned tables are contiguous");
        let d = h.len();
        let mut out = vec![0.0f32; head.len() / d.max(1)];
        out.par_chunks_mut(1024).enumerate().for_each(|(c, chunk)| {
            for (k, o) in chunk.iter_mut().enumerate() {
                let r = c * 1024 + k;
                let row = &head[r * d..(r + 1) * d];
                *o = super::packed::dot_f32(Backend::best(), row, h);
            }
        });
        Ok(out)
    }

    /// Runs a prompt through the block forward (every head in 64-row blocks, no matrices
    /// kept) and fills the cache with its keys and values: what decoding continues from.
    pub fn prefill(
        &self,
        backend: Backend,
        cache: &mut KvCache,
        ids: &[u32],
        ablate: Option<&Ablate<'_>>,
    ) -> Result<(), ModelError> {
        if !cache.is_empty() {
            return Err(ModelError::Invalid {
                what: "prefill",
                message: "the cache already holds tokens".into(),
            });
        }
        if ids.len() > self.net.max_positions {
            return Err(ModelError::TooManyTokens {
                what: "the text",
                n: ids.len(),
                max: self.net.max_positions,
            });
        }
        cache.layers = vec![(Vec::new(), Vec::new()); self.blocks.len()];
        let mut x = self.embed_input(ids, 0)?;
        let capture = vec![false; self.net.attention.heads];
        for l in 0..self.blocks.len() {
            let work = LayerWork {
                kv: Some(&mut cache.layers[l]),
                digests: false,
                ablate,
                ..LayerWork::shown(&capture, &[])
            };
            let (_, next) = self.layer(backend, l, &x, work);
            x = next.expect("asked for the block output");
        }
        cache.len = ids.len();
        Ok(())
    }

    /// One decoding step: token `id` at position `cache.len()`, attending to the cached
    /// tokens and itself; its K and V join the cache. Returns the next-token logits (when
    /// the model has a head) and the token's attention row in every layer and head.
    pub fn step(
        &self,
        backend: Backend,
        cache: &mut KvCache,
        id: u32,
        ablate: Option<&Ablate<'_>>,
    ) -> Result<StepOut, ModelError> {
        kernels::on_pool_awake(|| self.step_on_pool(backend, cache, id, ablate))
    }

    fn step_on_pool(
        &self,
        backend: Backend,
        cache: &mut KvCache,
        id: u32,
        ablate: Option<&Ablate<'_>>,
    ) -> Result<StepOut, ModelError> {
        let net = &self.net;
        let a = &net.attention;
        let pos = cache.len;
        if pos >= net.max_positions {
            return Err(ModelError::TooManyTokens {
                what: "the text",
                n: pos + 1,
                max: net.max_positions,
            });
        }
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![(Vec::new(), Vec::new()); self.blocks.len()];
        }
        let mut x = self.embed_input(&[id], pos)?;
        let threads = rayon::current_num_threads();
        let (qw, kvw, dh) = (net.q_width(), net.kv_width(), a.head_dim);
        let group = (a.heads / a.kv_heads.max(1)).max(1);
        let t = pos + 1;
        let mut attention = Vec::with_capacity(self.blocks.len());
        let mut cross = Vec::new();
        for (l, block) in self.blocks.iter().enumerate() {
            let spec = &net.layers[l];
            let h_in = apply(block.attn_in.as_ref(), x.clone());
            let (q, k, v) = self.project_qkv(backend, threads, block, &h_in);
            let rope = self.inv_freq[l].as_ref().map(|f| RopeTable::at(f, pos));
            // This token's K (normed, rotated) and V join the layer's cache.
            let (kc, vc) = &mut cache.layers[l];
            for g in 0..a.kv_heads {
                let mut kh = k.slice(s![.., g * dh..(g + 1) * dh]).to_owned();
                if let Some(nm) = &block.k_norm {
                    nm.apply(&mut kh);
                }
                if let Some(r) = &rope {
                    kh = r.apply(&kh);
                }
                kc.extend(kh.iter());
            }
            vc.extend(v.iter());
            let keys = super::nn::key_span(pos, t, a.causal, spec.window);
            let blocked = ablate.map(|ab| ab.blocked(l)).unwrap_or_default();
            let mut concat = Array2::<f32>::zeros((1, qw));
            let mut rows = Vec::with_capacity(a.heads);
            for hd in 0..a.heads {
                let g = hd / group;
                let mut qh = q.slice(s![.., hd * dh..(hd + 1) * dh]).to_owned();
                if let Some(nm) = &block.q_norm {
                    nm.apply(&mut qh);
                }
                if let Some(r) = &rope {
                    qh = r.apply(&qh);
                }
                let qv = qh.as_slice().expect("fresh");
                let mut p = vec![0.0f32; t];
                for j in keys.clone() {
                    let kj = &kc[j * kvw + g * dh..j * kvw + (g + 1) * dh];
                    let s = super::packed::dot_f32(backend, qv, kj) * a.scale;
                    p[j] = match a.softcap {
                        Some(c) => c * (s / c).tanh(),
                        None => s,
                    };
                }
                let edges: Vec<(usize, usize)> = blocked
                    .iter()
                    .filter(|b| b.0 == hd)
                    .map(|b| (b.1, b.2))
                    .collect();
                super::nn::block_edges(&edges, pos, keys.clone(), &mut p);
                if p[keys.clone()].iter().all(|&x| x == f32::NEG_INFINITY) {
                    p[keys.clone()].fill(0.0); // every visible key blocked
                } else {
                    crate::core::kernels::softmax_row(backend, &mut p[keys.clone()]);
                }
                let mut ctx = concat.slice_mut(s![0, hd * dh..(hd + 1) * dh]);
                let ctx = ctx.as_slice_mut().expect("a row slice of a fresh array");
                for j in keys.clone() {
                    let vj = &vc[j * kvw + g * dh..j * kvw + (g + 1) * dh];
                    super::packed::axpy_f32(backend, p[j], vj, ctx);
                }
                rows.push(p);
            }
            attention.push(rows);
            if let Some(ab) = ablate {
                ab.knock(l, dh, &mut concat);
            }
            let attn_out = block.o.forward(backend, &concat);
            let mut x1 = self.attn_residual(block, &x.view(), attn_out.view());
            if let (Some(cb), Some(ckv)) = (&block.cross, cache.cross.get(l)) {
                let all = vec![true; a.heads];
                let (x2, run) = self.cross_attend(backend, cb, x1, ckv, &all, false);
                cross.push(run.heads.iter().map(|c| c.probs.row(0).to_vec()).collect());
                x1 = x2;
            }
            x = self.mlp_residual(backend, threads, block, x1);
        }
        cache.len = t;
        let logits = if self.has_lm_head() {
            let h = apply(self.final_norm.as_ref(), x);
            Some(self.logits(h.as_slice().expect("fresh"))?)
        } else {
            None
        };
        Ok(StepOut {
            logits,
            attention,
            cross,
        })
    }
}

impl Transformer {
    /// A clean run for ablations: every layer's input, each layer's mean head contexts over
    /// the first `mean_rows` rows, and the last token's final hidden row (after the final
    /// norm). No digests, no matrices kept.
    pub fn clean_layers(
        &self,
        backend: Backend,
        ids: &[u32],
        mean_rows: usize,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<CleanLayers, ModelError> {
        let mut x = self.embed_input(ids, 0)?;
        let capture = vec![false; self.net.attention.heads];
        let (mut inputs, mut means) = (Vec::new(), Vec::new());
        for l in 0..self.blocks.len() {
            if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                return Err(ModelError::Cancelled);
            }
            let work = LayerWork {
                digests: false,
                mean_rows,
                ..LayerWork::shown(&capture, &[])
            };
            let (run, next) = self.layer(backend, l, &x, work);
            means.push(run.context_mean);
            inputs.push(std::mem::replace(
                &mut x,
                next.expect("asked for the block output"),
            ));
        }
        Ok((inputs, means, self.last_row(x)))
    }

    /// Layers `first..` on x (layer `first`'s input) with an ablation; the last token's final
    /// hidden row.
    pub fn forward_from(
        &self,
        backend: Backend,
        first: usize,
        x: &Array2<f32>,
        ablate: &Ablate<'_>,
    ) -> Vec<f32> {
        let capture = vec![false; self.net.attention.heads];
        let mut x = x.clone();
        for l in first..self.blocks.len() {
            let work = LayerWork {
                digests: false,
                ablate: Some(ablate),
                ..LayerWork::shown(&capture, &[])
            };
            x = self
                .layer(backend, l, &x, work)
                .1
                .expect("asked for the block output");
        }
        self.last_row(x)
    }

    /// The last row of the blocks' output, after the final norm.
    fn last_row(&self, x: Array2<f32>) -> Vec<f32> {
        let n = x.nrows();
        let last = x.slice(s![n.saturating_sub(1).., ..]).to_owned();
        apply(self.final_norm.as_ref(), last)
            .into_raw_vec_and_offset()
            .0
    }
}

/// Per layer its input and its heads' mean contexts, and the last final hidden row.
pub type CleanLayers = (Vec<Array2<f32>>, Vec<Vec<f32>>, Vec<f32>);

/// What [`Transformer::layer`] computes besides the attention.
pub struct LayerWork<'a> {
    /// Heads whose full probabilities are kept.
    pub capture: &'a [bool],
    /// Keys whose share the digests report.
    pub special_keys: &'a [usize],
    /// Also the MLP and the block output.
    pub mlp: bool,
    /// Append the layer's K (normed, rotated) and V rows here (a prompt's KV cache).
    pub kv: Option<&'a mut (Vec<f32>, Vec<f32>)>,
    /// Compute the heads' digests (statistics, overviews): what a run shows; an ablation's
    /// re-run skips them.
    pub digests: bool,
    /// Knock-outs and blocked edges to apply.
    pub ablate: Option<&'a Ablate<'a>>,
    /// Average each head's context over the first `mean_rows` rows into
    /// [`LayerRun::context_mean`] (0: none).
    pub mean_rows: usize,
    /// The encoder output's K and V for this layer's cross-attention (a decoder layer).
    pub cross: Option<&'a CrossKv>,
}

impl<'a> LayerWork<'a> {
    /// A run's layer: the heads in `capture` keep their matrices, every head its digest, and
    /// the block's output is computed.
    pub fn shown(capture: &'a [bool], special_keys: &'a [usize]) -> LayerWork<'a> {
        LayerWork {
            capture,
            special_keys,
            mlp: true,
            kv: None,
            digests: true,
            ablate: None,
            mean_rows: 0,
            cross: None,
        }
    }
}

/// An ablation resolved for one clean run: what to knock out, and each layer's mean head
/// outputs over the prompt (h·dh) for the mean knock-out.
pub struct Ablate<'a> {
    /// Heads and edges.
    pub ablation: &'a super::ablate::Ablation,
    /// Per layer: the heads' mean contexts.
    pub means: &'a [Vec<f32>],
}

/// How a forward pass runs.
#[derive(Clone, Copy, Default)]
pub struct ForwardOpts<'a> {
    /// Keep every head's full n × n scores and probabilities (short inputs). Without, a run
    /// keeps per layer the hidden state and the heads' digests (statistics, pooled overview),
    /// and a layer is recomputed from its hidden state when it is opened.
    pub full: bool,
    /// Keys whose share the digests report (special tokens after the first).
    pub special_keys: &'a [usize],
    /// Checked before each layer: set, the run stops with [`ModelError::Cancelled`].
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// Called after each layer with the fraction done.
    pub progress: Option<&'a (dyn Fn(f32) + Sync)>,
    /// Per layer the encoder output's K and V, for a decoder's cross-attention.
    pub cross: Option<&'a [CrossKv]>,
}

/// Fixed sinusoidal positions first..first + n (n × d), Marian's layout: for i < ⌈d/2⌉,
/// column i holds sin(p·ωᵢ) and column ⌈d/2⌉ + i cos(p·ωᵢ), ωᵢ = 10000^(−2i/d).
/// Computed in f64 and rounded, as HuggingFace builds its table with NumPy.
pub fn sinusoidal_positions(first: usize, n: usize, d: usize) -> Array2<f32> {
    let half = d.div_ceil(2);
    let mut out = Array2::zeros((n, d));
    for (r, mut row) in out.rows_mut().into_iter().enumerate() {
        let p = (first + r) as f64;
        for j in 0..d {
            let angle = p / 10000f64.powf((2 * (j / 2)) as f64 / d as f64);
            if j % 2 == 0 {
                row[j / 2] = angle.sin() as f32;
            } else {
                row[half + j / 2] = angle.cos() as f32;
            }
        }
    }
    out
}
