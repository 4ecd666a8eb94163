//! incident: "microphone" detectors. Many similar posts in a short time — forty people saying
//! their luggage is lost at JFK — become one incident with one owner, instead of forty cases.
//!
//! A detector (`[[detector]]` in the config) filters routed events (intents, platforms, required
//! entities), groups them by a key (intent, platform, entity values), and counts them in a
//! sliding window shared by all workers in Redis. When its threshold is crossed (events, distinct
//! authors, or a multiple of the key's usual rate), exactly one worker opens the incident: an
//! `incident_opened` alert, and an ownership of its own (`incident:<id>`) claimed like a
//! customer's, so the incident team gets one assignment. Later matching posts are linked to the
//! open incident (their assignment events carry its id and a reply-template hint) until it is
//! resolved (feedback `resolved` on its owner key) or expires; then `incident_closed`.
//!
//! This module is the pure part: the config, and which detector keys an event hits.

use crate::event::{CanonicalEvent, IntentMatch};
use crate::route::{Priority, Target};
use crate::settings::HumanDuration;
use serde::Deserialize;
use std::time::Duration;

/// `[[detector]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Letters, digits, `_`, `-`: part of every incident id.
    pub name: String,
    /// Events of these intents (empty: any intent but `general`).
    #[serde(default)]
    pub intents: Vec<String>,
    /// Events from these platforms (empty: any).
    #[serde(default)]
    pub platforms: Vec<String>,
    /// Entities an event must carry (entity names from the rule packs, e.g. `airport`).
    #[serde(default)]
    pub entities: Vec<String>,
    /// What makes two events "the same thing": `intent`, `platform`, and entity names. Default:
    /// the intent plus every required entity.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// The sliding window counted.
    pub window: HumanDuration,
    pub threshold: Threshold,
    /// After an incident of a key closes, no new one opens for it for this long.
    #[serde(default = "default_cooldown")]
    pub cooldown: HumanDuration,
    /// An open incident closes by itself this long after it opened, unless resolved before.
    #[serde(default = "default_ttl")]
    pub expire_after: HumanDuration,
    /// Who owns an incident: `department/queue`.
    pub team: Target,
    /// The incident's priority class.
    #[serde(default = "default_priority")]
    pub priority: Priority,
    /// A hint for the helpdesk: which reply template fits the linked posts.
    #[serde(default)]
    pub reply_template: String,
}

fn default_cooldown() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}

fn default_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(6 * 3600))
}

fn default_priority() -> Priority {
    Priority::P1
}

/// When a key's window is an incident.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Threshold {
    /// At least this many events in the window.
    Events(u32),
    /// At least this many distinct authors in the window.
    Authors(u32),
    /// At least `multiple` times the key's usual count per window (the mean over the `baseline`
    /// before the window), and at least `min_events`.
    RateMultiple {
        multiple: f64,
        baseline: HumanDuration,
        min_events: u32,
    },
}

/// Every problem of the detectors that needs no rule pack.
pub fn problems(detectors: &[DetectorConfig]) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    };
    for (i, d) in detectors.iter().enumerate() {
        let at = format!("detector[{i}] ({})", d.name);
        if !name_ok(&d.name) {
            out.push(format!(
                "{at}: name must be 1 to 64 letters, digits, '_' or '-'"
            ));
        }
        if !names.insert(d.name.as_str()) {
            out.push(format!("{at}: the name is used twice"));
        }
        if let Err(e) = d.team.check() {
            out.push(format!("{at}: team {e}"));
        }
        if d.window.0.is_zero() {
            out.push(format!("{at}: window must be more than zero"));
        }
        match d.threshold {
            Threshold::Events(0) | Threshold::Authors(0) => out.push(format!(
                "{at}: a threshold of 0 would open an incident for every event"
            )),
            Threshold::RateMultiple {
                multiple,
                baseline,
                min_events,
            } => {
                if multiple.is_nan() || multiple <= 1.0 {
                    out.push(format!("{at}: rate_multiple.multiple must be more than 1"));
                }
                if baseline.0 < d.window.0 * 2 {
                    out.push(format!(
                        "{at}: rate_multiple.baseline must be at least two windows long"
                    ));
                }
                if min_events == 0 {
                    out.push(format!("{at}: rate_multiple.min_events must be at least 1"));
                }
            }
            _ => {}
        }
        for g in d.group_keys() {
            if g != "intent" && g != "platform" && !d.entities.contains(&g) {
                out.push(format!(
                    "{at}: group_by `{g}` is neither intent, platform nor one of its required entities {:?}",
                    d.entities
                ));
            }
        }
    }
    out
}

