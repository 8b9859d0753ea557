//! Errors in the UI language. The error types keep their English `Display` (the CLI and the
//! logs print it); here the ones a user meets in the app are said in the language on screen.
//! In English the text is exactly the `Display` (a test holds every translated variant to it);
//! details that come from a parser (serde, the tokenizer, GGUF) stay as the parser wrote them.

use std::io;
use std::path::PathBuf;

use super::i18n::{Lang, Msg, tr, trf};
use super::jobs::JobError;
use super::session::SessionError;
use crate::core::{CoreError, OverLimitWhy};
use crate::export::ExportError;
use crate::model::config::SUPPORTED;
use crate::model::discover::Unusable;
use crate::model::from_gguf::GGUF_ARCHITECTURES;
use crate::model::{Footprint, ModelError};

/// Why a text file (a session, a spec, `--text-file`) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The OS refused.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not a source: a chain would say it twice).
        error: io::Error,
    },
    /// Larger than the reader takes.
    #[error("{path} has {len} bytes, more than the {max} this reads")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The most this reader takes.
        max: u64,
    },
}

/// A text file that could not be read.
pub fn read_text(lang: Lang, e: &ReadError) -> String {
    match e {
        ReadError::Io { path, error } => trf(
            lang,
            Msg::ErrCannotRead,
            &[&path.display(), &io_text(lang, error)],
        ),
        ReadError::TooLarge { path, len, max } => {
            trf(lang, Msg::ErrFileTooLarge, &[&path.display(), len, max])
        }
    }
}

/// An OS error: the common kinds in Chinese, the rest as the OS says them.
pub fn io_text(lang: Lang, e: &io::Error) -> String {
    use io::ErrorKind as K;
    let msg = match e.kind() {
        _ if lang == Lang::En => None,
        K::NotFound => Some(Msg::IoNotFound),
        K::PermissionDenied => Some(Msg::IoPermission),
        K::ReadOnlyFilesystem => Some(Msg::IoReadOnly),
        K::StorageFull => Some(Msg::IoFull),
        K::IsADirectory => Some(Msg::IoIsDir),
        K::InvalidData => Some(Msg::IoNotUtf8),
        // `core::limits::read_text`'s "more than 16 MiB (…)": the limit kept, in Chinese.
        K::FileTooLarge => {
            let limit = e.to_string();
            return trf(
                lang,
                Msg::IoTooLarge,
                &[&limit.trim_start_matches("more than ")],
            );
        }
        _ => None,
    };
    msg.map_or_else(|| e.to_string(), |m| tr(lang, m).to_owned())
}

/// A model that could not be loaded or run.
pub fn model_text(lang: Lang, e: &ModelError) -> String {
    use ModelError as E;
    let dbg = |s: &str| format!("{s:?}");
    match e {
        E::Io { path, error } => trf(
            lang,
            Msg::ErrCannotRead,
            &[&path.display(), &io_text(lang, error)],
        ),
        E::NotFound { path } => trf(lang, Msg::ErrNotFound, &[&path.display()]),
        E::MissingFile { dir, file } => trf(lang, Msg::ErrMissingFile, &[&dir.display(), file]),
        E::PickleOnly { dir, file } => trf(lang, Msg::ErrPickleOnly, &[&dir.display(), file]),
        E::Unsupported { model_type } => trf(
            lang,
            Msg::ErrUnsupported,
            &[&dbg(model_type), &SUPPORTED.join(", ")],
        ),
        E::Safetensors(why) => trf(lang, Msg::ErrSafetensors, &[why]),
        E::WrongDtype { name, dtype } => trf(lang, Msg::ErrWrongDtype, &[&dbg(name), dtype]),
        E::MissingKey(name) => trf(lang, Msg::ErrMissingKey, &[&dbg(name)]),
        E::WrongShape {
            name,
            expected,
            got,
        } => trf(
            lang,
            Msg::ErrWrongShape,
            &[&dbg(name), &format!("{got:?}"), &format!("{expected:?}")],
        ),
        E::OverLimit {
            field,
            value,
            limit,
        } => trf(lang, Msg::ErrConfigOverLimit, &[field, value, limit]),
        E::TooLarge { what, need, limit } => {
            let what = footprint_text(lang, what);
            trf(lang, Msg::ErrModelTooLarge, &[&what, need, limit])
        }
        E::EncoderDecoder { model_type } => trf(lang, Msg::ErrEncoderDecoder, &[&dbg(model_type)]),
        E::Cancelled => tr(lang, Msg::ErrCancelled).to_owned(),
        E::EmptyText => tr(lang, Msg::ErrEmptyText).to_owned(),
        E::TooManyTokens { what, n, max } => {
            let what = match (lang, *what) {
                (Lang::Zh, "the source") => "源文本",
                (Lang::Zh, "the target") => "目标文本",
                (Lang::Zh, "the text") => "文本",
                (Lang::Zh, "the induction test") => "归纳测试",
                (_, w) => w,
            };
            trf(lang, Msg::ErrTooManyTokens, &[&what, n, max])
        }
        E::GenerationTooLong { prompt, new, max } => {
            trf(lang, Msg::ErrGenerationTooLong, &[prompt, new, max])
        }
        E::BadTokenId { id, vocab } => trf(lang, Msg::ErrBadTokenId, &[id, vocab]),
        E::Tokenizer(why) => trf(lang, Msg::ErrTokenizer, &[why]),
        // The details come from parsers (serde, the GGUF reader) in English; the sentence
        // around them says in the user's language what is wrong and where.
        E::Config(why) => trf(lang, Msg::ErrConfig, &[why]),
        E::Field { field, message } => trf(lang, Msg::ErrConfigField, &[field, message]),
        E::Invalid { what, message } => trf(lang, Msg::ErrInvalidArg, &[what, message]),
        E::Gguf(why) => trf(lang, Msg::ErrGguf, &[why]),
    }
}

