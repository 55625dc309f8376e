//! People, roles, sessions, invitations and the audit log.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::institutions::Institution;

/// What a person may do. A person holds one or more; each applies at the
/// person's own institution (and, for admin and expert, below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 管理员: manages the institutions and people of their subtree.
    Admin,
    /// 专家: sees and supports the institutions below theirs.
    Expert,
    /// 技术人员: works in their own lab.
    Technician,
    /// 学员: takes courses.
    Trainee,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Expert, Role::Technician, Role::Trainee];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Expert => "expert",
            Self::Technician => "technician",
            Self::Trainee => "trainee",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// Name shown to others (usually the Chinese name).
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub institution_id: Uuid,
    pub roles: Vec<Role>,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What the signed-in person may do, so the interface can offer only that.
/// The server checks every request regardless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    pub manage_institutions: bool,
    pub manage_people: bool,
    pub view_people: bool,
    pub invite: bool,
    pub view_audit: bool,
    /// Schedule sessions and answer help requests.
    pub host_sessions: bool,
    /// Send help requests for one's lab.
    pub request_help: bool,
    /// Create and coordinate comparison rounds (experts).
    #[serde(default)]
    pub coordinate_rounds: bool,
}

/// `GET /api/v1/auth/me` and the answer to a login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub user: User,
    pub institution: Institution,
    pub capabilities: Capabilities,
    /// Send back as `X-CSRF-Token` on every state-changing request.
    pub csrf_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Username, e-mail address or phone number.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 254))]
    pub login: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub password: String,
}

/// Longest login accepted, in characters (the longest e-mail address).
pub const LOGIN_MAX_CHARS: usize = 254;
/// Longest password accepted, in characters.
pub const PASSWORD_MAX_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub current_password: String,
    /// 10–128 characters with at least three of: lower-case, upper-case,
    /// digits, symbols; not containing the username; not a common password.
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 128))]
    pub new_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewUserRequest {
    /// Stored lower-case; must be unique.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 32, pattern = r"^[a-z][a-z0-9._-]{2,31}$")
    )]
    pub username: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub display_name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254, format = Email, pattern = r"^([\x21-\x3f\x41-\x7e]+@[\x21-\x2d\x2f-\x3f\x41-\x7e]+(\.[\x21-\x2d\x2f-\x3f\x41-\x7e]+)+)?$"))]
    pub email: Option<String>,
    /// Digits with an optional leading `+` (spaces and dashes are accepted
    /// and dropped); empty means none.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 21, pattern = r"^(\+?[0-9]{5,20})?$")
    )]
    pub phone: Option<String>,
    pub institution_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 4))]
    pub roles: Vec<Role>,
    /// 10–128 characters with at least three of: lower-case, upper-case,
    /// digits, symbols; not containing the username; not a common password.
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 128))]
    pub password: String,
}

/// Partial update; absent fields stay as they are. An empty `email` or
/// `phone` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateUserRequest {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub display_name: Option<String>,
    /// Empty clears it.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 254,
            pattern = r"^([\x21-\x3f\x41-\x7e]+@[\x21-\x2d\x2f-\x3f\x41-\x7e]+(\.[\x21-\x2d\x2f-\x3f\x41-\x7e]+)+)?$"
        )
    )]
    pub email: Option<String>,
    /// Empty clears it.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 21, pattern = r"^(\+?[0-9]{5,20})?$")
    )]
    pub phone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 4))]
    pub roles: Option<Vec<Role>>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub institution_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewInvitationRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub display_name: String,
    /// An e-mail address or a phone number is needed to send the link.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254, format = Email, pattern = r"^([\x21-\x3f\x41-\x7e]+@[\x21-\x2d\x2f-\x3f\x41-\x7e]+(\.[\x21-\x2d\x2f-\x3f\x41-\x7e]+)+)?$"))]
    pub email: Option<String>,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 21, pattern = r"^(\+?[0-9]{5,20})?$")
    )]
    pub phone: Option<String>,
    pub institution_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 4))]
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Expired,
    /// Withdrawn before it was used (`POST /invitations/{id}/revoke`).
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub id: Uuid,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub institution_id: Uuid,
    pub institution_name: String,
    #[serde(default)]
    pub institution_name_en: Option<String>,
    pub roles: Vec<Role>,
    pub invited_by: String,
    pub status: InvitationStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The one-time link, present only in the answer that created it (the
    /// server keeps only a hash of the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// What the invitee sees before choosing a username and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    /// `invite` or `reset`.
    pub purpose: String,
    pub display_name: String,
    pub institution_name: String,
    #[serde(default)]
    pub institution_name_en: Option<String>,
    pub roles: Vec<Role>,
    /// Who sent the invitation (or issued the reset).
    #[serde(default)]
    pub invited_by: Option<String>,
    /// For a reset: the account's username.
    pub username: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptInvitationRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 32, pattern = r"^[a-z][a-z0-9._-]{2,31}$")
    )]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 128))]
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetPasswordRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 128))]
    pub password: String,
}

/// A one-time link to hand to a person (invitation or password reset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OneTimeLink {
    pub link: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `login_succeeded`, `login_failed`, `lockout`, `role_changed`, …
    pub event: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub target_user_id: Option<Uuid>,
    pub target_name: Option<String>,
    pub institution_id: Option<Uuid>,
    /// Client address the request came from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Event-specific facts, e.g. `roles: technician → technician, expert`.
    pub detail: String,
}

/// One page of a list; pass `next_cursor` back as `?cursor=` for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Institution create/update bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewInstitutionRequest {
    pub parent_id: Uuid,
    pub level: crate::institutions::InstitutionLevel,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 2,
            max_length = 100,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name_zh: String,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 2,
            max_length = 100,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name_en: Option<String>,
    /// GB/T 2260 administrative division code.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 6, max_length = 6, pattern = r"^[0-9]{6}$")
    )]
    pub region_code: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub contact: Option<String>,
}

/// Partial update: rename (`name_zh`, `name_en`), move (`parent_id`),
/// deactivate or reactivate (`active`). An empty `name_en` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateInstitutionRequest {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 2,
            max_length = 100,
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name_zh: Option<String>,
    /// Empty clears it.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 100,
            pattern = r"^([^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name_en: Option<String>,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 6, max_length = 6, pattern = r"^[0-9]{6}$")
    )]
    pub region_code: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub contact: Option<String>,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// An institution as one person sees it, with what they may do there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstitutionView {
    #[serde(flatten)]
    pub institution: Institution,
    /// Ids from the root down to the parent.
    pub ancestors: Vec<Uuid>,
    pub people_count: i64,
    pub can_manage: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_snake_case_strings() {
        for r in Role::ALL {
            assert_eq!(
                serde_json::to_string(&r).expect("serialises"),
                format!("\"{}\"", r.as_str())
            );
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }
}

/// Query of `GET /api/v1/users`: people in the caller's scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct UserListParams {
    /// Search text: username, name, e-mail or phone.
    #[cfg_attr(feature = "openapi", param(max_length = 100))]
    pub q: Option<String>,
    pub institution_id: Option<Uuid>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditParams {
    /// Event name, e.g. `login_failed`.
    #[cfg_attr(feature = "openapi", param(max_length = 64))]
    pub event: Option<String>,
    /// Events where this person acted or was acted on.
    pub user_id: Option<Uuid>,
    /// From this time (RFC 3339), inclusive.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub since: Option<OffsetDateTime>,
    /// Until this time (RFC 3339), exclusive.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, format = DateTime))]
    pub until: Option<OffsetDateTime>,
    /// Page size, 1–200 (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
}
