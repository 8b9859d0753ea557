//! `tokenizer.json` loading: arbitrary bytes → `ModelTokenizer::from_json`, then encode a
//! short mixed-script text with whatever loaded, label its ids as if the model had written
//! them (whole and token by token, which must agree), name each as a candidate, and draw
//! the labels into a PNG heatmap. Must never panic.
#![no_main]

use attnscope::export::colormap::{Colormap, Range};
use attnscope::export::heatmap::Heatmap;
use attnscope::model::tokenizer::{ModelTokenizer, Written};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tok) = ModelTokenizer::from_json(text) else {
        return;
    };
    let _ = tok.vocab_size();
    let Ok(typed) = tok.encode("The cat sat. 我爱北京 ok 🍕\n") else {
        return;
    };
    let ids: Vec<u32> = typed.iter().map(|t| t.id).take(64).collect();
    let (after, ids) = match ids.split_first() {
        Some((&a, rest)) => (Some(a), rest),
        None => (None, &ids[..]),
    };
    let written = tok.written(after, ids);
    assert_eq!(written.labels.len(), ids.len());
    let mut grown = Written::default();
    for k in 1..=ids.len() {
        tok.write_more(&mut grown, after, &ids[..k]);
    }
    assert_eq!(grown, written, "labelled token by token as a whole");
    for (i, &id) in ids.iter().enumerate() {
        let pending: Vec<u32> = written.pending(i).map(|k| ids[k]).collect();
        let _ = tok.candidate_label(&pending, id);
        let _ = tok.is_byte_piece(id);
    }
    let n = written.labels.len();
    if n > 0 {
        let values = ndarray::Array2::from_elem((n, n), 0.5f32);
        let labels: Vec<String> = typed.iter().map(|t| t.label.clone()).take(n).collect();
        let h = Heatmap {
            values: &values,
            allowed: None,
            rows: &labels,
            cols: &written.labels,
            colormap: Colormap::Viridis,
            range: Range { lo: 0.0, hi: 1.0 },
            scale: attnscope::export::matrix::ColourScale::Linear,
            title: written.labels.concat(),
        };
        let _ = h.to_png(3);
    }
});
