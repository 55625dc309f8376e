//! Choosing people to invite to a session, by search.

use jiliang_protocol::accounts::{Page, User, UserListParams};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{ApiError, V1, use_api};
use crate::components::badges::RoleBadges;
use crate::components::states::ErrorBox;
use crate::i18n::{Msg, use_i18n};
use crate::util::dom_id;

/// Search people by name and add them as further participants.
#[component]
pub(super) fn PeoplePicker(chosen: RwSignal<Vec<User>>, exclude: String) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let q = RwSignal::new(String::new());
    let results = RwSignal::new(None::<Result<Vec<User>, ApiError>>);
    let generation = RwSignal::new(0_u32);
    let input_id = dom_id("f");
    let search = move || {
        let text = q.get_untracked().trim().to_owned();
        if text.is_empty() {
            results.set(None);
            return;
        }
        generation.update(|g| *g += 1);
        let mine = generation.get_untracked();
        let params = UserListParams {
            q: Some(text),
            active: Some(true),
            limit: Some(8),
            ..UserListParams::default()
        };
        spawn_local(async move {
            let r = api
                .get_query::<_, Page<User>>(&format!("{V1}/users"), &params)
                .await
                .map(|p| p.items);
            if generation.try_get_untracked() == Some(mine) {
                results.set(Some(r));
            }
        });
    };
    view! {
        <div class="field people-picker">
            <label for=input_id.clone()>{move || i18n.t(Msg::FieldParticipants)}</label>
            <p class="hint">{move || i18n.t(Msg::ParticipantsHint)}</p>
            {move || {
                let list = chosen.get();
                (!list.is_empty()).then(|| view! {
                    <ul class="chips" data-testid="chosen-people">
                        {list.into_iter().map(|u| {
                            let id = u.id;
                            view! {
                                <li class="chip">
                                    {u.display_name.clone()}
                                    <button type="button" class="chip-x"
                                        aria-label=move || i18n.tf(Msg::RemoveNamed, &[("name", &u.display_name)])
                                        on:click=move |_| chosen.update(|c| c.retain(|x| x.id != id))>"×"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                })
            }}
            <div class="inline">
                <input id=input_id type="search" prop:value=move || q.get()
                    placeholder=move || i18n.t(Msg::SearchPlaceholder)
                    on:input=move |ev| q.set(event_target_value(&ev))
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Enter" {
                            ev.prevent_default();
                            search();
                        }
                    }
                    data-testid="people-search"/>
                <button type="button" class="secondary" on:click=move |_| search()>{move || i18n.t(Msg::Search)}</button>
            </div>
            {move || {
                let exclude = exclude.clone();
                match results.get() {
                    None => ().into_any(),
                    Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                    Some(Ok(list)) => {
                        let list: Vec<User> = list.into_iter().filter(|u| u.id.to_string() != exclude).collect();
                        if list.is_empty() {
                            return view! { <p class="muted small">{move || i18n.t(Msg::NoPeopleFound)}</p> }.into_any();
                        }
                        view! {
                            <ul class="pick-list">
                                {list.into_iter().map(|u| {
                                    let id = u.id;
                                    let user = u.clone();
                                    let picked = move || chosen.with(|c| c.iter().any(|x| x.id == id));
                                    view! {
                                        <li class="pick-item">
                                            <span class="person-name">{u.display_name.clone()}</span>
                                            <RoleBadges roles=u.roles.clone()/>
                                            <button type="button" class="secondary small" disabled=picked
                                                on:click=move |_| {
                                                    let user = user.clone();
                                                    chosen.update(|c| if !c.iter().any(|x| x.id == user.id) { c.push(user) });
                                                }>
                                                {move || i18n.t(if picked() { Msg::Added } else { Msg::Add })}
                                            </button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            }}
        </div>
    }
}
