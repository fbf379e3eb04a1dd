//! `petavatar serve` (being built).
use std::path::PathBuf;

pub struct ServeOptions {
    pub port: u16,
    pub data: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("not yet")]
    NotYet,
}

pub async fn serve(_options: ServeOptions) -> Result<(), ServeError> {
    Err(ServeError::NotYet)
}
