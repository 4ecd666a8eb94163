//! Loading customers: a JSONL or CSV snapshot at start, then changes from the compacted
//! `crm.customers` topic (plain JSON records or Debezium change envelopes; a tombstone deletes).

use super::record::{Change, CustomerRef};
use super::{Customer, IdentityIndex, PlatformIdentity};
use memchr::memmem::Finder;
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::sync::LazyLock;

/// One change to the customer table.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerChange {
    Upsert(Box<Customer>),
    Delete(String),
}

/// Every bad line of a snapshot, with its line number.
#[derive(Debug)]
pub struct SnapshotError {
    pub source: String,
    pub problems: Vec<String>,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} problem(s)", self.source, self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SnapshotError {}

/// Read a snapshot: CSV when `name` ends in `.csv` (see [`load_snapshot_csv`]), else JSONL
/// (one customer per line; blank lines and `#` comments skipped).
/// Every bad line is reported, not just the first.
pub fn load_snapshot(
    name: &str,
    text: &str,
    index: &mut IdentityIndex,
) -> Result<usize, SnapshotError> {
    if name.to_ascii_lowercase().ends_with(".csv") {
        return load_snapshot_csv(name, text, index);
    }
    if index.is_empty() {
        index.reserve(text.lines().count());
    }
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let mut problems = Vec::new();
    let mut loaded = 0;
    // Parsed on every core, applied in order (see `batch.rs`), a bounded chunk at a time.
    let threads = super::batch::default_threads();
    let mut loader = super::batch::Loader::new();
    loop {
        let chunk: Vec<(usize, &str)> = lines.by_ref().take(SNAPSHOT_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let report = index.load_parallel(&mut loader, chunk.len(), threads, |i| {
            let (line, text) = chunk[i];
            // Read in place; a line that does not read so is read again as a `Customer`, for
            // the same error.
            match serde_json::from_str::<CustomerRef>(text) {
                Ok(c) if !c.id.trim().is_empty() => return Ok(Change::Upsert(c)),
                _ => {}
            }
            match serde_json::from_str::<Customer>(text) {
                Ok(c) if c.id.trim().is_empty() => Err(format!("line {line}: empty id")),
                Ok(c) => Ok(Change::Owned(Box::new(c))),
                Err(e) => Err(format!("line {line}: {e}")),
            }
        });
        loaded += report.applied;
        problems.extend(report.problems.into_iter().map(|(_, p)| p));
    }
    index.finish_load(&mut loader);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(SnapshotError {
            source: name.to_owned(),
            problems,
        })
    }
}

/// Snapshot lines or rows parsed together (bounds the memory of a load beyond the text).
const SNAPSHOT_CHUNK: usize = 1 << 18;

/// Read a CSV snapshot with a header row. Columns: `id` (required), `name`, `emails` and
/// `phones` (several separated by `;` or `|`; `email`/`phone` also accepted), `tier`, `segment`,
/// `account_id`, `language`, `value`, `open_cases`, `do_not_contact` (`true`/`1`/`yes`),
/// `related` and `upcoming` (lists like `emails`; upcoming times as RFC 3339, `YYYY-MM-DD` or
/// Unix seconds/ms), and one identity per platform as `<platform>_user_id`,
/// `<platform>_handle`, `<platform>_verified` (`true`/`1`/`yes`), e.g. `x_user_id,x_handle`.
/// `location`, `city` (compared with the author's location) and `country` (the region of the
/// customer's phones) are read too; any other column is accepted and ignored.
/// Empty cells are absent values. Every bad row is reported.
pub fn load_snapshot_csv(
    name: &str,
    text: &str,
    index: &mut IdentityIndex,
) -> Result<usize, SnapshotError> {
    let mut rd = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let fail = |problems: Vec<String>| SnapshotError {
        source: name.to_owned(),
        problems,
    };
    let header: Vec<String> = match rd.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(e) => return Err(fail(vec![format!("header: {e}")])),
    };
    if !header.iter().any(|h| h == "id") {
        return Err(fail(vec!["header: no `id` column".into()]));
    }
    if index.is_empty() {
        index.reserve(text.lines().count().saturating_sub(1));
    }
    let mut problems = Vec::new();
    let mut loaded = 0;
    let threads = super::batch::default_threads();
    let mut loader = super::batch::Loader::new();
    let mut rows = rd.records();
    loop {
        // CSV is split into rows here; rows become customers on every core.
        let chunk: Vec<csv::Result<csv::StringRecord>> =
            rows.by_ref().take(SNAPSHOT_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let report = index.load_parallel(&mut loader, chunk.len(), threads, |i| match &chunk[i] {
            Err(e) => Err(e.to_string()),
            Ok(row) => csv_customer(&header, row)
                .map(|c| Change::Owned(Box::new(c)))
                .map_err(|e| {
                    let line = row.position().map(|p| p.line()).unwrap_or(0);
                    format!("line {line}: {e}")
                }),
        });
        loaded += report.applied;
        problems.extend(report.problems.into_iter().map(|(_, p)| p));
    }
    index.finish_load(&mut loader);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(fail(problems))
    }
}

