//! The weight files: embedded in the binary (`include_bytes!`), or read from a directory, and in
//! both cases checked against the sha256 recorded here before anything is parsed. A missing,
//! truncated or replaced file is a [`LoadError`] that says which file and how to restore it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One weight file of `vision/weights/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightFile {
    pub name: &'static str,
    /// Lower-case hex sha256 of the file as `tools/convert-weights.py` writes it.
    pub sha256: &'static str,
}

/// EfficientNet-Lite0, ImageNet-1k, BatchNorm folded, float16 (9.3 MB).
pub const EFFICIENTNET_LITE0: WeightFile = WeightFile {
    name: "efficientnet-lite0.safetensors",
    sha256: "f4f7c63d3eac0dd1f072ea89f44f62a9202f30215ff745cac5ff19eb42e70f84",
};

/// MTCNN P-Net, R-Net and O-Net, float32 (2 MB).
pub const MTCNN: WeightFile = WeightFile {
    name: "mtcnn.safetensors",
    sha256: "d993e793f95869a00fd9602fc79c14557134ec97dc8a46c444f48df9ccd99403",
};

/// The 1000 ImageNet class names, one a line, in the classifier's output order.
pub const IMAGENET_CLASSES: WeightFile = WeightFile {
    name: "imagenet-classes.txt",
    sha256: "ee4fa67b1dd46919ef87529b70e25bdd1ec9ebd350de3ad426e6640eb70320a1",
};

pub const ALL: [WeightFile; 3] = [EFFICIENTNET_LITE0, MTCNN, IMAGENET_CLASSES];

/// How to get the files back, for every error message.
const RESTORE: &str = "restore vision/weights/ from git (`git checkout -- vision/weights`) or \
                       rebuild it with `python3 vision/tools/convert-weights.py`";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("vision model file {} cannot be read ({source}); {RESTORE}", path.display())]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "vision model file {name} is corrupt or not the expected version: sha256 {actual}, expected {expected}; {RESTORE}"
    )]
    Checksum {
        name: &'static str,
        expected: &'static str,
        actual: String,
    },
    #[error("vision model file {name} does not hold the expected model ({message}); {RESTORE}")]
    Format { name: &'static str, message: String },
}

/// Where the weight bytes come from.
#[derive(Debug, Clone)]
pub enum WeightSource {
    /// Compiled into the binary: one file to ship, no path to get wrong.
    Embedded,
    /// A directory holding the files of [`ALL`] (tests, or weights kept beside the binary).
    Dir(PathBuf),
}

fn embedded(file: WeightFile) -> &'static [u8] {
    match file.name {
        "efficientnet-lite0.safetensors" => {
            include_bytes!("../weights/efficientnet-lite0.safetensors")
        }
        "mtcnn.safetensors" => include_bytes!("../weights/mtcnn.safetensors"),
        _ => include_bytes!("../weights/imagenet-classes.txt"),
    }
}

impl WeightSource {
    /// The verified bytes of `file`.
    pub fn read(&self, file: WeightFile) -> Result<Vec<u8>, LoadError> {
        let bytes = match self {
            WeightSource::Embedded => embedded(file).to_vec(),
            WeightSource::Dir(dir) => read_file(dir, file)?,
        };
        verify(file, &bytes)?;
        Ok(bytes)
    }
}

fn read_file(dir: &Path, file: WeightFile) -> Result<Vec<u8>, LoadError> {
    let path = dir.join(file.name);
    std::fs::read(&path).map_err(|source| LoadError::Missing { path, source })
}

/// Checks `bytes` against the recorded sha256.
pub fn verify(file: WeightFile, bytes: &[u8]) -> Result<(), LoadError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual == file.sha256 {
        Ok(())
    } else {
        Err(LoadError::Checksum {
            name: file.name,
            expected: file.sha256,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_match_their_checksums() {
        for file in ALL {
            WeightSource::Embedded
                .read(file)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn one_flipped_byte_is_a_checksum_error() {
        let mut bytes = embedded(MTCNN).to_vec();
        bytes[1000] ^= 1;
        let err = verify(MTCNN, &bytes).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("mtcnn.safetensors")
                    && e.contains("corrupt")
                    && e.contains("convert-weights.py")),
            "{err:?}"
        );
    }
}
