//! The persisted app state: inputs, mechanism settings, step, focused head, view options.
//! It is what a saved session holds and what eframe remembers between runs. The core's spec
//! is derived from it on every frame ([`State::to_spec`]), never stored beside it.

use serde::{Deserialize, Serialize};

use crate::core::spec::{
    LocalPParams, LocalPSource, ProjectionKind, Projections, Rows, ScoreParams, Sequence, Spec,
};
use crate::core::{ScoreKind, SpanKind, Step, Tokenizer};
use crate::export::colormap::Colormap;
use crate::export::matrix::WeightsRange;

use super::i18n::{Lang, Msg, trf};

/// The sentence on screen at first start.
pub const DEFAULT_TEXT: &str = "The animal didn't cross the street because it was too tired";
/// The default source sequence for cross-attention.
pub const DEFAULT_SOURCE: &str = "这只动物没有过马路，因为它太累了";

/// Mechanism presets: shortcuts that set the independent axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Preset {
    /// Luong global attention (cross, general score, all source positions).
    Global,
    /// Luong local-m (cross, window ±D around the aligned position).
    LocalM,
    /// Luong local-p (cross, predicted centre, Gaussian).
    LocalP,
    /// Self-attention, scaled dot product.
    SelfAttention,
    /// Cross-attention, scaled dot product.
    Cross,
    /// Self-attention with 4 heads.
    MultiHead,
}

impl Preset {
    /// Every preset, in menu order.
    pub const ALL: [Preset; 6] = [
        Preset::Global,
        Preset::LocalM,
        Preset::LocalP,
        Preset::SelfAttention,
        Preset::Cross,
        Preset::MultiHead,
    ];
}

/// Where X comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmbeddingMode {
    /// Toy embeddings of the typed text.
    #[default]
    Toy,
    /// A small matrix typed by hand (Q = K = V = X).
    Matrix,
    /// A real model's layer and heads (see `model_dir`).
    Model,
}

/// How the layers × heads thumbnails map a probability to a colour.
pub use crate::export::matrix::ColourScale as ThumbScale;

/// The main view (also the CLI's `--view`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
pub enum View {
    /// The focused head's heatmap.
    #[default]
    Heatmap,
    /// All heads side by side.
    Grid,
    /// Token-to-token lines.
    Lines,
    /// egui_plot panels.
    Plots,
    /// A real model: the layers × heads grid.
    Model,
    /// q_m·k_m products behind one score.
    Neuron,
    /// A real head's Q, K, V re-run through the chosen mechanism, side by side.
    Lab,
    /// The sortable per-head statistics table.
    Stats,
    /// Attention rollout across layers.
    Rollout,
    /// A causal model writes after the text, token by token.
    Generate,
    /// An encoder–decoder model: source, target, and the cross-attention between them.
    Translate,
}

/// Light or dark (also the CLI's `--theme`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ThemeChoice {
    /// Light (best on projectors).
    #[default]
    Light,
    /// Dark.
    Dark,
}

/// A hand-typed X (rows = tokens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixInput {
    /// Token labels, one per row.
    pub labels: Vec<String>,
    /// The numbers, rows × cols.
    pub values: Rows,
}

impl Default for MatrixInput {
    fn default() -> Self {
        MatrixInput {
            labels: vec!["q1".into(), "q2".into(), "q3".into()],
            values: vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]],
        }
    }
}

impl MatrixInput {
    /// Resizes to `rows × cols`, keeping what fits and filling new cells with 0.
    pub fn resize(&mut self, rows: usize, cols: usize) {
        self.values.resize(rows, vec![0.0; cols]);
        for row in &mut self.values {
            row.resize(cols, 0.0);
        }
        while self.labels.len() < rows {
            self.labels.push(format!("q{}", self.labels.len() + 1));
        }
        self.labels.truncate(rows);
    }
}

/// What a spec file held beyond the controls: explicit matrices and parameters. The state
/// keeps them and [`State::to_spec`] passes them on, so the app computes exactly what
/// `attnscope compute` computes on the same file. The left panel lists them, with a button
/// to forget them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Imported {
    /// Projections other than the input mode's default (explicit W_Q…W_O, or identity on text).
    pub projections: Option<Projections>,
    /// Explicit score parameters (W_a, or W₁, W₂, v_a) per head.
    pub score_params: Option<ScoreParams>,
    /// Explicit local-p parameters (W_p, v_p) per head.
    pub local_p_params: Option<LocalPParams>,
    /// Explicit source vectors for cross-attention.
    pub source: Option<Sequence>,
    /// A score multiplier other than 1 and 1/√dₖ.
    pub score_scale: Option<f32>,
}

