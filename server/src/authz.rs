//! Who may see and do what. Every rule of access control lives here, as
//! pure functions of the principal and the target's place in the tree, so
//! handlers only ask and the rules can be tested (and read) in one place.
//! `docs/AUTHORIZATION.md` is the same table for people.
//!
//! Answers are three-valued: allowed; forbidden (403) when the target lies
//! inside the caller's directory — their province, whose institutions they
//! know of anyway; hidden (404) when it lies outside, so that ids from
//! elsewhere reveal nothing, not even existence.

use jiliang_protocol::accounts::{Capabilities, Role};

use crate::auth::Principal;
use crate::error::AppError;
use crate::i18n::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allow,
    Forbidden,
    Hidden,
}

impl Access {
    /// `Ok` or the matching error; `what` names the target for a 404.
    pub fn require(self, what: Text) -> Result<(), AppError> {
        match self {
            Self::Allow => Ok(()),
            Self::Forbidden => Err(AppError::Forbidden),
            Self::Hidden => Err(AppError::NotFound(what)),
        }
    }

    pub fn allowed(self) -> bool {
        self == Self::Allow
    }
}

fn in_subtree(p: &Principal, target_path: &str) -> bool {
    target_path.starts_with(&p.path)
}

fn is_own_or_ancestor(p: &Principal, target_path: &str) -> bool {
    p.path.starts_with(target_path)
}

fn deny(p: &Principal, target_path: &str) -> Access {
    if target_path.starts_with(&p.directory) || is_own_or_ancestor(p, target_path) {
        Access::Forbidden
    } else {
        Access::Hidden
    }
}

fn staff(p: &Principal) -> bool {
    p.has(Role::Admin) || p.has(Role::Expert)
}

/// See an institution's page. Everyone sees their own and those above it
/// (whom to call); admins and experts see everything below theirs.
pub fn read_institution(p: &Principal, target_path: &str) -> Access {
    if is_own_or_ancestor(p, target_path) || (staff(p) && in_subtree(p, target_path)) {
        Access::Allow
    } else {
        deny(p, target_path)
    }
}

/// Rename, re-describe, add children to, move or deactivate an institution:
/// admins, inside their subtree.
pub fn manage_institution(p: &Principal, target_path: &str) -> Access {
    if p.has(Role::Admin) && in_subtree(p, target_path) {
        Access::Allow
    } else {
        deny(p, target_path)
    }
}

/// Move or deactivate: as manage, but never the admin's own institution
/// (that takes an admin above it; otherwise an admin could lift their own
/// subtree out of supervision).
pub fn restructure_institution(p: &Principal, target_path: &str) -> Access {
    if target_path == p.path {
        return Access::Forbidden;
    }
    manage_institution(p, target_path)
}

/// See who works at an institution: admins and experts below them,
/// technicians in their own lab.
pub fn view_people_of(p: &Principal, institution_path: &str) -> Access {
    if (staff(p) && in_subtree(p, institution_path))
        || (p.has(Role::Technician) && institution_path == p.path)
    {
        Access::Allow
    } else {
        deny(p, institution_path)
    }
}

/// See one person's account: oneself always, others as [`view_people_of`].
pub fn view_user(p: &Principal, user_id: uuid::Uuid, institution_path: &str) -> Access {
    if user_id == p.user.id {
        Access::Allow
    } else {
        view_people_of(p, institution_path)
    }
}

/// Change someone's roles, details, institution, activation, or reset
/// their password: admins, inside their subtree.
pub fn manage_user(p: &Principal, institution_path: &str) -> Access {
    if p.has(Role::Admin) && in_subtree(p, institution_path) {
        Access::Allow
    } else {
        deny(p, institution_path)
    }
}

/// Invite a person with `roles` to an institution: admins any roles inside
/// their subtree; experts technicians and trainees inside theirs.
pub fn invite(p: &Principal, institution_path: &str, roles: &[Role]) -> Access {
    if p.has(Role::Admin) && in_subtree(p, institution_path) {
        return Access::Allow;
    }
    if p.has(Role::Expert) && in_subtree(p, institution_path) {
        return if roles
            .iter()
            .all(|r| matches!(r, Role::Technician | Role::Trainee))
        {
            Access::Allow
        } else {
            Access::Forbidden
        };
    }
    deny(p, institution_path)
}

/// The scope a people search runs in, if the caller may search at all.
pub enum PeopleScope {
    /// Everyone whose institution path starts with this.
    Subtree(String),
    /// Only this institution.
    Institution(uuid::Uuid),
}

