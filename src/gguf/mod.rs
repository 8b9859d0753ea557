//! A small GGUF reader (llama.cpp's model file format) that is safe on hostile files.
//!
//! Layout (little-endian, `docs/gguf.md` in llama.cpp):
//!
//! ```text
//! "GGUF" | version: u32 (2 or 3) | n_tensors: u64 | n_kv: u64
//! n_kv ×      key: string | value_type: u32 | value
//! n_tensors × name: string | n_dims: u32 | dims: [u64; n_dims] | ggml_type: u32 | offset: u64
//! padding to general.alignment (default 32)
//! tensor data; each tensor at data_start + offset, offset a multiple of the alignment
//! ```
//!
//! A string is a u64 byte length then UTF-8 bytes; an array is an element type (u32), a
//! count (u64), then the elements. Every count, length, dimension, offset and type is
//! checked before it is used: a count is bounded by the bytes left (each entry needs at
//! least its minimum encoded size), so a hostile file can neither read past its end nor make
//! the reader allocate more than a fixed multiple of its size. The worst case is an array of
//! one-byte values, each of which becomes a 32-byte [`MetaValue`]: 32× the file. Tensor data is borrowed from the file
//! (memory-mapped by [`GgufFile::open`]) and converted to f32 on request.

mod quant;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use quant::{GgmlType, dequantize_blocks};

