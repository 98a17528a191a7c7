//! A raw TCP client for what an HTTP library will not do: send half a request, stall, and see
//! when the server answers or closes the connection.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

pub struct RawConnection {
    stream: TcpStream,
    /// Bytes received and not yet consumed as a response.
    received: Vec<u8>,
}

/// One response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (Null when it is not JSON).
    pub body: Value,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The head of a request with a body of `content_length` bytes, ready to be followed by it.
pub fn request_head(
    method: &str,
    path: &str,
    bearer: Option<&str>,
    content_length: usize,
) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: ledger\r\ncontent-type: application/json\r\n\
         content-length: {content_length}\r\n"
    );
    if let Some(token) = bearer {
        head.push_str(&format!("authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    head
}

impl RawConnection {
    pub async fn open(address: SocketAddr) -> Self {
        RawConnection {
            stream: TcpStream::connect(address).await.expect("connected"),
            received: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("sent");
    }

    /// Reads until the server closes the connection; what it sent before closing, or `None` if
    /// the connection is still open after `within`.
    pub async fn closed_within(&mut self, within: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + within;
        let mut buffer = [0_u8; 4096];
        loop {
            match timeout_at(deadline, self.stream.read(&mut buffer)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(std::mem::take(&mut self.received)),
                Ok(Ok(read)) => self.received.extend_from_slice(&buffer[..read]),
            }
        }
    }

    /// Reads one whole response (head and `content-length` body) within `within`.
    pub async fn read_response(&mut self, within: Duration) -> RawResponse {
        let deadline = Instant::now() + within;
        let head_end = loop {
            if let Some(end) = find(&self.received, b"\r\n\r\n") {
                break end + 4;
            }
            self.read_more(deadline).await;
        };
        let head = String::from_utf8_lossy(&self.received[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map(|(_, value)| value.parse().expect("a numeric content-length"))
            .unwrap_or(0);
        while self.received.len() < head_end + length {
            self.read_more(deadline).await;
        }
        let body: Vec<u8> = self
            .received
            .drain(..head_end + length)
            .skip(head_end)
            .collect();
        RawResponse {
            status,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    async fn read_more(&mut self, deadline: Instant) {
        let mut buffer = [0_u8; 4096];
        let read = timeout_at(deadline, self.stream.read(&mut buffer))
            .await
            .expect("the response arrived in time")
            .expect("the connection is readable");
        assert!(
            read > 0,
            "the server closed the connection before answering"
        );
        self.received.extend_from_slice(&buffer[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Polls `condition` until it holds; panics naming `what` after `within`.
pub async fn wait_for(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