/// What would need too much memory.
fn footprint_text(lang: Lang, f: &Footprint) -> String {
    match f {
        Footprint::Weights {
            layers,
            width,
            vocab,
        } => trf(lang, Msg::FootWeights, &[layers, width, vocab]),
        Footprint::Seq2SeqWeights => tr(lang, Msg::FootSeq2Seq).to_owned(),
        Footprint::Run { tokens, model } => trf(lang, Msg::FootRun, &[tokens, model]),
    }
}

/// The attention core refused a spec or an input.
pub fn core_text(lang: Lang, e: &CoreError) -> String {
    use CoreError as E;
    // The core names its sequences in English ("target", "source").
    let seq = |which: &'static str| match (lang, which) {
        (Lang::Zh, "target") => "查询",
        (Lang::Zh, "source") => "源",
        _ => which,
    };
    match e {
        E::EmptySequence(which) => trf(lang, Msg::ErrEmptySequence, &[&seq(which)]),
        E::TooLong { which, len, limit } => trf(lang, Msg::ErrTooLong, &[&seq(which), len, limit]),
        E::HeadsDoNotDivide { d_model, heads } => {
            trf(lang, Msg::ErrHeadsDoNotDivide, &[d_model, heads])
        }
        E::OverLimit {
            field,
            value,
            limit,
            why,
        } => {
            let why = match why {
                OverLimitWhy::None => String::new(),
                OverLimitWhy::SpanCoversEveryKey => tr(lang, Msg::WhySpanCoversEveryKey).into(),
                OverLimitWhy::Projections(need) => trf(lang, Msg::WhyProjections, &[need]),
            };
            trf(lang, Msg::ErrOverLimit, &[field, value, limit, &why])
        }
        E::TooLarge { what, need, limit } => trf(lang, Msg::ErrSpecTooLarge, &[what, need, limit]),
        E::Shape { .. } | E::NotFinite { .. } | E::Invalid { .. } => e.to_string(),
    }
}

/// A background job's failure.
pub fn job_text(lang: Lang, e: &JobError) -> String {
    match e {
        JobError::Core(c) => core_text(lang, c),
        JobError::Model(m) => model_text(lang, m),
        JobError::Missing(what) => match (lang, *what) {
            (Lang::Zh, "the layer") => tr(lang, Msg::ErrNoLayer).to_owned(),
            (Lang::Zh, "the head") => tr(lang, Msg::ErrNoHead).to_owned(),
            _ => e.to_string(),
        },
        JobError::Panicked => tr(lang, Msg::ErrPanicked).to_owned(),
        JobError::NoThread(error) => trf(lang, Msg::ErrNoThread, &[&io_text(lang, error)]),
        JobError::NeedsGoAhead { .. } => e.to_string(),
    }
}

/// A file that could not be written.
pub fn export_text(lang: Lang, e: &ExportError) -> String {
    match e {
        ExportError::Io { path, error } => trf(
            lang,
            Msg::ErrCannotWrite,
            &[&path.display(), &io_text(lang, error)],
        ),
        ExportError::TooLargeForSvg { n, m } => trf(
            lang,
            Msg::ErrSvgTooLarge,
            &[n, m, &crate::export::heatmap::MAX_SVG_CELLS],
        ),
        ExportError::Encode { .. } | ExportError::Empty(_) => e.to_string(),
    }
}

/// A file that is not a usable session.
pub fn session_text(lang: Lang, e: &SessionError) -> String {
    match e {
        SessionError::NotSession(why) => trf(lang, Msg::ErrNotSession, &[why]),
        SessionError::WrongFormat(f) => trf(lang, Msg::ErrSessionFormat, &[&format!("{f:?}")]),
        SessionError::TooNew(v) => trf(lang, Msg::ErrSessionTooNew, &[v, &super::session::VERSION]),
        SessionError::TooLarge(n) => trf(
            lang,
            Msg::ErrSessionTooLarge,
            &[n, &super::session::MAX_BYTES],
        ),
    }
}

