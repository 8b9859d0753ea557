//! Models already on this computer: the HuggingFace cache, Ollama's store, LM Studio's
//! folders and folders the user added. Each entry says how big it is and whether attnscope
//! can open it, and if not, why. Scanning reads only headers (a GGUF file's metadata, a
//! folder's file list), so it is quick, but it still belongs off the UI thread.

use std::path::{Path, PathBuf};

use crate::gguf::GgufFile;

use super::from_gguf::GGUF_ARCHITECTURES;

/// Where an entry was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    /// `~/.cache/huggingface/hub` (or `$HF_HUB_CACHE`, `$HF_HOME/hub`).
    HuggingFace,
    /// `~/.ollama/models` (or `$OLLAMA_MODELS`).
    Ollama,
    /// `~/.lmstudio/models`, `~/.cache/lm-studio/models`.
    LmStudio,
    /// A folder the user added.
    Folder,
}

impl Store {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Store::HuggingFace => "HuggingFace",
            Store::Ollama => "Ollama",
            Store::LmStudio => "LM Studio",
            Store::Folder => "Folder",
        }
    }
}

/// One model found.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Where it was found.
    pub store: Store,
    /// What to show: an Ollama tag (`smollm2:135m`), a repo (`org/name`) or a file name.
    pub label: String,
    /// What to open (a folder or a GGUF file).
    pub path: PathBuf,
    /// Size on disk.
    pub bytes: u64,
    /// `Ok(architecture and quantisation)` when attnscope can open it, else why not.
    pub status: Result<String, Unusable>,
}

/// The folders to scan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Roots {
    /// The HuggingFace hub cache.
    pub huggingface: Option<PathBuf>,
    /// Ollama model stores (`…/models`, holding `manifests/` and `blobs/`).
    pub ollama: Vec<PathBuf>,
    /// LM Studio model folders (`publisher/repo/*.gguf`).
    pub lmstudio: Vec<PathBuf>,
    /// Folders the user added (searched two levels deep for GGUF files and model folders).
    pub folders: Vec<PathBuf>,
}

impl Roots {
    /// The usual places under `$HOME` (and the stores' own environment variables), plus the
    /// user's folders.
    pub fn usual(folders: &[PathBuf]) -> Roots {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let under = |rel: &str| home.as_ref().map(|h| h.join(rel));
        let huggingface = std::env::var_os("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .or_else(|| under(".cache/huggingface/hub"));
        let ollama = std::env::var_os("OLLAMA_MODELS")
            .map(PathBuf::from)
            .or_else(|| under(".ollama/models"))
            .into_iter()
            .collect();
        let lmstudio = [".lmstudio/models", ".cache/lm-studio/models"]
            .iter()
            .filter_map(|r| under(r))
            .collect();
        Roots {
            huggingface,
            ollama,
            lmstudio,
            folders: folders.to_vec(),
        }
    }
}

/// Why a model found on this computer cannot be opened (shown beside its greyed-out entry).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Unusable {
    /// A folder lacks a file a model needs.
    #[error("no {0}")]
    NoFile(&'static str),
    /// A GGUF architecture attnscope does not run.
    #[error("architecture {0:?} is not supported (attnscope runs {list})", list = GGUF_ARCHITECTURES.join(", "))]
    Architecture(String),
    /// A GGUF tokenizer attnscope does not read.
    #[error("tokenizer {0:?} is not supported")]
    Tokenizer(String),
    /// A GGUF file without a tokenizer.
    #[error("it has no tokenizer")]
    NoTokenizer,
    /// A quantisation attnscope cannot dequantise.
    #[error("tensor {tensor} has type {ty}, which attnscope cannot dequantise")]
    Quant {
        /// The first such tensor.
        tensor: String,
        /// Its GGML type.
        ty: String,
    },
    /// An Ollama manifest's model layer is not in `blobs/`.
    #[error("its model layer {0} is missing from blobs/")]
    BlobMissing(String),
    /// An Ollama model layer that is not GGUF.
    #[error("its model layer is not a GGUF file")]
    NotGguf,
    /// A GGUF file without `general.architecture`.
    #[error("no general.architecture in its metadata")]
    NoArchitecture,
    /// An Ollama manifest without a model layer.
    #[error("the manifest names no model layer")]
    NoModelLayer,
    /// Anything else, as the parser said it.
    #[error("{0}")]
    Other(String),
}

/// Whether attnscope can open a GGUF file, read from its header: `Ok("llama · Q4_1")`, or
/// the reason it cannot.
pub fn check_gguf(path: &Path) -> Result<String, Unusable> {
    let other = |e: &dyn std::fmt::Display| Unusable::Other(e.to_string());
    let file = GgufFile::open(path).map_err(|e| other(&e))?;
    let arch = file
        .get_str("general.architecture")
        .ok_or(Unusable::NoArchitecture)?;
    if !GGUF_ARCHITECTURES.contains(&arch) {
        return Err(Unusable::Architecture(arch.to_owned()));
    }
    match file.get_str("tokenizer.ggml.model") {
        Some("gpt2" | "llama") => {}
        Some(t) => return Err(Unusable::Tokenizer(t.to_owned())),
        None => return Err(Unusable::NoTokenizer),
    }
    if let Some(t) = file
        .tensors()
        .iter()
        .find(|t| !t.ggml_type.can_dequantize())
    {
        return Err(Unusable::Quant {
            tensor: t.name.clone(),
            ty: t.ggml_type.name().to_owned(),
        });
    }
    let counts = super::from_gguf::type_counts(file.tensors());
    let quant =
        super::from_gguf::file_type(&file).unwrap_or_else(|| super::from_gguf::main_type(&counts));
    Ok(format!("{arch} · {quant}"))
}

/// Whether a folder has what a safetensors model needs, and why not.
fn check_folder(dir: &Path) -> Result<String, Unusable> {
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        if !dir.join(f).is_file() {
            return Err(Unusable::NoFile(f));
        }
    }
    let other = |e: &dyn std::fmt::Display| Unusable::Other(e.to_string());
    let text = crate::core::limits::read_text(
        &dir.join("config.json"),
        crate::core::limits::MAX_CONFIG_BYTES,
    )
    .map_err(|e| other(&e))?;
    let config = super::config::ModelConfig::from_json(&text).map_err(|e| other(&e))?;
    Ok(format!("{} · safetensors", config.model_type()))
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn dir_len(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |it| {
        it.filter_map(Result::ok)
            .map(|e| std::fs::metadata(e.path()).map_or(0, |m| m.len()))
            .sum()
    })
}