impl Imported {
    /// What is held, by spec field name (empty when nothing is).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.projections.is_some() {
            out.push("projections");
        }
        if self.score_params.is_some() {
            out.push("score_params");
        }
        if self.local_p_params.is_some() {
            out.push("local_p_params");
        }
        if self.source.is_some() {
            out.push("source.vectors");
        }
        if self.score_scale.is_some() {
            out.push("score_scale");
        }
        out
    }
}

/// Everything the user set; persisted and saved in sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// UI language.
    pub lang: Lang,
    /// Theme.
    pub theme: ThemeChoice,
    /// UI zoom (projectors).
    pub zoom: f32,
    /// The query sequence.
    pub text_q: String,
    /// The source sequence (cross-attention).
    pub text_k: String,
    /// Cross-attention on (keys/values from `text_k`).
    pub cross: bool,
    /// Tokenizer.
    pub tokenizer: Tokenizer,
    /// Toy embeddings or a typed matrix.
    pub embedding: EmbeddingMode,
    /// The typed matrix.
    pub matrix: MatrixInput,
    /// Toy embedding width.
    pub d_model: usize,
    /// The width the user set, while a head count that does not divide it has widened
    /// `d_model` (heads 2 → 3 makes 16 → 18); a head count that divides it again brings it
    /// back, so heads 3 → 2 gives the numbers of before.
    pub d_model_set: Option<usize>,
    /// Seed.
    pub seed: u64,
    /// Sinusoidal positions on toy embeddings.
    pub positions: bool,
    /// Token limit for typed text.
    pub max_tokens: usize,
    /// Score function.
    pub score: ScoreKind,
    /// Multiply scores by 1/√d_k.
    pub scale_sqrt_dk: bool,
    /// Span.
    pub span: SpanKind,
    /// Local half width D.
    pub local_d: usize,
    /// What local-p's position predictor reads: the head's query, or the input row xᵢ.
    pub local_p_source: LocalPSource,
    /// Hidden size d_p of local-p's predictor (`None`: square W_p).
    pub local_p_dim: Option<usize>,
    /// σ of local-p's Gaussian (`None`: D/2).
    pub local_sigma: Option<f32>,
    /// Causal mask.
    pub causal: bool,
    /// Sliding window on/off.
    pub window_on: bool,
    /// Sliding window half width.
    pub window: usize,
    /// Key positions marked as padding.
    pub padded: Vec<usize>,
    /// Softmax temperature.
    pub temperature: f32,
    /// Number of heads.
    pub heads: usize,
    /// Current step.
    pub step: Step,
    /// Selected query row.
    pub row: usize,
    /// Focused head.
    pub head: usize,
    /// Main view.
    pub view: View,
    /// Colour map of weights.
    pub colormap: Colormap,
    /// Colour scale of the layers × heads thumbnails.
    pub thumb_scale: ThumbScale,
    /// Where weights' colours end: each matrix's largest weight, or 1 for all.
    pub weights_range: WeightsRange,
    /// Generate: new tokens at most.
    pub gen_max_new: usize,
    /// Generate: temperature (0 = greedy).
    pub gen_temperature: f32,
    /// Generate: top-k (0 = all).
    pub gen_top_k: usize,
    /// Generate: top-p.
    pub gen_top_p: f32,
    /// Generate: seed.
    pub gen_seed: u64,
    /// Generate: the step on the scrubber (`usize::MAX`: the newest).
    pub gen_step: usize,
    /// Generate: hide each step's distribution until a guess is typed or Reveal is pressed
    /// (classrooms).
    pub gen_guess_mode: bool,
    /// What if: heads to knock out.
    pub gen_knock: Vec<crate::model::ablate::HeadRef>,
    /// What if: what replaces them.
    pub gen_knock_mode: crate::model::ablate::Knockout,
    /// What if: blocked edges.
    pub gen_blocked: Vec<crate::model::ablate::BlockedEdge>,
    /// Head-importance table sort: column index and descending.
    pub gen_importance_sort: (usize, bool),
    /// The Translate view's model, texts and focus.
    pub tr: TranslateState,
    /// A model run keeps every head's full matrices while they take at most this many MiB;
    /// longer runs keep digests and recompute a layer when it is opened.
    pub full_capture_mib: u64,
    /// Numbers drawn in heatmap cells (small matrices).
    pub show_values: bool,
    /// Classroom: the heatmap keeps the weights hidden before step 6, so a class predicts
    /// them first (steps 1–2 otherwise show the final weights ahead of their step).
    pub hide_ahead: bool,
    /// Heatmap zoom.
    pub heat_zoom: f32,
    /// The Rollout view rolls out through this layer (`None`: all of them).
    pub rollout_upto: Option<usize>,
    /// The Rollout view leaves out the first token (an attention sink) and renormalises.
    pub rollout_skip_first: bool,
    /// Selected key column (neuron view).
    pub col: usize,
    /// The model folder in use (remembered; reloaded in the background at start).
    pub model_dir: Option<std::path::PathBuf>,
    /// Recently opened model folders, newest first.
    pub recent_models: Vec<std::path::PathBuf>,
    /// Folders the user added to Model ▸ Models on this computer.
    pub model_folders: Vec<std::path::PathBuf>,
    /// Focused layer of a model.
    pub layer: usize,
    /// Statistics table sort: column index and descending.
    pub stats_sort: (usize, bool),
    /// The title and description of the spec last loaded (a lesson, File ▸ Open spec,
    /// `--spec`, a dropped file), each "English / 中文"; shown above the inputs.
    pub spec_text: Option<(String, String)>,
    /// Explicit parameters from an opened spec file (`None`: seeded ones).
    pub imported: Option<Imported>,
    /// The toy's attention settings while a model's fill the controls (the lab starts from
    /// the model's score, mask and scale); put back when the toy embeddings are chosen again.
    pub toy_kept: Option<ToySettings>,
}

