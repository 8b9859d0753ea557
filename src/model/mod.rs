//! Real transformers, offline: a folder with `config.json`, `tokenizer.json` and
//! `model.safetensors` (or a HuggingFace cache snapshot) is loaded and run on the core's
//! kernels, capturing every layer's and head's Q, K, V, scores and probabilities.
//! No egui here, and no third-party inference engine.

pub mod ablate;
pub mod arch;
pub mod config;
pub mod discover;
pub mod families;
pub mod from_gguf;
pub mod generate;
pub mod network;
pub mod nn;
pub mod packed;
pub mod seq2seq;
pub mod stats;
pub mod tokenizer;
pub mod weights;

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::core::attend::matmul_bt;
use crate::core::kernels::Backend;
use crate::core::mechanism::{Mechanism, Norm, Rope, Source};
use crate::core::trace::{HeadSummary, HeadTrace, RowStats, Trace};
use crate::core::{ScoreKind, SpanKind};

use arch::LayerRun;
use config::{ModelConfig, SUPPORTED};
use network::{NormKind, Placement, Transformer};
use nn::HeadCapture;
use tokenizer::{ModelTokenizer, TokenInfo};
use weights::Weights;

/// A model's `config.json`, read up to [`MAX_CONFIG_BYTES`](crate::core::limits::MAX_CONFIG_BYTES)
/// (a pipe or a device named config.json is not read until memory runs out).
pub(crate) fn read_config(path: &Path) -> Result<String, ModelError> {
    crate::core::limits::read_text(path, crate::core::limits::MAX_CONFIG_BYTES).map_err(|error| {
        ModelError::Io {
            path: path.to_owned(),
            error,
        }
    })
}

