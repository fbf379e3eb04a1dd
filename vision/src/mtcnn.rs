//! MTCNN face detector (Zhang et al. 2016) with the weights of facenet-pytorch 2.6.0: a P-Net
//! proposes face boxes over an image pyramid, an R-Net and an O-Net refine and score them, with
//! non-maximum suppression between the stages. A port of facenet-pytorch's `detect_face`
//! (`facenet_pytorch/models/utils/detect_face.py`): same pyramid (factor 0.709), thresholds
//! (0.6, 0.7, 0.7), area resampling, box regression and NMS rules.

use candle_core::{Device, Tensor};

use crate::tensors::{Tensors, format_error};
use crate::weights::{LoadError, MTCNN};

/// Smallest face searched for, in pixels of the image given to [`Mtcnn::detect`].
pub const MIN_FACE: f32 = 20.0;
const FACTOR: f32 = 0.709;
const THRESHOLDS: [f32; 3] = [0.6, 0.7, 0.7];

/// A detected face: box corners in pixels and the O-Net's face probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
}

impl Face {
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }
}

struct Conv {
    weight: Tensor,
    bias: Tensor,
}

struct Dense {
    weight: Tensor,
    bias: Tensor,
}

struct Prelu(Tensor);

pub struct Mtcnn {
    pnet: PNet,
    rnet: RNet,
    onet: ONet,
}

struct PNet {
    convs: [(Conv, Prelu); 3],
    prob: Conv,
    reg: Conv,
}

struct RNet {
    convs: [(Conv, Prelu); 3],
    dense: (Dense, Prelu),
    prob: Dense,
    reg: Dense,
}

struct ONet {
    convs: [(Conv, Prelu); 4],
    dense: (Dense, Prelu),
    prob: Dense,
    reg: Dense,
}

fn conv(t: &Tensors, name: &str, cin: usize, cout: usize, k: usize) -> Result<Conv, LoadError> {
    Ok(Conv {
        weight: t.get(&format!("{name}.weight"), &[cout, cin, k, k])?,
        bias: t
            .get(&format!("{name}.bias"), &[cout])?
            .reshape((1, cout, 1, 1))
            .map_err(|e| format_error(MTCNN, e))?,
    })
}

fn dense(t: &Tensors, name: &str, cin: usize, cout: usize) -> Result<Dense, LoadError> {
    Ok(Dense {
        weight: t
            .get(&format!("{name}.weight"), &[cout, cin])?
            .t()
            .and_then(|w| w.contiguous())
            .map_err(|e| format_error(MTCNN, e))?,
        bias: t.get(&format!("{name}.bias"), &[cout])?,
    })
}

fn prelu(t: &Tensors, name: &str, channels: usize, spatial: bool) -> Result<Prelu, LoadError> {
    let w = t.get(&format!("{name}.weight"), &[channels])?;
    let shape: &[usize] = if spatial {
        &[1, channels, 1, 1]
    } else {
        &[1, channels]
    };
    Ok(Prelu(w.reshape(shape).map_err(|e| format_error(MTCNN, e))?))
}

impl Conv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.conv2d(&self.weight, 0, 1, 1, 1)?
            .broadcast_add(&self.bias)
    }
}

impl Dense {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

impl Prelu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.relu()? + x.minimum(0f32)?.broadcast_mul(&self.0)?
    }
}

/// Max pooling with PyTorch's `ceil_mode=True`: the last window may hang over the edge.
fn max_pool_ceil(x: &Tensor, k: usize, s: usize) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let padded = |len: usize| k + s * (len.saturating_sub(k)).div_ceil(s);
    let (ph, pw) = (padded(h) - h, padded(w) - w);
    let mut x = x.clone();
    if ph > 0 {
        let fill = Tensor::full(f32::NEG_INFINITY, (n, c, ph, w), &Device::Cpu)?;
        x = Tensor::cat(&[&x, &fill], 2)?;
    }
    if pw > 0 {
        let fill = Tensor::full(f32::NEG_INFINITY, (n, c, h + ph, pw), &Device::Cpu)?;
        x = Tensor::cat(&[&x, &fill], 3)?;
    }
    x.max_pool2d_with_stride((k, k), (s, s))
}

