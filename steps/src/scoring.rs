//! The similarity score: how well the pet and its human career fit, 0–100.
//!
//! It is computed by the stage (not by a model) from the analysis and the career profile, so it
//! means the same whichever backend produced them. Four components, each 0–100:
//!
//! | weight | component | what it measures |
//! |---|---|---|
//! | 40 % | `trait_alignment` | mean of the pet's scores on the career's `key_traits` (the traits the role draws on) |
//! | 30 % | `career_fit` | the career mapper's `confidence` × 100 (offline: cosine similarity of the pet's 47 scores and the career's trait profile) |
//! | 15 % | `dominant_overlap` | each of the pet's 3 dominant traits counts 1 if the role's key traits include it, ½ if one of them is in the same family; mean × 100 |
//! | 15 % | `seniority_fit` | 100 − 2 × distance between the pet's seniority score (`Personality::seniority_score`) and the centre of the seniority's band (12.5/37.5/62.5/87.5), floored at 0 |
//!
//! `score = round(0.40·trait_alignment + 0.30·career_fit + 0.15·dominant_overlap + 0.15·seniority_fit)`.

use crate::domain::{CareerProfile, PetAnalysis, SimilarityBreakdown, SimilarityScore};
use crate::personality::family_of;

pub const WEIGHT_TRAIT_ALIGNMENT: f64 = 0.40;
pub const WEIGHT_CAREER_FIT: f64 = 0.30;
pub const WEIGHT_DOMINANT_OVERLAP: f64 = 0.15;
pub const WEIGHT_SENIORITY_FIT: f64 = 0.15;

pub fn similarity(analysis: &PetAnalysis, career: &CareerProfile) -> SimilarityScore {
    let breakdown = SimilarityBreakdown {
        trait_alignment: round1(trait_alignment(analysis, career)),
        career_fit: round1((career.confidence * 100.0).clamp(0.0, 100.0)),
        dominant_overlap: round1(dominant_overlap(analysis, career)),
        seniority_fit: round1(seniority_fit(analysis, career)),
    };
    let score = WEIGHT_TRAIT_ALIGNMENT * breakdown.trait_alignment
        + WEIGHT_CAREER_FIT * breakdown.career_fit
        + WEIGHT_DOMINANT_OVERLAP * breakdown.dominant_overlap
        + WEIGHT_SENIORITY_FIT * breakdown.seniority_fit;
    SimilarityScore {
        score: score.round().clamp(0.0, 100.0) as u8,
        breakdown,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn trait_alignment(analysis: &PetAnalysis, career: &CareerProfile) -> f64 {
    let scores: Vec<f64> = career
        .key_traits
        .iter()
        .filter_map(|t| analysis.personality.get(t))
        .map(f64::from)
        .collect();
    if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f64>() / scores.len() as f64
    }
}

fn dominant_overlap(analysis: &PetAnalysis, career: &CareerProfile) -> f64 {
    let credit = |trait_name: &String| -> f64 {
        if career.key_traits.contains(trait_name) {
            1.0
        } else if family_of(trait_name)
            .is_some_and(|f| career.key_traits.iter().any(|k| family_of(k) == Some(f)))
        {
            0.5
        } else {
            0.0
        }
    };
    let total: f64 = analysis.dominant_traits.iter().map(credit).sum();
    100.0 * total / analysis.dominant_traits.len() as f64
}

fn seniority_fit(analysis: &PetAnalysis, career: &CareerProfile) -> f64 {
    let distance = (analysis.personality.seniority_score() - career.seniority.band_centre()).abs();
    (100.0 - 2.0 * distance).clamp(0.0, 100.0)
}
