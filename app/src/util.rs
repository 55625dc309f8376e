//! Small pure helpers shared by pages: names in the reader's language,
//! local times, ids, and the institution tree's shape.

use std::sync::atomic::{AtomicUsize, Ordering};

use jiliang_protocol::accounts::{InstitutionView, Role};
use jiliang_protocol::institutions::{Institution, InstitutionLevel};
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::i18n::{Locale, Msg};

/// Parse an id typed as a string (route parameter, `<select>` value) into
/// whatever id type a request field wants, the same way the server would.
pub fn parse_id<T: DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// An element id unique within the page, for `<label for>` and
/// `aria-describedby`.
pub fn dom_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The institution's name in the reader's language (Chinese when no
/// English name is recorded).
pub fn inst_name(i: &Institution, locale: Locale) -> String {
    match (locale, &i.name_en) {
        (Locale::En, Some(en)) if !en.is_empty() => en.clone(),
        _ => i.name_zh.clone(),
    }
}

pub fn role_msg(role: Role) -> Msg {
    match role {
        Role::Admin => Msg::RoleAdmin,
        Role::Expert => Msg::RoleExpert,
        Role::Technician => Msg::RoleTechnician,
        Role::Trainee => Msg::RoleTrainee,
    }
}

pub fn level_msg(level: InstitutionLevel) -> Msg {
    match level {
        InstitutionLevel::National => Msg::LevelNational,
        InstitutionLevel::Regional => Msg::LevelRegional,
        InstitutionLevel::Provincial => Msg::LevelProvincial,
        InstitutionLevel::City => Msg::LevelCity,
        InstitutionLevel::County => Msg::LevelCounty,
    }
}

/// Audit event names the server writes, in the order the filter lists them.
pub const AUDIT_EVENTS: [&str; 20] = [
    "login_succeeded",
    "login_failed",
    "lockout",
    "logout",
    "password_changed",
    "password_reset_issued",
    "password_reset",
    "role_changed",
    "user_created",
    "user_updated",
    "user_moved",
    "user_deactivated",
    "user_reactivated",
    "invitation_created",
    "invitation_accepted",
    "institution_created",
    "institution_renamed",
    "institution_moved",
    "institution_deactivated",
    "institution_reactivated",
];

pub fn event_msg(event: &str) -> Option<Msg> {
    Some(match event {
        "login_succeeded" => Msg::EvLoginSucceeded,
        "login_failed" => Msg::EvLoginFailed,
        "lockout" => Msg::EvLockout,
        "logout" => Msg::EvLogout,
        "password_changed" => Msg::EvPasswordChanged,
        "password_reset_issued" => Msg::EvPasswordResetIssued,
        "password_reset" => Msg::EvPasswordReset,
        "role_changed" => Msg::EvRoleChanged,
        "user_created" => Msg::EvUserCreated,
        "user_updated" => Msg::EvUserUpdated,
        "user_moved" => Msg::EvUserMoved,
        "user_deactivated" => Msg::EvUserDeactivated,
        "user_reactivated" => Msg::EvUserReactivated,
        "invitation_created" => Msg::EvInvitationCreated,
        "invitation_accepted" => Msg::EvInvitationAccepted,
        "institution_created" => Msg::EvInstitutionCreated,
        "institution_renamed" => Msg::EvInstitutionRenamed,
        "institution_moved" => Msg::EvInstitutionMoved,
        "institution_deactivated" => Msg::EvInstitutionDeactivated,
        "institution_reactivated" => Msg::EvInstitutionReactivated,
        _ => return None,
    })
}

fn date_of(unix_seconds: i64) -> js_sys::Date {
    // f64 holds every second of the next 285 000 years exactly.
    #[allow(clippy::cast_precision_loss)]
    let ms = unix_seconds as f64 * 1000.0;
    js_sys::Date::new(&JsValue::from_f64(ms))
}

/// `2026-11-26 16:31` in the browser's time zone.
pub fn local_time(unix_seconds: i64) -> String {
    let d = date_of(unix_seconds);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    )
}

/// `2026-11-26 16:31:05` in the browser's time zone (audit log).
pub fn local_time_seconds(unix_seconds: i64) -> String {
    let d = date_of(unix_seconds);
    format!("{}:{:02}", local_time(unix_seconds), d.get_seconds())
}