/// The first four bytes of every GGUF file.
const MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
const DEFAULT_ALIGNMENT: u64 = 32;
/// How deep arrays may nest: an array of arrays is allowed, a third level is not.
const MAX_ARRAY_DEPTH: usize = 2;
/// Most dimensions a ggml tensor has (`GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;
/// Smallest metadata entry: empty key (8) + value type (4) + a one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest tensor entry: empty name (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
const MIN_TENSOR_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// Why a GGUF file was refused or a tensor could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened or mapped.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not a source: a chain would say it twice).
        error: std::io::Error,
    },
    /// The file does not start with `GGUF`.
    #[error("{}", bad_magic_message(found))]
    BadMagic {
        /// The first bytes found (up to 4).
        found: Vec<u8>,
    },
    /// A version other than 2 or 3.
    #[error("{}", version_message(*.version))]
    UnsupportedVersion {
        /// The version field as read (little-endian).
        version: u32,
    },
    /// The file ends inside a field.
    #[error(
        "file is truncated: {what} at offset {offset} needs {needed} bytes, but the file ends at {file_bytes}"
    )]
    Truncated {
        /// What was being read (names the key or tensor when known).
        what: String,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Size of the file.
        file_bytes: u64,
    },
    /// A count larger than the rest of the file could hold.
    #[error(
        "{what} count {count} at offset {offset} is impossible: the {bytes_left} bytes left hold at most {max}"
    )]
    CountTooLarge {
        /// What is counted (names the key when known).
        what: String,
        /// The count as read.
        count: u64,
        /// Where the count is.
        offset: u64,
        /// Bytes after the count.
        bytes_left: u64,
        /// The largest count that fits.
        max: u64,
    },
    /// A key, tensor name or string value is not UTF-8.
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// What the string is.
        what: String,
        /// Where it starts.
        offset: u64,
    },
    /// A metadata value type id outside 0..=12.
    #[error("metadata key {key:?} has unknown value type {type_id} at offset {offset}")]
    UnknownValueType {
        /// The key.
        key: String,
        /// The type id as read.
        type_id: u32,
        /// Where the type id is.
        offset: u64,
    },
    /// Arrays nested deeper than the reader allows.
    #[error(
        "metadata key {key:?} nests arrays more than {MAX_ARRAY_DEPTH} deep at offset {offset}"
    )]
    ArrayTooDeep {
        /// The key.
        key: String,
        /// Where the too-deep array starts.
        offset: u64,
    },
    /// A bool byte other than 0 or 1.
    #[error("metadata key {key:?} has bool byte {byte} at offset {offset} (must be 0 or 1)")]
    BadBool {
        /// The key.
        key: String,
        /// The byte.
        byte: u8,
        /// Where it is.
        offset: u64,
    },
    /// A metadata key appears twice.
    #[error("duplicate metadata key {key:?} at offset {offset}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Where the second one starts.
        offset: u64,
    },
    /// `general.alignment` is not a nonzero power of two (or not an integer).
    #[error("general.alignment is {value}; it must be a nonzero power of two")]
    BadAlignment {
        /// The value as found.
        value: String,
    },
    /// A tensor with 0 or more than 4 dimensions.
    #[error("tensor {tensor:?} has {n_dims} dimensions; ggml tensors have 1 to {MAX_DIMS}")]
    BadDimCount {
        /// The tensor.
        tensor: String,
        /// Its dimension count.
        n_dims: u32,
    },
    /// A tensor with a zero dimension.
    #[error("tensor {tensor:?} has a zero dimension: {dims:?}")]
    ZeroDim {
        /// The tensor.
        tensor: String,
        /// Its dimensions (ggml order).
        dims: Vec<u64>,
    },
    /// A tensor whose element or byte count overflows.
    #[error("tensor {tensor:?} dimensions {dims:?} overflow when multiplied")]
    DimsOverflow {
        /// The tensor.
        tensor: String,
        /// Its dimensions (ggml order).
        dims: Vec<u64>,
    },
    /// A ggml type id that ggml does not define.
    #[error("tensor {tensor:?} has unknown ggml type id {type_id}")]
    UnknownGgmlType {
        /// The tensor.
        tensor: String,
        /// The type id as read.
        type_id: u32,
    },
    /// A row length that is not a whole number of blocks.
    #[error(
        "tensor {tensor:?}: its rows have {row_len} values, not a multiple of {ty}'s block of {block_size}"
    )]
    NotWholeBlocks {
        /// The tensor.
        tensor: String,
        /// Its type.
        ty: GgmlType,
        /// `dims[0]`.
        row_len: u64,
        /// The type's block size.
        block_size: usize,
    },
    /// A tensor offset that is not a multiple of the alignment.
    #[error("tensor {tensor:?} offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned {
        /// The tensor.
        tensor: String,
        /// Its offset relative to the data section.
        offset: u64,
        /// `general.alignment`.
        alignment: u64,
    },
    /// Tensor data past the end of the file.
    #[error(
        "tensor {tensor:?} data at offset {offset} ({n_bytes} bytes) runs past the end of the file ({file_bytes} bytes)"
    )]
    TensorOutOfBounds {
        /// The tensor.
        tensor: String,
        /// Absolute offset of its data (saturated if it overflowed).
        offset: u64,
        /// Its size.
        n_bytes: u64,
        /// Size of the file.
        file_bytes: u64,
    },
    /// Two tensors with one name.
    #[error("duplicate tensor name {tensor:?}")]
    DuplicateTensor {
        /// The name.
        tensor: String,
    },
    /// A tensor of a type the dequantisers do not read.
    #[error(
        "tensor {tensor:?} has type {ty}, which attnscope cannot dequantise; it reads {supported}"
    )]
    CannotDequantize {
        /// The tensor.
        tensor: String,
        /// Its type.
        ty: GgmlType,
        /// The types that can be read.
        supported: String,
    },
    /// [`dequantize_blocks`] was given a type it does not read.
    #[error("type {ty} cannot be dequantised; attnscope reads {supported}")]
    CannotDequantizeType {
        /// The type.
        ty: GgmlType,
        /// The types that can be read.
        supported: String,
    },
    /// [`dequantize_blocks`] was given lengths that are not the same whole number of blocks.
    #[error("{ty}: {n_bytes} bytes and {n_values} values are not the same whole number of {}-byte, {}-value blocks", ty.type_size(), ty.block_size())]
    BlockSizeMismatch {
        /// The type.
        ty: GgmlType,
        /// Bytes given.
        n_bytes: usize,
        /// Output values given.
        n_values: usize,
    },
    /// A [`TensorInfo`] whose dims, type, offset and size do not describe data of this file
    /// (one from another file, or edited).
    #[error("tensor {tensor:?}: its dims, type and byte range do not match this file's data")]
    ForeignTensor {
        /// The tensor.
        tensor: String,
    },
    /// A row range outside the tensor, or an output that is not whole rows.
    #[error(
        "tensor {tensor:?}: cannot read {out_len} values from row {first_row}; it has {n_rows} rows of {row_len}"
    )]
    BadRowRange {
        /// The tensor.
        tensor: String,
        /// First row asked for.
        first_row: usize,
        /// Length of the output buffer.
        out_len: usize,
        /// Rows in the tensor.
        n_rows: usize,
        /// Values per row.
        row_len: usize,
    },
}

