//! The evaluation of issue #13: the local vision model and the old texture heuristic
//! (`steps::offline::OfflineBackend`) on the same labelled photos, in the same run.
//!
//!     eval/fetch                                   # prints the photo directory
//!     cargo run --release -p vision --example evaluate -- eval/manifest.json [PHOTO_DIR] [--verbose] [--verbose-held-out] [--views N]
//!
//! PHOTO_DIR defaults to `$HOME/.cache/petavatar/eval-photos` (eval/fetch's default), then to the
//! manifest's own directory. Each file's sha256 is checked against the manifest.
//!
//! Expected: `pet`, `pet_with_person`, `wild_animal`, `farm_animal` accepted with the labelled
//! species; `person`, `object`, `scene` refused. `drawing` is scored on its own, outside the
//! targets: a drawn animal should be accepted as the animal it shows, a drawing without an
//! animal refused (eval/README.md says why).
//!
//! Each photo is in the `dev` or the `held_out` split. The decision rules may be adjusted while
//! looking at `dev` only; `--verbose` prints the per-photo lines of `dev`, and
//! `--verbose-held-out` those of `held_out` too (for the final report, not for tuning).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use steps::ports::{NonPetSubject, VisionVerdict};
use vision::LocalVision;

#[derive(Debug, Deserialize)]
struct Manifest {
    photos: Vec<Photo>,
}

#[derive(Debug, Deserialize)]
struct Photo {
    file: String,
    #[serde(default)]
    sha256: Option<String>,
    label: String,
    #[serde(default)]
    species: Option<String>,
    #[serde(default)]
    imagenet: Option<String>,
    #[serde(default = "dev")]
    split: String,
}

fn dev() -> String {
    "dev".into()
}

const SPLITS: [&str; 3] = ["dev", "held_out", "all"];

/// One model's answer on one photo.
#[derive(Debug, Clone)]
enum Answer {
    Pet { species: String },
    Refused(NonPetSubject),
}

impl Answer {
    fn from(verdict: &VisionVerdict) -> Answer {
        match verdict {
            VisionVerdict::Pet(a) => Answer::Pet {
                species: a.species.clone(),
            },
            VisionVerdict::NotAPet { subject, .. } => Answer::Refused(*subject),
        }
    }

    fn column(&self) -> String {
        match self {
            Answer::Pet { species } => species.clone(),
            Answer::Refused(NonPetSubject::Person) => "refused:person".into(),
            Answer::Refused(NonPetSubject::NoAnimal) => "refused:no_animal".into(),
        }
    }
}

fn accepted(label: &str) -> Option<bool> {
    match label {
        "pet" | "pet_with_person" | "wild_animal" | "farm_animal" => Some(true),
        "person" | "object" | "scene" => Some(false),
        _ => None, // drawing: scored apart
    }
}

fn is_pet(label: &str) -> bool {
    matches!(label, "pet" | "pet_with_person")
}

#[derive(Default)]
struct Score {
    animals: usize,
    species_right: usize,
    animals_refused: usize,
    pets: usize,
    pets_refused: usize,
    non_pets: usize,
    non_pets_refused: usize,
    people: usize,
    people_refused: usize,
    breeds: usize,
    breed_top1: usize,
    breed_top5: usize,
    confusion: BTreeMap<(String, String), usize>,
    drawn_animals: usize,
    drawn_animals_right: usize,
    drawings_without_animal: usize,
    drawings_without_animal_refused: usize,
    drawings: Vec<String>,
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "—".into()
    } else {
        format!("{:.1} % ({n}/{d})", 100.0 * n as f64 / d as f64)
    }
}

impl Score {
    fn add(&mut self, photo: &Photo, answer: &Answer) {
        let truth = match accepted(&photo.label) {
            Some(true) => photo.species.clone().unwrap_or_else(|| "?".into()),
            Some(false) => format!("({})", photo.label),
            None => {
                self.add_drawing(photo, answer);
                return;
            }
        };
        *self.confusion.entry((truth, answer.column())).or_default() += 1;
        let refused = matches!(answer, Answer::Refused(_));
        match accepted(&photo.label) {
            Some(true) => {
                self.animals += 1;
                self.animals_refused += usize::from(refused);
                if let Answer::Pet { species } = answer {
                    self.species_right += usize::from(photo.species.as_deref() == Some(species));
                }
                if is_pet(&photo.label) {
                    self.pets += 1;
                    self.pets_refused += usize::from(refused);
                }
            }
            _ => {
                self.non_pets += 1;
                self.non_pets_refused += usize::from(refused);
                if photo.label == "person" {
                    self.people += 1;
                    self.people_refused += usize::from(refused);
                }
            }
        }
    }

