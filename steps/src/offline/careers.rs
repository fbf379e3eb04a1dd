//! The career catalogue and the cosine-similarity mapper.
//!
//! Each career has a trait profile over the 47 dimensions: +1 on the traits the role draws on
//! (`key_traits`), −1 on traits it does without (`low_traits`), 0 elsewhere. The pet's scores
//! are centred on their own mean, and the career with the highest cosine similarity wins.

use crate::domain::Seniority;
use crate::personality::{DIMENSION_COUNT, Personality, index_of};

/// What the avatar wears; `describe` is the text used in prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attire {
    NavySuit,
    CharcoalSuit,
    Blazer,
    LabCoat,
    Hoodie,
    Cardigan,
    ChefWhites,
    Scrubs,
    WorkApron,
    PilotUniform,
    Turtleneck,
}

impl Attire {
    pub fn describe(self) -> &'static str {
        match self {
            Attire::NavySuit => "a tailored navy suit with a white shirt and a tie",
            Attire::CharcoalSuit => "a charcoal three-piece suit with a silk tie",
            Attire::Blazer => "a smart camel blazer over an open-collar shirt",
            Attire::LabCoat => "a crisp white lab coat over a blue shirt",
            Attire::Hoodie => "a comfortable grey hoodie over a T-shirt",
            Attire::Cardigan => "a cosy knitted cardigan over a collared shirt",
            Attire::ChefWhites => "double-breasted chef's whites",
            Attire::Scrubs => "teal medical scrubs",
            Attire::WorkApron => "a canvas work apron over a plaid shirt",
            Attire::PilotUniform => "a dark pilot's uniform with gold epaulettes",
            Attire::Turtleneck => "a black turtleneck",
        }
    }

    /// Parse the text back (for careers that came from another backend, the drawing picks the
    /// closest kind by keyword).
    pub fn from_text(text: &str) -> Attire {
        first_keyword(text, ATTIRE_KEYWORDS, Attire::Blazer)
    }
}

/// Keywords of attire descriptions, tried in order (`"charcoal"` before the plainer `"suit"`).
const ATTIRE_KEYWORDS: &[(&str, Attire)] = &[
    ("lab coat", Attire::LabCoat),
    ("hoodie", Attire::Hoodie),
    ("cardigan", Attire::Cardigan),
    ("chef", Attire::ChefWhites),
    ("scrubs", Attire::Scrubs),
    ("apron", Attire::WorkApron),
    ("pilot", Attire::PilotUniform),
    ("turtleneck", Attire::Turtleneck),
    ("blazer", Attire::Blazer),
    ("charcoal", Attire::CharcoalSuit),
    ("suit", Attire::NavySuit),
];

/// The value of the first keyword that `text` contains (case-insensitive), else `default`.
fn first_keyword<T: Copy>(text: &str, keywords: &[(&str, T)], default: T) -> T {
    let text = text.to_lowercase();
    keywords
        .iter()
        .find(|(keyword, _)| text.contains(keyword))
        .map_or(default, |(_, value)| *value)
}

/// The scene behind the avatar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scene {
    CornerOffice,
    Laboratory,
    CodingDesk,
    ArtStudio,
    Kitchen,
    Clinic,
    Classroom,
    Library,
    Workshop,
    Greenhouse,
    Stage,
    Sky,
}

