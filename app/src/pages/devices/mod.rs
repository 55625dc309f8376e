//! `/institutions/:id/devices`: the instruments of one lab.
//!
//! Who sees what mirrors the server (`authz::view_devices_of`,
//! `manage_device`, `manage_device_token`) so the page never offers what
//! it would be refused: administrators and experts above or at the lab and
//! the lab's technicians see the list; the lab's technicians and experts
//! and administrators above it register and edit; administrators issue and
//! revoke agent tokens. The server decides in the end; its refusal shows
//! in the form.
//!
//! An agent token is shown once, right after it is made (registration or
//! a new token), with the command line that runs the agent: the server
//! keeps only its hash.
//!
//! # Layout
//! - `mod.rs`: the page, the list and each device's card.
//! - `form`: the register / edit form (and its reference certificate).
//! - `token`: the one-time token box with the agent's command line.

mod form;
mod token;

use jiliang_protocol::accounts::{InstitutionView, Role};
use jiliang_protocol::devices::{Device, DeviceListParams, DeviceToken};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::{ApiError, V1, encode, use_api};
use crate::components::states::{ErrorBox, Loading, failure_view};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{in_subtree, inst_name, local_time};
use form::DeviceForm;
pub(crate) use form::local_problem;
use token::TokenBox;

#[component]
pub fn DevicesPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    move || {
        let id = id.get();
        view! { <LabDevices id=id/> }
    }
}

/// What the person may do here (the server's rules, mirrored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rights {
    manage: bool,
    tokens: bool,
}

#[component]
fn LabDevices(id: String) -> impl IntoView {
    let api = use_api();
    let inst_path = format!("{V1}/institutions/{}", encode(&id));
    let data = LocalResource::new(move || {
        let inst_path = inst_path.clone();
        async move {
            let lab = api.get::<InstitutionView>(&inst_path).await?;
            let params = DeviceListParams {
                lab_id: Some(lab.institution.id),
                limit: Some(500),
            };
            let list = api
                .get_query::<_, Vec<Device>>(&format!("{V1}/devices"), &params)
                .await?;
            Ok::<_, ApiError>((lab, list))
        }
    });
    let reload = Callback::new(move |_| data.refetch());
    move || match data.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => failure_view(e, Some(reload)),
        Some(Ok((lab, list))) => view! { <Devices lab=lab list=list reload=reload/> }.into_any(),
    }
}

