//! `/login`: username, e-mail or phone number and password.
//!
//! The server's message is shown as it comes (wrong password, deactivated
//! account, "try again in N s"); it is already in the person's language.
//! After login the person goes to `?next=` (a path inside the app) or home.

use jiliang_protocol::accounts::{LoginRequest, Me};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{V1, use_api};
use crate::components::forms::{Errors, FormAlert, SubmitButton, TextField};
use crate::i18n::{Msg, use_i18n};
use crate::session::{safe_next, use_session};

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let api = use_api();
    let query = use_query_map();
    let navigate = use_navigate();
    let login = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let errors: Errors = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let next = move || safe_next(query.with_untracked(|q| q.get("next")));
    // Notices are decided once, when the page opens: a session that ended
    // elsewhere, or a deliberate logout.
    let ended = session.ended();
    let logged_out = query.with_untracked(|q| q.get("out").is_some());
    session.ack_signed_out();

    // Someone already logged in has nothing to do here.
    let nav = navigate.clone();
    Effect::new(move |_| {
        if session.logged_in() {
            nav(
                &next(),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let body = LoginRequest {
            login: login.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        busy.set(true);
        errors.set(None);
        spawn_local(async move {
            let r = api.post::<_, Me>(&format!("{V1}/auth/login"), &body).await;
            busy.set(false);
            match r {
                // The effect above navigates once the session is set.
                // Answers cached for whoever used this browser before go.
                Ok(me) => {
                    crate::offline::forget_cached_data();
                    session.set_me(me);
                }
                Err(e) => {
                    password.set(String::new());
                    errors.set(Some(e));
                }
            }
        });
    };

    view! {
        <section class="narrow">
            <h1>{move || i18n.t(Msg::LoginTitle)}</h1>
            {ended.then(|| view! {
                <p class="notice warn" role="status" data-testid="session-ended">{move || i18n.t(Msg::SessionEnded)}</p>
            })}
            {(logged_out && !ended).then(|| view! {
                <p class="notice" role="status" data-testid="logged-out">{move || i18n.t(Msg::LoggedOut)}</p>
            })}
            <form class="card form" on:submit=submit data-testid="login-form" novalidate>
                <FormAlert errors=errors fields=&[]/>
                <TextField label=Msg::FieldLogin value=login errors=errors field="login"
                    autocomplete="username" required=true testid="login-name"/>
                <TextField label=Msg::FieldPassword value=password errors=errors field="password"
                    input_type="password" autocomplete="current-password" required=true testid="login-password"/>
                <SubmitButton label=Msg::Login busy=busy testid="login-submit"/>
            </form>
            <p class="muted small">{move || i18n.t(Msg::ForgotPassword)}</p>
        </section>
    }
}
