//! The authorization matrix: every API endpoint × every role × targets in
//! the caller's own institution, another institution of the province, a
//! foreign province, and nowhere. Each cell is the expected status.
//!
//! The endpoint list is read from the server's own OpenAPI document, so an
//! endpoint added without a row here fails this test. `docs/AUTHORIZATION.md`
//! is the same table for people.

use std::collections::BTreeSet;

use crate::common::{Backend, Client, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// Callers, in column order.
const ACTORS: [&str; 6] = [
    "anon",
    "admin",
    "expert",
    "tianshui.admin",
    "tech",
    "trainee",
];

/// Endpoints anyone may call: what they answer does not depend on who asks.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/version"),
    ("GET", "/api/v1/time"),
    ("GET", "/api/v1/time/ws"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/tokens/{token}"),
    ("POST", "/api/v1/invitations/{token}/accept"),
    ("POST", "/api/v1/password-resets/{token}"),
    // Heads and proofs reveal hashes only: anyone may audit the log.
    ("GET", "/api/v1/ledger/head"),
    ("GET", "/api/v1/ledger/proof/inclusion"),
    ("GET", "/api/v1/ledger/proof/consistency"),
    // The verification page's document: what a printed certificate says
    // anyway, for its number (unknown numbers are rate-limited).
    ("GET", "/api/v1/certificates/{number}"),
];

struct Ids {
    qinan: Uuid,   // 秦安县 lab: tech's and trainee's own institution
    tongwei: Uuid, // 通渭县 lab: same province, another city
    tianshui: Uuid,
    dingxi: Uuid,
    foreign_city: Uuid, // a city institute in another province
    foreign_lab: Uuid,
    colleague: Uuid, // a technician at 秦安
    tongwei_tech: Uuid,
    foreign_user: Uuid,
    missing: Uuid,
    s_qinan: Uuid,   // hosted by the provincial expert, lab 秦安
    s_tongwei: Uuid, // hosted by the 定西 expert, lab 通渭
    s_foreign: Uuid,
    h_qinan: Uuid,
    h_qinan2: Uuid,
    h_tongwei: Uuid,
    h_foreign: Uuid,
    h_colleague: Uuid, // asked by the colleague at 秦安, not by tech
    invitation: Uuid,  // to 秦安, sent by the provincial admin
    e_qinan: Uuid,     // an event of a session with 秦安
    e_tongwei: Uuid,   // an event of a session with 通渭
    gansu: Uuid,       // 甘肃省计量研究院: the provincial admin's and expert's own institute
    d_qinan: Uuid,     // a device of 秦安 (unit V, no agent)
    d_tongwei: Uuid,   // a device of 通渭
    d_foreign: Uuid,
    b_qinan: Uuid, // a stored reading batch of the 秦安 device
    b_tongwei: Uuid,
    s_cmp: Uuid, // a live session of the provincial expert with 秦安, two devices attached
    cmp_uut: Uuid,
    cmp_ref: Uuid,
    r_qinan: Uuid,    // an open round of the provincial expert, 秦安 invited
    r_to_close: Uuid, // another, closed by the matrix
    r_closed: Uuid,   // closed, 秦安 and 通渭 submitted, open (not blind)
    r_foreign: Uuid,  // a round of another province
    a_qinan: Uuid,    // an attachment of 秦安 to r_qinan
    /// A certificate of the demo lab's finished comparison: lab 甘肃省计量研究院
    /// (the provincial expert's), customer 秦安.
    cert: String,
    /// The comparison it was issued for.
    cert_source: Uuid,
}

/// Which object a row targets; `None` for endpoints without a path id.
#[derive(Clone, Copy, Debug)]
enum T {
    None,
    Qinan,
    Tongwei,
    Tianshui,
    Dingxi,
    ForeignCity,
    ForeignLab,
    Colleague,
    TongweiTech,
    ForeignUser,
    Missing,
    SQinan,
    STongwei,
    SForeign,
    HQinan,
    HQinan2,
    HTongwei,
    HForeign,
    HColleague,
    Invitation,
    EQinan,
    ETongwei,
    Gansu,
    DQinan,
    DTongwei,
    DForeign,
    BQinan,
    BTongwei,
    SCmp,
    RQinan,
    RToClose,
    RClosed,
    RForeign,
    Cert,
}

impl T {
    fn id(self, ids: &Ids) -> Uuid {
        match self {
            T::None => Uuid::nil(),
            T::Qinan => ids.qinan,
            T::Tongwei => ids.tongwei,
            T::Tianshui => ids.tianshui,
            T::Dingxi => ids.dingxi,
            T::ForeignCity => ids.foreign_city,
            T::ForeignLab => ids.foreign_lab,
            T::Colleague => ids.colleague,
            T::TongweiTech => ids.tongwei_tech,
            T::ForeignUser => ids.foreign_user,
            T::Missing => ids.missing,
            T::SQinan => ids.s_qinan,
            T::STongwei => ids.s_tongwei,
            T::SForeign => ids.s_foreign,
            T::HQinan => ids.h_qinan,
            T::HQinan2 => ids.h_qinan2,
            T::HTongwei => ids.h_tongwei,
            T::HForeign => ids.h_foreign,
            T::HColleague => ids.h_colleague,
            T::Invitation => ids.invitation,
            T::EQinan => ids.e_qinan,
            T::ETongwei => ids.e_tongwei,
            T::Gansu => ids.gansu,
            T::DQinan => ids.d_qinan,
            T::DTongwei => ids.d_tongwei,
            T::DForeign => ids.d_foreign,
            T::BQinan => ids.b_qinan,
            T::RQinan => ids.r_qinan,
            T::RToClose => ids.r_to_close,
            T::RClosed => ids.r_closed,
            T::RForeign => ids.r_foreign,
            T::BTongwei => ids.b_tongwei,
            T::SCmp => ids.s_cmp,
            T::Cert => ids.cert_source,
        }
    }

    /// The certificate number a `{number}` row asks for.
    fn number(self, ids: &Ids) -> String {
        match self {
            T::Cert => ids.cert.clone(),
            _ => "JL-2026-999999".to_owned(),
        }
    }

    /// The device a session row works with (attach, detach): the device of
    /// the session's lab.
    /// The `{lab_id}` of a round row (秦安, invited to every round here).
    fn lab(self, ids: &Ids) -> Uuid {
        ids.qinan
    }

    fn device(self, ids: &Ids) -> Uuid {
        match self {
            T::SQinan => ids.d_qinan,
            T::STongwei => ids.d_tongwei,
            T::SForeign => ids.d_foreign,
            _ => Uuid::nil(),
        }
    }

    /// The ledger record kind a `{kind}` row asks for.
    fn kind(self) -> &'static str {
        match self {
            T::BQinan | T::BTongwei => "reading_batch",
            _ => "room_event",
        }
    }
}

