//! The local vision model on the committed photos (fixtures/, see fixtures/LICENSES.md): each
//! gives the expected species, or is refused with a reason that says why.

use std::sync::OnceLock;

use steps::ports::{NonPetSubject, VisionVerdict};
use vision::LocalVision;
use vision::weights::{self, LoadError, WeightSource};

fn model() -> &'static LocalVision {
    static MODEL: OnceLock<LocalVision> = OnceLock::new();
    MODEL.get_or_init(|| LocalVision::load().unwrap_or_else(|e| panic!("{e}")))
}

fn photo(name: &str) -> image::RgbImage {
    let path = format!("{}/../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8()
}

fn verdict(name: &str) -> VisionVerdict {
    model()
        .analyse_image(&photo(name), None)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_cat_photo_is_a_cat() {
    let VisionVerdict::Pet(analysis) = verdict("chelsea.png") else {
        panic!("chelsea.png refused");
    };
    assert_eq!(analysis.species, "cat");
    assert_eq!(analysis.model, vision::MODEL);
    assert!(
        analysis.confidence.is_some_and(|c| c > 0.8),
        "{:?}",
        analysis.confidence
    );
    // No single cat class holds half of the probability: the breed is not guessed.
    assert_eq!(analysis.breed, "mixed");
    let alternatives: Vec<&str> = analysis
        .alternatives
        .iter()
        .map(|a| a.label.as_str())
        .collect();
    assert!(
        alternatives.contains(&"tabby") && alternatives.contains(&"tiger cat"),
        "{alternatives:?}"
    );
    assert!(
        analysis
            .alternatives
            .iter()
            .take(3)
            .all(|a| a.species.as_deref() == Some("cat"))
    );
}

#[test]
fn the_goldfish_photo_is_a_fish_named_as_a_goldfish() {
    let VisionVerdict::Pet(analysis) = verdict("goldfish.webp") else {
        panic!("goldfish.webp refused");
    };
    assert_eq!(analysis.species, "fish");
    // One class holds more than half of the probability: the breed is named.
    assert_eq!(analysis.breed, "goldfish");
    assert_eq!(
        analysis.alternatives.first().map(|a| a.label.as_str()),
        Some("goldfish"),
        "{:?}",
        analysis.alternatives
    );
}

#[test]
fn the_astronaut_is_a_person() {
    let (faces, _) = model()
        .faces(&photo("astronaut.png"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(faces.first().is_some_and(|f| f.score > 0.95), "{faces:?}");
    match verdict("astronaut.png") {
        VisionVerdict::NotAPet { subject, reason } => {
            assert_eq!(subject, NonPetSubject::Person, "{reason}");
            assert!(reason.contains("person's face"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_coffee_cup_is_no_animal_and_the_reason_names_what_the_model_sees() {
    match verdict("coffee.png") {
        VisionVerdict::NotAPet { subject, reason } => {
            assert_eq!(subject, NonPetSubject::NoAnimal, "{reason}");
            assert!(reason.contains("espresso"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_rocket_is_no_animal() {
    assert!(matches!(
        verdict("rocket.jpg"),
        VisionVerdict::NotAPet {
            subject: NonPetSubject::NoAnimal,
            ..
        }
    ));
}

#[test]
fn the_cat_has_no_face_the_detector_trusts() {
    let (faces, _) = model()
        .faces(&photo("chelsea.png"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        faces.iter().all(|f| f.score < vision::verdict::FACE_SCORE),
        "{faces:?}"
    );
}

#[test]
fn the_same_photo_gives_the_same_analysis() {
    assert_eq!(verdict("chelsea.png"), verdict("chelsea.png"));
}

fn copy_weights(dir: &std::path::Path) {
    for file in weights::ALL {
        let bytes = WeightSource::Embedded
            .read(file)
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(file.name), bytes).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn weights_from_a_directory_load_like_the_embedded_ones() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_weights(dir.path());
    let from_dir = LocalVision::load_from(&WeightSource::Dir(dir.path().into()))
        .unwrap_or_else(|e| panic!("{e}"));
    let image = photo("chelsea.png");
    assert_eq!(
        from_dir.classify(&image).unwrap_or_else(|e| panic!("{e}")),
        model().classify(&image).unwrap_or_else(|e| panic!("{e}"))
    );
}

#[test]
fn a_truncated_weights_file_is_a_checksum_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_weights(dir.path());
    let path = dir.path().join(weights::EFFICIENTNET_LITE0.name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let err = LocalVision::load_from(&WeightSource::Dir(dir.path().into())).err();
    match err {
        Some(e @ LoadError::Checksum { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("efficientnet-lite0.safetensors"),
                "{message}"
            );
            assert!(message.contains("convert-weights.py"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_weights_file_is_a_missing_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_weights(dir.path());
    std::fs::remove_file(dir.path().join(weights::MTCNN.name)).unwrap_or_else(|e| panic!("{e}"));
    match LocalVision::load_from(&WeightSource::Dir(dir.path().into())).err() {
        Some(e @ LoadError::Missing { .. }) => {
            assert!(e.to_string().contains("mtcnn.safetensors"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bytes_that_are_not_safetensors_are_a_format_error() {
    // Past the checksum, a parse failure is still a typed error, never a panic.
    let garbage = b"not a safetensors file".to_vec();
    assert!(matches!(
        vision::efficientnet::EfficientNetLite0::load(&garbage),
        Err(LoadError::Format { .. })
    ));
}

#[test]
fn every_view_count_gives_a_probability_distribution_and_one_view_is_the_centre_crop() {
    let image = photo("chelsea.png");
    let centre = model()
        .classify_view(&image, vision::View::Centre)
        .unwrap_or_else(|e| panic!("{e}"));
    let one = model().clone().with_views(1);
    assert_eq!(
        one.classify(&image).unwrap_or_else(|e| panic!("{e}")),
        centre
    );
    for views in 1..=4 {
        let p = model()
            .clone()
            .with_views(views)
            .classify(&image)
            .unwrap_or_else(|e| panic!("{e}"));
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "{views} views: {sum}");
    }
    // Out of range counts are clamped, never an empty mean.
    assert_eq!(model().clone().with_views(0).views(), 1);
    assert_eq!(model().clone().with_views(9).views(), 4);
}

#[test]
fn the_committed_photos_keep_their_reading_with_any_number_of_views() {
    for views in 1..=4 {
        let m = model().clone().with_views(views);
        let see = |name: &str| {
            m.analyse_image(&photo(name), None)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        for (name, species) in [("chelsea.png", "cat"), ("goldfish.webp", "fish")] {
            match see(name) {
                VisionVerdict::Pet(a) => assert_eq!(a.species, species, "{name}, {views} views"),
                other => panic!("{name}, {views} views: {other:?}"),
            }
        }
        for (name, subject) in [
            ("astronaut.png", NonPetSubject::Person),
            ("coffee.png", NonPetSubject::NoAnimal),
            ("rocket.jpg", NonPetSubject::NoAnimal),
        ] {
            match see(name) {
                VisionVerdict::NotAPet { subject: s, .. } => {
                    assert_eq!(s, subject, "{name}, {views} views")
                }
                other => panic!("{name}, {views} views: {other:?}"),
            }
        }
    }
}
