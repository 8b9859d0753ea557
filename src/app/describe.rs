//! Words and formulas for what a head computes, read from its trace's own [`Mechanism`]:
//! the step-through's formulas and explanations, the left panel's summary of a real head and
//! the lab's one-line captions. Nothing here reads the settings panel.

use crate::core::{Mechanism, Norm, ScoreKind, Source, SpanKind, Step, Trace};

use super::i18n::{Lang, Msg, tr, trf};

/// What a step does, and what this head's own mechanism adds to it (pre-norm, biases, the
/// lab's borrowed Q/K/V, which masks apply).
pub fn explanation(s: Step, trace: &Trace) -> Vec<Msg> {
    let m = &trace.mechanism;
    let model = matches!(m.source, Source::Model { .. });
    let mut out = vec![match s {
        // A rotary model adds no position embedding: its positions enter at step 2′.
        Step::Embed if model && m.rope.is_some() => Msg::ExplEmbedModelRope,
        Step::Embed if model => Msg::ExplEmbedModel,
        Step::Embed => Msg::ExplEmbed,
        Step::Project => Msg::ExplProject,
        Step::Rotate => Msg::ExplRotate,
        Step::Scores => Msg::ExplScores,
        Step::Scale => Msg::ExplScale,
        Step::Mask => Msg::ExplMask,
        // Luong's local-p weighs the probabilities by a Gaussian after the softmax.
        Step::Softmax if m.span == SpanKind::LocalP => Msg::ExplSoftmaxLocalP,
        Step::Softmax => Msg::ExplSoftmax,
        // Local-p's rows sum to less than 1: a weighted sum, not an average.
        Step::WeightedSum if m.span == SpanKind::LocalP => Msg::ExplWeightedLocalP,
        Step::WeightedSum => Msg::ExplWeighted,
        Step::Concat => Msg::ExplConcat,
        Step::Output => Msg::ExplOutput,
    }];
    match s {
        Step::Project if m.lab => out.push(Msg::ExplLabQkv),
        Step::Project => {
            match m.pre_norm {
                Some(Norm::LayerNorm) => out.push(Msg::ExplPreNorm),
                Some(Norm::RmsNorm) => out.push(Msg::ExplPreNormRms),
                None => {}
            }
            if m.qkv_bias {
                out.push(Msg::ExplBias);
            }
            if m.qk_norm.is_some() {
                out.push(Msg::ExplQkNorm);
            }
            if m.kv_heads.is_some() {
                out.push(Msg::ExplGqa);
            }
        }
        Step::Rotate => out.push(Msg::ExplRotateRelative),
        Step::Scale if trace.scale == 1.0 => out.push(Msg::ExplNoScale),
        Step::Mask if m.window.is_some() && matches!(m.source, Source::Model { .. }) => {
            out.push(Msg::ExplSlidingWindow)
        }
        Step::Mask if m.causal => out.push(Msg::ExplCausal),
        Step::Mask if !m.masks_anything() => out.push(Msg::ExplNoMask),
        _ => {}
    }
    // A query whose every key is masked has no probabilities to share: its row stays 0,
    // and its output is 0.
    if matches!(s, Step::Softmax | Step::WeightedSum) && has_blind_query(trace) {
        out.push(Msg::ExplBlindRows);
    }
    out
}

/// Whether some head has a query that sees no key at all (every key masked).
fn has_blind_query(trace: &Trace) -> bool {
    trace.head_traces.iter().any(|h| {
        h.allowed.nrows() > 0
            && h.allowed.ncols() > 0
            && h.allowed.rows().into_iter().any(|r| r.iter().all(|&a| !a))
    })
}

/// How X is written in a projection formula: `LN(X)` when the model normalises it first.
pub fn normed(m: &Mechanism, x: &str) -> String {
    match m.pre_norm {
        None => x.to_owned(),
        Some(Norm::LayerNorm) => format!("LN({x})"),
        Some(Norm::RmsNorm) => format!("RMSNorm({x})"),
    }
}

/// ` + b_Q` when the projections carry biases.
pub fn bias(has: bool, name: &str) -> String {
    if has {
        format!(" + b_{name}")
    } else {
        String::new()
    }
}

