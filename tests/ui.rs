//! The app driven like a user would, through egui_kittest and AccessKit labels: no display,
//! no GPU. Every number checked here is compared with the core's own trace.

#![cfg(feature = "gui")]

use attnscope::app::heatmap::TexKey;
use attnscope::app::i18n::Lang;
use attnscope::app::state::{EmbeddingMode, State};
use attnscope::app::{AttnApp, ExportKind};
use attnscope::core::attend::softmax_parts;
use attnscope::core::{Step, compute};
use attnscope::export::matrix::{MatrixKind, WeightsRange};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn harness(state: State) -> Harness<'static, AttnApp> {
    harness_sized(state, [1700.0, 1100.0])
}

/// [`harness`] in a window of `size` logical pixels.
fn harness_sized(state: State, size: [f32; 2]) -> Harness<'static, AttnApp> {
    let mut h = Harness::builder()
        .with_size(size)
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), AttnApp::new(state));
    settle(&mut h);
    h
}

/// The `n` numbers of a matrix CSV's last row (its label, first, may hold commas).
fn last_row_numbers(csv: &str, n: usize) -> Vec<f32> {
    let line = csv.lines().last().unwrap();
    let mut v: Vec<f32> = line
        .rsplitn(n + 1, ',')
        .take(n)
        .map(|c| c.parse().unwrap())
        .collect();
    v.reverse();
    v
}

/// Steps frames until the background computation has landed and three frames in a row
/// started nothing new (a frame may start work, e.g. a guess's clean run).
fn settle(h: &mut Harness<'static, AttnApp>) {
    let mut idle = 0;
    for _ in 0..2000 {
        h.step();
        if h.state().busy() {
            idle = 0;
            std::thread::sleep(std::time::Duration::from_millis(2));
        } else {
            idle += 1;
            if idle >= 3 {
                break;
            }
        }
    }
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
    // A clicker's presses come faster than frames: three in one frame are three steps, two
    // ↓ two rows.
    for _ in 0..3 {
        h.key_press(eframe::egui::Key::ArrowRight);
    }
    h.key_press(eframe::egui::Key::ArrowDown);
    h.key_press(eframe::egui::Key::ArrowDown);
    h.step();
    h.step();
    assert_eq!(h.state().state.step, Step::Scale);
    assert_eq!(h.state().state.row, 2);
}

#[test]
fn keys_walk_rows_heads_views_and_jump_to_the_last_step() {
    // A presenter at a projector drives the lesson from the keyboard alone.
    let mut h = harness(State {
        heads: 2,
        ..State::default()
    });
    let press = |h: &mut Harness<'static, AttnApp>, k: egui::Key| {
        h.key_press(k);
        h.step();
        h.step();
    };
    press(&mut h, egui::Key::End);
    assert_eq!(h.state().state.step, *Step::sequence(false).last().unwrap());
    press(&mut h, egui::Key::Home);
    assert_eq!(h.state().state.step, Step::Embed);
    let n = h.state().trace.as_ref().unwrap().n_q();
    assert_eq!(h.state().state.row, 0);
    press(&mut h, egui::Key::ArrowDown);
    press(&mut h, egui::Key::ArrowDown);
    assert_eq!(h.state().state.row, 2);
    press(&mut h, egui::Key::ArrowUp);
    assert_eq!(h.state().state.row, 1);
    for _ in 0..n + 2 {
        press(&mut h, egui::Key::ArrowDown);
    }
    assert_eq!(h.state().state.row, n - 1, "the last row, not past it");
    press(&mut h, egui::Key::CloseBracket);
    assert_eq!(h.state().state.head, 1);
    press(&mut h, egui::Key::CloseBracket);
    assert_eq!(h.state().state.head, 1, "no head 2 of 2");
    press(&mut h, egui::Key::OpenBracket);
    assert_eq!(h.state().state.head, 0);
    // 2 is the second tab, whatever it is called.
    press(&mut h, egui::Key::Num2);
    assert_ne!(h.state().state.view, attnscope::app::state::View::Heatmap);
    press(&mut h, egui::Key::Num1);
    assert_eq!(h.state().state.view, attnscope::app::state::View::Heatmap);
    // Typing a digit into the text box types it: the view stays.
    h.get_by_label("Sequence (queries)").focus();
    h.step();
    press(&mut h, egui::Key::Num2);
    assert_eq!(h.state().state.view, attnscope::app::state::View::Heatmap);
}

#[test]
fn page_keys_walk_a_models_layers() {
    let gpt2 =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-gpt2-induction");
    let mut h = harness(State {
        embedding: EmbeddingMode::Model,
        model_dir: Some(gpt2),
        ..State::default()
    });
    for _ in 0..5 {
        settle(&mut h);
    }
    assert_eq!(h.state().state.layer, 0);
    // A causal model opens on its last query, the one that sees every token.
    let n = h.state().model_out.as_ref().unwrap().run.n();
    assert_eq!(h.state().state.row, n - 1);
    for (key, layer) in [
        (egui::Key::PageDown, 1),
        (egui::Key::PageDown, 1),
        (egui::Key::PageUp, 0),
    ] {
        h.key_press(key);
        settle(&mut h);
        assert_eq!(h.state().state.layer, layer, "after {key:?}");
    }
    // Heads go up to the model's four (0–3).
    for _ in 0..6 {
        h.key_press(egui::Key::CloseBracket);
        h.step();
    }
    settle(&mut h);
    assert_eq!(h.state().state.head, 3);
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
fn a_fixed_weights_range_shows_a_hot_softmax_fading() {
    // A teacher raises the temperature to show the softmax flattening. On the default range
    // the brightest colour is each matrix's largest weight, so the picture barely changes;
    // on 0 … 1 the same weight is the same colour whatever the temperature.
    let mut h = harness(State {
        temperature: 4.0,
        step: Step::Softmax,
        ..State::default()
    });
    let key = |h: &Harness<'static, AttnApp>| TexKey::Head {
        trace: h.state().trace_generation(),
        head: 0,
        kind: MatrixKind::Weights,
    };
    let largest = h.state().trace.as_ref().unwrap().head_traces[0]
        .weights
        .fold(0.0f32, |a, &w| a.max(w));
    assert!(
        largest < 0.9,
        "τ = 4 should flatten the rows, largest {largest}"
    );
    let r = h.state().textures().range_drawn(key(&h), WeightsRange::Max);
    assert_eq!(r.map(|r| (r.lo, r.hi)), Some((0.0, largest)));
    h.get_by_label("0 … 1").click();
    h.step();
    h.step();
    assert_eq!(h.state().state.weights_range, WeightsRange::Unit);
    let r = h
        .state()
        .textures()
        .range_drawn(key(&h), WeightsRange::Unit);
    assert_eq!(r.map(|r| (r.lo, r.hi)), Some((0.0, 1.0)));
    // The exported picture keeps what is on screen: its colour bar ends at 1.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hot.svg");
    h.state().export_heatmap_to(&path, ExportKind::Svg).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(
        svg.contains(">1.00</text>"),
        "the legend should end at 1.00:\n{svg}"
    );
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
    h.get_by_label("Export heatmap as PNG… Ctrl+E").click();
    h.step();
    let img = image::open(&path).expect("a PNG was written");
    let n = h.state().trace.as_ref().unwrap().n_q() as u32;
    assert!(img.height() >= n && img.width() > n);
    // An unwritable path is reported, and nothing else changes.
    h.state_mut().dialog_override = Some(dir.path().join("missing/dir/heat.png"));
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Export heatmap as PNG… Ctrl+E").click();
    h.step();
    let notice = h.state().notice.clone().unwrap();
    assert!(
        notice.is_error && notice.text(Lang::En).contains("cannot write"),
        "{notice:?}"
    );
    h.run();
    h.get_by_label_contains("Could not save: cannot write");
    // The notice keeps what failed, not a sentence: switching the language re-says it.
    h.get_by_label("Language").click();
    h.run();
    h.get_by_label("简体中文").click();
    h.run();
    h.get_by_label_contains("保存失败： 无法写入");
    assert!(h.query_by_label_contains("cannot write").is_none());
}

#[test]
fn sessions_round_trip_and_a_corrupt_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let state = State {
        text_q: "会话 保存 测试".into(),
        heads: 4,
        step: Step::Mask,
        ..State::default()
    };
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
fn a_spec_the_cli_refuses_is_refused_whole_and_a_large_one_says_what_it_changed() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, json: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, json).unwrap();
        p
    };
    let mut app = AttnApp::new(State::default());
    // Each of these makes `attnscope compute` exit 2; the app used to take them with
    // d_model 9, τ 0.05, a row cut short.
    for (name, json, why) in [
        (
            "heads.json",
            r#"{"target":{"text":"the cat sat"},"d_model":8,"heads":3}"#,
            "not divisible by heads = 3",
        ),
        (
            "tau.json",
            r#"{"target":{"text":"the cat sat"},"temperature":0}"#,
            "τ must be a finite number > 0",
        ),
        (
            "ragged.json",
            r#"{"target":{"vectors":[[1,0],[0,1,2]]},"projections":"identity"}"#,
            "row 1 has the wrong shape",
        ),
    ] {
        let before = app.state.clone();
        let err = app.open_spec_from(&write(name, json)).unwrap_err();
        assert!(format!("{err:#}").contains(why), "{name}: {err:#}");
        assert_eq!(app.state, before, "{name} changed the state");
    }
    // Within the core's caps but beyond the controls': loaded, and the change is named.
    let big = write(
        "big.json",
        r#"{"target":{"text":"the cat sat"},"d_model":1024,"heads":32}"#,
    );
    let changed = app.open_spec_from(&big).unwrap();
    assert_eq!(changed, ["heads 32 → 16", "d_model 1024 → 512"]);
    assert_eq!((app.state.heads, app.state.d_model), (16, 512));
    // A spec the core accepts but the controls' range would break: 768 columns cut to 512
    // under 12 heads. Refused, naming the change, and nothing changes.
    let row = vec!["0.5"; 768].join(",");
    let wide = write(
        "wide.json",
        &format!(
            r#"{{"target":{{"vectors":[[{row}],[{row}]]}},"projections":"identity","heads":12}}"#
        ),
    );
    let before = app.state.clone();
    let err = app.open_spec_from(&wide).unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("controls cannot show this spec (target.vectors 2 × 768 → 2 × 512)"),
        "{err}"
    );
    assert_eq!(app.state, before);
    // From the command line a bad spec no longer stops the window: it opens on the default
    // sentence with the reason, in the language asked for.
    let mut app = AttnApp::new(State {
        text_q: "kept as it was".into(),
        ..State::default()
    });
    let args = attnscope::cli::GuiArgs {
        spec: Some(write("bad.json", "{ not json")),
        lang: Some(Lang::Zh),
        ..Default::default()
    };
    app.apply_args(&args).unwrap();
    let notice = app.notice.as_ref().expect("a notice says why");
    assert!(notice.is_error);
    let text = notice.text(Lang::Zh);
    assert!(
        text.contains("bad.json") && text.contains("打开失败"),
        "{text}"
    );
    assert_eq!(app.state.text_q, "kept as it was");
}

