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

impl ModelTokenizer {
    /// Loads `tokenizer.json`.
    pub fn load(path: &Path) -> Result<ModelTokenizer, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|error| ModelError::Io {
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
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| ModelError::Tokenizer(format!("not valid JSON: {e}")))?;
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
        let mut out: Vec<TokenInfo> = Vec::with_capacity(enc.len());
        let mut repeat = 1;
        for (k, ((&id, piece), (&off, &special))) in enc
            .get_ids()
            .iter()
            .zip(enc.get_tokens())
            .zip(enc.get_offsets().iter().zip(enc.get_special_tokens_mask()))
            .enumerate()
        {
            let special = special == 1;
            let raw = text.get(off.0..off.1).unwrap_or("");
            // A piece that is only whitespace reads as ␣ rather than vanishing.
            let text_part = if !raw.is_empty() && raw.trim().is_empty() {
                "␣"
            } else {
                raw.trim()
            };
            let same_span = k > 0 && out[k - 1].offsets == off && !special && off.0 != off.1;
            repeat = if same_span { repeat + 1 } else { 1 };
            let label = if special || text_part.is_empty() {
                piece.clone()
            } else if same_span {
                format!("{text_part}{}", superscript(repeat))
            } else {
                text_part.to_owned()
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

    /// Ids back to tokens (for sequences the app makes up, such as the induction test).
    pub fn id_to_token(&self, id: u32) -> String {
        self.inner
            .id_to_token(id)
            .unwrap_or_else(|| format!("<{id}>"))
    }
}

/// 2 → "²" (for repeated pieces of one character, and the layer of X⁽¹²⁾).
pub fn superscript(n: usize) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    n.to_string()
        .chars()
        .map(|c| DIGITS[c.to_digit(10).unwrap_or(0) as usize])
        .collect()
}