fn version_message(version: u32) -> String {
    match version {
        1 => "GGUF version 1 is not supported (only versions 2 and 3); re-convert the model with a current llama.cpp".to_owned(),
        v if matches!(v.swap_bytes(), 2 | 3) => format!(
            "GGUF version field {v} looks like a big-endian file (version {}); only little-endian GGUF is supported",
            v.swap_bytes()
        ),
        v => format!("GGUF version {v} is not supported (only versions 2 and 3)"),
    }
}

/// A metadata value. Integers keep their stored width and signedness.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7 (a byte, 0 or 1).
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
    /// Type 9: elements of one type (arrays of arrays may mix inner types).
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The value as a non-negative integer (any integer type; not bools or floats).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v.into()),
            MetaValue::U16(v) => Some(v.into()),
            MetaValue::U32(v) => Some(v.into()),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer (any integer type that fits in i64).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetaValue::U64(v) => i64::try_from(v).ok(),
            MetaValue::I64(v) => Some(v),
            MetaValue::I8(v) => Some(v.into()),
            MetaValue::I16(v) => Some(v.into()),
            MetaValue::I32(v) => Some(v.into()),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as f32 (floats, and integers converted, possibly rounded).
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            MetaValue::F32(v) => Some(v),
            MetaValue::F64(v) => Some(v as f32),
            MetaValue::U64(v) => Some(v as f32),
            _ => self.as_i64().map(|v| v as f32),
        }
    }
}

/// One tensor's header entry, validated: its data lies inside the file and is a whole
/// number of blocks.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// Name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` varies fastest (the row length).
    pub dims: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Absolute offset of the data in the file.
    pub offset: u64,
    /// Size of the data in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Shape in PyTorch order (the dims reversed): a ggml `[n_embd, n_vocab]` is a
    /// `[n_vocab, n_embd]` row-major matrix.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| to_usize(d)).collect()
    }

    /// Number of values.
    pub fn n_elements(&self) -> usize {
        self.row_len().saturating_mul(self.n_rows())
    }

    /// Values per row (`dims[0]`).
    pub fn row_len(&self) -> usize {
        self.dims.first().map_or(0, |&d| to_usize(d))
    }

    /// Number of rows: the product of `dims[1..]` (1 for a vector).
    pub fn n_rows(&self) -> usize {
        self.dims
            .iter()
            .skip(1)
            .fold(1usize, |n, &d| n.saturating_mul(to_usize(d)))
    }

    /// Bytes per row (the row is a whole number of blocks in a validated tensor).
    fn row_bytes(&self) -> usize {
        (self.row_len() / self.ggml_type.block_size()).saturating_mul(self.ggml_type.type_size())
    }
}

