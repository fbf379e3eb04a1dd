//! The tools the models are forced to call: one per stage, whose JSON input schema is the stage's
//! output type (without the `model` field, which the adapter fills in). Parsing a tool input is
//! strict — the same rules the schema states, checked again here, because a schema is advice to
//! the model and not a guarantee. A failed parse yields the message sent back to the model in
//! the repair attempt.

use serde::Deserialize;
use serde_json::{Value, json};
use steps::ports::NonPetSubject;
use steps::{
    CareerProfile, DIMENSIONS, IdentityDraft, Personality, PetAnalysis, Seniority, Trajectory,
};

/// A tool the model must call.
#[derive(Debug, Clone)]
pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: Value,
}

fn dimension_names() -> Vec<&'static str> {
    DIMENSIONS.iter().map(|(name, _)| *name).collect()
}

fn text(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "description": description})
}

// ---------------------------------------------------------------------------------------------
// Vision: the pet analysis, or why the photo is not of a pet.

pub const VISION_TOOL: &str = "record_pet_analysis";

pub fn vision_tool() -> ToolDef {
    let personality: serde_json::Map<String, Value> = dimension_names()
        .into_iter()
        .map(|name| {
            (
                name.to_owned(),
                json!({"type": "integer", "minimum": 0, "maximum": 100}),
            )
        })
        .collect();
    ToolDef {
        name: VISION_TOOL,
        description: "Record what the photo shows. If any person (or part of one) is visible, \
                      subject is \"person\"; if no animal is visible, subject is \"no_animal\"; \
                      only then leave out the other fields. Otherwise subject is \"pet\" and \
                      every field is required.",
        schema: json!({
            "type": "object",
            "properties": {
                "subject": {"type": "string", "enum": ["pet", "person", "no_animal"]},
                "reason": text("One sentence: what the photo shows that decided the subject."),
                "species": text("Lower-case common name: dog, cat, rabbit, …"),
                "breed": text("Breed, or \"mixed\" / \"unknown\"."),
                "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                               "description": "How sure you are of the species, 0–1."},
                "expression": text("The facial expression, e.g. \"alert and curious\"."),
                "posture": text("The body posture, e.g. \"sitting upright\"."),
                "personality": {
                    "type": "object",
                    "description": "Each of the 47 dimensions scored 0–100 from what the photo shows.",
                    "properties": personality,
                    "required": dimension_names(),
                    "additionalProperties": false
                },
                "dominant_traits": {
                    "type": "array",
                    "description": "The three highest-scoring dimensions, highest first.",
                    "items": {"type": "string", "enum": dimension_names()},
                    "minItems": 3, "maxItems": 3, "uniqueItems": true
                },
                "vibe": text("A short phrase summing up the pet."),
                "palette": {
                    "type": "array",
                    "description": "The pet's main colours, most prominent first.",
                    "items": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                    "minItems": 1, "maxItems": 5
                }
            },
            "required": ["subject", "reason"],
            "additionalProperties": false
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Subject {
    Pet,
    Person,
    NoAnimal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VisionInput {
    subject: Subject,
    reason: String,
    species: Option<String>,
    breed: Option<String>,
    #[serde(default)]
    confidence: Option<f64>,
    expression: Option<String>,
    posture: Option<String>,
    personality: Option<Personality>,
    dominant_traits: Option<Vec<String>>,
    vibe: Option<String>,
    palette: Option<Vec<String>>,
}

/// What the vision tool call said.
#[derive(Debug, Clone, PartialEq)]
pub enum VisionOutcome {
    Pet(Box<PetAnalysis>),
    NotAPet {
        subject: NonPetSubject,
        reason: String,
    },
}

pub fn parse_vision(input: &Value, model: &str) -> Result<VisionOutcome, String> {
    let parsed: VisionInput = from_input(input)?;
    let reason = non_empty("reason", parsed.reason)?;
    match parsed.subject {
        Subject::Person => {
            return Ok(VisionOutcome::NotAPet {
                subject: NonPetSubject::Person,
                reason,
            });
        }
        Subject::NoAnimal => {
            return Ok(VisionOutcome::NotAPet {
                subject: NonPetSubject::NoAnimal,
                reason,
            });
        }
        Subject::Pet => {}
    }
    let required = |name: &str, v: Option<String>| {
        v.ok_or_else(|| format!("{name} is required when subject is \"pet\""))
            .and_then(|v| non_empty(name, v))
    };
    let personality = parsed
        .personality
        .ok_or("personality is required when subject is \"pet\"")?;
    let dominant = parsed
        .dominant_traits
        .ok_or("dominant_traits is required when subject is \"pet\"")?;
    let dominant_traits: [String; 3] = dominant.try_into().map_err(|v: Vec<String>| {
        format!(
            "dominant_traits must list exactly 3 dimensions, not {}",
            v.len()
        )
    })?;
    for name in &dominant_traits {
        if personality.get(name).is_none() {
            return Err(format!(
                "dominant trait {name:?} is not one of the 47 dimensions"
            ));
        }
    }
    if dominant_traits[0] == dominant_traits[1]
        || dominant_traits[1] == dominant_traits[2]
        || dominant_traits[0] == dominant_traits[2]
    {
        return Err("dominant_traits must be three different dimensions".into());
    }
    let palette = parsed
        .palette
        .ok_or("palette is required when subject is \"pet\"")?;
    if palette.is_empty() || palette.len() > 5 || !palette.iter().all(|c| is_hex_colour(c)) {
        return Err(format!(
            "palette must hold 1–5 colours like \"#a0522d\", got {palette:?}"
        ));
    }
    Ok(VisionOutcome::Pet(Box::new(PetAnalysis {
        species: required("species", parsed.species)?.to_lowercase(),
        breed: required("breed", parsed.breed)?,
        expression: required("expression", parsed.expression)?,
        posture: required("posture", parsed.posture)?,
        personality,
        dominant_traits,
        vibe: required("vibe", parsed.vibe)?,
        palette: palette.into_iter().map(|c| c.to_lowercase()).collect(),
        model: model.to_owned(),
        confidence: parsed.confidence.map(|c| c.clamp(0.0, 1.0)),
        alternatives: Vec::new(),
    })))
}

fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------------
// Text: the career profile.

pub const CAREER_TOOL: &str = "record_career_profile";

pub fn career_tool() -> ToolDef {
    ToolDef {
        name: CAREER_TOOL,
        description: "Record the human career that best matches the pet's personality.",
        schema: json!({
            "type": "object",
            "properties": {
                "job_title": text("A real job title, e.g. \"Head of Security Operations\"."),
                "seniority": {"type": "string", "enum": Seniority::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()},
                "industry": text("The industry of the role."),
                "work_style": text("How this person works, in a short phrase."),
                "attire": text("What they wear in a professional portrait, e.g. \"navy suit\"."),
                "background": text("The scene behind them, e.g. \"corner office\"."),
                "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "How well the role fits, 0–1."},
                "key_traits": {
                    "type": "array",
                    "description": "3–5 personality dimensions the role draws on most.",
                    "items": {"type": "string", "enum": dimension_names()},
                    "minItems": 3, "maxItems": 5, "uniqueItems": true
                }
            },
            "required": ["job_title", "seniority", "industry", "work_style", "attire", "background", "confidence", "key_traits"],
            "additionalProperties": false
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CareerInput {
    job_title: String,
    seniority: Seniority,
    industry: String,
    work_style: String,
    attire: String,
    background: String,
    confidence: f64,
    key_traits: Vec<String>,
}

pub fn parse_career(input: &Value, model: &str) -> Result<CareerProfile, String> {
    let parsed: CareerInput = from_input(input)?;
    if !(0.0..=1.0).contains(&parsed.confidence) {
        return Err(format!(
            "confidence must be within 0–1, not {}",
            parsed.confidence
        ));
    }
    check_traits("key_traits", &parsed.key_traits, 3, 5)?;
    Ok(CareerProfile {
        job_title: non_empty("job_title", parsed.job_title)?,
        seniority: parsed.seniority,
        industry: non_empty("industry", parsed.industry)?,
        work_style: non_empty("work_style", parsed.work_style)?,
        attire: non_empty("attire", parsed.attire)?,
        background: non_empty("background", parsed.background)?,
        confidence: parsed.confidence,
        key_traits: parsed.key_traits,
        model: model.to_owned(),
    })
}

fn check_traits(field: &str, traits: &[String], min: usize, max: usize) -> Result<(), String> {
    if !(min..=max).contains(&traits.len()) {
        return Err(format!(
            "{field} must list {min}–{max} dimensions, not {}",
            traits.len()
        ));
    }
    let known = dimension_names();
    if let Some(unknown) = traits.iter().find(|t| !known.contains(&t.as_str())) {
        return Err(format!(
            "{field}: {unknown:?} is not one of the 47 dimensions"
        ));
    }
    let mut sorted: Vec<&String> = traits.iter().collect();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != traits.len() {
        return Err(format!("{field} must not repeat a dimension"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Text: the identity (WriteIdentity adds the similarity score itself).

pub const IDENTITY_TOOL: &str = "record_identity";

pub fn identity_tool() -> ToolDef {
    ToolDef {
        name: IDENTITY_TOOL,
        description: "Record the professional identity of the human version of the pet.",
        schema: json!({
            "type": "object",
            "properties": {
                "name": text("A plausible full human name that nods to the pet."),
                "bio": {
                    "type": "array",
                    "description": "Exactly three paragraphs, third person, no blank lines inside a paragraph.",
                    "items": {"type": "string", "minLength": 1},
                    "minItems": 3, "maxItems": 3
                },
                "skills": {
                    "type": "array",
                    "description": "5–10 distinct professional skills.",
                    "items": {"type": "string", "minLength": 1},
                    "minItems": 5, "maxItems": 10, "uniqueItems": true
                },
                "trajectory": {
                    "type": "object",
                    "properties": {
                        "past": text("Where the career started."),
                        "present": text("The role today."),
                        "future": text("Where it is heading.")
                    },
                    "required": ["past", "present", "future"],
                    "additionalProperties": false
                }
            },
            "required": ["name", "bio", "skills", "trajectory"],
            "additionalProperties": false
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityInput {
    name: String,
    bio: Vec<String>,
    skills: Vec<String>,
    trajectory: TrajectoryInput,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrajectoryInput {
    past: String,
    present: String,
    future: String,
}

pub fn parse_identity(input: &Value, model: &str) -> Result<IdentityDraft, String> {
    let parsed: IdentityInput = from_input(input)?;
    let bio: [String; 3] = parsed
        .bio
        .try_into()
        .map_err(|v: Vec<String>| format!("bio must be exactly 3 paragraphs, not {}", v.len()))?;
    let draft = IdentityDraft {
        name: parsed.name,
        bio,
        skills: parsed.skills,
        trajectory: Trajectory {
            past: parsed.trajectory.past,
            present: parsed.trajectory.present,
            future: parsed.trajectory.future,
        },
        model: model.to_owned(),
    };
    // The stage applies the same rules; checking here lets the model repair its answer.
    steps::write_identity::check_draft(&draft).map_err(|e| e.message())?;
    Ok(draft)
}

// ---------------------------------------------------------------------------------------------

fn from_input<T: serde::de::DeserializeOwned>(input: &Value) -> Result<T, String> {
    serde_json::from_value(input.clone())
        .map_err(|e| format!("the tool input does not match the schema: {e}"))
}

fn non_empty(field: &str, value: String) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(trimmed.to_owned())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn pet_input() -> Value {
        let personality: serde_json::Map<String, Value> = DIMENSIONS
            .iter()
            .enumerate()
            .map(|(i, (name, _))| ((*name).to_owned(), json!((i * 2) % 101)))
            .collect();
        json!({
            "subject": "pet",
            "reason": "a dog sits on grass",
            "species": "Dog",
            "breed": "border collie",
            "expression": "alert",
            "posture": "sitting",
            "personality": personality,
            "dominant_traits": ["elegance", "mischief", "stubbornness"],
            "vibe": "focused herder",
            "palette": ["#1A1A1A", "#ffffff"]
        })
    }

    pub fn career_input() -> Value {
        json!({
            "job_title": "Operations Director", "seniority": "senior", "industry": "logistics",
            "work_style": "hands-on", "attire": "navy suit", "background": "warehouse office",
            "confidence": 0.8, "key_traits": ["focus", "leadership", "energy"]
        })
    }

    pub fn identity_input() -> Value {
        json!({
            "name": "Rex Collins",
            "bio": ["One.", "Two.", "Three."],
            "skills": ["herding", "planning", "logistics", "safety", "coaching"],
            "trajectory": {"past": "farm", "present": "director", "future": "COO"}
        })
    }

    #[test]
    fn a_valid_pet_analysis_parses() {
        let VisionOutcome::Pet(analysis) = parse_vision(&pet_input(), "bedrock:m").unwrap() else {
            panic!("expected a pet");
        };
        assert_eq!(analysis.species, "dog");
        assert_eq!(analysis.palette, ["#1a1a1a", "#ffffff"]);
        assert_eq!(analysis.model, "bedrock:m");
    }

    #[test]
    fn people_and_empty_photos_are_not_pets() {
        let person = json!({"subject": "person", "reason": "a man holds a cat"});
        assert!(matches!(
            parse_vision(&person, "m"),
            Ok(VisionOutcome::NotAPet {
                subject: NonPetSubject::Person,
                ..
            })
        ));
        let nothing = json!({"subject": "no_animal", "reason": "a landscape"});
        assert!(matches!(
            parse_vision(&nothing, "m"),
            Ok(VisionOutcome::NotAPet {
                subject: NonPetSubject::NoAnimal,
                ..
            })
        ));
    }

    #[test]
    fn broken_analyses_are_refused_with_a_reason() {
        let mut missing = pet_input();
        missing["personality"]
            .as_object_mut()
            .unwrap()
            .remove("wit");
        assert!(parse_vision(&missing, "m").unwrap_err().contains("wit"));

        let mut out_of_range = pet_input();
        out_of_range["personality"]["energy"] = json!(140);
        assert!(parse_vision(&out_of_range, "m").is_err());

        let mut two = pet_input();
        two["dominant_traits"] = json!(["energy", "focus"]);
        assert!(parse_vision(&two, "m").unwrap_err().contains("exactly 3"));

        let mut extra = pet_input();
        extra["mood"] = json!("happy");
        assert!(parse_vision(&extra, "m").unwrap_err().contains("mood"));

        let mut no_species = pet_input();
        no_species.as_object_mut().unwrap().remove("species");
        assert!(
            parse_vision(&no_species, "m")
                .unwrap_err()
                .contains("species")
        );
    }

    #[test]
    fn careers_and_identities_parse_and_are_checked() {
        assert_eq!(
            parse_career(&career_input(), "m").unwrap().seniority,
            Seniority::Senior
        );
        let mut bad = career_input();
        bad["seniority"] = json!("intern");
        assert!(parse_career(&bad, "m").is_err());
        let mut bad = career_input();
        bad["confidence"] = json!(1.5);
        assert!(parse_career(&bad, "m").is_err());

        assert_eq!(
            parse_identity(&identity_input(), "m").unwrap().name,
            "Rex Collins"
        );
        let mut bad = identity_input();
        bad["skills"] = json!(["a", "b"]);
        assert!(parse_identity(&bad, "m").unwrap_err().contains("skills"));
    }

    #[test]
    fn schemas_require_what_the_parsers_require() {
        let vision = vision_tool().schema;
        assert_eq!(
            vision["properties"]["personality"]["required"]
                .as_array()
                .unwrap()
                .len(),
            47
        );
        let career = career_tool().schema;
        assert_eq!(career["required"].as_array().unwrap().len(), 8);
        assert_eq!(
            career["properties"]["seniority"]["enum"],
            json!(["entry-level", "mid-level", "senior", "executive"])
        );
    }
}
