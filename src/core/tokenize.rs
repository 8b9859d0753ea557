//! Tokenizers for typed text when no model is loaded: whitespace, words, characters.
//!
//! `words` is the classroom default: whitespace pieces, with every CJK ideograph and every
//! punctuation mark split off (so "我爱北京天安门" is 7 tokens and "tired." is two), while an
//! apostrophe stays inside its word ("didn't" is one token).

use serde::{Deserialize, Serialize};

/// How typed text becomes tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokenizer {
    /// Whitespace pieces with CJK ideographs and punctuation split off.
    #[default]
    Words,
    /// Plain whitespace split.
    Whitespace,
    /// Every non-whitespace character (the natural unit for Chinese).
    Chars,
}

impl Tokenizer {
    /// Every tokenizer, in menu order.
    pub const ALL: [Tokenizer; 3] = [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Chars];

    /// Splits `text` into tokens.
    pub fn tokenize(self, text: &str) -> Vec<String> {
        match self {
            Tokenizer::Whitespace => pieces(text).map(str::to_owned).collect(),
            Tokenizer::Chars => text
                .chars()
                .filter(|&c| !separates(c))
                .map(String::from)
                .collect(),
            Tokenizer::Words => {
                let mut out = Vec::new();
                for piece in pieces(text) {
                    let mut run = String::new();
                    for c in piece.chars() {
                        if is_cjk_ideograph(c) || is_punctuation(c) {
                            if !run.is_empty() {
                                out.push(std::mem::take(&mut run));
                            }
                            out.push(c.to_string());
                        } else {
                            run.push(c);
                        }
                    }
                    if !run.is_empty() {
                        out.push(run);
                    }
                }
                out
            }
        }
    }
}

/// Whether `c` separates tokens: whitespace, and what has no glyph of its own (control
/// characters, a zero-width space, a byte-order mark), which would otherwise make a label
/// of empty boxes or a token with no visible label at all.
fn separates(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '\u{200B}' | '\u{FEFF}')
}

/// The non-empty pieces of `text` between separators.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    text.split(separates).filter(|p| !p.is_empty())
}

/// CJK unified ideographs (basic, extension A, compatibility, and the supplementary planes).
pub fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// ASCII punctuation except the apostrophe, CJK symbols and punctuation, and full-width forms.
pub fn is_punctuation(c: char) -> bool {
    (c.is_ascii_punctuation() && c != '\'') || matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF65)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_separate_tokens_instead_of_hiding_in_them() {
        for tok in Tokenizer::ALL {
            let t = tok.tokenize("here\u{1}\u{2} x\u{7f}\u{200B}y\u{FEFF}");
            assert!(
                t.iter().all(|p| !p.chars().any(separates)),
                "{tok:?}: {t:?}"
            );
        }
        assert_eq!(
            Tokenizer::Words.tokenize("a\u{200B}b\u{1}c"),
            ["a", "b", "c"]
        );
        // A zero-width joiner stays: it binds an emoji sequence into one token.
        assert_eq!(
            Tokenizer::Whitespace.tokenize("👨\u{200D}👩"),
            ["👨\u{200D}👩"]
        );
    }

    #[test]
    fn chinese_by_characters_is_seven_tokens() {
        assert_eq!(Tokenizer::Chars.tokenize("我爱北京天安门").len(), 7);
        assert_eq!(Tokenizer::Words.tokenize("我爱北京天安门").len(), 7);
        assert_eq!(Tokenizer::Whitespace.tokenize("我爱北京天安门").len(), 1);
    }

    #[test]
    fn words_keep_apostrophes_and_split_punctuation() {
        assert_eq!(
            Tokenizer::Words.tokenize("The animal didn't cross, it was tired."),
            [
                "The", "animal", "didn't", "cross", ",", "it", "was", "tired", "."
            ]
        );
        assert_eq!(
            Tokenizer::Words.tokenize("AI模型（很小）！ok"),
            ["AI", "模", "型", "（", "很", "小", "）", "！", "ok"]
        );
    }

    #[test]
    fn empty_and_blank_text_give_no_tokens() {
        for t in Tokenizer::ALL {
            assert!(t.tokenize("").is_empty());
            assert!(t.tokenize(" \t\n　").is_empty());
        }
    }
}
