//! Shared helpers for the end-to-end tests, and the ASL engine conformance runner.

pub mod conformance;
