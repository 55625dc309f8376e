//! What an administrator can do to one institution: add a child, edit its
//! names and contact, move it under another parent, deactivate or
//! reactivate it. Used in the tree and on the lab page.
//!
//! The choices offered follow the server's rules (levels only downwards,
//! never into its own subtree, never restructuring one's own institution),
//! so that a person is not invited to make a request that must fail; the
//! server still checks every one and its answer is shown next to the form.

use jiliang_protocol::accounts::{
    InstitutionView, NewInstitutionRequest, UpdateInstitutionRequest,
};
use jiliang_protocol::institutions::InstitutionLevel;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{V1, use_api};
use crate::components::forms::{Errors, FormAlert, SelectField, SubmitButton, TextArea, TextField};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{in_subtree, inst_name, level_msg};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Closed,
    AddChild,
    Edit,
    Move,
    Toggle,
}

/// Action buttons and the open form for `target`. `all` is the visible
/// tree (for the choice of a new parent); `on_change` runs after a
/// successful change so the caller can reload.
#[component]
pub fn InstitutionActions(
    target: InstitutionView,
    all: Vec<InstitutionView>,
    on_change: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let mode = RwSignal::new(Mode::Closed);
    let own = session.me_untracked().map(|m| m.institution);
    let is_own = own.as_ref().is_some_and(|o| o.id == target.institution.id);
    let level = target.institution.level;
    let active = target.institution.active;
    let can_add = active && level != InstitutionLevel::County;
    let parents: Vec<InstitutionView> = all
        .iter()
        .filter(|c| {
            c.can_manage
                && c.institution.active
                && c.institution.level.may_contain(level)
                && !in_subtree(c, &target.institution)
                && Some(c.institution.id) != target.institution.parent_id
        })
        .cloned()
        .collect();
    let can_move = !is_own && !parents.is_empty();
    let can_toggle = !is_own;

    let toggle_btn = move |m: Mode, label: Msg, testid: &'static str| {
        view! {
            <button
                type="button"
                class="secondary small"
                aria-expanded=move || if mode.get() == m { "true" } else { "false" }
                data-testid=testid
                on:click=move |_| mode.update(|cur| *cur = if *cur == m { Mode::Closed } else { m })
            >
                {move || i18n.t(label)}
            </button>
        }
    };
    let done = Callback::new(move |_| {
        mode.set(Mode::Closed);
        on_change.run(());
    });
    let t1 = target.clone();
    let t2 = target.clone();
    let t3 = target.clone();
    let t4 = target.clone();
    view! {
        <div class="inst-actions" data-testid="inst-actions">
            <div class="button-row">
                {can_add.then(|| toggle_btn(Mode::AddChild, Msg::AddChild, "add-child"))}
                {toggle_btn(Mode::Edit, Msg::Edit, "edit-institution")}
                {can_move.then(|| toggle_btn(Mode::Move, Msg::Move, "move-institution"))}
                {can_toggle.then(|| toggle_btn(
                    Mode::Toggle,
                    if active { Msg::Deactivate } else { Msg::Reactivate },
                    "toggle-institution",
                ))}
            </div>
            {move || match mode.get() {
                Mode::Closed => ().into_any(),
                Mode::AddChild => view! { <AddChildForm parent=t1.clone() done=done cancel=mode/> }.into_any(),
                Mode::Edit => view! { <EditForm target=t2.clone() done=done cancel=mode/> }.into_any(),
                Mode::Move => view! { <MoveForm target=t3.clone() parents=parents.clone() done=done cancel=mode/> }.into_any(),
                Mode::Toggle => view! { <ToggleForm target=t4.clone() done=done cancel=mode/> }.into_any(),
            }}
        </div>
    }
}

fn cancel_button(mode: RwSignal<Mode>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <button type="button" class="secondary" on:click=move |_| mode.set(Mode::Closed)>
            {move || i18n.t(Msg::Cancel)}
        </button>
    }
}

