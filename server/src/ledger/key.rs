//! The log's Ed25519 signing key: 32 random bytes, hex, in a file only the
//! server's user can read. Generated on first start; every node of a
//! cluster must be given the same file.

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
}

pub fn load_or_create(path: &Path) -> Result<SigningKey, KeyError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let seed = jiliang_ledger::hex::decode_array::<32>(text.trim())
                .map_err(|_| KeyError::Malformed { path: shown })?;
            Ok(signing_key_from_seed(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            OsRng.fill_bytes(&mut seed);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| KeyError::Create {
                    path: shown.clone(),
                    source,
                })?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut file = options.open(path).map_err(|source| KeyError::Create {
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
}
