//! Weights from `model.safetensors` (f32, f16 or bf16), memory-mapped and converted to f32
//! once, with every key's shape checked and every NaN/Inf reported by name and position.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use half::{bf16, f16};
use ndarray::{Array1, Array2};
use safetensors::{Dtype, SafeTensors};

use super::ModelError;

/// One tensor converted to f32.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Row-major data.
    pub data: Vec<f32>,
}

/// Where non-finite values were found (loading goes on; the app shows a warning).
#[derive(Clone, Debug, PartialEq)]
pub struct NonFinite {
    /// Tensor name.
    pub name: String,
    /// How many entries are NaN or ±∞.
    pub count: usize,
    /// Flat index of the first one.
    pub first_index: usize,
}

/// A table whose rows are produced on demand (a GGUF token embedding kept quantised in the
/// mapped file): only the rows a text uses are ever dequantised.
#[derive(Clone)]
pub struct RowTable {
    /// Rows (vocabulary size).
    pub rows: usize,
    /// Row length (model width).
    pub cols: usize,
    /// Bytes it occupies in its file.
    pub bytes: u64,
    source: Arc<RowSource>,
}

type RowSource = dyn Fn(usize, &mut [f32]) -> Result<(), String> + Send + Sync;

impl std::fmt::Debug for RowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RowTable({} × {}, {} B)",
            self.rows, self.cols, self.bytes
        )
    }
}

impl RowTable {
    /// A table of `rows × cols` whose row `r` is written by `source(r, out)`.
    pub fn new(
        rows: usize,
        cols: usize,
        bytes: u64,
        source: impl Fn(usize, &mut [f32]) -> Result<(), String> + Send + Sync + 'static,
    ) -> RowTable {
        RowTable {
            rows,
            cols,
            bytes,
            source: Arc::new(source),
        }
    }

    /// Writes row `r` (checked against `rows`) into `out` (`cols` long).
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<(), String> {
        if r >= self.rows || out.len() != self.cols {
            return Err(format!(
                "row {r} of a {} × {} table requested into {} values",
                self.rows,
                self.cols,
                out.len()
            ));
        }
        (self.source)(r, out)
    }
}

/// All tensors of a checkpoint, by key.
#[derive(Debug, Default)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    row_tables: HashMap<String, RowTable>,
    /// Quantised matrices also kept packed for one-row products (GGUF Q4_0 / Q4_1 / Q8_0).
    packed: HashMap<String, Arc<super::packed::PackedRows>>,
    /// Non-finite values found while loading.
    pub non_finite: Vec<NonFinite>,
    /// Bytes of the file.
    pub file_bytes: u64,
    /// The stored dtype of the first tensor (for display).
    pub dtype: String,
}

impl Weights {
    /// Reads and converts every tensor of a safetensors file.
    pub fn load(path: &Path) -> Result<Weights, ModelError> {
        Weights::load_with_progress(path, &|_| {})
    }