/// The attention settings a model's own replace in the controls (see [`State::lab_from`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToySettings {
    score: ScoreKind,
    scale_sqrt_dk: bool,
    span: SpanKind,
    causal: bool,
    window_on: bool,
    temperature: f32,
}

impl Default for State {
    fn default() -> Self {
        State {
            lang: Lang::En,
            theme: ThemeChoice::Light,
            zoom: 1.0,
            text_q: DEFAULT_TEXT.into(),
            text_k: DEFAULT_SOURCE.into(),
            cross: false,
            tokenizer: Tokenizer::Words,
            embedding: EmbeddingMode::Toy,
            matrix: MatrixInput::default(),
            d_model: 16,
            d_model_set: None,
            seed: 42,
            positions: true,
            max_tokens: 256,
            score: ScoreKind::ScaledDot,
            scale_sqrt_dk: true,
            span: SpanKind::Global,
            local_d: 2,
            local_p_source: LocalPSource::Query,
            local_p_dim: None,
            local_sigma: None,
            causal: false,
            window_on: false,
            window: 2,
            padded: Vec::new(),
            temperature: 1.0,
            heads: 2,
            step: Step::Embed,
            row: 0,
            head: 0,
            view: View::Heatmap,
            colormap: Colormap::Viridis,
            thumb_scale: ThumbScale::Linear,
            weights_range: WeightsRange::Max,
            gen_max_new: 20,
            gen_temperature: 0.0,
            gen_top_k: 0,
            gen_top_p: 1.0,
            gen_seed: 0,
            gen_step: 0,
            gen_guess_mode: false,
            gen_knock: Vec::new(),
            gen_knock_mode: Default::default(),
            gen_blocked: Vec::new(),
            gen_importance_sort: (1, true),
            tr: TranslateState::default(),
            full_capture_mib: crate::model::config::FULL_CAPTURE_BYTES >> 20,
            show_values: true,
            hide_ahead: false,
            heat_zoom: 1.0,
            rollout_upto: None,
            rollout_skip_first: false,
            col: 0,
            model_dir: None,
            recent_models: Vec::new(),
            model_folders: Vec::new(),
            layer: 0,
            stats_sort: (0, false),
            spec_text: None,
            toy_kept: None,
            imported: None,
        }
    }
}

/// Most heads knocked out, and most edges blocked, at once in the app.
pub const MAX_ABLATED: usize = 1024;
/// Most heads the toy controls offer.
pub const MAX_HEADS: usize = 16;
/// Widest toy embedding the controls offer.
pub const MAX_D_MODEL: usize = 512;
/// Largest local half width D and sliding window the controls offer.
pub const MAX_HALF_WIDTH: usize = 512;
/// Largest typed matrix (rows and columns).
pub const MAX_MATRIX: usize = 8;
/// Largest |value| of a typed matrix entry (its scores stay far from f32 overflow).
pub const MATRIX_LIMIT: f32 = 1e4;
/// Temperature range of the slider.
pub const TEMPERATURE_RANGE: std::ops::RangeInclusive<f32> = 0.05..=10.0;

impl State {
    /// Drops the knocked-out heads and blocked edges that a model of `layers` × `heads` does
    /// not have; returns them ("L9 H9, L2 H0"), empty if all fit.
    pub fn fit_knockout(&mut self, layers: usize, heads: usize) -> String {
        let fits = |l: usize, h: usize| l < layers && h < heads;
        let mut dropped: Vec<String> = Vec::new();
        self.gen_knock.retain(|k| {
            let keep = fits(k.layer, k.head);
            if !keep {
                dropped.push(k.to_string());
            }
            keep
        });
        self.gen_blocked.retain(|b| {
            let keep = fits(b.layer, b.head);
            if !keep {
                dropped.push(format!("{} {}→{}", b.head_ref(), b.from, b.to));
            }
            keep
        });
        dropped.join(", ")
    }

