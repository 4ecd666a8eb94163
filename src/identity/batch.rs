//! Loading many customers at once: the snapshot at start and the start-up catch-up of the
//! `crm.customers` topic. Parsing a record and normalizing its keys (JSON, phones, names,
//! emails) is most of the cost of loading a customer, and is independent of every other
//! record: it runs on every core, in blocks of 512 records that the threads take in turn;
//! records are read in place ([`super::record`]), packed into one buffer per block, and their
//! keys hashed there. Only putting the packed records into the index runs on one thread, in
//! the order of the input (a later record for the same id wins, a tombstone deletes what came
//! before it), a chunk of 16,384 while the next chunk is parsed — after which this thread
//! parses too, so that both cores stay busy — with the table buckets of the next records'
//! keys prefetched. The live path after the catch-up applies changes one at a time
//! ([`IdentityIndex::apply`]).

use super::record::{parse_change_ref, Change, CustomerRef};
use super::{
    key_hashes, pack_into, DefaultHashBuilder, IdentityConfig, IdentityIndex, Intern, Region,
    Store, Sym, Symbols,
};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

type KeyPayload = (Option<Range<usize>>, Option<Range<usize>>);

/// Records parsed and packed while the chunk before them is put into the table.
const CHUNK: usize = 16_384;
/// Records a thread takes at a time (a smaller chunk is not worth a second thread).
const BLOCK: usize = 512;

/// Messages of the customers topic as read (key and payload), in topic order, copied into one
/// buffer: the input of [`IdentityIndex::apply_batch`].
#[derive(Debug, Default, Clone)]
pub struct ChangeBatch {
    bytes: Vec<u8>,
    /// Where each message's key and payload are in `bytes`.
    items: Vec<KeyPayload>,
}

impl ChangeBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a message (a tombstone has no payload).
    pub fn push(&mut self, key: Option<&[u8]>, payload: Option<&[u8]>) {
        let mut copy = |b: Option<&[u8]>| {
            b.map(|b| {
                let at = self.bytes.len();
                self.bytes.extend_from_slice(b);
                at..self.bytes.len()
            })
        };
        let key = copy(key);
        let payload = copy(payload);
        self.items.push((key, payload));
    }

    /// The key and payload of message `i`.
    pub fn get(&self, i: usize) -> (Option<&[u8]>, Option<&[u8]>) {
        let (k, p) = &self.items[i];
        (
            k.clone().map(|r| &self.bytes[r]),
            p.clone().map(|r| &self.bytes[r]),
        )
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of keys and payloads held.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchReport {
    /// Upserts and deletes applied.
    pub applied: usize,
    /// The records that could not be read: their position in the batch, and why (without the
    /// values: these are logged).
    pub problems: Vec<(usize, String)>,
}

/// A record parsed and packed, waiting for its turn.
enum Prepared {
    /// Where the packed record is in its block's bytes, and the hashes of its table keys in
    /// the block's hashes.
    Upsert(Range<usize>, Range<usize>),
    Delete(String),
    Invalid(String),
}

/// Consecutive records parsed and packed by one thread, the packed ones in one buffer.
#[derive(Default)]
struct Block {
    bytes: Vec<u8>,
    hashes: Vec<u32>,
    items: Vec<Prepared>,
}

/// A load in progress: the records of the last chunk fed, parsed and packed but not yet in the
/// index (they go in while the next chunk is parsed), and emptied buffers for the next ones.
/// Batches fed one after the other through one loader keep both cores busy across their
/// boundaries. [`IdentityIndex::finish_load`] puts the rest in; until then the index does not
/// hold them, so a loader is finished before the index is changed any other way, and is only
/// ever fed to one index.
#[derive(Default)]
pub struct Loader {
    ready: Vec<Block>,
    pool: Mutex<Vec<Block>>,
}

impl Loader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records fed but not yet in the index.
    pub fn pending(&self) -> usize {
        self.ready.iter().map(|b| b.items.len()).sum()
    }
}

/// The interned tables shared by the threads of a batch, behind a per-thread cache: a lock is
/// taken only for a name this thread has not seen yet (platforms, tiers, segments and
/// languages are few).
struct SharedSymbols<'a> {
    shared: &'a Mutex<Symbols>,
    seen: [hashbrown::HashMap<Box<str>, u16>; 4],
}

impl Intern for SharedSymbols<'_> {
    fn intern(&mut self, sym: Sym, s: &str) -> Option<u16> {
        if let Some(&i) = self.seen[sym as usize].get(s) {
            return Some(i);
        }
        let i = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .intern(sym, s)?;
        self.seen[sym as usize].insert(s.into(), i);
        Some(i)
    }
}

