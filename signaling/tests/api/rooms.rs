//! The room protocol over real sockets: waiting room, admission, chat, mute,
//! end, who may do what, and departures. Every wait has a timeout as a
//! safety net; nothing sleeps to synchronise.

use std::time::Duration;

use crate::common::media::MediaKind;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use signaling::auth::Role;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both_backends;
use crate::common::media::Client;
use crate::common::*;

both_backends!(
    waiting_room_admission_chat_and_end,
    only_the_consults_staff_admit_and_join,
    a_closed_socket_leaves_the_room,
    an_offer_gets_the_relays_answer,
    stopping_the_server_closes_sockets_and_the_relay,
    a_silent_socket_is_closed,
    a_dropped_socket_is_resumed_within_the_grace_period,
);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PATIENCE: Duration = Duration::from_secs(10);

/// The next JSON message (pings, pongs and the periodic `quality` reports
/// skipped: they arrive on their own clock; [`next_quality`] reads them).
async fn next(ws: &mut Ws) -> Value {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let msg = next_any(ws).await;
            if msg["type"] != "quality" {
                return msg;
            }
        }
    })
    .await
    .expect("a message within the timeout")
}

async fn next_any(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("socket open").expect("frame") {
            Message::Text(t) => return serde_json::from_str::<Value>(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next `quality` report for which `pred` holds (others skipped).
async fn next_quality(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let msg = next_any(ws).await;
            if msg["type"] == "quality" && pred(&msg) {
                return msg;
            }
        }
    })
    .await
    .expect("a quality report within the timeout")
}

/// The next message, which must be of type `ty`.
async fn expect_type(ws: &mut Ws, ty: &str) -> Value {
    let msg = next(ws).await;
    assert_eq!(msg["type"], ty, "expected {ty}, got {msg}");
    msg
}

/// The next message, which must be an `error` with `code`.
async fn expect_code(ws: &mut Ws, code: &str) {
    let msg = expect_type(ws, "error").await;
    assert_eq!(msg["code"], code, "{msg}");
    assert!(msg["message"].is_string(), "{msg}");
}

async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into())).await.unwrap();
}

fn ws_url(app: &TestApp) -> String {
    app.base.replace("http://", "ws://") + "/ws"
}

/// A staff member's or specialist's socket, greeted.
async fn staff_socket(app: &TestApp, email: &str) -> Ws {
    let login = app
        .client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut req = ws_url(app).into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    expect_type(&mut ws, "hello").await;
    ws
}

/// The patient's socket (consent given first), greeted.
async fn patient_socket(app: &TestApp, token: &str) -> Ws {
    patient_socket_and_hello(app, token).await.0
}

/// The patient's socket and its `hello` (participant id, resume token).
async fn patient_socket_and_hello(app: &TestApp, token: &str) -> (Ws, Value) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}?join={token}", ws_url(app)))
        .await
        .unwrap();
    let hello = expect_type(&mut ws, "hello").await;
    (ws, hello)
}

/// The specialist, then the clinic nurse, join the consult's room; the
/// specialist sees the nurse arrive. Returns both sockets and the nurse's id.
async fn doctor_and_nurse_in_room(app: &TestApp, consult: i64) -> (Ws, Ws, Value) {
    let mut doctor = staff_socket(app, "especialista@cerca.mx").await;
    send(&mut doctor, json!({"type": "join", "consult_id": consult})).await;
    expect_type(&mut doctor, "joined").await;
    let mut nurse = staff_socket(app, "enfermera@clinica.mx").await;
    send(&mut nurse, json!({"type": "join", "consult_id": consult})).await;
    let nurse_id = expect_type(&mut nurse, "joined").await["participant_id"].clone();
    expect_type(&mut doctor, "participant-joined").await;
    (doctor, nurse, nurse_id)
}

/// A consult starting now, with the patient's consent given; (id, token).
async fn consult_with_consent(app: &TestApp, w: &World) -> (i64, String) {
    let created = schedule(app, w, 5).await;
    let token = created["join_link"]["token"].as_str().unwrap().to_string();
    give_consent(app, &token).await;
    (created["consult"]["id"].as_i64().unwrap(), token)
}

async fn status(app: &TestApp, consult_id: i64) -> Option<String> {
    app.scalar_text(&format!("SELECT status FROM consults WHERE id = {consult_id}"))
        .await
}

