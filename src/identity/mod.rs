//! identity: CRM customer records, the index of their keys, and matching an author to one.
//!
//! Confidence is explicit and ordered (docs/identity.md): a verified platform-id link beats a
//! strong key (an unverified platform-id link, or an email or phone the author gave) beats a
//! probable one (scored evidence: name, location, a handle with no platform id recorded);
//! anything else is an unknown prospect. Customers about equally likely give `unknown` with the
//! candidates listed. Every match says which keys agreed and the scores.
//!
//! Memory: the index keeps, per customer, only what matching and routing need (id, keys,
//! folded name, location, tier) packed in one byte record, and a hash table of 8-byte entries
//! (a 32-bit hash of the key, the customer's slot, the record's number) pointing into those
//! records; the full CRM record is not kept.

mod config;
pub mod keys;
mod load;
mod matcher;

pub use config::{IdentityConfig, Weights};
pub use load::{
    load_snapshot, load_snapshot_csv, load_snapshot_file, parse_change, CustomerChange,
    SnapshotError,
};

use crate::event::{Author, IdentityMatch};
use hashbrown::{DefaultHashBuilder, HashTable};
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
const T_TIER: u8 = 7; // value: u16 LE index into `tiers`

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

/// Every customer, and every key that leads to one.
#[derive(Clone)]
pub struct IdentityIndex {
    config: Arc<IdentityConfig>,
    region: Option<Region>,
    hasher: DefaultHashBuilder,
    /// Packed customers; None is a free slot.
    slots: Vec<Option<Box<[u8]>>>,
    free: Vec<u32>,
    /// `hash << 32 | slot << 5 | record number` for every id, platform id, handle, email,
    /// phone and name.
    keys: HashTable<u64>,
    /// Interned platform names (`x`, `instagram`): records hold their number.
    platforms: Vec<Box<str>>,
    tiers: Vec<Box<str>>,
    live: usize,
}