/// Saturating u64 → usize (only matters on 32-bit targets).
fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The bytes of the file: memory-mapped, or owned when given as a buffer.
enum Data {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Mmap(m) => m,
            Data::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file: its metadata and tensor directory, with the tensor data left in
/// place until [`GgufFile::dequantize`] or [`GgufFile::tensor_bytes`] asks for it.
pub struct GgufFile {
    data: Data,
    version: u32,
    metadata: Vec<(String, MetaValue)>,
    meta_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("file_bytes", &self.file_bytes())
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and parses a GGUF file.
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let io = |error| GgufError::Io {
            path: path.to_owned(),
            error,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            // Mapping an empty file fails on some systems; an empty buffer gives the real error.
            return GgufFile::from_bytes(Vec::new());
        }
        // SAFETY: the map is read-only and owned by the returned GgufFile; if another process
        // truncates or rewrites the file meanwhile, reads may fault or see new bytes, which is
        // the documented risk of memory-mapping (the same as every GGUF and safetensors loader
        // takes). Every offset was validated against the length at parse time.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let parsed = parse(&mmap)?;
        Ok(parsed.into_file(Data::Mmap(mmap)))
    }

    /// Parses a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        let parsed = parse(&bytes)?;
        Ok(parsed.into_file(Data::Owned(bytes)))
    }

    /// The format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Size of the file in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.data.bytes().len() as u64
    }

    /// All metadata entries in file order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        let i = *self.meta_index.get(key)?;
        self.metadata.get(i).map(|(_, v)| v)
    }

    /// `key` as a non-negative integer (any integer type; `None` for negative values,
    /// floats, bools and strings).
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// `key` as f32 (F32, F64, or any integer type converted).
    pub fn get_f32(&self, key: &str) -> Option<f32> {
        self.get(key)?.as_f32()
    }

    /// `key` as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// `key` as a bool.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            MetaValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// `key` as an array of strings (`None` if any element is not a string).
    pub fn get_str_array(&self, key: &str) -> Option<Vec<&str>> {
        self.array(key)?
            .iter()
            .map(|v| match v {
                MetaValue::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    /// `key` as an array of f32 (elements as [`GgufFile::get_f32`] reads them).
    pub fn get_f32_array(&self, key: &str) -> Option<Vec<f32>> {
        self.array(key)?.iter().map(MetaValue::as_f32).collect()
    }

    /// `key` as an array of i64 (any integer element type; `None` if one does not fit).
    pub fn get_i64_array(&self, key: &str) -> Option<Vec<i64>> {
        self.array(key)?.iter().map(MetaValue::as_i64).collect()
    }

    fn array(&self, key: &str) -> Option<&[MetaValue]> {
        match self.get(key)? {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// All tensors in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(*self.tensor_index.get(name)?)
    }

    /// The raw bytes of a tensor (empty if `t` does not describe a range of this file).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        let bytes = self.data.bytes();
        let start = to_usize(t.offset);
        start
            .checked_add(to_usize(t.n_bytes))
            .and_then(|end| bytes.get(start..end))
            .unwrap_or_default()
    }

    /// The whole tensor as f32, row-major in PyTorch order ([`TensorInfo::shape`]).
    /// Large tensors are converted on all cores.
    pub fn dequantize(&self, t: &TensorInfo) -> Result<Vec<f32>, GgufError> {
        self.check_dequantizable(t)?;
        let mut out = vec![0f32; t.n_elements()];
        self.dequantize_rows(t, 0, &mut out)?;
        Ok(out)
    }

    /// Rows `first_row ..` of a tensor into `out`, whose length must be a whole number of
    /// rows ([`TensorInfo::row_len`] values each) inside the tensor. Rows run along
    /// `dims[1..]` flattened, so row r of a 2-D tensor is `shape()[0]`-index r.
    pub fn dequantize_rows(
        &self,
        t: &TensorInfo,
        first_row: usize,
        out: &mut [f32],
    ) -> Result<(), GgufError> {
        self.check_dequantizable(t)?;
        let (row_len, n_rows) = (t.row_len(), t.n_rows());
        let bad_range = || GgufError::BadRowRange {
            tensor: t.name.clone(),
            first_row,
            out_len: out.len(),
            n_rows,
            row_len,
        };
        if row_len == 0 || !out.len().is_multiple_of(row_len) {
            return Err(bad_range());
        }
        let count = out.len() / row_len;
        if first_row.checked_add(count).is_none_or(|end| end > n_rows) {
            return Err(bad_range());
        }
        let row_bytes = t.row_bytes();
        let bytes = first_row
            .checked_mul(row_bytes)
            .zip(count.checked_mul(row_bytes))
            .and_then(|(start, len)| self.tensor_bytes(t).get(start..start.checked_add(len)?))
            .ok_or_else(bad_range)?;
        // Split into chunks of whole rows, about 64 Ki values each, converted in parallel.
        let rows_per_chunk = (65_536 / row_len).max(1);
        if count <= rows_per_chunk {
            return dequantize_blocks(t.ggml_type, bytes, out);
        }
        out.par_chunks_mut(rows_per_chunk * row_len)
            .zip(bytes.par_chunks(rows_per_chunk * row_bytes))
            .try_for_each(|(o, b)| dequantize_blocks(t.ggml_type, b, o))
    }

    /// Checks that `t` has a readable type and describes data inside this file, so that
    /// the output can be allocated from its dims.
    fn check_dequantizable(&self, t: &TensorInfo) -> Result<(), GgufError> {
        if !t.ggml_type.can_dequantize() {
            return Err(GgufError::CannotDequantize {
                tensor: t.name.clone(),
                ty: t.ggml_type,
                supported: quant::dequantizable_names(),
            });
        }
        let consistent = tensor_n_bytes(&t.name, &t.dims, t.ggml_type).ok() == Some(t.n_bytes)
            && self.tensor_bytes(t).len() as u64 == t.n_bytes;
        if !consistent {
            return Err(GgufError::ForeignTensor {
                tensor: t.name.clone(),
            });
        }
        Ok(())
    }
}

/// What [`parse`] reads from the bytes: everything but the bytes themselves.
struct Parsed {
    version: u32,
    metadata: Vec<(String, MetaValue)>,
    meta_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl Parsed {
    fn into_file(self, data: Data) -> GgufFile {
        GgufFile {
            data,
            version: self.version,
            metadata: self.metadata,
            meta_index: self.meta_index,
            tensors: self.tensors,
            tensor_index: self.tensor_index,
        }
    }
}

/// A read position in the file that refuses to run past its end.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn left(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: impl FnOnce() -> String) -> Result<&'a [u8], GgufError> {
        let slice = usize::try_from(n)
            .ok()
            .and_then(|n| self.bytes.get(self.pos..self.pos.checked_add(n)?));
        match slice {
            Some(s) => {
                self.pos += s.len();
                Ok(s)
            }
            None => Err(GgufError::Truncated {
                what: what(),
                offset: self.offset(),
                needed: n,
                file_bytes: self.bytes.len() as u64,
            }),
        }
    }

    fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], GgufError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of entries that each need at least `min_bytes`, checked against the rest.
    fn count(&mut self, min_bytes: u64, what: impl Fn() -> String) -> Result<u64, GgufError> {
        let offset = self.offset();
        let count = self.u64(&what)?;
        let max = self.left() / min_bytes;
        if count > max {
            return Err(GgufError::CountTooLarge {
                what: what(),
                count,
                offset,
                bytes_left: self.left(),
                max,
            });
        }
        Ok(count)
    }

    /// A length-prefixed string; `strict` refuses invalid UTF-8, otherwise it is replaced.
    fn string(&mut self, strict: bool, what: impl Fn() -> String) -> Result<String, GgufError> {
        let offset = self.offset();
        let len = self.u64(|| format!("{} length", what()))?;
        let bytes = self.take(len, &what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) if !strict => Ok(String::from_utf8_lossy(bytes).into_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 {
                what: what(),
                offset,
            }),
        }
    }
}

