//! The signaling socket: authenticated at the upgrade; bad messages get an
//! error message, not a dropped socket.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::both_backends;
use crate::common::*;

both_backends!(socket_authenticates_and_survives_bad_messages);

async fn next_json(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        match ws.next().await.expect("socket open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn socket_authenticates_and_survives_bad_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let created = schedule(&app, &w, 10).await;
    let token = created["join_link"]["token"].as_str().unwrap();
    let ws_url = app.base.replace("http://", "ws://") + "/ws";

    // No credentials: refused at the upgrade with the JSON error.
    let res = app
        .client()
        .get(app.url("/ws"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert!(
        tokio_tungstenite::connect_async(format!("{ws_url}?join={}", "B".repeat(43)))
            .await
            .is_err()
    );

    // A patient with their join token, but only after consent.
    let no_consent = tokio_tungstenite::connect_async(format!("{ws_url}?join={token}")).await;
    match no_consent {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 409),
        other => panic!("socket opened without consent: {:?}", other.map(|_| ())),
    }
    give_consent(&app, token).await;
    let (mut patient, _) = tokio_tungstenite::connect_async(format!("{ws_url}?join={token}"))
        .await
        .unwrap();
    let hello = next_json(&mut patient).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["version"], 1);
    assert_eq!(hello["peer"]["kind"], "patient");

    // Staff with the session cookie their login set.
    let login = app
        .client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "enfermera@clinica.mx", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut req = ws_url.clone().into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut staff, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next_json(&mut staff).await["peer"]["role"], "staff");

    for garbage in ["{not json", "{\"type\": \"launch-missiles\"}", "[]"] {
        staff.send(Message::Text(garbage.into())).await.unwrap();
        let reply = next_json(&mut staff).await;
        assert_eq!(reply["type"], "error", "{garbage} -> {reply}");
    }
    staff.send(Message::Binary(vec![0xff, 0x00].into())).await.unwrap();
    assert_eq!(next_json(&mut staff).await["type"], "error");
    // Still open after all that.
    staff.send(Message::Text("{}".into())).await.unwrap();
    assert_eq!(next_json(&mut staff).await["type"], "error");
}
