//! The two architectures, with weight names exactly as the safetensors keys:
//! BERT (BertModel, optionally under a `bert.` prefix) and GPT-2 (GPT2Model, or
//! GPT2LMHeadModel under `transformer.`; Conv1D weights are stored `in × out`).

use ndarray::{Array1, Array2, s};

use crate::core::kernels::Backend;

use super::ModelError;
use super::config::{BertConfig, Gpt2Config};
use super::nn::{HeadCapture, LayerNorm, Linear, activation, attention};
use super::weights::Weights;

/// One layer's captured attention and the hidden state that entered it.
#[derive(Clone, Debug)]
pub struct LayerRun {
    /// Hidden state entering the layer (after embeddings or the previous layer), n × d.
    pub input: Array2<f32>,
    /// Per head: Q, K, V, scores, probabilities, context.
    pub heads: Vec<HeadCapture>,
    /// Attention output after W_O and its bias, n × d.
    pub attn_out: Array2<f32>,
    /// The multiplier this layer applied to q·k (1/√d_h, or 1 for GPT-2 with
    /// `scale_attn_weights = false`): the trace's scale step shows this, not a re-derivation.
    pub scale: f32,
}

/// A PyTorch `nn.Linear` (weight `out × in`), transposed once for x·W.
fn torch_linear(
    w: &mut Weights,
    name: &str,
    n_in: usize,
    n_out: usize,
) -> Result<Linear, ModelError> {
    let weight = w.matrix(&format!("{name}.weight"), n_out, n_in)?;
    Ok(Linear {
        w: weight.t().as_standard_layout().into_owned(),
        b: w.vector(&format!("{name}.bias"), n_out)?,
    })
}

/// A GPT-2 `Conv1D` (weight already `in × out`).
fn conv1d(w: &mut Weights, name: &str, n_in: usize, n_out: usize) -> Result<Linear, ModelError> {
    Ok(Linear {
        w: w.matrix(&format!("{name}.weight"), n_in, n_out)?,
        b: w.vector(&format!("{name}.bias"), n_out)?,
    })
}

fn layer_norm(w: &mut Weights, name: &str, d: usize, eps: f32) -> Result<LayerNorm, ModelError> {
    Ok(LayerNorm {
        weight: w.vector(&format!("{name}.weight"), d)?,
        bias: w.vector(&format!("{name}.bias"), d)?,
        eps,
    })
}

/// Rows of an embedding table for the ids (checked against the table size).
fn embed(table: &Array2<f32>, ids: &[u32]) -> Result<Array2<f32>, ModelError> {
    let (vocab, d) = table.dim();
    let mut x = Array2::zeros((ids.len(), d));
    for (i, &id) in ids.iter().enumerate() {
        if id as usize >= vocab {
            return Err(ModelError::BadTokenId { id, vocab });
        }
        x.row_mut(i).assign(&table.row(id as usize));
    }
    Ok(x)
}

struct BertLayer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln_attn: LayerNorm,
    up: Linear,
    down: Linear,
    ln_out: LayerNorm,
}

/// BertModel.
pub struct Bert {
    cfg: BertConfig,
    word: Array2<f32>,
    pos: Array2<f32>,
    token_type: Array1<f32>,
    ln_emb: LayerNorm,
    layers: Vec<BertLayer>,
}

impl Bert {
    /// Builds the model from its weights (keys with or without the `bert.` prefix).
    pub fn load(cfg: &BertConfig, w: &mut Weights) -> Result<Bert, ModelError> {
        let p = if w.contains("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let (d, ff, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
        let types = w.matrix(
            &format!("{p}embeddings.token_type_embeddings.weight"),
            cfg.type_vocab_size,
            d,
        )?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let n = format!("{p}encoder.layer.{l}");
            layers.push(BertLayer {
                q: torch_linear(w, &format!("{n}.attention.self.query"), d, d)?,
                k: torch_linear(w, &format!("{n}.attention.self.key"), d, d)?,
                v: torch_linear(w, &format!("{n}.attention.self.value"), d, d)?,
                o: torch_linear(w, &format!("{n}.attention.output.dense"), d, d)?,
                ln_attn: layer_norm(w, &format!("{n}.attention.output.LayerNorm"), d, eps)?,
                up: torch_linear(w, &format!("{n}.intermediate.dense"), d, ff)?,
                down: torch_linear(w, &format!("{n}.output.dense"), ff, d)?,
                ln_out: layer_norm(w, &format!("{n}.output.LayerNorm"), d, eps)?,
            });
        }
        Ok(Bert {
            word: w.matrix(
                &format!("{p}embeddings.word_embeddings.weight"),
                cfg.vocab_size,
                d,
            )?,
            pos: w.matrix(
                &format!("{p}embeddings.position_embeddings.weight"),
                cfg.max_position_embeddings,
                d,
            )?,
            token_type: types.row(0).to_owned(),
            ln_emb: layer_norm(w, &format!("{p}embeddings.LayerNorm"), d, eps)?,
            layers,
            cfg: cfg.clone(),
        })
    }

