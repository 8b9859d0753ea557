//! The heatmap widget: a matrix drawn as one texture with token labels, a legend, hover
//! details and click-to-select, and the cache of those textures, keyed by what they show.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, mpsc};

use eframe::egui::{self, Color32, Pos2, Rect, RichText, Sense, Stroke, TextureHandle, Vec2};
use ndarray::Array2;

use crate::export::colormap::{Colormap, Range};
use crate::export::heatmap::{abbreviate, fmt_value};
use crate::export::matrix::{MatrixKind, WeightsRange};
use crate::export::text::{upright_label, upright_parts};

use super::i18n::{Lang, Msg, tr, trf};

/// What a texture shows. Generations come from the job slots, so a new result never reuses
/// an old texture, and nothing is keyed by a pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TexKey {
    /// A matrix of head `head` of the trace of generation `trace`.
    Head {
        /// Trace generation.
        trace: u64,
        /// Head.
        head: usize,
        /// Which matrix.
        kind: MatrixKind,
    },
    /// The lab's re-run head (generation `lab`).
    Lab {
        /// Lab generation.
        lab: u64,
    },
    /// A model head's pooled probabilities from the run of generation `run`, on a scale.
    ModelHead {
        /// Run generation.
        run: u64,
        /// Layer.
        layer: usize,
        /// Head.
        head: usize,
        /// Colour scale.
        scale: super::state::ThumbScale,
    },
    /// The pooled weights of head `head` of a toy trace (generation `trace`), on a scale:
    /// the thumbnail of a lean trace's head, or of one too big for one texture.
    ToyOverview {
        /// Trace generation.
        trace: u64,
        /// Head.
        head: usize,
        /// Colour scale.
        scale: super::state::ThumbScale,
    },
    /// The attention rollout of the run of generation `run`.
    Rollout {
        /// Run generation.
        run: u64,
        /// Through this layer.
        upto: usize,
        /// Without the first token.
        skip_first: bool,
    },
    /// The attention rows (heads × tokens) of one layer at one step of a generation.
    GenLayer {
        /// Generation session.
        session: u64,
        /// Step.
        step: usize,
        /// Layer.
        layer: usize,
    },
    /// The growing causal heatmap of one head at one step of a generation.
    GenHeat {
        /// Generation session.
        session: u64,
        /// Step.
        step: usize,
        /// Layer.
        layer: usize,
        /// Head.
        head: usize,
    },
    /// An encoder–decoder run's head (or the cross-attention aggregated over heads).
    Translate {
        /// Run generation.
        run: u64,
        /// Encoder, decoder or cross.
        kind: crate::model::seq2seq::AttnKind,
        /// Layer.
        layer: usize,
        /// Head.
        head: usize,
        /// Aggregated over heads instead (then `layer` and `head` are 0).
        aggregate: Option<crate::model::seq2seq::Aggregate>,
    },
    /// One tile of a big matrix: texels (`ti`, `tj`) of side [`TILE`] at `level` (each texel
    /// the maximum of 2^level × 2^level cells).
    Tile {
        /// The matrix.
        base: TileBase,
        /// Pooling level.
        level: u8,
        /// Tile row.
        ti: u32,
        /// Tile column.
        tj: u32,
    },
}

/// Matrices with more cells than this are drawn in tiles (a 1,024² texture is 4 MiB; an
/// 8,192² one would be 256 MiB and beyond many GPUs' texture size).
pub const WHOLE_TEXTURE_CELLS: usize = 1024 * 1024;

/// Texels per tile side.
pub const TILE: usize = 256;

/// Which big matrix tiles belong to: matrix `kind` of head `head` of trace generation `trace`,
/// in colour map `cmap` on range rule `weights`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileBase {
    /// Trace generation.
    pub trace: u64,
    /// Head.
    pub head: usize,
    /// Which matrix.
    pub kind: MatrixKind,
    /// Colour map.
    pub cmap: Colormap,
    /// Where a weights matrix's colours end.
    pub weights: WeightsRange,
}

/// How a heatmap's pixels are drawn.
pub enum HeatSource {
    /// One texture of the whole matrix.
    Whole(TextureHandle),
    /// Tiles made on workers as they come into view, at the zoom's resolution, from the
    /// trace that holds the matrix.
    Tiled(TileBase, Arc<crate::core::Trace>),
}

/// What the widget draws from: a texture, or tiles made through the cache.
pub enum HeatImage<'a> {
    /// One texture.
    Whole(&'a TextureHandle),
    /// Tiles of `base`, made through `cache`.
    Tiled {
        /// The texture cache (tiles live there).
        cache: &'a mut TextureCache,
        /// The matrix.
        base: TileBase,
        /// The trace holding it (a worker making a tile keeps it alive).
        trace: &'a Arc<crate::core::Trace>,
    },
}

impl<'a> HeatImage<'a> {
    /// The image of a [`HeatSource`].
    pub fn of(src: &'a HeatSource, cache: &'a mut TextureCache) -> HeatImage<'a> {
        match src {
            HeatSource::Whole(t) => HeatImage::Whole(t),
            HeatSource::Tiled(base, trace) => HeatImage::Tiled {
                cache,
                base: *base,
                trace,
            },
        }
    }
}

/// A tile a worker made: its key, colour map and range, and its pixels (`None` if making
/// them failed; the tile is then drawn grey and not asked for again).
struct TileDone {
    key: TexKey,
    cmap: Colormap,
    range: Range,
    image: Option<egui::ColorImage>,
}

/// Tiles being made on workers at once; more wait for a later frame, so a fast zoom does
/// not queue work for levels already left behind.
const TILE_JOBS: usize = 8;

/// What a texture is stored under: what it shows, its colour map and range rule.
type Slot = (TexKey, Colormap, WeightsRange);

/// Where a tile's texture is stored (a tile's range rule is its matrix's).
fn tile_slot(key: TexKey, cmap: Colormap) -> Slot {
    let weights = match key {
        TexKey::Tile { base, .. } => base.weights,
        _ => WeightsRange::Max,
    };
    (key, cmap, weights)
}

/// Textures of heatmaps, keyed by what they show, the colour map and the weights' range
/// rule; rebuilt only when those change, and dropped when no view has drawn them for a few
/// frames.
pub struct TextureCache {
    map: HashMap<Slot, (TextureHandle, Range, u64)>,
    /// The range rule of weights textures made this frame (the user's choice).
    weights: WeightsRange,
    /// Colour ranges of tiled matrices (one pass over n² cells, done once).
    ranges: HashMap<TileBase, (Range, u64)>,
    frame: u64,
    /// Tiles being made on workers, and the channel they arrive on.
    in_flight: HashSet<(TexKey, Colormap)>,
    /// Tiles whose making failed (not asked for again).
    failed: HashSet<(TexKey, Colormap)>,
    done_tx: mpsc::Sender<TileDone>,
    done_rx: mpsc::Receiver<TileDone>,
}

