//! `petavatar executions` (being built).
use std::path::Path;

pub fn list(_data: &Path) -> Result<(), String> {
    Err("not yet".into())
}

pub fn show(_data: &Path, _id: &str, _json: bool) -> Result<(), String> {
    Err("not yet".into())
}