impl Scene {
    pub fn describe(self) -> &'static str {
        match self {
            Scene::CornerOffice => {
                "a corner office with floor-to-ceiling windows over a city skyline"
            }
            Scene::Laboratory => "a bright laboratory with shelves of glassware",
            Scene::CodingDesk => "a desk with two monitors full of code",
            Scene::ArtStudio => "a sunlit art studio with an easel",
            Scene::Kitchen => "a professional kitchen with copper pans",
            Scene::Clinic => "a calm clinic with a window",
            Scene::Classroom => "a classroom with a green chalkboard",
            Scene::Library => "a library with tall bookshelves",
            Scene::Workshop => "a workshop with a pegboard of tools",
            Scene::Greenhouse => "a greenhouse full of plants",
            Scene::Stage => "a stage under warm spotlights",
            Scene::Sky => "an open sky with clouds seen from an airfield",
        }
    }

    /// Where the person is, as a phrase with its own preposition ("on a stage", "at a desk"):
    /// what a sentence needs after "another day".
    pub fn locative(self) -> &'static str {
        match self {
            Scene::CornerOffice => "in a corner office high above the city",
            Scene::Laboratory => "in a bright laboratory",
            Scene::CodingDesk => "at a desk with two monitors full of code",
            Scene::ArtStudio => "in a sunlit art studio",
            Scene::Kitchen => "in a professional kitchen",
            Scene::Clinic => "in a calm clinic",
            Scene::Classroom => "in a classroom",
            Scene::Library => "among tall bookshelves",
            Scene::Workshop => "in a workshop full of tools",
            Scene::Greenhouse => "in a greenhouse full of plants",
            Scene::Stage => "on a stage under warm spotlights",
            Scene::Sky => "on an airfield under an open sky",
        }
    }

    /// Parse the text back by keyword, as [`Attire::from_text`] does.
    pub fn from_text(text: &str) -> Scene {
        first_keyword(text, SCENE_KEYWORDS, Scene::CornerOffice)
    }
}

/// Keywords of background descriptions, tried in order (`"skyline"`, an office's view, before
/// `"sky"`, the airfield).
const SCENE_KEYWORDS: &[(&str, Scene)] = &[
    ("lab", Scene::Laboratory),
    ("monitor", Scene::CodingDesk),
    ("code", Scene::CodingDesk),
    ("studio", Scene::ArtStudio),
    ("kitchen", Scene::Kitchen),
    ("clinic", Scene::Clinic),
    ("chalk", Scene::Classroom),
    ("book", Scene::Library),
    ("workshop", Scene::Workshop),
    ("plant", Scene::Greenhouse),
    ("stage", Scene::Stage),
    ("skyline", Scene::CornerOffice),
    ("sky", Scene::Sky),
];

pub struct Career {
    pub title: &'static str,
    pub industry: &'static str,
    pub work_style: &'static str,
    pub attire: Attire,
    pub scene: Scene,
    pub key_traits: &'static [&'static str],
    pub low_traits: &'static [&'static str],
    pub skills: &'static [&'static str],
}

macro_rules! career {
    ($title:expr, $industry:expr, $style:expr, $attire:ident, $scene:ident, [$($k:expr),*], [$($l:expr),*], [$($s:expr),*]) => {
        Career { title: $title, industry: $industry, work_style: $style, attire: Attire::$attire, scene: Scene::$scene,
                 key_traits: &[$($k),*], low_traits: &[$($l),*], skills: &[$($s),*] }
    };
}

