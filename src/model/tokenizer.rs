//! The model's own tokenizer (`tokenizer.json`, HuggingFace `tokenizers`), with display labels
//! that never show a broken character: byte-level BPE pieces of one character are labelled by
//! the text their offsets cover, so 北 split into three byte pieces reads 北, 北², 北³.

use std::path::Path;

use tokenizers::Tokenizer;

use super::ModelError;

/// One token of an encoded text.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TokenInfo {
    /// Vocabulary id.
    pub id: u32,
    /// The tokenizer's own string (e.g. "Ġthe", "##ing", "[CLS]").
    pub piece: String,
    /// What to show: the covered text, or the piece for special tokens.
    pub label: String,
    /// Byte range in the input text.
    pub offsets: (usize, usize),
    /// Added by the tokenizer ([CLS], [SEP], <|endoftext|>).
    pub special: bool,
}

/// A loaded tokenizer.
pub struct ModelTokenizer {
    inner: Tokenizer,
}

/// A TemplateProcessing post-processor (anywhere in `v`, e.g. inside a Sequence) whose
/// templates name a special token its `special_tokens` do not hold, or one whose ids and
/// tokens differ in number: `tokenizers` 0.22 loads both and then panics on encode (it
/// indexes the map unchecked; found by fuzz target tokenizer_json). Refused here instead.
fn check_templates(v: &serde_json::Value) -> Result<(), String> {
    match v {
        serde_json::Value::Object(o) => {
            // By its shape, not its "type": the post-processor deserializes untagged, so an
            // object without "type" (or with another) still loads as TemplateProcessing.
            if o.contains_key("single") || o.contains_key("pair") {
                let specials = o.get("special_tokens").and_then(|s| s.as_object());
                for template in ["single", "pair"] {
                    for id in template_specials(o.get(template)) {
                        let id = id.as_str();
                        let Some(token) = specials.and_then(|s| s.get(id)) else {
                            return Err(format!(
                                "post_processor: its {template} template names the special token {id:?}, which its special_tokens do not hold"
                            ));
                        };
                        let count = |k: &str| token.get(k).and_then(|a| a.as_array()).map(Vec::len);
                        if count("ids") != count("tokens") {
                            return Err(format!(
                                "post_processor: special token {id:?} has a different number of ids and tokens"
                            ));
                        }
                    }
                }
            }
            o.values().try_for_each(check_templates)
        }
        serde_json::Value::Array(a) => a.iter().try_for_each(check_templates),
        _ => Ok(()),
    }
}

