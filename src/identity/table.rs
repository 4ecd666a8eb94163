//! The hash table of the index's keys: open addressing with linear probing over 8-byte entries
//! (`hash << 32 | slot << 5 | record number`, see `mod.rs`), 0 being an empty bucket.
//!
//! One array and no control bytes: an insert or a lookup is usually one cache line, which can
//! be prefetched from the key's hash alone before it is needed (a batch load prefetches a few
//! customers ahead, see `batch.rs`). Removal shifts the entries after the hole back (no
//! tombstones), so a lookup never scans more than the run its key hashes into. The load is
//! kept at most 3/4 (from 3/8 just after growing). On Linux the array asks for transparent
//! huge pages: at 10M customers it is 1 GiB, and with 4 KiB pages every probe is a TLB miss.

/// An empty bucket. Entries are never 0: their hash is never 0 (see `key_hash`).
const EMPTY: u64 = 0;

#[derive(Clone, Default)]
pub(super) struct KeyTable {
    buckets: Vec<u64>,
    len: usize,
}

/// The spread of a 32-bit key hash over 64 bits: buckets are taken from the top bits.
fn mix(h: u32) -> u64 {
    (h as u64 | ((h as u64) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl KeyTable {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn allocation_size(&self) -> usize {
        self.buckets.capacity() * 8
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    fn home(&self, h: u32) -> usize {
        // The top bits of the mix: shifting by 64 - log2(buckets).
        let bits = self.buckets.len().trailing_zeros();
        if bits == 0 {
            return 0;
        }
        (mix(h) >> (64 - bits)) as usize
    }

    /// Room for `additional` more entries without growing.
    pub(super) fn reserve(&mut self, additional: usize) {
        let want = self.len + additional;
        if want * 4 > self.buckets.len() * 3 {
            self.resize((want * 4 / 3 + 1).next_power_of_two().max(16));
        }
    }

    fn resize(&mut self, buckets: usize) {
        let old = std::mem::replace(&mut self.buckets, zeroed(buckets));
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }

    /// Put `e` in the first empty bucket of its run (there is one: the load is below 1).
    fn place(&mut self, e: u64) {
        let mask = self.mask();
        let mut i = self.home((e >> 32) as u32);
        while self.buckets[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.buckets[i] = e;
    }

    /// Add an entry (entries are unique: one per record of a customer).
    pub(super) fn insert(&mut self, e: u64) {
        debug_assert_ne!(e, EMPTY);
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.resize((self.buckets.len() * 2).max(16));
        }
        self.place(e);
        self.len += 1;
    }

    /// Remove the entry equal to `e`; whether there was one.
    pub(super) fn remove(&mut self, e: u64) -> bool {
        if self.len == 0 {
            return false;
        }
        let mask = self.mask();
        let mut i = self.home((e >> 32) as u32);
        loop {
            match self.buckets[i] {
                EMPTY => return false,
                x if x == e => break,
                _ => i = (i + 1) & mask,
            }
        }
        // Shift back every later entry of the run that may live in the hole (its home is not
        // cyclically between the hole and where it is).
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let x = self.buckets[j];
            if x == EMPTY {
                break;
            }
            let home = self.home((x >> 32) as u32);
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.buckets[hole] = x;
                hole = j;
            }
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// The entries whose key hash is `h`.
    pub(super) fn iter_hash(&self, h: u32) -> impl Iterator<Item = u64> + '_ {
        let mask = self.mask();
        let mut i = self.home(h);
        let mut done = self.buckets.is_empty();
        std::iter::from_fn(move || {
            while !done {
                let x = self.buckets[i];
                if x == EMPTY {
                    done = true;
                    break;
                }
                i = (i + 1) & mask;
                if (x >> 32) as u32 == h {
                    return Some(x);
                }
            }
            None
        })
    }

    /// Start loading the bucket of hash `h` into the cache (a hint: no effect on the contents).
    #[inline]
    pub(super) fn prefetch(&self, h: u32) {
        #[cfg(target_arch = "x86_64")]
        if !self.buckets.is_empty() {
            let p = self.buckets[self.home(h)..].as_ptr();
            // SAFETY: prefetching is a hint that never faults; `p` points into `buckets`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = h;
    }
}

/// `n` zeroed buckets, freshly mapped (untouched until written), on huge pages when the array
/// is large and the system gives them on request.
///
/// Only the table: it is written at random. The arena of records is written in order (its
/// pages fault in one after the other), and asking huge pages for it measured no faster and
/// ~0.7 GB more peak RSS at 10M customers.
fn zeroed(n: usize) -> Vec<u64> {
    let v = vec![EMPTY; n];
    if n * 8 >= 8 << 20 {
        advise_huge_pages(v.as_ptr() as usize, n * 8);
    }
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(addr: usize, len: usize) {
    extern "C" {
        fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    const MADV_HUGEPAGE: i32 = 14;
    const PAGE: usize = 4096;
    let start = addr.next_multiple_of(PAGE);
    let end = (addr + len) & !(PAGE - 1);
    if end > start {
        // SAFETY: the range lies inside a live allocation of ours; the advice changes how its
        // pages are backed, never their contents. A refusal (no THP) is harmless.
        unsafe { madvise(start as *mut std::ffi::c_void, end - start, MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(h: u32, low: u32) -> u64 {
        ((h as u64) << 32) | low as u64
    }

    #[test]
    fn inserts_lookups_and_removals_agree_with_a_model() {
        let mut t = KeyTable::default();
        let mut model: Vec<u64> = Vec::new();
        let mut x = 0x1234_5678_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000u32 {
            let r = next();
            // few distinct hashes: long runs, collisions and wrap-around
            let h = (r % 61) as u32 + 1;
            if r % 3 == 0 && !model.is_empty() {
                let victim = model.swap_remove((r as usize >> 8) % model.len());
                assert!(t.remove(victim));
                assert!(!t.remove(victim));
            } else {
                let entry = e(h, round);
                t.insert(entry);
                model.push(entry);
            }
            if round % 997 == 0 {
                for h in 1..=61 {
                    let mut got: Vec<u64> = t.iter_hash(h).collect();
                    let mut want: Vec<u64> = model
                        .iter()
                        .copied()
                        .filter(|&m| (m >> 32) as u32 == h)
                        .collect();
                    got.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(got, want, "hash {h} at round {round}");
                }
            }
        }
        assert_eq!(t.len(), model.len());
        t.reserve(100_000);
        assert!(t.buckets.len() * 3 >= (model.len() + 100_000) * 4);
        for &m in &model {
            assert!(t.iter_hash((m >> 32) as u32).any(|x| x == m));
        }
        assert_eq!(KeyTable::default().iter_hash(5).count(), 0);
        assert!(!KeyTable::default().remove(e(5, 1)));
    }
}
