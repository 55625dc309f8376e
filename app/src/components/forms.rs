//! Form building blocks: labelled inputs that show the server's message
//! for their field, an alert region for the rest, and a submit button that
//! says when it is working.
//!
//! Every form keeps its last server error in one `Errors` signal; fields
//! pick out the `details` that name them, and [`FormAlert`] shows the
//! message plus any detail no visible field claims, so nothing the server
//! said is lost.

use jiliang_protocol::accounts::Role;
use leptos::prelude::*;

use crate::api::ApiError;
use crate::i18n::{Msg, use_i18n};
use crate::util::{dom_id, role_msg};

pub type Errors = RwSignal<Option<ApiError>>;

fn field_messages(errors: Errors, field: &'static str) -> Vec<String> {
    if field.is_empty() {
        return Vec::new();
    }
    errors.with(|e| {
        e.as_ref()
            .map(|e| e.field_messages(field))
            .unwrap_or_default()
    })
}

fn error_list(id: String, errors: Errors, field: &'static str) -> impl IntoView {
    view! {
        <ul class="field-errors" id=id>
            {move || {
                field_messages(errors, field)
                    .into_iter()
                    .map(|m| view! { <li>{m}</li> })
                    .collect_view()
            }}
        </ul>
    }
}

/// A labelled text input bound to `value`.
#[component]
pub fn TextField(
    label: Msg,
    value: RwSignal<String>,
    errors: Errors,
    /// The server's name for this field in `details`.
    #[prop(optional)]
    field: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(optional)] required: bool,
    #[prop(optional)] hint: Option<Msg>,
    #[prop(optional)] testid: &'static str,
    #[prop(optional)] inputmode: &'static str,
    #[prop(optional)] maxlength: Option<u32>,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = dom_id("f");
    let err_id = format!("{id}-err");
    let hint_id = format!("{id}-hint");
    let described = if hint.is_some() {
        format!("{hint_id} {err_id}")
    } else {
        err_id.clone()
    };
    let invalid = move || !field_messages(errors, field).is_empty();
    view! {
        <div class="field">
            <label for=id.clone()>
                {move || i18n.t(label)}
                {required.then(|| view! { <span class="req" aria-hidden="true">" *"</span> })}
            </label>
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{move || i18n.t(h)}</p> })}
            <input
                id=id
                type=input_type
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                autocomplete=(!autocomplete.is_empty()).then_some(autocomplete)
                inputmode=(!inputmode.is_empty()).then_some(inputmode)
                maxlength=maxlength
                required=required
                aria-invalid=move || if invalid() { "true" } else { "false" }
                aria-describedby=described
                data-testid=(!testid.is_empty()).then_some(testid)
            />
            {error_list(err_id, errors, field)}
        </div>
    }
}

/// A labelled multi-line input.
#[component]
pub fn TextArea(
    label: Msg,
    value: RwSignal<String>,
    errors: Errors,
    #[prop(optional)] field: &'static str,
    #[prop(optional)] testid: &'static str,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = dom_id("f");
    let err_id = format!("{id}-err");
    view! {
        <div class="field">
            <label for=id.clone()>{move || i18n.t(label)}</label>
            <textarea
                id=id
                rows="2"
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                aria-describedby=err_id.clone()
                data-testid=(!testid.is_empty()).then_some(testid)
            ></textarea>
            {error_list(err_id, errors, field)}
        </div>
    }
}

/// A labelled `<select>`; `options` are `(value, label)` pairs.
#[component]
pub fn SelectField(
    label: Msg,
    value: RwSignal<String>,
    #[prop(into)] options: Signal<Vec<(String, String)>>,
    errors: Errors,
    #[prop(optional)] field: &'static str,
    /// First entry with an empty value ("all", "choose…").
    #[prop(optional)]
    empty: Option<Msg>,
    #[prop(optional)] testid: &'static str,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = dom_id("f");
    let err_id = format!("{id}-err");
    view! {
        <div class="field">
            <label for=id.clone()>
                {move || i18n.t(label)}
                {required.then(|| view! { <span class="req" aria-hidden="true">" *"</span> })}
            </label>
            <select
                id=id
                on:change=move |ev| value.set(event_target_value(&ev))
                aria-describedby=err_id.clone()
                required=required
                data-testid=(!testid.is_empty()).then_some(testid)
            >
                {empty.map(|m| view! {
                    <option value="" selected=move || value.with(String::is_empty)>
                        {move || i18n.t(m)}
                    </option>
                })}
                {move || {
                    options
                        .get()
                        .into_iter()
                        .map(|(v, l)| {
                            let v2 = v.clone();
                            view! {
                                <option value=v selected=move || value.with(|x| *x == v2)>{l}</option>
                            }
                        })
                        .collect_view()
                }}
            </select>
            {error_list(err_id, errors, field)}
        </div>
    }
}

