//! The HTTP/1.1 server: accepts connections and serves each with hyper, under time-outs.
//!
//! `axum::serve` has no time-outs: a client that sends half a request line and stalls keeps a
//! connection and a task for as long as it likes. Here every connection has a watchdog
//! ([`connection_watch`](super::connection_watch)) that closes it when a request head takes longer
//! than the header time-out, when it sits idle between requests longer than the idle time-out, or
//! when a request's answer is not taken in time. The whole-request time-out itself (408 JSON) is
//! a router layer (`http::guards`), so it answers in our error format.
//!
//! Graceful shutdown: when `shutdown` is cancelled the listener is closed (new connections are
//! refused), idle connections are closed, and requests in flight are answered before their
//! connections close; `serve` returns when the last connection is done.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::connection_watch::{Activity, ConnectionTimeouts, GuardedBody, WatchedIo};

/// After an accept error that is not about one connection (out of file descriptors), wait this
/// long before accepting again rather than spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` is cancelled and every connection is done.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(error) = finished {
                    tracing::error!(%error, "a connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        router.clone(),
                        timeouts,
                        shutdown.clone(),
                    ));
                }
                Err(error) if is_about_one_connection(&error) => {}
                Err(error) => {
                    tracing::error!(%error, "accepting connections failed; pausing");
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            },
        }
    }
    // Closing the listener refuses new connections while the open ones finish.
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Errors that concern only the connection being accepted; the next accept is unaffected.
fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) {
    // Small request/response exchanges: never let Nagle's algorithm hold a reply back.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::warn!(%error, "could not set TCP_NODELAY on a connection");
    }
    let activity = Activity::new();
    let io = TokioIo::new(WatchedIo::new(stream, activity.clone()));
    let service = {
        let activity = activity.clone();
        service_fn(move |request: Request<Incoming>| {
            let guard = activity.request_started();
            let answered = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = answered.await?;
                Ok::<_, Infallible>(response.map(|body| Body::new(GuardedBody::new(body, guard))))
            }
        })
    };
    let mut builder = http1::Builder::new();
    // The watchdog below applies our header and idle time-outs; hyper's own header time-out
    // would also cut idle keep-alive connections at the header limit.
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            reason = activity.expired(&timeouts) => {
                tracing::debug!(reason, "closing a connection");
                return;
            }
            () = shutdown.cancelled(), if !shutting_down => {
                shutting_down = true;
                // Idle connections close now; a request under way is answered first.
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
