//! The step-through panel: the list of steps with previous / next / play, and for the
//! current step its formula, a short explanation, its matrix with the numbers, and the
//! expanded arithmetic of the selected query row. All numbers come from the trace.

use eframe::egui::{self, RichText};
use ndarray::{Array2, ArrayView1};

use crate::core::attend::softmax_parts;
use crate::core::{HeadTrace, ScoreKind, Source, Step, Trace};
use crate::export::matrix::MatrixKind;

use super::describe::{bias, explanation, formula, kv_sharing, normed, projection, score_symbol};
use super::i18n::{Lang, Msg, tr, trf};
use super::{AttnApp, Command};

/// The list label of a step; the scores step names the head's score function ("3 Scores
/// QKᵀ", "3 Scores vᵀtanh(W₁q+W₂k)").
pub fn step_label(lang: Lang, s: Step, score: ScoreKind) -> String {
    match s {
        Step::Scores => trf(lang, Msg::StepScores, &[&score_symbol(score)]),
        _ => tr(lang, step_msg(s)).to_owned(),
    }
}

/// The list label of a step other than the scores (see [`step_label`]).
fn step_msg(s: Step) -> Msg {
    match s {
        Step::Embed => Msg::StepEmbed,
        Step::Project => Msg::StepProject,
        Step::Rotate => Msg::StepRotate,
        Step::Scores => Msg::StepScores,
        Step::Scale => Msg::StepScale,
        Step::Mask => Msg::StepMask,
        Step::Softmax => Msg::StepSoftmax,
        Step::WeightedSum => Msg::StepWeighted,
        Step::Concat => Msg::StepConcat,
        Step::Output => Msg::StepOutput,
    }
}

/// A number as the tables show it (4 decimals; −∞ for masked).
pub fn num(x: f32) -> String {
    if x == f32::NEG_INFINITY {
        "−∞".into()
    } else if x.abs() >= 1e4 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// The right panel.
pub fn steps_panel(app: &mut AttnApp, ui: &mut egui::Ui) {
    let lang = app.lang();
    let t = |m| tr(lang, m);
    egui::Panel::right(super::panels::side_panel_id(ui, "steps"))
        .resizable(true)
        .default_size(470.0)
        .max_size(super::panels::side_panel_max(ui, 0.32))
        .show(ui, |ui| {
            ui.heading(t(Msg::Steps));
            let rotary = app.rotary();
            ui.horizontal(|ui| {
                let step = app.state.step;
                let prev = step.neighbour(rotary, -1);
                let next = step.neighbour(rotary, 1);
                if ui
                    .add_enabled(prev.is_some(), egui::Button::new(t(Msg::Prev)))
                    .clicked()
                    && let Some(s) = prev
                {
                    app.push(Command::SetStep(s));
                }
                if ui
                    .add_enabled(next.is_some(), egui::Button::new(t(Msg::Next)))
                    .clicked()
                    && let Some(s) = next
                {
                    app.push(Command::SetStep(s));
                }
                let play = if app.playing {
                    t(Msg::Pause)
                } else {
                    t(Msg::Play)
                };
                if ui.button(play).on_hover_text(t(Msg::StepKeysTip)).clicked() {
                    app.push(Command::TogglePlay);
                }
            });
            // The head on screen's score function, else the one being set up.
            let score = app
                .trace
                .as_ref()
                .map_or(app.state.score, |t| t.mechanism.score);
            ui.horizontal_wrapped(|ui| {
                for s in Step::sequence(rotary) {
                    if ui
                        .selectable_label(app.state.step == s, step_label(lang, s, score))
                        .clicked()
                    {
                        app.push(Command::SetStep(s));
                    }
                }
            });
            ui.separator();
            let head = app.state.head;
            let Some(trace) = app
                .shown_trace()
                .filter(|t| t.has_matrices(head.min(t.heads.saturating_sub(1))))
            else {
                return;
            };
            egui::ScrollArea::vertical()
                .auto_shrink(false)
                .show(ui, |ui| {
                    ui.label(RichText::new(t(Msg::Formula)).strong());
                    ui.label(
                        RichText::new(formula(app.state.step, &trace, lang))
                            .monospace()
                            .size(15.0),
                    );
                    ui.add_space(4.0);
                    ui.label(RichText::new(t(Msg::Explanation)).strong());
                    for m in explanation(app.state.step, &trace) {
                        ui.label(t(m));
                    }
                    ui.add_space(6.0);
                    row_picker(app, ui, &trace);
                    ui.add_space(4.0);
                    ui.label(RichText::new(t(Msg::Arithmetic)).strong());
                    arithmetic_ui(app, ui, &trace);
                    ui.add_space(6.0);
                    ui.label(RichText::new(t(Msg::Matrix)).strong());
                    step_matrices(app, ui, &trace);
                });
        });
}

/// Buttons to pick the query row (accessible: "q3 it").
fn row_picker(app: &mut AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let lang = app.lang();
    ui.label(RichText::new(tr(lang, Msg::ClickRowHint)).small().weak());
    let n = trace.tokens_q.len();
    if n > ROW_CHIPS_MAX {
        // One line instead of a chip per token: 59 chips took 250 points and pushed the
        // arithmetic off the panel.
        let label = |i: usize| format!("q{i} {}", trace.tokens_q.get(i).map_or("", String::as_str));
        let mut row = app.state.row.min(n - 1);
        ui.horizontal(|ui| {
            let cap = ui.label(tr(lang, Msg::HoverQuery));
            if ui.small_button("◀").clicked() {
                row = row.saturating_sub(1);
            }
            ui.add(egui::DragValue::new(&mut row).range(0..=n - 1).prefix("q"))
                .labelled_by(cap.id);
            if ui.small_button("▶").clicked() {
                row = (row + 1).min(n - 1);
            }
            egui::ComboBox::from_id_salt("query_row")
                .selected_text(label(row))
                .height(320.0)
                .show_ui(ui, |ui| {
                    for i in 0..n {
                        ui.selectable_value(&mut row, i, label(i));
                    }
                });
        });
        if row != app.state.row {
            app.push(Command::SelectRow(row));
        }
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing = egui::vec2(3.0, 3.0);
        for (i, tok) in trace.tokens_q.iter().enumerate().take(128) {
            if ui
                .selectable_label(app.state.row == i, format!("q{i} {tok}"))
                .clicked()
            {
                app.push(Command::SelectRow(i));
            }
        }
    });
}

