//! A primary and a hot standby of its own (`pg_basebackup -R`), for the read-replica tests:
//! two plain PostgreSQL clusters on free loopback ports, trusting local connections (test data
//! only), stopped and removed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct ReplicatedPair {
    root: PathBuf,
    bin_dir: PathBuf,
    pub primary_url: String,
    pub standby_url: String,
}

impl ReplicatedPair {
    /// Both clusters running, the standby streaming from the primary; the `ledger` database
    /// exists on both.
    pub async fn start() -> ReplicatedPair {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .expect("the replicated pair starts")
    }

    fn start_blocking() -> ReplicatedPair {
        let root = PathBuf::from("/var/tmp")
            .join(format!("ledger-replicated-pair-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&root).unwrap();
        let mut pair = ReplicatedPair {
            bin_dir: newest_server_binaries(),
            primary_url: String::new(),
            standby_url: String::new(),
            root,
        };
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(&pair.root)
                .status();
            assert!(
                status.unwrap().success(),
                "chown of the clusters' directory"
            );
        }
        let primary_port = free_port();
        let standby_port = free_port();
        pair.run("initdb", |command| {
            command
                .args(["-A", "trust", "-U", "ledger", "--no-sync", "-D"])
                .arg(pair.primary_dir());
        });
        pair.start_server(&pair.primary_dir(), primary_port);
        pair.run("createdb", |command| {
            command.args([
                "-h",
                "127.0.0.1",
                "-U",
                "ledger",
                "-p",
                &primary_port.to_string(),
                "ledger",
            ]);
        });
        pair.run("pg_basebackup", |command| {
            command
                .args([
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "ledger",
                ])
                .args(["-p", &primary_port.to_string(), "-D"])
                .arg(pair.standby_dir());
        });
        pair.start_server(&pair.standby_dir(), standby_port);
        pair.primary_url = format!("postgres://ledger@127.0.0.1:{primary_port}/ledger");
        pair.standby_url = format!("postgres://ledger@127.0.0.1:{standby_port}/ledger");
        pair
    }

    fn primary_dir(&self) -> PathBuf {
        self.root.join("primary")
    }

    fn standby_dir(&self) -> PathBuf {
        self.root.join("standby")
    }

    fn start_server(&self, data_dir: &Path, port: u16) {
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c wal_level=replica -c hot_standby=on",
            self.root.display()
        );
        self.run("pg_ctl", |command| {
            command
                .args(["-w", "-o", &options, "-l"])
                .arg(data_dir.with_extension("log"))
                .arg("-D")
                .arg(data_dir)
                .arg("start");
        });
    }

    /// Stops the standby at once (an outage of the replica).
    pub async fn stop_standby(&self) {
        let data_dir = self.standby_dir();
        let bin_dir = self.bin_dir.clone();
        tokio::task::spawn_blocking(move || stop_server(&bin_dir, &data_dir))
            .await
            .unwrap();
    }

    fn run(&self, program: &str, arguments: impl FnOnce(&mut Command)) {
        let mut command = Command::new(self.bin_dir.join(program));
        arguments(&mut command);
        run_as_server_account(&mut command);
    }
}

impl Drop for ReplicatedPair {
    fn drop(&mut self) {
        stop_server(&self.bin_dir, &self.standby_dir());
        stop_server(&self.bin_dir, &self.primary_dir());
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn stop_server(bin_dir: &Path, data_dir: &Path) {
    if !data_dir.join("postmaster.pid").exists() {
        return;
    }
    let mut command = Command::new(bin_dir.join("pg_ctl"));
    command
        .args(["-w", "-m", "immediate", "-D"])
        .arg(data_dir)
        .arg("stop");
    run_as_server_account(&mut command);
}

/// PostgreSQL refuses to run as root: as root, its programs run as the `postgres` account.
fn run_as_server_account(command: &mut Command) {
    let status = if is_root() {
        let mut wrapped = Command::new("runuser");
        wrapped
            .args(["-u", "postgres", "--"])
            .arg(command.get_program())
            .args(command.get_args())
            .current_dir("/");
        wrapped.stdout(Stdio::null()).status()
    } else {
        command.stdout(Stdio::null()).status()
    }
    .expect("the PostgreSQL program runs");
    assert!(status.success(), "{command:?} failed: {status}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| output.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// The `bin` folder of the newest PostgreSQL installed from Debian's packages.
pub fn newest_server_binaries() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server packages are installed")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("pg_basebackup").exists())
        .collect();
    let version = |bin: &PathBuf| -> u32 {
        let number = bin
            .parent()
            .and_then(Path::file_name)
            .and_then(|name| name.to_str());
        number.and_then(|name| name.parse().ok()).unwrap_or(0)
    };
    versions.sort_by_key(version);
    versions
        .pop()
        .expect("a PostgreSQL version with pg_basebackup")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
