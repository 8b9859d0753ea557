//! The GGUF reader on hand-built files: a valid one round-trips its metadata and tensors,
//! and each kind of damaged or hostile file is refused with a message naming the problem
//! (never a panic, a hang or a huge allocation).

use attnscope::gguf::{GgmlType, GgufFile, MetaValue, dequantize_blocks};

/// A tiny GGUF writer: metadata entries are pre-encoded (type id + value), tensors are laid
/// out one after another at the alignment unless given an explicit offset.
#[derive(Clone)]
struct Gguf {
    magic: [u8; 4],
    version: u32,
    n_tensors: Option<u64>,
    n_kv: Option<u64>,
    kvs: Vec<(Vec<u8>, Vec<u8>)>,
    tensors: Vec<Tensor>,
    alignment: u64,
}

#[derive(Clone)]
struct Tensor {
    name: String,
    dims: Vec<u64>,
    type_id: u32,
    offset: Option<u64>,
    data: Vec<u8>,
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// Encoded value of type `type_id`.
fn val(type_id: u32, bytes: &[u8]) -> Vec<u8> {
    let mut v = type_id.to_le_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

/// Encoded array: element type, count, elements.
fn arr(elem: u32, count: u64, elems: &[u8]) -> Vec<u8> {
    let mut v = 9u32.to_le_bytes().to_vec();
    v.extend_from_slice(&elem.to_le_bytes());
    v.extend_from_slice(&count.to_le_bytes());
    v.extend_from_slice(elems);
    v
}

impl Gguf {
    fn new() -> Self {
        Gguf {
            magic: *b"GGUF",
            version: 3,
            n_tensors: None,
            n_kv: None,
            kvs: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
        }
    }

    fn kv(mut self, key: &str, value: Vec<u8>) -> Self {
        self.kvs.push((key.as_bytes().to_vec(), value));
        self
    }

    fn tensor(mut self, name: &str, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> Self {
        self.tensors.push(Tensor {
            name: name.into(),
            dims: dims.into(),
            type_id: ty.id(),
            offset: None,
            data,
        });
        self
    }

    fn last_tensor(mut self, f: impl FnOnce(&mut Tensor)) -> Self {
        f(self.tensors.last_mut().unwrap());
        self
    }

    fn build(&self) -> Vec<u8> {
        let a = self.alignment as usize;
        let mut out = self.magic.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        let n_t = self.n_tensors.unwrap_or(self.tensors.len() as u64);
        out.extend_from_slice(&n_t.to_le_bytes());
        out.extend_from_slice(&self.n_kv.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        for (k, v) in &self.kvs {
            out.extend(string(k));
            out.extend_from_slice(v);
        }
        let mut data = Vec::new();
        for t in &self.tensors {
            let offset = t.offset.unwrap_or(data.len() as u64);
            out.extend(string(t.name.as_bytes()));
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.type_id.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            data.extend_from_slice(&t.data);
            data.resize(data.len().next_multiple_of(a), 0);
        }
        out.resize(out.len().next_multiple_of(a), 0);
        out.extend(data);
        out
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A file with metadata of every type and three tensors.
fn valid() -> Gguf {
    let strings: Vec<u8> = [&b"a"[..], b"bc", "é".as_bytes()]
        .iter()
        .flat_map(|s| string(s))
        .collect();
    let ints: Vec<u8> = [-1i32, 0, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    let inner = [arr(0, 2, &[1, 2]), arr(8, 1, &string(b"x"))]
        .iter()
        .flat_map(|a| a[4..].to_vec()) // elements of an array of arrays omit the type id
        .collect::<Vec<u8>>();
    // Q8_0: 2 rows of 32; d = 0.5, q = j − 16.
    let mut q8 = Vec::new();
    for _ in 0..2 {
        q8.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        q8.extend((0..32).map(|j| (j as i8 - 16) as u8));
    }
    Gguf::new()
        .kv("general.architecture", val(8, &string(b"llama")))
        .kv("u8", val(0, &[200]))
        .kv("i8", val(1, &[0xFF]))
        .kv("u16", val(2, &500u16.to_le_bytes()))
        .kv("i16", val(3, &(-500i16).to_le_bytes()))
        .kv("u32", val(4, &70_000u32.to_le_bytes()))
        .kv("i32", val(5, &(-70_000i32).to_le_bytes()))
        .kv("f32", val(6, &1.5f32.to_le_bytes()))
        .kv("bool", val(7, &[1]))
        .kv("u64", val(10, &(1u64 << 40).to_le_bytes()))
        .kv("i64", val(11, &(-5i64).to_le_bytes()))
        .kv("f64", val(12, &0.25f64.to_le_bytes()))
        .kv("tokens", arr(8, 3, &strings))
        .kv("ints", arr(5, 3, &ints))
        .kv("floats", arr(6, 2, &f32_bytes(&[0.5, -2.0])))
        .kv("nested", arr(9, 2, &inner))
        .kv("bad_utf8_value", val(8, &string(&[b'a', 0xFF])))
        .tensor(
            "token_embd.weight",
            &[3, 2],
            GgmlType::F32,
            f32_bytes(&[1., 2., 3., 4., 5., 6.]),
        )
        .tensor("blk.0.attn_q.weight", &[32, 2], GgmlType::Q8_0, q8)
        .tensor("output_norm.weight", &[4], GgmlType::F16, {
            [1.0f32, -0.5, 65504.0, 0.0]
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect()
        })
}

/// The error message of parsing `bytes` (which must fail).
fn err(bytes: Vec<u8>) -> String {
    match GgufFile::from_bytes(bytes) {
        Ok(_) => panic!("a hostile file was accepted"),
        Err(e) => e.to_string(),
    }
}

fn assert_has(msg: &str, words: &[&str]) {
    for w in words {
        assert!(msg.contains(w), "{msg:?} lacks {w:?}");
    }
}

#[test]
fn valid_file_round_trips_metadata_and_tensors() {
    let f = GgufFile::from_bytes(valid().build()).expect("valid file parses");
    assert_eq!(f.version(), 3);
    assert_eq!(f.metadata().len(), 17);
    assert_eq!(f.metadata()[0].0, "general.architecture", "file order");
    assert_eq!(f.get_str("general.architecture"), Some("llama"));
    assert_eq!(f.get("u8"), Some(&MetaValue::U8(200)));
    assert_eq!(f.get("i8"), Some(&MetaValue::I8(-1)));
    assert_eq!(f.get_u64("u16"), Some(500));
    assert_eq!(f.get_u64("i16"), None, "negative");
    assert_eq!(f.get_f32("i16"), Some(-500.0));
    assert_eq!(f.get_u64("u32"), Some(70_000));
    assert_eq!(f.get("i32"), Some(&MetaValue::I32(-70_000)));
    assert_eq!(f.get_f32("f32"), Some(1.5));
    assert_eq!(f.get_u64("f32"), None);
    assert_eq!(f.get_bool("bool"), Some(true));
    assert_eq!(f.get_u64("bool"), None);
    assert_eq!(f.get_u64("u64"), Some(1 << 40));
    assert_eq!(f.get("i64"), Some(&MetaValue::I64(-5)));
    assert_eq!(f.get_f32("f64"), Some(0.25));
    assert_eq!(f.get_str_array("tokens"), Some(vec!["a", "bc", "é"]));
    assert_eq!(f.get_i64_array("ints"), Some(vec![-1, 0, 7]));
    assert_eq!(f.get_f32_array("ints"), Some(vec![-1.0, 0.0, 7.0]));
    assert_eq!(f.get_f32_array("floats"), Some(vec![0.5, -2.0]));
    assert_eq!(f.get_str_array("floats"), None);
    assert_eq!(
        f.get("nested"),
        Some(&MetaValue::Array(vec![
            MetaValue::Array(vec![MetaValue::U8(1), MetaValue::U8(2)]),
            MetaValue::Array(vec![MetaValue::String("x".into())]),
        ]))
    );
    assert_eq!(f.get_str("bad_utf8_value"), Some("a\u{FFFD}"));
    assert_eq!(f.get("missing"), None);

    assert_eq!(f.tensors().len(), 3);
    let emb = f.tensor("token_embd.weight").unwrap();
    assert_eq!(
        (emb.shape(), emb.row_len(), emb.n_rows()),
        (vec![2, 3], 3, 2)
    );
    assert_eq!(emb.n_elements(), 6);
    assert_eq!(emb.offset % 32, 0);
    assert_eq!(f.dequantize(emb).unwrap(), [1., 2., 3., 4., 5., 6.]);
    let mut row = [0.0; 3];
    f.dequantize_rows(emb, 1, &mut row).unwrap();
    assert_eq!(row, [4., 5., 6.]);
    let q = f.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!((q.ggml_type, q.n_bytes), (GgmlType::Q8_0, 68));
    let want: Vec<f32> = (0..64).map(|j| 0.5 * ((j % 32) as f32 - 16.0)).collect();
    assert_eq!(f.dequantize(q).unwrap(), want);
    let norm = f.tensor("output_norm.weight").unwrap();
    assert_eq!(norm.shape(), vec![4]);
    assert_eq!(f.dequantize(norm).unwrap(), [1.0, -0.5, 65504.0, 0.0]);
    assert!(f.tensor("nope").is_none());
}

#[test]
fn open_maps_the_same_file() {
    let bytes = valid().build();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.file_bytes(), bytes.len() as u64);
    let q = f.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(f.tensor_bytes(q).len(), 68);

    let missing = GgufFile::open(&dir.path().join("absent.gguf")).unwrap_err();
    assert_has(&missing.to_string(), &["cannot read", "absent.gguf"]);
    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert_has(
        &GgufFile::open(&empty).unwrap_err().to_string(),
        &["not a GGUF file"],
    );
}

#[test]
fn every_truncation_is_refused() {
    let bytes = valid().build();
    // Everything up to the end of the last tensor's data is needed (the rest is padding).
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    let end = f
        .tensors()
        .iter()
        .map(|t| t.offset + t.n_bytes)
        .max()
        .unwrap() as usize;
    assert!(GgufFile::from_bytes(bytes[..end].to_vec()).is_ok());
    for len in 0..end {
        let msg = err(bytes[..len].to_vec());
        assert!(
            msg.contains("truncated")
                || msg.contains("not a GGUF")
                || msg.contains("impossible")
                || msg.contains("past the end"),
            "cut at {len}: {msg}"
        );
    }
    assert_has(
        &err(bytes[..10].to_vec()),
        &["truncated", "tensor count", "offset 8"],
    );
}

#[test]
fn wrong_magic_and_versions() {
    let mut g = valid();
    g.magic = *b"GGML";
    assert_has(&err(g.build()), &["not a GGUF file", "GGUF"]);
    g.magic = *b"GGUF";
    g.version = 1;
    assert_has(&err(g.build()), &["version 1 is not supported"]);
    g.version = 4;
    assert_has(&err(g.build()), &["version 4", "not supported"]);
    g.version = 3u32.swap_bytes();
    assert_has(&err(g.build()), &["big-endian"]);
    g.version = 2;
    assert_eq!(GgufFile::from_bytes(g.build()).unwrap().version(), 2);
}

#[test]
fn impossible_counts_are_refused_before_allocating() {
    let mut g = valid();
    g.n_tensors = Some(1 << 62);
    assert_has(
        &err(g.build()),
        &["tensor count 4611686018427387904", "impossible"],
    );
    let mut g = valid();
    g.n_kv = Some(1 << 62);
    assert_has(&err(g.build()), &["metadata entry count", "impossible"]);
    let mut g = valid();
    g.n_kv = Some(u64::MAX);
    g.n_tensors = Some(u64::MAX);
    assert_has(&err(g.build()), &["impossible"]);
    // One more tensor than there are: the directory runs into the data, then out of file.
    let mut g = valid();
    g.n_tensors = Some(4);
    assert!(GgufFile::from_bytes(g.build()).is_err());
}

#[test]
fn lengths_past_the_end_are_refused() {
    // A key whose length runs past the end.
    let mut bytes = b"GGUF".to_vec();
    for field in [
        3u32.to_le_bytes().to_vec(),
        0u64.to_le_bytes().to_vec(),
        1u64.to_le_bytes().to_vec(),
    ] {
        bytes.extend(field);
    }
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 16]);
    assert_has(&err(bytes), &["truncated", "metadata key #0"]);
    // A string value whose length runs past the end.
    let mut v = 8u32.to_le_bytes().to_vec();
    v.extend_from_slice(&(1u64 << 50).to_le_bytes());
    assert_has(
        &err(Gguf::new().kv("name", v).build()),
        &["truncated", "\"name\""],
    );
    // Arrays whose counts cannot fit.
    let g = Gguf::new().kv("big", arr(0, 1 << 40, &[1, 2, 3]));
    assert_has(
        &err(g.build()),
        &["array element of key \"big\"", "impossible"],
    );
    let g = Gguf::new().kv("strs", arr(8, u64::MAX / 2, &[0; 64]));
    assert_has(&err(g.build()), &["\"strs\"", "impossible"]);
    // A tensor name length past the end.
    let g = Gguf::new().tensor("t", &[1], GgmlType::F32, vec![0; 4]);
    let mut bytes = g.build();
    bytes[24..32].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert_has(&err(bytes), &["truncated", "name of tensor #0"]);
}

#[test]
fn nested_arrays_and_unknown_value_types() {
    let depth3 = {
        let mut a = arr(9, 1, &[]);
        a.extend_from_slice(&9u32.to_le_bytes()); // inner arrays hold arrays
        a.extend_from_slice(&1u64.to_le_bytes());
        a.extend_from_slice(&0u32.to_le_bytes());
        a.extend_from_slice(&0u64.to_le_bytes());
        a
    };
    assert_has(
        &err(Gguf::new().kv("deep", depth3).build()),
        &["\"deep\"", "nests arrays"],
    );
    assert_has(
        &err(Gguf::new().kv("odd", val(13, &[0; 8])).build()),
        &["\"odd\"", "unknown value type 13"],
    );
    assert_has(
        &err(Gguf::new().kv("odd", arr(99, 1, &[0; 8])).build()),
        &["\"odd\"", "unknown value type 99"],
    );
    assert_has(
        &err(Gguf::new().kv("flag", val(7, &[2])).build()),
        &["\"flag\"", "bool byte 2"],
    );
}

#[test]
fn bad_dimensions_are_refused() {
    let t = |dims: &[u64], ty: GgmlType| {
        Gguf::new().tensor("blk.1.ffn_up.weight", dims, ty, vec![0; 64])
    };
    assert_has(
        &err(t(&[], GgmlType::F32).build()),
        &["\"blk.1.ffn_up.weight\"", "0 dimensions"],
    );
    assert_has(&err(t(&[1; 5], GgmlType::F32).build()), &["5 dimensions"]);
    assert_has(&err(t(&[4, 0], GgmlType::F32).build()), &["zero dimension"]);
    assert_has(
        &err(t(&[1 << 32, 1 << 32, 2], GgmlType::F32).build()),
        &["\"blk.1.ffn_up.weight\"", "overflow"],
    );
    assert_has(&err(t(&[1 << 62, 2], GgmlType::F32).build()), &["overflow"]);
    assert_has(
        &err(t(&[100], GgmlType::Q4_K).build()),
        &["\"blk.1.ffn_up.weight\"", "100 values", "Q4_K", "256"],
    );
    // Huge but representable: refused because the data is not in the file.
    assert_has(
        &err(t(&[1 << 40], GgmlType::F32).build()),
        &["runs past the end"],
    );
}

#[test]
fn unknown_ggml_type_names_the_tensor() {
    for id in [4, 31, 36, 1000, u32::MAX] {
        let g = valid().last_tensor(|t| t.type_id = id);
        assert_has(
            &err(g.build()),
            &[
                "\"output_norm.weight\"",
                &format!("unknown ggml type id {id}"),
            ],
        );
    }
}

#[test]
fn alignment_must_be_a_power_of_two() {
    for bad in [0u32, 3, 48] {
        let g = valid().kv("general.alignment", val(4, &bad.to_le_bytes()));
        assert_has(&err(g.build()), &["general.alignment", "power of two"]);
    }
    let g = valid().kv("general.alignment", val(8, &string(b"32")));
    assert_has(&err(g.build()), &["general.alignment", "power of two"]);
    let mut g = valid().kv("general.alignment", val(4, &64u32.to_le_bytes()));
    g.alignment = 64;
    let f = GgufFile::from_bytes(g.build()).unwrap();
    assert!(f.tensors().iter().all(|t| t.offset % 64 == 0));
    assert_eq!(
        f.dequantize(f.tensor("token_embd.weight").unwrap())
            .unwrap()[5],
        6.0
    );
    // A huge alignment moves the data section past the end.
    let mut g = valid().kv("general.alignment", val(10, &(1u64 << 63).to_le_bytes()));
    g.alignment = 32;
    assert_has(&err(g.build()), &["runs past the end"]);
}

#[test]
fn bad_offsets_are_refused() {
    let g = valid().last_tensor(|t| t.offset = Some(100));
    assert_has(
        &err(g.build()),
        &["\"output_norm.weight\"", "offset 100", "alignment 32"],
    );
    let g = valid().last_tensor(|t| t.offset = Some(1 << 20));
    assert_has(
        &err(g.build()),
        &["\"output_norm.weight\"", "runs past the end"],
    );
    let g = valid().last_tensor(|t| t.offset = Some(!31));
    assert_has(
        &err(g.build()),
        &["\"output_norm.weight\"", "runs past the end"],
    );
    // Data cut short: the last tensor's bytes are missing.
    let mut bytes = valid().build();
    bytes.truncate(bytes.len() - 32);
    assert_has(
        &err(bytes),
        &["\"output_norm.weight\"", "runs past the end"],
    );
}

#[test]
fn duplicates_are_refused() {
    let g = valid().tensor("token_embd.weight", &[1], GgmlType::F32, vec![0; 4]);
    assert_has(
        &err(g.build()),
        &["duplicate tensor name \"token_embd.weight\""],
    );
    let g = valid().kv("u8", val(0, &[1]));
    assert_has(&err(g.build()), &["duplicate metadata key \"u8\""]);
}

#[test]
fn invalid_utf8_names_are_refused() {
    let mut g = Gguf::new().kv("k", val(0, &[1]));
    g.kvs[0].0 = vec![0xC3];
    assert_has(&err(g.build()), &["metadata key #0", "UTF-8"]);
    let mut bytes = Gguf::new()
        .tensor("t", &[1], GgmlType::F32, vec![0; 4])
        .build();
    bytes[32] = 0xFF;
    assert_has(&err(bytes), &["name of tensor #0", "UTF-8"]);
}

#[test]
fn unsupported_types_parse_but_do_not_dequantise() {
    let g = Gguf::new().tensor(
        "blk.0.attn_q.weight",
        &[256, 1],
        GgmlType::IQ2_XXS,
        vec![0; 66],
    );
    let f = GgufFile::from_bytes(g.build()).unwrap();
    let t = f.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(t.n_bytes, 66);
    let msg = f.dequantize(t).unwrap_err().to_string();
    assert_has(
        &msg,
        &[
            "tensor \"blk.0.attn_q.weight\" has type IQ2_XXS, which attnscope cannot dequantise",
            "F32, F16",
            "Q4_K",
        ],
    );
    assert!(f.dequantize_rows(t, 0, &mut [0.0; 256]).is_err());
}

#[test]
fn non_finite_weights_are_not_errors() {
    let g = Gguf::new().tensor(
        "w",
        &[3],
        GgmlType::F32,
        f32_bytes(&[f32::NAN, f32::INFINITY, 1.0]),
    );
    let f = GgufFile::from_bytes(g.build()).unwrap();
    let v = f.dequantize(&f.tensors()[0]).unwrap();
    assert!(v[0].is_nan() && v[1].is_infinite() && v[2] == 1.0);
}

#[test]
fn foreign_tensor_info_is_an_error_not_a_panic() {
    let f = GgufFile::from_bytes(valid().build()).unwrap();
    let mut t = f.tensor("token_embd.weight").unwrap().clone();
    t.offset = u64::MAX - 3;
    assert!(f.tensor_bytes(&t).is_empty());
    assert!(f.dequantize(&t).is_err());
    let msg = f.dequantize(&t).unwrap_err().to_string();
    assert_has(&msg, &["\"token_embd.weight\"", "do not match"]);
    t = f.tensor("token_embd.weight").unwrap().clone();
    t.dims = vec![u64::MAX, u64::MAX];
    assert!(f.dequantize(&t).is_err());
    assert!(f.dequantize_rows(&t, 0, &mut [0.0; 3]).is_err());
    t.dims = vec![1 << 40, 1 << 20];
    t.n_bytes = 1 << 62;
    assert!(
        f.dequantize(&t).is_err(),
        "must not try to allocate 2^60 values"
    );
}

/// A tensor big enough for the parallel path agrees with one serial conversion.
#[test]
fn parallel_dequantize_matches_serial() {
    let (rows, cols) = (300, 1024);
    let n_blocks = rows * cols / 32;
    let mut data = Vec::with_capacity(n_blocks * 34);
    for b in 0..n_blocks {
        data.extend_from_slice(&half::f16::from_f32(1.0 / (1 + b % 7) as f32).to_le_bytes());
        data.extend((0..32).map(|j| ((b * 31 + j * 7) % 256) as u8));
    }
    let g = Gguf::new().tensor(
        "big",
        &[cols as u64, rows as u64],
        GgmlType::Q8_0,
        data.clone(),
    );
    let f = GgufFile::from_bytes(g.build()).unwrap();
    let got = f.dequantize(f.tensor("big").unwrap()).unwrap();
    let mut want = vec![0.0; rows * cols];
    dequantize_blocks(GgmlType::Q8_0, &data, &mut want).unwrap();
    assert_eq!(got, want);
}
