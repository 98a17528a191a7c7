//! On-CPU time of a local process, from the scheduler's own accounting
//! (`/proc/<pid>/task/*/schedstat`, nanoseconds): exact even for short runs, unlike the 1/100 s
//! ticks of `/proc/<pid>/stat`. Linux only; `None` elsewhere or when the process is gone.

use std::time::Duration;

/// On-CPU time of every thread of a process, in nanoseconds from the scheduler.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut nanoseconds: u64 = 0;
    for task in tasks.flatten() {
        // A thread may end between listing and reading; it then counts as nothing.
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        nanoseconds += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanoseconds))
}
