//! The identity from templates: a name, a three-paragraph bio, skills and a trajectory.
//!
//! Every choice is made by the analysis, so the same photo gives the same person (the avatar is
//! drawn from the same analysis): the paragraph templates are picked by the pet's top trait
//! family, its career's family and its species, and among equivalent wordings by a hash of the
//! analysis. Each sentence carries at least two things of this pet (its name, its traits, its
//! career), so two different pets do not end up with the same sentences. Templates are plain
//! text with `{slot}`s; [`fill`] replaces them, capitalises the sentence start and fixes the
//! article before each slot (`a`/`an`, written `{a}` in the template).
//!
//! The grammar rules the output is held to are tested over the whole catalogue in this file
//! (`tests::grammar`).

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::careers::{self, Career, CareerFamily, Scene};
use super::traits::humanise;
use crate::domain::{CareerProfile, IdentityDraft, PetAnalysis, Seniority, Trajectory};
use crate::personality::{Family, family_of};

/// A deterministic chooser seeded by the analysis and a purpose label.
pub struct Chooser {
    seed: [u8; 32],
}

impl Chooser {
    /// Seeded by what the photo gave (species, breed, palette, the 47 scores), not by the job:
    /// the same photo gives the same identity, as it gives the same avatar.
    pub fn for_analysis(analysis: &PetAnalysis) -> Self {
        let seed = super::avatar::analysis_seed(analysis);
        Chooser {
            seed: Sha256::digest(seed.to_be_bytes()).into(),
        }
    }

    fn number(&self, purpose: &str) -> u64 {
        let digest = Sha256::new()
            .chain_update(self.seed)
            .chain_update(purpose.as_bytes())
            .finalize();
        u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ])
    }

    pub fn pick<'a, T>(&self, purpose: &str, options: &'a [T]) -> &'a T {
        &options[(self.number(purpose) % options.len().max(1) as u64) as usize]
    }

    /// A number in `lo..=hi`.
    fn between(&self, purpose: &str, lo: u64, hi: u64) -> u64 {
        lo + self.number(purpose) % (hi - lo + 1)
    }
}

// ---------------------------------------------------------------------------------------------
// Names

/// The first names of a species' book (any other species takes the shared last row).
pub fn first_names(species: &str) -> &'static [&'static str] {
    match species {
        "cat" | "kitten" => &[
            "Oliver", "Cleo", "Felix", "Luna", "Oscar", "Mia", "Simon", "Nala", "Jasper", "Willow",
            "Iris", "Milo", "Tabitha", "Leo", "Ivy", "Salem", "Margot", "Theo",
        ],
        "dog" | "puppy" => &[
            "Max", "Bella", "Cooper", "Daisy", "Rex", "Rosie", "Buddy", "Maple", "Archie", "Penny",
            "Murphy", "Ruby", "Winston", "Lola", "Baxter", "Hazel", "Duke", "Millie",
        ],
        "rabbit" | "bunny" => &[
            "Clover", "Benjamin", "Poppy", "Basil", "Flora", "Barnaby", "Juniper", "Otis",
            "Primrose", "Rupert", "Meadow", "Fern",
        ],
        "bird" | "parrot" | "budgie" | "canary" => &[
            "Kiwi", "Sunny", "Pip", "Rio", "Skye", "Robin", "Wren", "Jay", "Lark", "Phoenix",
            "Sterling", "Coral",
        ],
        "rodent" | "hamster" | "guinea pig" | "mouse" | "rat" => &[
            "Peanut", "Biscuit", "Pepper", "Chester", "Nutmeg", "Ginger", "Button", "Ziggy",
            "Toffee", "Mabel", "Gus", "Pippa",
        ],
        "horse" | "pony" => &[
            "Spirit", "Maverick", "Storm", "Bonnie", "Major", "Sable", "Ranger", "Dakota",
            "Copper", "Belle", "Shadow", "Blaze",
        ],
        "fish" => &[
            "Marina", "Finn", "Bubbles", "Neptune", "Pearl", "Kai", "Flynn", "Shelly", "Brook",
            "Rivers",
        ],
        "reptile" | "lizard" | "snake" | "turtle" => &[
            "Rocco", "Sheldon", "Jade", "Rex", "Onyx", "Gemma", "Basil", "Ziggy", "Sage", "Slate",
        ],
        _ => &[
            "Alex", "Sam", "Jordan", "Robin", "Charlie", "Morgan", "Riley", "Taylor", "Quinn",
            "Avery", "Rowan", "Jamie", "Casey", "Eden",
        ],
    }
}

