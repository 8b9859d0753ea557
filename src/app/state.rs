//! The persisted app state: inputs, mechanism settings, step, focused head, view options.
//! It is what a saved session holds and what eframe remembers between runs. The core's spec
//! is derived from it on every frame ([`State::to_spec`]), never stored beside it.

use serde::{Deserialize, Serialize};

use crate::core::spec::{ProjectionKind, Projections, Rows, Sequence, Spec};
use crate::core::{ScoreKind, SpanKind, Step, Tokenizer};
use crate::export::colormap::Colormap;

use super::i18n::Lang;

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

/// The main view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Light or dark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Seed.
    pub seed: u64,
    /// Sinusoidal positions on toy embeddings.
    pub positions: bool,
    /// Token limit for typed text.
    pub max_tokens: usize,
    /// The last preset picked (informational; the axes are the truth).
    pub preset: Option<Preset>,
    /// Score function.
    pub score: ScoreKind,
    /// Multiply scores by 1/√d_k.
    pub scale_sqrt_dk: bool,
    /// Span.
    pub span: SpanKind,
    /// Local half width D.
    pub local_d: usize,
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
    /// Numbers drawn in heatmap cells (small matrices).
    pub show_values: bool,
    /// Heatmap zoom.
    pub heat_zoom: f32,
    /// Selected key column (neuron view).
    pub col: usize,
    /// The model folder in use (remembered; reloaded in the background at start).
    pub model_dir: Option<std::path::PathBuf>,
    /// Recently opened model folders, newest first.
    pub recent_models: Vec<std::path::PathBuf>,
    /// Focused layer of a model.
    pub layer: usize,
    /// Statistics table sort: column index and descending.
    pub stats_sort: (usize, bool),
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
            seed: 42,
            positions: true,
            max_tokens: 256,
            preset: Some(Preset::SelfAttention),
            score: ScoreKind::ScaledDot,
            scale_sqrt_dk: true,
            span: SpanKind::Global,
            local_d: 2,
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
            show_values: true,
            heat_zoom: 1.0,
            col: 0,
            model_dir: None,
            recent_models: Vec::new(),
            layer: 0,
            stats_sort: (0, false),
        }
    }
}

impl State {
    /// Applies a mechanism preset to the axes.
    pub fn apply_preset(&mut self, preset: Preset) {
        self.preset = Some(preset);
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

    /// Keeps d_model divisible by the heads (rounding d_model up), so every head count works.
    pub fn fit_d_model_to_heads(&mut self) {
        self.heads = self.heads.max(1);
        if self.embedding == EmbeddingMode::Toy && self.d_model % self.heads != 0 {
            self.d_model = self.d_model.div_ceil(self.heads) * self.heads;
        }
    }

    /// The number of key tokens the current input gives (after the token limit).
    pub fn key_count(&self) -> usize {
        match (self.embedding, self.cross) {
            (EmbeddingMode::Matrix, _) => self.matrix.values.len(),
            (EmbeddingMode::Model, _) => 0,
            (EmbeddingMode::Toy, true) => self
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
                self.matrix.values.first().map_or(1, Vec::len)
            }
        };
        let d_k = (d_model / self.heads.max(1)).max(1);
        spec.score_scale = self.score_scale_for(d_k);
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
        self.recent_models.retain(|d| d != &dir);
        self.recent_models.insert(0, dir.clone());
        self.recent_models.truncate(8);
        self.model_dir = Some(dir);
    }

    /// Loads a spec (a lesson or a file) into the state, as far as the app can show it.
    pub fn load_spec(&mut self, spec: &Spec) {
        self.tokenizer = spec.tokenizer;
        self.seed = spec.seed;
        self.positions = spec.positions;
        self.heads = spec.heads.max(1) as usize;
        self.score = spec.score;
        self.span = spec.span;
        self.local_d = spec.local_d.max(0) as usize;
        self.causal = spec.causal;
        self.window_on = spec.window.is_some();
        self.window = spec.window.unwrap_or(2).max(0) as usize;
        self.temperature = spec.temperature;
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
        if let Some(src) = spec.source.as_ref().and_then(|s| s.text.clone()) {
            self.text_k = src;
        }
        if let Some(v) = &spec.target.vectors {
            self.embedding = EmbeddingMode::Matrix;
            self.matrix = MatrixInput {
                labels: spec
                    .target
                    .tokens
                    .clone()
                    .unwrap_or_else(|| (1..=v.len()).map(|i| format!("x{i}")).collect()),
                values: v.clone(),
            };
            self.cross = false;
        } else {
            self.embedding = EmbeddingMode::Toy;
            self.text_q = spec.target.text.clone().unwrap_or_default();
            self.d_model = spec
                .d_model
                .unwrap_or(crate::core::pipeline::DEFAULT_D_MODEL);
        }
        self.scale_sqrt_dk = match spec.score_scale {
            None => spec.score == ScoreKind::ScaledDot,
            Some(s) => (s - 1.0).abs() > 1e-6,
        };
        self.preset = None;
        self.fit_d_model_to_heads();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut s = State::default();
        s.score = ScoreKind::Dot;
        s.scale_sqrt_dk = true;
        let t = crate::core::compute(&s.to_spec()).unwrap();
        assert!((t.scale - 1.0 / (t.d_k as f32).sqrt()).abs() < 1e-6);
        s.score = ScoreKind::ScaledDot;
        s.scale_sqrt_dk = false;
        assert_eq!(crate::core::compute(&s.to_spec()).unwrap().scale, 1.0);
    }
}
