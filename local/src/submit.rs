//! `petavatar submit` (being built).
use std::path::PathBuf;

pub struct SubmitOptions {
    pub photo: PathBuf,
    pub api: String,
    pub key: String,
    pub wait: bool,
    pub out: Option<PathBuf>,
}

pub async fn submit(_options: SubmitOptions) -> Result<(), String> {
    Err("not yet".into())
}
