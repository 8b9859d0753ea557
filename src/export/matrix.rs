//! Which n_q × n_k matrix of a head is drawn, with its colour map and value range. The app's
//! heatmaps and the CLI's `render` both use this, so the same matrix gives the same picture.

use ndarray::Array2;

use super::colormap::{Colormap, Range};
use super::heatmap::Heatmap;
use crate::core::{HeadTrace, Step, Trace};

/// Where a weights heatmap's colours end: the matrix's largest weight, or 1.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
pub enum WeightsRange {
    /// 0 … the largest weight: a flat row still shows its shape, but two heatmaps' colours
    /// cannot be compared.
    #[default]
    Max,
    /// 0 … 1 for every matrix: the same weight is the same colour in every head, at every
    /// temperature and for every input, so a flatter softmax shows as fading.
    Unit,
}

/// How a weights heatmap maps a probability to a colour (the layers × heads thumbnails'
/// choice in the app, `render --scale` on the command line).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
pub enum ColourScale {
    /// p on the range's [lo, hi].
    #[default]
    Linear,
    /// log₁₀ p on [−4, 0], mapped to [0, 1] (weak but structured attention becomes
    /// visible; on the fixed range 10⁻⁴ is the darkest colour and 1 the brightest).
    Log,
    /// Each row divided by its maximum (a diffuse row's shape as visible as a sharp one's).
    #[value(name = "row")]
    RowNormalised,
}

impl ColourScale {
    /// The displayed values of a matrix on this scale.
    pub fn apply(self, values: &Array2<f32>) -> Array2<f32> {
        match self {
            ColourScale::Linear => values.clone(),
            // A masked (−∞) or undefined (NaN) cell stays so, and is drawn grey.
            ColourScale::Log => values.mapv(log_position),
            ColourScale::RowNormalised => crate::core::pool::row_normalised(values),
        }
    }
}

/// Where p sits on the log scale: log₁₀ p on [−4, 0] as [0, 1]; −∞ and NaN stay as they are.
fn log_position(p: f32) -> f32 {
    if p.is_finite() {
        (p.max(1e-4).log10() + 4.0) / 4.0
    } else {
        p
    }
}

/// Which matrix of a head a heatmap shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum MatrixKind {
    /// Raw scores s(qᵢ, kⱼ).
    #[value(name = "scores")]
    Raw,
    /// Scores × scale.
    Scaled,
    /// Masked logits (÷ τ, −∞ where masked).
    Logits,
    /// Attention weights (softmax output).
    Weights,
}

impl MatrixKind {
    /// The matrix a step shows in the heatmap (weights for steps without an n_q × n_k one).
    pub fn for_step(step: Step) -> MatrixKind {
        match step {
            Step::Scores => MatrixKind::Raw,
            Step::Scale => MatrixKind::Scaled,
            Step::Mask => MatrixKind::Logits,
            _ => MatrixKind::Weights,
        }
    }

    /// The values of this matrix in a head.
    pub fn values(self, t: &HeadTrace) -> &Array2<f32> {
        match self {
            MatrixKind::Raw => &t.raw_scores,
            MatrixKind::Scaled => &t.scaled,
            MatrixKind::Logits => &t.logits,
            MatrixKind::Weights => &t.weights,
        }
    }

    /// The cells of this matrix of `t` to draw as masked though they hold a number: the
    /// weights' masked cells (their weight is 0, but a 0 that the mask made, not the
    /// softmax, so a picture should not show it as the smallest weight). `None` when
    /// nothing is masked or the matrix holds its own −∞ (the logits).
    pub fn masked_cells(self, t: &HeadTrace) -> Option<&Array2<bool>> {
        let values = self.values(t);
        (self == MatrixKind::Weights
            && t.allowed.dim() == values.dim()
            && t.allowed.iter().any(|&a| !a))
        .then_some(&t.allowed)
    }

    /// Weights use the chosen sequential map; scores a diverging map centred on 0.
    pub fn colormap(self, chosen: Colormap) -> Colormap {
        match self {
            MatrixKind::Weights => chosen,
            _ => Colormap::Diverging,
        }
    }