const SURNAMES: &[&str] = &[
    "Ashworth",
    "Bennett",
    "Calloway",
    "Dunmore",
    "Ellery",
    "Fairweather",
    "Garland",
    "Hartley",
    "Ingram",
    "Jessop",
    "Kendrick",
    "Lockwood",
    "Marlowe",
    "Northcott",
    "Okafor",
    "Pennington",
    "Quayle",
    "Redfern",
    "Sinclair",
    "Thornbury",
    "Underwood",
    "Vance",
    "Whitlock",
    "Yardley",
    "Abernathy",
    "Castellano",
    "Delacroix",
    "Holloway",
    "Nakamura",
    "Osei",
    "Lindqvist",
    "Moreau",
    "Rasmussen",
    "Varga",
    "Achterberg",
    "Brightwater",
];

/// First name by species, surname from one shared book: never the same word twice, and never a
/// surname that starts with the first name ("Rex Rexford").
fn name(analysis: &PetAnalysis, chooser: &Chooser) -> (String, String) {
    let first = *chooser.pick("first", first_names(&analysis.species.to_lowercase()));
    let start = chooser.number("surname") as usize;
    let last = (0..SURNAMES.len())
        .map(|i| SURNAMES[(start + i) % SURNAMES.len()])
        .find(|s| !s.to_lowercase().starts_with(&first.to_lowercase()))
        .unwrap_or(SURNAMES[0]);
    (first.to_string(), last.to_string())
}

// ---------------------------------------------------------------------------------------------
// Templates

/// Replaces each `{slot}` with its value. `{a}` before a slot becomes "a" or "an" for the word
/// that follows; the first letter of the text is upper-cased. A slot with no value is left as
/// it is (the grammar test refuses any `{`).
pub fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let key = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if key == "a" {
            // The article is decided by what follows, once that is filled in.
            let following = fill(rest.trim_start(), slots);
            out.push_str(article_for(&following));
            continue;
        }
        match slots.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => out.push_str(value),
            None => {
                out.push('{');
                out.push_str(key);
                out.push('}');
            }
        }
    }
    out.push_str(rest);
    capitalise(&out)
}

/// "a" or "an" for the start of `text`, by sound for the few spellings that mislead.
pub fn article_for(text: &str) -> &'static str {
    let word = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .to_lowercase();
    const AN_CONSONANT: [&str; 4] = ["hour", "honest", "honour", "heir"];
    const A_VOWEL: [&str; 6] = ["uni", "use", "usu", "eu", "one", "ux"];
    if AN_CONSONANT.iter().any(|p| word.starts_with(p)) {
        return "an";
    }
    // "UX" is read "you-ex": "a UX designer".
    if A_VOWEL.iter().any(|p| word.starts_with(p)) {
        return "a";
    }
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().collect::<String>() + chars.as_str()
    })
}

const NUMBER_WORDS: [&str; 26] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "twenty-one",
    "twenty-two",
    "twenty-three",
    "twenty-four",
    "twenty-five",
];

/// Paragraph one: who they are now (an introduction, then how they work).
const INTRODUCTIONS: &[&str] = &[
    "{Name} is {a} {role} {in_industry}, admired for {p1}, {p2} and {p3}.",
    "{Name} works as {a} {role} {in_industry}, where {p1} and {p2} count for a great deal.",
    "As {a} {role} {in_industry}, {Name} has made {p1} and {p2} a trademark.",
    "Few people {in_industry} pair {p1} with {p2} the way {Name}, {a} {role}, does.",
];

const STYLES: &[&str] = &[
    "Colleagues describe {first}'s style as {style}, with a streak of {p3} that shows in {work}.",
    "Ask the team and they will call {first} {style}; the {p3} comes through in {work}.",
    "{first}'s way of working is {style}, and it leaves a clear mark of {p3} on {work}.",
    "People who work with {first} find the approach {style}, and they notice the {p3} in {work}.",
];

/// Paragraph two, first sentence: where it started, by the family of the pet's top trait.
fn origin(family: Option<Family>) -> &'static str {
    match family {
        Some(Family::Energy) => "a restless urge to explore every corner of the neighbourhood",
        Some(Family::Social) => "a knack for making friends in every room",
        Some(Family::Composure) => "an unshakeable calm that steadied everyone nearby",
        Some(Family::Drive) => "an early taste for taking charge",
        Some(Family::Intellect) => "endless questions and a habit of reading everything",
        Some(Family::Diligence) => "a love of order and of jobs done properly",
        Some(Family::Temperament) | None => "a watchful eye that missed nothing",
    }
}

const ORIGINS: &[&str] = &[
    "{first}'s story started with {origin}, and {p1} grew out of it.",
    "Long before any job title, {first} had {origin}; {p1} came naturally after that.",
    "Anyone who knew {first} early on remembers {origin}, and the {p1} that went with it.",
];

