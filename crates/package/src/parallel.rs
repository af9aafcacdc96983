//! File work spread over a few threads.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` applied to every item on up to `max_threads` threads (at most one
/// per available core), results in the order of `items`. The first error
/// stops the others from taking new items and is returned.
pub fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    max_threads: usize,
    work: impl Fn(&T) -> io::Result<R> + Sync,
) -> io::Result<Vec<R>> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = cores.min(max_threads).min(items.len()).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<io::Result<R>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let result = work(item);
                    let failed = result.is_err();
                    results.lock().expect("parallel results")[index] = Some(result);
                    if failed {
                        next.store(items.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // Items are taken in order, so an item never taken comes after the error
    // that stopped the work.
    results
        .into_inner()
        .expect("parallel results")
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("the work stopped early"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_order_and_an_error_wins() {
        let items: Vec<u32> = (0..100).collect();
        let doubled = map_parallel(&items, 4, |&i| Ok(i * 2)).unwrap();
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let failed =
            map_parallel(
                &items,
                4,
                |&i| {
                    if i == 37 { Err(io::Error::other("item 37")) } else { Ok(i) }
                },
            );
        assert_eq!(failed.unwrap_err().to_string(), "item 37");
        assert!(map_parallel(&[] as &[u32], 4, |&i| Ok(i)).unwrap().is_empty());
    }
}
