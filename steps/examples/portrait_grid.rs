//! Renders the offline portrait for a spread of made-up pet analyses (species, breeds, coats,
//! expressions, postures, personalities) and careers into one PNG grid, with no vision model:
//! the quick way to look at what the drawing does while working on it. For real photos through
//! the whole pipeline use `petavatar contact-sheet`.
//!
//! `cargo run -p steps --example portrait_grid -- [OUT.png] [TILE]`

use image::{RgbImage, imageops};
use steps::domain::{CareerProfile, PetAnalysis};
use steps::offline::{self, avatar};
use steps::personality::{DIMENSION_COUNT, Personality};

struct Pet {
    species: &'static str,
    breed: &'static str,
    palette: &'static [&'static str],
    expression: &'static str,
    posture: &'static str,
}

const PETS: &[Pet] = &[
    Pet {
        species: "cat",
        breed: "tabby",
        palette: &["#8a7050", "#2a2018", "#c8b090"],
        expression: "calm and curious",
        posture: "sitting upright",
    },
    Pet {
        species: "dog",
        breed: "golden retriever",
        palette: &["#d0a060", "#f0e0c0"],
        expression: "happy, mouth open",
        posture: "relaxed, lying down",
    },
    Pet {
        species: "cat",
        breed: "Siamese cat",
        palette: &["#e8dcc8", "#4a3a30"],
        expression: "alert",
        posture: "head tilted",
    },
    Pet {
        species: "dog",
        breed: "standard poodle",
        palette: &["#202020"],
        expression: "friendly",
        posture: "standing",
    },
    Pet {
        species: "dog",
        breed: "Border collie",
        palette: &["#151515", "#f4f4f0"],
        expression: "intense and focused",
        posture: "turned to the side",
    },
    Pet {
        species: "cat",
        breed: "Persian cat",
        palette: &["#f2efe8", "#b0a89c"],
        expression: "sleepy",
        posture: "curled up",
    },
    Pet {
        species: "rabbit",
        breed: "unknown",
        palette: &["#9a7a5a", "#e8e0d0"],
        expression: "curious",
        posture: "sitting",
    },
    Pet {
        species: "dog",
        breed: "pug",
        palette: &["#c8a878", "#2a2420"],
        expression: "goofy and playful",
        posture: "head tilted",
    },
    Pet {
        species: "cat",
        breed: "Egyptian cat",
        palette: &["#c0702e", "#f0d8b0"],
        expression: "content",
        posture: "lying",
    },
    Pet {
        species: "bird",
        breed: "African grey",
        palette: &["#8c9094", "#c03028"],
        expression: "alert",
        posture: "upright",
    },
    Pet {
        species: "dog",
        breed: "Siberian husky",
        palette: &["#5a5e66", "#f0f0f0"],
        expression: "serious",
        posture: "standing proud",
    },
    Pet {
        species: "other_animal",
        breed: "unknown",
        palette: &["#6a5440"],
        expression: "pensive",
        posture: "off-centre",
    },
];

fn personality(i: usize) -> Personality {
    // A deterministic spread of scores, different per pet.
    let mut scores = [50u8; DIMENSION_COUNT];
    let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1);
    for s in scores.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *s = (15 + x % 80) as u8;
    }
    Personality::from_scores(scores)
}

fn analysis(i: usize, pet: &Pet) -> PetAnalysis {
    let personality = personality(i);
    PetAnalysis {
        species: pet.species.into(),
        breed: pet.breed.into(),
        expression: pet.expression.into(),
        posture: pet.posture.into(),
        dominant_traits: personality.dominant(),
        personality,
        vibe: "warm".into(),
        palette: pet.palette.iter().map(|s| s.to_string()).collect(),
        model: "offline".into(),
        confidence: None,
        alternatives: Vec::new(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "portrait-grid.png".into());
    let tile: u32 = args.next().map_or(Ok(256), |t| t.parse())?;
    let columns = 4u32;
    let rows = (PETS.len() as u32).div_ceil(columns);
    let mut sheet = RgbImage::from_pixel(columns * tile, rows * tile, image::Rgb([255, 255, 255]));
    for (i, pet) in PETS.iter().enumerate() {
        let analysis = analysis(i, pet);
        let career: CareerProfile = offline::career_for(&analysis);
        let request = steps::ports::ImageRequest {
            job_id: uuid::Uuid::nil(),
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: 0,
            size: tile,
            analysis,
            career,
        };
        let portrait = offline::portrait_for(&request);
        let png = avatar::render_png(&portrait)?;
        let img = image::load_from_memory(&png)?.to_rgb8();
        let (x, y) = (i as u32 % columns * tile, i as u32 / columns * tile);
        imageops::replace(&mut sheet, &img, i64::from(x), i64::from(y));
        println!(
            "{:>2}. {} {} → {} ({})",
            i + 1,
            pet.species,
            pet.breed,
            request.career.job_title,
            request.career.seniority
        );
    }
    sheet.save(&out)?;
    println!("Wrote {out}");
    Ok(())
}