pub const CATALOGUE: &[Career] = &[
    career!(
        "Chief Executive Officer",
        "Corporate Leadership",
        "decisive and visionary",
        CharcoalSuit,
        CornerOffice,
        ["leadership", "confidence", "ambition", "charisma"],
        ["caution", "gentleness"],
        [
            "Strategic planning",
            "Board relations",
            "Capital allocation",
            "Public speaking"
        ]
    ),
    career!(
        "Management Consultant",
        "Professional Services",
        "structured and persuasive",
        NavySuit,
        CornerOffice,
        [
            "analytical_thinking",
            "confidence",
            "adaptability",
            "charisma"
        ],
        ["contentment", "restlessness"],
        [
            "Problem structuring",
            "Client workshops",
            "Slide storytelling",
            "Market sizing"
        ]
    ),
    career!(
        "Investment Banker",
        "Finance",
        "intense and deal-driven",
        CharcoalSuit,
        CornerOffice,
        ["ambition", "competitiveness", "determination", "focus"],
        ["serenity", "playfulness"],
        [
            "Financial modelling",
            "Deal negotiation",
            "Due diligence",
            "Valuation"
        ]
    ),
    career!(
        "Corporate Lawyer",
        "Legal",
        "meticulous and assertive",
        NavySuit,
        Library,
        [
            "assertiveness",
            "analytical_thinking",
            "attention_to_detail",
            "stubbornness"
        ],
        ["spontaneity", "playfulness"],
        [
            "Contract drafting",
            "Negotiation",
            "Legal research",
            "Risk assessment"
        ]
    ),
    career!(
        "Chief Financial Officer",
        "Finance",
        "disciplined and prudent",
        CharcoalSuit,
        CornerOffice,
        ["discipline", "caution", "analytical_thinking", "leadership"],
        ["spontaneity", "mischief"],
        [
            "Budgeting",
            "Forecasting",
            "Investor relations",
            "Compliance"
        ]
    ),
    career!(
        "Actuary",
        "Insurance",
        "careful and quantitative",
        Blazer,
        CornerOffice,
        ["analytical_thinking", "caution", "patience", "focus"],
        ["adventurousness", "spontaneity"],
        [
            "Risk modelling",
            "Statistics",
            "Pricing",
            "Regulatory reporting"
        ]
    ),
    career!(
        "Software Engineer",
        "Technology",
        "focused and heads-down",
        Hoodie,
        CodingDesk,
        ["focus", "analytical_thinking", "curiosity", "independence"],
        ["sociability", "punctuality"],
        ["Rust", "System design", "Code review", "Debugging"]
    ),
    career!(
        "Site Reliability Engineer",
        "Technology",
        "calm and unflappable",
        Hoodie,
        CodingDesk,
        ["calmness", "alertness", "reliability", "resilience"],
        ["spontaneity", "restlessness"],
        [
            "Incident response",
            "Observability",
            "Automation",
            "Capacity planning"
        ]
    ),
    career!(
        "Data Scientist",
        "Technology",
        "inquisitive and methodical",
        Hoodie,
        CodingDesk,
        [
            "curiosity",
            "analytical_thinking",
            "imagination",
            "patience"
        ],
        ["assertiveness", "competitiveness"],
        [
            "Statistics",
            "Machine learning",
            "Data visualisation",
            "Experiment design"
        ]
    ),
    career!(
        "Cybersecurity Analyst",
        "Technology",
        "vigilant and sceptical",
        Hoodie,
        CodingDesk,
        [
            "alertness",
            "caution",
            "attention_to_detail",
            "stubbornness"
        ],
        ["friendliness", "spontaneity"],
        [
            "Threat hunting",
            "Log analysis",
            "Penetration testing",
            "Security audits"
        ]
    ),
    career!(
        "Startup Founder",
        "Technology",
        "fast-moving and scrappy",
        Hoodie,
        CodingDesk,
        ["ambition", "adventurousness", "restlessness", "enthusiasm"],
        ["caution", "patience"],
        [
            "Fundraising",
            "Product vision",
            "Hiring",
            "Rapid prototyping"
        ]
    ),
    career!(
        "Product Manager",
        "Technology",
        "collaborative and outcome-driven",
        Blazer,
        CodingDesk,
        ["empathy", "leadership", "adaptability", "curiosity"],
        ["stubbornness", "independence"],
        [
            "Roadmapping",
            "User research",
            "Prioritisation",
            "Stakeholder alignment"
        ]
    ),
    career!(
        "UX Designer",
        "Design",
        "empathetic and iterative",
        Turtleneck,
        ArtStudio,
        ["empathy", "creativity", "curiosity", "sensitivity"],
        ["stubbornness", "assertiveness"],
        [
            "User interviews",
            "Prototyping",
            "Interaction design",
            "Accessibility"
        ]
    ),
    career!(
        "Creative Director",
        "Advertising",
        "bold and expressive",
        Turtleneck,
        ArtStudio,
        ["creativity", "charisma", "imagination", "confidence"],
        ["caution", "punctuality"],
        [
            "Brand storytelling",
            "Art direction",
            "Campaign concepts",
            "Team leadership"
        ]
    ),
    career!(
        "Illustrator",
        "Publishing",
        "imaginative and independent",
        Cardigan,
        ArtStudio,
        ["imagination", "creativity", "independence", "sensitivity"],
        ["competitiveness", "organization"],
        [
            "Drawing",
            "Colour theory",
            "Storyboarding",
            "Digital painting"
        ]
    ),
    career!(
        "Architect",
        "Construction",
        "visionary yet exact",
        Turtleneck,
        ArtStudio,
        [
            "creativity",
            "organization",
            "attention_to_detail",
            "elegance"
        ],
        ["mischief", "restlessness"],
        [
            "Spatial design",
            "CAD",
            "Building codes",
            "Client presentations"
        ]
    ),
    career!(
        "Fashion Designer",
        "Fashion",
        "stylish and expressive",
        Blazer,
        ArtStudio,
        ["elegance", "creativity", "confidence", "sensitivity"],
        ["caution", "patience"],
        [
            "Pattern making",
            "Trend forecasting",
            "Textiles",
            "Runway styling"
        ]
    ),
    career!(
        "Research Scientist",
        "Science",
        "rigorous and curious",
        LabCoat,
        Laboratory,
        [
            "curiosity",
            "intelligence",
            "patience",
            "analytical_thinking"
        ],
        ["spontaneity", "sociability"],
        [
            "Experimental design",
            "Scientific writing",
            "Grant proposals",
            "Data analysis"
        ]
    ),
    career!(
        "Chemist",
        "Pharmaceuticals",
        "precise and patient",
        LabCoat,
        Laboratory,
        ["attention_to_detail", "patience", "caution", "intelligence"],
        ["restlessness", "mischief"],
        ["Synthesis", "Spectroscopy", "Lab safety", "Quality control"]
    ),
    career!(
        "Marine Biologist",
        "Science",
        "adventurous and hands-on",
        LabCoat,
        Laboratory,
        ["adventurousness", "curiosity", "resilience", "empathy"],
        ["stubbornness", "caution"],
        [
            "Field sampling",
            "Diving",
            "Species identification",
            "Conservation"
        ]
    ),
    career!(
        "Astrophysicist",
        "Science",
        "contemplative and theoretical",
        LabCoat,
        Laboratory,
        ["imagination", "intelligence", "wisdom", "focus"],
        ["sociability", "restlessness"],
        [
            "Mathematical modelling",
            "Telescope operations",
            "Simulation",
            "Peer review"
        ]
    ),
    career!(
        "Veterinarian",
        "Healthcare",
        "caring and steady",
        Scrubs,
        Clinic,
        ["empathy", "gentleness", "calmness", "intelligence"],
        ["competitiveness", "mischief"],
        [
            "Diagnosis",
            "Surgery",
            "Client communication",
            "Animal handling"
        ]
    ),
    career!(
        "Surgeon",
        "Healthcare",
        "steady-handed and decisive",
        Scrubs,
        Clinic,
        ["focus", "calmness", "determination", "attention_to_detail"],
        ["spontaneity", "playfulness"],
        [
            "Surgical technique",
            "Crisis decisions",
            "Anatomy",
            "Team coordination"
        ]
    ),
    career!(
        "Paediatric Nurse",
        "Healthcare",
        "warm and reassuring",
        Scrubs,
        Clinic,
        ["gentleness", "affection", "patience", "empathy"],
        ["assertiveness", "competitiveness"],
        [
            "Patient care",
            "Family support",
            "Medication management",
            "Triage"
        ]
    ),
    career!(
        "Therapist",
        "Healthcare",
        "attentive and unhurried",
        Cardigan,
        Clinic,
        ["empathy", "patience", "wisdom", "serenity"],
        ["assertiveness", "restlessness"],
        [
            "Active listening",
            "Cognitive therapy",
            "Crisis support",
            "Case notes"
        ]
    ),
    career!(
        "Yoga Instructor",
        "Wellness",
        "serene and encouraging",
        Cardigan,
        Greenhouse,
        ["serenity", "calmness", "gentleness", "discipline"],
        ["competitiveness", "restlessness"],
        ["Mindfulness", "Class design", "Breathwork", "Anatomy"]
    ),
    career!(
        "Primary School Teacher",
        "Education",
        "patient and encouraging",
        Cardigan,
        Classroom,
        ["patience", "friendliness", "playfulness", "empathy"],
        ["independence", "stubbornness"],
        [
            "Lesson planning",
            "Classroom management",
            "Storytelling",
            "Parent communication"
        ]
    ),
    career!(
        "University Professor",
        "Education",
        "erudite and exacting",
        Cardigan,
        Classroom,
        ["wisdom", "intelligence", "focus", "stubbornness"],
        ["playfulness", "spontaneity"],
        [
            "Lecturing",
            "Research supervision",
            "Academic writing",
            "Peer review"
        ]
    ),
    career!(
        "Librarian",
        "Public Sector",
        "quiet and organised",
        Cardigan,
        Library,
        ["organization", "patience", "wisdom", "reliability"],
        ["restlessness", "competitiveness"],
        [
            "Cataloguing",
            "Research help",
            "Archiving",
            "Community programmes"
        ]
    ),
    career!(
        "Historian",
        "Academia",
        "thoughtful and thorough",
        Blazer,
        Library,
        ["wisdom", "curiosity", "patience", "attention_to_detail"],
        ["spontaneity", "restlessness"],
        [
            "Archival research",
            "Writing",
            "Source criticism",
            "Public talks"
        ]
    ),
    career!(
        "Investigative Journalist",
        "Media",
        "persistent and curious",
        Blazer,
        Library,
        ["curiosity", "determination", "stubbornness", "alertness"],
        ["caution", "contentment"],
        [
            "Interviewing",
            "Fact-checking",
            "Long-form writing",
            "Source protection"
        ]
    ),
    career!(
        "Novelist",
        "Publishing",
        "dreamy and introspective",
        Turtleneck,
        Library,
        ["imagination", "sensitivity", "creativity", "independence"],
        ["punctuality", "sociability"],
        [
            "Storytelling",
            "Character building",
            "Editing",
            "Worldbuilding"
        ]
    ),
    career!(
        "Executive Chef",
        "Hospitality",
        "fiery and exacting",
        ChefWhites,
        Kitchen,
        ["determination", "creativity", "leadership", "energy"],
        ["serenity", "caution"],
        [
            "Menu design",
            "Kitchen leadership",
            "Flavour pairing",
            "Food safety"
        ]
    ),
    career!(
        "Pastry Chef",
        "Hospitality",
        "precise and playful",
        ChefWhites,
        Kitchen,
        [
            "attention_to_detail",
            "creativity",
            "patience",
            "playfulness"
        ],
        ["assertiveness", "restlessness"],
        [
            "Baking science",
            "Decoration",
            "Tempering chocolate",
            "Recipe testing"
        ]
    ),
    career!(
        "Hotel General Manager",
        "Hospitality",
        "gracious and organised",
        NavySuit,
        CornerOffice,
        ["friendliness", "organization", "leadership", "elegance"],
        ["independence", "mischief"],
        [
            "Guest relations",
            "Operations",
            "Revenue management",
            "Staff training"
        ]
    ),
    career!(
        "Event Planner",
        "Hospitality",
        "energetic and social",
        Blazer,
        Stage,
        ["sociability", "organization", "enthusiasm", "adaptability"],
        ["caution", "independence"],
        [
            "Vendor management",
            "Logistics",
            "Budgeting",
            "Crisis handling"
        ]
    ),
    career!(
        "Stand-up Comedian",
        "Entertainment",
        "quick-witted and fearless",
        Blazer,
        Stage,
        ["humor", "wit", "charisma", "spontaneity"],
        ["caution", "discipline"],
        ["Timing", "Improvisation", "Crowd work", "Joke writing"]
    ),
    career!(
        "Orchestra Conductor",
        "Performing Arts",
        "commanding and expressive",
        CharcoalSuit,
        Stage,
        ["leadership", "elegance", "discipline", "charisma"],
        ["mischief", "restlessness"],
        [
            "Score reading",
            "Rehearsal planning",
            "Ensemble leadership",
            "Interpretation"
        ]
    ),
    career!(
        "Sales Director",
        "Commerce",
        "persuasive and driven",
        NavySuit,
        CornerOffice,
        ["charisma", "competitiveness", "sociability", "enthusiasm"],
        ["caution", "patience"],
        [
            "Negotiation",
            "Pipeline management",
            "Team coaching",
            "Closing"
        ]
    ),
    career!(
        "Public Relations Manager",
        "Communications",
        "polished and diplomatic",
        Blazer,
        CornerOffice,
        ["charisma", "friendliness", "adaptability", "wit"],
        ["stubbornness", "independence"],
        [
            "Media relations",
            "Crisis communication",
            "Messaging",
            "Event hosting"
        ]
    ),
    career!(
        "Diplomat",
        "Government",
        "tactful and composed",
        NavySuit,
        CornerOffice,
        ["calmness", "empathy", "wisdom", "elegance"],
        ["mischief", "assertiveness"],
        ["Negotiation", "Languages", "Protocol", "Policy analysis"]
    ),
    career!(
        "Mechanical Engineer",
        "Manufacturing",
        "hands-on and practical",
        WorkApron,
        Workshop,
        [
            "analytical_thinking",
            "determination",
            "attention_to_detail",
            "curiosity"
        ],
        ["elegance", "sociability"],
        ["CAD", "Prototyping", "Materials", "Tolerance analysis"]
    ),
    career!(
        "Carpenter",
        "Construction",
        "patient and meticulous",
        WorkApron,
        Workshop,
        [
            "patience",
            "diligence",
            "attention_to_detail",
            "independence"
        ],
        ["restlessness", "charisma"],
        ["Joinery", "Measuring", "Finishing", "Tool maintenance"]
    ),
    career!(
        "Robotics Engineer",
        "Technology",
        "tinkering and inventive",
        WorkApron,
        Workshop,
        [
            "curiosity",
            "imagination",
            "analytical_thinking",
            "restlessness"
        ],
        ["caution", "contentment"],
        [
            "Control systems",
            "Embedded software",
            "Sensor fusion",
            "Prototyping"
        ]
    ),
    career!(
        "Botanist",
        "Science",
        "gentle and observant",
        WorkApron,
        Greenhouse,
        ["patience", "curiosity", "gentleness", "attention_to_detail"],
        ["competitiveness", "assertiveness"],
        [
            "Plant taxonomy",
            "Field surveys",
            "Propagation",
            "Microscopy"
        ]
    ),
    career!(
        "Landscape Architect",
        "Design",
        "calm and visionary",
        Blazer,
        Greenhouse,
        ["creativity", "serenity", "organization", "imagination"],
        ["restlessness", "competitiveness"],
        [
            "Site planning",
            "Planting design",
            "Sustainability",
            "Drafting"
        ]
    ),
    career!(
        "Airline Captain",
        "Aviation",
        "composed and commanding",
        PilotUniform,
        Sky,
        ["calmness", "leadership", "reliability", "alertness"],
        ["spontaneity", "mischief"],
        [
            "Flight operations",
            "Crew resource management",
            "Navigation",
            "Emergency procedures"
        ]
    ),
    career!(
        "Search and Rescue Pilot",
        "Public Safety",
        "brave and quick",
        PilotUniform,
        Sky,
        ["adventurousness", "resilience", "alertness", "loyalty"],
        ["caution", "contentment"],
        [
            "Helicopter flying",
            "Rescue coordination",
            "First aid",
            "Weather reading"
        ]
    ),
    career!(
        "Personal Trainer",
        "Wellness",
        "energetic and motivating",
        Hoodie,
        Greenhouse,
        ["energy", "enthusiasm", "discipline", "friendliness"],
        ["calmness", "caution"],
        [
            "Programme design",
            "Motivation",
            "Nutrition",
            "Injury prevention"
        ]
    ),
    career!(
        "Community Manager",
        "Technology",
        "warm and welcoming",
        Hoodie,
        CodingDesk,
        ["sociability", "friendliness", "affection", "humor"],
        ["independence", "stubbornness"],
        [
            "Moderation",
            "Event hosting",
            "Content planning",
            "Feedback loops"
        ]
    ),
    career!(
        "Head of Security",
        "Corporate Services",
        "loyal and watchful",
        NavySuit,
        CornerOffice,
        ["loyalty", "alertness", "assertiveness", "reliability"],
        ["playfulness", "spontaneity"],
        [
            "Risk assessment",
            "Access control",
            "Incident command",
            "Team drills"
        ]
    ),
];

