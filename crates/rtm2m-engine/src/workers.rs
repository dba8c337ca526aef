//! The engine's worker threads: how many, and whether each is pinned to a core of its own.
//!
//! A tick's parallel parts (re-pricing, re-margining) end when their slowest thread ends. Left to the
//! operating system, two workers are at times queued on one core while the other core idles: on the
//! project's 2-core VM, ticks where both workers waited 4–7 ms each in the run queue (their
//! `/proc/self/task/*/schedstat`) with no other process running put the bench's tick p99 at 21–24 ms
//! against 15.5–21 ms pinned (`docs/engine.md` §8).
//!
//! Pinning is the default when the workers fill the cores the process may run on, one each: the engine
//! owns those cores (the whole machine, or what `taskset` or a cpuset gives it). With fewer workers than
//! cores they are left to the operating system, which then has idle cores to move them to, and two engines
//! on one large machine do not pile onto its first cores; to pin there, give the process as many cores as
//! workers (`taskset -c 4,5 rtm2m run --threads 2 ...`).

use crate::error::EngineError;

/// How many worker threads an engine computes on, and whether they are pinned to cores.
///
/// A plain thread count converts into this with pinning on (`Parallelism::from(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Worker threads; 0 means one per core the process may run on, 1 means no pool (all on the caller).
    pub threads: usize,
    /// Pin worker `k` to the `k`-th core the process may run on, when there are exactly as many such cores
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
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let pinned = pin_plan(p.pin, threads, cores);
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

/// The core each worker is pinned to, in worker order, when `pin` is asked and the `threads` workers fill
/// the `cores` the process may run on, one each; `None` leaves them to the operating system.
fn pin_plan(
    pin: bool,
    threads: usize,
    cores: Vec<core_affinity::CoreId>,
) -> Option<Vec<core_affinity::CoreId>> {
    (pin && threads > 1 && cores.len() == threads).then_some(cores)
}

/// The cores each worker of `pool` may run on, in worker order (without a pool, one list: the calling
/// thread's cores).
pub(crate) fn cores(pool: Option<&rayon::ThreadPool>) -> Vec<Vec<usize>> {
    match pool {
        Some(pool) => pool.broadcast(|_| cores_of_this_thread()),
        None => vec![cores_of_this_thread()],
    }
}

/// The cores the calling thread may run on (`sched_getaffinity` on Linux).
fn cores_of_this_thread() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_filling_the_cores_each_run_on_a_core_of_their_own() {
        let all = cores_of_this_thread();
        if all.len() < 2 {
            eprintln!("note: one core available, nothing to pin two workers to; test skipped");
            return;
        }
        // One worker per core: each pinned to its own, in order.
        let w = Workers::build(Parallelism {
            threads: all.len(),
            pin: true,
        })
        .expect("pool");
        assert_eq!(w.threads, all.len());
        let cores = cores(w.pool.as_ref());
        assert_eq!(cores, all.iter().map(|&c| vec![c]).collect::<Vec<_>>());
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
    fn workers_are_pinned_only_when_they_fill_the_cores_one_each() {
        let cores = |n: usize| {
            (0..n)
                .map(|id| core_affinity::CoreId { id })
                .collect::<Vec<_>>()
        };
        let ids = |plan: Option<Vec<core_affinity::CoreId>>| {
            plan.map(|c| c.iter().map(|c| c.id).collect::<Vec<_>>())
        };
        assert_eq!(ids(pin_plan(true, 2, cores(2))), Some(vec![0, 1]));
        assert_eq!(ids(pin_plan(true, 8, cores(8))), Some((0..8).collect()));
        // Fewer workers than cores (another process may pin too), more, or not asked: not pinned.
        assert_eq!(ids(pin_plan(true, 2, cores(64))), None);
        assert_eq!(ids(pin_plan(true, 3, cores(2))), None);
        assert_eq!(ids(pin_plan(false, 2, cores(2))), None);
        assert_eq!(ids(pin_plan(true, 1, cores(1))), None);
    }

    #[test]
    fn workers_are_left_to_the_system_when_asked_or_when_cores_are_too_few() {
        let all = cores_of_this_thread();
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
        assert_eq!(cores(None), vec![cores_of_this_thread()]);
        let every = Workers::build(Parallelism::from(0)).expect("pool");
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(every.threads, n);
        assert_eq!(every.pool.is_some(), n > 1);
    }
}
