//! Generate: the model writes after the input text, token by token (Generate ▶ to the end, or
//! Step ⏭ one token at a time); a scrubber picks a step, which shows the next-token
//! distribution (the chosen token marked, with its rank) — hidden until a guess in classroom
//! mode —, where each head of the focused layer looked, the focused head's causal heatmap
//! growing with the text, the new token's attention row in every layer and head (click a head
//! to pick it for a knock-out), and the what-if panel.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use eframe::egui::{self, Color32, RichText, Stroke, Vec2};

use super::model_grid::pooling_text;
use crate::app::heatmap::TexKey;
use crate::app::i18n::{Msg, tr, trf};
use crate::app::translate::ScreenMatrix;
use crate::app::{AttnApp, Command, GenSession, WhatIfJob};
use crate::core::pool::{Band, PoolBuilder, PoolMethod, Pooled, describe_pooling};

use crate::export::matrix::MatrixKind;
use crate::model::ablate::{HeadRef, rank_of};
use crate::model::generate::GenStep;
use crate::model::tokenizer::Written;

/// Height of one head's row in the layer strips (points).
const STRIP_ROW: f32 = 7.0;
/// The growing heatmap's texture side: up to this many tokens every cell is drawn, past it
/// the matrix is max-pooled to this side (hover still reads the exact cell).
const HEAT_MAX: usize = 1024;
/// Orange of the chosen token, the prompt / generated boundary and picked heads.
pub const MARK: Color32 = Color32::from_rgb(230, 120, 30);

/// Draws the view.
pub fn ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let can = app.model.as_ref().is_some_and(|m| m.model.can_generate());
    if !can {
        ui.label(t(Msg::GenNeedsCausal));
        return;
    }
    let (running, waiting) = app.generation.as_ref().map_or((false, false), |g| {
        (!g.done.load(Ordering::Relaxed), g.waiting())
    });
    controls_ui(app, ui, running, waiting);
    induction_ui(app, ui);
    let Some(gen_) = app.generation.clone() else {
        ui.label(RichText::new(t(Msg::GenHint)).weak());
        return;
    };
    if let Ok(e) = gen_.error.lock()
        && let Some(e) = e.as_ref()
    {
        let text = crate::app::errors::job_text(app.lang(), e);
        ui.colored_label(ui.visuals().error_fg_color, text);
    }
    // A run of another text than the one typed now: said, so its results are not read as
    // the new text's.
    if gen_.ask.text != app.state.text_q {
        ui.colored_label(ui.visuals().warn_fg_color, t(Msg::GenStale));
    }
    // Only the step on screen is copied out (a long run holds every step's attention rows).
    let n_steps = gen_.len();
    let mut labels = gen_.labels.lock().map(|l| l.clone()).unwrap_or_default();
    if running {
        ui.horizontal(|ui| {
            if waiting {
                ui.label(format!("{} {n_steps}", t(Msg::GenWaiting)));
            } else {
                ui.spinner();
                ui.label(format!("{} {n_steps}", t(Msg::GenWriting)));
            }
        });
    }
    if n_steps == 0 {
        return;
    }
    // `usize::MAX` follows the newest token (a new run starts there); the scrubber and the
    // arrows pick a step. In classroom mode it stops at the first step not yet guessed, so
    // a run written to the end does not show the class what it is about to guess.
    let guessing = app.state.gen_guess_mode;
    let step_i = app.shown_gen_step(&gen_);
    let limit = app.gen_step_limit(&gen_);
    ui.horizontal(|ui| {
        ui.label(t(Msg::GenStep));
        if ui.button("◀").clicked() && step_i > 0 {
            app.state.gen_step = step_i - 1;
        }
        // In classroom mode the scrubber ends at the step to guess.
        let mut v = step_i;
        if ui.add(egui::Slider::new(&mut v, 0..=limit)).changed() {
            app.state.gen_step = v;
        }
        if ui.button("▶").clicked() && step_i < limit {
            app.state.gen_step = step_i + 1;
        }
    });
    let Some(step) = gen_.steps.lock().ok().and_then(|s| s.get(step_i).cloned()) else {
        return;
    };
    let hidden = guessing && !app.guesses.contains_key(&(gen_.serial, step_i));
    if guessing {
        // Nor do the heatmap's labels or the knock-out pickers name the tokens after it.
        labels.truncate(gen_.prompt_ids.len() + step_i + usize::from(!hidden));
    }
    if let Ok(written) = gen_.written.lock() {
        text_ui(ui, &gen_.prompt_text, &written, step_i, hidden);
    }
    super::byte_piece_note(ui, lang, &labels);
    ui.separator();
    egui::ScrollArea::vertical()
        .auto_shrink(false)
        .show(ui, |ui| {
            side_by_side(
                app,
                ui,
                |app, ui| {
                    if hidden {
                        guess_ui(app, ui, gen_.serial, step_i);
                    } else {
                        distribution_ui(app, ui, &gen_, &step, step_i);
                    }
                },
                |app, ui| sources_ui(app, ui, &step, &labels),
            );
            ui.separator();
            side_by_side(
                app,
                ui,
                |app, ui| {
                    growing_heatmap_ui(app, ui, &gen_, step_i, &labels);
                    ui.separator();
                    strips_ui(app, ui, &gen_, &step, step_i);
                },
                |app, ui| super::whatif::ui(app, ui, step_i, &labels),
            );
        });
}