/// Cleared text shows no heatmap of the sentence before it and exports nothing: the CSV
/// export had written "The animal …" rows under "Type a sentence to begin". "Real model"
/// picked with no model open shows no toy numbers either.
#[test]
fn an_empty_sequence_or_a_missing_model_shows_and_exports_nothing_stale() {
    let mut h = harness(State::default());
    assert!(h.state().shown_trace().is_some());
    h.state_mut().state.text_q = String::new();
    settle(&mut h);
    h.get_by_label("Type a sentence to begin: the sequence is empty.");
    assert!(h.state().shown_trace().is_none());
    assert!(
        h.query_by_label("animal").is_none(),
        "no old token on screen"
    );
    let dir = tempfile::tempdir().unwrap();
    for kind in [ExportKind::Csv, ExportKind::Json] {
        let path = dir.path().join("out");
        let err = h.state().export_trace_to(&path, kind).unwrap_err();
        assert!(format!("{err:#}").contains("empty"), "{err:#}");
        assert!(!path.exists());
    }
    let err = h
        .state()
        .export_heatmap_to(&dir.path().join("h.png"), ExportKind::Png)
        .unwrap_err();
    assert!(format!("{err:#}").contains("empty"), "{err:#}");
    // A sentence again: back on screen.
    h.state_mut().state.text_q = "a b c".into();
    settle(&mut h);
    assert_eq!(h.state().shown_trace().unwrap().n_q(), 3);
    // "Real model" with none open: the toy's trace is not shown as the model's.
    h.state_mut().state.embedding = EmbeddingMode::Model;
    settle(&mut h);
    assert!(h.state().shown_trace().is_none());
    assert!(h.query_by_label("q1 b").is_none(), "no toy step rows");
    let err = h
        .state()
        .export_trace_to(&dir.path().join("t.csv"), ExportKind::Csv)
        .unwrap_err();
    assert!(format!("{err:#}").contains("No model"), "{err:#}");
}

/// The store eframe keeps the remembered session in, in memory.
#[derive(Default)]
struct Store(std::collections::HashMap<String, String>);

impl eframe::Storage for Store {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// `--fresh` starts on the defaults and leaves the remembered session for the next start: it
/// had written the defaults over a student's sentence and settings at quit. The window says
/// so, and a normal start is still remembered.
#[test]
fn a_fresh_start_leaves_the_remembered_session_alone() {
    let mut app = AttnApp::new(State::default());
    let args = attnscope::cli::GuiArgs {
        fresh: true,
        ..Default::default()
    };
    app.apply_args(&args).unwrap();
    let mut store = Store::default();
    eframe::App::save(&mut app, &mut store);
    assert!(
        !store.0.contains_key(eframe::APP_KEY),
        "nothing written over it"
    );
    let notice = app.notice.as_ref().expect("the window says so");
    assert!(
        notice.text(Lang::En).contains("not remembered"),
        "{}",
        notice.text(Lang::En)
    );

    let mut app = AttnApp::new(State::default());
    app.apply_args(&attnscope::cli::GuiArgs::default()).unwrap();
    eframe::App::save(&mut app, &mut store);
    assert!(store.0.contains_key(eframe::APP_KEY));
}

/// A saved session opens from the command line (`--session`, the same option as `--spec`):
/// where no file dialog opens, that and a drop are the ways back to saved work.
#[test]
fn a_saved_session_opens_from_the_command_line() {
    let mut saved = AttnApp::new(State {
        text_q: "我 爱 北京".into(),
        heads: 4,
        temperature: 0.5,
        ..State::default()
    });
    saved.state.sanitize();
    let path =
        std::env::temp_dir().join(format!("attnscope-cli-session-{}.json", std::process::id()));
    saved.save_session_to(&path).unwrap();
    let mut app = AttnApp::new(State::default());
    let args = attnscope::cli::GuiArgs {
        spec: Some(path.clone()),
        ..Default::default()
    };
    app.apply_args(&args).unwrap();
    std::fs::remove_file(&path).ok();
    let notice = app.notice.as_ref().expect("says what it opened");
    assert!(!notice.is_error, "{}", notice.text(Lang::En));
    assert_eq!(app.state.text_q, "我 爱 北京");
    assert_eq!((app.state.heads, app.state.temperature), (4, 0.5));
}

/// A head count that does not divide d_model widens it, and says so: every number changes
/// with it, which a teacher must not discover from the matrices.
#[test]
fn heads_that_widen_d_model_say_so() {
    let mut app = AttnApp::new(State::default());
    assert_eq!(app.state.d_model, 16);
    let args = attnscope::cli::GuiArgs {
        heads: Some(3),
        ..Default::default()
    };
    app.apply_args(&args).unwrap();
    assert_eq!((app.state.heads, app.state.d_model), (3, 18));
    let notice = app.notice.as_ref().expect("a notice says d_model changed");
    assert!(!notice.is_error);
    let text = notice.text(Lang::En);
    assert!(text.starts_with("d_model 16 → 18: 3 heads"), "{text}");
    // Four heads divide 16: nothing to say.
    let mut app = AttnApp::new(State::default());
    let args = attnscope::cli::GuiArgs {
        heads: Some(4),
        ..Default::default()
    };
    app.apply_args(&args).unwrap();
    assert_eq!(app.state.d_model, 16);
    assert!(app.notice.is_none());
}

/// Heads 2 → 3 → 2 gives back the numbers of before: the widened d_model (16 → 18) had
/// stayed at 18, so a student's hand-checked numbers no longer came out. A width typed while
/// widened is the new one set.
#[test]
fn heads_back_to_a_divisor_bring_back_the_width_set() {
    let mut app = AttnApp::new(State::default());
    let before = compute(&app.state.to_spec()).unwrap();
    app.state.heads = 3;
    app.state.fit_d_model_to_heads();
    assert_eq!(app.state.d_model, 18);
    // The command line's --heads, as the slider does it, and says so.
    let args = attnscope::cli::GuiArgs {
        heads: Some(2),
        ..Default::default()
    };
    app.apply_args(&args).unwrap();
    assert_eq!(app.state.d_model, 16);
    let text = app.notice.as_ref().unwrap().text(Lang::En);
    assert!(
        text.starts_with("d_model 18 → 16: back to the width you set"),
        "{text}"
    );
    let again = compute(&app.state.to_spec()).unwrap();
    assert_eq!(again.head_traces[0].weights, before.head_traces[0].weights);
    // 5 heads over 16: 20; 4 heads divide the 16 set: 16 again.
    for (heads, d) in [(5, 20), (4, 16), (3, 18)] {
        app.state.heads = heads;
        app.state.fit_d_model_to_heads();
        assert_eq!(app.state.d_model, d, "{heads} heads");
    }
    // Typed while widened (3 heads): 20 is the width set, shown as 21.
    app.state.d_model = 20;
    app.state.set_d_model();
    assert_eq!(app.state.d_model, 21);
    app.state.heads = 2;
    app.state.fit_d_model_to_heads();
    assert_eq!(app.state.d_model, 20);
}

/// "Predict first" keeps the weights off the heatmap at steps 1–2, where it would show
/// them ahead of their step, and gives them back from the scores on.
#[test]
fn predict_first_hides_the_weights_before_their_step() {
    let mut h = harness(State {
        hide_ahead: true,
        step: Step::Embed,
        ..State::default()
    });
    assert!(
        h.query_by_label_contains("Predict first: which words")
            .is_some()
    );
    h.get_by_label("Next ▶").click();
    settle(&mut h);
    assert_eq!(h.state().state.step, Step::Project);
    assert!(
        h.query_by_label_contains("Predict first: which words")
            .is_some()
    );
    h.get_by_label("predict first").click();
    settle(&mut h);
    assert!(!h.state().state.hide_ahead);
    assert!(
        h.query_by_label_contains("Predict first: which words")
            .is_none()
    );
    let mut h = harness(State {
        hide_ahead: true,
        step: Step::Softmax,
        ..State::default()
    });
    assert!(
        h.query_by_label_contains("Predict first: which words")
            .is_none()
    );
    h.step();
    // Every view that shows the weights or the scores hides them too, not only the heatmap.
    use attnscope::app::state::View;
    for view in [View::Grid, View::Lines, View::Plots, View::Neuron] {
        let mut h = harness(State {
            hide_ahead: true,
            step: Step::Project,
            view,
            ..State::default()
        });
        assert!(
            h.query_by_label_contains("Predict first: which words")
                .is_some(),
            "{view:?}"
        );
        h.state_mut().state.step = Step::Scores;
        h.step();
        h.step();
        assert!(
            h.query_by_label_contains("Predict first: which words")
                .is_none(),
            "{view:?}"
        );
    }
}

/// Bahdanau's score is worked through for the clicked key at step 3: W₁qᵢ, W₂kⱼ, the tanh
/// and v_a, ending in the trace's own score.
#[test]
fn the_additive_score_is_worked_through() {
    let h = harness(State {
        score: attnscope::core::ScoreKind::Additive,
        step: Step::Scores,
        ..State::default()
    });
    let (row, col) = (h.state().state.row, h.state().state.col);
    let s = h.state().trace.as_ref().unwrap().head_traces[0].raw_scores[[row, col]];
    let want = format!("s{row},{col} = v_aᵀ tanh(…) = {s:.4}");
    assert!(h.query_by_label_contains(&want).is_some(), "{want}");
    assert!(
        h.query_by_label_contains(&format!("W₁q{row} = ["))
            .is_some()
    );
    // Another score has no such lines.
    let h = harness(State {
        step: Step::Scores,
        ..State::default()
    });
    assert!(h.query_by_label_contains("v_aᵀ tanh(…)").is_none());
}

/// The neuron view's sentence ends in the number the softmax sees: at τ ≠ 1 that is the
/// scaled score divided by τ (the trace's logit), not the scaled score; a masked key's is
/// −∞.
#[test]
fn the_neuron_view_gives_the_score_the_softmax_sees() {
    let mut h = harness(State {
        temperature: 0.5,
        view: attnscope::app::state::View::Neuron,
        ..State::default()
    });
    let (row, col) = (h.state().state.row, h.state().state.col);
    let t = h.state().trace.as_ref().unwrap();
    let (scaled, logit) = (
        t.head_traces[0].scaled[[row, col]],
        t.head_traces[0].logits[[row, col]],
    );
    assert!((logit - scaled / 0.5).abs() < 1e-4, "{logit} {scaled}");
    let want = format!("÷ τ = 0.5 gives {logit:.4}, the score the softmax sees");
    assert!(h.query_by_label_contains(&want).is_some(), "{want}");
    // A causal mask hides the keys after the query: row 0's last key.
    h.state_mut().state.temperature = 1.0;
    h.state_mut().state.causal = true;
    h.state_mut().state.row = 0;
    h.state_mut().state.col = 5;
    settle(&mut h);
    assert!(
        h.query_by_label_contains("this key is masked, so the softmax sees −∞")
            .is_some()
    );
}

/// `--row 50 --head 7` on an 11-token, 2-head input shows the last row and head and says
/// so, instead of another row without a word.
#[test]
fn a_row_or_head_the_input_lacks_is_said() {
    let mut app = AttnApp::new(State::default());
    let args = attnscope::cli::GuiArgs {
        row: Some(50),
        head: Some(7),
        ..Default::default()
    };
    app.apply_args(&args).unwrap();
    let mut h = Harness::builder()
        .with_size([1700.0, 1100.0])
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app);
    settle(&mut h);
    let app = h.state();
    assert_eq!((app.state.row, app.state.head), (10, 1));
    let text = app.notice.as_ref().expect("a notice").text(Lang::En);
    assert_eq!(
        text,
        "Query 50 of head 7 is not in this input (11 queries × 2 heads): showing query 10 of head 1."
    );
}

