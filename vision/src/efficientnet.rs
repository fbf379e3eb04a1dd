//! EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant for mobile CPUs: ReLU6, no
//! squeeze-and-excitation, fixed stem and head), ImageNet-1k, forward pass on candle.
//!
//! The weights were trained in TensorFlow (the state dict's strides are TensorFlow's HWIO
//! layout): the network expects TensorFlow's `SAME` padding (asymmetric on stride 2: the extra
//! row and column go bottom/right) and inputs scaled as `(rgb − 127) / 128`, on a 224×224 centre
//! crop of the photo resized so its short side is 256 (crop fraction 0.875). Checked against an
//! independent numpy forward pass of the original `.pth`: see vision/README.md.
//!
//! BatchNorm is folded into each convolution by `tools/convert-weights.py`, so every layer is a
//! convolution with a bias. 1×1 convolutions are matrix products (candle's gemm); depthwise
//! convolutions are a direct loop here (candle's grouped convolution runs one small convolution
//! per channel, which is far slower for 32–1152 groups).

use candle_core::{D, Device, Tensor};

use crate::tensors::{Tensors, format_error};
use crate::weights::{EFFICIENTNET_LITE0, LoadError};

/// Input side of the network.
pub const INPUT: usize = 224;
/// Short side the photo is resized to before the centre crop.
pub const RESIZE: u32 = 256;
pub const CLASSES: usize = 1000;

/// (repeats, kernel, first stride, expansion, input channels, output channels) per stage.
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];
const STEM: usize = 32;
const HEAD: usize = 1280;

/// A pointwise (1×1) convolution: `[out, in]` weights and a bias.
struct Pointwise {
    weight: Tensor,
    bias: Tensor,
}

/// A depthwise k×k convolution: `[channels, k, k]` weights and a bias.
struct Depthwise {
    channels: usize,
    kernel: usize,
    stride: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Block {
    expand: Option<Pointwise>,
    depthwise: Depthwise,
    project: Pointwise,
    residual: bool,
}

pub struct EfficientNetLite0 {
    stem_weight: Tensor,
    stem_bias: Tensor,
    blocks: Vec<Block>,
    head: Pointwise,
    fc_weight: Tensor,
    fc_bias: Tensor,
}

fn pointwise(t: &Tensors, name: &str, cin: usize, cout: usize) -> Result<Pointwise, LoadError> {
    let weight = t.get(&format!("{name}.weight"), &[cout, cin, 1, 1])?;
    Ok(Pointwise {
        weight: weight
            .reshape((cout, cin))
            .map_err(|e| format_error(EFFICIENTNET_LITE0, e))?,
        bias: t.get(&format!("{name}.bias"), &[cout])?,
    })
}

impl EfficientNetLite0 {
    /// Builds the network from the verified bytes of `efficientnet-lite0.safetensors`.
    pub fn load(bytes: &[u8]) -> Result<Self, LoadError> {
        let t = Tensors::parse(EFFICIENTNET_LITE0, bytes)?;
        let mut blocks = Vec::new();
        let mut index = 0;
        for (repeats, kernel, stride, expansion, cin, cout) in STAGES {
            for r in 0..repeats {
                let input = if r == 0 { cin } else { cout };
                let hidden = input * expansion;
                let name = format!("blocks.{index}");
                let expand = (expansion != 1)
                    .then(|| pointwise(&t, &format!("{name}.expand"), input, hidden))
                    .transpose()?;
                let depthwise = Depthwise {
                    channels: hidden,
                    kernel,
                    stride: if r == 0 { stride } else { 1 },
                    weight: t.values(
                        &format!("{name}.depthwise.weight"),
                        &[hidden, 1, kernel, kernel],
                    )?,
                    bias: t.values(&format!("{name}.depthwise.bias"), &[hidden])?,
                };
                let project = pointwise(&t, &format!("{name}.project"), hidden, cout)?;
                blocks.push(Block {
                    expand,
                    depthwise,
                    project,
                    residual: r > 0,
                });
                index += 1;
            }
        }
        Ok(EfficientNetLite0 {
            stem_weight: t.get("stem.weight", &[STEM, 3, 3, 3])?,
            stem_bias: t.get("stem.bias", &[STEM])?,
            blocks,
            head: pointwise(&t, "head", 320, HEAD)?,
            fc_weight: t.get("fc.weight", &[CLASSES, HEAD])?,
            fc_bias: t.get("fc.bias", &[CLASSES])?,
        })
    }

