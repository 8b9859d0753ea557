//! The lessons shipped in `sample_models/lessons/`, embedded so they work from any folder.
//! A lesson is a spec whose `title` and `description` hold the English and the Chinese text
//! separated by " / "; the menu shows the one of the UI language.

use crate::core::{CoreError, Spec};

use super::i18n::Lang;

/// One built-in lesson.
#[derive(Clone, Copy, Debug)]
pub struct Lesson {
    /// File stem in `sample_models/lessons/`.
    pub name: &'static str,
    /// The spec (JSON).
    pub json: &'static str,
}

macro_rules! lesson {
    ($name:literal) => {
        Lesson {
            name: $name,
            json: include_str!(concat!("../../sample_models/lessons/", $name, ".json")),
        }
    };
}

/// Every lesson, in menu order.
pub const LESSONS: &[Lesson] = &[
    lesson!("classic_three_tokens"),
    lesson!("toy_x123"),
    lesson!("wo_ai_beijing_tiananmen"),
    lesson!("translation_cross_attention"),
    lesson!("toy_vs_trained_cross"),
    lesson!("gpt_causal"),
];

impl Lesson {
    /// The lesson's spec.
    pub fn spec(&self) -> Result<Spec, CoreError> {
        Spec::from_json(self.json)
    }

    /// The title in a language (the file name if the spec has none).
    pub fn title(&self, lang: Lang) -> String {
        in_lang(&self.texts().0, lang).to_owned()
    }

    /// The description in a language (empty if the spec has none).
    pub fn description(&self, lang: Lang) -> String {
        in_lang(&self.texts().1, lang).to_owned()
    }

    /// The spec's bilingual title and description, parsed once for every lesson: the menu
    /// and the left panel ask for them on every frame.
    fn texts(&self) -> &'static (String, String) {
        static TEXTS: std::sync::LazyLock<Vec<(String, String)>> = std::sync::LazyLock::new(|| {
            LESSONS
                .iter()
                .map(|l| {
                    let spec = l.spec().ok();
                    let title = spec.as_ref().and_then(|s| s.title.clone());
                    let description = spec.and_then(|s| s.description);
                    (
                        title.unwrap_or_else(|| l.name.to_owned()),
                        description.unwrap_or_default(),
                    )
                })
                .collect()
        });
        static NONE: (String, String) = (String::new(), String::new());
        LESSONS
            .iter()
            .position(|l| l.name == self.name)
            .and_then(|i| TEXTS.get(i))
            .unwrap_or(&NONE)
    }
}

/// The part of a bilingual "English / 中文" text for a language: the text before the last
/// " / " in English, after it in Chinese; a text without " / " is the same in both.
pub fn in_lang(text: &str, lang: Lang) -> &str {
    match text.rsplit_once(" / ") {
        Some((en, zh)) => match lang {
            Lang::En => en.trim(),
            Lang::Zh => zh.trim(),
        },
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_has_a_title_and_description_in_both_languages() {
        for l in LESSONS {
            for lang in [Lang::En, Lang::Zh] {
                let (t, d) = (l.title(lang), l.description(lang));
                assert!(!t.is_empty() && t != l.name, "{}: {t}", l.name);
                assert!(!d.is_empty(), "{}", l.name);
                assert!(!t.contains(" / ") && !d.contains(" / "), "{}: {t}", l.name);
            }
            let zh = l.title(Lang::Zh);
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
        }
    }
}