/// A file dropped from the desktop, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Drops `path` on the window and waits for what it opens.
fn drop_file(h: &mut Harness<'static, AttnApp>, path: &std::path::Path) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    h.step();
    for _ in 0..3 {
        settle(h);
    }
}

#[test]
fn shortcuts_save_and_a_dropped_file_opens_as_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.json");
    let mut h = harness(State {
        text_q: "快捷键 保存 会话".into(),
        ..State::default()
    });
    // The File menu shows the shortcut; Ctrl+S saves the session without the menu.
    h.get_by_label("File").click();
    h.run();
    h.get_by_label("Save session… Ctrl+S");
    h.key_press(egui::Key::Escape);
    h.run();
    // Help ▸ Keyboard and mouse lists the same shortcut.
    h.get_by_label("Help").click();
    h.run();
    h.get_by_label("Keyboard and mouse").click();
    h.run();
    h.get_by_label("Ctrl+S");
    h.get_by_label("drag and drop");
    // Esc closes it.
    h.key_press(egui::Key::Escape);
    h.run();
    assert!(
        h.query_by_label("drag and drop").is_none(),
        "Esc closes the key list"
    );
    h.state_mut().dialog_override = Some(session.clone());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    h.run();
    let saved = std::fs::read_to_string(&session).expect("Ctrl+S wrote the session");
    assert!(saved.contains("快捷键 保存 会话"));
    h.state_mut().dialog_override = None;
    // A dropped session restores it.
    h.state_mut().state.text_q = "something else".into();
    drop_file(&mut h, &session);
    assert_eq!(h.state().state.text_q, "快捷键 保存 会话");
    // A dropped spec (a lesson's file) loads its settings.
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/lessons/gpt_causal.json"
    );
    drop_file(&mut h, std::path::Path::new(spec));
    let want = attnscope::core::Spec::from_json(&std::fs::read_to_string(spec).unwrap()).unwrap();
    assert_eq!(Some(&h.state().state.text_q), want.target.text.as_ref());
    assert!(h.state().state.causal);
    // Its title is shown however it was opened, in the UI's language.
    let title = want.title.as_deref().unwrap();
    let english = attnscope::app::lessons::in_lang(title, Lang::En);
    h.run();
    h.get_by_label(&format!("Lesson: {english}"));
    // A dropped text file becomes the text.
    let txt = dir.path().join("doc.txt");
    std::fs::write(&txt, "拖进来的文本 dropped text").unwrap();
    drop_file(&mut h, &txt);
    assert_eq!(h.state().state.text_q, "拖进来的文本 dropped text");
    assert!(!h.state().notice.as_ref().unwrap().is_error);
    // A broken session is reported as one, and nothing changes.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format": "attnscope-session", "version": 999, "state": {}}"#,
    )
    .unwrap();
    let before = h.state().state.clone();
    drop_file(&mut h, &bad);
    let notice = h.state().notice.clone().unwrap();
    assert!(notice.is_error && notice.text(Lang::En).contains("session version 999"));
    assert_eq!(h.state().state, before);
    // A model's config.json opens the model.
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample_models/tiny-gpt2-induction/config.json"
    );
    drop_file(&mut h, std::path::Path::new(config));
    let model = h.state().model.as_ref().expect("the dropped model opened");
    assert_eq!(model.model.name, "tiny-gpt2-induction");
}

#[test]
fn every_lesson_computes_in_the_app_exactly_what_the_core_computes_from_its_file() {
    for (i, lesson) in attnscope::app::LESSONS.iter().enumerate() {
        let mut h = harness(State::default());
        h.get_by_label("File").click();
        h.run();
        h.get_by_label("Lessons").click();
        h.run();
        // The menu shows the lesson's title in the UI language, not its file name.
        h.get_by_label(&lesson.title(Lang::En)).click();
        h.step();
        settle(&mut h);
        assert!(
            h.state().error.is_none(),
            "lesson {i}: {:?}",
            h.state().error
        );
        let app_trace = h.state().trace.clone().unwrap();
        let file_trace = compute(&lesson.spec().unwrap()).unwrap();
        assert_eq!(app_trace.tokens_q, file_trace.tokens_q, "{}", lesson.name);
        assert_eq!(app_trace.tokens_k, file_trace.tokens_k, "{}", lesson.name);
        for (a, b) in app_trace.head_traces.iter().zip(&file_trace.head_traces) {
            assert_eq!(a.weights, b.weights, "{}", lesson.name);
        }
        assert_eq!(app_trace.output, file_trace.output, "{}", lesson.name);
        // Its description is on screen.
        let desc = lesson.description(Lang::En);
        assert!(h.query_by_label(&desc).is_some(), "{}: {desc}", lesson.name);
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
        // What people type into a sentence: emoji as tokens.
        for style in [
            eframe::egui::TextStyle::Body,
            eframe::egui::TextStyle::Monospace,
        ] {
            ui.label(eframe::egui::RichText::new("I ❤ 🍕 ✨ 😀 👍 🚀").text_style(style));
        }
    });
    h.run();
    // The emoji fonts come last: the UI's own symbols keep the text fonts' look.
    h.ctx.fonts_mut(|f| {
        let chars = f.characters(&eframe::egui::FontFamily::Proportional);
        for c in ['▶', '◀', '✖', '✓', '▴', '★', '→'] {
            let first = chars.get(&c).and_then(|fonts| fonts.first());
            assert!(
                first.is_some_and(|f| !f.contains("moji")),
                "{c} is drawn by {first:?}"
            );
        }
        assert!(chars.get(&'🍕').is_some_and(|f| f[0].contains("moji")));
    });
}

/// Opens a model folder as File ▸ Open model would, and waits for its load and run.
fn open_model(h: &mut Harness<'static, AttnApp>, dir: std::path::PathBuf) {
    h.state_mut()
        .push(attnscope::app::Command::OpenModel(Some(dir)));
    h.step();
    for _ in 0..5 {
        settle(h);
    }
}

#[test]
fn a_first_model_that_fails_leaves_the_toy_sentence_and_an_empty_text_no_spinner() {
    let mut h = harness(State::default());
    open_model(&mut h, "/no/such/model".into());
    h.step();
    // The reason in the status bar, and the sentence on screen rather than empty panels.
    h.get_by_label_contains("/no/such/model does not exist");
    assert_eq!(h.state().state.embedding, EmbeddingMode::Toy);
    assert!(h.state().trace.is_some());
    // A model that opened but was given no text: the reason, and no "Running the model…"
    // next to it, since nothing runs.
    let gpt2 =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-gpt2-induction");
    h.state_mut().state.text_q = String::new();
    open_model(&mut h, gpt2);
    h.step();
    h.get_by_label_contains("the text is empty");
    assert!(h.query_by_label_contains("Running the model").is_none());
}

#[test]
fn knocked_out_heads_the_model_does_not_have_are_left_out_with_a_word() {
    use attnscope::model::ablate::HeadRef;
    let head = |layer, head| HeadRef { layer, head };
    let mut h = harness(State {
        gen_knock: vec![head(0, 1), head(9, 9)],
        ..State::default()
    });
    let gpt2 =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-gpt2-induction");
    open_model(&mut h, gpt2);
    h.step();
    assert_eq!(h.state().state.gen_knock, [head(0, 1)]);
    h.get_by_label_contains(
        "Not in this model (2 layers × 4 heads), so left out of the knock-out: L9 H9",
    );
}

#[test]
fn a_layer_and_head_the_model_does_not_have_fall_back_with_a_word() {
    // As `--model M --layer 9 --head 9` starts the app.
    let gpt2 =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-gpt2-induction");
    let mut h = harness(State {
        embedding: EmbeddingMode::Model,
        model_dir: Some(gpt2),
        layer: 9,
        head: 9,
        ..State::default()
    });
    for _ in 0..5 {
        settle(&mut h);
    }
    h.step();
    assert_eq!((h.state().state.layer, h.state().state.head), (1, 3));
    h.get_by_label_contains(
        "Layer 9 head 9 is not in this model (2 layers × 4 heads): showing layer 1 head 3.",
    );
}