/// Careers grouped by the kind of working life they lead: the identity's templates (early
/// roles, places, ambitions) are written per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CareerFamily {
    Business,
    Technology,
    Creative,
    Science,
    Care,
    Learning,
    Hospitality,
    Performance,
    Service,
    Craft,
}

impl CareerFamily {
    pub const ALL: [CareerFamily; 10] = [
        CareerFamily::Business,
        CareerFamily::Technology,
        CareerFamily::Creative,
        CareerFamily::Science,
        CareerFamily::Care,
        CareerFamily::Learning,
        CareerFamily::Hospitality,
        CareerFamily::Performance,
        CareerFamily::Service,
        CareerFamily::Craft,
    ];

    /// The family of a catalogue title (`None` for a title that is not ours).
    pub fn of_title(title: &str) -> Option<CareerFamily> {
        use CareerFamily::*;
        Some(match title {
            "Chief Executive Officer"
            | "Management Consultant"
            | "Investment Banker"
            | "Corporate Lawyer"
            | "Chief Financial Officer"
            | "Actuary"
            | "Sales Director"
            | "Public Relations Manager" => Business,
            "Software Engineer"
            | "Site Reliability Engineer"
            | "Data Scientist"
            | "Cybersecurity Analyst"
            | "Startup Founder"
            | "Product Manager"
            | "Community Manager"
            | "Robotics Engineer" => Technology,
            "UX Designer"
            | "Creative Director"
            | "Illustrator"
            | "Architect"
            | "Fashion Designer"
            | "Novelist"
            | "Landscape Architect" => Creative,
            "Research Scientist" | "Chemist" | "Marine Biologist" | "Astrophysicist"
            | "Botanist" => Science,
            "Veterinarian" | "Surgeon" | "Paediatric Nurse" | "Therapist" | "Yoga Instructor"
            | "Personal Trainer" => Care,
            "Primary School Teacher"
            | "University Professor"
            | "Librarian"
            | "Historian"
            | "Investigative Journalist" => Learning,
            "Executive Chef" | "Pastry Chef" | "Hotel General Manager" | "Event Planner" => {
                Hospitality
            }
            "Stand-up Comedian" | "Orchestra Conductor" => Performance,
            "Diplomat" | "Airline Captain" | "Search and Rescue Pilot" | "Head of Security" => {
                Service
            }
            "Mechanical Engineer" | "Carpenter" => Craft,
            _ => return None,
        })
    }

