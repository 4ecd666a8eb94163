//! identity: CRM customer records, the index of their keys, and matching an author to one.
//!
//! Confidence is explicit and ordered (docs/identity.md): a verified platform-id link beats a
//! strong key (an unverified platform-id link, or an email or phone the author gave) beats a
//! probable one (scored evidence: name, location, a handle with no platform id recorded);
//! anything else is an unknown prospect. Customers about equally likely give `unknown` with the
//! candidates listed. Every match says which keys agreed and the scores.
//!
//! Memory: the index keeps, per customer, only what matching and routing need (id, keys,
//! folded name, location, tier) packed in one byte record — all records in one arena, no
//! allocation per customer — and a hash table of 8-byte entries (a 32-bit hash of the key,
//! the customer's slot, the record's number) pointing into those records (`table.rs`: open
//! addressing, on huge pages); the full CRM record is not kept.

mod batch;
mod config;
mod context;
pub mod keys;
mod load;
mod matcher;
mod record;
mod table;

pub use batch::{BatchReport, ChangeBatch, Loader};

pub use config::{IdentityConfig, Weights};
pub use load::{
    load_snapshot, load_snapshot_csv, load_snapshot_file, parse_change, CustomerChange,
    SnapshotError,
};

use crate::event::{Author, CustomerContext, IdentityMatch};
use hashbrown::DefaultHashBuilder;
use phonenumber::country::Id as Region;
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;
use std::sync::Arc;

/// A link from a customer to an account on a social platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformIdentity {
    pub platform: String,
    /// A string, or a number as some CRM columns hold it.
    #[serde(default, deserialize_with = "string_or_number")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub verified: bool,
}

/// A CRM customer record. Unknown fields are accepted, never rejected; the index keeps only
/// what matching and routing need (see [`IndexedCustomer`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub identities: Vec<PlatformIdentity>,
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub do_not_contact: bool,
    #[serde(default)]
    pub related: Vec<String>,
    #[serde(default)]
    pub open_cases: u32,
    #[serde(default)]
    pub upcoming: Vec<serde_json::Value>,
    /// Where the customer lives, as free text (compared with the author's location).
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    /// ISO 3166 region (`GB`): reads this customer's phones written without a country code.
    #[serde(default)]
    pub country: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "user_id must be a string or a number, not {other}"
            )))
        }
    })
}

/// What the index keeps of a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedCustomer {
    pub id: String,
    /// The name as compared: folded, words sorted (`Zoë Müller` is `muller zoe`).
    pub name: Option<String>,
    pub tier: Option<String>,
    /// Normalized keys: `user x:15 (verified)`, `handle x:mariag`, `email …`, `phone +1…`.
    pub keys: Vec<String>,
}

// Record tags. Records are `[tag][key len][key][value len][value]`; the first is always the id.
const T_ID: u8 = 0;
const T_USER: u8 = 1; // key [platform][user id], value [verified]
const T_HANDLE: u8 = 2; // key [platform][handle], value [number of its T_USER record] or empty
const T_EMAIL: u8 = 3;
const T_PHONE: u8 = 4; // E.164
const T_NAME: u8 = 5; // key: the folded name, words sorted (the name block)
const T_LOC: u8 = 6; // value: folded locations separated by `|`
const T_TIER: u8 = 7; // value: u16 LE index into the interned tiers
const T_CTX: u8 = 8; // value: the CRM context, see `context.rs`; only when there is one
const T_REL: u8 = 9; // key: the id of a related customer (not a table key)

/// Records beyond this many per customer are not indexed (5 bits of the table entry).
const MAX_RECORDS: usize = 32;
const SLOT_SHIFT: u32 = 5;
/// What `reserve` plans for: an id, a name, two social identities (id and handle), an email
/// and a phone.
const KEYS_PER_CUSTOMER: usize = 8;
/// Customers at most (27 bits of slot).
const MAX_SLOTS: usize = 1 << 27;

fn is_table_key(tag: u8) -> bool {
    matches!(tag, T_ID | T_USER | T_HANDLE | T_EMAIL | T_PHONE | T_NAME)
}

/// One record of a packed customer.
#[derive(Debug, Clone, Copy)]
struct Rec<'a> {
    tag: u8,
    key: &'a [u8],
    value: &'a [u8],
}

fn records(data: &[u8]) -> impl Iterator<Item = Rec<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let tag = data[at];
        let kl = data[at + 1] as usize;
        let key = &data[at + 2..at + 2 + kl];
        let vl = data[at + 2 + kl] as usize;
        let value = &data[at + 3 + kl..at + 3 + kl + vl];
        at += 3 + kl + vl;
        Some(Rec { tag, key, value })
    })
}

fn push_rec(out: &mut Vec<u8>, tag: u8, key: &[u8], value: &[u8]) -> bool {
    if key.len() > 255 || value.len() > 255 {
        return false;
    }
    out.push(tag);
    out.push(key.len() as u8);
    out.extend_from_slice(key);
    out.push(value.len() as u8);
    out.extend_from_slice(value);
    true
}

