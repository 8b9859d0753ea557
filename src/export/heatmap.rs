//! A heatmap of one matrix as PNG (exact cells, colour legend) or SVG (cells, token labels,
//! legend, title: for papers).

use std::fmt::Write as _;

use image::{ImageEncoder, Rgb, RgbImage};
use ndarray::Array2;

use super::ExportError;
use super::colormap::{Colormap, Range};
use super::matrix::ColourScale;
use super::text::{Pen, upright_label};

/// What to draw.
#[derive(Clone, Debug)]
pub struct Heatmap<'a> {
    /// The matrix (rows = queries, columns = keys); −∞ cells are drawn as masked.
    pub values: &'a Array2<f32>,
    /// Which cells the mask let through, when some that hold a number are masked (the
    /// weights' zeros where the mask was): those are drawn as masked, without a number.
    pub allowed: Option<&'a Array2<bool>>,
    /// Row labels (query tokens).
    pub rows: &'a [String],
    /// Column labels (key tokens).
    pub cols: &'a [String],
    /// Colour map.
    pub colormap: Colormap,
    /// Value range of the colour map (on the linear scale; the others have fixed ends).
    pub range: Range,
    /// How a value maps to a colour: linearly on `range`, log₁₀ on [10⁻⁴, 1], or as a share
    /// of its row's largest value. Numbers in cells stay the values themselves.
    pub scale: ColourScale,
    /// Title (above the labels; none if empty).
    pub title: String,
}

/// The PNG's label and title sizes, pixels.
const LABEL_PX: f32 = 13.0;
const TITLE_PX: f32 = 16.0;
/// The most room a label takes (longer ones are shortened with "…"), pixels.
const LABEL_ROOM: f32 = 130.0;
/// Most cells an SVG is written with (512 × 512; about 60 MB of SVG).
pub const MAX_SVG_CELLS: usize = 512 * 512;
/// Cell side from which a PNG writes each cell's number, pixels.
const VALUES_FROM_PX: u32 = 30;
/// The colour bar: its gap from the cells, width and least height, pixels.
const BAR_GAP: u32 = 10;
const BAR_W: u32 = 16;
const MIN_BAR_H: u32 = 48;

/// Where a PNG's parts go.
struct PngLayout {
    pen: Pen,
    left: u32,
    top: u32,
    width: u32,
    height: u32,
}

/// `label` shortened with "…" until it is at most `room` pixels wide at `pen`.
fn fit(pen: &Pen, label: &str, room: f32) -> String {
    let mut keep = label.chars().count().min(256);
    let mut t = abbreviate(label, keep);
    loop {
        let w = pen.width(&t);
        if w <= room || keep <= 2 {
            return t;
        }
        // Straight to about the right length, then a character at a time.
        keep = ((keep as f32 * room / w) as usize).clamp(2, keep - 1);
        t = abbreviate(label, keep);
    }
}