/// Smallest encoded size of one value of metadata type `type_id` (None if unknown).
fn min_value_bytes(type_id: u32) -> Option<u64> {
    Some(match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,       // string: its length
        9 => 4 + 8,   // array: element type and count
        10..=12 => 8, // 64-bit
        _ => return None,
    })
}

/// An empty file says so; another names the bytes it starts with, as text with escapes
/// ("hell", "PK\x03\x04" for a zip), not as numbers.
fn bad_magic_message(found: &[u8]) -> String {
    if found.is_empty() {
        "the file is empty, not a GGUF file".to_owned()
    } else {
        format!(
            "not a GGUF file: it starts with \"{}\", not \"GGUF\"",
            found.escape_ascii()
        )
    }
}

fn parse(bytes: &[u8]) -> Result<Parsed, GgufError> {
    let mut c = Cursor { bytes, pos: 0 };
    if bytes.get(..4) != Some(&MAGIC[..]) {
        return Err(GgufError::BadMagic {
            found: bytes.iter().take(4).copied().collect(),
        });
    }
    c.pos = 4;
    let version = c.u32(|| "version".into())?;
    if !matches!(version, 2 | 3) {
        return Err(GgufError::UnsupportedVersion { version });
    }
    let n_tensors_at = c.offset();
    let n_tensors = c.u64(|| "tensor count".into())?;
    let n_kv = c.count(MIN_KV_BYTES, || "metadata entry".into())?;
    // Both tables follow: the tensors must fit beside the smallest possible metadata.
    let left_after_kv = c.left().saturating_sub(n_kv * MIN_KV_BYTES);
    if n_tensors > left_after_kv / MIN_TENSOR_BYTES {
        return Err(GgufError::CountTooLarge {
            what: "tensor".into(),
            count: n_tensors,
            offset: n_tensors_at,
            bytes_left: c.left(),
            max: left_after_kv / MIN_TENSOR_BYTES,
        });
    }

    // Metadata. Counts are bounded by the bytes left, so these reservations are too.
    let mut metadata = Vec::with_capacity(n_kv as usize);
    let mut meta_index = HashMap::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let at = c.offset();
        let key = c.string(true, || format!("metadata key #{i}"))?;
        let value = read_value(&mut c, &key, None, 1)?;
        if meta_index.insert(key.clone(), metadata.len()).is_some() {
            return Err(GgufError::DuplicateKey { key, offset: at });
        }
        metadata.push((key, value));
    }
    let alignment = match meta_index.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(&i) => {
            let v = &metadata[i].1;
            match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => {
                    return Err(GgufError::BadAlignment {
                        value: format!("{v:?}"),
                    });
                }
            }
        }
    };

    // Tensor directory: read every entry, then place the data after it.
    let n_tensors = c.count_checked(n_tensors)?;
    let mut raw = Vec::with_capacity(n_tensors);
    for i in 0..n_tensors {
        raw.push(read_tensor_info(&mut c, i)?);
    }
    let file_bytes = bytes.len() as u64;
    let data_start = align_up(c.offset(), alignment);
    let mut tensors = Vec::with_capacity(n_tensors);
    let mut tensor_index = HashMap::with_capacity(n_tensors);
    for (name, dims, ggml_type, rel_offset) in raw {
        if !rel_offset.is_multiple_of(alignment) {
            return Err(GgufError::Misaligned {
                tensor: name,
                offset: rel_offset,
                alignment,
            });
        }
        let n_bytes = tensor_n_bytes(&name, &dims, ggml_type)?;
        let offset = data_start.and_then(|s| s.checked_add(rel_offset));
        let end = offset.and_then(|o| o.checked_add(n_bytes));
        let Some(offset) = offset.filter(|_| end.is_some_and(|e| e <= file_bytes)) else {
            return Err(GgufError::TensorOutOfBounds {
                tensor: name,
                offset: offset.unwrap_or(u64::MAX),
                n_bytes,
                file_bytes,
            });
        };
        if tensor_index.insert(name.clone(), tensors.len()).is_some() {
            return Err(GgufError::DuplicateTensor { tensor: name });
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            n_bytes,
        });
    }
    Ok(Parsed {
        version,
        metadata,
        meta_index,
        tensors,
        tensor_index,
    })
}

