//! The dequantisers against gguf-py (llama.cpp's Python package): every type in
//! `tests/fixtures/gguf/quant_types.gguf` must give exactly the f32 bits stored in
//! `quant_types.json` (made by `tools/make_gguf_quant_fixtures.py`).

use std::path::PathBuf;

use attnscope::gguf::{GgmlType, GgufFile};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gguf")
        .join(name)
}

/// `name` → (type name, reference values).
fn references() -> Vec<(String, String, Vec<f32>)> {
    let text = std::fs::read_to_string(fixture("quant_types.json")).expect("fixture json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    let tensors = json["tensors"].as_object().expect("tensors object");
    tensors
        .iter()
        .map(|(name, t)| {
            let hex = t["f32_le_hex"].as_str().expect("hex string").as_bytes();
            let bytes: Vec<u8> = hex
                .chunks_exact(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
                .collect();
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name.clone(), t["type"].as_str().unwrap().to_owned(), values)
        })
        .collect()
}

#[test]
fn every_type_matches_gguf_py_bit_for_bit() {
    let file = GgufFile::open(&fixture("quant_types.gguf")).expect("fixture opens");
    let refs = references();
    assert_eq!(refs.len(), file.tensors().len(), "one reference per tensor");
    let mut seen = Vec::new();
    for (name, ty, want) in &refs {
        let t = file
            .tensor(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.ggml_type.name(), ty, "{name}");
        assert_eq!(t.shape(), vec![2, 256], "{name}");
        let got = file.dequantize(t).expect(name);
        assert_eq!(got.len(), want.len(), "{name}");
        let mismatches: Vec<_> = got
            .iter()
            .zip(want)
            .enumerate()
            .filter(|(_, (g, w))| g.to_bits() != w.to_bits())
            .collect();
        assert!(
            mismatches.is_empty(),
            "{name} ({ty}): {} of {} values differ, first {:?}",
            mismatches.len(),
            want.len(),
            mismatches.first()
        );
        assert!(got.iter().all(|v| v.is_finite()), "{name} not finite");
        seen.push(t.ggml_type);
    }
    use GgmlType::*;
    for ty in [
        F32, F16, BF16, F64, I8, I16, I32, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K,
        Q6_K, Q8_K,
    ] {
        assert!(seen.contains(&ty), "no fixture for {ty}");
    }
}

#[test]
fn dequantize_rows_is_a_slice_of_dequantize() {
    let file = GgufFile::open(&fixture("quant_types.gguf")).expect("fixture opens");
    for t in file.tensors() {
        let all = file.dequantize(t).unwrap();
        let row_len = t.row_len();
        for first in 0..t.n_rows() {
            for count in 0..=t.n_rows() - first {
                let mut out = vec![f32::NAN; count * row_len];
                file.dequantize_rows(t, first, &mut out).unwrap();
                let want = &all[first * row_len..(first + count) * row_len];
                assert!(
                    out.iter()
                        .zip(want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{} rows {first}..{}",
                    t.name,
                    first + count
                );
            }
        }
        let mut out = vec![0.0; row_len];
        let e = file.dequantize_rows(t, t.n_rows(), &mut out).unwrap_err();
        assert!(e.to_string().contains(&t.name), "{e}");
        let mut out = vec![0.0; row_len + 1];
        assert!(file.dequantize_rows(t, 0, &mut out).is_err());
    }
}

/// `quant-blocks.gguf` (tools/make_gguf_samples.py) holds real quantised data, not random
/// blocks — a large-range block, an all-zero block (scale 0), a block with no negative value —
/// in F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K and Q6_K, each beside gguf-py's
/// dequantisation of it as `<type>.f32`.
#[test]
fn quantised_blocks_decode_as_gguf_py_does() {
    let file = GgufFile::open(&fixture("quant-blocks.gguf")).expect("fixture opens");
    let mut checked = 0;
    for t in file.tensors() {
        if t.name.ends_with(".f32") || t.name.starts_with("source") {
            continue;
        }
        let want = file
            .dequantize(file.tensor(&format!("{}.f32", t.name)).expect("reference"))
            .unwrap();
        let got = file.dequantize(t).unwrap();
        assert_eq!(got.len(), want.len(), "{}", t.name);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g.to_bits() == w.to_bits(),
                "{} [{i}]: {g} vs gguf-py {w}",
                t.name
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 9);
}