    /// The range rule this matrix is drawn on: the chosen one for weights; scores are
    /// centred on 0 whatever is chosen, so they have one (like [`MatrixKind::colormap`]).
    pub fn weights_range(self, chosen: WeightsRange) -> WeightsRange {
        match self {
            MatrixKind::Weights => chosen,
            _ => WeightsRange::Max,
        }
    }

    /// The colour range: weights map [0, max] (so a flat row is still visible and 0 is
    /// always the darkest colour) or [0, 1] (`WeightsRange::Unit`); scores are centred on 0
    /// (±max |s|) either way.
    pub fn range(self, values: &Array2<f32>, weights: WeightsRange) -> Range {
        match (self, weights) {
            (MatrixKind::Weights, WeightsRange::Unit) => Range { lo: 0.0, hi: 1.0 },
            (MatrixKind::Weights, WeightsRange::Max) => {
                // The largest finite weight itself: `Range::of` widens a constant matrix
                // to [w, w + 1], which for uniform attention would end the bar above 1.
                let hi = values
                    .iter()
                    .filter(|w| w.is_finite())
                    .fold(0.0f32, |a, &w| a.max(w));
                Range {
                    lo: 0.0,
                    hi: hi.max(1e-6),
                }
            }
            _ => Range::of(values.iter(), true),
        }
    }

    /// A short English name ("weights", "raw scores", …) for titles.
    pub fn name(self) -> &'static str {
        match self {
            MatrixKind::Raw => "raw scores",
            MatrixKind::Scaled => "scaled scores",
            MatrixKind::Logits => "logits",
            MatrixKind::Weights => "weights",
        }
    }

    /// The heatmap of this matrix of head `head` of a trace (`None` if the head does not
    /// exist), with the shared colour rule.
    pub fn heatmap<'a>(
        self,
        trace: &'a Trace,
        head: usize,
        chosen: Colormap,
        weights: WeightsRange,
        title: String,
    ) -> Option<Heatmap<'a>> {
        let t = trace.head_traces.get(head)?;
        let values = self.values(t);
        Some(Heatmap {
            values,
            allowed: self.masked_cells(t),
            rows: &trace.tokens_q,
            cols: &trace.tokens_k,
            colormap: self.colormap(chosen),
            range: self.range(values, weights),
            scale: ColourScale::Linear,
            title,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_start_at_zero_and_scores_are_centred() {
        let w = ndarray::array![[0.2f32, 0.8], [0.5, 0.5]];
        let r = MatrixKind::Weights.range(&w, WeightsRange::Max);
        assert_eq!((r.lo, r.hi), (0.0, 0.8));
        let s = ndarray::array![[-3.0f32, 1.0], [f32::NEG_INFINITY, 2.0]];
        for rule in [WeightsRange::Max, WeightsRange::Unit] {
            let r = MatrixKind::Raw.range(&s, rule);
            assert_eq!((r.lo, r.hi), (-3.0, 3.0), "scores ignore {rule:?}");
        }
    }

    #[test]
    fn a_fixed_range_gives_one_weight_one_colour_in_every_matrix() {
        // A sharp and a flat head: on 0 … max their largest weights get the same colour,
        // though one is 0.9 and the other 0.3; on 0 … 1 they do not.
        let sharp = ndarray::array![[0.9f32, 0.1]];
        let flat = ndarray::array![[0.3f32, 0.3]];
        let t = |m: &Array2<f32>, rule| MatrixKind::Weights.range(m, rule).t(m[[0, 0]]);
        assert_eq!(t(&sharp, WeightsRange::Max), t(&flat, WeightsRange::Max));
        assert!((t(&sharp, WeightsRange::Unit) - 0.9).abs() < 1e-6);
        assert!((t(&flat, WeightsRange::Unit) - 0.3).abs() < 1e-6);
        // Uniform attention ends the bar at its weight, not above 1.
        let r = MatrixKind::Weights.range(&flat, WeightsRange::Max);
        assert_eq!((r.lo, r.hi), (0.0, 0.3));
    }
}
