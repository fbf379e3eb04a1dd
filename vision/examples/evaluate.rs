//! The evaluation of issue #13: the local vision model and the old texture heuristic
//! (`steps::offline::OfflineBackend`) on the same labelled photos, in the same run.
//!
//!     eval/fetch                                   # prints the photo directory
//!     cargo run --release -p vision --example evaluate -- eval/manifest.json [PHOTO_DIR] [--verbose]
//!
//! PHOTO_DIR defaults to `$HOME/.cache/petavatar/eval-photos` (eval/fetch's default), then to the
//! manifest's own directory. Each file's sha256 is checked against the manifest.
//!
//! Expected: `pet`, `wild_animal`, `pet_with_person` accepted with the labelled species;
//! `person`, `object`, `scene` refused; `drawing` reported on its own (no expectation).

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
}

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
        "pet" | "wild_animal" | "pet_with_person" => Some(true),
        "person" | "object" | "scene" => Some(false),
        _ => None, // drawing: reported, not scored
    }
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
                self.drawings
                    .push(format!("{} → {}", photo.file, answer.column()));
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
                if photo.label != "wild_animal" {
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
    let manifest_path = PathBuf::from(
        args.first()
            .ok_or("usage: evaluate MANIFEST [PHOTO_DIR] [--verbose]")?,
    );
    let dir = photo_dir(&manifest_path, args.get(1).map(PathBuf::from));
    let manifest: Manifest = serde_json::from_str(&std::fs::read_to_string(&manifest_path)?)?;
    let model = LocalVision::load()?;

    let (mut new, mut old) = (Score::default(), Score::default());
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
        // The pipeline's own input: ValidateImage's normalization (EXIF orientation, long edge ≤ 1568).
        let image = steps::imaging::detect_format(&bytes)
            .and_then(|format| steps::imaging::decode_upright(&bytes, format, 1568))
            .map(|d| d.image)
            .or_else(|_| image::load_from_memory(&bytes).map(|i| i.to_rgb8()))?;
        let image = steps::imaging::fit_long_edge(image, 1568)?;

        let sight = model.see(&image)?;
        let verdict = model.verdict(&sight, &image, None)?;
        let answer = Answer::from(&verdict);
        new.add(photo, &answer);
        let ranked: Vec<&str> = vision::analysis::ranked(&sight.probabilities)
            .into_iter()
            .take(5)
            .map(|i| model.classes()[i].as_str())
            .collect();
        new.add_breed(photo, &ranked);

        let baseline = steps::offline::analyse_pixels(&image, None)?;
        let old_answer = Answer::from(&baseline);
        old.add(photo, &old_answer);

        if verbose {
            let why = match &verdict {
                VisionVerdict::Pet(a) => {
                    format!("{} / {} ({:?})", a.species, a.breed, a.confidence)
                }
                VisionVerdict::NotAPet { reason, .. } => reason.clone(),
            };
            println!(
                "{:<44} {:<16} new: {:<18} old: {:<18} {why}",
                photo.file,
                photo.label,
                answer.column(),
                old_answer.column()
            );
        }
    }
    report(&new, &old, manifest.photos.len());
    Ok(())
}

/// A measure of a score: (count, out of).
type Ratio = fn(&Score) -> (usize, usize);

fn report(new: &Score, old: &Score, total: usize) {
    println!(
        "\n{total} photos ({} animals of which {} pets, {} non-pets of which {} people, {} drawings)\n",
        new.animals,
        new.pets,
        new.non_pets,
        new.people,
        new.drawings.len()
    );
    println!(
        "| measure | target | local model ({}) | texture heuristic (baseline) |",
        vision::MODEL
    );
    println!("|---|---|---|---|");
    let rows: [(&str, &str, Ratio); 6] = [
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
        ("animals wrongly refused (pets + wild)", "—", |s| {
            (s.animals_refused, s.animals)
        }),
        ("breed top-1 / where labelled", "—", |s| {
            (s.breed_top1, s.breeds)
        }),
    ];
    for (name, target, f) in rows {
        let (a, b) = (f(new), f(old));
        println!(
            "| {name} | {target} | {} | {} |",
            pct(a.0, a.1),
            pct(b.0, b.1)
        );
    }
    println!(
        "| breed top-5 / where labelled | — | {} | (no classes) |",
        pct(new.breed_top5, new.breeds)
    );
    for (title, score) in [("local model", new), ("texture heuristic", old)] {
        println!("\nConfusion, {title} (rows: truth, species or (label); columns: answer)\n");
        let columns: Vec<String> = {
            let mut c: Vec<String> = score.confusion.keys().map(|(_, a)| a.clone()).collect();
            c.sort();
            c.dedup();
            c
        };
        let rows: Vec<String> = {
            let mut r: Vec<String> = score.confusion.keys().map(|(t, _)| t.clone()).collect();
            r.sort();
            r.dedup();
            r
        };
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
}
