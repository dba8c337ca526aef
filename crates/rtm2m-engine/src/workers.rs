//! The engine's worker threads: how many, and whether each is pinned to a core of its own.
//!
//! A tick's parallel parts (re-pricing, re-margining) end when their slowest thread ends. Left to the
//! operating system, two workers are at times queued on one core while the other core idles: on the
//! project's 2-core VM, ticks where both workers waited 4–7 ms each in the run queue (their
//! `/proc/self/task/*/schedstat`) with no other process running put the bench's tick p99 at 21–24 ms
//! against 15.5–21 ms pinned (`docs/engine.md` §8). Pinning is the default whenever every worker can have
//! a core of its own among those the process may run on (which respects `taskset` and cpusets).

use crate::error::EngineError;

/// How many worker threads an engine computes on, and whether they are pinned to cores.
///
/// A plain thread count converts into this with pinning on (`Parallelism::from(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Worker threads; 0 means one per core the process may run on, 1 means no pool (all on the caller).
    pub threads: usize,
    /// Pin worker `k` to the `k`-th core the process may run on, when there are at least as many such cores
    /// as workers (otherwise the workers are left to the operating system).
    pub pin: bool,
}

impl From<usize> for Parallelism {
    fn from(threads: usize) -> Parallelism {
        Parallelism { threads, pin: true }
    }
}

/// A built pool and its worker count (≥ 1; no pool with one).
pub(crate) struct Workers {
    pub pool: Option<rayon::ThreadPool>,
    pub threads: usize,
}

impl Workers {
    /// Builds the pool `p` asks for. The cores are those the calling thread may run on, read once here.
    pub fn build(p: Parallelism) -> Result<Workers, EngineError> {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let threads = match p.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        if threads <= 1 {
            return Ok(Workers {
                pool: None,
                threads: 1,
            });
        }
        let pinned = (p.pin && cores.len() >= threads).then_some(cores);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|k| format!("rtm2m-engine-{k}"))
            .start_handler(move |k| {
                if let Some(cores) = &pinned {
                    // A refusal (a core withdrawn since) leaves this worker unpinned; `Engine::worker_cores`
                    // tells.
                    core_affinity::set_for_current(cores[k]);
                }
            })
            .build()
            .map_err(|e| EngineError::Threads(e.to_string()))?;
        Ok(Workers {
            pool: Some(pool),
            threads,
        })
    }
}

/// The cores each worker of `pool` may run on, in worker order (without a pool, one list: the calling
/// thread's cores).
pub(crate) fn cores(pool: Option<&rayon::ThreadPool>) -> Vec<Vec<usize>> {
    let of_this_thread = || {
        core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<usize>>()
    };
    match pool {
        Some(pool) => pool.broadcast(|_| of_this_thread()),
        None => vec![of_this_thread()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cores the calling thread may run on (`sched_getaffinity`).
    fn process_cores() -> Vec<usize> {
        core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect()
    }

    #[test]
    fn pinned_workers_each_run_on_a_core_of_their_own() {
        let all = process_cores();
        if all.len() < 2 {
            eprintln!("note: one core available, nothing to pin two workers to; test skipped");
            return;
        }
        let w = Workers::build(Parallelism {
            threads: 2,
            pin: true,
        })
        .expect("pool");
        assert_eq!(w.threads, 2);
        let cores = cores(w.pool.as_ref());
        assert_eq!(cores, vec![vec![all[0]], vec![all[1]]]);
        // A thread count converts with pinning on.
        assert_eq!(
            Parallelism::from(2),
            Parallelism {
                threads: 2,
                pin: true
            }
        );
    }

    #[test]
    fn workers_are_left_to_the_system_when_asked_or_when_cores_are_too_few() {
        let all = process_cores();
        let unpinned = Workers::build(Parallelism {
            threads: 2,
            pin: false,
        })
        .expect("pool");
        assert_eq!(cores(unpinned.pool.as_ref()), vec![all.clone(); 2]);
        let crowded = Workers::build(Parallelism {
            threads: all.len() + 1,
            pin: true,
        })
        .expect("pool");
        assert_eq!(
            cores(crowded.pool.as_ref()),
            vec![all.clone(); all.len() + 1]
        );
    }

    #[test]
    fn one_thread_means_no_pool_and_zero_one_per_core() {
        let one = Workers::build(Parallelism::from(1)).expect("no pool");
        assert!(one.pool.is_none());
        assert_eq!(one.threads, 1);
        assert_eq!(cores(None), vec![process_cores()]);
        let every = Workers::build(Parallelism::from(0)).expect("pool");
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(every.threads, n);
        assert_eq!(every.pool.is_some(), n > 1);
    }
}
