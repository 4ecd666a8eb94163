//! The `[identity]` section of the configuration: how keys are normalized and how evidence is
//! weighed. Every value has a default; `problems()` lists what is wrong, all at once.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// ISO 3166 region used to read phone numbers written without a country code (`US`, `GB`,
    /// `DE`, ...). A customer record's own `country` field, when it is a region, wins for that
    /// customer's phones.
    pub default_region: String,
    /// Apply the mailbox rules of the big providers to emails: `+tag` subaddresses are dropped
    /// (Gmail, Outlook/Hotmail/Live, iCloud, Fastmail, Proton) and dots in Gmail local parts are
    /// ignored (`googlemail.com` is `gmail.com`). Case and whitespace are always ignored.
    pub email_provider_rules: bool,
    /// A score at or above this makes a `probable` match.
    pub probable_threshold: f64,
    /// Two candidates whose scores are closer than this are ambiguous: the answer is `unknown`
    /// with both listed.
    pub ambiguity_margin: f64,
    /// Jaro-Winkler similarity of the folded names at or above which names agree.
    pub name_agree: f64,
    /// A name shared by more customers than this is too common to weigh (it then finds
    /// nobody): bounds the cost of a lookup. (Agreeing on a name k customers share already
    /// weighs log2(k) less.)
    pub max_name_candidates: usize,
    pub weights: Weights,
}

/// Log-likelihood weights (Fellegi-Sunter style): how much more likely an agreement (or a
/// disagreement) is for the same person than for two different people, in bits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// The author's handle is recorded for the customer (with no platform id to contradict it).
    pub handle: f64,
    /// The names agree (scaled by their Jaro-Winkler similarity, less log2 of the number of
    /// customers with that name).
    pub name: f64,
    /// Both names are known and they do not agree.
    pub name_disagree: f64,
    /// The author's location names the customer's city or location.
    pub location: f64,
    /// Both locations are known and they do not agree.
    pub location_disagree: f64,
    /// The customer has another account linked on this platform (a different platform user
    /// id): this author is likely someone else, e.g. an impersonator copying name and handle.
    pub other_account: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            handle: 5.0,
            name: 3.5,
            name_disagree: -2.0,
            location: 2.5,
            location_disagree: -1.5,
            other_account: -3.0,
        }
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            default_region: "US".into(),
            email_provider_rules: true,
            probable_threshold: 5.0,
            ambiguity_margin: 1.5,
            name_agree: 0.92,
            max_name_candidates: 16,
            weights: Weights::default(),
        }
    }
}

impl IdentityConfig {
    /// The default region, parsed (None when it is not a region phonenumber knows).
    pub fn region(&self) -> Option<phonenumber::country::Id> {
        parse_region(&self.default_region)
    }

    /// Every problem with these settings.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.region().is_none() {
            p.push(format!(
                "identity.default_region {:?} is not an ISO 3166 region like \"US\" or \"GB\"",
                self.default_region
            ));
        }
        if !(self.probable_threshold.is_finite() && self.probable_threshold > 0.0) {
            p.push("identity.probable_threshold must be a number above 0".into());
        }
        if !(self.ambiguity_margin.is_finite() && self.ambiguity_margin >= 0.0) {
            p.push("identity.ambiguity_margin must be a number of at least 0".into());
        }
        if !(self.name_agree > 0.0 && self.name_agree <= 1.0) {
            p.push("identity.name_agree must lie in (0, 1]".into());
        }
        if self.max_name_candidates == 0 {
            p.push("identity.max_name_candidates must be at least 1".into());
        }
        let w = &self.weights;
        for (name, v, positive) in [
            ("handle", w.handle, true),
            ("name", w.name, true),
            ("location", w.location, true),
            ("name_disagree", w.name_disagree, false),
            ("location_disagree", w.location_disagree, false),
            ("other_account", w.other_account, false),
        ] {
            if !v.is_finite() || (positive && v <= 0.0) || (!positive && v > 0.0) {
                p.push(format!(
                    "identity.weights.{name} must be {} (got {v})",
                    if positive { "above 0" } else { "0 or below" }
                ));
            }
        }
        if w.name + w.location < self.probable_threshold {
            p.push(format!(
                "identity.weights: name ({}) + location ({}) is below probable_threshold ({}): nothing but a handle could ever be probable",
                w.name, w.location, self.probable_threshold
            ));
        }
        p
    }
}

pub(crate) fn parse_region(s: &str) -> Option<phonenumber::country::Id> {
    let s = s.trim().to_ascii_uppercase();
    if s.len() != 2 {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_listed() {
        assert!(IdentityConfig::default().problems().is_empty());
        let bad = IdentityConfig {
            default_region: "Atlantis".into(),
            probable_threshold: 0.0,
            ambiguity_margin: -1.0,
            name_agree: 1.5,
            max_name_candidates: 0,
            weights: Weights {
                handle: -1.0,
                location_disagree: 2.0,
                ..Weights::default()
            },
            ..IdentityConfig::default()
        };
        let p = bad.problems();
        assert_eq!(p.len(), 7, "{p:#?}");
        assert!(p[0].contains("Atlantis"));
    }
}