async fn waiting_room_admission_chat_and_end(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let (consult, token) = consult_with_consent(&app, &w).await;

    let mut doctor = staff_socket(&app, "especialista@cerca.mx").await;
    send(&mut doctor, json!({"type": "join", "consult_id": consult})).await;
    let joined = expect_type(&mut doctor, "joined").await;
    assert_eq!(joined["participants"], json!([]));
    let doctor_id = joined["participant_id"].as_str().unwrap().to_string();
    assert!(doctor_id.starts_with('p'));

    let mut patient = patient_socket(&app, &token).await;
    // Not in the waiting room yet: nowhere to keep it.
    send(&mut patient, json!({"type": "network", "rtt_ms": 640})).await;
    expect_code(&mut patient, "not_in_room").await;
    send(&mut patient, json!({"type": "join"})).await;
    expect_type(&mut patient, "waiting").await;
    assert_eq!(status(&app, consult).await.as_deref(), Some("waiting"));
    let alert = expect_type(&mut doctor, "patient-waiting").await;
    assert_eq!(alert["consult_id"], consult);
    assert_eq!(alert["patient_name"], "María José");
    // The round trip the patient's network check measured; one no network
    // has is refused and changes nothing.
    send(&mut patient, json!({"type": "network", "rtt_ms": 640})).await;
    send(&mut patient, json!({"type": "network", "rtt_ms": -5})).await;
    expect_code(&mut patient, "malformed").await;

    // Waiting is not being in the call.
    send(&mut patient, json!({"type": "offer", "sdp": "v=0"})).await;
    expect_code(&mut patient, "not_allowed").await;
    send(&mut patient, json!({"type": "chat", "text": "¿hola?"})).await;
    expect_code(&mut patient, "not_allowed").await;
    send(&mut patient, json!({"type": "admit"})).await;
    expect_code(&mut patient, "not_allowed").await;

    send(&mut doctor, json!({"type": "admit"})).await;
    let admitted = expect_type(&mut patient, "admitted").await;
    let patient_id = admitted["participant_id"].as_str().unwrap().to_string();
    let met = expect_type(&mut patient, "participant-joined").await;
    assert_eq!(met["participant"]["participant_id"], doctor_id.as_str());
    assert_eq!(met["participant"]["role"], "specialist");
    assert_eq!(met["participant"]["display_name"], "Dr(a). especialista");
    let arrived = expect_type(&mut doctor, "participant-joined").await;
    assert_eq!(
        arrived["participant"],
        json!({"participant_id": patient_id, "role": "patient", "display_name": "María José", "audio": true, "video": true,
            "link_rtt_ms": 640})
    );
    assert_eq!(status(&app, consult).await.as_deref(), Some("in_call"));

    // Chat both ways, to both sides, stored and audited.
    send(&mut patient, json!({"type": "chat", "text": "Buenos días, doctora"})).await;
    for ws in [&mut patient, &mut doctor] {
        let line = expect_type(ws, "chat").await;
        assert_eq!(line["from"], patient_id.as_str());
        assert_eq!(line["display_name"], "María José");
        assert_eq!(line["text"], "Buenos días, doctora");
        assert!(chrono::DateTime::parse_from_rfc3339(line["at"].as_str().unwrap()).is_ok());
    }
    send(
        &mut doctor,
        json!({"type": "chat", "text": "Buenos días.\n¿Cómo sigue?"}),
    )
    .await;
    for ws in [&mut patient, &mut doctor] {
        let line = expect_type(ws, "chat").await;
        assert_eq!(line["from"], doctor_id.as_str());
        assert_eq!(line["text"], "Buenos días.\n¿Cómo sigue?");
    }
    send(&mut doctor, json!({"type": "chat", "text": "bell\u{7}"})).await;
    expect_code(&mut doctor, "malformed").await;
    send(&mut doctor, json!({"type": "chat", "text": "x".repeat(2001)})).await;
    expect_code(&mut doctor, "malformed").await;
    let sql = format!("SELECT COUNT(*) FROM chat_messages WHERE consult_id = {consult}");
    assert_eq!(app.scalar_i64(&sql).await, 2);
    let sql = format!(
        "SELECT COUNT(*) FROM chat_messages WHERE consult_id = {consult} AND sender_kind = 'patient' \
         AND sender_patient_id = {} AND display_name = 'María José'",
        w.patient_id
    );
    assert_eq!(app.scalar_i64(&sql).await, 1);
    let sql = format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'chat.send' AND patient_id = {}",
        w.patient_id
    );
    assert_eq!(app.scalar_i64(&sql).await, 2);

    send(&mut patient, json!({"type": "mute", "audio": false, "video": true})).await;
    let update = expect_type(&mut doctor, "participant-updated").await;
    assert_eq!(update["participant"]["participant_id"], patient_id.as_str());
    assert_eq!(update["participant"]["audio"], false);
    assert_eq!(update["participant"]["video"], true);

    // The patient cannot end it; the specialist can.
    send(&mut patient, json!({"type": "end"})).await;
    expect_code(&mut patient, "not_allowed").await;
    send(&mut doctor, json!({"type": "end"})).await;
    expect_type(&mut doctor, "ended").await;
    expect_type(&mut patient, "ended").await;
    assert_eq!(status(&app, consult).await.as_deref(), Some("completed"));
    // Out of the room now, and the socket still answers.
    send(&mut doctor, json!({"type": "chat", "text": "¿sigue ahí?"})).await;
    expect_code(&mut doctor, "not_in_room").await;
}