#[component]
fn AddChildForm(
    parent: InstitutionView,
    done: Callback<()>,
    cancel: RwSignal<Mode>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let levels: Vec<InstitutionLevel> = InstitutionLevel::ALL
        .into_iter()
        .filter(|l| parent.institution.level.may_contain(*l))
        .collect();
    let level = RwSignal::new(
        levels
            .first()
            .map(|l| l.as_str().to_owned())
            .unwrap_or_default(),
    );
    let level_options = Signal::derive(move || {
        levels
            .iter()
            .map(|l| (l.as_str().to_owned(), i18n.t(level_msg(*l)).to_owned()))
            .collect::<Vec<_>>()
    });
    let name_zh = RwSignal::new(String::new());
    let name_en = RwSignal::new(String::new());
    let region = RwSignal::new(parent.institution.region_code.clone());
    let contact = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let parent_id = parent.institution.id;
    let parent_name = inst_name(&parent.institution, i18n.locale_untracked());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(level) = InstitutionLevel::parse(&level.get_untracked()) else {
            return;
        };
        let body = NewInstitutionRequest {
            parent_id,
            level,
            name_zh: name_zh.get_untracked(),
            name_en: Some(name_en.get_untracked()),
            region_code: region.get_untracked(),
            contact: Some(contact.get_untracked()),
        };
        busy.set(true);
        spawn_local(async move {
            let r = api
                .post::<_, InstitutionView>(&format!("{V1}/institutions"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(_) => done.run(()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel form" on:submit=submit data-testid="add-child-form" novalidate>
            <h3>{move || i18n.tf(Msg::AddChildTo, &[("name", &parent_name)])}</h3>
            <FormAlert errors=errors fields=&["level", "name_zh", "name_en", "region_code", "contact"]/>
            <SelectField label=Msg::FieldLevel value=level options=level_options errors=errors field="level" required=true/>
            <TextField label=Msg::FieldNameZh value=name_zh errors=errors field="name_zh" required=true testid="name-zh"/>
            <TextField label=Msg::FieldNameEn value=name_en errors=errors field="name_en"/>
            <TextField label=Msg::FieldRegionCode value=region errors=errors field="region_code" required=true
                inputmode="numeric" maxlength=6 hint=Msg::RegionCodeHint testid="region-code"/>
            <TextArea label=Msg::FieldContact value=contact errors=errors field="contact"/>
            <div class="button-row">
                <SubmitButton label=Msg::Create busy=busy testid="submit-child"/>
                {cancel_button(cancel)}
            </div>
        </form>
    }
}

#[component]
fn EditForm(target: InstitutionView, done: Callback<()>, cancel: RwSignal<Mode>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let t = target.institution;
    let name_zh = RwSignal::new(t.name_zh.clone());
    let name_en = RwSignal::new(t.name_en.clone().unwrap_or_default());
    let region = RwSignal::new(t.region_code.clone());
    let contact = RwSignal::new(t.contact.clone());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let path = format!("{V1}/institutions/{}", t.id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // Only what changed, so the audit log records a rename only when
        // the name did change.
        let changed = |new: String, old: &str| (new.trim() != old).then_some(new);
        let body = UpdateInstitutionRequest {
            name_zh: changed(name_zh.get_untracked(), &t.name_zh),
            name_en: changed(name_en.get_untracked(), t.name_en.as_deref().unwrap_or("")),
            region_code: changed(region.get_untracked(), &t.region_code),
            contact: changed(contact.get_untracked(), &t.contact),
            ..Default::default()
        };
        if body == UpdateInstitutionRequest::default() {
            done.run(());
            return;
        }
        busy.set(true);
        let path = path.clone();
        spawn_local(async move {
            let r = api.patch::<_, InstitutionView>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(_) => done.run(()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel form" on:submit=submit data-testid="edit-institution-form" novalidate>
            <h3>{move || i18n.t(Msg::EditInstitution)}</h3>
            <FormAlert errors=errors fields=&["name_zh", "name_en", "region_code", "contact"]/>
            <TextField label=Msg::FieldNameZh value=name_zh errors=errors field="name_zh" required=true testid="edit-name-zh"/>
            <TextField label=Msg::FieldNameEn value=name_en errors=errors field="name_en"/>
            <TextField label=Msg::FieldRegionCode value=region errors=errors field="region_code" required=true
                inputmode="numeric" maxlength=6 hint=Msg::RegionCodeHint/>
            <TextArea label=Msg::FieldContact value=contact errors=errors field="contact"/>
            <div class="button-row">
                <SubmitButton label=Msg::Save busy=busy/>
                {cancel_button(cancel)}
            </div>
        </form>
    }
}

#[component]
fn MoveForm(
    target: InstitutionView,
    parents: Vec<InstitutionView>,
    done: Callback<()>,
    cancel: RwSignal<Mode>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let choice = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let ids: Vec<_> = parents.iter().map(|p| p.institution.id).collect();
    let options = Signal::derive(move || {
        let locale = i18n.locale();
        parents
            .iter()
            .map(|p| {
                (
                    p.institution.id.to_string(),
                    format!(
                        "{} ({})",
                        inst_name(&p.institution, locale),
                        i18n.t(level_msg(p.institution.level))
                    ),
                )
            })
            .collect::<Vec<_>>()
    });
    let path = format!("{V1}/institutions/{}", target.institution.id);
    let name = inst_name(&target.institution, i18n.locale_untracked());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = choice.get_untracked();
        let Some(parent_id) = ids.iter().find(|id| id.to_string() == wanted).copied() else {
            return;
        };
        let body = UpdateInstitutionRequest {
            parent_id: Some(parent_id),
            ..Default::default()
        };
        busy.set(true);
        let path = path.clone();
        spawn_local(async move {
            let r = api.patch::<_, InstitutionView>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(_) => done.run(()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel form" on:submit=submit data-testid="move-institution-form" novalidate>
            <h3>{move || i18n.tf(Msg::MoveInstitution, &[("name", &name)])}</h3>
            <p class="muted">{move || i18n.t(Msg::MoveHint)}</p>
            <FormAlert errors=errors fields=&["parent_id"]/>
            <SelectField label=Msg::FieldNewParent value=choice options=options errors=errors
                field="parent_id" empty=Msg::ChooseOne required=true testid="new-parent"/>
            <div class="button-row">
                <SubmitButton label=Msg::Move busy=busy/>
                {cancel_button(cancel)}
            </div>
        </form>
    }
}

#[component]
fn ToggleForm(
    target: InstitutionView,
    done: Callback<()>,
    cancel: RwSignal<Mode>,
) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let active = target.institution.active;
    let name = inst_name(&target.institution, i18n.locale_untracked());
    let path = format!("{V1}/institutions/{}", target.institution.id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = UpdateInstitutionRequest {
            active: Some(!active),
            ..Default::default()
        };
        busy.set(true);
        let path = path.clone();
        spawn_local(async move {
            let r = api.patch::<_, InstitutionView>(&path, &body).await;
            busy.set(false);
            match r {
                Ok(_) => done.run(()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };
    view! {
        <form class="panel form confirm" on:submit=submit data-testid="toggle-institution-form">
            <p>
                {move || i18n.tf(
                    if active { Msg::ConfirmDeactivateInstitution } else { Msg::ConfirmReactivateInstitution },
                    &[("name", &name)],
                )}
            </p>
            <FormAlert errors=errors/>
            <div class="button-row">
                <SubmitButton
                    label=if active { Msg::ConfirmDeactivate } else { Msg::ConfirmReactivate }
                    busy=busy
                    danger=active
                    testid="confirm-toggle"
                />
                {cancel_button(cancel)}
            </div>
        </form>
    }
}