#[test]
fn the_rope_step_on_a_model_without_rope_falls_back_to_step_two() {
    // As `--model all-MiniLM-L6-v2 --step rotate` starts the app: the steps panel had no
    // highlighted step and dead Previous / Next buttons.
    let minilm =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/all-MiniLM-L6-v2");
    let mut h = harness(State {
        embedding: EmbeddingMode::Model,
        model_dir: Some(minilm),
        step: Step::Rotate,
        ..State::default()
    });
    for _ in 0..5 {
        settle(&mut h);
    }
    h.step();
    assert_eq!(h.state().state.step, Step::Project);
    h.get_by_label_contains("no step 2′: showing step 2");
    h.get_by_label("Next ▶").click();
    h.step();
    h.step();
    assert_eq!(h.state().state.step, Step::Scores);
}

#[test]
fn a_replaced_notice_stays_readable_in_the_status_bar_list() {
    // A spec that the controls bring down, then a model: the model's "Opened" replaces the
    // spec's line, which the user can still read under "▴ 1 earlier".
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("big.json");
    std::fs::write(
        &spec,
        r#"{"target":{"text":"the cat sat"},"d_model":1024,"heads":32}"#,
    )
    .unwrap();
    let mut h = harness(State::default());
    h.state_mut().dialog_override = Some(spec);
    h.state_mut().push(attnscope::app::Command::OpenSpec);
    settle(&mut h);
    let gpt2 =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-gpt2-induction");
    open_model(&mut h, gpt2);
    h.step();
    h.get_by_label_contains("Opened tiny-gpt2-induction");
    assert!(h.query_by_label_contains("heads 32 → 16").is_none());
    h.get_by_label("▴ 1 earlier").click();
    h.run();
    h.get_by_label_contains("Brought into the controls' range: heads 32 → 16");
}

/// Clicks Model ▸ `item` and waits for the model's load, run and layer trace.
fn model_menu(h: &mut Harness<'static, AttnApp>, item: &str) {
    h.get_by_label("Model").click();
    h.run();
    h.get_by_label(item).click();
    h.step();
    for _ in 0..6 {
        settle(h);
    }
    assert!(
        h.state().model_error.is_none(),
        "{:?}",
        h.state().model_error
    );
}

/// Opens the tiny GPT-2 from Model ▸ Sample models and waits for its run and layer trace.
fn open_tiny_gpt2() -> Harness<'static, AttnApp> {
    let mut h = harness(State::default());
    model_menu(&mut h, "tiny-gpt2-induction");
    h
}

/// Softmax of q·kᵀ/√d with a causal mask, in f64 straight from Q and K: an independent
/// value for a GPT-2 head's probabilities.
fn causal_softmax(q: &ndarray::Array2<f32>, k: &ndarray::Array2<f32>) -> ndarray::Array2<f64> {
    let (n, d) = q.dim();
    let mut p = ndarray::Array2::<f64>::zeros((n, n));
    for i in 0..n {
        let s: Vec<f64> = (0..=i)
            .map(|j| {
                (0..d)
                    .map(|m| q[[i, m]] as f64 * k[[j, m]] as f64)
                    .sum::<f64>()
                    / (d as f64).sqrt()
            })
            .collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = s.iter().map(|x| (x - max).exp()).sum();
        for j in 0..=i {
            p[[i, j]] = (s[j] - max).exp() / z;
        }
    }
    p
}

#[test]
fn a_sample_model_opens_from_the_menu_and_every_model_view_shows_its_numbers() {
    use attnscope::export::matrix::MatrixKind;
    let mut h = open_tiny_gpt2();
    let app = h.state();
    let out = app.model_out.clone().expect("the model ran on the text");
    assert_eq!(out.run.layers.len(), 2);
    // One forward pass for one input.
    assert_eq!(app.model_runs_started(), 1);
    let trace = app.trace.clone().expect("the focused layer is a trace");
    assert_eq!(trace.heads, 4);
    let n = trace.n_q();
    // The heatmap's weights are the model's attention, checked against softmax(qkᵀ/√d)
    // recomputed here from the head's own Q and K.
    for (hd, ht) in trace.head_traces.iter().enumerate() {
        let want = causal_softmax(&ht.q, &ht.k);
        let diff = ht
            .weights
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-5, "head {hd}: max |Δp| = {diff}");
    }
    let trace_gen = app.trace_generation();
    let run = app.run_generation();
    // Each view, clicked, shows what it is for.
    h.get_by_label("Layers × heads").click();
    settle(&mut h);
    for l in 0..2 {
        for hd in 0..4 {
            let key = TexKey::ModelHead {
                run,
                layer: l,
                head: hd,
                scale: attnscope::app::state::ThumbScale::Linear,
            };
            assert_eq!(
                h.state().textures().size_of(key),
                Some([n, n]),
                "L{l} H{hd}"
            );
        }
    }
    // Two layers leave most of the panel free: the focused head is drawn there, large.
    let focus = format!(
        "layer {} · head {} · attention weight",
        h.state().state.layer,
        h.state().state.head
    );
    h.get_by_label(&focus);
    h.get_by_label("Heatmap").click();
    settle(&mut h);
    let key = TexKey::Head {
        trace: trace_gen,
        head: 0,
        kind: MatrixKind::Weights,
    };
    assert_eq!(h.state().textures().size_of(key), Some([n, n]));
    h.get_by_label("Token lines").click();
    settle(&mut h);
    assert!(h.query_by_label_contains("Hover a token").is_some());
    h.get_by_label("Neuron view").click();
    settle(&mut h);
    let (i, j) = (h.state().state.row, h.state().state.col);
    let raw = trace.head_traces[0].raw_scores[[i, j]];
    assert!(
        h.query_by_label_contains(&format!("= {raw:.4}")).is_some(),
        "the neuron view sums to the raw score {raw:.4}"
    );
    h.get_by_label("Head statistics").click();
    settle(&mut h);
    h.get_by_label("L1 H0");
    h.get_by_label("This head");
    h.get_by_label("Rollout").click();
    settle(&mut h);
    // Every head of every layer, combined: no head summary or head picker beside it.
    assert!(h.query_by_label("This head").is_none());
    assert!(h.query_by_label("Re-run in the lab ▶").is_none());
    assert_eq!(
        h.state().textures().size_of(TexKey::Rollout {
            run,
            upto: 1,
            skip_first: false
        }),
        Some([n, n])
    );
    // Its CSV export is the rollout on screen, not the focused head.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollout.csv");
    h.state().export_trace_to(&path, ExportKind::Csv).unwrap();
    let csv = std::fs::read_to_string(&path).unwrap();
    let rollout = out.rollout(None, false).unwrap();
    let last = last_row_numbers(&csv, n);
    assert_eq!(last, rollout.row(n - 1).to_vec());
    assert_eq!(
        *rollout,
        attnscope::model::stats::rollout(&out.run).unwrap()
    );
    // Through layer 0 only, without the first token: on screen and in the export.
    h.get_by_label("leave out the first token").click();
    h.state_mut().state.rollout_upto = Some(0);
    settle(&mut h);
    let shown = attnscope::model::stats::without_first_key(
        &attnscope::model::stats::rollout_by_layer(&out.run).unwrap()[0],
    );
    assert!(shown.column(0).iter().all(|&v| v == 0.0));
    assert!(
        h.state()
            .textures()
            .size_of(TexKey::Rollout {
                run,
                upto: 0,
                skip_first: true
            })
            .is_some()
    );
    h.state().export_trace_to(&path, ExportKind::Csv).unwrap();
    let csv = std::fs::read_to_string(&path).unwrap();
    assert_eq!(last_row_numbers(&csv, n), shown.row(n - 1).to_vec());
    h.state_mut().state.rollout_upto = None;
    h.state_mut().state.rollout_skip_first = false;
    h.get_by_label("Attention lab").click();
    settle(&mut h);
    let lab = h
        .state()
        .lab_trace
        .clone()
        .expect("the lab re-ran the focused head");
    assert_eq!(lab.heads, 1);
    assert_eq!(
        lab.head_traces[0].q, trace.head_traces[0].q,
        "the lab uses the real Q"
    );
    // Started from the head's own settings, the two sides are the same, and the view says
    // so; without the causal mask they differ, and it says by how much and where.
    assert!(
        h.state().state.causal,
        "the lab starts causal, as GPT-2's heads are"
    );
    h.get_by_label_contains("The two are the same");
    h.state_mut().state.causal = false;
    settle(&mut h);
    h.get_by_label_contains("Largest change of a weight: ");
    h.state_mut().state.causal = true;
    settle(&mut h);
    // Still one forward pass: views and the lab reuse it.
    assert_eq!(h.state().model_runs_started(), 1);
    // A broken model folder: a message, and the previous model stays usable.
    let tmp = tempfile::tempdir().unwrap();
    open_model(&mut h, tmp.path().to_path_buf());
    let err = h
        .state()
        .model_error
        .as_ref()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("has no config.json"), "{err}");
    assert_eq!(
        h.state().model.as_ref().unwrap().model.name,
        "tiny-gpt2-induction"
    );
    assert!(h.state().model_out.is_some() && h.state().trace.is_some());
    // A Chinese classroom reads the same failure in Chinese, with the folder named: under
    // the model and in the status bar (whose notice is re-said in the new language).
    h.state_mut().state.lang = Lang::Zh;
    settle(&mut h);
    let said = format!(
        "{} 中没有 config.json（模型文件夹需要",
        tmp.path().display()
    );
    assert_eq!(h.get_all_by_label_contains(&said).count(), 2);
    assert!(h.query_by_label_contains("has no config.json").is_none());
    // And an emptied text box.
    h.state_mut().state.text_q.clear();
    settle(&mut h);
    settle(&mut h);
    h.get_by_label_contains("文本为空：请输入要让模型处理的文字");
}

