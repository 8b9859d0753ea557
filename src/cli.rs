//! The command line: `compute`, `render` and `bench` run headless (no display needed); with no
//! subcommand the desktop app starts.
//!
//! Errors end the process with status 2 and one line on stderr (see `main.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use ndarray::{Array2, Axis};
use rayon::prelude::*;

use crate::app::i18n::Lang;
use crate::app::state::{ThemeChoice, View};
use crate::core::kernels::{self, AttnShape, Backend, attention_forward};
use crate::core::{Spec, Trace, compute_with};
use crate::export::colormap::Colormap;
use crate::export::matrix::{ColourScale, MatrixKind, WeightsRange};
use crate::export::{self, write_atomic};
use crate::model::Model;
use crate::model::seq2seq::{AttnKind, Seq2Seq};

/// attnscope: see attention compute, one step at a time.
#[derive(Debug, Parser)]
#[command(name = "attnscope", version, about, long_about = None)]
pub struct Cli {
    /// A headless subcommand; without one the desktop app starts.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the desktop app.
    #[command(flatten)]
    pub gui: GuiArgs,
}

/// Options of the desktop app.
#[derive(Debug, Args, Default, Clone)]
pub struct GuiArgs {
    /// Save a PNG of the window after the first frames, then quit (for README screenshots).
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,
    /// Start with this spec or saved session (JSON) instead of the default sentence.
    #[arg(long, visible_alias = "session", value_name = "FILE.json")]
    pub spec: Option<PathBuf>,
    /// Start with this text (self-attention).
    #[arg(long, conflicts_with = "text_file")]
    pub text: Option<String>,
    /// Start with the text of this UTF-8 file (a long document for a model).
    #[arg(long, value_name = "FILE.txt")]
    pub text_file: Option<PathBuf>,
    /// Run large model inputs without asking first (scripted screenshots and benchmarks).
    #[arg(long)]
    pub run_big: bool,
    /// Start generating after the model loads (the Generate view; scripted screenshots).
    #[arg(long, requires = "model")]
    pub generate: bool,
    /// Pick these heads for the Generate view's knock-out: LAYER:HEAD[,LAYER:HEAD…].
    #[arg(long, value_name = "L:H,…", requires = "generate")]
    pub ablate: Option<String>,
    /// Classroom mode in the Generate view: each step's distribution hidden until a guess.
    #[arg(long, requires = "generate")]
    pub guess: bool,
    /// Show this step of the generation (0-based; default: the newest).
    #[arg(long, requires = "generate")]
    pub gen_step: Option<usize>,
    /// After generating, re-run the shown step with the picked heads knocked out and compute
    /// the head-importance table (scripted screenshots).
    #[arg(long, requires = "generate")]
    pub whatif: bool,
    /// Start in the Translate view with this source text (an encoder–decoder model: the
    /// tiny translator unless --model names another).
    #[arg(long)]
    pub source: Option<String>,
    /// The Translate view's target text (default: the model translates).
    #[arg(long, requires = "source")]
    pub target: Option<String>,
    /// Focus this translation step (decoder row, 0-based) in the Translate view.
    #[arg(long, requires = "source")]
    pub tr_step: Option<usize>,
    /// User-interface language.
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// Start in this view.
    #[arg(long, value_enum)]
    pub view: Option<View>,
    /// Start at this step: 1 = embed … 9 = output projection, or a name (embed, project,
    /// rotate — the RoPE step of rotary heads —, scores, scale, mask, softmax, weighted_sum,
    /// concat, output).
    #[arg(long, value_parser = parse_step)]
    pub step: Option<crate::core::Step>,
    /// Select this query row (0-based) for the expanded arithmetic.
    #[arg(long)]
    pub row: Option<usize>,
    /// Open this model: a folder (config.json + tokenizer.json + model.safetensors) or a GGUF file.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Focus this layer of the model (0-based).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Focus this head (0-based).
    #[arg(long)]
    pub head: Option<usize>,
    /// Number of heads to start with.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Token limit for typed text (longer text is cut, with a notice).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Colour theme.
    #[arg(long, value_enum)]
    pub theme: Option<ThemeChoice>,
    /// Zoom the whole interface by this factor, 0.5 to 3 (Ctrl + / − / 0 in the app): for a
    /// projector, and for scripted screenshots of it.
    #[arg(long)]
    pub zoom: Option<f32>,
    /// Start from the defaults, leaving the remembered session as it is for the next start
    /// (this run is not remembered; File ▸ Save session keeps it).
    #[arg(long)]
    pub fresh: bool,
    /// Window size in logical pixels, e.g. 1400x900.
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
}

