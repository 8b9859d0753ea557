//! Encoder–decoder models (the `bart` and `marian` families): an encoder stack over the
//! source, and a decoder stack whose blocks hold masked self-attention and cross-attention
//! (queries from the decoder, keys and values from the encoder output, n_q ≠ n_k).
//!
//! Both stacks are [`Network`]s run by the one block forward ([`Transformer`]); the decoder's
//! blocks carry [`CrossKeys`]. BART: learned positions from row 2 of their table, a norm after
//! the embedding, post-norm blocks, GELU. Marian: √d-scaled token embeddings, fixed
//! sinusoidal positions, post-norm, SiLU. Both tie the LM head to the shared embedding and add
//! `final_logits_bias`.
//!
//! Legend: `s` = source tokens, `t` = decoder tokens, `d` = model width.

use std::path::{Path, PathBuf};

use ndarray::{Array2, s};
use serde::Deserialize;

use crate::core::kernels::Backend;

use super::arch::LayerRun;
use super::config::{
    MAX_HEADS, MAX_HIDDEN, MAX_INTERMEDIATE, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB,
};
use super::families::{check_activation, field};
use super::network::{
    AttentionSpec, CrossKeys, EmbeddingSpec, ForwardOpts, Keys, KvCache, LayerSpec, LinearLayout,
    MlpSpec, Network, NormKind, Placement, QkvKeys, Transformer,
};
use super::tokenizer::{ModelTokenizer, TokenInfo};
use super::weights::Weights;
use super::{ModelError, folder_name, weights_file};

/// The encoder–decoder families, as config.json's `model_type` names them.
pub const FAMILIES: &[&str] = &["bart", "marian"];

/// Longest translation a step-by-step run writes by default.
pub const DEFAULT_MAX_NEW: usize = 48;

/// `config.json` of a BART or Marian checkpoint (HF field names and defaults).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Seq2SeqConfig {
    /// "bart" or "marian".
    pub model_type: String,
    /// Vocabulary (shared by encoder and decoder).
    pub vocab_size: usize,
    /// Model width.
    pub d_model: usize,
    /// Encoder blocks.
    pub encoder_layers: usize,
    /// Decoder blocks.
    pub decoder_layers: usize,
    /// Heads of the encoder's attention.
    pub encoder_attention_heads: usize,
    /// Heads of the decoder's self- and cross-attention.
    pub decoder_attention_heads: usize,
    /// Encoder MLP width.
    pub encoder_ffn_dim: usize,
    /// Decoder MLP width.
    pub decoder_ffn_dim: usize,
    /// Activation ("gelu" for BART, "swish" for Marian).
    #[serde(default = "gelu")]
    pub activation_function: String,
    /// Longest source or target.
    pub max_position_embeddings: usize,
    /// Multiply token embeddings by √d (Marian: true).
    #[serde(default)]
    pub scale_embedding: bool,
    /// Padding id.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// End of sequence.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    /// The decoder's first input (BART: </s>; Marian: <pad>).
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    /// Marian: a separate decoder vocabulary's size (must equal `vocab_size` here).
    #[serde(default)]
    pub decoder_vocab_size: Option<usize>,
    /// Marian: one embedding for both stacks.
    #[serde(default = "yes")]
    pub share_encoder_decoder_embeddings: bool,
}

fn gelu() -> String {
    "gelu".into()
}
fn yes() -> bool {
    true
}

/// Encoder block names of both families (after `model.`).
const ENCODER_KEYS: Keys = Keys {
    prefixes: &["model.", ""],
    embed: "encoder.embed_tokens",
    positions: Some("encoder.embed_positions"),
    token_type: None,
    embed_norm: Some("encoder.layernorm_embedding"),
    final_norm: None,
    layers: "encoder.layers",
    layout: LinearLayout::Torch,
    qkv: QkvKeys::Separate {
        q: "self_attn.q_proj",
        k: "self_attn.k_proj",
        v: "self_attn.v_proj",
    },
    o: "self_attn.out_proj",
    q_norm: None,
    k_norm: None,
    attn_in: None,
    attn_out: None,
    attn_residual: Some("self_attn_layer_norm"),
    mlp_in: None,
    mlp_out: None,
    mlp_residual: Some("final_layer_norm"),
    gate: None,
    up: "fc1",
    down: "fc2",
    cross: None,
};