/// Digit strings (numeric platform ids, phone numbers) are stored two digits a byte behind a
/// 0xFF marker, which no UTF-8 text starts with: the same string always packs the same way.
fn pack_digits(s: &str, out: &mut Vec<u8>) {
    if s.len() < 4 || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_digit()) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(0xFF);
    for pair in s.as_bytes().chunks(2) {
        let hi = pair[0] - b'0';
        let lo = pair.get(1).map_or(0xF, |d| d - b'0');
        out.push((hi << 4) | lo);
    }
}

fn unpack_digits(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match b.split_first() {
        Some((0xFF, packed)) => {
            let mut s = String::with_capacity(packed.len() * 2);
            for &x in packed {
                s.push((b'0' + (x >> 4)) as char);
                if x & 0xF != 0xF {
                    s.push((b'0' + (x & 0xF)) as char);
                }
            }
            s.into()
        }
        _ => as_str(b).into(),
    }
}

/// The record key of a platform user id.
fn user_key(platform: u8, uid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(uid.len() + 1);
    k.push(platform);
    pack_digits(uid, &mut k);
    k
}

/// The record key of an E.164 number.
fn phone_key(e164: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(e164.len());
    pack_digits(e164.trim_start_matches('+'), &mut k);
    k
}

fn as_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// Interned strings (platform names, tiers, segments, languages): records hold their number.
#[derive(Clone, Default)]
struct Interned {
    names: Vec<Box<str>>,
    ids: hashbrown::HashMap<Box<str>, u16>,
}

impl Interned {
    fn get(&self, s: &str) -> Option<u16> {
        self.ids.get(s).copied()
    }

    fn name(&self, i: u16) -> Option<&str> {
        self.names.get(i as usize).map(|n| &**n)
    }

    /// The number of `s`, a new one if needed; None when `max` names are taken.
    fn intern(&mut self, s: &str, max: usize) -> Option<u16> {
        if let Some(i) = self.get(s) {
            return Some(i);
        }
        if self.names.len() >= max {
            return None;
        }
        let i = self.names.len() as u16;
        self.names.push(s.into());
        self.ids.insert(s.into(), i);
        Some(i)
    }
}

/// What a record's interned number stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    /// One byte in record keys: at most 255.
    Platform = 0,
    Tier = 1,
    Segment = 2,
    Language = 3,
}

impl Sym {
    fn max(self) -> usize {
        match self {
            Sym::Platform => 255,
            _ => u16::MAX as usize + 1,
        }
    }
}

#[derive(Clone, Default)]
struct Symbols {
    tables: [Interned; 4],
}

impl Symbols {
    fn of(&self, sym: Sym) -> &Interned {
        &self.tables[sym as usize]
    }
}

/// Gives interned numbers while packing: the index's own tables one record at a time, or the
/// tables shared by the threads of a batch (see `batch.rs`).
trait Intern {
    fn intern(&mut self, sym: Sym, s: &str) -> Option<u16>;
}

impl Intern for Symbols {
    fn intern(&mut self, sym: Sym, s: &str) -> Option<u16> {
        self.tables[sym as usize].intern(s, sym.max())
    }
}

/// Pack a customer's keys (and its context, if any) into one record. A key already written is
/// not written twice. None when the id is empty or longer than 255 bytes.
fn pack(
    c: &Customer,
    config: &IdentityConfig,
    default_region: Option<Region>,
    syms: &mut impl Intern,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(160);
    let c = record::CustomerRef::from(c);
    pack_into(&c, config, default_region, syms, &mut out).then_some(out)
}

/// [`pack`], appending the record to `out` (a batch packs many into one buffer); false, and
/// nothing appended, when the id is empty or longer than 255 bytes.
///
/// Layout: the id, then the tier and the context (a match reads them from the record's first
/// cache line), then the keys, the locations and the related customers' ids.
fn pack_into(
    c: &record::CustomerRef<'_>,
    config: &IdentityConfig,
    default_region: Option<Region>,
    syms: &mut impl Intern,
    out: &mut Vec<u8>,
) -> bool {
    let id = c.id.trim();
    if id.is_empty() || id.len() > 255 {
        return false;
    }
    let base = out.len();
    // Returns the record's number (a key already written returns the earlier one's).
    let add = |out: &mut Vec<u8>, tag: u8, key: &[u8], value: &[u8]| -> Option<u8> {
        if key.is_empty() {
            return None;
        }
        let mut count = 0;
        for (i, r) in records(&out[base..]).enumerate() {
            if r.tag == tag && r.key == key {
                return Some(i as u8);
            }
            count = i + 1;
        }
        (count < MAX_RECORDS && push_rec(out, tag, key, value)).then_some(count as u8)
    };
    add(out, T_ID, id.as_bytes(), &[]);
    if let Some(i) = c.tier.as_deref().and_then(|t| syms.intern(Sym::Tier, t)) {
        push_rec(out, T_TIER, &[], &i.to_le_bytes());
    }
    let related = context::related_ids(c);
    if let Some(ctx) = context::encode(c, !related.is_empty(), syms) {
        push_rec(out, T_CTX, &[], &ctx);
    }
    let mut key = Vec::with_capacity(64);
    for ident in &c.identities {
        let Some(pid) = syms.intern(Sym::Platform, &keys::platform(&ident.platform)) else {
            continue;
        };
        let pid = pid as u8;
        let uid = ident.user_id.as_deref().map(str::trim).unwrap_or("");
        let mut user_rec = None;
        if !uid.is_empty() {
            key = user_key(pid, uid);
            user_rec = add(out, T_USER, &key, &[ident.verified as u8]);
        }
        if let Some(h) = ident.handle.as_deref() {
            let h = keys::handle(h);
            if !h.is_empty() {
                key.clear();
                key.push(pid);
                key.extend_from_slice(h.as_bytes());
                let value: &[u8] = match &user_rec {
                    Some(r) => std::slice::from_ref(r),
                    None => &[],
                };
                add(out, T_HANDLE, &key, value);
            }
        }
    }
    let rules = config.email_provider_rules;
    for e in &c.emails {
        if let Some(k) = keys::email(e, rules) {
            add(out, T_EMAIL, k.as_bytes(), &[]);
        }
    }
    let region = c
        .country
        .as_deref()
        .and_then(config::parse_region)
        .or(default_region);
    for p in &c.phones {
        if let Some(k) = keys::phone(p, region) {
            add(out, T_PHONE, &phone_key(&k), &[]);
        }
    }
    if let Some(name) = c.name.as_deref() {
        let block = keys::name_block(&keys::fold(name));
        add(out, T_NAME, block.as_bytes(), &[]);
    }
    let locs: Vec<String> = [&c.location, &c.city]
        .into_iter()
        .flatten()
        .map(|l| keys::fold(l))
        .filter(|l| !l.is_empty())
        .collect();
    if !locs.is_empty() {
        push_rec(out, T_LOC, &[], locs.join("|").as_bytes());
    }
    for r in related {
        push_rec(out, T_REL, r.as_bytes(), &[]);
    }
    true
}