/// Why a model could not be loaded or run. One line each, naming the file or key.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not a source: a chain would say it twice).
        error: std::io::Error,
    },
    /// The path given as the model does not exist.
    #[error("{path} does not exist")]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// A required file is missing.
    #[error(
        "{dir} has no {file} (a model folder needs config.json, tokenizer.json and model.safetensors)"
    )]
    MissingFile {
        /// The folder.
        dir: PathBuf,
        /// The missing file.
        file: &'static str,
    },
    /// Only pickle checkpoints are present.
    #[error(
        "{dir} has only PyTorch pickle weights ({file}); attnscope needs model.safetensors, because loading a pickle can run arbitrary code (convert it with `safetensors` in Python first)"
    )]
    PickleOnly {
        /// The folder.
        dir: PathBuf,
        /// The pickle file found.
        file: String,
    },
    /// config.json is unreadable or lacks fields.
    #[error("config.json: {0}")]
    Config(String),
    /// A config.json field that is invalid or disagrees with another.
    #[error("config.json: {field}: {message}")]
    Field {
        /// The field, as config.json names it (dotted inside objects: `rope_scaling.rope_type`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An architecture attnscope does not run.
    #[error("model_type {model_type:?} is not supported; attnscope runs: {}", SUPPORTED.join(", "))]
    Unsupported {
        /// The config's model_type.
        model_type: String,
    },
    /// The safetensors header or data is invalid (truncated file, lying offsets, …).
    #[error("model.safetensors is not valid: {0}")]
    Safetensors(String),
    /// A tensor with a dtype other than f32/f16/bf16.
    #[error("tensor {name:?} has dtype {dtype}; attnscope reads f32, f16 and bf16")]
    WrongDtype {
        /// Key.
        name: String,
        /// Stored dtype.
        dtype: String,
    },
    /// A key the architecture needs is absent.
    #[error("model.safetensors has no tensor {0:?}")]
    MissingKey(String),
    /// A key has the wrong shape for the config.
    #[error("tensor {name:?} has shape {got:?}, but config.json implies {expected:?}")]
    WrongShape {
        /// Key.
        name: String,
        /// From the config.
        expected: Vec<usize>,
        /// Stored.
        got: Vec<usize>,
    },
    /// A config.json size field beyond its cap (see `config::MAX_*`).
    #[error("config.json: {field} = {value} is more than the limit of {limit}")]
    OverLimit {
        /// The field, as config.json names it.
        field: &'static str,
        /// Its value.
        value: usize,
        /// The cap.
        limit: usize,
    },
    /// The weights or a forward pass would need more memory than allowed.
    #[error("{what} would need {need} of memory, more than the limit of {limit}")]
    TooLarge {
        /// What would be allocated.
        what: Footprint,
        /// The estimate.
        need: String,
        /// The limit.
        limit: String,
    },
    /// An argument out of its range (e.g. an induction test of 0 tokens).
    #[error("{what}: {message}")]
    Invalid {
        /// The argument.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A GGUF file is invalid or describes something attnscope does not run.
    #[error("GGUF: {0}")]
    Gguf(String),
    /// tokenizer.json failed to load or encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An encoder–decoder checkpoint given where a single stack is expected.
    #[error(
        "model_type {model_type:?} is an encoder–decoder model: open it as a translator (the app's Translate view, or `attnscope run --model M --source …`)"
    )]
    EncoderDecoder {
        /// The config's model_type.
        model_type: String,
    },
    /// The user cancelled the run.
    #[error("cancelled")]
    Cancelled,
    /// The text gave no tokens.
    #[error("the text is empty: type something to run the model on")]
    EmptyText,
    /// An input longer than the model's positions.
    #[error("{what} has {n} tokens, more than the model's {max} positions")]
    TooManyTokens {
        /// "the source", "the target", "the text" or "the induction test".
        what: &'static str,
        /// Its tokens.
        n: usize,
        /// The model's positions.
        max: usize,
    },
    /// A generation whose prompt and new tokens pass the model's positions.
    #[error("{prompt} prompt tokens + {new} new ones exceed the model's {max} positions")]
    GenerationTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// New tokens asked for.
        new: usize,
        /// The model's positions.
        max: usize,
    },
    /// A token id outside the embedding table.
    #[error("token id {id} is outside the model's vocabulary of {vocab}")]
    BadTokenId {
        /// The id.
        id: u32,
        /// Embedding rows.
        vocab: usize,
    },
}

/// What would need more memory than allowed (see [`ModelError::TooLarge`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Footprint {
    /// The weights a config.json describes.
    #[error(
        "the weights config.json describes ({layers} layers of width {width}, vocabulary {vocab})"
    )]
    Weights {
        /// Layers.
        layers: usize,
        /// Hidden width.
        width: usize,
        /// Vocabulary size.
        vocab: usize,
    },
    /// An encoder–decoder's weights.
    #[error("the weights config.json describes")]
    Seq2SeqWeights,
    /// One forward pass.
    #[error("running {tokens} tokens through {model}")]
    Run {
        /// Its tokens.
        tokens: usize,
        /// The model's name.
        model: String,
    },
}

/// A loaded model.
pub struct Model {
    /// Display name (the folder name, or the GGUF file's `general.name`).
    pub name: String,
    /// The folder or GGUF file it came from.
    pub dir: PathBuf,
    /// Parsed config.
    pub config: ModelConfig,
    /// Its tokenizer.
    pub tokenizer: ModelTokenizer,
    /// Stored dtype of the weights (f32 / f16 / bf16).
    pub dtype: String,
    /// Size of model.safetensors.
    pub file_bytes: u64,
    /// Warnings to show (non-finite weights, by tensor and position).
    pub warnings: Vec<String>,
    /// Bytes of f32 weights the loaded model holds in memory.
    pub held_bytes: u64,
    /// What a GGUF file says about itself (`None` for folders).
    pub gguf: Option<from_gguf::GgufCard>,
    arch: Transformer,
}