    fn add_drawing(&mut self, photo: &Photo, answer: &Answer) {
        self.drawings
            .push(format!("{} → {}", photo.file, answer.column()));
        match (&photo.species, answer) {
            (Some(truth), Answer::Pet { species }) => {
                self.drawn_animals += 1;
                self.drawn_animals_right += usize::from(truth == species);
            }
            (Some(_), Answer::Refused(_)) => self.drawn_animals += 1,
            (None, answer) => {
                self.drawings_without_animal += 1;
                self.drawings_without_animal_refused +=
                    usize::from(matches!(answer, Answer::Refused(_)));
            }
        }
    }

    fn add_breed(&mut self, photo: &Photo, ranked_names: &[&str]) {
        if let Some(truth) = &photo.imagenet {
            self.breeds += 1;
            self.breed_top1 += usize::from(ranked_names.first() == Some(&truth.as_str()));
            self.breed_top5 += usize::from(ranked_names.iter().take(5).any(|n| n == truth));
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn photo_dir(manifest: &Path, given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let cache =
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/petavatar/eval-photos"));
        match cache {
            Some(c) if c.is_dir() => c,
            _ => manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    args.retain(|a| a != "--verbose");
    let verbose_held_out = args.iter().any(|a| a == "--verbose-held-out");
    args.retain(|a| a != "--verbose-held-out");
    let views = take_views(&mut args)?;
    let manifest_path = PathBuf::from(
        args.first()
            .ok_or("usage: evaluate MANIFEST [PHOTO_DIR] [--verbose]")?,
    );
    let dir = photo_dir(&manifest_path, args.get(1).map(PathBuf::from));
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&manifest_path)?)?;
    let model = LocalVision::load()?.with_views(views);
    println!("views per photo: {}", model.views());

    // Per split (dev, held_out, all): the local model's score and the heuristic's.
    let mut new: BTreeMap<&str, Score> = SPLITS.iter().map(|s| (*s, Score::default())).collect();
    let mut old: BTreeMap<&str, Score> = SPLITS.iter().map(|s| (*s, Score::default())).collect();
    // Dev photographs' (label, what the models saw), for the threshold sweep.
    let mut dev_seen: Vec<(String, vision::verdict::Seen)> = Vec::new();
    for photo in &manifest.photos {
        let path = dir.join(&photo.file);
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("{}: {e} (run eval/fetch)", path.display()))?;
        if let Some(expected) = &photo.sha256 {
            let actual = sha256_hex(&bytes);
            if &actual != expected {
                return Err(
                    format!("{}: sha256 {actual}, manifest says {expected}", photo.file).into(),
                );
            }
        }
        let image = pipeline_input(&bytes)?;

        let sight = model.see(&image)?;
        let verdict = model.verdict(&sight, &image, None)?;
        let answer = Answer::from(&verdict);
        let ranked: Vec<&str> = vision::analysis::ranked(&sight.probabilities)
            .into_iter()
            .take(5)
            .map(|i| model.classes()[i].as_str())
            .collect();
        if photo.split == "dev" && accepted(&photo.label).is_some() {
            dev_seen.push((photo.label.clone(), sight.seen()));
        }
        let baseline = steps::offline::analyse_pixels(&image, None)?;
        let old_answer = Answer::from(&baseline);
        for split in [photo.split.as_str(), "all"] {
            let score = new.get_mut(split).ok_or("split must be dev or held_out")?;
            score.add(photo, &answer);
            score.add_breed(photo, &ranked);
            old.get_mut(split)
                .ok_or("split must be dev or held_out")?
                .add(photo, &old_answer);
        }

        if verbose && (photo.split == "dev" || verbose_held_out) {
            let why = match &verdict {
                VisionVerdict::Pet(a) => {
                    format!("{} / {} ({:?})", a.species, a.breed, a.confidence)
                }
                VisionVerdict::NotAPet { reason, .. } => reason.clone(),
            };
            println!(
                "{:<8} {:<44} {:<12} new: {:<18} old: {:<18} {why}",
                photo.split,
                photo.file,
                photo.label,
                answer.column(),
                old_answer.column()
            );
        }
    }
    report(&new, &old);
    sweep(&dev_seen);
    Ok(())
}

/// Dev photographs only: animals refused and non-animals accepted if the animal-mass threshold
/// were another value (the rules use `vision::verdict::ANIMAL_MASS`; faces as in the product).
fn sweep(dev: &[(String, vision::verdict::Seen)]) {
    use vision::verdict::{Decision, decide_at};
    println!(
        "\nAnimal-mass threshold on dev photographs (the rules use {:.2}):\n",
        vision::verdict::ANIMAL_MASS
    );
    println!("| threshold | animals refused | pets refused | non-pets accepted | errors |");
    println!("|---|---|---|---|---|");
    for step in 2..=8 {
        let threshold = step as f32 / 10.0;
        let (mut animals, mut pets, mut non_pets) = (0, 0, 0);
        for (label, seen) in dev {
            let refused = !matches!(decide_at(seen, threshold), Decision::Pet { .. });
            match accepted(label) {
                Some(true) => {
                    animals += usize::from(refused);
                    pets += usize::from(refused && is_pet(label));
                }
                _ => non_pets += usize::from(!refused),
            }
        }
        println!(
            "| {threshold:.1} | {animals} | {pets} | {non_pets} | {} |",
            animals + non_pets
        );
    }
}

/// `--views N` (default: the product's [`vision::DEFAULT_VIEWS`]).
fn take_views(args: &mut Vec<String>) -> Result<usize, Box<dyn std::error::Error>> {
    match args.iter().position(|a| a == "--views") {
        Some(i) => {
            let n = args.get(i + 1).ok_or("--views needs a number")?.parse()?;
            args.drain(i..=i + 1);
            Ok(n)
        }
        None => Ok(vision::DEFAULT_VIEWS),
    }
}

/// The pixels AnalyzePet would see: ValidateImage's normalization for JPEG and PNG (EXIF
/// orientation, transparency over white, long edge ≤ 1568). The product takes only JPEG, PNG
/// and HEIC; the WebP and GIF photos of the set are decoded here with the same rule
/// (transparency over white), so the classifier is measured on them all the same.
fn pipeline_input(bytes: &[u8]) -> Result<image::RgbImage, Box<dyn std::error::Error>> {
    let image = match steps::imaging::detect_format(bytes) {
        Ok(format) => steps::imaging::decode_upright(bytes, format, 1568)?.image,
        Err(_) => over_white(&image::load_from_memory(bytes)?),
    };
    Ok(steps::imaging::fit_long_edge(image, 1568)?)
}

fn over_white(image: &image::DynamicImage) -> image::RgbImage {
    let rgba = image.to_rgba8();
    let mut out = image::RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u16::from(src[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    out
}

/// A measure of a score: (count, out of).
type Ratio = fn(&Score) -> (usize, usize);

const MEASURES: [(&str, &str, Ratio); 9] = [
    ("species right (animals)", "≥ 90 %", |s| {
        (s.species_right, s.animals)
    }),
    ("non-pets refused", "≥ 90 %", |s| {
        (s.non_pets_refused, s.non_pets)
    }),
    ("people refused", "≥ 90 %", |s| {
        (s.people_refused, s.people)
    }),
    ("pets wrongly refused", "≤ 5 %", |s| {
        (s.pets_refused, s.pets)
    }),
    ("animals wrongly refused (pets + wild + farm)", "—", |s| {
        (s.animals_refused, s.animals)
    }),
    ("breed top-1 (where labelled)", "—", |s| {
        (s.breed_top1, s.breeds)
    }),
    ("breed top-5 (where labelled)", "—", |s| {
        (s.breed_top5, s.breeds)
    }),
    ("drawn animals accepted as that species", "—", |s| {
        (s.drawn_animals_right, s.drawn_animals)
    }),
    ("drawings without an animal refused", "—", |s| {
        (s.drawings_without_animal_refused, s.drawings_without_animal)
    }),
];

fn report(new: &BTreeMap<&str, Score>, old: &BTreeMap<&str, Score>) {
    for split in SPLITS {
        let s = &new[split];
        println!(
            "\n{split}: {} photographs ({} animals of which {} pets, {} non-pets of which {} people) and {} drawings",
            s.animals + s.non_pets,
            s.animals,
            s.pets,
            s.non_pets,
            s.people,
            s.drawings.len()
        );
    }
    println!(
        "\n| measure | target | model dev | model held-out | model all | heuristic dev | heuristic held-out | heuristic all |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, target, f) in MEASURES {
        let cells: Vec<String> = [new, old]
            .iter()
            .flat_map(|scores| SPLITS.iter().map(|s| f(&scores[s])))
            .map(|(n, d)| pct(n, d))
            .collect();
        println!("| {name} | {target} | {} |", cells.join(" | "));
    }
    println!(
        "\n(model: {}; heuristic: the texture heuristic, steps::offline; breeds: the heuristic names none, so its breed rows count nothing)",
        vision::MODEL
    );
    for (title, score) in [
        ("local model", &new["all"]),
        ("texture heuristic", &old["all"]),
    ] {
        confusion(title, score);
    }
}

fn confusion(title: &str, score: &Score) {
    println!(
        "\nConfusion, {title}, all photographs (rows: truth, species or (label); columns: answer)\n"
    );
    let mut columns: Vec<String> = score.confusion.keys().map(|(_, a)| a.clone()).collect();
    columns.sort();
    columns.dedup();
    let mut rows: Vec<String> = score.confusion.keys().map(|(t, _)| t.clone()).collect();
    rows.sort();
    rows.dedup();
    println!("| truth | {} |", columns.join(" | "));
    println!("|---|{}", "---|".repeat(columns.len()));
    for r in &rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| {
                score
                    .confusion
                    .get(&(r.clone(), c.clone()))
                    .map_or(String::new(), |n| n.to_string())
            })
            .collect();
        println!("| {r} | {} |", cells.join(" | "));
    }
    if !score.drawings.is_empty() {
        println!("\nDrawings ({title}): {}", score.drawings.join("; "));
    }
}