/// The special tokens a template names: `{"SpecialToken": {"id": …}}` pieces of an array,
/// or the words of a string template ("[CLS] $A [SEP]:1") that are not `$` sequences.
fn template_specials(template: Option<&serde_json::Value>) -> Vec<String> {
    match template {
        Some(serde_json::Value::Array(pieces)) => pieces
            .iter()
            .filter_map(|p| p.get("SpecialToken")?.get("id")?.as_str())
            .map(str::to_owned)
            .collect(),
        Some(serde_json::Value::String(t)) => t
            .split_whitespace()
            .filter(|w| !w.starts_with('$'))
            .map(|w| match w.rsplit_once(':') {
                Some((id, n)) if n.parse::<u32>().is_ok() => id.to_owned(),
                _ => w.to_owned(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl ModelTokenizer {
    /// Loads `tokenizer.json`.
    pub fn load(path: &Path) -> Result<ModelTokenizer, ModelError> {
        let text = crate::core::limits::read_text(path, crate::core::limits::MAX_TOKENIZER_BYTES)
            .map_err(|error| ModelError::Io {
            path: path.to_owned(),
            error,
        })?;
        ModelTokenizer::from_json(&text).map_err(|e| match e {
            ModelError::Tokenizer(m) => ModelError::Tokenizer(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses a tokenizer from JSON text.
    pub fn from_json(text: &str) -> Result<ModelTokenizer, ModelError> {
        // Syntax first: `tokenizers` 0.22 panics (`expect("Helper")` in its decoder's
        // Deserialize) instead of failing when the JSON around a "decoder" is malformed. A
        // syntactically valid document always deserializes that helper, so checking the
        // syntax here turns the panic into an error (found by fuzz target tokenizer_json).
        // The same pass keeps the post-processor, whose templates are checked below.
        #[derive(serde::Deserialize)]
        struct Post {
            #[serde(default)]
            post_processor: serde_json::Value,
        }
        let post = serde_json::from_str::<Post>(text)
            .map_err(|e| ModelError::Tokenizer(format!("not valid JSON: {e}")))?;
        check_templates(&post.post_processor).map_err(ModelError::Tokenizer)?;
        let inner: Tokenizer = text
            .parse()
            .map_err(|e| ModelError::Tokenizer(format!("{e}")))?;
        Ok(ModelTokenizer { inner })
    }

    /// Wraps a tokenizer built in code (a GGUF file's vocabulary).
    pub fn from_tokenizer(inner: Tokenizer) -> ModelTokenizer {
        ModelTokenizer { inner }
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string, if it exists.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Encodes text with the tokenizer's special tokens (its post-processor decides which).
    pub fn encode(&self, text: &str) -> Result<Vec<TokenInfo>, ModelError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        // Special: added by the post-processor, or a special token of the vocabulary typed in
        // the text (a chat template's <|im_start|>, Gemma's <bos>).
        let added = self.inner.get_added_vocabulary();
        let mut out: Vec<TokenInfo> = Vec::with_capacity(enc.len());
        let mut repeat = 1;
        let mut prev_span = None;
        for ((&id, piece), (&off, &special)) in enc
            .get_ids()
            .iter()
            .zip(enc.get_tokens())
            .zip(enc.get_offsets().iter().zip(enc.get_special_tokens_mask()))
        {
            let special = special == 1 || added.is_special_token(piece);
            let raw = text.get(off.0..off.1).unwrap_or("");
            // A piece that is only whitespace reads as ␣ (⏎) rather than vanishing.
            let text_part = piece_label(raw);
            // The pieces of one character share its span; the first may take in the space
            // before it (" 我" = Ġ + a byte), so spans are compared without white space.
            let span = (!special).then(|| trimmed_span(raw, off));
            let same_span = span.is_some_and(|s| s.0 != s.1) && span == prev_span;
            prev_span = span;
            repeat = if same_span { repeat + 1 } else { 1 };
            let label = if special || text_part.is_empty() {
                piece.clone()
            } else if same_span {
                format!("{text_part}{}", superscript(repeat))
            } else {
                text_part
            };
            out.push(TokenInfo {
                id,
                piece: piece.clone(),
                label,
                offsets: off,
                special,
            });
        }
        Ok(out)
    }

    /// The ids of text alone, without the special tokens the post-processor would add (a
    /// guessed next token).
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Ids back to text, as the tokenizer's decoder joins them (byte-level pieces merged;
    /// special tokens skipped). Undecodable ids give an empty string.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// Ids the model wrote, labelled as [`Self::encode`] labels a typed text (there are no
    /// offsets to go by): the byte-level pieces of one character read 我, 我², 我³ rather
    /// than three U+FFFD, special tokens keep their piece (`<|im_end|>`), and a piece that
    /// is only white space reads ␣, or ⏎ when it breaks the line. Also gives, per id, the
    /// text it adds to the running text: a run's whole text on its first id, nothing on the
    /// others. A run that is not yet a whole character (the last id of a generation under
    /// way, a stray byte) is labelled by its pieces' spelling (`<0xE5>`, `å`) and adds
    /// U+FFFD to the text. `after` is the id before the first (the prompt's last): decoders
    /// that drop a text's leading space (Llama's SentencePiece) keep " Paris" after it.
    pub fn written(&self, after: Option<u32>, ids: &[u32]) -> Written {
        let mut out = Written {
            labels: Vec::with_capacity(ids.len()),
            text: Vec::with_capacity(ids.len()),
            run_start: Vec::with_capacity(ids.len()),
        };
        for (run, text) in self.runs(after, ids) {
            // An unfinished character is labelled by its pieces as the tokenizer spells them.
            let base = if text.contains('\u{FFFD}') {
                String::new()
            } else {
                piece_label(&text)
            };
            for (k, &id) in ids[run.clone()].iter().enumerate() {
                out.run_start.push(run.start);
                out.labels.push(if base.is_empty() {
                    byte_piece_label(&self.id_to_token(id))
                } else if k == 0 {
                    base.clone()
                } else {
                    format!("{base}{}", superscript(k + 1))
                });
                out.text
                    .push(if k == 0 { text.clone() } else { String::new() });
            }
        }
        out
    }

    /// [`Self::written`] of `ids` when `w` is that of all but their last few: only the
    /// last run of `w` (which a new byte piece may finish) is labelled again, so a
    /// generation labels each token in constant time.
    pub fn write_more(&self, w: &mut Written, after: Option<u32>, ids: &[u32]) {
        let from = w.run_start.last().copied().unwrap_or(0).min(ids.len());
        let anchor = from.checked_sub(1).map_or(after, |k| ids.get(k).copied());
        let tail = self.written(anchor, &ids[from..]);
        w.labels.truncate(from);
        w.text.truncate(from);
        w.run_start.truncate(from);
        w.labels.extend(tail.labels);
        w.text.extend(tail.text);
        w.run_start
            .extend(tail.run_start.into_iter().map(|s| s + from));
    }

    /// Runs of ids that decode to whole characters, with their text: a run grows while its
    /// text ends in U+FFFD and the next id is a byte piece too, up to four ids (UTF-8's
    /// longest character); a whole token after a stray byte (<|im_end|>) starts its own
    /// run. A run's text is what it adds after the id before it (see [`Self::written`]).
    fn runs(&self, after: Option<u32>, ids: &[u32]) -> Vec<(std::ops::Range<usize>, String)> {
        let decode = |ids: &[u32]| self.inner.decode(ids, false).unwrap_or_default();
        let piece = |id: u32| decode(&[id]).contains('\u{FFFD}');
        // The text `run` adds after `anchor`: decode(anchor + run) minus decode(anchor) when
        // the first begins with the second, else the run alone.
        let added = |anchor: Option<u32>, run: &[u32]| {
            if let Some(a) = anchor {
                let before = decode(&[a]);
                let mut both = vec![a];
                both.extend_from_slice(run);
                let joined = decode(&both);
                if !before.contains('\u{FFFD}')
                    && let Some(rest) = joined.strip_prefix(before.as_str())
                {
                    return rest.to_owned();
                }
            }
            decode(run)
        };
        let mut out = Vec::new();
        let mut start = 0;
        while start < ids.len() {
            let mut end = start + 1;
            let mut text = decode(&ids[start..end]);
            while text.ends_with('\u{FFFD}')
                && end < ids.len()
                && end - start < 4
                && piece(ids[end])
            {
                end += 1;
                text = decode(&ids[start..end]);
            }
            let anchor = start.checked_sub(1).map_or(after, |k| Some(ids[k]));
            out.push((start..end, added(anchor, &ids[start..end])));
            start = end;
        }
        out
    }

    /// Whether `id` is part of a character only (a byte-level piece: it decodes to U+FFFD).
    pub fn is_byte_piece(&self, id: u32) -> bool {
        self.inner
            .decode(&[id], false)
            .unwrap_or_default()
            .contains('\u{FFFD}')
    }

    /// One candidate next token's label: its text as it is (" Paris", a lone space) when it
    /// is whole characters; when it is
    /// a byte piece, the character it completes after `pending` (the ids of an unfinished
    /// character just before it, [`Written::pending`]), with its place in the run (国²);
    /// else the piece as the tokenizer spells it.
    pub fn candidate_label(&self, pending: &[u32], id: u32) -> String {
        let alone = self.inner.decode(&[id], false).unwrap_or_default();
        if !alone.contains('\u{FFFD}') {
            return show_controls(&alone);
        }
        let mut ids = pending.to_vec();
        ids.push(id);
        match self.written(None, &ids).labels.last() {
            Some(l) if !pending.is_empty() && !l.contains('\u{FFFD}') => show_controls(l),
            _ => byte_piece_label(&self.id_to_token(id)),
        }
    }

    /// Ids back to tokens (for sequences the app makes up, such as the induction test).
    pub fn id_to_token(&self, id: u32) -> String {
        self.inner
            .id_to_token(id)
            .unwrap_or_else(|| format!("<{id}>"))
    }
}

/// Labels and running-text pieces of ids the model wrote (see [`ModelTokenizer::written`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Written {
    /// One label per id.
    pub labels: Vec<String>,
    /// Per id, the text it adds to the running text.
    pub text: Vec<String>,
    /// Per id, where its run (the ids of one character) starts.
    pub run_start: Vec<usize>,
}

impl Written {
    /// The range of ids before `i` that its character began with (empty when a character
    /// starts at `i`): what a candidate for place `i` completes.
    pub fn pending(&self, i: usize) -> std::ops::Range<usize> {
        self.run_start.get(i).map_or(i..i, |&s| s.min(i)..i)
    }
}

/// The span `off` of `raw` without its leading and trailing white space.
fn trimmed_span(raw: &str, off: (usize, usize)) -> (usize, usize) {
    let start = off.0 + (raw.len() - raw.trim_start().len());
    let end = off.1 - (raw.len() - raw.trim_end().len());
    (start, end.max(start))
}

/// A piece's label: its text trimmed; ␣ for white space alone, ⏎ for a line break;
/// control characters made visible ([`show_controls`]).
fn piece_label(text: &str) -> String {
    if !text.is_empty() && text.trim().is_empty() {
        // A tab is not a space: ⇥, as the running text shows it.
        if text.contains('\n') {
            "⏎"
        } else if text.contains('\t') {
            "⇥"
        } else {
            "␣"
        }
        .to_owned()
    } else {
        show_controls(text.trim())
    }
}

/// A piece that is bytes, not characters, as bytes: `<0x87>` for GPT-2's byte-level `ĩ` (its
/// stand-in for byte 0x87, which no letter is), `<0xE5><0x8C>` for two bytes of a character.
/// A piece spelled another way (SentencePiece's own `<0x87>`, a word) stays as it is.
pub fn byte_piece_label(piece: &str) -> String {
    if piece.starts_with("<0x") {
        return piece.to_owned();
    }
    let bytes: Option<Vec<u8>> = piece.chars().map(byte_level_byte).collect();
    match bytes {
        Some(b) if !b.is_empty() && std::str::from_utf8(&b).is_err() => {
            b.iter().map(|x| format!("<0x{x:02X}>")).collect()
        }
        _ => piece.to_owned(),
    }
}

/// The byte a character of GPT-2's byte-level alphabet stands for: printable bytes are
/// themselves; the 68 others are U+0100 onwards, in byte order.
fn byte_level_byte(c: char) -> Option<u8> {
    let printable = |b: u32| {
        (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    let u = c as u32;
    if printable(u) {
        return u8::try_from(u).ok();
    }
    let k = u.checked_sub(0x100)? as usize;
    (0u32..=255)
        .filter(|&b| !printable(b))
        .nth(k)
        .and_then(|b| u8::try_from(b).ok())
}

/// `text` with its control characters made visible, as no embedded font draws them (a
/// byte-level model writes \x06 or a tab as a token of its own): a tab as ⇥, the others as
/// `<0x06>`, the way SentencePiece names byte tokens. Line breaks stay.
pub fn show_controls(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push(c),
            '\t' => out.push('⇥'),
            c if c.is_control() => out.push_str(&format!("<0x{:02X}>", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// 12 → "₁₂" (a token's index under a symbol: o₄⁽⁰⁾).
pub fn subscript(n: usize) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or('₀'))
        .collect()
}

/// 2 → "²" (for repeated pieces of one character, and the layer of X⁽¹²⁾).
pub fn superscript(n: usize) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    n.to_string()
        .chars()
        .map(|c| DIGITS[c.to_digit(10).unwrap_or(0) as usize])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_names_its_special_tokens_in_either_form() {
        let t = serde_json::json!("[CLS] $A [SEP]:1 $B:1");
        assert_eq!(template_specials(Some(&t)), ["[CLS]", "[SEP]"]);
        let t = serde_json::json!([{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]);
        assert_eq!(template_specials(Some(&t)), ["<s>"]);
    }

    #[test]
    fn control_characters_get_labels_a_font_draws() {
        assert_eq!(show_controls("a\tb\x06\x7f\nc"), "a⇥b<0x06><0x7F>\nc");
        assert_eq!(show_controls("国 Paris"), "国 Paris");
        assert_eq!(piece_label("\t"), "⇥");
        assert_eq!(piece_label(" "), "␣");
        // GPT-2's stand-ins for bytes: ĩ is 0x87, åĮ two bytes of a character.
        assert_eq!(byte_piece_label("ĩ"), "<0x87>");
        assert_eq!(byte_piece_label("åĮ"), "<0xE5><0x8C>");
        assert_eq!(byte_piece_label("<0x87>"), "<0x87>");
        assert_eq!(byte_piece_label("hello"), "hello");
        // The tiny GPT-2 reads bytes: each control byte is a candidate of its own.
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample_models/tiny-gpt2-induction"
        );
        let model = crate::model::Model::load(std::path::Path::new(dir)).unwrap();
        for id in 0..model.config.vocab_size().min(300) as u32 {
            let label = model.tokenizer.candidate_label(&[], id);
            assert!(
                !label.chars().any(|c| c.is_control() && c != '\n'),
                "{id}: {label:?}"
            );
        }
    }
}