/// Paragraph two, second sentence: the road so far, by seniority.
fn past_templates(seniority: Seniority) -> &'static [&'static str] {
    match seniority {
        Seniority::EntryLevel => &[
            "{first} joined {place} straight from {school} and already stands out for {p2}.",
            "Fresh from {school}, {first} started at {place} as {a} {early_role}, and {p2} got noticed within weeks.",
            "{first} came to {place} as {a} {early_role} only last year, with {p2} as the best reference.",
        ],
        Seniority::MidLevel => &[
            "After {years} years at {place}, {first} learned that {p2} opens doors that talent alone cannot.",
            "{first} spent {years} years as {a} {early_role} at {place}, and those years sharpened {first}'s {p2}.",
            "{years} years in the field, the first of them as {a} {early_role} at {place}, taught {first} to trust {p2}.",
        ],
        Seniority::Senior => &[
            "{first} has spent {years} years {in_industry}, rising from {early_role} at {place} to {a} {title}.",
            "Over {years} years, {first} went from {early_role} at {place} to one of the most trusted names {in_industry}, on the strength of {p2}.",
            "{years} years of hard work have given {first} a reputation for {p2}, first at {place} and now as {a} {title}.",
        ],
        Seniority::Executive => &[
            "{first} has led teams {in_industry} for more than {years} years, after starting out as {a} {early_role} at {place}.",
            "Over {years} years, {first} went from {early_role} at {place} to running the show, and {p2} never left the job description.",
            "{years} years after starting as {a} {early_role} at {place}, {first} now sets the direction that others {in_industry} follow, with {p2} at its heart.",
        ],
    }
}

/// The years behind each seniority.
fn years(seniority: Seniority, chooser: &Chooser) -> u64 {
    match seniority {
        Seniority::EntryLevel => 1,
        Seniority::MidLevel => chooser.between("years", 3, 6),
        Seniority::Senior => chooser.between("years", 8, 14),
        Seniority::Executive => chooser.between("years", 15, 25),
    }
}

const PRESENTS: &[&str] = &[
    "These days {first} turns up in {attire}, bringing {p3} to another day {where}.",
    "Most days find {first} {where}, dressed in {attire} and putting {p3} into {work}.",
    "{first} does the best work {where}, usually in {attire}, with {p3} close at hand.",
];

/// Paragraph three: life outside work, then what comes next.
const OUTSIDES: &[&str] = &[
    "Outside work, {first} stays true to {species} roots, with {a} {look} face and a soft spot for {pleasure}.",
    "Away from work, {first} keeps {a} {look} expression and a weakness for {pleasure}.",
    "Friends know {first} for {a} {look} gaze, a fondness for {pleasure} and plenty of {p3}.",
];

fn pleasures(species: &str) -> &'static [&'static str] {
    match species {
        "cat" | "kitten" => &[
            "long naps in a sunny window",
            "a quiet corner with a good book",
            "anything that comes in a cardboard box",
        ],
        "dog" | "puppy" => &[
            "long walks in the park",
            "a game of fetch on Sunday mornings",
            "greeting every neighbour on the street",
        ],
        "rabbit" | "bunny" => &[
            "fresh greens from the market",
            "a tidy garden",
            "quiet evenings at home",
        ],
        "bird" | "parrot" | "budgie" | "canary" => &[
            "early mornings and loud music",
            "a balcony full of seed feeders",
            "karaoke nights",
        ],
        "rodent" | "hamster" | "guinea pig" | "mouse" | "rat" => &[
            "late-night snacks",
            "a well-stocked pantry",
            "rearranging the furniture",
        ],
        "horse" | "pony" => &[
            "weekend rides in open country",
            "apples straight from the orchard",
            "long gallops on the beach",
        ],
        "fish" => &[
            "a swim before breakfast",
            "quiet afternoons by the water",
            "the aquarium's late openings",
        ],
        "reptile" | "lizard" | "snake" | "turtle" => &[
            "basking on a warm terrace",
            "slow Sunday mornings",
            "holidays somewhere hot",
        ],
        _ => &[
            "a sunny spot and a good snack",
            "long weekends outdoors",
            "quiet evenings at home",
        ],
    }
}

const NEXTS: &[&str] = &[
    "Next, {first} plans to {next}, with {p2} leading the way.",
    "The next goal for {first} is to {next}, and {p1} should make it look easy.",
    "{first} means to {next} in the next few years, counting on {p1} to get there.",
];