impl DetectorConfig {
    /// The grouping key's parts, in order.
    pub fn group_keys(&self) -> Vec<String> {
        if !self.group_by.is_empty() {
            return self.group_by.clone();
        }
        std::iter::once("intent".to_string())
            .chain(self.entities.iter().cloned())
            .collect()
    }
}

/// One detector key an event counts towards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index into the config's detectors.
    pub detector: usize,
    /// The grouping key's values joined with `|`: `lost_luggage|JFK`.
    pub group: String,
}

/// The most keys one event counts towards per detector (an event naming many airports).
const MAX_KEYS_PER_DETECTOR: usize = 4;

/// The detector keys a routed event hits. Pure.
pub fn hits(
    detectors: &[DetectorConfig],
    event: &CanonicalEvent,
    intent: &IntentMatch,
) -> Vec<Hit> {
    let mut out = Vec::new();
    for (i, d) in detectors.iter().enumerate() {
        let intent_ok = if d.intents.is_empty() {
            intent.intent != crate::intent::GENERAL
        } else {
            d.intents.contains(&intent.intent)
        };
        if !intent_ok
            || (!d.platforms.is_empty() && !d.platforms.contains(&event.platform))
            || !d
                .entities
                .iter()
                .all(|e| intent.entities.iter().any(|x| &x.name == e))
        {
            continue;
        }
        // Every combination of the grouping parts' values (an entity can have several).
        let mut keys: Vec<String> = vec![String::new()];
        for part in d.group_keys() {
            let values: Vec<&str> = match part.as_str() {
                "intent" => vec![intent.intent.as_str()],
                "platform" => vec![event.platform.as_str()],
                entity => intent
                    .entities
                    .iter()
                    .filter(|x| x.name == entity)
                    .map(|x| x.value.as_str())
                    .collect(),
            };
            let mut next = Vec::new();
            for k in &keys {
                for v in &values {
                    let clean: String = v
                        .chars()
                        .map(|c| {
                            if c == '|' || c == '{' || c == '}' || c.is_control() {
                                '_'
                            } else {
                                c
                            }
                        })
                        .take(64)
                        .collect();
                    next.push(if k.is_empty() {
                        clean
                    } else {
                        format!("{k}|{clean}")
                    });
                }
            }
            keys = next;
            keys.truncate(MAX_KEYS_PER_DETECTOR);
        }
        out.extend(
            keys.into_iter()
                .filter(|k| !k.is_empty())
                .map(|group| Hit { detector: i, group }),
        );
    }
    out
}

/// The owner key of an incident.
pub fn owner_key(incident_id: &str) -> String {
    format!("incident:{incident_id}")
}

/// The detector key (`detector:group`) an incident id (`detector:group:n`) belongs to.
pub fn detector_key_of(incident_id: &str) -> Option<&str> {
    incident_id.rsplit_once(':').map(|(k, _)| k)
}

