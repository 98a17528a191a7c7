//! A private PostgreSQL cluster of a test's own, for tests that must stop, restart or
//! reconfigure the server (the shared test cluster serves every other test at once).

use std::path::PathBuf;

use ledger_embedded_pg::{self as embedded_pg, Durability, EmbeddedOptions};

/// A private cluster in a fresh directory, stopped (by its own command) when dropped.
pub struct PrivateCluster {
    data_dir: PathBuf,
}

impl PrivateCluster {
    pub async fn start() -> (PrivateCluster, String) {
        // /var/tmp: the `postgres` OS user (which runs the server when tests run as root) can
        // enter it.
        let data_dir = PathBuf::from("/var/tmp")
            .join(format!("ledger-private-cluster-{}", uuid::Uuid::new_v4()));
        let cluster = PrivateCluster { data_dir };
        let url = cluster.up().await;
        (cluster, url)
    }

    pub async fn up(&self) -> String {
        embedded_pg::start_or_reuse(&EmbeddedOptions {
            data_dir: self.data_dir.clone(),
            durability: Durability::FastUnsafeForTests,
        })
        .await
        .expect("the private cluster starts")
        .database_url
    }

    /// Sets server settings with `ALTER SYSTEM` and restarts the cluster so they take effect.
    pub async fn reconfigure(&self, url: &str, settings: &[(&str, &str)]) -> String {
        let admin = sqlx::PgPool::connect(url)
            .await
            .expect("the private cluster accepts connections");
        for (name, value) in settings {
            sqlx::query(&format!("ALTER SYSTEM SET {name} = '{value}'"))
                .execute(&admin)
                .await
                .expect("ALTER SYSTEM");
        }
        admin.close().await;
        self.down().await;
        self.up().await
    }

    pub async fn down(&self) {
        embedded_pg::stop(&self.data_dir)
            .await
            .expect("the private cluster stops");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data_dir = self.data_dir.clone();
        // Stop it even when the test failed half-way; then remove its files.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _ = runtime.block_on(embedded_pg::stop(&data_dir));
            let _ = std::fs::remove_dir_all(&data_dir);
        })
        .join();
    }
}
