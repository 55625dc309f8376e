//! Liveness (`/healthz`), readiness (`/readyz`) and version documents.

use serde::{Deserialize, Serialize};

/// `GET /healthz`: the process is up and answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok` when the server answers at all.
    pub status: String,
    pub service: String,
    pub version: String,
}

/// `GET /readyz`: whether this node can serve traffic, and why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    pub checks: Vec<ReadinessCheck>,
}

/// One dependency the node needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadinessCheck {
    /// `database`, `clock`, …
    pub name: String,
    pub ok: bool,
    /// What was checked (`sqlite`, `postgres`) or what went wrong.
    pub detail: String,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
}

/// `GET /api/v1/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub service: String,
    pub version: String,
    /// Version of the REST API (`v1`).
    pub api: String,
    /// Storage backend in use (`sqlite` or `postgres`).
    pub storage: String,
}

impl Readiness {
    pub fn from_checks(checks: Vec<ReadinessCheck>) -> Self {
        let ready = checks.iter().all(|c| c.ok);
        Self {
            status: if ready { "ready" } else { "not_ready" }.to_owned(),
            checks,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ok: bool) -> ReadinessCheck {
        ReadinessCheck {
            name: "database".into(),
            ok,
            detail: "sqlite".into(),
            latency_ms: 0.4,
        }
    }

    #[test]
    fn ready_only_when_every_check_passes() {
        assert!(Readiness::from_checks(vec![check(true), check(true)]).is_ready());
        let r = Readiness::from_checks(vec![check(true), check(false)]);
        assert!(!r.is_ready());
        assert_eq!(r.status, "not_ready");
    }
}