/// A network built from loaded weights, with what the model says about them.
struct Built {
    warnings: Vec<String>,
    dtype: String,
    file_bytes: u64,
    held_bytes: u64,
    arch: Transformer,
}

impl Built {
    fn new(config: &ModelConfig, w: &mut Weights) -> Result<Built, ModelError> {
        let mut warnings = non_finite_warnings(w);
        // A file with more layers than its config says loads the first ones; say so, as
        // transformers does for weights it does not use.
        let layers = config.layers();
        if let Some(last) = w.last_layer().filter(|&l| l >= layers) {
            let unused = if last == layers {
                format!("layer {last} is not used")
            } else {
                format!("layers {layers}–{last} are not used")
            };
            warnings.push(format!(
                "the weights hold layers 0–{last}, but the config (block_count in a GGUF file) says {layers}: {unused}"
            ));
        }
        let (dtype, file_bytes, held_bytes) = (w.dtype.clone(), w.file_bytes, w.dense_bytes());
        let arch = Transformer::load(&config.network, w)?;
        Ok(Built {
            warnings,
            dtype,
            file_bytes,
            held_bytes,
            arch,
        })
    }
}

/// "tensor: 3 NaN/Inf value(s), first at flat index 7" for each non-finite tensor.
fn non_finite_warnings(w: &Weights) -> Vec<String> {
    w.non_finite
        .iter()
        .map(|b| {
            format!(
                "{}: {} NaN/Inf value(s), first at flat index {}",
                b.name, b.count, b.first_index
            )
        })
        .collect()
}

/// Resolves what the user picked to a model: a GGUF file itself, a folder, a HuggingFace
/// cache entry (`models--ORG--NAME`, whose `refs/main` snapshot or newest snapshot is used),
/// or the folder of another picked file.
pub fn resolve_dir(path: &Path) -> PathBuf {
    if from_gguf::is_gguf(path) {
        return path.to_path_buf();
    }
    if path.is_file() {
        // A bare file name's parent is "": the current folder.
        return match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
    }
    let snapshots = path.join("snapshots");
    if snapshots.is_dir() {
        if let Ok(rev) = std::fs::read_to_string(path.join("refs").join("main")) {
            let p = snapshots.join(rev.trim());
            if p.is_dir() {
                return p;
            }
        }
        let newest = std::fs::read_dir(&snapshots).ok().and_then(|it| {
            it.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
                .map(|e| e.path())
        });
        if let Some(p) = newest {
            return p;
        }
    }
    path.to_path_buf()
}

/// A folder's `model.safetensors`, or why there is none (only pickles, or nothing).
pub(crate) fn weights_file(dir: &Path) -> Result<PathBuf, ModelError> {
    let weights_path = dir.join("model.safetensors");
    if weights_path.is_file() {
        return Ok(weights_path);
    }
    for pickle in [
        "pytorch_model.bin",
        "model.bin",
        "model.pt",
        "pytorch_model.pt",
    ] {
        if dir.join(pickle).is_file() {
            return Err(ModelError::PickleOnly {
                dir: dir.to_path_buf(),
                file: pickle.to_owned(),
            });
        }
    }
    Err(ModelError::MissingFile {
        dir: dir.to_path_buf(),
        file: "model.safetensors",
    })
}

/// A model folder's display name: the folder's, or for a HuggingFace cache snapshot
/// ORG/NAME from `models--ORG--NAME` (not the revision hash).
pub(crate) fn folder_name(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    if dir
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|p| p == "snapshots")
    {
        dir.ancestors()
            .nth(2)
            .and_then(Path::file_name)
            .map(|n| {
                n.to_string_lossy()
                    .trim_start_matches("models--")
                    .replace("--", "/")
            })
            .unwrap_or(name)
    } else {
        name
    }
}