pub fn people_scope(p: &Principal) -> Option<PeopleScope> {
    if staff(p) {
        Some(PeopleScope::Subtree(p.path.clone()))
    } else if p.has(Role::Technician) {
        Some(PeopleScope::Institution(p.institution.id))
    } else {
        None
    }
}

/// Schedule a session with a lab: admins and experts, for labs in their
/// subtree.
pub fn schedule_with(p: &Principal, lab_path: &str) -> Access {
    if staff(p) && in_subtree(p, lab_path) {
        Access::Allow
    } else {
        deny(p, lab_path)
    }
}

/// Whether the person may host sessions at all.
pub fn may_host(p: &Principal) -> bool {
    staff(p)
}

/// See a session (its details and record) without taking part: admins and
/// experts whose subtree hosts it or holds one of its labs. A denied
/// session is a 403 when it is hosted in, or involves a lab of, the
/// caller's directory, else a 404 (a session hosted high up for labs
/// elsewhere says nothing to this province).
pub fn oversee_session(
    p: &Principal,
    host_path: &str,
    touches_subtree: bool,
    in_directory: bool,
) -> Access {
    if staff(p) && (in_subtree(p, host_path) || touches_subtree) {
        Access::Allow
    } else if in_directory {
        Access::Forbidden
    } else {
        Access::Hidden
    }
}

/// Ask for help: technicians, for their own lab.
pub fn request_help(p: &Principal) -> bool {
    p.has(Role::Technician)
}

/// See and answer the help requests of a lab: admins and experts above or
/// at it; technicians see (and may cancel) their own lab's.
pub fn view_help_of(p: &Principal, lab_path: &str) -> Access {
    if (staff(p) && in_subtree(p, lab_path)) || (p.has(Role::Technician) && lab_path == p.path) {
        Access::Allow
    } else {
        deny(p, lab_path)
    }
}

pub fn accept_help(p: &Principal, lab_path: &str) -> Access {
    if staff(p) && in_subtree(p, lab_path) {
        Access::Allow
    } else {
        deny(p, lab_path)
    }
}

/// Withdraw an open help request: the person who asked, or the staff
/// above the lab (who could also have accepted it). A colleague in the
/// same lab cannot withdraw someone else's request.
pub fn cancel_help(p: &Principal, requested_by: uuid::Uuid, lab_path: &str) -> Access {
    if p.user.id == requested_by || (staff(p) && in_subtree(p, lab_path)) {
        Access::Allow
    } else if p.path == lab_path {
        // They can see the request (a technician of that lab): 403, not 404.
        Access::Forbidden
    } else {
        deny(p, lab_path)
    }
}

/// See a lab's devices and their readings: admins and experts above or at
/// the lab, its technicians.
pub fn view_devices_of(p: &Principal, lab_path: &str) -> Access {
    if (staff(p) && in_subtree(p, lab_path)) || (p.has(Role::Technician) && lab_path == p.path) {
        Access::Allow
    } else {
        deny(p, lab_path)
    }
}

/// Start or end a session: its host only. The host answers for what the
/// record says happened; others taking part (or overseeing it) run nothing.
pub fn run_session(p: &Principal, host_id: uuid::Uuid) -> bool {
    p.user.id == host_id
}

/// Set up, step through and finish a session's comparison: its host only,
/// as for starting and ending it — the host signs for the record (原始记录).
/// Admins of the session's institutions oversee it (they read the
/// comparison and its record) but do not run it: a record made by someone
/// not in the room would say something nobody there saw.
pub fn run_comparison(p: &Principal, host_id: uuid::Uuid) -> bool {
    run_session(p, host_id)
}

/// Issue a calibration certificate for a finished record, or revoke or
/// supersede one: experts (the signers), at or above the calibrating lab.
/// Admins manage people and places, not measurement results; technicians
/// calibrate but do not sign.
pub fn sign_certificate(p: &Principal, lab_path: &str) -> Access {
    if p.has(Role::Expert) && in_subtree(p, lab_path) {
        Access::Allow
    } else {
        deny(p, lab_path)
    }
}

/// See (list, download PDF and DCC) a certificate: admins and experts above
/// or at its lab or its customer, and the people of either institution.
pub fn view_certificate(p: &Principal, lab_path: &str, customer_path: Option<&str>) -> Access {
    let at = |path: &str| p.path == path || (staff(p) && in_subtree(p, path));
    if at(lab_path) || customer_path.is_some_and(at) {
        Access::Allow
    } else {
        match customer_path {
            Some(c) if deny(p, c) == Access::Forbidden => Access::Forbidden,
            _ => deny(p, lab_path),
        }
    }
}