/// Decoder block names: the encoder's, plus cross-attention (`encoder_attn`).
const DECODER_KEYS: Keys = Keys {
    embed: "decoder.embed_tokens",
    positions: Some("decoder.embed_positions"),
    embed_norm: Some("decoder.layernorm_embedding"),
    layers: "decoder.layers",
    cross: Some(CrossKeys {
        q: "encoder_attn.q_proj",
        k: "encoder_attn.k_proj",
        v: "encoder_attn.v_proj",
        o: "encoder_attn.out_proj",
        norm: "encoder_attn_layer_norm",
    }),
    ..ENCODER_KEYS
};

impl Seq2SeqConfig {
    /// Parses config.json (model_type bart or marian), checking every size against its cap
    /// and the fields that must agree.
    pub fn from_json(text: &str) -> Result<Seq2SeqConfig, ModelError> {
        // The family first: a GPT-2 folder given as a translator should hear that, not that
        // its config lacks an encoder–decoder field.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::Config(e.to_string()))?;
        let model_type = value.get("model_type").and_then(|m| m.as_str());
        if !model_type.is_some_and(|m| FAMILIES.contains(&m)) {
            return Err(ModelError::Config(format!(
                "model_type {:?} is not an encoder–decoder family attnscope runs ({})",
                model_type.unwrap_or_default(),
                FAMILIES.join(", ")
            )));
        }
        let c: Seq2SeqConfig =
            serde_json::from_value(value).map_err(|e| ModelError::Config(e.to_string()))?;
        let sizes = [
            ("vocab_size", c.vocab_size, MAX_VOCAB),
            ("d_model", c.d_model, MAX_HIDDEN),
            ("encoder_layers", c.encoder_layers, MAX_LAYERS),
            ("decoder_layers", c.decoder_layers, MAX_LAYERS),
            (
                "encoder_attention_heads",
                c.encoder_attention_heads,
                MAX_HEADS,
            ),
            (
                "decoder_attention_heads",
                c.decoder_attention_heads,
                MAX_HEADS,
            ),
            ("encoder_ffn_dim", c.encoder_ffn_dim, MAX_INTERMEDIATE),
            ("decoder_ffn_dim", c.decoder_ffn_dim, MAX_INTERMEDIATE),
            (
                "max_position_embeddings",
                c.max_position_embeddings,
                MAX_POSITIONS,
            ),
        ];
        super::config::check_limits(&sizes)?;
        if let Some(&(name, _, _)) = sizes.iter().find(|s| s.1 == 0) {
            return Err(field(name, "must be at least 1"));
        }
        for (name, heads) in [
            ("encoder_attention_heads", c.encoder_attention_heads),
            ("decoder_attention_heads", c.decoder_attention_heads),
        ] {
            if !c.d_model.is_multiple_of(heads) {
                return Err(field(
                    name,
                    format!("{heads} heads do not divide d_model = {}", c.d_model),
                ));
            }
        }
        check_activation("activation_function", &c.activation_function)?;
        if c.decoder_vocab_size.is_some_and(|v| v != c.vocab_size) {
            return Err(field(
                "decoder_vocab_size",
                "differs from vocab_size: separate target vocabularies are not supported",
            ));
        }
        if !c.share_encoder_decoder_embeddings {
            return Err(field(
                "share_encoder_decoder_embeddings",
                "false: separate source and target embeddings are not supported",
            ));
        }
        for (name, id) in [
            ("pad_token_id", c.pad_token_id),
            ("eos_token_id", c.eos_token_id),
            ("decoder_start_token_id", c.decoder_start_token_id),
        ] {
            if id.is_some_and(|i| i as usize >= c.vocab_size) {
                return Err(field(
                    name,
                    format!("is outside the vocabulary of {}", c.vocab_size),
                ));
            }
        }
        let bytes = 4u128
            * (c.vocab_size as u128 * c.d_model as u128
                + (c.encoder_layers as u128)
                    * (4 * c.d_model as u128 * c.d_model as u128
                        + 2 * c.d_model as u128 * c.encoder_ffn_dim as u128)
                + (c.decoder_layers as u128)
                    * (8 * c.d_model as u128 * c.d_model as u128
                        + 2 * c.d_model as u128 * c.decoder_ffn_dim as u128));
        if bytes > u128::from(super::config::MAX_WEIGHT_BYTES) {
            return Err(ModelError::TooLarge {
                what: super::Footprint::Seq2SeqWeights,
                need: crate::core::limits::human_bytes(bytes),
                limit: crate::core::limits::human_bytes(u128::from(
                    super::config::MAX_WEIGHT_BYTES,
                )),
            });
        }
        Ok(c)
    }

