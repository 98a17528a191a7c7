//! A local HTTP server of a test's own, on a free loopback port: how tests play the outside
//! services the ledger calls (CrystalPay, the Bot API, the exchange-rate source) over real HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

/// The server's task: aborted when the last clone of the handle is dropped.
#[derive(Clone)]
pub struct ServerTask(Arc<tokio::task::JoinHandle<()>>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        if Arc::strong_count(&self.0) == 1 {
            self.0.abort();
        }
    }
}

/// Serves `router` on 127.0.0.1 at a free port until the returned handle is dropped.
pub async fn serve(router: Router) -> (SocketAddr, ServerTask) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (address, ServerTask(Arc::new(task)))
}
