//! Every user-visible string in English and 简体中文. One `match` per language means a message
//! cannot exist in one language only: the compiler refuses it.

use serde::{Deserialize, Serialize};

/// The UI language (also the CLI's `--lang`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// 简体中文.
    Zh,
}

macro_rules! messages {
    ($($name:ident => $en:literal, $zh:literal;)*) => {
        /// A user-visible message.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Msg { $($name),* }

        impl Msg {
            /// Every message (for the completeness test).
            pub const ALL: &'static [Msg] = &[$(Msg::$name),*];

            /// The message in a language.
            pub fn get(self, lang: Lang) -> &'static str {
                match lang {
                    Lang::En => match self { $(Msg::$name => $en),* },
                    Lang::Zh => match self { $(Msg::$name => $zh),* },
                }
            }
        }
    };
}

messages! {
    MenuFile => "File", "文件";
    MenuView => "View", "视图";
    MenuLanguage => "Language", "语言";
    MenuHelp => "Help", "帮助";
    MenuLessons => "Lessons", "课例";
    OpenSession => "Open session…", "打开会话…";
    SaveSession => "Save session…", "保存会话…";
    OpenSpec => "Open spec (JSON)…", "打开配置 (JSON)…";
    ExportPng => "Export heatmap as PNG…", "导出热力图为 PNG…";
    ExportSvg => "Export heatmap as SVG…", "导出热力图为 SVG…";
    ExportJson => "Export trace as JSON…", "导出计算过程为 JSON…";
    ExportCsv => "Export weights as CSV…", "导出权重为 CSV…";
    ExportWindow => "Save window screenshot…", "保存窗口截图…";
    Quit => "Quit", "退出";
    ThemeLight => "Light theme", "浅色主题";
    ThemeDark => "Dark theme", "深色主题";
    ZoomIn => "Zoom in (Ctrl +)", "放大 (Ctrl +)";
    ZoomOut => "Zoom out (Ctrl −)", "缩小 (Ctrl −)";
    ZoomReset => "Reset zoom (Ctrl 0)", "重置缩放 (Ctrl 0)";
    About => "About attnscope", "关于 attnscope";
    KeysTitle => "Keyboard and mouse", "键盘与鼠标";
    KeysArrows => "previous / next step (in Generate and Translate: the previous / next token)", "上一步 / 下一步（在“生成”和“翻译”中：上一个 / 下一个词元）";
    KeysSpaceKey => "Space", "空格";
    KeysSpace => "play / pause the steps", "播放 / 暂停各步骤";
    KeysZoom => "zoom the whole window in / out / back (for projectors)", "放大 / 缩小 / 还原整个窗口（适合投影）";
    KeysWheelKey => "Ctrl + wheel", "Ctrl + 滚轮";
    KeysWheel => "zoom the heatmap under the pointer", "缩放鼠标下的热力图";
    KeysHomeEnd => "the first / last step", "第一步 / 最后一步";
    KeysUpDown => "the previous / next query row (the step-through, the lines and the neuron view follow it)", "上一个 / 下一个查询行（逐步计算、连线图和神经元视图随之切换）";
    KeysHeads => "the previous / next head", "上一个 / 下一个注意力头";
    KeysLayers => "the previous / next layer of the model", "模型的上一层 / 下一层";
    KeysViews => "the view tabs, in their order (1 is the first tab)", "按顺序切换视图标签页（1 为第一个）";
    KeysDropKey => "drag and drop", "拖放";
    KeysDrop => "open a model folder or GGUF file, a session, a spec or a .txt file", "打开模型文件夹或 GGUF 文件、会话、配置或 .txt 文件";
    AboutText => "attnscope shows how attention computes, one step at a time, with the real numbers of every step. Version", "attnscope 以每一步的真实数值，逐步展示注意力的计算过程。版本";
    AboutLicenses => "Licenses: attnscope MIT OR Apache-2.0; embedded fonts DejaVu Sans (Bitstream Vera license, public domain changes) and Droid Sans Fallback © Google, Apache-2.0; sample lessons CC0; sample models: all-MiniLM-L6-v2 Apache-2.0 (sentence-transformers), tiny-gpt2-induction, tiny-llama-induction and tiny-translator trained by attnscope, same license as attnscope (details in sample_models/*/README.md); fetched by tools/fetch_models.sh, not shipped: SmolLM2-135M-Instruct Apache-2.0 (Hugging Face), Gemma 3 270M under the Gemma Terms of Use (Google).", "许可证：attnscope 为 MIT 或 Apache-2.0；内嵌字体 DejaVu Sans（Bitstream Vera 许可证，修改部分属公有领域）和 Droid Sans Fallback © Google，Apache-2.0；示例课例 CC0；示例模型：all-MiniLM-L6-v2 为 Apache-2.0（sentence-transformers），tiny-gpt2-induction、tiny-llama-induction 和 tiny-translator 由 attnscope 训练，许可证与 attnscope 相同（详见 sample_models/*/README.md）；由 tools/fetch_models.sh 获取、不随软件分发：SmolLM2-135M-Instruct 为 Apache-2.0（Hugging Face），Gemma 3 270M 遵循 Gemma 使用条款（Google）。";
    Input => "Input", "输入";
    TargetText => "Sequence (queries)", "序列（查询）";
    SourceText => "Source sequence (keys / values)", "源序列（键 / 值）";
    Tokenizer => "Tokens", "分词";
    TokWords => "words", "词";
    TokWhitespace => "whitespace", "空格分隔";
    TokChars => "characters", "字符";
    TokTip => "How text becomes tokens: words (CJK characters and punctuation split off), plain whitespace, or single characters (natural for Chinese).", "文本如何切成词元：按词（中日韩汉字和标点单独成词）、按空格，或逐字（适合中文）。";
    Embeddings => "Embeddings", "嵌入";
    ToyEmbeddings => "toy (seeded)", "示例嵌入（随机种子）";
    HandMatrix => "typed matrix", "手动输入矩阵";
    EmbTip => "Toy embeddings give each token a fixed pseudo-random vector from the seed (same on every machine). A typed matrix lets you enter X by hand; Q = K = V = X.", "示例嵌入按种子给每个词元一个固定的伪随机向量（每台机器都相同）。手动矩阵让你直接输入 X，且 Q = K = V = X。";
    Seed => "seed", "种子";
    DModel => "d_model", "d_model";
    DModelRestored => "d_model {} → {}: back to the width you set, which {} heads split evenly; the numbers are those of before.", "d_model {} → {}：回到你设定的宽度，{} 个头可以平分；数值与之前相同。";
    DModelWidened => "d_model {} → {}: {} heads split it evenly only at a multiple of their number (d_k = d_model / h), so every number changed.", "d_model {} → {}：{} 个头只能平分头数倍数的宽度（d_k = d_model / h），所以所有数值都变了。";
    DModelTip => "Width of each token vector X. Split evenly among the heads: d_k = d_model / h.", "每个词元向量 X 的宽度。平均分给各个头：d_k = d_model / h。";
    Positions => "add positions", "加入位置编码";
    PositionsTip => "Add sinusoidal position encodings PE(pos) to the toy embeddings, so word order matters.", "给示例嵌入加上正弦位置编码 PE(pos)，让词序产生影响。";
    MaxTokens => "token limit", "词元上限";
    MaxTokensTip => "Longer text is cut to this many tokens (with a notice), so the app never freezes.", "超过此数量的文本会被截断（并提示），界面不会卡住。";
    Rows => "rows", "行";
    Cols => "cols", "列";
    Mechanism => "Mechanism", "机制";
    PresetGlobal => "Global (Luong)", "全局（Luong）";
    PresetLocalM => "Local-m (Luong)", "局部-m（Luong）";
    PresetLocalP => "Local-p (Luong)", "局部-p（Luong）";
    PresetSelf => "Self", "自注意力";
    PresetCross => "Cross", "交叉注意力";
    PresetMulti => "Multi-head", "多头";
    CrossToggle => "cross-attention: keys and values from the source", "交叉注意力：键和值来自源序列";
    PresetTip => "Presets set the axes below; you can change any axis afterwards.", "预设会设置下面各项；之后可以任意修改。";
    Score => "score", "打分函数";
    ScoreDot => "dot  q·k", "点积  q·k";
    ScoreScaled => "scaled dot  q·k/√dₖ", "缩放点积  q·k/√dₖ";
    ScoreGeneral => "general  qᵀWk", "一般（双线性）  qᵀWk";
    ScoreAdditive => "additive  vᵀtanh(W₁q+W₂k)", "加性  vᵀtanh(W₁q+W₂k)";
    ScoreCosine => "cosine  q·k/(‖q‖‖k‖)", "余弦  q·k/(‖q‖‖k‖)";
    ScoreTip => "The score function s(q, k) says how well a query matches a key. Dot: Σ qₘkₘ. Scaled dot divides by √dₖ so scores do not grow with the dimension. General: qᵀW_a k with a learned matrix. Additive (Bahdanau): a one-layer network vᵀtanh(W₁q + W₂k). Cosine: the angle only, lengths ignored.", "打分函数 s(q, k) 衡量查询与键的匹配程度。点积：Σ qₘkₘ。缩放点积再除以 √dₖ，使分数不随维度增大。一般：qᵀW_a k，带一个可学习矩阵。加性（Bahdanau）：单层网络 vᵀtanh(W₁q + W₂k)。余弦：只看夹角，忽略长度。";
    ScaleSqrt => "÷ √dₖ", "÷ √dₖ";
    ScaleTip => "Multiply the scores by 1/√dₖ before the softmax (Vaswani et al.): keeps the softmax from saturating when dₖ is large.", "在 softmax 之前把分数乘以 1/√dₖ（Vaswani 等）：dₖ 较大时防止 softmax 饱和。";
    Span => "span", "范围";
    SpanGlobal => "global", "全局";
    SpanLocalM => "local-m", "局部-m";
    SpanLocalP => "local-p", "局部-p";
    SpanTip => "Which keys a query may see. Global: all. Local-m: keys with |j − i| ≤ D. Local-p: a window of ±D around a predicted position pᵢ = S·sigmoid(v_pᵀ tanh(W_p qᵢ)), weights multiplied by a Gaussian with σ = D/2 (Luong et al. 2015).", "查询能看到哪些键。全局：全部。局部-m：满足 |j − i| ≤ D 的键。局部-p：以预测位置 pᵢ = S·sigmoid(v_pᵀ tanh(W_p qᵢ)) 为中心 ±D 的窗口，权重再乘以 σ = D/2 的高斯（Luong 等 2015）。";
    HalfWidth => "D", "D";
    Masks => "masks", "掩码";
    Causal => "causal", "因果";
    CausalTip => "Query i may only see keys j ≤ i (no peeking at the future), as in GPT.", "查询 i 只能看到 j ≤ i 的键（不能偷看未来），和 GPT 一样。";
    CausalCrossTip => "A causal mask hides keys after the query's position; between two sequences those positions are unrelated (a decoder's cross-attention has no causal mask), so it is offered for self-attention only.", "因果掩码遮住查询位置之后的键；两个不同序列之间的位置并不对应（解码器的交叉注意力没有因果掩码），所以只在自注意力中提供。";
    TrCompareToyText => "The Translate tab's sentences through toy cross-attention: seeded random embeddings, nothing learned. Compare this heatmap with the trained model's cross-attention on the Translate tab.", "翻译页的句子经过示例交叉注意力：种子生成的随机嵌入，没有任何训练。把这张热力图和翻译页中训练好的模型的交叉注意力作比较。";
    Window => "window", "滑动窗口";
    WindowTip => "Sliding window: query i sees only keys with |i − j| ≤ w.", "滑动窗口：查询 i 只看 |i − j| ≤ w 的键。";
    PaddingTip => "Click a key token to mark it as padding: padded keys are masked for every query.", "点击一个键词元即可把它标为填充：被填充的键对所有查询都被掩盖。";
    TokenChips => "{} tokens", "{} 个词元";
    Temperature => "temperature τ", "温度 τ";
    TemperatureTip => "softmax(z/τ): τ < 1 sharpens the distribution towards the maximum, τ > 1 flattens it towards uniform.", "softmax(z/τ)：τ < 1 使分布更尖锐、趋向最大值，τ > 1 使分布更平、趋向均匀。";
    Heads => "heads h", "头数 h";
    HeadsTip => "Number of heads. Each head gets its own slice of Q, K, V (dₖ = d_model / h) and its own attention pattern; the heads' outputs are concatenated and projected by W_O.", "头的数量。每个头拿到 Q、K、V 的一段（dₖ = d_model / h），有自己的注意力模式；各头输出拼接后再乘以 W_O。";
    Steps => "Steps", "步骤";
    Prev => "◀ Previous", "◀ 上一步";
    Next => "Next ▶", "下一步 ▶";
    Play => "▶ Play", "▶ 播放";
    Pause => "■ Pause", "■ 暂停";
    StepKeysTip => "Keys: ← → move between steps, Home / End go to the first / last, ↑ ↓ choose the query row, space plays / pauses.", "按键：← → 切换步骤，Home / End 跳到第一步 / 最后一步，↑ ↓ 选择查询行，空格播放 / 暂停。";
    StepEmbed => "1 Embed", "1 嵌入";
    StepProject => "2 Project Q, K, V", "2 投影 Q、K、V";
    StepScores => "3 Scores {}", "3 打分 {}";
    StepScale => "4 Scale", "4 缩放";
    StepMask => "5 Mask", "5 掩码";
    StepSoftmax => "6 Softmax", "6 Softmax";
    StepWeighted => "7 Weighted sum of V", "7 对 V 加权求和";
    StepConcat => "8 Concat heads", "8 拼接各头";
    StepOutput => "9 Output projection", "9 输出投影";
    ExplEmbed => "Each token becomes a vector: one row of X. With toy embeddings the numbers come from the seed (plus a position signal); with a typed matrix they are yours.", "每个词元变成一个向量，即 X 的一行。示例嵌入的数值来自种子（再加位置信号）；手动矩阵则是你输入的数值。";
    ExplEmbedModel => "With a real model, X is the hidden state entering the chosen layer: the token and position embeddings for layer 0, the previous layer's output after that.", "使用真实模型时，X 是进入所选层的隐藏状态：第 0 层是词元嵌入加位置嵌入，之后各层是上一层的输出。";
    ExplEmbedModelRope => "With a real model, X is the hidden state entering the chosen layer: for layer 0 the token embeddings alone (this model adds no position embedding), the previous layer's output after that. Positions enter in step 2′, where q and k are rotated (RoPE).", "使用真实模型时，X 是进入所选层的隐藏状态：第 0 层只是词元嵌入（这个模型不加位置嵌入），之后各层是上一层的输出。位置信息在第 2′ 步加入：q 和 k 按位置旋转（旋转位置编码 RoPE）。";
    ExplProject => "Three learned matrices turn each row of X into a query (what am I looking for?), a key (what do I offer?) and a value (what do I pass on?). Each head takes its own dₖ columns.", "三个可学习矩阵把 X 的每一行变成查询（我在找什么？）、键（我能提供什么？）和值（我要传递什么？）。每个头取自己的 dₖ 列。";
    ExplPreNorm => "This model normalises each row of X first (LayerNorm: subtract the row mean, divide by its spread, then scale and shift by learned γ, β), and projects the normalised rows.", "该模型先把 X 的每一行归一化（LayerNorm：减去行均值、除以其离散程度，再用可学习的 γ、β 缩放和平移），再对归一化后的行做投影。";
    ExplBias => "Each projection also adds a learned bias vector b after the matrix product.", "每个投影在矩阵乘法之后还会加上一个可学习的偏置向量 b。";
    ExplLabQkv => "In the lab, Q, K and V are the real head's own, taken from the model's forward pass; only the steps after them follow the mechanism chosen on the left.", "在实验室里，Q、K、V 是真实注意力头自己的（取自模型的前向计算）；只有其后的步骤按左侧选择的机制计算。";
    ExplCausal => "This head is causal: a token may look only at itself and earlier tokens, so everything above the diagonal is −∞.", "这个头是因果的：每个词元只能看自己和之前的词元，所以对角线以上全为 −∞。";
    ExplNoMask => "This head masks nothing: every query sees every key.", "这个头不做任何掩码：每个查询都能看到所有键。";
    Padding => "padding", "填充";
    FormulaHiddenState => "X{} = the hidden state entering layer {}", "X{} = 进入第 {} 层的隐藏状态";
    FormulaTyped => "X = (typed)", "X = （手动输入）";
    MatXSource => "X (source)", "X（源序列）";
    MatBeforeRotation => "before the rotation", "旋转前";
    MatRotated => "rotated", "旋转后";
    FormulaHeadColumns => "head h: columns h·dₖ … (h+1)·dₖ−1,  dₖ = {}", "头 h：第 h·dₖ … (h+1)·dₖ−1 列，dₖ = {}";
    FormulaLabQkv => "Q, K, V = the real head's own (from the model);  dₖ = {}", "Q、K、V = 真实注意力头自己的（来自模型）；dₖ = {}";
    FormulaRopeRescaled => " (frequencies rescaled: {})", "（频率已重新缩放：{}）";
    FormulaRopePairs => "pairs (m, m + dₖ/2)", "成对的维度 (m, m + dₖ/2)";
    FormulaNoRope => "no rotary positions in this head", "这个头没有旋转位置编码";
    FormulaNothingMasked => "nothing is masked", "没有被掩码的位置";
    FormulaMaskedIf => "zᵢⱼ = −∞ if {}", "若 {}，则 zᵢⱼ = −∞";
    FormulaLabOutput => "output = o  (the lab re-runs one head: no W_O)", "输出 = o（实验室只重算一个头：没有 W_O）";
    FormulaOutput => "output = concat · W_O{}", "输出 = concat · W_O{}";
    NoMask => "none", "无";
    ScaleWord => "scale", "缩放";
    ThisHead => "This head", "当前注意力头";
    ThisHeadTip => "What the focused head of the model computes, read from the model itself. The toy controls do not change a real model: use the lab to try another mechanism on this head's own Q, K, V.", "模型中当前注意力头实际的计算方式，直接取自模型本身。示例参数不会改变真实模型：请在实验室里用这个头自己的 Q、K、V 试验其他机制。";
    RerunInLab => "Re-run in the lab ▶", "在实验室中重新计算 ▶";
    LabMechanism => "Lab: re-run this head with", "实验室：用以下设置重新计算该头";
    LessonTitle => "Lesson: {}", "课例：{}";
    ImportedFields => "Also from the spec file (used as given):", "另外取自配置文件（按原样使用）：";
    ForgetImported => "Use seeded ones instead", "改用种子生成的参数";
    LocalPSource => "pᵢ from", "pᵢ 取自";
    LocalPSourceTip => "Where local-p predicts its window centre pᵢ = n_k·sigmoid(v_pᵀ tanh(W_p uᵢ)) from: uᵢ = the head's query qᵢ, or uᵢ = the input row xᵢ (Luong et al. 2015 use the decoder's hidden state).", "local-p 从哪里预测窗口中心 pᵢ = n_k·sigmoid(v_pᵀ tanh(W_p uᵢ))：uᵢ 取该头的查询 qᵢ，或输入行 xᵢ（Luong 等 2015 使用解码器的隐藏状态）。";
    LocalPFromQuery => "query qᵢ", "查询 qᵢ";
    LocalPFromInput => "input xᵢ", "输入 xᵢ";
    LocalPDim => "predictor size d_p", "预测器维度 d_p";
    LocalPDimTip => "Rows of W_p (d_p × d_in) and length of v_p. Off: d_p = d_in, a square W_p.", "W_p（d_p × d_in）的行数和 v_p 的长度。不勾选时 d_p = d_in，W_p 为方阵。";
    LocalSigma => "σ of the Gaussian", "高斯的 σ";
    LocalSigmaTip => "Width of the Gaussian exp(−(j − pᵢ)²/2σ²) that weights the window. Off: σ = D/2, as in Luong et al. With σ set, D may be 0.", "对窗口加权的高斯 exp(−(j − pᵢ)²/2σ²) 的宽度。不勾选时 σ = D/2（同 Luong 等）。设定 σ 后 D 可以为 0。";
    MaskedLeftOut => "masked keys not listed:", "未列出的被掩码键：";
    NonFiniteHead => "⚠ This head's attention is undefined (NaN or ∞ in the model's numbers) on query rows", "⚠ 这个头在以下查询行上的注意力无定义（模型数值中有 NaN 或 ∞）：";
    NonFiniteShownAsZero => "their cells (0, or grey where a weight is NaN) are not attention.", "这些行的格子（0，或权重为 NaN 处的灰色）并不是注意力。";
    NonFiniteHeads => "⚠ heads with undefined attention (NaN/∞):", "⚠ 注意力无定义（NaN/∞）的头：";
    StepRotate => "2′ Rotate (RoPE)", "2′ 旋转 (RoPE)";
    ExplRotate => "Rotary positions (RoPE): each pair of dimensions (m, m + dₖ/2) of a query or key is turned like a clock hand by an angle that grows with the token's position i: angle = i·ωₘ, with fast-turning pairs (small m) and slow ones (large m). Nothing is added to the vectors; only their direction changes.", "旋转位置编码（RoPE）：查询或键的每一对维度 (m, m + dₖ/2) 像钟表指针一样转过一个随词元位置 i 增大的角度：角度 = i·ωₘ，m 小的维度对转得快，m 大的转得慢。向量上没有加任何东西，只改变了方向。";
    ExplRotateRelative => "Why this encodes relative position: rotating q by i·ω and k by j·ω leaves q′ᵢ·k′ⱼ depending only on the difference j − i, because a rotation by a and one by b together act like a single rotation by b − a in the dot product.", "为什么这样编码的是相对位置：q 转 i·ω、k 转 j·ω 之后，q′ᵢ·k′ⱼ 只取决于差 j − i，因为在点积里，一个转 a 和一个转 b 合起来就等于一个转 b − a。";
    ExplQkNorm => "This model normalises each head's q and k once more after the projection (an RMSNorm over the head's dₖ dimensions with its own learned gains, as Qwen3 and Gemma 3 do): how large the scores get is then set by those gains, not by how large X is. The Q and K shown here are after that norm.", "该模型在投影之后还会对每个头的 q 和 k 再做一次归一化（在该头的 dₖ 个维度上做 RMSNorm，带各自学到的增益，Qwen3 和 Gemma 3 都这样做）：分数的大小因此由这些增益决定，而不取决于 X 有多大。这里显示的 Q 和 K 是归一化之后的。";
    ExplGqa => "Grouped-query attention: several query heads share one key/value head, so K and V here are also used by the other heads of this group.", "分组查询注意力：几个查询头共用一个键/值头，所以这里的 K 和 V 也被同组的其他头使用。";
    ExplSlidingWindow => "This layer uses local attention: besides the causal mask, a token sees only the last few tokens (a sliding window), the same local attention the lessons teach, here in a real model.", "这一层使用局部注意力：除了因果掩码，每个词元只能看到最近的几个词元（滑动窗口），这正是课例中讲的局部注意力，现在出现在真实模型里。";
    LocalWindow => "local attention (window {})", "局部注意力（滑动窗口 {}）";
    LocalWindowSpan => "local attention (window {}: the token itself and the {} before it)", "局部注意力（滑动窗口 {}：词元自身和它之前的 {} 个）";
    GlobalAttention => "global attention", "全局注意力";
    KvHead => "KV head", "KV 头";
    SharedByHeads => "shared by heads", "共享该头的查询头";
    RotationPair => "pair", "维度对";
    Angle => "angle", "角度";
    SinkHeads => "Attention sinks (≥ 50% of attention on the first token, averaged over rows): {} of {} heads; the strongest: {}{}", "注意力汇聚头（各行平均有 ≥ 50% 的注意力落在第一个词元上）：{} / {} 个头；最强的：{}{}";
    SinkMore => " … and {} more (sort the \"first token\" column to see them all)", " …… 另有 {} 个（按“首词元”列排序可看到全部）";
    ExplPreNormRms => "This model normalises each row of X first with RMSNorm (divide by the root mean square of the row, then scale by a learned γ), and projects the normalised rows.", "该模型先用 RMSNorm 把 X 的每一行归一化（除以该行的均方根，再乘以可学习的 γ），再对归一化后的行做投影。";
    ExplScores => "Every query is compared with every key by the score function: one number per (query, key) pair. Big means a good match.", "用打分函数把每个查询与每个键比较：每对（查询，键）得到一个数。越大表示越匹配。";
    ExplScale => "The scores are multiplied by a scale (1/√dₖ for scaled dot product) so that their spread does not grow with the dimension dₖ and the softmax does not turn too sharp.", "分数乘以一个缩放因子（缩放点积为 1/√dₖ），使分数的数值范围（方差）不随维度 dₖ 增大而变大，softmax 也就不会过于尖锐。";
    ExplNoScale => "This head does not scale: the factor is 1, so S′ = S.", "这个头不缩放：因子为 1，所以 S′ = S。";
    ExplMask => "Keys a query must not see (future tokens, padding, outside the window) are set to −∞, and the rest are divided by the temperature τ.", "查询不该看到的键（未来的词元、填充、窗口之外）被设为 −∞，其余除以温度 τ。";
    ExplSoftmaxLocalP => "Softmax turns each row into probabilities (subtract the row max, exponentiate, divide by the sum; −∞ becomes exactly 0); then local-p multiplies each by a Gaussian exp(−(j − pᵢ)²/2σ²) centred on the predicted position pᵢ. That factor comes after the softmax, so a row sums to less than 1: the weight of keys far from pᵢ is let go, not moved to the near ones.", "Softmax 把每一行变成概率（减去行最大值、取指数、除以总和；−∞ 恰好变成 0）；随后 local-p 再把每个概率乘以以预测位置 pᵢ 为中心的高斯因子 exp(−(j − pᵢ)²/2σ²)。这个因子在 softmax 之后才乘上，所以每行之和小于 1：远离 pᵢ 的键的权重被舍弃，而不是转给近处的键。";
    ExplSoftmax => "Softmax turns each row into probabilities: subtract the row max, exponentiate, divide by the sum. −∞ becomes exactly 0. Each row sums to 1.", "Softmax 把每一行变成概率：减去行最大值、取指数、除以总和。−∞ 恰好变成 0。每行之和为 1。";
    ExplWeighted => "Each query's output is the average of the value vectors, weighted by its attention probabilities: Σⱼ pᵢⱼ vⱼ.", "每个查询的输出是值向量按注意力概率加权的平均：Σⱼ pᵢⱼ vⱼ。";
    ExplWeightedLocalP => "Each query's output is the sum of the value vectors weighted by its probabilities, Σⱼ pᵢⱼ vⱼ. Under local-p the weights sum to less than 1 (the Gaussian came after the softmax), so it is a weighted sum, not an average: shorter than an average of the same vectors.", "每个查询的输出是值向量按概率加权的和 Σⱼ pᵢⱼ vⱼ。在 local-p 下权重之和小于 1（高斯因子在 softmax 之后才乘上），所以它是加权和而不是平均：比相同向量的平均更短。";
    ExplBlindRows => "A query whose every key is masked has nothing to share out: its row stays all 0 (it does not sum to 1), and its output is the zero vector.", "所有键都被掩码的查询没有可分配的概率：它的一行全是 0（和不为 1），输出是零向量。";
    ExplConcat => "The heads' outputs are placed side by side: one row of heads × dₖ numbers per token (d_model wide in most models).", "把各头的输出并排拼接：每个词元得到一行，长度为 头数 × dₖ（多数模型中等于 d_model）。";
    ExplOutput => "A final matrix W_O mixes the heads' information: output = concat · W_O.", "最后用矩阵 W_O 混合各头的信息：输出 = 拼接 · W_O。";
    Formula => "Formula", "公式";
    Explanation => "What happens", "发生了什么";
    Arithmetic => "The arithmetic for the selected query", "所选查询的计算过程";
    SelectedRow => "query", "查询";
    ClickRowHint => "Click a row of the heatmap (or a query below) to expand its arithmetic.", "点击热力图中的一行（或下方的查询）即可展开它的计算。";
    Matrix => "Matrix", "矩阵";
    MatrixTooLarge => "Large matrix: showing 32 rows around the selected query and the first 12 columns; the heatmap shows all of it.", "矩阵较大：仅显示所选查询附近的 32 行和前 12 列，热力图显示全部。";
    MatrixTooLargeExport => "Large matrix: showing 32 rows around the selected query and the first 12 columns; File ▸ Export trace as JSON writes all of it.", "矩阵较大：仅显示所选查询附近的 32 行和前 12 列；“文件 ▸ 导出计算过程为 JSON”可导出全部。";
    ViewHeatmap => "Heatmap", "热力图";
    ViewGrid => "All heads", "所有头";
    ViewLines => "Token lines", "词元连线";
    ViewPlots => "Plots", "图表";
    Head => "head", "头";
    Colormap => "colours", "配色";
    WeightsRange => "weights range", "权重范围";
    NoRotaryStep => "This head has no rotary positions (RoPE), so there is no step 2′: showing step 2.", "此头没有旋转位置编码（RoPE），因此没有步骤 2′：显示步骤 2。";
    FocusNotInInput => "Query {} of head {} is not in this input ({} queries × {} heads): showing query {} of head {}.", "查询 {}（头 {}）不在本输入中（{} 个查询 × {} 个头）：显示查询 {}（头 {}）。";
    FocusNotInModel => "Layer {} head {} is not in this model ({} layers × {} heads): showing layer {} head {}.", "层 {} 头 {} 不在本模型中（{} 层 × {} 头）：显示层 {} 头 {}。";
    KnockLeftOut => "Not in this model ({} layers × {} heads), so left out of the knock-out: {}", "本模型（{} 层 × {} 头）中没有这些头，已从移除列表中去掉：{}";
    SpecBeyondControls => "the app's controls cannot show this spec ({}); `attnscope compute` can", "应用的控件无法显示这个配置（{}）；`attnscope compute` 可以计算它";
    EarlierNotices => "▴ {} earlier", "▴ 更早的 {} 条";
    SpecAdjusted => "Brought into the controls' range: {}", "已调整到控件的范围内：{}";
    RangeMax => "0 … largest", "0 … 最大值";
    RangeUnit => "0 … 1", "0 … 1";
    CmapViridis => "viridis", "viridis";
    CmapDiverging => "blue–orange (diverging)", "蓝–橙（发散）";
    CmapGreys => "greys", "灰度";
    ShowValues => "numbers in cells", "格子里显示数值";
    HeatZoom => "zoom", "显示大小";
    HoverQuery => "query", "查询";
    LabelsThinned => "labels on one token in {} (hover a cell to read its tokens)", "每 {} 个词元标一个标签（悬停在格子上可看词元）";
    ValuesTooSmall => "cells too small for numbers: zoom in to read them", "格子太小，放不下数值：放大即可看到";
    DropHint => "Drop to open: a model folder or GGUF file, a session, a spec (JSON) or a text file", "松开即可打开：模型文件夹或 GGUF 文件、会话、配置 (JSON) 或文本文件";
    TiledView => "zoomed out:", "缩小显示：";
    PoolExact => "exact {}×{}", "原始 {}×{}（未池化）";
    PoolMax => "max-pooled {}×{} → {}×{}", "最大池化 {}×{} → {}×{}";
    PoolMean => "mean-pooled {}×{} → {}×{}", "平均池化 {}×{} → {}×{}";
    MaxPooledBy => "max-pooled {}×{}", "{}×{} 最大池化";
    TermsOf => "… ({} terms)", "…（共 {} 项）";
    StoreFolder => "Folder", "文件夹";
    HoverKey => "key", "键";
    HoverWeight => "weight", "权重";
    HoverRaw => "raw score", "原始分数";
    HoverBlockMax => "this point shows the largest of queries {}–{} × keys {}–{}: that cell", "此处显示查询 {}–{} × 键 {}–{} 中的最大值：即下面这个格子";
    Masked => "masked", "已掩盖";
    LegendWeights => "attention weight", "注意力权重";
    LegendScores => "score", "分数";
    PlotRow => "Softmax of the selected query", "所选查询的 softmax 分布";
    PlotAtTau1 => "τ = 1", "τ = 1";
    PlotAtTau => "current τ", "当前 τ";
    PlotEntropy => "Entropy per head, mean over its rows (nats)", "各头的熵，按行平均（奈特）";
    PlotDistance => "Mean attention distance per head, over its rows (positions)", "各头的平均注意力距离，按行平均（位置）";
    LinesHint => "Hover a token to see only its lines; click a query to select it (orange). Line opacity and width = weight.", "把鼠标移到一个词元上，只看它的连线；点击查询即可选中它（橙色）。线条的不透明度和粗细 = 权重。";
    Computing => "computing…", "计算中…";
    DrawingTiles => "drawing tiles…", "正在绘制图块…";
    ComputedIn => "computed in", "计算耗时";
    HideAhead => "predict first", "先预测";
    HideAheadTip => "Keep the attention weights hidden at steps 1–2, where the heatmap would show them ahead of their step, so the class predicts where each word will look.", "在第 1–2 步隐藏注意力权重（否则热力图会提前显示它们），让全班先预测每个词会看向哪里。";
    HiddenAhead => "The weights are hidden until the scores are computed (step 3). Predict first: which words will each word look at?", "在计算分数（第 3 步）之前，权重保持隐藏。先预测：每个词会看向哪些词？";
    StatusForward => "forward pass", "前向计算";
    StatusLayerTrace => "layer {} traced in", "第 {} 层逐步计算耗时";
    Kernel => "kernel", "内核";
    Tokens => "tokens", "词元";
    GenInductionSample => "This tiny model learned one thing: to copy a stretch of random characters that came before. Ordinary text gets nonsense. Try:", "这个小模型只学会了一件事：复制前面出现过的一段随机字符。普通文本只会得到胡言乱语。试试：";
    GenFocusInduction => "Focus the strongest induction head: layer {} head {} (score {})", "聚焦最强的归纳头：第 {} 层第 {} 头（得分 {}）";
    BytePieceNote => "{} is a piece of {}, not a power: this tokenizer cuts a character it does not know whole into UTF-8 bytes (a Chinese character is 3), and the pieces after the first are numbered ², ³.", "{} 是“{}”的一个片段，不是幂：这个分词器把它不认识的字切成 UTF-8 字节（一个汉字 3 个字节），第一个之后的片段依次标为 ²、³。";
    Frame => "frame", "帧";
    Truncated => "Text cut to the token limit:", "文本已按词元上限截断：";
    EmptyInput => "Type a sentence to begin: the sequence is empty.", "请输入一句话开始：序列为空。";
    ErrorPrefix => "Cannot compute:", "无法计算：";
    Saved => "Saved", "已保存";
    SaveFailed => "Could not save:", "保存失败：";
    OpenFailed => "Could not open:", "打开失败：";
    Opened => "Opened", "已打开";
    RowUndefined => "⚠ This query's scores hold NaN or +∞ (from the model's numbers): its softmax is undefined, and the row's cells on the heatmap (0, or grey where a weight is NaN) are not attention.", "⚠ 该查询的分数中有 NaN 或 +∞（来自模型的数值）：它的 softmax 无定义，热力图上这一行的格子（0，或权重为 NaN 处的灰色）并不是注意力。";
    SoftmaxNoKey => "Every key is masked, so z is −∞ everywhere and exp(z − max z) would be exp(−∞ − (−∞)), which is undefined. Nothing is normalised: by convention every weight of this row is 0 (not 0 / 0), and its output is 0.", "所有键都被掩码，z 处处为 −∞，exp(z − max z) 将是 exp(−∞ − (−∞))，没有定义。这里没有可以归一化的东西：按约定这一行的权重都是 0（而不是 0 / 0），输出也是 0。";
    SoftmaxUndefined => "A NaN score makes every exp(z − max z) NaN: the softmax of this row has no value, and the numbers the kernels leave in it (0 or NaN) mean nothing.", "NaN 分数使每个 exp(z − max z) 都是 NaN：这一行的 softmax 没有值，内核留在这一行里的数（0 或 NaN）没有意义。";
    RowsEmpty => "{} of {} query rows see no key at all (every key is masked): their weights are 0, not a distribution.", "{} / {} 个查询行看不到任何键（全部被掩码）：它们的权重为 0，并不是概率分布。";
    RowEmpty => "This query sees no key at all (every key is masked): its weights and output are 0.", "该查询看不到任何键（全部被掩盖）：它的权重和输出都为 0。";
    Max => "max", "最大值";
    Output => "output", "输出";
    NoTrace => "Nothing computed yet.", "尚未计算。";
    LocalPCenter => "window centre pᵢ", "窗口中心 pᵢ";
    Gaussian => "× Gaussian", "× 高斯";
    ViewModel => "Layers × heads", "层 × 头";
    ViewNeuron => "Neuron view", "神经元视图";
    ViewLab => "Attention lab", "注意力实验室";
    ViewStats => "Head statistics", "头统计";
    ViewRollout => "Rollout", "注意力展开";
    ViewGenerate => "Generate", "生成";
    ViewTranslate => "Translate", "翻译";
    TrSource => "Source", "源文本";
    TrTarget => "Target", "目标文本";
    TrTargetHint => "empty: the model translates", "留空：由模型翻译";
    TrEncoder => "encoder", "编码器";
    TrDecoder => "decoder", "解码器";
    TrSourceTokens => "source tokens", "源词元";
    TrDecoderInputs => "decoder inputs", "解码器输入";
    TrTranslation => "Translation:", "译文：";
    TrGreedy => "Written greedily, one token per step on the decoder's KV cache; the encoder ran once.", "贪心翻译：解码器借助 KV 缓存每步写出一个词元，编码器只运行一次。";
    TrTeacher => "The decoder reads the typed target (teacher forcing): row i predicts token i + 1.", "解码器读入输入的目标文本（教师强制）：第 i 行预测第 i+1 个词元。";
    TrSampleKnows => "This tiny sample was trained on English dates and numbers only; other text comes out as confident nonsense. Try:", "这个小示例模型只学过英文日期和数字；其他文本会得到看似自信的胡言乱语。试试：";
    TrLoading => "Loading the translator…", "正在加载翻译模型…";
    TrNoModel => "No encoder–decoder model: open a BART or Marian folder (Model ▸ Open model folder) or the tiny-translator sample.", "没有编码器–解码器模型：请打开 BART 或 Marian 模型文件夹（模型 ▸ 打开模型文件夹），或示例 tiny-translator。";
    TrEncoderGroup => "Encoder self-attention (source × source)", "编码器自注意力（源 × 源）";
    TrDecoderGroup => "Decoder masked self-attention (target × target)", "解码器掩码自注意力（目标 × 目标）";
    TrCrossGroup => "Cross-attention (target × source)", "交叉注意力（目标 × 源）";
    TrFormulaEncoder => "Q, K and V all come from the source: every source token sees every other.", "Q、K、V 都来自源序列：每个源词元都能看到所有源词元。";
    TrFormulaDecoder => "Q, K and V come from the target: token i sees the target tokens up to i.", "Q、K、V 来自目标序列：第 i 个词元只能看到前 i 个目标词元。";
    TrFormulaCross => "Queries from the decoder (target), keys and values from the encoder's output (source): every target token may look at every source token.", "查询来自解码器（目标），键和值来自编码器的输出（源）：每个目标词元都可以看任意源词元。";
    TrNoteEncoder => "no mask", "无掩码";
    TrNoteDecoder => "causal mask", "因果掩码";
    TrNoteCross => "no mask; rows: target, columns: source", "无掩码；行：目标，列：源";
    TrAggregate => "Cross-attention of all heads:", "所有头的交叉注意力：";
    TrAggMean => "mean of all heads", "所有头的平均";
    TrAggMax => "max of all heads", "所有头的最大值";
    TrAggLast => "mean of the last layer", "最后一层的平均";
    TrStep => "Step", "步骤";
    TrCompareToy => "Compare with the toy ▸", "与未训练的示例比较 ▸";
    TrCompareToyTip => "The same source and target through the toy cross-attention (seeded random embeddings, nothing learned): the lesson 'Cross-attention: toy vs trained'.", "用示例交叉注意力（种子生成的随机嵌入，未经训练）计算同样的源和目标：课程“交叉注意力：未训练示例与训练好的模型”。";
    TrStepThrough => "Step-through of the focused head", "逐步计算（当前头）";
    TrQFromDecoder => "Q: the decoder's own queries (target); K, V: projected from the encoder's output (source) — computed again by attnscope's core.", "Q：解码器自己的查询（目标）；K、V：由编码器输出（源）投影而来——由 attnscope 的核心重新计算。";
    TrQkvSame => "Q, K, V: the head's own (one sequence) — computed again by attnscope's core.", "Q、K、V：该头自己的（同一序列）——由 attnscope 的核心重新计算。";
    TrSameAsModel => "= the model's own probabilities", "= 模型自己的概率";
    TrVsModel => "the model uses the scaled dot product; with this score function the row moves by", "模型使用缩放点积；换成这个打分函数后，这一行的变化为";
    TrReads => "reads", "读入";
    TrWrites => "writes", "写出";
    TrPredicts => "next in the target", "目标中的下一个";
    TrForcedRank => "rank {} of the model's choices", "在模型的候选中排第 {}";
    TrForcedTop => "What the model finds most likely here (the typed token in orange):", "模型认为此处最可能的词元（橙色为输入的词元）：";
    TrCrossRow => "Where this step looked in the source", "这一步在源文本中看了哪里";
    TrLines => "Alignment: source above, target below; line strength = cross-attention weight", "对齐：上方为源，下方为目标；线条深浅 = 交叉注意力权重";
    GenNeedsCausal => "Generation needs a causal model with an LM head (GPT-2, Llama, Qwen, Mistral, Gemma); this one is an encoder.", "生成需要带语言模型头的因果模型（GPT-2、Llama、Qwen、Mistral、Gemma）；当前模型是编码器。";
    GenMaxNew => "new tokens", "新词元数";
    GenTemperature => "temperature (0 = greedy)", "温度（0 = 贪心）";
    GenSeed => "seed", "种子";
    GenStart => "Generate ▶", "开始生成 ▶";
    GenHint => "The model continues the text on the left, token by token. Each step keeps the next-token distribution and the new token's attention in every layer and head.", "模型逐个词元续写左侧文本。每一步都保留下一个词元的概率分布，以及新词元在每一层、每个头中的注意力。";
    GenWriting => "writing… tokens so far:", "正在生成…已生成词元：";
    GenStep => "step", "步";
    GenChosen => "chosen", "选中";
    GenRank => "rank", "排名";
    GenTopSources => "where each head looked from the new token", "新词元在各头中关注的位置";
    GenRows => "The new token's attention row in every layer (rows = heads, columns = tokens so far; click a layer to focus it).", "新词元在每一层中的注意力行（行 = 头，列 = 已有词元；点击某层以聚焦）。";
    MenuModel => "Model", "模型";
    OpenModelFolder => "Open model folder…", "打开模型文件夹…";
    OpenGgufFile => "Open GGUF file…", "打开 GGUF 文件…";
    ModelsOnComputer => "Models on this computer", "本机上的模型";
    Scanning => "Scanning…", "正在扫描…";
    Rescan => "Scan again", "重新扫描";
    AddModelFolder => "Add folder…", "添加文件夹…";
    FetchModelsHint => "SmolLM2-135M and Gemma 3 270M (GGUF): run tools/fetch_models.sh", "SmolLM2-135M 和 Gemma 3 270M（GGUF）：请运行 tools/fetch_models.sh";
    CardArchitecture => "architecture", "架构";
    CardQuantization => "quantisation", "量化";
    CardContext => "context", "上下文长度";
    CardLicense => "licence", "许可证";
    CardFile => "file", "文件";
    CardMemory => "in memory", "内存占用";
    CardMapped => "mapped, quantised", "映射（量化）";
    SampleModels => "Sample models", "示例模型";
    RecentModels => "Recent models", "最近的模型";
    NoneFound => "(none found)", "（未找到）";
    NoRecentModels => "(none yet: the models you open are listed here)", "（暂无：打开过的模型会列在这里）";
    RealModel => "real model", "真实模型";
    RealModelTip => "Run a real transformer (BERT or GPT-2 family) on the text and look at every layer's and head's real attention.", "在文本上运行真实的 Transformer（BERT 或 GPT-2 系列），查看每一层、每个头的真实注意力。";
    NoModel => "No model loaded. Open one from the Model menu, or drop a model folder on the window.", "尚未加载模型。请从“模型”菜单打开，或把模型文件夹拖到窗口上。";
    LoadingModel => "Loading model…", "正在加载模型…";
    RunningModel => "Running the model…", "正在运行模型…";
    RunLayers => "Running layer by layer", "逐层运行中";
    RunLayerOf => "layer {} of {}", "第 {} 层，共 {} 层";
    CancelRun => "Cancel", "取消";
    RunCancelled => "The run was cancelled; the text is kept. Press Run to start it again.", "运行已取消，文本已保留。按“运行”重新开始。";
    BigRunAsk => "This run is large:", "这次运行规模较大：";
    BigRunTokens => "tokens", "个词元";
    BigRunMemory => "memory about", "内存约";
    BigRunTime => "time about", "时间约";
    RunIt => "Run", "运行";
    OpeningHead => "Recomputing this layer from its kept hidden state, with this head's full matrices…", "正在根据保存的隐藏状态重新计算这一层，并保留该头的完整矩阵…";
    OpeningToyHead => "Recomputing this head's matrices from its kept Q, K and V…", "正在根据保存的 Q、K、V 重新计算该头的完整矩阵…";
    LeanToyNote => "Long input: only the focused head keeps its n × n matrices; the other heads show max-pooled overviews and are recomputed when you focus one.", "长输入：只有当前头保留完整的 n × n 矩阵；其他头显示最大池化概览，切换到某个头时再重新计算。";
    LongRunNote => "Long input: each layer keeps its hidden state, per-head statistics and a pooled overview; a head's full matrices are recomputed when you open it.", "长输入：每层只保留隐藏状态、各头统计和池化概览；打开某个头时再重新计算其完整矩阵。";
    RolloutLong => "Rollout multiplies every layer's full n × n matrices; it is shown for runs that keep them (shorter inputs).", "注意力展开需要每一层完整的 n × n 矩阵；只在保留这些矩阵的（较短）输入上显示。";
    ThumbScale => "Colour scale", "颜色刻度";
    KeepFullUpTo => "Keep every head's matrices up to", "完整保留各头矩阵的上限";
    KeepFullTip => "A run whose n × n scores and probabilities of all heads fit in this keeps them all. A longer run keeps each layer's hidden state, the heads' statistics and pooled overviews, and recomputes a layer when you open one of its heads.", "若一次运行中所有头的 n × n 分数与概率不超过此大小，就全部保留；更长的输入只保留每层的隐藏状态、各头统计和池化概览，打开某个头时再重新计算该层。";
    ScaleLinear => "linear", "线性";
    ScaleLog => "log", "对数";
    ScaleRow => "per-row normalised", "逐行归一化";
    Layer => "layer", "层";
    Layers => "layers", "层";
    HeadsCount => "heads", "头";
    ColourRange => "{} range: {} … {}", "{}范围：{} … {}";
    LabSame => "The two are the same: the lab starts from the head's own settings. Change the score, span, masks or temperature on the left to see what changes.", "两边相同：实验室从该头自己的设置出发。在左侧修改打分函数、范围、掩码或温度，就能看到变化。";
    LabChanged => "Largest change of a weight: {} (query «{}» → key «{}»)", "权重的最大变化：{}（查询 «{}» → 键 «{}»）";
    HeatAheadOfStep => "These are the attention weights this head computes at step 6 (softmax); this step's own matrices are in the step panel on the right.", "这是该头在第 6 步（softmax）算出的注意力权重；本步骤自己的矩阵在右侧的步骤面板里。";
    HeatWeightsUsed => "These are the attention weights this step uses; its own matrices are in the step panel on the right.", "这是本步骤所用的注意力权重；本步骤自己的矩阵在右侧的步骤面板里。";
    GridCaption => "H: entropy of the head's rows (nats; low = focused), d: mean attention distance (positions). Hover a tile to read a cell by its tokens; click it to open the head's heatmap.", "H：该头各行的熵（奈特；越低越集中），d：平均注意力距离（位置）。把鼠标移到小图上可按词元读出格子的值；点击即可打开该头的热力图。";
    MeasureHeads => "Measure every head ▶", "逐个测量每个头 ▶";
    AblZeroed => "zeroed", "已置零";
    AblMeaned => "replaced by their mean", "已替换为均值";
    AblBlocked => "blocked", "已屏蔽";
    OtherHeads => "other heads", "其他头";
    OfHeads => "(of {}, from 0)", "（共 {} 个，从 0 编号）";
    ModelWarnings => "Warnings", "警告";
    LabOriginal => "Original head (as trained)", "原始的头（训练所得）";
    LabModified => "The same Q, K, V through the mechanism on the left", "同样的 Q、K、V，经过左侧所选机制";
    LabHint => "Change the score function, span, masks or temperature on the left: the right heatmap recomputes this head's real Q, K, V with them.", "在左侧修改打分函数、范围、掩码或温度：右侧热力图会用它们重新计算该头真实的 Q、K、V。";
    NeuronHint => "Each bar is one dimension's product qₘ·kₘ; together they add up to the score q·k. Click a heatmap cell to pick the query and key.", "每根柱子是一个维度的乘积 qₘ·kₘ；它们相加就是分数 q·k。点击热力图中的格子选择查询和键。";
    ColEntropy => "entropy (nats)", "熵（奈特）";
    ColDistance => "distance (positions)", "距离（位置）";
    ColFirst => "first token", "首词元";
    ColSep => "[SEP] / later special", "[SEP] / 其他特殊词元";
    ColPrev => "previous token", "前一词元";
    ColInduction => "induction", "归纳";
    StatsHint => "Click a column to sort; click a row to focus that head. Every column is a mean over all query rows; on a causal model the first row can only look at itself, which adds 1/n to every head's first-token share. Induction: weight on the token after the previous occurrence, measured on a repeated random sequence.", "点击列标题排序；点击一行聚焦该头。每一列都是对所有查询行取平均；在因果模型中第一行只能看到它自己，因此每个头的首词元占比都多出 1/n。归纳分数：在重复的随机序列上，指向“上一次出现之后那个词元”的权重。";
    RolloutUpto => "through layer", "展开到第几层";
    RolloutSkipFirst => "leave out the first token", "不计第一个词元";
    RolloutSinkTakesAll => "Nearly every row puts all of its weight on the first token: it is an attention sink in most layers, and the rollout multiplies that through all of them. Tick \"leave out the first token\" to see where the rest goes.", "几乎每一行都把全部权重放在第一个词元上：它在多数层中是注意力汇聚点（sink），而注意力展开把这一点在所有层中连乘。勾选“不计第一个词元”即可看到其余权重的去向。";
    RolloutSkipFirstTip => "In most decoders the first token is an attention sink: it takes nearly all of every row and the rest of the rollout is black. Left out, each row is renormalised over the other tokens.", "在多数解码器中，第一个词元是注意力汇聚点：它几乎占据每一行的全部权重，展开图的其余部分一片漆黑。不计它时，每一行在其余词元上重新归一化。";
    RolloutHint => "Attention rollout (Abnar & Zuidema 2020): the heads' average plus the residual path, multiplied through the layers (all of them, or up to the one chosen). Row i: how much each input token flows into position i at that layer.", "注意力展开（Abnar & Zuidema 2020）：各头平均再加上残差路径，逐层相乘（全部层，或到所选的那一层为止）。第 i 行：每个输入词元有多少信息流到该层的位置 i。";
    NeuronDotSum => "{} = the raw score; × {} (scale) = {}, the score the softmax sees", "{} = 原始分数；× {}（缩放）= {}，即 softmax 看到的分数";
    NeuronDotSumTau => "{} = the raw score; × {} (scale) = {}; ÷ τ = {} gives {}, the score the softmax sees", "{} = 原始分数；× {}（缩放）= {}；再 ÷ τ = {} 得 {}，即 softmax 看到的分数";
    NeuronMasked => "{} = the raw score; this key is masked, so the softmax sees −∞ (weight 0)", "{} = 原始分数；该键被掩盖，softmax 看到的是 −∞（权重为 0）";
    NeuronHeatCaption => "Raw scores q·k of this head (before scaling): click a cell to pick the pair", "该头的原始分数 q·k（缩放之前）：点击格子选择一对查询和键";
    LinesQueries => "queries (look)", "查询（去看）";
    LinesKeys => "keys (are looked at)", "键（被看）";
    ScoreSum => "sum = score", "总和 = 分数";
    ColormapTip => "How numbers become colours: viridis (dark = 0, yellow = the top of the weights range) is readable by colour-blind viewers and in greyscale; raw scores always use the blue–orange map centred on 0.", "数值如何映射为颜色：viridis（深色 = 0，黄色 = 权重范围的上端）对色盲观众和灰度打印都清晰；原始分数始终使用以 0 为中心的蓝–橙配色。";
    WeightsRangeTip => "Where the weights' colours end. 0 … largest: the brightest colour is this matrix's largest weight, so even a flat row shows its shape, but two heatmaps cannot be compared by colour. 0 … 1: the same weight is the same colour in every head, at every temperature and for every input, so a flatter softmax shows as fading. Scores are always centred on 0.", "权重颜色的范围。0 … 最大值：最亮的颜色是本矩阵的最大权重，即使很平的行也能看出形状，但两张热力图不能按颜色比较。0 … 1：同一权重在每个头、每个温度、每个输入下颜色都相同，softmax 变平时颜色会变淡。分数始终以 0 为中心。";
    ShowValuesTip => "Print each cell's number on the heatmap when the cells are large enough to read.", "格子足够大时，在热力图的每个格子里显示数值。";
    HeatZoomTip => "Enlarge the heatmap (Ctrl + mouse wheel over it works too); scroll to pan when it is larger than the view.", "放大热力图（在热力图上按住 Ctrl 滚动鼠标滚轮也可以）；比视图大时滚动即可平移。";
    TopKeys => "Listed below: the keys with the largest weights,", "下面只列出权重最大的键：";
    GenStepOne => "Step +1", "单步 +1";
    GenStepTip => "Write one more token and wait (Generate ▶ goes on to the end).", "再生成一个词元然后暂停（“开始生成 ▶”会一直生成到结束）。";
    GenWaiting => "waiting for Step · tokens so far:", "等待单步 · 已生成词元：";
    GenStale => "The text has changed since this generation: its tokens, heatmaps and what-if results are the old text's. Generate ▶ or Step +1 writes from the new text.", "文本在这次生成之后已被修改：这里的词元、热力图和假设分析结果都属于旧文本。按“开始生成 ▶”或“单步 +1”从新文本开始生成。";
    GenProbsAtOne => "The model's own probabilities (τ = 1); this run drew its tokens at τ = {} (with its top-k and top-p).", "模型自身的概率（τ = 1）；本次生成按 τ = {}（以及 top-k、top-p）抽取词元。";
    GuessMode => "Guess first (classroom)", "先猜（课堂模式）";
    GuessModeTip => "Each step's distribution stays hidden until a guess is typed or Reveal is pressed; then the guess's rank and probability are shown.", "每一步的概率分布先隐藏，直到输入猜测或点击“揭晓”；随后显示猜测的排名和概率。";
    GuessPrompt => "What comes next? Type your guess:", "下一个词元是什么？输入你的猜测：";
    GuessCheck => "Check", "核对";
    GuessReveal => "Reveal", "揭晓";
    GuessYour => "your guess", "你的猜测";
    GuessFirstPiece => "is not one token of this model; ranked as its first token", "不是该模型的单个词元；按其第一个词元排名";
    GuessAsToken => "as the token", "对应词元";
    HeatGrow => "The focused head's causal heatmap, growing with the text (rows: queries, columns: keys; the generated part is right of and below the orange line; click a layer strip's head row to focus it).", "聚焦头的因果热力图，随文本增长（行：查询，列：键；橙线右侧和下方是生成部分；点击下方某层的头行即可聚焦）。";
    HeatNoPrompt => "The prompt is too long to keep its matrices: only the generated rows are drawn.", "提示太长，无法保留其矩阵：只画出生成部分的行。";
    WhatIfTitle => "What if… knock out heads, block attention", "如果……移除注意力头、屏蔽注意力";
    KnockHint => "Click a head's row in the layer strips below to knock it out; shift-click to add or remove more.", "在下方各层的条带中单击某个头的行即可移除它；按住 Shift 单击可添加或取消。";
    Knocked => "knocked out:", "已移除：";
    KnockZero => "zeroed (the head's output is 0)", "置零（该头的输出为 0）";
    KnockMean => "replaced by its mean output over the prompt", "替换为它在提示上的平均输出";
    BlockEdge => "block attention in head", "屏蔽注意力：头";
    BlockFrom => "from token", "从词元";
    BlockTo => "to token", "到词元";
    AddItem => "Add", "添加";
    ClearItems => "Clear", "清除";
    RunWhatIf => "Re-run this step with them", "用这些修改重新计算这一步";
    WhatIfNone => "Pick heads or block an edge first.", "请先选择要移除的头或屏蔽一条边。";
    RecomputedFrom => "recomputed from layer (earlier layers reused):", "从这一层起重新计算（之前的层直接复用）：";
    WhatIfStale => "computed for another choice; press Re-run.", "这是针对另一组选择的结果；请重新计算。";
    ColToken => "token", "词元";
    ColPClean => "p clean", "原始 p";
    ColPAfter => "p after", "修改后 p";
    ColDeltaLogp => "Δ log p", "Δ log p（对数概率变化）";
    Importance => "Head importance for this step", "本步各头的重要性";
    ImportanceHint => "For every head alone, knocked out as chosen above: how much the log-probability of the chosen token drops (positive: the head helped write it). Click a row to knock that head out.", "依次单独移除每个头（方式如上）：所选词元的对数概率下降多少（正数：该头帮助写出了它）。点击一行即可移除该头。";
    ColDrop => "drop in log p", "log p 下降";
    ColRankAfter => "rank after", "之后排名";
    IoNotFound => "not found", "找不到该文件或文件夹";
    IoPermission => "permission denied", "没有权限";
    IoReadOnly => "read-only file system", "文件系统是只读的";
    IoFull => "the disk is full", "磁盘已满";
    IoNotUtf8 => "not UTF-8 text", "不是 UTF-8 文本";
    IoTooLarge => "more than {}", "超过了可读取的上限 {}";
    ErrSvgTooLarge => "An SVG of {} × {} cells would be too large to open (at most {} cells): export a PNG instead.", "{} × {} 个单元格的 SVG 太大，无法打开（最多 {} 个单元格）：请导出 PNG。";
    IoIsDir => "is a folder", "这是一个文件夹";
    ErrCannotRead => "cannot read {}: {}", "无法读取 {}：{}";
    ErrFileTooLarge => "{} has {} bytes, more than the {} this reads", "{} 有 {} 字节，超过了可读取的上限 {}";
    ErrHeadOpening => "head {} is still being opened: export it when it is on screen", "头 {} 仍在打开中：请等它显示出来后再导出";
    ErrAggregateTrace => "an aggregate of heads has no computation of its own: pick a head to export its trace, or export the CSV", "多个头的汇总没有自己的计算过程：请选择一个头再导出其计算过程，或导出 CSV";
    ErrHeadComputing => "the focused head is still being computed: export it when it is on screen", "当前头仍在计算中：请等它显示出来后再导出";
    ErrHeadMissing => "head {} does not exist", "头 {} 不存在";
    ErrBadSpec => "bad spec {}", "无效的配置文件 {}";
    UnNoFile => "no {}", "缺少 {}";
    UnArchitecture => "architecture {} is not supported (attnscope runs {})", "不支持架构 {}（attnscope 支持 {}）";
    UnTokenizer => "tokenizer {} is not supported", "不支持分词器 {}";
    UnNoTokenizer => "it has no tokenizer", "文件中没有分词器";
    UnQuant => "tensor {} has type {}, which attnscope cannot dequantise", "张量 {} 的类型是 {}，attnscope 无法反量化";
    UnBlobMissing => "its model layer {} is missing from blobs/", "它的模型层 {} 不在 blobs/ 中";
    UnNoArchitecture => "no general.architecture in its metadata", "元数据中没有 general.architecture";
    UnNoModelLayer => "the manifest names no model layer", "清单中没有指明模型层";
    UnNotGguf => "its model layer is not a GGUF file", "它的模型层不是 GGUF 文件";
    ErrCannotWrite => "cannot write {}: {}", "无法写入 {}：{}";
    ErrNotFound => "{} does not exist", "{} 不存在";
    ErrConfig => "config.json: {}", "config.json 无法使用：{}";
    ErrConfigField => "config.json: {}: {}", "config.json 的字段 {} 有误：{}";
    ErrInvalidArg => "{}: {}", "{} 无效：{}";
    ErrGguf => "GGUF: {}", "GGUF 文件无效或已损坏：{}";
    ErrMissingFile => "{} has no {} (a model folder needs config.json, tokenizer.json and model.safetensors)", "{} 中没有 {}（模型文件夹需要 config.json、tokenizer.json 和 model.safetensors）";
    ErrPickleOnly => "{} has only PyTorch pickle weights ({}); attnscope needs model.safetensors, because loading a pickle can run arbitrary code (convert it with `safetensors` in Python first)", "{} 只有 PyTorch pickle 格式的权重（{}）；attnscope 需要 model.safetensors，因为加载 pickle 可能执行任意代码（请先在 Python 中用 `safetensors` 转换）";
    ErrUnsupported => "model_type {} is not supported; attnscope runs: {}", "不支持 model_type {}；attnscope 支持：{}";
    ErrSafetensors => "model.safetensors is not valid: {}", "model.safetensors 无效（文件可能已损坏或不完整）：{}";
    ErrWrongDtype => "tensor {} has dtype {}; attnscope reads f32, f16 and bf16", "张量 {} 的数据类型是 {}；attnscope 只读取 f32、f16 和 bf16";
    ErrMissingKey => "model.safetensors has no tensor {}", "model.safetensors 中没有张量 {}";
    ErrWrongShape => "tensor {} has shape {}, but config.json implies {}", "张量 {} 的形状是 {}，但 config.json 要求 {}";
    ErrConfigOverLimit => "config.json: {} = {} is more than the limit of {}", "config.json：{} = {} 超过上限 {}";
    ErrModelTooLarge => "{} would need {} of memory, more than the limit of {}", "{}需要 {} 内存，超过上限 {}";
    FootWeights => "the weights config.json describes ({} layers of width {}, vocabulary {})", "config.json 描述的权重（{} 层，宽 {}，词表 {}）";
    FootSeq2Seq => "the weights config.json describes", "config.json 描述的权重";
    FootRun => "running {} tokens through {}", "让 {} 个词元通过模型 {}";
    ErrEncoderDecoder => "model_type {} is an encoder–decoder model: open it as a translator (the app's Translate view, or `attnscope run --model M --source …`)", "model_type {} 是编码器–解码器模型：请在“翻译”视图中打开它（或用 `attnscope run --model M --source …`）";
    ErrCancelled => "cancelled", "已取消";
    ErrEmptyText => "the text is empty: type something to run the model on", "文本为空：请输入要让模型处理的文字";
    ErrBadTokenId => "token id {} is outside the model's vocabulary of {}", "词元 id {} 超出了模型词表的大小 {}";
    ErrTooManyTokens => "{} has {} tokens, more than the model's {} positions", "{}有 {} 个词元，超过了模型的 {} 个位置";
    ErrGenerationTooLong => "{} prompt tokens + {} new ones exceed the model's {} positions", "提示词 {} 个词元加上 {} 个新词元，超过了模型的 {} 个位置";
    ErrTokenizer => "tokenizer: {}", "分词器：{}";
    ErrEmptySequence => "the {} sequence is empty: give at least one token or vector", "{}序列为空：请至少给出一个词元或向量";
    ErrTooLong => "the {} sequence has {} tokens, more than the limit of {}", "{}序列有 {} 个词元，超过上限 {}";
    ErrHeadsDoNotDivide => "d_model = {} is not divisible by heads = {}", "d_model = {} 不能被头数 heads = {} 整除";
    ErrOverLimit => "{} = {} is more than the limit of {}{}", "{} = {} 超过上限 {}{}";
    WhySpanCoversEveryKey => " (a span that wide already covers every key)", "（这么宽的范围已经覆盖了所有键）";
    WhyProjections => " (W_Q, W_K, W_V and W_O alone would need {})", "（仅 W_Q、W_K、W_V 和 W_O 就需要 {}）";
    ErrSpecTooLarge => "this spec ({}) would need {} of memory, more than the limit of {}", "该设置（{}）需要 {} 内存，超过上限 {}";
    ErrNoLayer => "the layer does not exist", "该层不存在";
    ErrNoHead => "the head does not exist", "该头不存在";
    ErrNoThread => "the OS refused to start a worker thread: {}", "操作系统拒绝启动工作线程：{}";
    ErrPanicked => "internal error while computing (please report it)", "计算时发生内部错误（请报告此问题）";
    ErrNotSession => "not an attnscope session: {}", "不是 attnscope 会话文件：{}";
    ErrSessionFormat => "not an attnscope session (format {})", "不是 attnscope 会话文件（格式 {}）";
    ErrSessionTooNew => "session version {} is newer than this attnscope reads ({})", "会话版本 {} 比当前 attnscope 能读取的版本（{}）更新";
    ErrSessionTooLarge => "{} bytes is too large for a session file (at most {})", "会话文件有 {} 字节，太大了（最多 {}）";
    RememberedUnreadable => "The session remembered from last time could not be read (damaged or from another version; in {}): the app starts on its default.", "无法读取上次记住的会话（文件已损坏或来自其他版本；位于 {}）：程序以默认内容启动。";
    SavedNoDialog => "Saved {} (no file dialog can open here, no desktop portal: files go into ~/Documents, or your home folder).", "已保存 {}（此处无法打开文件对话框，没有桌面门户服务：文件保存到 ~/Documents 或主目录）。";
    NoDialogOpening => "No file dialog can open here (no desktop portal): drop the file or folder on the window, or start attnscope with --session FILE (a session or spec) or --model PATH.", "此处无法打开文件对话框（没有桌面门户服务）：请把文件或文件夹拖到窗口上，或用 --session 文件（会话或配置）/ --model 路径 启动 attnscope。";
    FreshNotRemembered => "A fresh start: the remembered session is kept for the next start, and this run is not remembered (File ▸ Save session keeps it).", "全新启动：之前记住的会话保留到下次启动，本次运行不会被记住（可用 文件 ▸ 保存会话 保留）。";
}

