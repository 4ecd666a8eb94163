//! identity: CRM customer records, the index of their keys, and matching an author to one.
//!
//! Confidence is explicit and ordered: a verified platform link beats a strong key (a platform
//! link, email or phone) beats a probable one (same handle on the platform, or a unique display
//! name); anything else is an unknown prospect. Every match says which key made it.

mod load;

pub use load::{load_snapshot, load_snapshot_file, parse_change, CustomerChange, SnapshotError};

use crate::event::{Author, Confidence, IdentityMatch};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A link from a customer to an account on a social platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformIdentity {
    pub platform: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub verified: bool,
}

/// A CRM customer record. Unknown fields are kept in `extra`, never rejected.
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
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Normalised lookup keys. Platform names are lower-cased and `twitter` is `x`.
fn platform_key(platform: &str) -> String {
    let p = platform.trim().to_ascii_lowercase();
    if p == "twitter" {
        "x".to_owned()
    } else {
        p
    }
}

fn handle_key(platform: &str, handle: &str) -> String {
    format!(
        "{}:{}",
        platform_key(platform),
        handle.trim().trim_start_matches('@').to_lowercase()
    )
}

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Phones compare by their digits only, so `+1 (555) 123-0001` is `15551230001`.
fn phone_key(phone: &str) -> String {
    phone.chars().filter(|c| c.is_ascii_digit()).collect()
}

fn name_key(name: &str) -> String {
    name.split_whitespace()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every customer, and every key that leads to one.
#[derive(Debug, Default, Clone)]
pub struct IdentityIndex {
    customers: HashMap<String, Customer>,
    /// `platform:user_id` -> (customer id, verified link)
    by_user_id: HashMap<String, (String, bool)>,
    by_handle: HashMap<String, String>,
    by_email: HashMap<String, String>,
    by_phone: HashMap<String, String>,
    /// display name -> customer ids; a name is only probable evidence when it is unique.
    by_name: HashMap<String, Vec<String>>,
}

impl IdentityIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.customers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.customers.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Customer> {
        self.customers.get(id)
    }

    /// Insert or replace a customer; the keys of the previous version are dropped first.
    pub fn upsert(&mut self, customer: Customer) {
        self.remove(&customer.id.clone());
        let id = customer.id.clone();
        for ident in &customer.identities {
            if let Some(uid) = ident.user_id.as_deref().filter(|u| !u.is_empty()) {
                self.by_user_id.insert(
                    format!("{}:{}", platform_key(&ident.platform), uid),
                    (id.clone(), ident.verified),
                );
            }
            if let Some(h) = ident.handle.as_deref().filter(|h| !h.is_empty()) {
                self.by_handle
                    .insert(handle_key(&ident.platform, h), id.clone());
            }
        }
        for e in &customer.emails {
            self.by_email.insert(email_key(e), id.clone());
        }
        for p in &customer.phones {
            let k = phone_key(p);
            if !k.is_empty() {
                self.by_phone.insert(k, id.clone());
            }
        }
        if let Some(n) = customer.name.as_deref() {
            self.by_name
                .entry(name_key(n))
                .or_default()
                .push(id.clone());
        }
        self.customers.insert(id, customer);
    }

    /// Remove a customer and every key that led to it. Returns whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(old) = self.customers.remove(id) else {
            return false;
        };
        let owned_by = |v: &String| v == id;
        self.by_user_id.retain(|_, (cid, _)| cid != id);
        self.by_handle.retain(|_, v| !owned_by(v));
        self.by_email.retain(|_, v| !owned_by(v));
        self.by_phone.retain(|_, v| !owned_by(v));
        if let Some(n) = old.name.as_deref() {
            let key = name_key(n);
            if let Some(ids) = self.by_name.get_mut(&key) {
                ids.retain(|v| v != id);
                if ids.is_empty() {
                    self.by_name.remove(&key);
                }
            }
        }
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

    /// Match an event's author to a customer, strongest evidence first.
    pub fn match_author(&self, platform: &str, author: &Author) -> IdentityMatch {
        let platform = platform_key(platform);
        let found = |id: &String, confidence: Confidence, why: String| IdentityMatch {
            customer_id: Some(id.clone()),
            confidence,
            explanation: why,
            tier: self.customers.get(id).and_then(|c| c.tier.clone()),
        };
        if let Some((id, verified)) = self.by_user_id.get(&format!("{platform}:{}", author.id)) {
            let (conf, word) = if *verified {
                (Confidence::Verified, "verified")
            } else {
                (Confidence::Strong, "linked")
            };
            return found(
                id,
                conf,
                format!("{word} identity {platform}:{}", author.id),
            );
        }
        if let Some(email) = author.email.as_deref() {
            if let Some(id) = self.by_email.get(&email_key(email)) {
                return found(
                    id,
                    Confidence::Strong,
                    format!("email {}", email_key(email)),
                );
            }
        }
        if let Some(phone) = author.phone.as_deref() {
            let k = phone_key(phone);
            if let Some(id) = self.by_phone.get(&k).filter(|_| !k.is_empty()) {
                return found(id, Confidence::Strong, format!("phone {k}"));
            }
        }
        if let Some(handle) = author.handle.as_deref() {
            let k = handle_key(&platform, handle);
            if let Some(id) = self.by_handle.get(&k) {
                return found(
                    id,
                    Confidence::Probable,
                    format!("handle {k} (user id not linked)"),
                );
            }
        }
        if let Some(name) = author.display_name.as_deref() {
            if let Some([id]) = self.by_name.get(&name_key(name)).map(Vec::as_slice) {
                return found(
                    id,
                    Confidence::Probable,
                    format!("unique display name \"{}\"", name_key(name)),
                );
            }
        }
        IdentityMatch {
            customer_id: None,
            confidence: Confidence::Unknown,
            explanation: format!("no CRM key for {platform}:{}", author.id),
            tier: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn unknown_fields_are_kept() {
        let ix = index();
        assert_eq!(ix.get("C1").unwrap().extra["loyalty_id"], "L-77");
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
        assert_eq!(
            (m.customer_id.as_deref(), m.confidence),
            (Some("C1"), Confidence::Probable)
        );
    }

    #[test]
    fn an_ambiguous_name_is_no_evidence() {
        let ix = index();
        let mut a = author("1");
        a.display_name = Some("tom  baker".into());
        assert_eq!(ix.match_author("x", &a).confidence, Confidence::Unknown);
        let mut a = author("1");
        a.display_name = Some("Maria Gonzalez".into());
        assert_eq!(ix.match_author("x", &a).confidence, Confidence::Probable);
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