impl Default for TextureCache {
    fn default() -> Self {
        let (done_tx, done_rx) = mpsc::channel();
        TextureCache {
            map: HashMap::new(),
            weights: WeightsRange::Max,
            ranges: HashMap::new(),
            frame: 0,
            in_flight: HashSet::new(),
            failed: HashSet::new(),
            done_tx,
            done_rx,
        }
    }
}

impl TextureCache {
    /// Starts a frame: takes in the tiles workers have finished (whichever view is on
    /// screen now), forgets textures unused for more than two frames, and makes this frame's
    /// weights textures on range rule `weights`.
    pub fn begin_frame(&mut self, ctx: &egui::Context, weights: WeightsRange) {
        self.weights = weights;
        self.receive_tiles(ctx);
        self.frame += 1;
        let frame = self.frame;
        self.map.retain(|_, (_, _, used)| frame - *used <= 2);
        self.ranges.retain(|_, (_, used)| frame - *used <= 2);
    }

    /// The colour range of a tiled matrix (computed on first use).
    pub fn range_of(&mut self, base: TileBase, values: &Array2<f32>, kind: MatrixKind) -> Range {
        let frame = self.frame;
        let e = self
            .ranges
            .entry(base)
            .or_insert_with(|| (kind.range(values, base.weights), frame));
        e.1 = frame;
        e.0
    }

    /// Turns the tiles workers have finished into textures (on the UI thread, which owns
    /// the texture manager's order of uploads).
    fn receive_tiles(&mut self, ctx: &egui::Context) {
        while let Ok(done) = self.done_rx.try_recv() {
            self.in_flight.remove(&(done.key, done.cmap));
            let Some(image) = done.image else {
                self.failed.insert((done.key, done.cmap));
                continue;
            };
            let tex = ctx.load_texture(
                format!("{:?}", done.key),
                image,
                egui::TextureOptions::NEAREST,
            );
            self.map.insert(
                tile_slot(done.key, done.cmap),
                (tex, done.range, self.frame),
            );
        }
    }

    /// Tiles asked for and not yet made.
    pub fn tiles_pending(&self) -> usize {
        self.in_flight.len()
    }

    /// How many tile textures are alive.
    pub fn tiles(&self) -> usize {
        self.map
            .keys()
            .filter(|(k, _, _)| matches!(k, TexKey::Tile { .. }))
            .count()
    }