fn children(p: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|it| it.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn is_gguf_name(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// GGUF files and model folders up to `depth` levels below `dir`, labelled by their path
/// under `root`.
fn scan_folder(store: Store, root: &Path, dir: &Path, depth: usize, out: &mut Vec<Found>) {
    for p in children(dir) {
        if is_gguf_name(&p) {
            out.push(Found {
                store,
                label: p.strip_prefix(root).unwrap_or(&p).display().to_string(),
                bytes: file_len(&p),
                status: check_gguf(&p),
                path: p,
            });
        } else if p.is_dir() {
            if p.join("config.json").is_file() {
                out.push(Found {
                    store,
                    label: p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    bytes: dir_len(&p),
                    status: check_folder(&p),
                    path: p,
                });
            } else if depth > 0 {
                scan_folder(store, root, &p, depth - 1, out);
            }
        }
    }
}

/// Ollama: `manifests/HOST/NAMESPACE/MODEL/TAG` are JSON files whose `layers` name blobs by
/// digest; the layer of media type `application/vnd.ollama.image.model` is the weights.
fn scan_ollama(root: &Path, out: &mut Vec<Found>) {
    let manifests = root.join("manifests");
    let mut files = Vec::new();
    let mut stack = vec![(manifests.clone(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        for p in children(&dir) {
            if p.is_dir() && depth < 4 {
                stack.push((p, depth + 1));
            } else if p.is_file() {
                files.push(p);
            }
        }
    }
    files.sort();
    for manifest in files {
        let rel: Vec<String> = manifest
            .strip_prefix(&manifests)
            .map(|r| {
                r.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        // HOST/NAMESPACE/MODEL/TAG → MODEL:TAG (library models) or NAMESPACE/MODEL:TAG.
        let label = match rel.as_slice() {
            [_, ns, model, tag] if ns == "library" => format!("{model}:{tag}"),
            [_, ns, model, tag] => format!("{ns}/{model}:{tag}"),
            other => other.join("/"),
        };
        let layer = std::fs::read(&manifest)
            .ok()
            .filter(|b| b.len() < 1 << 20)
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("layers")?
                    .as_array()?
                    .iter()
                    .find(|l| {
                        l.get("mediaType").and_then(|m| m.as_str())
                            == Some("application/vnd.ollama.image.model")
                    })
                    .and_then(|l| l.get("digest")?.as_str().map(str::to_owned))
            });
        let Some(digest) = layer else {
            out.push(Found {
                store: Store::Ollama,
                label,
                path: manifest,
                bytes: 0,
                status: Err(Unusable::NoModelLayer),
            });
            continue;
        };
        // Digests are "sha256:HEX"; the blob file is "sha256-HEX" (never a path).
        let name = digest.replace(':', "-");
        if name.contains('/') || name.contains('\\') || name.contains("..") {
            continue;
        }
        let blob = root.join("blobs").join(&name);
        let status = if !blob.is_file() {
            Err(Unusable::BlobMissing(name))
        } else if !starts_with_gguf(&blob) {
            Err(Unusable::NotGguf)
        } else {
            check_gguf(&blob)
        };
        out.push(Found {
            store: Store::Ollama,
            label,
            bytes: file_len(&blob),
            path: blob,
            status,
        });
    }
}

fn starts_with_gguf(p: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

/// Everything found under the roots, by store, then label.
pub fn scan(roots: &Roots) -> Vec<Found> {
    let mut out = Vec::new();
    if let Some(hub) = &roots.huggingface {
        for p in children(hub) {
            let is_repo = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("models--"));
            if !is_repo {
                continue;
            }
            let dir = super::resolve_dir(&p);
            let label = p
                .file_name()
                .map(|n| {
                    n.to_string_lossy()
                        .trim_start_matches("models--")
                        .replace("--", "/")
                })
                .unwrap_or_default();
            // A snapshot holds symlinks into blobs/: metadata follows them.
            out.push(Found {
                store: Store::HuggingFace,
                label,
                bytes: dir_len(&dir),
                status: check_folder(&dir),
                path: dir,
            });
        }
    }
    for root in &roots.ollama {
        scan_ollama(root, &mut out);
    }
    for root in &roots.lmstudio {
        scan_folder(Store::LmStudio, root, root, 2, &mut out);
    }
    for root in &roots.folders {
        scan_folder(Store::Folder, root, root, 2, &mut out);
    }
    out.sort_by(|a, b| (a.store, &a.label).cmp(&(b.store, &b.label)));
    out
}