/// Up to this many queries the row picker is a chip per token; past it, one line.
const ROW_CHIPS_MAX: usize = 24;

/// The matrices of the current step (first rows/columns of large ones).
fn step_matrices(app: &AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    let t = |m| tr(app.lang(), m);
    let dims = |n: usize| (0..n).map(|m| format!("d{m}")).collect::<Vec<_>>();
    let tq = &trace.tokens_q;
    let tk = &trace.tokens_k;
    // The heatmap shows this step's n × n matrix whole; the other matrices only here.
    let on_heatmap = MatrixKind::for_step(app.state.step).values(ht);
    let mut show = |name: &str, m: &Array2<f32>, rows: &[String], cols: &[String]| {
        let whole = if std::ptr::eq(m, on_heatmap) {
            Msg::MatrixTooLarge
        } else {
            Msg::MatrixTooLargeExport
        };
        let too_large = tr(app.lang(), whole);
        matrix_grid(ui, name, m, rows, cols, app.state.row, too_large);
    };
    match app.state.step {
        Step::Embed => {
            show("X", &trace.x_q, tq, &dims(trace.d_model));
            if !trace.self_attention {
                show(t(Msg::MatXSource), &trace.x_k, tk, &dims(trace.d_model));
            }
        }
        Step::Project => {
            // A rotary head's Q and K as projected, before the rotation step.
            let q = ht.q_unrotated.as_ref().unwrap_or(&ht.q);
            let k = ht.k_unrotated.as_ref().unwrap_or(&ht.k);
            let shared = kv_sharing(&trace.mechanism, trace.heads, head, app.lang())
                .map(|s| format!("  ({s})"))
                .unwrap_or_default();
            show(&format!("Q⁽{head}⁾"), q, tq, &dims(trace.d_k));
            show(&format!("K⁽{head}⁾{shared}"), k, tk, &dims(trace.d_k));
            show(&format!("V⁽{head}⁾{shared}"), &ht.v, tk, &dims(trace.d_k));
        }
        Step::Rotate => {
            if let (Some(q0), Some(k0)) = (&ht.q_unrotated, &ht.k_unrotated) {
                let (before, rotated) = (t(Msg::MatBeforeRotation), t(Msg::MatRotated));
                for (x, x0, x1, rows) in [("Q", q0, &ht.q, tq), ("K", k0, &ht.k, tk)] {
                    show(&format!("{x}⁽{head}⁾ {before}"), x0, rows, &dims(trace.d_k));
                    show(
                        &format!("{x}′⁽{head}⁾ = {rotated}"),
                        x1,
                        rows,
                        &dims(trace.d_k),
                    );
                }
            }
        }
        Step::Scores => show(
            &format!("S = {}", score_symbol(trace.mechanism.score)),
            &ht.raw_scores,
            tq,
            tk,
        ),
        Step::Scale => show("S′", &ht.scaled, tq, tk),
        Step::Mask => show("Z", &ht.logits, tq, tk),
        Step::Softmax => show("P", &ht.weights, tq, tk),
        Step::WeightedSum => show(
            &format!("O⁽{head}⁾ = PV"),
            &ht.context,
            tq,
            &dims(trace.d_k),
        ),
        Step::Concat => {
            // Columns named by head and dimension: where each head's block sits.
            let d_k = trace.d_k.max(1);
            let cols: Vec<String> = (0..trace.concat.ncols())
                .map(|c| format!("h{}·d{}", c / d_k, c % d_k))
                .collect();
            show("concat", &trace.concat, tq, &cols)
        }
        Step::Output => show(t(Msg::Output), &trace.output, tq, &dims(trace.d_model)),
    }
}

