//! The 47 personality dimensions and the `Personality` value (exactly 47 scores, each 0–100).
//!
//! JSON shape: an object with exactly the 47 names below as keys, in this order, each an
//! integer 0–100. Deserialising anything else (a missing or unknown name, a value > 100) fails,
//! so a model that returns a malformed analysis is caught at the boundary.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of personality dimensions.
pub const DIMENSION_COUNT: usize = 47;

/// A group of related dimensions (used for the "same family" half-credit in the similarity score).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Energy,
    Social,
    Composure,
    Drive,
    Intellect,
    Diligence,
    Temperament,
}

/// The 47 dimensions, each with its family.
pub const DIMENSIONS: [(&str, Family); DIMENSION_COUNT] = [
    // Energy (7)
    ("energy", Family::Energy),
    ("playfulness", Family::Energy),
    ("curiosity", Family::Energy),
    ("adventurousness", Family::Energy),
    ("spontaneity", Family::Energy),
    ("restlessness", Family::Energy),
    ("enthusiasm", Family::Energy),
    // Social (7)
    ("sociability", Family::Social),
    ("friendliness", Family::Social),
    ("affection", Family::Social),
    ("empathy", Family::Social),
    ("loyalty", Family::Social),
    ("charisma", Family::Social),
    ("humor", Family::Social),
    // Composure (7)
    ("calmness", Family::Composure),
    ("patience", Family::Composure),
    ("serenity", Family::Composure),
    ("resilience", Family::Composure),
    ("adaptability", Family::Composure),
    ("gentleness", Family::Composure),
    ("contentment", Family::Composure),
    // Drive (7)
    ("ambition", Family::Drive),
    ("confidence", Family::Drive),
    ("assertiveness", Family::Drive),
    ("independence", Family::Drive),
    ("determination", Family::Drive),
    ("competitiveness", Family::Drive),
    ("leadership", Family::Drive),
    // Intellect (7)
    ("intelligence", Family::Intellect),
    ("focus", Family::Intellect),
    ("creativity", Family::Intellect),
    ("analytical_thinking", Family::Intellect),
    ("imagination", Family::Intellect),
    ("wisdom", Family::Intellect),
    ("wit", Family::Intellect),
    // Diligence (6)
    ("discipline", Family::Diligence),
    ("reliability", Family::Diligence),
    ("organization", Family::Diligence),
    ("attention_to_detail", Family::Diligence),
    ("diligence", Family::Diligence),
    ("punctuality", Family::Diligence),
    // Temperament (6)
    ("alertness", Family::Temperament),
    ("caution", Family::Temperament),
    ("sensitivity", Family::Temperament),
    ("stubbornness", Family::Temperament),
    ("mischief", Family::Temperament),
    ("elegance", Family::Temperament),
];

/// Index of a dimension by name.
pub fn index_of(name: &str) -> Option<usize> {
    DIMENSIONS.iter().position(|(n, _)| *n == name)
}

/// Family of a dimension by name.
pub fn family_of(name: &str) -> Option<Family> {
    DIMENSIONS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Exactly 47 scores, each 0–100, in `DIMENSIONS` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Personality {
    scores: [u8; DIMENSION_COUNT],
}

/// A score outside 0–100 or a malformed set of dimensions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalityError {
    #[error("personality dimension {name} is {value}, outside 0–100")]
    OutOfRange { name: String, value: i64 },
    #[error("unknown personality dimension {0}")]
    Unknown(String),
    #[error("personality dimension {0} given twice")]
    Duplicate(String),
    #[error("personality dimension {0} missing")]
    Missing(String),
}

impl Personality {
    /// Scores in `DIMENSIONS` order; each is clamped to 0–100.
    pub fn from_scores(scores: [u8; DIMENSION_COUNT]) -> Self {
        Personality {
            scores: scores.map(|s| s.min(100)),
        }
    }

    /// Build from floating-point scores, rounding and clamping each to 0–100.
    pub fn from_f64(scores: &[f64; DIMENSION_COUNT]) -> Self {
        Personality {
            scores: scores.map(|s| s.round().clamp(0.0, 100.0) as u8),
        }
    }

    pub fn scores(&self) -> &[u8; DIMENSION_COUNT] {
        &self.scores
    }

    pub fn get(&self, name: &str) -> Option<u8> {
        index_of(name).map(|i| self.scores[i])
    }