/// Narrower than this (a 1280 × 720 window, a zoomed projector) the view's two columns
/// stack: side by side, the bars ran into the next column and the what-if panel was cut.
const SIDE_BY_SIDE_MIN: f32 = 760.0;

/// `left` and `right` in two columns when there is room, one under the other otherwise.
fn side_by_side(
    app: &mut AttnApp,
    ui: &mut egui::Ui,
    left: impl FnOnce(&mut AttnApp, &mut egui::Ui),
    right: impl FnOnce(&mut AttnApp, &mut egui::Ui),
) {
    if ui.available_width() >= SIDE_BY_SIDE_MIN {
        ui.columns(2, |cols| {
            let (a, b) = cols.split_at_mut(1);
            left(app, &mut a[0]);
            right(app, &mut b[0]);
        });
    } else {
        left(app, ui);
        ui.separator();
        right(app, ui);
    }
}

/// Settings, Generate ▶ / Step ⏭ / Cancel, and the classroom switch.
/// Prompts the shipped induction samples copy (a stretch of random characters seen before;
/// their training data), checked with `attnscope generate` on both.
const INDUCTION_PROMPTS: [&str; 2] = ["Xq7#Lp2 Zu9! then again Xq7#", "kT4@pW 9vQ# mR2 kT4@p"];

/// The model's strongest induction head (measured when it loaded), with a button that
/// focuses it; for the shipped induction samples also what they learned and prompts that
/// show it. Ordinary text gets nonsense from them, and a lesson should not stall on that.
fn induction_ui(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let Some(loaded) = app.model.clone() else {
        return;
    };
    let sample = loaded
        .model
        .dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with("-induction"));
    let best = loaded.induction.as_ref().and_then(|s| {
        s.indexed_iter()
            .filter(|(_, v)| v.is_finite())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|((l, h), &v)| (l, h, v))
    });
    ui.horizontal_wrapped(|ui| {
        if sample {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                tr(lang, Msg::GenInductionSample),
            );
            for p in INDUCTION_PROMPTS {
                if ui.small_button(p).clicked() {
                    app.state.text_q = p.to_owned();
                    if let Some((l, h, _)) = best {
                        app.push(Command::FocusLayer(l));
                        app.push(Command::FocusHead(h));
                    }
                }
            }
        }
        if let Some((l, h, v)) = best {
            let score = format!("{v:.2}");
            let label = trf(lang, Msg::GenFocusInduction, &[&l, &h, &score]);
            if ui.small_button(label).clicked() {
                app.push(Command::FocusLayer(l));
                app.push(Command::FocusHead(h));
            }
        }
    });
}