/// The threads a batch uses by default: one per core.
pub(super) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Preparer<'a, F> {
    parse: &'a F,
    config: &'a IdentityConfig,
    region: Option<Region>,
    symbols: &'a Mutex<Symbols>,
    /// The index's, to hash the keys on the parsing threads.
    hasher: DefaultHashBuilder,
    /// Blocks applied, emptied, for the next ones.
    pool: &'a Mutex<Vec<Block>>,
    threads: usize,
}

impl<'d, F> Preparer<'_, F>
where
    F: Fn(usize) -> Result<Change<'d>, String> + Sync,
{
    fn symbols(&self) -> SharedSymbols<'_> {
        SharedSymbols {
            shared: self.symbols,
            seen: Default::default(),
        }
    }

    fn block(&self, range: Range<usize>, syms: &mut SharedSymbols<'_>) -> Block {
        // A block's buffers are used again (allocated and freed per chunk, they would be
        // given back to the system and faulted in again, page by page).
        let mut b = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        b.bytes.reserve(range.len() * 192);
        b.hashes.reserve(range.len() * 8);
        b.items.reserve(range.len());
        for i in range {
            let p = match (self.parse)(i) {
                Ok(change @ (Change::Upsert(_) | Change::Owned(_))) => {
                    let at = b.bytes.len();
                    let packed = match &change {
                        Change::Upsert(c) => {
                            pack_into(c, self.config, self.region, syms, &mut b.bytes)
                        }
                        Change::Owned(c) => {
                            let c = CustomerRef::from(&**c);
                            pack_into(&c, self.config, self.region, syms, &mut b.bytes)
                        }
                        Change::Delete(_) => false,
                    };
                    if packed {
                        let h = b.hashes.len();
                        b.hashes.extend(key_hashes(&self.hasher, &b.bytes[at..]));
                        Prepared::Upsert(at..b.bytes.len(), h..b.hashes.len())
                    } else {
                        Prepared::Invalid("customer id longer than 255 bytes".into())
                    }
                }
                Ok(Change::Delete(id)) => Prepared::Delete(id),
                Err(e) => Prepared::Invalid(e),
            };
            b.items.push(p);
        }
        b
    }

    /// Take blocks of `range` (the next one is `next`'s count) until none is left; put them
    /// in `done` with their number.
    fn work(&self, range: &Range<usize>, next: &AtomicUsize, done: &Mutex<Vec<(usize, Block)>>) {
        let mut syms = self.symbols();
        let mut mine = Vec::new();
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let start = range.start.saturating_add(n.saturating_mul(BLOCK));
            if start >= range.end {
                break;
            }
            mine.push((
                n,
                self.block(start..(start + BLOCK).min(range.end), &mut syms),
            ));
        }
        done.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
    }
}

/// How many records ahead of the one being put the table buckets of their keys are
/// prefetched: the ~8 cache misses of a customer overlap with those of the next ones instead
/// of following each other.
const PREFETCH: usize = 4;

/// Put prepared records into the table, in order. The blocks, emptied, go back to `pool`.
fn apply_blocks(store: &mut Store, ready: Vec<Block>, pool: &Mutex<Vec<Block>>) {
    for mut block in ready {
        let prefetch = |store: &Store, k: usize| {
            if let Some(Prepared::Upsert(_, hashes)) = block.items.get(k) {
                for &h in &block.hashes[hashes.clone()] {
                    store.keys.prefetch(h);
                }
            }
        };
        for k in 0..PREFETCH {
            prefetch(store, k);
        }
        for (k, p) in block.items.iter().enumerate() {
            prefetch(store, k + PREFETCH);
            match p {
                Prepared::Upsert(data, hashes) => {
                    store.put_hashed(&block.bytes[data.clone()], &block.hashes[hashes.clone()]);
                }
                Prepared::Delete(id) => {
                    store.remove(id);
                }
                Prepared::Invalid(_) => {}
            }
        }
        block.bytes.clear();
        block.hashes.clear();
        block.items.clear();
        pool.lock().unwrap_or_else(|e| e.into_inner()).push(block);
    }
}

impl IdentityIndex {
    /// Apply a batch of messages of the customers topic, in their order, as [`Self::apply`]
    /// of [`super::parse_change`] of each would — parsed on every core. Bad records are
    /// reported, not applied.
    pub fn apply_batch(&mut self, batch: &ChangeBatch) -> BatchReport {
        self.apply_batch_on(batch, default_threads())
    }

    /// [`Self::apply_batch`] on `threads` threads (1: all on this one; for comparisons).
    pub fn apply_batch_on(&mut self, batch: &ChangeBatch, threads: usize) -> BatchReport {
        let mut loader = Loader::new();
        let report = self.load_batch_on(&mut loader, batch, threads);
        self.finish_load(&mut loader);
        report
    }

