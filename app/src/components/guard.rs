//! Pages that need a logged-in person.
//!
//! While the first `GET /auth/me` is out, a loading note; without a
//! session, a redirect to `/login?next=<here>` so the person comes back
//! to the same place after logging in.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};

use crate::api::encode;
use crate::components::states::Loading;
use crate::session::use_session;

/// `/login?next=<current path and query>`.
pub fn login_url(location: &leptos_router::location::Location) -> String {
    let path = location.pathname.get_untracked();
    let search = location.search.get_untracked();
    let search = search.trim_start_matches('?');
    let here = if search.is_empty() {
        path
    } else {
        format!("{path}?{search}")
    };
    if here == "/" || here.starts_with("/login") {
        "/login".to_owned()
    } else {
        format!("/login?next={}", encode(&here))
    }
}

#[component]
pub fn RequireLogin(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let location = use_location();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if session.checked() && !session.logged_in() && !session.signed_out_untracked() {
            navigate(
                &login_url(&location),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    move || {
        if session.logged_in() {
            children().into_any()
        } else {
            view! { <Loading/> }.into_any()
        }
    }
}