fn controls_ui(app: &mut AttnApp, ui: &mut egui::Ui, running: bool, waiting: bool) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    ui.horizontal_wrapped(|ui| {
        let s = &mut app.state;
        ui.label(t(Msg::GenMaxNew));
        ui.add(egui::DragValue::new(&mut s.gen_max_new).range(1..=512));
        ui.label(t(Msg::GenTemperature));
        ui.add(
            egui::DragValue::new(&mut s.gen_temperature)
                .range(0.0..=5.0)
                .speed(0.05),
        );
        ui.label("top-k");
        ui.add(egui::DragValue::new(&mut s.gen_top_k).range(0..=1000));
        ui.label("top-p");
        ui.add(
            egui::DragValue::new(&mut s.gen_top_p)
                .range(0.01..=1.0)
                .speed(0.01),
        );
        ui.label(t(Msg::GenSeed));
        ui.add(egui::DragValue::new(&mut s.gen_seed));
        ui.checkbox(&mut s.gen_guess_mode, t(Msg::GuessMode))
            .on_hover_text(t(Msg::GuessModeTip));
        if ui
            .add_enabled(!running || waiting, egui::Button::new(t(Msg::GenStart)))
            .clicked()
        {
            app.push(Command::Generate);
        }
        if ui
            .add_enabled(!running || waiting, egui::Button::new(t(Msg::GenStepOne)))
            .on_hover_text(t(Msg::GenStepTip))
            .clicked()
        {
            app.push(Command::StepGeneration);
        }
        if running && ui.button(t(Msg::CancelRun)).clicked() {
            app.push(Command::CancelGeneration);
        }
    });
}

/// A token as a list shows it: spaces as ␣ and line breaks as ⏎, so that " Paris" and a
/// lone space do not look like "Paris" and nothing (the tokenizer's labels already show
/// control characters, `tokenizer::show_controls`).
fn visible(token: &str) -> String {
    token.replace(' ', "␣").replace('\n', "⏎")
}

/// The text so far: the prompt faint (as typed), the generated tokens strong, this step's
/// token framed (a "?" while it is to be guessed).
fn text_ui(ui: &mut egui::Ui, prompt: &[String], written: &Written, step_i: usize, hidden: bool) {
    let n_prompt = prompt.len();
    // This step's token and the pieces of its character before it (a byte-level piece of
    // 国 is framed with the whole 国, which the running text shows on its first piece).
    let focus = written.pending(step_i).start..=step_i;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = egui::vec2(0.0, 2.0);
        let pieces = prompt.iter().chain(written.text.iter());
        for (i, l) in pieces.enumerate().take(n_prompt + step_i + 1) {
            let this = i >= n_prompt && focus.contains(&(i - n_prompt));
            if l.is_empty() {
                continue;
            }
            let shown = if this && hidden { " ？ " } else { l.as_str() };
            let text =
                RichText::new(crate::model::tokenizer::show_controls(shown).replace('\n', "⏎"));
            let text = if i < n_prompt {
                text.weak()
            } else if this {
                text.strong()
                    .background_color(Color32::from_rgb(255, 220, 120))
                    .color(Color32::BLACK)
            } else {
                text.strong()
            };
            ui.label(text);
        }
    });
}

/// Classroom mode: the distribution stays hidden until a guess is typed or Reveal is pressed.
fn guess_ui(app: &mut AttnApp, ui: &mut egui::Ui, serial: u64, step_i: usize) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let prompt = ui.label(RichText::new(t(Msg::GuessPrompt)).strong());
    let id = ui.scope_id().with(("guess", serial, step_i));
    let mut text = ui.data_mut(|d| d.get_temp::<String>(id).unwrap_or_default());
    let mut go = None;
    ui.horizontal(|ui| {
        let edit = ui
            .add(egui::TextEdit::singleline(&mut text).desired_width(140.0))
            .labelled_by(prompt.id);
        if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            go = Some(text.clone());
        }
        if ui
            .add_enabled(
                !text.trim().is_empty(),
                egui::Button::new(t(Msg::GuessCheck)),
            )
            .clicked()
        {
            go = Some(text.clone());
        }
        if ui.button(t(Msg::GuessReveal)).clicked() {
            go = Some(String::new());
        }
    });
    ui.data_mut(|d| d.insert_temp(id, text));
    if let Some(g) = go {
        app.guesses.insert((serial, step_i), g);
        // The answer stays on screen: the next step is the teacher's ▶.
        app.state.gen_step = step_i;
    }
}