/// Most columns a number table shows.
const MAX_CELLS: usize = 12;
/// Most rows a number table shows (the panel scrolls): a 13-character sentence lost its last
/// token at 12.
const MAX_ROWS: usize = 32;

/// The rows a table of `n` shows: all up to [`MAX_ROWS`], else a window of them around the
/// selected row, so the row the arithmetic is about is always in it.
fn shown_rows(n: usize, selected: usize) -> std::ops::Range<usize> {
    if n <= MAX_ROWS {
        return 0..n;
    }
    let start = selected.saturating_sub(MAX_ROWS / 2).min(n - MAX_ROWS);
    start..start + MAX_ROWS
}

/// A matrix as a number table (its rows around the selected one and first columns when large,
/// with `too_large` saying where the rest is).
fn matrix_grid(
    ui: &mut egui::Ui,
    name: &str,
    m: &Array2<f32>,
    rows: &[String],
    cols: &[String],
    selected: usize,
    too_large: &str,
) {
    let (n, k) = m.dim();
    ui.label(RichText::new(format!("{name}  ({n}×{k})")).italics());
    if n > MAX_ROWS || k > MAX_CELLS {
        ui.label(RichText::new(too_large).small().weak());
    }
    // Numbers right-aligned to one width, so that signs and decimal points line up.
    let (shown, kn) = (shown_rows(n, selected), k.min(MAX_CELLS));
    let width = shown
        .clone()
        .flat_map(|i| (0..kn).map(move |j| (i, j)))
        .map(|(i, j)| num(m[[i, j]]).chars().count())
        .max()
        .unwrap_or(0);
    // A table wider than the panel keeps a solid scroll bar in sight: the columns past the
    // edge are there to be reached, not cut off.
    ui.scope(|ui| {
        ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
        egui::ScrollArea::horizontal()
            .id_salt(name)
            .scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysVisible)
            .show(ui, |ui| {
                egui::Grid::new(name)
                    .striped(true)
                    .spacing([8.0, 2.0])
                    .show(ui, |ui| {
                        ui.label("");
                        for c in cols.iter().take(MAX_CELLS) {
                            let c = crate::export::heatmap::abbreviate(c, 8);
                            ui.label(
                                RichText::new(format!("{c:>width$}"))
                                    .monospace()
                                    .size(12.0)
                                    .weak(),
                            );
                        }
                        ui.end_row();
                        for (i, r) in rows.iter().enumerate().skip(shown.start).take(shown.len()) {
                            let label =
                                RichText::new(crate::export::heatmap::abbreviate(r, 8)).strong();
                            ui.label(if i == selected {
                                label.underline()
                            } else {
                                label
                            });
                            for j in 0..k.min(MAX_CELLS) {
                                let v = m[[i, j]];
                                let text = RichText::new(format!("{:>width$}", num(v)))
                                    .monospace()
                                    .size(12.0);
                                ui.label(if i == selected { text.strong() } else { text });
                            }
                            ui.end_row();
                        }
                    });
            });
    });
}