#[component]
fn Devices(lab: InstitutionView, list: Vec<Device>, reload: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let has = |r: Role| me.user.roles.contains(&r);
    let own_lab = lab.institution.id == me.institution.id;
    let admin_above = has(Role::Admin) && in_subtree(&lab, &me.institution);
    let rights = Rights {
        manage: admin_above || ((has(Role::Technician) || has(Role::Expert)) && own_lab),
        tokens: admin_above,
    };
    let inst = lab.institution.clone();
    let lab_name = move || inst_name(&inst, i18n.locale());
    let crumb_name = lab_name.clone();
    let lab_href = format!("/institutions/{}", lab.institution.id);
    let lab_id = lab.institution.id;
    let registering = RwSignal::new(false);
    // The token just made (registration or a new one), shown once.
    let fresh = RwSignal::new(None::<(Device, String)>);
    let devices = RwSignal::new(list);
    let on_created = Callback::new(move |(d, token): (Device, String)| {
        registering.set(false);
        devices.update(|l| {
            l.retain(|x| x.id != d.id);
            l.insert(0, d.clone());
        });
        fresh.set(Some((d, token)));
    });
    let on_changed = Callback::new(move |d: Device| {
        devices.update(|l| {
            if let Some(x) = l.iter_mut().find(|x| x.id == d.id) {
                *x = d;
            }
        });
    });
    let on_token = Callback::new(move |(d, token): (Device, String)| {
        on_changed.run(d.clone());
        fresh.set(Some((d, token)));
    });
    view! {
        <nav class="breadcrumb" aria-label=move || i18n.t(Msg::Breadcrumb)>
            <ol>
                <li><A href="/institutions">{move || i18n.t(Msg::InstitutionsTitle)}</A></li>
                <li><A href=lab_href>{crumb_name}</A></li>
            </ol>
        </nav>
        <div class="page-head" data-testid="devices-page">
            <h1>{move || i18n.t(Msg::DevicesTitle)}</h1>
            <p class="muted">{lab_name}</p>
        </div>
        {move || fresh.get().map(|(d, token)| view! {
            <TokenBox device=d token=token on_close=Callback::new(move |_| fresh.set(None))/>
        })}
        {rights.manage.then(|| view! {
            <section class="dash-section">
                {move || if registering.get() {
                    view! {
                        <div class="card">
                            <h2>{move || i18n.t(Msg::DeviceRegister)}</h2>
                            <DeviceForm lab_id=lab_id existing=None on_created=on_created
                                on_saved=on_changed on_cancel=Callback::new(move |_| registering.set(false))/>
                        </div>
                    }.into_any()
                } else {
                    view! {
                        <button type="button" class="primary" data-testid="device-register-open"
                            on:click=move |_| { registering.set(true); fresh.set(None); }>
                            {move || i18n.t(Msg::DeviceRegister)}
                        </button>
                    }.into_any()
                }}
            </section>
        })}
        <section class="dash-section" data-testid="device-list">
            {move || devices.with(Vec::is_empty).then(|| view! {
                <p class="muted">{move || i18n.t(Msg::DevicesNone)}</p>
            })}
            <ul class="device-list">
                // Keyed by the whole device: a card is rebuilt when what it
                // shows changed (a revoked token, an edit), and only then.
                <For each=move || devices.get() key=|d| format!("{d:?}") let:d>
                    <DeviceCard device=d rights=rights on_changed=on_changed on_token=on_token reload=reload/>
                </For>
            </ul>
        </section>
    }
    .into_any()
}

