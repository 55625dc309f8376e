//! Password rules and hashing.
//!
//! Hashing is argon2id with the library's defaults (19 MiB, 2 passes — the
//! OWASP minimum) and runs in `spawn_blocking`: tens of milliseconds of CPU
//! would otherwise stall every socket sharing the worker thread.
//!
//! Requests hash through [`Hashing`], which bounds how many hashes run at
//! once: each takes 19 MiB, and the blocking pool would otherwise run
//! hundreds side by side (a burst of 200 logins took over 1 GiB, see
//! docs/BENCHMARKS.md). A request that cannot get a slot within the
//! configured wait is answered 503 with `Retry-After` instead of queueing
//! without bound. Verification also reuses one 19 MiB work area per slot
//! instead of allocating a fresh one per hash: freed on a blocking thread,
//! each of those stayed in that thread's malloc arena, so a bound of 4 still
//! grew to a gigabyte across the pool's threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::OsRng;

use crate::error::AppError;
use crate::i18n::Text;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

/// Passwords people pick first; rejected whatever their length.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "1qaz2wsx3edc",
    "abc123456789",
    "iloveyou123",
    "woaini1314",
    "aaaaaaaaaa",
    "0123456789",
    "admin12345",
    "administrator",
    "jiliang123",
    "p@ssw0rd12",
];

/// Every rule the password breaks, each with its reason, so the person can
/// fix them all at once.
pub fn check_rules(password: &str, username: &str) -> Vec<Text> {
    let mut problems = Vec::new();
    let chars = password.chars().count();
    if chars < MIN_LEN {
        problems.push(Text::owned(
            format!("密码至少需要 {MIN_LEN} 个字符（当前 {chars} 个）。"),
            format!("The password needs at least {MIN_LEN} characters (it has {chars})."),
        ));
    }
    if chars > MAX_LEN {
        problems.push(Text::owned(
            format!("密码不能超过 {MAX_LEN} 个字符。"),
            format!("The password must not exceed {MAX_LEN} characters."),
        ));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if classes < 3 {
        problems.push(Text::new(
            "密码需包含以下至少三类：小写字母、大写字母、数字、符号。",
            "The password needs at least three of: lower-case letters, upper-case letters, digits, symbols.",
        ));
    }
    let lower = password.to_lowercase();
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        problems.push(Text::new(
            "密码不能包含用户名。",
            "The password must not contain the username.",
        ));
    }
    if COMMON.contains(&lower.as_str()) {
        problems.push(Text::new(
            "这是常见密码，请换一个。",
            "This is a commonly used password; choose another.",
        ));
    }
    problems
}

/// `Ok` or an `invalid_input` error listing every broken rule.
pub fn validate(password: &str, username: &str) -> Result<(), AppError> {
    let problems = check_rules(password, username);
    if problems.is_empty() {
        return Ok(());
    }
    let lang = crate::i18n::current();
    let details = problems
        .iter()
        .map(|t| jiliang_protocol::FieldError {
            field: "password".into(),
            message: t.get(lang).to_owned(),
        })
        .collect();
    Err(AppError::Invalid {
        message: Text::owned(
            format!("密码不符合要求：{}", join(&problems, crate::i18n::Lang::Zh)),
            format!(
                "The password does not meet the rules: {}",
                join(&problems, crate::i18n::Lang::En)
            ),
        ),
        details,
    })
}

fn join(problems: &[Text], lang: crate::i18n::Lang) -> String {
    problems
        .iter()
        .map(|t| t.get(lang))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The server's bounded password hasher (one per node, in `AppState`).
#[derive(Debug, Clone)]
pub struct Hashing {
    /// One permit per hash allowed to run now; waiters queue fairly.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
    /// Work areas of finished verifications, for the next ones (at most one
    /// per permit). A plain mutex: held for a push or a pop, never across
    /// an await.
    areas: std::sync::Arc<std::sync::Mutex<Vec<Vec<Block>>>>,
}

impl Hashing {
    pub fn new(concurrency: u32, wait: std::time::Duration) -> Self {
        let n = usize::try_from(concurrency.max(1)).unwrap_or(1);
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(n)),
            wait,
            areas: std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(n))),
        }
    }

    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(AppError::internal(closed)),
            // Roughly one wait's worth of work is queued ahead: come back then.
            Err(_) => Err(AppError::Busy {
                retry_after_s: self.wait.as_secs().max(1),
            }),
        }
    }

    /// [`hash`], within the bound.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let _permit = self.slot().await?;
        hash(password).await
    }

    /// [`verify`], within the bound, in a reused work area.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let _permit = self.slot().await?;
        let area = self
            .areas
            .lock()
            .ok()
            .and_then(|mut a| a.pop())
            .unwrap_or_default();
        let (ok, area) = tokio::task::spawn_blocking(move || {
            let mut area = area;
            let ok = verify_in(&password, stored.as_deref(), &mut area);
            (ok, area)
        })
        .await
        .map_err(AppError::internal)?;
        if let Ok(mut areas) = self.areas.lock() {
            areas.push(area);
        }
        Ok(ok)
    }
}