/// The next-token distribution: the top tokens as bars, the chosen one marked; with a guess,
/// the guess's rank and probability.
fn distribution_ui(
    app: &mut AttnApp,
    ui: &mut egui::Ui,
    gen_: &Arc<GenSession>,
    step: &GenStep,
    step_i: usize,
) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let Some(loaded) = app.model.clone() else {
        return;
    };
    // Each candidate as the list shows it: a byte piece by the character it would finish.
    // The chosen one by the character it is part of, as the text above says it.
    let (pending, written_label): (Vec<u32>, Option<String>) =
        match (gen_.steps.lock(), gen_.written.lock()) {
            (Ok(steps), Ok(w)) => (
                w.pending(step_i)
                    .filter_map(|k| steps.get(k).map(|s| s.id))
                    .collect(),
                w.labels.get(step_i).cloned(),
            ),
            _ => (Vec::new(), None),
        };
    let tokz = &loaded.model.tokenizer;
    let tok = |id: u32| tokz.candidate_label(&pending, id);
    let chosen = match written_label {
        Some(l) if tokz.is_byte_piece(step.id) => l,
        _ => tok(step.id),
    };
    ui.label(
        RichText::new(format!(
            "{}: «{}» · p = {:.3} · {} {}",
            t(Msg::GenChosen),
            visible(&chosen),
            step.logprob.exp(),
            t(Msg::GenRank),
            step.rank + 1
        ))
        .strong(),
    );
    // The bars are the model's own distribution; a run that samples reshapes it first.
    let tau = gen_.ask.sampling.temperature;
    if tau > 0.0 && tau != 1.0 {
        let tau = crate::app::state::readable(tau);
        ui.label(RichText::new(trf(lang, Msg::GenProbsAtOne, &[&tau])).weak());
    }
    if let Some(guess) = app.guesses.get(&(gen_.serial, step_i)).cloned()
        && !guess.trim().is_empty()
    {
        guess_result_ui(app, ui, step_i, &guess);
    }
    for &(id, p) in &step.top {
        let chosen = id == step.id;
        ui.horizontal(|ui| {
            let label = format!("{:>8}", visible(&tok(id)));
            ui.label(if chosen {
                RichText::new(label).strong().monospace()
            } else {
                RichText::new(label).monospace()
            });
            // Within the column: a fixed width ran into the column beside it.
            // The number beside the bar: inside, it sat on a short bar's rounded end.
            let bar = egui::ProgressBar::new(p)
                .desired_width((ui.available_width() - 48.0).clamp(60.0, 220.0));
            ui.add(if chosen { bar.fill(MARK) } else { bar });
            ui.label(RichText::new(format!("{p:.3}")).monospace().small());
        });
    }
}

/// The rank and probability of a typed guess, from the clean run of the step (computed on a
/// worker the first time). The guess is matched as typed and with a leading space (BPE
/// vocabularies spell most words " word"), whichever is one token and more likely.
fn guess_result_ui(app: &mut AttnApp, ui: &mut egui::Ui, step_i: usize, guess: &str) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let (Some(w), Some(loaded)) = (app.whatif_for(step_i), app.model.clone()) else {
        return;
    };
    let base = match w.base() {
        Some(Ok(b)) => Arc::clone(b),
        Some(Err(e)) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                crate::app::errors::job_text(lang, e),
            );
            return;
        }
        None => {
            if !w.busy[0].load(Ordering::Relaxed) {
                app.start_whatif(ui.ctx(), Arc::clone(&w), WhatIfJob::Base);
            }
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(t(Msg::Computing));
            });
            return;
        }
    };
    let tokz = &loaded.model.tokenizer;
    let lp = &base.logprobs;
    let mut spellings = vec![guess.to_owned()];
    if !guess.starts_with(char::is_whitespace) {
        spellings.push(format!(" {guess}"));
    }
    let single = spellings
        .iter()
        .filter_map(|s| match tokz.encode_plain(s).ok()?.as_slice() {
            [id] if (*id as usize) < lp.len() => Some(*id),
            _ => None,
        })
        .max_by(|a, b| lp[*a as usize].total_cmp(&lp[*b as usize]));
    let (id, note) = match single {
        Some(id) => (id, None),
        None => match tokz
            .encode_plain(guess)
            .ok()
            .and_then(|v| v.first().copied())
        {
            Some(id) if (id as usize) < lp.len() => (id, Some(t(Msg::GuessFirstPiece))),
            _ => return,
        },
    };
    let p = lp[id as usize].exp();
    ui.label(
        RichText::new(format!(
            "{} «{guess}» ({} «{}»): {} {} · p = {p:.4}",
            t(Msg::GuessYour),
            t(Msg::GuessAsToken),
            tokz.decode(&[id]).replace('\n', "⏎"),
            t(Msg::GenRank),
            rank_of(lp, id) + 1,
        ))
        .color(MARK)
        .strong(),
    );
    if let Some(note) = note {
        ui.label(RichText::new(note).small().weak());
    }
}

