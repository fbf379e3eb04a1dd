//! Rules that hold for all inputs.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use steps::domain::{CareerProfile, JobError, JobResults, PetAnalysis};
use steps::generate_avatar::avatar_prompt;
use steps::imaging::{check_size, detect_format};
use steps::memory::InMemoryJobStore;
use steps::offline::avatar::{Portrait, render_png};
use steps::offline::careers::{Attire, CATALOGUE, Scene};
use steps::offline::measure::PhotoStats;
use steps::offline::{career_for, identity, traits};
use steps::personality::{DIMENSION_COUNT, Personality};
use steps::ports::{JobStore, JobStoreError};
use steps::{ImageFormat, ImageLimits, Job, JobStatus, Seniority, Stage, scoring, write_identity};
use uuid::Uuid;

fn stats_strategy() -> impl Strategy<Value = PhotoStats> {
    (
        prop::array::uniform14(0.0f64..1.0),
        prop::collection::vec(prop::array::uniform3(any::<u8>()), 0..4),
    )
        .prop_map(|(v, palette)| PhotoStats {
            brightness: v[0],
            contrast: v[1],
            saturation: v[2],
            colourfulness: v[3] * 1.5,
            warmth: v[4],
            edge_density: v[5],
            coat_fraction: v[6],
            coherence: v[7],
            centre_offset: v[8] * 0.7,
            spread: v[9],
            hue_entropy: v[10],
            highlights: v[11],
            shadows: v[12],
            symmetry: v[13],
            palette,
        })
}

fn personality_strategy() -> impl Strategy<Value = Personality> {
    prop::collection::vec(0u8..=100, DIMENSION_COUNT).prop_map(|v| {
        let mut a = [0u8; DIMENSION_COUNT];
        a.copy_from_slice(&v);
        Personality::from_scores(a)
    })
}

fn analysis_strategy() -> impl Strategy<Value = PetAnalysis> {
    (
        personality_strategy(),
        prop::sample::select(vec![
            "unknown", "cat", "dog", "rabbit", "parrot", "hamster", "horse", "iguana",
        ]),
    )
        .prop_map(|(personality, species)| PetAnalysis {
            species: species.into(),
            breed: "unknown".into(),
            expression: "calm and curious".into(),
            posture: "centred close-up, facing the camera".into(),
            dominant_traits: personality.dominant(),
            vibe: "warm-toned, calm".into(),
            personality,
            palette: vec!["#aa8866".into(), "#332211".into()],
            model: "offline".into(),
            confidence: None,
            alternatives: vec![],
        })
}