async fn only_the_consults_staff_admit_and_join(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let (consult, token) = consult_with_consent(&app, &w).await;
    app.create_clinic("CSSSA009999").await;
    app.create_user("otra@clinica.mx", Role::Staff, Some("CSSSA009999"))
        .await;

    // Another clinic's staff: no such consult for them.
    let mut other = staff_socket(&app, "otra@clinica.mx").await;
    send(&mut other, json!({"type": "join", "consult_id": consult})).await;
    expect_code(&mut other, "not_allowed").await;
    send(&mut other, json!({"type": "admit"})).await;
    expect_code(&mut other, "not_in_room").await;

    // Garbage gets errors; the socket stays usable.
    let mut nurse = staff_socket(&app, "enfermera@clinica.mx").await;
    for (garbage, code) in [
        ("{not json", "malformed"),
        ("[]", "malformed"),
        ("{\"type\": \"launch-missiles\"}", "unknown_type"),
        ("{\"type\": \"join\"}", "malformed"),
        ("{\"type\": \"join\", \"consult_id\": \"12\"}", "malformed"),
        ("{\"type\": \"mute\", \"audio\": true}", "malformed"),
    ] {
        nurse.send(Message::Text(garbage.into())).await.unwrap();
        expect_code(&mut nurse, code).await;
    }
    nurse.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    expect_code(&mut nurse, "malformed").await;
    send(&mut nurse, json!({"type": "offer", "sdp": "v=0"})).await;
    expect_code(&mut nurse, "not_in_room").await;
    send(&mut nurse, json!({"type": "admit"})).await;
    expect_code(&mut nurse, "not_in_room").await;
    send(&mut nurse, json!({"type": "join", "consult_id": consult})).await;
    expect_type(&mut nurse, "joined").await;
    send(&mut nurse, json!({"type": "join", "consult_id": consult})).await;
    expect_code(&mut nurse, "not_allowed").await;
    // Nobody waits yet.
    send(&mut nurse, json!({"type": "admit"})).await;
    expect_code(&mut nurse, "not_allowed").await;

    // The specialist's socket outside the room hears of the patient too.
    let mut doctor = staff_socket(&app, "especialista@cerca.mx").await;
    let mut patient = patient_socket(&app, &token).await;
    send(&mut patient, json!({"type": "join", "consult_id": consult + 1})).await;
    expect_code(&mut patient, "not_allowed").await;
    send(&mut patient, json!({"type": "join"})).await;
    expect_type(&mut patient, "waiting").await;
    expect_type(&mut nurse, "patient-waiting").await;
    assert_eq!(expect_type(&mut doctor, "patient-waiting").await["consult_id"], consult);
    send(&mut patient, json!({"type": "admit"})).await;
    expect_code(&mut patient, "not_allowed").await;
    send(&mut patient, json!({"type": "join"})).await;
    expect_code(&mut patient, "not_allowed").await;

    // A specialist who joins while the patient waits is told at once.
    send(&mut doctor, json!({"type": "join", "consult_id": consult})).await;
    let joined = expect_type(&mut doctor, "joined").await;
    assert_eq!(joined["participants"][0]["role"], "staff");
    assert_eq!(
        expect_type(&mut doctor, "patient-waiting").await["patient_name"],
        "María José"
    );
    expect_type(&mut nurse, "participant-joined").await;

    // Ending before the call started is an illegal transition.
    send(&mut nurse, json!({"type": "end"})).await;
    expect_code(&mut nurse, "illegal_transition").await;
    // Staff of the clinic may admit.
    send(&mut nurse, json!({"type": "admit"})).await;
    expect_type(&mut patient, "admitted").await;
    assert_eq!(status(&app, consult).await.as_deref(), Some("in_call"));
    // The other clinic still cannot get in.
    send(&mut other, json!({"type": "join", "consult_id": consult})).await;
    expect_code(&mut other, "not_allowed").await;
}