/// The packed customers and the hash table of their keys.
#[derive(Clone)]
struct Store {
    hasher: DefaultHashBuilder,
    /// The packed customers, one after another: no allocation of its own per customer. A
    /// replaced or removed record stays until `compact` copies the live ones into a new arena.
    arena: Vec<u8>,
    /// Where each slot's record is in `arena`, `offset << LEN_BITS | length`; FREE when free.
    slots: Vec<u64>,
    free: Vec<u32>,
    /// Bytes of `arena` that no slot points to any more.
    garbage: usize,
    /// `hash << 32 | slot << 5 | record number` for every id, platform id, handle, email,
    /// phone and name.
    keys: table::KeyTable,
    live: usize,
}

/// A free slot.
const FREE: u64 = u64::MAX;
/// A packed record is at most 64 records of at most 513 bytes: far below 2^24.
const LEN_BITS: u32 = 24;
/// Compaction runs when this much of the arena is garbage, and more than a quarter of it.
const MIN_GARBAGE: usize = 1 << 20;

/// The hashes of the table keys of the packed customer `data`, in order.
fn key_hashes<'a>(
    hasher: &'a DefaultHashBuilder,
    data: &'a [u8],
) -> impl Iterator<Item = u32> + 'a {
    records(data)
        .take(MAX_RECORDS)
        .filter(|r| is_table_key(r.tag))
        .map(|r| key_hash(hasher, r.tag, r.key))
}

/// The table entries of the packed customer `data` in `slot`.
fn entries<'a>(
    hasher: &'a DefaultHashBuilder,
    slot: u32,
    data: &'a [u8],
) -> impl Iterator<Item = u64> + 'a {
    records(data)
        .enumerate()
        .take(MAX_RECORDS)
        .filter(|(_, r)| is_table_key(r.tag))
        .map(move |(n, r)| entry(key_hash(hasher, r.tag, r.key), slot, n))
}

impl Store {
    fn new() -> Self {
        Store {
            hasher: DefaultHashBuilder::default(),
            arena: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            garbage: 0,
            keys: table::KeyTable::default(),
            live: 0,
        }
    }

    fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        self.keys.reserve(additional * KEYS_PER_CUSTOMER);
    }

    fn data(&self, slot: u32) -> &[u8] {
        match self.slots.get(slot as usize) {
            Some(&s) if s != FREE => {
                let at = (s >> LEN_BITS) as usize;
                &self.arena[at..at + (s & ((1 << LEN_BITS) - 1)) as usize]
            }
            _ => &[],
        }
    }

    fn lookup<'a>(&'a self, tag: u8, key: &'a [u8]) -> impl Iterator<Item = (u32, Rec<'a>)> + 'a {
        self.lookup_hashed(key_hash(&self.hasher, tag, key), tag, key)
    }

    /// [`Self::lookup`] of a key whose hash is known.
    fn lookup_hashed<'a>(
        &'a self,
        h: u32,
        tag: u8,
        key: &'a [u8],
    ) -> impl Iterator<Item = (u32, Rec<'a>)> + 'a {
        self.keys.iter_hash(h).filter_map(move |e| {
            let slot = (e as u32) >> SLOT_SHIFT;
            let r = records(self.data(slot)).nth((e & 31) as usize)?;
            (r.tag == tag && r.key == key).then_some((slot, r))
        })
    }

    fn slot_of(&self, id: &[u8]) -> Option<u32> {
        self.lookup(T_ID, id).next().map(|(s, _)| s)
    }

    /// Insert or replace the packed customer `data` (its first record is the id); the keys of
    /// the previous version are dropped first.
    fn put(&mut self, data: &[u8]) {
        let mut hashes = [0u32; MAX_RECORDS];
        let mut n = 0;
        for h in key_hashes(&self.hasher, data) {
            hashes[n] = h;
            n += 1;
        }
        self.put_hashed(data, &hashes[..n]);
    }

    /// [`Self::put`] with the hashes of the record's table keys, in order
    /// ([`key_hashes`]).
    fn put_hashed(&mut self, data: &[u8], hashes: &[u32]) {
        let existing = match (records(data).next(), hashes.first()) {
            (Some(r), Some(&h)) if r.tag == T_ID => {
                self.lookup_hashed(h, T_ID, r.key).next().map(|(s, _)| s)
            }
            _ => return,
        };
        if data.len() >= 1 << LEN_BITS {
            return;
        }
        let slot = match existing {
            Some(slot) => {
                self.unindex(slot);
                slot
            }
            None => {
                self.live += 1;
                match self.free.pop() {
                    Some(s) => s,
                    None => {
                        assert!(self.slots.len() < MAX_SLOTS, "identity index is full");
                        self.slots.push(FREE);
                        (self.slots.len() - 1) as u32
                    }
                }
            }
        };
        let at = self.arena.len();
        self.arena.extend_from_slice(data);
        self.slots[slot as usize] = ((at as u64) << LEN_BITS) | data.len() as u64;
        let numbers = records(data)
            .enumerate()
            .take(MAX_RECORDS)
            .filter(|(_, r)| is_table_key(r.tag))
            .map(|(n, _)| n);
        for (n, &h) in numbers.zip(hashes) {
            self.keys.insert(entry(h, slot, n));
        }
    }

    /// Drop the keys of the customer in `slot` and mark its record garbage (the slot stays
    /// taken).
    fn unindex(&mut self, slot: u32) {
        let s = match self.slots.get(slot as usize) {
            Some(&s) if s != FREE => s,
            _ => return,
        };
        let at = (s >> LEN_BITS) as usize;
        let len = (s & ((1 << LEN_BITS) - 1)) as usize;
        let data = &self.arena[at..at + len];
        for e in entries(&self.hasher, slot, data) {
            self.keys.remove(e);
        }
        self.garbage += len;
        self.slots[slot as usize] = FREE;
        self.compact_if_wasteful();
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.slot_of(id.trim().as_bytes()) else {
            return false;
        };
        self.unindex(slot);
        self.free.push(slot);
        self.live -= 1;
        true
    }

    /// Slide the live records down over the garbage when more than a quarter of the arena is
    /// garbage (updates and deletes append and abandon): the arena is at most a third more
    /// than its live records, and a record is moved at most three times per byte replaced.
    fn compact_if_wasteful(&mut self) {
        if self.garbage < MIN_GARBAGE || self.garbage * 4 < self.arena.len() {
            return;
        }
        let mut order: Vec<(u64, u32)> = (self.slots.iter().enumerate())
            .filter(|(_, &s)| s != FREE)
            .map(|(i, &s)| (s, i as u32))
            .collect();
        order.sort_unstable();
        let mut to = 0usize;
        for (s, slot) in order {
            let len = (s & ((1 << LEN_BITS) - 1)) as usize;
            let at = (s >> LEN_BITS) as usize;
            self.arena.copy_within(at..at + len, to);
            self.slots[slot as usize] = ((to as u64) << LEN_BITS) | len as u64;
            to += len;
        }
        self.arena.truncate(to);
        self.arena.shrink_to(to + to / 8);
        self.garbage = 0;
    }
}

/// Every customer, and every key that leads to one.
#[derive(Clone)]
pub struct IdentityIndex {
    config: Arc<IdentityConfig>,
    region: Option<Region>,
    store: Store,
    /// Interned platform names (`x`, `instagram`), tiers, segments and languages.
    symbols: Symbols,
}

impl std::fmt::Debug for IdentityIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityIndex")
            .field("customers", &self.store.live)
            .field("keys", &self.store.keys.len())
            .field("platforms", &self.symbols.of(Sym::Platform).names)
            .field("config", &self.config)
            .finish()
    }
}

impl Default for IdentityIndex {
    fn default() -> Self {
        Self::with_config(IdentityConfig::default())
    }
}

