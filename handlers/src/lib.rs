//! handlers crate (skeleton).
