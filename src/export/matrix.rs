//! Which n_q × n_k matrix of a head is drawn, with its colour map and value range. The app's
//! heatmaps and the CLI's `render` both use this, so the same matrix gives the same picture.

use ndarray::Array2;

use super::colormap::{Colormap, Range};
use super::heatmap::Heatmap;
use crate::core::{HeadTrace, Step, Trace};

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

    /// Weights use the chosen sequential map; scores a diverging map centred on 0.
    pub fn colormap(self, chosen: Colormap) -> Colormap {
        match self {
            MatrixKind::Weights => chosen,
            _ => Colormap::Diverging,
        }
    }

    /// The colour range: weights map [0, max] (so a flat row is still visible and 0 is
    /// always the darkest colour); scores are centred on 0 (±max |s|).
    pub fn range(self, values: &Array2<f32>) -> Range {
        match self {
            MatrixKind::Weights => {
                let r = Range::of(values.iter(), false);
                Range {
                    lo: 0.0,
                    hi: r.hi.max(1e-6),
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
        title: String,
    ) -> Option<Heatmap<'a>> {
        let values = self.values(trace.head_traces.get(head)?);
        Some(Heatmap {
            values,
            rows: &trace.tokens_q,
            cols: &trace.tokens_k,
            colormap: self.colormap(chosen),
            range: self.range(values),
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
        let r = MatrixKind::Weights.range(&w);
        assert_eq!((r.lo, r.hi), (0.0, 0.8));
        let s = ndarray::array![[-3.0f32, 1.0], [f32::NEG_INFINITY, 2.0]];
        let r = MatrixKind::Raw.range(&s);
        assert_eq!((r.lo, r.hi), (-3.0, 3.0));
    }
}