impl Model {
    /// Loads a model folder (see [`resolve_dir`] for what counts as one).
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        Model::load_with_progress(path, &|_| {})
    }

    /// [`Model::load`], reporting progress in [0, 1] (config and tokenizer 10 %, weights up
    /// to 90 %, building the layers the rest).
    pub fn load_with_progress(
        path: &Path,
        progress: &(dyn Fn(f32) + Sync),
    ) -> Result<Model, ModelError> {
        if !path.exists() {
            return Err(ModelError::NotFound {
                path: path.to_path_buf(),
            });
        }
        if from_gguf::is_gguf(path) {
            return Model::load_gguf(path, progress);
        }
        let dir = resolve_dir(path);
        let need = |file: &'static str| -> Result<PathBuf, ModelError> {
            let p = dir.join(file);
            if p.is_file() {
                Ok(p)
            } else {
                Err(ModelError::MissingFile {
                    dir: dir.clone(),
                    file,
                })
            }
        };
        let config_path = need("config.json")?;
        let text = read_config(&config_path)?;
        let config = ModelConfig::from_json(&text)?;
        let weights_path = weights_file(&dir)?;
        let tokenizer_path = need("tokenizer.json")?;
        // The tokenizer is read on one core while the weights load and the network is laid
        // out; its error, if both fail, is the one reported (as when it was read first).
        let (tokenizer, built) = rayon::join(
            || ModelTokenizer::load(&tokenizer_path),
            || {
                let mut w =
                    Weights::load_with_progress(&weights_path, &|f| progress(0.1 + 0.8 * f))?;
                Built::new(&config, &mut w)
            },
        );
        let (tokenizer, built) = (tokenizer?, built?);
        let name = folder_name(&dir);
        let model = Model::assemble(name, dir, config, tokenizer, built, None);
        progress(1.0);
        Ok(model)
    }

    /// The model around a built network.
    fn assemble(
        name: String,
        dir: PathBuf,
        config: ModelConfig,
        tokenizer: ModelTokenizer,
        built: Built,
        gguf: Option<from_gguf::GgufCard>,
    ) -> Model {
        let Built {
            warnings,
            dtype,
            file_bytes,
            held_bytes,
            arch,
        } = built;
        Model {
            name,
            dir,
            config,
            tokenizer,
            dtype,
            file_bytes,
            warnings,
            held_bytes,
            gguf,
            arch,
        }
    }

    /// Loads a GGUF file (see [`from_gguf`]).
    fn load_gguf(path: &Path, progress: &(dyn Fn(f32) + Sync)) -> Result<Model, ModelError> {
        let from_gguf::Loaded {
            config,
            tokenizer,
            built,
            card,
        } = from_gguf::load(path, progress, Built::new)?;
        let name = card.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned())
        });
        let dir = path.to_path_buf();
        let model = Model::assemble(name, dir, config, tokenizer, built, Some(card));
        progress(1.0);
        Ok(model)
    }

    /// Tokenizes text, truncating to the model's positions; returns the tokens and the count
    /// before truncation, if truncated.
    pub fn tokens(&self, text: &str) -> Result<(Vec<TokenInfo>, Option<usize>), ModelError> {
        let mut tokens = self.tokenizer.encode(text)?;
        if tokens.iter().all(|t| t.special) {
            return Err(ModelError::EmptyText);
        }
        let max = self.config.max_positions();
        let mut truncated_from = None;
        if tokens.len() > max {
            truncated_from = Some(tokens.len());
            // Keep a trailing special token (BERT's [SEP]) so the input stays well formed.
            let last = tokens.last().filter(|t| t.special).cloned();
            tokens.truncate(max);
            if let Some(t) = last {
                tokens[max - 1] = t;
            }
        }
        Ok((tokens, truncated_from))
    }

    /// Tokenizes and runs text, truncating to the model's positions (the run says so).
    pub fn run(&self, text: &str) -> Result<ModelRun, ModelError> {
        let (tokens, truncated_from) = self.tokens(text)?;
        let mut run = self.run_tokens(tokens)?;
        run.truncated_from = truncated_from;
        Ok(run)
    }

    /// Runs a given token sequence, keeping every head's matrices when they fit
    /// ([`Model::keeps_full`]).
    pub fn run_tokens(&self, tokens: Vec<TokenInfo>) -> Result<ModelRun, ModelError> {
        let full = self.keeps_full(tokens.len());
        self.run_tokens_with(tokens, full, None, None)
    }

    /// Whether a run of n tokens keeps every head's n × n matrices: when they take at most
    /// [`config::FULL_CAPTURE_BYTES`]. Longer runs keep hidden states and digests and
    /// recompute a layer when it is opened ([`Model::open_layer`]).
    pub fn keeps_full(&self, n: usize) -> bool {
        self.keeps_full_under(n, config::FULL_CAPTURE_BYTES)
    }

    /// Whether every head's n × n matrices take at most `limit` bytes.
    pub fn keeps_full_under(&self, n: usize, limit: u64) -> bool {
        self.config.matrix_bytes(n) <= u128::from(limit)
    }

    /// What a run of n tokens needs in memory (bytes), with full matrices or without.
    pub fn run_estimate(&self, n: usize, full: bool) -> u128 {
        if full {
            self.config.run_bytes(n)
        } else {
            self.config.lean_run_bytes(n)
        }
    }

    /// Runs a token sequence: `full` keeps every head's matrices; `cancel` stops it between
    /// layers; `progress` hears the fraction of layers done.
    pub fn run_tokens_with(
        &self,
        tokens: Vec<TokenInfo>,
        full: bool,
        cancel: Option<&std::sync::atomic::AtomicBool>,
        progress: Option<&(dyn Fn(f32) + Sync)>,
    ) -> Result<ModelRun, ModelError> {
        let ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
        if ids.len() > self.config.max_positions() {
            return Err(ModelError::TooManyTokens {
                what: "the text",
                n: ids.len(),
                max: self.config.max_positions(),
            });
        }
        let bytes = if full {
            self.config.run_bytes(ids.len())
        } else {
            self.config.lean_run_bytes(ids.len())
        };
        if bytes > u128::from(config::MAX_RUN_BYTES) {
            return Err(ModelError::TooLarge {
                what: Footprint::Run {
                    tokens: ids.len(),
                    model: self.name.clone(),
                },
                need: crate::core::limits::human_bytes(bytes),
                limit: crate::core::limits::human_bytes(u128::from(config::MAX_RUN_BYTES)),
            });
        }
        let special_keys = later_special(&tokens);
        let opts = network::ForwardOpts {
            full,
            special_keys: &special_keys,
            cancel,
            progress,
            cross: None,
        };
        let backend = Backend::best();
        let (layers, hidden) = self.arch.forward(backend, &ids, &opts)?;
        Ok(ModelRun {
            model: self.name.clone(),
            mechanism: self.mechanism(),
            tokens,
            truncated_from: None,
            causal: self.config.causal(),
            heads: self.config.heads(),
            kv_heads: self.config.kv_heads(),
            head_dim: self.config.head_dim(),
            full,
            layers,
            hidden,
        })
    }

    /// Layer `layer` of a run recomputed from the hidden state the run kept, with the full
    /// matrices of the heads in `heads` (and the digests and output of all): what opening a
    /// layer of a long run shows. Bit for bit what the full forward computes.
    pub fn open_layer(
        &self,
        run: &ModelRun,
        layer: usize,
        heads: &[usize],
    ) -> Result<LayerRun, ModelError> {
        let kept = run.layers.get(layer).ok_or(ModelError::Invalid {
            what: "layer",
            message: format!("{layer} is not a layer of {}", self.name),
        })?;
        if kept.input.nrows() != run.n() || kept.input.ncols() != self.config.hidden() {
            return Err(ModelError::Invalid {
                what: "layer",
                message: format!("the run of layer {layer} is not from {}", self.name),
            });
        }
        let mut capture = vec![false; self.config.heads()];
        for &h in heads {
            if let Some(c) = capture.get_mut(h) {
                *c = true;
            }
        }
        let special_keys = later_special(&run.tokens);
        let work = network::LayerWork {
            mlp: false,
            ..network::LayerWork::shown(&capture, &special_keys)
        };
        let (mut out, _) = self.arch.layer(Backend::best(), layer, &kept.input, work);
        out.input = kept.input.clone();
        Ok(out)
    }
}

