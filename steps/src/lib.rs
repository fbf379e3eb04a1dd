//! steps crate (skeleton).
