//! `/sessions`: the live sessions a person takes part in (and, for experts
//! and administrators, those of the labs below them).
//!
//! - Tabs: upcoming, live, ended, and a week calendar (`?view=`), so a tab
//!   can be linked to and survives a reload.
//! - Live sessions are highlighted above every tab with an "enter" button.
//! - The calendar places each session on its *local* date and time; the
//!   week runs Monday to Sunday. Seven columns on a wide screen, a list of
//!   days on a phone (the same markup, laid out by CSS).
//! - Experts and administrators schedule sessions here: local date and
//!   time become an RFC 3339 instant in UTC; labs come from the
//!   institutions below them; further people from a search.

use jiliang_protocol::accounts::{InstitutionView, Page, User, UserListParams};
use jiliang_protocol::institutions::InstitutionLevel;
use jiliang_protocol::sessions::{SessionDetail, SessionInfo, SessionListParams, SessionState};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use wasm_bindgen::JsValue;

use crate::api::{ApiError, V1, query, use_api};
use crate::components::badges::RoleBadges;
use crate::components::forms::{Errors, FormAlert, SubmitButton, TextArea, TextField};
use crate::components::session_bits::SessionCard;
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::session::use_session;
use crate::util::{
    dom_id, in_subtree, inst_name, local_date_time_to_rfc3339, local_hm, local_inputs, tree_order,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum View {
    Upcoming,
    Live,
    Ended,
    Calendar,
}

impl View {
    const ALL: [View; 4] = [View::Upcoming, View::Live, View::Ended, View::Calendar];

    fn key(self) -> &'static str {
        match self {
            Self::Upcoming => "upcoming",
            Self::Live => "live",
            Self::Ended => "ended",
            Self::Calendar => "calendar",
        }
    }

    fn msg(self) -> Msg {
        match self {
            Self::Upcoming => Msg::TabUpcoming,
            Self::Live => Msg::TabLive,
            Self::Ended => Msg::TabEnded,
            Self::Calendar => Msg::TabCalendar,
        }
    }

    fn from_key(k: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|v| v.key() == k)
            .unwrap_or(Self::Upcoming)
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let can_host = session.caps().host_sessions;
    let query_map = use_query_map();
    let view_sel = Memo::new(move |_| {
        query_map.with(|q| View::from_key(q.get("view").as_deref().unwrap_or("")))
    });
    // `?schedule` (the dashboard's "schedule a session") opens the form.
    let show_form =
        RwSignal::new(can_host && query_map.with_untracked(|q| q.get("schedule").is_some()));
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
    });

    view! {
        <div class="page-head sessions-head" data-testid="sessions-page">
            <div class="head-row">
                <h1>{move || i18n.t(Msg::SessionsTitle)}</h1>
                {can_host.then(|| view! {
                    <button type="button" class="primary" data-testid="schedule-open"
                        aria-expanded=move || if show_form.get() { "true" } else { "false" }
                        on:click=move |_| show_form.update(|s| *s = !*s)>
                        {move || i18n.t(Msg::ScheduleSession)}
                    </button>
                })}
            </div>
            <p class="muted">{move || i18n.t(if can_host { Msg::SessionsIntroHost } else { Msg::SessionsIntro })}</p>
        </div>
        {move || show_form.get().then(|| view! {
            <ScheduleForm on_cancel=Callback::new(move |_| show_form.set(false))/>
        })}
        {move || {
            let list = match live.get() {
                Some(Ok(l)) => l,
                _ => Vec::new(),
            };
            (!list.is_empty() && view_sel.get() != View::Live).then(|| view! {
                <section class="live-now" data-testid="live-now" aria-labelledby="live-now-h">
                    <h2 id="live-now-h"><span class="live-dot" aria-hidden="true"></span>{move || i18n.t(Msg::LiveNow)}</h2>
                    <ul class="session-list">
                        {list.into_iter().map(|s| view! { <SessionCard s=s/> }).collect_view()}
                    </ul>
                </section>
            })
        }}
        <nav class="tabs" aria-label=move || i18n.t(Msg::SessionsViews)>
            {View::ALL.into_iter().map(|v| {
                let href = format!("/sessions?view={}", v.key());
                // A plain link (the router still handles it): the router's
                // own link marks every `/sessions?view=…` as current.
                view! {
                    <a href=href class="tab" data-testid=format!("tab-{}", v.key())
                        aria-current=move || (view_sel.get() == v).then_some("page")>
                        {move || i18n.t(v.msg())}
                    </a>
                }
            }).collect_view()}
        </nav>
        {move || match view_sel.get() {
            View::Calendar => view! { <WeekCalendar/> }.into_any(),
            v => view! { <SessionList which=v can_host=can_host/> }.into_any(),
        }}
    }
}