    /// Brings every field into the range the controls offer. A session file or the remembered
    /// state is untrusted: a huge `heads`, a NaN temperature or a 10⁶-row matrix must not
    /// reach the computation (or overflow `fit_d_model_to_heads`).
    pub fn sanitize(&mut self) {
        let finite_in = |x: f32, r: std::ops::RangeInclusive<f32>, default: f32| {
            if x.is_finite() {
                x.clamp(*r.start(), *r.end())
            } else {
                default
            }
        };
        self.zoom = finite_in(self.zoom, 0.5..=3.0, 1.0);
        self.heat_zoom = finite_in(self.heat_zoom, 0.25..=512.0, 1.0);
        self.full_capture_mib = self.full_capture_mib.min(6 << 10);
        self.gen_max_new = self.gen_max_new.clamp(1, 512);
        self.gen_temperature = finite_in(self.gen_temperature, 0.0..=5.0, 0.0);
        self.gen_top_p = finite_in(self.gen_top_p, 0.01..=1.0, 1.0);
        self.gen_top_k = self.gen_top_k.min(1000);
        // A session file may list any number of heads and edges: the model checks each one
        // against its shape before a run; here only the count is bounded.
        self.gen_knock.truncate(MAX_ABLATED);
        let spec_text = self.spec_text.as_mut().map(|(t, d)| [t, d]);
        for text in [&mut self.tr.source, &mut self.tr.target]
            .into_iter()
            .chain(spec_text.into_iter().flatten())
        {
            // Cut at a character boundary (a session file may hold any text).
            let cut = (0..=MAX_TRANSLATE_CHARS.min(text.len()))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(cut);
        }
        self.gen_blocked.truncate(MAX_ABLATED);
        self.temperature = finite_in(self.temperature, TEMPERATURE_RANGE, 1.0);
        self.heads = self.heads.clamp(1, MAX_HEADS);
        self.d_model = self.d_model.clamp(1, MAX_D_MODEL);
        self.max_tokens = self.max_tokens.clamp(1, crate::core::spec::MAX_TOKENS);
        self.local_d = self.local_d.min(MAX_HALF_WIDTH);
        self.local_p_dim = self
            .local_p_dim
            .map(|d| d.clamp(1, crate::core::pipeline::MAX_LOCAL_P_DIM));
        self.local_sigma = self
            .local_sigma
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| s.min(MAX_HALF_WIDTH as f32));
        self.window = self.window.min(MAX_HALF_WIDTH);
        self.padded.retain(|&j| j < crate::core::spec::MAX_TOKENS);
        self.padded.truncate(crate::core::spec::MAX_TOKENS);
        let m = &mut self.matrix;
        // A spec file may bring a larger X than the hand-typed limit; it stays bounded.
        let rows = m.values.len().clamp(1, crate::core::spec::MAX_TOKENS);
        let cols = m.values.first().map_or(2, Vec::len).clamp(1, MAX_D_MODEL);
        m.values.truncate(rows);
        m.labels.truncate(rows);
        m.resize(rows, cols);
        for v in m.values.iter_mut().flatten() {
            *v = if v.is_finite() {
                v.clamp(-MATRIX_LIMIT, MATRIX_LIMIT)
            } else {
                0.0
            };
        }
        self.recent_models.truncate(8);
        self.model_folders.truncate(32);
        self.fit_d_model_to_heads();
    }

    /// Applies a mechanism preset to the axes.
    pub fn apply_preset(&mut self, preset: Preset) {
        let luong = |s: &mut State, span| {
            s.cross = true;
            s.span = span;
            s.score = ScoreKind::General;
            s.scale_sqrt_dk = false;
            s.causal = false;
            s.window_on = false;
            s.heads = 1;
        };
        match preset {
            Preset::Global => luong(self, SpanKind::Global),
            Preset::LocalM => luong(self, SpanKind::LocalM),
            Preset::LocalP => luong(self, SpanKind::LocalP),
            Preset::SelfAttention | Preset::Cross | Preset::MultiHead => {
                self.cross = preset == Preset::Cross;
                self.span = SpanKind::Global;
                self.score = ScoreKind::ScaledDot;
                self.scale_sqrt_dk = true;
                self.heads = if preset == Preset::MultiHead { 4 } else { 1 };
            }
        }
        if self.span == SpanKind::LocalP {
            self.local_d = self.local_d.max(1);
        }
        self.fit_d_model_to_heads();
    }

    /// The attention lab's controls set to a model's own mechanism (its score, mask and
    /// scale, temperature 1), so the lab starts from the head as trained and a change on the
    /// left is the only difference on the right.
    pub fn lab_from(&mut self, m: &crate::core::Mechanism) {
        // The toy's own, kept once (a second model does not replace them with the first's).
        if self.toy_kept.is_none() {
            self.toy_kept = Some(ToySettings {
                score: self.score,
                scale_sqrt_dk: self.scale_sqrt_dk,
                span: self.span,
                causal: self.causal,
                window_on: self.window_on,
                temperature: self.temperature,
            });
        }
        self.score = m.score;
        self.scale_sqrt_dk = matches!(m.score, ScoreKind::ScaledDot);
        self.span = m.span;
        self.causal = m.causal;
        self.window_on = false;
        self.temperature = 1.0;
    }

    /// Predict first: whether the weights stay hidden at this step (before the scores).
    pub fn weights_hidden_ahead(&self) -> bool {
        self.hide_ahead && self.step < Step::Scores
    }

    /// Puts back the toy's attention settings a model's replaced, when the toy embeddings or
    /// a typed matrix are chosen again: a GPT-2's causal mask does not stay on the lesson.
    pub fn restore_toy(&mut self) {
        if let Some(k) = self.toy_kept.take() {
            self.score = k.score;
            self.scale_sqrt_dk = k.scale_sqrt_dk;
            self.span = k.span;
            self.causal = k.causal;
            self.window_on = k.window_on;
            self.temperature = k.temperature;
        }
    }

    /// The family of attention the settings describe, whichever way they were set (a preset,
    /// a lesson, a session or by hand): Luong's local-m / local-p by their span, Luong global
    /// for cross-attention with the general score unscaled, then cross, multi-head, self.
    pub fn mechanism_kind(&self) -> Preset {
        match self.span {
            SpanKind::LocalM => Preset::LocalM,
            SpanKind::LocalP => Preset::LocalP,
            SpanKind::Global
                if self.cross && self.score == ScoreKind::General && !self.scale_sqrt_dk =>
            {
                Preset::Global
            }
            SpanKind::Global if self.cross => Preset::Cross,
            SpanKind::Global if self.heads > 1 => Preset::MultiHead,
            SpanKind::Global => Preset::SelfAttention,
        }
    }

    /// Keeps d_model divisible by the heads, so every head count works: the width the user
    /// set ([`State::d_model_set`] while it is widened, else `d_model`) rounded up to a
    /// multiple of the heads.
    pub fn fit_d_model_to_heads(&mut self) {
        self.heads = self.heads.max(1);
        if self.embedding != EmbeddingMode::Toy {
            return;
        }
        let set = self
            .d_model_set
            .unwrap_or(self.d_model)
            .clamp(1, MAX_D_MODEL);
        let up = set.div_ceil(self.heads) * self.heads;
        self.d_model = if up > MAX_D_MODEL {
            MAX_D_MODEL / self.heads * self.heads
        } else {
            up
        };
        self.d_model_set = (self.d_model != set).then_some(set);
    }

    /// The user typed a width: that is now the one set, whatever the heads had made of the
    /// last one.
    pub fn set_d_model(&mut self) {
        self.d_model_set = None;
        self.fit_d_model_to_heads();
    }

    /// The number of key tokens the current input gives (after the token limit).
    pub fn key_count(&self) -> usize {
        let imported_source = self.imported.as_ref().and_then(|i| i.source.as_ref());
        if let (true, Some(src)) = (self.cross, imported_source) {
            return src.vectors.as_ref().map_or(0, Vec::len);
        }
        match (self.embedding, self.cross) {
            (EmbeddingMode::Matrix, false) => self.matrix.values.len(),
            (EmbeddingMode::Model, _) => 0,
            (EmbeddingMode::Toy | EmbeddingMode::Matrix, true) => self
                .tokenizer
                .tokenize(&self.text_k)
                .len()
                .min(self.max_tokens),
            (EmbeddingMode::Toy, false) => self
                .tokenizer
                .tokenize(&self.text_q)
                .len()
                .min(self.max_tokens),
        }
    }

    /// The core spec for the current settings.
    pub fn to_spec(&self) -> Spec {
        let mut spec = Spec {
            tokenizer: self.tokenizer,
            seed: self.seed,
            positions: self.positions,
            heads: self.heads as i64,
            score: self.score,
            span: self.span,
            local_d: self.local_d as i64,
            local_p_source: self.local_p_source,
            local_p_dim: self.local_p_dim.map(|d| d as i64),
            local_sigma: self.local_sigma,
            causal: self.causal,
            window: self.window_on.then_some(self.window as i64),
            temperature: self.temperature,
            max_tokens: Some(self.max_tokens),
            ..Spec::default()
        };
        let d_model = match self.embedding {
            EmbeddingMode::Toy | EmbeddingMode::Model => {
                spec.target = Sequence::text(self.text_q.clone());
                if self.cross {
                    spec.source = Some(Sequence::text(self.text_k.clone()));
                }
                spec.d_model = Some(self.d_model);
                spec.projections = Projections::Named(ProjectionKind::Seeded);
                self.d_model
            }
            EmbeddingMode::Matrix => {
                spec.target =
                    Sequence::vectors(self.matrix.values.clone(), Some(self.matrix.labels.clone()));
                spec.projections = Projections::Named(ProjectionKind::Identity);
                if self.cross {
                    spec.source = Some(Sequence::text(self.text_k.clone()));
                }
                self.matrix.values.first().map_or(1, Vec::len)
            }
        };
        let d_k = (d_model / self.heads.max(1)).max(1);
        spec.score_scale = self.score_scale_for(d_k);
        if let Some(imp) = &self.imported {
            if let Some(p) = &imp.projections {
                spec.projections = p.clone();
            }
            spec.score_params = imp.score_params.clone();
            spec.local_p_params = imp.local_p_params.clone();
            if let Some(s) = imp.score_scale {
                spec.score_scale = Some(s);
            }
            if self.cross
                && let Some(src) = &imp.source
            {
                spec.source = Some(src.clone());
            }
        }
        let n_k = self.key_count();
        if self.padded.iter().any(|&j| j < n_k) {
            spec.padding = Some((0..n_k).map(|j| self.padded.contains(&j)).collect());
        }
        spec
    }

    /// The spec's `score_scale` for the ÷√dₖ switch at head width `d_k`.
    pub fn score_scale_for(&self, d_k: usize) -> Option<f32> {
        let d_k = d_k.max(1) as f32;
        match (self.score == ScoreKind::ScaledDot, self.scale_sqrt_dk) {
            (true, false) => Some(1.0),
            (false, true) => Some(1.0 / d_k.sqrt()),
            _ => None,
        }
    }

    /// The spec of the attention lab: the current axes applied to a real head of width `d_k`
    /// over `n` tokens (padding flags sized to them).
    pub fn lab_spec(&self, d_k: usize, n: usize) -> Spec {
        let mut spec = self.to_spec();
        spec.score_scale = self.score_scale_for(d_k);
        spec.padding = self
            .padded
            .iter()
            .any(|&j| j < n)
            .then(|| (0..n).map(|j| self.padded.contains(&j)).collect());
        spec
    }

    /// Remembers a model folder at the front of the recent list (at most 8).
    pub fn remember_model(&mut self, dir: std::path::PathBuf) {
        // Absolute: the remembered session may start from another folder, and a model
        // opened as typed and from the menu is one model.
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        self.recent_models.retain(|d| d != &dir);
        self.recent_models.insert(0, dir.clone());
        self.recent_models.truncate(8);
        self.model_dir = Some(dir);
    }

    /// Takes a spec from a file: refused, with the reason `compute` gives, if the core would
    /// not compute it (nothing changes then); otherwise loaded and brought into the range the
    /// controls offer. Returns what that range changed ("heads 32 → 16"), for the user to
    /// be told: a spec the core accepts may still be larger than the controls go.
    /// A spec that the controls' range would break (768 columns cut to 512 under 12 heads,
    /// say) is refused too, naming the changes.
    pub fn open_spec(&mut self, spec: &Spec) -> anyhow::Result<Vec<String>> {
        crate::core::pipeline::check(spec)?;
        let before = self.clone();
        self.load_spec(spec);
        self.sanitize();
        let changed = self.changed_from(spec);
        if let Err(e) = crate::core::pipeline::check(&self.to_spec()) {
            *self = before;
            let lang = self.lang;
            let why = trf(lang, Msg::SpecBeyondControls, &[&changed.join(", ")]);
            return Err(anyhow::Error::new(e).context(why));
        }
        Ok(changed)
    }

    /// The settings of `spec` that the state does not hold as given (after `load_spec`).
    /// Numbers far from 1 read in scientific notation (1e-30, not 31 digits).
    fn changed_from(&self, spec: &Spec) -> Vec<String> {
        let mut changed = Vec::new();
        let mut note = |field: &str, from: &dyn std::fmt::Display, to: &dyn std::fmt::Display| {
            let (from, to) = (from.to_string(), to.to_string());
            if from != to {
                changed.push(format!("{field} {from} → {to}"));
            }
        };
        note("heads", &spec.heads, &self.heads);
        note(
            "temperature",
            &readable(spec.temperature),
            &readable(self.temperature),
        );
        if let Some(max) = spec.max_tokens {
            note("max_tokens", &max, &self.max_tokens);
        }
        note("local_d", &spec.local_d, &self.local_d);
        if let Some(w) = spec.window {
            note("window", &w, &self.window);
        }
        if let Some(sigma) = spec.local_sigma {
            let kept = self.local_sigma.map_or("D/2".to_owned(), |s| s.to_string());
            note("local_sigma", &sigma, &kept);
        }
        match &spec.target.vectors {
            Some(v) => {
                let shape = |rows: &[Vec<f32>]| {
                    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
                    format!("{} × {cols}", rows.len())
                };
                note("target.vectors", &shape(v), &shape(&self.matrix.values));
                // Row by row: a row cut short is a shape change (above), not a clamp.
                let clamped = v
                    .iter()
                    .zip(&self.matrix.values)
                    .any(|(a, b)| a.iter().zip(b).any(|(x, y)| x != y));
                if clamped {
                    changed.push(format!("target.vectors: |x| ≤ {MATRIX_LIMIT}"));
                }
            }
            None => {
                let asked = spec
                    .d_model
                    .unwrap_or(crate::core::pipeline::DEFAULT_D_MODEL);
                note("d_model", &asked, &self.d_model);
            }
        }
        changed
    }

    /// Loads a spec (a lesson or a file) into the state: the axes into the controls, and
    /// whatever the controls cannot hold (explicit matrices and parameters, source vectors, an
    /// unusual score scale) into [`State::imported`], so nothing in the file is dropped.
    pub fn load_spec(&mut self, spec: &Spec) {
        // The spec sets every attention setting itself.
        self.toy_kept = None;
        self.spec_text = spec
            .title
            .clone()
            .map(|t| (t, spec.description.clone().unwrap_or_default()));
        self.tokenizer = spec.tokenizer;
        self.seed = spec.seed;
        self.positions = spec.positions;
        self.heads = usize::try_from(spec.heads).unwrap_or(1).clamp(1, MAX_HEADS);
        self.score = spec.score;
        self.span = spec.span;
        self.local_d = usize::try_from(spec.local_d)
            .unwrap_or(0)
            .min(MAX_HALF_WIDTH);
        self.local_p_source = spec.local_p_source;
        self.local_p_dim = spec.local_p_dim.and_then(|d| usize::try_from(d).ok());
        self.local_sigma = spec.local_sigma;
        self.causal = spec.causal;
        self.window_on = spec.window.is_some();
        self.window = spec
            .window
            .and_then(|w| usize::try_from(w).ok())
            .unwrap_or(2)
            .min(MAX_HALF_WIDTH);
        self.temperature = spec.temperature;
        self.max_tokens = spec
            .max_tokens
            .unwrap_or(crate::core::spec::MAX_TOKENS)
            .clamp(1, crate::core::spec::MAX_TOKENS);
        self.padded = spec
            .padding
            .as_ref()
            .map(|p| {
                p.iter()
                    .enumerate()
                    .filter(|(_, m)| **m)
                    .map(|(j, _)| j)
                    .collect()
            })
            .unwrap_or_default();
        self.cross = spec.source.is_some();
        let mut imported = Imported::default();
        if let Some(src) = &spec.source {
            match &src.text {
                Some(text) => self.text_k = text.clone(),
                None => imported.source = Some(src.clone()),
            }
        }
        let default_projections = if let Some(v) = &spec.target.vectors {
            self.embedding = EmbeddingMode::Matrix;
            self.matrix = MatrixInput {
                labels: spec
                    .target
                    .tokens
                    .clone()
                    .unwrap_or_else(|| (1..=v.len()).map(|i| format!("x{i}")).collect()),
                values: v.clone(),
            };
            Projections::Named(ProjectionKind::Identity)
        } else {
            self.embedding = EmbeddingMode::Toy;
            self.text_q = spec.target.text.clone().unwrap_or_default();
            self.d_model = spec
                .d_model
                .unwrap_or(crate::core::pipeline::DEFAULT_D_MODEL)
                .clamp(1, MAX_D_MODEL);
            self.d_model_set = None;
            Projections::Named(ProjectionKind::Seeded)
        };
        if spec.projections != default_projections {
            imported.projections = Some(spec.projections.clone());
        }
        imported.score_params = spec.score_params.clone();
        imported.local_p_params = spec.local_p_params.clone();
        let d_model = match self.embedding {
            EmbeddingMode::Matrix => self.matrix.values.first().map_or(1, Vec::len),
            _ => self.d_model,
        };
        let d_k = (d_model / self.heads).max(1) as f32;
        self.scale_sqrt_dk = match spec.score_scale {
            None => spec.score == ScoreKind::ScaledDot,
            Some(s) => (s - 1.0).abs() > 1e-6,
        };
        if let Some(s) = spec.score_scale
            && (s - 1.0).abs() > 1e-6
            && (s - 1.0 / d_k.sqrt()).abs() > 1e-6
        {
            imported.score_scale = Some(s);
        }
        self.imported = (imported != Imported::default()).then_some(imported);
        self.fit_d_model_to_heads();
    }
}

