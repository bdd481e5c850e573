//! Hashing on a second thread, a few chunks behind the bytes being moved,
//! so that moving and hashing overlap on two cores: an upload's guarding
//! hash runs beside the socket writes, a download's beside the socket
//! reads and the disk writes.
//!
//! Buffers go round between the two threads: the mover takes a free one,
//! fills it, hands it over; the hashing thread hashes it and gives it back.
//! Memory stays at [`PIPELINE`] chunks whatever the size. When no thread
//! can be started (a firmware process at its thread limit), the same feed
//! hashes on the caller's thread instead: slower, never a failure.

use std::cell::RefCell;
use std::sync::mpsc::{self, Receiver, SyncSender};

use super::CHUNK;
use crate::digest::{Md5Digest, Md5Hasher};

/// Chunks in flight between the two threads.
pub(crate) const PIPELINE: usize = 4;

/// Stack of the hashing thread: MD5 needs a few hundred bytes of it.
const STACK: usize = 128 * 1024;

enum Job {
    Chunk(Vec<u8>, usize),
    /// Send back the digest of everything before this job.
    Digest(SyncSender<Md5Digest>),
}

/// Where the mover hands its chunks.
pub(crate) struct HashFeed<'a>(Feed<'a>);

enum Feed<'a> {
    Thread {
        jobs: SyncSender<Job>,
        free: Receiver<Vec<u8>>,
    },
    /// No thread could be started: hash in place.
    Inline(&'a InPlace),
}

/// Hashing on the caller's thread.
struct InPlace {
    hasher: RefCell<Md5Hasher>,
    /// The one buffer, between `buffer()` and `hash()`.
    spare: RefCell<Vec<u8>>,
}

impl HashFeed<'_> {
    /// A buffer of [`CHUNK`] bytes to fill; waits while every buffer is
    /// still being hashed.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        match &self.0 {
            Feed::Thread { free, .. } => free
                .recv()
                .expect("the hashing thread gives back every buffer until the feed is dropped"),
            Feed::Inline(in_place) => {
                let spare = std::mem::take(&mut *in_place.spare.borrow_mut());
                // Empty when a mover dropped its buffer instead of handing
                // it over (it gave up on the chunk).
                if spare.is_empty() {
                    vec![0u8; CHUNK]
                } else {
                    spare
                }
            }
        }
    }

    /// Hashes the first `n` bytes of `buf` (a buffer from
    /// [`buffer`](Self::buffer)), after everything handed over before.
    pub(crate) fn hash(&self, buf: Vec<u8>, n: usize) {
        match &self.0 {
            Feed::Thread { jobs, .. } => {
                // The receiver lives until the feed is dropped.
                let _ = jobs.send(Job::Chunk(buf, n));
            }
            Feed::Inline(in_place) => {
                in_place.hasher.borrow_mut().update(&buf[..n]);
                *in_place.spare.borrow_mut() = buf;
            }
        }
    }

    /// The digest of everything handed over so far; waits for the hashing
    /// thread to catch up.
    pub(crate) fn digest(&self) -> Md5Digest {
        match &self.0 {
            Feed::Thread { jobs, .. } => {
                let (reply, answer) = mpsc::sync_channel(1);
                let _ = jobs.send(Job::Digest(reply));
                answer
                    .recv()
                    .expect("the hashing thread answers while the feed lives")
            }
            Feed::Inline(in_place) => in_place.hasher.borrow().clone().finish(),
        }
    }
}

/// Runs `mover` with a feed into `hasher` hashed on a second thread, and
/// returns the hasher (having seen everything fed) with `mover`'s result.
pub(crate) fn with_hash_thread<R>(
    hasher: Md5Hasher,
    mover: impl FnOnce(&HashFeed<'_>) -> R,
) -> (Md5Hasher, R) {
    let (jobs, job_queue) = mpsc::sync_channel::<Job>(PIPELINE);
    let (give_back, free) = mpsc::channel::<Vec<u8>>();
    for _ in 0..PIPELINE {
        let _ = give_back.send(vec![0u8; CHUNK]);
    }
    // The thread hashes into a copy (an MD5 state is under 100 bytes); the
    // original stays here for hashing in place if no thread can start.
    let for_thread = hasher.clone();
    std::thread::scope(|scope| {
        let started = std::thread::Builder::new()
            .name("resmgr-md5".into())
            .stack_size(STACK)
            .spawn_scoped(scope, move || {
                let mut hasher = for_thread;
                for job in job_queue {
                    match job {
                        Job::Chunk(buf, n) => {
                            hasher.update(&buf[..n]);
                            let _ = give_back.send(buf);
                        }
                        Job::Digest(reply) => {
                            let _ = reply.send(hasher.clone().finish());
                        }
                    }
                }
                hasher
            });
        match started {
            Ok(thread) => {
                let feed = HashFeed(Feed::Thread { jobs, free });
                let result = mover(&feed);
                // Dropping the feed ends the job queue: the thread finishes
                // what is queued and returns the hasher.
                drop(feed);
                let hasher = thread
                    .join()
                    .expect("the hashing thread does not panic: it only hashes and sends");
                (hasher, result)
            }
            Err(_) => hash_in_place(hasher, mover),
        }
    })
}

/// What [`with_hash_thread`] does when no thread can be started.
fn hash_in_place<R>(hasher: Md5Hasher, mover: impl FnOnce(&HashFeed<'_>) -> R) -> (Md5Hasher, R) {
    let in_place = InPlace {
        hasher: RefCell::new(hasher),
        spare: RefCell::new(vec![0u8; CHUNK]),
    };
    let result = mover(&HashFeed(Feed::Inline(&in_place)));
    (in_place.hasher.into_inner(), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Mover<'m> = &'m dyn Fn(&HashFeed<'_>) -> Md5Digest;
    type Runner = fn(Md5Hasher, Mover<'_>) -> (Md5Hasher, Md5Digest);

    /// Feeds `data` in uneven pieces, asking for the digest midway and at
    /// the end; checks both against one-shot hashing.
    fn feed_and_check(run: Runner) {
        let data: Vec<u8> = (0..1_000_000u32)
            .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
            .collect();
        let one_shot = |bytes: &[u8]| {
            let mut h = Md5Hasher::new();
            h.update(bytes);
            h.finish()
        };
        let mut prefix = Md5Hasher::new();
        prefix.update(&data[..10]);
        let (hasher, midway) = run(prefix, &|feed| {
            let mut at = 10;
            let mut midway = None;
            for (i, piece) in [1usize, CHUNK, 7, CHUNK - 1, 4096]
                .iter()
                .cycle()
                .enumerate()
            {
                if at == data.len() {
                    break;
                }
                let n = (*piece).min(data.len() - at);
                let mut buf = feed.buffer();
                buf[..n].copy_from_slice(&data[at..at + n]);
                feed.hash(buf, n);
                at += n;
                if i == 20 {
                    midway = Some((at, feed.digest()));
                }
            }
            let (upto, digest) = midway.expect("more than 20 pieces");
            assert_eq!(
                digest,
                one_shot(&data[..upto]),
                "digest midway, after {upto} bytes"
            );
            feed.digest()
        });
        assert_eq!(midway, one_shot(&data));
        assert_eq!(hasher.len(), data.len() as u64);
        assert_eq!(hasher.finish(), one_shot(&data));
    }

    #[test]
    fn hashing_on_a_second_thread_sees_every_byte_in_order() {
        feed_and_check(|h, mover| with_hash_thread(h, mover));
    }

    #[test]
    fn hashing_in_place_gives_the_same_answers() {
        feed_and_check(|h, mover| hash_in_place(h, mover));
    }
}
