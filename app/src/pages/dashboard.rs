//! The logged-in home page: one section per role the person holds, each
//! built only from what the server has (no placeholders for features that
//! do not exist yet, except a one-line note for trainees' courses).
//!
//! - administrators: quick links with counts (institutions, people,
//!   pending invitations, recent audit events);
//! - experts and administrators: the labs below their institution;
//! - technicians: their lab, the institutions above it with contacts
//!   ("whom to call"), their colleagues;
//! - trainees: their institution, profile, and learning.

use jiliang_protocol::accounts::{
    AuditEvent, InstitutionView, Invitation, InvitationStatus, Me, Page, Role, User,
};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{V1, query, use_api};
use crate::components::badges::{InactiveBadge, LevelBadge, RoleBadges};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{in_subtree, inst_name};

#[component]
pub fn Dashboard() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let has = |r: Role| me.user.roles.contains(&r);
    let (admin, expert, tech, trainee) = (
        has(Role::Admin),
        has(Role::Expert),
        has(Role::Technician),
        has(Role::Trainee),
    );
    let institutions = LocalResource::new(move || async move {
        api.get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
            .await
    });
    let retry = Callback::new(move |_| institutions.refetch());
    let own_name = {
        let inst = me.institution.clone();
        move || inst_name(&inst, i18n.locale())
    };
    let name = me.user.display_name.clone();
    let me_for_sections = me.clone();

    view! {
        <section class="dash-head">
            <h1 data-testid="dash-greeting">{move || i18n.tf(Msg::Hello, &[("name", &name)])}</h1>
            <p class="muted">
                {own_name}" "
                <RoleBadges roles=me.user.roles.clone()/>
            </p>
        </section>
        <SessionsShortcuts/>
        {move || match institutions.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
            Some(Ok(list)) => {
                let me = me_for_sections.clone();
                view! {
                    {admin.then(|| view! { <AdminSection me=me.clone() list=list.clone()/> })}
                    {(admin || expert).then(|| view! { <LabsSection me=me.clone() list=list.clone()/> })}
                    {tech.then(|| view! { <TechnicianSection me=me.clone() list=list.clone()/> })}
                    {trainee.then(|| view! { <TraineeSection me=me.clone() list=list.clone() also_tech=tech/> })}
                }
                .into_any()
            }
        }}
    }
    .into_any()
}

