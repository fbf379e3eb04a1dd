//! From measured photo properties to the 47 personality dimensions, and the rest of the offline
//! analysis (expression, posture, vibe, palette).
//!
//! Each feature is standardised against a typical photo (`z = (value − typical) / spread`,
//! clamped to ±2.5). Each dimension is `50 + 48·tanh(0.5 · Σ weight·z)` over a fixed row of
//! weights below. The mapping is a documented convention ("a bright, saturated, sharp photo
//! reads as energetic"), not a claim about the animal's mind: the offline backend only knows
//! the photo.

use super::measure::PhotoStats;
use crate::personality::{DIMENSION_COUNT, DIMENSIONS, Personality};

/// The standardised features a weight row refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F {
    Bright,
    Contrast,
    Sat,
    Colour,
    Warm,
    Edge,
    Coat,
    Coherence,
    /// Centred subject (the negated centre offset).
    Centred,
    /// Compact subject (the negated spread).
    Compact,
    Hue,
    Highlights,
    Shadows,
    Symmetry,
}

const FEATURES: usize = 14;

fn index(f: F) -> usize {
    f as usize
}

/// (typical value, spread) per feature, from ordinary well-exposed photos.
const NORMS: [(f64, f64); FEATURES] = [
    (0.45, 0.15),  // brightness
    (0.30, 0.12),  // contrast
    (0.40, 0.15),  // saturation
    (0.40, 0.20),  // colourfulness
    (0.55, 0.08),  // warmth
    (0.18, 0.08),  // edge density
    (0.20, 0.10),  // coat fraction
    (0.68, 0.06),  // coherence
    (-0.08, 0.06), // centred (−offset)
    (-0.80, 0.10), // compact (−spread)
    (0.40, 0.20),  // hue entropy
    (0.05, 0.05),  // highlights
    (0.05, 0.05),  // shadows
    (0.85, 0.07),  // symmetry
];

/// Standardised features of a photo.
pub fn standardise(s: &PhotoStats) -> [f64; FEATURES] {
    let raw = [
        s.brightness,
        s.contrast,
        s.saturation,
        s.colourfulness,
        s.warmth,
        s.edge_density,
        s.coat_fraction,
        s.coherence,
        -s.centre_offset,
        -s.spread,
        s.hue_entropy,
        s.highlights,
        s.shadows,
        s.symmetry,
    ];
    let mut z = [0.0; FEATURES];
    for k in 0..FEATURES {
        z[k] = ((raw[k] - NORMS[k].0) / NORMS[k].1).clamp(-2.5, 2.5);
    }
    z
}

use F::*;

/// One weight row per dimension, in `DIMENSIONS` order.
const WEIGHTS: [&[(F, f64)]; DIMENSION_COUNT] = [
    // Energy
    &[(Sat, 0.8), (Contrast, 0.6), (Edge, 0.5), (Bright, 0.3)], // energy
    &[(Colour, 0.7), (Hue, 0.6), (Bright, 0.4), (Symmetry, -0.3)], // playfulness
    &[(Edge, 0.6), (Hue, 0.5), (Centred, -0.4), (Highlights, 0.3)], // curiosity
    &[(Contrast, 0.6), (Centred, -0.6), (Hue, 0.4), (Shadows, 0.3)], // adventurousness
    &[(Symmetry, -0.7), (Colour, 0.5), (Centred, -0.4)],        // spontaneity
    &[
        (Edge, 0.7),
        (Coherence, -0.4),
        (Contrast, 0.4),
        (Compact, -0.3),
    ], // restlessness
    &[(Bright, 0.6), (Sat, 0.6), (Warm, 0.4)],                  // enthusiasm
    // Social
    &[(Bright, 0.6), (Warm, 0.5), (Compact, -0.4), (Hue, 0.3)], // sociability
    &[(Warm, 0.8), (Bright, 0.5), (Contrast, -0.3)],            // friendliness
    &[(Warm, 0.7), (Coat, 0.5), (Contrast, -0.4)],              // affection
    &[(Warm, 0.5), (Contrast, -0.5), (Coat, 0.4), (Sat, -0.2)], // empathy
    &[(Centred, 0.6), (Symmetry, 0.5), (Warm, 0.3)],            // loyalty
    &[
        (Contrast, 0.6),
        (Centred, 0.5),
        (Highlights, 0.4),
        (Sat, 0.3),
    ], // charisma
    &[(Colour, 0.6), (Symmetry, -0.4), (Bright, 0.4)],          // humor
    // Composure
    &[(Contrast, -0.7), (Edge, -0.6), (Sat, -0.3)], // calmness
    &[
        (Edge, -0.6),
        (Coherence, 0.3),
        (Contrast, -0.4),
        (Compact, 0.3),
    ], // patience
    &[(Bright, 0.5), (Contrast, -0.6), (Hue, -0.4)], // serenity
    &[(Shadows, 0.5), (Contrast, 0.4), (Coat, 0.4)], // resilience
    &[(Hue, 0.6), (Colour, 0.3), (Symmetry, -0.3)], // adaptability
    &[(Contrast, -0.6), (Bright, 0.4), (Warm, 0.3), (Edge, -0.3)], // gentleness
    &[(Warm, 0.5), (Sat, -0.3), (Edge, -0.4), (Bright, 0.3)], // contentment
    // Drive
    &[(Contrast, 0.7), (Sat, 0.4), (Centred, 0.3)], // ambition
    &[(Centred, 0.7), (Contrast, 0.5), (Compact, 0.3)], // confidence
    &[(Contrast, 0.7), (Shadows, 0.4), (Warm, -0.3)], // assertiveness
    &[(Centred, -0.5), (Compact, 0.5), (Warm, -0.4)], // independence
    &[(Contrast, 0.5), (Edge, 0.5), (Coherence, 0.4)], // determination
    &[(Sat, 0.6), (Contrast, 0.5), (Warm, -0.2)],   // competitiveness
    &[(Centred, 0.6), (Symmetry, 0.4), (Contrast, 0.5)], // leadership
    // Intellect
    &[(Edge, 0.6), (Coherence, 0.3), (Sat, -0.3), (Contrast, 0.2)], // intelligence
    &[(Compact, 0.7), (Centred, 0.5), (Edge, 0.3)],                 // focus
    &[(Hue, 0.7), (Colour, 0.5), (Symmetry, -0.3)],                 // creativity
    &[(Coherence, 0.7), (Sat, -0.5), (Warm, -0.4)],                 // analytical_thinking
    &[(Hue, 0.6), (Highlights, 0.4), (Symmetry, -0.4)],             // imagination
    &[(Shadows, 0.5), (Bright, -0.4), (Contrast, 0.3), (Sat, -0.3)], // wisdom
    &[(Edge, 0.5), (Colour, 0.4), (Contrast, 0.3)],                 // wit
    // Diligence
    &[(Symmetry, 0.7), (Coherence, 0.5), (Hue, -0.3)], // discipline
    &[(Symmetry, 0.6), (Centred, 0.4), (Contrast, -0.2)], // reliability
    &[(Coherence, 0.7), (Symmetry, 0.5), (Hue, -0.4)], // organization
    &[(Edge, 0.7), (Coat, 0.4), (Coherence, 0.2)],     // attention_to_detail
    &[(Coat, 0.5), (Edge, 0.4), (Symmetry, 0.3)],      // diligence
    &[(Symmetry, 0.5), (Coherence, 0.5), (Colour, -0.3)], // punctuality
    // Temperament
    &[(Edge, 0.6), (Highlights, 0.5), (Contrast, 0.4)], // alertness
    &[(Shadows, 0.6), (Bright, -0.5), (Centred, -0.3)], // caution
    &[(Contrast, -0.5), (Warm, 0.4), (Coat, 0.4)],      // sensitivity
    &[(Compact, 0.5), (Contrast, 0.5), (Hue, -0.4)],    // stubbornness
    &[(Colour, 0.5), (Symmetry, -0.6), (Edge, 0.3)],    // mischief
    &[(Symmetry, 0.5), (Sat, -0.5), (Contrast, 0.3), (Coat, 0.3)], // elegance
];