    /// The family of any career: by title when it is ours, else by words of its industry.
    pub fn of(title: &str, industry: &str) -> CareerFamily {
        CareerFamily::of_title(title).unwrap_or_else(|| {
            first_keyword(
                industry,
                &[
                    ("tech", CareerFamily::Technology),
                    ("software", CareerFamily::Technology),
                    ("science", CareerFamily::Science),
                    ("research", CareerFamily::Science),
                    ("health", CareerFamily::Care),
                    ("care", CareerFamily::Care),
                    ("educat", CareerFamily::Learning),
                    ("academ", CareerFamily::Learning),
                    ("media", CareerFamily::Learning),
                    ("hospitality", CareerFamily::Hospitality),
                    ("food", CareerFamily::Hospitality),
                    ("art", CareerFamily::Creative),
                    ("design", CareerFamily::Creative),
                    ("entertain", CareerFamily::Performance),
                    ("govern", CareerFamily::Service),
                    ("public", CareerFamily::Service),
                    ("manufactur", CareerFamily::Craft),
                    ("construct", CareerFamily::Craft),
                ],
                CareerFamily::Business,
            )
        })
    }
}

/// Titles that already say the person leads: never an entry-level or mid-level one.
const LEADING_TITLES: &[&str] = &[
    "Chief Executive Officer",
    "Chief Financial Officer",
    "Creative Director",
    "Sales Director",
    "Head of Security",
    "Hotel General Manager",
    "Executive Chef",
    "Airline Captain",
    "Orchestra Conductor",
];