/// `[a, b, c, …]` with at most `max` entries.
fn vec_str(v: ArrayView1<f32>, max: usize) -> String {
    format!("[{}]", vec_items(v, max))
}

/// `a, b, c, …`: the entries of [`vec_str`] without its brackets.
fn vec_items(v: ArrayView1<f32>, max: usize) -> String {
    let mut parts: Vec<String> = v.iter().take(max).map(|&x| num(x)).collect();
    if v.len() > max {
        parts.push("…".into());
    }
    parts.join(", ")
}

/// Σ of products written out term by term: "a×b + c×d + … = s".
fn products(lang: Lang, a: ArrayView1<f32>, b: ArrayView1<f32>, max_terms: usize) -> String {
    let mut terms: Vec<String> = a
        .iter()
        .zip(b.iter())
        .take(max_terms)
        .map(|(x, y)| format!("{}×{}", paren(*x), paren(*y)))
        .collect();
    if a.len() > max_terms {
        terms.push(trf(lang, Msg::TermsOf, &[&a.len()]));
    }
    terms.join(" + ")
}

fn paren(x: f32) -> String {
    if x < 0.0 {
        format!("({})", num(x))
    } else {
        num(x)
    }
}

/// Most keys the expanded arithmetic lists: a row with at most this many keys is listed in
/// full, a longer one by its heaviest keys.
const MAX_KEYS: usize = 16;