#[component]
fn SessionList(which: View, can_host: bool) -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let state = match which {
        View::Live => SessionState::Live,
        View::Ended => SessionState::Ended,
        _ => SessionState::Scheduled,
    };
    let list = LocalResource::new(move || async move {
        api.get_query::<_, Vec<SessionInfo>>(
            &format!("{V1}/sessions"),
            &SessionListParams {
                state: Some(state),
                limit: Some(100),
                ..SessionListParams::default()
            },
        )
        .await
    });
    let retry = Callback::new(move |_| list.refetch());
    move || match list.get() {
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
        Some(Ok(mut items)) => {
            if items.is_empty() {
                let msg = match (which, can_host) {
                    (View::Live, true) => Msg::NoLiveSessionsHost,
                    (View::Live, false) => Msg::NoLiveSessions,
                    (View::Ended, _) => Msg::NoEndedSessions,
                    (_, true) => Msg::NoUpcomingSessionsHost,
                    (_, false) => Msg::NoUpcomingSessions,
                };
                return view! {
                    <div class="empty-note" data-testid="sessions-empty">
                        <p>{move || i18n.t(msg)}</p>
                        {(!can_host && which != View::Ended).then(|| view! {
                            <A href="/help" attr:class="button secondary">{move || i18n.t(Msg::GoToHelp)}</A>
                        })}
                    </div>
                }
                .into_any();
            }
            if which == View::Upcoming {
                // Soonest first.
                items.reverse();
            }
            view! {
                <ul class="session-list" data-testid="session-list">
                    {items.into_iter().map(|s| view! { <SessionCard s=s/> }).collect_view()}
                </ul>
            }
            .into_any()
        }
    }
}

/// Local midnight of the Monday of the week `offset` weeks from this one.
fn week_start(offset: i32) -> js_sys::Date {
    let today = js_sys::Date::new_0();
    // getDay(): 0 = Sunday; the week starts on Monday.
    let back = i32::try_from((today.get_day() + 6) % 7).unwrap_or(0);
    js_sys::Date::new_with_year_month_day(
        today.get_full_year(),
        i32::try_from(today.get_month()).unwrap_or(0),
        i32::try_from(today.get_date()).unwrap_or(1) - back + offset * 7,
    )
}

fn day_after(start: &js_sys::Date, days: i32) -> js_sys::Date {
    js_sys::Date::new_with_year_month_day(
        start.get_full_year(),
        i32::try_from(start.get_month()).unwrap_or(0),
        i32::try_from(start.get_date()).unwrap_or(1) + days,
    )
}

fn same_day(a: &js_sys::Date, b: &js_sys::Date) -> bool {
    a.get_full_year() == b.get_full_year()
        && a.get_month() == b.get_month()
        && a.get_date() == b.get_date()
}

fn weekday_msg(i: usize) -> Msg {
    [
        Msg::Mon,
        Msg::Tue,
        Msg::Wed,
        Msg::Thu,
        Msg::Fri,
        Msg::Sat,
        Msg::Sun,
    ][i % 7]
}