/// Longest source or target text the Translate view keeps (a model's positions are fewer).
pub const MAX_TRANSLATE_CHARS: usize = 4096;

/// The Translate view: which encoder–decoder model, the two texts, and what is in focus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranslateState {
    /// The model folder (default: the tiny translator sample).
    pub model: Option<std::path::PathBuf>,
    /// Source text.
    pub source: String,
    /// Target text; empty: the model translates greedily.
    pub target: String,
    /// Which attention is in focus.
    pub kind: crate::model::seq2seq::AttnKind,
    /// Its layer.
    pub layer: usize,
    /// Its head.
    pub head: usize,
    /// Cross-attention aggregated over heads instead of one head.
    pub aggregate: Option<crate::model::seq2seq::Aggregate>,
    /// The decoder row (the translation step) in focus.
    pub step: usize,
    /// The step-through's score function (scaled dot is the model's own).
    pub score: crate::core::ScoreKind,
}

impl Default for TranslateState {
    fn default() -> Self {
        TranslateState {
            model: None,
            source: "March 5, 2021".into(),
            target: String::new(),
            kind: crate::model::seq2seq::AttnKind::Cross,
            layer: 1,
            head: 1,
            aggregate: None,
            step: 0,
            score: crate::core::ScoreKind::ScaledDot,
        }
    }
}