/// The expanded arithmetic of the selected row for the current step.
fn arithmetic_ui(app: &AttnApp, ui: &mut egui::Ui, trace: &Trace) {
    let lang = app.lang();
    let head = app.state.head.min(trace.heads.saturating_sub(1));
    let Some(ht) = trace.head_traces.get(head) else {
        return;
    };
    let i = app.state.row.min(trace.n_q().saturating_sub(1));
    let tok = &trace.tokens_q[i];
    // A row whose scores hold NaN or +∞ (a model's broken numbers) has no softmax; one whose
    // every key is masked has nothing to normalise. The kernels write both as zeros.
    let undefined = row_undefined(ht, i);
    let empty = !undefined && ht.empty_rows.get(i).copied().unwrap_or(false);
    if undefined && app.state.step >= Step::Scores {
        ui.colored_label(ui.visuals().warn_fg_color, tr(lang, Msg::RowUndefined));
    } else if empty && app.state.step >= Step::Mask {
        ui.colored_label(ui.visuals().warn_fg_color, tr(lang, Msg::RowEmpty));
    }
    // All keys of a short row; of a long one, the MAX_KEYS with the largest weights, in order.
    let (keys, masked_left_out) = listed_keys(ht, i, trace.n_k());
    // Say first which keys a long row lists, so that the gaps in k4, k6, k8 … are expected.
    // A row without a softmax has no largest weights: its first keys are listed, by index
    // (and at the softmax step none).
    let lists_keys = !(undefined || empty)
        && matches!(
            app.state.step,
            Step::Scores | Step::Scale | Step::Mask | Step::Softmax | Step::WeightedSum
        );
    if keys.len() < trace.n_k() && lists_keys {
        let mut line = format!(
            "{} {} / {}",
            tr(lang, Msg::TopKeys),
            keys.len(),
            trace.n_k()
        );
        if masked_left_out > 0 {
            line.push_str(&format!(
                "  ({} {masked_left_out})",
                tr(lang, Msg::MaskedLeftOut)
            ));
        }
        ui.label(RichText::new(line).weak());
    }
    match app.state.step {
        Step::Embed => mono(
            ui,
            format!("x{i} («{tok}») = {}", vec_str(trace.x_q.row(i), 8)),
        ),
        Step::Project => {
            let m = &trace.mechanism;
            let x = normed(m, &format!("x{i}"));
            let how = |name: &str| {
                if m.lab || m.identity_projections {
                    String::new()
                } else {
                    format!(" = {}", projection(m, &x, name))
                }
            };
            let q = ht.q_unrotated.as_ref().unwrap_or(&ht.q);
            let k = ht.k_unrotated.as_ref().unwrap_or(&ht.k);
            mono(ui, format!("q{i}{} = {}", how("Q"), vec_str(q.row(i), 8)));
            if i < trace.n_k() {
                mono(ui, format!("k{i}{} = {}", how("K"), vec_str(k.row(i), 8)));
                mono(
                    ui,
                    format!("v{i}{} = {}", how("V"), vec_str(ht.v.row(i), 8)),
                );
            }
        }
        Step::Rotate => rotation_lines(ui, lang, trace, ht, i),
        Step::Scores => {
            score_lines(ui, lang, trace, ht, i, &keys);
            if let Some(parts) = additive_parts(app, trace, head) {
                additive_lines(
                    ui,
                    ht,
                    &parts,
                    i,
                    app.state.col.min(trace.n_k().saturating_sub(1)),
                );
            }
        }
        Step::Scale => {
            for &j in &keys {
                mono(
                    ui,
                    format!(
                        "s′{i},{j} = {} × {} = {}",
                        num(ht.raw_scores[[i, j]]),
                        num(trace.scale),
                        num(ht.scaled[[i, j]])
                    ),
                );
            }
        }
        Step::Mask => {
            // Local-p's window is centred on a predicted position: give it before the keys
            // it lets through (the heatmap marks it on the selected row).
            if let (Some(c), Some(lp)) = (&ht.centers, &ht.local_p) {
                let u = match lp.source {
                    crate::core::spec::LocalPSource::Query => format!("q{i}"),
                    crate::core::spec::LocalPSource::Input => format!("x{i}"),
                };
                let p = c[i];
                let (lo, hi) = (
                    (p - lp.d as f32).ceil().max(0.0),
                    (p + lp.d as f32).floor().min(trace.n_k() as f32 - 1.0),
                );
                mono(
                    ui,
                    format!(
                        "p{i} = {}·sigmoid(v_pᵀ tanh(W_p {u})) = {};  |j − p{i}| ≤ {} → j = {lo}…{hi}",
                        trace.n_k(),
                        num(p),
                        lp.d
                    ),
                );
            }
            for &j in &keys {
                let line = if ht.allowed[[i, j]] {
                    format!(
                        "z{i},{j} = {} / {} = {}",
                        num(ht.scaled[[i, j]]),
                        num(trace.temperature),
                        num(ht.logits[[i, j]])
                    )
                } else {
                    format!(
                        "z{i},{j} = −∞   ({} «{}»)",
                        tr(lang, Msg::Masked),
                        trace.tokens_k[j]
                    )
                };
                mono(ui, line);
            }
        }
        Step::Softmax if undefined || empty => {
            // exp(z − max z) is NaN here (−∞ − (−∞), or NaN itself): say so once rather than
            // list "0 / 0 = 0" lines that look like arithmetic.
            let max = ht.logits.row(i).iter().fold(f32::NEG_INFINITY, |a, &z| {
                if z.is_nan() || a.is_nan() {
                    f32::NAN
                } else {
                    a.max(z)
                }
            });
            mono(ui, format!("{} z = {}", tr(lang, Msg::Max), num(max)));
            let why = if undefined {
                Msg::SoftmaxUndefined
            } else {
                Msg::SoftmaxNoKey
            };
            ui.label(tr(lang, why));
        }
        Step::Softmax => {
            let logits: Vec<f32> = ht.logits.row(i).to_vec();
            let (max, exps, sum) = softmax_parts(&logits);
            mono(ui, format!("{} z = {}", tr(lang, Msg::Max), num(max)));
            for &j in &keys {
                mono(
                    ui,
                    format!(
                        "e{j} = exp({} − {}) = {}",
                        num(logits[j]),
                        num(max),
                        num(exps[j])
                    ),
                );
            }
            mono(ui, format!("Σ e = {}", num(sum)));
            for &j in &keys {
                // The trace's weight, except for local-p where the trace holds it after the
                // Gaussian and the line shows the plain softmax first.
                let p = match &ht.centers {
                    None => ht.weights[[i, j]],
                    Some(_) if sum > 0.0 => exps[j] / sum,
                    Some(_) => 0.0,
                };
                let mut line = format!("p{i},{j} = {} / {} = {}", num(exps[j]), num(sum), num(p));
                if let Some(c) = &ht.centers {
                    line.push_str(&format!(
                        "  {} → {}",
                        tr(lang, Msg::Gaussian),
                        num(ht.weights[[i, j]])
                    ));
                    if j == 0 {
                        line.push_str(&format!(
                            "  ({} = {})",
                            tr(lang, Msg::LocalPCenter),
                            num(c[i])
                        ));
                    }
                }
                mono(ui, line);
            }
        }
        Step::WeightedSum => {
            // A masked key's weight is exactly 0 and adds nothing: said once, not a line of
            // zeros each (a causal row 0 would list every later key).
            let masked = keys.iter().filter(|&&j| !ht.allowed[[i, j]]).count();
            if masked > 0 && masked < keys.len() {
                ui.label(
                    RichText::new(format!("{} {masked}", tr(lang, Msg::MaskedLeftOut))).weak(),
                );
            }
            for &j in keys
                .iter()
                .filter(|&&j| ht.allowed[[i, j]] || masked == keys.len())
            {
                mono(
                    ui,
                    format!(
                        "{} × v{j} {} = {}",
                        num(ht.weights[[i, j]]),
                        vec_str(ht.v.row(j), 4),
                        vec_str((&ht.v.row(j) * ht.weights[[i, j]]).view(), 4)
                    ),
                );
            }
            mono(ui, format!("o{i} = Σ = {}", vec_str(ht.context.row(i), 8)));
        }
        Step::Concat => {
            // Each head's output for this query, then the row they make side by side: the
            // bars mark where one head's dₖ numbers end and the next's begin.
            let shown = trace.head_traces.iter().take(8);
            for (h, t) in shown.clone().enumerate() {
                // o₄⁽⁰⁾: token 4's output of head 0 (o⁽⁰⁾4 read as one symbol).
                let o = format!("o{}⁽{h}⁾", crate::model::tokenizer::subscript(i));
                mono(ui, format!("{o} = {}", vec_str(t.context.row(i), 8)));
            }
            let blocks: Vec<String> = shown.map(|t| vec_items(t.context.row(i), 4)).collect();
            let more = if trace.head_traces.len() > 8 {
                " | …"
            } else {
                ""
            };
            mono(ui, format!("concat{i} = [{}{more}]", blocks.join(" | ")));
        }
        Step::Output => mono(
            ui,
            format!(
                "{}{i} = concat{i}·W_O{} = {}",
                tr(lang, Msg::Output),
                bias(trace.mechanism.out_bias, "O"),
                vec_str(trace.output.row(i), 12)
            ),
        ),
    }
}