/// How `x` becomes a query, key or value (`name` Q, K or V): `x·W_Q + b_Q`, and for
/// Qwen3 and Gemma 3, which normalise each head's q and k once more over dₖ,
/// `RMSNorm_q(x·W_Q)`.
pub fn projection(m: &Mechanism, x: &str, name: &str) -> String {
    let product = format!("{x}·W_{name}{}", bias(m.qkv_bias, name));
    match (&m.qk_norm, name) {
        (Some(_), "Q" | "K") => format!("RMSNorm_{}({product})", name.to_lowercase()),
        _ => product,
    }
}

/// The formula of a step, from the trace's own mechanism (never the settings panel), with its
/// words in `lang`.
pub fn formula(step: Step, trace: &Trace, lang: Lang) -> String {
    let m = &trace.mechanism;
    match step {
        Step::Embed => match &m.source {
            Source::Toy { positions: true } => "xᵢ = E[tokenᵢ] + PE(i)".into(),
            Source::Toy { positions: false } => "xᵢ = E[tokenᵢ]".into(),
            Source::Vectors => tr(lang, Msg::FormulaTyped).into(),
            Source::Model { layer, .. } => {
                let sup = format!("⁽{}⁾", crate::model::tokenizer::superscript(*layer));
                trf(lang, Msg::FormulaHiddenState, &[&sup, layer])
            }
        },
        Step::Project => {
            let heads = trf(lang, Msg::FormulaHeadColumns, &[&trace.d_k]);
            if m.lab {
                return trf(lang, Msg::FormulaLabQkv, &[&trace.d_k]);
            }
            if m.identity_projections {
                return format!("Q = K = V = X;  {heads}");
            }
            let xq = normed(m, "X");
            let xk = normed(m, if trace.self_attention { "X" } else { "X_src" });
            format!(
                "Q = {},  K = {},  V = {};  {heads}",
                projection(m, &xq, "Q"),
                projection(m, &xk, "K"),
                projection(m, &xk, "V"),
            )
        }
        Step::Rotate => match &m.rope {
            Some(r) => {
                let scaled = r
                    .scaling
                    .as_ref()
                    .map(|k| trf(lang, Msg::FormulaRopeRescaled, &[k]))
                    .unwrap_or_default();
                format!(
                    "q′ᵢ = R(i·ω)·qᵢ,  k′ⱼ = R(j·ω)·kⱼ;  ωₘ = θ^(−2m/dₖ), θ = {}{scaled};  {}",
                    r.theta,
                    tr(lang, Msg::FormulaRopePairs)
                )
            }
            None => tr(lang, Msg::FormulaNoRope).into(),
        },
        Step::Scores => match m.score {
            ScoreKind::Dot | ScoreKind::ScaledDot => "sᵢⱼ = qᵢ·kⱼ = Σₘ qᵢₘ kⱼₘ".into(),
            ScoreKind::General => "sᵢⱼ = qᵢᵀ W_a kⱼ".into(),
            ScoreKind::Additive => "sᵢⱼ = v_aᵀ tanh(W₁qᵢ + W₂kⱼ)".into(),
            ScoreKind::Cosine => "sᵢⱼ = qᵢ·kⱼ / (‖qᵢ‖ ‖kⱼ‖)".into(),
        },
        Step::Scale => {
            if scale_is_inv_sqrt_dk(trace) {
                format!("s′ᵢⱼ = sᵢⱼ / √dₖ = sᵢⱼ × {:.4}", trace.scale)
            } else {
                format!("s′ᵢⱼ = sᵢⱼ × {:.4}", trace.scale)
            }
        }
        Step::Mask => {
            let mut parts = Vec::new();
            if m.causal {
                parts.push("j > i".to_owned());
            }
            if let Some(w) = m.window {
                parts.push(format!("|i − j| > {w}"));
            }
            match m.span {
                SpanKind::LocalM => parts.push(format!("|j − i| > {}", m.local_d)),
                SpanKind::LocalP => parts.push(format!("|j − pᵢ| > {}", m.local_d)),
                SpanKind::Global => {}
            }
            if m.padded_keys > 0 {
                parts.push(tr(lang, Msg::Padding).into());
            }
            let mut div = format!("zᵢⱼ = s′ᵢⱼ / τ  (τ = {:.2})", trace.temperature);
            if let Some(lp) = trace.head_traces.first().and_then(|h| h.local_p) {
                let u = match lp.source {
                    crate::core::spec::LocalPSource::Query => "qᵢ",
                    crate::core::spec::LocalPSource::Input => "xᵢ",
                };
                div.push_str(&format!(
                    ";  pᵢ = n_k·sigmoid(v_pᵀ tanh(W_p {u})), W_p: {}×{}",
                    lp.d_p, lp.d_in
                ));
            }
            if parts.is_empty() {
                format!("{div};  {}", tr(lang, Msg::FormulaNothingMasked))
            } else {
                let cond = parts.join(" ∨ ");
                format!("{div};  {}", trf(lang, Msg::FormulaMaskedIf, &[&cond]))
            }
        }
        Step::Softmax => {
            let base = "pᵢⱼ = exp(zᵢⱼ − maxₖ zᵢₖ) / Σₖ exp(zᵢₖ − maxₖ zᵢₖ)";
            match trace.head_traces.first().and_then(|h| h.local_p) {
                Some(lp) => format!("{base} × exp(−(j − pᵢ)² / 2σ²),  σ = {:.2}", lp.sigma),
                None => base.into(),
            }
        }
        Step::WeightedSum => {
            let short = matches!(m.score, ScoreKind::Dot | ScoreKind::ScaledDot)
                && m.span == SpanKind::Global
                && (trace.temperature - 1.0).abs() < 1e-6;
            // The mask enters the short form as M (0 where a key is seen, −∞ where not).
            let m_term = if m.masks_anything() { " + M" } else { "" };
            match (short, scale_is_inv_sqrt_dk(trace)) {
                (true, true) => format!("oᵢ = Σⱼ pᵢⱼ vⱼ      (softmax(QKᵀ/√dₖ{m_term})·V)"),
                (true, false) if (trace.scale - 1.0).abs() < 1e-6 => {
                    format!("oᵢ = Σⱼ pᵢⱼ vⱼ      (softmax(QKᵀ{m_term})·V)")
                }
                _ => "oᵢ = Σⱼ pᵢⱼ vⱼ".into(),
            }
        }
        Step::Concat => "concat = [o⁽⁰⁾ | o⁽¹⁾ | … | o⁽ʰ⁻¹⁾]".into(),
        Step::Output if m.lab => tr(lang, Msg::FormulaLabOutput).into(),
        Step::Output => trf(lang, Msg::FormulaOutput, &[&bias(m.out_bias, "O")]),
    }
}

