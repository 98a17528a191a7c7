//! What one connection is doing, and when it has been at it for too long.
//!
//! hyper's own header time-out starts whenever it waits for a request head, idle keep-alive time
//! included, so it cannot tell "a client started a request and stalled" (short limit) from "a
//! client keeps its connection open between requests" (longer limit). Instead the connection's
//! socket ([`WatchedIo`]) reports bytes arriving and the service reports requests starting and
//! finishing ([`RequestGuard`], carried by the response body until hyper is done with it), and
//! [`Activity::expired`] resolves when the phase the connection is in has lasted too long:
//!
//! - idle (no request under way, nothing received): the idle time-out;
//! - reading a head (bytes arrived, no request dispatched yet): the header time-out;
//! - handling a request: the whole-request time-out plus the header time-out to write the answer
//!   (the router answers 408 at the request time-out; this only catches clients that stop
//!   reading the answer).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The connection time-outs, taken from the settings.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionTimeouts {
    pub header: Duration,
    pub request: Duration,
    pub idle: Duration,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Idle { since: Instant },
    ReadingHead { since: Instant },
    Handling { since: Instant },
}

/// Shared between the socket wrapper, the service and the connection's watchdog.
pub struct Activity {
    phase: Mutex<Phase>,
    /// Wakes the watchdog when the phase changes (its deadline may have moved earlier).
    changed: Notify,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            phase: Mutex::new(Phase::Idle {
                since: Instant::now(),
            }),
            changed: Notify::new(),
        })
    }

    fn set(&self, update: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().expect("connection phase lock");
        *phase = update(*phase);
        self.changed.notify_one();
    }

    /// Bytes arrived: if nothing was under way, a request head has started.
    fn bytes_arrived(&self) {
        let mut phase = self.phase.lock().expect("connection phase lock");
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::ReadingHead {
                since: Instant::now(),
            };
            self.changed.notify_one();
        }
    }

    /// A request head was parsed and dispatched; the returned guard ends it when dropped.
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.set(|_| Phase::Handling {
            since: Instant::now(),
        });
        RequestGuard {
            activity: self.clone(),
        }
    }

    fn request_finished(&self) {
        self.set(|_| Phase::Idle {
            since: Instant::now(),
        });
    }

    /// When the current phase runs out, and what ran out.
    fn deadline(&self, timeouts: &ConnectionTimeouts) -> (Instant, &'static str) {
        match *self.phase.lock().expect("connection phase lock") {
            Phase::Idle { since } => (since + timeouts.idle, "idle time-out"),
            Phase::ReadingHead { since } => (since + timeouts.header, "header time-out"),
            Phase::Handling { since } => (
                since + timeouts.request + timeouts.header,
                "request time-out (answer not taken)",
            ),
        }
    }

    /// Resolves, with the reason, once the connection's current phase has outlasted its limit.
    pub async fn expired(&self, timeouts: &ConnectionTimeouts) -> &'static str {
        loop {
            let (deadline, _) = self.deadline(timeouts);
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {
                    let (deadline, reason) = self.deadline(timeouts);
                    if deadline <= Instant::now() {
                        return reason;
                    }
                }
                () = self.changed.notified() => {}
            }
        }
    }
}

/// One request under way on a connection; dropping it returns the connection to idle.
pub struct RequestGuard {
    activity: Arc<Activity>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.activity.request_finished();
    }
}

/// A response body that holds its request's guard, so the request counts as under way until
/// hyper has taken the whole answer (or dropped it).
pub struct GuardedBody {
    inner: Body,
    _guard: RequestGuard,
}

impl GuardedBody {
    pub fn new(inner: Body, guard: RequestGuard) -> Self {
        GuardedBody {
            inner,
            _guard: guard,
        }
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that tells the connection's [`Activity`] when bytes arrive.
pub struct WatchedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> WatchedIo<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        WatchedIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_arrived();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: ConnectionTimeouts = ConnectionTimeouts {
        header: Duration::from_secs(10),
        request: Duration::from_secs(30),
        idle: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_time_out() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(activity.expired(&TIMEOUTS).await, "idle time-out");
        assert_eq!(started.elapsed(), TIMEOUTS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_head_gets_the_shorter_header_time_out() {
        let activity = Activity::new();
        let started = Instant::now();
        let watchdog = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.expired(&TIMEOUTS).await })
        };
        tokio::time::advance(Duration::from_secs(5)).await;
        activity.bytes_arrived();
        assert_eq!(watchdog.await.unwrap(), "header time-out");
        assert_eq!(started.elapsed(), Duration::from_secs(5) + TIMEOUTS.header);
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_request_starts_a_new_idle_period() {
        let activity = Activity::new();
        activity.bytes_arrived();
        let guard = activity.request_started();
        tokio::time::advance(Duration::from_secs(20)).await;
        drop(guard);
        let finished = Instant::now();
        assert_eq!(activity.expired(&TIMEOUTS).await, "idle time-out");
        assert_eq!(finished.elapsed(), TIMEOUTS.idle);
    }
}