/// Face probability from two logits (softmax, second class).
fn face_probability(logits: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
    let max = logits.max_keepdim(dim)?;
    let exp = logits.broadcast_sub(&max)?.exp()?;
    let sum = exp.sum_keepdim(dim)?;
    exp.broadcast_div(&sum)?.narrow(dim, 1, 1)?.squeeze(dim)
}

/// P-Net's output: face probability `[h', w']` and box regression `[4, h', w']`.
type ProposalMaps = (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>);

impl PNet {
    /// `[1, 3, h, w]` → (face probability `[h', w']`, regression `[4, h', w']`).
    fn forward(&self, x: &Tensor) -> candle_core::Result<ProposalMaps> {
        let [c1, c2, c3] = &self.convs;
        let x = c1.1.forward(&c1.0.forward(x)?)?;
        let x = max_pool_ceil(&x, 2, 2)?;
        let x = c2.1.forward(&c2.0.forward(&x)?)?;
        let x = c3.1.forward(&c3.0.forward(&x)?)?;
        let prob = face_probability(&self.prob.forward(&x)?, 1)?.squeeze(0)?;
        let reg = self.reg.forward(&x)?.squeeze(0)?;
        Ok((prob.to_vec2()?, reg.to_vec3()?))
    }
}

/// Flatten `[n, c, h, w]` the way facenet-pytorch does (`permute(0, 3, 2, 1)`, then view).
fn flatten_whc(x: &Tensor) -> candle_core::Result<Tensor> {
    x.permute((0, 3, 2, 1))?.contiguous()?.flatten_from(1)
}

impl RNet {
    fn forward(&self, x: &Tensor) -> candle_core::Result<(Vec<f32>, Vec<Vec<f32>>)> {
        let [c1, c2, c3] = &self.convs;
        let x = max_pool_ceil(&c1.1.forward(&c1.0.forward(x)?)?, 3, 2)?;
        let x = max_pool_ceil(&c2.1.forward(&c2.0.forward(&x)?)?, 3, 2)?;
        let x = c3.1.forward(&c3.0.forward(&x)?)?;
        let x = self
            .dense
            .1
            .forward(&self.dense.0.forward(&flatten_whc(&x)?)?)?;
        let prob = face_probability(&self.prob.forward(&x)?, 1)?;
        Ok((prob.to_vec1()?, self.reg.forward(&x)?.to_vec2()?))
    }
}

impl ONet {
    fn forward(&self, x: &Tensor) -> candle_core::Result<(Vec<f32>, Vec<Vec<f32>>)> {
        let [c1, c2, c3, c4] = &self.convs;
        let x = max_pool_ceil(&c1.1.forward(&c1.0.forward(x)?)?, 3, 2)?;
        let x = max_pool_ceil(&c2.1.forward(&c2.0.forward(&x)?)?, 3, 2)?;
        let x = max_pool_ceil(&c3.1.forward(&c3.0.forward(&x)?)?, 2, 2)?;
        let x = c4.1.forward(&c4.0.forward(&x)?)?;
        let x = self
            .dense
            .1
            .forward(&self.dense.0.forward(&flatten_whc(&x)?)?)?;
        let prob = face_probability(&self.prob.forward(&x)?, 1)?;
        Ok((prob.to_vec1()?, self.reg.forward(&x)?.to_vec2()?))
    }
}

/// Planar RGB (0–255) of one image.
pub struct Planes {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Planes {
    pub fn from_rgb(image: &image::RgbImage) -> Self {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let mut data = vec![0.0f32; 3 * w * h];
        for (i, p) in image.pixels().enumerate() {
            for c in 0..3 {
                data[c * w * h + i] = f32::from(p[c]);
            }
        }
        Planes {
            width: w,
            height: h,
            data,
        }
    }