/// Where each head of the focused layer looked from the new token (its top three sources;
/// the token being guessed is not among them: it is not written yet).
fn sources_ui(app: &mut AttnApp, ui: &mut egui::Ui, step: &GenStep, labels: &[String]) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let layer = app.state.layer.min(step.attention.len().saturating_sub(1));
    ui.label(
        RichText::new(format!(
            "{} {layer}: {}",
            t(Msg::Layer),
            t(Msg::GenTopSources)
        ))
        .strong(),
    );
    let Some(rows) = step.attention.get(layer) else {
        return;
    };
    for (h, row) in rows.iter().enumerate() {
        let mut idx: Vec<usize> = (0..row.len()).collect();
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
        let top: Vec<String> = idx
            .iter()
            .take(3)
            .map(|&j| {
                let l = labels.get(j).map_or("", String::as_str);
                format!("«{}» {:.2}", visible(l), row[j])
            })
            .collect();
        ui.label(RichText::new(format!("{} {h}: {}", t(Msg::Head), top.join(", "))).monospace());
    }
}

/// The focused head's attention over every token so far at one step: the prompt's rows from
/// its kept matrices, each later row from the step that computed it.
struct Grown<'a> {
    prompt: Option<&'a ndarray::Array2<f32>>,
    steps: &'a [GenStep],
    n_prompt: usize,
    /// Rows (and columns) so far.
    n: usize,
    layer: usize,
    head: usize,
    /// The layer's mask.
    band: Band,
}

impl Grown<'_> {
    /// Row i (a query) as far as it is known: the keys after it count as 0 (it cannot see
    /// them), and so does a prompt row whose matrices were not kept.
    fn row(&self, i: usize) -> &[f32] {
        let row = if i < self.n_prompt {
            self.prompt.and_then(|m| m.row(i).to_slice()).unwrap_or(&[])
        } else {
            self.steps
                .get(i + 1 - self.n_prompt)
                .and_then(|s| s.attention.get(self.layer)?.get(self.head))
                .map_or(&[][..], Vec::as_slice)
        };
        &row[..row.len().min(self.n)]
    }

    /// One weight: row i (a query), key j.
    fn value(&self, i: usize, j: usize) -> f32 {
        self.row(i).get(j).copied().unwrap_or(0.0)
    }

    /// The exact n × n matrix (what the exports write).
    fn matrix(&self) -> ndarray::Array2<f32> {
        let mut m = ndarray::Array2::zeros((self.n, self.n));
        for (i, mut out) in m.rows_mut().into_iter().enumerate() {
            let row = self.row(i);
            for (o, &v) in out.iter_mut().zip(row) {
                *o = v;
            }
        }
        m
    }

    /// What the view draws: every cell up to [`HEAT_MAX`] tokens, max-pooled past it (a
    /// diagonal one cell wide stays visible). The layer's mask is drawn grey, as in the other
    /// heatmaps, not as weight 0: the keys after each query, and on a sliding-window layer
    /// the keys W or more before it (a bin is grey when every cell in it is masked).
    fn overview(&self) -> Pooled {
        let mut pool = PoolBuilder::new(self.n, self.n, HEAT_MAX, PoolMethod::Max);
        for i in 0..self.n {
            pool.add_row(i, self.row(i));
        }
        let mut pooled = pool.finish();
        pooled.mask_outside(self.band);
        pooled
    }
}

