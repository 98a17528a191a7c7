//! What the load cost: database commits and CPU time, of this process and of the PostgreSQL
//! backends serving its database. Load-independent figures, unlike latencies on a shared
//! machine.

use std::time::Duration;

use sqlx::PgPool;

/// Transactions committed in this database so far (PostgreSQL's statistics, which lag by up to
/// half a second: read after a short pause).
pub async fn database_commits(pool: &PgPool) -> anyhow::Result<i64> {
    tokio::time::sleep(Duration::from_millis(700)).await;
    Ok(sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

/// CPU time used so far by this process and by the PostgreSQL backends serving its database
/// (Linux `/proc`; clock ticks of 1/100 s, Linux's fixed USER_HZ). Load-independent, unlike
/// latencies on a shared machine.
#[derive(Clone, Copy)]
pub struct Cpu {
    pub process: f64,
    pub database: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            process: self.process - earlier.process,
            database: self.database - earlier.database,
        }
    }
}

fn cpu_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0; // gone (a closed connection) or not Linux
    };
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

pub async fn cpu_seconds(pool: &PgPool) -> anyhow::Result<Cpu> {
    let backends: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_all(pool)
            .await?;
    Ok(Cpu {
        process: cpu_of("self"),
        database: backends.iter().map(|pid| cpu_of(&pid.to_string())).sum(),
    })
}
