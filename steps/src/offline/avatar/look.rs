//! Who the portrait shows: a person whose looks are read from the pet. Coat colours become hair
//! colour (pulled toward a natural shade), a patterned coat becomes highlights, the breed or
//! species picks face shape and hair texture through small tables (any other string gets the
//! default), the expression and posture of the analysis become the mouth, brows and head tilt.
//! Every free choice is drawn from a seed that hashes the analysis, so the same photo always
//! gives the same person, at every size.

use sha2::{Digest, Sha256};

use super::{Rgb, SplitMix, luma, mix};
use crate::domain::PetAnalysis;

/// Outline of the face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceShape {
    Oval,
    Round,
    Square,
    Heart,
    Long,
}

impl FaceShape {
    /// Half-width at the cheekbones, jaw width as a share of it, chin width as a share of it,
    /// and the face's length relative to an oval face.
    pub fn geometry(self) -> (f32, f32, f32, f32) {
        match self {
            FaceShape::Oval => (118.0, 0.80, 0.30, 1.00),
            FaceShape::Round => (128.0, 0.86, 0.40, 0.95),
            FaceShape::Square => (124.0, 0.93, 0.50, 0.98),
            FaceShape::Heart => (122.0, 0.70, 0.22, 1.00),
            FaceShape::Long => (110.0, 0.82, 0.34, 1.08),
        }
    }
}

/// How the hair falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texture {
    Straight,
    Wavy,
    Curly,
    Coily,
}

/// The cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HairStyle {
    Buzz,
    Crop,
    SidePart,
    Quiff,
    Bob,
    Shoulder,
    Long,
    Bun,
    Afro,
}