/// The keys whose arithmetic a row lists, and how many masked keys it leaves out: every key
/// of a short row (≤ [`MAX_KEYS`]); of a long row its visible keys, or, if those are still
/// too many, the [`MAX_KEYS`] heaviest of them, in key order.
fn listed_keys(ht: &HeadTrace, i: usize, n_k: usize) -> (Vec<usize>, usize) {
    if n_k <= MAX_KEYS {
        return ((0..n_k).collect(), 0);
    }
    let mut visible: Vec<usize> = (0..n_k).filter(|&j| ht.allowed[[i, j]]).collect();
    if visible.is_empty() {
        // Nothing to rank: the first keys, with their −∞ or NaN, show why.
        return ((0..MAX_KEYS).collect(), 0);
    }
    let masked = n_k - visible.len();
    if visible.len() > MAX_KEYS {
        visible.sort_by(|&a, &b| ht.weights[[i, b]].total_cmp(&ht.weights[[i, a]]));
        visible.truncate(MAX_KEYS);
        visible.sort_unstable();
    }
    (visible, masked)
}

/// Whether row `i`'s attention is undefined: a score, scaled score or logit that is NaN or
/// +∞ (−∞ is a mask and fine).
fn row_undefined(ht: &HeadTrace, i: usize) -> bool {
    [&ht.raw_scores, &ht.scaled, &ht.logits]
        .iter()
        .any(|m| m.row(i).iter().any(|&v| v.is_nan() || v == f32::INFINITY))
}