    /// Feed the next batch of a load (e.g. the start-up catch-up of the customers topic) to
    /// `loader`: it is parsed on every core while what was fed before goes into the index;
    /// its last chunk stays in the loader until the next batch or [`Self::finish_load`].
    /// The report counts the whole batch (its bad records are known once parsed).
    pub fn load_batch(&mut self, loader: &mut Loader, batch: &ChangeBatch) -> BatchReport {
        self.load_batch_on(loader, batch, default_threads())
    }

    fn load_batch_on(
        &mut self,
        loader: &mut Loader,
        batch: &ChangeBatch,
        threads: usize,
    ) -> BatchReport {
        self.load_parallel(loader, batch.len(), threads, |i| {
            let (key, payload) = batch.get(i);
            parse_change_ref(key, payload)
        })
    }

    /// Put what `loader` still holds into the index.
    pub fn finish_load(&mut self, loader: &mut Loader) {
        apply_blocks(
            &mut self.store,
            std::mem::take(&mut loader.ready),
            &loader.pool,
        );
    }

    /// Changes `0..n`, each produced by `parse(i)`, parsed and packed on `threads` threads and
    /// applied in order on this one, after what `loader` holds; the last chunk stays in it.
    pub(super) fn load_parallel<'d, F>(
        &mut self,
        loader: &mut Loader,
        n: usize,
        threads: usize,
        parse: F,
    ) -> BatchReport
    where
        F: Fn(usize) -> Result<Change<'d>, String> + Sync,
    {
        let symbols = Mutex::new(std::mem::take(&mut self.symbols));
        let preparer = Preparer {
            parse: &parse,
            config: &self.config,
            region: self.region,
            symbols: &symbols,
            hasher: self.store.hasher.clone(),
            pool: &loader.pool,
            threads: threads.max(1),
        };
        let store = &mut self.store;
        let mut report = BatchReport::default();
        // `ready` goes into the table while `next` is parsed; then this thread parses too.
        let mut start = 0;
        while start < n {
            let next = start..(start + CHUNK).min(n);
            let blocks = next.len().div_ceil(BLOCK);
            let helpers = (preparer.threads - 1).min(blocks.saturating_sub(1));
            let ready = std::mem::take(&mut loader.ready);
            let mut prepared: Vec<Block> = if helpers == 0 {
                apply_blocks(store, ready, &loader.pool);
                let mut syms = preparer.symbols();
                (0..blocks)
                    .map(|b| {
                        let s = next.start + b * BLOCK;
                        preparer.block(s..(s + BLOCK).min(next.end), &mut syms)
                    })
                    .collect()
            } else {
                let counter = AtomicUsize::new(0);
                let done = Mutex::new(Vec::with_capacity(blocks));
                std::thread::scope(|s| {
                    for _ in 0..helpers {
                        s.spawn(|| preparer.work(&next, &counter, &done));
                    }
                    apply_blocks(store, ready, &loader.pool);
                    preparer.work(&next, &counter, &done);
                });
                let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
                done.sort_unstable_by_key(|(n, _)| *n);
                done.into_iter().map(|(_, b)| b).collect()
            };
            // What the chunk holds is known now; it goes in with the next one.
            let mut i = next.start;
            for block in &mut prepared {
                for p in &mut block.items {
                    match p {
                        Prepared::Invalid(e) => report.problems.push((i, std::mem::take(e))),
                        _ => report.applied += 1,
                    }
                    i += 1;
                }
            }
            loader.ready = prepared;
            start = next.end;
        }
        self.symbols = symbols.into_inner().unwrap_or_else(|e| e.into_inner());
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::parse_change;

    fn record(n: usize) -> String {
        format!(
            r#"{{"id":"C{n}","name":"Name {n}","emails":["p{n}@example.com"],"phones":["+1415555{:04}"],"identities":[{{"platform":"p{}","user_id":"{}","verified":true}}],"tier":"t{}","segment":"s{}","language":"l{}"}}"#,
            n % 10_000,
            n % 7,
            1_000_000 + n,
            n % 5,
            n % 3,
            ["en", "fr", "de", "es"][n % 4]
        )
    }

    /// A batch gives exactly the index that applying its changes one at a time gives, whatever
    /// the number of threads: later records win, tombstones delete, bad records are skipped.
    #[test]
    fn a_batch_is_the_same_as_one_change_at_a_time() {
        let mut batch = ChangeBatch::new();
        let n = 3 * CHUNK + 123;
        for i in 0..n {
            match i % 11 {
                // an update of an earlier customer, with another phone
                3 if i > 20 => {
                    let r = record(i - 20).replace("+1415555", "+1212555");
                    batch.push(Some(format!("C{}", i - 20).as_bytes()), Some(r.as_bytes()));
                }
                // a tombstone of an earlier customer
                5 if i > 40 => batch.push(Some(format!("C{}", i - 40).as_bytes()), None),
                7 => batch.push(Some(b"bad"), Some(b"{not json")),
                _ => batch.push(Some(format!("C{i}").as_bytes()), Some(record(i).as_bytes())),
            }
        }
        let mut one = IdentityIndex::new();
        let mut bad = Vec::new();
        for i in 0..batch.len() {
            let (k, p) = batch.get(i);
            match parse_change(k, p) {
                Ok(c) => one.apply(c),
                Err(_) => bad.push(i),
            }
        }
        for threads in [1, 2, 3] {
            let mut ix = IdentityIndex::new();
            let report = ix.apply_batch_on(&batch, threads);
            assert_eq!(
                report.problems.iter().map(|p| p.0).collect::<Vec<_>>(),
                bad,
                "{threads} threads"
            );
            assert_eq!(report.applied, n - bad.len());
            assert_eq!(ix.len(), one.len(), "{threads} threads");
            assert_eq!(ix.store.keys.len(), one.store.keys.len());
            for i in 0..n {
                let id = format!("C{i}");
                assert_eq!(ix.get(&id), one.get(&id), "{id}, {threads} threads");
                assert_eq!(
                    ix.context_of_customer(&id),
                    one.context_of_customer(&id),
                    "{id}"
                );
            }
        }
        // deleted, updated, untouched
        assert!(one.get("C1").is_some());
        assert!(one.get("C9").is_none(), "deleted by the tombstone at 49");
        assert!(one
            .get("C5")
            .unwrap()
            .keys
            .contains(&"phone +12125550005".to_owned()));
    }

    /// Batches fed one after the other through one loader give the index that one batch (and
    /// so one change at a time) gives, whatever the batch sizes; each report counts its own
    /// batch; until `finish_load` the last chunk fed is not in the index.
    #[test]
    fn a_load_in_batches_is_the_same_as_one_batch() {
        let mut all = ChangeBatch::new();
        let n = 2 * CHUNK + 777;
        for i in 0..n {
            match i % 13 {
                4 if i > 30 => {
                    let r = record(i - 30).replace("+1415555", "+1212555");
                    all.push(Some(format!("C{}", i - 30).as_bytes()), Some(r.as_bytes()));
                }
                6 if i > 50 => all.push(Some(format!("C{}", i - 50).as_bytes()), None),
                9 => all.push(Some(b"bad"), Some(b"[]")),
                _ => all.push(Some(format!("C{i}").as_bytes()), Some(record(i).as_bytes())),
            }
        }
        let mut whole = IdentityIndex::new();
        let expected = whole.apply_batch(&all);
        for sizes in [vec![1, 999, CHUNK + 5], vec![CHUNK], vec![7; 3]] {
            let mut ix = IdentityIndex::new();
            let mut loader = Loader::new();
            let (mut at, mut applied, mut problems) = (0, 0, Vec::new());
            let mut sizes = sizes.into_iter();
            while at < n {
                let len = sizes.next().unwrap_or(n - at).min(n - at);
                let mut batch = ChangeBatch::new();
                for i in at..at + len {
                    let (k, p) = all.get(i);
                    batch.push(k, p);
                }
                let report = ix.load_batch(&mut loader, &batch);
                applied += report.applied;
                problems.extend(report.problems.into_iter().map(|(i, e)| (at + i, e)));
                at += len;
                assert!(
                    loader.pending() > 0,
                    "the last chunk fed waits in the loader"
                );
            }
            let before = ix.len();
            ix.finish_load(&mut loader);
            assert_eq!(loader.pending(), 0);
            assert!(ix.len() > before, "finish_load puts the rest in");
            assert_eq!(applied, expected.applied);
            assert_eq!(problems, expected.problems);
            assert_eq!(ix.len(), whole.len());
            assert_eq!(ix.store.keys.len(), whole.store.keys.len());
            for i in 0..n {
                let id = format!("C{i}");
                assert_eq!(ix.get(&id), whole.get(&id), "{id}");
            }
        }
    }

    #[test]
    fn batch_buffers_keep_keys_payloads_and_tombstones() {
        let mut b = ChangeBatch::new();
        b.push(Some(b"k1"), Some(b"{}"));
        b.push(Some(b"k2"), None);
        b.push(None, Some(b""));
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(0), (Some(&b"k1"[..]), Some(&b"{}"[..])));
        assert_eq!(b.get(1), (Some(&b"k2"[..]), None));
        assert_eq!(b.get(2), (None, Some(&b""[..])));
        assert_eq!(b.byte_len(), 6);
        b.clear();
        assert!(b.is_empty());
        // an empty batch is harmless
        assert_eq!(IdentityIndex::new().apply_batch(&b), BatchReport::default());
    }
}
