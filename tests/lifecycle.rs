//! Start-up and graceful shutdown of the whole application.
//!
//! "In flight" must be a fact, not a hope: the test writes the request by hand on its own
//! connection and waits until the kernel shows the server has read every byte of it (Linux
//! `/proc/net/tcp`: the client's bytes acknowledged, the server socket's receive queue empty).
//! The server parses a request head in the same step that reads it, so from then on the request
//! is in progress and a graceful shutdown must let it finish.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{spawn_app, ADMIN_TOKEN};
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long the server may take to read a request written to it.
const READ_DEADLINE: Duration = Duration::from_secs(10);
/// How long the in-flight request may take to be answered (its own wait is 5 s).
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);

/// A request in flight when shutdown starts is answered; new connections are refused after.
#[sqlx::test]
async fn shutdown_lets_in_flight_requests_finish(pool: PgPool) {
    let app = spawn_app(pool).await;
    let server = app.server.address;
    // This read waits (up to 5 s) for a position the log will never reach: it stays in flight.
    let request = format!(
        "GET /api/orders/some-order?min_position=999999 HTTP/1.1\r\nHost: {server}\r\n\
         Authorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
    );
    let mut connection = send_until_read(server, request.as_bytes()).await;

    let base = app.server.base_url();
    let stopping = tokio::spawn(async move { app.stop().await });
    let (status, body) = read_answer(&mut connection).await;
    assert_eq!(status, 409, "the in-flight request got its answer: {body}");
    assert_eq!(body["error"], "not_caught_up");
    stopping.await.unwrap();

    let after = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "the server no longer accepts connections");
}

/// Opens a connection to `server`, writes `request` and returns once the server has read all of
/// it (fails after [`READ_DEADLINE`]).
async fn send_until_read(server: SocketAddr, request: &[u8]) -> TcpStream {
    let mut connection = TcpStream::connect(server).await.expect("connected");
    connection
        .write_all(request)
        .await
        .expect("request written");
    let client = connection.local_addr().expect("the client's address");
    let deadline = Instant::now() + READ_DEADLINE;
    loop {
        let sockets = tcp_sockets();
        let find = |local, remote| {
            sockets
                .iter()
                .find(|socket| socket.local == local && socket.remote == remote)
        };
        let client_side = find(client, server);
        let server_side = find(server, client);
        // Acknowledged by the server's kernel, then taken from its receive queue by the server.
        let acknowledged = client_side.is_some_and(|socket| socket.unacknowledged == 0);
        let read = server_side.is_some_and(|socket| socket.unread == 0);
        if acknowledged && read {
            return connection;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not read the request within {READ_DEADLINE:?}: \
             client side {client_side:?}, server side {server_side:?}"
        );
        // Poll interval of the kernel's socket table.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads the answer to the end of the connection: its status code and JSON body.
async fn read_answer(connection: &mut TcpStream) -> (u16, Value) {
    let mut raw = Vec::new();
    tokio::time::timeout(ANSWER_DEADLINE, connection.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("no answer within {ANSWER_DEADLINE:?}"))
        .expect("the answer read");
    let text = String::from_utf8(raw).expect("the answer is text");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head:?}"));
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_owned()
    };
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("a JSON body: {body:?}"));
    (status, json)
}

/// The payload of a chunked body.
fn unchunk(mut body: &str) -> String {
    let mut payload = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        payload.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    payload
}

/// One IPv4 TCP socket of this machine, as `/proc/net/tcp` lists it.
#[derive(Debug)]
struct Socket {
    local: SocketAddr,
    remote: SocketAddr,
    /// Bytes sent and not yet acknowledged by the peer (`tx_queue`).
    unacknowledged: u64,
    /// Bytes received and not yet read by the application (`rx_queue`).
    unread: u64,
}

fn tcp_sockets() -> Vec<Socket> {
    let table = std::fs::read_to_string("/proc/net/tcp")
        .expect("/proc/net/tcp is readable (this test needs Linux)");
    table.lines().skip(1).filter_map(socket).collect()
}

/// `sl local_address rem_address st tx_queue:rx_queue ...`, addresses as `HEXIP:HEXPORT`.
fn socket(line: &str) -> Option<Socket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (unacknowledged, unread) = fields.get(4)?.split_once(':')?;
    Some(Socket {
        local: address(fields.get(1)?)?,
        remote: address(fields.get(2)?)?,
        unacknowledged: u64::from_str_radix(unacknowledged, 16).ok()?,
        unread: u64::from_str_radix(unread, 16).ok()?,
    })
}

/// The kernel prints the address as the native-endian value of its network-order bytes.
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let ip = Ipv4Addr::from(u32::from_be(u32::from_str_radix(ip, 16).ok()?));
    Some(SocketAddr::from((ip, u16::from_str_radix(port, 16).ok()?)))
}