/// `x` with `digits` decimals, or as 1.234e-6 when those would show a non-zero number as
/// 0.00000 (the slowest RoPE pairs of θ = 10⁶ turn by about 10⁻⁶ per position).
fn small(x: f64, digits: usize) -> String {
    if x != 0.0 && x.abs() < 0.5 * 10f64.powi(-(digits as i32)) {
        format!("{x:.3e}")
    } else {
        format!("{x:.digits$}")
    }
}

/// The rotation of query i's fastest and slowest pair of dimensions, (m, m + dₖ/2), with
/// the angle the formula predicts (i·ωₘ, unscaled frequencies) and the angle measured from
/// the numbers before and after.
fn rotation_lines(ui: &mut egui::Ui, lang: Lang, trace: &Trace, ht: &HeadTrace, i: usize) {
    let (Some(q0), Some(rope)) = (&ht.q_unrotated, &trace.mechanism.rope) else {
        return;
    };
    let d = q0.ncols();
    let half = d / 2;
    if half == 0 {
        return;
    }
    for m in [0, half - 1] {
        let (a, b) = (q0[[i, m]], q0[[i, m + half]]);
        let (a2, b2) = (ht.q[[i, m]], ht.q[[i, m + half]]);
        let omega = (rope.theta as f64).powf(-2.0 * m as f64 / d as f64);
        let predicted = i as f64 * omega;
        let measured = (a as f64 * b2 as f64 - b as f64 * a2 as f64)
            .atan2(a as f64 * a2 as f64 + b as f64 * b2 as f64);
        // The measured angle lies in (−π, π]: say which one the formula's angle is, mod 2π.
        let tau = std::f64::consts::TAU;
        let wrapped = (predicted + std::f64::consts::PI).rem_euclid(tau) - std::f64::consts::PI;
        let modulo = if (wrapped - predicted).abs() > 1e-9 {
            format!(" ≡ {wrapped:.4} (mod 2π)")
        } else {
            String::new()
        };
        mono(
            ui,
            format!(
                "{} ({m}, {}): ω{m} = θ^(−2·{m}/{d}) = {};  {} = {i}·ω{m} = {} rad{modulo}",
                tr(lang, Msg::RotationPair),
                m + half,
                small(omega, 5),
                tr(lang, Msg::Angle),
                small(predicted, 4),
            ),
        );
        mono(
            ui,
            format!(
                "  ({}, {}) → ({}, {})   ({} {measured:.4} rad)",
                num(a),
                num(b),
                num(a2),
                num(b2),
                tr(lang, Msg::Angle)
            ),
        );
    }
}

fn score_lines(
    ui: &mut egui::Ui,
    lang: Lang,
    trace: &Trace,
    ht: &HeadTrace,
    i: usize,
    keys: &[usize],
) {
    for &j in keys {
        let s = num(ht.raw_scores[[i, j]]);
        let line = match trace.mechanism.score {
            ScoreKind::Dot | ScoreKind::ScaledDot => {
                format!(
                    "q{i}·k{j} = {} = {s}",
                    products(lang, ht.q.row(i), ht.k.row(j), 6)
                )
            }
            ScoreKind::General => format!("q{i}ᵀ W_a k{j} = {s}"),
            ScoreKind::Additive => format!("v_aᵀ tanh(W₁q{i} + W₂k{j}) = {s}"),
            ScoreKind::Cosine => {
                let dot: f32 = ht.q.row(i).dot(&ht.k.row(j));
                let nq = ht.q.row(i).dot(&ht.q.row(i)).sqrt();
                let nk = ht.k.row(j).dot(&ht.k.row(j)).sqrt();
                format!("{} / ({} × {}) = {s}", num(dot), num(nq), num(nk))
            }
        };
        mono(ui, format!("{line}   («{}»)", trace.tokens_k[j]));
    }
}

