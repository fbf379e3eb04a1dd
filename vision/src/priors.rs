//! Temperament priors per family (dog breed groups, cats, other animals): offsets from the
//! neutral 50 on the named dimensions; the others stay at 50.
//!
//! A convention written down, not a measurement of an animal's mind: they follow what breed
//! standards and care guides say of each group (herding dogs are bred to work closely with a
//! handler, hounds to follow a trail on their own, terriers to dig after vermin, toy dogs as
//! companions, cats are independent, fish and reptiles are calm). The analysis blends them
//! with the photo's own measurements (`steps::offline::traits`).

use crate::taxonomy::Family;

type Row = &'static [(&'static str, i8)];

pub fn offsets(family: Family) -> Row {
    match family {
        Family::ToyDog => &[
            ("affection", 25),
            ("charisma", 20),
            ("alertness", 15),
            ("sociability", 15),
            ("sensitivity", 15),
            ("stubbornness", 10),
            ("independence", -15),
            ("resilience", -10),
        ],
        Family::Hound => &[
            ("curiosity", 25),
            ("independence", 20),
            ("determination", 20),
            ("stubbornness", 15),
            ("focus", 15),
            ("adventurousness", 15),
            ("discipline", -10),
        ],
        Family::Terrier => &[
            ("determination", 25),
            ("energy", 20),
            ("mischief", 20),
            ("assertiveness", 20),
            ("stubbornness", 15),
            ("confidence", 15),
            ("patience", -15),
            ("calmness", -10),
        ],
        Family::SportingDog => &[
            ("friendliness", 25),
            ("enthusiasm", 25),
            ("sociability", 20),
            ("energy", 20),
            ("playfulness", 15),
            ("loyalty", 15),
            ("independence", -10),
        ],
        Family::HerdingDog => &[
            ("intelligence", 25),
            ("focus", 25),
            ("diligence", 20),
            ("energy", 15),
            ("attention_to_detail", 15),
            ("leadership", 15),
            ("restlessness", 10),
        ],
        Family::WorkingDog => &[
            ("loyalty", 25),
            ("reliability", 20),
            ("resilience", 20),
            ("confidence", 20),
            ("discipline", 15),
            ("calmness", 10),
            ("mischief", -10),
        ],
        Family::CompanionDog => &[
            ("affection", 20),
            ("adaptability", 20),
            ("humor", 15),
            ("charisma", 15),
            ("contentment", 15),
            ("sociability", 10),
        ],
        Family::Spitz => &[
            ("independence", 20),
            ("resilience", 20),
            ("energy", 15),
            ("adventurousness", 15),
            ("stubbornness", 15),
            ("elegance", 10),
        ],
        Family::Cat => &[
            ("independence", 25),
            ("elegance", 20),
            ("curiosity", 15),
            ("calmness", 10),
            ("caution", 10),
            ("confidence", 10),
            ("sociability", -10),
            ("discipline", -10),
        ],
        Family::Rabbit => &[
            ("gentleness", 25),
            ("caution", 20),
            ("sensitivity", 20),
            ("curiosity", 10),
            ("alertness", 15),
            ("assertiveness", -15),
        ],
        Family::Rodent => &[
            ("curiosity", 20),
            ("restlessness", 20),
            ("diligence", 15),
            ("alertness", 15),
            ("caution", 15),
            ("organization", 10),
        ],
        Family::Parrot => &[
            ("intelligence", 25),
            ("sociability", 20),
            ("humor", 20),
            ("charisma", 15),
            ("playfulness", 15),
            ("creativity", 10),
        ],
        Family::Bird => &[
            ("alertness", 20),
            ("adventurousness", 15),
            ("independence", 15),
            ("elegance", 15),
            ("caution", 10),
        ],
        Family::Fish => &[
            ("serenity", 25),
            ("calmness", 25),
            ("patience", 15),
            ("contentment", 15),
            ("assertiveness", -15),
            ("restlessness", -10),
        ],
        Family::Reptile => &[
            ("patience", 25),
            ("calmness", 20),
            ("independence", 20),
            ("resilience", 15),
            ("focus", 10),
            ("sociability", -20),
            ("playfulness", -10),
        ],
        Family::Horse => &[
            ("loyalty", 20),
            ("elegance", 20),
            ("energy", 15),
            ("sensitivity", 15),
            ("reliability", 15),
            ("sociability", 10),
        ],
        Family::WildAnimal => &[
            ("independence", 25),
            ("adventurousness", 20),
            ("confidence", 20),
            ("resilience", 15),
            ("alertness", 15),
            ("assertiveness", 10),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steps::personality::index_of;

    #[test]
    fn every_prior_names_one_of_the_47_dimensions() {
        for f in Family::ALL {
            for (name, offset) in offsets(f) {
                assert!(index_of(name).is_some(), "{f:?}: {name}");
                assert!(offset.unsigned_abs() <= 30);
            }
        }
    }
}
