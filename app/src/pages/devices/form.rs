//! Register a device, or edit one: name, kind, quantity, unit, resolution
//! and — for a reference standard — its certificate.
//!
//! Numbers are checked here before sending: JSON has no NaN, and a number
//! that does not parse would otherwise reach the server as `null` (which,
//! for the optional resolution, means "none"). Everything else is the
//! server's to judge; its messages appear beside the fields they name.

use jiliang_protocol::devices::{Device, DeviceCreated, NewDevice, ReferenceCert, UpdateDevice};
use jiliang_protocol::{ErrorBody, FieldError};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use crate::api::{ApiError, V1, use_api};
use crate::components::forms::{Errors, FormAlert, SubmitButton, TextField, opt};
use crate::i18n::{I18n, Msg, use_i18n};
pub use jiliang_app_core::instruments::parse_number;

const FIELDS: &[&str] = &[
    "name",
    "kind",
    "quantity",
    "unit",
    "resolution",
    "reference.certificate_no",
    "reference.issuer",
    "reference.expanded_uncertainty",
    "reference.k",
    "reference.unit",
    "reference.valid_until",
];

/// A refusal made here, shaped like the server's so the fields show it.
pub(crate) fn local_problem(i18n: I18n, problems: Vec<(&str, Msg)>) -> ApiError {
    ApiError::Server {
        status: 422,
        body: ErrorBody {
            code: "invalid_input".into(),
            message: i18n.t(Msg::FormHasProblems).to_owned(),
            details: problems
                .into_iter()
                .map(|(field, m)| FieldError {
                    field: field.to_owned(),
                    message: i18n.t(m).to_owned(),
                })
                .collect(),
        },
    }
}