async fn a_closed_socket_leaves_the_room(backend: Backend) {
    // A dropped call socket waits this long for a `resume` before it leaves.
    let app = TestApp::spawn_with(backend, |c| c.ws_resume_grace = Duration::from_millis(300)).await;
    let w = world(&app).await;
    let (consult, token) = consult_with_consent(&app, &w).await;
    let (mut doctor, mut nurse, nurse_id) = doctor_and_nurse_in_room(&app, consult).await;
    nurse.close(None).await.unwrap();
    let left = expect_type(&mut doctor, "participant-left").await;
    assert_eq!(left["participant_id"], nurse_id);

    let mut patient = patient_socket(&app, &token).await;
    send(&mut patient, json!({"type": "join"})).await;
    expect_type(&mut patient, "waiting").await;
    expect_type(&mut doctor, "patient-waiting").await;
    send(&mut doctor, json!({"type": "admit"})).await;
    let patient_id = expect_type(&mut patient, "admitted").await["participant_id"].clone();
    expect_type(&mut doctor, "participant-joined").await;
    // Dropped without a close frame, as a lost phone connection would: once
    // the grace period passes unresumed, the patient has left.
    drop(patient);
    let left = expect_type(&mut doctor, "participant-left").await;
    assert_eq!(left["participant_id"], patient_id);

    // The patient comes back: waiting again, re-admitted into the same call.
    let mut patient = patient_socket(&app, &token).await;
    send(&mut patient, json!({"type": "join"})).await;
    expect_type(&mut patient, "waiting").await;
    expect_type(&mut doctor, "patient-waiting").await;
    send(&mut doctor, json!({"type": "admit"})).await;
    expect_type(&mut patient, "admitted").await;
    assert_eq!(status(&app, consult).await.as_deref(), Some("in_call"));
    // `leave` works like a close.
    send(&mut patient, json!({"type": "leave"})).await;
    expect_type(&mut doctor, "participant-joined").await;
    expect_type(&mut doctor, "participant-left").await;
}