    /// PyTorch's `interpolate(mode="area")` (adaptive average pooling) of the region
    /// `[x0, x1) × [y0, y1)` to `ow × oh`, normalised as MTCNN expects (`(v − 127.5) / 128`).
    fn area_resample(
        &self,
        (x0, y0, x1, y1): (usize, usize, usize, usize),
        ow: usize,
        oh: usize,
    ) -> Vec<f32> {
        let (iw, ih) = (x1 - x0, y1 - y0);
        let mut out = vec![0.0f32; 3 * ow * oh];
        for oy in 0..oh {
            let (sy, ey) = (oy * ih / oh, ((oy + 1) * ih).div_ceil(oh));
            for ox in 0..ow {
                let (sx, ex) = (ox * iw / ow, ((ox + 1) * iw).div_ceil(ow));
                let n = ((ey - sy) * (ex - sx)) as f32;
                for c in 0..3 {
                    let plane = &self.data[c * self.width * self.height..];
                    let mut sum = 0.0f32;
                    for y in sy..ey {
                        let row = (y0 + y) * self.width + x0;
                        sum += plane[row + sx..row + ex].iter().sum::<f32>();
                    }
                    out[c * ow * oh + oy * ow + ox] = (sum / n - 127.5) * 0.0078125;
                }
            }
        }
        out
    }
}

/// A candidate box during detection.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    b: [f32; 4],
    score: f32,
    reg: [f32; 4],
}

/// Greedy NMS; `min` divides the overlap by the smaller box (O-Net stage), else by the union.
/// `plus_one` counts boxes inclusively, as the numpy variant of facenet-pytorch does.
fn nms(mut boxes: Vec<Candidate>, threshold: f32, min: bool, plus_one: bool) -> Vec<Candidate> {
    let one = if plus_one { 1.0 } else { 0.0 };
    let area = |b: &[f32; 4]| (b[2] - b[0] + one) * (b[3] - b[1] + one);
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in boxes {
        let overlaps = kept.iter().any(|k| {
            let w = (c.b[2].min(k.b[2]) - c.b[0].max(k.b[0]) + one).max(0.0);
            let h = (c.b[3].min(k.b[3]) - c.b[1].max(k.b[1]) + one).max(0.0);
            let inter = w * h;
            let o = if min {
                inter / area(&c.b).min(area(&k.b))
            } else {
                inter / (area(&c.b) + area(&k.b) - inter)
            };
            o > threshold
        });
        if !overlaps {
            kept.push(c);
        }
    }
    kept
}

/// Make each box square around its centre (facenet-pytorch's `rerec`).
fn square(c: &mut Candidate) {
    let (w, h) = (c.b[2] - c.b[0], c.b[3] - c.b[1]);
    let l = w.max(h);
    c.b[0] += w * 0.5 - l * 0.5;
    c.b[1] += h * 0.5 - l * 0.5;
    c.b[2] = c.b[0] + l;
    c.b[3] = c.b[1] + l;
}

/// Apply the regression of the next stage (`bbreg`: inclusive widths).
fn regress(c: &mut Candidate) {
    let (w, h) = (c.b[2] - c.b[0] + 1.0, c.b[3] - c.b[1] + 1.0);
    c.b[0] += c.reg[0] * w;
    c.b[1] += c.reg[1] * h;
    c.b[2] += c.reg[2] * w;
    c.b[3] += c.reg[3] * h;
}

/// The region a box covers, clipped to the image (`pad`: 1-based, truncated).
fn region(c: &Candidate, w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let x = (c.b[0].trunc() as i64).max(1);
    let y = (c.b[1].trunc() as i64).max(1);
    let ex = (c.b[2].trunc() as i64).min(w as i64);
    let ey = (c.b[3].trunc() as i64).min(h as i64);
    (ex > x - 1 && ey > y - 1)
        .then(|| ((x - 1) as usize, (y - 1) as usize, ex as usize, ey as usize))
}

