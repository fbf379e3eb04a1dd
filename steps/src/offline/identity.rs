//! The identity from templates: a species-appropriate name, a three-paragraph bio, skills and a
//! trajectory. Choices among equivalent templates are made by a hash of the job id, so one job
//! always reads the same and two jobs on the same photo may differ in wording, never in facts.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::careers::{self, Career};
use super::traits::humanise;
use crate::domain::{CareerProfile, IdentityDraft, PetAnalysis, Seniority, Trajectory};
use crate::personality::{Family, family_of};

/// A deterministic chooser seeded by the job id and a purpose label.
pub struct Chooser {
    seed: [u8; 32],
}

impl Chooser {
    pub fn new(job_id: Uuid) -> Self {
        Chooser {
            seed: Sha256::digest(job_id.as_bytes()).into(),
        }
    }

    pub fn pick<'a, T>(&self, purpose: &str, options: &'a [T]) -> &'a T {
        let digest = Sha256::new()
            .chain_update(self.seed)
            .chain_update(purpose.as_bytes())
            .finalize();
        let n = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]);
        &options[(n % options.len().max(1) as u64) as usize]
    }
}

struct NameBook {
    first: &'static [&'static str],
    last: &'static [&'static str],
}

fn name_book(species: &str) -> NameBook {
    match species {
        "cat" | "kitten" => NameBook {
            first: &[
                "Oliver", "Cleo", "Felix", "Luna", "Oscar", "Mia", "Simon", "Nala", "Jasper",
                "Willow",
            ],
            last: &[
                "Whiskerton",
                "Purrington",
                "Mewsworth",
                "Tabbyfield",
                "Clawson",
                "Pawley",
                "Fluffington",
            ],
        },
        "dog" | "puppy" => NameBook {
            first: &[
                "Max", "Bella", "Cooper", "Daisy", "Rex", "Rosie", "Buddy", "Maple", "Archie",
                "Penny",
            ],
            last: &[
                "Barkley",
                "Woofington",
                "Fetcherson",
                "Wagstaff",
                "Houndsworth",
                "Pawlson",
                "Boneham",
            ],
        },
        "rabbit" | "bunny" => NameBook {
            first: &["Hazel", "Clover", "Benjamin", "Thumper", "Poppy", "Basil"],
            last: &["Hopkins", "Burrowes", "Cottontail", "Warrender", "Leapwood"],
        },
        "bird" | "parrot" | "budgie" | "canary" => NameBook {
            first: &["Kiwi", "Sunny", "Pip", "Rio", "Skye", "Robin"],
            last: &[
                "Featherstone",
                "Wingfield",
                "Nestor",
                "Plumage",
                "Chirpington",
            ],
        },
        "hamster" | "guinea pig" | "mouse" | "rat" => NameBook {
            first: &["Peanut", "Biscuit", "Nibbles", "Hazel", "Pepper", "Chester"],
            last: &[
                "Whiskers",
                "Seedworth",
                "Cheekly",
                "Burrowfield",
                "Nibbleton",
            ],
        },
        "horse" | "pony" => NameBook {
            first: &["Duke", "Bella", "Spirit", "Maverick", "Willow", "Storm"],
            last: &["Galloway", "Stablesworth", "Hayward", "Trotman", "Mane"],
        },
        _ => NameBook {
            first: &[
                "Alex", "Sam", "Jordan", "Robin", "Charlie", "Morgan", "Riley", "Taylor",
            ],
            last: &[
                "Pawson",
                "Furman",
                "Tailor",
                "Snoutworth",
                "Whiskerby",
                "Paddington",
            ],
        },
    }
}

fn name(analysis: &PetAnalysis, chooser: &Chooser) -> String {
    let book = name_book(&analysis.species);
    format!(
        "{} {}",
        chooser.pick("first", book.first),
        chooser.pick("last", book.last)
    )
}

fn trait_phrase(name: &str) -> String {
    humanise(name)
}

/// The "origin" of a career path, by the family of the pet's top trait.
fn origin(family: Option<Family>) -> &'static str {
    match family {
        Some(Family::Energy) => "a childhood spent exploring every corner of the neighbourhood",
        Some(Family::Social) => "a knack for making friends in every room",
        Some(Family::Composure) => "an unshakeable calm that steadied everyone nearby",
        Some(Family::Drive) => "an early taste for taking charge",
        Some(Family::Intellect) => "endless questions and a habit of reading everything",
        Some(Family::Diligence) => "a love of order and of jobs done properly",
        Some(Family::Temperament) | None => "a watchful eye that missed nothing",
    }
}

fn previous_role(seniority: Seniority, career: &CareerProfile) -> String {
    match seniority {
        Seniority::EntryLevel => format!(
            "graduated top of the class and joined {} as an intern",
            career.industry.to_lowercase()
        ),
        Seniority::MidLevel => format!(
            "spent three years as a junior in {}",
            career.industry.to_lowercase()
        ),
        Seniority::Senior => format!(
            "worked up through {} roles over eight years",
            career.industry.to_lowercase()
        ),
        Seniority::Executive => format!(
            "led teams across {} for more than a decade",
            career.industry.to_lowercase()
        ),
    }
}

fn next_step(seniority: Seniority, career: &CareerProfile) -> String {
    match seniority {
        Seniority::EntryLevel => format!(
            "grow into a mid-level {} within two years",
            career.job_title
        ),
        Seniority::MidLevel => format!(
            "step up to senior {} and mentor newcomers",
            career.job_title
        ),
        Seniority::Senior => format!("lead a department in {}", career.industry.to_lowercase()),
        Seniority::Executive => format!(
            "found a company that redefines {}",
            career.industry.to_lowercase()
        ),
    }
}