fn identity_of<'a>(
    identities: &'a mut Vec<PlatformIdentity>,
    platform: &str,
) -> &'a mut PlatformIdentity {
    let i = match identities.iter().position(|i| i.platform == platform) {
        Some(i) => i,
        None => {
            identities.push(PlatformIdentity {
                platform: platform.to_owned(),
                user_id: None,
                handle: None,
                verified: false,
            });
            identities.len() - 1
        }
    };
    &mut identities[i]
}

fn csv_customer(header: &[String], row: &csv::StringRecord) -> Result<Customer, String> {
    let mut c: Customer = serde_json::from_str("{\"id\":\"\"}").expect("minimal customer");
    let list = |v: &str| -> Vec<String> {
        v.split([';', '|'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut identities: Vec<PlatformIdentity> = Vec::new();
    for (col, v) in header.iter().zip(row.iter()) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let some = Some(v.to_owned());
        match col.as_str() {
            "id" => c.id = v.to_owned(),
            "name" => c.name = some,
            "email" | "emails" => c.emails.extend(list(v)),
            "phone" | "phones" => c.phones.extend(list(v)),
            "tier" => c.tier = some,
            "segment" => c.segment = some,
            "account_id" => c.account_id = some,
            "language" => c.language = some,
            "location" => c.location = some,
            "city" => c.city = some,
            "country" => c.country = some,
            "related" => c.related.extend(list(v)),
            "upcoming" => c
                .upcoming
                .extend(list(v).into_iter().map(serde_json::Value::String)),
            "open_cases" => {
                c.open_cases = v
                    .parse()
                    .map_err(|_| format!("open_cases {v:?} is not a count"))?
            }
            "do_not_contact" => {
                c.do_not_contact = matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
            }
            "value" => {
                c.value = Some(
                    v.parse()
                        .map_err(|_| format!("value {v:?} is not a number"))?,
                )
            }
            other => {
                if let Some(p) = other.strip_suffix("_user_id") {
                    identity_of(&mut identities, p).user_id = some;
                } else if let Some(p) = other.strip_suffix("_handle") {
                    identity_of(&mut identities, p).handle = some;
                } else if let Some(p) = other.strip_suffix("_verified") {
                    identity_of(&mut identities, p).verified =
                        matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes");
                }
                // any other column is accepted and not needed by the index
            }
        }
    }
    c.identities = identities
        .into_iter()
        .filter(|i| i.user_id.is_some() || i.handle.is_some())
        .collect();
    if c.id.is_empty() {
        return Err("empty id".into());
    }
    Ok(c)
}

/// Read a snapshot file from disk.
pub fn load_snapshot_file(path: &Path, index: &mut IdentityIndex) -> Result<usize, SnapshotError> {
    let text = std::fs::read_to_string(path).map_err(|e| SnapshotError {
        source: path.display().to_string(),
        problems: vec![e.to_string()],
    })?;
    load_snapshot(&path.display().to_string(), &text, index)
}

/// Turn one `crm.customers` message into a change. `key` is the message key (the customer id),
/// used for tombstones and Debezium deletes.
/// A parse error without the values it quotes: serde writes `invalid type: string "a@b.co"`,
/// and these messages are logged. Quoted strings go, and so do back-ticked values with a digit
/// or an `@` (`14155550101`); field names (`emails`) stay.
fn redacted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(['"', '`']) {
        let quote = rest[i..].chars().next().unwrap_or('"');
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find(quote) {
            Some(j) => {
                let inner = &after[..j];
                if quote == '"' || inner.contains(|c: char| c.is_ascii_digit() || c == '@') {
                    out.push(quote);
                    out.push('…');
                    out.push(quote);
                } else {
                    out.push(quote);
                    out.push_str(inner);
                    out.push(quote);
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push('…');
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a payload may be a Debezium envelope rather than a plain record.
pub(super) fn maybe_envelope(payload: &[u8]) -> bool {
    static OP: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"op\""));
    static PAYLOAD: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"payload\""));
    OP.find(payload).is_some() || PAYLOAD.find(payload).is_some()
}

pub fn parse_change(key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<CustomerChange, String> {
    let key_id = || {
        key.and_then(|k| std::str::from_utf8(k).ok())
            .map(|k| {
                // Debezium keys may be JSON: {"id":"C1"} or {"payload":{"id":"C1"}}
                match serde_json::from_str::<Value>(k) {
                    Ok(v) => v
                        .pointer("/payload/id")
                        .or_else(|| v.get("id"))
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| k.to_owned()),
                    Err(_) => k.to_owned(),
                }
            })
            .filter(|k| !k.is_empty())
    };
    let Some(payload) = payload.filter(|p| !p.is_empty()) else {
        return key_id()
            .map(CustomerChange::Delete)
            .ok_or_else(|| "tombstone without a key".to_owned());
    };
    // A plain record (most of a compacted topic) is read straight into a customer; only a
    // payload that may be a Debezium envelope goes through a generic value.
    if !maybe_envelope(payload) {
        if let Ok(c) = serde_json::from_slice::<Customer>(payload) {
            return check_id(c).map(|c| CustomerChange::Upsert(Box::new(c)));
        }
    }
    let value: Value = serde_json::from_slice(payload).map_err(|e| redacted(&e.to_string()))?;
    // Debezium: {"payload":{"op":..,"before":..,"after":..}} or the unwrapped {"op":..,"after":..}
    let envelope = value
        .get("payload")
        .filter(|p| p.get("op").is_some())
        .unwrap_or(&value);
    if let Some(op) = envelope.get("op").and_then(Value::as_str) {
        return match op {
            "c" | "u" | "r" => {
                let after = envelope
                    .get("after")
                    .filter(|a| !a.is_null())
                    .ok_or_else(|| format!("debezium op {op} without `after`"))?;
                customer(after.clone()).map(|c| CustomerChange::Upsert(Box::new(c)))
            }
            "d" => envelope
                .get("before")
                .and_then(|b| b.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(key_id)
                .map(CustomerChange::Delete)
                .ok_or_else(|| "debezium delete without an id".to_owned()),
            other => Err(format!("unknown debezium op `{other}`")),
        };
    }
    customer(value).map(|c| CustomerChange::Upsert(Box::new(c)))
}

fn customer(value: Value) -> Result<Customer, String> {
    check_id(serde_json::from_value(value).map_err(|e| redacted(&e.to_string()))?)
}

fn check_id(c: Customer) -> Result<Customer, String> {
    if c.id.trim().is_empty() {
        return Err("customer with an empty id".to_owned());
    }
    Ok(c)
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn parse_errors_do_not_quote_values() {
        let err = parse_change(
            Some(b"C9"),
            Some(br#"{"id":"C9","emails":"maria@example.com"}"#),
        )
        .unwrap_err();
        assert!(!err.contains("maria"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
        let err =
            parse_change(Some(b"C9"), Some(br#"{"id":"C9","phones":14155550101}"#)).unwrap_err();
        assert!(!err.contains("14155550101"), "{err}");
        assert_eq!(redacted("missing field `id`"), "missing field `id`");
        assert_eq!(redacted("unterminated \"abc"), "unterminated …");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reports_every_bad_line() {
        let mut ix = IdentityIndex::new();
        let text = "{\"id\":\"C1\"}\n\n# comment\nnot json\n{\"id\":\"\"}\n{\"id\":\"C2\"}\n";
        let err = load_snapshot("s", text, &mut ix).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.problems[0].starts_with("line 4"));
        assert!(err.problems[1].starts_with("line 5"));
    }

    #[test]
    fn plain_debezium_and_tombstones() {
        let plain = parse_change(Some(b"C1"), Some(br#"{"id":"C1","tier":"gold"}"#)).unwrap();
        assert!(matches!(plain, CustomerChange::Upsert(ref c) if c.id == "C1"));

        let dbz = br#"{"payload":{"op":"u","before":null,"after":{"id":"C2","name":"Ann"}}}"#;
        assert!(
            matches!(parse_change(None, Some(dbz)).unwrap(), CustomerChange::Upsert(ref c) if c.id == "C2")
        );

        let del = br#"{"op":"d","before":{"id":"C3"},"after":null}"#;
        assert_eq!(
            parse_change(None, Some(del)).unwrap(),
            CustomerChange::Delete("C3".into())
        );

        assert_eq!(
            parse_change(Some(b"C4"), None).unwrap(),
            CustomerChange::Delete("C4".into())
        );
        assert_eq!(
            parse_change(Some(br#"{"id":"C5"}"#), Some(b"")).unwrap(),
            CustomerChange::Delete("C5".into())
        );
        assert!(parse_change(None, None).is_err());
        assert!(parse_change(Some(b"C6"), Some(b"nope")).is_err());
    }
}
