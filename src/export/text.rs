//! Text drawn into exported PNGs (token labels, titles, colour-bar numbers) with the fonts
//! the app embeds, so that a PNG reads the same on every machine: DejaVu Sans for Latin,
//! maths and symbols, Droid Sans Fallback for Chinese.

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _};
use image::{Rgb, RgbImage};

/// DejaVu Sans (Bitstream Vera license + public domain): Latin, maths symbols, sub- and
/// superscripts.
pub const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// DejaVu Sans Mono (same license).
pub const DEJAVU_SANS_MONO: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");
/// Droid Sans Fallback (Apache-2.0): Chinese.
pub const CJK_FONT: &[u8] = include_bytes!("../../assets/fonts/DroidSansFallbackFull.ttf");

/// A column label made only of wide characters (Chinese, Japanese, Korean), as the characters
/// to stack upright (a trailing "⋮" when they do not all fit in `room_px` above the grid at
/// `font_px`); `None` for a label to turn on its side.
pub fn upright_label(label: &str, font_px: f32, room_px: f32) -> Option<Vec<String>> {
    let (base, _) = upright_parts(label)?;
    let fit = (((room_px - 8.0) / (font_px * 1.1)) as usize).max(1);
    let mut chars: Vec<String> = base.chars().map(String::from).collect();
    if chars.len() > fit {
        chars.truncate(fit - 1);
        chars.push("⋮".into());
    }
    // The piece count rides on the last character, as in the row labels: 我².
    if let Some(last) = chars.last_mut() {
        last.push_str(&label[base.len()..]);
    }
    Some(chars)
}

/// A label that stands upright, as its wide characters and the piece count after them
/// (我² → 我, ²; the second and third byte-level pieces of a character stand upright too);
/// `None` for one to turn on its side. Allocates nothing: it runs for every column in view.
pub fn upright_parts(label: &str) -> Option<(&str, &str)> {
    use unicode_width::UnicodeWidthChar as _;
    let base = label.trim_end_matches(|c| "²³⁴⁵⁶⁷⁸⁹".contains(c));
    (!base.is_empty() && base.chars().all(|c| c.width() == Some(2)))
        .then(|| (base, &label[base.len()..]))
}

/// A font size and the fonts to draw with, tried in order for each character.
pub struct Pen {
    fonts: Vec<FontRef<'static>>,
    px: f32,
}

impl Pen {
    /// A pen of `px` pixels (the em height).
    pub fn new(px: f32) -> Pen {
        let fonts = [DEJAVU_SANS, CJK_FONT]
            .into_iter()
            .filter_map(|data| FontRef::try_from_slice(data).ok())
            .collect();
        Pen { fonts, px }
    }

    /// The first font that has `c`, else the first (its .notdef box).
    fn font_for(&self, c: char) -> Option<&FontRef<'static>> {
        self.fonts
            .iter()
            .find(|f| f.glyph_id(c).0 != 0)
            .or(self.fonts.first())
    }

    /// The advance of `text` in pixels.
    pub fn width(&self, text: &str) -> f32 {
        text.chars()
            .filter_map(|c| {
                let f = self.font_for(c)?.as_scaled(PxScale::from(self.px));
                Some(f.h_advance(f.glyph_id(c)))
            })
            .sum()
    }

    /// How far above the baseline capitals and Chinese reach, in pixels.
    pub fn ascent(&self) -> f32 {
        self.fonts
            .first()
            .map_or(self.px, |f| f.as_scaled(PxScale::from(self.px)).ascent())
    }

    /// Draws `text` with its baseline starting at (`x`, `y`), reading left to right, or,
    /// when `upward`, turned a quarter to the left so that it reads bottom to top from
    /// (`x`, `y`) with the tops of the letters facing left.
    pub fn draw(
        &self,
        img: &mut RgbImage,
        text: &str,
        (x, y): (f32, f32),
        color: [u8; 3],
        upward: bool,
    ) {
        let mut pen_x = 0.0f32;
        for c in text.chars() {
            let Some(font) = self.font_for(c) else { return };
            // The CJK font's thin strokes, unhinted at a label's 12 px, came out grey beside
            // the Latin labels (mean ink 0.44 against 0.54): its coverage is darkened.
            let darken = !self.fonts.first().is_some_and(|f| std::ptr::eq(f, font));
            let scaled = font.as_scaled(PxScale::from(self.px));
            let id = scaled.glyph_id(c);
            let glyph =
                id.with_scale_and_position(PxScale::from(self.px), ab_glyph::point(pen_x, 0.0));
            pen_x += scaled.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                // (u, v): along the text and down from the baseline.
                let (u, v) = (b.min.x + gx as f32, b.min.y + gy as f32);
                let (px, py) = if upward {
                    (x + v, y - u)
                } else {
                    (x + u, y + v)
                };
                let coverage = if darken {
                    coverage.clamp(0.0, 1.0).powf(0.6)
                } else {
                    coverage
                };
                blend(img, px, py, color, coverage);
            });
        }
    }
}