/// Positions of the special tokens after the first ([SEP]), whose share the digests report.
fn later_special(tokens: &[TokenInfo]) -> Vec<usize> {
    tokens
        .iter()
        .enumerate()
        .filter(|(j, t)| *j > 0 && t.special)
        .map(|(j, _)| j)
        .collect()
}

impl Model {
    /// How this model's attention heads compute, from its network description (the layer,
    /// its sliding window and its RoPE θ are filled in per layer trace): BERT projects the
    /// previous layer's (post-LayerNorm) output directly; GPT-2 applies LayerNorm first, the
    /// Llama family and Gemma RMSNorm; RoPE families rotate Q and K; grouped-query models
    /// share K and V between query heads.
    pub fn mechanism(&self) -> Mechanism {
        let net = &self.config.network;
        let a = &net.attention;
        let norm = match net.norm {
            NormKind::LayerNorm => Norm::LayerNorm,
            NormKind::RmsNorm { .. } => Norm::RmsNorm,
        };
        Mechanism {
            source: Source::Model {
                family: self.config.model_type().to_owned(),
                layer: 0,
            },
            pre_norm: (net.placement != Placement::Post).then_some(norm),
            identity_projections: false,
            qkv_bias: a.qkv_bias,
            out_bias: a.o_bias,
            score: ScoreKind::ScaledDot,
            span: SpanKind::Global,
            local_d: 0,
            causal: a.causal,
            window: None,
            padded_keys: 0,
            lab: false,
            rope: net
                .layers
                .first()
                .and_then(|l| l.rope.as_ref())
                .map(|r| Rope {
                    theta: r.theta,
                    dims: a.head_dim,
                    scaling: r.scaling_name(),
                }),
            kv_heads: (a.kv_heads < a.heads).then_some(a.kv_heads),
            qk_norm: a.qk_norm.then_some(Norm::RmsNorm),
            norm_plus_one: matches!(net.norm, NormKind::RmsNorm { plus_one: true }),
            softcap: a.softcap,
        }
    }
}