/// Calls `f` with the focused head's grown attention at step `step_i` (`None` when there is
/// nothing to draw).
fn with_grown<R>(
    gen_: &GenSession,
    step_i: usize,
    (want_layer, want_head): (usize, usize),
    f: impl FnOnce(&Grown) -> R,
) -> Option<R> {
    let n_prompt = gen_.prompt_ids.len();
    // The rows so far: the prompt's, then one per step after the first (the step's token has
    // no row until the next step computes it).
    let n = n_prompt + step_i;
    let steps = gen_.steps.lock().ok()?;
    let (layers, heads) = steps.first().map_or((0, 0), |s| {
        (s.attention.len(), s.attention.first().map_or(0, Vec::len))
    });
    if n == 0 || layers == 0 || heads == 0 {
        return None;
    }
    let (layer, head) = (want_layer.min(layers - 1), want_head.min(heads - 1));
    let prompt_lock = gen_.prompt_attention.lock().ok();
    let prompt = prompt_lock
        .as_ref()
        .and_then(|p| p.as_ref())
        .and_then(|p| p.get(layer)?.get(head));
    Some(f(&Grown {
        prompt,
        steps: &steps,
        n_prompt,
        n,
        layer,
        head,
        band: gen_.bands.get(layer).copied().unwrap_or(Band::CAUSAL),
    }))
}

/// What the Generate view's heatmap shows, for its exports.
pub fn grown_matrix(app: &AttnApp) -> Option<ScreenMatrix> {
    let gen_ = app.generation.as_ref()?;
    let step_i = app.state.gen_step.min(gen_.len().checked_sub(1)?);
    let focus = (app.state.layer, app.state.head);
    let (values, layer, head, band) = with_grown(gen_, step_i, focus, |g| {
        (g.matrix(), g.layer, g.head, g.band)
    })?;
    let mut labels = gen_.labels.lock().ok()?.clone();
    labels.truncate(values.nrows());
    let lang = app.lang();
    Some(ScreenMatrix {
        allowed: band.cells(values.nrows(), values.ncols()),
        values,
        rows: labels.clone(),
        cols: labels,
        title: format!(
            "{} · {} {layer} · {} {head}",
            tr(lang, Msg::ViewGenerate),
            tr(lang, Msg::Layer),
            tr(lang, Msg::Head)
        ),
    })
}

/// Room above the growing heatmap for its column labels.
const HEAT_LABEL_H: f32 = 56.0;

/// The focused head's causal heatmap over every token so far, the generated part past the
/// orange line; hover names the query and key and gives the weight.
fn growing_heatmap_ui(
    app: &mut AttnApp,
    ui: &mut egui::Ui,
    gen_: &Arc<GenSession>,
    step_i: usize,
    labels: &[String],
) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    let serial = gen_.serial;
    let colormap = app.state.colormap;
    let focus = (app.state.layer, app.state.head);
    let textures = &mut app.textures;
    with_grown(gen_, step_i, focus, |g| {
        let (n, layer, head) = (g.n, g.layer, g.head);
        ui.label(
            RichText::new(format!(
                "{} {layer} · {} {head}",
                t(Msg::Layer),
                t(Msg::Head)
            ))
            .strong(),
        );
        ui.label(RichText::new(t(Msg::HeatGrow)).weak().small());
        if g.prompt.is_none() {
            ui.label(RichText::new(t(Msg::HeatNoPrompt)).small());
        }
        let key = TexKey::GenHeat {
            session: serial,
            step: step_i,
            layer,
            head,
        };
        let (tex, _) = textures.matrix_with(
            ui.ctx(),
            key,
            || g.overview().values,
            MatrixKind::Weights,
            colormap,
        );
        let pooling = describe_pooling(n, n, HEAT_MAX, PoolMethod::Max);
        if !pooling.is_exact() {
            ui.label(RichText::new(pooling_text(lang, &pooling)).small());
        }
        // Token labels left and above, thinned to what the cells' size lets be read.
        let names = &labels[..n.min(labels.len())];
        let label_w = crate::app::heatmap::label_width(names);
        let side = (ui.available_width() - label_w).clamp(120.0, 360.0);
        let (outer, _) = ui.allocate_exact_size(
            Vec2::new(label_w + side, HEAT_LABEL_H + side),
            egui::Sense::hover(),
        );
        let rect = egui::Rect::from_min_size(
            outer.min + Vec2::new(label_w, HEAT_LABEL_H),
            Vec2::splat(side),
        );
        let resp = ui.put(
            rect,
            egui::Image::new(&tex)
                .fit_to_exact_size(Vec2::splat(side))
                .sense(egui::Sense::hover()),
        );
        crate::app::heatmap::TokenLabels {
            rows: names,
            cols: names,
            cell: side / n as f32,
            selected_row: Some(n - 1),
            col_room: HEAT_LABEL_H,
            pin: None,
        }
        .paint(ui.painter(), ui.visuals(), rect.min, (0..n, 0..n));
        let cut = g.n_prompt as f32 / n as f32 * side;
        let stroke = Stroke::new(1.5, MARK);
        let painter = ui.painter_at(rect.expand(2.0));
        painter.vline(rect.left() + cut, rect.y_range(), stroke);
        painter.hline(rect.x_range(), rect.top() + cut, stroke);
        if let Some(pos) = resp.hover_pos() {
            let cell = side / n as f32;
            let i = (((pos.y - rect.top()) / cell) as usize).min(n - 1);
            let j = (((pos.x - rect.left()) / cell) as usize).min(n - 1);
            let p = g.value(i, j);
            let name = |k: usize| labels.get(k).map_or("", String::as_str).replace('\n', "⏎");
            resp.on_hover_text(format!("«{}» {i} → «{}» {j}: {p:.4}", name(i), name(j)));
        }
    });
}