/// A `<input type="date">` value (`YYYY-MM-DD`, local) as the RFC 3339
/// instant of that local midnight, `days_later` days on.
pub fn local_date_to_rfc3339(date: &str, days_later: u32) -> Option<String> {
    let mut parts = date.split('-').map(str::parse::<u32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if !(1..=12).contains(&m) {
        return None;
    }
    let day = js_sys::Date::new_with_year_month_day(
        y,
        i32::try_from(m - 1).ok()?,
        i32::try_from(d + days_later).ok()?,
    );
    if day.get_time().is_nan() {
        return None;
    }
    Some(String::from(day.to_iso_string()))
}

/// `(view, depth)` for the institution tree in display order: parents
/// first, children sorted by name, depth counted from the visible roots.
pub fn tree_order(list: &[InstitutionView]) -> Vec<(InstitutionView, usize)> {
    let ids: Vec<_> = list.iter().map(|v| v.institution.id).collect();
    let is_root = |v: &InstitutionView| v.institution.parent_id.is_none_or(|p| !ids.contains(&p));
    let mut out = Vec::with_capacity(list.len());
    let mut stack: Vec<(InstitutionView, usize)> = list
        .iter()
        .filter(|v| is_root(v))
        .rev()
        .map(|v| (v.clone(), 0))
        .collect();
    while let Some((v, depth)) = stack.pop() {
        let mut kids: Vec<&InstitutionView> = list
            .iter()
            .filter(|c| c.institution.parent_id == Some(v.institution.id))
            .collect();
        kids.sort_by(|a, b| {
            a.institution
                .level
                .cmp(&b.institution.level)
                .then_with(|| a.institution.region_code.cmp(&b.institution.region_code))
                .then_with(|| a.institution.name_zh.cmp(&b.institution.name_zh))
        });
        for k in kids.into_iter().rev() {
            stack.push((k.clone(), depth + 1));
        }
        out.push((v, depth));
    }
    out
}

/// Whether `v` is `root` itself or lies below it.
pub fn in_subtree(v: &InstitutionView, root: &Institution) -> bool {
    v.institution.id == root.id || v.ancestors.contains(&root.id)
}

/// `16:31` in the browser's time zone.
pub fn local_hm(unix_seconds: i64) -> String {
    let d = date_of(unix_seconds);
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// A local date (`YYYY-MM-DD`) and time (`HH:MM`) as an RFC 3339 instant
/// in UTC; `None` when either does not parse or names no real moment.
pub fn local_date_time_to_rfc3339(date: &str, time: &str) -> Option<String> {
    let mut d = date.split('-').map(str::parse::<i32>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(day))) = (d.next(), d.next(), d.next()) else {
        return None;
    };
    let mut t = time.split(':').map(str::parse::<i32>);
    let (Some(Ok(h)), Some(Ok(min))) = (t.next(), t.next()) else {
        return None;
    };
    if !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&min)
    {
        return None;
    }
    let when =
        js_sys::Date::new_with_year_month_day_hr_min(u32::try_from(y).ok()?, m - 1, day, h, min);
    if when.get_time().is_nan() || when.get_date() != u32::try_from(day).ok()? {
        return None;
    }
    Some(String::from(when.to_iso_string()))
}

/// `(YYYY-MM-DD, HH:MM)` for a local moment `ms` since the epoch, as
/// `<input type=date>` and `<input type=time>` want them.
pub fn local_inputs(ms: f64) -> (String, String) {
    let d = js_sys::Date::new(&JsValue::from_f64(ms));
    (
        format!(
            "{:04}-{:02}-{:02}",
            d.get_full_year(),
            d.get_month() + 1,
            d.get_date()
        ),
        format!("{:02}:{:02}", d.get_hours(), d.get_minutes()),
    )
}

/// "5 minutes ago" for a moment `unix_seconds`.
pub fn ago(unix_seconds: i64, locale: Locale) -> String {
    // f64 holds every millisecond of the next 285 000 years exactly.
    #[allow(clippy::cast_possible_truncation)]
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let secs = (now - unix_seconds).max(0);
    let (msg, n) = if secs < 60 {
        return Msg::JustNow.text(locale).to_owned();
    } else if secs < 3_600 {
        (Msg::MinutesAgo, secs / 60)
    } else if secs < 86_400 {
        (Msg::HoursAgo, secs / 3_600)
    } else {
        (Msg::DaysAgo, secs / 86_400)
    };
    msg.text(locale).replace("{n}", &n.to_string())
}

/// `1 h 05 min` / `45 min` for a duration in minutes.
pub fn duration_text(minutes: i64, locale: Locale) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    if h == 0 {
        Msg::DurationMinutes
            .text(locale)
            .replace("{m}", &m.to_string())
    } else {
        Msg::DurationHoursMinutes
            .text(locale)
            .replace("{h}", &h.to_string())
            .replace("{m}", &format!("{m:02}"))
    }
}

/// The browser's offset from UTC now, as `UTC+08:00`.
pub fn tz_label() -> String {
    // `getTimezoneOffset` is minutes *behind* UTC (−480 in Beijing).
    #[allow(clippy::cast_possible_truncation)]
    let ahead = -(js_sys::Date::new_0().get_timezone_offset() as i64);
    let sign = if ahead < 0 { '-' } else { '+' };
    let a = ahead.abs();
    format!("UTC{sign}{:02}:{:02}", a / 60, a % 60)
}

/// `2026-11-26 16:31:05` local, for milliseconds since the epoch.
pub fn local_time_ms(ms: u64) -> String {
    local_time_seconds(i64::try_from(ms / 1000).unwrap_or(i64::MAX / 1000))
}

/// A file size for people: `812 B`, `12.4 KB`, `3.1 MB`.
pub fn byte_size(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", f / 1024.0)
    } else {
        format!("{:.1} MB", f / (1024.0 * 1024.0))
    }
}

/// A long hex value shortened for reading (`3f2a91c077…d0b15a`); the full
/// value goes in a title or behind a copy button.
pub fn short_hex(s: &str) -> String {
    let n = s.chars().count();
    if n <= 20 {
        return s.to_owned();
    }
    let head: String = s.chars().take(10).collect();
    let tail: String = s.chars().skip(n - 6).collect();
    format!("{head}…{tail}")
}

/// Hand `text` to the browser as a file download named `name`, through a
/// Blob URL (no second request, the bytes exactly as given).
pub fn save_text_file(name: &str, text: &str, mime: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    let err = |e: JsValue| e.as_string().unwrap_or_else(|| format!("{e:?}"));
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(err)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| "no document".to_owned())?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(err)?
        .dyn_into()
        .map_err(|_| "not an anchor".to_owned())?;
    a.set_href(&url);
    a.set_download(name);
    a.set_hidden(true);
    if let Some(body) = document.body() {
        let _ = body.append_child(&a);
        a.click();
        let _ = body.remove_child(&a);
    } else {
        a.click();
    }
    // Revoke once the browser has taken the download over.
    leptos::leptos_dom::helpers::set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(())
}