#[test]
fn the_step_through_describes_the_real_head_not_the_toy_settings() {
    let mut h = open_tiny_gpt2();
    // Toy settings that contradict the model: additive score, no causal mask.
    h.state_mut().state.score = attnscope::core::ScoreKind::Additive;
    h.state_mut().state.causal = false;
    h.state_mut().state.step = Step::Project;
    h.step();
    settle(&mut h);
    // In the step's formula and in the left panel's summary of the head.
    assert_eq!(
        h.query_all_by_label_contains("Q = LN(X)·W_Q + b_Q").count(),
        2
    );
    // The arithmetic of the selected query: the last one, where a causal model opens.
    let last = h.state().state.row;
    assert!(last > 0);
    h.get_by_label_contains(&format!("q{last} = LN(x{last})·W_Q + b_Q ="));
    h.state_mut().state.step = Step::Scores;
    h.step();
    h.step();
    h.get_by_label("sᵢⱼ = qᵢ·kⱼ = Σₘ qᵢₘ kⱼₘ");
    assert!(
        h.query_by_label_contains("tanh").is_none(),
        "a dot-product head"
    );
    h.state_mut().state.step = Step::Mask;
    h.step();
    h.step();
    h.get_by_label_contains("zᵢⱼ = −∞ if j > i");
    // The left panel says what this head does, read-only, and offers the lab.
    h.get_by_label("This head");
    h.get_by_label_contains("score: scaled dot");
    h.get_by_label("Re-run in the lab ▶").click();
    h.step();
    settle(&mut h);
    assert_eq!(h.state().state.view, attnscope::app::state::View::Lab);
    let lab = h.state().lab_trace.clone().unwrap();
    assert!(lab.mechanism.lab);
    assert_eq!(lab.mechanism.score, attnscope::core::ScoreKind::Additive);
}

#[test]
fn a_lab_change_reruns_one_head_not_the_layer() {
    let mut h = open_tiny_gpt2();
    h.get_by_label("Attention lab").click();
    settle(&mut h);
    let (trace_gen, lab_gen) = (h.state().trace_generation(), h.state().lab_generation());
    let first = h.state().lab_trace.clone().unwrap();
    h.state_mut().state.temperature = 0.25;
    h.step();
    settle(&mut h);
    assert_eq!(
        h.state().trace_generation(),
        trace_gen,
        "the layer was not recomputed"
    );
    assert_eq!(h.state().lab_generation(), lab_gen + 1, "the lab head was");
    let second = h.state().lab_trace.clone().unwrap();
    assert_eq!(second.temperature, 0.25);
    assert_ne!(first.head_traces[0].weights, second.head_traces[0].weights);
    assert_eq!(h.state().model_runs_started(), 1);
}

#[test]
fn a_short_row_lists_every_key_in_the_arithmetic() {
    let mut h = harness(State::default());
    h.state_mut().state.step = Step::Softmax;
    h.step();
    h.step();
    let n = h.state().trace.as_ref().unwrap().n_k();
    assert_eq!(n, 11);
    for j in 0..n {
        h.get_by_label_contains(&format!("p0,{j} = "));
    }
    assert!(
        h.query_by_label_contains("the keys with the largest weights")
            .is_none()
    );
}

#[test]
fn every_spec_file_loads_into_the_app_whole() {
    // What the app computes from a loaded spec equals what `attnscope compute` computes
    // from the file: nothing (explicit projections, score or local-p parameters, source
    // vectors, score scale) is dropped on the way.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/specs");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(spec) = attnscope::core::Spec::from_json(&text) else {
            continue;
        };
        let Ok(want) = compute(&spec) else {
            continue;
        };
        let mut state = State::default();
        state.load_spec(&spec);
        let got = compute(&state.to_spec()).unwrap_or_else(|e| {
            panic!(
                "{}: the app refuses what compute accepts: {e}",
                path.display()
            )
        });
        assert_eq!(got.tokens_k, want.tokens_k, "{}", path.display());
        for (a, b) in got.head_traces.iter().zip(&want.head_traces) {
            assert_eq!(a.weights, b.weights, "{}", path.display());
            assert_eq!(a.context, b.context, "{}", path.display());
        }
        assert_eq!(got.output, want.output, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} specs checked");
}

#[test]
fn a_model_with_nan_weights_is_marked_not_shown_as_zero_attention() {
    // Poison one query weight of layer 0: every head-0 query of layer 0 becomes NaN.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("poisoned");
    std::fs::create_dir_all(&dir).unwrap();
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-gpt2-induction");
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let st = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let off = header["transformer.h.0.attn.c_attn.weight"]["data_offsets"][0]
        .as_u64()
        .unwrap() as usize;
    let at = 8 + header_len + off;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&st, &bytes).unwrap();

    let mut h = harness(State::default());
    open_model(&mut h, dir.clone());
    let out = h
        .state()
        .model_out
        .clone()
        .expect("the poisoned model still runs");
    assert!(
        out.nonfinite.iter().any(|n| n.layer == 0 && n.head == 0),
        "{:?}",
        out.nonfinite
    );
    // The model's warning names the tensor, the left panel lists the heads, and the focused
    // head's view says its rows are undefined rather than showing zeros silently.
    h.get_by_label_contains("transformer.h.0.attn.c_attn.weight");
    h.get_by_label_contains("heads with undefined attention (NaN/∞): L0 H0");
    h.state_mut().state.view = attnscope::app::state::View::Heatmap;
    h.step();
    h.step();
    h.get_by_label_contains("This head's attention is undefined");
    // The step-through says the row's softmax has no value; it used to call the keys
    // masked and write "0 / 0 = 0" as if it were arithmetic.
    h.state_mut().state.step = Step::Softmax;
    h.state_mut().state.row = 0;
    h.step();
    h.step();
    h.get_by_label_contains("This query's scores hold NaN");
    h.get_by_label_contains("softmax of this row has no value");
    assert!(
        h.query_all_by_label_contains("masked keys not listed")
            .next()
            .is_none()
    );
    assert!(h.query_all_by_label_contains("p0,0 =").next().is_none());
}

#[test]
fn a_query_that_sees_no_key_says_so_instead_of_dividing_zero_by_zero() {
    let mut h = harness(State {
        text_q: "the cat sat".into(),
        heads: 1,
        padded: vec![0, 1, 2],
        step: Step::Softmax,
        ..State::default()
    });
    h.step();
    h.get_by_label_contains("3 of 3 query rows see no key at all");
    h.get_by_label_contains("Every key is masked");
    assert!(h.query_all_by_label_contains("p0,0 =").next().is_none());
    // One visible key is enough for ordinary arithmetic again.
    h.state_mut().state.padded = vec![0, 1];
    settle(&mut h);
    h.step();
    h.get_by_label("p0,2 = 1.0000 / 1.0000 = 1.0000");
    assert!(h.query_all_by_label_contains("see no key").next().is_none());
}

/// Opens one of the tiny random-weight fixture models (made by transformers).
fn open_fixture_model(name: &str, text: &str) -> Harness<'static, AttnApp> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name);
    let state = State {
        text_q: text.into(),
        ..State::default()
    };
    let mut h = harness(state);
    open_model(&mut h, dir);
    assert!(
        h.state().model_error.is_none(),
        "{:?}",
        h.state().model_error
    );
    assert!(h.state().trace.is_some());
    h
}

/// A model's weights CSV names its layer in every row: two layers' files had nothing in
/// them to tell them apart. The toy's has no layer column.
#[test]
fn a_model_weights_csv_names_its_layer() {
    let mut h = open_fixture_model("llama-tiny", "a b a b");
    h.state_mut().state.layer = 1;
    settle(&mut h);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.csv");
    h.state().export_trace_to(&path, ExportKind::Csv).unwrap();
    let csv = std::fs::read_to_string(&path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "layer,head,query_index,query,key_index,key,raw_score,weight"
    );
    let trace = h.state().trace.clone().unwrap();
    let n = trace.n_q() * trace.n_k() * trace.heads;
    let rows: Vec<_> = lines.collect();
    assert_eq!(rows.len(), n);
    assert!(rows.iter().all(|r| r.starts_with("1,")), "{}", rows[0]);

    let h = harness(State::default());
    h.state().export_trace_to(&path, ExportKind::Csv).unwrap();
    let csv = std::fs::read_to_string(&path).unwrap();
    assert!(csv.starts_with("head,query_index,"), "{csv}");
}

#[test]
fn a_rotary_gqa_head_has_a_rotation_step_and_shows_its_shared_kv_head() {
    // qwen3-tiny: RoPE θ = 10000 without scaling, 4 query heads over 1 KV head, d_k = 16.
    let mut h = open_fixture_model("qwen3-tiny", "rotary positions");
    let trace = h.state().trace.clone().unwrap();
    assert!(trace.head_traces[0].q_unrotated.is_some());
    // The layers × heads grid names each query head's K/V head.
    h.get_by_label("head 3 · kv 0");
    h.state_mut().state.view = attnscope::app::state::View::Heatmap;
    h.state_mut().state.step = Step::Project;
    h.state_mut().state.row = 1;
    h.step();
    h.step();
    // On K's and V's matrices, and in the left panel's summary of the head.
    assert!(
        h.query_all_by_label_contains("KV head 0, shared by heads 0–3")
            .count()
            >= 3
    );
    // Next goes to the rotation step, which only rotary heads have.
    h.get_by_label("Next ▶").click();
    h.step();
    h.step();
    assert_eq!(h.state().state.step, Step::Rotate);
    h.get_by_label("2′ Rotate (RoPE)");
    h.get_by_label_contains("ωₘ = θ^(−2m/dₖ), θ = 10000");
    // Pair (0, 8) at position 1 turns by 1·ω₀ = 1 rad: the formula's angle and the angle
    // measured from q before and after agree.
    h.get_by_label_contains("= 1·ω0 = 1.0000 rad");
    h.get_by_label_contains("(angle 1.0000 rad)");
    // In Chinese the step's words are Chinese too: the formula's and the matrices' names.
    h.state_mut().state.lang = Lang::Zh;
    h.step();
    h.step();
    h.get_by_label_contains("成对的维度 (m, m + dₖ/2)");
    assert_eq!(h.query_all_by_label_contains("= 旋转后").count(), 2);
    assert!(h.query_by_label_contains("rotated").is_none());
    h.state_mut().state.lang = Lang::En;
    h.step();
    h.step();
    h.get_by_label("Next ▶").click();
    h.step();
    assert_eq!(h.state().state.step, Step::Scores);
}

