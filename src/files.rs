//! Files only the service's own user may read: the data directory, the SQLite database
//! (with its WAL and shared-memory files, which SQLite creates with the database file's
//! permissions) and the master key hold password hashes, customers' data and the key
//! that opens every sealed secret.

use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents, owner-only (0700). An existing directory is
/// left as the operator set it.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `dir`'s parent directory like [`create_private_dir`].
pub fn create_private_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => create_private_dir(parent),
        None => Ok(()),
    }
}

/// Makes `path` owner-only (0600), creating it empty if it does not exist; an existing
/// file (from an earlier version) is tightened too.
pub fn make_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    drop(file);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// The permission bits, 0 for a file that is not there.
    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777)
    }

    #[test]
    fn a_new_directory_and_file_are_owner_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = root.path().join("data/nested/bridgekeeper.db");
        create_private_parent(&file).expect("directories");
        make_private_file(&file).expect("file");
        assert_eq!(mode(&root.path().join("data")), 0o700);
        assert_eq!(mode(&root.path().join("data/nested")), 0o700);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn an_existing_world_readable_file_is_tightened_and_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let file = root.path().join("old.db");
        std::fs::write(&file, b"rows").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        make_private_file(&file).expect("tighten");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).expect("read"), b"rows");
    }
}