/// Whether a title names a leader by itself ("Chief …", "Head of …", "… Director", a captain).
pub fn is_leading_title(title: &str) -> bool {
    LEADING_TITLES.contains(&title)
}

/// The industry after "in": lower case, with the article the few that need one take
/// ("in the public sector", "in the performing arts").
pub fn industry_phrase(industry: &str) -> String {
    let lower = industry.to_lowercase();
    match lower.as_str() {
        "public sector" | "performing arts" => format!("the {lower}"),
        _ => lower,
    }
}

/// The catalogue entry for a title, if it is one of ours.
pub fn by_title(title: &str) -> Option<&'static Career> {
    CATALOGUE.iter().find(|c| c.title == title)
}

impl Career {
    /// The trait profile: +1 on key traits, −1 on low traits, 0 elsewhere.
    pub fn profile(&self) -> [f64; DIMENSION_COUNT] {
        let mut v = [0.0; DIMENSION_COUNT];
        for (traits, weight) in [(self.key_traits, 1.0), (self.low_traits, -1.0)] {
            for i in traits.iter().filter_map(|t| index_of(t)) {
                v[i] = weight;
            }
        }
        v
    }
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The pet's scores centred on their own mean (what makes this pet different from itself).
pub fn centred(personality: &Personality) -> [f64; DIMENSION_COUNT] {
    let scores = personality.scores();
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / DIMENSION_COUNT as f64;
    scores.map(|s| f64::from(s) - mean)
}

/// Every career ranked by cosine similarity, best first (ties: catalogue order).
pub fn ranked(personality: &Personality) -> Vec<(&'static Career, f64)> {
    let v = centred(personality);
    let mut all: Vec<(usize, &'static Career, f64)> = CATALOGUE
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c, cosine(&v, &c.profile())))
        .collect();
    all.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    all.into_iter().map(|(_, c, s)| (c, s)).collect()
}

