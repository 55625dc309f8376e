//! Small labels: roles, institution levels, inactive marks.

use jiliang_protocol::accounts::Role;
use jiliang_protocol::institutions::InstitutionLevel;
use leptos::prelude::*;

use crate::i18n::{Msg, use_i18n};
use crate::util::{level_msg, role_msg};

#[component]
pub fn RoleBadges(roles: Vec<Role>) -> impl IntoView {
    let i18n = use_i18n();
    roles
        .into_iter()
        .map(|r| {
            view! {
                <span class=format!("badge role role-{}", r.as_str()) data-role=r.as_str()>
                    {move || i18n.t(role_msg(r))}
                </span>
            }
        })
        .collect_view()
}

#[component]
pub fn LevelBadge(level: InstitutionLevel) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <span class=format!("badge level level-{}", level.as_str())>{move || i18n.t(level_msg(level))}</span>
    }
}

/// Shown only when `active` is false.
#[component]
pub fn InactiveBadge(active: bool) -> impl IntoView {
    let i18n = use_i18n();
    (!active).then(|| {
        view! { <span class="badge badge-bad" data-testid="inactive">{move || i18n.t(Msg::Inactive)}</span> }
    })
}
