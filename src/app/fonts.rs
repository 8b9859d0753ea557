//! The embedded fonts: egui's default font has no Chinese and few maths symbols, so these
//! are installed as fallbacks, and no machine shows a tofu box.

use eframe::egui;

/// Embedded fallback fonts, tried in order after egui's default font:
/// DejaVu Sans / Sans Mono (Bitstream Vera license + public domain) for maths symbols,
/// sub- and superscripts (qᵢ, kⱼ, dₖ, ‖q‖, ⁽ʰ⁾), and Droid Sans Fallback (Apache-2.0) for
/// Chinese, so nothing shows as a tofu box on a machine with no fonts installed. The same
/// bytes draw the exported PNGs' labels.
pub use crate::export::text::{CJK_FONT, DEJAVU_SANS, DEJAVU_SANS_MONO};

/// egui's emoji fonts: tried last, after every font that covers the text of a script, so
/// that a symbol DejaVu or Droid draws (▶ ✖ ✓ ★) keeps their look, and only what no other
/// font has (🍕 ✨) comes from them.
const EMOJI_FONTS: [&str; 2] = ["NotoEmoji-Regular", "emoji-icon-font"];

/// Installs the fallback fonts after egui's default text fonts and before its emoji fonts
/// (idempotent).
pub fn install_fonts(ctx: &egui::Context) {
    use egui::FontFamily::{Monospace, Proportional};
    use egui::epaint::text::FontData;
    let mut defs = egui::FontDefinitions::default();
    for (name, data, families) in [
        ("dejavu-sans", DEJAVU_SANS, &[Proportional][..]),
        ("dejavu-sans-mono", DEJAVU_SANS_MONO, &[Monospace][..]),
        (
            "droid-sans-fallback",
            CJK_FONT,
            &[Proportional, Monospace][..],
        ),
    ] {
        defs.font_data.insert(
            name.to_owned(),
            std::sync::Arc::new(FontData::from_static(data)),
        );
        for family in families {
            let chain = defs.families.entry(family.clone()).or_default();
            let emoji_at = chain
                .iter()
                .position(|f| EMOJI_FONTS.contains(&f.as_str()))
                .unwrap_or(chain.len());
            chain.insert(emoji_at, name.to_owned());
        }
    }
    ctx.set_fonts(defs);
}

/// The size of egui's small text (captions, hints, grid labels): 11 points instead of 9, so
/// a caption that carries information stays legible on a projector, Chinese above all (a
/// 9-point 滑 is a blot).
pub const SMALL_TEXT_PT: f32 = 11.0;

/// Sets the text sizes the app uses (idempotent).
pub fn install_text_sizes(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| {
        style.text_styles.insert(
            egui::TextStyle::Small,
            egui::FontId::proportional(SMALL_TEXT_PT),
        );
    });
}