/// Why a model found on this computer cannot be opened.
pub fn unusable_text(lang: Lang, e: &Unusable) -> String {
    match e {
        Unusable::NoFile(f) => trf(lang, Msg::UnNoFile, &[f]),
        Unusable::Architecture(arch) => trf(
            lang,
            Msg::UnArchitecture,
            &[&format!("{arch:?}"), &GGUF_ARCHITECTURES.join(", ")],
        ),
        Unusable::Tokenizer(t) => trf(lang, Msg::UnTokenizer, &[&format!("{t:?}")]),
        Unusable::NoTokenizer => tr(lang, Msg::UnNoTokenizer).to_owned(),
        Unusable::Quant { tensor, ty } => trf(lang, Msg::UnQuant, &[tensor, ty]),
        Unusable::BlobMissing(name) => trf(lang, Msg::UnBlobMissing, &[name]),
        Unusable::NotGguf => tr(lang, Msg::UnNotGguf).to_owned(),
        Unusable::NoArchitecture => tr(lang, Msg::UnNoArchitecture).to_owned(),
        Unusable::NoModelLayer => tr(lang, Msg::UnNoModelLayer).to_owned(),
        Unusable::Other(_) => e.to_string(),
    }
}

/// An error with its context, outermost first (as `{:#}` prints it), each link in `lang`.
pub fn chain_text(lang: Lang, e: &anyhow::Error) -> String {
    let sep = if lang == Lang::Zh { "：" } else { ": " };
    e.chain()
        .map(|c| {
            if let Some(x) = c.downcast_ref::<ModelError>() {
                model_text(lang, x)
            } else if let Some(x) = c.downcast_ref::<CoreError>() {
                core_text(lang, x)
            } else if let Some(x) = c.downcast_ref::<ExportError>() {
                export_text(lang, x)
            } else if let Some(x) = c.downcast_ref::<SessionError>() {
                session_text(lang, x)
            } else if let Some(x) = c.downcast_ref::<JobError>() {
                job_text(lang, x)
            } else if let Some(x) = c.downcast_ref::<Unusable>() {
                unusable_text(lang, x)
            } else if let Some(x) = c.downcast_ref::<ReadError>() {
                read_text(lang, x)
            } else if let Some(x) = c.downcast_ref::<io::Error>() {
                io_text(lang, x)
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::from(kind)
    }

    fn model_errors() -> Vec<ModelError> {
        use ModelError as E;
        vec![
            E::Io {
                path: PathBuf::from("/m/config.json"),
                error: io(io::ErrorKind::NotFound),
            },
            E::NotFound {
                path: PathBuf::from("/no/model"),
            },
            E::MissingFile {
                dir: PathBuf::from("/m"),
                file: "tokenizer.json",
            },
            E::Config("key must be a string at line 1 column 2".into()),
            E::Field {
                field: "n_head".into(),
                message: "3 does not divide n_embd = 128".into(),
            },
            E::Invalid {
                what: "layer",
                message: "9 is not a layer of m".into(),
            },
            E::Gguf("file is truncated".into()),
            E::PickleOnly {
                dir: PathBuf::from("/m"),
                file: "pytorch_model.bin".into(),
            },
            E::Unsupported {
                model_type: "mamba".into(),
            },
            E::Safetensors("header too long".into()),
            E::WrongDtype {
                name: "w".into(),
                dtype: "I8".into(),
            },
            E::MissingKey("lm_head.weight".into()),
            E::WrongShape {
                name: "w".into(),
                expected: vec![4, 8],
                got: vec![8, 4],
            },
            E::OverLimit {
                field: "num_hidden_layers",
                value: 9999,
                limit: 512,
            },
            E::TooLarge {
                what: Footprint::Weights {
                    layers: 500,
                    width: 8192,
                    vocab: 256000,
                },
                need: "9 GiB".into(),
                limit: "4 GiB".into(),
            },
            E::TooLarge {
                what: Footprint::Seq2SeqWeights,
                need: "9 GiB".into(),
                limit: "4 GiB".into(),
            },
            E::TooLarge {
                what: Footprint::Run {
                    tokens: 8192,
                    model: "SmolLM2".into(),
                },
                need: "9 GiB".into(),
                limit: "4 GiB".into(),
            },
            E::EncoderDecoder {
                model_type: "bart".into(),
            },
            E::Cancelled,
            E::EmptyText,
            E::BadTokenId { id: 7, vocab: 5 },
            E::TooManyTokens {
                what: "the source",
                n: 500,
                max: 64,
            },
            E::GenerationTooLong {
                prompt: 40,
                new: 999,
                max: 256,
            },
            E::Tokenizer("bad merges".into()),
        ]
    }

    fn core_errors() -> Vec<CoreError> {
        use CoreError as E;
        vec![
            E::EmptySequence("target"),
            E::TooLong {
                which: "source",
                len: 9000,
                limit: 4096,
            },
            E::HeadsDoNotDivide {
                d_model: 10,
                heads: 3,
            },
            E::OverLimit {
                field: "d_model",
                value: "99999".into(),
                limit: 4096,
                why: OverLimitWhy::Projections("64 GiB".into()),
            },
            E::OverLimit {
                field: "window",
                value: "99999".into(),
                limit: 4096,
                why: OverLimitWhy::SpanCoversEveryKey,
            },
            E::OverLimit {
                field: "heads",
                value: "999".into(),
                limit: 64,
                why: OverLimitWhy::None,
            },
            E::TooLarge {
                what: "h = 64, n = 4096".into(),
                need: "21 GiB".into(),
                limit: "4 GiB".into(),
            },
        ]
    }

    fn other_errors() -> Vec<anyhow::Error> {
        vec![
            ExportError::Io {
                path: PathBuf::from("/ro/x.png"),
                error: io(io::ErrorKind::PermissionDenied),
            }
            .into(),
            SessionError::NotSession("expected value at line 1".into()).into(),
            SessionError::WrongFormat("attnscope-spec".into()).into(),
            SessionError::TooNew(99).into(),
            SessionError::TooLarge(1 << 40).into(),
            JobError::Missing("the head").into(),
            JobError::Panicked.into(),
            JobError::NoThread(std::sync::Arc::new(io(io::ErrorKind::OutOfMemory))).into(),
            io(io::ErrorKind::ReadOnlyFilesystem).into(),
            Unusable::NoFile("model.safetensors").into(),
            Unusable::Architecture("mamba".into()).into(),
            Unusable::Tokenizer("bert".into()).into(),
            Unusable::NoTokenizer.into(),
            Unusable::Quant {
                tensor: "blk.0.attn_q.weight".into(),
                ty: "IQ2_XS".into(),
            }
            .into(),
            Unusable::BlobMissing("sha256-aa".into()).into(),
            Unusable::NotGguf.into(),
            Unusable::NoArchitecture.into(),
            Unusable::NoModelLayer.into(),
            io(io::ErrorKind::InvalidData).into(),
            ReadError::TooLarge {
                path: PathBuf::from("/big.json"),
                len: 1 << 30,
                max: 1 << 24,
            }
            .into(),
        ]
    }

    fn all() -> Vec<anyhow::Error> {
        let mut v: Vec<anyhow::Error> = model_errors().into_iter().map(Into::into).collect();
        v.extend(core_errors().into_iter().map(anyhow::Error::from));
        v.extend(other_errors());
        v
    }

    /// In English the app says exactly what the CLI says: the translations cannot drift
    /// from the errors' own text.
    #[test]
    fn english_is_the_errors_own_text() {
        for e in all() {
            assert_eq!(chain_text(Lang::En, &e), e.to_string());
        }
        let e = anyhow::Error::from(ExportError::Io {
            path: PathBuf::from("/ro/x.png"),
            error: io(io::ErrorKind::PermissionDenied),
        })
        .context("saving the session");
        assert_eq!(chain_text(Lang::En, &e), format!("{e:#}"));
    }

    /// Every error a user commonly meets reads in Chinese in the Chinese UI, with its
    /// details (paths, names, numbers) kept.
    #[test]
    fn chinese_says_it_in_chinese_and_keeps_the_details() {
        for e in all() {
            let zh = chain_text(Lang::Zh, &e);
            assert!(
                zh.chars().any(crate::core::tokenize::is_cjk_ideograph),
                "{e}: {zh}"
            );
            assert_ne!(zh, e.to_string());
        }
        let zh = |e: ModelError| model_text(Lang::Zh, &e);
        assert_eq!(
            zh(ModelError::MissingFile {
                dir: PathBuf::from("/m"),
                file: "tokenizer.json"
            }),
            "/m 中没有 tokenizer.json（模型文件夹需要 config.json、tokenizer.json 和 model.safetensors）"
        );
        let e = ExportError::Io {
            path: PathBuf::from("/ro/x.png"),
            error: io(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(export_text(Lang::Zh, &e), "无法写入 /ro/x.png：没有权限");
        let e = anyhow::Error::from(e).context("保存会话");
        assert_eq!(
            chain_text(Lang::Zh, &e),
            "保存会话：无法写入 /ro/x.png：没有权限"
        );
        assert_eq!(
            core_text(Lang::Zh, &CoreError::EmptySequence("source")),
            "源序列为空：请至少给出一个词元或向量"
        );
    }
}
