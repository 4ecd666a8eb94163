//! The CRM context of a customer (`CustomerContext`: value, segment, language, open cases,
//! upcoming appointments, related customers, do-not-contact), read from the CRM record and
//! kept in one compact record of the packed customer — only when the customer has any of it,
//! so a customer without context costs nothing more.
//!
//! The `T_CTX` value is a flags byte, then, in this order and only when its flag is set: the
//! value (f64 LE), the segment's and the language's interned numbers (LEB128), the open cases
//! (LEB128), the upcoming times (a count byte, then that many i64 LE Unix ms, ascending).
//! Do-not-contact is a flag alone; so is "has related customers", whose ids are `T_REL`
//! records at the end of the packed customer (their tiers are looked up at match time, so
//! they follow the related customers' own updates and deletes).

use super::record::CustomerRef;
use super::{Intern, Sym};
use serde_json::Value;

const F_VALUE: u8 = 1;
const F_SEGMENT: u8 = 2;
const F_LANGUAGE: u8 = 4;
const F_OPEN_CASES: u8 = 8;
const F_UPCOMING: u8 = 16;
const F_DO_NOT_CONTACT: u8 = 32;
const F_RELATED: u8 = 64;

/// Upcoming times kept per customer (the earliest ones).
pub(super) const MAX_UPCOMING: usize = 8;
/// Related customers kept per customer.
pub(super) const MAX_RELATED: usize = 32;

/// The fields of an upcoming entry (an appointment, a booking) that may hold its time, in the
/// order they are tried.
pub(super) const TIME_FIELDS: &[&str] = &[
    "at",
    "start",
    "starts_at",
    "time",
    "date",
    "departure",
    "departs_at",
];

