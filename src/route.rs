//! route: intent (and CRM context) -> department, priority and SLA.

use crate::config::RoutingConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// P1 is the most urgent. Ordered so that `P1 < P2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "p1",
            Priority::P2 => "p2",
            Priority::P3 => "p3",
            Priority::P4 => "p4",
        }
    }

    /// 1 for P1 .. 4 for P4; smaller is more urgent (what the claim script compares).
    pub fn rank(self) -> u8 {
        self as u8 + 1
    }

    pub fn from_rank(rank: u8) -> Option<Priority> {
        Priority::ALL
            .get(usize::from(rank).checked_sub(1)?)
            .copied()
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// One step more urgent, saturating at P1.
    pub fn raised(self) -> Priority {
        Priority::from_rank(self.rank().saturating_sub(1).max(1)).unwrap_or(Priority::P1)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an event should go, before the claim stage decides who actually owns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub department: String,
    pub priority: Priority,
    /// Time allowed for the first response.
    pub sla: Duration,
}

/// The routing table, compiled from the config.
#[derive(Debug, Clone)]
pub struct Router {
    by_intent: HashMap<String, (String, Priority)>,
    default: (String, Priority),
    vip_tiers: Vec<String>,
    sla: [Duration; 4],
}

impl Router {
    pub fn new(cfg: &RoutingConfig, sla: [Duration; 4]) -> Router {
        Router {
            by_intent: cfg
                .rule
                .iter()
                .map(|r| (r.intent.clone(), (r.department.clone(), r.priority)))
                .collect(),
            default: (cfg.default.department.clone(), cfg.default.priority),
            vip_tiers: cfg.vip_tiers.iter().map(|t| t.to_lowercase()).collect(),
            sla,
        }
    }

    /// Route an intent; customers in a VIP tier get one step more urgency.
    pub fn route(&self, intent: &str, tier: Option<&str>) -> Route {
        let (department, mut priority) = self
            .by_intent
            .get(intent)
            .map(|(d, p)| (d.clone(), *p))
            .unwrap_or_else(|| self.default.clone());
        if tier.is_some_and(|t| self.vip_tiers.iter().any(|v| v.eq_ignore_ascii_case(t))) {
            priority = priority.raised();
        }
        Route {
            department,
            priority,
            sla: self.sla[usize::from(priority.rank() - 1)],
        }
    }

    /// Every department the table can route to.
    pub fn departments(&self) -> Vec<String> {
        let mut d: Vec<String> = self.by_intent.values().map(|(d, _)| d.clone()).collect();
        d.push(self.default.0.clone());
        d.sort();
        d.dedup();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RouteRule, RouteTarget};

    fn router() -> Router {
        let cfg = RoutingConfig {
            default: RouteTarget {
                department: "support".into(),
                priority: Priority::P3,
            },
            rule: vec![RouteRule {
                intent: "sales".into(),
                department: "sales".into(),
                priority: Priority::P4,
            }],
            vip_tiers: vec!["Platinum".into()],
            ..RoutingConfig::default()
        };
        let m = Duration::from_secs(60);
        Router::new(&cfg, [m, 2 * m, 3 * m, 4 * m])
    }

    #[test]
    fn rules_then_default() {
        let r = router();
        assert_eq!(r.route("sales", None).department, "sales");
        assert_eq!(r.route("sales", None).priority, Priority::P4);
        assert_eq!(r.route("anything", None).department, "support");
        assert_eq!(r.route("anything", None).sla, Duration::from_secs(180));
    }

    #[test]
    fn vip_tier_raises_priority_and_shortens_sla() {
        let r = router();
        let route = r.route("anything", Some("platinum"));
        assert_eq!(route.priority, Priority::P2);
        assert_eq!(route.sla, Duration::from_secs(120));
        assert_eq!(Priority::P1.raised(), Priority::P1);
    }

    #[test]
    fn ranks_round_trip() {
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert_eq!(Priority::from_rank(0), None);
        assert_eq!(Priority::from_rank(5), None);
    }
}