struct Row {
    method: &'static str,
    template: &'static str,
    target: T,
    /// Expected status for each of [`ACTORS`].
    expect: [u16; 6],
}

const fn row(method: &'static str, template: &'static str, target: T, expect: [u16; 6]) -> Row {
    Row {
        method,
        template,
        target,
        expect,
    }
}

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                         anon admin expert city  tech trainee
    row("GET",   "/api/v1/auth/me",                      T::None,        [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/institutions",                 T::None,        [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/institutions/{id}",            T::Qinan,       [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/institutions/{id}",            T::Tianshui,    [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/institutions/{id}",            T::Tongwei,     [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/institutions/{id}",            T::ForeignLab,  [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/institutions/{id}",            T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/institutions",                 T::Tianshui,    [401, 201, 403, 201, 403, 403]),
    row("POST",  "/api/v1/institutions",                 T::Dingxi,      [401, 201, 403, 403, 403, 403]),
    row("POST",  "/api/v1/institutions",                 T::ForeignCity, [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/institutions",                 T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("PATCH", "/api/v1/institutions/{id}",            T::Qinan,       [401, 200, 403, 200, 403, 403]),
    row("PATCH", "/api/v1/institutions/{id}",            T::Tongwei,     [401, 200, 403, 403, 403, 403]),
    row("PATCH", "/api/v1/institutions/{id}",            T::ForeignLab,  [401, 404, 404, 404, 404, 404]),
    row("PATCH", "/api/v1/institutions/{id}",            T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/institutions/{id}/people",     T::Qinan,       [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/institutions/{id}/people",     T::Tongwei,     [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/institutions/{id}/people",     T::ForeignLab,  [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/users",                        T::None,        [401, 200, 200, 200, 200, 403]),
    row("POST",  "/api/v1/users",                        T::Qinan,       [401, 201, 403, 201, 403, 403]),
    row("POST",  "/api/v1/users",                        T::Tongwei,     [401, 201, 403, 403, 403, 403]),
    row("POST",  "/api/v1/users",                        T::ForeignLab,  [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/users",                        T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/users/{id}",                   T::Colleague,   [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/users/{id}",                   T::TongweiTech, [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/users/{id}",                   T::ForeignUser, [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/users/{id}",                   T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("PATCH", "/api/v1/users/{id}",                   T::Colleague,   [401, 200, 403, 200, 403, 403]),
    row("PATCH", "/api/v1/users/{id}",                   T::TongweiTech, [401, 200, 403, 403, 403, 403]),
    row("PATCH", "/api/v1/users/{id}",                   T::ForeignUser, [401, 404, 404, 404, 404, 404]),
    row("PATCH", "/api/v1/users/{id}",                   T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/users/{id}/password-reset",    T::Colleague,   [401, 201, 403, 201, 403, 403]),
    row("POST",  "/api/v1/users/{id}/password-reset",    T::TongweiTech, [401, 201, 403, 403, 403, 403]),
    row("POST",  "/api/v1/users/{id}/password-reset",    T::ForeignUser, [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/invitations",                  T::Qinan,       [401, 201, 201, 201, 403, 403]),
    row("POST",  "/api/v1/invitations",                  T::Tongwei,     [401, 201, 201, 403, 403, 403]),
    row("POST",  "/api/v1/invitations",                  T::ForeignLab,  [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/invitations",                  T::None,        [401, 200, 200, 200, 403, 403]),
    row("GET",   "/api/v1/audit",                        T::None,        [401, 200, 403, 200, 403, 403]),
    row("GET",   "/api/v1/sessions",                     T::None,        [401, 200, 200, 200, 200, 200]),
    row("POST",  "/api/v1/sessions",                     T::Qinan,       [401, 201, 201, 201, 403, 403]),
    row("POST",  "/api/v1/sessions",                     T::Tongwei,     [401, 201, 201, 403, 403, 403]),
    row("POST",  "/api/v1/sessions",                     T::ForeignLab,  [401, 404, 404, 404, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}",                T::SQinan,      [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/sessions/{id}",                T::STongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}",                T::SForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/sessions/{id}",                T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/sessions/{id}/events",         T::SQinan,      [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/sessions/{id}/events",         T::STongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}/events",         T::SForeign,    [401, 404, 404, 404, 404, 404]),
    // Without upgrade headers an allowed caller gets 426; only people taking part are allowed.
    row("GET",   "/api/v1/sessions/{id}/ws",             T::SQinan,      [401, 403, 426, 403, 426, 426]),
    row("GET",   "/api/v1/sessions/{id}/ws",             T::STongwei,    [401, 403, 403, 403, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}/ws",             T::SForeign,    [401, 404, 404, 404, 404, 404]),
    // Before the session rows below end the sessions.
    row("GET",   "/api/v1/sessions/{id}/devices",        T::SQinan,      [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/sessions/{id}/devices",        T::STongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}/devices",        T::SForeign,    [401, 404, 404, 404, 404, 404]),
    // Attaching takes part in the session and sight of the device (trainees have none).
    row("POST",  "/api/v1/sessions/{id}/devices",        T::SQinan,      [401, 403, 200, 403, 200, 403]),
    row("POST",  "/api/v1/sessions/{id}/devices",        T::STongwei,    [401, 403, 403, 403, 403, 403]),
    row("POST",  "/api/v1/sessions/{id}/devices",        T::SForeign,    [401, 404, 404, 404, 404, 404]),
    // The expert detaches first; the technician then finds it no longer attached.
    row("DELETE","/api/v1/sessions/{id}/devices/{device_id}", T::SQinan, [401, 403, 200, 403, 404, 403]),
    row("DELETE","/api/v1/sessions/{id}/devices/{device_id}", T::STongwei, [401, 403, 403, 403, 403, 403]),
    row("DELETE","/api/v1/sessions/{id}/devices/{device_id}", T::SForeign, [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/sessions/{id}/start",          T::STongwei,    [401, 403, 403, 403, 403, 403]),
    row("POST",  "/api/v1/sessions/{id}/start",          T::SForeign,    [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/sessions/{id}/start",          T::SQinan,      [401, 403, 200, 403, 403, 403]),
    row("POST",  "/api/v1/sessions/{id}/end",            T::STongwei,    [401, 403, 403, 403, 403, 403]),
    row("POST",  "/api/v1/sessions/{id}/end",            T::SQinan,      [401, 403, 200, 403, 403, 403]),
    row("POST",  "/api/v1/help-requests",                T::None,        [401, 403, 403, 403, 201, 403]),
    row("GET",   "/api/v1/help-requests",                T::None,        [401, 200, 200, 200, 200, 403]),
    // Accepting changes state: the first allowed caller wins, later ones conflict.
    row("POST",  "/api/v1/help-requests/{id}/accept",    T::HQinan,      [401, 201, 409, 409, 403, 403]),
    row("POST",  "/api/v1/help-requests/{id}/accept",    T::HTongwei,    [401, 201, 409, 403, 403, 403]),
    row("POST",  "/api/v1/help-requests/{id}/accept",    T::HForeign,    [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/help-requests/{id}/cancel",    T::HQinan2,     [401, 200, 409, 409, 409, 403]),
    row("POST",  "/api/v1/help-requests/{id}/cancel",    T::HForeign,    [401, 404, 404, 404, 404, 404]),
    // Only the person who asked or the staff above the lab withdraw a request, not a colleague.
    row("POST",  "/api/v1/help-requests/{id}/cancel",    T::HColleague,  [401, 200, 409, 409, 403, 403]),
    // Revoking: whoever could send it; the first allowed caller wins, later ones conflict.
    row("POST",  "/api/v1/invitations/{id}/revoke",      T::Invitation,  [401, 200, 409, 409, 403, 403]),
    row("POST",  "/api/v1/invitations/{id}/revoke",      T::Missing,     [401, 404, 404, 404, 404, 404]),
    // The comparison: run by the host only (set up, start, finish in this
    // order), read by whoever may see the session.
    row("GET",   "/api/v1/sessions/{id}/comparison",     T::SForeign,    [401, 404, 404, 404, 404, 404]),
    row("PUT",   "/api/v1/sessions/{id}/comparison",     T::SCmp,        [401, 403, 200, 403, 403, 403]),
    row("PUT",   "/api/v1/sessions/{id}/comparison",     T::STongwei,    [401, 403, 403, 403, 403, 403]),
    row("PUT",   "/api/v1/sessions/{id}/comparison",     T::SForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/sessions/{id}/comparison",     T::SCmp,        [401, 200, 200, 200, 200, 200]),
    row("POST",  "/api/v1/sessions/{id}/comparison/points/{index}/start", T::SCmp, [401, 403, 200, 403, 403, 403]),
    row("POST",  "/api/v1/sessions/{id}/comparison/points/{index}/start", T::STongwei, [401, 403, 403, 403, 403, 403]),
    row("POST",  "/api/v1/sessions/{id}/comparison/points/{index}/start", T::SForeign, [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/sessions/{id}/comparison/readings.csv", T::SCmp, [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/sessions/{id}/comparison/readings.csv", T::SForeign, [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/sessions/{id}/comparison/finish", T::STongwei, [401, 403, 403, 403, 403, 403]),
    row("POST",  "/api/v1/sessions/{id}/comparison/finish", T::SForeign, [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/sessions/{id}/comparison/finish", T::SCmp,     [401, 403, 200, 403, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}/export",         T::SQinan,      [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/sessions/{id}/export",         T::STongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}/export",         T::SForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/sessions/{id}/recordings",     T::SQinan,      [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/sessions/{id}/recordings",     T::STongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/sessions/{id}/recordings",     T::SForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/recordings/{id}/file",         T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/ledger/records/{kind}/{id}",   T::EQinan,      [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/ledger/records/{kind}/{id}",   T::ETongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/ledger/records/{kind}/{id}",   T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/ledger/records/{kind}/{id}",   T::BQinan,      [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/ledger/records/{kind}/{id}",   T::BTongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/devices",                      T::None,        [401, 200, 200, 200, 200, 403]),
    row("POST",  "/api/v1/devices",                      T::Qinan,       [401, 201, 403, 201, 201, 403]),
    row("POST",  "/api/v1/devices",                      T::Gansu,       [401, 201, 201, 403, 403, 403]),
    row("POST",  "/api/v1/devices",                      T::Tongwei,     [401, 201, 403, 403, 403, 403]),
    row("POST",  "/api/v1/devices",                      T::ForeignLab,  [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/devices",                      T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/devices/{id}",                 T::DQinan,      [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/devices/{id}",                 T::DTongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/devices/{id}",                 T::DForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/devices/{id}",                 T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("PATCH", "/api/v1/devices/{id}",                 T::DQinan,      [401, 200, 403, 200, 200, 403]),
    row("PATCH", "/api/v1/devices/{id}",                 T::DTongwei,    [401, 200, 403, 403, 403, 403]),
    row("PATCH", "/api/v1/devices/{id}",                 T::DForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/devices/{id}/readings",        T::DQinan,      [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/devices/{id}/readings",        T::DTongwei,    [401, 200, 200, 403, 403, 403]),
    row("GET",   "/api/v1/devices/{id}/readings",        T::DForeign,    [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/devices/{id}/readings",        T::DQinan,      [401, 201, 403, 201, 201, 403]),
    row("POST",  "/api/v1/devices/{id}/readings",        T::DTongwei,    [401, 201, 403, 403, 403, 403]),
    row("POST",  "/api/v1/devices/{id}/readings",        T::DForeign,    [401, 404, 404, 404, 404, 404]),
    // Tokens: lab administrators and those above only.
    row("POST",  "/api/v1/devices/{id}/token",           T::DQinan,      [401, 201, 403, 201, 403, 403]),
    row("POST",  "/api/v1/devices/{id}/token",           T::DTongwei,    [401, 201, 403, 403, 403, 403]),
    row("POST",  "/api/v1/devices/{id}/token",           T::DForeign,    [401, 404, 404, 404, 404, 404]),
    row("DELETE","/api/v1/devices/{id}/token",           T::DQinan,      [401, 200, 403, 200, 403, 403]),
    row("DELETE","/api/v1/devices/{id}/token",           T::DTongwei,    [401, 200, 403, 403, 403, 403]),
    row("DELETE","/api/v1/devices/{id}/token",           T::DForeign,    [401, 404, 404, 404, 404, 404]),
    // The agent endpoints take a device token, never a login.
    row("GET",   "/api/v1/agent/ws",                     T::None,        [401, 401, 401, 401, 401, 401]),
    row("POST",  "/api/v1/agent/readings",               T::None,        [401, 401, 401, 401, 401, 401]),
    // Comparison rounds: experts create and coordinate (the provincial
    // expert above the round's institution); staff above a lab oversee; a
    // lab's technicians submit only their own lab's result.
    row("GET",   "/api/v1/rounds",                       T::None,        [401, 200, 200, 200, 200, 200]),
    row("POST",  "/api/v1/rounds",                       T::None,        [401, 403, 201, 201, 403, 403]),
    row("GET",   "/api/v1/rounds/{id}",                  T::RQinan,      [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/rounds/{id}",                  T::RForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/rounds/{id}",                  T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/rounds/{id}/labs",             T::RQinan,      [401, 403, 200, 403, 403, 403]),
    row("POST",  "/api/v1/rounds/{id}/labs",             T::RForeign,    [401, 404, 404, 404, 404, 404]),
    row("PUT",   "/api/v1/rounds/{id}/results/{lab_id}", T::RQinan,      [401, 403, 403, 403, 200, 403]),
    row("PUT",   "/api/v1/rounds/{id}/results/{lab_id}", T::RForeign,    [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/rounds/{id}/results/{lab_id}/attachments", T::RQinan, [401, 403, 403, 403, 201, 403]),
    row("POST",  "/api/v1/rounds/{id}/results/{lab_id}/attachments", T::RForeign, [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/rounds/{id}/attachments/{attachment_id}", T::RQinan, [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/rounds/{id}/attachments/{attachment_id}", T::RForeign, [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/rounds/{id}/close",            T::RToClose,    [401, 403, 200, 403, 403, 403]),
    row("POST",  "/api/v1/rounds/{id}/close",            T::RForeign,    [401, 404, 404, 404, 404, 404]),
    row("PUT",   "/api/v1/rounds/{id}/labs/{lab_id}/exclusion", T::RClosed, [401, 403, 200, 403, 403, 403]),
    row("PUT",   "/api/v1/rounds/{id}/labs/{lab_id}/exclusion", T::RForeign, [401, 404, 404, 404, 404, 404]),
    row("DELETE","/api/v1/rounds/{id}/labs/{lab_id}/exclusion", T::RClosed, [401, 403, 200, 403, 403, 403]),
    row("DELETE","/api/v1/rounds/{id}/labs/{lab_id}/exclusion", T::RForeign, [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/rounds/{id}/report",           T::RClosed,     [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/rounds/{id}/report",           T::RForeign,    [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/rounds/{id}/report.csv",       T::RClosed,     [401, 200, 200, 200, 200, 403]),
    row("GET",   "/api/v1/rounds/{id}/report.csv",       T::RForeign,    [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/rounds/{id}/publish",          T::RForeign,    [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/rounds/{id}/publish",          T::RClosed,     [401, 403, 200, 403, 403, 403]),
    // Certificates: experts at or above the calibrating lab sign (issue,
    // revoke); its lab, its customer and their staff above see and download.
    // The expert's 409: the record has its valid certificate already.
    row("GET",   "/api/v1/certificates",                 T::None,        [401, 200, 200, 200, 200, 200]),
    row("POST",  "/api/v1/certificates",                 T::Cert,        [401, 403, 409, 403, 403, 403]),
    row("GET",   "/api/v1/certificates/{number}/pdf",    T::Cert,        [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/certificates/{number}/pdf",    T::Missing,     [401, 404, 404, 404, 404, 404]),
    row("GET",   "/api/v1/certificates/{number}/dcc.xml", T::Cert,       [401, 200, 200, 200, 200, 200]),
    row("GET",   "/api/v1/certificates/{number}/dcc.xml", T::Missing,    [401, 404, 404, 404, 404, 404]),
    row("POST",  "/api/v1/certificates/{number}/revoke", T::Missing,     [401, 404, 404, 404, 404, 404]),
    // Last: the expert's revocation is final.
    row("POST",  "/api/v1/certificates/{number}/revoke", T::Cert,        [401, 403, 200, 403, 403, 403]),
    row("POST",  "/api/v1/auth/password",                T::None,        [401, 204, 204, 204, 204, 204]),
    row("POST",  "/api/v1/auth/logout",                  T::None,        [401, 204, 204, 204, 204, 204]),
];

fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn body_for(r: &Row, ids: &Ids, n: usize) -> Option<Value> {
    let target = r.target.id(ids);
    let unique = format!("{n}{}", Uuid::now_v7().simple());
    let short = &unique[unique.len() - 8..];
    match (r.method, r.template) {
        ("POST", "/api/v1/institutions") => Some(json!({
            "parent_id": target, "level": "county", "name_zh": format!("测试检定所{short}"),
            "region_code": "620500"
        })),
        ("PATCH", "/api/v1/institutions/{id}") => Some(json!({"contact": format!("电话 {n}")})),
        ("POST", "/api/v1/users") => Some(json!({
            "username": format!("u{short}"), "display_name": "测试人员",
            "institution_id": target, "roles": ["technician"], "password": "Metrology-2026!"
        })),
        ("PATCH", "/api/v1/users/{id}") => {
            Some(json!({"phone": format!("1390000{:04}", n % 10_000)}))
        }
        ("POST", "/api/v1/invitations") => Some(json!({
            "display_name": "新同事", "email": format!("new{short}@example.cn"),
            "institution_id": target, "roles": ["technician"]
        })),
        ("POST", "/api/v1/sessions") => Some(json!({
            "title": "远程检定", "scheduled_start": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339).expect("format"),
            "duration_minutes": 60, "lab_ids": [target]
        })),
        ("POST", "/api/v1/help-requests") => Some(json!({
            "topic": "天平示值误差超差", "instrument": "电子天平", "urgency": "normal"
        })),
        ("POST", "/api/v1/devices") => Some(json!({
            "lab_id": target, "name": format!("数字多用表 {short}"), "kind": "digital multimeter",
            "quantity": "voltage", "unit": "V"
        })),
        ("PATCH", "/api/v1/devices/{id}") => Some(json!({"name": format!("数字多用表 {n}")})),
        ("POST", "/api/v1/devices/{id}/readings") => Some(json!({
            "key": unique, "readings": [{"value": 1.000_012, "unit": "V"}]
        })),
        ("POST", "/api/v1/sessions/{id}/devices") => {
            Some(json!({"device_id": r.target.device(ids)}))
        }
        ("PUT", "/api/v1/sessions/{id}/comparison") => Some(json!({
            "uut_device_id": ids.cmp_uut, "ref_device_id": ids.cmp_ref, "points": [1.0, 10.0],
            "readings_per_point": 3, "mpe": {"form": "absolute", "value": 0.01},
            "ref_expanded_uncertainty": 0.001, "ref_k": 2.0
        })),
        ("POST", "/api/v1/rounds") => Some(json!({
            "title": format!("比对 {short}"), "quantity": "电压", "unit": "V",
            "deadline": in_days(7), "method": "auto", "options": {}
        })),
        ("POST", "/api/v1/rounds/{id}/labs") => Some(json!({"lab_ids": [ids.qinan]})),
        ("PUT", "/api/v1/rounds/{id}/results/{lab_id}") => {
            Some(json!({"value": 10.000_02, "expanded_uncertainty": 0.000_04, "k": 2}))
        }
        ("POST", "/api/v1/rounds/{id}/results/{lab_id}/attachments") => Some(json!({
            "name": "记录.txt", "content_type": "text/plain", "data_base64": "MTAuMDAwMDIgVg=="
        })),
        ("PUT", "/api/v1/rounds/{id}/labs/{lab_id}/exclusion") => {
            Some(json!({"reason": "传递标准运输中受震"}))
        }
        ("POST", "/api/v1/certificates") => Some(json!({
            "source_kind": "raw_record", "source_id": ids.cert_source
        })),
        ("POST", "/api/v1/certificates/{number}/revoke") => Some(json!({"reason": "测试撤销"})),
        ("POST", "/api/v1/auth/password") => Some(json!({
            "current_password": crate::common::DEMO_PASSWORD, "new_password": "Changed-Pass-2026"
        })),
        ("POST", _) => Some(json!({})),
        _ => None,
    }
}

async fn setup(server: &TestServer) -> Ids {
    // Another province, created by the national administrator.
    let nim = server.login("nim.admin").await;
    let regional = server.institution_id("国家西北计量测试中心").await;
    let create = |parent: Uuid, level: &str, name: &str, code: &str| {
        let nim = nim.clone();
        let body =
            json!({"parent_id": parent, "level": level, "name_zh": name, "region_code": code});
        async move {
            let res = nim.post("/api/v1/institutions", &body).await;
            assert_eq!(res.status(), 201, "{:?}", res.text().await);
            let v: Value = res.json().await.expect("json");
            v["id"]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                .expect("id")
        }
    };
    let province = create(regional, "provincial", "青海省计量测试所", "630000").await;
    let foreign_city = create(province, "city", "海东市计量测试所", "630200").await;
    let foreign_lab = create(foreign_city, "county", "互助县计量检定所", "630223").await;
    let new_user = |inst: Uuid, username: &str| {
        let nim = nim.clone();
        let body = json!({"username": username, "display_name": "测试", "institution_id": inst,
                          "roles": ["technician"], "password": "Metrology-2026!"});
        async move {
            let res = nim.post("/api/v1/users", &body).await;
            assert_eq!(res.status(), 201, "{:?}", res.text().await);
            let v: Value = res.json().await.expect("json");
            v["id"]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                .expect("id")
        }
    };
    let qinan = server.institution_id("秦安县计量检定所").await;
    let tongwei = server.institution_id("通渭县计量检定所").await;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let new_session = |host: Client, lab: Uuid| {
        let body = json!({"title": "会话", "scheduled_start": now, "duration_minutes": 60, "lab_ids": [lab]});
        async move {
            let res = host.post("/api/v1/sessions", &body).await;
            assert_eq!(res.status(), 201, "{:?}", res.text().await);
            let v: Value = res.json().await.expect("json");
            v["id"]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                .expect("id")
        }
    };
    let new_help = |who: Client| async move {
        let res = who
            .post(
                "/api/v1/help-requests",
                &json!({"topic": "求助", "instrument": "压力表", "urgency": "high"}),
            )
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let v: Value = res.json().await.expect("json");
        v["id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .expect("id")
    };
    let foreign_user = new_user(foreign_lab, "huzhu.tech").await;
    // Sessions that have one stored event each (their start).
    let event_of = |host: Client, session: Uuid| async move {
        let res = host
            .post(&format!("/api/v1/sessions/{session}/start"), &json!({}))
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let page = host
            .json(&format!("/api/v1/sessions/{session}/events"))
            .await;
        page["items"][0]["id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .expect("event id")
    };
    let expert = server.login("expert").await;
    let dingxi = server.login("dingxi.expert").await;
    let e_qinan = event_of(expert.clone(), new_session(expert.clone(), qinan).await).await;
    let e_tongwei = event_of(dingxi.clone(), new_session(dingxi.clone(), tongwei).await).await;
    let tech = server.login("tech").await;
    let huzhu = Client::login(&server.base, "huzhu.tech", "Metrology-2026!").await;
    let colleague = new_user(qinan, "qinan.colleague").await;
    let h_colleague =
        new_help(Client::login(&server.base, "qinan.colleague", "Metrology-2026!").await).await;
    let res = server
        .login("admin")
        .await
        .post(
            "/api/v1/invitations",
            &json!({"display_name": "待撤回", "email": "revoke.me@example.cn",
                    "institution_id": qinan, "roles": ["technician"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let invitation = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
        .expect("invitation id");
    // A device per lab, registered by its technician, with one typed reading.
    let device_of = |who: Client, lab: Uuid| async move {
        let res = who
            .post(
                "/api/v1/devices",
                &json!({"lab_id": lab, "name": "数字多用表", "kind": "digital multimeter",
                        "quantity": "voltage", "unit": "V"}),
            )
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let v: Value = res.json().await.expect("json");
        let id = v["id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .expect("id");
        let res = who
            .post(
                &format!("/api/v1/devices/{id}/readings"),
                &json!({"key": "setup", "readings": [{"value": 10.000_02, "unit": "V"}]}),
            )
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let v: Value = res.json().await.expect("json");
        let batch = v["batch_id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .expect("batch id");
        (id, batch)
    };
    let (d_qinan, b_qinan) = device_of(tech.clone(), qinan).await;
    let (d_tongwei, b_tongwei) = device_of(server.login("tongwei.tech").await, tongwei).await;
    let (d_foreign, _) = device_of(huzhu.clone(), foreign_lab).await;
    // A live session with two devices of 秦安 attached, for the comparison rows.
    let s_cmp = new_session(expert.clone(), qinan).await;
    let res = expert
        .post(&format!("/api/v1/sessions/{s_cmp}/start"), &json!({}))
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let (cmp_uut, _) = device_of(tech.clone(), qinan).await;
    let (cmp_ref, _) = device_of(tech.clone(), qinan).await;
    for d in [cmp_uut, cmp_ref] {
        let res = tech
            .post(
                &format!("/api/v1/sessions/{s_cmp}/devices"),
                &json!({"device_id": d}),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
    }
    // Rounds: three of the provincial expert's with 秦安 invited (one
    // with an attachment, one to close, one closed with two results), and
    // one of an expert of the other province.
    let round_of = |who: Client, labs: Vec<Uuid>| async move {
        let res = who
            .post(
                "/api/v1/rounds",
                &json!({"title": "直流电压比对", "quantity": "电压", "unit": "V",
                        "deadline": in_days(7), "method": "auto", "options": {}, "blind": false}),
            )
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let v: Value = res.json().await.expect("json");
        let id = v["id"]
            .as_str()
            .and_then(|s| s.parse::<Uuid>().ok())
            .expect("id");
        let res = who
            .post(
                &format!("/api/v1/rounds/{id}/labs"),
                &json!({"lab_ids": labs}),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        id
    };
    let r_qinan = round_of(expert.clone(), vec![qinan]).await;
    let res = tech
        .post(
            &format!("/api/v1/rounds/{r_qinan}/results/{qinan}/attachments"),
            &json!({"name": "a.txt", "content_type": "text/plain", "data_base64": "MQ=="}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let a_qinan = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
        .expect("attachment id");
    let r_to_close = round_of(expert.clone(), vec![qinan]).await;
    let r_closed = round_of(expert.clone(), vec![qinan, tongwei]).await;
    for (who, lab, value) in [
        (tech.clone(), qinan, 10.000_03),
        (server.login("tongwei.tech").await, tongwei, 10.000_01),
    ] {
        let res = who
            .send(
                Method::PUT,
                &format!("/api/v1/rounds/{r_closed}/results/{lab}"),
                Some(&json!({"value": value, "expanded_uncertainty": 0.000_04, "k": 2})),
            )
            .await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
    }
    let res = expert
        .post(&format!("/api/v1/rounds/{r_closed}/close"), &json!({}))
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let res = nim
        .post(
            "/api/v1/users",
            &json!({"username": "huzhu.expert", "display_name": "测试专家", "institution_id": foreign_city,
                    "roles": ["expert"], "password": "Metrology-2026!"}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let foreign_expert = Client::login(&server.base, "huzhu.expert", "Metrology-2026!").await;
    let r_foreign = round_of(foreign_expert, vec![foreign_lab]).await;
    // The demo lab's finished comparison, and its certificate.
    let demo_dir = tempfile::tempdir().expect("dir");
    jiliang_server::demo::lab::seed(&server.state.store, demo_dir.path())
        .await
        .expect("demo lab");
    let cert_source = server
        .state
        .store
        .comparison_ids_after(None, 10)
        .await
        .expect("comparisons")
        .into_iter()
        .next()
        .expect("the demo's finished comparison");
    let res = expert
        .post(
            "/api/v1/certificates",
            &json!({"source_kind": "raw_record", "source_id": cert_source}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let cert = res.json::<Value>().await.expect("json")["number"]
        .as_str()
        .expect("number")
        .to_owned();
    Ids {
        cert,
        cert_source,
        s_cmp,
        r_qinan,
        r_to_close,
        r_closed,
        r_foreign,
        a_qinan,
        cmp_uut,
        cmp_ref,
        gansu: server.institution_id("甘肃省计量研究院").await,
        d_qinan,
        d_tongwei,
        d_foreign,
        b_qinan,
        b_tongwei,
        s_qinan: new_session(server.login("expert").await, qinan).await,
        s_tongwei: new_session(server.login("dingxi.expert").await, tongwei).await,
        s_foreign: new_session(nim.clone(), foreign_lab).await,
        h_qinan: new_help(tech.clone()).await,
        h_qinan2: new_help(tech).await,
        h_tongwei: new_help(server.login("tongwei.tech").await).await,
        h_foreign: new_help(huzhu).await,
        h_colleague,
        invitation,
        e_qinan,
        e_tongwei,
        qinan,
        tongwei,
        tianshui: server.institution_id("天水市计量测试所").await,
        dingxi: server.institution_id("定西市计量测试所").await,
        foreign_city,
        foreign_lab,
        colleague,
        tongwei_tech: server.user_id("tongwei.tech").await,
        foreign_user,
        missing: Uuid::now_v7(),
    }
}

backend_tests!(every_endpoint_by_every_role, |backend| async move {
    let Some(server) = TestServer::start_seeded(backend).await else {
        return;
    };
    let ids = setup(&server).await;

    // Every documented endpoint has a rule.
    let doc = Client::new(&server.base).json("/api/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let covered: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|r| (r.method.to_owned(), r.template.to_owned()))
        .chain(
            PUBLIC
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
        )
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "endpoints without an authorization rule: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rules for endpoints that do not exist: {stale:?}"
    );

    let mut clients = Vec::new();
    for actor in ACTORS {
        clients.push(if actor == "anon" {
            Client::new(&server.base)
        } else {
            server.login(actor).await
        });
    }

    let mut failures = Vec::new();
    for (n, r) in MATRIX.iter().enumerate() {
        let id = r.target.id(&ids).to_string();
        let path = r
            .template
            .replace("{id}", &id)
            .replace("{device_id}", &r.target.device(&ids).to_string())
            .replace("{kind}", r.target.kind())
            .replace("{index}", "0")
            .replace("{lab_id}", &r.target.lab(&ids).to_string())
            .replace("{attachment_id}", &ids.a_qinan.to_string())
            .replace("{number}", &r.target.number(&ids));
        let method = Method::from_bytes(r.method.as_bytes()).expect("method");
        for (actor, (client, want)) in ACTORS.iter().zip(clients.iter().zip(r.expect)) {
            let body = body_for(r, &ids, n * 10 + want as usize);
            let res = client.send(method.clone(), &path, body.as_ref()).await;
            let got = res.status().as_u16();
            if got != want {
                let text = res.text().await.unwrap_or_default();
                failures.push(format!(
                    "{} {} [{:?}] as {actor}: expected {want}, got {got}: {text}",
                    r.method, r.template, r.target
                ));
            } else if got >= 400 {
                // Denials are proper error documents, never empty or HTML.
                let v: Value = res.json().await.expect("error body is JSON");
                assert!(v["code"].is_string() && v["message"].is_string(), "{v}");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Public endpoints answer the same whoever asks.
    for client in &clients {
        let bogus = "0".repeat(64);
        assert_eq!(
            client
                .get(&format!("/api/v1/tokens/{bogus}"))
                .await
                .status(),
            404
        );
        assert_eq!(client.get("/healthz").await.status(), 200);
    }
    server.stop().await;
});

/// An expert may invite technicians and trainees, never administrators or experts.
#[tokio::test]
async fn experts_cannot_invite_privileged_roles() {
    let server = TestServer::start_seeded(Backend::Sqlite)
        .await
        .expect("sqlite");
    let expert = server.login("expert").await;
    let qinan = server.institution_id("秦安县计量检定所").await;
    for role in ["admin", "expert"] {
        let res = expert
            .post(
                "/api/v1/invitations",
                &json!({"display_name": "某人", "phone": "13900000000",
                   "institution_id": qinan, "roles": [role]}),
            )
            .await;
        assert_eq!(res.status(), 403, "inviting an {role}");
    }
    server.stop().await;
}

/// What `tests/api/hooks.py` checks during the Schemathesis run: for each
/// caller, the endpoints the matrix never lets them use (every cell 401,
/// 403 or 404, at least one a refusal). A 2xx there is a hole in the
/// authorization. Regenerate with `JILIANG_BLESS=1` after changing the
/// matrix.
#[test]
fn schemathesis_denials_follow_the_matrix() {
    let mut table = serde_json::Map::new();
    for (i, actor) in ACTORS.iter().enumerate() {
        let mut endpoints: BTreeSet<(&str, &str)> = BTreeSet::new();
        let all: BTreeSet<(&str, &str)> = MATRIX.iter().map(|r| (r.method, r.template)).collect();
        for (method, template) in all {
            let cells: Vec<u16> = MATRIX
                .iter()
                .filter(|r| r.method == method && r.template == template)
                .map(|r| r.expect[i])
                .collect();
            let refused = cells.iter().all(|c| matches!(c, 401 | 403 | 404))
                && cells.iter().any(|c| matches!(c, 401 | 403));
            if refused {
                endpoints.insert((method, template));
            }
        }
        table.insert(
            (*actor).to_owned(),
            endpoints
                .into_iter()
                .map(|(m, t)| json!([m, t]))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    let want = format!(
        "{}\n",
        serde_json::to_string_pretty(&Value::Object(table)).expect("json")
    );
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/api/denied.json");
    if std::env::var_os("JILIANG_BLESS").is_some() {
        std::fs::write(&file, &want).expect("write denied.json");
    }
    let got = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        got == want,
        "tests/api/denied.json differs from the matrix; regenerate with \
         JILIANG_BLESS=1 cargo nextest run -p jiliang-server --test it schemathesis_denials"
    );
}