/// Whether the trace's scale is 1/√dₖ (so the formula can say so).
fn scale_is_inv_sqrt_dk(trace: &Trace) -> bool {
    (trace.scale - 1.0 / (trace.d_k.max(1) as f32).sqrt()).abs() < 1e-6
}

/// The score function's name with its formula, e.g. "scaled dot  q·k/√dₖ".
pub fn score_msg(k: ScoreKind) -> Msg {
    match k {
        ScoreKind::Dot => Msg::ScoreDot,
        ScoreKind::ScaledDot => Msg::ScoreScaled,
        ScoreKind::General => Msg::ScoreGeneral,
        ScoreKind::Additive => Msg::ScoreAdditive,
        ScoreKind::Cosine => Msg::ScoreCosine,
    }
}

/// The masks of a mechanism in words ("causal · window 3 · local-m D = 2"), or "none".
fn masks(m: &Mechanism, lang: Lang) -> String {
    let mut parts = Vec::new();
    if m.causal {
        parts.push(tr(lang, Msg::Causal).to_owned());
    }
    if let Some(w) = m.window {
        parts.push(format!("{} |i − j| ≤ {w}", tr(lang, Msg::Window)));
    }
    match m.span {
        SpanKind::Global => {}
        SpanKind::LocalM => parts.push(format!("local-m D = {}", m.local_d)),
        SpanKind::LocalP => parts.push(format!("local-p D = {}", m.local_d)),
    }
    if m.padded_keys > 0 {
        parts.push(format!("{} × {}", tr(lang, Msg::Padding), m.padded_keys));
    }
    if parts.is_empty() {
        tr(lang, Msg::NoMask).to_owned()
    } else {
        parts.join(" · ")
    }
}