impl IdentityIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index that normalizes and weighs with `config` (checked by `problems()`; an
    /// unknown default region reads phones only when they carry a country code).
    pub fn with_config(config: IdentityConfig) -> Self {
        IdentityIndex {
            region: config.region(),
            config: Arc::new(config),
            store: Store::new(),
            symbols: Symbols::default(),
        }
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    /// Make room for `additional` more customers (a snapshot of known size loads faster and
    /// without the slack of repeated doubling).
    pub fn reserve(&mut self, additional: usize) {
        self.store.reserve(additional);
    }

    pub fn len(&self) -> usize {
        self.store.live
    }

    pub fn is_empty(&self) -> bool {
        self.store.live == 0
    }

    /// Bytes held by the index (records, tables), for the memory benchmark.
    pub fn heap_bytes(&self) -> usize {
        // The arena's spare capacity is address space not yet written, never resident.
        let s = &self.store;
        s.arena.len()
            + s.slots.capacity() * std::mem::size_of::<u64>()
            + s.free.capacity() * 4
            + s.keys.allocation_size()
    }

    fn data(&self, slot: u32) -> &[u8] {
        self.store.data(slot)
    }

    /// Slots whose record `tag`/`key` is indexed, each with its record.
    fn lookup<'a>(&'a self, tag: u8, key: &'a [u8]) -> impl Iterator<Item = (u32, Rec<'a>)> + 'a {
        self.store.lookup(tag, key)
    }

    /// How many entries carry the 32-bit hash of `tag`/`key`, counting up to `limit`: a cheap
    /// upper bound of how many customers have that key (no record is read).
    fn count_hash(&self, tag: u8, key: &[u8], limit: usize) -> usize {
        let h = key_hash(&self.store.hasher, tag, key);
        self.store.keys.iter_hash(h).take(limit).count()
    }

    fn slot_of(&self, id: &str) -> Option<u32> {
        self.store.slot_of(id.trim().as_bytes())
    }

    fn id_of(&self, slot: u32) -> &str {
        records(self.data(slot))
            .next()
            .map(|r| as_str(r.key))
            .unwrap_or("")
    }

    fn tier_of(&self, slot: u32) -> Option<&str> {
        // The tier is the second record when there is one (see `pack`).
        records(self.data(slot))
            .nth(1)
            .filter(|r| r.tag == T_TIER)
            .and_then(|r| {
                let i = u16::from_le_bytes([r.value[0], r.value[1]]);
                self.symbols.of(Sym::Tier).name(i)
            })
    }

    /// The CRM context of the customer in `slot`; the default when its record has none.
    fn context_of(&self, slot: u32) -> CustomerContext {
        let data = self.data(slot);
        // The context is the second or third record when there is one (see `pack`).
        let Some(r) = records(data).take(3).find(|r| r.tag == T_CTX) else {
            return CustomerContext::default();
        };
        let d = context::decode(r.value);
        let name = |sym: Sym, i: Option<u16>| {
            i.and_then(|i| self.symbols.of(sym).name(i))
                .map(str::to_owned)
        };
        let mut ctx = CustomerContext {
            value: d.value,
            segment: name(Sym::Segment, d.segment),
            language: name(Sym::Language, d.language),
            open_cases: d.open_cases,
            upcoming_ms: d.upcoming_ms,
            related_tiers: Vec::new(),
            do_not_contact: d.do_not_contact,
        };
        if d.related {
            ctx.related_tiers = records(data)
                .filter(|r| r.tag == T_REL)
                .filter_map(|r| self.store.slot_of(r.key))
                .filter_map(|s| self.tier_of(s).map(str::to_owned))
                .collect();
        }
        ctx
    }

    /// The CRM context (value, segment, language, open cases, upcoming times, related
    /// customers' tiers, do-not-contact) of customer `id`, as a match carries it; None when
    /// the index has no such customer. The outbound gate reads `do_not_contact` here.
    pub fn context_of_customer(&self, id: &str) -> Option<CustomerContext> {
        self.slot_of(id).map(|s| self.context_of(s))
    }

    /// What the index keeps of customer `id`.
    pub fn get(&self, id: &str) -> Option<IndexedCustomer> {
        let slot = self.slot_of(id)?;
        let mut c = IndexedCustomer {
            id: self.id_of(slot).to_owned(),
            name: None,
            tier: self.tier_of(slot).map(str::to_owned),
            keys: Vec::new(),
        };
        for r in records(self.data(slot)) {
            match r.tag {
                T_USER => c.keys.push(format!(
                    "user {}:{}{}",
                    self.platform_name(r.key[0]),
                    unpack_digits(&r.key[1..]),
                    if r.value == [1] { " (verified)" } else { "" }
                )),
                T_HANDLE => c
                    .keys
                    .push(format!("handle {}", self.platform_key_str(r.key))),
                T_EMAIL => c.keys.push(format!("email {}", as_str(r.key))),
                T_PHONE => c.keys.push(format!("phone +{}", unpack_digits(r.key))),
                T_NAME => c.name = Some(as_str(r.key).to_owned()),
                _ => {}
            }
        }
        Some(c)
    }

    /// `x:1500000001` for a `[platform][key]` record key.
    fn platform_key_str(&self, key: &[u8]) -> String {
        match key.split_first() {
            Some((p, rest)) => format!("{}:{}", self.platform_name(*p), as_str(rest)),
            None => String::new(),
        }
    }

    pub(crate) fn platform_name(&self, id: u8) -> &str {
        self.symbols
            .of(Sym::Platform)
            .name(id as u16)
            .unwrap_or("?")
    }

    /// The number of a (normalized) platform name, if any customer has an identity there.
    pub(crate) fn platform_id(&self, platform: &str) -> Option<u8> {
        self.symbols
            .of(Sym::Platform)
            .get(platform)
            .map(|i| i as u8)
    }

    /// Insert or replace a customer; the keys (and the context) of the previous version are
    /// dropped first.
    pub fn upsert(&mut self, customer: Customer) {
        if let Some(data) = pack(&customer, &self.config, self.region, &mut self.symbols) {
            self.store.put(&data);
        }
    }

    /// Remove a customer and every key that led to it. Returns whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        self.store.remove(id)
    }

    /// Apply one change read from the CRM topic.
    pub fn apply(&mut self, change: CustomerChange) {
        match change {
            CustomerChange::Upsert(c) => self.upsert(*c),
            CustomerChange::Delete(id) => {
                self.remove(&id);
            }
        }
    }

    /// Match an event's author to a customer: a platform-id link first, then an email or phone
    /// the author gave, then scored evidence. Pure: no I/O, no clock.
    pub fn match_author(&self, platform: &str, author: &Author) -> IdentityMatch {
        matcher::match_author(self, platform, author)
    }
}