    /// Tile (`ti`, `tj`) of `base` at `level` if it is made; otherwise `None`, and a worker
    /// pools and colours it from `trace` (it arrives a frame or a few later, with a
    /// repaint). Pooling a zoomed-out tile reads up to 16 M cells: on the UI thread that cost
    /// frames.
    fn tile(
        &mut self,
        ctx: &egui::Context,
        base: TileBase,
        level: u8,
        (ti, tj): (usize, usize),
        trace: &Arc<crate::core::Trace>,
        range: Range,
    ) -> Option<TextureHandle> {
        let key = TexKey::Tile {
            base,
            level,
            ti: ti as u32,
            tj: tj as u32,
        };
        let frame = self.frame;
        if let Some(e) = self.map.get_mut(&tile_slot(key, base.cmap)) {
            e.2 = frame;
            return Some(e.0.clone());
        }
        if self.in_flight.len() < TILE_JOBS
            && !self.failed.contains(&(key, base.cmap))
            && self.in_flight.insert((key, base.cmap))
        {
            let (tx, ctx, trace) = (self.done_tx.clone(), ctx.clone(), Arc::clone(trace));
            rayon::spawn(move || {
                let image = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let t = trace.head_traces.get(base.head)?;
                    let allowed = base.kind.masked_cells(t);
                    let values = tile_values(base.kind.values(t), allowed, level, ti, tj);
                    Some(color_image(&values, base.cmap, range))
                }))
                .ok()
                .flatten();
                let cmap = base.cmap;
                if tx
                    .send(TileDone {
                        key,
                        cmap,
                        range,
                        image,
                    })
                    .is_ok()
                {
                    ctx.request_repaint();
                }
            });
        }
        None
    }

    /// A made tile of a coarser level (up to 4 levels up) that covers rows `r0..r1` and
    /// columns `c0..c1` of `base` (an n × m matrix), with the part of it that does: drawn
    /// stretched while the exact tile is being made, so zooming in never shows a gap.
    fn coarser(
        &mut self,
        base: TileBase,
        level: u8,
        (r0, r1, c0, c1): (usize, usize, usize, usize),
    ) -> Option<(TextureHandle, Rect)> {
        let frame = self.frame;
        for up in level + 1..=level.saturating_add(4).min(16) {
            let f = 1usize << up;
            let span = TILE * f;
            let (ti, tj) = (r0 / span, c0 / span);
            let key = TexKey::Tile {
                base,
                level: up,
                ti: ti as u32,
                tj: tj as u32,
            };
            if let Some(e) = self.map.get_mut(&tile_slot(key, base.cmap)) {
                e.2 = frame;
                let uv = covering_uv(up, (ti, tj), e.0.size(), (r0, r1, c0, c1));
                return Some((e.0.clone(), uv));
            }
        }
        None
    }

    /// The texture of `values` (a `kind` matrix) under `key`, made on first use.
    pub fn matrix(
        &mut self,
        ctx: &egui::Context,
        key: TexKey,
        values: &Array2<f32>,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> (TextureHandle, Range) {
        self.matrix_with(ctx, key, || values.clone(), kind, chosen)
    }

    /// [`TextureCache::matrix`] with the values made only when the texture is (a
    /// transformed overview, say).
    pub fn matrix_with(
        &mut self,
        ctx: &egui::Context,
        key: TexKey,
        values: impl FnOnce() -> Array2<f32>,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> (TextureHandle, Range) {
        let frame = self.frame;
        let cmap = kind.colormap(chosen);
        let weights = kind.weights_range(self.weights);
        let entry = self.map.entry((key, cmap, weights)).or_insert_with(|| {
            let values = values();
            let range = kind.range(&values, weights);
            let tex = ctx.load_texture(
                format!("{key:?}/{cmap:?}"),
                color_image(&values, cmap, range),
                egui::TextureOptions::NEAREST,
            );
            (tex, range, frame)
        });
        entry.2 = frame;
        (entry.0.clone(), entry.1)
    }

    /// The texture of matrix `kind` of head `head` of a trace of generation `generation`.
    pub fn head(
        &mut self,
        ctx: &egui::Context,
        generation: u64,
        trace: &crate::core::Trace,
        head: usize,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> Option<(TextureHandle, Range)> {
        let t = trace.head_traces.get(head)?;
        let key = TexKey::Head {
            trace: generation,
            head,
            kind,
        };
        Some(self.head_matrix(ctx, key, t, kind, chosen))
    }

    /// The texture of matrix `kind` of one head's trace under `key` (a trace's head, the
    /// lab's re-run head): masked weights drawn as masked ([`Colormap::masked_rgb`]), not as
    /// the smallest weight.
    pub fn head_matrix(
        &mut self,
        ctx: &egui::Context,
        key: TexKey,
        t: &crate::core::HeadTrace,
        kind: MatrixKind,
        chosen: Colormap,
    ) -> (TextureHandle, Range) {
        let values = kind.values(t);
        let made = || match kind.masked_cells(t) {
            Some(allowed) => masked_as_such(values, allowed),
            None => values.clone(),
        };
        self.matrix_with(ctx, key, made, kind, chosen)
    }

    /// How many textures are alive (tests check that views drew what they should).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no texture is alive.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The pixel size of the texture under `key`, if one was drawn.
    pub fn size_of(&self, key: TexKey) -> Option<[usize; 2]> {
        self.map
            .iter()
            .find(|((k, _, _), _)| *k == key)
            .map(|(_, (t, _, _))| t.size())
    }

    /// The colour range of the texture under `key` drawn on range rule `weights`, if one was
    /// drawn (tests check what the legend and colours span).
    pub fn range_drawn(&self, key: TexKey, weights: WeightsRange) -> Option<Range> {
        self.map
            .iter()
            .find(|((k, _, w), _)| *k == key && *w == weights)
            .map(|(_, (_, r, _))| *r)
    }
}

/// Where cells `r0..r1` × `c0..c1` lie, in texture coordinates, on tile (`ti`, `tj`) of
/// level `level` (whose texture is `[w, h]` texels; an edge tile's is smaller than
/// [`TILE`]²): the part of a coarser tile drawn in place of a finer one still being made.
fn covering_uv(
    level: u8,
    (ti, tj): (usize, usize),
    [w, h]: [usize; 2],
    (r0, r1, c0, c1): (usize, usize, usize, usize),
) -> Rect {
    let f = 1usize << level;
    let span = TILE * f;
    let (y0, x0) = (ti * span, tj * span);
    let at = |a: usize, o: usize, len: usize| {
        (a.saturating_sub(o) as f32 / f as f32 / len.max(1) as f32).min(1.0)
    };
    Rect::from_min_max(
        Pos2::new(at(c0, x0, w), at(r0, y0, h)),
        Pos2::new(at(c1, x0, w), at(r1, y0, h)),
    )
}

/// `values` with the cells `allowed` masks set to −∞, which the colour map draws as masked.
pub fn masked_as_such(values: &Array2<f32>, allowed: &Array2<bool>) -> Array2<f32> {
    let mut out = values.clone();
    out.zip_mut_with(allowed, |v, &a| {
        if !a {
            *v = f32::NEG_INFINITY;
        }
    });
    out
}

/// The texels of one tile: cell blocks of 2^level × 2^level max-pooled (masked cells, −∞ or
/// NaN, or masked by `allowed`, count only when a block has nothing else).
pub fn tile_values(
    values: &Array2<f32>,
    allowed: Option<&Array2<bool>>,
    level: u8,
    ti: usize,
    tj: usize,
) -> Array2<f32> {
    let (n, m) = values.dim();
    let f = 1usize << level;
    let span = TILE * f;
    let (r0, c0) = (ti * span, tj * span);
    let (r1, c1) = ((r0 + span).min(n), (c0 + span).min(m));
    let (h, w) = (
        (r1.saturating_sub(r0)).div_ceil(f),
        (c1.saturating_sub(c0)).div_ceil(f),
    );
    let mut out = Array2::from_elem((h.max(1), w.max(1)), f32::NEG_INFINITY);
    // Texel rows in parallel: a zoomed-out tile pools up to 16 M cells.
    use rayon::prelude::*;
    let width = out.ncols();
    out.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(t, dst)| {
            for i in (r0 + t * f)..(r0 + (t + 1) * f).min(r1) {
                let row = values.row(i);
                let seen = allowed.map(|a| a.row(i));
                for (b, cell) in dst.iter_mut().enumerate() {
                    let (a, z) = (c0 + b * f, (c0 + (b + 1) * f).min(c1));
                    let cells = row.slice(ndarray::s![a..z]);
                    match &seen {
                        None => {
                            for &v in cells {
                                if v > *cell {
                                    *cell = v;
                                }
                            }
                        }
                        Some(seen) => {
                            for (&v, &ok) in cells.iter().zip(seen.slice(ndarray::s![a..z])) {
                                if ok && v > *cell {
                                    *cell = v;
                                }
                            }
                        }
                    }
                }
            }
        });
    out
}

/// The colour-mapped pixels of a matrix (masked cells in the map's [`Colormap::masked_rgb`]).
pub fn color_image(values: &Array2<f32>, cmap: Colormap, range: Range) -> egui::ColorImage {
    let (n, m) = values.dim();
    let mut pixels = Vec::with_capacity(n * m);
    for &v in values.iter() {
        pixels.push(if v.is_finite() {
            let [r, g, b] = cmap.rgb(range.t(v));
            Color32::from_rgb(r, g, b)
        } else {
            let [r, g, b] = cmap.masked_rgb();
            Color32::from_rgb(r, g, b)
        });
    }
    egui::ColorImage::new(
        [m.max(1), n.max(1)],
        if n * m == 0 {
            vec![Color32::BLACK]
        } else {
            pixels
        },
    )
}

/// The widest room for row labels (ten characters at the largest label font).
const LABEL_W: f32 = 90.0;

/// Room for the row labels: as wide as the widest one needs (wide characters count twice),
/// at most [`LABEL_W`]; a sentence of short words gives its width to the cells.
pub(crate) fn label_width(rows: &[String]) -> f32 {
    use unicode_width::UnicodeWidthStr as _;
    // The width of `abbreviate(r, 10)` without making it (this runs every frame, over every
    // row of an 8,192-token matrix): the label itself, or its first nine characters and the
    // one-column "…".
    let shown = |r: &String| match r.char_indices().nth(10) {
        None => r.width(),
        Some(_) => {
            let nine = r.char_indices().nth(9).map_or(r.len(), |(i, _)| i);
            r[..nine].width() + 1
        }
    };
    let widest = rows.iter().map(shown).max().unwrap_or(0);
    (widest as f32 * 8.0 + 10.0).clamp(36.0, LABEL_W)
}

/// Room above the grid for the column labels.
const LABEL_H: f32 = 70.0;
/// Room under the grid for its notes (pooling, numbers, thinned labels): three lines (two
/// cut the Chinese note beside a grid's narrow heatmap).
const NOTES_H: f32 = 48.0;
/// The colour bar's least height (points): a grid of a row or two is shorter.
const LEGEND_MIN_H: f32 = 60.0;
/// Cell side (points) from which numbers are written in full ("0.69").
const FULL_VALUES_PX: f32 = 34.0;
/// Cell side from which numbers are written short (".69"); below, the view says to zoom in.
const COMPACT_VALUES_PX: f32 = 25.0;

/// A number in at most four characters for a small cell (below 1,000): ".69", "−.23", "1.0",
/// "−9.9", "12", "−∞".
fn fmt_compact(v: f32) -> String {
    if !v.is_finite() {
        return fmt_value(v);
    }
    let s = match v.abs() {
        // A small negative number is ".00", not "−.00".
        a if a < 0.005 => ".00".to_owned(),
        a if a < 0.995 => format!("{v:.2}").replacen("0.", ".", 1),
        a if a < 9.95 => format!("{v:.1}"),
        _ => format!("{v:.0}"),
    };
    s.replace('-', "−")
}

/// Token labels left of and above a grid of square cells.
pub struct TokenLabels<'a> {
    /// Row labels (drawn right-aligned left of the grid; none if empty).
    pub rows: &'a [String],
    /// Column labels (drawn above the grid; none if empty).
    pub cols: &'a [String],
    /// Cell side, points.
    pub cell: f32,
    /// The row drawn in the strong text colour.
    pub selected_row: Option<usize>,
    /// Room above the grid for the column labels, points.
    pub col_room: f32,
    /// Where the row labels end (their right edge) and the column labels stand (their
    /// bottom), when not at the grid: a scrolled heatmap pins them to the view's left and
    /// top edges, as a spreadsheet freezes its headers.
    pub pin: Option<Pos2>,
}

