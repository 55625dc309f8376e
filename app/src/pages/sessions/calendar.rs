//! The week calendar of scheduled sessions.

use jiliang_protocol::sessions::{SessionInfo, SessionListParams};
use leptos::prelude::*;
use leptos_router::components::A;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wasm_bindgen::JsValue;

use crate::api::{V1, use_api};
use crate::components::states::{ErrorBox, Loading};
use crate::i18n::{Msg, use_i18n};
use crate::util::local_hm;

/// Local midnight of the Monday of the week `offset` weeks from this one.
pub(super) fn week_start(offset: i32) -> js_sys::Date {
    let today = js_sys::Date::new_0();
    // getDay(): 0 = Sunday; the week starts on Monday.
    let back = i32::try_from((today.get_day() + 6) % 7).unwrap_or(0);
    js_sys::Date::new_with_year_month_day(
        today.get_full_year(),
        i32::try_from(today.get_month()).unwrap_or(0),
        i32::try_from(today.get_date()).unwrap_or(1) - back + offset * 7,
    )
}

pub(super) fn day_after(start: &js_sys::Date, days: i32) -> js_sys::Date {
    js_sys::Date::new_with_year_month_day(
        start.get_full_year(),
        i32::try_from(start.get_month()).unwrap_or(0),
        i32::try_from(start.get_date()).unwrap_or(1) + days,
    )
}

pub(super) fn same_day(a: &js_sys::Date, b: &js_sys::Date) -> bool {
    a.get_full_year() == b.get_full_year()
        && a.get_month() == b.get_month()
        && a.get_date() == b.get_date()
}

pub(super) fn weekday_msg(i: usize) -> Msg {
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
pub(super) fn WeekCalendar() -> impl IntoView {
    let i18n = use_i18n();
    let api = use_api();
    let offset = RwSignal::new(0_i32);
    let data = LocalResource::new(move || {
        let start = week_start(offset.get());
        let end = day_after(&start, 7);
        let instant = |d: &js_sys::Date| {
            OffsetDateTime::parse(&String::from(d.to_iso_string()), &Rfc3339).ok()
        };
        let params = SessionListParams {
            state: None,
            from: instant(&start),
            to: instant(&end),
            limit: Some(500),
        };
        async move {
            api.get_query::<_, Vec<SessionInfo>>(&format!("{V1}/sessions"), &params)
                .await
        }
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