#[component]
fn DeviceCard(
    device: Device,
    rights: Rights,
    on_changed: Callback<Device>,
    on_token: Callback<(Device, String)>,
    reload: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let editing = RwSignal::new(false);
    let confirm = RwSignal::new(None::<&'static str>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let id = device.id;
    let d = device.clone();
    let revoked = device.token_revoked_at.is_some();
    let token_action = move |action: &'static str| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let path = format!("{V1}/devices/{id}/token");
            let r = if action == "revoke" {
                api.delete::<Device>(&path).await.map(|d| (d, None))
            } else {
                match api.post_empty::<DeviceToken>(&path).await {
                    Ok(t) => api
                        .get::<Device>(&format!("{V1}/devices/{id}"))
                        .await
                        .map(|d| (d, Some(t.token))),
                    Err(e) => Err(e),
                }
            };
            busy.set(false);
            confirm.set(None);
            match r {
                Ok((d, None)) => on_changed.run(d),
                Ok((d, Some(token))) => on_token.run((d, token)),
                Err(e) => {
                    error.set(Some(e));
                    reload.run(());
                }
            }
        });
    };
    let name = device.name.clone();
    let summary = format!("{} · {} · {}", device.kind, device.quantity, device.unit);
    let resolution = device.resolution.map(|r| format!("{r} {}", device.unit));
    let cert = device.reference.clone();
    let unit = device.unit.clone();
    let agent = device
        .agent_connected_at
        .map(|t| local_time(t.unix_timestamp()));
    let session_href = device.session_id.map(|s| format!("/sessions/{s}"));
    let last_seq = device.last_seq.to_string();
    let name_attr = name.clone();
    view! {
        <li class="card device-card" data-testid="device-card" data-name=name_attr
            data-revoked=if revoked { "true" } else { "false" }>
            <div class="device-head">
                <h2 class="device-name">{name}</h2>
                {device.reference.is_some().then(|| view! {
                    <span class="badge badge-ref">{move || i18n.t(Msg::DeviceReferenceBadge)}</span>
                })}
                {revoked.then(|| view! {
                    <span class="badge badge-bad" data-testid="token-revoked">{move || i18n.t(Msg::DeviceTokenRevoked)}</span>
                })}
            </div>
            <p class="muted">{summary}</p>
            <dl class="facts compact">
                <dt>{move || i18n.t(Msg::DeviceAgent)}</dt>
                <dd>{match agent {
                    Some(t) => view! { <span>{move || i18n.tf(Msg::DeviceAgentLastSeen, &[("time", &t)])}</span> }.into_any(),
                    None => view! { <span class="muted">{move || i18n.t(Msg::DeviceAgentNever)}</span> }.into_any(),
                }}</dd>
                <dt>{move || i18n.t(Msg::DeviceReadings)}</dt>
                <dd data-testid="device-last-seq">{last_seq}</dd>
                {resolution.map(|r| view! {
                    <dt>{move || i18n.t(Msg::DeviceResolution)}</dt>
                    <dd>{r}</dd>
                })}
                {cert.map(|c| {
                    let u = format!("U = {} {} (k = {})", c.expanded_uncertainty, c.unit.clone().unwrap_or(unit.clone()), c.k);
                    let until = c.valid_until.map(|d| d.to_string());
                    view! {
                        <dt>{move || i18n.t(Msg::DeviceCertificate)}</dt>
                        <dd>
                            <span class="mono">{c.certificate_no.clone()}</span>
                            {c.issuer.clone().map(|i| view! { " · "<span>{i}</span> })}
                            " · "<span>{u}</span>
                            {until.map(|u| view! { " · "<span>{move || i18n.tf(Msg::DeviceValidUntil, &[("date", &u)])}</span> })}
                        </dd>
                    }
                })}
                {session_href.map(|href| view! {
                    <dt>{move || i18n.t(Msg::DeviceAttachedTo)}</dt>
                    <dd><A href=href>{move || i18n.t(Msg::DeviceOpenSession)}</A></dd>
                })}
            </dl>
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
            <div class="button-row">
                {rights.manage.then(|| view! {
                    <button type="button" class="secondary" data-testid="device-edit"
                        on:click=move |_| editing.update(|e| *e = !*e)>
                        {move || i18n.t(Msg::Edit)}
                    </button>
                })}
                {rights.tokens.then(|| view! {
                    <button type="button" class="secondary" data-testid="device-rotate"
                        disabled=move || busy.get() on:click=move |_| confirm.set(Some("rotate"))>
                        {move || i18n.t(if revoked { Msg::DeviceIssueToken } else { Msg::DeviceRotateToken })}
                    </button>
                    {(!revoked).then(|| view! {
                        <button type="button" class="secondary danger" data-testid="device-revoke"
                            disabled=move || busy.get() on:click=move |_| confirm.set(Some("revoke"))>
                            {move || i18n.t(Msg::DeviceRevokeToken)}
                        </button>
                    })}
                })}
            </div>
            {move || confirm.get().map(|action| view! {
                <div class="panel confirm" role="alertdialog">
                    <p>{move || i18n.t(if action == "revoke" { Msg::DeviceConfirmRevoke } else { Msg::DeviceConfirmRotate })}</p>
                    <div class="button-row">
                        <button type="button" class="primary danger" data-testid="device-confirm"
                            disabled=move || busy.get() on:click=move |_| token_action(action)>
                            {move || if busy.get() { i18n.t(Msg::Working) } else { i18n.t(Msg::Confirm) }}
                        </button>
                        <button type="button" class="secondary" on:click=move |_| confirm.set(None)>
                            {move || i18n.t(Msg::Cancel)}
                        </button>
                    </div>
                </div>
            })}
            {move || editing.get().then(|| view! {
                <DeviceForm lab_id=d.lab_id existing=Some(d.clone())
                    on_created=Callback::new(|_| {})
                    on_saved=Callback::new(move |d: Device| { editing.set(false); on_changed.run(d); })
                    on_cancel=Callback::new(move |_| editing.set(false))/>
            })}
        </li>
    }
}
