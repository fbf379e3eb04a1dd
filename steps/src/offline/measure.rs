//! Measured properties of a photo. Everything the offline backend says about a pet comes from
//! these numbers; nothing is invented.
//!
//! The photo is first reduced to a long edge of `ANALYSIS_EDGE` px so the figures do not depend
//! on the upload's resolution.

use image::RgbImage;

use crate::error::StageError;
use crate::imaging;

/// Long edge at which the photo is measured.
pub const ANALYSIS_EDGE: u32 = 512;

/// All features are dimensionless, most in 0–1.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoStats {
    /// Mean luma / 255.
    pub brightness: f64,
    /// Std-dev of luma / 128.
    pub contrast: f64,
    /// Mean HSV saturation.
    pub saturation: f64,
    /// Hasler–Süsstrunk colourfulness / 100.
    pub colourfulness: f64,
    /// 0.5 + (mean red − mean blue) / 255 / 2: above 0.5 is warm.
    pub warmth: f64,
    /// Fraction of pixels whose luma gradient exceeds 20 levels/px (edge density, sharpness).
    pub edge_density: f64,
    /// Fraction of pixels with fur-like texture: textured, orientation-incoherent, low saturation.
    pub coat_fraction: f64,
    /// Mean orientation coherence of the textured pixels (1 = all edges parallel).
    pub coherence: f64,
    /// Distance of the gradient-energy centroid from the frame centre (0 = centred, ~0.7 = corner).
    pub centre_offset: f64,
    /// Spatial spread of gradient energy (std of positions, normalised): small = compact subject.
    pub spread: f64,
    /// Normalised entropy of the hue histogram (0 = one hue, 1 = all hues).
    pub hue_entropy: f64,
    /// Fraction of pixels with luma > 230.
    pub highlights: f64,
    /// Fraction of pixels with luma < 30.
    pub shadows: f64,
    /// Left–right mirror similarity of luma (1 = perfectly symmetric).
    pub symmetry: f64,
    /// The dominant colours of the subject area, most prominent first.
    pub palette: Vec<[u8; 3]>,
}

/// Measure a photo (any size; it is reduced first).
pub fn measure(image: &RgbImage) -> Result<PhotoStats, StageError> {
    let small = imaging::fit_long_edge(image.clone(), ANALYSIS_EDGE)?;
    Ok(measure_reduced(&small))
}

struct Planes {
    w: usize,
    h: usize,
    luma: Vec<f32>,
    sat: Vec<f32>,
}

fn planes(image: &RgbImage) -> Planes {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut luma = Vec::with_capacity(w * h);
    let mut sat = Vec::with_capacity(w * h);
    for p in image.pixels() {
        let [r, g, b] = p.0.map(f32::from);
        luma.push(0.299 * r + 0.587 * g + 0.114 * b);
        let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
        sat.push(if mx > 0.0 { (mx - mn) / mx } else { 0.0 });
    }
    Planes { w, h, luma, sat }
}

fn measure_reduced(image: &RgbImage) -> PhotoStats {
    let p = planes(image);
    let n = (p.w * p.h).max(1) as f64;
    let mean_luma = p.luma.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var_luma = p
        .luma
        .iter()
        .map(|&v| (f64::from(v) - mean_luma).powi(2))
        .sum::<f64>()
        / n;
    let (gx, gy) = gradients(&p);
    let tensor = structure_tensor(&p, &gx, &gy, 3);
    let texture = texture_stats(&p, &tensor);
    let (centre_offset, spread) = energy_centroid(&p, &gx, &gy);
    let (mean_r, mean_b) = channel_means(image);
    PhotoStats {
        brightness: mean_luma / 255.0,
        contrast: (var_luma.sqrt() / 128.0).min(1.0),
        saturation: p.sat.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
        colourfulness: colourfulness(image),
        warmth: (0.5 + (mean_r - mean_b) / 255.0 / 2.0).clamp(0.0, 1.0),
        edge_density: gx
            .iter()
            .zip(&gy)
            .filter(|(x, y)| x.hypot(**y) > 20.0)
            .count() as f64
            / n,
        coat_fraction: texture.coat_fraction,
        coherence: texture.coherence,
        centre_offset,
        spread,
        hue_entropy: hue_entropy(image),
        highlights: p.luma.iter().filter(|&&v| v > 230.0).count() as f64 / n,
        shadows: p.luma.iter().filter(|&&v| v < 30.0).count() as f64 / n,
        symmetry: symmetry(&p),
        palette: palette(image, &texture.coat_mask),
    }
}

