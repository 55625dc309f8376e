//! Invitations sent and their state.

use jiliang_protocol::accounts::{Invitation, InvitationStatus};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{V1, use_api};
use crate::components::badges::RoleBadges;
use crate::components::forms::{Errors, FormAlert};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::util::local_time;

/// Invitations to the person's subtree, newest first.
#[component]
pub(super) fn Invitations(version: RwSignal<u32>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    // A failed revocation (someone revoked or accepted it meanwhile) is
    // shown above the list; the list then reloads to show why.
    let errors: Errors = RwSignal::new(None);
    let revoke = move |id: String| {
        spawn_local(async move {
            let r = api
                .post_empty::<Invitation>(&format!("{V1}/invitations/{id}/revoke"))
                .await;
            match r {
                Ok(_) => errors.set(None),
                Err(e) => errors.set(Some(e)),
            }
            version.update(|v| *v += 1);
        });
    };
    let list = LocalResource::new(move || {
        version.track();
        async move {
            api.get::<Vec<Invitation>>(&format!("{V1}/invitations"))
                .await
        }
    });
    view! {
        <section class="dash-section" data-testid="invitations">
            <h2>{move || i18n.t(Msg::InvitationsTitle)}</h2>
            <FormAlert errors=errors/>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                Some(Ok(l)) if l.is_empty() => view! {
                    <p class="muted">{move || i18n.t(Msg::NoInvitations)}</p>
                }.into_any(),
                Some(Ok(l)) => view! {
                    <ul class="person-cards">
                        {l.into_iter().map(|inv| {
                            let (cls, msg) = match inv.status {
                                InvitationStatus::Pending => ("badge badge-pending", Msg::InvitationPending),
                                InvitationStatus::Accepted => ("badge badge-ok", Msg::InvitationAccepted),
                                InvitationStatus::Expired => ("badge badge-bad", Msg::InvitationExpired),
                                InvitationStatus::Revoked => ("badge badge-bad", Msg::InvitationRevoked),
                            };
                            let id = inv.id.to_string();
                            let to: Vec<String> = [inv.email.clone(), inv.phone.clone()].into_iter().flatten().collect();
                            let created = local_time(inv.created_at.unix_timestamp());
                            let expires = local_time(inv.expires_at.unix_timestamp());
                            let by = inv.invited_by.clone();
                            view! {
                                <li class="card person-card" data-testid="invitation">
                                    <div class="person-head">
                                        <span class="person-name">{inv.display_name.clone()}</span>
                                        <span class=cls data-testid="invitation-status">{move || i18n.t(msg)}</span>
                                    </div>
                                    <div class="person-badges"><RoleBadges roles=inv.roles.clone()/></div>
                                    <div class="muted small">{inv.institution_name.clone()}</div>
                                    <div class="muted small">{to.join(" · ")}</div>
                                    <div class="muted small">
                                        {move || i18n.tf(Msg::InvitedByAt, &[("name", &by), ("time", &created)])}
                                        {(inv.status == InvitationStatus::Pending).then(|| {
                                            let expires = expires.clone();
                                            view! { " · "{move || i18n.tf(Msg::LinkExpires, &[("time", &expires)])} }
                                        })}
                                    </div>
                                    {(inv.status == InvitationStatus::Pending).then(|| view! {
                                        <div class="button-row">
                                            <button type="button" class="secondary small"
                                                data-testid="revoke-invitation"
                                                on:click=move |_| revoke(id.clone())>
                                                {move || i18n.t(Msg::RevokeInvitation)}
                                            </button>
                                        </div>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </section>
    }
}