/// A head of a run whose scores or probabilities were not finite on some query rows
/// (see [`ModelRun::nonfinite_heads`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NonFiniteHead {
    /// Layer (0-based).
    pub layer: usize,
    /// Head (0-based).
    pub head: usize,
    /// The affected query rows (0-based, ascending, never empty).
    pub rows: Vec<usize>,
}

impl NonFiniteHead {
    /// Which head this is ("L1 H2").
    pub fn head_ref(&self) -> ablate::HeadRef {
        ablate::HeadRef {
            layer: self.layer,
            head: self.head,
        }
    }
}

/// The result of running a model: every layer's captures and the final hidden state.
#[derive(Clone, Debug)]
pub struct ModelRun {
    /// Model name.
    pub model: String,
    /// How its heads compute (see [`Model::mechanism`]).
    pub mechanism: Mechanism,
    /// Tokens as run.
    pub tokens: Vec<TokenInfo>,
    /// Token count before truncation to the model's positions, if truncated.
    pub truncated_from: Option<usize>,
    /// Causal (GPT-2) or bidirectional (BERT).
    pub causal: bool,
    /// Query heads per layer.
    pub heads: usize,
    /// KV heads per layer (= `heads` without grouped-query attention); query head h reads
    /// KV head `layers[l].heads[h].kv_head` = h / (heads / kv_heads).
    pub kv_heads: usize,
    /// Head width (from the config: not always model width / heads).
    pub head_dim: usize,
    /// Every layer holds every head's full matrices (a short run). Otherwise the layers hold
    /// their input hidden state and digests, and [`Model::open_layer`] recomputes one.
    pub full: bool,
    /// Per layer.
    pub layers: Vec<LayerRun>,
    /// Final hidden state (BERT: last layer output; GPT-2: after ln_f).
    pub hidden: Array2<f32>,
}