#[test]
fn sliding_window_layers_are_labelled_local_attention() {
    // gemma3-tiny: layers 0 and 2 slide a window of 8 keys, layer 1 is global.
    let mut h = open_fixture_model("gemma3-tiny", "a b c d e f g h i j k l m n o p");
    h.get_by_label("layer 0\nlocal attention (window 8)");
    h.get_by_label("layer 1\nglobal attention");
    h.state_mut().state.layer = 0;
    h.state_mut().state.view = attnscope::app::state::View::Heatmap;
    h.state_mut().state.step = Step::Mask;
    h.step();
    settle(&mut h);
    h.get_by_label_contains("zᵢⱼ = −∞ if j > i ∨ |i − j| > 7");
    // The head's summary says why a window of 8 is |i − j| ≤ 7 in the mask.
    h.get_by_label_contains("local attention (window 8: the token itself and the 7 before it)");
}

/// File ▸ Open GGUF file… (the dialog answered by `dialog_override`) opens a quantised file:
/// its card shows the architecture, quantisation and the memory it holds, and every view of a
/// model draws on it; Models on this computer lists a user-added folder's GGUF files.
#[test]
fn gguf_file_opens_from_the_menu_with_its_card() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let gguf = root.join("tests/fixtures/gguf/tiny-llama-induction-Q8_0.gguf");
    let mut h = harness(State::default());
    h.state_mut().dialog_override = Some(gguf.clone());
    model_menu(&mut h, "Open GGUF file…");
    let m = &h.state().model.as_ref().expect("loaded").model;
    assert_eq!(m.dir, gguf);
    assert!(h.query_by_label_contains("llama (GGUF v3)").is_some());
    assert!(h.query_by_label_contains("Q8_0 ×").is_some());
    assert!(h.query_by_label_contains("mapped, quantised").is_some());
    assert!(h.state().model_out.is_some(), "the run landed");
    // Every model view draws on it (and the lab re-runs a head of it).
    for view in [
        "Layers × heads",
        "Heatmap",
        "All heads",
        "Token lines",
        "Plots",
        "Neuron view",
        "Attention lab",
        "Head statistics",
        "Rollout",
    ] {
        h.get_by_label(view).click();
        for _ in 0..3 {
            settle(&mut h);
        }
        let app = h.state();
        assert!(
            app.error.is_none() && app.lab_error.is_none(),
            "{view}: {:?} {:?}",
            app.error,
            app.lab_error
        );
        assert!(app.trace.is_some(), "{view}: a layer trace");
    }
    assert!(h.state().lab_trace.is_some(), "the lab ran");
    // Models on this computer: add the fixture folder and see the file listed as openable.
    h.state_mut().dialog_override = Some(root.join("tests/fixtures/gguf"));
    h.state_mut().push(attnscope::app::Command::AddModelFolder);
    for _ in 0..2000 {
        h.step();
        if h.state().found_models().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let found = h.state().found_models().expect("scanned");
    assert!(
        found
            .iter()
            .any(|f| f.label == "tiny-llama-induction-Q8_0.gguf" && f.status.is_ok()),
        "{found:#?}"
    );
}

/// A long run (here forced by a 0 MiB limit on full matrices) keeps digests only: the grid
/// draws every head's pooled overview, opening a head recomputes its layer with that head's
/// matrices (equal to a full run's), a recently opened head comes back without recomputing,
/// and rollout says why it is not shown.
#[test]
fn a_long_run_opens_heads_on_demand_from_the_kept_hidden_state() {
    use attnscope::app::state::{ThumbScale, View};
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-llama-induction");
    let text = "the cat sat on the mat. the cat sat on the mat.";
    let state = State {
        text_q: text.into(),
        full_capture_mib: 0,
        ..State::default()
    };
    let mut h = harness(state);
    open_model(&mut h, dir.clone());
    let out = h.state().model_out.clone().expect("the model ran");
    assert!(!out.run.full, "a 0 MiB limit keeps no full matrices");
    let n = out.run.n();
    h.get_by_label_contains("Long input: each layer keeps its hidden state");
    h.get_by_label(&format!("exact {n}×{n}"));
    let run = h.state().run_generation();
    for l in 0..out.run.layers.len() {
        for hd in 0..out.run.heads {
            let key = TexKey::ModelHead {
                run,
                layer: l,
                head: hd,
                scale: ThumbScale::Linear,
            };
            assert_eq!(
                h.state().textures().size_of(key),
                Some([n, n]),
                "L{l} H{hd}"
            );
        }
    }
    // The log scale makes new thumbnails.
    h.get_by_label("log").click();
    settle(&mut h);
    let key = TexKey::ModelHead {
        run,
        layer: 0,
        head: 0,
        scale: ThumbScale::Log,
    };
    assert!(h.state().textures().size_of(key).is_some());
    // The same text, every matrix kept: what an opened head must equal.
    let model = attnscope::model::Model::load(&dir).unwrap();
    let full = model.run(text).unwrap();
    assert!(full.full);
    let want = full.layer_trace(1).unwrap();
    for head in [2, 3] {
        h.state_mut().state.layer = 1;
        h.state_mut().state.head = head;
        h.state_mut().state.view = View::Heatmap;
        h.step();
        settle(&mut h);
        settle(&mut h);
        let trace = h.state().trace.clone().unwrap();
        assert_eq!(
            trace.head_traces[head], want.head_traces[head],
            "L1 H{head}"
        );
        assert_eq!(
            trace.head_traces[0].weights.len(),
            0,
            "only the opened head"
        );
    }
    // Back to head 2: taken from the recently opened layers, not recomputed.
    let started = h.state().trace_jobs_started();
    h.state_mut().state.head = 2;
    h.step();
    settle(&mut h);
    assert_eq!(h.state().trace_jobs_started(), started);
    let trace = h.state().trace.clone().unwrap();
    assert_eq!(trace.head_traces[2], want.head_traces[2]);
    h.state_mut().state.view = View::Rollout;
    h.step();
    h.step();
    h.get_by_label_contains("Rollout multiplies every layer's full n × n matrices");
}

/// A toy input whose full trace would pass 1 GiB (4 heads at 4,096 tokens: 1.1 GB) is
/// computed lean: the focused head keeps its matrices, the grid shows the others' pooled
/// overviews and says so, and focusing another head reopens it from its kept Q, K, V with
/// exactly the numbers the core computes.
#[test]
fn a_long_toy_text_keeps_the_focused_heads_matrices_and_reopens_others() {
    use attnscope::app::state::{ThumbScale, View};
    use attnscope::core::pipeline::compute_lean;
    let words: Vec<String> = (0..4096).map(|i| format!("w{}", i % 97)).collect();
    let state = State {
        text_q: words.join(" "),
        heads: 4,
        d_model: 16,
        max_tokens: 4096,
        view: View::Grid,
        ..State::default()
    };
    let mut h = harness(state);
    let trace = h.state().trace.clone().expect("computed");
    assert_eq!(trace.n_q(), 4096);
    assert!(trace.has_matrices(0));
    assert!((1..4).all(|hd| !trace.has_matrices(hd)));
    h.get_by_label_contains("Long input: only the focused head keeps");
    h.step();
    let generation = h.state().trace_generation();
    for hd in 1..4 {
        let key = TexKey::ToyOverview {
            trace: generation,
            head: hd,
            scale: ThumbScale::Linear,
        };
        assert_eq!(
            h.state().textures().size_of(key),
            Some([256, 256]),
            "head {hd}"
        );
    }
    h.get_by_label("max-pooled 4096×4096 → 256×256");
    h.get_by_label("log").click();
    settle(&mut h);
    let key = TexKey::ToyOverview {
        trace: generation,
        head: 3,
        scale: ThumbScale::Log,
    };
    assert_eq!(h.state().textures().size_of(key), Some([256, 256]));
    h.state_mut().state.head = 2;
    h.state_mut().state.view = View::Heatmap;
    h.step();
    settle(&mut h);
    let trace = h.state().trace.clone().unwrap();
    assert!(trace.has_matrices(2) && !trace.has_matrices(0));
    // The 4,096² heatmap is drawn in tiles pooled on workers: every tile in view lands,
    // after frames that drew a coarser tile or grey in its place instead of waiting.
    assert_eq!(h.state().textures().tiles_pending(), 0);
    assert!(
        h.state().textures().tiles() >= 4,
        "{} tiles",
        h.state().textures().tiles()
    );
    // Zooming in asks for finer tiles; leaving the heatmap before they land still lets
    // them in, and the app goes idle.
    h.state_mut().state.heat_zoom = 4.0;
    h.step();
    assert!(h.state().textures().tiles_pending() > 0);
    h.state_mut().state.view = View::Grid;
    settle(&mut h);
    assert_eq!(h.state().textures().tiles_pending(), 0);
    h.state_mut().state.view = View::Heatmap;
    let spec = h.state().state.to_spec();
    let want = compute_lean(&spec, attnscope::core::Backend::best(), &[2]).unwrap();
    assert_eq!(trace.head_traces[2], want.head_traces[2]);
    assert_eq!(trace.output, want.output);
}

/// A run estimated to need a lot of time waits for Run, with its estimate on screen.
#[test]
fn a_big_run_waits_for_the_go_ahead_with_its_estimate() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-llama-induction");
    let mut h = harness(State::default());
    // As if this machine managed 1 kFLOP/s: every run is "long".
    h.state_mut().run_gate.flops_per_sec = Some(1e3);
    h.state_mut()
        .push(attnscope::app::Command::OpenModel(Some(dir)));
    h.step();
    for _ in 0..5 {
        settle(&mut h);
    }
    // The worker tokenized the text and estimated the run (so typing never tokenizes on the
    // UI thread), then stopped before the forward pass.
    assert!(h.state().model_out.is_none(), "the run waits");
    assert_eq!(h.state().model_runs_started(), 1);
    assert!(h.state().model_error.is_none(), "waiting is not an error");
    h.get_by_label_contains("This run is large:");
    h.get_by_label_contains("memory about");
    // Frames go by: the waiting run does not start again by itself.
    for _ in 0..3 {
        settle(&mut h);
    }
    assert_eq!(h.state().model_runs_started(), 1);
    h.get_by_label("Run").click();
    h.step();
    for _ in 0..5 {
        settle(&mut h);
    }
    assert!(h.state().model_out.is_some(), "Run started it");
    assert_eq!(h.state().model_runs_started(), 2);
}

