//! The interface's language, not the browser's, chooses the words on the
//! room socket: a person who switched the UI to English on a Chinese
//! browser (`Accept-Language: zh-CN`) gets English error frames and close
//! reasons, whether the app says so on the socket URL (`?lang=en`) or in
//! its `join` frame; an old client that says nothing keeps
//! `Accept-Language`.

use std::time::Duration;

use crate::common::{Backend, Client, TestServer};
use crate::rooms::{Ws, next_json, session};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

/// Open the room socket as `client` from a Chinese browser; `query` is
/// appended to the socket URL as is.
async fn open(base: &str, client: &Client, session: Uuid, query: &str) -> Ws {
    let url = format!(
        "{}/api/v1/sessions/{session}/ws{query}",
        base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().expect("request");
    let headers = req.headers_mut();
    if let Some(c) = &client.cookie {
        headers.insert("cookie", c.parse().expect("header"));
    }
    headers.insert("accept-language", "zh-CN,zh;q=0.9".parse().expect("header"));
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    ws
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// The next error frame's message.
async fn error_message(ws: &mut Ws) -> String {
    loop {
        let f = next_json(ws).await;
        if f["type"] == "error" {
            return f["message"].as_str().expect("message").to_owned();
        }
    }
}

/// The close frame's reason (text frames before it are skipped).
async fn close_reason(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return f.reason.as_str().to_owned(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_english_ui_on_a_chinese_browser_gets_english_on_the_socket() {
    let Some(server) = TestServer::start_seeded(Backend::Sqlite).await else {
        return;
    };
    let expert = server.login("expert").await;
    let id = session(&server, &expert).await;

    // The join frame names the language: errors after it are English.
    let mut ws = open(&server.base, &expert, id, "").await;
    send(
        &mut ws,
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "lang": "en"}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    ws.send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    assert_eq!(
        error_message(&mut ws).await,
        "Only JSON text frames are accepted."
    );
    send(
        &mut ws,
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION}),
    )
    .await;
    assert_eq!(
        error_message(&mut ws).await,
        "Already joined; join is only the first frame."
    );
    drop(ws);

    // The socket URL names it: even the refusal of the join (error frame
    // and close reason) is English.
    let mut ws = open(&server.base, &expert, id, "?lang=en").await;
    send(&mut ws, json!({"type": "join", "protocol": 99})).await;
    assert_eq!(
        error_message(&mut ws).await,
        "Unsupported protocol version; reload the page."
    );
    assert_eq!(close_reason(&mut ws).await, "unsupported protocol version");

    // The join frame's language wins over the URL's.
    let mut ws = open(&server.base, &expert, id, "?lang=zh-CN").await;
    send(
        &mut ws,
        json!({"type": "join", "protocol": 99, "lang": "en-GB"}),
    )
    .await;
    assert_eq!(
        error_message(&mut ws).await,
        "Unsupported protocol version; reload the page."
    );
    assert_eq!(close_reason(&mut ws).await, "unsupported protocol version");

    // An old client (an app cached before protocol 2, which would miss
    // readings of merged events) that names nothing is refused and keeps
    // Accept-Language (Chinese).
    let mut ws = open(&server.base, &expert, id, "").await;
    send(&mut ws, json!({"type": "join", "protocol": 1})).await;
    assert_eq!(
        error_message(&mut ws).await,
        "不支持的协议版本，请刷新页面。"
    );
    assert_eq!(close_reason(&mut ws).await, "不支持的协议版本");

    // A language we do not speak changes nothing.
    let mut ws = open(&server.base, &expert, id, "?lang=fr").await;
    send(
        &mut ws,
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "lang": "fr"}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    send(
        &mut ws,
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION}),
    )
    .await;
    assert_eq!(error_message(&mut ws).await, "已经加入此会话。");
    drop(ws);

    server.stop().await;
}

#[tokio::test]
async fn the_lang_parameter_chooses_http_error_messages_too() {
    let Some(server) = TestServer::start_seeded(Backend::Sqlite).await else {
        return;
    };
    let anon = Client::new(&server.base);
    for (query, want_english) in [("?lang=en", true), ("", false)] {
        let res = anon
            .http
            .get(server.url(&format!("/api/v1/auth/me{query}")))
            .header("accept-language", "zh-CN")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.expect("json");
        let message = body["message"].as_str().expect("message");
        assert_eq!(
            message.is_ascii(),
            want_english,
            "{query:?} gave {message:?}"
        );
    }
    server.stop().await;
}
