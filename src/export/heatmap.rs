//! A heatmap of one matrix as PNG (exact cells, colour legend) or SVG (cells, token labels,
//! legend, title: for papers).

use std::fmt::Write as _;

use image::{ImageEncoder, Rgb, RgbImage};
use ndarray::Array2;

use super::ExportError;
use super::colormap::{Colormap, Range};

/// What to draw.
#[derive(Clone, Debug)]
pub struct Heatmap<'a> {
    /// The matrix (rows = queries, columns = keys); −∞ cells are drawn as masked.
    pub values: &'a Array2<f32>,
    /// Row labels (query tokens).
    pub rows: &'a [String],
    /// Column labels (key tokens).
    pub cols: &'a [String],
    /// Colour map.
    pub colormap: Colormap,
    /// Value range of the colour map.
    pub range: Range,
    /// Title (SVG only).
    pub title: String,
}

/// Colour of a masked cell.
const MASKED: [u8; 3] = [64, 64, 64];

impl Heatmap<'_> {
    fn cell_rgb(&self, v: f32) -> [u8; 3] {
        if v.is_finite() {
            self.colormap.rgb(self.range.t(v))
        } else {
            MASKED
        }
    }

    /// Cell edge in pixels for a PNG: large for small matrices, ≥ 1 px for big ones.
    pub fn default_cell_px(&self) -> u32 {
        let n = self.values.nrows().max(self.values.ncols()).max(1) as u32;
        (1024 / n).clamp(1, 48)
    }

    /// Renders the PNG: every cell exactly `cell_px` square, then a gap and a vertical legend
    /// bar (top = range max).
    pub fn to_png(&self, cell_px: u32) -> Result<Vec<u8>, ExportError> {
        let (n, m) = self.values.dim();
        if n == 0 || m == 0 {
            return Err(ExportError::Empty("the matrix has no cells"));
        }
        let cell = cell_px.max(1);
        let (w_cells, h_cells) = (m as u32 * cell, n as u32 * cell);
        let (gap, bar) = (8u32.max(cell / 2), 16u32.max(cell / 2));
        let (width, height) = (w_cells + gap + bar, h_cells.max(32));
        let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        for ((i, j), &v) in self.values.indexed_iter() {
            let c = Rgb(self.cell_rgb(v));
            for y in 0..cell {
                for x in 0..cell {
                    img.put_pixel(j as u32 * cell + x, i as u32 * cell + y, c);
                }
            }
        }
        for y in 0..height {
            let t = 1.0 - y as f32 / (height - 1).max(1) as f32;
            let c = Rgb(self.colormap.rgb(t));
            for x in 0..bar {
                img.put_pixel(w_cells + gap + x, y, c);
            }
        }
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
            .map_err(|e| ExportError::Encode {
                what: "PNG",
                message: e.to_string(),
            })?;
        Ok(out)
    }

    /// Renders the SVG with token labels on both axes, value labels on small matrices and a
    /// legend with its end values.
    pub fn to_svg(&self) -> Result<String, ExportError> {
        let (n, m) = self.values.dim();
        if n == 0 || m == 0 {
            return Err(ExportError::Empty("the matrix has no cells"));
        }
        let cell = (640.0 / n.max(m) as f32).clamp(4.0, 40.0);
        let longest = self
            .rows
            .iter()
            .chain(self.cols)
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(1);
        let label_px = (longest.min(16) as f32 * 7.5 + 12.0).max(30.0);
        let font = (cell * 0.45).clamp(6.0, 13.0);
        let (x0, y0) = (label_px, label_px + 24.0);
        let (gw, gh) = (m as f32 * cell, n as f32 * cell);
        let (width, height) = (x0 + gw + 90.0, y0 + gh + 20.0);
        let mut s = String::new();
        let family = "font-family=\"'Noto Sans', 'Droid Sans Fallback', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif\"";
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.1} {height:.1}" {family}>"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{x0:.1}" y="16" font-size="14">{}</text>"#,
            esc(&self.title)
        );
        let show_values = n.max(m) <= 12;
        for ((i, j), &v) in self.values.indexed_iter() {
            let [r, g, b] = self.cell_rgb(v);
            let (x, y) = (x0 + j as f32 * cell, y0 + i as f32 * cell);
            let _ = writeln!(
                s,
                r##"<rect x="{x:.2}" y="{y:.2}" width="{cell:.2}" height="{cell:.2}" fill="#{r:02x}{g:02x}{b:02x}"><title>{} → {}: {}</title></rect>"##,
                esc(self.rows.get(i).map_or("", String::as_str)),
                esc(self.cols.get(j).map_or("", String::as_str)),
                fmt_value(v)
            );
            if show_values {
                let dark = v.is_finite() && self.colormap.dark_text_on(self.range.t(v));
                let _ = writeln!(
                    s,
                    r#"<text x="{:.2}" y="{:.2}" font-size="{:.1}" text-anchor="middle" dominant-baseline="central" fill="{}">{}</text>"#,
                    x + cell / 2.0,
                    y + cell / 2.0,
                    font * 0.9,
                    if dark { "black" } else { "white" },
                    fmt_value(v)
                );
            }
        }
        let label_every = ((font * 1.2) / cell).ceil().max(1.0) as usize;
        for (i, t) in self.rows.iter().enumerate().step_by(label_every) {
            let _ = writeln!(
                s,
                r#"<text x="{:.2}" y="{:.2}" font-size="{font:.1}" text-anchor="end" dominant-baseline="central">{}</text>"#,
                x0 - 4.0,
                y0 + (i as f32 + 0.5) * cell,
                esc(&abbreviate(t, 16))
            );
        }
        for (j, t) in self.cols.iter().enumerate().step_by(label_every) {
            let (x, y) = (x0 + (j as f32 + 0.5) * cell, y0 - 4.0);
            let _ = writeln!(
                s,
                r#"<text x="{x:.2}" y="{y:.2}" font-size="{font:.1}" transform="rotate(-60 {x:.2} {y:.2})">{}</text>"#,
                esc(&abbreviate(t, 16))
            );
        }
        // legend: a gradient with its end values
        let lx = x0 + gw + 20.0;
        let _ = writeln!(
            s,
            r#"<defs><linearGradient id="legend" x1="0" y1="1" x2="0" y2="0">"#
        );
        for k in 0..=10 {
            let [r, g, b] = self.colormap.rgb(k as f32 / 10.0);
            let _ = writeln!(
                s,
                r##"<stop offset="{}" stop-color="#{r:02x}{g:02x}{b:02x}"/>"##,
                k as f32 / 10.0
            );
        }
        let _ = writeln!(s, "</linearGradient></defs>");
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{y0:.1}" width="14" height="{gh:.1}" fill="url(#legend)" stroke="black" stroke-width="0.5"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            lx + 18.0,
            y0 + 10.0,
            fmt_value(self.range.hi)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            lx + 18.0,
            y0 + gh,
            fmt_value(self.range.lo)
        );
        s.push_str("</svg>\n");
        Ok(s)
    }
}