/// Bahdanau's score worked through for one key: W₁, W₂ and v_a of a toy head's additive
/// score, resolved from the settings (seeded or the spec's own), when they are what made
/// the trace on screen.
struct AdditiveParts {
    w1: ndarray::Array2<f32>,
    w2: ndarray::Array2<f32>,
    v: ndarray::Array1<f32>,
}

/// The additive score's parameters of head `head`, if the trace is a toy or typed one with
/// that score and the settings still give its numbers (a recomputed score equals the trace's
/// for the first query and key, so an edit not yet computed shows nothing rather than other
/// numbers).
fn additive_parts(app: &AttnApp, trace: &Trace, head: usize) -> Option<AdditiveParts> {
    let m = &trace.mechanism;
    if m.score != ScoreKind::Additive || m.lab || matches!(m.source, Source::Model { .. }) {
        return None;
    }
    let spec = app.state.to_spec();
    let cfg = crate::core::pipeline::head_config(&spec, head, trace.heads, trace.d_k, trace.n_k())
        .ok()?;
    let crate::core::attend::Score::Additive { w1, w2, v } = cfg.score else {
        return None;
    };
    let ht = trace.head_traces.get(head)?;
    if w1.ncols() != ht.q.ncols() || w2.ncols() != ht.k.ncols() || ht.q.nrows() == 0 {
        return None;
    }
    let parts = AdditiveParts { w1, w2, v };
    let (_, _, s) = additive_terms(&parts, ht, 0, 0);
    ((s - ht.raw_scores[[0, 0]]).abs() <= 1e-4 * (1.0 + s.abs())).then_some(parts)
}

/// W₁qᵢ, W₂kⱼ and the score v_aᵀ tanh(W₁qᵢ + W₂kⱼ).
fn additive_terms(
    p: &AdditiveParts,
    ht: &HeadTrace,
    i: usize,
    j: usize,
) -> (ndarray::Array1<f32>, ndarray::Array1<f32>, f32) {
    let a = p.w1.dot(&ht.q.row(i));
    let b = p.w2.dot(&ht.k.row(j));
    let s = (&a + &b).mapv(f32::tanh).dot(&p.v);
    (a, b, s)
}

/// The clicked key's additive score, step by step.
fn additive_lines(ui: &mut egui::Ui, ht: &HeadTrace, p: &AdditiveParts, i: usize, j: usize) {
    let (a, b, s) = additive_terms(p, ht, i, j);
    let t = (&a + &b).mapv(f32::tanh);
    ui.add_space(4.0);
    mono(ui, format!("W₁q{i} = {}", vec_str(a.view(), 6)));
    mono(ui, format!("W₂k{j} = {}", vec_str(b.view(), 6)));
    mono(
        ui,
        format!("tanh(W₁q{i} + W₂k{j}) = {}", vec_str(t.view(), 6)),
    );
    mono(ui, format!("v_a = {}", vec_str(p.v.view(), 6)));
    mono(ui, format!("s{i},{j} = v_aᵀ tanh(…) = {}", num(s)));
}

/// One line of the arithmetic, in the step panel's monospace.
fn mono(ui: &mut egui::Ui, s: String) {
    ui.label(RichText::new(s).monospace().size(13.0));
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_table_shows_the_rows_around_the_selected_query() {
        use super::shown_rows;
        assert_eq!(shown_rows(13, 12), 0..13, "a 13-token sentence whole");
        assert_eq!(shown_rows(100, 3), 0..32);
        assert_eq!(shown_rows(100, 50), 34..66);
        assert_eq!(shown_rows(100, 99), 68..100);
    }

    #[test]
    fn a_tiny_frequency_is_not_printed_as_zero() {
        assert_eq!(super::small(1.1e-6, 5), "1.100e-6");
        assert_eq!(super::small(0.25, 5), "0.25000");
        assert_eq!(super::small(0.0, 4), "0.0000");
        assert_eq!(super::small(-2e-7, 4), "-2.000e-7");
    }
}