/// A decision for people (`outcry match`): who was looked up, the band, the customer, why.
pub fn render_match(platform: &str, author: &Author, m: &IdentityMatch) -> String {
    let mut who = format!("{}:{}", keys::platform(platform), author.id);
    for (label, v) in [
        ("handle @", &author.handle),
        ("name ", &author.display_name),
        ("location ", &author.location),
        ("email ", &author.email),
        ("phone ", &author.phone),
    ] {
        if let Some(v) = v {
            who.push_str(&format!(", {label}{}", v.trim_start_matches('@')));
        }
    }
    let band = serde_json::to_value(m.confidence)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut out = format!("author:     {who}\ndecision:   {band}");
    if let Some(id) = &m.customer_id {
        out.push_str(&format!(" -> customer {id}"));
        if let Some(t) = &m.tier {
            out.push_str(&format!(" (tier {t})"));
        }
    }
    if let Some(score) = m.score {
        out.push_str(&format!(", score {score:.2}"));
    }
    out.push_str(&format!("\nwhy:        {}\n", m.explanation));
    if !m.candidates.is_empty() {
        out.push_str("candidates:");
        for c in &m.candidates {
            out.push_str(&format!(" {} ({:.2})", c.customer_id, c.score));
        }
        out.push('\n');
    }
    out
}

/// A key's 32-bit hash. Table entries carry it, so that growing the table never reads a
/// record and a lookup reads only the records whose hash agrees.
fn key_hash(hasher: &DefaultHashBuilder, tag: u8, key: &[u8]) -> u32 {
    // Never 0, so that no table entry is 0 (an empty bucket).
    ((hasher.hash_one((tag, key)) >> 32) as u32).max(1)
}