/// The 47 scores for a photo.
pub fn personality(stats: &PhotoStats) -> Personality {
    let z = standardise(stats);
    let mut scores = [0.0f64; DIMENSION_COUNT];
    for (d, row) in WEIGHTS.iter().enumerate() {
        let sum: f64 = row.iter().map(|(f, w)| w * z[index(*f)]).sum();
        scores[d] = 50.0 + 48.0 * (0.5 * sum).tanh();
    }
    Personality::from_f64(&scores)
}

/// Expression, read from light and contrast.
pub fn expression(stats: &PhotoStats) -> &'static str {
    let z = standardise(stats);
    let (bright, contrast, edge) = (z[index(Bright)], z[index(Contrast)], z[index(Edge)]);
    if edge > 0.8 && contrast > 0.3 {
        "alert and attentive"
    } else if bright > 0.5 && contrast < 0.0 {
        "soft and friendly"
    } else if contrast > 0.8 {
        "intense and serious"
    } else if bright < -0.8 {
        "pensive"
    } else {
        "calm and curious"
    }
}

/// Posture, read from composition (how centred and how compact the detail is).
pub fn posture(stats: &PhotoStats) -> &'static str {
    match (stats.centre_offset < 0.08, stats.spread < 0.8) {
        (true, true) => "centred close-up, facing the camera",
        (true, false) => "front-facing, filling the frame",
        (false, true) => "off-centre, turned slightly away",
        (false, false) => "relaxed, sprawled across the frame",
    }
}

/// A short phrase summing up the analysis.
pub fn vibe(personality: &Personality, stats: &PhotoStats) -> String {
    let [first, second, _] = personality.dominant();
    let tone = if stats.warmth > 0.55 { "warm" } else { "cool" };
    format!(
        "{tone}-toned, all {} and {}",
        humanise(&first),
        humanise(&second)
    )
}

/// `attention_to_detail` → `attention to detail`.
pub fn humanise(name: &str) -> String {
    name.replace('_', " ")
}

/// Names of the dimensions, for error messages and docs.
pub fn dimension_names() -> impl Iterator<Item = &'static str> {
    DIMENSIONS.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> PhotoStats {
        PhotoStats {
            brightness: 0.45,
            contrast: 0.3,
            saturation: 0.4,
            colourfulness: 0.4,
            warmth: 0.55,
            edge_density: 0.18,
            coat_fraction: 0.2,
            coherence: 0.68,
            centre_offset: 0.08,
            spread: 0.8,
            hue_entropy: 0.4,
            highlights: 0.05,
            shadows: 0.05,
            symmetry: 0.85,
            palette: vec![],
        }
    }

    #[test]
    fn a_typical_photo_scores_fifty_everywhere() {
        let p = personality(&stats());
        assert!(p.scores().iter().all(|&s| s == 50), "{:?}", p.scores());
    }

    #[test]
    fn more_saturation_and_contrast_means_more_energy_and_less_calm() {
        let base = personality(&stats());
        let vivid = personality(&PhotoStats {
            saturation: 0.7,
            contrast: 0.5,
            ..stats()
        });
        assert!(vivid.get("energy") > base.get("energy"));
        assert!(vivid.get("calmness") < base.get("calmness"));
    }
}