/// Every layer's heads: the new token's attention row over all tokens so far. A click on a
/// head's row focuses it and picks it for a knock-out; shift-click adds or removes it.
fn strips_ui(
    app: &mut AttnApp,
    ui: &mut egui::Ui,
    gen_: &Arc<GenSession>,
    step: &GenStep,
    step_i: usize,
) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    ui.label(RichText::new(t(Msg::GenRows)).weak());
    ui.label(RichText::new(t(Msg::KnockHint)).weak());
    let width = (ui.available_width() - 60.0).max(60.0);
    for (l, rows) in step.attention.iter().enumerate() {
        let n = rows.first().map_or(0, Vec::len);
        let values = || ndarray::Array2::from_shape_fn((rows.len(), n), |(h, j)| rows[h][j]);
        let key = TexKey::GenLayer {
            session: gen_.serial,
            step: step_i,
            layer: l,
        };
        let (tex, _) = app.textures.matrix_with(
            ui.ctx(),
            key,
            values,
            MatrixKind::Weights,
            app.state.colormap,
        );
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{} {l}", t(Msg::Layer))).small());
            let resp = ui.add(
                egui::Image::new(&tex)
                    .fit_to_exact_size(Vec2::new(width, rows.len() as f32 * STRIP_ROW))
                    .sense(egui::Sense::click()),
            );
            let rect = resp.rect;
            // Picked heads are framed in orange.
            for k in app.state.gen_knock.iter().filter(|k| k.layer == l) {
                let top = rect.top() + k.head as f32 * STRIP_ROW;
                let row = egui::Rect::from_min_size(
                    egui::pos2(rect.left(), top),
                    Vec2::new(rect.width(), STRIP_ROW),
                );
                ui.painter().rect_stroke(
                    row,
                    0.0,
                    Stroke::new(1.5, MARK),
                    egui::StrokeKind::Inside,
                );
            }
            if resp.clicked()
                && let Some(pos) = resp.interact_pointer_pos()
            {
                let h = (((pos.y - rect.top()) / STRIP_ROW) as usize).min(rows.len() - 1);
                let shift = ui.input(|i| i.modifiers.shift);
                pick_head(app, HeadRef { layer: l, head: h }, shift);
            }
        });
    }
}