/// Central differences (half the difference of the two neighbours).
fn gradients(p: &Planes) -> (Vec<f32>, Vec<f32>) {
    let (w, h) = (p.w, p.h);
    let mut gx = vec![0.0f32; w * h];
    let mut gy = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if x > 0 && x + 1 < w {
                gx[i] = (p.luma[i + 1] - p.luma[i - 1]) / 2.0;
            }
            if y > 0 && y + 1 < h {
                gy[i] = (p.luma[i + w] - p.luma[i - w]) / 2.0;
            }
        }
    }
    (gx, gy)
}

/// Box-averaged structure tensor (Jxx, Jyy, Jxy) over a (2r+1)² window.
struct Tensor {
    jxx: Vec<f32>,
    jyy: Vec<f32>,
    jxy: Vec<f32>,
}

fn structure_tensor(p: &Planes, gx: &[f32], gy: &[f32], r: usize) -> Tensor {
    let xx: Vec<f32> = gx.iter().map(|v| v * v).collect();
    let yy: Vec<f32> = gy.iter().map(|v| v * v).collect();
    let xy: Vec<f32> = gx.iter().zip(gy).map(|(a, b)| a * b).collect();
    Tensor {
        jxx: box_blur(&xx, p.w, p.h, r),
        jyy: box_blur(&yy, p.w, p.h, r),
        jxy: box_blur(&xy, p.w, p.h, r),
    }
}

/// Separable box mean with clamped edges.
fn box_blur(src: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let pass = |src: &[f32], stride: usize, step: usize, len: usize, lines: usize| -> Vec<f32> {
        let mut out = vec![0.0f32; src.len()];
        for line in 0..lines {
            let base = line * stride;
            for k in 0..len {
                let lo = k.saturating_sub(r);
                let hi = (k + r).min(len - 1);
                let sum: f32 = (lo..=hi).map(|j| src[base + j * step]).sum();
                out[base + k * step] = sum / (hi - lo + 1) as f32;
            }
        }
        out
    };
    let horizontal = pass(src, w, 1, w, h);
    pass(&horizontal, 1, w, h, w)
}

struct TextureStats {
    coat_fraction: f64,
    coherence: f64,
    coat_mask: Vec<bool>,
}

/// Fur is fine texture whose local orientation varies (incoherent) in the muted colours of animal
/// coats; hard edges, parallel folds and saturated man-made colours are not fur.
fn texture_stats(p: &Planes, t: &Tensor) -> TextureStats {
    const MIN_ENERGY: f32 = 9.0;
    const MAX_ENERGY: f32 = 900.0;
    const MAX_COHERENCE: f32 = 0.6;
    const MAX_SATURATION: f32 = 0.55;
    let n = p.luma.len();
    let mut coat_mask = vec![false; n];
    let (mut coh_sum, mut textured) = (0.0f64, 0usize);
    for (i, coat) in coat_mask.iter_mut().enumerate() {
        let energy = t.jxx[i] + t.jyy[i];
        let coherence =
            ((t.jxx[i] - t.jyy[i]).powi(2) + 4.0 * t.jxy[i].powi(2)).sqrt() / (energy + 1e-3);
        if energy > 100.0 {
            coh_sum += f64::from(coherence);
            textured += 1;
        }
        *coat = energy > MIN_ENERGY
            && energy < MAX_ENERGY
            && coherence < MAX_COHERENCE
            && p.sat[i] < MAX_SATURATION;
    }
    TextureStats {
        coat_fraction: coat_mask.iter().filter(|&&c| c).count() as f64 / n.max(1) as f64,
        coherence: if textured == 0 {
            0.0
        } else {
            coh_sum / textured as f64
        },
        coat_mask,
    }
}

fn energy_centroid(p: &Planes, gx: &[f32], gy: &[f32]) -> (f64, f64) {
    let (mut sum, mut sx, mut sy, mut sxx, mut syy) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for y in 0..p.h {
        for x in 0..p.w {
            let i = y * p.w + x;
            let e = f64::from(gx[i].hypot(gy[i]));
            let (fx, fy) = (x as f64 / p.w as f64, y as f64 / p.h as f64);
            sum += e;
            sx += e * fx;
            sy += e * fy;
            sxx += e * fx * fx;
            syy += e * fy * fy;
        }
    }
    if sum <= 0.0 {
        return (0.0, 0.5);
    }
    let (cx, cy) = (sx / sum, sy / sum);
    let spread = ((sxx / sum - cx * cx).max(0.0) + (syy / sum - cy * cy).max(0.0)).sqrt();
    // A uniform spread over the frame gives sqrt(2/12) ≈ 0.41; normalise to ~0–1.
    (
        ((cx - 0.5).powi(2) + (cy - 0.5).powi(2)).sqrt(),
        (spread / 0.41).min(1.0),
    )
}