/// What comes next, by seniority (the trajectory's future too).
fn next_steps(seniority: Seniority) -> &'static [&'static str] {
    match seniority {
        Seniority::EntryLevel => &[
            "grow into a confident {title} within two years",
            "lead a first project from start to finish",
            "find a good mentor and become one soon after",
        ],
        Seniority::MidLevel => &[
            "step up to senior {title}",
            "mentor the next group of newcomers",
            "take on the department's hardest problems",
        ],
        Seniority::Senior => &[
            "lead a department {in_industry}",
            "shape the future of {industry}",
            "build a team that outlasts any one project",
        ],
        Seniority::Executive => &[
            "found a company that redefines {industry}",
            "sit on the boards that set the course of {industry}",
            "hand over to a successor and start something new",
        ],
    }
}

/// Per career family: early roles, the places people start, where they studied, and what the
/// daily work is called.
struct FamilyWords {
    early_roles: &'static [&'static str],
    places: &'static [&'static str],
    schools: &'static [&'static str],
    work: &'static [&'static str],
}

fn family_words(family: CareerFamily) -> FamilyWords {
    use CareerFamily::*;
    match family {
        Business => FamilyWords {
            early_roles: &["junior analyst", "associate", "graduate trainee"],
            places: &["a boutique consultancy", "a regional bank", "a family firm"],
            schools: &["business school", "an economics degree"],
            work: &["every deal", "every client meeting", "the quarterly plans"],
        },
        Technology => FamilyWords {
            early_roles: &["junior developer", "support engineer", "intern"],
            places: &[
                "a tiny start-up",
                "a university computing lab",
                "an open-source project",
            ],
            schools: &["a computer science degree", "a coding bootcamp"],
            work: &["every release", "each code review", "the launch plans"],
        },
        Creative => FamilyWords {
            early_roles: &["studio assistant", "junior designer", "apprentice"],
            places: &[
                "a small design studio",
                "a local print shop",
                "a theatre workshop",
            ],
            schools: &["art school", "a design degree"],
            work: &["every sketch", "each new brief", "the finished pieces"],
        },
        Science => FamilyWords {
            early_roles: &["lab technician", "research assistant", "field assistant"],
            places: &[
                "a university lab",
                "a remote field station",
                "a research institute",
            ],
            schools: &["graduate school", "a doctorate"],
            work: &[
                "every experiment",
                "each field season",
                "the published papers",
            ],
        },
        Care => FamilyWords {
            early_roles: &["trainee", "nursing assistant", "volunteer"],
            places: &[
                "a busy teaching hospital",
                "a community clinic",
                "a rescue shelter",
            ],
            schools: &["medical school", "a training programme"],
            work: &[
                "every appointment",
                "each patient's care",
                "the daily rounds",
            ],
        },
        Learning => FamilyWords {
            early_roles: &[
                "teaching assistant",
                "library volunteer",
                "junior researcher",
            ],
            places: &["a village school", "a city library", "a local newspaper"],
            schools: &["teacher training", "a history degree"],
            work: &["every lesson", "each new article", "the reading lists"],
        },
        Hospitality => FamilyWords {
            early_roles: &["kitchen porter", "commis", "front-desk clerk"],
            places: &["a family restaurant", "a seaside hotel", "a busy café"],
            schools: &["culinary school", "a hospitality course"],
            work: &["every service", "each menu", "the busiest weekends"],
        },
        Performance => FamilyWords {
            early_roles: &["stagehand", "understudy", "open-mic regular"],
            places: &[
                "a small comedy club",
                "a youth orchestra",
                "a touring company",
            ],
            schools: &["drama school", "a music conservatoire"],
            work: &["every performance", "each rehearsal", "the opening nights"],
        },
        Service => FamilyWords {
            early_roles: &["cadet", "junior officer", "trainee"],
            places: &["a flight school", "a regional airport", "the civil service"],
            schools: &["the academy", "officer training"],
            work: &["every mission", "each briefing", "the long shifts"],
        },
        Craft => FamilyWords {
            early_roles: &["apprentice", "workshop assistant", "junior engineer"],
            places: &["a local joinery", "a car workshop", "an engineering firm"],
            schools: &["a technical college", "an apprenticeship scheme"],
            work: &["every build", "each repair", "every joint"],
        },
    }
}

/// The seniority as an adjective before the title; a leading title ("Chief …", "… Director")
/// needs none at the top and says "newly appointed" below it.
fn role(seniority: Seniority, title: &str, chooser: &Chooser) -> String {
    let word = if careers::is_leading_title(title) {
        match seniority {
            Seniority::Executive => None,
            _ => Some("newly appointed"),
        }
    } else {
        Some(*chooser.pick(
            "seniority word",
            match seniority {
                Seniority::EntryLevel => &["junior", "newly qualified", "entry-level"][..],
                Seniority::MidLevel => &["mid-level", "mid-career", "experienced"],
                Seniority::Senior => &["senior", "seasoned", "senior"],
                Seniority::Executive => &["principal", "top-ranked", "principal"],
            },
        ))
    };
    word.map_or_else(|| title.to_string(), |w| format!("{w} {title}"))
}

