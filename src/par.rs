//! Side by side: independent, pure steps (one profile's compilation, one target's lowering,
//! one archive's deflate, one file compared with the disk) run on as many threads as the
//! machine has cores, and their results come back in the order of the inputs, so nothing a
//! run prints or writes depends on which thread finished first.
//!
//! Calls nest (each profile lowers its targets side by side), so the threads at work are
//! counted: a call starts workers only for cores that no thread is using yet, and otherwise
//! runs its items on the caller's thread. Starting a thread costs more than a small step
//! saves once every core is busy.

use std::num::NonZero;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Threads doing work for the program, the main thread included.
static BUSY: AtomicUsize = AtomicUsize::new(1);

/// The cores this process may use (its CPU affinity and cgroup quota). Looked up once: on
/// Linux each lookup reads files under /proc and /sys.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, NonZero::get))
}

/// `f` applied to every item, in parallel where cores are free, results in the items' order.
/// The caller's thread takes part; a worker thread the system refuses only means fewer
/// workers. Items are taken in order, so put the longest first when their costs differ.
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let n = items.len();
    let free = cores().saturating_sub(BUSY.load(Ordering::Relaxed));
    let extra = free.min(n.saturating_sub(1));
    if extra == 0 {
        return items.into_iter().map(f).collect();
    }
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let (Some(slot), Some(result)) = (slots.get(i), results.get(i)) else {
                break;
            };
            let item = slot.lock().ok().and_then(|mut s| s.take());
            if let Some(item) = item {
                let r = f(item);
                if let Ok(mut out) = result.lock() {
                    *out = Some(r);
                }
            }
        }
    };
    // A panic in a worker (a bug) resurfaces here when the scope ends.
    std::thread::scope(|scope| {
        let mut started = 0;
        for _ in 0..extra {
            BUSY.fetch_add(1, Ordering::Relaxed);
            let spawned = std::thread::Builder::new().spawn_scoped(scope, || {
                work();
                BUSY.fetch_sub(1, Ordering::Relaxed);
            });
            match spawned {
                Ok(_) => started += 1,
                Err(_) => {
                    BUSY.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        if started > 0 {
            step_aside();
        }
        work();
        // Waiting for the workers: this thread's core is free for theirs to use.
        BUSY.fetch_sub(1, Ordering::Relaxed);
    });
    BUSY.fetch_add(1, Ordering::Relaxed);
    results
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Move the calling thread to another CPU it may run on, and leave its affinity as it was.
///
/// Why: Linux starts a new thread on its parent's CPU. On the Firecracker VMs luciac is built
/// and benchmarked on, it moves the thread to the idle CPU only at a later load balance, about
/// 3 ms on (measured: a worker spawned while its parent computes started after 2.6 to 3.2 ms,
/// and the two shared one CPU until then; most likely their vCPUs share no cache domain,
/// the one where placement looks for an idle CPU). A build takes about 13 ms, so that was a quarter of it on one core. Moving the
/// parent instead is immediate, and the new thread runs at once where it was placed. Best
/// effort: where a call fails (a seccomp filter, one allowed CPU) nothing changes.
#[cfg(target_os = "linux")]
fn step_aside() {
    use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    use nix::unistd::Pid;
    let me = Pid::from_raw(0);
    let (Ok(allowed), Ok(here)) = (sched_getaffinity(me), sched_getcpu()) else {
        return;
    };
    let Some(other) =
        (0..CpuSet::count()).find(|&cpu| cpu != here && allowed.is_set(cpu).unwrap_or(false))
    else {
        return;
    };
    let mut there = CpuSet::new();
    if there.set(other).is_ok() && sched_setaffinity(me, &there).is_ok() {
        // Back to every CPU it had: the move is done, the pin is not wanted.
        let _ = sched_setaffinity(me, &allowed);
    }
}

#[cfg(not(target_os = "linux"))]
fn step_aside() {}

#[cfg(test)]
mod tests {
    /// Stepping aside moves the thread but leaves it free to run on every CPU it had.
    #[cfg(target_os = "linux")]
    #[test]
    fn stepping_aside_keeps_the_threads_affinity() {
        use nix::sched::sched_getaffinity;
        use nix::unistd::Pid;
        let before = sched_getaffinity(Pid::from_raw(0)).unwrap();
        super::step_aside();
        assert_eq!(sched_getaffinity(Pid::from_raw(0)).unwrap(), before);
        let out = super::map((0..4u64).collect(), |i| i * 2);
        assert_eq!(out, vec![0, 2, 4, 6]);
        assert_eq!(sched_getaffinity(Pid::from_raw(0)).unwrap(), before);
    }

    #[test]
    fn results_keep_the_input_order() {
        let out = super::map((0..100u64).collect(), |i| {
            std::thread::sleep(std::time::Duration::from_micros((100 - i) * 10));
            // Nested calls run too, on free cores or on this thread.
            let inner = super::map(vec![i, i + 1], |j| j * 10);
            assert_eq!(inner, [i * 10, (i + 1) * 10]);
            i * 2
        });
        assert_eq!(out, (0..100u64).map(|i| i * 2).collect::<Vec<_>>());
        assert!(super::map(Vec::<u8>::new(), |i| i).is_empty());
    }
}