/// Headless subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute a spec and write the full trace as JSON.
    Compute {
        /// The spec (JSON file, or - for stdin).
        #[arg(long, value_name = "FILE.json")]
        spec: String,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE.json")]
        out: Option<PathBuf>,
        /// Kernel backend (default: the fastest this CPU has).
        #[arg(long, value_name = "NAME")]
        kernel: Option<String>,
    },
    /// Run a real model (a folder with config.json, tokenizer.json, model.safetensors, or a GGUF file) and write
    /// tokens and every layer's and head's attention probabilities (.json or .npy).
    Run {
        /// Model folder, GGUF file, or a HuggingFace cache entry models--ORG--NAME.
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// Input text (a single-stack model).
        #[arg(long, required_unless_present = "source", conflicts_with = "source")]
        text: Option<String>,
        /// Source text of an encoder–decoder model (bart, marian). The JSON then holds
        /// `encoder`, `decoder` and `cross`, each [layers, heads, n_q, n_k], with both token
        /// lists; without --target the source is translated greedily and the decoder runs on
        /// the translation (written too).
        #[arg(long)]
        source: Option<String>,
        /// Target text for the decoder (teacher forcing), with --source.
        #[arg(long, requires = "source")]
        target: Option<String>,
        /// Output: .json (tokens, shapes, probabilities) or .npy ([layers, heads, n, n] float32,
        /// with the tokens in NAME.tokens.json beside it: a.npy → a.tokens.json). Query rows whose scores were not
        /// finite (NaN weights) are NaN in .npy and null in .json, listed under "nonfinite"
        /// as {layer, head, rows}, with a warning on stderr.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only these layers (0-based, comma-separated; default all). With --layers or
        /// --heads the forward pass keeps no matrices (bounded memory, as the app's long
        /// inputs) and each chosen layer is recomputed for the chosen heads, bit for bit what
        /// a full run gives: an 8,192-token document's few heads fit where all do not.
        #[arg(long, value_delimiter = ',', conflicts_with = "source")]
        layers: Vec<usize>,
        /// Only these heads of each chosen layer (0-based, comma-separated; default all).
        #[arg(long, value_delimiter = ',', conflicts_with = "source")]
        heads: Vec<usize>,
    },
    /// Generate text with a causal model, token by token on a KV cache, writing every step's
    /// top tokens and the new token's attention rows.
    Generate {
        /// Model folder or GGUF file (a causal LM: GPT-2, Llama, Qwen, Mistral, Gemma 3).
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// The prompt.
        #[arg(long)]
        prompt: String,
        /// New tokens at most (generation also stops at the model's end-of-text token).
        #[arg(long, default_value_t = 20)]
        max_new: usize,
        /// Softmax temperature; 0 is greedy.
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Sample from the k most likely tokens only (0 = all).
        #[arg(long, default_value_t = 0)]
        top_k: usize,
        /// Sample from the most likely tokens whose probabilities reach p (1 = all).
        #[arg(long, default_value_t = 1.0)]
        top_p: f32,
        /// Seed of the draw (the same seed gives the same tokens on every machine).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// JSON: prompt_ids, generated_ids, tokens, text, and per step the top 10 tokens
        /// (id, token, p), the chosen id, its log p and rank.
        #[arg(long, value_name = "FILE.json")]
        out: PathBuf,
        /// Also write the new token's attention rows per step as .npy
        /// [steps, layers, heads, n_max] float32, zero-padded (lengths in the JSON).
        #[arg(long, value_name = "FILE.npy")]
        attn_out: Option<PathBuf>,
        /// Knock out heads while generating: LAYER:HEAD[,LAYER:HEAD…] (0-based).
        #[arg(long, value_name = "L:H,…")]
        ablate: Option<String>,
        /// What replaces a knocked-out head's output: zero, or its mean over the prompt.
        #[arg(
            long,
            default_value = "zero",
            value_name = "zero|mean",
            requires = "ablate"
        )]
        ablate_mode: String,
    },
    /// Render one head's matrix of a spec, or of a model layer, as a heatmap (.png or .svg).
    Render {
        /// The spec (JSON file, or - for stdin).
        #[arg(
            long,
            value_name = "FILE.json",
            required_unless_present = "model",
            conflicts_with = "model"
        )]
        spec: Option<String>,
        /// A model folder or GGUF file instead of a spec.
        #[arg(long, value_name = "DIR")]
        model: Option<PathBuf>,
        /// Text for the model.
        #[arg(long, conflicts_with = "source")]
        text: Option<String>,
        /// Source text of an encoder–decoder model (with --kind).
        #[arg(long, requires = "model")]
        source: Option<String>,
        /// Target text of an encoder–decoder model (default: its greedy translation).
        #[arg(long, requires = "source")]
        target: Option<String>,
        /// Which attention of an encoder–decoder model: encoder, decoder or cross (target
        /// tokens down the side, source tokens across the top).
        /// (default: cross). Only with --source: a single-stack model has one kind.
        #[arg(long, value_name = "encoder|decoder|cross")]
        kind: Option<String>,
        /// Layer (with --model).
        #[arg(long, default_value_t = 0)]
        layer: usize,
        /// Head index (0-based).
        #[arg(long, default_value_t = 0)]
        head: usize,
        /// Which matrix.
        #[arg(long, value_enum, default_value_t = MatrixKind::Weights)]
        matrix: MatrixKind,
        /// Where the weights' colours end: the matrix's largest weight, or 1 (the same weight
        /// the same colour in every picture). Scores are always centred on 0.
        #[arg(long, value_enum, default_value_t = WeightsRange::Max)]
        range: WeightsRange,
        /// How a weight maps to a colour: linear (on --range), log (log₁₀ p from 10⁻⁴ to 1:
        /// weak but structured attention shows, as in a long input), or row (each row as a
        /// share of its largest weight). Cells' numbers stay the weights. Weights only.
        #[arg(long, value_enum, default_value_t = ColourScale::Linear)]
        scale: ColourScale,
        /// Output file, .png or .svg.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Language of the picture's title (default: English; `attnscope --lang zh render …`
        /// works too).
        #[arg(long, value_enum)]
        lang: Option<Lang>,
    },
    /// Kernel throughput: scalar, portable, SIMD and ndarray-naive attention.
    Bench {
        /// Sequence lengths.
        #[arg(long, value_delimiter = ',', default_values_t = vec![128usize, 512, 2048])]
        n: Vec<usize>,
        /// Heads.
        #[arg(long, default_value_t = 12)]
        heads: usize,
        /// Head dimension.
        #[arg(long, default_value_t = 64)]
        d: usize,
        /// Minimum seconds per measurement.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Skip the slow scalar reference at sizes above this N.
        #[arg(long, default_value_t = 512)]
        scalar_max_n: usize,
        /// Also write the table as JSON.
        #[arg(long, value_name = "FILE.json")]
        json: Option<PathBuf>,
        /// Instead of the kernels, time a model's forward pass with every attention captured
        /// (random ids, BERT gets [CLS] … [SEP]) at each N, and report resident memory.
        #[arg(long, value_name = "DIR")]
        model: Option<PathBuf>,
        /// With --model: time generating this many tokens (greedy, every step's attention
        /// kept) after a prompt of each N random tokens, instead of the forward pass.
        #[arg(long, value_name = "K", requires = "model")]
        generate: Option<usize>,
        /// With --model: time the head-importance table (every head knocked out alone, the
        /// drop in log p of the next token) after each N random tokens.
        #[arg(long, requires = "model", conflicts_with = "generate")]
        importance: bool,
    },
}

/// Parses and validates a command line (argv\[0\] first) without running anything: clap's
/// parsing, then [`Cli::validate`]. The fuzzer drives this seam.
pub fn parse_args<I, T>(argv: I) -> Result<Cli>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = try_parse_from(argv)?;
    cli.validate()?;
    Ok(cli)
}

/// clap's parsing of a command line (argv\[0\] first), as `attnscope` itself does it.
pub fn try_parse_from<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    allow_negative_numbers(Cli::command())
        .try_get_matches_from(argv)
        .and_then(|m| Cli::from_arg_matches(&m))
}

/// Every option of every subcommand that takes a value takes a negative one too, so
/// `--temperature -1` reaches the check that says what the range is (and `--head -1` clap's
/// "invalid digit"), instead of "unexpected argument '-1' found".
fn allow_negative_numbers(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(|a| {
        if a.get_action().takes_values() {
            a.allow_negative_numbers(true)
        } else {
            a
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    names.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, allow_negative_numbers)
    })
}

/// `--step`: a number 1 … 9 (the numbered steps) or a step's name.
fn parse_step(s: &str) -> Result<crate::core::Step, String> {
    use crate::core::Step;
    if let Ok(n) = s.parse::<usize>() {
        return n
            .checked_sub(1)
            .and_then(|i| Step::ALL.get(i).copied())
            .ok_or_else(|| format!("--step must be between 1 and 9, got {n}"));
    }
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("unknown step {s:?}: give 1 … 9 or a name such as rotate or softmax"))
}

/// Longest measurement `bench --seconds` accepts (an hour).
pub const MAX_BENCH_SECONDS: f64 = 3600.0;