/// Where the person works, with its own preposition: the catalogue scene's phrase when the
/// background is one of ours, else "in front of" the background as another backend wrote it.
fn whereabouts(background: &str) -> String {
    let scene = Scene::from_text(background);
    if scene.describe() == background {
        scene.locative().to_string()
    } else {
        format!("in front of {background}")
    }
}

fn species_word(species: &str) -> &str {
    match species {
        "unknown" | "other_animal" | "" => "animal",
        s => s,
    }
}

/// Everything the templates of one identity can use.
struct Slots {
    values: Vec<(&'static str, String)>,
}

impl Slots {
    fn as_pairs(&self) -> Vec<(&str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

fn slots(
    analysis: &PetAnalysis,
    career: &CareerProfile,
    chooser: &Chooser,
    (first, last): (&str, &str),
) -> Slots {
    let family = CareerFamily::of(&career.job_title, &career.industry);
    let words = family_words(family);
    let [t1, t2, t3] = &analysis.dominant_traits;
    let years = years(career.seniority, chooser);
    let values = vec![
        ("Name", format!("{first} {last}")),
        ("first", first.to_string()),
        ("role", role(career.seniority, &career.job_title, chooser)),
        ("title", career.job_title.clone()),
        ("industry", careers::industry_phrase(&career.industry)),
        (
            "in_industry",
            format!("in {}", careers::industry_phrase(&career.industry)),
        ),
        ("p1", humanise(t1)),
        ("p2", humanise(t2)),
        ("p3", humanise(t3)),
        ("style", career.work_style.clone()),
        ("origin", origin(family_of(t1)).to_string()),
        (
            "years",
            NUMBER_WORDS
                .get(years as usize)
                .map_or_else(|| years.to_string(), |w| w.to_string()),
        ),
        ("place", chooser.pick("place", words.places).to_string()),
        ("school", chooser.pick("school", words.schools).to_string()),
        (
            "early_role",
            chooser.pick("early role", words.early_roles).to_string(),
        ),
        ("work", chooser.pick("work", words.work).to_string()),
        ("attire", career.attire.clone()),
        ("where", whereabouts(&career.background)),
        (
            "species",
            species_word(&analysis.species.to_lowercase()).to_string(),
        ),
        ("look", analysis.expression.to_lowercase()),
        (
            "pleasure",
            chooser
                .pick("pleasure", pleasures(&analysis.species.to_lowercase()))
                .to_string(),
        ),
    ];
    Slots { values }
}

/// Write the identity draft (the WriteIdentity stage adds the similarity score). The job id
/// does not enter: see [`Chooser::for_analysis`].
pub fn write(_job_id: Uuid, analysis: &PetAnalysis, career: &CareerProfile) -> IdentityDraft {
    let chooser = Chooser::for_analysis(analysis);
    let (first, last) = name(analysis, &chooser);
    let mut slots = slots(analysis, career, &chooser, (&first, &last));
    let next_template = *chooser.pick("next step", next_steps(career.seniority));
    let next = fill_lower(next_template, &slots.as_pairs());
    slots.values.push(("next", next.clone()));
    let pairs = slots.as_pairs();
    let sentence = |purpose: &str, options: &[&'static str]| {
        let template = *chooser.pick(purpose, options);
        fill(template, &pairs)
    };
    let bio = [
        format!(
            "{} {}",
            sentence("introduction", INTRODUCTIONS),
            sentence("style", STYLES)
        ),
        format!(
            "{} {} {}",
            sentence("origin", ORIGINS),
            sentence("past", past_templates(career.seniority)),
            sentence("present", PRESENTS)
        ),
        format!(
            "{} {}",
            sentence("outside", OUTSIDES),
            sentence("next", NEXTS)
        ),
    ];
    let family = CareerFamily::of(&career.job_title, &career.industry);
    let words = family_words(family);
    let early = chooser.pick("early role", words.early_roles);
    let place = chooser.pick("place", words.places);
    IdentityDraft {
        name: format!("{first} {last}"),
        bio,
        skills: skills(analysis, career, &chooser),
        trajectory: Trajectory {
            past: capitalise(&format!("{early} at {place}")),
            present: capitalise(&format!(
                "{} in {}",
                role(career.seniority, &career.job_title, &chooser),
                careers::industry_phrase(&career.industry)
            )),
            future: capitalise(&next),
        },
        model: super::MODEL.to_string(),
    }
}

/// [`fill`] without the capital: for a phrase that goes inside a sentence.
fn fill_lower(template: &str, slots: &[(&str, &str)]) -> String {
    let filled = fill(template, slots);
    let mut chars = filled.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_lowercase().collect::<String>() + chars.as_str()
    })
}

/// Soft skills named after the pet's three dominant traits, then the career's hard skills in an
/// order of the analysis: 5–8 entries, none repeating another's first word ("Risk spotting"
/// and "Risk management" would read as one skill twice).
fn skills(analysis: &PetAnalysis, career: &CareerProfile, chooser: &Chooser) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let head = |s: &str| s.split(' ').next().unwrap_or(s).to_lowercase();
    let push = |out: &mut Vec<String>, s: &str| {
        if !out.iter().any(|o| head(o) == head(s)) {
            out.push(s.to_string());
        }
    };
    for t in &analysis.dominant_traits {
        push(&mut out, soft_skill(t));
    }
    let mut hard: Vec<&str> = careers::by_title(&career.job_title).map_or_else(
        || career.key_traits.iter().map(|t| soft_skill(t)).collect(),
        |c: &Career| c.skills.to_vec(),
    );
    if !hard.is_empty() {
        let turn = (chooser.number("skills") % hard.len() as u64) as usize;
        hard.rotate_left(turn);
    }
    let wanted = chooser.between("skill count", 5, 8) as usize;
    for s in hard {
        if out.len() >= wanted {
            break;
        }
        push(&mut out, s);
    }
    for filler in [
        "Cross-team collaboration",
        "Clear writing",
        "Time management",
        "Mentoring",
        "Presenting",
    ] {
        if out.len() >= 5 {
            break;
        }
        push(&mut out, filler);
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
        "affection" => "Morale building",
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
        "alertness" => "Early warning",
        "caution" => "Risk management",
        "sensitivity" => "Reading the room",
        "stubbornness" => "Principled persistence",
        "mischief" => "Unconventional thinking",
        "elegance" => "Polished presentation",
        _ => "Adaptable problem solving",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::offline::careers::CATALOGUE;
    use crate::personality::{DIMENSION_COUNT, Personality};

    const SPECIES: [&str; 9] = [
        "cat",
        "dog",
        "rabbit",
        "bird",
        "rodent",
        "horse",
        "fish",
        "reptile",
        "other_animal",
    ];
    const EXPRESSIONS: [&str; 5] = [
        "alert and attentive",
        "soft and friendly",
        "intense and serious",
        "pensive",
        "calm and curious",
    ];

    /// A made-up analysis, as a photo would give one: its own species, coat and scores.
    fn analysis(i: u64) -> PetAnalysis {
        let mut x = 0x2545_F491_4F6C_DD1Du64 ^ (i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut scores = [0u8; DIMENSION_COUNT];
        for s in scores.iter_mut() {
            *s = (20 + next() % 61) as u8;
        }
        let personality = Personality::from_scores(scores);
        PetAnalysis {
            species: SPECIES[(next() % SPECIES.len() as u64) as usize].into(),
            breed: "mixed".into(),
            expression: EXPRESSIONS[(next() % 5) as usize].into(),
            posture: "centred close-up, facing the camera".into(),
            dominant_traits: personality.dominant(),
            personality,
            vibe: "warm".into(),
            palette: vec![format!("#{:06x}", next() % 0x100_0000)],
            model: "offline".into(),
            confidence: None,
            alternatives: Vec::new(),
        }
    }

    fn profile(career: &Career, seniority: Seniority) -> CareerProfile {
        CareerProfile {
            job_title: career.title.into(),
            seniority,
            industry: career.industry.into(),
            work_style: career.work_style.into(),
            attire: career.attire.describe().into(),
            background: career.scene.describe().into(),
            confidence: 0.5,
            key_traits: career.key_traits.iter().map(|t| t.to_string()).collect(),
            model: "offline".into(),
        }
    }

    fn sentences(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut current = String::new();
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            current.push(c);
            if matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| *n == ' ') {
                out.push(current.trim().to_string());
                current.clear();
            }
        }
        if !current.trim().is_empty() {
            out.push(current.trim().to_string());
        }
        out
    }