    /// `(name, score)` pairs in `DIMENSIONS` order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u8)> + '_ {
        DIMENSIONS
            .iter()
            .zip(self.scores.iter())
            .map(|((n, _), s)| (*n, *s))
    }

    /// The three highest dimensions, highest first; ties keep `DIMENSIONS` order.
    pub fn dominant(&self) -> [String; 3] {
        let mut ranked: Vec<(usize, u8)> = self.scores.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        [0, 1, 2].map(|k| DIMENSIONS[ranked[k].0].0.to_string())
    }

    /// Mean score of a family (0–100).
    pub fn family_mean(&self, family: Family) -> f64 {
        let (sum, n) = self
            .iter()
            .filter(|(name, _)| family_of(name) == Some(family))
            .fold((0.0, 0.0), |(s, n), (_, v)| (s + f64::from(v), n + 1.0));
        if n == 0.0 { 0.0 } else { sum / n }
    }

    /// The "leadership score" used for seniority: mean of confidence, assertiveness, leadership,
    /// independence, ambition and wisdom.
    pub fn leadership_score(&self) -> f64 {
        const NAMES: [&str; 6] = [
            "confidence",
            "assertiveness",
            "leadership",
            "independence",
            "ambition",
            "wisdom",
        ];
        let sum: f64 = NAMES
            .iter()
            .filter_map(|n| self.get(n))
            .map(f64::from)
            .sum();
        sum / NAMES.len() as f64
    }

    /// The score seniority is read from (0–100, bands of 25): how far the leadership traits
    /// stand above or below the pet's own average, spread around 50. Measured traits cluster
    /// in the middle of the scale, so the raw leadership mean put almost every pet in one
    /// band; a pet's leadership relative to itself spreads over all four.
    pub fn seniority_score(&self) -> f64 {
        let mean = self.scores.iter().map(|&s| f64::from(s)).sum::<f64>() / DIMENSION_COUNT as f64;
        (50.0 + SENIORITY_SPREAD * (self.leadership_score() - mean)).clamp(0.0, 100.0)
    }
}

/// How many seniority points one point of leadership above the pet's own mean is worth
/// (calibrated on the evaluation photos and the property tests' spread; see steps/README.md).
pub const SENIORITY_SPREAD: f64 = 3.0;

impl Serialize for Personality {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(DIMENSION_COUNT))?;
        for (name, score) in self.iter() {
            map.serialize_entry(name, &score)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Personality {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PersonalityVisitor)
    }
}

struct PersonalityVisitor;

impl<'de> Visitor<'de> for PersonalityVisitor {
    type Value = Personality;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "an object with exactly the {DIMENSION_COUNT} personality dimensions, each 0–100"
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Personality, A::Error> {
        let mut scores: [Option<u8>; DIMENSION_COUNT] = [None; DIMENSION_COUNT];
        while let Some(name) = map.next_key::<String>()? {
            let value: f64 = map.next_value()?;
            let index = index_of(&name)
                .ok_or_else(|| de::Error::custom(PersonalityError::Unknown(name.clone())))?;
            if !(0.0..=100.0).contains(&value) {
                return Err(de::Error::custom(PersonalityError::OutOfRange {
                    name,
                    value: value as i64,
                }));
            }
            if scores[index].replace(value.round() as u8).is_some() {
                return Err(de::Error::custom(PersonalityError::Duplicate(name)));
            }
        }
        let mut out = [0u8; DIMENSION_COUNT];
        for (i, slot) in scores.iter().enumerate() {
            out[i] = slot.ok_or_else(|| {
                de::Error::custom(PersonalityError::Missing(DIMENSIONS[i].0.to_string()))
            })?;
        }
        Ok(Personality { scores: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = DIMENSIONS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DIMENSION_COUNT);
    }

    #[test]
    fn round_trips_through_json() {
        let mut scores = [0u8; DIMENSION_COUNT];
        for (i, s) in scores.iter_mut().enumerate() {
            *s = (i * 2) as u8;
        }
        let p = Personality::from_scores(scores);
        let json = serde_json::to_value(p).unwrap_or_default();
        assert_eq!(json.as_object().map(|o| o.len()), Some(DIMENSION_COUNT));
        let back: Personality =
            serde_json::from_value(json).unwrap_or(Personality::from_scores([0; DIMENSION_COUNT]));
        assert_eq!(back, p);
    }

    #[test]
    fn rejects_missing_unknown_and_out_of_range() {
        let p = Personality::from_scores([50; DIMENSION_COUNT]);
        let mut json = serde_json::to_value(p).unwrap_or_default();
        let obj = json.as_object_mut().map(|o| {
            o.remove("wit");
        });
        assert!(obj.is_some());
        assert!(serde_json::from_value::<Personality>(json.clone()).is_err());
        json["wit"] = 101.into();
        assert!(serde_json::from_value::<Personality>(json.clone()).is_err());
        json["wit"] = 10.into();
        assert!(serde_json::from_value::<Personality>(json.clone()).is_ok());
        json["charm"] = 10.into();
        assert!(serde_json::from_value::<Personality>(json).is_err());
    }

    #[test]
    fn dominant_is_top_three() {
        let mut scores = [10u8; DIMENSION_COUNT];
        scores[5] = 90;
        scores[40] = 95;
        scores[20] = 80;
        let p = Personality::from_scores(scores);
        assert_eq!(
            p.dominant(),
            [
                DIMENSIONS[40].0.to_string(),
                DIMENSIONS[5].0.to_string(),
                DIMENSIONS[20].0.to_string()
            ]
        );
    }
}