impl ModelRun {
    /// Token labels for display.
    pub fn labels(&self) -> Vec<String> {
        self.tokens.iter().map(|t| t.label.clone()).collect()
    }

    /// Number of tokens.
    pub fn n(&self) -> usize {
        self.tokens.len()
    }

    /// One layer as a core [`Trace`], so every view and export of the app works on real heads:
    /// raw scores q·k, scaled by the layer's own scale (see [`LayerRun::scale`]), causal −∞
    /// in the logits, probabilities as weights, the layer input as X, and the attention output
    /// (after W_O) as the output. The projection matrices are not part of a model trace (0×0).
    /// `None` when the layer does not hold its matrices (a long run: see
    /// [`ModelRun::trace_of`] with [`Model::open_layer`]).
    pub fn layer_trace(&self, layer: usize) -> Option<Trace> {
        let l = self.layers.get(layer)?;
        if l.heads.len() != self.heads {
            return None;
        }
        self.trace_of(layer, l.clone())
    }

    /// [`ModelRun::layer_trace`] of a layer run `l` (from this run or recomputed by
    /// [`Model::open_layer`]; its matrices move into the trace). Heads without matrices get
    /// empty (0 × 0) matrices and their digest's summary: only the captured heads can be
    /// viewed.
    pub fn trace_of(&self, layer: usize, mut l: LayerRun) -> Option<Trace> {
        let labels = self.labels();
        let scale = l.scale;
        let softcap = self.mechanism.softcap;
        let n = self.n();
        if l.input.nrows() != n || l.attn_out.nrows() != n {
            return None;
        }
        let mut mechanism = self.mechanism.clone();
        if let Source::Model { layer: slot, .. } = &mut mechanism.source {
            *slot = layer;
        }
        // This layer's own window (the core's half width: W keys including i → W − 1) and θ.
        mechanism.window = l.window.map(|w| w.saturating_sub(1));
        mechanism.rope = match (l.rope_theta, &mechanism.rope) {
            (Some(theta), Some(r)) => Some(Rope { theta, ..r.clone() }),
            _ => None,
        };
        let empty = || Array2::<f32>::zeros((0, 0));
        let mut captured: Vec<Option<HeadCapture>> = (0..self.heads).map(|_| None).collect();
        for c in std::mem::take(&mut l.heads) {
            if let Some(slot) = captured.get_mut(c.head) {
                *slot = Some(c);
            }
        }
        let head_traces = captured
            .into_iter()
            .enumerate()
            .map(|(h, cap)| match cap {
                Some(h) => {
                    let raw = matmul_bt(Backend::best(), h.q.view(), h.k.view(), 1.0);
                    let scaled = raw.mapv(|x| x * scale);
                    // The logits the softmax saw: scaled, soft-capped, −∞ where masked.
                    let logits = Array2::from_shape_fn(scaled.dim(), |(i, j)| {
                        if !nn::key_span(i, n, self.causal, l.window).contains(&j) {
                            return f32::NEG_INFINITY;
                        }
                        let s = scaled[[i, j]];
                        match softcap {
                            Some(c) => c * (s / c).tanh(),
                            None => s,
                        }
                    });
                    let allowed = logits.mapv(f32::is_finite);
                    let row_stats = RowStats::of(&h.probs);
                    let empty_rows = vec![false; n];
                    let summary: HeadSummary = row_stats.summary(&empty_rows);
                    HeadTrace {
                        q: h.q,
                        k: std::sync::Arc::unwrap_or_clone(h.k),
                        v: std::sync::Arc::unwrap_or_clone(h.v),
                        raw_scores: raw,
                        scaled,
                        logits,
                        allowed,
                        weights: h.probs,
                        context: h.context,
                        empty_rows,
                        centers: None,
                        local_p: None,
                        q_unrotated: h.q_pre_rope,
                        k_unrotated: h.k_pre_rope.map(std::sync::Arc::unwrap_or_clone),
                        row_stats,
                        summary,
                        overview: None,
                    }
                }
                None => HeadTrace {
                    q: empty(),
                    k: empty(),
                    v: empty(),
                    raw_scores: empty(),
                    scaled: empty(),
                    logits: empty(),
                    allowed: Array2::from_elem((0, 0), false),
                    weights: empty(),
                    context: empty(),
                    empty_rows: Vec::new(),
                    centers: None,
                    local_p: None,
                    q_unrotated: None,
                    k_unrotated: None,
                    row_stats: RowStats::default(),
                    summary: l.digests.get(h).map(|d| d.summary).unwrap_or_default(),
                    overview: l.digests.get(h).and_then(|d| d.overview.clone()),
                },
            })
            .collect::<Vec<_>>();
        let concat = if l.concat.nrows() == n {
            std::mem::take(&mut l.concat)
        } else {
            let contexts: Vec<_> = head_traces.iter().map(|t| t.context.view()).collect();
            crate::core::attend::side_by_side(&contexts)?
        };
        Some(Trace {
            version: 1,
            tokens_q: labels.clone(),
            tokens_k: labels,
            truncated_q: self.truncated_from,
            truncated_k: None,
            self_attention: true,
            d_model: l.input.ncols(),
            heads: self.heads,
            d_k: self.head_dim,
            scale,
            temperature: 1.0,
            mechanism,
            kernel: Backend::best().name().to_owned(),
            x_k: l.input.clone(),
            x_q: std::mem::take(&mut l.input),
            w_q: Array2::zeros((0, 0)),
            w_k: Array2::zeros((0, 0)),
            w_v: Array2::zeros((0, 0)),
            w_o: Array2::zeros((0, 0)),
            head_traces,
            concat,
            output: std::mem::take(&mut l.attn_out),
        })
    }

