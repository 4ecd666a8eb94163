//! Loading many customers at once: the snapshot at start and the start-up catch-up of the
//! `crm.customers` topic. Parsing a record and normalizing its keys (JSON, phones, names,
//! emails) is most of the cost of loading a customer, and is independent of every other
//! record: it runs on every core, chunk by chunk. Only putting the packed records into the
//! hash table runs on one thread, in the order of the input (a later record for the same id
//! wins, a tombstone deletes what came before it), overlapped with the parsing of the next
//! chunk. The live path after the catch-up applies changes one at a time ([`IdentityIndex::apply`]).

use super::{
    pack, CustomerChange, IdentityConfig, IdentityIndex, Intern, Region, Store, Sym, Symbols,
};
use std::ops::Range;
use std::sync::Mutex;

type KeyPayload = (Option<Range<usize>>, Option<Range<usize>>);

/// Records parsed and packed together before they are put into the table.
const CHUNK: usize = 8192;
/// Fewer records than this are not worth a thread.
const MIN_PER_THREAD: usize = 256;

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
    Upsert(Box<[u8]>),
    Delete(String),
    Invalid(String),
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
    threads: usize,
}

impl<F> Preparer<'_, F>
where
    F: Fn(usize) -> Result<CustomerChange, String> + Sync,
{
    fn one(&self, i: usize, syms: &mut SharedSymbols<'_>) -> Prepared {
        match (self.parse)(i) {
            Ok(CustomerChange::Upsert(c)) => match pack(&c, self.config, self.region, syms) {
                Some(data) => Prepared::Upsert(data.into_boxed_slice()),
                None => Prepared::Invalid("customer id longer than 255 bytes".into()),
            },
            Ok(CustomerChange::Delete(id)) => Prepared::Delete(id),
            Err(e) => Prepared::Invalid(e),
        }
    }

    fn serial(&self, range: Range<usize>) -> Vec<Prepared> {
        let mut syms = SharedSymbols {
            shared: self.symbols,
            seen: Default::default(),
        };
        range.map(|i| self.one(i, &mut syms)).collect()
    }

    /// Parse and pack `range` on up to `threads` threads (this one included), in order.
    fn prepare(&self, range: Range<usize>) -> Vec<Prepared> {
        let threads = self
            .threads
            .min(range.len().div_ceil(MIN_PER_THREAD))
            .max(1);
        if threads == 1 {
            return self.serial(range);
        }
        let per = range.len().div_ceil(threads);
        let parts: Vec<Range<usize>> = (0..threads)
            .map(|t| {
                let start = range.start + t * per;
                start.min(range.end)..(start + per).min(range.end)
            })
            .collect();
        std::thread::scope(|s| {
            let (last, rest) = parts.split_last().expect("at least one part");
            let handles: Vec<_> = rest
                .iter()
                .map(|r| {
                    let r = r.clone();
                    s.spawn(move || self.serial(r))
                })
                .collect();
            let tail = self.serial(last.clone());
            let mut out = Vec::with_capacity(range.len());
            for h in handles {
                out.extend(h.join().expect("identity batch thread"));
            }
            out.extend(tail);
            out
        })
    }
}

/// Put prepared records into the table, in order; `first` is the position of the first one.
fn apply_prepared(store: &mut Store, first: usize, ready: Vec<Prepared>, report: &mut BatchReport) {
    for (i, p) in ready.into_iter().enumerate() {
        match p {
            Prepared::Upsert(data) => {
                store.put(data);
                report.applied += 1;
            }
            Prepared::Delete(id) => {
                store.remove(&id);
                report.applied += 1;
            }
            Prepared::Invalid(e) => report.problems.push((first + i, e)),
        }
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
        self.apply_parallel(batch.len(), threads, |i| {
            let (key, payload) = batch.get(i);
            super::parse_change(key, payload)
        })
    }

    /// Changes `0..n`, each produced by `parse(i)`, parsed and packed on `threads` threads and
    /// applied in order on this one.
    pub(super) fn apply_parallel<F>(&mut self, n: usize, threads: usize, parse: F) -> BatchReport
    where
        F: Fn(usize) -> Result<CustomerChange, String> + Sync,
    {
        let symbols = Mutex::new(std::mem::take(&mut self.symbols));
        let preparer = Preparer {
            parse: &parse,
            config: &self.config,
            region: self.region,
            symbols: &symbols,
            threads: threads.max(1),
        };
        let store = &mut self.store;
        let mut report = BatchReport::default();
        let mut at = 0;
        let mut ready = preparer.prepare(0..n.min(CHUNK));
        loop {
            let start = at + ready.len();
            if start >= n {
                apply_prepared(store, at, ready, &mut report);
                break;
            }
            let next = start..(start + CHUNK).min(n);
            let prepared = if preparer.threads == 1 {
                apply_prepared(store, at, ready, &mut report);
                preparer.prepare(next)
            } else {
                // The table takes this chunk while the next one is parsed.
                std::thread::scope(|s| {
                    let h = s.spawn(|| preparer.prepare(next));
                    apply_prepared(store, at, ready, &mut report);
                    h.join().expect("identity batch thread")
                })
            };
            at = start;
            ready = prepared;
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