    /// [`Weights::load`], calling `progress` with the fraction of tensors converted.
    pub fn load_with_progress(
        path: &Path,
        progress: &(dyn Fn(f32) + Sync),
    ) -> Result<Weights, ModelError> {
        let file = std::fs::File::open(path).map_err(|e| ModelError::Io {
            path: path.to_owned(),
            error: e,
        })?;
        // SAFETY: the map is read-only and lives only inside this function; if another process
        // truncates the file meanwhile, reads may fault, which is the documented risk of
        // memory-mapping (the same as every safetensors loader takes).
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::Io {
            path: path.to_owned(),
            error: e,
        })?;
        Weights::from_bytes(&mmap, progress)
    }

    /// Parses a safetensors buffer (header lengths and offsets are validated by the crate).
    pub fn from_bytes(
        bytes: &[u8],
        progress: &(dyn Fn(f32) + Sync),
    ) -> Result<Weights, ModelError> {
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| ModelError::Safetensors(e.to_string()))?;
        let mut w = Weights {
            file_bytes: bytes.len() as u64,
            ..Weights::default()
        };
        let tensors = st.tensors();
        let total = tensors.len().max(1);
        for (done, (name, view)) in tensors.into_iter().enumerate() {
            progress(done as f32 / total as f32);
            let raw = view.data();
            let data: Vec<f32> = match view.dtype() {
                Dtype::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Dtype::F16 => raw
                    .chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => raw
                    .chunks_exact(2)
                    .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                other => {
                    return Err(ModelError::WrongDtype {
                        name: name.clone(),
                        dtype: format!("{other:?}"),
                    });
                }
            };
            if w.dtype.is_empty() {
                w.dtype = format!("{:?}", view.dtype()).to_lowercase();
            }
            let bad: Vec<usize> = data
                .iter()
                .enumerate()
                .filter(|(_, x)| !x.is_finite())
                .map(|(i, _)| i)
                .collect();
            if let Some(&first_index) = bad.first() {
                w.non_finite.push(NonFinite {
                    name: name.clone(),
                    count: bad.len(),
                    first_index,
                });
            }
            w.tensors.insert(
                name,
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        w.non_finite.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(w)
    }

    /// An empty set to fill by name (GGUF files).
    pub fn empty(file_bytes: u64, dtype: String) -> Weights {
        Weights {
            file_bytes,
            dtype,
            ..Weights::default()
        }
    }

    /// Adds a dense tensor.
    pub fn insert(&mut self, name: String, t: Tensor) {
        self.tensors.insert(name, t);
    }

    /// Adds a table read row by row (see [`RowTable`]).
    pub fn insert_rows(&mut self, name: String, t: RowTable) {
        self.row_tables.insert(name, t);
    }

    /// Adds the packed form of a quantised matrix (PyTorch's `out × in` rows).
    pub fn insert_packed(&mut self, name: String, p: super::packed::PackedRows) {
        self.packed.insert(name, Arc::new(p));
    }

    /// The packed form of a matrix of `rows × cols`, if one was kept and has that shape.
    pub fn take_packed(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Option<Arc<super::packed::PackedRows>> {
        self.packed
            .remove(name)
            .filter(|p| p.rows() == rows && p.cols() == cols)
    }

    /// Bytes of the packed matrices.
    pub fn packed_bytes(&self) -> u64 {
        self.packed.values().map(|p| p.bytes() as u64).sum()
    }

    /// Bytes of the row tables (left in their file, not in f32).
    pub fn row_table_bytes(&self) -> u64 {
        self.row_tables.values().map(|t| t.bytes).sum()
    }

    /// Bytes of the dense f32 tensors still held.
    pub fn dense_bytes(&self) -> u64 {
        self.tensors.values().map(|t| 4 * t.data.len() as u64).sum()
    }

    /// Moves a row table out, if the key is one (its shape checked).
    pub fn take_rows(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Option<RowTable>, ModelError> {
        match self.row_tables.remove(name) {
            None => Ok(None),
            Some(t) if t.rows == rows && t.cols == cols => Ok(Some(t)),
            Some(t) => Err(ModelError::WrongShape {
                name: name.to_owned(),
                expected: vec![rows, cols],
                got: vec![t.rows, t.cols],
            }),
        }
    }

    /// The highest layer index a key names ("model.layers.29.…", GPT-2's "h.11.…", BERT's
    /// "encoder.layer.5.…"), if any.
    pub fn last_layer(&self) -> Option<usize> {
        let keys = self
            .tensors
            .keys()
            .chain(self.row_tables.keys())
            .chain(self.packed.keys());
        keys.filter_map(|k| {
            let parts: Vec<&str> = k.split('.').collect();
            parts.windows(2).find_map(|w| {
                matches!(w[0], "layers" | "layer" | "h")
                    .then(|| w[1].parse::<usize>().ok())
                    .flatten()
            })
        })
        .max()
    }

    /// Whether a key exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.row_tables.contains_key(name)
    }

    /// The stored shape of a key, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// Makes `to` a copy of `from` when `to` is absent and `from` present (a tied embedding
    /// that a checkpoint stores once, e.g. BART's `model.shared.weight`, read by both stacks).
    pub fn alias(&mut self, from: &str, to: &str) {
        if self.tensors.contains_key(to) {
            return;
        }
        if let Some(t) = self.tensors.get(from) {
            let copy = Tensor {
                shape: t.shape.clone(),
                data: t.data.clone(),
            };
            self.tensors.insert(to.to_owned(), copy);
        }
    }

    /// Moves a tensor out (each weight is used once, so the f32 copy is never doubled).
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingKey(name.to_owned()))?;
        if t.shape != shape {
            return Err(ModelError::WrongShape {
                name: name.to_owned(),
                expected: shape.to_vec(),
                got: t.shape.clone(),
            });
        }
        Ok(t)
    }

    /// A 2-D tensor of the given shape.
    pub fn matrix(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Array2<f32>, ModelError> {
        let t = self.take(name, &[rows, cols])?;
        Ok(Array2::from_shape_vec((rows, cols), t.data).expect("shape checked"))
    }

    /// A 1-D tensor of the given length.
    pub fn vector(&mut self, name: &str, len: usize) -> Result<Array1<f32>, ModelError> {
        let t = self.take(name, &[len])?;
        Ok(Array1::from_vec(t.data))
    }
}