impl TokenLabels<'_> {
    /// How thinly [`Self::paint`] labels the tokens in view: every k-th (1: every token).
    pub fn thinning(&self, vis_j: &std::ops::Range<usize>) -> usize {
        let (every, every_col) = self.steps(vis_j);
        every.max(every_col)
    }

    /// Every k-th row and every k-th column labelled at this cell size: labels 13 points
    /// apart, and columns as wide as the widest upright (Chinese) label in view.
    fn steps(&self, vis_j: &std::ops::Range<usize>) -> (usize, usize) {
        let cell = self.cell;
        let font_size = cell.clamp(9.0, 14.0);
        let every = ((13.0 / cell).ceil() as usize).max(1);
        // Upright Chinese is as wide as the font (and a half, with a piece count 我²):
        // when the widest one in view and a gap do not fit a column, columns thin out
        // (they ran into one another from about 48 tokens). Only then: a 20-point column
        // holds a 14-point character.
        let cols_in_view =
            &self.cols[vis_j.start.min(self.cols.len())..vis_j.end.min(self.cols.len())];
        let upright_w = cols_in_view
            .iter()
            .filter_map(|c| upright_parts(c))
            .map(|(_, count)| font_size * if count.is_empty() { 1.0 } else { 1.5 } + 2.0)
            .fold(0.0f32, f32::max);
        (every, every.max((upright_w / cell).ceil() as usize))
    }

    /// Paints the labels of rows `vis_i` and columns `vis_j` of the grid whose top-left
    /// corner is `origin`: only where legible, every k-th token so they never overlap.
    /// Returns the largest k (1: every token is labelled).
    pub fn paint(
        &self,
        painter: &egui::Painter,
        visuals: &egui::Visuals,
        origin: Pos2,
        (vis_i, vis_j): (std::ops::Range<usize>, std::ops::Range<usize>),
    ) -> usize {
        let cell = self.cell;
        let text_color = visuals.text_color();
        let font = egui::FontId::proportional(cell.clamp(9.0, 14.0));
        let (every, every_col) = self.steps(&vis_j);
        let edge = self.pin.unwrap_or(origin);
        let first = |r: &std::ops::Range<usize>, every: usize| r.start.div_ceil(every) * every;
        for i in (first(&vis_i, every)..vis_i.end).step_by(every) {
            let Some(tok) = self.rows.get(i) else { break };
            let y = origin.y + (i as f32 + 0.5) * cell;
            // Under the pinned column labels: scrolled out of view.
            if y < edge.y {
                continue;
            }
            let color = if Some(i) == self.selected_row {
                visuals.strong_text_color()
            } else {
                text_color
            };
            painter.text(
                Pos2::new(edge.x - 4.0, y),
                egui::Align2::RIGHT_CENTER,
                abbreviate(tok, 10),
                font.clone(),
                color,
            );
        }
        for j in (first(&vis_j, every_col)..vis_j.end).step_by(every_col) {
            let Some(tok) = self.cols.get(j) else { break };
            let x = origin.x + (j as f32 + 0.5) * cell;
            if x < edge.x {
                continue;
            }
            if let Some(chars) = upright_label(tok, font.size, self.col_room) {
                // CJK reads upright, one character under another, ending at the grid.
                let line = font.size * 1.1;
                for (k, c) in chars.iter().rev().enumerate() {
                    painter.text(
                        Pos2::new(x, edge.y - 4.0 - k as f32 * line),
                        egui::Align2::CENTER_BOTTOM,
                        c,
                        font.clone(),
                        text_color,
                    );
                }
                continue;
            }
            let mut fit = 10;
            let mut galley = painter.layout_no_wrap(abbreviate(tok, fit), font.clone(), text_color);
            // A label as narrow as its column (a character, a short word) is read upright;
            // a turned single letter is a puzzle (a turned "c" reads "∪").
            if galley.size().x <= cell * every_col as f32 - 2.0 {
                let pos = Pos2::new(x - galley.size().x / 2.0, edge.y - 4.0);
                painter.galley(pos - Vec2::new(0.0, galley.size().y), galley, text_color);
                continue;
            }
            // Turned on its side: as many characters as the room above the grid holds.
            while galley.size().x > self.col_room - 6.0 && fit > 2 {
                fit -= 1;
                galley = painter.layout_no_wrap(abbreviate(tok, fit), font.clone(), text_color);
            }
            let pos = Pos2::new(x - galley.size().y / 2.0, edge.y - 4.0);
            painter.add(
                egui::epaint::TextShape::new(pos, galley, text_color)
                    .with_angle(-std::f32::consts::FRAC_PI_2),
            );
        }
        every.max(every_col)
    }
}

