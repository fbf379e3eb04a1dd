//! statemachine crate (skeleton).