/// Lays `color` over the pixel at (`x`, `y`) with `alpha` coverage (outside: nothing).
fn blend(img: &mut RgbImage, x: f32, y: f32, color: [u8; 3], alpha: f32) {
    let (x, y) = (x.round(), y.round());
    if x < 0.0 || y < 0.0 || x >= img.width() as f32 || y >= img.height() as f32 {
        return;
    }
    let a = alpha.clamp(0.0, 1.0);
    let p = img.get_pixel_mut(x as u32, y as u32);
    let mixed: [u8; 3] =
        std::array::from_fn(|k| (p.0[k] as f32 * (1.0 - a) + color[k] as f32 * a).round() as u8);
    *p = Rgb(mixed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_labels_are_as_dark_as_latin_ones() {
        // Mean darkness of the inked pixels of a label at the PNG's label size.
        let ink = |text: &str| {
            let pen = Pen::new(12.0);
            let mut img = RgbImage::from_pixel(60, 30, Rgb([255, 255, 255]));
            pen.draw(&mut img, text, (4.0, 20.0), [0, 0, 0], false);
            let dark: Vec<f32> = img
                .pixels()
                .map(|p| 1.0 - p.0[0] as f32 / 255.0)
                .filter(|&d| d > 0.05)
                .collect();
            dark.iter().sum::<f32>() / dark.len() as f32
        };
        let (latin, chinese) = (ink("Hn"), ink("北京"));
        assert!(
            chinese > latin * 0.85,
            "北京 {chinese:.3} against Hn {latin:.3}"
        );
    }

    #[test]
    fn latin_and_chinese_leave_ink_where_they_are_drawn() {
        let pen = Pen::new(14.0);
        assert!(pen.width("北京") > pen.width("ab"), "two wide glyphs");
        for (text, upward) in [("Ab", false), ("北京", false), ("北京", true)] {
            let mut img = RgbImage::from_pixel(60, 60, Rgb([255, 255, 255]));
            pen.draw(&mut img, text, (20.0, 40.0), [0, 0, 0], upward);
            let inked: Vec<(u32, u32)> = img
                .enumerate_pixels()
                .filter(|(_, _, p)| p.0[0] < 128)
                .map(|(x, y, _)| (x, y))
                .collect();
            assert!(inked.len() > 20, "{text}: {} dark pixels", inked.len());
            let (xs, ys): (Vec<u32>, Vec<u32>) = inked.iter().copied().unzip();
            let (w, h) = (
                xs.iter().max().unwrap() - xs.iter().min().unwrap(),
                ys.iter().max().unwrap() - ys.iter().min().unwrap(),
            );
            if upward {
                assert!(h > w, "{text} turned reads upward: {w} × {h}");
                assert!(
                    *ys.iter().max().unwrap() <= 41,
                    "it starts at the baseline point"
                );
            } else {
                assert!(w > h, "{text}: {w} × {h}");
            }
        }
    }
}