/// The score matrix as the step list and its table name it: S = QKᵀ for the dot products,
/// QW_aKᵀ for Luong's general score, Bahdanau's vᵀtanh(W₁q+W₂k), cos(q,k).
pub fn score_symbol(k: ScoreKind) -> &'static str {
    match k {
        ScoreKind::Dot | ScoreKind::ScaledDot => "QKᵀ",
        ScoreKind::General => "QW_aKᵀ",
        ScoreKind::Additive => "vᵀtanh(W₁q+W₂k)",
        ScoreKind::Cosine => "cos(q,k)",
    }
}

/// One line for a head: score, scale, masks and temperature (the lab's captions).
pub fn one_line(m: &Mechanism, scale: f32, temperature: f32, lang: Lang) -> String {
    let score = match m.score {
        ScoreKind::Dot => "q·k",
        ScoreKind::ScaledDot => "q·k",
        ScoreKind::General => "qᵀW_a k",
        ScoreKind::Additive => "vᵀtanh(W₁q+W₂k)",
        ScoreKind::Cosine => "cos(q, k)",
    };
    format!(
        "{score} × {scale:.4} · {} · τ = {temperature:.2}",
        masks(m, lang)
    )
}

/// What a head of a trace does, line by line, for the left panel's read-only summary of a
/// real model's head.
pub fn summary(trace: &Trace, head: usize, lang: Lang) -> Vec<String> {
    let t = |m| tr(lang, m);
    let m = &trace.mechanism;
    let mut out = Vec::new();
    if let Source::Model { family, layer } = &m.source {
        out.push(format!(
            "{} {layer} · {} {head} {} · {family}",
            t(Msg::Layer),
            t(Msg::Head),
            trf(lang, Msg::OfHeads, &[&trace.heads])
        ));
    }
    if let Some(w) = m
        .window
        .filter(|_| matches!(m.source, Source::Model { .. }))
    {
        // The window counts the token itself: a window of 8 is |i − j| ≤ 7 in the mask line.
        out.push(trf(lang, Msg::LocalWindowSpan, &[&(w + 1), &w]));
    }
    if let Some(text) = kv_sharing(m, trace.heads, head, lang) {
        out.push(text);
    }
    if let Some(r) = &m.rope {
        out.push(format!("RoPE θ = {}", r.theta));
    }
    out.push(format!("{}: {}", t(Msg::Score), t(score_msg(m.score))));
    out.push(format!("{}: × {:.4}", t(Msg::ScaleWord), trace.scale));
    out.push(format!("{}: {}", t(Msg::Masks), masks(m, lang)));
    out.push(format!("{}: {:.2}", t(Msg::Temperature), trace.temperature));
    out.push(formula(Step::Project, trace, lang));
    out
}