/// A table entry: the key's hash, its customer's slot and the record's number.
fn entry(h: u32, slot: u32, record: usize) -> u64 {
    ((h as u64) << 32) | ((slot << SLOT_SHIFT) | record as u32) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Confidence;

    fn customer(json: &str) -> Customer {
        serde_json::from_str(json).unwrap()
    }

    fn index() -> IdentityIndex {
        let mut ix = IdentityIndex::new();
        ix.upsert(customer(
            r#"{"id":"C1","name":"Maria Gonzalez","emails":["Maria@Example.com"],"phones":["+1 (555) 123-0001"],"identities":[{"platform":"twitter","user_id":"15","handle":"MariaG","verified":true}],"tier":"gold","loyalty_id":"L-77"}"#,
        ));
        ix.upsert(customer(
            r#"{"id":"C2","name":"Tom Baker","identities":[{"platform":"reddit","user_id":"t2_abc","handle":"tombaker"}]}"#,
        ));
        ix.upsert(customer(r#"{"id":"C3","name":"Tom Baker"}"#));
        ix
    }

    fn author(id: &str) -> Author {
        Author {
            id: id.into(),
            ..Author::default()
        }
    }

    #[test]
    fn the_index_keeps_normalized_keys() {
        let ix = index();
        let c = ix.get("C1").unwrap();
        assert_eq!(c.name.as_deref(), Some("gonzalez maria"));
        assert_eq!(c.tier.as_deref(), Some("gold"));
        assert_eq!(
            c.keys,
            [
                "user x:15 (verified)",
                "handle x:mariag",
                "email maria@example.com",
                "phone +15551230001"
            ]
        );
    }

    #[test]
    fn digit_strings_pack_and_unpack_exactly() {
        for s in [
            "0042",
            "1500000001",
            "17841400000000001",
            "123",
            "t2_abc",
            "00000",
        ] {
            let mut k = Vec::new();
            pack_digits(s, &mut k);
            assert_eq!(unpack_digits(&k), s);
            if s.len() >= 4 && s.bytes().all(|b| b.is_ascii_digit()) {
                assert_eq!(k.len(), 1 + s.len().div_ceil(2), "{s}");
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        pack_digits("0123", &mut a);
        pack_digits("123", &mut b);
        assert_ne!(a, b, "leading zeros count");
        // a numeric user id in the CRM JSON is the same id as the string
        let mut ix = IdentityIndex::new();
        ix.upsert(customer(
            r#"{"id":"N1","identities":[{"platform":"x","user_id":1500000009,"verified":true}]}"#,
        ));
        assert_eq!(
            ix.match_author("x", &author("1500000009")).confidence,
            Confidence::Verified
        );
    }

    #[test]
    fn confidence_follows_the_evidence() {
        let ix = index();
        let m = ix.match_author("x", &author("15"));
        assert_eq!(
            (m.customer_id.as_deref(), m.confidence),
            (Some("C1"), Confidence::Verified)
        );
        assert_eq!(m.tier.as_deref(), Some("gold"));

        let m = ix.match_author("reddit", &author("t2_abc"));
        assert_eq!(
            (m.customer_id.as_deref(), m.confidence),
            (Some("C2"), Confidence::Strong)
        );

        let mut a = author("999");
        a.email = Some(" maria@example.COM".into());
        let m = ix.match_author("facebook", &a);
        assert_eq!(
            (m.customer_id.as_deref(), m.confidence),
            (Some("C1"), Confidence::Strong)
        );
        assert!(m.explanation.contains("email"));

        let mut a = author("999");
        a.phone = Some("15551230001".into());
        assert_eq!(ix.match_author("x", &a).customer_id.as_deref(), Some("C1"));

        let mut a = author("999");
        a.handle = Some("@mariag".into());
        let m = ix.match_author("x", &a);
        assert_eq!(m.confidence, Confidence::Unknown, "a reused handle: {m:?}");
        assert!(m.explanation.contains("recorded for x:15"), "{m:?}");
    }

    #[test]
    fn a_name_alone_is_not_enough_and_two_equal_names_are_ambiguous() {
        let ix = index();
        let mut a = author("1");
        a.display_name = Some("Maria Gonzalez".into());
        let m = ix.match_author("x", &a);
        assert_eq!(m.confidence, Confidence::Unknown, "{m:?}");
        assert!(
            m.explanation
                .contains("below the probable threshold 5.00: C1"),
            "{m:?}"
        );
        let mut a = author("1");
        a.display_name = Some("tom  baker".into());
        a.handle = Some("tombaker".into());
        let m = ix.match_author("reddit", &a);
        // the handle is recorded for t2_abc, not this author: no evidence; the names tie
        assert_eq!(m.confidence, Confidence::Unknown, "{m:?}");
        assert!(
            m.explanation.contains("recorded for reddit:t2_abc"),
            "{m:?}"
        );
    }

    #[test]
    fn upsert_replaces_old_keys_and_remove_drops_them() {
        let mut ix = index();
        ix.upsert(customer(
            r#"{"id":"C1","identities":[{"platform":"x","user_id":"16"}]}"#,
        ));
        assert_eq!(
            ix.match_author("x", &author("15")).confidence,
            Confidence::Unknown
        );
        assert_eq!(
            ix.match_author("x", &author("16")).customer_id.as_deref(),
            Some("C1")
        );
        assert!(ix.remove("C1"));
        assert_eq!(
            ix.match_author("x", &author("16")).confidence,
            Confidence::Unknown
        );
        assert_eq!(ix.len(), 2);
        // the name index forgot C1 but still knows both Toms
        let mut a = author("1");
        a.display_name = Some("Tom Baker".into());
        assert_eq!(ix.match_author("x", &a).confidence, Confidence::Unknown);
    }
    fn tags(ix: &IdentityIndex, id: &str) -> Vec<u8> {
        records(ix.data(ix.slot_of(id).unwrap()))
            .map(|r| r.tag)
            .collect()
    }

    #[test]
    fn every_context_field_round_trips() {
        let mut ix = IdentityIndex::new();
        ix.upsert(customer(
            r#"{"id":"K1","tier":"gold","value":1234.5,"segment":" smb ","language":"PT-br","open_cases":3,
                "upcoming":[{"at":"2026-07-02T08:30:00Z","what":"visit"},{"departure":"2026-07-01"},"soon"],
                "related":["K2","K3","K1","","K2"],"do_not_contact":true,
                "identities":[{"platform":"x","user_id":"77"}]}"#,
        ));
        ix.upsert(customer(r#"{"id":"K2","tier":"platinum"}"#));
        let want = CustomerContext {
            value: Some(1234.5),
            segment: Some("smb".into()),
            language: Some("pt".into()),
            open_cases: 3,
            upcoming_ms: vec![1_782_864_000_000, 1_782_981_000_000],
            // K3 is not in the index; K1 itself and the repeated K2 are not kept
            related_tiers: vec!["platinum".into()],
            do_not_contact: true,
        };
        assert_eq!(ix.context_of_customer("K1"), Some(want.clone()));
        // the match carries it, with the other fields as they were
        let m = ix.match_author("x", &author("77"));
        assert_eq!(m.customer_id.as_deref(), Some("K1"));
        assert_eq!(m.tier.as_deref(), Some("gold"));
        assert_eq!(m.context, Some(want));
        // each field alone
        for (json, check) in [
            (
                r#""value":-2"#,
                CustomerContext {
                    value: Some(-2.0),
                    ..Default::default()
                },
            ),
            (
                r#""segment":"enterprise""#,
                CustomerContext {
                    segment: Some("enterprise".into()),
                    ..Default::default()
                },
            ),
            (
                r#""language":"fr""#,
                CustomerContext {
                    language: Some("fr".into()),
                    ..Default::default()
                },
            ),
            (
                r#""open_cases":70000"#,
                CustomerContext {
                    open_cases: 70_000,
                    ..Default::default()
                },
            ),
            (
                r#""upcoming":[1800000000]"#,
                CustomerContext {
                    upcoming_ms: vec![1_800_000_000_000],
                    ..Default::default()
                },
            ),
            (
                r#""related":["K2"]"#,
                CustomerContext {
                    related_tiers: vec!["platinum".into()],
                    ..Default::default()
                },
            ),
            (
                r#""do_not_contact":true"#,
                CustomerContext {
                    do_not_contact: true,
                    ..Default::default()
                },
            ),
        ] {
            ix.upsert(customer(&format!(r#"{{"id":"K9",{json}}}"#)));
            assert_eq!(ix.context_of_customer("K9"), Some(check), "{json}");
            assert!(tags(&ix, "K9").contains(&T_CTX), "{json}");
        }
        assert_eq!(ix.context_of_customer("nobody"), None);
    }

    #[test]
    fn a_customer_without_context_has_no_context_record() {
        let mut ix = IdentityIndex::new();
        let plain = r#"{"id":"P1","name":"Ann Lee","tier":"gold","emails":["ann@example.com"],"open_cases":0,"do_not_contact":false,"upcoming":["never"],"related":[" ","P1"],"language":"English","segment":" "}"#;
        ix.upsert(customer(plain));
        assert_eq!(tags(&ix, "P1"), [T_ID, T_TIER, T_EMAIL, T_NAME]);
        let bare = pack(
            &customer(r#"{"id":"P1","name":"Ann Lee","tier":"gold","emails":["ann@example.com"]}"#),
            &IdentityConfig::default(),
            None,
            &mut Symbols::default(),
        )
        .unwrap();
        assert_eq!(
            ix.data(ix.slot_of("P1").unwrap()),
            &bare[..],
            "not one byte more"
        );
        // matched: a context, empty; not matched: none
        assert_eq!(
            ix.context_of_customer("P1"),
            Some(CustomerContext::default())
        );
        let mut a = author("1");
        a.email = Some("ann@example.com".into());
        assert_eq!(
            ix.match_author("x", &a).context,
            Some(CustomerContext::default())
        );
        assert_eq!(ix.match_author("x", &author("2")).context, None);
    }

    #[test]
    fn replaced_records_are_compacted_away() {
        let mut ix = IdentityIndex::new();
        let rec = |i: usize, v: usize| {
            customer(&format!(
                r#"{{"id":"R{i}","emails":["r{i}.v{v}@example.com"],"identities":[{{"platform":"x","user_id":"{}"}}]}}"#,
                1000 + i
            ))
        };
        let mut compactions = 0;
        for v in 0..1000 {
            for i in 0..60 {
                let before = ix.store.arena.len();
                ix.upsert(rec(i, v));
                if ix.store.arena.len() < before {
                    compactions += 1;
                }
            }
            // deletes free slots, which new customers take again
            if v % 50 == 0 {
                assert!(ix.remove("R7"));
                ix.upsert(rec(7, v));
            }
        }
        assert!(compactions > 0);
        let s = &ix.store;
        assert!(
            s.garbage * 4 < s.arena.len().max(MIN_GARBAGE * 4),
            "{}",
            s.garbage
        );
        assert_eq!(ix.len(), 60);
        assert_eq!(s.keys.len(), 60 * 3);
        for i in 0..60 {
            let c = ix.get(&format!("R{i}")).unwrap();
            assert_eq!(
                c.keys,
                [
                    format!("user x:{}", 1000 + i),
                    format!("email r{i}.v999@example.com")
                ]
            );
            let mut a = author("1");
            a.email = Some(format!("r{i}.v998@example.com"));
            assert_eq!(ix.match_author("x", &a).customer_id, None, "the old email");
            a.email = Some(format!("r{i}.v999@example.com"));
            assert_eq!(ix.match_author("x", &a).customer_id, Some(format!("R{i}")));
        }
    }

    #[test]
    fn related_tiers_follow_the_related_customers() {
        let mut ix = IdentityIndex::new();
        ix.upsert(customer(
            r#"{"id":"A","related":["B","C"],"identities":[{"platform":"x","user_id":"1"}]}"#,
        ));
        let tiers = |ix: &IdentityIndex| ix.context_of_customer("A").unwrap().related_tiers;
        assert!(tiers(&ix).is_empty(), "neither is in the index yet");
        ix.upsert(customer(r#"{"id":"B","tier":"silver"}"#));
        ix.upsert(customer(r#"{"id":"C"}"#));
        assert_eq!(tiers(&ix), ["silver"], "C has no tier");
        ix.upsert(customer(r#"{"id":"C","tier":"gold"}"#));
        ix.upsert(customer(r#"{"id":"B","tier":"platinum"}"#));
        assert_eq!(tiers(&ix), ["platinum", "gold"]);
        assert!(ix.remove("B"));
        assert_eq!(tiers(&ix), ["gold"]);
        assert_eq!(
            ix.match_author("x", &author("1"))
                .context
                .unwrap()
                .related_tiers,
            ["gold"]
        );
        // A's own update replaces its related list
        ix.upsert(customer(r#"{"id":"A","related":["B"]}"#));
        assert!(tiers(&ix).is_empty());
    }
}