/// Hash without a bound: for the CLI (seeding), never for requests.
pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
}

/// Verify against a stored hash (see [`Hashing::verify`]). With no hash
/// (unknown account, or one that never set a password) a dummy hash is
/// checked instead, so the answer takes as long either way and does not
/// reveal which accounts exist.
/// Check `password` against a PHC string (or the dummy hash, answering
/// `false`), computing in `area`, which grows to what the hash's
/// parameters need and is kept for the next call.
fn verify_in(password: &str, stored: Option<&str>, area: &mut Vec<Block>) -> bool {
    let (phc, real) = match stored {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if area.len() < params.block_count() {
        area.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut area[..])
        .is_ok();
    computed && super::token::constant_time_eq(&out, expected.as_bytes()) && real
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"not a real password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    /// The library's own verification: the reference the pooled one must match.
    async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
        tokio::task::spawn_blocking(move || {
            let (hash, real) = match stored {
                Some(h) => (h, true),
                None => (dummy_hash().to_owned(), false),
            };
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            ok && real
        })
        .await
        .map_err(AppError::internal)
    }

    #[test]
    fn rules_explain_every_problem() {
        assert!(check_rules("Metrology-2026", "zhangwei").is_empty());
        assert!(check_rules("计量检定Ab12345", "li").is_empty());
        let p = check_rules("short", "x");
        assert_eq!(p.len(), 2, "{p:?}"); // length and classes
        assert_eq!(check_rules("zhangwei-Pass1", "zhangwei").len(), 1);
        assert_eq!(check_rules("P@ssw0rd12", "x").len(), 1, "common password");
        assert_eq!(check_rules(&"Aa1!".repeat(40), "x").len(), 1);
    }

    #[tokio::test]
    async fn hashing_is_bounded_and_a_long_wait_is_busy() {
        let h = Hashing::new(1, std::time::Duration::from_millis(50));
        let held = h.slot().await.expect("first slot");
        match h.slot().await {
            Err(AppError::Busy { retry_after_s }) => assert_eq!(retry_after_s, 1),
            other => panic!("expected busy, got {other:?}"),
        }
        drop(held);
        assert!(h.slot().await.is_ok(), "a freed slot is taken again");
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("Metrology-2026".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify("Metrology-2026".into(), Some(h.clone()))
                .await
                .expect("ok")
        );
        assert!(
            !verify("metrology-2026".into(), Some(h.clone()))
                .await
                .expect("ok")
        );
        assert!(!verify("anything".into(), None).await.expect("ok"));
        // The pooled verifier agrees with the library's, work area reused.
        let pooled = Hashing::new(1, std::time::Duration::from_secs(5));
        for _ in 0..2 {
            assert!(
                pooled
                    .verify("Metrology-2026".into(), Some(h.clone()))
                    .await
                    .expect("ok")
            );
            assert!(
                !pooled
                    .verify("metrology-2026".into(), Some(h.clone()))
                    .await
                    .expect("ok")
            );
        }
        assert!(!pooled.verify("x".into(), None).await.expect("ok"));
        assert!(
            !pooled
                .verify("x".into(), Some("not a phc string".into()))
                .await
                .expect("ok")
        );
        assert_eq!(pooled.areas.lock().expect("lock").len(), 1);
        assert!(
            !verify("x".into(), Some("not a phc string".into()))
                .await
                .expect("ok")
        );
    }
}
