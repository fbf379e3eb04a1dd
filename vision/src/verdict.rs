//! The decision: a pet, a person, or no animal, from what the two models saw.
//!
//! The thresholds are principles, not fitted to photos:
//! - **An animal** is in the photo when the classifier puts at least half of its probability on
//!   animal classes ([`ANIMAL_MASS`]): the animal reading is more likely than all the others
//!   together. Which animal is the group with the most mass.
//! - **A breed** is named when one class alone holds at least half of the probability
//!   ([`BREED_PROBABILITY`]); otherwise a dog or cat is `mixed` (the model spreads over
//!   breeds) and another animal `unknown`.
//! - **A person** is a face found by MTCNN with probability ≥ [`FACE_SCORE`]. With no animal,
//!   any such face makes the photo a person's (`NotAPet`, subject `Person`). With an animal, the
//!   person is the main subject only when their face is portrait-sized, covering at least
//!   [`PORTRAIT_FACE`] of the frame (in a head-and-shoulders portrait the face covers 10–25 %),
//!   **and** the classifier is not sure of the animal (animal mass below [`SURE_ANIMAL`]). So a
//!   pet held by or sitting beside a person stays a pet: the animal dominates the classifier,
//!   and a face large enough to be the subject leaves little of the frame for the animal.

use crate::taxonomy::Group;

pub const ANIMAL_MASS: f32 = 0.5;
pub const SURE_ANIMAL: f32 = 0.8;
pub const BREED_PROBABILITY: f32 = 0.5;
pub const FACE_SCORE: f32 = 0.95;
pub const PORTRAIT_FACE: f32 = 0.08;

/// What the models saw, reduced to what the decision needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Probability on all animal classes.
    pub animal_mass: f32,
    /// The animal group with the most probability, and that probability.
    pub top_group: Option<(Group, f32)>,
    /// Faces with probability ≥ FACE_SCORE: (score, share of the frame's area), largest first.
    pub faces: Vec<(f32, f32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Pet { group: Group, confidence: f32 },
    Person { face_score: f32, face_share: f32 },
    NoAnimal,
}

pub fn decide(seen: &Seen) -> Decision {
    decide_at(seen, ANIMAL_MASS)
}

/// [`decide`] with another animal-mass threshold (the evaluation sweeps it on dev photos to
/// show how much the principled [`ANIMAL_MASS`] costs or gains there).
pub fn decide_at(seen: &Seen, animal_mass: f32) -> Decision {
    let largest_face = seen.faces.first().copied();
    let is_animal = seen.animal_mass >= animal_mass;
    match (is_animal, seen.top_group, largest_face) {
        (true, Some((group, confidence)), face) => match face {
            Some((score, share)) if share >= PORTRAIT_FACE && seen.animal_mass < SURE_ANIMAL => {
                Decision::Person {
                    face_score: score,
                    face_share: share,
                }
            }
            _ => Decision::Pet { group, confidence },
        },
        (_, _, Some((score, share))) => Decision::Person {
            face_score: score,
            face_share: share,
        },
        _ => Decision::NoAnimal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(animal_mass: f32, faces: Vec<(f32, f32)>) -> Seen {
        Seen {
            animal_mass,
            top_group: (animal_mass > 0.0).then_some((Group::Dog, animal_mass)),
            faces,
        }
    }

    #[test]
    fn an_animal_without_faces_is_a_pet() {
        assert!(matches!(
            decide(&seen(0.6, vec![])),
            Decision::Pet {
                group: Group::Dog,
                ..
            }
        ));
    }

    #[test]
    fn no_animal_and_no_face_is_no_animal() {
        assert_eq!(decide(&seen(0.2, vec![])), Decision::NoAnimal);
    }

    #[test]
    fn any_confident_face_without_an_animal_is_a_person() {
        assert!(matches!(
            decide(&seen(0.1, vec![(0.99, 0.01)])),
            Decision::Person { .. }
        ));
    }

    #[test]
    fn a_pet_beside_a_person_stays_a_pet() {
        // A small face beside an animal the classifier is unsure of.
        assert!(matches!(
            decide(&seen(0.6, vec![(0.99, 0.03)])),
            Decision::Pet { .. }
        ));
        // A large face, but the classifier is sure of the animal.
        assert!(matches!(
            decide(&seen(0.9, vec![(0.99, 0.2)])),
            Decision::Pet { .. }
        ));
    }

    #[test]
    fn a_portrait_sized_face_with_an_unsure_animal_is_a_person() {
        assert!(matches!(
            decide(&seen(0.6, vec![(0.99, 0.12)])),
            Decision::Person { .. }
        ));
    }
}
