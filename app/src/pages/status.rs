//! `/status`: the node's liveness and readiness checks, for operators and
//! for a technician wondering whether the problem is on their side.

use jiliang_protocol::{Health, Readiness, VersionInfo};
use leptos::prelude::*;

use crate::api;
use crate::i18n::{Msg, use_i18n};

#[component]
pub fn StatusPage() -> impl IntoView {
    let i18n = use_i18n();
    let health = LocalResource::new(move || {
        let lang = i18n.locale().tag();
        async move { api::get::<Health>("/healthz", lang).await }
    });
    let ready = LocalResource::new(move || {
        let lang = i18n.locale().tag();
        async move { api::get_any::<Readiness>("/readyz", lang).await }
    });
    let version = LocalResource::new(move || {
        let lang = i18n.locale().tag();
        async move { api::get::<VersionInfo>("/api/v1/version", lang).await }
    });
    let check_name = move |name: &str| match name {
        "database" => i18n.t(Msg::CheckDatabase).to_owned(),
        "clock" => i18n.t(Msg::CheckClock).to_owned(),
        "bus" => i18n.t(Msg::CheckBus).to_owned(),
        other => other.to_owned(),
    };

    view! {
        <h1>{move || i18n.t(Msg::StatusTitle)}</h1>
        <p class="muted">{move || i18n.t(Msg::StatusIntro)}</p>
        <dl class="facts">
            <dt>{move || i18n.t(Msg::StatusLiveness)}</dt>
            <dd data-testid="liveness">{move || match health.get() {
                None => i18n.t(Msg::ServerChecking).to_owned(),
                Some(Ok(h)) => format!("{} · {}", i18n.t(Msg::ServerOnline), h.version),
                Some(Err(e)) => offline_text(&e, i18n),
            }}</dd>
            <dt>{move || i18n.t(Msg::StatusStorage)}</dt>
            <dd>{move || match version.get() {
                Some(Ok(v)) => v.storage,
                _ => "—".to_owned(),
            }}</dd>
            <dt>{move || i18n.t(Msg::StatusReadiness)}</dt>
            <dd data-testid="readiness">{move || match ready.get() {
                None => i18n.t(Msg::ServerChecking).to_owned(),
                Some(Ok((_, r))) if r.is_ready() => i18n.t(Msg::StatusReady).to_owned(),
                Some(Ok(_)) => i18n.t(Msg::StatusNotReady).to_owned(),
                Some(Err(e)) => offline_text(&e, i18n),
            }}</dd>
        </dl>
        // Scrolls sideways on a phone: focusable, so the keyboard can too.
        <div class="table-wrap" tabindex="0" role="region" aria-label=move || i18n.t(Msg::StatusReadiness)>
            <table class="table">
                <thead>
                    <tr>
                        <th>{move || i18n.t(Msg::StatusCheck)}</th>
                        <th>{move || i18n.t(Msg::StatusReadiness)}</th>
                        <th>{move || i18n.t(Msg::StatusDetail)}</th>
                        <th class="num">{move || i18n.t(Msg::StatusLatency)}</th>
                    </tr>
                </thead>
                <tbody>
                    {move || match ready.get() {
                        Some(Ok((_, r))) => r.checks.into_iter().map(|c| {
                            let ok = c.ok;
                            view! {
                                <tr>
                                    <td>{check_name(&c.name)}</td>
                                    <td>
                                        <span class=if ok { "badge badge-ok" } else { "badge badge-bad" }>
                                            {if ok { i18n.t(Msg::CheckOk) } else { i18n.t(Msg::CheckFailed) }}
                                        </span>
                                    </td>
                                    <td class="wrap">{c.detail}</td>
                                    <td class="num">{format!("{:.1} ms", c.latency_ms)}</td>
                                </tr>
                            }
                        }).collect_view().into_any(),
                        _ => ().into_any(),
                    }}
                </tbody>
            </table>
        </div>
    }
}

/// "Cannot reach the server", and what the server said when it did answer
/// (a 503 with a message); a link failure needs no second sentence.
fn offline_text(e: &api::ApiError, i18n: crate::i18n::I18n) -> String {
    let offline = i18n.t(Msg::ServerOffline);
    if e.is_network() {
        offline.to_owned()
    } else {
        format!("{offline} ({})", e.message(i18n))
    }
}
