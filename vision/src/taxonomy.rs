//! What each ImageNet-1k class means for PetAvatar: an animal group (the `species` of the
//! analysis) or not an animal, and for dogs the breed group whose temperament priors apply.
//!
//! Classes 0–397 of ImageNet-1k are animals (in WordNet order); 398–999 are objects, food,
//! scenes and plants. Wild animals are animals: a tiger is accepted as `other_animal`.

use serde::Serialize;

/// The `species` values of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Dog,
    Cat,
    Rabbit,
    Rodent,
    Bird,
    Fish,
    Reptile,
    Horse,
    OtherAnimal,
}

impl Group {
    pub const ALL: [Group; 9] = [
        Group::Dog,
        Group::Cat,
        Group::Rabbit,
        Group::Rodent,
        Group::Bird,
        Group::Fish,
        Group::Reptile,
        Group::Horse,
        Group::OtherAnimal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Dog => "dog",
            Group::Cat => "cat",
            Group::Rabbit => "rabbit",
            Group::Rodent => "rodent",
            Group::Bird => "bird",
            Group::Fish => "fish",
            Group::Reptile => "reptile",
            Group::Horse => "horse",
            Group::OtherAnimal => "other_animal",
        }
    }

    pub fn parse(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == name)
    }

    /// Groups whose ImageNet classes are breeds of one species (so a spread over classes
    /// reads as `mixed`); for the others a spread means the model is unsure (`unknown`).
    pub fn has_breeds(self) -> bool {
        matches!(self, Group::Dog | Group::Cat)
    }
}

/// Last index of the animal classes.
const LAST_ANIMAL: usize = 397;
/// triceratops: in ImageNet photos a model or a skeleton, not a living animal.
const TRICERATOPS: usize = 51;

/// The group of ImageNet class `index`, or `None` for a class that is not an animal.
pub fn group(index: usize) -> Option<Group> {
    if index > LAST_ANIMAL || index == TRICERATOPS {
        return None;
    }
    Some(match index {
        151..=268 => Group::Dog,
        281..=285 => Group::Cat,
        330..=332 => Group::Rabbit,
        333..=338 => Group::Rodent,
        7..=24 | 80..=100 | 127..=146 => Group::Bird,
        0..=6 | 389..=397 => Group::Fish,
        33..=68 => Group::Reptile,
        339 => Group::Horse,
        _ => Group::OtherAnimal,
    })
}

/// Breed groups (after the kennel clubs' groups) and other temperament families whose priors
/// the analysis blends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    ToyDog,
    Hound,
    Terrier,
    SportingDog,
    HerdingDog,
    WorkingDog,
    CompanionDog,
    Spitz,
    Cat,
    Rabbit,
    Rodent,
    Parrot,
    Bird,
    Fish,
    Reptile,
    Horse,
    WildAnimal,
}

impl Family {
    pub const ALL: [Family; 17] = [
        Family::ToyDog,
        Family::Hound,
        Family::Terrier,
        Family::SportingDog,
        Family::HerdingDog,
        Family::WorkingDog,
        Family::CompanionDog,
        Family::Spitz,
        Family::Cat,
        Family::Rabbit,
        Family::Rodent,
        Family::Parrot,
        Family::Bird,
        Family::Fish,
        Family::Reptile,
        Family::Horse,
        Family::WildAnimal,
    ];
}

/// The temperament family of ImageNet class `index` (an animal class).
pub fn family(index: usize) -> Family {
    match index {
        151..=158 | 252 | 254 | 259 | 262 | 265 => Family::ToyDog,
        159..=177 | 253 => Family::Hound,
        179..=203 | 237 => Family::Terrier,
        178 | 205..=221 | 251 => Family::SportingDog,
        224..=233 | 263 | 264 => Family::HerdingDog,
        222 | 234 | 236 | 238..=244 | 246 | 247 | 255..=257 => Family::WorkingDog,
        204 | 245 | 266..=268 => Family::CompanionDog,
        223 | 248..=250 | 258 | 260 | 261 => Family::Spitz,
        235 => Family::HerdingDog,
        281..=285 => Family::Cat,
        330..=332 => Family::Rabbit,
        333..=338 => Family::Rodent,
        87..=90 => Family::Parrot,
        7..=24 | 80..=100 | 127..=146 => Family::Bird,
        0..=6 | 389..=397 => Family::Fish,
        33..=68 => Family::Reptile,
        339 => Family::Horse,
        _ => Family::WildAnimal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dog_breed_has_a_dog_family() {
        for i in 151..=268 {
            assert_eq!(group(i), Some(Group::Dog));
            assert!(
                matches!(
                    family(i),
                    Family::ToyDog
                        | Family::Hound
                        | Family::Terrier
                        | Family::SportingDog
                        | Family::HerdingDog
                        | Family::WorkingDog
                        | Family::CompanionDog
                        | Family::Spitz
                ),
                "{i}"
            );
        }
    }

    #[test]
    fn wild_animals_are_animals_and_objects_are_not() {
        assert_eq!(group(292), Some(Group::OtherAnimal)); // tiger
        assert_eq!(group(281), Some(Group::Cat)); // tabby
        assert_eq!(group(88), Some(Group::Bird)); // macaw
        assert_eq!(group(1), Some(Group::Fish)); // goldfish
        assert_eq!(group(39), Some(Group::Reptile)); // common iguana
        assert_eq!(group(967), None); // espresso
        assert_eq!(group(TRICERATOPS), None);
    }
}