    fn bart(&self) -> bool {
        self.model_type == "bart"
    }

    /// The encoder (`decoder` false) or decoder stack as a [`Network`].
    pub fn network(&self, decoder: bool) -> Network {
        let d = self.d_model;
        let (layers, heads, ffn) = if decoder {
            (
                self.decoder_layers,
                self.decoder_attention_heads,
                self.decoder_ffn_dim,
            )
        } else {
            (
                self.encoder_layers,
                self.encoder_attention_heads,
                self.encoder_ffn_dim,
            )
        };
        let dh = d / heads;
        Network {
            model_type: self.model_type.clone(),
            vocab_size: self.vocab_size,
            hidden: d,
            max_positions: self.max_position_embeddings,
            norm: NormKind::LayerNorm,
            norm_eps: 1e-5,
            placement: Placement::Post,
            embedding: EmbeddingSpec {
                learned_positions: self.bart(),
                token_type: None,
                norm: self.bart(),
                scale: self.scale_embedding.then(|| (d as f32).sqrt()),
                position_offset: if self.bart() { 2 } else { 0 },
                sinusoidal: !self.bart(),
            },
            attention: AttentionSpec {
                heads,
                kv_heads: heads,
                head_dim: dh,
                qkv_bias: true,
                o_bias: true,
                qk_norm: false,
                scale: 1.0 / (dh as f32).sqrt(),
                softcap: None,
                causal: decoder,
            },
            layers: vec![
                LayerSpec {
                    window: None,
                    rope: None,
                };
                layers
            ],
            mlp: MlpSpec {
                intermediate: ffn,
                activation: self.activation_function.clone(),
                gated: false,
                bias: true,
            },
            tied_lm_head: true,
            keys: if decoder { DECODER_KEYS } else { ENCODER_KEYS },
        }
    }
}

/// A loaded encoder–decoder model.
pub struct Seq2Seq {
    /// Display name.
    pub name: String,
    /// Its folder.
    pub dir: PathBuf,
    /// config.json.
    pub config: Seq2SeqConfig,
    /// The tokenizer of source and target.
    pub tokenizer: ModelTokenizer,
    /// Size of model.safetensors.
    pub file_bytes: u64,
    /// Non-finite weights, by tensor.
    pub warnings: Vec<String>,
    /// The decoder's first input.
    pub decoder_start: u32,
    /// The token that ends a translation.
    pub eos: Option<u32>,
    encoder: Transformer,
    decoder: Transformer,
    final_logits_bias: Option<Vec<f32>>,
}

/// What one encoder–decoder forward keeps.
#[derive(Clone, Debug)]
pub struct Seq2SeqRun {
    /// Model name.
    pub model: String,
    /// config.json's model_type.
    pub model_type: String,
    /// Source tokens (the encoder's input, with the tokenizer's special tokens).
    pub source: Vec<TokenInfo>,
    /// The decoder's inputs: the start token, then the target's tokens.
    pub target: Vec<TokenInfo>,
    /// Encoder layers: self-attention over the source (s × s).
    pub encoder: Vec<LayerRun>,
    /// Decoder layers: masked self-attention (t × t), each with its cross-attention
    /// (`LayerRun::cross`, t × s).
    pub decoder: Vec<LayerRun>,
    /// The encoder's output (s × d).
    pub encoder_out: Array2<f32>,
    /// The decoder's output (t × d).
    pub decoder_out: Array2<f32>,
    /// The next-token logits after the last decoder input.
    pub logits_last: Vec<f32>,
}

/// Which of a run's three attention kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AttnKind {
    /// Encoder self-attention: source × source.
    Encoder,
    /// Decoder masked self-attention: target × target.
    Decoder,
    /// Decoder cross-attention: target × source.
    Cross,
}