/// A free UDP port for the relay, so the test knows what it must announce.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn an_offer_gets_the_relays_answer(backend: Backend) {
    let port = free_udp_port();
    let app = TestApp::spawn_with(backend, |c| c.media_addr = format!("127.0.0.1:{port}").parse().unwrap()).await;
    let w = world(&app).await;
    let (consult, token) = consult_with_consent(&app, &w).await;
    let mut doctor = staff_socket(&app, "especialista@cerca.mx").await;
    send(&mut doctor, json!({"type": "join", "consult_id": consult})).await;
    let doctor_id = expect_type(&mut doctor, "joined").await["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    send(&mut doctor, json!({"type": "offer", "sdp": "not an sdp"})).await;
    expect_code(&mut doctor, "bad_sdp").await;
    send(&mut doctor, json!({"type": "answer", "sdp": "v=0"})).await;
    expect_code(&mut doctor, "bad_sdp").await;

    let doctor_peer = Client::start("doctor", 1).await;
    send(&mut doctor, json!({"type": "offer", "sdp": doctor_peer.create_offer()})).await;
    let answer = expect_type(&mut doctor, "answer").await;
    let sdp = answer["sdp"].as_str().unwrap();
    assert!(sdp.contains("a=ice-lite"), "{sdp}");
    assert!(
        sdp.lines()
            .any(|l| l.starts_with("a=candidate:") && l.contains(&format!("127.0.0.1 {port} typ host"))),
        "{sdp}"
    );
    doctor_peer.accept_answer(sdp);

    // The patient's tracks reach the doctor through a re-offer whose stream
    // id names the patient's participant id, and the other way round; then
    // media flows both ways through the relay.
    let mut patient = patient_socket(&app, &token).await;
    send(&mut patient, json!({"type": "join"})).await;
    expect_type(&mut patient, "waiting").await;
    expect_type(&mut doctor, "patient-waiting").await;
    send(&mut doctor, json!({"type": "admit"})).await;
    let patient_id = expect_type(&mut patient, "admitted").await["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    expect_type(&mut patient, "participant-joined").await;
    expect_type(&mut doctor, "participant-joined").await;
    let patient_peer = Client::start("patient", 2).await;
    send(
        &mut patient,
        json!({"type": "offer", "sdp": patient_peer.create_offer()}),
    )
    .await;
    let answer = expect_type(&mut patient, "answer").await;
    patient_peer.accept_answer(answer["sdp"].as_str().unwrap());

    for (ws, peer, publisher) in [
        (&mut doctor, &doctor_peer, &patient_id),
        (&mut patient, &patient_peer, &doctor_id),
    ] {
        let reoffer = expect_type(ws, "offer").await;
        let sdp = reoffer["sdp"].as_str().unwrap();
        assert!(sdp.contains(&format!("a=msid:{publisher} ")), "{sdp}");
        send(ws, json!({"type": "answer", "sdp": peer.accept_offer(sdp)})).await;
    }
    doctor_peer
        .wait_for("the patient's audio and video", |r| {
            r.count(2, MediaKind::Audio) > 0 && r.count(2, MediaKind::Video) > 0
        })
        .await;
    patient_peer
        .wait_for("the doctor's audio and video", |r| {
            r.count(1, MediaKind::Audio) > 0 && r.count(1, MediaKind::Video) > 0
        })
        .await;

    // The relay reports each side's link over the socket: media coming in,
    // and the patient's video at a layer (not paused).
    let report = next_quality(&mut doctor, |q| {
        q["bitrate_in"].as_u64() > Some(0) && q["video"][0]["layer"].is_u64() && q["video"][0]["sender_rtt_ms"].is_u64()
    })
    .await;
    assert_eq!(report["video"][0]["participant_id"], patient_id.as_str(), "{report}");
    assert!(report["bitrate_out"].as_u64() > Some(0), "{report}");

    // /metrics shows both participants of this consult, to a local scraper only.
    let metrics = app.client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    for pid in [&doctor_id, &patient_id] {
        let line = format!("cerca_participant_bitrate_in_bps{{consult=\"{consult}\",participant=\"{pid}\"}}");
        assert!(text.contains(&line), "{line} missing from\n{text}");
    }
    assert!(text.contains("cerca_relay_participants 2\n"), "{text}");
    let proxied = app
        .client()
        .get(app.url("/metrics"))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    expect_error(proxied, StatusCode::NOT_FOUND, "not_found").await;

    // When the call ends, each participant's link summary is kept with the consult.
    send(&mut doctor, json!({"type": "end"})).await;
    expect_type(&mut doctor, "ended").await;
    let sql = format!("SELECT COUNT(*) FROM call_quality WHERE consult_id = {consult}");
    tokio::time::timeout(PATIENCE, async {
        // Written by the quality task on its next round after the room empties.
        while app.scalar_i64(&sql).await < 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("call quality summaries stored");
    let roles = app
        .scalar_text(&format!(
            "SELECT MIN(role) || ',' || MAX(role) FROM call_quality WHERE consult_id = {consult}"
        ))
        .await;
    assert_eq!(roles.as_deref(), Some("patient,specialist"));
    let in_rate = app
        .scalar_i64(&format!(
            "SELECT MIN(avg_bitrate_in_bps) FROM call_quality WHERE consult_id = {consult}"
        ))
        .await;
    assert!(in_rate > 0, "{in_rate}");
}

async fn stopping_the_server_closes_sockets_and_the_relay(backend: Backend) {
    let port = free_udp_port();
    let app = TestApp::spawn_with(backend, |c| c.media_addr = format!("127.0.0.1:{port}").parse().unwrap()).await;
    let w = world(&app).await;
    let (consult, _) = consult_with_consent(&app, &w).await;
    let mut doctor = staff_socket(&app, "especialista@cerca.mx").await;
    send(&mut doctor, json!({"type": "join", "consult_id": consult})).await;
    expect_type(&mut doctor, "joined").await;
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(),
        "the relay holds its port"
    );

    tokio::time::timeout(PATIENCE, app.stop())
        .await
        .expect("the server stops");
    let frame = tokio::time::timeout(PATIENCE, async {
        loop {
            match doctor.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("a close within the timeout");
    match frame {
        Some(Ok(Message::Close(Some(close)))) => assert_eq!(u16::from(close.code), 1001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The relay's task ends once the last handle is gone, freeing its port.
    // Nothing outside can observe that moment, so poll (bounded) for it.
    tokio::time::timeout(PATIENCE, async {
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the relay released its port");
}

async fn a_silent_socket_is_closed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.ws_ping_every = Duration::from_millis(200);
        c.ws_idle_limit = Duration::from_millis(1500);
        c.ws_resume_grace = Duration::from_millis(300);
    })
    .await;
    let w = world(&app).await;
    let (consult, _) = consult_with_consent(&app, &w).await;
    let (mut doctor, mut nurse, nurse_id) = doctor_and_nurse_in_room(&app, consult).await;

    // The nurse's socket stops reading, so it answers no pings; the doctor's
    // keeps reading (its client answers pings) and outlives it.
    let left = expect_type(&mut doctor, "participant-left").await;
    assert_eq!(left["participant_id"], nurse_id);
    let frame = tokio::time::timeout(PATIENCE, async {
        loop {
            match nurse.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("a close within the timeout");
    // A close frame, or (the client flushing its late pongs) a broken pipe.
    assert!(
        matches!(frame, Some(Ok(Message::Close(_)) | Err(_)) | None),
        "{frame:?}"
    );
    // The doctor is still in the call.
    send(&mut doctor, json!({"type": "chat", "text": "¿Sigue ahí?"})).await;
    expect_type(&mut doctor, "chat").await;
}

async fn a_dropped_socket_is_resumed_within_the_grace_period(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let (consult, token) = consult_with_consent(&app, &w).await;
    let mut doctor = staff_socket(&app, "especialista@cerca.mx").await;
    send(&mut doctor, json!({"type": "join", "consult_id": consult})).await;
    let doctor_id = expect_type(&mut doctor, "joined").await["participant_id"].clone();
    let (mut patient, hello) = patient_socket_and_hello(&app, &token).await;
    let resume_token = hello["resume_token"].as_str().unwrap().to_string();
    send(&mut patient, json!({"type": "join"})).await;
    expect_type(&mut patient, "waiting").await;
    expect_type(&mut doctor, "patient-waiting").await;
    send(&mut doctor, json!({"type": "admit"})).await;
    let patient_id = expect_type(&mut patient, "admitted").await["participant_id"].clone();
    assert_eq!(patient_id, hello["participant_id"]);
    expect_type(&mut doctor, "participant-joined").await;

    // The phone's connection breaks (no close frame).
    drop(patient);

    // Someone else, or a wrong token, cannot take the place over.
    let mut nurse = staff_socket(&app, "enfermera@clinica.mx").await;
    send(
        &mut nurse,
        json!({"type": "resume", "participant_id": patient_id, "token": resume_token}),
    )
    .await;
    expect_code(&mut nurse, "not_allowed").await;
    let (mut back, _) = patient_socket_and_hello(&app, &token).await;
    let wrong = "A".repeat(43);
    send(
        &mut back,
        json!({"type": "resume", "participant_id": patient_id, "token": wrong}),
    )
    .await;
    expect_code(&mut back, "not_allowed").await;
    send(
        &mut back,
        json!({"type": "resume", "participant_id": patient_id, "token": "short"}),
    )
    .await;
    expect_code(&mut back, "malformed").await;

    // The patient comes back within the grace period: same id, still in the
    // call, no waiting room, no re-admission.
    send(
        &mut back,
        json!({"type": "resume", "participant_id": patient_id, "token": resume_token}),
    )
    .await;
    let resumed = expect_type(&mut back, "resumed").await;
    assert_eq!(resumed["participant_id"], patient_id);
    assert_eq!(resumed["participants"][0]["participant_id"], doctor_id);
    assert_eq!(status(&app, consult).await.as_deref(), Some("in_call"));
    send(&mut back, json!({"type": "chat", "text": "Ya regresé."})).await;
    let line = expect_type(&mut doctor, "chat").await;
    // The doctor never heard the patient leave: the next message is the chat.
    assert_eq!(line["from"], patient_id);
    expect_type(&mut back, "chat").await;
    // The used token no longer works.
    let (mut again, _) = patient_socket_and_hello(&app, &token).await;
    send(
        &mut again,
        json!({"type": "resume", "participant_id": patient_id, "token": resume_token}),
    )
    .await;
    expect_code(&mut again, "not_allowed").await;
}