impl Cli {
    /// Checks every number the command line gives against its range before anything runs
    /// or is allocated; the message names the flag. (Layer and head indices are checked
    /// against the model or spec once it is loaded.)
    pub fn validate(&self) -> Result<()> {
        use crate::core::limits::{MAX_D_MODEL, MAX_HEADS, MAX_TRACE_BYTES, human_bytes};
        use crate::core::spec::MAX_TOKENS;
        let g = &self.gui;
        if let Some(h) = g.heads
            && !(1..=MAX_HEADS).contains(&h)
        {
            bail!("--heads must be between 1 and {MAX_HEADS}, got {h}");
        }
        if let Some(m) = g.max_tokens
            && !(1..=MAX_TOKENS).contains(&m)
        {
            bail!("--max-tokens must be between 1 and {MAX_TOKENS}, got {m}");
        }
        if let Some(size) = &g.size {
            let parsed = size.split_once(['x', 'X']).and_then(|(w, h)| {
                Some((w.trim().parse::<f32>().ok()?, h.trim().parse::<f32>().ok()?))
            });
            match parsed {
                Some((w, h)) if [w, h].iter().all(|v| (200.0..=16384.0).contains(v)) => {}
                _ => bail!(
                    "--size must look like 1400x900, each side between 200 and 16384, got {size:?}"
                ),
            }
        }
        // Outputs are checked before any work: an hour of benchmark, or a model run, should
        // not end in "cannot write".
        if let Some(shot) = &g.screenshot {
            output_ok(shot, &["png"])?;
        }
        match &self.command {
            Some(Command::Compute { out: Some(out), .. }) => output_ok(out, &["json"])?,
            Some(Command::Run {
                out,
                source: None,
                target,
                ..
            }) => {
                if target.is_some() {
                    bail!("--target is for an encoder–decoder model with --source");
                }
                output_ok(out, &["json", "npy"])?;
            }
            Some(Command::Run { out, .. }) => output_ok(out, &["json"])?,
            Some(Command::Generate { out, attn_out, .. }) => {
                output_ok(out, &["json"])?;
                if let Some(a) = attn_out {
                    output_ok(a, &["npy"])?;
                }
            }
            Some(Command::Render {
                out,
                spec,
                text,
                source,
                target,
                kind,
                layer,
                matrix,
                ..
            }) => {
                // clap's `requires` does not hold beside --text's conflict: said here.
                if source.is_none() && (target.is_some() || kind.is_some()) {
                    bail!(
                        "--target and --kind are for an encoder–decoder model with --source; a model given --text has one attention per layer"
                    );
                }
                // A figure made with an option that was not used would be the wrong figure.
                if spec.is_some() && text.is_some() {
                    bail!("--text is for --model; a spec holds its own text");
                }
                if spec.is_some() && *layer != 0 {
                    bail!("--layer is for --model; a spec has one layer");
                }
                if source.is_some() && *matrix != MatrixKind::Weights {
                    bail!(
                        "--matrix {} is not kept for encoder–decoder models: they render their attention weights",
                        matrix.name()
                    );
                }
                output_ok(out, &["png", "svg"])?;
            }
            Some(Command::Bench { json: Some(j), .. }) => output_ok(j, &["json"])?,
            _ => {}
        }
        if let Some(Command::Bench {
            n,
            heads,
            d,
            seconds,
            model,
            ..
        }) = &self.command
        {
            if n.is_empty() || n.contains(&0) {
                bail!("bench needs every --n ≥ 1");
            }
            if !(seconds.is_finite() && (0.0..=MAX_BENCH_SECONDS).contains(seconds)) {
                bail!("--seconds must be between 0 and {MAX_BENCH_SECONDS}, got {seconds}");
            }
            if model.is_none() {
                if !(1..=MAX_HEADS).contains(heads) {
                    bail!("--heads must be between 1 and {MAX_HEADS}, got {heads}");
                }
                if !(1..=MAX_D_MODEL).contains(d) {
                    bail!("--d must be between 1 and {MAX_D_MODEL}, got {d}");
                }
                for &n in n {
                    let bytes = bench_bytes(n, *heads, *d);
                    if bytes > u128::from(MAX_TRACE_BYTES) {
                        bail!(
                            "bench at N = {n}, h = {heads}, d = {d} would need {}, more than the limit of {}",
                            human_bytes(bytes),
                            human_bytes(u128::from(MAX_TRACE_BYTES))
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// Bytes `bench` holds at one size: P twice (the kernels' and ndarray's) and Q, K, V, O
/// plus ndarray's copies of Q, K, V, as f32.
fn bench_bytes(n: usize, heads: usize, d: usize) -> u128 {
    // Saturating: N comes straight from the command line and N² alone can overflow u128;
    // a wrapped estimate could pass the budget check (the cli_args fuzzer found this).
    let [n, h, d] = [n, heads, d].map(|x| x as u128);
    let scores = h.saturating_mul(n).saturating_mul(n).saturating_mul(2);
    let vectors = h.saturating_mul(n).saturating_mul(d).saturating_mul(7);
    scores.saturating_add(vectors).saturating_mul(4)
}

/// Runs a headless subcommand.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Compute { spec, out, kernel } => {
            let backend = match kernel {
                None => Backend::best(),
                Some(name) => {
                    let b = Backend::from_name(&name).with_context(|| {
                        format!("unknown kernel {name:?}; known: scalar, portable, avx2, avx512")
                    })?;
                    if !b.is_supported() {
                        bail!("this CPU cannot run the {name} kernels");
                    }
                    b
                }
            };
            let trace = load_and_compute(&spec, backend)?;
            let json = export::trace_json(&trace)?;
            match out {
                Some(path) => write_atomic(&path, json.as_bytes())?,
                None => println!("{json}"),
            }
            Ok(())
        }
        Command::Run {
            model,
            text,
            source,
            target,
            out,
            layers,
            heads,
        } => match (text, source) {
            (Some(text), _) => run_model(&model, &text, &out, (&layers, &heads)),
            (None, Some(source)) => run_seq2seq(&model, &source, given(&target), &out),
            (None, None) => bail!("give --text (or --source for an encoder–decoder model)"),
        },
        Command::Generate {
            model,
            prompt,
            max_new,
            temperature,
            top_k,
            top_p,
            seed,
            out,
            attn_out,
            ablate,
            ablate_mode,
        } => {
            let ablation = match ablate {
                Some(spec) => crate::model::ablate::Ablation::heads(
                    crate::model::ablate::Ablation::parse_heads(&spec)
                        .map_err(|e| anyhow::anyhow!("--ablate: {e}"))?,
                    crate::model::ablate::Knockout::parse(&ablate_mode)
                        .map_err(|e| anyhow::anyhow!("--ablate-mode: {e}"))?,
                ),
                None => Default::default(),
            };
            if !(temperature.is_finite() && temperature >= 0.0) {
                bail!("--temperature must be a number ≥ 0 (0 is greedy)");
            }
            if !(top_p > 0.0 && top_p <= 1.0) {
                bail!("--top-p must be in (0, 1]");
            }
            let sampling = crate::model::generate::Sampling {
                temperature,
                top_k,
                top_p,
                seed,
                ignore_eos: false,
            };
            generate_cmd(
                &model,
                &prompt,
                max_new,
                &sampling,
                &ablation,
                &out,
                attn_out.as_deref(),
            )
        }
        Command::Render {
            spec,
            model,
            text,
            source,
            target,
            kind,
            layer,
            head,
            matrix,
            range,
            scale,
            out,
            lang,
        } => {
            use crate::app::i18n::{Msg, tr};
            let lang = lang.unwrap_or(Lang::En);
            if scale != ColourScale::Linear && matrix != MatrixKind::Weights {
                bail!(
                    "--scale {} colours attention weights; --matrix {} is drawn linearly, centred on 0",
                    arg_name(scale),
                    arg_name(matrix)
                );
            }
            if let (Some(dir), Some(source)) = (&model, &source) {
                let (target, at) = (given(&target), (layer, head));
                let kind = kind.as_deref().unwrap_or("cross");
                return render_seq2seq(dir, source, target, kind, at, (range, scale), &out);
            }
            // What the picture is of, for its title: the spec file, or the model and layer.
            let subject;
            let trace = match (spec, model) {
                (Some(spec), _) => {
                    let name = Path::new(&spec).file_name().map(|f| f.to_string_lossy());
                    let name = name.filter(|_| spec != "-");
                    subject = format!("{} · ", name.as_deref().unwrap_or("stdin"));
                    load_and_compute(&spec, Backend::best())?
                }
                (None, Some(dir)) => {
                    let Some(text) = text else {
                        bail!(
                            "render --model needs --text (or --source for an encoder–decoder model)"
                        );
                    };
                    let m = Model::load(&dir)?;
                    // Before the forward pass, which takes a minute for a long document.
                    if head >= m.config.heads() {
                        bail!(
                            "head {head} does not exist: the model has {} head(s) per layer",
                            m.config.heads()
                        );
                    }
                    let run = m.run(&text)?;
                    subject = format!("{} · {} {layer} · ", m.name, tr(lang, Msg::Layer));
                    if layer >= run.layers.len() {
                        bail!(
                            "layer {layer} does not exist: the model has {} layer(s)",
                            run.layers.len()
                        );
                    }
                    let mut trace = match run.layer_trace(layer) {
                        Some(t) => t,
                        // A long run keeps no matrices: recompute the one layer and head.
                        None => {
                            let opened = m.open_layer(&run, layer, &[head])?;
                            run.trace_of(layer, opened)
                                .context("the recomputed layer does not fit the run")?
                        }
                    };
                    // Rows whose scores were NaN or ∞ have no distribution: drawn as
                    // undefined (grey), never as zero attention, and said, as `run` says.
                    let bad = run.nonfinite_heads();
                    if let Some(h) = bad.iter().find(|h| h.layer == layer && h.head == head) {
                        eprintln!("{}; drawn grey", nonfinite_line(h, run.n()));
                        if let Some(t) = trace.head_traces.get_mut(head) {
                            for &i in &h.rows {
                                t.weights.row_mut(i).fill(f32::NAN);
                            }
                        }
                    }
                    trace
                }
                (None, None) => bail!("give --spec or --model"),
            };
            let title = format!(
                "{subject}{} {head} · {}{}",
                tr(lang, Msg::Head),
                matrix_name(matrix, lang),
                scale_suffix(scale, lang)
            );
            let Some(mut h) = matrix.heatmap(&trace, head, Colormap::Viridis, range, title) else {
                bail!(
                    "head {head} does not exist: the spec has {} head(s)",
                    trace.heads
                );
            };
            h.scale = scale;
            render_heatmap(&h, &out)
        }
        Command::Bench {
            n,
            heads,
            d,
            seconds,
            scalar_max_n,
            json,
            model,
            generate,
            importance,
        } => {
            // Every table names its machine: a speed claim measured on one CPU is not one
            // about another.
            println!("machine: {}", machine());
            match (model, generate) {
                (Some(dir), k) if Seq2Seq::is_seq2seq_dir(&dir) => {
                    bench_seq2seq(&dir, &n, k.unwrap_or(20), seconds)
                }
                (Some(dir), _) if importance => bench_importance(&dir, &n),
                (Some(dir), Some(k)) => bench_generate(&dir, &n, k),
                (Some(dir), None) => bench_model(&dir, &n, seconds, json.as_deref()),
                (None, _) => bench(&n, heads, d, seconds, scalar_max_n, json.as_deref()),
            }
        }
    }
}

/// The CPU's model name and how many logical CPUs the system has, for the benchmarks'
/// headers ("Intel(R) Xeon(R) Processor, 2 logical CPUs"); on systems without
/// `/proc/cpuinfo`, the architecture instead of the name.
fn machine() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(key, _)| key.trim() == "model name")
                .map(|(_, value)| value.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{name}, {cpus} logical CPUs")
}

/// A model that can generate, or one line saying `what` needs one.
fn load_causal(dir: &Path, what: &str) -> Result<Model> {
    let model = Model::load(dir)?;
    if !model.can_generate() {
        bail!(
            "{what} needs a causal LM with an LM head; {} is not one",
            model.name
        );
    }
    Ok(model)
}

/// n seeded random token ids from the upper half of the vocabulary (clear of the special
/// tokens most vocabularies put first).
fn random_prompt(model: &Model, seed_name: &str, n: usize) -> Vec<u32> {
    let vocab = model.tokenizer.vocab_size().min(model.config.vocab_size()) as u64;
    let mut s = crate::core::rng::Stream::new(seed_name, n as u64);
    (0..n)
        .map(|_| (1000.min(vocab / 2) + s.next_u64() % (vocab / 2).max(1)) as u32)
        .collect()
}

/// `bench --model M --generate K`: per prompt length N (random ids), the time to the first
/// new token (the prompt through the cache) and the tokens per second after it.
fn bench_generate(dir: &Path, ns: &[usize], k: usize) -> Result<()> {
    let model = load_causal(dir, "generation")?;
    println!(
        "attnscope bench --generate: {} greedy, every step's attention kept, {} threads, kernel = {}",
        model.name,
        rayon::current_num_threads(),
        Backend::best()
    );
    println!(
        "| prompt N | new tokens | prompt + first token ms | tokens/s after the first |\n|---:|---:|---:|---:|"
    );
    for &n in ns {
        let ids = random_prompt(&model, "bench-generate", n);
        let t0 = std::time::Instant::now();
        let mut first = None;
        let steps = model.generate(
            &ids,
            k,
            &crate::model::generate::Sampling {
                ignore_eos: true,
                ..Default::default()
            },
            None,
            &mut |_| {
                first.get_or_insert_with(std::time::Instant::now);
            },
        )?;
        let end = std::time::Instant::now();
        let first = first.unwrap_or(end);
        let rest = steps.len().saturating_sub(1);
        let tps = rest as f64 / (end - first).as_secs_f64().max(1e-9);
        println!(
            "| {n} | {} | {:.1} | {tps:.1} |",
            steps.len(),
            (first - t0).as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// `bench --model M --importance`: per prompt length N (random ids), the time of the clean
/// run and of the head-importance table (every head knocked out alone, zeroed).
fn bench_importance(dir: &Path, ns: &[usize]) -> Result<()> {
    let model = load_causal(dir, "head importance")?;
    let (layers, heads) = (model.config.layers(), model.config.heads());
    println!(
        "attnscope bench --importance: {} ({layers} layers × {heads} heads), {} threads, kernel = {}",
        model.name,
        rayon::current_num_threads(),
        Backend::best()
    );
    println!(
        "| N | clean run ms | head-importance table ms | per head ms |\n|---:|---:|---:|---:|"
    );
    for &n in ns {
        let ids = random_prompt(&model, "bench-importance", n);
        let t0 = std::time::Instant::now();
        let base = model.ablation_base(&ids, n, None)?;
        let t1 = std::time::Instant::now();
        let target = crate::model::generate::top_k(&base.logprobs, 1)[0].0;
        let table = model.head_importance(
            &base,
            target,
            crate::model::ablate::Knockout::Zero,
            None,
            None,
        )?;
        let t2 = std::time::Instant::now();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {n} | {:.1} | {:.1} | {:.2} |",
            ms(t1 - t0),
            ms(t2 - t1),
            ms(t2 - t1) / table.len().max(1) as f64
        );
    }
    Ok(())
}

/// `attnscope generate`: the steps as JSON, and optionally the attention rows as .npy.
fn generate_cmd(
    dir: &Path,
    prompt: &str,
    max_new: usize,
    sampling: &crate::model::generate::Sampling,
    ablation: &crate::model::ablate::Ablation,
    out: &Path,
    attn_out: Option<&Path>,
) -> Result<()> {
    let model = Model::load(dir)?;
    if !model.can_generate() {
        bail!(
            "generation needs a causal LM with an LM head; {} ({}) is not one",
            model.name,
            model.config.model_type()
        );
    }
    // The whole prompt as the tokenizer gives it (BOS included where the model adds one).
    let tokens = model.tokenizer.encode(prompt)?;
    if tokens.is_empty() {
        bail!("the prompt is empty and the model adds no start token: type a prompt");
    }
    let prompt_ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
    let steps =
        model.generate_ablated(&prompt_ids, max_new, sampling, ablation, None, &mut |_| {})?;
    // A model whose numbers break (NaN weights) "writes" token 0 with probability NaN at
    // every step: tokens that mean nothing are not a result.
    if let Some(i) = steps.iter().position(|s| !s.logprob.is_finite()) {
        bail!(
            "the model's next-token probabilities are not numbers (NaN or ∞) from step {i} on: its weights or activations hold NaN or ∞ (`attnscope run` names the heads)"
        );
    }
    let tok = |id: u32| model.tokenizer.id_to_token(id);
    let generated: Vec<u32> = steps.iter().map(|s| s.id).collect();
    let all: Vec<u32> = prompt_ids.iter().chain(&generated).copied().collect();
    // Readable labels as the app shows them: the prompt's from its offsets, the generated
    // ones with byte pieces joined into characters (北, 北², 北³).
    let written = model
        .tokenizer
        .written(prompt_ids.last().copied(), &generated);
    let labels: Vec<&str> = tokens
        .iter()
        .map(|t| t.label.as_str())
        .chain(written.labels.iter().map(String::as_str))
        .collect();
    let candidate = |i: usize, id: u32| {
        let pending: Vec<u32> = written.pending(i).map(|k| generated[k]).collect();
        model.tokenizer.candidate_label(&pending, id)
    };
    // The chosen token: a byte piece by the character it is part of, as in `labels`.
    let chosen = |i: usize, id: u32| match written.labels.get(i) {
        Some(l) if model.tokenizer.is_byte_piece(id) => l.clone(),
        _ => candidate(i, id),
    };
    let doc = serde_json::json!({
        "model": model.name,
        "prompt": prompt,
        "prompt_ids": prompt_ids,
        "generated_ids": generated,
        "tokens": all.iter().map(|&i| tok(i)).collect::<Vec<_>>(),
        "labels": labels,
        "text": model.tokenizer.decode(&generated),
        "sampling": {"temperature": sampling.temperature, "top_k": sampling.top_k,
                     "top_p": sampling.top_p, "seed": sampling.seed},
        "ablation": {"heads": ablation.heads.iter().map(|h| [h.layer, h.head]).collect::<Vec<_>>(),
                     "mode": ablation.mode.name()},
        "steps": steps.iter().enumerate().map(|(i, s)| serde_json::json!({
            "chosen": s.id,
            "token": tok(s.id),
            "label": chosen(i, s.id),
            "logprob": s.logprob,
            "rank": s.rank,
            "top": s.top.iter().map(|&(id, p)| serde_json::json!({"id": id, "token": tok(id), "label": candidate(i, id), "p": p})).collect::<Vec<_>>(),
            "attention_len": prompt_ids.len() + i,
        })).collect::<Vec<_>>(),
    });
    let doc = serde_json::to_string_pretty(&doc)?;
    let mut files: Vec<(&Path, Vec<u8>)> = vec![(out, doc.into_bytes())];
    if let Some(path) = attn_out {
        let layers = steps.first().map_or(0, |s| s.attention.len());
        let heads = steps
            .first()
            .and_then(|s| s.attention.first())
            .map_or(0, Vec::len);
        let n_max = prompt_ids.len() + steps.len().saturating_sub(1);
        let mut att = ndarray::Array4::<f32>::zeros((steps.len(), layers, heads, n_max));
        for (i, s) in steps.iter().enumerate() {
            for (l, layer) in s.attention.iter().enumerate() {
                for (h, row) in layer.iter().enumerate() {
                    for (j, &p) in row.iter().enumerate() {
                        att[[i, l, h, j]] = p;
                    }
                }
            }
        }
        let mut bytes = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(&att, &mut bytes).context("cannot encode .npy")?;
        files.push((path, bytes));
    }
    let files: Vec<(&Path, &[u8])> = files.iter().map(|(p, b)| (*p, b.as_slice())).collect();
    write_all_or_none(&files)
}

/// Nested lists of an `[layers, heads, n_q, n_k]` array (what the JSON outputs hold).
fn nested4(a: &ndarray::Array4<f32>) -> Vec<Vec<Vec<Vec<f32>>>> {
    a.outer_iter()
        .map(|l| {
            l.outer_iter()
                .map(|h| h.rows().into_iter().map(|r| r.to_vec()).collect())
                .collect()
        })
        .collect()
}

/// `attnscope run --source`: an encoder–decoder model's three kinds of attention.
fn run_seq2seq(dir: &Path, source: &str, target: Option<&str>, out: &Path) -> Result<()> {
    let ext = ext_of(out);
    if ext.as_deref() != Some("json") {
        bail!(
            "{}: an encoder–decoder run is written as .json (encoder, decoder and cross differ in shape)",
            out.display()
        );
    }
    let model = load_seq2seq(dir)?;
    for w in &model.warnings {
        eprintln!("warning: {w}");
    }
    let run = model.run(source, target)?;
    let tokens = |t: &[crate::model::tokenizer::TokenInfo]| {
        serde_json::json!({
            "tokens": t.iter().map(|t| t.piece.clone()).collect::<Vec<_>>(),
            "labels": t.iter().map(|t| t.label.clone()).collect::<Vec<_>>(),
            "ids": t.iter().map(|t| t.id).collect::<Vec<_>>(),
        })
    };
    let mut doc = serde_json::json!({
        "model": run.model,
        "model_type": model.config.model_type,
        "source": tokens(&run.source),
        "target": tokens(&run.target),
        "target_note": "decoder inputs: the start token, then the target; row i predicts token i + 1",
    });
    if target.is_none() {
        let ids: Vec<u32> = run.target.iter().skip(1).map(|t| t.id).collect();
        doc["translation"] = serde_json::json!({
            "text": model.tokenizer.decode(&ids),
            "ids": ids,
            "how": "greedy, on the decoder's KV cache",
        });
    }
    for kind in AttnKind::ALL {
        let a = run.stacked(kind);
        doc[kind.key()] = serde_json::to_value(nested4(&a))?;
        doc[format!("{}_shape", kind.key())] = serde_json::to_value(a.shape())?;
    }
    write_atomic(out, serde_json::to_string(&doc)?.as_bytes())?;
    Ok(())
}

/// `attnscope render --source`: one head of an encoder–decoder model as a heatmap.
fn render_seq2seq(
    dir: &Path,
    source: &str,
    target: Option<&str>,
    kind: &str,
    (layer, head): (usize, usize),
    (range, scale): (WeightsRange, ColourScale),
    out: &Path,
) -> Result<()> {
    let Some(kind) = AttnKind::parse(kind) else {
        bail!("--kind must be encoder, decoder or cross, got {kind:?}");
    };
    let model = load_seq2seq(dir)?;
    let run = model.run(source, target)?;
    let layers = run.layers(kind).len();
    if layer >= layers {
        bail!(
            "layer {layer} does not exist: the {} has {layers} layer(s)",
            kind.key()
        );
    }
    let Some(values) = run.probs(kind, layer, head) else {
        bail!(
            "head {head} does not exist: the {} has {} head(s)",
            kind.key(),
            run.layers(kind)[layer].heads.len()
        );
    };
    let (rows, cols) = run.labels(kind);
    // The decoder's masked self-attention greys what it may not see, as the app does.
    let allowed = kind.allowed(values.dim());
    let h = crate::export::heatmap::Heatmap {
        values,
        allowed: allowed.as_ref(),
        rows: &rows,
        cols: &cols,
        colormap: Colormap::Viridis,
        range: MatrixKind::Weights.range(values, range),
        scale,
        title: format!(
            "{} attention, layer {layer} head {head}{}",
            kind.key(),
            scale_suffix(scale, Lang::En)
        ),
    };
    render_heatmap(&h, out)
}

/// `bench --model M` on an encoder–decoder model: the forward with every attention kept
/// (source and target of N random tokens each) and greedy translation of K tokens.
fn bench_seq2seq(dir: &Path, ns: &[usize], k: usize, secs: f64) -> Result<()> {
    let model = load_seq2seq(dir)?;
    let (el, eh, dl, dh) = model.shape();
    println!(
        "attnscope bench: {} ({}, encoder {el}×{eh}, decoder {dl}×{dh}, d {}), {} threads, kernel {}",
        model.name,
        model.config.model_type,
        model.config.d_model,
        rayon::current_num_threads(),
        Backend::best()
    );
    println!(
        "| N source = N target | forward, all attentions, ms | greedy {k} tokens, ms | tokens/s |\n|---:|---:|---:|---:|"
    );
    let vocab = model
        .config
        .vocab_size
        .min(model.tokenizer.vocab_size())
        .max(5) as u64;
    for &n in ns {
        let mut s = crate::core::rng::Stream::new("bench-seq2seq", n as u64);
        let mut ids = || -> Vec<u32> {
            (0..n)
                .map(|_| (4 + s.next_u64() % (vocab - 4)) as u32)
                .collect()
        };
        let (src, tgt) = (model.infos(&ids()), model.infos(&ids()));
        let (fwd, _) = time_median_keep(secs, || {
            model
                .run_tokens(src.clone(), tgt.clone())
                .expect("bench run")
        });
        let src_ids: Vec<u32> = src.iter().map(|t| t.id).collect();
        let mut written = 0;
        let gen_ = time_median(secs, || {
            // EOS is not a stop here: a benchmark writes all k tokens.
            let tr = model.translate_n(&src_ids, k).expect("bench translation");
            written = tr.ids.len();
        });
        println!(
            "| {n} | {:.2} | {:.2} | {:.0} |",
            fwd * 1e3,
            gen_ * 1e3,
            written as f64 / gen_
        );
    }
    Ok(())
}

/// `attnscope run`: tokens and the attention probabilities of a model on a text, of every
/// layer and head or of the ones `chosen` (layers, heads; empty: all).
fn run_model(dir: &Path, text: &str, out: &Path, chosen: (&[usize], &[usize])) -> Result<()> {
    let model = Model::load(dir)?;
    let (n_layers, n_heads) = (model.config.layers(), model.config.heads());
    let pick = |asked: &[usize], count: usize, what: &str| -> Result<Vec<usize>> {
        if let Some(bad) = asked.iter().find(|&&i| i >= count) {
            bail!(
                "--{what} {bad}: the model has {count} {what} (0 to {})",
                count - 1
            );
        }
        let mut list: Vec<usize> = if asked.is_empty() {
            (0..count).collect()
        } else {
            asked.to_vec()
        };
        let mut seen = std::collections::HashSet::new();
        list.retain(|i| seen.insert(*i));
        Ok(list)
    };
    let layers = pick(chosen.0, n_layers, "layers")?;
    let heads = pick(chosen.1, n_heads, "heads")?;
    let subset = layers.len() < n_layers || heads.len() < n_heads;
    let (tokens, truncated_from) = model.tokens(text)?;
    let n = tokens.len();
    let mut run = if subset {
        let bytes = (layers.len() * heads.len()) as u128 * (n as u128).pow(2) * 4;
        let limit = u128::from(crate::model::config::MAX_RUN_BYTES);
        if bytes > limit {
            bail!(
                "{} layers × {} heads at {n} tokens would take {}, more than the limit of {}: choose fewer",
                layers.len(),
                heads.len(),
                crate::core::limits::human_bytes(bytes),
                crate::core::limits::human_bytes(limit)
            );
        }
        model.run_tokens_with(tokens, false, None, None)?
    } else {
        // Every matrix is written, so the run keeps them all (up to the memory limit).
        model
            .run_tokens_with(tokens, true, None, None)
            .map_err(|e| match e {
                e @ crate::model::ModelError::TooLarge { .. } => {
                    anyhow::anyhow!("{e}; choose some with --layers L,… and --heads H,…")
                }
                e => e.into(),
            })?
    };
    run.truncated_from = truncated_from;
    if let Some(n) = run.truncated_from {
        eprintln!(
            "note: {n} tokens truncated to the model's {} positions",
            model.config.max_positions()
        );
    }
    for w in &model.warnings {
        eprintln!("warning: {w}");
    }
    let mut att = if subset {
        // Each chosen layer recomputed from the hidden state the run kept.
        let mut att = ndarray::Array4::zeros((layers.len(), heads.len(), n, n));
        for (a, &l) in layers.iter().enumerate() {
            let opened = model.open_layer(&run, l, &heads)?;
            for (b, &h) in heads.iter().enumerate() {
                let cap = opened
                    .head(h)
                    .with_context(|| format!("layer {l} head {h} was not recomputed"))?;
                att.slice_mut(ndarray::s![a, b, .., ..]).assign(&cap.probs);
            }
        }
        att
    } else {
        run.attentions()
            .context("the run did not keep its attention matrices")?
    };
    // Rows whose attention is undefined are written as NaN (null in JSON), never as the
    // softmax kernels' zeros, and listed under "nonfinite" (by the model's layer and head).
    let nonfinite: Vec<_> = run
        .nonfinite_heads()
        .into_iter()
        .filter(|h| layers.contains(&h.layer) && heads.contains(&h.head))
        .collect();
    // A head or three by name; more (one NaN weight early on reaches every later head) in
    // one line, since the file lists them all under "nonfinite".
    if nonfinite.len() <= 3 {
        for h in &nonfinite {
            eprintln!("{}; written as NaN", nonfinite_line(h, run.n()));
        }
    } else {
        let in_layers: std::collections::BTreeSet<_> = nonfinite.iter().map(|h| h.layer).collect();
        let first = &nonfinite[0];
        eprintln!(
            "warning: {} heads in {} layers have NaN/Inf scores (first: layer {} head {}, {} of {} query rows); written as NaN and listed under \"nonfinite\"",
            nonfinite.len(),
            in_layers.len(),
            first.layer,
            first.head,
            first.rows.len(),
            run.n()
        );
    }
    for h in &nonfinite {
        let a = layers.iter().position(|&l| l == h.layer).unwrap_or(0);
        let b = heads.iter().position(|&k| k == h.head).unwrap_or(0);
        for &i in &h.rows {
            att.slice_mut(ndarray::s![a, b, i, ..]).fill(f32::NAN);
        }
    }
    let ext = ext_of(out);
    let tokens = serde_json::json!({
        "model": run.model,
        // As `generate` writes them: the tokenizer's pieces ("Ġx", "ĊĠĠĠ"), the labels the
        // app shows ("x", "⏎"), and each token's byte range in the text.
        "tokens": run.tokens.iter().map(|t| t.piece.clone()).collect::<Vec<_>>(),
        "labels": run.labels(),
        "offsets": run.tokens.iter().map(|t| [t.offsets.0, t.offsets.1]).collect::<Vec<_>>(),
        "ids": run.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
        "special": run.tokens.iter().map(|t| t.special).collect::<Vec<_>>(),
        "shape": att.shape(),
        // What the first two axes of the probabilities are: these layers, these heads.
        "layers": layers,
        "heads": heads,
        "truncated_from": run.truncated_from,
        "nonfinite": nonfinite,
    });
    match ext.as_deref() {
        Some("json") => {
            let mut doc = tokens;
            doc["attentions"] = serde_json::to_value(
                att.outer_iter()
                    .map(|l| {
                        l.outer_iter()
                            .map(|h| h.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>(),
            )?;
            write_atomic(out, serde_json::to_string(&doc)?.as_bytes())?;
            say_written(out, &att, None);
        }
        Some("npy") => {
            let mut bytes = Vec::new();
            ndarray_npy::WriteNpyExt::write_npy(&att, &mut bytes).context("cannot encode .npy")?;
            let side = out.with_extension("tokens.json");
            let names = serde_json::to_string_pretty(&tokens)?;
            write_all_or_none(&[(out, &bytes), (&side, names.as_bytes())])?;
            say_written(out, &att, Some(&side));
        }
        _ => bail!("{}: the output must end in .json or .npy", out.display()),
    }
    Ok(())
}

/// "warning: layer 0 head 0: 5 of 5 query rows have NaN/Inf scores (first: row 0)" for a
/// head of a run of `n` tokens (what `run` and `render` do with the rows follows).
fn nonfinite_line(h: &crate::model::NonFiniteHead, n: usize) -> String {
    format!(
        "warning: layer {} head {}: {} of {n} query rows have NaN/Inf scores (first: row {})",
        h.layer,
        h.head,
        h.rows.len(),
        h.rows.first().map_or(0, |&r| r)
    )
}

/// A matrix's name for a picture's title.
/// A value's name on the command line ("row" for `ColourScale::RowNormalised`).
fn arg_name(v: impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_owned())
}

/// What a picture's title adds for its colour scale (nothing for linear).
fn scale_suffix(scale: ColourScale, lang: Lang) -> &'static str {
    match (lang, scale) {
        (_, ColourScale::Linear) => "",
        (Lang::En, ColourScale::Log) => " · log colour scale",
        (Lang::En, ColourScale::RowNormalised) => " · each row ÷ its max",
        (Lang::Zh, ColourScale::Log) => " · 对数颜色刻度",
        (Lang::Zh, ColourScale::RowNormalised) => " · 每行除以该行最大值",
    }
}

fn matrix_name(m: MatrixKind, lang: Lang) -> &'static str {
    match (lang, m) {
        (Lang::En, m) => m.name(),
        (Lang::Zh, MatrixKind::Raw) => "原始分数",
        (Lang::Zh, MatrixKind::Scaled) => "缩放后的分数",
        (Lang::Zh, MatrixKind::Logits) => "掩码后的分数",
        (Lang::Zh, MatrixKind::Weights) => "注意力权重",
    }
}

/// Writes every file or none: when one cannot be written, the ones written before it are
/// removed again, so a failed command leaves no half of its output behind (a .npy without
/// its tokens, a generation without the attention it was asked for).
fn write_all_or_none(files: &[(&Path, &[u8])]) -> Result<()> {
    for (k, (path, bytes)) in files.iter().enumerate() {
        if let Err(e) = write_atomic(path, bytes) {
            for (done, _) in &files[..k] {
                let _ = std::fs::remove_file(done);
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// One line on stderr of what `run` wrote (a 700-token run of a 30-layer model is half a
/// gigabyte, and used to finish without a word).
fn say_written(out: &Path, att: &ndarray::Array4<f32>, tokens: Option<&Path>) {
    let (l, h, n, m) = att.dim();
    let size = std::fs::metadata(out).map_or(0, |md| md.len());
    let side = tokens.map_or(String::new(), |p| format!("; tokens in {}", p.display()));
    eprintln!(
        "wrote {l} {} × {h} {} × {n}×{m} probabilities to {} ({:.1} MB){side}",
        if l == 1 { "layer" } else { "layers" },
        if h == 1 { "head" } else { "heads" },
        out.display(),
        size as f64 / 1e6
    );
}

/// The encoder–decoder model of `--source`; a single-stack model (GPT-2, BERT …) is told
/// to take --text instead.
fn load_seq2seq(dir: &Path) -> Result<Seq2Seq> {
    Seq2Seq::load(dir).map_err(|e| {
        let model_type = crate::model::seq2seq::model_type_of(dir);
        let single = crate::model::from_gguf::is_gguf(dir)
            || model_type.is_some_and(|t| !crate::model::seq2seq::FAMILIES.contains(&t.as_str()));
        let e = anyhow::Error::new(e);
        if single {
            e.context("--source needs an encoder–decoder model; give this one --text")
        } else {
            e
        }
    })
}

/// An encoder–decoder target as given: an empty one means "translate", as in the app.
fn given(target: &Option<String>) -> Option<&str> {
    target.as_deref().filter(|t| !t.trim().is_empty())
}

/// The lower-case extension of `path`.
fn ext_of(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Whether `path` can be an output: one of `exts`, in a folder that exists (the OS's reason
/// if not, as writing would give it).
fn output_ok(path: &Path, exts: &[&str]) -> Result<()> {
    if !ext_of(path).is_some_and(|e| exts.contains(&e.as_str())) {
        let list: Vec<String> = exts.iter().map(|e| format!(".{e}")).collect();
        bail!(
            "{}: the output must end in {}",
            path.display(),
            list.join(" or ")
        );
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(export::ExportError::Io {
            path: path.to_owned(),
            error: std::io::Error::from(std::io::ErrorKind::IsADirectory),
        }
        .into());
    }
    match std::fs::metadata(dir) {
        // A file made and removed again: a folder the file system will not write into
        // (/proc, a read-only mount, no permission) is found now, not after the work.
        Ok(m) if m.is_dir() => {
            let probe = dir.join(format!(".attnscope-probe-{}", std::process::id()));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
            {
                Ok(_) => {
                    let _ = std::fs::remove_file(&probe);
                    Ok(())
                }
                Err(error) => Err(export::ExportError::Io {
                    path: path.to_owned(),
                    error,
                }
                .into()),
            }
        }
        Ok(_) => Err(export::ExportError::Io {
            path: path.to_owned(),
            error: std::io::Error::from(std::io::ErrorKind::NotADirectory),
        }
        .into()),
        Err(error) => Err(export::ExportError::Io {
            path: path.to_owned(),
            error,
        }
        .into()),
    }
}

/// Reads a spec from a file or stdin (`-`) and computes it.
pub fn load_and_compute(spec_path: &str, backend: Backend) -> Result<Trace> {
    let text = if spec_path == "-" {
        crate::core::limits::read_text_from(
            std::io::stdin().lock(),
            crate::core::limits::MAX_SPEC_BYTES,
        )
        .context("cannot read the spec from stdin")?
    } else {
        crate::core::limits::read_text(Path::new(spec_path), crate::core::limits::MAX_SPEC_BYTES)
            .with_context(|| format!("cannot read spec {spec_path}"))?
    };
    let spec = Spec::from_json(&text).with_context(|| format!("bad spec {spec_path}"))?;
    compute_with(&spec, backend).with_context(|| format!("bad spec {spec_path}"))
}

/// Writes a heatmap as PNG or SVG, chosen by the file's extension.
fn render_heatmap(h: &crate::export::heatmap::Heatmap<'_>, out: &Path) -> Result<()> {
    let ext = ext_of(out);
    let bytes = match ext.as_deref() {
        Some("png") => h.to_png(h.default_cell_px())?,
        Some("svg") => h.to_svg()?.into_bytes(),
        _ => bail!("{}: the output must end in .png or .svg", out.display()),
    };
    write_atomic(out, &bytes)?;
    Ok(())
}

/// One row of the benchmark table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// Implementation.
    pub path: String,
    /// Sequence length.
    pub n: usize,
    /// Median milliseconds per multi-head call.
    pub ms: f64,
    /// GFLOP/s (4·h·N²·d flops per call).
    pub gflops: f64,
}

/// Median seconds of `f` over repeated runs lasting at least `min_secs` (≥ 3 runs).
pub fn time_median(min_secs: f64, f: impl FnMut()) -> f64 {
    time_median_keep(min_secs, f).0
}

/// [`time_median`] of a call that returns a result, and the last result. Each result is
/// dropped just before the next call starts, outside the timed span, as the Python
/// baselines do (`out = model(...)` timed, `del out` after), so the memory it frees is what
/// the next call writes into.
pub fn time_median_keep<T>(min_secs: f64, f: impl FnMut() -> T) -> (f64, T) {
    let (median, _, last) = time_median_min_keep(min_secs, f);
    (median, last)
}

/// [`time_median_keep`] with the fastest run too: on a shared host whose other tenants
/// slow some runs down, the fastest is what the code does undisturbed (the Python
/// baselines report theirs as `min_ms`).
pub fn time_median_min_keep<T>(min_secs: f64, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut last = f(); // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed().as_secs_f64() < min_secs && times.len() < 1000) {
        drop(last);
        let t = Instant::now();
        last = f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], last)
}

/// Straightforward ndarray attention (matrixmultiply GEMM, mapv softmax), heads in parallel:
/// the baseline a Rust programmer would write first.
pub fn ndarray_attention(
    q: &[Array2<f32>],
    k: &[Array2<f32>],
    v: &[Array2<f32>],
    scale: f32,
) -> Vec<(Array2<f32>, Array2<f32>)> {
    q.par_iter()
        .zip(k)
        .zip(v)
        .map(|((q, k), v)| {
            let mut s = q.dot(&k.t()) * scale;
            for mut row in s.axis_iter_mut(Axis(0)) {
                let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|x| (x - max).exp());
                let sum = row.sum();
                row /= sum;
            }
            let o = s.dot(v);
            (s, o)
        })
        .collect()
}

/// Resident and peak resident memory of this process in MiB (Linux `/proc/self/status`).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn bench_model(dir: &Path, ns: &[usize], secs: f64, json: Option<&Path>) -> Result<()> {
    if ns.is_empty() || ns.contains(&0) {
        bail!("bench needs every --n ≥ 1");
    }
    let t_load = std::time::Instant::now();
    let model = Model::load(dir)?;
    let load_ms = t_load.elapsed().as_secs_f64() * 1e3;
    let max = model.config.max_positions();
    if let Some(n) = ns.iter().find(|&&n| n > max) {
        bail!(
            "bench --model: N = {n} is more than {}'s {max} positions",
            model.name
        );
    }
    let (rss, _) = memory_mib();
    println!(
        "attnscope bench --model: {} forward computing every attention (matrices kept when they fit, else digests), {} threads, kernel = {}; loaded in {load_ms:.0} ms; RSS with the model loaded: {rss:.0} MiB",
        model.name,
        rayon::current_num_threads(),
        Backend::best()
    );
    println!(
        "| N | matrices kept | first run ms | ms (median) | RSS MiB holding the result | peak RSS MiB | open a head ms | peak RSS MiB after opening |\n|---:|---|---:|---:|---:|---:|---:|---:|"
    );
    let vocab = model.tokenizer.vocab_size() as u64;
    let (cls, sep) = (
        model.tokenizer.token_id("[CLS]"),
        model.tokenizer.token_id("[SEP]"),
    );
    let mut rows = Vec::new();
    for &n in ns {
        let mut s = crate::core::rng::Stream::new("bench-model", n as u64);
        let mut ids: Vec<u32> = (0..n)
            .map(|_| (1000 + s.next_u64() % (vocab.max(1001) - 1000)) as u32)
            .collect();
        if let (Some(c), Some(e)) = (cls, sep) {
            ids[0] = c;
            ids[n - 1] = e;
        }
        let tokens: Vec<_> = ids
            .iter()
            .map(|&id| crate::model::tokenizer::TokenInfo {
                id,
                piece: String::new(),
                label: String::new(),
                offsets: (0, 0),
                special: false,
            })
            .collect();
        let t_first = std::time::Instant::now();
        let first = model.run_tokens(tokens.clone());
        let first_ms = t_first.elapsed().as_secs_f64() * 1e3;
        if let Err(e) = first {
            bail!("{e}");
        }
        drop(first);
        let (sec, min_sec, held) = time_median_min_keep(secs, || model.run_tokens(tokens.clone()));
        let (rss, peak) = memory_mib();
        let run = match held {
            Ok(run) => run,
            Err(e) => bail!("{e}"),
        };
        // Opening a head as the app does: the middle layer's trace (a long run recomputes it
        // from the hidden state it kept, with the head's full matrices).
        let layer = run.layers.len() / 2;
        let t_open = std::time::Instant::now();
        let trace = if run.full {
            run.layer_trace(layer)
        } else {
            let opened = model.open_layer(&run, layer, &[0])?;
            run.trace_of(layer, opened)
        };
        let open_ms = t_open.elapsed().as_secs_f64() * 1e3;
        trace.context("the layer could not be opened")?;
        let (_, peak_open) = memory_mib();
        let kept = if run.full { "all" } else { "digests" };
        println!(
            "| {n} | {kept} | {first_ms:.2} | {:.2} | {rss:.0} | {peak:.0} | {open_ms:.0} | {peak_open:.0} |",
            sec * 1e3
        );
        rows.push(
            serde_json::json!({"n": n, "matrices": kept, "first_ms": first_ms, "ms": sec * 1e3,
            "min_ms": min_sec * 1e3,
            "rss_mib": rss, "peak_rss_mib": peak, "load_ms": load_ms,
            "open_head_ms": open_ms, "peak_rss_after_open_mib": peak_open}),
        );
    }
    if let Some(path) = json {
        write_atomic(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(())
}

fn bench(
    ns: &[usize],
    heads: usize,
    d: usize,
    secs: f64,
    scalar_max_n: usize,
    json: Option<&Path>,
) -> Result<()> {
    if heads == 0 || d == 0 || ns.contains(&0) {
        bail!("bench needs heads ≥ 1, d ≥ 1 and every N ≥ 1");
    }
    println!(
        "attnscope bench: materialised attention softmax(QKᵀ/√d)·V keeping P, h={heads}, d={d}, {} threads, best kernel = {}",
        rayon::current_num_threads(),
        Backend::best()
    );
    println!("| path | N | ms | GFLOP/s |\n|---|---:|---:|---:|");
    let mut rows = Vec::new();
    for &n in ns {
        let shape = AttnShape {
            heads,
            n_q: n,
            n_k: n,
            d,
        };
        let len = heads * n * d;
        let mut s = crate::core::rng::Stream::new("bench", n as u64);
        // On 64-byte boundaries, as PyTorch's allocator places its tensors.
        let mut gen_ = || {
            let values: Vec<f32> = (0..len).map(|_| s.next_sym(1.0)).collect();
            kernels::AlignedVec::from_slice(&values)
        };
        let (q, k, v) = (gen_(), gen_(), gen_());
        let mut p = kernels::AlignedVec::zeros(heads * n * n);
        let mut o = kernels::AlignedVec::zeros(len);
        let scale = 1.0 / (d as f32).sqrt();
        let mut record = |path: String, sec: f64| {
            let row = BenchRow {
                path,
                n,
                ms: sec * 1e3,
                gflops: shape.flops() / sec / 1e9,
            };
            println!(
                "| {} | {} | {:.3} | {:.1} |",
                row.path, row.n, row.ms, row.gflops
            );
            rows.push(row);
        };
        for backend in Backend::supported() {
            if backend == Backend::Scalar && n > scalar_max_n {
                continue;
            }
            let min_secs = if backend == Backend::Scalar {
                0.0
            } else {
                secs
            };
            // Timed on the pool with its other workers polling, as a forward runs
            // (`on_pool_awake`) and as PyTorch's OpenMP threads spin between parallel
            // regions. Called from the main thread, every call was handed to the pool and
            // waited on waking a worker: tens of microseconds in a KVM guest, a fifth of
            // the 128-key kernel.
            let sec = kernels::on_pool_awake(|| {
                time_median(min_secs, || {
                    attention_forward(backend, shape, &q, &k, &v, scale, false, &mut p, &mut o)
                })
            });
            record(format!("attnscope {backend}"), sec);
        }
        let split = |x: &[f32]| -> Vec<Array2<f32>> {
            x.chunks(n * d)
                .map(|c| Array2::from_shape_vec((n, d), c.to_vec()).expect("chunk is n×d"))
                .collect()
        };
        let (qa, ka, va) = (split(&q), split(&k), split(&v));
        let sec = kernels::on_pool_awake(|| {
            time_median(secs, || {
                std::hint::black_box(ndarray_attention(&qa, &ka, &va, scale));
            })
        });
        record("ndarray-naive".into(), sec);
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&rows)?;
        write_atomic(path, text.as_bytes())?;
    }
    Ok(())
}