/// Register a device at a lab, change it, type readings in: the lab's own
/// technicians and experts, and admins above or at the lab.
pub fn manage_device(p: &Principal, lab_path: &str) -> Access {
    if (p.has(Role::Admin) && in_subtree(p, lab_path))
        || ((p.has(Role::Technician) || p.has(Role::Expert)) && lab_path == p.path)
    {
        Access::Allow
    } else {
        deny(p, lab_path)
    }
}

/// Revoke or replace a device's agent token: admins above or at the lab.
pub fn manage_device_token(p: &Principal, lab_path: &str) -> Access {
    if p.has(Role::Admin) && in_subtree(p, lab_path) {
        Access::Allow
    } else {
        deny(p, lab_path)
    }
}

/// The devices a person may list: as people (admins and experts their
/// subtree, technicians their lab), trainees none.
pub fn device_scope(p: &Principal) -> Option<PeopleScope> {
    people_scope(p)
}

/// Create a comparison round (计量比对): experts, coordinated from their
/// own institution.
pub fn create_round(p: &Principal) -> bool {
    p.has(Role::Expert)
}

/// Coordinate a round — invite labs, close it, exclude a lab from the
/// reference value, publish: experts of the coordinating institution or
/// above it. Administrators oversee rounds but do not run them (the
/// coordinator answers for the report, as a host for a session's record).
pub fn manage_round(p: &Principal, round_path: &str, in_directory: bool) -> Access {
    if p.has(Role::Expert) && in_subtree(p, round_path) {
        Access::Allow
    } else {
        deny_round(p, round_path, in_directory)
    }
}

/// See a round as its coordinators do (every lab named, the report at any
/// time): admins and experts of the coordinating institution or above it,
/// or above one of its labs.
pub fn oversee_round(p: &Principal, round_path: &str, touches_subtree: bool) -> bool {
    staff(p) && (in_subtree(p, round_path) || touches_subtree)
}

/// Take part in a round for a lab: the lab's technicians and experts
/// (trainees do not submit results).
pub fn round_participant(p: &Principal, lab_id: uuid::Uuid) -> bool {
    (p.has(Role::Technician) || p.has(Role::Expert)) && p.institution.id == lab_id
}

/// A refused round: 403 when it is coordinated in, or involves a lab of,
/// the caller's directory (or above the caller), else 404.
pub fn deny_round(p: &Principal, round_path: &str, labs_in_directory: bool) -> Access {
    if labs_in_directory {
        Access::Forbidden
    } else {
        deny(p, round_path)
    }
}

/// Read the audit log (of their subtree): admins.
pub fn view_audit(p: &Principal) -> bool {
    p.has(Role::Admin)
}