fn career_strategy() -> impl Strategy<Value = CareerProfile> {
    (
        0..CATALOGUE.len(),
        prop::sample::select(Seniority::ALL.to_vec()),
        0.0f64..=1.0,
    )
        .prop_map(|(i, seniority, confidence)| {
            let c = &CATALOGUE[i];
            CareerProfile {
                job_title: c.title.into(),
                seniority,
                industry: c.industry.into(),
                work_style: c.work_style.into(),
                attire: c.attire.describe().into(),
                background: c.scene.describe().into(),
                confidence,
                key_traits: c.key_traits.iter().map(|s| s.to_string()).collect(),
                model: "offline".into(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_photo_gives_47_dimensions_within_0_to_100(stats in stats_strategy()) {
        let p = traits::personality(&stats);
        prop_assert_eq!(p.scores().len(), 47);
        prop_assert!(p.scores().iter().all(|&s| s <= 100));
        let json = serde_json::to_value(p).unwrap();
        prop_assert_eq!(json.as_object().unwrap().len(), 47);
    }

    #[test]
    fn seniority_is_one_of_the_four(personality in personality_strategy()) {
        let analysis = PetAnalysis { dominant_traits: personality.dominant(), personality, ..analysis_template() };
        let career = career_for(&analysis);
        prop_assert!(Seniority::ALL.contains(&career.seniority));
        let json = serde_json::to_value(career.seniority).unwrap();
        prop_assert!(["entry-level", "mid-level", "senior", "executive"].contains(&json.as_str().unwrap()));
        prop_assert!((0.0..=1.0).contains(&career.confidence));
    }

    #[test]
    fn identity_has_three_paragraphs_and_5_to_10_skills(analysis in analysis_strategy(), career in career_strategy(), seed in any::<u128>()) {
        let draft = identity::write(Uuid::from_u128(seed), &analysis, &career);
        prop_assert_eq!(draft.bio.len(), 3);
        prop_assert!(draft.bio.iter().all(|p| !p.trim().is_empty() && !p.contains("\n\n")));
        prop_assert!((5..=10).contains(&draft.skills.len()), "{:?}", draft.skills);
        prop_assert!(write_identity::check_draft(&draft).is_ok(), "{:?}", write_identity::check_draft(&draft));
    }

    #[test]
    fn similarity_score_is_within_0_to_100(analysis in analysis_strategy(), career in career_strategy()) {
        let s = scoring::similarity(&analysis, &career);
        prop_assert!(s.score <= 100);
        let b = &s.breakdown;
        for part in [b.trait_alignment, b.career_fit, b.dominant_overlap, b.seniority_fit] {
            prop_assert!((0.0..=100.0).contains(&part));
        }
        let weighted = 0.40 * b.trait_alignment + 0.30 * b.career_fit + 0.15 * b.dominant_overlap + 0.15 * b.seniority_fit;
        prop_assert!((weighted - f64::from(s.score)).abs() <= 0.5 + 1e-9);
    }

    #[test]
    fn the_image_prompt_names_attire_and_background(analysis in analysis_strategy(), career in career_strategy()) {
        let prompt = avatar_prompt(&analysis, &career);
        prop_assert!(prompt.contains(&career.attire));
        prop_assert!(prompt.contains(&career.background));
    }

    #[test]
    fn format_rule_accepts_exactly_jpeg_png_heic_within_the_limit(kind in 0usize..10, tail in prop::collection::vec(any::<u8>(), 0..300), max in 16u64..400) {
        let (mut bytes, accepted) = match kind {
            0 => (vec![0xFF, 0xD8, 0xFF, 0xE0], true),
            1 => (b"\x89PNG\r\n\x1a\n".to_vec(), true),
            2 => (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec(), true),
            3 => (b"GIF89a".to_vec(), false),
            4 => (b"BM\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(), false),
            5 => (b"II*\0".to_vec(), false),
            6 => (b"RIFF\0\0\0\0WEBP".to_vec(), false),
            7 => (b"<svg xmlns=\"http://www.w3.org/2000/svg\">".to_vec(), false),
            8 => (b"just some text ".to_vec(), false),
            _ => (vec![0x00, 0x01], false),
        };
        bytes.extend_from_slice(&tail);
        let limits = ImageLimits { max_bytes: max, ..ImageLimits::default() };
        let ok = check_size(bytes.len() as u64, &limits).is_ok() && detect_format(&bytes).is_ok();
        prop_assert_eq!(ok, accepted && bytes.len() as u64 <= max, "kind {} len {} max {}", kind, bytes.len(), max);
        if ok {
            let expected = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Heic][kind];
            prop_assert_eq!(detect_format(&bytes).unwrap(), expected);
        }
    }
}

proptest! {
    // Rendering 1024 px is ~100 ms; a few cases cover the scene × attire × species space.
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn avatar_png_is_at_least_1024_square(scene in 0usize..12, attire in 0usize..11, palette in prop::collection::vec(prop::array::uniform3(any::<u8>()), 0..4), seed in any::<u64>()) {
        let scenes = [Scene::CornerOffice, Scene::Laboratory, Scene::CodingDesk, Scene::ArtStudio, Scene::Kitchen, Scene::Clinic, Scene::Classroom, Scene::Library, Scene::Workshop, Scene::Greenhouse, Scene::Stage, Scene::Sky];
        let attires = [Attire::NavySuit, Attire::CharcoalSuit, Attire::Blazer, Attire::LabCoat, Attire::Hoodie, Attire::Cardigan, Attire::ChefWhites, Attire::Scrubs, Attire::WorkApron, Attire::PilotUniform, Attire::Turtleneck];
        let mut analysis = analysis_template();
        analysis.species = "dog".into();
        analysis.palette = palette.iter().map(|c| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])).collect();
        analysis.personality = Personality::from_scores([(seed % 101) as u8; DIMENSION_COUNT]);
        let look = steps::offline::avatar::Look::from_analysis(&analysis);
        let png = render_png(&Portrait { size: 1024, scene: scenes[scene], attire: attires[attire], look, seed }).unwrap();
        let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        prop_assert!(img.width() >= 1024 && img.height() >= 1024);
        prop_assert_eq!(img.width(), img.height());
    }
}

fn analysis_template() -> PetAnalysis {
    let personality = Personality::from_scores([50; DIMENSION_COUNT]);
    PetAnalysis {
        species: "unknown".into(),
        breed: "unknown".into(),
        expression: String::new(),
        posture: String::new(),
        dominant_traits: personality.dominant(),
        vibe: String::new(),
        personality,
        palette: vec![],
        model: "offline".into(),
        confidence: None,
        alternatives: vec![],
    }
}

/// Operations on the job store, for the state-machine property.
#[derive(Debug, Clone)]
enum Op {
    Advance(usize, u8),
    Complete,
    Fail,
    SetArn,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..6, 0u8..=120).prop_map(|(s, p)| Op::Advance(s, p)),
        1 => Just(Op::Complete),
        1 => Just(Op::Fail),
        1 => Just(Op::SetArn),
    ]
}