/// Cells from this size (points) hatch their masked cells.
const HATCH_PX: f32 = 12.0;

/// A matrix drawn as one texture with token labels, a legend, hover details and click-to-select.
pub struct HeatmapWidget<'a> {
    /// Scroll area id.
    pub id: &'a str,
    /// The colour-mapped texture of `values`, or its tiles.
    pub image: HeatImage<'a>,
    /// Its value range.
    pub range: Range,
    /// The matrix.
    pub values: &'a Array2<f32>,
    /// The head it belongs to, for weight / raw score / mask in the tooltip.
    pub head: Option<&'a crate::core::HeadTrace>,
    /// The cells a mask hides, for a matrix without a head (a translator's decoder
    /// self-attention): drawn without a number and named masked on hover. With a head, its
    /// own mask serves.
    pub allowed: Option<&'a Array2<bool>>,
    /// Row labels.
    pub rows: &'a [String],
    /// Column labels.
    pub cols: &'a [String],
    /// The colour map of the texture (for the legend and text contrast).
    pub cmap: Colormap,
    /// Selected (row, column).
    pub selected: (usize, usize),
    /// Frame the selected cell too, not only its row (where one cell is the subject).
    pub mark_cell: bool,
    /// Numbers in large cells.
    pub show_values: bool,
    /// Zoom factor over "fit".
    pub zoom: f32,
    /// UI language.
    pub lang: Lang,
}