pub fn capabilities(p: &Principal) -> Capabilities {
    Capabilities {
        manage_institutions: p.has(Role::Admin),
        manage_people: p.has(Role::Admin),
        view_people: people_scope(p).is_some(),
        invite: staff(p),
        view_audit: view_audit(p),
        host_sessions: may_host(p),
        request_help: request_help(p),
        coordinate_rounds: create_round(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiliang_protocol::accounts::User;
    use jiliang_protocol::institutions::{Institution, InstitutionLevel};
    use time::OffsetDateTime;
    use uuid::Uuid;

    // A tree: /N/R/P/C1/K1/, /N/R/P/C1/K2/, /N/R/P/C2/K3/, and another
    // province /N/R/Q/C9/K9/.
    const PROVINCE: &str = "/N/R/P/";
    const CITY1: &str = "/N/R/P/C1/";
    const K1: &str = "/N/R/P/C1/K1/";
    const K2: &str = "/N/R/P/C1/K2/";
    const K3: &str = "/N/R/P/C2/K3/";
    const OTHER_PROVINCE_LAB: &str = "/N/R/Q/C9/K9/";

    fn who(path: &str, roles: &[Role]) -> Principal {
        let now = OffsetDateTime::UNIX_EPOCH;
        Principal {
            user: User {
                id: Uuid::now_v7(),
                username: "u".into(),
                display_name: "U".into(),
                email: None,
                phone: None,
                institution_id: Uuid::now_v7(),
                roles: roles.to_vec(),
                active: true,
                created_at: now,
            },
            institution: Institution {
                id: Uuid::now_v7(),
                parent_id: None,
                level: InstitutionLevel::County,
                name_zh: "x".into(),
                name_en: None,
                region_code: "0".into(),
                contact: String::new(),
                active: true,
                created_at: now,
                updated_at: now,
            },
            path: path.into(),
            directory: PROVINCE.into(),
            token_hash: [0; 32],
            csrf_token: String::new(),
        }
    }

    #[test]
    fn technicians_see_their_lab_and_above_only() {
        let tech = who(K1, &[Role::Technician]);
        assert_eq!(read_institution(&tech, K1), Access::Allow);
        assert_eq!(read_institution(&tech, CITY1), Access::Allow);
        assert_eq!(read_institution(&tech, PROVINCE), Access::Allow);
        assert_eq!(read_institution(&tech, K2), Access::Forbidden);
        assert_eq!(read_institution(&tech, OTHER_PROVINCE_LAB), Access::Hidden);
        assert_eq!(view_people_of(&tech, K1), Access::Allow);
        assert_eq!(view_people_of(&tech, CITY1), Access::Forbidden);
        assert_eq!(manage_institution(&tech, K1), Access::Forbidden);
    }

    #[test]
    fn experts_see_below_and_invite_only_technicians_and_trainees() {
        let expert = who(CITY1, &[Role::Expert]);
        assert_eq!(read_institution(&expert, K2), Access::Allow);
        assert_eq!(read_institution(&expert, K3), Access::Forbidden);
        assert_eq!(view_people_of(&expert, K1), Access::Allow);
        assert_eq!(invite(&expert, K1, &[Role::Technician]), Access::Allow);
        assert_eq!(invite(&expert, K1, &[Role::Admin]), Access::Forbidden);
        assert_eq!(invite(&expert, K3, &[Role::Trainee]), Access::Forbidden);
        assert_eq!(manage_user(&expert, K1), Access::Forbidden);
    }

    #[test]
    fn admins_manage_their_subtree_but_cannot_restructure_their_own_root() {
        let admin = who(PROVINCE, &[Role::Admin]);
        assert_eq!(manage_institution(&admin, K3), Access::Allow);
        assert_eq!(manage_institution(&admin, PROVINCE), Access::Allow);
        assert_eq!(restructure_institution(&admin, PROVINCE), Access::Forbidden);
        assert_eq!(restructure_institution(&admin, CITY1), Access::Allow);
        assert_eq!(
            manage_institution(&admin, OTHER_PROVINCE_LAB),
            Access::Hidden
        );
        assert!(view_audit(&admin));
        let city_admin = who(CITY1, &[Role::Admin]);
        assert_eq!(manage_user(&city_admin, K3), Access::Forbidden);
        assert_eq!(manage_user(&city_admin, K1), Access::Allow);
    }

    #[test]
    fn devices_are_seen_by_their_lab_and_above_and_tokens_are_for_admins() {
        let tech = who(K1, &[Role::Technician]);
        assert_eq!(view_devices_of(&tech, K1), Access::Allow);
        assert_eq!(manage_device(&tech, K1), Access::Allow);
        assert_eq!(manage_device(&tech, K2), Access::Forbidden);
        assert_eq!(manage_device_token(&tech, K1), Access::Forbidden);
        let expert = who(CITY1, &[Role::Expert]);
        assert_eq!(view_devices_of(&expert, K1), Access::Allow);
        assert_eq!(manage_device(&expert, K1), Access::Forbidden);
        assert_eq!(manage_device(&expert, CITY1), Access::Allow);
        let admin = who(PROVINCE, &[Role::Admin]);
        assert_eq!(manage_device(&admin, K3), Access::Allow);
        assert_eq!(manage_device_token(&admin, K3), Access::Allow);
        assert_eq!(
            manage_device_token(&admin, OTHER_PROVINCE_LAB),
            Access::Hidden
        );
        let trainee = who(K1, &[Role::Trainee]);
        assert_eq!(view_devices_of(&trainee, K1), Access::Forbidden);
        assert!(device_scope(&trainee).is_none());
    }

    #[test]
    fn trainees_see_only_their_own_learning() {
        let trainee = who(K2, &[Role::Trainee]);
        assert!(people_scope(&trainee).is_none());
        assert_eq!(view_people_of(&trainee, K2), Access::Forbidden);
        assert_eq!(view_user(&trainee, trainee.user.id, K2), Access::Allow);
        assert!(!view_audit(&trainee));
        assert_eq!(capabilities(&trainee), Capabilities::default());
    }
}