impl Cursor<'_> {
    /// Re-checks the tensor count against the bytes left after the metadata.
    fn count_checked(&self, n_tensors: u64) -> Result<usize, GgufError> {
        let max = self.left() / MIN_TENSOR_BYTES;
        if n_tensors > max {
            return Err(GgufError::CountTooLarge {
                what: "tensor".into(),
                count: n_tensors,
                offset: 8,
                bytes_left: self.left(),
                max,
            });
        }
        Ok(n_tensors as usize)
    }
}

/// `v` rounded up to a multiple of `alignment` (a power of two), or None on overflow.
fn align_up(v: u64, alignment: u64) -> Option<u64> {
    Some(v.checked_add(alignment - 1)? & !(alignment - 1))
}

/// One metadata value of `type_id` (read from the file when None). `depth` is 1 for a
/// top-level value and grows inside arrays.
fn read_value(
    c: &mut Cursor<'_>,
    key: &str,
    type_id: Option<u32>,
    depth: usize,
) -> Result<MetaValue, GgufError> {
    let type_at = c.offset();
    let type_id = match type_id {
        Some(t) => t,
        None => c.u32(|| format!("value type of key {key:?}"))?,
    };
    let what = || format!("value of key {key:?}");
    Ok(match type_id {
        0 => MetaValue::U8(c.array::<1>(what)?[0]),
        1 => MetaValue::I8(i8::from_le_bytes(c.array(what)?)),
        2 => MetaValue::U16(u16::from_le_bytes(c.array(what)?)),
        3 => MetaValue::I16(i16::from_le_bytes(c.array(what)?)),
        4 => MetaValue::U32(u32::from_le_bytes(c.array(what)?)),
        5 => MetaValue::I32(i32::from_le_bytes(c.array(what)?)),
        6 => MetaValue::F32(f32::from_le_bytes(c.array(what)?)),
        7 => {
            let at = c.offset();
            match c.array::<1>(what)?[0] {
                0 => MetaValue::Bool(false),
                1 => MetaValue::Bool(true),
                byte => {
                    return Err(GgufError::BadBool {
                        key: key.to_owned(),
                        byte,
                        offset: at,
                    });
                }
            }
        }
        // Values (unlike keys and tensor names) may hold invalid UTF-8 in real files: some
        // tokenizer vocabularies store partial UTF-8 sequences as tokens. Those bytes are
        // replaced by U+FFFD rather than refusing the model.
        8 => MetaValue::String(c.string(false, what)?),
        9 => {
            if depth > MAX_ARRAY_DEPTH {
                return Err(GgufError::ArrayTooDeep {
                    key: key.to_owned(),
                    offset: type_at,
                });
            }
            let elem_at = c.offset();
            let elem = c.u32(|| format!("array element type of key {key:?}"))?;
            let Some(min) = min_value_bytes(elem) else {
                return Err(GgufError::UnknownValueType {
                    key: key.to_owned(),
                    type_id: elem,
                    offset: elem_at,
                });
            };
            if elem == 9 && depth + 1 > MAX_ARRAY_DEPTH {
                return Err(GgufError::ArrayTooDeep {
                    key: key.to_owned(),
                    offset: elem_at,
                });
            }
            let n = c.count(min, || format!("array element of key {key:?}"))?;
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(read_value(c, key, Some(elem), depth + 1)?);
            }
            MetaValue::Array(items)
        }
        10 => MetaValue::U64(u64::from_le_bytes(c.array(what)?)),
        11 => MetaValue::I64(i64::from_le_bytes(c.array(what)?)),
        12 => MetaValue::F64(f64::from_le_bytes(c.array(what)?)),
        type_id => {
            return Err(GgufError::UnknownValueType {
                key: key.to_owned(),
                type_id,
                offset: type_at,
            });
        }
    })
}