impl Mtcnn {
    pub fn load(bytes: &[u8]) -> Result<Self, LoadError> {
        let t = Tensors::parse(MTCNN, bytes)?;
        Ok(Mtcnn {
            pnet: PNet {
                convs: [
                    (
                        conv(&t, "pnet.conv1", 3, 10, 3)?,
                        prelu(&t, "pnet.prelu1", 10, true)?,
                    ),
                    (
                        conv(&t, "pnet.conv2", 10, 16, 3)?,
                        prelu(&t, "pnet.prelu2", 16, true)?,
                    ),
                    (
                        conv(&t, "pnet.conv3", 16, 32, 3)?,
                        prelu(&t, "pnet.prelu3", 32, true)?,
                    ),
                ],
                prob: conv(&t, "pnet.conv4_1", 32, 2, 1)?,
                reg: conv(&t, "pnet.conv4_2", 32, 4, 1)?,
            },
            rnet: RNet {
                convs: [
                    (
                        conv(&t, "rnet.conv1", 3, 28, 3)?,
                        prelu(&t, "rnet.prelu1", 28, true)?,
                    ),
                    (
                        conv(&t, "rnet.conv2", 28, 48, 3)?,
                        prelu(&t, "rnet.prelu2", 48, true)?,
                    ),
                    (
                        conv(&t, "rnet.conv3", 48, 64, 2)?,
                        prelu(&t, "rnet.prelu3", 64, true)?,
                    ),
                ],
                dense: (
                    dense(&t, "rnet.dense4", 576, 128)?,
                    prelu(&t, "rnet.prelu4", 128, false)?,
                ),
                prob: dense(&t, "rnet.dense5_1", 128, 2)?,
                reg: dense(&t, "rnet.dense5_2", 128, 4)?,
            },
            onet: ONet {
                convs: [
                    (
                        conv(&t, "onet.conv1", 3, 32, 3)?,
                        prelu(&t, "onet.prelu1", 32, true)?,
                    ),
                    (
                        conv(&t, "onet.conv2", 32, 64, 3)?,
                        prelu(&t, "onet.prelu2", 64, true)?,
                    ),
                    (
                        conv(&t, "onet.conv3", 64, 64, 3)?,
                        prelu(&t, "onet.prelu3", 64, true)?,
                    ),
                    (
                        conv(&t, "onet.conv4", 64, 128, 2)?,
                        prelu(&t, "onet.prelu4", 128, true)?,
                    ),
                ],
                dense: (
                    dense(&t, "onet.dense5", 1152, 256)?,
                    prelu(&t, "onet.prelu5", 256, false)?,
                ),
                prob: dense(&t, "onet.dense6_1", 256, 2)?,
                reg: dense(&t, "onet.dense6_2", 256, 4)?,
            },
        })
    }

    /// Faces in `image` (pixel coordinates of `image`), best first.
    pub fn detect(&self, image: &Planes) -> candle_core::Result<Vec<Face>> {
        let (w, h) = (image.width, image.height);
        let proposals = self.propose(image)?;
        let refined = self.refine(image, proposals, 24, Stage::R)?;
        let mut faces = self.refine(image, refined, 48, Stage::O)?;
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        let _ = (w, h);
        Ok(faces
            .into_iter()
            .map(|c| Face {
                x1: c.b[0],
                y1: c.b[1],
                x2: c.b[2],
                y2: c.b[3],
                score: c.score,
            })
            .collect())
    }

    /// Stage 1: P-Net over the pyramid, NMS per scale (0.5) then over all (0.7), regressed and
    /// squared.
    fn propose(&self, image: &Planes) -> candle_core::Result<Vec<Candidate>> {
        let (w, h) = (image.width, image.height);
        let m = 12.0 / MIN_FACE;
        let mut min_side = w.min(h) as f32 * m;
        let mut scale = m;
        let mut all = Vec::new();
        while min_side >= 12.0 {
            let (sh, sw) = (
                (h as f32 * scale + 1.0) as usize,
                (w as f32 * scale + 1.0) as usize,
            );
            let input = image.area_resample((0, 0, w, h), sw, sh);
            let x = Tensor::from_vec(input, (1, 3, sh, sw), &Device::Cpu)?;
            let (prob, reg) = self.pnet.forward(&x)?;
            let mut found = Vec::new();
            for (y, row) in prob.iter().enumerate() {
                for (x, &p) in row.iter().enumerate() {
                    if p >= THRESHOLDS[0] {
                        let (fx, fy) = (x as f32, y as f32);
                        found.push(Candidate {
                            b: [
                                ((2.0 * fx + 1.0) / scale).floor(),
                                ((2.0 * fy + 1.0) / scale).floor(),
                                ((2.0 * fx + 12.0) / scale).floor(),
                                ((2.0 * fy + 12.0) / scale).floor(),
                            ],
                            score: p,
                            reg: [reg[0][y][x], reg[1][y][x], reg[2][y][x], reg[3][y][x]],
                        });
                    }
                }
            }
            all.extend(nms(found, 0.5, false, false));
            scale *= FACTOR;
            min_side *= FACTOR;
        }
        let mut boxes = nms(all, 0.7, false, false);
        for c in &mut boxes {
            let (rw, rh) = (c.b[2] - c.b[0], c.b[3] - c.b[1]);
            c.b = [
                c.b[0] + c.reg[0] * rw,
                c.b[1] + c.reg[1] * rh,
                c.b[2] + c.reg[2] * rw,
                c.b[3] + c.reg[3] * rh,
            ];
            square(c);
        }
        Ok(boxes)
    }

