//! `/institutions`: the institution tree the person can see, collapsible,
//! with level badges and inactive marks. Administrators open a node's
//! actions (add child, edit, move, deactivate/reactivate) in place.
//!
//! The server sends a flat list, parents before children; the tree is
//! built here from `parent_id`.

use std::collections::HashSet;
use std::sync::Arc;

use jiliang_protocol::accounts::InstitutionView;
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{V1, use_api};
use crate::components::badges::{InactiveBadge, LevelBadge};
use crate::components::institution_actions::InstitutionActions;
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{inst_name, tree_order};

/// What every node of one rendering of the tree shares.
struct Tree {
    list: Vec<InstitutionView>,
    manage: bool,
    collapsed: RwSignal<HashSet<String>>,
    open_actions: RwSignal<Option<String>>,
    reload: Callback<()>,
}

#[component]
pub fn InstitutionsPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let list = LocalResource::new(move || async move {
        api.get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
            .await
    });
    let reload = Callback::new(move |_| list.refetch());
    let collapsed = RwSignal::new(HashSet::<String>::new());
    let open_actions = RwSignal::new(None::<String>);
    let manage = session.caps().manage_institutions;
    let Some(own_id) = session.me_untracked().map(|m| m.institution.id) else {
        return ().into_any();
    };

    view! {
        <div class="page-head">
            <h1>{move || i18n.t(Msg::InstitutionsTitle)}</h1>
            <p class="muted">
                {move || i18n.t(if manage { Msg::InstitutionsIntroAdmin } else { Msg::InstitutionsIntro })}
            </p>
        </div>
        {move || match list.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e retry=reload/> }.into_any(),
            Some(Ok(items)) if items.is_empty() => view! {
                <p class="empty-state">{move || i18n.t(Msg::NoInstitutions)}</p>
            }.into_any(),
            Some(Ok(items)) => {
                let with_children: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.institution.parent_id.map(|p| p.to_string()))
                    .collect();
                // The tree starts at the person's own institution; the
                // institutions above it are one line of context, not
                // levels of indentation a phone cannot afford.
                let own = items.iter().find(|v| v.institution.id == own_id).cloned();
                let above: Vec<InstitutionView> = own
                    .as_ref()
                    .map(|o| {
                        o.ancestors
                            .iter()
                            .filter_map(|a| items.iter().find(|v| v.institution.id == *a).cloned())
                            .collect()
                    })
                    .unwrap_or_default();
                let tree = Arc::new(Tree { list: items, manage, collapsed, open_actions, reload });
                let roots: Vec<InstitutionView> = match own {
                    Some(o) => vec![o],
                    None => tree_order(&tree.list)
                        .into_iter()
                        .filter(|(_, d)| *d == 0)
                        .map(|(v, _)| v)
                        .collect(),
                };
                view! {
                    <div class="button-row tree-tools">
                        <button type="button" class="secondary small" on:click=move |_| collapsed.set(HashSet::new())>
                            {move || i18n.t(Msg::ExpandAll)}
                        </button>
                        <button type="button" class="secondary small"
                            on:click=move |_| collapsed.set(with_children.iter().cloned().collect())>
                            {move || i18n.t(Msg::CollapseAll)}
                        </button>
                    </div>
                    {(!above.is_empty()).then(|| view! {
                        <nav class="breadcrumb tree-above" aria-label=move || i18n.t(Msg::DashChainTitle)
                            data-testid="institutions-above">
                            <ol>
                                <li class="muted">{move || i18n.t(Msg::AboveYours)}</li>
                                {above.into_iter().map(|a| {
                                    let href = format!("/institutions/{}", a.institution.id);
                                    let inst = a.institution.clone();
                                    view! { <li><A href=href>{move || inst_name(&inst, i18n.locale())}</A></li> }
                                }).collect_view()}
                            </ol>
                        </nav>
                    })}
                    <ul class="tree" data-testid="institution-tree">
                        {roots.into_iter().map(|v| node(tree.clone(), v)).collect_view()}
                    </ul>
                }.into_any()
            }
        }}
    }
    .into_any()
}