/// One tensor directory entry: name, dims, type and offset relative to the data section.
fn read_tensor_info(
    c: &mut Cursor<'_>,
    i: usize,
) -> Result<(String, Vec<u64>, GgmlType, u64), GgufError> {
    let name = c.string(true, || format!("name of tensor #{i}"))?;
    let n_dims = c.u32(|| format!("dimension count of tensor {name:?}"))?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(GgufError::BadDimCount {
            tensor: name,
            n_dims,
        });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64(|| format!("dimensions of tensor {name:?}"))?);
    }
    let type_id = c.u32(|| format!("type of tensor {name:?}"))?;
    let offset = c.u64(|| format!("offset of tensor {name:?}"))?;
    let Some(ggml_type) = GgmlType::from_id(type_id) else {
        return Err(GgufError::UnknownGgmlType {
            tensor: name,
            type_id,
        });
    };
    Ok((name, dims, ggml_type, offset))
}

/// Bytes of a tensor with these dims, after checking the dims are nonzero, whole blocks,
/// and small enough that every count fits in u64 and usize.
fn tensor_n_bytes(name: &str, dims: &[u64], ty: GgmlType) -> Result<u64, GgufError> {
    if dims.contains(&0) {
        return Err(GgufError::ZeroDim {
            tensor: name.to_owned(),
            dims: dims.to_vec(),
        });
    }
    let overflow = || GgufError::DimsOverflow {
        tensor: name.to_owned(),
        dims: dims.to_vec(),
    };
    let n_elements = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .filter(|&n| usize::try_from(n).is_ok())
        .ok_or_else(overflow)?;
    let row_len = dims.first().copied().unwrap_or(0);
    let block = ty.block_size() as u64;
    if !row_len.is_multiple_of(block) {
        return Err(GgufError::NotWholeBlocks {
            tensor: name.to_owned(),
            ty,
            row_len,
            block_size: ty.block_size(),
        });
    }
    (n_elements / block)
        .checked_mul(ty.type_size() as u64)
        .filter(|&n| usize::try_from(n).is_ok())
        .ok_or_else(overflow)
}