impl AttnKind {
    /// All three, in the order the grid shows them.
    pub const ALL: [AttnKind; 3] = [AttnKind::Encoder, AttnKind::Decoder, AttnKind::Cross];

    /// The JSON key and command-line name.
    pub fn key(self) -> &'static str {
        match self {
            AttnKind::Encoder => "encoder",
            AttnKind::Decoder => "decoder",
            AttnKind::Cross => "cross",
        }
    }

    /// From the command-line name.
    pub fn parse(s: &str) -> Option<AttnKind> {
        AttnKind::ALL.into_iter().find(|k| k.key() == s)
    }

    /// The cells an n_q × n_k matrix of this kind may attend to: the decoder self-attention's
    /// causal mask (each target token sees itself and the tokens before it); `None` for the
    /// encoder's and the cross-attention, which mask nothing.
    pub fn allowed(self, (n_q, n_k): (usize, usize)) -> Option<ndarray::Array2<bool>> {
        (self == AttnKind::Decoder).then(|| crate::core::pool::Band::CAUSAL.cells(n_q, n_k))?
    }
}

impl Seq2SeqRun {
    /// The layers of one kind (cross: each decoder layer's cross-attention).
    pub fn layers(&self, kind: AttnKind) -> Vec<&LayerRun> {
        match kind {
            AttnKind::Encoder => self.encoder.iter().collect(),
            AttnKind::Decoder => self.decoder.iter().collect(),
            AttnKind::Cross => self
                .decoder
                .iter()
                .filter_map(|l| l.cross.as_deref())
                .collect(),
        }
    }

    /// One head's probabilities (rows: queries, columns: keys).
    pub fn probs(&self, kind: AttnKind, layer: usize, head: usize) -> Option<&Array2<f32>> {
        self.layers(kind)
            .get(layer)
            .and_then(|l| l.head(head))
            .map(|h| &h.probs)
    }

    /// Labels of a kind's query rows and key columns.
    pub fn labels(&self, kind: AttnKind) -> (Vec<String>, Vec<String>) {
        let lab = |t: &[TokenInfo]| t.iter().map(|t| t.label.clone()).collect::<Vec<_>>();
        match kind {
            AttnKind::Encoder => (lab(&self.source), lab(&self.source)),
            AttnKind::Decoder => (lab(&self.target), lab(&self.target)),
            AttnKind::Cross => (lab(&self.target), lab(&self.source)),
        }
    }

    /// Every head of a kind stacked: `[layers, heads, n_q, n_k]`.
    pub fn stacked(&self, kind: AttnKind) -> ndarray::Array4<f32> {
        let layers = self.layers(kind);
        let heads = layers.first().map_or(0, |l| l.heads.len());
        let (nq, nk) = layers
            .first()
            .and_then(|l| l.heads.first())
            .map_or((0, 0), |h| h.probs.dim());
        let mut out = ndarray::Array4::zeros((layers.len(), heads, nq, nk));
        for (l, run) in layers.iter().enumerate() {
            for (h, cap) in run.heads.iter().enumerate() {
                out.slice_mut(s![l, h, .., ..]).assign(&cap.probs);
            }
        }
        out
    }
}

impl Seq2SeqRun {
    /// One head re-run by the core (`core::lab`) on its real Q, K and V with `score` (and the
    /// kind's mask: causal for the decoder's self-attention): the step-through's numbers. A
    /// cross head reads queries from the decoder and keys and values from the encoder output,
    /// n_q ≠ n_k; with the scaled dot product it reproduces the model's own probabilities.
    pub fn head_trace(
        &self,
        kind: AttnKind,
        layer: usize,
        head: usize,
        score: crate::core::ScoreKind,
    ) -> Result<crate::core::Trace, ModelError> {
        use crate::core::lab::{LabHead, lab_trace};
        let missing = |what: &str| ModelError::Invalid {
            what: "head_trace",
            message: format!("{} layer {layer} head {head}: no {what}", kind.key()),
        };
        let run = self
            .layers(kind)
            .get(layer)
            .copied()
            .ok_or_else(|| missing("layer"))?;
        let cap = run.head(head).ok_or_else(|| missing("head"))?;
        let (rows, cols) = self.labels(kind);
        let spec = crate::core::Spec {
            score,
            causal: kind == AttnKind::Decoder,
            ..crate::core::Spec::default()
        };
        let real = crate::core::mechanism::Mechanism {
            source: crate::core::mechanism::Source::Model {
                family: self.model_type.clone(),
                layer,
            },
            pre_norm: None,
            qkv_bias: true,
            ..crate::core::mechanism::Mechanism::of_spec(&spec)
        };
        let keys = (kind == AttnKind::Cross).then(|| (cols.as_slice(), self.encoder_out.view()));
        let input = LabHead {
            tokens: &rows,
            x: run.input.view(),
            q: cap.q.view(),
            k: cap.k.view(),
            v: cap.v.view(),
            keys,
            head,
            heads: run.heads.len().max(1),
            real: &real,
        };
        lab_trace(input, &spec, crate::core::kernels::Backend::best()).map_err(|e| {
            ModelError::Invalid {
                what: "head_trace",
                message: e.to_string(),
            }
        })
    }
}