/// The `T_CTX` value of a customer, None when it has no context at all.
pub(super) fn encode(
    c: &CustomerRef<'_>,
    has_related: bool,
    syms: &mut impl Intern,
) -> Option<Vec<u8>> {
    let mut flags = 0u8;
    let mut out = vec![0u8];
    if let Some(v) = c.value.filter(|v| v.is_finite()) {
        flags |= F_VALUE;
        out.extend_from_slice(&v.to_le_bytes());
    }
    let segment = c
        .segment
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(i) = segment.and_then(|s| syms.intern(Sym::Segment, s)) {
        flags |= F_SEGMENT;
        leb128(&mut out, i as u32);
    }
    let lang = c.language.as_deref().and_then(primary_language);
    if let Some(i) = lang.and_then(|l| syms.intern(Sym::Language, &l)) {
        flags |= F_LANGUAGE;
        leb128(&mut out, i as u32);
    }
    if c.open_cases > 0 {
        flags |= F_OPEN_CASES;
        leb128(&mut out, c.open_cases);
    }
    let upcoming = upcoming_ms(&c.upcoming);
    if !upcoming.is_empty() {
        flags |= F_UPCOMING;
        out.push(upcoming.len() as u8);
        for t in &upcoming {
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
    if c.do_not_contact {
        flags |= F_DO_NOT_CONTACT;
    }
    if has_related {
        flags |= F_RELATED;
    }
    if flags == 0 {
        return None;
    }
    out[0] = flags;
    Some(out)
}

/// A `T_CTX` value read back; interned numbers not yet turned into names.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Decoded {
    pub value: Option<f64>,
    pub segment: Option<u16>,
    pub language: Option<u16>,
    pub open_cases: u32,
    pub upcoming_ms: Vec<i64>,
    pub do_not_contact: bool,
    pub related: bool,
}

pub(super) fn decode(b: &[u8]) -> Decoded {
    let mut d = Decoded::default();
    let Some((&flags, mut rest)) = b.split_first() else {
        return d;
    };
    if flags & F_VALUE != 0 {
        if let Some((v, r)) = rest.split_first_chunk::<8>() {
            d.value = Some(f64::from_le_bytes(*v));
            rest = r;
        }
    }
    if flags & F_SEGMENT != 0 {
        d.segment = read_leb128(&mut rest).map(|i| i as u16);
    }
    if flags & F_LANGUAGE != 0 {
        d.language = read_leb128(&mut rest).map(|i| i as u16);
    }
    if flags & F_OPEN_CASES != 0 {
        d.open_cases = read_leb128(&mut rest).unwrap_or(0);
    }
    if flags & F_UPCOMING != 0 {
        if let Some((&n, r)) = rest.split_first() {
            rest = r;
            for _ in 0..n {
                let Some((t, r)) = rest.split_first_chunk::<8>() else {
                    break;
                };
                d.upcoming_ms.push(i64::from_le_bytes(*t));
                rest = r;
            }
        }
    }
    d.do_not_contact = flags & F_DO_NOT_CONTACT != 0;
    d.related = flags & F_RELATED != 0;
    d
}

fn leb128(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_leb128(b: &mut &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let (&x, rest) = b.split_first()?;
        *b = rest;
        v |= ((x & 0x7F) as u32) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The ids of the related customers worth keeping: trimmed, not empty, at most 255 bytes, not
/// the customer itself, each once, at most [`MAX_RELATED`].
pub(super) fn related_ids<'a>(c: &'a CustomerRef<'_>) -> Vec<&'a str> {
    let own = c.id.trim();
    let mut ids: Vec<&str> = Vec::new();
    for r in &c.related {
        let r = r.trim();
        if r.is_empty() || r.len() > 255 || r == own || ids.contains(&r) {
            continue;
        }
        if ids.len() == MAX_RELATED {
            break;
        }
        ids.push(r);
    }
    ids
}

/// The lower-case primary language subtag of a language tag: `en-GB`, `EN`, `pt_BR` give
/// `en`, `en`, `pt`. None unless it is two or three ASCII letters (an ISO 639 code).
pub(super) fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?;
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

/// The start times (Unix ms) of the upcoming entries that can be read, ascending, each once,
/// the earliest [`MAX_UPCOMING`]. An entry is an object with its time in one of
/// [`TIME_FIELDS`], or a bare time; a time is RFC 3339, a date `YYYY-MM-DD` (midnight UTC), or
/// Unix seconds or milliseconds (a number, or a string of digits). Anything else is skipped.
pub(super) fn upcoming_ms(entries: &[Value]) -> Vec<i64> {
    let mut times: Vec<i64> = entries.iter().filter_map(entry_time).collect();
    times.sort_unstable();
    times.dedup();
    times.truncate(MAX_UPCOMING);
    times
}

fn entry_time(v: &Value) -> Option<i64> {
    match v {
        Value::Object(m) => TIME_FIELDS
            .iter()
            .find_map(|f| m.get(*f).and_then(scalar_time)),
        other => scalar_time(other),
    }
}

fn scalar_time(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().and_then(unix_number),
        Value::String(s) => string_time(s),
        _ => None,
    }
}

/// The last millisecond of the year 9999.
const MAX_MS: i64 = 253_402_300_799_999;

/// Unix seconds or milliseconds: 10^11 and above is milliseconds (as seconds it would be after
/// the year 5000; as milliseconds anything below is before 1973).
fn unix_number(x: f64) -> Option<i64> {
    if !x.is_finite() || x <= 0.0 {
        return None;
    }
    let ms = if x >= 1e11 { x } else { x * 1000.0 };
    let ms = ms.round();
    (ms <= MAX_MS as f64).then_some(ms as i64)
}

fn string_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok().and_then(unix_number);
    }
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    crate::normalize::time::unix_millis_of(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upcoming_times_in_every_accepted_form() {
        // 2026-07-01T10:00:00Z
        let t = 1_782_900_000_000i64;
        let day = 1_782_864_000_000i64; // 2026-07-01T00:00:00Z
        for (entry, want) in [
            (json!({"at": "2026-07-01T10:00:00Z"}), t),
            (json!({"start": "2026-07-01T12:00:00+02:00"}), t),
            (json!({"starts_at": "2026-07-01T10:00:00.000Z"}), t),
            (json!({"time": 1_782_900_000}), t),
            (json!({"date": "2026-07-01"}), day),
            (json!({"departure": 1_782_900_000_000i64}), t),
            (json!({"departs_at": "1782900000"}), t),
            (
                json!({"flight": "BA117", "departs_at": "2026-07-01T10:00:00Z"}),
                t,
            ),
            // the first field that reads wins; an unreadable one is passed over
            (json!({"at": "soon", "start": "2026-07-01"}), day),
            (json!("2026-07-01T10:00:00Z"), t),
            (json!("2026-07-01"), day),
            (json!(1_782_900_000), t),
            (json!(1_782_900_000.4), t + 400),
            (json!(1_782_900_000_000i64), t),
            (json!("1782900000000"), t),
        ] {
            assert_eq!(upcoming_ms(std::slice::from_ref(&entry)), [want], "{entry}");
        }
        for unreadable in [
            json!({"when": "2026-07-01"}),
            json!({"at": null}),
            json!("next tuesday"),
            json!("2026-13-01"),
            json!("2026-07-01T10:00:00"), // no offset: not RFC 3339
            json!(-5),
            json!(0),
            json!(true),
            json!(["2026-07-01"]),
            json!(1e300),
        ] {
            assert_eq!(
                upcoming_ms(std::slice::from_ref(&unreadable)),
                [] as [i64; 0],
                "{unreadable}"
            );
        }
    }

    #[test]
    fn upcoming_keeps_the_earliest_eight_ascending_once_each() {
        let entries: Vec<Value> = (0..12)
            .rev()
            .map(|i| json!({"at": 1_800_000_000 + i * 60}))
            .chain([json!("garbage"), json!({"at": 1_800_000_000})])
            .collect();
        let got = upcoming_ms(&entries);
        let want: Vec<i64> = (0..8).map(|i| (1_800_000_000 + i * 60) * 1000).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn languages_keep_their_primary_tag_in_lower_case() {
        for (tag, want) in [
            ("en", Some("en")),
            ("EN-gb", Some("en")),
            ("pt_BR", Some("pt")),
            (" es ", Some("es")),
            ("zh-Hant-TW", Some("zh")),
            ("yue", Some("yue")),
            ("English", None),
            ("e", None),
            ("", None),
            ("12", None),
        ] {
            assert_eq!(primary_language(tag).as_deref(), want, "{tag}");
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, 65_535, u32::MAX] {
            let mut b = Vec::new();
            leb128(&mut b, v);
            let mut r = b.as_slice();
            assert_eq!(read_leb128(&mut r), Some(v));
            assert!(r.is_empty());
        }
        assert_eq!(read_leb128(&mut [0x80u8].as_slice()), None, "truncated");
    }
}
