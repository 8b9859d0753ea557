//! Colour maps shared by the app's heatmaps and the PNG/SVG exports.

use serde::{Deserialize, Serialize};

/// A colour map from [0, 1] to sRGB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colormap {
    /// Perceptually uniform, colourblind-safe sequential map (the default for weights).
    #[default]
    Viridis,
    /// Blue – white – orange, colourblind-safe diverging map, centred on 0 (for raw scores).
    Diverging,
    /// White to black, for print and projectors.
    Greys,
}

impl Colormap {
    /// Every colour map, in menu order.
    pub const ALL: [Colormap; 3] = [Colormap::Viridis, Colormap::Diverging, Colormap::Greys];

    /// The colour of `t` (clamped to [0, 1]; NaN maps to 0).
    pub fn rgb(self, t: f32) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } as f64;
        let c = match self {
            Colormap::Viridis => viridis(t),
            Colormap::Diverging => {
                const BLUE: [f64; 3] = [0.129, 0.400, 0.675];
                const WHITE: [f64; 3] = [0.969, 0.969, 0.969];
                const ORANGE: [f64; 3] = [0.702, 0.345, 0.024];
                if t < 0.5 {
                    lerp(BLUE, WHITE, t * 2.0)
                } else {
                    lerp(WHITE, ORANGE, (t - 0.5) * 2.0)
                }
            }
            Colormap::Greys => [1.0 - t, 1.0 - t, 1.0 - t],
        };
        c.map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
    }

    /// The colour of a masked cell: dark grey, the colour of no weight on viridis or the
    /// diverging map. On the greys that grey is a weight of about 0.75 (a student read a
    /// 0.73 cell as part of the mask beside it), so there it is a muted orange, a hue the
    /// map never takes.
    pub fn masked_rgb(self) -> [u8; 3] {
        match self {
            Colormap::Greys => [196, 128, 72],
            Colormap::Viridis | Colormap::Diverging => [64, 64, 64],
        }
    }

    /// Whether dark text reads better than light text on the colour of `t`.
    pub fn dark_text_on(self, t: f32) -> bool {
        let [r, g, b] = self.rgb(t);
        0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32 > 140.0
    }
}

fn lerp(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

/// matplotlib's viridis at eleven evenly spaced stops (0, 0.1, …, 1), interpolated linearly
/// in between (within a few 8-bit steps of the 256-entry table everywhere).
const VIRIDIS: [u32; 11] = [
    0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c, 0x22a884, 0x44bf70, 0x7ad151,
    0xbddf26, 0xfde725,
];

fn viridis(t: f64) -> [f64; 3] {
    let rgb = |c: u32| [(c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff].map(|x| x as f64 / 255.0);
    let x = t * 10.0;
    let k = (x.floor() as usize).min(9);
    lerp(rgb(VIRIDIS[k]), rgb(VIRIDIS[k + 1]), x - k as f64)
}

/// Maps values to [0, 1] for a colour map: weights use [0, max]; diverging maps are centred
/// on 0 with the largest |value| at the ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Value at t = 0.
    pub lo: f32,
    /// Value at t = 1.
    pub hi: f32,
}

impl Range {
    /// The finite extent of `values`, symmetric around 0 when `centred`.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a f32>, centred: bool) -> Range {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in values {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if lo > hi {
            return Range { lo: 0.0, hi: 1.0 };
        }
        if centred {
            let m = lo.abs().max(hi.abs()).max(f32::MIN_POSITIVE);
            return Range { lo: -m, hi: m };
        }
        if hi - lo < 1e-12 {
            return Range { lo, hi: lo + 1.0 };
        }
        Range { lo, hi }
    }

    /// Position of `v` in the range (not clamped).
    pub fn t(&self, v: f32) -> f32 {
        (v - self.lo) / (self.hi - self.lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_endpoints_match_the_reference_table() {
        // matplotlib's viridis: #440154 at 0, #21918c at 0.5, #fde725 at 1.
        assert_eq!(Colormap::Viridis.rgb(0.0), [0x44, 0x01, 0x54]);
        assert_eq!(Colormap::Viridis.rgb(0.5), [0x21, 0x91, 0x8c]);
        assert_eq!(Colormap::Viridis.rgb(1.0), [0xfd, 0xe7, 0x25]);
    }

    #[test]
    fn diverging_is_white_at_zero() {
        let r = Range::of(&[-2.0, 1.0, f32::NEG_INFINITY], true);
        assert_eq!((r.lo, r.hi), (-2.0, 2.0));
        assert_eq!(Colormap::Diverging.rgb(r.t(0.0)), [247, 247, 247]);
    }
}
