//! A CRM customer record read in place: [`CustomerRef`] has the fields of [`Customer`] and
//! accepts exactly what it accepts, but its strings borrow from the message or the snapshot
//! line (a string with JSON escapes is copied). Packing reads customers through it, so a batch
//! load does not allocate a dozen strings per customer only to drop them once packed; an
//! owned [`Customer`] (the live path, CSV rows) is viewed through it without copies.

use super::load::{maybe_envelope, parse_change};
use super::{Customer, CustomerChange};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// A string of a record: borrowed from the input when it can be.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Str<'a>(Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a String> for Str<'a> {
    fn from(s: &'a String) -> Self {
        Str(Cow::Borrowed(s))
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Str<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(v)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor)
    }
}

/// A platform user id: a string, or a number as some CRM columns hold it (the same id as the
/// string `serde_json` writes for it, as [`super::PlatformIdentity`] reads it).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct UserId<'a>(Str<'a>);

impl std::ops::Deref for UserId<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

struct UserIdVisitor;

impl<'de> Visitor<'de> for UserIdVisitor {
    type Value = UserId<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<UserId<'de>, E> {
        Ok(UserId(Str(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<UserId<'de>, E> {
        Ok(UserId(Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<UserId<'de>, E> {
        Ok(UserId(Str(Cow::Owned(v))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<UserId<'de>, E> {
        Ok(UserId(Str(Cow::Owned(
            serde_json::Number::from(v).to_string(),
        ))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<UserId<'de>, E> {
        Ok(UserId(Str(Cow::Owned(
            serde_json::Number::from(v).to_string(),
        ))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<UserId<'de>, E> {
        serde_json::Number::from_f64(v)
            .map(|n| UserId(Str(Cow::Owned(n.to_string()))))
            .ok_or_else(|| E::custom("user_id is not a finite number"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for UserId<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UserIdVisitor)
    }
}

/// [`super::PlatformIdentity`], read in place.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct IdentityRef<'a> {
    #[serde(borrow)]
    pub platform: Str<'a>,
    #[serde(default, borrow)]
    pub user_id: Option<UserId<'a>>,
    #[serde(default, borrow)]
    pub handle: Option<Str<'a>>,
    #[serde(default)]
    pub verified: bool,
}

/// [`Customer`], read in place: the same fields, the same types, the same defaults.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct CustomerRef<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(default, borrow)]
    pub name: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub emails: Vec<Str<'a>>,
    #[serde(default, borrow)]
    pub phones: Vec<Str<'a>>,
    #[serde(default, borrow)]
    pub identities: Vec<IdentityRef<'a>>,
    #[serde(default, borrow)]
    pub tier: Option<Str<'a>>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default, borrow)]
    pub segment: Option<Str<'a>>,
    /// Not kept by the index; read so that a record is accepted exactly when [`Customer`]
    /// accepts it.
    #[serde(default, borrow)]
    #[allow(dead_code)]
    pub account_id: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub language: Option<Str<'a>>,
    #[serde(default)]
    pub do_not_contact: bool,
    #[serde(default, borrow)]
    pub related: Vec<Str<'a>>,
    #[serde(default)]
    pub open_cases: u32,
    #[serde(default)]
    pub upcoming: Cow<'a, [Value]>,
    #[serde(default, borrow)]
    pub location: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub city: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub country: Option<Str<'a>>,
}

impl<'a> From<&'a Customer> for CustomerRef<'a> {
    fn from(c: &'a Customer) -> Self {
        let s = |s: &'a Option<String>| s.as_ref().map(Str::from);
        let list = |l: &'a [String]| l.iter().map(Str::from).collect();
        CustomerRef {
            id: Str::from(&c.id),
            name: s(&c.name),
            emails: list(&c.emails),
            phones: list(&c.phones),
            identities: c
                .identities
                .iter()
                .map(|i| IdentityRef {
                    platform: Str::from(&i.platform),
                    user_id: i.user_id.as_ref().map(|u| UserId(Str::from(u))),
                    handle: s(&i.handle),
                    verified: i.verified,
                })
                .collect(),
            tier: s(&c.tier),
            value: c.value,
            segment: s(&c.segment),
            account_id: s(&c.account_id),
            language: s(&c.language),
            do_not_contact: c.do_not_contact,
            related: list(&c.related),
            open_cases: c.open_cases,
            upcoming: Cow::Borrowed(&c.upcoming),
            location: s(&c.location),
            city: s(&c.city),
            country: s(&c.country),
        }
    }
}

/// A change read for a batch: a customer read in place when it can be.
// Moved once per record, from the parse to the pack: boxing the large variant would be the
// allocation per record this type exists to avoid.
#[allow(clippy::large_enum_variant)]
pub(super) enum Change<'a> {
    Upsert(CustomerRef<'a>),
    Owned(Box<Customer>),
    Delete(String),
}

impl From<CustomerChange> for Change<'_> {
    fn from(c: CustomerChange) -> Self {
        match c {
            CustomerChange::Upsert(c) => Change::Owned(c),
            CustomerChange::Delete(id) => Change::Delete(id),
        }
    }
}

/// [`parse_change`], the customer read in place when the message is a plain record (most of
/// a compacted topic). Anything else, including every record that does not read, goes
/// through [`parse_change`]: the same changes and the same errors.
pub(super) fn parse_change_ref<'a>(
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
) -> Result<Change<'a>, String> {
    if let Some(p) = payload.filter(|p| !p.is_empty() && !maybe_envelope(p)) {
        // Checked as UTF-8 once, not string by string as `from_slice` does.
        let read = std::str::from_utf8(p).map(serde_json::from_str::<CustomerRef<'a>>);
        if let Ok(Ok(c)) = read {
            if !c.id.trim().is_empty() {
                return Ok(Change::Upsert(c));
            }
        }
    }
    parse_change(key, payload).map(Change::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(json: &str) {
        let owned: Result<Customer, _> = serde_json::from_str(json);
        let borrowed: Result<CustomerRef, _> = serde_json::from_str(json);
        match (&owned, &borrowed) {
            (Ok(o), Ok(b)) => {
                let o = CustomerRef::from(o);
                assert_eq!(format!("{o:?}"), format!("{b:?}"), "{json}");
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{json}: owned {owned:?}, borrowed {borrowed:?}"),
        }
    }

    #[test]
    fn a_record_read_in_place_is_the_owned_record() {
        for json in [
            r#"{"id":"C1","name":"Zoë \"Z\" Müller","emails":["a@b.co"],"phones":["+1 415"],"identities":[{"platform":"x","user_id":15,"handle":"@z","verified":true},{"platform":"ig","user_id":"t2\u0041"},{"platform":"fb","user_id":1.5e3},{"platform":"li","user_id":null}],"tier":"gold","value":12.5,"segment":"smb","account_id":"A1","language":"en","do_not_contact":true,"related":["C2"],"open_cases":2,"upcoming":[{"at":"2026-07-01"}],"location":"Leeds","city":"Leeds","country":"GB","other":{"x":[1]}}"#,
            r#"{"id":"C2"}"#,
            r#"{"id":""}"#,
            r#"{"name":"no id"}"#,
            r#"{"id":"C3","emails":"one@example.com"}"#,
            r#"{"id":"C4","identities":[{"platform":"x","user_id":true}]}"#,
            r#"{"id":"C5","identities":[{"user_id":"1"}]}"#,
            r#"{"id":"C6","account_id":7}"#,
            r#"{"id":"C7","open_cases":-1}"#,
            r#"{"id":"C8","name":null,"emails":null}"#,
            r#"{"id":"C9","id":"C10"}"#,
            r#"{"id":17}"#,
        ] {
            same(json);
        }
    }

    #[test]
    fn changes_read_in_place_are_the_parsed_changes() {
        type Message<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
        let cases: [Message; 6] = [
            (Some(b"C1"), Some(br#"{"id":"C1","tier":"gold"}"#)),
            (Some(b"C1"), None),
            (
                None,
                Some(br#"{"payload":{"op":"u","after":{"id":"C2","name":"Ann"}}}"#),
            ),
            (Some(b"C3"), Some(br#"{"id":" "}"#)),
            (Some(b"C4"), Some(b"nope")),
            (None, None),
        ];
        for (k, p) in cases {
            let want = parse_change(k, p);
            let got = parse_change_ref(k, p);
            match (want, got) {
                (Ok(CustomerChange::Upsert(w)), Ok(Change::Upsert(g))) => {
                    assert_eq!(format!("{:?}", CustomerRef::from(&*w)), format!("{g:?}"))
                }
                (Ok(CustomerChange::Upsert(w)), Ok(Change::Owned(g))) => assert_eq!(w, g),
                (Ok(CustomerChange::Delete(w)), Ok(Change::Delete(g))) => assert_eq!(w, g),
                (Err(w), Err(g)) => assert_eq!(w, g),
                (w, g) => panic!("{k:?} {p:?}: {w:?} vs {}", g.is_ok()),
            }
        }
    }
}