    fn words(sentence: &str) -> Vec<String> {
        sentence
            .split(|c: char| c.is_whitespace() || ",;:()".contains(c))
            .map(|w| w.trim_matches(|c: char| ".!?'\"".contains(c)).to_string())
            .filter(|w| !w.is_empty())
            .collect()
    }

    /// The rules every generated sentence must pass (returns what is wrong, if anything).
    fn grammar_problems(sentence: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut say = |why: String| problems.push(format!("{why}: «{sentence}»"));
        if sentence.contains('{') || sentence.contains('}') {
            say("unfilled slot".into());
        }
        if !sentence.chars().next().is_some_and(char::is_uppercase) {
            say("does not start with a capital".into());
        }
        if !sentence.ends_with('.') {
            say("does not end with a period".into());
        }
        for bad in ["  ", " ,", " .", " ;", ",,", "..", "()"] {
            if sentence.contains(bad) {
                say(format!("spacing/punctuation {bad:?}"));
            }
        }
        let w = words(sentence);
        let lower: Vec<String> = w.iter().map(|x| x.to_lowercase()).collect();
        for pair in lower.windows(2) {
            let (a, b) = (pair[0].as_str(), pair[1].as_str());
            if a == b {
                say(format!("doubled word {a:?}"));
            }
            // Articles, by the first letter with the usual exceptions of sound.
            let vowel = b.starts_with(['a', 'e', 'i', 'o', 'u']);
            let sounds_consonant = ["uni", "use", "usu", "eu", "one", "ux"]
                .iter()
                .any(|p| b.starts_with(p));
            let sounds_vowel = ["hour", "honest", "honour", "heir"]
                .iter()
                .any(|p| b.starts_with(p));
            if a == "a" && ((vowel && !sounds_consonant) || sounds_vowel) {
                say(format!("'a {b}'"));
            }
            if a == "an" && (!vowel || sounds_consonant) && !sounds_vowel {
                say(format!("'an {b}'"));
            }
            // Number agreement of counted years.
            let count = NUMBER_WORDS.iter().position(|n| n == &a);
            if count.is_some_and(|n| n >= 2) && b == "year" {
                say(format!("'{a} year'"));
            }
            if matches!(a, "a" | "one") && b == "years" {
                say(format!("'{a} years'"));
            }
            // Singular quantifiers take singular verbs.
            if matches!(a, "every" | "each") && matches!(b, "are" | "have" | "were") {
                say(format!("'{a} {b}'"));
            }
        }
        for triple in lower.windows(3) {
            if matches!(triple[0].as_str(), "every" | "each")
                && matches!(triple[2].as_str(), "are" | "have" | "were" | "carry")
            {
                say(format!("'{} {} {}'", triple[0], triple[1], triple[2]));
            }
        }
        // Prepositions of place: the nearest preposition before these nouns must be theirs.
        const PLACE_NOUNS: [(&str, &str); 4] = [
            ("stage", "on"),
            ("desk", "at"),
            ("airfield", "on"),
            ("sky", "under"),
        ];
        const PREPOSITIONS: [&str; 7] = ["in", "on", "at", "under", "among", "into", "of"];
        for (i, word) in lower.iter().enumerate() {
            if let Some((_, wanted)) = PLACE_NOUNS.iter().find(|(n, _)| n == word) {
                let found = lower[i.saturating_sub(4)..i]
                    .iter()
                    .rev()
                    .find(|w| PREPOSITIONS.contains(&w.as_str()));
                if let Some(found) = found.filter(|f| f.as_str() != *wanted) {
                    say(format!("'{found} … {word}' (wants '{wanted}')"));
                }
            }
        }
        for bad in ["in public sector", "in performing arts"] {
            if sentence.to_lowercase().contains(bad) {
                say(format!("{bad:?} needs 'the'"));
            }
        }
        problems
    }