/// A value as the heatmaps print it (masked cells as −∞).
pub fn fmt_value(v: f32) -> String {
    if v == f32::NEG_INFINITY {
        "−∞".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Shortens a label to `max` characters with an ellipsis (character-aware, so Chinese stays
/// whole).
pub fn abbreviate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn png_has_exact_cells_and_legend() {
        let v = array![[0.0f32, 1.0], [0.25, f32::NEG_INFINITY]];
        let (r, c) = (labels(2), labels(2));
        let h = Heatmap {
            values: &v,
            rows: &r,
            cols: &c,
            colormap: Colormap::Viridis,
            range: Range { lo: 0.0, hi: 1.0 },
            title: String::new(),
        };
        let png = h.to_png(10).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.height(), 32);
        assert_eq!(img.width(), 20 + 8 + 16);
        assert_eq!(img.get_pixel(0, 0).0, Colormap::Viridis.rgb(0.0));
        assert_eq!(img.get_pixel(19, 9).0, Colormap::Viridis.rgb(1.0));
        assert_eq!(img.get_pixel(15, 15).0, MASKED);
        assert_eq!(img.get_pixel(20 + 8 + 1, 0).0, Colormap::Viridis.rgb(1.0));
    }

    #[test]
    fn svg_carries_escaped_chinese_labels() {
        let v = array![[0.5f32]];
        let r = vec!["我<爱>".to_owned()];
        let h = Heatmap {
            values: &v,
            rows: &r,
            cols: &r,
            colormap: Colormap::Greys,
            range: Range { lo: 0.0, hi: 1.0 },
            title: "头 0".into(),
        };
        let svg = h.to_svg().unwrap();
        assert!(svg.contains("我&lt;爱&gt;"));
        assert!(svg.contains("头 0"));
        assert!(svg.starts_with("<svg"));
    }

    #[test]
    fn abbreviate_counts_characters() {
        assert_eq!(abbreviate("天安门广场很大", 4), "天安门…");
        assert_eq!(abbreviate("ok", 4), "ok");
    }
}
