//! settings: the small value types every config section is written with — [`HumanDuration`],
//! [`Secret`] — and [`ConfigErrors`], the list of everything wrong with a configuration.
//!
//! A leaf: it imports nothing from the crate, so any module may use it, from the core
//! (`route`, `incident`) to the edges. The sections themselves live in the modules that own
//! them; `config` assembles them.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A duration written the human way in the config: `"15m"`, `"24h"`, `"7days"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// A built-in default written the human way (`HumanDuration::builtin("7days")`); panics on a
    /// malformed literal, which is a bug in outcry, not in a config.
    pub fn builtin(s: &str) -> HumanDuration {
        HumanDuration(humantime::parse_duration(s).expect("built-in duration"))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| serde::de::Error::custom(format!("bad duration {s:?}: {e}")))
    }
}

/// A credential from the config: never printed (`Debug` shows `***`). Set it in the file, from
/// the environment (`OUTCRY__KAFKA__SASL_PASSWORD`), or from a file by adding `_file` to the
/// key (`sasl_password_file = "/var/run/secrets/outcry/kafka-password"`, e.g. a Kubernetes
/// secret mount).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

/// Every problem found in a config and what it points to.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the configuration:", self.0.len())?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