    #[test]
    fn the_rules_catch_the_known_bad_sentences() {
        for bad in [
            "Today Max is ready for another day in a stage under warm spotlights.",
            "Oliver is a entry-level Actuary.",
            "Oliver is an senior Actuary.",
            "Luna spent three year at a bank.",
            "Every deal carry a mark.",
            "Cleo works works hard.",
            "oliver is here.",
            "Milo is at {where}.",
            "Rex sits in a desk with two monitors full of code.",
        ] {
            assert!(!grammar_problems(bad).is_empty(), "not caught: {bad}");
        }
        assert!(grammar_problems("A UX Designer has an hour on a stage.").is_empty());
    }

    /// Every sentence of every identity over the whole catalogue × the four seniorities (and
    /// pets of every species and expression) passes the rules.
    #[test]
    fn grammar_over_the_catalogue_and_every_seniority() {
        let mut problems = BTreeSet::new();
        let mut checked = 0;
        for (c, career) in CATALOGUE.iter().enumerate() {
            for seniority in Seniority::ALL {
                for k in 0..6u64 {
                    let analysis = analysis(c as u64 * 97 + k);
                    let draft = write(Uuid::nil(), &analysis, &profile(career, seniority));
                    for paragraph in &draft.bio {
                        for sentence in sentences(paragraph) {
                            problems.extend(grammar_problems(&sentence));
                            checked += 1;
                        }
                    }
                    let t = &draft.trajectory;
                    for phrase in [&t.past, &t.present, &t.future] {
                        problems.extend(grammar_problems(&format!("{phrase}.")));
                    }
                }
            }
        }
        assert!(checked > 5000, "{checked}");
        let shown: Vec<_> = problems.iter().take(20).collect();
        assert!(
            problems.is_empty(),
            "{} problems, e.g. {shown:#?}",
            problems.len()
        );
    }