    /// Class probabilities (softmax) for one `[3, 224, 224]` input, already normalised.
    pub fn probabilities(&self, input: &[f32]) -> candle_core::Result<Vec<f32>> {
        let logits = self.logits(input)?;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|&z| (z - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        Ok(exp.into_iter().map(|e| e / sum).collect())
    }

    pub fn logits(&self, input: &[f32]) -> candle_core::Result<Vec<f32>> {
        let x = Tensor::from_slice(input, (1, 3, INPUT, INPUT), &Device::Cpu)?;
        // Stem: 3×3 stride 2, SAME padding (0 before, 1 after on a 224 input).
        let x = same_pad(&x, 3, 2)?.conv2d(&self.stem_weight, 0, 2, 1, 1)?;
        let mut x = relu6(&x.broadcast_add(&self.stem_bias.reshape((1, STEM, 1, 1))?)?)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        let x = relu6(&self.head.forward(&x)?)?;
        let pooled = x.mean(D::Minus1)?.mean(D::Minus1)?; // [1, 1280]
        let logits = pooled
            .matmul(&self.fc_weight.t()?)?
            .broadcast_add(&self.fc_bias)?;
        logits.flatten_all()?.to_vec1::<f32>()
    }
}

impl Block {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = match &self.expand {
            Some(expand) => relu6(&expand.forward(x)?)?,
            None => x.clone(),
        };
        let hidden = relu6(&self.depthwise.forward(&hidden)?)?;
        let out = self.project.forward(&hidden)?;
        if self.residual { out + x } else { Ok(out) }
    }
}

impl Pointwise {
    /// `[1, in, h, w]` → `[1, out, h, w]` as one matrix product.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, cin, h, w) = x.dims4()?;
        let cout = self.weight.dim(0)?;
        let flat = x.reshape((cin, h * w))?;
        self.weight
            .matmul(&flat)?
            .broadcast_add(&self.bias.reshape((cout, 1))?)?
            .reshape((1, cout, h, w))
    }
}

impl Depthwise {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        debug_assert_eq!(c, self.channels);
        let input = x.flatten_all()?.to_vec1::<f32>()?;
        let (out, oh, ow) = self.apply(&input, h, w);
        Tensor::from_vec(out, (1, c, oh, ow), &Device::Cpu)
    }

    /// SAME-padded depthwise convolution of `[channels, h, w]` values.
    fn apply(&self, input: &[f32], h: usize, w: usize) -> (Vec<f32>, usize, usize) {
        let (k, s) = (self.kernel, self.stride);
        let (oh, ow) = (h.div_ceil(s), w.div_ceil(s));
        let pad_top = same_padding(h, k, s).0;
        let pad_left = same_padding(w, k, s).0;
        let mut out = vec![0.0f32; self.channels * oh * ow];
        for (c, plane_out) in out.chunks_mut(oh * ow).enumerate() {
            plane_out.fill(self.bias[c]);
            let plane = &input[c * h * w..(c + 1) * h * w];
            let kernel = &self.weight[c * k * k..(c + 1) * k * k];
            for ky in 0..k {
                for oy in 0..oh {
                    let Some(iy) = (oy * s + ky).checked_sub(pad_top).filter(|&y| y < h) else {
                        continue;
                    };
                    let row = &plane[iy * w..(iy + 1) * w];
                    let row_out = &mut plane_out[oy * ow..(oy + 1) * ow];
                    for kx in 0..k {
                        if w + pad_left <= kx {
                            continue;
                        }
                        let weight = kernel[ky * k + kx];
                        // Output columns whose input column ox·s + kx − pad_left lies inside the row.
                        let first = pad_left.saturating_sub(kx).div_ceil(s);
                        let last = ((w + pad_left - kx - 1) / s + 1).min(ow);
                        for ox in first..last {
                            row_out[ox] += weight * row[ox * s + kx - pad_left];
                        }
                    }
                }
            }
        }
        (out, oh, ow)
    }
}

/// TensorFlow SAME padding (before, after) for one dimension.
fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

fn same_pad(x: &Tensor, kernel: usize, stride: usize) -> candle_core::Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (top, bottom) = same_padding(h, kernel, stride);
    let (left, right) = same_padding(w, kernel, stride);
    x.pad_with_zeros(2, top, bottom)?
        .pad_with_zeros(3, left, right)
}

fn relu6(x: &Tensor) -> candle_core::Result<Tensor> {
    x.clamp(0f32, 6f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_extra_pixel_after() {
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(112, 3, 1), (1, 1));
        assert_eq!(same_padding(28, 5, 2), (1, 2));
    }

    #[test]
    fn depthwise_matches_a_naive_convolution() {
        let (c, h, w, k, s) = (2, 7, 6, 3, 2);
        let dw = Depthwise {
            channels: c,
            kernel: k,
            stride: s,
            weight: (0..c * k * k).map(|i| i as f32 * 0.1 - 0.5).collect(),
            bias: vec![0.25, -1.0],
        };
        let input: Vec<f32> = (0..c * h * w).map(|i| ((i * 7) % 11) as f32).collect();
        let (out, oh, ow) = dw.apply(&input, h, w);
        let (pt, pl) = (same_padding(h, k, s).0, same_padding(w, k, s).0);
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = dw.bias[ch];
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) = (
                                (oy * s + ky) as isize - pt as isize,
                                (ox * s + kx) as isize - pl as isize,
                            );
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                sum += dw.weight[ch * k * k + ky * k + kx]
                                    * input[ch * h * w + iy as usize * w + ix as usize];
                            }
                        }
                    }
                    let got = out[ch * oh * ow + oy * ow + ox];
                    assert!((got - sum).abs() < 1e-4, "{ch} {oy} {ox}: {got} vs {sum}");
                }
            }
        }
    }
}
