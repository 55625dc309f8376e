//! Keyed fingerprints of typed logins that match no account.
//!
//! What people type into the login field is often a password typed in the
//! wrong place, so it is never stored as typed. The audit log and the
//! failed-login counter use `HMAC-SHA-256(key, login)` instead: the same
//! typed login always gives the same fingerprint (so repeated guesses are
//! counted together and an administrator can see that one unknown name is
//! being tried), but without the key the fingerprint reveals nothing. The
//! key is generated once per installation and kept in the database
//! (`server_secrets`), so every node computes the same fingerprints.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::Store;

/// Name of the fingerprint key in `server_secrets`.
const LOGIN_KEY: &str = "login_fingerprint";

/// Secrets shared by every node, read once at start.
pub struct Secrets {
    login_key: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// Read the installation's keys, creating them on first start (the
    /// first node to insert wins; the others read its key).
    pub async fn load(store: &Store) -> Result<Self, sqlx::Error> {
        let mut fresh = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut fresh);
        let stored = store.server_secret(LOGIN_KEY, &fresh).await?;
        let login_key = <[u8; 32]>::try_from(stored.as_slice()).map_err(|_| {
            sqlx::Error::Decode(format!("server secret {LOGIN_KEY} is not 32 bytes").into())
        })?;
        Ok(Self { login_key })
    }

    #[cfg(test)]
    fn with_key(login_key: [u8; 32]) -> Self {
        Self { login_key }
    }

    /// `fp:` and 32 hex characters (128 bits of the HMAC: plenty to keep
    /// distinct logins apart, short in the audit log).
    pub fn login_fingerprint(&self, login: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.login_key) else {
            // HMAC takes keys of any length; this cannot happen.
            return "fp:unavailable".to_owned();
        };
        mac.update(login.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("fp:{}", jiliang_ledger::hex::encode(&tag[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_keyed_stable_and_hide_the_login() {
        let a = Secrets::with_key([1; 32]);
        let b = Secrets::with_key([2; 32]);
        let fp = a.login_fingerprint("Secret-Passw0rd");
        assert_eq!(fp, a.login_fingerprint("Secret-Passw0rd"));
        assert_ne!(fp, a.login_fingerprint("secret-passw0rd"));
        assert_ne!(fp, b.login_fingerprint("Secret-Passw0rd"));
        assert_eq!(fp.len(), 3 + 32);
        assert!(!fp.to_lowercase().contains("secret"));
    }
}
