//! ICE servers and TURN credentials: what a participant's snapshot carries
//! (STUN URLs, TURN URLs with a credential of coturn's REST-API scheme for
//! that person, the transport policy), the renewals before it expires, and
//! that nobody else gets any. The credential against a real coturn is
//! proven by the browser test `tests/e2e/media_relay.test.mjs`.

use std::time::Duration;

use crate::common::cli::{jiliang, one_line};
use crate::common::{Backend, TestDb, TestServer};
use crate::rooms::{connect_raw, join, next_json, session};
use jiliang_protocol::rooms::IceTransportPolicy;
use jiliang_server::media::ice::{IceSettings, IceUrl, turn_password};
use serde_json::{Value, json};

const SECRET: &str = "it-secret-5f1c0d";

async fn server_with_turn(ttl: Duration) -> TestServer {
    let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let server = TestServer::start_configured(db, |c| {
        c.ice = IceSettings {
            servers: vec![
                IceUrl::parse("stun:stun.example.cn:3478").expect("url"),
                IceUrl::parse("turn:127.0.0.1:3478?transport=udp").expect("url"),
            ],
            turn_secret: Some(jiliang_server::config::Secret(SECRET.into())),
            ttl,
            policy: IceTransportPolicy::Relay,
        };
    })
    .await;
    jiliang_server::demo::seed(&server.state.store)
        .await
        .expect("seed demo");
    server
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Check `ice` is what `user` should get with a credential valid for about
/// `ttl_s` from now; returns the credential's expiry.
fn check_ice(ice: &Value, user: &str, ttl_s: u64) -> u64 {
    assert_eq!(ice["ice_transport_policy"], "relay", "{ice}");
    let servers = ice["ice_servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 2, "{ice}");
    assert_eq!(servers[0], json!({"urls": ["stun:stun.example.cn:3478"]}));
    assert_eq!(
        servers[1]["urls"],
        json!(["turn:127.0.0.1:3478?transport=udp"])
    );
    let username = servers[1]["username"].as_str().expect("username");
    let (expiry, who) = username.split_once(':').expect("EXPIRY:user");
    assert_eq!(who, user, "the credential names the participant");
    let expiry: u64 = expiry.parse().expect("unix time");
    let now = now_s();
    assert!(
        expiry > now && expiry <= now + ttl_s + 1,
        "expiry {expiry} not within {ttl_s} s of {now}"
    );
    assert_eq!(
        servers[1]["credential"].as_str(),
        Some(turn_password(SECRET.as_bytes(), username).as_str()),
        "base64(HMAC-SHA1(secret, username))"
    );
    assert!(
        !ice.to_string().contains(SECRET),
        "the secret itself is never sent"
    );
    expiry
}

#[tokio::test]
async fn participants_get_turn_credentials_and_renewals() {
    let server = server_with_turn(Duration::from_secs(2)).await;
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let tech_id = server.user_id("tech").await.to_string();

    let (mut ws, snap) = join(&server.base, &tech, id, 0).await;
    let first = check_ice(&snap["ice"], &tech_id, 2);

    // Renewed at half the lifetime while the socket stays open.
    let renewal = loop {
        let f = next_json(&mut ws).await;
        if f["type"] == "media_ice" {
            break f;
        }
    };
    let second = check_ice(&renewal, &tech_id, 2);
    assert!(second >= first, "a renewal is not older");

    // Someone who does not take part gets no socket, so no credentials.
    let outsider = server.login("gangu.tech").await;
    assert!(matches!(
        connect_raw(&server.base, &outsider, id).await,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 403
    ));
    server.stop().await;
}

#[tokio::test]
async fn without_ice_servers_the_snapshot_says_host_candidates_only() {
    let Some(server) = TestServer::start_seeded(Backend::Sqlite).await else {
        return;
    };
    let expert = server.login("expert").await;
    let id = session(&server, &expert).await;
    let (_ws, snap) = join(&server.base, &expert, id, 0).await;
    assert_eq!(
        snap["ice"],
        json!({"ice_servers": [], "ice_transport_policy": "all"})
    );
    server.stop().await;
}

#[test]
fn settings_that_would_break_every_call_stop_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("j.db").display());
    let o = jiliang(&[
        "serve",
        "--database-url",
        &url,
        "--ice-servers",
        "turn:127.0.0.1:3478",
    ]);
    one_line(&o, 1, &["--turn-secret"]);
    let o = jiliang(&[
        "serve",
        "--database-url",
        &url,
        "--ice-servers",
        "stun:127.0.0.1:3478",
        "--ice-transport-policy",
        "relay",
    ]);
    one_line(&o, 1, &["relay"]);
    let o = jiliang(&["serve", "--database-url", &url, "--ice-servers", "http://x"]);
    one_line(&o, 2, &["--ice-servers"]);
}
