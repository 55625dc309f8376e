//! The JSON shapes of account wire types changed by the hardening of
//! issue 15, pinned.

use jiliang_protocol::accounts::{InvitationStatus, LoginRequest};

#[test]
fn invitation_statuses() {
    insta::assert_json_snapshot!(
        "invitation_statuses",
        [
            InvitationStatus::Pending,
            InvitationStatus::Accepted,
            InvitationStatus::Expired,
            InvitationStatus::Revoked,
        ]
    );
}

#[test]
fn login_request() {
    insta::assert_json_snapshot!(
        "login_request",
        LoginRequest {
            login: "tech@demo.jiliang.cn".into(),
            password: "Metrology-2026".into(),
        }
    );
}
