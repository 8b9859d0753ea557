//! The app driven like a user would, through egui_kittest and AccessKit labels: no display,
//! no GPU. Every number checked here is compared with the core's own trace.

#![cfg(feature = "gui")]

use attnscope::app::AttnApp;
use attnscope::app::i18n::Lang;
use attnscope::app::state::State;
use attnscope::core::attend::softmax_parts;
use attnscope::core::{Step, compute};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn harness(state: State) -> Harness<'static, AttnApp> {
    let mut h = Harness::builder()
        .with_size([1700.0, 1100.0])
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), AttnApp::new(state));
    settle(&mut h);
    h
}

/// Steps frames until the background computation has landed.
fn settle(h: &mut Harness<'static, AttnApp>) {
    for _ in 0..2000 {
        h.step();
        if !h.state().busy() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    h.step();
    h.step();
    assert!(
        !h.state().busy(),
        "computation did not finish: text {:?}, error {:?}, trace {:?}",
        h.state().state.text_q,
        h.state().error,
        h.state().trace.as_ref().map(|t| t.tokens_q.clone())
    );
}

#[test]
fn first_frame_shows_the_default_sentence_computed() {
    let h = harness(State::default());
    let trace = h.state().trace.clone().expect("computed at start");
    assert_eq!(trace.tokens_q[1], "animal");
    assert_eq!(h.state().state.step, Step::Embed);
    h.get_by_label("1 Embed");
    assert!(
        h.query_all_by_label("animal").count() >= 1,
        "token chips are shown"
    );
}

#[test]
fn typing_a_chinese_sentence_recomputes_it() {
    let mut state = State::default();
    state.text_q.clear();
    let mut h = harness(state);
    // Empty text: a message, not a crash.
    assert!(
        h.query_by_label_contains("the sequence is empty").is_some(),
        "{:?} / {:#?}",
        h.state().error,
        h.root()
    );
    h.get_by_label("Sequence (queries)").focus();
    h.step();
    h.get_by_label("Sequence (queries)")
        .type_text("我爱北京天安门");
    settle(&mut h);
    let trace = h.state().trace.clone().unwrap();
    assert_eq!(trace.tokens_q.len(), 7, "{:?}", trace.tokens_q);
    assert!(h.query_all_by_label("天").count() >= 1);
}

#[test]
fn stepping_to_softmax_shows_the_trace_numbers_for_the_clicked_row() {
    let mut h = harness(State::default());
    for _ in 0..5 {
        h.get_by_label("Next ▶").click();
        h.step();
    }
    h.step();
    assert_eq!(h.state().state.step, Step::Softmax);
    h.get_by_label("q3 cross").click();
    h.step();
    h.step();
    assert_eq!(h.state().state.row, 3);
    // The numbers on screen are the core's: recompute independently from the same spec.
    let trace = compute(&h.state().state.to_spec()).unwrap();
    let head = &trace.head_traces[0];
    let logits = head.logits.row(3).to_vec();
    let (_, exps, sum) = softmax_parts(&logits);
    let line = format!(
        "p3,1 = {:.4} / {:.4} = {:.4}",
        exps[1],
        sum,
        head.weights[[3, 1]]
    );
    h.get_by_label(&line);
}

#[test]
fn arrow_keys_and_space_drive_the_steps() {
    let mut h = harness(State::default());
    h.key_press(eframe::egui::Key::ArrowRight);
    h.step();
    h.step();
    assert_eq!(h.state().state.step, Step::Project);
    h.key_press(eframe::egui::Key::ArrowLeft);
    h.step();
    h.step();
    assert_eq!(h.state().state.step, Step::Embed);
}

#[test]
fn switching_mechanism_and_score_recomputes() {
    let mut h = harness(State::default());
    h.get_by_label("Cross").click();
    settle(&mut h);
    let trace = h.state().trace.clone().unwrap();
    assert!(!trace.self_attention);
    assert_eq!(trace.tokens_k[0], "这");
    h.get_by_label("score").click();
    h.run();
    h.get_by_label("cosine  q·k/(‖q‖‖k‖)").click();
    settle(&mut h);
    let trace = h.state().trace.clone().unwrap();
    let raw = &trace.head_traces[0].raw_scores;
    assert!(
        raw.iter().all(|s| s.abs() <= 1.0 + 1e-5),
        "cosine scores lie in [-1, 1]"
    );
    assert_eq!(h.state().state.score, attnscope::core::ScoreKind::Cosine);
}

#[test]
fn switching_language_translates_the_ui() {
    let mut h = harness(State::default());
    h.get_by_label("Language").click();
    h.run();
    h.get_by_label("简体中文").click();
    h.step();
    h.step();
    assert_eq!(h.state().state.lang, Lang::Zh);
    h.get_by_label("步骤");
    h.get_by_label("下一步 ▶");
}

#[test]
fn exporting_a_png_writes_a_decodable_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heat.png");
    let mut h = harness(State::default());
    h.state_mut().dialog_override = Some(path.clone());
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Export heatmap as PNG…").click();
    h.step();
    let img = image::open(&path).expect("a PNG was written");
    let n = h.state().trace.as_ref().unwrap().n_q() as u32;
    assert!(img.height() >= n && img.width() > n);
    // An unwritable path is reported, and nothing else changes.
    h.state_mut().dialog_override = Some(dir.path().join("missing/dir/heat.png"));
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Export heatmap as PNG…").click();
    h.step();
    let notice = h.state().notice.clone().unwrap();
    assert!(
        notice.is_error && notice.text.contains("cannot write"),
        "{notice:?}"
    );
}