/// The sessions of one week, by local day.
#[component]
fn WeekCalendar() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let offset = RwSignal::new(0_i32);
    let data = LocalResource::new(move || {
        let start = week_start(offset.get());
        let end = day_after(&start, 7);
        let path = format!(
            "{V1}/sessions{}",
            query(&[
                ("from", &String::from(start.to_iso_string())),
                ("to", &String::from(end.to_iso_string())),
                ("limit", "500"),
            ])
        );
        async move { api.get::<Vec<SessionInfo>>(&path).await }
    });
    let retry = Callback::new(move |_| data.refetch());
    let label = move || {
        let start = week_start(offset.get());
        let end = day_after(&start, 6);
        format!(
            "{:04}-{:02}-{:02} – {:02}-{:02}",
            start.get_full_year(),
            start.get_month() + 1,
            start.get_date(),
            end.get_month() + 1,
            end.get_date()
        )
    };
    view! {
        <section class="calendar" data-testid="calendar">
            <div class="cal-nav">
                <button type="button" class="secondary small" data-testid="cal-prev"
                    on:click=move |_| offset.update(|o| *o -= 1)>
                    "‹ "{move || i18n.t(Msg::PrevWeek)}
                </button>
                <button type="button" class="secondary small" data-testid="cal-today"
                    disabled=move || offset.get() == 0
                    on:click=move |_| offset.set(0)>
                    {move || i18n.t(Msg::ThisWeek)}
                </button>
                <button type="button" class="secondary small" data-testid="cal-next"
                    on:click=move |_| offset.update(|o| *o += 1)>
                    {move || i18n.t(Msg::NextWeek)}" ›"
                </button>
                <span class="cal-label" data-testid="cal-label" aria-live="polite">{label}</span>
            </div>
            {move || match data.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e retry=retry/> }.into_any(),
                Some(Ok(mut items)) => {
                    items.sort_by_key(|s| s.scheduled_start.unix_timestamp());
                    let start = week_start(offset.get_untracked());
                    let today = js_sys::Date::new_0();
                    let days = (0..7).map(|i| {
                        let day = day_after(&start, i);
                        let is_today = same_day(&day, &today);
                        let here: Vec<SessionInfo> = items
                            .iter()
                            .filter(|s| {
                                // f64 holds every second of the next 285 000 years exactly.
                                #[allow(clippy::cast_precision_loss)]
                                let ms = s.scheduled_start.unix_timestamp() as f64 * 1000.0;
                                same_day(&js_sys::Date::new(&JsValue::from_f64(ms)), &day)
                            })
                            .cloned()
                            .collect();
                        let date = format!("{}/{}", day.get_month() + 1, day.get_date());
                        let empty = here.is_empty();
                        let idx = usize::try_from(i).unwrap_or(0);
                        view! {
                            <li class="cal-day" class:today=is_today class:empty=empty data-testid="cal-day">
                                <h3 class="cal-date">
                                    <span>{move || i18n.t(weekday_msg(idx))}</span>
                                    " "<span class="muted">{date}</span>
                                    {is_today.then(|| view! { <span class="badge today-badge">{move || i18n.t(Msg::Today)}</span> })}
                                </h3>
                                {if empty {
                                    view! { <p class="cal-none muted">{move || i18n.t(Msg::NoSessionsThisDay)}</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="cal-items">
                                            {here.into_iter().map(|s| {
                                                let href = format!("/sessions/{}", s.id);
                                                let time = local_hm(s.scheduled_start.unix_timestamp());
                                                view! {
                                                    <li>
                                                        <A href=href attr:class=format!("cal-item state-{}", s.state.as_str())
                                                            attr:data-testid="cal-item" attr:data-state=s.state.as_str()>
                                                            <span class="cal-time">{time}</span>
                                                            <span class="cal-title">{s.title.clone()}</span>
                                                        </A>
                                                    </li>
                                                }
                                            }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            </li>
                        }
                    }).collect_view();
                    let none = items.is_empty();
                    view! {
                        <ol class="cal-week">{days}</ol>
                        {none.then(|| view! {
                            <p class="muted small" data-testid="cal-week-empty">{move || i18n.t(Msg::NoSessionsThisWeek)}</p>
                        })}
                    }.into_any()
                }
            }}
        </section>
    }
}

/// Institutions a host may schedule with: active city and county labs in
/// their subtree, in tree order.
fn schedulable(
    list: &[InstitutionView],
    own: &jiliang_protocol::institutions::Institution,
) -> Vec<InstitutionView> {
    tree_order(list)
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| {
            in_subtree(v, own)
                && v.institution.active
                && matches!(
                    v.institution.level,
                    InstitutionLevel::City | InstitutionLevel::County
                )
        })
        .collect()
}

#[component]
fn ScheduleForm(on_cancel: Callback<()>) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let navigate = use_navigate();
    let Some(me) = session.me_untracked() else {
        return ().into_any();
    };
    let own = me.institution.clone();
    let my_id = me.user.id.to_string();
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let title = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    // Default: the next whole hour, today or tomorrow.
    let next_hour = (js_sys::Date::now() / 3_600_000.0).floor() * 3_600_000.0 + 3_600_000.0;
    let (d0, t0) = local_inputs(next_hour);
    let date = RwSignal::new(d0);
    let time = RwSignal::new(t0);
    let duration = RwSignal::new("60".to_owned());
    let labs = RwSignal::new(Vec::<String>::new());
    let people = RwSignal::new(Vec::<User>::new());
    let local_error = RwSignal::new(None::<Msg>);

    let institutions = LocalResource::new(move || async move {
        api.get::<Vec<InstitutionView>>(&format!("{V1}/institutions"))
            .await
    });
    let date_id = dom_id("f");
    let time_id = dom_id("f");
    let dur_id = dom_id("f");
    let field_errs = move |field: &'static str| {
        errors.with(|e| {
            e.as_ref()
                .map(|e| e.field_messages(field))
                .unwrap_or_default()
        })
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        local_error.set(None);
        errors.set(None);
        let Some(start) = local_date_time_to_rfc3339(&date.get_untracked(), &time.get_untracked())
        else {
            local_error.set(Some(Msg::BadDateTime));
            return;
        };
        if labs.with_untracked(Vec::is_empty) {
            local_error.set(Some(Msg::ChooseLabs));
            return;
        }
        let minutes: i64 = duration.get_untracked().trim().parse().unwrap_or(0);
        let body = serde_json::json!({
            "title": title.get_untracked().trim(),
            "description": description.get_untracked().trim(),
            "scheduled_start": start,
            "duration_minutes": minutes,
            "lab_ids": labs.get_untracked(),
            "participant_ids": people.with_untracked(|p| p.iter().map(|u| u.id.to_string()).collect::<Vec<_>>()),
        });
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            let r = api
                .post::<_, SessionDetail>(&format!("{V1}/sessions"), &body)
                .await;
            busy.set(false);
            match r {
                Ok(d) => navigate(&format!("/sessions/{}", d.session.id), Default::default()),
                Err(e) => errors.set(Some(e)),
            }
        });
    };

    view! {
        <form class="card form schedule-form" on:submit=submit data-testid="schedule-form" novalidate>
            <h2>{move || i18n.t(Msg::ScheduleSession)}</h2>
            <FormAlert errors=errors fields=&["title", "description", "scheduled_start", "duration_minutes", "lab_ids"]/>
            {move || local_error.get().map(|m| view! {
                <div class="form-alert" role="alert" data-testid="form-error"><p>{move || i18n.t(m)}</p></div>
            })}
            <TextField label=Msg::FieldTitle value=title errors=errors field="title" required=true
                maxlength=120 testid="session-title"/>
            <TextArea label=Msg::FieldDescription value=description errors=errors field="description"
                testid="session-description"/>
            <div class="field-row">
                <div class="field">
                    <label for=date_id.clone()>{move || i18n.t(Msg::FieldDate)}<span class="req" aria-hidden="true">" *"</span></label>
                    <input id=date_id type="date" required prop:value=move || date.get()
                        on:input=move |ev| date.set(event_target_value(&ev)) data-testid="session-date"/>
                    <ul class="field-errors">{move || field_errs("scheduled_start").into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                </div>
                <div class="field">
                    <label for=time_id.clone()>{move || i18n.t(Msg::FieldTime)}<span class="req" aria-hidden="true">" *"</span></label>
                    <input id=time_id type="time" required prop:value=move || time.get()
                        on:input=move |ev| time.set(event_target_value(&ev)) data-testid="session-time"/>
                </div>
                <div class="field">
                    <label for=dur_id.clone()>{move || i18n.t(Msg::FieldDuration)}</label>
                    <input id=dur_id type="number" min="5" max="720" step="5" inputmode="numeric"
                        prop:value=move || duration.get()
                        on:input=move |ev| duration.set(event_target_value(&ev)) data-testid="session-duration"/>
                    <ul class="field-errors">{move || field_errs("duration_minutes").into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
                </div>
            </div>
            <p class="hint muted small">{move || i18n.t(Msg::LocalTimeHint)}</p>
            <fieldset class="field checks" data-testid="lab-checks">
                <legend>{move || i18n.t(Msg::FieldLabs)}<span class="req" aria-hidden="true">" *"</span></legend>
                <p class="hint">{move || i18n.t(Msg::LabsHint)}</p>
                {move || {
                    let own = own.clone();
                    match institutions.get() {
                        None => view! { <Loading/> }.into_any(),
                        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                        Some(Ok(list)) => {
                            let choices = schedulable(&list, &own);
                            if choices.is_empty() {
                                return view! { <p class="muted">{move || i18n.t(Msg::NoLabsToSchedule)}</p> }.into_any();
                            }
                            view! {
                                <div class="check-row lab-row">
                                    {choices.into_iter().map(|v| {
                                        let id = v.institution.id.to_string();
                                        let id_c = id.clone();
                                        let id_d = id.clone();
                                        let inst = v.institution.clone();
                                        let zh = inst.name_zh.clone();
                                        view! {
                                            <label class="check" data-testid="lab-check" data-name=zh>
                                                <input type="checkbox" value=id
                                                    prop:checked=move || labs.with(|l| l.contains(&id_c))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        let id = id_d.clone();
                                                        labs.update(|l| {
                                                            l.retain(|x| *x != id);
                                                            if on { l.push(id); }
                                                        });
                                                    }/>
                                                <span>{move || inst_name(&inst, i18n.locale())}</span>
                                            </label>
                                        }
                                    }).collect_view()}
                                </div>
                            }.into_any()
                        }
                    }
                }}
                <ul class="field-errors">{move || field_errs("lab_ids").into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}</ul>
            </fieldset>
            <PeoplePicker chosen=people exclude=my_id/>
            <div class="button-row">
                <SubmitButton label=Msg::ScheduleSubmit busy=busy testid="schedule-submit"/>
                <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>{move || i18n.t(Msg::Cancel)}</button>
            </div>
        </form>
    }
    .into_any()
}

/// Search people by name and add them as further participants.
#[component]
fn PeoplePicker(chosen: RwSignal<Vec<User>>, exclude: String) -> impl IntoView {
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
