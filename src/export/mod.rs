//! Writers for everything the app and CLI export: trace JSON, matrix CSV, heatmap PNG and SVG.
//! No egui here. Every file is written atomically (a temp file beside it, then a rename), so
//! a failed export never leaves a half-written file or destroys the previous one.

pub mod colormap;
pub mod heatmap;
pub mod matrix;
pub mod text;

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::core::Trace;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The file could not be written.
    #[error("cannot write {path}: {error}")]
    Io {
        /// The destination.
        path: PathBuf,
        /// The OS error (in the message, not a source: a chain would say it twice).
        error: std::io::Error,
    },
    /// Serialisation failed.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// Nothing to export.
    #[error("nothing to export: {0}")]
    Empty(&'static str),
    /// A matrix with more cells than an SVG is written with.
    #[error(
        "an SVG of {n} × {m} cells would be too large to open (at most {} cells): write a .png",
        heatmap::MAX_SVG_CELLS
    )]
    TooLargeForSvg {
        /// Rows.
        n: usize,
        /// Columns.
        m: usize,
    },
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, flushed, then renamed
/// over the destination. On error the destination is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |error| ExportError::Io {
        path: path.to_owned(),
        error,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// The trace as pretty JSON (masked logits are `null`).
pub fn trace_json(trace: &Trace) -> Result<String, ExportError> {
    serde_json::to_string_pretty(trace).map_err(|e| ExportError::Encode {
        what: "trace",
        message: e.to_string(),
    })
}

/// A matrix as CSV with a header row of column labels and a first column of row labels.
/// Masked (−∞) entries are written as empty cells.
pub fn matrix_csv(m: &Array2<f32>, row_labels: &[String], col_labels: &[String]) -> String {
    fn cell(s: &str) -> String {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    }
    let mut out = String::from("query\\key");
    for c in col_labels {
        out.push(',');
        out.push_str(&cell(c));
    }
    out.push('\n');
    for (i, row) in m.rows().into_iter().enumerate() {
        out.push_str(&cell(row_labels.get(i).map_or("", String::as_str)));
        for x in row {
            out.push(',');
            if x.is_finite() {
                out.push_str(&format!("{x}"));
            }
        }
        out.push('\n');
    }
    out
}

/// Every head's weights of a trace as one CSV (columns: head, query index, query token, key
/// index, key token, raw score, weight).
///
/// A model's layer (`layer`) is its first column: a layer's file and the next one's had
/// nothing in them to tell them apart.
pub fn trace_weights_csv(trace: &Trace, layer: Option<usize>) -> String {
    let mut out = String::from(if layer.is_some() { "layer," } else { "" });
    out.push_str("head,query_index,query,key_index,key,raw_score,weight\n");
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let first = layer.map_or_else(String::new, |l| format!("{l},"));
    for (h, t) in trace.head_traces.iter().enumerate() {
        for ((i, j), w) in t.weights.indexed_iter() {
            out.push_str(&format!(
                "{first}{h},{i},{},{j},{},{},{w}\n",
                q(&trace.tokens_q[i]),
                q(&trace.tokens_k[j]),
                t.raw_scores[[i, j]]
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let bad = dir.path().join("no/such/dir/a.txt");
        let err = write_atomic(&bad, b"x").unwrap_err().to_string();
        assert!(err.contains("cannot write"), "{err}");
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn csv_quotes_labels_and_blanks_masked_cells() {
        let m = ndarray::array![[0.5, f32::NEG_INFINITY]];
        let csv = matrix_csv(&m, &["a,b".into()], &["x".into(), "\"y\"".into()]);
        assert_eq!(csv, "query\\key,x,\"\"\"y\"\"\"\n\"a,b\",0.5,\n");
    }
}
