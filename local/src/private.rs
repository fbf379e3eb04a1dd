//! The data folder is readable by its owner only: folders 0700, files 0600. Everything is
//! created with that mode from the start (not created, then restricted), so no other local
//! user can open a file in the moment between the two.

use std::io;
use std::path::Path;

/// Mode of the data folder and every folder in it.
pub const FOLDER_MODE: u32 = 0o700;
/// Mode of every file in the data folder (databases and their -wal/-shm, objects, the key).
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and its missing parents, each owner-only. A folder that exists already
/// keeps its mode.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(FOLDER_MODE);
    }
    builder.create(path)
}

/// The same, from async code.
pub async fn create_private_dir_async(path: &Path) -> io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(FOLDER_MODE);
    builder.create(path).await
}

/// Creates an empty owner-only file at `path` unless one exists (an existing file is left as
/// it is): SQLite then opens it, and gives its -wal and -shm files the same mode.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes a new owner-only file (replacing nothing: it fails if `path` exists).
pub fn write_new_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Opens a new owner-only file for writing, from async code.
pub async fn create_new_private_file_async(path: &Path) -> io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    options.open(path).await
}

/// Whether a folder or file can be read by others than its owner (group or other bits set).
#[cfg(unix)]
pub fn is_shared(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
pub fn is_shared(_path: &Path) -> bool {
    false
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_and_files_are_created_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        create_private_dir(&nested).unwrap();
        for folder in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(folder)), FOLDER_MODE, "{folder}");
        }
        let file = nested.join("db");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), FILE_MODE);
        // An existing file is kept, contents and all.
        std::fs::write(&file, b"data").unwrap();
        create_private_file(&file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"data");
        let key = nested.join("key");
        write_new_private_file(&key, b"secret").unwrap();
        assert_eq!(mode(&key), FILE_MODE);
        assert!(write_new_private_file(&key, b"other").is_err());
        assert!(!is_shared(&key));
    }
}