/// Write the identity draft (the WriteIdentity stage adds the similarity score).
pub fn write(job_id: Uuid, analysis: &PetAnalysis, career: &CareerProfile) -> IdentityDraft {
    let chooser = Chooser::new(job_id);
    let name = name(analysis, &chooser);
    let first = name.split(' ').next().unwrap_or(&name).to_string();
    let [t1, t2, t3] = &analysis.dominant_traits;
    let (p1, p2, p3) = (trait_phrase(t1), trait_phrase(t2), trait_phrase(t3));
    let seniority = career.seniority;
    let article = if matches!(seniority, Seniority::EntryLevel | Seniority::Executive) {
        "an"
    } else {
        "a"
    };
    let species = if analysis.species == "unknown" {
        "pet".to_string()
    } else {
        analysis.species.clone()
    };
    let opener = chooser.pick("opener", &["is", "has become", "is known as"]);

    let bio = [
        format!(
            "{name} {opener} {article} {seniority} {title} in {industry}, admired for {p1}, {p2} and {p3}. \
             Colleagues describe {first}'s style as {style}; the vibe {first} brings to every meeting ({vibe}) is hard to miss.",
            title = career.job_title,
            industry = career.industry.to_lowercase(),
            style = career.work_style,
            vibe = analysis.vibe,
        ),
        format!(
            "It started with {origin}. {first} {past}, and learned early that {p1} opens doors that talent alone cannot. \
             Today {first} turns up in {attire}, ready for another day in {background}.",
            origin = origin(family_of(t1)),
            past = previous_role(seniority, career),
            attire = career.attire,
            background = career.background,
        ),
        format!(
            "Outside work, {first} stays true to {species} roots: a {expression} look, a {posture} pose for every photo, \
             and a soft spot for long naps in the sun. The next goal is to {next}, with {p2} leading the way.",
            expression = analysis.expression,
            posture = analysis
                .posture
                .split(',')
                .next()
                .unwrap_or(&analysis.posture),
            next = next_step(seniority, career),
        ),
    ];

    IdentityDraft {
        name,
        bio,
        skills: skills(analysis, career),
        trajectory: Trajectory {
            past: capitalise(&previous_role(seniority, career)),
            present: format!(
                "{} {} in {}",
                capitalise(seniority.as_str()),
                career.job_title,
                career.industry
            ),
            future: capitalise(&next_step(seniority, career)),
        },
        model: super::MODEL.to_string(),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// Soft skills named after the pet's three dominant traits, then the career's hard skills:
/// 5–10 distinct entries.
fn skills(analysis: &PetAnalysis, career: &CareerProfile) -> Vec<String> {
    let mut out: Vec<String> = analysis
        .dominant_traits
        .iter()
        .map(|t| soft_skill(t).to_string())
        .collect();
    let hard: Vec<&str> = careers::by_title(&career.job_title).map_or_else(
        || career.key_traits.iter().map(|t| soft_skill(t)).collect(),
        |c: &Career| c.skills.to_vec(),
    );
    for s in hard {
        if out.len() >= 8 {
            break;
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(s)) {
            out.push(s.to_string());
        }
    }
    for filler in [
        "Cross-team collaboration",
        "Clear writing",
        "Time management",
    ] {
        if out.len() >= 5 {
            break;
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(filler)) {
            out.push(filler.to_string());
        }
    }
    out
}

fn soft_skill(trait_name: &str) -> &'static str {
    match trait_name {
        "energy" => "High-energy execution",
        "playfulness" => "Playful ideation",
        "curiosity" => "Research and discovery",
        "adventurousness" => "Exploring new markets",
        "spontaneity" => "Improvisation",
        "restlessness" => "Rapid iteration",
        "enthusiasm" => "Team motivation",
        "sociability" => "Networking",
        "friendliness" => "Relationship building",
        "affection" => "Team morale",
        "empathy" => "Empathetic listening",
        "loyalty" => "Long-term partnerships",
        "charisma" => "Public speaking",
        "humor" => "Defusing tension",
        "calmness" => "Staying calm under pressure",
        "patience" => "Patient mentoring",
        "serenity" => "Mindful decision-making",
        "resilience" => "Bouncing back from setbacks",
        "adaptability" => "Change management",
        "gentleness" => "Tactful feedback",
        "contentment" => "Sustainable pacing",
        "ambition" => "Goal setting",
        "confidence" => "Executive presence",
        "assertiveness" => "Negotiation",
        "independence" => "Self-directed work",
        "determination" => "Seeing projects through",
        "competitiveness" => "Competitive analysis",
        "leadership" => "Team leadership",
        "intelligence" => "Complex problem solving",
        "focus" => "Deep work",
        "creativity" => "Creative direction",
        "analytical_thinking" => "Data analysis",
        "imagination" => "Vision setting",
        "wisdom" => "Sound judgement",
        "wit" => "Quick thinking",
        "discipline" => "Process discipline",
        "reliability" => "Dependable delivery",
        "organization" => "Project organisation",
        "attention_to_detail" => "Quality assurance",
        "diligence" => "Thorough documentation",
        "punctuality" => "Deadline management",
        "alertness" => "Risk spotting",
        "caution" => "Risk management",
        "sensitivity" => "Reading the room",
        "stubbornness" => "Principled persistence",
        "mischief" => "Unconventional thinking",
        "elegance" => "Polished presentation",
        _ => "Adaptable problem solving",
    }
}