/// A number as a notice shows it: plain near 1 ("0.05", "12.5"), in scientific notation
/// far from it ("1e-30", "1e30"), where Rust's plain form has dozens of digits.
pub(crate) fn readable(x: f32) -> String {
    if x != 0.0 && x.is_finite() && !(1e-3..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each preset lights itself, and settings that arrive another way (a lesson file, a
    /// hand edit) light the family they describe.
    #[test]
    fn a_model_is_remembered_by_its_absolute_path_once() {
        let mut s = State::default();
        s.remember_model("sample_models/tiny-gpt2-induction".into());
        let abs = std::env::current_dir()
            .unwrap()
            .join("sample_models/tiny-gpt2-induction");
        assert_eq!(s.model_dir.as_ref(), Some(&abs));
        s.remember_model(abs.clone());
        assert_eq!(s.recent_models, vec![abs]);
    }

    #[test]
    fn the_lit_preset_is_the_family_the_settings_describe() {
        for p in Preset::ALL {
            let mut s = State::default();
            s.apply_preset(p);
            assert_eq!(s.mechanism_kind(), p);
        }
        // The default: self-attention with two heads.
        assert_eq!(State::default().mechanism_kind(), Preset::MultiHead);
        let lesson = |name: &str| {
            let path = format!(
                "{}/sample_models/lessons/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let spec = Spec::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
            let mut s = State::default();
            s.load_spec(&spec);
            s.mechanism_kind()
        };
        // Bahdanau's additive score over a source sentence: cross-attention.
        assert_eq!(lesson("translation_cross_attention"), Preset::Cross);
        assert_eq!(lesson("classic_three_tokens"), Preset::SelfAttention);
        assert_eq!(lesson("gpt_causal"), Preset::MultiHead);
        assert_eq!(lesson("toy_vs_trained_cross"), Preset::Cross);
        let three = State {
            heads: 3,
            ..State::default()
        };
        assert_eq!(three.mechanism_kind(), Preset::MultiHead);
    }

    #[test]
    fn default_state_computes() {
        let trace = crate::core::compute(&State::default().to_spec()).unwrap();
        assert_eq!(trace.n_q(), 11);
        assert_eq!(trace.heads, 2);
    }

    #[test]
    fn every_preset_computes() {
        for p in Preset::ALL {
            let mut s = State::default();
            s.apply_preset(p);
            let t = crate::core::compute(&s.to_spec()).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            assert_eq!(t.self_attention, !s.cross, "{p:?}");
        }
    }

    #[test]
    fn scale_toggle_maps_to_score_scale() {
        let mut s = State {
            score: ScoreKind::Dot,
            scale_sqrt_dk: true,
            ..State::default()
        };
        let t = crate::core::compute(&s.to_spec()).unwrap();
        assert!((t.scale - 1.0 / (t.d_k as f32).sqrt()).abs() < 1e-6);
        s.score = ScoreKind::ScaledDot;
        s.scale_sqrt_dk = false;
        assert_eq!(crate::core::compute(&s.to_spec()).unwrap().scale, 1.0);
    }
}
