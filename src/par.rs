//! Side by side: independent, pure steps (one profile's compilation, one target's lowering,
//! one archive's deflate) run on as many threads as the machine has cores, and their results
//! come back in the order of the inputs, so nothing a run prints or writes depends on which
//! thread finished first.

use std::num::NonZero;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` applied to every item, in parallel, results in the items' order. The caller's thread
/// takes part; a worker thread the system refuses only means fewer workers. Items are taken
/// in order, so put the longest first when their costs differ.
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let n = items.len();
    let workers = std::thread::available_parallelism()
        .map_or(1, NonZero::get)
        .min(n);
    if workers <= 1 {
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
        for _ in 1..workers {
            let _ = std::thread::Builder::new().spawn_scoped(scope, work);
        }
        work();
    });
    results
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_input_order() {
        let out = super::map((0..100u64).collect(), |i| {
            std::thread::sleep(std::time::Duration::from_micros((100 - i) * 10));
            i * 2
        });
        assert_eq!(out, (0..100u64).map(|i| i * 2).collect::<Vec<_>>());
        assert!(super::map(Vec::<u8>::new(), |i| i).is_empty());
    }
}