#[test]
fn sessions_round_trip_and_a_corrupt_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut state = State::default();
    state.text_q = "会话 保存 测试".into();
    state.heads = 4;
    state.step = Step::Mask;
    let h = harness(state.clone());
    h.state().save_session_to(&path).unwrap();
    let mut other = AttnApp::new(State::default());
    other.open_session_from(&path).unwrap();
    assert_eq!(other.state.text_q, state.text_q);
    assert_eq!(other.state.step, Step::Mask);
    std::fs::write(&path, "{ not json").unwrap();
    let before = other.state.clone();
    assert!(other.open_session_from(&path).is_err());
    assert_eq!(other.state, before);
}

#[test]
fn every_lesson_loads_and_computes_in_the_app() {
    for i in 0..attnscope::app::LESSONS.len() {
        let mut h = harness(State::default());
        h.state_mut().push(attnscope::app::Command::LoadLesson(i));
        h.step();
        settle(&mut h);
        assert!(
            h.state().error.is_none(),
            "lesson {i}: {:?}",
            h.state().error
        );
        assert!(h.state().trace.is_some());
    }
}

#[test]
fn every_message_renders_with_the_embedded_fonts() {
    // egui panics on a glyph no installed font has, so drawing every message in both
    // languages, proportional and monospace, proves there is no tofu anywhere.
    use attnscope::app::i18n::Msg;
    let mut h = Harness::new_ui(|ui| {
        attnscope::app::install_fonts(ui.ctx());
        for &m in Msg::ALL {
            for lang in [Lang::En, Lang::Zh] {
                ui.label(m.get(lang));
                ui.label(eframe::egui::RichText::new(m.get(lang)).monospace());
            }
        }
        ui.label("qᵢ·kⱼ/√dₖ ‖q‖ Σⱼ pᵢⱼ vⱼ O⁽ʰ⁻¹⁾ s′ −∞ ∨ ≤ ← → ◀ ▶ ■ 我爱北京天安门");
    });
    h.run();
}

#[test]
fn a_sample_model_opens_from_the_menu_and_every_model_view_draws() {
    let mut h = harness(State::default());
    h.get_by_label("Model").click();
    h.run();
    h.get_by_label("tiny-gpt2-induction").click();
    h.step();
    for _ in 0..5 {
        settle(&mut h);
    }
    let app = h.state();
    assert!(app.model_error.is_none(), "{:?}", app.model_error);
    let out = app.model_out.clone().expect("the model ran on the text");
    assert_eq!(out.run.layers.len(), 2);
    let trace = app.trace.clone().expect("the focused layer is a trace");
    assert_eq!(trace.heads, 4);
    // The heatmap of layer 0 head 0 is the model's own probabilities.
    assert_eq!(
        trace.head_traces[0].weights,
        out.run.layers[0].heads[0].probs
    );
    for view in [
        "Layers × heads",
        "Attention lab",
        "Head statistics",
        "Rollout",
        "Neuron view",
        "Heatmap",
        "Token lines",
    ] {
        h.get_by_label(view).click();
        h.step();
        settle(&mut h);
    }
    assert!(
        h.state().lab_trace.is_some(),
        "the lab re-ran the focused head"
    );
    // A broken model folder: a message, and the previous model stays usable.
    let tmp = tempfile::tempdir().unwrap();
    h.state_mut().push(attnscope::app::Command::OpenModel(Some(
        tmp.path().to_path_buf(),
    )));
    h.step();
    for _ in 0..3 {
        settle(&mut h);
    }
    let err = h.state().model_error.clone().unwrap_or_default();
    assert!(err.contains("has no config.json"), "{err}");
    assert_eq!(
        h.state().model.as_ref().unwrap().model.name,
        "tiny-gpt2-induction"
    );
    assert!(h.state().model_out.is_some() && h.state().trace.is_some());
}