/// "K, V: KV head 1, shared by heads 2–3" for a grouped-query head (`None` without GQA).
pub fn kv_sharing(m: &Mechanism, heads: usize, head: usize, lang: Lang) -> Option<String> {
    let kv = m.kv_heads.filter(|&kv| kv > 0 && kv < heads)?;
    let group = heads / kv;
    let g = head / group.max(1);
    Some(format!(
        "K, V: {} {g}, {} {}–{}",
        tr(lang, Msg::KvHead),
        tr(lang, Msg::SharedByHeads),
        g * group,
        (g + 1) * group - 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Spec, compute};

    /// The softmax step's words match its numbers: rows sum to 1, except under Luong's
    /// local-p, whose Gaussian comes after the softmax (and the text says so).
    #[test]
    fn the_softmax_explanation_says_what_the_rows_sum_to() {
        for (span, local_p) in [("global", false), ("local_m", false), ("local_p", true)] {
            let spec = Spec::from_json(&format!(
                r#"{{"target": {{"text": "the cat sat on the mat because it was tired"}},
                    "tokenizer": "words", "d_model": 8, "seed": 7, "heads": 1,
                    "score": "general", "span": "{span}", "local_d": 2}}"#
            ))
            .unwrap();
            let trace = compute(&spec).unwrap();
            let weights = &trace.head_traces[0].weights;
            let least = weights
                .rows()
                .into_iter()
                .map(|r| r.sum())
                .fold(f32::INFINITY, f32::min);
            let said = explanation(Step::Softmax, &trace);
            if local_p {
                assert!(least < 0.99, "{span}: {least}");
                assert_eq!(said[0], Msg::ExplSoftmaxLocalP);
            } else {
                assert!((least - 1.0).abs() < 1e-5, "{span}: {least}");
                assert_eq!(said[0], Msg::ExplSoftmax);
            }
        }
    }

    /// Step 4 says when a head does not scale at all (a plain dot score: S′ = S), and step 1
    /// of a rotary model does not claim a position embedding it does not have.
    #[test]
    fn unscaled_heads_and_rotary_models_are_explained_as_they_are() {
        let trace_of = |score: &str| {
            let spec = Spec::from_json(&format!(
                r#"{{"target": {{"text": "a b c"}}, "d_model": 4, "score": "{score}"}}"#
            ))
            .unwrap();
            compute(&spec).unwrap()
        };
        assert!(explanation(Step::Scale, &trace_of("dot")).contains(&Msg::ExplNoScale));
        assert!(!explanation(Step::Scale, &trace_of("scaled_dot")).contains(&Msg::ExplNoScale));
        let mut trace = trace_of("scaled_dot");
        trace.mechanism.source = Source::Model {
            family: "llama".into(),
            layer: 0,
        };
        assert_eq!(explanation(Step::Embed, &trace)[0], Msg::ExplEmbedModel);
        trace.mechanism.rope = Some(crate::core::Rope {
            theta: 10000.0,
            dims: 4,
            scaling: None,
        });
        assert_eq!(explanation(Step::Embed, &trace)[0], Msg::ExplEmbedModelRope);
    }

    /// A Qwen3 / Gemma 3 head says that its q and k are normalised per head, in the formula,
    /// the arithmetic and the explanation; V is not.
    #[test]
    fn a_head_with_qk_norm_says_so() {
        let spec =
            Spec::from_json(r#"{"target": {"text": "a b c"}, "d_model": 8, "heads": 2}"#).unwrap();
        let mut trace = compute(&spec).unwrap();
        trace.mechanism.pre_norm = Some(Norm::RmsNorm);
        trace.mechanism.identity_projections = false;
        trace.mechanism.qk_norm = Some(Norm::RmsNorm);
        let f = formula(Step::Project, &trace, Lang::En);
        assert!(
            f.starts_with("Q = RMSNorm_q(RMSNorm(X)·W_Q),  K = RMSNorm_k(RMSNorm(X)·W_K),  V = RMSNorm(X)·W_V;"),
            "{f}"
        );
        assert!(explanation(Step::Project, &trace).contains(&Msg::ExplQkNorm));
        trace.mechanism.qk_norm = None;
        assert!(!explanation(Step::Project, &trace).contains(&Msg::ExplQkNorm));
        assert!(formula(Step::Project, &trace, Lang::En).starts_with("Q = RMSNorm(X)·W_Q,"));
    }

    /// Step 7's short form carries the mask when there is one, and the words of steps 6 and
    /// 7 match rows that do not sum to 1: local-p's (a weighted sum, not an average) and a
    /// query that sees no key (its row and output stay 0).
    #[test]
    fn the_weighted_sum_says_what_its_weights_are() {
        let trace_of = |extra: &str| {
            let spec = Spec::from_json(&format!(
                r#"{{"target": {{"text": "a b c d"}}, "d_model": 4, "score": "scaled_dot"{extra}}}"#
            ))
            .unwrap();
            compute(&spec).unwrap()
        };
        let plain = formula(Step::WeightedSum, &trace_of(""), Lang::En);
        assert!(plain.ends_with("(softmax(QKᵀ/√dₖ)·V)"), "{plain}");
        let causal = formula(
            Step::WeightedSum,
            &trace_of(r#", "causal": true"#),
            Lang::En,
        );
        assert!(causal.ends_with("(softmax(QKᵀ/√dₖ + M)·V)"), "{causal}");

        let local_p = trace_of(r#", "span": "local_p", "local_d": 1"#);
        assert_eq!(
            explanation(Step::WeightedSum, &local_p)[0],
            Msg::ExplWeightedLocalP
        );
        assert_eq!(
            explanation(Step::WeightedSum, &trace_of(""))[0],
            Msg::ExplWeighted
        );

        let blind = trace_of(r#", "padding": [true, true, true, true]"#);
        assert!(blind.head_traces[0].weights.iter().all(|&w| w == 0.0));
        for step in [Step::Softmax, Step::WeightedSum] {
            assert!(explanation(step, &blind).contains(&Msg::ExplBlindRows));
            assert!(!explanation(step, &trace_of("")).contains(&Msg::ExplBlindRows));
        }
    }
}