fn children_of(tree: &Tree, v: &InstitutionView) -> Vec<InstitutionView> {
    tree_order(&tree.list)
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| c.institution.parent_id == Some(v.institution.id))
        .collect()
}

fn node(tree: Arc<Tree>, v: InstitutionView) -> AnyView {
    let i18n = use_i18n();
    let id = v.institution.id.to_string();
    let kids = children_of(&tree, &v);
    let has_kids = !kids.is_empty();
    let collapsed = tree.collapsed;
    let open_actions = tree.open_actions;
    let id_c = id.clone();
    let is_open = Memo::new(move |_| !collapsed.with(|c| c.contains(&id_c)));
    let id_a = id.clone();
    let actions_open =
        Memo::new(move |_| open_actions.with(|o| o.as_deref() == Some(id_a.as_str())));
    let inst = v.institution.clone();
    let name = {
        let inst = inst.clone();
        move || inst_name(&inst, i18n.locale())
    };
    let name_for_label = {
        let inst = inst.clone();
        move || inst_name(&inst, i18n.locale())
    };
    let href = format!("/institutions/{id}");
    let manage_here = tree.manage && v.can_manage;
    let toggle_id = id.clone();
    let actions_id = id.clone();
    let people = v.people_count.to_string();
    let tree_for_actions = tree.clone();
    let v_for_actions = v.clone();
    view! {
        <li class="tree-node" class:inactive=!inst.active data-testid="tree-node" data-id=id.clone() data-name=inst.name_zh.clone()>
            <div class="tree-row">
                {if has_kids {
                    view! {
                        <button
                            type="button"
                            class="tree-toggle"
                            aria-expanded=move || if is_open.get() { "true" } else { "false" }
                            aria-label=move || i18n.tf(
                                if is_open.get() { Msg::CollapseNamed } else { Msg::ExpandNamed },
                                &[("name", &name_for_label())],
                            )
                            on:click=move |_| {
                                let id = toggle_id.clone();
                                collapsed.update(|c| {
                                    if !c.remove(&id) {
                                        c.insert(id);
                                    }
                                });
                            }
                        >
                            <span class="chevron" aria-hidden="true"></span>
                        </button>
                    }.into_any()
                } else {
                    view! { <span class="tree-leaf" aria-hidden="true"></span> }.into_any()
                }}
                <div class="tree-main">
                    <A href=href attr:class="tree-name">{name}</A>
                    <span class="tree-meta">
                        <LevelBadge level=inst.level/>
                        <InactiveBadge active=inst.active/>
                        <span class="muted">{inst.region_code.clone()}</span>
                        <span class="muted">{move || i18n.tf(Msg::PeopleCount, &[("n", &people)])}</span>
                    </span>
                </div>
                {manage_here.then(|| view! {
                    <button
                        type="button"
                        class="secondary small tree-manage"
                        aria-expanded=move || if actions_open.get() { "true" } else { "false" }
                        data-testid="manage-institution"
                        on:click=move |_| {
                            let id = actions_id.clone();
                            open_actions.update(|o| *o = if o.as_deref() == Some(id.as_str()) { None } else { Some(id) });
                        }
                    >
                        {move || i18n.t(Msg::Manage)}
                    </button>
                })}
            </div>
            {move || actions_open.get().then(|| {
                let all = tree_for_actions.list.clone();
                let reload = tree_for_actions.reload;
                let done = Callback::new(move |_| {
                    open_actions.set(None);
                    reload.run(());
                });
                view! { <InstitutionActions target=v_for_actions.clone() all=all on_change=done/> }
            })}
            {has_kids.then(|| {
                let tree = tree.clone();
                view! {
                    <ul class="tree-children" class:hidden=move || !is_open.get()>
                        {kids.into_iter().map(|k| node(tree.clone(), k)).collect_view()}
                    </ul>
                }
            })}
        </li>
    }
    .into_any()
}