    /// The heads whose attention is undefined on some query rows: a score that is NaN or
    /// +∞ (−∞ is a causal mask and is fine), or a probability that is not finite. That
    /// happens when weights hold NaN/Inf (see [`Model::warnings`]) or activations overflow.
    /// The kernels' softmax turns such a row into zeros ("nothing to attend to"), so these
    /// zeros must not be shown as attention without saying so: the app marks the head, and
    /// `attnscope run` warns and writes those rows as NaN. Sorted by (layer, head).
    pub fn nonfinite_heads(&self) -> Vec<NonFiniteHead> {
        let mut out = Vec::new();
        for (layer, l) in self.layers.iter().enumerate() {
            for (head, d) in l.digests.iter().enumerate() {
                if !d.nonfinite_rows.is_empty() {
                    out.push(NonFiniteHead {
                        layer,
                        head,
                        rows: d.nonfinite_rows.clone(),
                    });
                }
            }
        }
        out
    }

    /// All probabilities as `[layers][heads][n][n]`; `None` unless the run kept them all.
    pub fn attentions(&self) -> Option<ndarray::Array4<f32>> {
        let (layers, heads, n) = (self.layers.len(), self.heads, self.n());
        if !self.full || self.layers.iter().any(|l| l.heads.len() != heads) {
            return None;
        }
        Some(ndarray::Array4::from_shape_fn(
            (layers, heads, n, n),
            |(l, h, i, j)| self.layers[l].heads[h].probs[[i, j]],
        ))
    }
}