impl HeatmapWidget<'_> {
    /// Draws it; returns the clicked cell.
    pub fn ui(self, ui: &mut egui::Ui) -> Option<(usize, usize)> {
        let lang = self.lang;
        let (n, m) = self.values.dim();
        // The same margins as the allocation below: a fitted matrix never needs scrolling.
        let label_w = label_width(self.rows);
        let legend_w = legend_width(self.range);
        let avail = ui.available_size() - Vec2::new(label_w + legend_w, LABEL_H + NOTES_H);
        // A tiled (big) matrix may fit the panel at less than a pixel per cell, and zooms in
        // to exact cells; a whole texture keeps at least a pixel per cell.
        let tiled = matches!(self.image, HeatImage::Tiled { .. });
        let fit = (avail.x / m.max(1) as f32)
            .min(avail.y / n.max(1) as f32)
            .clamp(if tiled { 1e-4 } else { 1.0 }, 64.0);
        let cell = (fit * self.zoom).clamp(if tiled { fit } else { 0.25 }, 128.0);
        let mut clicked = None;
        egui::ScrollArea::both()
            .id_salt(self.id)
            .auto_shrink(false)
            .show(ui, |ui| {
                let size = Vec2::new(
                    label_w + m as f32 * cell + legend_w,
                    LABEL_H + (n as f32 * cell).max(LEGEND_MIN_H) + NOTES_H,
                );
                let (rect, resp) = ui.allocate_exact_size(size, Sense::click());
                let painter = ui.painter_at(rect);
                let origin = rect.min + Vec2::new(label_w, LABEL_H);
                let grid = Rect::from_min_size(origin, Vec2::new(m as f32 * cell, n as f32 * cell));
                // The cells in view: labels, numbers and tiles are made for these only.
                let clip = ui.clip_rect().intersect(grid);
                let span = |lo: f32, hi: f32, o: f32, len: usize| {
                    let a = (((lo - o) / cell).floor().max(0.0) as usize).min(len);
                    let b = (((hi - o) / cell).ceil().max(0.0) as usize).min(len);
                    a..b
                };
                let (vis_i, vis_j) = if clip.is_positive() {
                    (
                        span(clip.min.y, clip.max.y, origin.y, n),
                        span(clip.min.x, clip.max.x, origin.x, m),
                    )
                } else {
                    (0..0, 0..0)
                };
                // Under the grid, one line: how a zoomed-out view is pooled, why there are
                // no numbers, and that the labels skip tokens (every other label of "The
                // animal" read "T e a i a", another string).
                let mut notes = Vec::new();
                match self.image {
                    HeatImage::Whole(tex) => {
                        painter.image(
                            tex.id(),
                            grid,
                            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                            Color32::WHITE,
                        );
                    }
                    HeatImage::Tiled { cache, base, trace } => {
                        // One texel per screen pixel or finer: level k pools 2^k cells.
                        let level = if cell >= 1.0 {
                            0
                        } else {
                            ((1.0 / cell).log2().ceil() as u8).min(16)
                        };
                        let span = TILE << level;
                        let mut pending = false;
                        if !vis_i.is_empty() && !vis_j.is_empty() {
                            for ti in vis_i.start / span..=(vis_i.end - 1) / span {
                                for tj in vis_j.start / span..=(vis_j.end - 1) / span {
                                    let (r0, c0) = (ti * span, tj * span);
                                    let (r1, c1) = ((r0 + span).min(n), (c0 + span).min(m));
                                    let rect = Rect::from_min_max(
                                        origin + Vec2::new(c0 as f32, r0 as f32) * cell,
                                        origin + Vec2::new(c1 as f32, r1 as f32) * cell,
                                    );
                                    let made = cache.tile(
                                        ui.ctx(),
                                        base,
                                        level,
                                        (ti, tj),
                                        trace,
                                        self.range,
                                    );
                                    let (tex, uv) = match made {
                                        Some(tex) => (
                                            Some(tex),
                                            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                                        ),
                                        None => {
                                            pending = true;
                                            cache
                                                .coarser(base, level, (r0, r1, c0, c1))
                                                .map_or((None, Rect::NOTHING), |(t, uv)| {
                                                    (Some(t), uv)
                                                })
                                        }
                                    };
                                    match tex {
                                        Some(tex) => {
                                            painter.image(tex.id(), rect, uv, Color32::WHITE);
                                        }
                                        None => {
                                            painter.rect_filled(rect, 0.0, Color32::from_gray(40));
                                        }
                                    }
                                }
                            }
                        }
                        // Tiles on their way repaint when they land; until then (or while
                        // more wait for a free worker) keep drawing. A failed tile stays grey.
                        if pending && cache.tiles_pending() > 0 {
                            ui.ctx().request_repaint();
                        }
                        if level > 0 {
                            notes.push(format!(
                                "{} {n}×{m} · {}",
                                tr(lang, Msg::TiledView),
                                trf(lang, Msg::MaxPooledBy, &[&(1 << level), &(1 << level)])
                            ));
                        }
                    }
                }
                // Labels are painted last (below), over whatever they cover; how thinly is
                // known now, for the notes.
                let view = ui.clip_rect();
                let pin = Pos2::new(
                    origin.x.max(view.min.x + label_w),
                    origin.y.max(view.min.y + LABEL_H),
                );
                let labels = TokenLabels {
                    rows: self.rows,
                    cols: self.cols,
                    cell,
                    selected_row: Some(self.selected.0),
                    col_room: LABEL_H,
                    pin: Some(pin),
                };
                let thinned = labels.thinning(&vis_j);
                if self.selected.0 < n {
                    let y = origin.y + self.selected.0 as f32 * cell;
                    painter.rect_stroke(
                        Rect::from_min_size(
                            Pos2::new(origin.x, y),
                            Vec2::new(m as f32 * cell, cell),
                        ),
                        0.0,
                        Stroke::new(2.0, Color32::from_rgb(230, 60, 60)),
                        egui::StrokeKind::Outside,
                    );
                    // Luong's local-p: the predicted centre pᵢ of the selected row's window,
                    // a tick between the cells it falls between.
                    if let Some(p) = self
                        .head
                        .and_then(|h| h.centers.as_ref())
                        .and_then(|c| c.get(self.selected.0))
                        .filter(|p| p.is_finite() && **p >= 0.0 && **p <= (m - 1) as f32)
                    {
                        let x = origin.x + (p + 0.5) * cell;
                        let color = Color32::from_rgb(230, 60, 60);
                        painter.line_segment(
                            [Pos2::new(x, y - 6.0), Pos2::new(x, y + cell + 6.0)],
                            Stroke::new(2.0, color),
                        );
                        painter.text(
                            Pos2::new(x, y + cell + 7.0),
                            egui::Align2::CENTER_TOP,
                            "pᵢ",
                            egui::FontId::proportional(11.0),
                            color,
                        );
                    }
                    if self.mark_cell && self.selected.1 < m {
                        let x = origin.x + self.selected.1 as f32 * cell;
                        painter.rect_stroke(
                            Rect::from_min_size(Pos2::new(x, y), Vec2::splat(cell)),
                            0.0,
                            Stroke::new(2.5, ui.visuals().strong_text_color()),
                            egui::StrokeKind::Inside,
                        );
                    }
                }
                // Numbers where they are legible: "0.69" from 34 points a cell, ".69" from 25.
                let compact = cell < FULL_VALUES_PX;
                if self.show_values && (1.0..COMPACT_VALUES_PX).contains(&cell) {
                    notes.push(tr(lang, Msg::ValuesTooSmall).to_owned());
                }
                if thinned > 1 {
                    notes.push(trf(lang, Msg::LabelsThinned, &[&thinned]));
                }
                if !notes.is_empty() {
                    // Wrapped to the room right of the grid's left edge: one long line was
                    // cut at the panel's edge in narrow views (the lab's two heatmaps).
                    let colour = ui.visuals().weak_text_color();
                    let mut job = egui::text::LayoutJob::simple(
                        notes.join(" · "),
                        egui::FontId::proportional(11.0),
                        colour,
                        // The painter draws only inside the grid's allocation (and a row
                        // wider than the panel widens `max_rect`): wrap at what shows.
                        (rect.right().min(ui.clip_rect().right()) - grid.left()).max(120.0),
                    );
                    job.wrap.max_rows = 3;
                    let galley = ui.fonts_mut(|f| f.layout_job(job));
                    // Under the colour bar too, which is taller than a grid of a row or two
                    // (the neuron view's note ran through it).
                    let below = Vec2::new(0.0, (LEGEND_MIN_H - grid.height()).max(0.0) + 4.0);
                    painter.galley(grid.left_bottom() + below, galley, colour);
                }
                // A masked weight is drawn grey without a number: its 0 is the mask's.
                let masked = self
                    .head
                    .filter(|h| std::ptr::eq(self.values, &h.weights))
                    .and_then(|h| MatrixKind::Weights.masked_cells(h))
                    .or(self.allowed);
                // And hatched where cells are big enough: on a projector the grey and the
                // colour map's darkest (a weight of 0) look alike; lines do not.
                if let Some(allowed) = masked.filter(|_| cell >= HATCH_PX) {
                    let stroke = Stroke::new(1.0, Color32::from_gray(140));
                    for i in vis_i.clone() {
                        for j in vis_j.clone() {
                            if allowed.get((i, j)) == Some(&false) {
                                let r = Rect::from_min_size(
                                    origin + Vec2::new(j as f32, i as f32) * cell,
                                    Vec2::splat(cell),
                                );
                                painter.line_segment([r.left_bottom(), r.right_top()], stroke);
                            }
                        }
                    }
                }
                if self.show_values && cell >= COMPACT_VALUES_PX {
                    let cells = vis_i
                        .clone()
                        .flat_map(|i| vis_j.clone().map(move |j| (i, j)));
                    let size = if compact { cell * 0.36 } else { cell * 0.28 };
                    for (i, j) in cells {
                        if masked.is_some_and(|a| a.get((i, j)) == Some(&false)) {
                            continue;
                        }
                        let v = self.values[[i, j]];
                        let c = Pos2::new(
                            origin.x + (j as f32 + 0.5) * cell,
                            origin.y + (i as f32 + 0.5) * cell,
                        );
                        let dark = v.is_finite() && self.cmap.dark_text_on(self.range.t(v));
                        let color = if dark { Color32::BLACK } else { Color32::WHITE };
                        let text = if compact {
                            fmt_compact(v)
                        } else {
                            fmt_value(v)
                        };
                        painter.text(
                            c,
                            egui::Align2::CENTER_CENTER,
                            text,
                            egui::FontId::monospace(size.min(14.0)),
                            color,
                        );
                    }
                }
                // Scrolled past the labels' room, the labels stay at the view's edges over
                // a strip of the panel's colour, so a zoomed-in heatmap still says which
                // tokens are in view.
                let fill = ui.visuals().panel_fill;
                if pin.x > origin.x {
                    let strip = Rect::from_x_y_ranges(view.min.x..=pin.x, view.y_range());
                    painter.rect_filled(strip, 0.0, fill);
                }
                if pin.y > origin.y {
                    let strip = Rect::from_x_y_ranges(view.x_range(), view.min.y..=pin.y);
                    painter.rect_filled(strip, 0.0, fill);
                }
                labels.paint(
                    &painter,
                    ui.visuals(),
                    origin,
                    (vis_i.clone(), vis_j.clone()),
                );
                // The colour bar stays in view: right of the grid, or, when the grid is
                // wider or taller than the view (a long text at a pixel per token), pinned
                // to the view's right edge over a strip of the panel's colour.
                let bar_x = (grid.max.x + 16.0).min(view.max.x - legend_w + 16.0);
                if bar_x < grid.max.x + 16.0 {
                    painter.rect_filled(
                        Rect::from_x_y_ranges(bar_x - 8.0..=view.max.x, view.y_range()),
                        0.0,
                        ui.visuals().panel_fill,
                    );
                }
                let top = origin.y.max(view.min.y + 4.0);
                let bottom = grid.max.y.min(view.max.y - 4.0).max(top + LEGEND_MIN_H);
                legend(
                    &painter,
                    Rect::from_x_y_ranges(bar_x..=bar_x + 14.0, top..=bottom),
                    self.cmap,
                    self.range,
                    ui.visuals().text_color(),
                );
                if let Some(pos) = resp.hover_pos()
                    && grid.contains(pos)
                    && pos.x > pin.x
                    && pos.y > pin.y
                {
                    let j = (((pos.x - origin.x) / cell) as usize).min(m.saturating_sub(1));
                    let i = (((pos.y - origin.y) / cell) as usize).min(n.saturating_sub(1));
                    // Zoomed out past a cell per point, the pixel under the pointer shows the
                    // largest value of a block of cells: the tooltip reads that cell, and says
                    // which block it is the largest of, rather than one cell of the block.
                    let (i, j, block) = if cell < 1.0 {
                        let side = (1.0 / cell).ceil() as usize;
                        let rows_b = i..(i + side).min(n);
                        let cols_b = j..(j + side).min(m);
                        // A block wholly masked reads its first cell, and names no block.
                        match block_max(self.values, self.allowed, &rows_b, &cols_b) {
                            Some((bi, bj)) => (bi, bj, Some((rows_b, cols_b))),
                            None => (i, j, None),
                        }
                    } else {
                        (i, j, None)
                    };
                    let (rows, cols, values, head) = (self.rows, self.cols, self.values, self.head);
                    let allowed = self.allowed;
                    resp.clone().on_hover_ui_at_pointer(|ui| {
                        if let Some((r, c)) = &block {
                            let (r1, c1) = (r.end.saturating_sub(1), c.end.saturating_sub(1));
                            ui.label(
                                RichText::new(trf(
                                    lang,
                                    Msg::HoverBlockMax,
                                    &[&r.start, &r1, &c.start, &c1],
                                ))
                                .weak(),
                            );
                        }
                        ui.label(format!(
                            "{}: {}  ({i})",
                            tr(lang, Msg::HoverQuery),
                            rows.get(i).map_or("", String::as_str)
                        ));
                        ui.label(format!(
                            "{}: {}  ({j})",
                            tr(lang, Msg::HoverKey),
                            cols.get(j).map_or("", String::as_str)
                        ));
                        match head {
                            Some(ht) => {
                                ui.label(format!(
                                    "{}: {:.4}",
                                    tr(lang, Msg::HoverWeight),
                                    ht.weights[[i, j]]
                                ));
                                ui.label(format!(
                                    "{}: {:.4}",
                                    tr(lang, Msg::HoverRaw),
                                    ht.raw_scores[[i, j]]
                                ));
                                if !ht.allowed[[i, j]] {
                                    ui.label(tr(lang, Msg::Masked));
                                }
                            }
                            None => {
                                ui.label(format!("{:.4}", values[[i, j]]));
                                if allowed.and_then(|a| a.get((i, j))) == Some(&false) {
                                    ui.label(tr(lang, Msg::Masked));
                                }
                            }
                        }
                    });
                    if resp.clicked() {
                        clicked = Some((i, j));
                    }
                }
            });
        clicked
    }
}