impl std::fmt::Debug for IdentityIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityIndex")
            .field("customers", &self.live)
            .field("keys", &self.keys.len())
            .field("platforms", &self.platforms)
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
            hasher: DefaultHashBuilder::default(),
            slots: Vec::new(),
            free: Vec::new(),
            keys: HashTable::new(),
            platforms: Vec::new(),
            tiers: Vec::new(),
            live: 0,
        }
    }

    pub fn config(&self) -> &IdentityConfig {
        &self.config
    }

    /// Make room for `additional` more customers (a snapshot of known size loads faster and
    /// without the slack of repeated doubling).
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        self.keys
            .reserve(additional * KEYS_PER_CUSTOMER, |&e| entry_hash(e));
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Bytes held by the index (records, tables), for the memory benchmark.
    pub fn heap_bytes(&self) -> usize {
        let records: usize = self
            .slots
            .iter()
            .flatten()
            .map(|r| r.len().next_multiple_of(16) + 16)
            .sum();
        records
            + self.slots.capacity() * std::mem::size_of::<Option<Box<[u8]>>>()
            + self.free.capacity() * 4
            + self.keys.allocation_size()
    }

    fn hash_key(&self, tag: u8, key: &[u8]) -> u32 {
        key_hash(&self.hasher, tag, key)
    }

    fn data(&self, slot: u32) -> &[u8] {
        self.slots[slot as usize].as_deref().unwrap_or(&[])
    }

    /// Slots whose record `tag`/`key` is indexed, each with its record.
    fn lookup<'a>(&'a self, tag: u8, key: &'a [u8]) -> impl Iterator<Item = (u32, Rec<'a>)> + 'a {
        let h = self.hash_key(tag, key);
        self.keys.iter_hash(spread(h)).filter_map(move |&e| {
            if (e >> 32) as u32 != h {
                return None;
            }
            let slot = (e as u32) >> SLOT_SHIFT;
            let r = records(self.data(slot)).nth((e & 31) as usize)?;
            (r.tag == tag && r.key == key).then_some((slot, r))
        })
    }

    /// How many entries carry the 32-bit hash of `tag`/`key`, counting up to `limit`: a cheap
    /// upper bound of how many customers have that key (no record is read).
    fn count_hash(&self, tag: u8, key: &[u8], limit: usize) -> usize {
        let h = self.hash_key(tag, key);
        self.keys
            .iter_hash(spread(h))
            .filter(|&&e| (e >> 32) as u32 == h)
            .take(limit)
            .count()
    }

    fn slot_of(&self, id: &str) -> Option<u32> {
        self.lookup(T_ID, id.as_bytes()).next().map(|(s, _)| s)
    }

    fn id_of(&self, slot: u32) -> &str {
        records(self.data(slot))
            .next()
            .map(|r| as_str(r.key))
            .unwrap_or("")
    }

    fn tier_of(&self, slot: u32) -> Option<&str> {
        records(self.data(slot))
            .find(|r| r.tag == T_TIER)
            .and_then(|r| {
                let i = u16::from_le_bytes([r.value[0], r.value[1]]);
                self.tiers.get(i as usize).map(|t| &**t)
            })
    }

    /// What the index keeps of customer `id`.
    pub fn get(&self, id: &str) -> Option<IndexedCustomer> {
        let slot = self.slot_of(id)?;
        let mut c = IndexedCustomer {
            id: id.to_owned(),
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
        self.platforms.get(id as usize).map(|p| &**p).unwrap_or("?")
    }

    /// The number of a (normalized) platform name, if any customer has an identity there.
    pub(crate) fn platform_id(&self, platform: &str) -> Option<u8> {
        self.platforms
            .iter()
            .position(|p| &**p == platform)
            .map(|i| i as u8)
    }

    fn intern_platform(&mut self, platform: &str) -> Option<u8> {
        if let Some(i) = self.platform_id(platform) {
            return Some(i);
        }
        if self.platforms.len() >= 255 {
            return None;
        }
        self.platforms.push(platform.into());
        Some((self.platforms.len() - 1) as u8)
    }

    fn tier_index(&mut self, tier: &str) -> u16 {
        if let Some(i) = self.tiers.iter().position(|t| &**t == tier) {
            return i as u16;
        }
        self.tiers.push(tier.into());
        (self.tiers.len() - 1) as u16
    }

    /// Pack a customer's keys into one record. A key already written is not written twice.
    fn pack(&mut self, c: &Customer) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        // Returns the record's number (a key already written returns the earlier one's).
        let add = |out: &mut Vec<u8>, tag: u8, key: &[u8], value: &[u8]| -> Option<u8> {
            if key.is_empty() {
                return None;
            }
            let mut count = 0;
            for (i, r) in records(out).enumerate() {
                if r.tag == tag && r.key == key {
                    return Some(i as u8);
                }
                count = i + 1;
            }
            (count < MAX_RECORDS && push_rec(out, tag, key, value)).then_some(count as u8)
        };
        add(&mut out, T_ID, c.id.trim().as_bytes(), &[]);
        // The tier next to the id: a match reads both, from the record's first cache line.
        if let Some(t) = c.tier.as_deref() {
            let i = self.tier_index(t);
            push_rec(&mut out, T_TIER, &[], &i.to_le_bytes());
        }
        let mut key = Vec::with_capacity(64);
        for ident in &c.identities {
            let Some(pid) = self.intern_platform(&keys::platform(&ident.platform)) else {
                continue;
            };
            let uid = ident.user_id.as_deref().map(str::trim).unwrap_or("");
            let mut user_rec = None;
            if !uid.is_empty() {
                key = user_key(pid, uid);
                user_rec = add(&mut out, T_USER, &key, &[ident.verified as u8]);
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
                    add(&mut out, T_HANDLE, &key, value);
                }
            }
        }
        let rules = self.config.email_provider_rules;
        for e in &c.emails {
            if let Some(k) = keys::email(e, rules) {
                add(&mut out, T_EMAIL, k.as_bytes(), &[]);
            }
        }
        let region = c
            .country
            .as_deref()
            .and_then(config::parse_region)
            .or(self.region);
        for p in &c.phones {
            if let Some(k) = keys::phone(p, region) {
                add(&mut out, T_PHONE, &phone_key(&k), &[]);
            }
        }
        if let Some(name) = c.name.as_deref() {
            let block = keys::name_block(&keys::fold(name));
            add(&mut out, T_NAME, block.as_bytes(), &[]);
        }
        let locs: Vec<String> = [&c.location, &c.city]
            .into_iter()
            .flatten()
            .map(|l| keys::fold(l))
            .filter(|l| !l.is_empty())
            .collect();
        if !locs.is_empty() {
            push_rec(&mut out, T_LOC, &[], locs.join("|").as_bytes());
        }
        out
    }

    /// Insert or replace a customer; the keys of the previous version are dropped first.
    pub fn upsert(&mut self, customer: Customer) {
        let id = customer.id.trim();
        if id.is_empty() || id.len() > 255 {
            return;
        }
        let data = self.pack(&customer).into_boxed_slice();
        let slot = match self.slot_of(&customer.id) {
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
                        self.slots.push(None);
                        (self.slots.len() - 1) as u32
                    }
                }
            }
        };
        self.slots[slot as usize] = Some(data);
        self.index(slot);
    }

    fn index(&mut self, slot: u32) {
        let data = self.slots[slot as usize].take().unwrap_or_default();
        for (n, r) in records(&data).enumerate().take(MAX_RECORDS) {
            if is_table_key(r.tag) {
                let h = key_hash(&self.hasher, r.tag, r.key);
                let e = entry(h, slot, n);
                self.keys.insert_unique(spread(h), e, |&x| entry_hash(x));
            }
        }
        self.slots[slot as usize] = Some(data);
    }

    fn unindex(&mut self, slot: u32) {
        let Some(data) = self.slots[slot as usize].take() else {
            return;
        };
        for (n, r) in records(&data).enumerate().take(MAX_RECORDS) {
            if is_table_key(r.tag) {
                let h = key_hash(&self.hasher, r.tag, r.key);
                let e = entry(h, slot, n);
                if let Ok(entry) = self.keys.find_entry(spread(h), |&x| x == e) {
                    entry.remove();
                }
            }
        }
    }

    /// Remove a customer and every key that led to it. Returns whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.slot_of(id) else {
            return false;
        };
        self.unindex(slot);
        self.slots[slot as usize] = None;
        self.free.push(slot);
        self.live -= 1;
        true
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
    (hasher.hash_one((tag, key)) >> 32) as u32
}

/// The 64-bit hash the table wants (bucket from the low bits, tag from the top 7) from 32.
fn spread(h: u32) -> u64 {
    (h as u64 | ((h as u64) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A table entry: the key's hash, its customer's slot and the record's number.
fn entry(h: u32, slot: u32, record: usize) -> u64 {
    ((h as u64) << 32) | ((slot << SLOT_SHIFT) | record as u32) as u64
}

fn entry_hash(e: u64) -> u64 {
    spread((e >> 32) as u32)
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
}