/// Cross-attention aggregated over heads and layers (t × s), as the alignment views offer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Aggregate {
    /// Mean over every layer and head.
    Mean,
    /// Max over every layer and head.
    Max,
    /// Mean over the heads of the last decoder layer.
    LastLayerMean,
}

impl Aggregate {
    /// All, in menu order.
    pub const ALL: [Aggregate; 3] = [Aggregate::Mean, Aggregate::Max, Aggregate::LastLayerMean];

    /// Aggregates the cross-attention of a run; rows still sum to 1 for the means.
    pub fn of(self, run: &Seq2SeqRun) -> Option<Array2<f32>> {
        let cross = run.layers(AttnKind::Cross);
        let pick: Vec<&LayerRun> = match self {
            Aggregate::LastLayerMean => cross.last().copied().into_iter().collect(),
            _ => cross,
        };
        let mats: Vec<&Array2<f32>> = pick
            .iter()
            .flat_map(|l| l.heads.iter().map(|h| &h.probs))
            .collect();
        let first = mats.first()?;
        let mut acc = if self == Aggregate::Max {
            Array2::from_elem(first.dim(), f32::NEG_INFINITY)
        } else {
            Array2::zeros(first.dim())
        };
        for m in &mats {
            if self == Aggregate::Max {
                acc.zip_mut_with(m, |a, &b| *a = a.max(b));
            } else {
                acc += *m;
            }
        }
        if self != Aggregate::Max {
            acc /= mats.len() as f32;
        }
        Some(acc)
    }
}

/// One greedy translation step.
#[derive(Clone, Debug)]
pub struct TranslateStep {
    /// The token written.
    pub id: u32,
    /// Its probability.
    pub p: f32,
    /// The most likely tokens, best first.
    pub top: Vec<(u32, f32)>,
    /// The cross-attention row of the decoder input that produced it, `[layer][head][source]`.
    pub cross: Vec<Vec<Vec<f32>>>,
    /// Its masked self-attention row, `[layer][head][decoder token]`.
    pub attention: Vec<Vec<Vec<f32>>>,
}

/// What the model predicted at one decoder row of a typed target (teacher forcing): the
/// probability and rank of the target's next token, and what it found more likely.
#[derive(Clone, Debug, PartialEq)]
pub struct ForcedStep {
    /// The target's next token (EOS after the last).
    pub next: u32,
    /// Its probability.
    pub p: f32,
    /// Its rank among all tokens (1 = the model's own choice).
    pub rank: usize,
    /// The most likely tokens, best first.
    pub top: Vec<(u32, f32)>,
}

/// A greedy translation.
#[derive(Clone, Debug)]
pub struct Translation {
    /// Source ids.
    pub source: Vec<u32>,
    /// Written ids (without the start token; with the final EOS when one was written).
    pub ids: Vec<u32>,
    /// The text of `ids`.
    pub text: String,
    /// Per written token.
    pub steps: Vec<TranslateStep>,
}

/// The `model_type` of the config.json of a model folder (or of the folder of a file in
/// it), if it has one.
pub fn model_type_of(path: &Path) -> Option<String> {
    let dir = super::resolve_dir(path);
    crate::core::limits::read_text(
        &dir.join("config.json"),
        crate::core::limits::MAX_CONFIG_BYTES,
    )
    .ok()
    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    .and_then(|v| v.get("model_type")?.as_str().map(str::to_owned))
}