/// The cell of the largest finite value (not masked by `allowed`) in rows × cols of
/// `values`; `None` when every cell there is masked or undefined.
fn block_max(
    values: &Array2<f32>,
    allowed: Option<&Array2<bool>>,
    rows: &std::ops::Range<usize>,
    cols: &std::ops::Range<usize>,
) -> Option<(usize, usize)> {
    let mut best: Option<((usize, usize), f32)> = None;
    for i in rows.clone() {
        for j in cols.clone() {
            let v = values[[i, j]];
            let open = allowed.is_none_or(|a| a.get((i, j)) != Some(&false));
            if v.is_finite() && open && best.is_none_or(|(_, b)| v > b) {
                best = Some(((i, j), v));
            }
        }
    }
    best.map(|(at, _)| at)
}

/// Room right of the grid for the legend: its 16-point gap, the 14-point bar and its two
/// numbers at 11 points ("0.67" needs less than "−17.55").
fn legend_width(range: Range) -> f32 {
    let chars = fmt_value(range.hi)
        .chars()
        .count()
        .max(fmt_value(range.lo).chars().count());
    16.0 + 14.0 + 4.0 + chars as f32 * 6.5 + 6.0
}

/// A vertical colour bar with its end values.
fn legend(painter: &egui::Painter, rect: Rect, cmap: Colormap, range: Range, text: Color32) {
    let steps = 32;
    for k in 0..steps {
        let t0 = k as f32 / steps as f32;
        let y0 = rect.max.y - t0 * rect.height();
        let y1 = rect.max.y - (k + 1) as f32 / steps as f32 * rect.height();
        let [r, g, b] = cmap.rgb(t0 + 0.5 / steps as f32);
        painter.rect_filled(
            Rect::from_x_y_ranges(rect.x_range(), y1..=y0),
            0.0,
            Color32::from_rgb(r, g, b),
        );
    }
    let font = egui::FontId::proportional(11.0);
    painter.text(
        Pos2::new(rect.max.x + 4.0, rect.min.y),
        egui::Align2::LEFT_TOP,
        fmt_value(range.hi),
        font.clone(),
        text,
    );
    painter.text(
        Pos2::new(rect.max.x + 4.0, rect.max.y),
        egui::Align2::LEFT_BOTTOM,
        fmt_value(range.lo),
        font,
        text,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zoomed-out pixel's tooltip reads the cell it shows: the largest open value of its
    /// block, never a masked one.
    #[test]
    fn a_block_is_read_at_its_largest_open_cell() {
        let v = ndarray::array![[0.1f32, 0.9, 0.2], [0.3, 0.0, 0.8], [f32::NAN, 0.4, 0.5]];
        assert_eq!(block_max(&v, None, &(0..3), &(0..3)), Some((0, 1)));
        let mut allowed = Array2::from_elem((3, 3), true);
        allowed[[0, 1]] = false;
        assert_eq!(
            block_max(&v, Some(&allowed), &(0..3), &(0..3)),
            Some((1, 2))
        );
        assert_eq!(block_max(&v, None, &(2..3), &(0..1)), None);
    }

    /// The row-label margin measures what `abbreviate` would show, without making it.
    #[test]
    fn label_width_measures_the_abbreviated_labels() {
        use unicode_width::UnicodeWidthStr as _;
        let cases = [
            "it",
            "because",
            "abcdefghij",
            "abcdefghijk",
            "北京",
            "中华人民共和国万岁万岁",
        ];
        for r in cases {
            let want = (abbreviate(r, 10).width() as f32 * 8.0 + 10.0).clamp(36.0, LABEL_W);
            assert_eq!(label_width(&[r.to_owned()]), want, "{r}");
        }
        assert_eq!(label_width(&[]), 36.0);
    }

    /// Short numbers keep two decimals in four characters at most.
    #[test]
    fn compact_numbers_fit_four_characters() {
        assert_eq!(fmt_compact(0.6912), ".69");
        assert_eq!(fmt_compact(-0.234), "−.23");
        assert_eq!(fmt_compact(1.0), "1.0");
        assert_eq!(fmt_compact(0.999), "1.0");
        assert_eq!(fmt_compact(-9.99), "−10");
        assert_eq!(fmt_compact(0.0), ".00");
        // No negative zero: a cosine score of −0.001.
        assert_eq!(fmt_compact(-0.001), ".00");
        assert_eq!(crate::export::heatmap::fmt_value(-0.001), "0.00");
        assert_eq!(crate::export::heatmap::fmt_value(-0.006), "-0.01");
        assert_eq!(fmt_compact(12.4), "12");
        assert_eq!(fmt_compact(-12.4), "−12");
        assert_eq!(fmt_compact(f32::NEG_INFINITY), "−∞");
        for v in [
            0.6912,
            -0.234,
            -0.996,
            1.0,
            -9.94,
            -9.99,
            12.4,
            -999.0,
            f32::NEG_INFINITY,
        ] {
            assert!(fmt_compact(v).chars().count() <= 4, "{v}");
        }
    }

    /// Chinese and Japanese column labels stand upright; Latin, mixed and marked pieces
    /// (##京, ␣北) turn on their side as before; a long one ends in a vertical ellipsis.
    #[test]
    fn wide_labels_stand_upright_and_others_turn() {
        assert_eq!(upright_label("北京", 14.0, LABEL_H).unwrap(), ["北", "京"]);
        assert_eq!(upright_label("ひらがな", 9.0, LABEL_H).unwrap().len(), 4);
        assert_eq!(upright_label("。", 14.0, LABEL_H).unwrap(), ["。"]);
        for turned in ["cat", "##京", "␣北", "[CLS]", ""] {
            assert!(upright_label(turned, 14.0, LABEL_H).is_none(), "{turned}");
        }
        // 62 points of room at 14 × 1.1 points a line: three characters and ⋮.
        assert_eq!(
            upright_label("中华人民共和国", 14.0, LABEL_H).unwrap(),
            ["中", "华", "人", "⋮"]
        );
    }

    /// A coarser tile stands in for a finer one with exactly the texels of its cells: the
    /// lower-right quarter of a full tile one level up, every row of an edge tile's texture
    /// when the finer tile is that edge, and a half texel short where the rows run out.
    #[test]
    fn a_coarser_tile_covers_the_finer_tiles_cells() {
        let r = |x0: f32, y0: f32, x1: f32, y1: f32| {
            Rect::from_min_max(Pos2::new(x0, y0), Pos2::new(x1, y1))
        };
        // Level 0 tile (1, 1) is cells 256..512; level 1 tile (0, 0) is cells 0..512.
        assert_eq!(
            covering_uv(1, (0, 0), [256, 256], (256, 512, 256, 512)),
            r(0.5, 0.5, 1.0, 1.0)
        );
        // Two levels up, tile (0, 0) is cells 0..1024 in 256 texels of 4 cells.
        assert_eq!(
            covering_uv(2, (0, 0), [256, 256], (512, 768, 0, 256)),
            r(0.0, 0.5, 0.25, 0.75)
        );
        // A 600-row matrix: level 1 tile (1, 0) holds rows 512..600 in 44 texels.
        assert_eq!(
            covering_uv(1, (1, 0), [256, 44], (512, 600, 0, 256)),
            r(0.0, 0.0, 0.5, 1.0)
        );
        // 599 rows: the 44th texel pools row 598 alone.
        let uv = covering_uv(1, (1, 0), [256, 44], (512, 599, 0, 256));
        assert!((uv.max.y - 87.0 / 88.0).abs() < 1e-6, "{uv:?}");
    }

    /// Each texel of a tile is the maximum of its 2^level × 2^level cells (masked −∞ cells
    /// lose to any value), and edge tiles cover only the cells that exist. Weights, whose
    /// masked cells hold 0, pool to the same texels when their mask is given.
    #[test]
    fn tiles_max_pool_their_cells() {
        let (n, m) = (600, 700);
        let values = Array2::from_shape_fn((n, m), |(i, j)| {
            if j > i {
                f32::NEG_INFINITY
            } else {
                ((i * 7 + j * 13) % 97) as f32
            }
        });
        let allowed = values.mapv(f32::is_finite);
        let weights = values.mapv(|v| if v.is_finite() { v } else { 0.0 });
        assert_eq!(masked_as_such(&weights, &allowed), values);
        for level in [0u8, 1, 2] {
            let f = 1usize << level;
            let span = TILE * f;
            for ti in 0..n.div_ceil(span) {
                for tj in 0..m.div_ceil(span) {
                    let t = tile_values(&values, None, level, ti, tj);
                    let masked = tile_values(&weights, Some(&allowed), level, ti, tj);
                    assert_eq!(masked, t, "level {level} tile ({ti}, {tj}) of weights");
                    let rows = (n - ti * span).min(span).div_ceil(f);
                    let cols = (m - tj * span).min(span).div_ceil(f);
                    assert_eq!(t.dim(), (rows, cols), "level {level} tile ({ti}, {tj})");
                    for ((a, b), &v) in t.indexed_iter() {
                        let (r0, c0) = (ti * span + a * f, tj * span + b * f);
                        let want = values
                            .slice(ndarray::s![r0..(r0 + f).min(n), c0..(c0 + f).min(m)])
                            .iter()
                            .copied()
                            .fold(f32::NEG_INFINITY, f32::max);
                        assert_eq!(v, want, "level {level} texel ({a}, {b})");
                    }
                }
            }
        }
    }
}
