//! From what the models saw to the `PetAnalysis`: species and breed from the classifier, the 47
//! dimensions from temperament priors blended with the photo's measurements.

use steps::domain::{Alternative, PetAnalysis};
use steps::offline::measure::PhotoStats;
use steps::offline::traits;
use steps::personality::{DIMENSION_COUNT, Personality, index_of};

use crate::priors;
use crate::taxonomy::{self, Group};
use crate::verdict::BREED_PROBABILITY;

/// Weight of the species/breed priors against the photo's measurements (0.4).
pub const PRIOR_WEIGHT: f64 = 0.6;
/// How many alternatives the analysis lists.
pub const ALTERNATIVES: usize = 5;

/// The classes ranked by probability, highest first (ties by index: deterministic).
pub fn ranked(probabilities: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| {
        probabilities[b]
            .total_cmp(&probabilities[a])
            .then(a.cmp(&b))
    });
    order
}

/// `breed`: the top class of `group` when it alone holds ≥ BREED_PROBABILITY, else `mixed`
/// for dogs and cats and `unknown` for the others.
pub fn breed(probabilities: &[f32], classes: &[String], group: Group) -> String {
    let best = ranked(probabilities)
        .into_iter()
        .find(|&i| taxonomy::group(i) == Some(group));
    match best {
        Some(i) if probabilities[i] >= BREED_PROBABILITY => classes[i].clone(),
        _ if group.has_breeds() => "mixed".to_string(),
        _ => "unknown".to_string(),
    }
}

/// The personality: per dimension `PRIOR_WEIGHT · prior + (1 − PRIOR_WEIGHT) · photo`, where the
/// prior mixes the families' offsets by their share of the animal probability.
pub fn personality(probabilities: &[f32], stats: &PhotoStats) -> Personality {
    let photo = traits::personality(stats);
    let mut prior = [0.0f64; DIMENSION_COUNT];
    let animal_mass: f64 = (0..probabilities.len())
        .filter(|&i| taxonomy::group(i).is_some())
        .map(|i| f64::from(probabilities[i]))
        .sum();
    if animal_mass > 0.0 {
        for (i, &p) in probabilities.iter().enumerate() {
            if taxonomy::group(i).is_none() || p <= 0.0 {
                continue;
            }
            let share = f64::from(p) / animal_mass;
            for (name, offset) in priors::offsets(taxonomy::family(i)) {
                if let Some(d) = index_of(name) {
                    prior[d] += share * f64::from(*offset);
                }
            }
        }
    }
    let mut scores = [0.0f64; DIMENSION_COUNT];
    for (d, score) in scores.iter_mut().enumerate() {
        let measured = f64::from(photo.scores()[d]);
        *score =
            (PRIOR_WEIGHT * (50.0 + prior[d]) + (1.0 - PRIOR_WEIGHT) * measured).clamp(0.0, 100.0);
    }
    Personality::from_f64(&scores)
}

/// The top classes as alternatives.
pub fn alternatives(probabilities: &[f32], classes: &[String]) -> Vec<Alternative> {
    ranked(probabilities)
        .into_iter()
        .take(ALTERNATIVES)
        .map(|i| Alternative {
            label: classes[i].clone(),
            species: taxonomy::group(i).map(|g| g.as_str().to_string()),
            probability: round3(probabilities[i]),
        })
        .collect()
}

pub fn round3(p: f32) -> f64 {
    (f64::from(p) * 1000.0).round() / 1000.0
}

pub struct Inputs<'a> {
    pub probabilities: &'a [f32],
    pub classes: &'a [String],
    pub stats: &'a PhotoStats,
    pub group: Group,
    pub confidence: f32,
    pub model: &'a str,
}

pub fn analysis(inputs: Inputs<'_>) -> PetAnalysis {
    let Inputs {
        probabilities,
        classes,
        stats,
        group,
        confidence,
        model,
    } = inputs;
    let personality = personality(probabilities, stats);
    let breed = breed(probabilities, classes, group);
    let [first, second, _] = personality.dominant();
    let subject = if breed == "mixed" || breed == "unknown" {
        group.as_str().replace('_', " ")
    } else {
        breed.clone()
    };
    let tone = if stats.warmth > 0.55 { "warm" } else { "cool" };
    PetAnalysis {
        species: group.as_str().to_string(),
        breed,
        expression: traits::expression(stats).to_string(),
        posture: traits::posture(stats).to_string(),
        dominant_traits: personality.dominant(),
        vibe: format!(
            "a {tone}-toned {subject}, all {} and {}",
            traits::humanise(&first),
            traits::humanise(&second)
        ),
        personality,
        palette: stats
            .palette
            .iter()
            .map(|c| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]))
            .collect(),
        model: model.to_string(),
        confidence: Some(round3(confidence)),
        alternatives: alternatives(probabilities, classes),
    }
}