impl HairStyle {
    /// Styles that reach below the ears (they hide the ears and need hair behind the neck).
    pub fn is_long(self) -> bool {
        matches!(self, HairStyle::Bob | HairStyle::Shoulder | HairStyle::Long)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacialHair {
    None,
    Stubble,
    Beard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glasses {
    None,
    Round,
    Rectangular,
}

/// Everything the drawing of the person needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub face: FaceShape,
    pub skin: Rgb,
    pub hair: Rgb,
    /// A second hair colour for streaks, when the coat is patterned (two contrasting colours).
    pub highlight: Option<Rgb>,
    pub texture: Texture,
    pub style: HairStyle,
    /// Which side the parting or the sweep goes to: -1 left, 1 right.
    pub side: f32,
    pub eyes: Rgb,
    pub facial_hair: FacialHair,
    pub glasses: Glasses,
    /// 0 (neutral) to 1 (broad smile).
    pub smile: f32,
    /// Brow height offset in design units (positive = raised).
    pub brow_raise: f32,
    /// Brow slant: positive lowers the inner ends (a serious look).
    pub brow_slant: f32,
    /// Eye openness, 1 = relaxed.
    pub eye_open: f32,
    /// Head tilt in degrees (positive = clockwise).
    pub head_tilt: f32,
    /// How far the face turns, in design units (features shift this much).
    pub turn: f32,
    /// Shoulder tilt in degrees.
    pub shoulder_tilt: f32,
    /// Drawing seed for the small free choices (strand placement).
    pub seed: u64,
}

/// A seed from what the photo gave: species, breed, palette and the 47 scores. The job id is not
/// in it, so the same photo gives the same person whatever the job.
pub fn analysis_seed(analysis: &PetAnalysis) -> u64 {
    let mut hasher = Sha256::new();
    for part in [
        analysis.species.as_str(),
        analysis.breed.as_str(),
        analysis.expression.as_str(),
        analysis.posture.as_str(),
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for colour in &analysis.palette {
        hasher.update(colour.as_bytes());
    }
    hasher.update(analysis.personality.scores());
    let digest = hasher.finalize();
    u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

const SKIN_TONES: [Rgb; 8] = [
    [252, 222, 196],
    [240, 198, 164],
    [226, 178, 138],
    [204, 152, 110],
    [178, 124, 86],
    [146, 96, 64],
    [114, 74, 50],
    [88, 56, 40],
];

/// Natural hair shades; the pet's coat colour is pulled toward the nearest one.
const HAIR_SHADES: [Rgb; 11] = [
    [30, 26, 26],
    [60, 42, 32],
    [98, 66, 44],
    [122, 72, 42],
    [142, 66, 40],
    [184, 100, 52],
    [162, 132, 90],
    [214, 184, 126],
    [234, 226, 208],
    [150, 150, 152],
    [198, 200, 204],
];

const EYE_COLOURS: [(&str, Rgb); 7] = [
    ("brown", [104, 64, 38]),
    ("dark brown", [66, 42, 28]),
    ("hazel", [132, 104, 52]),
    ("amber", [176, 122, 44]),
    ("green", [86, 130, 70]),
    ("blue", [78, 120, 170]),
    ("grey", [118, 134, 146]),
];

fn eye(name: &str) -> Rgb {
    EYE_COLOURS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or([104, 64, 38], |(_, c)| *c)
}

/// Per species: face shape, hair texture, the styles that suit, and the eye colours to draw
/// from. Unknown species (and `other_animal`) take the last row.
struct SpeciesLook {
    face: FaceShape,
    texture: Texture,
    styles: &'static [HairStyle],
    eyes: &'static [&'static str],
}

fn species_look(species: &str) -> SpeciesLook {
    use HairStyle::*;
    match species {
        "cat" | "kitten" => SpeciesLook {
            face: FaceShape::Heart,
            texture: Texture::Straight,
            styles: &[Bob, SidePart, Long, Crop, Bun, Shoulder],
            eyes: &["green", "amber", "hazel", "blue"],
        },
        "dog" | "puppy" => SpeciesLook {
            face: FaceShape::Round,
            texture: Texture::Wavy,
            styles: &[Shoulder, Quiff, Crop, SidePart, Long, Afro],
            eyes: &["brown", "dark brown", "hazel", "amber"],
        },
        "rabbit" | "bunny" => SpeciesLook {
            face: FaceShape::Round,
            texture: Texture::Straight,
            styles: &[Bob, Bun, Shoulder, Crop],
            eyes: &["dark brown", "brown", "grey"],
        },
        "rodent" | "hamster" | "guinea pig" | "mouse" | "rat" => SpeciesLook {
            face: FaceShape::Round,
            texture: Texture::Curly,
            styles: &[Crop, Bob, Afro, Quiff],
            eyes: &["dark brown", "brown"],
        },
        "bird" | "parrot" | "budgie" | "canary" => SpeciesLook {
            face: FaceShape::Heart,
            texture: Texture::Straight,
            styles: &[Quiff, SidePart, Bun, Crop],
            eyes: &["amber", "dark brown", "hazel"],
        },
        "fish" => SpeciesLook {
            face: FaceShape::Oval,
            texture: Texture::Straight,
            styles: &[SidePart, Long, Bob, Buzz],
            eyes: &["blue", "grey", "green"],
        },
        "reptile" | "lizard" | "snake" | "turtle" => SpeciesLook {
            face: FaceShape::Square,
            texture: Texture::Straight,
            styles: &[Buzz, Crop, SidePart, Bun],
            eyes: &["amber", "green", "hazel"],
        },
        "horse" | "pony" => SpeciesLook {
            face: FaceShape::Long,
            texture: Texture::Wavy,
            styles: &[Long, Shoulder, Bun, SidePart],
            eyes: &["dark brown", "brown", "hazel"],
        },
        _ => SpeciesLook {
            face: FaceShape::Oval,
            texture: Texture::Wavy,
            styles: &[Crop, SidePart, Bob, Shoulder, Quiff, Bun, Long, Afro],
            eyes: &["brown", "hazel", "green", "grey", "blue", "amber"],
        },
    }
}

/// Breed words that override the species row (matched as substrings of the lower-cased breed,
/// so ImageNet names such as `golden retriever` or `Persian cat` match).
const BREED_FACE: &[(&str, FaceShape)] = &[
    ("bulldog", FaceShape::Square),
    ("boxer", FaceShape::Square),
    ("mastiff", FaceShape::Square),
    ("pug", FaceShape::Round),
    ("persian", FaceShape::Round),
    ("greyhound", FaceShape::Long),
    ("whippet", FaceShape::Long),
    ("borzoi", FaceShape::Long),
    ("saluki", FaceShape::Long),
    ("collie", FaceShape::Long),
    ("siamese", FaceShape::Long),
    ("doberman", FaceShape::Long),
    ("chihuahua", FaceShape::Heart),
    ("spaniel", FaceShape::Oval),
];

const BREED_TEXTURE: &[(&str, Texture)] = &[
    ("poodle", Texture::Coily),
    ("bichon", Texture::Curly),
    ("curly", Texture::Curly),
    ("terrier", Texture::Curly),
    ("rex", Texture::Curly),
    ("retriever", Texture::Wavy),
    ("spaniel", Texture::Wavy),
    ("setter", Texture::Wavy),
    ("afghan", Texture::Straight),
    ("shih", Texture::Straight),
    ("persian", Texture::Straight),
    ("siamese", Texture::Straight),
    ("labrador", Texture::Straight),
];

const BREED_STYLE: &[(&str, HairStyle)] = &[
    ("poodle", HairStyle::Afro),
    ("afghan", HairStyle::Long),
    ("shih", HairStyle::Long),
    ("yorkshire", HairStyle::Long),
    ("maltese", HairStyle::Long),
    ("collie", HairStyle::Shoulder),
    ("persian", HairStyle::Shoulder),
    ("maine coon", HairStyle::Shoulder),
    ("setter", HairStyle::Shoulder),
    ("spaniel", HairStyle::Bob),
    ("siamese", HairStyle::Bob),
    ("boxer", HairStyle::Crop),
    ("bulldog", HairStyle::Crop),
    ("pinscher", HairStyle::Buzz),
    ("greyhound", HairStyle::Buzz),
];

const BREED_EYES: &[(&str, &str)] = &[
    ("husky", "blue"),
    ("siamese", "blue"),
    ("malamute", "amber"),
    ("weimaraner", "grey"),
    ("tabby", "green"),
];

fn by_breed<T: Copy>(breed: &str, table: &[(&str, T)]) -> Option<T> {
    let breed = breed.to_lowercase();
    table
        .iter()
        .find(|(word, _)| breed.contains(word))
        .map(|(_, value)| *value)
}

impl Look {
    pub fn from_analysis(analysis: &PetAnalysis) -> Look {
        let seed = analysis_seed(analysis);
        let mut rng = SplitMix(seed);
        let coat = coat_colours(&analysis.palette);
        let row = species_look(&analysis.species.to_lowercase());
        let traits = |name: &str| f32::from(analysis.personality.get(name).unwrap_or(50)) / 100.0;

        let face = by_breed(&analysis.breed, BREED_FACE).unwrap_or_else(|| {
            // A confident, assertive pet gets a firmer jaw; a gentle one a softer face.
            let firm = traits("assertiveness") + traits("confidence")
                - traits("gentleness")
                - traits("affection");
            if firm > 0.25 {
                FaceShape::Square
            } else if firm < -0.25 {
                FaceShape::Round
            } else if rng.unit() < 0.5 {
                row.face
            } else {
                rng.pick(&[FaceShape::Oval, FaceShape::Heart, FaceShape::Long, row.face])
            }
        });
        let texture = by_breed(&analysis.breed, BREED_TEXTURE).unwrap_or_else(|| {
            // A lively, spontaneous pet's hair has more curl; a disciplined one's lies flat.
            let curl = traits("playfulness") + traits("spontaneity") - traits("discipline");
            if curl > 0.75 {
                Texture::Curly
            } else if curl < 0.2 {
                Texture::Straight
            } else {
                row.texture
            }
        });
        let mut style =
            by_breed(&analysis.breed, BREED_STYLE).unwrap_or_else(|| rng.pick(row.styles));
        if texture == Texture::Coily && !matches!(style, HairStyle::Buzz | HairStyle::Crop) {
            style = HairStyle::Afro;
        }
        let eye_name = by_breed(&analysis.breed, BREED_EYES).unwrap_or_else(|| rng.pick(row.eyes));

        let skin = skin_tone(coat.base, &mut rng);
        let (smile, brow_raise, brow_slant, eye_open) = expression(
            &analysis.expression,
            traits("humor") + traits("friendliness"),
        );
        let (head_tilt, turn, shoulder_tilt) = posture(&analysis.posture, &mut rng);
        let facial_hair = if style.is_long() || style == HairStyle::Bun {
            FacialHair::None
        } else {
            rng.pick(&[
                FacialHair::None,
                FacialHair::None,
                FacialHair::Stubble,
                FacialHair::Beard,
            ])
        };
        let bookish =
            (traits("analytical_thinking") + traits("intelligence") + traits("focus")) / 3.0;
        let glasses = if bookish > 0.68 || rng.unit() < 0.12 {
            rng.pick(&[Glasses::Round, Glasses::Rectangular])
        } else {
            Glasses::None
        };
        Look {
            face,
            skin,
            hair: coat.hair,
            highlight: coat.highlight,
            texture,
            style,
            side: if rng.unit() < 0.5 { -1.0 } else { 1.0 },
            eyes: eye(eye_name),
            facial_hair,
            glasses,
            smile,
            brow_raise,
            brow_slant,
            eye_open,
            head_tilt,
            turn,
            shoulder_tilt,
            seed: rng.next(),
        }
    }
}

struct Coat {
    /// The most prominent coat colour.
    base: Rgb,
    hair: Rgb,
    highlight: Option<Rgb>,
}

fn parse_hex(colour: &str) -> Option<Rgb> {
    let hex = colour.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// Hair from the coat: the main colour pulled most of the way to the nearest natural shade (a
/// blue-grey coat gives grey hair, never blue); a second colour far enough in lightness gives
/// streaks, as a tabby's or a tricolour's coat would.
fn coat_colours(palette: &[String]) -> Coat {
    let colours: Vec<Rgb> = palette.iter().filter_map(|c| parse_hex(c)).collect();
    let base = colours.first().copied().unwrap_or([120, 86, 60]);
    let hair = natural(base);
    let highlight = colours
        .iter()
        .skip(1)
        .copied()
        .find(|c| (luma(*c) - luma(base)).abs() > 38.0)
        .map(natural);
    Coat {
        base,
        hair,
        highlight,
    }
}

fn natural(colour: Rgb) -> Rgb {
    let distance = |a: Rgb, b: Rgb| -> f32 {
        let dl = luma(a) - luma(b);
        let dc: f32 = (0..3)
            .map(|i| f32::from(a[i]) - f32::from(b[i]))
            .map(|d| d * d)
            .sum();
        dl * dl * 2.0 + dc
    };
    let nearest = HAIR_SHADES
        .iter()
        .copied()
        .min_by(|a, b| distance(*a, colour).total_cmp(&distance(*b, colour)))
        .unwrap_or(HAIR_SHADES[2]);
    mix(colour, nearest, 0.7)
}

/// Skin from the coat's lightness (a pale coat leans to the lighter tones, a dark one to the
/// deeper ones), with a seeded step either way so that coats of one colour do not all map to
/// one tone.
fn skin_tone(coat: Rgb, rng: &mut SplitMix) -> Rgb {
    let light = luma(coat) / 255.0;
    let centre = ((1.0 - light) * 7.0).round() as i64;
    let step = (rng.next() % 5) as i64 - 2;
    let index = (centre + step).clamp(0, SKIN_TONES.len() as i64 - 1) as usize;
    SKIN_TONES[index]
}

/// Mouth and brows from the expression's words (any wording: unknown words fall back to a calm,
/// pleasant look), warmed by the pet's humour and friendliness.
fn expression(text: &str, warmth: f32) -> (f32, f32, f32, f32) {
    let text = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let (smile, raise, slant, open) = if has(&["playful", "happy", "joy", "excited", "goofy"]) {
        (0.95, 4.0, -2.0, 0.92)
    } else if has(&["friendly", "soft", "warm", "content"]) {
        (0.8, 2.0, -1.0, 0.9)
    } else if has(&["intense", "serious", "stern", "focused", "grumpy"]) {
        (0.12, -3.0, 5.0, 0.86)
    } else if has(&["alert", "attentive", "surprised", "wide"]) {
        (0.38, 7.0, 0.0, 1.08)
    } else if has(&["pensive", "sleepy", "tired", "drowsy", "sad"]) {
        (0.22, 1.0, -4.0, 0.72)
    } else if has(&["curious", "inquisitive"]) {
        (0.5, 4.0, 0.0, 1.0)
    } else {
        (0.45, 1.0, 0.0, 0.95)
    };
    let smile = (smile + (warmth - 1.0) * 0.25).clamp(0.0, 1.0);
    (smile, raise, slant, open)
}

/// Head tilt, turn and shoulder line from the posture's words, with a small seeded variation.
fn posture(text: &str, rng: &mut SplitMix) -> (f32, f32, f32) {
    let text = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let jitter = (rng.unit() - 0.5) * 3.0;
    let side = if rng.unit() < 0.5 { -1.0 } else { 1.0 };
    let (tilt, turn, shoulders) =
        if has(&["turned", "off-centre", "side", "profile", "looking away"]) {
            (5.0 * side, 16.0 * side, 2.5 * side)
        } else if has(&["sprawled", "relaxed", "lying", "curled"]) {
            (-6.0 * side, 6.0 * side, -3.0 * side)
        } else if has(&["tilt", "cocked"]) {
            (9.0 * side, 4.0 * side, 0.0)
        } else if has(&["upright", "sitting", "standing", "alert", "proud"]) {
            (0.0, 0.0, 0.0)
        } else {
            (1.5 * side, 3.0 * side, 0.5 * side)
        };
    (tilt + jitter, turn, shoulders + jitter * 0.3)
}

/// An analysis for tests: neutral scores, the given species, breed and palette.
#[cfg(test)]
pub(crate) fn sample_analysis(species: &str, breed: &str, palette: &[&str]) -> PetAnalysis {
    use crate::personality::Personality;
    PetAnalysis {
        species: species.into(),
        breed: breed.into(),
        expression: "calm and curious".into(),
        posture: "centred close-up, facing the camera".into(),
        personality: Personality::from_scores([50; crate::personality::DIMENSION_COUNT]),
        dominant_traits: ["calmness".into(), "curiosity".into(), "focus".into()],
        vibe: "warm".into(),
        palette: palette.iter().map(|s| s.to_string()).collect(),
        model: "offline".into(),
        confidence: None,
        alternatives: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(species: &str, breed: &str, palette: &[&str]) -> PetAnalysis {
        sample_analysis(species, breed, palette)
    }

    #[test]
    fn the_same_analysis_gives_the_same_look_and_any_species_string_works() {
        for species in [
            "cat",
            "dog",
            "rabbit",
            "rodent",
            "bird",
            "fish",
            "reptile",
            "horse",
            "other_animal",
            "axolotl",
            "",
        ] {
            let a = analysis(species, "mixed", &["#5a4030", "#d8c8b0"]);
            assert_eq!(
                Look::from_analysis(&a),
                Look::from_analysis(&a),
                "{species}"
            );
        }
    }

    #[test]
    fn breed_words_pick_from_the_tables() {
        let poodle = Look::from_analysis(&analysis("dog", "standard poodle", &["#f0eee8"]));
        assert_eq!(poodle.texture, Texture::Coily);
        assert_eq!(poodle.style, HairStyle::Afro);
        let siamese = Look::from_analysis(&analysis("cat", "Siamese cat", &["#e8dcc8"]));
        assert_eq!(siamese.face, FaceShape::Long);
        assert_eq!(siamese.eyes, eye("blue"));
    }

    #[test]
    fn hair_takes_a_natural_shade_of_the_coat_and_a_contrasting_colour_streaks_it() {
        let black = Look::from_analysis(&analysis("cat", "unknown", &["#151515"]));
        assert!(luma(black.hair) < 40.0, "{:?}", black.hair);
        assert_eq!(black.highlight, None);
        let ginger = Look::from_analysis(&analysis("cat", "unknown", &["#c0702e"]));
        assert!(ginger.hair[0] > ginger.hair[2] + 60, "{:?}", ginger.hair);
        let blue = Look::from_analysis(&analysis("cat", "unknown", &["#6080c0"]));
        assert!(
            blue.hair[2] < blue.hair[0] + 40,
            "no blue hair: {:?}",
            blue.hair
        );
        let tabby = Look::from_analysis(&analysis("cat", "tabby", &["#8a7050", "#2a2018"]));
        assert!(tabby.highlight.is_some());
    }

    #[test]
    fn expression_words_move_the_mouth_and_brows() {
        let (happy, ..) = expression("playful and happy", 1.0);
        let (serious, _, slant, _) = expression("intense and serious", 1.0);
        assert!(happy > serious + 0.5);
        assert!(slant > 0.0);
        assert_eq!(expression("??", 1.0), (0.45, 1.0, 0.0, 0.95));
    }
}