/// Role checkboxes. `allowed` limits what may be chosen (experts invite
/// technicians and trainees only).
#[component]
pub fn RoleChecks(
    roles: RwSignal<Vec<Role>>,
    #[prop(into)] allowed: Signal<Vec<Role>>,
    errors: Errors,
    #[prop(optional)] testid: &'static str,
) -> impl IntoView {
    let i18n = use_i18n();
    let err_id = dom_id("roles-err");
    view! {
        <fieldset class="field checks" data-testid=(!testid.is_empty()).then_some(testid)
            aria-describedby=err_id.clone()>
            <legend>{move || i18n.t(Msg::FieldRoles)}<span class="req" aria-hidden="true">" *"</span></legend>
            <div class="check-row">
                {move || {
                    allowed
                        .get()
                        .into_iter()
                        .map(|role| {
                            view! {
                                <label class="check">
                                    <input
                                        type="checkbox"
                                        value=role.as_str()
                                        prop:checked=move || roles.with(|r| r.contains(&role))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            roles.update(|r| {
                                                r.retain(|x| *x != role);
                                                if on {
                                                    r.push(role);
                                                    r.sort();
                                                }
                                            });
                                        }
                                    />
                                    <span>{move || i18n.t(role_msg(role))}</span>
                                </label>
                            }
                        })
                        .collect_view()
                }}
            </div>
            {error_list(err_id.clone(), errors, "roles")}
        </fieldset>
    }
}

/// The form's error region: always in the DOM (so screen readers announce
/// what appears in it), filled with the server's message and any detail
/// whose field the form does not show itself.
#[component]
pub fn FormAlert(
    errors: Errors,
    /// Fields that show their own messages.
    #[prop(optional)]
    fields: &'static [&'static str],
) -> impl IntoView {
    let i18n = use_i18n();
    let content = move || {
        errors.get().map(|e| {
            let extra: Vec<String> = e
                .details()
                .iter()
                .filter(|d| !fields.contains(&d.field.as_str()))
                .map(|d| d.message.clone())
                .collect();
            // A lone detail usually repeats the message; show it once.
            let message = e.message(i18n);
            let extra: Vec<String> = extra.into_iter().filter(|m| *m != message).collect();
            view! {
                <p>{message}</p>
                {(!extra.is_empty()).then(|| view! {
                    <ul>{extra.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                })}
            }
        })
    };
    view! {
        <div
            class="form-alert"
            class:hidden=move || errors.with(Option::is_none)
            role="alert"
            aria-live="assertive"
            data-testid="form-error"
        >
            {content}
        </div>
    }
}

/// A success note after a form did its job.
#[component]
pub fn Notice(text: Signal<Option<String>>) -> impl IntoView {
    view! {
        <div class="notice" class:hidden=move || text.with(Option::is_none) role="status" aria-live="polite">
            {move || text.get()}
        </div>
    }
}

/// The form's submit button, disabled and relabelled while the request runs.
#[component]
pub fn SubmitButton(
    label: Msg,
    busy: RwSignal<bool>,
    #[prop(optional)] testid: &'static str,
    #[prop(optional)] danger: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <button
            type="submit"
            class=if danger { "primary danger" } else { "primary" }
            disabled=move || busy.get()
            aria-busy=move || if busy.get() { "true" } else { "false" }
            data-testid=(!testid.is_empty()).then_some(testid)
        >
            {move || if busy.get() { i18n.t(Msg::Working) } else { i18n.t(label) }}
        </button>
    }
}

/// Trimmed text, or `None` when empty (optional request fields).
pub fn opt(s: RwSignal<String>) -> Option<String> {
    let v = s.get_untracked().trim().to_owned();
    (!v.is_empty()).then_some(v)
}