#[cfg(test)]
mod tests {
    /// A file that is not GGUF names its first bytes as text ("hell"), escaped where they
    /// are not printable (a zip's "PK\x03\x04").
    #[test]
    fn a_wrong_magic_is_named_as_text() {
        assert_eq!(
            super::bad_magic_message(b"hell"),
            "not a GGUF file: it starts with \"hell\", not \"GGUF\""
        );
        assert_eq!(
            super::bad_magic_message(b"PK\x03\x04"),
            "not a GGUF file: it starts with \"PK\\x03\\x04\", not \"GGUF\""
        );
        assert_eq!(
            super::bad_magic_message(b""),
            "the file is empty, not a GGUF file"
        );
    }

    use super::*;

    #[test]
    fn version_messages() {
        assert!(version_message(1).contains("version 1 is not supported"));
        assert!(version_message(3u32.swap_bytes()).contains("big-endian"));
        assert!(version_message(7).contains("version 7"));
    }

    #[test]
    fn align_up_rounds_and_refuses_overflow() {
        assert_eq!(align_up(0, 32), Some(0));
        assert_eq!(align_up(33, 32), Some(64));
        assert_eq!(align_up(u64::MAX - 3, 32), None);
    }

    #[test]
    fn meta_value_conversions() {
        assert_eq!(MetaValue::I32(-1).as_u64(), None);
        assert_eq!(MetaValue::I32(7).as_u64(), Some(7));
        assert_eq!(MetaValue::Bool(true).as_u64(), None);
        assert_eq!(MetaValue::U64(u64::MAX).as_i64(), None);
        assert_eq!(MetaValue::U16(3).as_f32(), Some(3.0));
        assert_eq!(MetaValue::F64(0.5).as_f32(), Some(0.5));
        assert_eq!(MetaValue::String("1".into()).as_f32(), None);
    }
}