/// Focuses a head and picks it for a knock-out (alone, or toggled in the set with shift).
pub fn pick_head(app: &mut AttnApp, h: HeadRef, add: bool) {
    app.push(Command::FocusLayer(h.layer));
    app.push(Command::FocusHead(h.head));
    let set = &mut app.state.gen_knock;
    if add {
        if let Some(k) = set.iter().position(|x| *x == h) {
            set.remove(k);
        } else {
            set.push(h);
            set.sort();
        }
    } else {
        *set = vec![h];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generation step of a one-layer, one-head model whose new row is `row`.
    fn one_head_step(row: Vec<f32>) -> GenStep {
        GenStep {
            id: 0,
            logprob: 0.0,
            rank: 0,
            top: Vec::new(),
            attention: vec![vec![row]],
        }
    }
    use crate::core::pool::pool;

    /// A previous-token head over a 1,000-token prompt and 120 generated tokens: past
    /// [`HEAT_MAX`] the view draws a max-pooled overview of exactly the matrix the exports
    /// write, and the one-cell diagonal survives the pooling in every row.
    #[test]
    fn a_grown_heatmap_past_its_texture_side_is_pooled_from_the_exact_matrix() {
        let n_prompt = 1000;
        let prompt = ndarray::Array2::from_shape_fn((n_prompt, n_prompt), |(i, j)| {
            f32::from(j + 1 == i || (i == 0 && j == 0))
        });
        let steps: Vec<GenStep> = (0..120)
            .map(|k| {
                // Step k computes row n_prompt − 1 + k over that many keys.
                let i = n_prompt - 1 + k;
                one_head_step((0..=i).map(|j| f32::from(j + 1 == i)).collect())
            })
            .collect();
        let n = n_prompt + 119;
        let g = Grown {
            prompt: Some(&prompt),
            steps: &steps,
            n_prompt,
            n,
            layer: 0,
            head: 0,
            band: Band::CAUSAL,
        };
        let m = g.matrix();
        assert_eq!(m.dim(), (n, n));
        for i in 1..n {
            assert_eq!(m[(i, i - 1)], 1.0, "row {i}");
            assert_eq!(m.row(i).sum(), 1.0, "row {i}");
            assert_eq!(g.value(i, i - 1), 1.0);
        }
        let over = g.overview();
        assert!(n > HEAT_MAX);
        assert_eq!(over.values.dim(), (HEAT_MAX, HEAT_MAX));
        // The exact matrix pooled, with the bins above the diagonal (keys after every query
        // in them) masked.
        let mut want = pool(m.view(), HEAT_MAX, PoolMethod::Max).values;
        want.indexed_iter_mut()
            .filter(|((a, b), _)| b > a)
            .for_each(|(_, v)| *v = f32::NEG_INFINITY);
        assert_eq!(over.values, want);
        for (b, row) in over.values.rows().into_iter().enumerate() {
            assert_eq!(row.iter().copied().fold(0.0, f32::max), 1.0, "bin {b}");
        }
    }

    /// A prompt too long to keep its matrices: its rows are 0, the generated rows are there,
    /// and the keys after each query are drawn masked.
    #[test]
    fn a_grown_heatmap_without_the_prompt_draws_the_generated_rows() {
        let steps: Vec<GenStep> = (0..3).map(|k| one_head_step(vec![0.5; 4 + k])).collect();
        let g = Grown {
            prompt: None,
            steps: &steps,
            n_prompt: 4,
            n: 6,
            layer: 0,
            head: 0,
            band: Band::CAUSAL,
        };
        let m = g.matrix();
        assert_eq!(m.row(3).sum(), 0.0);
        assert_eq!(m.row(4).to_vec(), [0.5, 0.5, 0.5, 0.5, 0.5, 0.0]);
        assert_eq!(m.row(5).to_vec(), [0.5; 6]);
        let causal = ndarray::Array2::from_shape_fn((6, 6), |(i, j)| {
            if j > i { f32::NEG_INFINITY } else { m[(i, j)] }
        });
        assert_eq!(g.overview().values, causal);
    }

    /// A sliding-window layer's heatmap draws the keys its window leaves out grey too, and
    /// its exports mark the same cells masked.
    #[test]
    fn a_sliding_window_layer_draws_the_keys_outside_its_window_masked() {
        let steps: Vec<GenStep> = (0..4)
            .map(|k| {
                let n = 3 + k;
                one_head_step((0..n).map(|j| if j + 2 >= n { 0.5 } else { 0.0 }).collect())
            })
            .collect();
        let band = Band {
            causal: true,
            window: Some(2),
        };
        let g = Grown {
            prompt: None,
            steps: &steps,
            n_prompt: 3,
            n: 6,
            layer: 0,
            head: 0,
            band,
        };
        let over = g.overview().values;
        for ((i, j), &v) in over.indexed_iter() {
            let visible = j <= i && j + 2 > i;
            assert_eq!(v.is_finite(), visible, "({i}, {j})");
        }
        let allowed = band.cells(6, 6).expect("a window masks");
        assert_eq!(allowed, over.mapv(f32::is_finite));
    }
}