fn results() -> JobResults {
    let analysis = analysis_template();
    let career = career_for(&analysis);
    let draft = identity::write(Uuid::nil(), &analysis, &career);
    JobResults {
        avatar_key: "generated/x/avatar.png".into(),
        identity_package: steps::IdentityPackage::new(
            draft,
            &career,
            scoring::similarity(&analysis, &career),
        ),
        pet_analysis: analysis,
        career_profile: career,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Status never moves backwards, never leaves a terminal state; progress never decreases;
    /// a refused write is a typed conflict naming the current status and changes nothing.
    #[test]
    fn job_status_never_moves_backwards(ops in prop::collection::vec(op_strategy(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let store = InMemoryJobStore::new();
            let id = Uuid::new_v4();
            let created = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            store.create(Job::new(id, "o", "uploads/x/original.png", created)).await.unwrap();
            let stages = [Stage::ValidateImage, Stage::AnalyzePet, Stage::MapCareer, Stage::GenerateAvatar, Stage::WriteIdentity, Stage::RecordResult];
            let mut before = store.get(id).await.unwrap();
            for op in ops {
                let result = match op {
                    Op::Advance(s, p) => store.advance(id, stages[s], p).await,
                    Op::Complete => store.complete(id, results()).await,
                    Op::Fail => store.fail(id, JobError { code: "PetAvatar.Transient".into(), message: "m".into() }).await,
                    Op::SetArn => store.set_execution_arn(id, "arn:x").await,
                };
                let after = store.get(id).await.unwrap();
                match result {
                    Ok(_) => {
                        prop_assert!(after.status.rank() >= before.status.rank(), "{:?} -> {:?}", before.status, after.status);
                        if before.status.is_terminal() {
                            prop_assert!(matches!(op, Op::SetArn), "a terminal job changed by {:?}", op);
                            prop_assert_eq!(after.status, before.status);
                        }
                    }
                    Err(JobStoreError::Conflict { current, .. }) => {
                        prop_assert_eq!(current, before.status);
                        prop_assert!(before.status.is_terminal());
                        prop_assert_eq!(&after, &before, "a refused write changed the job");
                    }
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                }
                prop_assert!(after.progress >= before.progress);
                prop_assert!(after.progress <= 100);
                prop_assert!(after.updated_at >= before.updated_at);
                prop_assert_eq!(after.ttl, before.ttl);
                before = after;
            }
            // A created job can always be created only once.
            let dup = store.create(Job::new(id, "o", "k", created)).await;
            prop_assert!(matches!(dup, Err(JobStoreError::AlreadyExists(_))));
            let terminal = before.status.is_terminal();
            prop_assert!(terminal || matches!(before.status, JobStatus::Queued | JobStatus::Processing));
            Ok(())
        })?;
    }
}