/// Confidence (0–1) from the best cosine and its margin over the runner-up.
pub fn confidence(best: f64, runner_up: f64) -> f64 {
    let fit = (best + 1.0) / 2.0;
    let margin = (best - runner_up).clamp(0.0, 0.5) * 2.0;
    (0.8 * fit + 0.2 * margin).clamp(0.0, 1.0)
}

/// Seniority from the pet's seniority score (`Personality::seniority_score`: the leadership
/// traits against the pet's own average); a title that names a leader is at least senior.
pub fn seniority(personality: &Personality, title: &str) -> Seniority {
    let level = Seniority::from_leadership(personality.seniority_score());
    if is_leading_title(title) && matches!(level, Seniority::EntryLevel | Seniority::MidLevel) {
        Seniority::Senior
    } else {
        level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_large_and_well_formed() {
        assert!(CATALOGUE.len() >= 40);
        let mut titles: Vec<&str> = CATALOGUE.iter().map(|c| c.title).collect();
        titles.sort_unstable();
        titles.dedup();
        assert_eq!(titles.len(), CATALOGUE.len(), "titles must be unique");
        for c in CATALOGUE {
            for t in c.key_traits.iter().chain(c.low_traits) {
                assert!(index_of(t).is_some(), "{}: unknown trait {t}", c.title);
            }
            assert!((3..=5).contains(&c.key_traits.len()), "{}", c.title);
            assert!(c.skills.len() >= 4, "{}", c.title);
        }
    }

    #[test]
    fn attire_and_scene_descriptions_read_back_as_themselves() {
        for career in CATALOGUE {
            assert_eq!(Attire::from_text(career.attire.describe()), career.attire);
            assert_eq!(Scene::from_text(career.scene.describe()), career.scene);
        }
        assert_eq!(Attire::from_text("A Charcoal SUIT"), Attire::CharcoalSuit);
        assert_eq!(Attire::from_text("a kimono"), Attire::Blazer);
        assert_eq!(Scene::from_text("a beach"), Scene::CornerOffice);
    }

    #[test]
    fn a_pet_strong_in_a_careers_traits_gets_that_career() {
        for career in CATALOGUE {
            let mut scores = [40u8; DIMENSION_COUNT];
            for t in career.key_traits {
                scores[index_of(t).unwrap_or(0)] = 95;
            }
            for t in career.low_traits {
                scores[index_of(t).unwrap_or(0)] = 5;
            }
            let best = ranked(&Personality::from_scores(scores))[0].0;
            assert_eq!(best.title, career.title);
        }
    }
}