/// Generate: the tiny Llama continues an induction prompt in the app, token by token, with
/// the ids transformers' greedy `generate` gives (the committed fixture); the scrubber's
/// step shows its distribution and every layer's attention rows.
#[test]
fn the_generate_view_writes_what_transformers_writes() {
    use attnscope::app::state::View;
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/generate/tiny-llama-induction.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let case = &fx["cases"][1];
    let prompt = case["prompt"].as_str().unwrap();
    let want: Vec<u32> = serde_json::from_value(case["generated_ids"].clone()).unwrap();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-llama-induction");
    let state = State {
        text_q: prompt.into(),
        ..State::default()
    };
    let mut h = harness(state);
    open_model(&mut h, dir);
    h.state_mut().state.view = View::Generate;
    h.step();
    h.step();
    h.get_by_label("Generate ▶").click();
    h.step();
    settle(&mut h);
    let g = h.state().generation.clone().expect("a generation ran");
    let got: Vec<u32> = g.steps.lock().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(got, want, "the app's greedy ids");
    // The scrubber's last step: the chosen token and every layer's rows are on screen.
    h.step();
    h.step();
    h.get_by_label_contains("chosen: «");
    for layer in 0..2 {
        let key = TexKey::GenLayer {
            session: g.serial,
            step: want.len() - 1,
            layer,
        };
        let n = prompt.len() + want.len() - 1;
        assert_eq!(
            h.state().textures().size_of(key),
            Some([n, 4]),
            "layer {layer}"
        );
    }
    // Back to step 0: the first new token, copied from the prompt ("L" after "Xq7#").
    h.state_mut().state.gen_step = 0;
    h.step();
    h.step();
    h.get_by_label_contains("chosen: «L»");
    // → and ← walk the steps.
    h.key_press(eframe::egui::Key::ArrowRight);
    h.step();
    assert_eq!(h.state().state.gen_step, 1);
    h.key_press(eframe::egui::Key::ArrowLeft);
    h.key_press(eframe::egui::Key::ArrowLeft);
    h.step();
    assert_eq!(h.state().state.gen_step, 0);
    // Export writes the heatmap grown with the text: at step 3, the prompt's rows and then
    // one row per earlier step, the last of them step 3's attention of the focused head.
    h.state_mut().state.gen_step = 3;
    settle(&mut h);
    let (layer, head) = (h.state().state.layer, h.state().state.head);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("grown.csv");
    h.state().export_trace_to(&path, ExportKind::Csv).unwrap();
    let csv = std::fs::read_to_string(&path).unwrap();
    let n = g.prompt_ids.len() + 3;
    assert_eq!(csv.lines().count(), 1 + n);
    let last = last_row_numbers(&csv, n);
    let step3 = &g.steps.lock().unwrap()[3].attention[layer][head];
    assert_eq!(last, step3[..n].to_vec());
}

