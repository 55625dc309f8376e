//! What an administrator sees first: institutions, people, pending invitations,
//! recent security events.

use jiliang_protocol::accounts::{
    AuditEvent, AuditParams, InstitutionView, Invitation, InvitationStatus, Me, Page,
};
use leptos::prelude::*;
use leptos_router::components::A;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::{V1, use_api};
use crate::i18n::{Msg, use_i18n};
use crate::util::in_subtree;

/// Quick links for administrators, each with a real count.
#[component]
pub(super) fn AdminSection(me: Me, list: Vec<InstitutionView>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let mine: Vec<&InstitutionView> = list
        .iter()
        .filter(|v| in_subtree(v, &me.institution))
        .collect();
    let inst_count = mine.len().to_string();
    let people_count = mine.iter().map(|v| v.people_count).sum::<i64>().to_string();
    let pending = LocalResource::new(move || async move {
        api.get::<Vec<Invitation>>(&format!("{V1}/invitations"))
            .await
            .map(|l| {
                l.iter()
                    .filter(|i| i.status == InvitationStatus::Pending)
                    .count()
            })
    });
    let recent = LocalResource::new(move || async move {
        let since = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(
            js_sys::Date::now() - 86_400_000.0,
        ));
        let params = AuditParams {
            since: OffsetDateTime::parse(&String::from(since.to_iso_string()), &Rfc3339).ok(),
            limit: Some(200),
            ..AuditParams::default()
        };
        api.get_query::<_, Page<AuditEvent>>(&format!("{V1}/audit"), &params)
            .await
            .map(|p| {
                if p.next_cursor.is_some() {
                    format!("{}+", p.items.len())
                } else {
                    p.items.len().to_string()
                }
            })
    });
    view! {
        <section class="dash-section" data-testid="dash-admin">
            <h2>{move || i18n.t(Msg::DashAdminTitle)}</h2>
            <div class="cards quick">
                <A href="/institutions" attr:class="card quick-link" attr:data-testid="quick-institutions">
                    <span class="quick-count">{inst_count.clone()}</span>
                    <span class="quick-label">{move || i18n.t(Msg::QuickInstitutions)}</span>
                </A>
                <A href="/people" attr:class="card quick-link" attr:data-testid="quick-people">
                    <span class="quick-count">{people_count.clone()}</span>
                    <span class="quick-label">{move || i18n.t(Msg::QuickPeople)}</span>
                    <span class="quick-sub muted">
                        {move || match pending.get() {
                            Some(Ok(n)) if n > 0 => i18n.tf(Msg::QuickPendingInvitations, &[("n", &n.to_string())]),
                            _ => String::new(),
                        }}
                    </span>
                </A>
                <A href="/audit" attr:class="card quick-link" attr:data-testid="quick-audit">
                    <span class="quick-count">
                        {move || match recent.get() {
                            Some(Ok(n)) => n,
                            _ => "…".to_owned(),
                        }}
                    </span>
                    <span class="quick-label">{move || i18n.t(Msg::QuickAudit)}</span>
                </A>
            </div>
        </section>
    }
}