fn text_of(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

#[component]
pub(super) fn DeviceForm(
    lab_id: Uuid,
    /// `Some`: edit this device; `None`: register a new one.
    existing: Option<Device>,
    on_created: Callback<(Device, String)>,
    on_saved: Callback<Device>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let e = existing.clone();
    let cert = e.as_ref().and_then(|d| d.reference.clone());
    let name = RwSignal::new(e.as_ref().map(|d| d.name.clone()).unwrap_or_default());
    let kind = RwSignal::new(e.as_ref().map(|d| d.kind.clone()).unwrap_or_default());
    let quantity = RwSignal::new(e.as_ref().map(|d| d.quantity.clone()).unwrap_or_default());
    let unit = RwSignal::new(e.as_ref().map(|d| d.unit.clone()).unwrap_or_default());
    let resolution = RwSignal::new(text_of(e.as_ref().and_then(|d| d.resolution)));
    let is_ref = RwSignal::new(cert.is_some());
    let cert_no = RwSignal::new(
        cert.as_ref()
            .map(|c| c.certificate_no.clone())
            .unwrap_or_default(),
    );
    let issuer = RwSignal::new(
        cert.as_ref()
            .and_then(|c| c.issuer.clone())
            .unwrap_or_default(),
    );
    let cert_u = RwSignal::new(text_of(cert.as_ref().map(|c| c.expanded_uncertainty)));
    let cert_k = RwSignal::new(
        cert.as_ref()
            .map_or_else(|| "2".to_owned(), |c| c.k.to_string()),
    );
    let cert_unit = RwSignal::new(
        cert.as_ref()
            .and_then(|c| c.unit.clone())
            .unwrap_or_default(),
    );
    let valid_until = RwSignal::new(
        cert.as_ref()
            .and_then(|c| c.valid_until)
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let editing = existing.is_some();
    let existing_id = existing.as_ref().map(|d| d.id);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut problems = Vec::new();
        let res = match opt(resolution) {
            None => None,
            Some(s) => match parse_number(&s) {
                Some(v) => Some(v),
                None => {
                    problems.push(("resolution", Msg::NotANumber));
                    None
                }
            },
        };
        let reference = if is_ref.get_untracked() {
            let u = parse_number(&cert_u.get_untracked());
            let k = parse_number(&cert_k.get_untracked());
            if u.is_none() {
                problems.push(("reference.expanded_uncertainty", Msg::NotANumber));
            }
            if k.is_none() {
                problems.push(("reference.k", Msg::NotANumber));
            }
            let until = match opt(valid_until) {
                None => None,
                Some(s) => {
                    let fmt = time::macros::format_description!("[year]-[month]-[day]");
                    match time::Date::parse(&s, &fmt) {
                        Ok(d) => Some(d),
                        Err(_) => {
                            problems.push(("reference.valid_until", Msg::NotADate));
                            None
                        }
                    }
                }
            };
            Some(ReferenceCert {
                certificate_no: cert_no.get_untracked().trim().to_owned(),
                issuer: opt(issuer),
                expanded_uncertainty: u.unwrap_or_default(),
                k: k.unwrap_or_default(),
                unit: opt(cert_unit),
                valid_until: until,
            })
        } else {
            None
        };
        if !problems.is_empty() {
            errors.set(Some(local_problem(i18n, problems)));
            return;
        }
        busy.set(true);
        errors.set(None);
        let name = name.get_untracked().trim().to_owned();
        let kind = kind.get_untracked().trim().to_owned();
        let quantity = quantity.get_untracked().trim().to_owned();
        let unit_v = unit.get_untracked().trim().to_owned();
        spawn_local(async move {
            let r = match existing_id {
                None => {
                    let body = NewDevice {
                        lab_id,
                        name,
                        kind,
                        quantity,
                        unit: unit_v,
                        resolution: res,
                        reference,
                    };
                    api.post::<_, DeviceCreated>(&format!("{V1}/devices"), &body)
                        .await
                        .map(|c| on_created.run((c.device, c.token)))
                }
                Some(id) => {
                    let body = UpdateDevice {
                        name: Some(name),
                        kind: Some(kind),
                        quantity: Some(quantity),
                        unit: Some(unit_v),
                        resolution: Some(res),
                        reference: Some(reference),
                    };
                    api.patch::<_, Device>(&format!("{V1}/devices/{id}"), &body)
                        .await
                        .map(|d| on_saved.run(d))
                }
            };
            busy.set(false);
            if let Err(e) = r {
                errors.set(Some(e));
            }
        });
    };

    view! {
        <form class="device-form" on:submit=submit data-testid="device-form" novalidate>
            <div class="field-row">
                <TextField label=Msg::DeviceName value=name errors=errors field="name" required=true testid="device-name" maxlength=120/>
                <TextField label=Msg::DeviceKind value=kind errors=errors field="kind" required=true testid="device-kind"
                    hint=Msg::DeviceKindHint maxlength=120/>
                <TextField label=Msg::DeviceQuantity value=quantity errors=errors field="quantity" required=true testid="device-quantity"
                    hint=Msg::DeviceQuantityHint maxlength=120/>
            </div>
            <div class="field-row">
                <TextField label=Msg::DeviceUnit value=unit errors=errors field="unit" required=true testid="device-unit"
                    hint=Msg::DeviceUnitHint maxlength=64 autocomplete="off"/>
                <TextField label=Msg::DeviceResolution value=resolution errors=errors field="resolution" testid="device-resolution"
                    inputmode="decimal" hint=Msg::DeviceResolutionHint/>
            </div>
            <label class="check">
                <input type="checkbox" data-testid="device-is-reference"
                    prop:checked=move || is_ref.get() on:change=move |ev| is_ref.set(event_target_checked(&ev))/>
                <span>{move || i18n.t(Msg::DeviceIsReference)}</span>
            </label>
            {move || is_ref.get().then(|| view! {
                <fieldset class="field-group">
                    <legend>{move || i18n.t(Msg::DeviceCertificate)}</legend>
                    <div class="field-row">
                        <TextField label=Msg::DeviceCertNo value=cert_no errors=errors field="reference.certificate_no" required=true testid="cert-no" maxlength=64/>
                        <TextField label=Msg::DeviceCertIssuer value=issuer errors=errors field="reference.issuer" testid="cert-issuer" maxlength=120/>
                        <TextField label=Msg::DeviceCertValidUntil value=valid_until errors=errors field="reference.valid_until" input_type="date" testid="cert-valid-until"/>
                    </div>
                    <div class="field-row">
                        <TextField label=Msg::DeviceCertU value=cert_u errors=errors field="reference.expanded_uncertainty" required=true inputmode="decimal" testid="cert-u"/>
                        <TextField label=Msg::DeviceCertK value=cert_k errors=errors field="reference.k" required=true inputmode="decimal" testid="cert-k"/>
                        <TextField label=Msg::DeviceCertUnit value=cert_unit errors=errors field="reference.unit" testid="cert-unit"
                            hint=Msg::DeviceCertUnitHint autocomplete="off"/>
                    </div>
                </fieldset>
            })}
            <FormAlert errors=errors fields=FIELDS/>
            <div class="button-row">
                <SubmitButton label=if editing { Msg::Save } else { Msg::DeviceRegister } busy=busy testid="device-submit"/>
                <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>{move || i18n.t(Msg::Cancel)}</button>
            </div>
        </form>
    }
}