/// Classroom and what-if on the tiny GPT-2's copy: Step +1 writes one token and waits; in
/// guess mode its distribution stays hidden until a guess, which then gets its rank and
/// probability; with the induction head picked, the step re-run shows the copy's drop (the
/// model's own numbers, which tests/ablation.rs checks against transformers); the importance
/// table lists every head; a second Step continues from the cache.
#[test]
fn guess_then_knock_out_the_induction_head() {
    use attnscope::app::state::View;
    use attnscope::model::Model;
    use attnscope::model::ablate::{Ablation, HeadRef, Knockout};
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-gpt2-induction");
    let prompt = "orzxqsgfvpubhecwiatdymklorzxqsgfvpubhec";
    let state = State {
        text_q: prompt.into(),
        gen_guess_mode: true,
        ..State::default()
    };
    // Tall enough that the importance button, last in the view, is on screen.
    let mut h = harness_sized(state, [1700.0, 1400.0]);
    open_model(&mut h, dir.clone());
    h.state_mut().state.view = View::Generate;
    h.step();
    h.get_by_label("Step +1").click();
    h.step();
    for _ in 0..200 {
        h.step();
        let g = h.state().generation.clone().unwrap();
        if g.waiting() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let g = h.state().generation.clone().unwrap();
    assert_eq!(g.len(), 1, "Step +1 writes one token and waits");
    h.step();
    assert!(
        h.query_by_label_contains("chosen: «").is_none(),
        "hidden until a guess"
    );
    h.get_by_label("What comes next? Type your guess:").focus();
    h.step();
    h.get_by_label("What comes next? Type your guess:")
        .type_text("w");
    h.step();
    h.get_by_label("Check").click();
    for _ in 0..5 {
        settle(&mut h);
    }
    h.get_by_label_contains("chosen: «w»");
    let model = Model::load(&dir).unwrap();
    let ids: Vec<u32> = model
        .tokens(prompt)
        .unwrap()
        .0
        .iter()
        .map(|t| t.id)
        .collect();
    let base = model.ablation_base(&ids, ids.len(), None).unwrap();
    let p = base.logprobs[usize::from(b'w')].exp();
    h.get_by_label_contains(&format!(
        "your guess «w» (as the token «w»): rank 1 · p = {p:.4}"
    ));
    // Knock out the induction head (the strip click picks it the same way).
    h.state_mut().state.gen_knock = vec![HeadRef { layer: 1, head: 0 }];
    h.step();
    h.get_by_label("Re-run this step with them").click();
    for _ in 0..5 {
        settle(&mut h);
    }
    let ab = Ablation::heads(vec![HeadRef { layer: 1, head: 0 }], Knockout::Zero);
    let want = model.ablated_logprobs(&base, &ab).unwrap();
    let w = h.state().whatif.clone().unwrap();
    let (got_ab, got) = w.compare.lock().unwrap().clone().unwrap().unwrap();
    assert_eq!(got_ab, ab);
    assert_eq!(got, want);
    let d = want[usize::from(b'w')] - base.logprobs[usize::from(b'w')];
    h.get_by_label(&format!("{d:+.3}"));
    assert!(d < -1.0, "the copy falls without the induction head: {d}");
    // The importance table: every head, the model's numbers.
    h.get_by_label("Measure every head ▶ (zeroed)").click();
    for _ in 0..5 {
        settle(&mut h);
    }
    let (_, table) = w.importance.lock().unwrap().clone().unwrap().unwrap();
    assert_eq!(table.len(), 8);
    let want = model
        .head_importance(&base, u32::from(b'w'), Knockout::Zero, None, None)
        .unwrap();
    assert_eq!(table, want);
    h.get_by_label("L1 H0");
    // A blocked edge is listed with its tokens.
    h.state_mut()
        .state
        .gen_blocked
        .push(attnscope::model::ablate::BlockedEdge {
            layer: 1,
            head: 0,
            from: 38,
            to: 15,
        });
    h.step();
    h.get_by_label_contains("L1 H0: «c» 38 ↛ «w» 15");
    // Step again: the second token, as greedy generation writes it.
    h.get_by_label("Step +1").click();
    for _ in 0..200 {
        h.step();
        if g.len() == 2 && g.waiting() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let greedy = model
        .generate(&ids, 2, &Default::default(), None, &mut |_| {})
        .unwrap();
    let got: Vec<u32> = g.steps.lock().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(got, greedy.iter().map(|s| s.id).collect::<Vec<_>>());
    h.get_by_label("Cancel").click();
    settle(&mut h);
}

/// A model's own attention settings fill the controls while it is on screen (the lab
/// starts from them); back on the toy, the lesson's come back, its description with them,
/// and heads knocked out in one model are not carried into another.
#[test]
fn a_model_leaves_the_lesson_as_it_was() {
    use attnscope::core::Spec;
    let lessons = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models");
    let text =
        std::fs::read_to_string(lessons.join("lessons/translation_cross_attention.json")).unwrap();
    let spec: Spec = serde_json::from_str(&text).unwrap();
    let mut state = State::default();
    state.load_spec(&spec);
    let (causal, score, cross) = (state.causal, state.score, state.cross);
    assert!(!causal && cross);
    let mut h = harness(state);
    assert!(h.query_by_label_contains("Lesson: ").is_some());
    open_model(&mut h, lessons.join("tiny-gpt2-induction"));
    assert!(
        h.state().state.causal,
        "the GPT-2's own mask in the controls"
    );
    assert!(
        h.query_by_label_contains("Lesson: ").is_none(),
        "the lesson is not what is on screen"
    );
    // The lab's causal box is the model head's: the toy lesson's cross-attention does not
    // lock it.
    h.state_mut().state.view = attnscope::app::state::View::Lab;
    h.step();
    h.get_by_label("causal").click();
    h.step();
    assert!(!h.state().state.causal);
    h.get_by_label("causal").click();
    h.step();
    assert!(h.state().state.causal);
    h.state_mut().state.gen_knock = vec![attnscope::model::ablate::HeadRef { layer: 1, head: 0 }];
    h.state_mut().state.heat_zoom = 4.0;
    open_model(&mut h, lessons.join("tiny-llama-induction"));
    assert!(h.state().state.gen_knock.is_empty(), "not the GPT-2's head");
    assert_eq!(h.state().state.heat_zoom, 1.0, "nor its zoom");
    h.get_by_label("toy (seeded)").click();
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!((s.causal, s.score, s.cross), (causal, score, cross));
    assert!(h.query_by_label_contains("Lesson: ").is_some());
}

/// Typing a new text passes through short ones: the query row chosen comes back once the
/// text has that row again, instead of staying at the short text's last.
#[test]
fn the_chosen_row_survives_typing_through_a_short_text() {
    let mut h = harness(State::default());
    h.state_mut().push(attnscope::app::Command::SelectRow(8));
    settle(&mut h);
    assert_eq!(h.state().state.row, 8);
    h.state_mut().state.text_q = "The animal".into();
    settle(&mut h);
    assert_eq!(h.state().state.row, 1);
    h.state_mut().state.text_q = "The animal didn't cross the street because it was too".into();
    settle(&mut h);
    assert_eq!(h.state().state.row, 8);
}

/// Classroom mode does not give the answer away: a run written to the end shows its first
/// step still to guess, with no later token in the labels; a guess belongs to its run (a
/// new model's first run does not find the last one's); a paused run goes on only with the
/// settings it was started with, and a run of an older text says so.
#[test]
fn classroom_guesses_stay_with_their_run_and_changed_settings_start_a_new_one() {
    use attnscope::app::state::View;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models");
    let state = State {
        text_q: "orzxqsgfvpubhecwiatdymklorzxqsgfvpubhec".into(),
        gen_guess_mode: true,
        gen_max_new: 4,
        ..State::default()
    };
    let mut h = harness_sized(state, [1700.0, 1400.0]);
    open_model(&mut h, samples.join("tiny-gpt2-induction"));
    h.state_mut().state.view = View::Generate;
    h.step();
    h.get_by_label("Generate ▶").click();
    settle(&mut h);
    h.step();
    let g = h.state().generation.clone().unwrap();
    assert_eq!(g.len(), 4);
    assert_eq!(h.state().shown_gen_step(&g), 0, "the first step to guess");
    assert!(h.query_by_label_contains("chosen: «").is_none());
    // The scrubber (or a key) cannot show the steps still to guess.
    h.state_mut().state.gen_step = 3;
    h.step();
    assert_eq!(h.state().shown_gen_step(&g), 0);
    h.key_press(egui::Key::ArrowRight);
    h.step();
    assert_eq!(h.state().shown_gen_step(&g), 0);
    h.get_by_label("Reveal").click();
    settle(&mut h);
    h.get_by_label_contains("chosen: «");
    assert_eq!(h.state().state.gen_step, 0, "the answer stays on screen");
    // Another model: its first run's step 0 is hidden again.
    open_model(&mut h, samples.join("tiny-llama-induction"));
    h.state_mut().state.view = View::Generate;
    h.step();
    h.get_by_label("Step +1").click();
    settle(&mut h);
    h.step();
    let first = h.state().generation.clone().unwrap();
    assert!(first.serial > g.serial);
    assert!(first.waiting(), "Step +1 writes one token and waits");
    assert!(h.query_by_label_contains("chosen: «").is_none());
    // A paused run at temperature 0; Generate at 0.8 starts a new run with 0.8.
    h.state_mut().state.gen_temperature = 0.8;
    h.step();
    h.get_by_label("Generate ▶").click();
    settle(&mut h);
    let second = h.state().generation.clone().unwrap();
    assert!(second.serial > first.serial, "not the paused run going on");
    assert_eq!(second.ask.sampling.temperature, 0.8);
    assert!(first.cancel.load(std::sync::atomic::Ordering::Relaxed));
    // The text changes: the run on screen says it is the old text's.
    assert!(h.query_by_label_contains("The text has changed").is_none());
    h.state_mut().state.text_q = "something else".into();
    settle(&mut h);
    h.get_by_label_contains("The text has changed since this generation");
}

#[test]
fn the_translator_opens_from_the_menu_and_shows_its_alignment_step_by_step() {
    use attnscope::app::state::View;
    use attnscope::model::seq2seq::{Aggregate, AttnKind, Seq2Seq};
    let mut h = harness(State::default());
    model_menu(&mut h, "tiny-translator");
    assert_eq!(h.state().state.view, View::Translate);
    // The default source, translated greedily; the year moves to the front.
    h.get_by_label("Translation: 2021年3月5日");
    // Listed under Model ▸ Recent models, as the other models are.
    assert!(
        h.state()
            .state
            .recent_models
            .iter()
            .any(|d| d.ends_with("tiny-translator")),
        "{:?}",
        h.state().state.recent_models
    );
    // The arrows walk the decoder's rows: row 5 reads 年 and writes 3 (March).
    for _ in 0..5 {
        h.key_press(eframe::egui::Key::ArrowRight);
        h.step();
    }
    h.step();
    assert_eq!(h.state().state.tr.step, 5);
    h.get_by_label_contains("reads «年» → writes «3»");
    // The heatmap in focus is decoder layer 1 head 1's cross-attention: the numbers are the
    // model's own (and those equal transformers', tests/seq2seq.rs).
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-translator");
    let model = Seq2Seq::load(&dir).unwrap();
    let run = model.run("March 5, 2021", None).unwrap();
    let shown = h.state().translator.out.clone().unwrap();
    // The status bar reports this run, not the toy trace behind the view.
    h.get_by_label_contains(&format!(
        "source tokens {} · decoder inputs {} · encoder 2×4 · decoder 2×4",
        shown.run.source.len(),
        shown.run.target.len()
    ));
    assert_eq!(
        shown.run.probs(AttnKind::Cross, 1, 1),
        run.probs(AttnKind::Cross, 1, 1)
    );
    // File ▸ Export writes the matrix on screen, not the toy trace behind the view.
    let dir = tempfile::tempdir().unwrap();
    let export = |h: &mut Harness<'static, AttnApp>, item: &str, name: &str| {
        let path = dir.path().join(name);
        h.state_mut().dialog_override = Some(path.clone());
        h.get_by_label("File").click();
        h.run();
        h.get_by_label(item).click();
        h.step();
        path
    };
    let csv = std::fs::read_to_string(export(&mut h, "Export weights as CSV…", "c.csv")).unwrap();
    let (rows, cols) = shown.run.labels(AttnKind::Cross);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("query\\key,"), "{}", lines[0]);
    assert_eq!(lines.len(), 1 + rows.len());
    // Target row 5 (its label has no comma; the source's "," is quoted in the header).
    let cells: Vec<f32> = lines[6]
        .split(',')
        .skip(1)
        .map(|c| c.parse().unwrap())
        .collect();
    let want = shown
        .run
        .probs(AttnKind::Cross, 1, 1)
        .unwrap()
        .row(5)
        .to_vec();
    assert_eq!(cells, want, "the CSV is the cross-attention on screen");
    let png = image::open(export(&mut h, "Export heatmap as PNG… Ctrl+E", "c.png")).unwrap();
    assert!(png.height() >= rows.len() as u32 && png.width() >= cols.len() as u32);
    let json = std::fs::read_to_string(export(&mut h, "Export trace as JSON…", "c.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["tokens_q"].as_array().unwrap().len(), rows.len());
    assert_eq!(v["tokens_k"].as_array().unwrap().len(), cols.len());
    // The title (and the thumbnail's hover text) name the head in focus.
    assert!(
        h.query_all_by_label("Cross-attention (target × source) · layer 1 · head 1")
            .count()
            >= 1
    );
    // The step-through: the core's re-run of this head on its real Q, K, V is the model's row;
    // another score function moves it.
    h.get_by_label_contains("= the model's own probabilities");
    h.state_mut().state.tr.score = attnscope::core::ScoreKind::Cosine;
    settle(&mut h);
    h.get_by_label_contains("with this score function the row moves by");
    h.state_mut().state.tr.score = attnscope::core::ScoreKind::ScaledDot;
    settle(&mut h);
    // The aggregate over heads replaces the head.
    h.get_by_label("max of all heads").click();
    h.step();
    h.step();
    assert_eq!(h.state().state.tr.aggregate, Some(Aggregate::Max));
    h.get_by_label_contains("Cross-attention (target × source) · max of all heads");
    // Its CSV is the aggregate; it has no computation of its own to write as JSON.
    let csv = std::fs::read_to_string(export(&mut h, "Export weights as CSV…", "m.csv")).unwrap();
    let max = Aggregate::Max.of(&shown.run).unwrap();
    let cells: Vec<f32> = csv
        .lines()
        .nth(6)
        .unwrap()
        .split(',')
        .skip(1)
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(cells, max.row(5).to_vec());
    export(&mut h, "Export trace as JSON…", "m.json");
    let notice = h.state().notice.clone().unwrap();
    assert!(
        notice.is_error && notice.text(Lang::En).contains("pick a head"),
        "{notice:?}"
    );
    // The same pair through the toy cross-attention (the toy-vs-trained lesson).
    h.get_by_label("Compare with the toy ▸").click();
    h.step();
    settle(&mut h);
    assert_eq!(h.state().state.view, View::Heatmap);
    let toy = h.state().trace.clone().unwrap();
    assert_eq!(toy.tokens_q.concat(), "2021年3月5日");
    assert!(!toy.self_attention);
    assert_eq!(toy.tokens_k.concat().replace(' ', ""), "March5,2021");
    h.state_mut().state.view = View::Translate;
    settle(&mut h);
    // A typed target: teacher forcing on it, no translation.
    h.state_mut().state.tr.target = "2021年3月5日".into();
    settle(&mut h);
    settle(&mut h);
    h.get_by_label_contains("teacher forcing");
    assert!(h.query_by_label_contains("Translation:").is_none());
    // An empty source: one clear message, and the last run stays on screen.
    h.state_mut().state.tr.source.clear();
    settle(&mut h);
    settle(&mut h);
    h.get_by_label_contains("the text is empty");
    assert!(h.state().translator.out.is_some());
    // In Chinese, from one of the examples the sample offers (it knows nothing else).
    h.state_mut().state.lang = Lang::Zh;
    settle(&mut h);
    h.get_by_label_contains("这个小示例模型只学过英文日期和数字");
    h.get_by_label("forty-two").click();
    settle(&mut h);
    settle(&mut h);
    assert!(h.state().state.tr.target.is_empty());
    h.get_by_label("译文： 四十二");
}

/// The Generate view of a shipped induction sample says what the model learned, offers a
/// prompt it copies and, clicked, focuses the model's strongest induction head (layer 1,
/// head 3 of the tiny Llama, the one its README names); the prompt is then run.
#[test]
fn an_induction_sample_offers_a_prompt_it_copies_and_its_induction_head() {
    use attnscope::app::state::View;
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/tiny-llama-induction");
    let mut h = harness(State::default());
    open_model(&mut h, dir);
    h.state_mut().state.view = View::Generate;
    h.step();
    h.step();
    h.get_by_label_contains("learned one thing");
    h.get_by_label("Xq7#Lp2 Zu9! then again Xq7#").click();
    h.step();
    settle(&mut h);
    let s = &h.state().state;
    assert_eq!(s.text_q, "Xq7#Lp2 Zu9! then again Xq7#");
    assert_eq!((s.layer, s.head), (1, 3));
    let out = h.state().model_out.clone().expect("the prompt ran");
    assert_eq!(out.run.n(), "Xq7#Lp2 Zu9! then again Xq7#".len());
    h.get_by_label_contains("strongest induction head: layer 1 head 3");
}
