//! The gateway as a user read-only by its profile, as `marketprism up` creates one: the
//! server refuses it a write, and it sends no `readonly` of its own, which such a user may
//! not change, so its queries run.

use std::time::Duration;

use marketprism_gateway::auth::digest_hex;
use marketprism_servers::{
    find_binary, free_port, Access, Binary, ClickHouseSpec, ClickHouseUser, Readiness, Service,
};
use marketprism_storage::ClickHouseConfig;
use marketprism_testkit::NatsServer;
use tokio_util::sync::CancellationToken;

use crate::{assert_write_refused, insert_rows, T0};

fn user(name: &str, password: &str, access: Access) -> ClickHouseUser {
    ClickHouseUser {
        name: name.to_owned(),
        password_sha256_hex: digest_hex(password),
        access,
        databases: Vec::new(),
    }
}

#[tokio::test]
async fn a_read_only_user_reads_and_cannot_write() {
    let state = tempfile::tempdir().expect("state directory");
    let http_port = free_port().expect("port");
    let users = [
        user("writer", "w-secret", Access::ReadWrite),
        user("reader", "r-secret", Access::ReadOnly),
    ];
    let command = ClickHouseSpec {
        http_port,
        tcp_port: free_port().expect("port"),
        dir: state.path(),
        users: &users,
        cluster: None,
    }
    .command(&find_binary(Binary::ClickhouseServer, None).expect("a deployed clickhouse-server"))
    .expect("configuration");
    let mut server = Service::spawn(
        "clickhouse-server",
        command,
        &state.path().join("clickhouse.log"),
    )
    .expect("spawn");
    let url = format!("http://127.0.0.1:{http_port}");
    server
        .wait_ready(
            &Readiness::Http(format!("{url}/ping")),
            Duration::from_secs(60),
        )
        .expect("ready");

    let as_user = |name: &str, password: &str| {
        let password_file = state.path().join(format!("{name}.password"));
        std::fs::write(&password_file, password).expect("password file");
        ClickHouseConfig {
            url: url.clone(),
            database: "gateway_users".to_owned(),
            user: name.to_owned(),
            password_file: Some(password_file),
            ..ClickHouseConfig::default()
        }
    };
    let writer = as_user("writer", "w-secret");
    marketprism_storage::migrate::migrate(&writer)
        .await
        .expect("migrate");
    insert_rows(&writer).await;

    let nats = NatsServer::start().expect("nats-server");
    let mut config: marketprism_gateway::Config =
        toml::from_str("listen = \"127.0.0.1:0\"").expect("defaults");
    config.nats.url = nats.url();
    config.clickhouse = as_user("reader", "r-secret");

    assert_write_refused(&config).await;

    let shutdown = CancellationToken::new();
    let (address, gateway) = marketprism_gateway::bind(config, shutdown.clone())
        .await
        .expect("gateway starts");
    tokio::spawn(gateway);
    let response = reqwest::get(format!(
        "http://{address}/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade&from={T0}&to={}",
        T0 + 1_000
    ))
    .await
    .expect("request");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert_eq!(body.lines().count(), 1, "{body}");
    shutdown.cancel();
    let _ = server.kill();
}
