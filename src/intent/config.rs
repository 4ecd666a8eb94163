//! The `[rules]` section of the configuration: which rule packs (docs/rules.md) the classifier
//! is compiled from. The packs are read and compiled when the configuration is loaded.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Rule pack files (TOML), relative to the config file.
    pub packs: Vec<PathBuf>,
}

impl RulesConfig {
    pub fn validate(&self, p: &mut Vec<String>) {
        if self.packs.is_empty() {
            p.push("rules.packs is empty: name at least one rule pack".into());
        }
    }
}