/// Quick links for administrators, each with a real count.
#[component]
fn AdminSection(me: Me, list: Vec<InstitutionView>) -> impl IntoView {
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
        let since = String::from(since.to_iso_string());
        api.get::<Page<AuditEvent>>(&format!(
            "{V1}/audit{}",
            query(&[("since", &since), ("limit", "200")])
        ))
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

/// The labs below the person's institution, as cards.
#[component]
fn LabsSection(me: Me, list: Vec<InstitutionView>) -> impl IntoView {
    let i18n = use_i18n();
    let below: Vec<InstitutionView> = crate::util::tree_order(&list)
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| v.ancestors.contains(&me.institution.id))
        .collect();
    if below.is_empty() {
        return ().into_any();
    }
    let names = list.clone();
    view! {
        <section class="dash-section" data-testid="dash-labs">
            <h2>{move || i18n.t(Msg::DashLabsTitle)}</h2>
            <p class="muted">{move || i18n.t(Msg::DashLabsIntro)}</p>
            <div class="cards labs">
                {below
                    .into_iter()
                    .map(|v| {
                        let parent = v
                            .institution
                            .parent_id
                            .and_then(|p| names.iter().find(|n| n.institution.id == p))
                            .map(|p| p.institution.clone());
                        view! { <LabCard view=v parent=parent/> }
                    })
                    .collect_view()}
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn LabCard(
    view: InstitutionView,
    #[prop(optional_no_strip)] parent: Option<jiliang_protocol::institutions::Institution>,
    #[prop(optional)] show_contact: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let inst = view.institution.clone();
    let href = format!("/institutions/{}", inst.id);
    let people = view.people_count.to_string();
    let contact = inst.contact.clone();
    let name = {
        let inst = inst.clone();
        move || inst_name(&inst, i18n.locale())
    };
    view! {
        <article class="card lab-card" data-testid="lab-card">
            <h3><A href=href>{name}</A></h3>
            <p class="lab-meta">
                <LevelBadge level=inst.level/>
                <InactiveBadge active=inst.active/>
                <span class="muted">{move || i18n.tf(Msg::RegionCodeShort, &[("code", &inst.region_code)])}</span>
            </p>
            <p class="lab-meta muted">
                {move || i18n.tf(Msg::PeopleCount, &[("n", &people)])}
                {parent.clone().map(|p| view! {
                    " · "{move || i18n.tf(Msg::UnderParent, &[("name", &inst_name(&p, i18n.locale()))])}
                })}
            </p>
            {(show_contact).then(|| view! {
                <p class="lab-contact">
                    <span class="muted">{move || i18n.t(Msg::FieldContact)}": "</span>
                    {if contact.is_empty() { "—".to_owned() } else { contact.clone() }}
                </p>
            })}
        </article>
    }
}

/// A technician's lab, whom to call above it, and colleagues.
#[component]
fn TechnicianSection(me: Me, list: Vec<InstitutionView>) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let own = list
        .iter()
        .find(|v| v.institution.id == me.institution.id)
        .cloned();
    let chain: Vec<InstitutionView> = own
        .as_ref()
        .map(|o| {
            o.ancestors
                .iter()
                .rev()
                .filter_map(|a| list.iter().find(|v| v.institution.id == *a).cloned())
                .collect()
        })
        .unwrap_or_default();
    let own_id = me.institution.id.to_string();
    let my_id = me.user.id;
    let colleagues = LocalResource::new(move || {
        let own_id = own_id.clone();
        async move {
            api.get::<Vec<User>>(&format!("{V1}/institutions/{own_id}/people"))
                .await
        }
    });
    view! {
        <section class="dash-section" data-testid="dash-lab">
            <h2>{move || i18n.t(Msg::DashMyLab)}</h2>
            {own.map(|v| view! { <div class="cards one"><LabCard view=v show_contact=true/></div> })}
        </section>
        {(!chain.is_empty()).then(|| view! {
            <section class="dash-section" data-testid="dash-chain">
                <h2>{move || i18n.t(Msg::DashChainTitle)}</h2>
                <p class="muted">{move || i18n.t(Msg::DashChainIntro)}</p>
                <ol class="chain">
                    {chain.into_iter().map(|v| {
                        let inst = v.institution.clone();
                        let href = format!("/institutions/{}", inst.id);
                        let contact = inst.contact.clone();
                        let name = {
                            let inst = inst.clone();
                            move || inst_name(&inst, i18n.locale())
                        };
                        view! {
                            <li class="chain-item">
                                <div><A href=href>{name}</A>" "<LevelBadge level=inst.level/></div>
                                <div class="muted">
                                    {move || i18n.t(Msg::FieldContact)}": "
                                    {if contact.is_empty() { "—".to_owned() } else { contact.clone() }}
                                </div>
                            </li>
                        }
                    }).collect_view()}
                </ol>
            </section>
        })}
        <section class="dash-section" data-testid="dash-colleagues">
            <h2>{move || i18n.t(Msg::DashColleagues)}</h2>
            {move || match colleagues.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                Some(Ok(people)) => {
                    let others: Vec<User> = people.into_iter().filter(|u| u.id != my_id && u.active).collect();
                    if others.is_empty() {
                        view! { <p class="muted">{move || i18n.t(Msg::NoColleagues)}</p> }.into_any()
                    } else {
                        view! {
                            <ul class="people-list compact">
                                {others.into_iter().map(|u| view! { <PersonLine user=u/> }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            }}
        </section>
    }
}

/// One person in a short list: name, roles, how to reach them.
#[component]
pub fn PersonLine(user: User) -> impl IntoView {
    let contact: Vec<String> = [user.phone.clone(), user.email.clone()]
        .into_iter()
        .flatten()
        .collect();
    view! {
        <li class="person-line">
            <span class="person-name">{user.display_name.clone()}</span>
            " "
            <RoleBadges roles=user.roles.clone()/>
            {(!contact.is_empty()).then(|| view! { <span class="muted person-contact">{contact.join(" · ")}</span> })}
        </li>
    }
}

/// A trainee's institution, profile and (not yet existing) courses.
#[component]
fn TraineeSection(me: Me, list: Vec<InstitutionView>, also_tech: bool) -> impl IntoView {
    let i18n = use_i18n();
    let own = list
        .iter()
        .find(|v| v.institution.id == me.institution.id)
        .cloned();
    let user = me.user.clone();
    view! {
        <section class="dash-section" data-testid="dash-learning">
            <h2>{move || i18n.t(Msg::DashLearning)}</h2>
            <p class="empty-note" data-testid="no-courses">{move || i18n.t(Msg::NoCoursesYet)}</p>
        </section>
        <section class="dash-section" data-testid="dash-profile">
            <h2>{move || i18n.t(Msg::DashProfile)}</h2>
            <div class="cards two">
                {(!also_tech).then(|| own.map(|v| view! { <LabCard view=v show_contact=true/> }))}
                <article class="card">
                    <dl class="facts">
                        <dt>{move || i18n.t(Msg::FieldUsername)}</dt>
                        <dd class="mono">{user.username.clone()}</dd>
                        <dt>{move || i18n.t(Msg::FieldEmail)}</dt>
                        <dd>{user.email.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>{move || i18n.t(Msg::FieldPhone)}</dt>
                        <dd>{user.phone.clone().unwrap_or_else(|| "—".into())}</dd>
                    </dl>
                    <A href="/account">{move || i18n.t(Msg::EditProfile)}</A>
                </article>
            </div>
        </section>
    }
}

/// Live sessions and remote help: the help queue's open count for those
/// who answer it, "request help" for technicians.
#[component]
fn SessionsShortcuts() -> impl IntoView {
    use jiliang_protocol::sessions::{
        HelpListParams, HelpRequest, HelpState, SessionInfo, SessionListParams, SessionState,
    };
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let caps = session.caps();
    if !caps.host_sessions && !caps.request_help {
        return ().into_any();
    }
    let live = LocalResource::new(move || async move {
        api.get_query::<_, Vec<SessionInfo>>(
            &format!("{V1}/sessions"),
            &SessionListParams {
                state: Some(SessionState::Live),
                limit: Some(50),
                ..SessionListParams::default()
            },
        )
        .await
        .map(|l| l.len())
    });
    let open = LocalResource::new(move || async move {
        api.get_query::<_, Vec<HelpRequest>>(
            &format!("{V1}/help-requests"),
            &HelpListParams {
                state: Some(HelpState::Open),
                limit: None,
            },
        )
        .await
        .map(|l| l.iter().filter(|h| h.state == HelpState::Open).count())
    });
    let count = |r: Option<Result<usize, crate::api::ApiError>>| match r {
        Some(Ok(n)) => n.to_string(),
        Some(Err(_)) => "—".to_owned(),
        None => "…".to_owned(),
    };
    view! {
        <section class="dash-section" data-testid="dash-sessions">
            <div class="cards quick">
                {caps.host_sessions.then(|| view! {
                    <A href="/help" attr:class="card quick-link quick-help" attr:data-testid="dash-help-queue">
                        <span class="quick-count">{move || count(open.get())}</span>
                        <span class="quick-label">{move || i18n.t(Msg::QuickOpenHelp)}</span>
                    </A>
                })}
                {caps.request_help.then(|| view! {
                    <A href="/help#new" attr:class="card quick-link quick-ask" attr:data-testid="dash-request-help">
                        <span class="quick-count" aria-hidden="true">"?"</span>
                        <span class="quick-label">{move || i18n.t(Msg::RequestHelp)}</span>
                        <span class="quick-sub muted">
                            {move || match open.get() {
                                Some(Ok(n)) if n > 0 => i18n.tf(Msg::QuickMyOpenHelp, &[("n", &n.to_string())]),
                                _ => String::new(),
                            }}
                        </span>
                    </A>
                })}
                <A href="/sessions" attr:class="card quick-link" attr:data-testid="dash-live-sessions">
                    <span class="quick-count">{move || count(live.get())}</span>
                    <span class="quick-label">{move || i18n.t(Msg::QuickLiveSessions)}</span>
                </A>
            </div>
        </section>
        <UpcomingSessions can_host=caps.host_sessions/>
    }
    .into_any()
}

/// How many upcoming sessions the home page lists.
const UPCOMING_ON_DASHBOARD: usize = 5;

/// The next sessions the person hosts or whose lab takes part, soonest
/// first, with the way to schedule one when there are none.
#[component]
fn UpcomingSessions(can_host: bool) -> impl IntoView {
    use crate::components::session_bits::SessionCard;
    use jiliang_protocol::sessions::{SessionInfo, SessionListParams, SessionState};
    let i18n = use_i18n();
    let api = use_api();
    let list = LocalResource::new(move || async move {
        // The API lists newest first; the page needs the soonest, so take
        // the whole (short) list of scheduled sessions and sort it here.
        api.get_query::<_, Vec<SessionInfo>>(
            &format!("{V1}/sessions"),
            &SessionListParams {
                state: Some(SessionState::Scheduled),
                limit: Some(100),
                ..SessionListParams::default()
            },
        )
        .await
    });
    let retry = Callback::new(move |_| list.refetch());
    view! {
        <section class="dash-section" data-testid="dash-upcoming">
            <h2>{move || i18n.t(Msg::DashUpcoming)}</h2>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
                Some(Ok(items)) if items.is_empty() => {
                    let msg = if can_host { Msg::NoUpcomingSessionsHost } else { Msg::NoUpcomingSessions };
                    view! {
                        <div class="empty-note" data-testid="upcoming-empty">
                            <p>{move || i18n.t(msg)}</p>
                            <A href=if can_host { "/sessions?schedule" } else { "/help" } attr:class="button secondary"
                                attr:data-testid="upcoming-action">
                                {move || i18n.t(if can_host { Msg::ScheduleSession } else { Msg::GoToHelp })}
                            </A>
                        </div>
                    }
                    .into_any()
                }
                Some(Ok(mut items)) => {
                    items.sort_by_key(|s| s.scheduled_start);
                    let more = items.len() > UPCOMING_ON_DASHBOARD;
                    items.truncate(UPCOMING_ON_DASHBOARD);
                    view! {
                        <ul class="session-list" data-testid="upcoming-list">
                            {items.into_iter().map(|s| view! { <SessionCard s=s/> }).collect_view()}
                        </ul>
                        {more.then(|| view! {
                            <p><A href="/sessions">{move || i18n.t(Msg::AllSessions)}</A></p>
                        })}
                    }
                    .into_any()
                }
            }}
        </section>
    }
}