    /// Runs the encoder on one segment (token type 0, no padding).
    pub fn forward(
        &self,
        backend: Backend,
        ids: &[u32],
    ) -> Result<(Vec<LayerRun>, Array2<f32>), ModelError> {
        let n = ids.len();
        let mut x = embed(&self.word, ids)?;
        x += &self.pos.slice(s![..n, ..]);
        x += &self.token_type;
        let mut x = self.ln_emb.forward(&x);
        let heads = self.cfg.num_attention_heads;
        let scale = 1.0 / ((self.cfg.hidden_size / heads) as f32).sqrt();
        let mut runs = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (q, k, v) = (
                layer.q.forward(backend, &x),
                layer.k.forward(backend, &x),
                layer.v.forward(backend, &x),
            );
            let (concat, captures) = attention(backend, &q, &k, &v, heads, scale, false);
            let attn_out = layer.o.forward(backend, &concat);
            let x1 = layer.ln_attn.forward(&(&x + &attn_out));
            let mut f = layer.up.forward(backend, &x1);
            activation(backend, &self.cfg.hidden_act, &mut f);
            let f2 = layer.down.forward(backend, &f);
            let next = layer.ln_out.forward(&(&x1 + &f2));
            runs.push(LayerRun {
                input: std::mem::replace(&mut x, next),
                heads: captures,
                attn_out,
                scale,
            });
        }
        Ok((runs, x))
    }
}

struct Gpt2Layer {
    ln_1: LayerNorm,
    c_attn: Linear,
    c_proj: Linear,
    ln_2: LayerNorm,
    c_fc: Linear,
    mlp_proj: Linear,
}

/// GPT2Model (the LM head, tied to the embeddings, is not needed for attention).
pub struct Gpt2 {
    cfg: Gpt2Config,
    wte: Array2<f32>,
    wpe: Array2<f32>,
    layers: Vec<Gpt2Layer>,
    ln_f: LayerNorm,
}

impl Gpt2 {
    /// Builds the model from its weights (keys with or without the `transformer.` prefix).
    pub fn load(cfg: &Gpt2Config, w: &mut Weights) -> Result<Gpt2, ModelError> {
        let p = if w.contains("transformer.wte.weight") {
            "transformer."
        } else {
            ""
        };
        let (d, eps) = (cfg.n_embd, cfg.layer_norm_epsilon);
        let ff = cfg.n_inner.unwrap_or(4 * d);
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for l in 0..cfg.n_layer {
            let n = format!("{p}h.{l}");
            layers.push(Gpt2Layer {
                ln_1: layer_norm(w, &format!("{n}.ln_1"), d, eps)?,
                c_attn: conv1d(w, &format!("{n}.attn.c_attn"), d, 3 * d)?,
                c_proj: conv1d(w, &format!("{n}.attn.c_proj"), d, d)?,
                ln_2: layer_norm(w, &format!("{n}.ln_2"), d, eps)?,
                c_fc: conv1d(w, &format!("{n}.mlp.c_fc"), d, ff)?,
                mlp_proj: conv1d(w, &format!("{n}.mlp.c_proj"), ff, d)?,
            });
        }
        Ok(Gpt2 {
            wte: w.matrix(&format!("{p}wte.weight"), cfg.vocab_size, d)?,
            wpe: w.matrix(&format!("{p}wpe.weight"), cfg.n_positions, d)?,
            ln_f: layer_norm(w, &format!("{p}ln_f"), d, eps)?,
            layers,
            cfg: cfg.clone(),
        })
    }

    /// Runs the decoder stack with a causal mask; returns the layers and ln_f(hidden).
    pub fn forward(
        &self,
        backend: Backend,
        ids: &[u32],
    ) -> Result<(Vec<LayerRun>, Array2<f32>), ModelError> {
        let n = ids.len();
        let d = self.cfg.n_embd;
        let mut x = embed(&self.wte, ids)?;
        x += &self.wpe.slice(s![..n, ..]);
        let heads = self.cfg.n_head;
        let scale = if self.cfg.scale_attn_weights {
            1.0 / ((d / heads) as f32).sqrt()
        } else {
            1.0
        };
        let mut runs = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let a = layer.ln_1.forward(&x);
            let qkv = layer.c_attn.forward(backend, &a);
            let (q, k, v) = (
                qkv.slice(s![.., ..d]).to_owned(),
                qkv.slice(s![.., d..2 * d]).to_owned(),
                qkv.slice(s![.., 2 * d..]).to_owned(),
            );
            let (concat, captures) = attention(backend, &q, &k, &v, heads, scale, true);
            let attn_out = layer.c_proj.forward(backend, &concat);
            let x1 = &x + &attn_out;
            let mut f = layer.c_fc.forward(backend, &layer.ln_2.forward(&x1));
            activation(backend, &self.cfg.activation_function, &mut f);
            let next = &x1 + &layer.mlp_proj.forward(backend, &f);
            runs.push(LayerRun {
                input: std::mem::replace(&mut x, next),
                heads: captures,
                attn_out,
                scale,
            });
        }
        Ok((runs, self.ln_f.forward(&x)))
    }
}