/// The `incident_opened` alert. Its id depends only on the incident: a redelivered opening
/// event produces the same alert again, which consumers dedupe.
pub fn opened_alert(
    d: &DetectorConfig,
    group: &str,
    decision: &crate::claim::DetectDecision,
    now_ms: i64,
) -> crate::event::AlertEvent {
    let id = decision.incident_id.clone().unwrap_or_default();
    crate::event::AlertEvent {
        alert_id: format!("incident:{id}/opened"),
        kind: "incident_opened".into(),
        owner_key: owner_key(&id),
        at_ms: now_ms,
        summary: format!(
            "{} events from {} authors in {} for {group} (detector {}): one incident, owned by {}",
            decision.events,
            decision.authors,
            humantime::format_duration(d.window.0),
            d.name,
            d.team
        ),
        detail: serde_json::json!({
            "incident_id": id,
            "detector": d.name,
            "group": group,
            "events": decision.events,
            "authors": decision.authors,
            "usual": decision.usual,
            "window_events": decision.window_events,
            "team": d.team.to_string(),
            "reply_template": d.reply_template,
            "expires_at_ms": decision.expires_at_ms,
        }),
    }
}

/// The `incident_closed` alert.
pub fn closed_alert(c: &crate::claim::ClosedIncident) -> crate::event::AlertEvent {
    crate::event::AlertEvent {
        alert_id: format!("incident:{}/closed", c.incident_id),
        kind: "incident_closed".into(),
        owner_key: owner_key(&c.incident_id),
        at_ms: c.closed_at_ms,
        summary: format!(
            "incident {} {} after {} with {} posts linked",
            c.incident_id,
            c.reason,
            humantime::format_duration(std::time::Duration::from_secs(
                ((c.closed_at_ms - c.opened_at_ms).max(0) / 1000) as u64
            )),
            c.linked
        ),
        detail: serde_json::to_value(c).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Entity;

    fn detector(toml_text: &str) -> DetectorConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn intent(name: &str, entities: &[(&str, &str)]) -> IntentMatch {
        IntentMatch {
            intent: name.into(),
            severity: 2,
            keywords: vec![],
            sentiment: 0.0,
            language: None,
            entities: entities
                .iter()
                .map(|(n, v)| Entity {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn hits_filter_and_group() {
        let d = vec![detector(
            r#"
name = "bags"
intents = ["lost_luggage"]
entities = ["airport"]
window = "5m"
threshold = { events = 20 }
team = "ops/airports"
"#,
        )];
        let e = CanonicalEvent::bare("x", "1", "");
        let h = hits(
            &d,
            &e,
            &intent("lost_luggage", &[("airport", "JFK"), ("flight", "AA1")]),
        );
        assert_eq!(
            h,
            [Hit {
                detector: 0,
                group: "lost_luggage|JFK".into()
            }]
        );
        // Two airports: a key each.
        let h = hits(
            &d,
            &e,
            &intent("lost_luggage", &[("airport", "JFK"), ("airport", "LAX")]),
        );
        assert_eq!(h.len(), 2);
        // No airport, or another intent: nothing.
        assert!(hits(&d, &e, &intent("lost_luggage", &[])).is_empty());
        assert!(hits(&d, &e, &intent("delay", &[("airport", "JFK")])).is_empty());
        assert_eq!(
            detector_key_of("bags:lost_luggage|JFK:3"),
            Some("bags:lost_luggage|JFK")
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = vec![
            detector(
                r#"
name = "a b"
window = "0s"
threshold = { events = 0 }
team = "bad team"
group_by = ["airport"]
"#,
            ),
            detector(
                r#"
name = "r"
window = "1h"
threshold = { rate_multiple = { multiple = 1.0, baseline = "1h", min_events = 0 } }
team = "ops"
"#,
            ),
        ];
        let all = problems(&bad).join("\n");
        for needle in [
            "name must be",
            "window must be",
            "threshold of 0",
            "team",
            "group_by `airport`",
            "multiple must be more than 1",
            "two windows",
            "min_events",
        ] {
            assert!(all.contains(needle), "{needle:?} not in\n{all}");
        }
    }
}