    /// Stages 2 and 3: crop each box, score it with R-Net (24 px) or O-Net (48 px), keep those
    /// above the stage's threshold, NMS, regress.
    fn refine(
        &self,
        image: &Planes,
        boxes: Vec<Candidate>,
        side: usize,
        stage: Stage,
    ) -> candle_core::Result<Vec<Candidate>> {
        let mut kept = Vec::new();
        let mut batch = Vec::new();
        for c in boxes {
            if let Some(r) = region(&c, image.width, image.height) {
                batch.extend(image.area_resample(r, side, side));
                kept.push(c);
            }
        }
        if kept.is_empty() {
            return Ok(kept);
        }
        let x = Tensor::from_vec(batch, (kept.len(), 3, side, side), &Device::Cpu)?;
        let (prob, reg) = match stage {
            Stage::R => self.rnet.forward(&x)?,
            Stage::O => self.onet.forward(&x)?,
        };
        let threshold = THRESHOLDS[match stage {
            Stage::R => 1,
            Stage::O => 2,
        }];
        let passed: Vec<Candidate> = kept
            .into_iter()
            .zip(prob.iter().zip(&reg))
            .filter(|(_, (p, _))| **p > threshold)
            .map(|(c, (p, r))| Candidate {
                b: c.b,
                score: *p,
                reg: [r[0], r[1], r[2], r[3]],
            })
            .collect();
        Ok(match stage {
            Stage::R => {
                let mut out = nms(passed, 0.7, false, false);
                for c in &mut out {
                    regress(c);
                    square(c);
                }
                out
            }
            Stage::O => {
                let mut out = passed;
                for c in &mut out {
                    regress(c);
                }
                nms(out, 0.7, true, true)
            }
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Stage {
    R,
    O,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(b: [f32; 4], score: f32) -> Candidate {
        Candidate {
            b,
            score,
            reg: [0.0; 4],
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_and_separate_ones() {
        let kept = nms(
            vec![
                cand([0.0, 0.0, 10.0, 10.0], 0.8),
                cand([1.0, 1.0, 11.0, 11.0], 0.9),
                cand([50.0, 50.0, 60.0, 60.0], 0.7),
            ],
            0.5,
            false,
            false,
        );
        let scores: Vec<f32> = kept.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
    }

    #[test]
    fn ceil_mode_pooling_keeps_the_overhanging_window() {
        let x = Tensor::from_vec(
            (0..25).map(|v| v as f32 - 30.0).collect::<Vec<_>>(),
            (1, 1, 5, 5),
            &Device::Cpu,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let y = max_pool_ceil(&x, 2, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(y.dims(), &[1, 1, 3, 3]);
        let v: Vec<Vec<f32>> = y
            .squeeze(0)
            .and_then(|t| t.squeeze(0))
            .and_then(|t| t.to_vec2())
            .unwrap_or_else(|e| panic!("{e}"));
        // The last column holds the overhanging windows: the largest negative values, never 0.
        assert_eq!(v[0][2], 9.0 - 30.0);
        assert_eq!(v[2][2], 24.0 - 30.0);
    }

    #[test]
    fn area_resampling_averages_blocks() {
        let planes = Planes {
            width: 4,
            height: 2,
            data: [[0.0f32, 2.0, 4.0, 6.0, 0.0, 2.0, 4.0, 6.0]; 3].concat(),
        };
        let out = planes.area_resample((0, 0, 4, 2), 2, 1);
        let raw: Vec<f32> = out.iter().map(|v| v / 0.0078125 + 127.5).collect();
        assert_eq!(&raw[..2], &[1.0, 5.0]);
    }
}