impl Seq2Seq {
    /// Whether a folder holds an encoder–decoder checkpoint (its config.json's model_type).
    pub fn is_seq2seq_dir(path: &Path) -> bool {
        model_type_of(path).is_some_and(|m| FAMILIES.contains(&m.as_str()))
    }

    /// Loads a folder with config.json, tokenizer.json and model.safetensors.
    pub fn load(path: &Path) -> Result<Seq2Seq, ModelError> {
        if !path.exists() {
            return Err(ModelError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let dir = super::resolve_dir(path);
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(ModelError::MissingFile {
                dir,
                file: "config.json",
            });
        }
        let text = super::read_config(&config_path)?;
        let config = Seq2SeqConfig::from_json(&text)?;
        let weights_path = weights_file(&dir)?;
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            let spm: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".spm") || n.ends_with(".model"))
                .collect();
            if !spm.is_empty() {
                return Err(ModelError::Tokenizer(format!(
                    "{} has SentencePiece files ({}) but no tokenizer.json, which attnscope reads; make one in Python: `from transformers import AutoTokenizer; AutoTokenizer.from_pretrained(DIR).backend_tokenizer.save(DIR + '/tokenizer.json')` (a fast tokenizer; for Marian, whose tokenizer has no fast version, build a Unigram tokenizer from source.spm with `tokenizers` and the ids of vocab.json)",
                    dir.display(),
                    spm.join(", ")
                )));
            }
            return Err(ModelError::MissingFile {
                dir,
                file: "tokenizer.json",
            });
        }
        // The tokenizer is read on one core while the weights load (as `Model::load` does);
        // its error comes first when both fail.
        let (tokenizer, w) = rayon::join(
            || ModelTokenizer::load(&tok_path),
            || Weights::load(&weights_path),
        );
        Seq2Seq::assemble(folder_name(&dir), dir, config, tokenizer?, w?)
    }

    /// Builds both stacks from loaded weights (every key by its checkpoint name; a missing or
    /// misshapen one names itself).
    pub fn assemble(
        name: String,
        dir: PathBuf,
        config: Seq2SeqConfig,
        tokenizer: ModelTokenizer,
        mut w: Weights,
    ) -> Result<Seq2Seq, ModelError> {
        let warnings = w
            .non_finite
            .iter()
            .map(|b| format!("{}: {} NaN/Inf value(s)", b.name, b.count))
            .collect();
        // Checkpoints store the tied embedding once, as `model.shared`: each stack reads its
        // own copy (the decoder's is also its LM head).
        for p in ["model.", ""] {
            for stack in ["encoder", "decoder"] {
                w.alias(
                    &format!("{p}shared.weight"),
                    &format!("{p}{stack}.embed_tokens.weight"),
                );
            }
        }
        let encoder = Transformer::load(&config.network(false), &mut w)?;
        let decoder = Transformer::load(&config.network(true), &mut w)?;
        let final_logits_bias = if w.contains("final_logits_bias") {
            Some(
                w.matrix("final_logits_bias", 1, config.vocab_size)?
                    .into_raw_vec_and_offset()
                    .0,
            )
        } else {
            None
        };
        let decoder_start = config
            .decoder_start_token_id
            .or(config.eos_token_id)
            .unwrap_or(0);
        Ok(Seq2Seq {
            name,
            dir,
            eos: config.eos_token_id,
            decoder_start,
            config,
            tokenizer,
            file_bytes: w.file_bytes,
            warnings,
            encoder,
            decoder,
            final_logits_bias,
        })
    }

    /// The source's tokens (with the tokenizer's special tokens), checked: not empty, within
    /// the positions.
    pub fn source_tokens(&self, text: &str) -> Result<Vec<TokenInfo>, ModelError> {
        let tokens = self.tokenizer.encode(text)?;
        if tokens.iter().all(|t| t.special) {
            return Err(ModelError::EmptyText);
        }
        self.check_len("the source", tokens.len())?;
        Ok(tokens)
    }

    /// The decoder's inputs for a target text: the start token, then the target's tokens
    /// without special tokens (what teacher forcing feeds: position i predicts token i + 1).
    pub fn target_tokens(&self, text: &str) -> Result<Vec<TokenInfo>, ModelError> {
        let mut ids = vec![self.decoder_start];
        ids.extend(self.tokenizer.encode_plain(text)?);
        self.check_len("the target", ids.len())?;
        Ok(self.infos(&ids))
    }

    /// Token infos of ids (labels from the vocabulary, ▁ shown as ␣).
    pub fn infos(&self, ids: &[u32]) -> Vec<TokenInfo> {
        ids.iter()
            .map(|&id| {
                let piece = self.tokenizer.id_to_token(id);
                let special = Some(id) == self.eos
                    || id == self.decoder_start
                    || Some(id) == self.config.pad_token_id;
                let label = if piece == "▁" {
                    "␣".into()
                } else {
                    piece.clone()
                };
                TokenInfo {
                    id,
                    label,
                    piece,
                    offsets: (0, 0),
                    special,
                }
            })
            .collect()
    }

    fn check_len(&self, what: &'static str, n: usize) -> Result<(), ModelError> {
        let max = self.config.max_position_embeddings;
        if n > max {
            return Err(ModelError::TooManyTokens { what, n, max });
        }
        Ok(())
    }

    /// Runs the encoder on the source and the decoder on the start token and the target
    /// (teacher forcing), keeping every head of all three kinds. Without a target, the
    /// source is translated greedily first and the decoder runs on that translation.
    pub fn run(&self, source: &str, target: Option<&str>) -> Result<Seq2SeqRun, ModelError> {
        Ok(self.run_and_translate(source, target, None)?.0)
    }

    /// [`Seq2Seq::run`], also returning the greedy translation (its steps with their
    /// cross-attention rows) when there is no target.
    pub fn run_and_translate(
        &self,
        source: &str,
        target: Option<&str>,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<(Seq2SeqRun, Option<Translation>), ModelError> {
        let src = self.source_tokens(source)?;
        let (tgt, translation) = match target {
            Some(t) => (self.target_tokens(t)?, None),
            None => {
                let ids: Vec<u32> = src.iter().map(|t| t.id).collect();
                let tr = self.translate(&ids, DEFAULT_MAX_NEW, cancel, &mut |_| {})?;
                (self.infos(&self.decoder_inputs(&tr)), Some(tr))
            }
        };
        Ok((self.run_tokens(src, tgt)?, translation))
    }

    /// Each decoder row of a run read with a typed target: the probability and rank the
    /// model gives the target's next token (EOS after the last row, when the model has one)
    /// and its most likely tokens. Rows without a next token are left out.
    pub fn teacher_forced(&self, run: &Seq2SeqRun) -> Result<Vec<ForcedStep>, ModelError> {
        let rows = run.decoder_out.nrows();
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            let next = match run.target.get(i + 1) {
                Some(t) => t.id,
                None => match self.eos {
                    Some(e) => e,
                    None => break,
                },
            };
            let h = run.decoder_out.row(i).to_vec();
            let lp = super::generate::log_softmax(&self.logits(&h)?);
            let Some(&own) = lp.get(next as usize) else {
                break;
            };
            out.push(ForcedStep {
                next,
                p: own.exp(),
                rank: 1 + lp.iter().filter(|&&l| l > own).count(),
                top: super::generate::top_k(&lp, 4),
            });
        }
        Ok(out)
    }

    /// The decoder inputs that replay a translation: the start token and every written token
    /// but a final EOS (row i of the decoder is the step that wrote token i).
    pub fn decoder_inputs(&self, tr: &Translation) -> Vec<u32> {
        let mut dec = vec![self.decoder_start];
        dec.extend(tr.ids.iter().copied().filter(|&i| Some(i) != self.eos));
        dec
    }

    /// [`Seq2Seq::run`] on given tokens.
    pub fn run_tokens(
        &self,
        source: Vec<TokenInfo>,
        target: Vec<TokenInfo>,
    ) -> Result<Seq2SeqRun, ModelError> {
        let backend = Backend::best();
        let src: Vec<u32> = source.iter().map(|t| t.id).collect();
        let tgt: Vec<u32> = target.iter().map(|t| t.id).collect();
        self.check_len("the source", src.len())?;
        self.check_len("the target", tgt.len())?;
        if src.is_empty() || tgt.is_empty() {
            return Err(ModelError::EmptyText);
        }
        let opts = ForwardOpts {
            full: true,
            ..ForwardOpts::default()
        };
        let (encoder, encoder_out) = self.encoder.forward(backend, &src, &opts)?;
        let cross = self.decoder.cross_kv(backend, &encoder_out);
        let opts = ForwardOpts {
            full: true,
            cross: Some(&cross),
            ..ForwardOpts::default()
        };
        let (decoder, decoder_out) = self.decoder.forward(backend, &tgt, &opts)?;
        let last = decoder_out.row(decoder_out.nrows() - 1).to_vec();
        let logits_last = self.logits(&last)?;
        Ok(Seq2SeqRun {
            model: self.name.clone(),
            model_type: self.config.model_type.clone(),
            source,
            target,
            encoder,
            decoder,
            encoder_out,
            decoder_out,
            logits_last,
        })
    }

    /// Logits of a decoder output row: the shared embedding's rows · h + final_logits_bias.
    fn logits(&self, h: &[f32]) -> Result<Vec<f32>, ModelError> {
        let mut l = self.decoder.logits(h)?;
        if let Some(b) = &self.final_logits_bias {
            for (x, b) in l.iter_mut().zip(b) {
                *x += b;
            }
        }
        Ok(l)
    }

    /// Greedy translation of source ids: the encoder runs once; each step feeds the last
    /// token to the decoder on its KV cache (self-attention keys and values grow by one row,
    /// the encoder's K and V are projected once per layer) and writes the most likely token,
    /// until EOS, `max_new` tokens, the positions' end, or `cancel`.
    pub fn translate(
        &self,
        source: &[u32],
        max_new: usize,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        on_step: &mut dyn FnMut(&TranslateStep),
    ) -> Result<Translation, ModelError> {
        self.translate_with(source, max_new, true, cancel, on_step)
    }

    /// Exactly `n` greedy tokens (EOS does not stop it): what a benchmark times.
    pub fn translate_n(&self, source: &[u32], n: usize) -> Result<Translation, ModelError> {
        self.translate_with(source, n, false, None, &mut |_| {})
    }

    fn translate_with(
        &self,
        source: &[u32],
        max_new: usize,
        stop_at_eos: bool,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        on_step: &mut dyn FnMut(&TranslateStep),
    ) -> Result<Translation, ModelError> {
        if source.is_empty() {
            return Err(ModelError::EmptyText);
        }
        self.check_len("the source", source.len())?;
        let backend = Backend::best();
        let opts = ForwardOpts::default();
        let (_, memory) = self.encoder.forward(backend, source, &opts)?;
        let mut cache = KvCache::with_cross(self.decoder.cross_kv(backend, &memory));
        let max_new = max_new.min(self.config.max_position_embeddings.saturating_sub(1));
        let mut token = self.decoder_start;
        let (mut ids, mut steps) = (Vec::new(), Vec::new());
        for _ in 0..max_new {
            if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
                return Err(ModelError::Cancelled);
            }
            let out = self.decoder.step(backend, &mut cache, token, None)?;
            let h = out.logits.ok_or_else(|| ModelError::Invalid {
                what: "translate",
                message: "the decoder has no LM head".into(),
            })?;
            // The step's logits lack the bias: add it (the decoder's head is the embedding).
            let logits: Vec<f32> = match &self.final_logits_bias {
                Some(b) => h.iter().zip(b).map(|(x, b)| x + b).collect(),
                None => h,
            };
            let lp = super::generate::log_softmax(&logits);
            let top = super::generate::top_k(&lp, 10);
            let (id, p) = top.first().copied().ok_or(ModelError::EmptyText)?;
            let step = TranslateStep {
                id,
                p,
                top,
                cross: out.cross,
                attention: out.attention,
            };
            on_step(&step);
            steps.push(step);
            ids.push(id);
            if stop_at_eos && Some(id) == self.eos {
                break;
            }
            token = id;
        }
        Ok(Translation {
            source: source.to_vec(),
            text: self.tokenizer.decode(&ids),
            ids,
            steps,
        })
    }

    /// The encoder and decoder layers and heads.
    pub fn shape(&self) -> (usize, usize, usize, usize) {
        let c = &self.config;
        (
            c.encoder_layers,
            c.encoder_attention_heads,
            c.decoder_layers,
            c.decoder_attention_heads,
        )
    }
}
