//! The log's Ed25519 signing key: 32 random bytes, hex, in a file only the
//! server's user can read. Generated on first start (the file 0600, a
//! directory made for it 0700); every node of a cluster must be given the
//! same file.
//!
//! An existing key file that the group or others may read is refused, not
//! repaired: whoever could read it may already hold a copy, so the operator
//! has to decide whether the key is still secret (then `chmod 600`) or must
//! be replaced. Quietly fixing the mode would hide that question.

use std::io::Write as _;
use std::path::Path;

use jiliang_ledger::{SigningKey, signing_key_from_seed};
use rand_core::{OsRng, RngCore};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} does not hold a 64-character hex Ed25519 seed")]
    Malformed { path: String },
    #[error(
        "{path} is open to group or others (mode {mode:04o}); if the key is still secret run `chmod 600 {path}`, else replace it"
    )]
    TooOpen { path: String, mode: u32 },
}

/// Refuse a key file the group or others can read (or write).
#[cfg(unix)]
fn check_private(file: &std::fs::File, shown: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = file
        .metadata()
        .map_err(|source| KeyError::Read {
            path: shown.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: shown.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_file: &std::fs::File, _shown: &str) -> Result<(), KeyError> {
    Ok(())
}

/// Creates `dir` (and its parents) readable only by the server's user.
/// Only directories made here; an existing data directory keeps the mode
/// its operator gave it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates a new file (never an existing one) readable only by the
/// server's user: where a signing key is written.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

pub fn load_or_create(path: &Path) -> Result<SigningKey, KeyError> {
    let shown = path.display().to_string();
    // Mode and content from one open file, so the check is about the file read.
    let opened = std::fs::File::open(path).and_then(|mut f| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text)?;
        Ok((f, text))
    });
    match opened {
        Ok((file, text)) => {
            check_private(&file, &shown)?;
            let seed = jiliang_ledger::hex::decode_array::<32>(text.trim())
                .map_err(|_| KeyError::Malformed { path: shown })?;
            Ok(signing_key_from_seed(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            OsRng.fill_bytes(&mut seed);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir).map_err(|source| KeyError::Create {
                    path: shown.clone(),
                    source,
                })?;
            }
            let mut file = create_private_file(path).map_err(|source| KeyError::Create {
                path: shown.clone(),
                source,
            })?;
            writeln!(file, "{}", jiliang_ledger::hex::encode(&seed)).map_err(|source| {
                KeyError::Create {
                    path: shown.clone(),
                    source,
                }
            })?;
            tracing::info!(path = %shown, "generated a new ledger signing key");
            Ok(signing_key_from_seed(&seed))
        }
        Err(source) => Err(KeyError::Read {
            path: shown,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/ledger.key");
        let a = load_or_create(&path).expect("create");
        let b = load_or_create(&path).expect("load");
        assert_eq!(a.verifying_key(), b.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").expect("write");
        assert!(matches!(
            load_or_create(&path),
            Err(KeyError::Malformed { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_new_key_directory_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data/keys/ledger.key");
        load_or_create(&path).expect("create");
        for d in [dir.path().join("data"), dir.path().join("data/keys")] {
            let mode = std::fs::metadata(&d).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", d.display());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.key");
        load_or_create(&path).expect("create");
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = load_or_create(&path).expect_err("refused");
            assert!(matches!(err, KeyError::TooOpen { .. }), "{err}");
            let line = err.to_string();
            assert!(!line.contains('\n'), "{line}");
            assert!(line.contains(&format!("mode {mode:04o}")), "{line}");
            assert!(line.contains("chmod 600"), "{line}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        load_or_create(&path).expect("owner-only is accepted");
    }
}