fn channel_means(image: &RgbImage) -> (f64, f64) {
    let n = (image.width() * image.height()).max(1) as f64;
    let (r, b) = image.pixels().fold((0.0, 0.0), |(r, b), p| {
        (r + f64::from(p[0]), b + f64::from(p[2]))
    });
    (r / n, b / n)
}

fn colourfulness(image: &RgbImage) -> f64 {
    let n = (image.width() * image.height()).max(1) as f64;
    let (mut s_rg, mut s_yb, mut s_rg2, mut s_yb2) = (0.0, 0.0, 0.0, 0.0);
    for p in image.pixels() {
        let [r, g, b] = p.0.map(f64::from);
        let rg = r - g;
        let yb = 0.5 * (r + g) - b;
        s_rg += rg;
        s_yb += yb;
        s_rg2 += rg * rg;
        s_yb2 += yb * yb;
    }
    let (m_rg, m_yb) = (s_rg / n, s_yb / n);
    let sd = ((s_rg2 / n - m_rg * m_rg).max(0.0) + (s_yb2 / n - m_yb * m_yb).max(0.0)).sqrt();
    let mean = (m_rg * m_rg + m_yb * m_yb).sqrt();
    ((sd + 0.3 * mean) / 100.0).min(1.5)
}

fn hue_of(r: f64, g: f64, b: f64) -> Option<f64> {
    let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
    let d = mx - mn;
    if d < 20.0 {
        return None; // greys have no meaningful hue
    }
    let h = if mx == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if mx == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    Some(h * 60.0)
}

fn hue_entropy(image: &RgbImage) -> f64 {
    const BINS: usize = 18;
    let mut hist = [0f64; BINS];
    for p in image.pixels() {
        let [r, g, b] = p.0.map(f64::from);
        if let Some(h) = hue_of(r, g, b) {
            hist[((h / 360.0 * BINS as f64) as usize).min(BINS - 1)] += 1.0;
        }
    }
    let total: f64 = hist.iter().sum();
    if total == 0.0 {
        return 0.0;
    }
    let entropy: f64 = hist
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| -(c / total) * (c / total).ln())
        .sum();
    entropy / (BINS as f64).ln()
}

fn symmetry(p: &Planes) -> f64 {
    let mut diff = 0.0f64;
    for y in 0..p.h {
        for x in 0..p.w / 2 {
            let a = p.luma[y * p.w + x];
            let b = p.luma[y * p.w + (p.w - 1 - x)];
            diff += f64::from((a - b).abs());
        }
    }
    let n = (p.h * (p.w / 2)).max(1) as f64;
    (1.0 - diff / n / 128.0).clamp(0.0, 1.0)
}

/// Dominant colours: a 4-level-per-channel histogram over the coat pixels (or, with too few of
/// them, the central half of the frame); each bin's mean colour, most populous first.
fn palette(image: &RgbImage, coat_mask: &[bool]) -> Vec<[u8; 3]> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let use_coat = coat_mask.iter().filter(|&&c| c).count() > w * h / 20;
    let central = |x: usize, y: usize| x >= w / 4 && x < w - w / 4 && y >= h / 4 && y < h - h / 4;
    let mut bins = vec![(0u64, [0u64; 3]); 64];
    for (i, p) in image.pixels().enumerate() {
        let (x, y) = (i % w, i / w);
        if (use_coat && !coat_mask[i]) || (!use_coat && !central(x, y)) {
            continue;
        }
        let key = usize::from(p[0] >> 6) * 16 + usize::from(p[1] >> 6) * 4 + usize::from(p[2] >> 6);
        bins[key].0 += 1;
        for c in 0..3 {
            bins[key].1[c] += u64::from(p[c]);
        }
    }
    bins.sort_by_key(|b| std::cmp::Reverse(b.0));
    let total: u64 = bins.iter().map(|b| b.0).sum();
    bins.iter()
        .filter(|(count, _)| *count > 0 && (*count as f64) >= total as f64 * 0.03)
        .take(4)
        .map(|(count, sum)| sum.map(|s| (s / count) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_grey_has_no_texture_or_colour() {
        let img = RgbImage::from_pixel(200, 100, image::Rgb([128, 128, 128]));
        let s = measure(&img).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.coat_fraction < 0.01);
        assert!(s.saturation < 0.01);
        assert!((s.brightness - 128.0 / 255.0).abs() < 0.01);
        assert!(s.symmetry > 0.99);
    }

    #[test]
    fn bright_image_is_brighter_than_dark_one() {
        let dark = measure(&RgbImage::from_pixel(64, 64, image::Rgb([20, 20, 20])))
            .unwrap_or_else(|e| panic!("{e}"));
        let light = measure(&RgbImage::from_pixel(64, 64, image::Rgb([220, 220, 220])))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(light.brightness > dark.brightness);
        assert!(dark.shadows > 0.9 && light.shadows < 0.1);
    }
}