    #[test]
    fn work_styles_read_as_adjectives_after_describe_as() {
        for career in CATALOGUE {
            let w: Vec<&str> = career.work_style.split(' ').collect();
            assert!(
                w.len() == 3 && matches!(w[1], "and" | "yet"),
                "{}: {:?}",
                career.title,
                career.work_style
            );
            for word in [w[0], w[2]] {
                assert!(
                    !["er", "or", "ist", "person"]
                        .iter()
                        .any(|end| word.ends_with(end)),
                    "{}: {word} reads as a noun",
                    career.title
                );
            }
        }
    }

    /// Jobs of different photos: no two bios share more than one identical sentence.
    #[test]
    fn different_photos_share_at_most_one_sentence() {
        let bios: Vec<Vec<String>> = (0..80)
            .map(|i| {
                let analysis = analysis(10_000 + i);
                let career = crate::offline::career_for(&analysis);
                let draft = write(Uuid::from_u128(u128::from(i)), &analysis, &career);
                draft.bio.iter().flat_map(|p| sentences(p)).collect()
            })
            .collect();
        for (i, a) in bios.iter().enumerate() {
            for (j, b) in bios.iter().enumerate().skip(i + 1) {
                let shared: Vec<&String> = a.iter().filter(|s| b.contains(s)).collect();
                assert!(shared.len() <= 1, "photos {i} and {j} share {shared:#?}");
            }
        }
    }

    #[test]
    fn the_same_photo_reads_the_same_whatever_the_job() {
        let analysis = analysis(7);
        let career = crate::offline::career_for(&analysis);
        let a = write(Uuid::from_u128(1), &analysis, &career);
        let b = write(Uuid::from_u128(2), &analysis, &career);
        assert_eq!(a.bio, b.bio);
        assert_eq!(a.name, b.name);
    }

    #[test]
    fn seniority_spreads_over_all_four_levels() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let n = 400;
        for i in 0..n {
            let analysis = analysis(50_000 + i);
            let career = crate::offline::career_for(&analysis);
            *counts.entry(career.seniority.as_str()).or_default() += 1;
        }
        for level in Seniority::ALL {
            let share = counts.get(level.as_str()).copied().unwrap_or(0) as f64 / n as f64;
            assert!(share >= 0.08, "{counts:?}");
        }
    }

    #[test]
    fn names_and_skills_do_not_repeat() {
        let mut openings = BTreeSet::new();
        for i in 0..300 {
            let analysis = analysis(90_000 + i);
            let career = crate::offline::career_for(&analysis);
            let draft = write(Uuid::nil(), &analysis, &career);
            let (first, last) = draft.name.split_once(' ').unwrap_or_default();
            assert!(
                !last.to_lowercase().starts_with(&first.to_lowercase()),
                "{}",
                draft.name
            );
            let heads: BTreeSet<String> = draft
                .skills
                .iter()
                .map(|s| s.split(' ').next().unwrap_or_default().to_lowercase())
                .collect();
            assert_eq!(heads.len(), draft.skills.len(), "{:?}", draft.skills);
            assert!((5..=8).contains(&draft.skills.len()), "{:?}", draft.skills);
            openings.insert(
                sentences(&draft.bio[0])[0]
                    .split(' ')
                    .nth(2)
                    .map(str::to_string),
            );
        }
        // The introductions vary in shape, not only in the name.
        assert!(openings.len() >= 4, "{openings:?}");
    }

    #[test]
    fn articles_follow_the_sound() {
        assert_eq!(fill("{a} {x}", &[("x", "UX Designer")]), "A UX Designer");
        assert_eq!(
            fill("is {a} {x}", &[("x", "entry-level Actuary")]),
            "Is an entry-level Actuary"
        );
        assert_eq!(fill("{a} hour", &[]), "An hour");
        assert_eq!(fill("{a} {x} face", &[("x", "pensive")]), "A pensive face");
    }
}
