//! api crate (skeleton).
