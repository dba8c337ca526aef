//! WebSocket subscriptions against the service started in process on loopback: topics, per-account
//! filtering, and refusal without a token.

use rtm2m_engine::event::input_to_json;
use rtm2m_engine::synthetic::{population, ChainSpec, Universe};
use rtm2m_service::client::Client;
use rtm2m_service::config::FeedKind;
use rtm2m_service::ServiceConfig;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "ws-admin-token-0123456789";

fn service(
    name: &str,
) -> (
    rtm2m_service::Running,
    Vec<rtm2m_engine::Input>,
    Vec<String>,
    std::path::PathBuf,
) {
    let dir = std::env::temp_dir().join(format!("rtm2m-ws-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let events =
        ChainSpec::default_at(rtm2m_market::Timestamp::from_unix_nanos(d.as_nanos() as i64))
            .initial_events();
    let genesis = population(12, 40, &Universe::from_events(&events), 5);
    std::fs::write(dir.join("accounts.json"), genesis.to_json()).unwrap();
    let cfg = ServiceConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        threads: 1,
        accounts_file: Some(dir.join("accounts.json")),
        feed: FeedKind::None,
        tokens_from_env: false,
        tokens: vec![rtm2m_service::config::TokenConfig {
            name: "admin".into(),
            scope: "admin".into(),
            sha256: rtm2m_service::auth::hex(&rtm2m_service::auth::hash_token(ADMIN)),
        }],
        ..ServiceConfig::default()
    };
    let running = rtm2m_service::start(cfg, false).unwrap();
    assert!(
        running.generated.is_empty(),
        "a configured token means none is generated"
    );
    (
        running,
        events,
        genesis.accounts.iter().map(|a| a.id.clone()).collect(),
        dir,
    )
}

async fn next_frame(
    ws: &mut (impl futures_util::StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
              + Unpin),
) -> Value {
    loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_receive_marks_and_margins_and_account_tokens_only_their_own() {
    let (running, events, ids, dir) = tokio::task::spawn_blocking(|| service("topics"))
        .await
        .unwrap();
    let addr = running.addr;
    let desk = running
        .shared
        .tokens
        .generate("desk", rtm2m_service::auth::Scope::Account(ids[0].clone()))
        .unwrap();

    let mut req = format!("ws://{addr}/v1/ws?topics=marks,margins")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
    let (mut all, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let (mut own, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws?token={desk}&topics=margins"))
            .await
            .unwrap();
    let hello = next_frame(&mut all).await;
    assert_eq!(hello["topic"], "hello");
    assert_eq!(hello["topics"], json!(["marks", "margins"]));
    assert_eq!(
        next_frame(&mut own).await["scope"],
        json!(format!("account:{}", ids[0]))
    );

    let body: String = events.iter().map(|i| input_to_json(i) + "\n").collect();
    let posted = tokio::task::spawn_blocking(move || {
        let mut c = Client::new(addr, Some(ADMIN));
        c.request(
            "POST",
            "/v1/events",
            Some("application/x-ndjson"),
            Some(body.as_bytes()),
        )
        .unwrap()
        .json()
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(posted["rejected"], json!([]));

    let mut marked = std::collections::BTreeSet::new();
    let mut margined = std::collections::BTreeSet::new();
    while marked.len() < 2 || margined.len() < ids.len() {
        let f = next_frame(&mut all).await;
        let items = f["items"].as_array().unwrap();
        match f["topic"].as_str().unwrap() {
            "marks" => marked.extend(
                items
                    .iter()
                    .map(|m| m["underlying"].as_str().unwrap().to_owned()),
            ),
            "margins" => margined.extend(
                items
                    .iter()
                    .map(|m| m["account"].as_str().unwrap().to_owned()),
            ),
            other => panic!("unsubscribed topic {other}"),
        }
    }
    assert_eq!(marked.into_iter().collect::<Vec<_>>(), ["BTC", "ETH"]);
    let f = next_frame(&mut own).await;
    assert_eq!(f["topic"], "margins");
    assert!(
        f["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["account"] == json!(ids[0])),
        "{f}"
    );

    // Without a token, or with a bad topic, no upgrade.
    let e = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("401"), "{e}");
    let e =
        tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws?token={ADMIN}&topics=gossip"))
            .await
            .unwrap_err();
    assert!(e.to_string().contains("400"), "{e}");
    tokio::task::spawn_blocking(move || running.stop())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