/// Shorthand: the message in `lang`.
pub fn tr(lang: Lang, msg: Msg) -> &'static str {
    msg.get(lang)
}

/// The message in `lang` with its `{}` replaced by `args`, one after another (the languages
/// put them in their own places).
pub fn trf(lang: Lang, msg: Msg, args: &[&dyn std::fmt::Display]) -> String {
    let mut out = String::new();
    let mut parts = msg.get(lang).split("{}");
    out.push_str(parts.next().unwrap_or_default());
    for (i, part) in parts.enumerate() {
        if let Some(a) = args.get(i) {
            out.push_str(&a.to_string());
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages whose Chinese text is deliberately the same as the English one (symbols,
    /// proper names, maths).
    const SAME_IN_BOTH: &[Msg] = &[
        Msg::DModel,
        Msg::ScaleSqrt,
        Msg::HalfWidth,
        Msg::StepSoftmax,
        Msg::CmapViridis,
        Msg::RangeUnit,
        Msg::PlotAtTau1,
    ];

    /// Each placeholder takes the next argument in either language, wherever the language
    /// puts it; both languages of a message have the same number of placeholders.
    #[test]
    fn placeholders_take_their_arguments_in_order() {
        assert_eq!(
            trf(Lang::En, Msg::FormulaHiddenState, &[&"⁽³⁾", &3]),
            "X⁽³⁾ = the hidden state entering layer 3"
        );
        assert_eq!(
            trf(Lang::Zh, Msg::FormulaMaskedIf, &[&"j > i"]),
            "若 j > i，则 zᵢⱼ = −∞"
        );
        for &m in Msg::ALL {
            let count = |l| m.get(l).matches("{}").count();
            assert_eq!(
                count(Lang::En),
                count(Lang::Zh),
                "{m:?}: placeholders differ"
            );
        }
    }

    #[test]
    fn every_message_exists_in_both_languages() {
        for &m in Msg::ALL {
            let (en, zh) = (m.get(Lang::En), m.get(Lang::Zh));
            assert!(!en.trim().is_empty(), "{m:?} has no English text");
            assert!(!zh.trim().is_empty(), "{m:?} has no Chinese text");
            if !SAME_IN_BOTH.contains(&m) {
                assert_ne!(en, zh, "{m:?} is not translated");
                assert!(
                    zh.chars().any(crate::core::tokenize::is_cjk_ideograph),
                    "{m:?}: Chinese text has no Chinese characters: {zh}"
                );
            }
        }
    }
}
