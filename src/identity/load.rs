//! Loading customers: a JSONL snapshot at start, then changes from the compacted
//! `crm.customers` topic (plain JSON records or Debezium change envelopes; a tombstone deletes).

use super::{Customer, IdentityIndex};
use serde_json::Value;
use std::fmt;
use std::path::Path;

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

/// Read a JSONL snapshot (one customer per line; blank lines and `#` comments skipped).
/// Every bad line is reported, not just the first.
pub fn load_snapshot(
    name: &str,
    text: &str,
    index: &mut IdentityIndex,
) -> Result<usize, SnapshotError> {
    let mut problems = Vec::new();
    let mut loaded = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match serde_json::from_str::<Customer>(line) {
            Ok(c) if c.id.trim().is_empty() => problems.push(format!("line {}: empty id", n + 1)),
            Ok(c) => {
                index.upsert(c);
                loaded += 1;
            }
            Err(e) => problems.push(format!("line {}: {e}", n + 1)),
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(SnapshotError {
            source: name.to_owned(),
            problems,
        })
    }
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
    let value: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
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
    let c: Customer = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if c.id.trim().is_empty() {
        return Err("customer with an empty id".to_owned());
    }
    Ok(c)
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