impl Heatmap<'_> {
    /// Whether cell (i, j) is drawn as masked: −∞ (or NaN), or masked by `allowed`.
    fn masked(&self, (i, j): (usize, usize), v: f32) -> bool {
        !v.is_finite() || self.allowed.is_some_and(|a| a.get((i, j)) == Some(&false))
    }

    /// The matrix on its colour scale, for the log and per-row scales ([`ColourScale::apply`],
    /// as the app's thumbnails draw it: already 0 … 1); `None` on the linear one, whose
    /// values `range` places.
    fn on_scale(&self) -> Option<Array2<f32>> {
        (self.scale != ColourScale::Linear).then(|| self.scale.apply(self.values))
    }

    /// Where cell `at` (value `v`) sits on the colour map, 0 … 1.
    fn colour_t(&self, on_scale: Option<&Array2<f32>>, at: (usize, usize), v: f32) -> f32 {
        on_scale.map_or_else(|| self.range.t(v), |s| s[at])
    }

    fn cell_rgb(&self, on_scale: Option<&Array2<f32>>, at: (usize, usize), v: f32) -> [u8; 3] {
        if !self.masked(at, v) {
            self.colormap.rgb(self.colour_t(on_scale, at, v))
        } else {
            self.colormap.masked_rgb()
        }
    }

    /// The colour bar's top, middle and bottom labels.
    fn ticks(&self) -> [String; 3] {
        match self.scale {
            ColourScale::Linear => {
                let Range { lo, hi } = self.range;
                [hi, (lo + hi) / 2.0, lo].map(fmt_value)
            }
            ColourScale::Log => ["1", "0.01", "≤ 0.0001"].map(str::to_owned),
            ColourScale::RowNormalised => ["row max", "½ row max", "0"].map(str::to_owned),
        }
    }

    /// Cell edge in pixels for a PNG: large for small matrices, ≥ 1 px for big ones.
    pub fn default_cell_px(&self) -> u32 {
        let n = self.values.nrows().max(self.values.ncols()).max(1) as u32;
        (1024 / n).clamp(1, 48)
    }

    /// Renders the PNG: a title, token labels left (queries) and above (keys, turned to read
    /// upward; every k-th when cells are small), every cell exactly `cell_px` square at
    /// [`Self::png_origin`], then a colour bar (top = range max) with its end and middle
    /// values. Text is drawn with the embedded fonts, Chinese included.
    pub fn to_png(&self, cell_px: u32) -> Result<Vec<u8>, ExportError> {
        let (n, m) = self.values.dim();
        if n == 0 || m == 0 {
            return Err(ExportError::Empty("the matrix has no cells"));
        }
        let cell = cell_px.max(1);
        let layout = self.png_layout(cell);
        let (w_cells, h_cells) = (m as u32 * cell, n as u32 * cell);
        let (width, height) = (layout.width, layout.height);
        let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        let (left, top) = (layout.left, layout.top);
        let on_scale = self.on_scale();
        for ((i, j), &v) in self.values.indexed_iter() {
            let c = Rgb(self.cell_rgb(on_scale.as_ref(), (i, j), v));
            for y in 0..cell {
                for x in 0..cell {
                    img.put_pixel(left + j as u32 * cell + x, top + i as u32 * cell + y, c);
                }
            }
        }
        let ink = [30, 30, 30];
        let pen = &layout.pen;
        if !self.title.is_empty() {
            let title_pen = Pen::new(TITLE_PX);
            let title = fit(&title_pen, &self.title, width as f32 - 12.0);
            title_pen.draw(&mut img, &title, (6.0, 4.0 + TITLE_PX), ink, false);
        }
        // Labels at every k-th cell, so that neighbours never touch.
        let every = ((LABEL_PX * 1.25) / cell as f32).ceil().max(1.0) as usize;
        let half = cell as f32 / 2.0;
        for (i, t) in self.rows.iter().enumerate().take(n).step_by(every) {
            let t = fit(pen, t, LABEL_ROOM);
            let y = top as f32 + i as f32 * cell as f32 + half + pen.ascent() * 0.4;
            pen.draw(
                &mut img,
                &t,
                (left as f32 - 5.0 - pen.width(&t), y),
                ink,
                false,
            );
        }
        for (j, t) in self.cols.iter().enumerate().take(m).step_by(every) {
            // Chinese labels stand upright, a character under the other, as in the app;
            // others read upward.
            if let Some(chars) = upright_label(t, LABEL_PX, LABEL_ROOM) {
                let line = LABEL_PX * 1.1;
                let mid = left as f32 + j as f32 * cell as f32 + half;
                for (k, c) in chars.iter().rev().enumerate() {
                    let y = top as f32 - 6.0 - k as f32 * line;
                    pen.draw(&mut img, c, (mid - pen.width(c) / 2.0, y), ink, false);
                }
                continue;
            }
            let t = fit(pen, t, LABEL_ROOM);
            let x = left as f32 + j as f32 * cell as f32 + half + pen.ascent() * 0.4;
            pen.draw(&mut img, &t, (x, top as f32 - 5.0), ink, true);
        }
        // Each cell's number when cells are large (a small matrix for a slide), in black or
        // white by the cell's colour; a masked weight keeps its grey without one.
        if cell >= VALUES_FROM_PX {
            let small = Pen::new((cell as f32 * 0.3).min(14.0));
            for ((i, j), &v) in self.values.indexed_iter() {
                if v.is_finite() && self.masked((i, j), v) {
                    continue;
                }
                let text = fmt_value(v);
                let dark = v.is_finite()
                    && self
                        .colormap
                        .dark_text_on(self.colour_t(on_scale.as_ref(), (i, j), v));
                let color = if dark { [0, 0, 0] } else { [255, 255, 255] };
                let x = left as f32 + (j as f32 + 0.5) * cell as f32 - small.width(&text) / 2.0;
                let y = top as f32 + (i as f32 + 0.5) * cell as f32 + small.ascent() * 0.4;
                small.draw(&mut img, &text, (x, y), color, false);
            }
        }
        // The colour bar, with its top, middle and bottom values.
        let bar_h = h_cells.max(MIN_BAR_H);
        let bar_x = left + w_cells + BAR_GAP;
        for y in 0..bar_h {
            let t = 1.0 - y as f32 / (bar_h - 1).max(1) as f32;
            let c = Rgb(self.colormap.rgb(t));
            for x in 0..BAR_W {
                img.put_pixel(bar_x + x, top + y, c);
            }
        }
        let tick_x = (bar_x + BAR_W + 4) as f32;
        let ys = [
            top as f32 + pen.ascent(),
            top as f32 + bar_h as f32 / 2.0 + pen.ascent() / 2.0,
            (top + bar_h) as f32,
        ];
        for (text, y) in self.ticks().iter().zip(ys) {
            pen.draw(&mut img, text, (tick_x, y), ink, false);
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

    /// Where the PNG's first cell starts (its top-left pixel), at `cell_px` per cell.
    pub fn png_origin(&self, cell_px: u32) -> (u32, u32) {
        let l = self.png_layout(cell_px.max(1));
        (l.left, l.top)
    }

    /// The PNG's margins and size: room for the widest label (at most [`LABEL_ROOM`]) left
    /// and above, the title above that, the colour bar and its numbers right.
    fn png_layout(&self, cell: u32) -> PngLayout {
        let pen = Pen::new(LABEL_PX);
        let (n, m) = self.values.dim();
        let room = |labels: &[String], k: usize, upright: bool| {
            labels
                .iter()
                .take(k)
                .map(|t| match upright_label(t, LABEL_PX, LABEL_ROOM) {
                    Some(chars) if upright => chars.len() as f32 * LABEL_PX * 1.1,
                    _ => pen.width(&fit(&pen, t, LABEL_ROOM)),
                })
                .fold(0.0f32, f32::max)
                .ceil() as u32
        };
        let (rows_w, cols_h) = (room(self.rows, n, false), room(self.cols, m, true));
        let left = if rows_w > 0 { rows_w + 10 } else { 4 };
        let title_h = if self.title.is_empty() {
            0
        } else {
            TITLE_PX as u32 + 10
        };
        let top = title_h + if cols_h > 0 { cols_h + 10 } else { 4 };
        let ticks = self
            .ticks()
            .iter()
            .map(|t| pen.width(t))
            .fold(0.0f32, f32::max)
            .ceil() as u32;
        let width = left + m as u32 * cell + BAR_GAP + BAR_W + 4 + ticks + 6;
        // A long title widens a small picture up to 480 pixels, then is shortened.
        let title_w = Pen::new(TITLE_PX).width(&self.title).ceil() as u32 + 12;
        let width = width.max(title_w.min(480));
        let height = top + (n as u32 * cell).max(MIN_BAR_H) + 8;
        PngLayout {
            pen,
            left,
            top,
            width,
            height,
        }
    }

    /// Renders the SVG with token labels on both axes, value labels on small matrices and a
    /// legend with its end values.
    pub fn to_svg(&self) -> Result<String, ExportError> {
        let (n, m) = self.values.dim();
        if n == 0 || m == 0 {
            return Err(ExportError::Empty("the matrix has no cells"));
        }
        // An element per cell: a 3,000-token matrix would be a gigabyte of SVG that no
        // editor opens. Past this a PNG (exact cells, 1 px each) is the picture to write.
        if n.saturating_mul(m) > MAX_SVG_CELLS {
            return Err(ExportError::TooLargeForSvg { n, m });
        }
        let cell = (640.0 / n.max(m) as f32).clamp(4.0, 40.0);
        let longest = self
            .rows
            .iter()
            .chain(self.cols)
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(1);
        let font = (cell * 0.45).clamp(6.0, 13.0);
        // Room for the longest label, turned, or a Chinese one standing upright (up to 16
        // characters, one under the other).
        let upright = self
            .cols
            .iter()
            .filter_map(|t| super::text::upright_parts(t))
            .map(|(base, _)| base.chars().count().min(16) as f32 * font * 1.1 + 10.0)
            .fold(0.0, f32::max);
        let label_px = (longest.min(16) as f32 * 7.5 + 12.0).max(30.0).max(upright);
        let (x0, y0) = (label_px, label_px + 24.0);
        let (gw, gh) = (m as f32 * cell, n as f32 * cell);
        let (width, height) = (x0 + gw + 110.0, y0 + gh + 20.0);
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
        let on_scale = self.on_scale();
        for ((i, j), &v) in self.values.indexed_iter() {
            let [r, g, b] = self.cell_rgb(on_scale.as_ref(), (i, j), v);
            let (x, y) = (x0 + j as f32 * cell, y0 + i as f32 * cell);
            let _ = writeln!(
                s,
                r##"<rect x="{x:.2}" y="{y:.2}" width="{cell:.2}" height="{cell:.2}" fill="#{r:02x}{g:02x}{b:02x}"><title>{} → {}: {}</title></rect>"##,
                esc(self.rows.get(i).map_or("", String::as_str)),
                esc(self.cols.get(j).map_or("", String::as_str)),
                fmt_value(v)
            );
            // A masked weight is a grey cell without a number (its 0 is the mask's).
            let masked_zero = v.is_finite() && self.masked((i, j), v);
            if show_values && !masked_zero {
                let dark = v.is_finite()
                    && self
                        .colormap
                        .dark_text_on(self.colour_t(on_scale.as_ref(), (i, j), v));
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
            // Chinese labels stand upright, a character under the other, as in the PNG and
            // the app (the SVG had turned them on their side).
            if let Some(chars) = upright_label(t, font, label_px) {
                for (k, c) in chars.iter().rev().enumerate() {
                    let _ = writeln!(
                        s,
                        r#"<text x="{x:.2}" y="{:.2}" font-size="{font:.1}" text-anchor="middle">{}</text>"#,
                        y - 2.0 - k as f32 * font * 1.1,
                        esc(c)
                    );
                }
                continue;
            }
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
        // Top, middle and bottom values, as the PNG's colour bar has them.
        let [top_tick, mid_tick, bottom_tick] = self.ticks();
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            lx + 18.0,
            y0 + 10.0,
            esc(&top_tick)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" dominant-baseline="central">{}</text>"#,
            lx + 18.0,
            y0 + gh / 2.0,
            esc(&mid_tick)
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            lx + 18.0,
            y0 + gh,
            esc(&bottom_tick)
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
        // A small negative number rounds to 0.00, not "-0.00" (a cosine score's cell).
        format!("{:.2}", if v.abs() < 0.005 { 0.0 } else { v })
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

/// `s` as SVG (XML) text: the five markup characters escaped, and the characters XML does
/// not allow at all (control characters, which byte-level tokens often are, U+FFFE and
/// U+FFFF) shown as their visible pictures (␁, ␛) or as �, so the file always parses.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'));
            }
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    /// `values` on `colormap`, linear over 0 … `hi`, with no mask and no title.
    fn plain<'a>(
        values: &'a Array2<f32>,
        rows: &'a [String],
        cols: &'a [String],
        colormap: Colormap,
        hi: f32,
    ) -> Heatmap<'a> {
        Heatmap {
            values,
            allowed: None,
            rows,
            cols,
            colormap,
            range: Range { lo: 0.0, hi },
            scale: ColourScale::Linear,
            title: String::new(),
        }
    }

    /// `h` as a decoded PNG at `cell` pixels per cell.
    fn png(h: &Heatmap, cell: u32) -> image::RgbImage {
        image::load_from_memory(&h.to_png(cell).unwrap())
            .unwrap()
            .to_rgb8()
    }

    /// The dark (text) pixels of `img` in the rectangle `xs` × `ys`.
    fn ink(img: &image::RgbImage, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> usize {
        xs.flat_map(|x| ys.clone().map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 120)
            .count()
    }

    #[test]
    fn png_has_exact_cells_and_legend() {
        let v = array![[0.0f32, 1.0], [0.25, f32::NEG_INFINITY]];
        let (r, c) = (labels(2), labels(2));
        let h = plain(&v, &r, &c, Colormap::Viridis, 1.0);
        let img = png(&h, 20);
        let (x0, y0) = h.png_origin(20);
        assert!(x0 > 10 && y0 > 10, "room for the labels: {x0}, {y0}");
        assert_eq!(img.get_pixel(x0, y0).0, Colormap::Viridis.rgb(0.0));
        assert_eq!(
            img.get_pixel(x0 + 39, y0 + 19).0,
            Colormap::Viridis.rgb(1.0)
        );
        assert_eq!(
            img.get_pixel(x0 + 30, y0 + 30).0,
            Colormap::Viridis.masked_rgb()
        );
        // The colour bar's top is the range's top.
        assert_eq!(
            img.get_pixel(x0 + 40 + BAR_GAP + 1, y0).0,
            Colormap::Viridis.rgb(1.0)
        );
        // Ink left of each row and above each column: its label.
        for k in 0..2 {
            assert!(
                ink(&img, 0..x0, y0 + 20 * k..y0 + 20 * k + 20) > 5,
                "row label {k}"
            );
            assert!(
                ink(&img, x0 + 20 * k..x0 + 20 * k + 20, 0..y0) > 5,
                "column label {k}"
            );
        }
        // The numbers beside the bar.
        let numbers = ink(
            &img,
            x0 + 40 + BAR_GAP + BAR_W..img.width(),
            0..img.height(),
        );
        assert!(numbers > 20, "{numbers}");
        // Small cells label every other token, so that labels never touch.
        let img = png(&h, 6);
        let (x0, y0) = h.png_origin(6);
        assert!(ink(&img, 0..x0, y0..y0 + 5) > 0 && ink(&img, 0..x0, y0 + 7..y0 + 12) == 0);
    }

    #[test]
    fn a_png_with_a_chinese_title_and_labels_has_their_ink() {
        let v = array![[0.5f32, 0.5], [1.0, 0.0]];
        let r = vec!["我".to_owned(), "爱".to_owned()];
        let h = Heatmap {
            title: "层 1 · 头 3 · 注意力权重".into(),
            ..plain(&v, &r, &r, Colormap::Greys, 1.0)
        };
        let img = png(&h, 24);
        let (x0, y0) = h.png_origin(24);
        let title_ink = ink(&img, 0..img.width(), 0..TITLE_PX as u32 + 8);
        assert!(title_ink > 40, "{title_ink}");
        assert!(img.width() >= x0 + 48 && img.height() >= y0 + 48);
    }

    #[test]
    fn svg_carries_escaped_chinese_labels() {
        let v = array![[0.5f32]];
        let r = vec!["我<爱>".to_owned()];
        let h = Heatmap {
            title: "头 0".into(),
            ..plain(&v, &r, &r, Colormap::Greys, 1.0)
        };
        let svg = h.to_svg().unwrap();
        assert!(svg.contains("我&lt;爱&gt;"));
        assert!(svg.contains("头 0"));
        assert!(svg.starts_with("<svg"));
    }

    /// Chinese column labels stand upright in the SVG as in the PNG (a character under the
    /// other, not turned), and its colour bar names its middle value as the PNG's does.
    #[test]
    fn svg_stands_chinese_columns_upright_and_names_the_bar_middle() {
        let v = array![[0.2f32, 0.8]];
        let (r, c) = (
            vec!["我".to_owned()],
            vec!["北京".to_owned(), "cat".to_owned()],
        );
        let h = plain(&v, &r, &c, Colormap::Viridis, 0.8);
        let svg = h.to_svg().unwrap();
        let line_of = |text: &str| {
            svg.lines()
                .find(|l| l.ends_with(&format!(">{text}</text>")))
                .unwrap_or_else(|| panic!("no text {text}"))
                .to_owned()
        };
        for ch in ["北", "京"] {
            assert!(!line_of(ch).contains("rotate"), "{}", line_of(ch));
        }
        assert!(line_of("cat").contains("rotate(-60"));
        let [_, mid, _] = h.ticks();
        line_of(&mid);
    }

    /// Byte-level tokens are often control characters, which XML does not allow: the SVG
    /// shows their pictures (␁) so that it still parses; a matrix too large for an SVG is
    /// refused with a message that says to write a PNG.
    #[test]
    fn svg_text_is_always_xml_and_huge_matrices_are_refused() {
        assert_eq!(
            esc("a\u{1}b\u{1b}<&>\u{FFFF}\t"),
            "a␁b␛&lt;&amp;&gt;\u{FFFD}\t"
        );
        let v = array![[0.5f32]];
        let r = vec!["\u{1}".to_owned()];
        let h = Heatmap {
            title: "t\u{7}".into(),
            ..plain(&v, &r, &r, Colormap::Viridis, 1.0)
        };
        let svg = h.to_svg().unwrap();
        assert!(
            !svg.chars()
                .any(|c| (c as u32) < 0x20 && !"\t\n\r".contains(c)),
            "{svg}"
        );
        let big = Array2::<f32>::zeros((600, 600));
        let names = labels(600);
        let h = Heatmap {
            values: &big,
            rows: &names,
            cols: &names,
            ..h
        };
        assert!(matches!(
            h.to_svg(),
            Err(ExportError::TooLargeForSvg { n: 600, m: 600 })
        ));
    }

    #[test]
    fn abbreviate_counts_characters() {
        assert_eq!(abbreviate("天安门广场很大", 4), "天安门…");
        assert_eq!(abbreviate("ok", 4), "ok");
    }
}
