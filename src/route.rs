//! route: an intent, its author's identity band and CRM context -> candidate departments and
//! queues (in order), a priority score and class, and the SLA policy of that class, with the
//! reasons for each. Pure: the clock is an argument.
//!
//! The routing table is ordered: the first route whose conditions all hold decides the
//! candidates (the order is used when a department bounces the customer). Priority is a sum of
//! points (intent severity, tier, value, influence, relationships, open cases, an upcoming
//! booking, sentiment, the route's own base); the class P1–P4 comes from thresholds on the sum.
//! docs/routing.md is the user's guide.

use crate::event::{CanonicalEvent, Confidence, IdentityMatch, IntentMatch};
use crate::settings::HumanDuration;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
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

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A department and one of its queues, written `department/queue` in the config (a bare
/// `department` means its `default` queue).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub department: String,
    pub queue: String,
}

impl Target {
    /// Split `department/queue` without judging it (see [`Target::check`]).
    fn split(s: &str) -> Target {
        let (d, q) = s.split_once('/').unwrap_or((s, "default"));
        Target {
            department: d.to_owned(),
            queue: q.to_owned(),
        }
    }

    pub fn parse(s: &str) -> Result<Target, String> {
        let t = Target::split(s);
        t.check().map(|()| t)
    }

    /// Department and queue are names: letters, digits, '_', '-', '.'.
    pub fn check(&self) -> Result<(), String> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if ok(&self.department) && ok(&self.queue) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not `department/queue` (letters, digits, '_', '-', '.')",
                format!("{}/{}", self.department, self.queue)
            ))
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.department, self.queue)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Judged by `problems()`, so that a bad name is listed with every other problem.
        Ok(Target::split(&String::deserialize(d)?))
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// `[routing]`: the ordered routing table, the sag wagon, and what happens to noise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Tried in order; the first route whose conditions all hold wins. The last should have
    /// no conditions, so that every event has somewhere to go.
    pub route: Vec<RouteConfig>,
    /// The escalation queue (the "sag wagon"): takes a customer at the bounce limit, or when
    /// every candidate has bounced them.
    pub escalation: Target,
    /// Bounces of one ownership before the escalation queue takes it.
    pub bounce_limit: u32,
    /// What happens to noise (banter, spam, promotions, auto-replies): `drop` (counted, no
    /// output) or `store` (an interaction with `"noise": true`); never assigned.
    pub noise: NoiseHandling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NoiseHandling {
    #[default]
    Drop,
    Store,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            route: vec![RouteConfig {
                name: "default".into(),
                candidates: vec![Target::parse("support/general").expect("built-in")],
                ..RouteConfig::default()
            }],
            escalation: Target::parse("escalations/sag-wagon").expect("built-in"),
            bounce_limit: 3,
            noise: NoiseHandling::Drop,
        }
    }
}

/// One row of the routing table. Every condition left out (or empty) matches anything.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Shown in decisions and reasons.
    pub name: String,
    /// Intent names (from the rule packs; `general` when nothing matched).
    pub intents: Vec<String>,
    /// Identity match bands: `verified`, `strong`, `probable`, `unknown`.
    pub bands: Vec<Confidence>,
    /// CRM tiers (case-insensitive).
    pub tiers: Vec<String>,
    /// CRM segments (case-insensitive).
    pub segments: Vec<String>,
    /// Platforms (`x`, `facebook`, `instagram`, `linkedin`, `reddit`, `youtube`, `google`,
    /// `trustpilot`, `forum`).
    pub platforms: Vec<String>,
    /// Languages (primary tags: `en`, `es`): the post's own tag, else the language the rule
    /// packs recognised, else the customer's preferred language.
    pub languages: Vec<String>,
    /// Departments and queues in the order they take the customer: the first gets it, the
    /// next one when the first bounces it, and so on.
    pub candidates: Vec<Target>,
    /// Base priority points of this route, added to the contributions.
    pub points: i32,
}

/// `[priority]`: points per factor; the class comes from the total.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityConfig {
    /// The least points of each class; fewer than `p3` is P4.
    pub classes: ClassThresholds,
    /// Points per level of the intent's severity (0–5).
    pub severity: i32,
    /// Points by CRM tier (case-insensitive).
    pub tiers: BTreeMap<String, i32>,
    pub value: ValuePoints,
    pub influence: InfluencePoints,
    /// Points when a related customer (`related` in the CRM) is in one of these tiers: a
    /// second-order connection to a valued customer. The largest applies.
    pub related_tiers: BTreeMap<String, i32>,
    /// Points per open case, and at most this many in all.
    pub open_case: i32,
    pub open_cases_max: i32,
    pub upcoming: UpcomingPoints,
    /// Points at fully negative sentiment (polarity -1), in proportion below that.
    pub negative_sentiment: i32,
    /// Points by identity band (a verified customer may matter more than a prospect).
    pub bands: BTreeMap<Confidence, i32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassThresholds {
    pub p1: i32,
    pub p2: i32,
    pub p3: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValuePoints {
    /// One point per this much customer value.
    pub per: f64,
    pub max: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluencePoints {
    /// Followers from which influence counts.
    pub from_followers: u64,
    /// Points for each tenfold of followers past `from_followers` (so 10x = this, 100x = 2x).
    pub per_tenfold: i32,
    pub max: i32,
    /// Points for a platform-verified (badge) account.
    pub verified_badge: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpcomingPoints {
    /// An appointment or booking starting within this long from now...
    pub within: HumanDuration,
    /// ...adds this many points.
    pub points: i32,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        PriorityConfig {
            classes: ClassThresholds {
                p1: 80,
                p2: 50,
                p3: 20,
            },
            severity: 10,
            tiers: [("platinum".into(), 30), ("gold".into(), 15)].into(),
            value: ValuePoints::default(),
            influence: InfluencePoints::default(),
            related_tiers: [("platinum".into(), 10)].into(),
            open_case: 5,
            open_cases_max: 15,
            upcoming: UpcomingPoints::default(),
            negative_sentiment: 10,
            bands: BTreeMap::new(),
        }
    }
}

impl Default for ValuePoints {
    fn default() -> Self {
        ValuePoints {
            per: 1000.0,
            max: 20,
        }
    }
}

impl Default for InfluencePoints {
    fn default() -> Self {
        InfluencePoints {
            from_followers: 1000,
            per_tenfold: 10,
            max: 30,
            verified_badge: 5,
        }
    }
}

impl Default for UpcomingPoints {
    fn default() -> Self {
        UpcomingPoints {
            within: HumanDuration(Duration::from_secs(7 * 86_400)),
            points: 20,
        }
    }
}

/// `[sla]`: the policy of each priority class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    pub p1: SlaPolicy,
    pub p2: SlaPolicy,
    pub p3: SlaPolicy,
    pub p4: SlaPolicy,
    /// How often each worker looks for due deadlines (a breach fires within about this long).
    pub sweep_every: HumanDuration,
    /// A breach taken by a worker that has not emitted it after this long is taken again by
    /// another (the first one crashed).
    pub retake_after: HumanDuration,
}

#[derive(Debug, Clone)]
pub struct SlaPolicy {
    /// Time allowed for the first response.
    pub first_response: Duration,
    /// Time allowed until the case is resolved.
    pub resolution: Duration,
    /// Where a breached case goes (an `sla_breached` assignment); unset: the escalation queue.
    pub on_breach: Option<Target>,
}

impl<'de> Deserialize<'de> for SlaPolicy {
    /// `p1 = "15m"` (first response only) or a table with `first_response`, `resolution`,
    /// `on_breach`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            first_response: HumanDuration,
            resolution: Option<HumanDuration>,
            on_breach: Option<Target>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Short(HumanDuration),
            Table(Table),
        }
        let (first, resolution, on_breach) = match Form::deserialize(d)? {
            Form::Short(f) => (f.0, None, None),
            Form::Table(t) => (t.first_response.0, t.resolution.map(|r| r.0), t.on_breach),
        };
        Ok(SlaPolicy {
            first_response: first,
            // Unset: ten times the first-response time, at least a day.
            resolution: resolution.unwrap_or((first * 10).max(Duration::from_secs(86_400))),
            on_breach,
        })
    }
}

impl Default for SlaConfig {
    fn default() -> Self {
        let p = |f: u64, r: u64| SlaPolicy {
            first_response: Duration::from_secs(f),
            resolution: Duration::from_secs(r),
            on_breach: None,
        };
        SlaConfig {
            p1: p(15 * 60, 4 * 3600),
            p2: p(3600, 24 * 3600),
            p3: p(4 * 3600, 3 * 86_400),
            p4: p(24 * 3600, 7 * 86_400),
            sweep_every: HumanDuration(Duration::from_secs(1)),
            retake_after: HumanDuration(Duration::from_secs(30)),
        }
    }
}

impl SlaConfig {
    pub fn policy(&self, p: Priority) -> &SlaPolicy {
        match p {
            Priority::P1 => &self.p1,
            Priority::P2 => &self.p2,
            Priority::P3 => &self.p3,
            Priority::P4 => &self.p4,
        }
    }
}

/// Every problem with the routing, priority and SLA sections that needs no rule pack.
pub fn problems(r: &RoutingConfig, p: &PriorityConfig, s: &SlaConfig) -> Vec<String> {
    let mut out = Vec::new();
    if r.route.is_empty() {
        out.push("routing.route is empty: name at least one route".into());
    }
    let mut names = std::collections::HashSet::new();
    for (i, route) in r.route.iter().enumerate() {
        let at = route_label(i, route);
        if !route.name.is_empty() && !names.insert(route.name.as_str()) {
            out.push(format!("{at}: the name is used twice"));
        }
        if route.candidates.is_empty() {
            out.push(format!("{at}: candidates is empty"));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &route.candidates {
            if let Err(e) = c.check() {
                out.push(format!("{at}: candidate {e}"));
            } else if !seen.insert(c) {
                out.push(format!("{at}: candidate {c} is listed twice"));
            }
        }
    }
    match r.route.iter().position(RouteConfig::matches_anything) {
        None if !r.route.is_empty() => out.push(
            "routing.route: no route without conditions at the end: an event no route matches would have nowhere to go".into(),
        ),
        Some(i) if i + 1 < r.route.len() => out.push(format!(
            "{}: has no conditions, so the routes after it are never used",
            route_label(i, &r.route[i])
        )),
        _ => {}
    }
    if let Err(e) = r.escalation.check() {
        out.push(format!("routing.escalation: {e}"));
    }
    for (i, pol) in [&s.p1, &s.p2, &s.p3, &s.p4].iter().enumerate() {
        if let Some(Err(e)) = pol.on_breach.as_ref().map(Target::check) {
            out.push(format!("sla.p{}.on_breach: {e}", i + 1));
        }
    }
    if r.bounce_limit == 0 {
        out.push("routing.bounce_limit must be at least 1".into());
    }
    let c = &p.classes;
    if !(c.p1 > c.p2 && c.p2 > c.p3) {
        out.push(format!(
            "priority.classes: need p1 > p2 > p3 (got {}, {}, {})",
            c.p1, c.p2, c.p3
        ));
    }
    if p.value.per.is_nan() || p.value.per <= 0.0 {
        out.push("priority.value.per must be more than zero".into());
    }
    if s.sweep_every.0.is_zero() || s.retake_after.0 <= s.sweep_every.0 {
        out.push("sla.sweep_every must be more than zero and less than sla.retake_after".into());
    }
    let policies = [&s.p1, &s.p2, &s.p3, &s.p4];
    for (i, w) in policies.windows(2).enumerate() {
        if w[0].first_response > w[1].first_response {
            out.push(format!(
                "sla.p{}.first_response ({:?}) is longer than sla.p{}'s ({:?}): a more urgent class must not get more time",
                i + 1,
                w[0].first_response,
                i + 2,
                w[1].first_response
            ));
        }
    }
    for (i, pol) in policies.iter().enumerate() {
        if pol.first_response.is_zero() || pol.resolution.is_zero() {
            out.push(format!("sla.p{}: durations must be more than zero", i + 1));
        }
        if pol.resolution < pol.first_response {
            out.push(format!(
                "sla.p{}: resolution ({:?}) is shorter than first_response ({:?})",
                i + 1,
                pol.resolution,
                pol.first_response
            ));
        }
    }
    out
}

fn route_label(i: usize, r: &RouteConfig) -> String {
    if r.name.is_empty() {
        format!("routing.route[{i}]")
    } else {
        format!("routing.route[{i}] ({})", r.name)
    }
}

impl RouteConfig {
    fn matches_anything(&self) -> bool {
        self.intents.is_empty()
            && self.bands.is_empty()
            && self.tiers.is_empty()
            && self.segments.is_empty()
            && self.platforms.is_empty()
            && self.languages.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// The compiled table

/// Where an event should go, before the claim stage decides who actually owns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The route (row of the table) that matched.
    pub rule: Arc<str>,
    /// Every candidate in order; the first is where the event goes now.
    pub candidates: Arc<[Target]>,
    /// The sag wagon.
    pub escalation: Arc<Target>,
    pub priority: Priority,
    /// The sum of the priority contributions.
    pub score: i32,
    /// Time allowed for the first response.
    pub sla: Duration,
    /// Time allowed until resolution.
    pub resolution: Duration,
    /// Where the case goes when its SLA is breached.
    pub on_breach: Arc<Target>,
    /// Why: the route, each contribution with its points, the class, the SLA.
    pub reasons: Vec<String>,
}

impl Route {
    pub fn target(&self) -> &Target {
        &self.candidates[0]
    }
    pub fn department(&self) -> &str {
        &self.target().department
    }
    pub fn queue(&self) -> &str {
        &self.target().queue
    }
}

#[derive(Debug, Clone)]
struct CompiledRoute {
    name: Arc<str>,
    label: String,
    intents: Vec<String>,
    bands: Vec<Confidence>,
    tiers: Vec<String>,
    segments: Vec<String>,
    platforms: Vec<String>,
    languages: Vec<String>,
    candidates: Arc<[Target]>,
    points: i32,
}

/// The routing table, priority model and SLA policies, compiled from the config.
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<CompiledRoute>,
    escalation: Arc<Target>,
    priority: PriorityConfig,
    tier_points: Vec<(String, i32)>,
    related_points: Vec<(String, i32)>,
    sla: [SlaPolicy; 4],
    /// Each class's SLA as its reason reads (`sla p2: first response 1h, resolution 1day`),
    /// written once: the same for every event of the class.
    sla_reasons: [String; 4],
    on_breach: [Arc<Target>; 4],
    bounce_limit: u32,
}

fn lower(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.to_lowercase()).collect()
}

/// The routing-relevant facts about one event.
pub struct Facts<'a> {
    pub intent: &'a IntentMatch,
    pub identity: &'a IdentityMatch,
    pub event: &'a CanonicalEvent,
    /// The time of reading (Unix ms): upcoming bookings are counted from it.
    pub now_ms: i64,
}

impl Router {
    pub fn new(r: &RoutingConfig, p: &PriorityConfig, s: &SlaConfig) -> Router {
        let escalation = Arc::new(r.escalation.clone());
        let policies = [&s.p1, &s.p2, &s.p3, &s.p4];
        Router {
            routes: r
                .route
                .iter()
                .enumerate()
                .map(|(i, c)| CompiledRoute {
                    name: if c.name.is_empty() {
                        format!("route[{i}]").into()
                    } else {
                        c.name.as_str().into()
                    },
                    label: route_label(i, c),
                    intents: c.intents.clone(),
                    bands: c.bands.clone(),
                    tiers: lower(&c.tiers),
                    segments: lower(&c.segments),
                    platforms: lower(&c.platforms),
                    languages: lower(&c.languages),
                    candidates: c.candidates.clone().into(),
                    points: c.points,
                })
                .collect(),
            tier_points: p
                .tiers
                .iter()
                .map(|(k, v)| (k.to_lowercase(), *v))
                .collect(),
            related_points: p
                .related_tiers
                .iter()
                .map(|(k, v)| (k.to_lowercase(), *v))
                .collect(),
            sla: policies.map(|p| p.clone()),
            sla_reasons: [Priority::P1, Priority::P2, Priority::P3, Priority::P4].map(|priority| {
                let policy = policies[priority.index()];
                format!(
                    "sla {priority}: first response {}, resolution {}",
                    humantime::format_duration(policy.first_response),
                    humantime::format_duration(policy.resolution)
                )
            }),
            on_breach: policies.map(|p| {
                p.on_breach
                    .clone()
                    .map(Arc::new)
                    .unwrap_or_else(|| escalation.clone())
            }),
            escalation,
            priority: p.clone(),
            bounce_limit: r.bounce_limit,
        }
    }

    /// Intents the table names, with where: for cross-checking against the rule packs.
    pub fn named_intents(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes.iter().flat_map(|r| {
            r.intents
                .iter()
                .map(move |i| (r.label.as_str(), i.as_str()))
        })
    }

    pub fn bounce_limit(&self) -> u32 {
        self.bounce_limit
    }

    pub fn escalation(&self) -> &Target {
        &self.escalation
    }

    pub fn sla_policy(&self, p: Priority) -> &SlaPolicy {
        &self.sla[p.index()]
    }

    /// Where a breached case of class `p` goes.
    pub fn on_breach(&self, p: Priority) -> &Target {
        &self.on_breach[p.index()]
    }

    /// The language routing sees: the post's own tag, else what the rule packs recognised,
    /// else the customer's preferred language.
    fn language<'a>(f: &'a Facts<'a>) -> Option<&'a str> {
        f.event
            .lang
            .as_deref()
            .filter(|l| !l.is_empty() && *l != "und")
            .or(f.intent.language.as_deref())
            .or(f
                .identity
                .context
                .as_ref()
                .and_then(|c| c.language.as_deref()))
    }

    /// Route one event. Deterministic: the same facts give the same route.
    pub fn route(&self, f: &Facts) -> Route {
        let tier = f.identity.tier.as_deref();
        let ctx = f.identity.context.as_ref();
        let segment = ctx.and_then(|c| c.segment.as_deref());
        let lang = Self::language(f);
        let primary = |l: &str| l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase();
        let in_list = |list: &[String], v: Option<&str>| {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
        };
        let chosen = self.routes.iter().find(|r| {
            (r.intents.is_empty() || r.intents.contains(&f.intent.intent))
                && (r.bands.is_empty() || r.bands.contains(&f.identity.confidence))
                && in_list(&r.tiers, tier)
                && in_list(&r.segments, segment)
                && in_list(&r.platforms, Some(&f.event.platform))
                && (r.languages.is_empty()
                    || lang.is_some_and(|l| r.languages.contains(&primary(l))))
        });
        // `problems()` refuses a table without a catch-all; a table built by hand without one
        // sends the rest to the sag wagon rather than nowhere.
        let (name, candidates, base) = match chosen {
            Some(r) => (r.name.clone(), r.candidates.clone(), r.points),
            None => (
                Arc::from("no route matched"),
                Arc::from(vec![(*self.escalation).clone()]),
                0,
            ),
        };
        let mut reasons = Vec::with_capacity(8);
        reasons.push(format!("route {name}: {}", candidates[0]));
        let mut score = 0;
        let mut add = |points: i32, why: std::fmt::Arguments| {
            if points != 0 {
                score += points;
                reasons.push(format!("{why}: {points:+}"));
            }
        };
        let p = &self.priority;
        add(base, format_args!("route {name}"));
        add(
            p.severity * i32::from(f.intent.severity),
            format_args!("severity {} ({})", f.intent.severity, f.intent.intent),
        );
        if let Some(&pts) = p.bands.get(&f.identity.confidence) {
            add(pts, format_args!("band {:?}", f.identity.confidence));
        }
        if let Some(t) = tier {
            if let Some((_, pts)) = self
                .tier_points
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(t))
            {
                add(*pts, format_args!("tier {t}"));
            }
        }
        if let Some(c) = ctx {
            if let Some(v) = c.value.filter(|v| v.is_finite() && *v > 0.0) {
                let pts = ((v / p.value.per).floor() as i64).clamp(0, i64::from(p.value.max));
                add(pts as i32, format_args!("value {v}"));
            }
            let related = c
                .related_tiers
                .iter()
                .filter_map(|t| {
                    self.related_points
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(t))
                })
                .max_by_key(|(_, pts)| *pts);
            if let Some((t, pts)) = related {
                add(*pts, format_args!("related to a {t} customer"));
            }
            if c.open_cases > 0 {
                let pts = (p.open_case.saturating_mul(c.open_cases.min(1000) as i32))
                    .min(p.open_cases_max);
                add(pts, format_args!("{} open case(s)", c.open_cases));
            }
            let horizon = f.now_ms + p.upcoming.within.0.as_millis() as i64;
            if let Some(at) = c
                .upcoming_ms
                .iter()
                .find(|&&t| t >= f.now_ms && t <= horizon)
            {
                let hours = (at - f.now_ms) / 3_600_000;
                add(
                    p.upcoming.points,
                    format_args!("booking or appointment in {hours}h"),
                );
            }
        }
        let followers = f.event.author.followers.unwrap_or(0);
        let inf = &p.influence;
        if followers >= inf.from_followers.max(1) {
            let tenfolds = (followers as f64 / inf.from_followers.max(1) as f64).log10();
            let pts = ((tenfolds * f64::from(inf.per_tenfold)).round() as i32).min(inf.max);
            add(pts, format_args!("{followers} followers"));
        }
        if f.event.author.verified {
            add(inf.verified_badge, format_args!("verified account"));
        }
        if f.intent.sentiment < 0.0 {
            let pts = (-f.intent.sentiment * p.negative_sentiment as f32).round() as i32;
            add(
                pts,
                format_args!("negative sentiment {:.2}", f.intent.sentiment),
            );
        }
        let c = &p.classes;
        let (priority, from) = if score >= c.p1 {
            (Priority::P1, c.p1)
        } else if score >= c.p2 {
            (Priority::P2, c.p2)
        } else if score >= c.p3 {
            (Priority::P3, c.p3)
        } else {
            (Priority::P4, i32::MIN)
        };
        let policy = &self.sla[priority.index()];
        reasons.push(if from == i32::MIN {
            format!("class p4: {score} points (p3 from {})", c.p3)
        } else {
            format!("class {priority}: {score} points (from {from})")
        });
        reasons.push(self.sla_reasons[priority.index()].clone());
        Route {
            rule: name,
            candidates,
            escalation: self.escalation.clone(),
            priority,
            score,
            sla: policy.first_response,
            resolution: policy.resolution,
            on_breach: self.on_breach[priority.index()].clone(),
            reasons,
        }
    }

    /// Every department the table can route to (candidates, escalation, breach queues).
    pub fn departments(&self) -> Vec<String> {
        let mut d: Vec<String> = self
            .routes
            .iter()
            .flat_map(|r| r.candidates.iter().map(|t| t.department.clone()))
            .chain(std::iter::once(self.escalation.department.clone()))
            .chain(self.on_breach.iter().map(|t| t.department.clone()))
            .collect();
        d.sort();
        d.dedup();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CustomerContext;

    fn table() -> Router {
        let routing: RoutingConfig = toml::from_str(
            r#"
escalation = "escalations/sag-wagon"
[[route]]
name = "vip-outage"
intents = ["outage"]
bands = ["verified", "strong"]
tiers = ["Platinum"]
candidates = ["tech-support/vip", "tech-support/general", "support/general"]
points = 10
[[route]]
name = "outage"
intents = ["outage"]
candidates = ["tech-support/general", "support/general"]
[[route]]
name = "spanish"
languages = ["es"]
candidates = ["support/es"]
[[route]]
name = "reviews"
platforms = ["google", "trustpilot"]
segments = ["smb"]
candidates = ["reputation"]
[[route]]
name = "default"
candidates = ["support/general"]
"#,
        )
        .unwrap();
        let sla: SlaConfig = toml::from_str(
            r#"
p1 = { first_response = "15m", resolution = "4h", on_breach = "escalations/p1-breach" }
p2 = "1h"
"#,
        )
        .unwrap();
        let pr = PriorityConfig::default();
        assert!(problems(&routing, &pr, &sla).is_empty());
        Router::new(&routing, &pr, &sla)
    }

    fn event(platform: &str) -> CanonicalEvent {
        CanonicalEvent::bare(platform, "1", "")
    }

    fn intent(name: &str, severity: u8) -> IntentMatch {
        IntentMatch {
            intent: name.into(),
            severity,
            keywords: vec![],
            sentiment: 0.0,
            language: None,
            entities: vec![],
        }
    }

    fn who(band: Confidence, tier: Option<&str>, ctx: Option<CustomerContext>) -> IdentityMatch {
        IdentityMatch {
            customer_id: (band != Confidence::Unknown).then(|| "C1".into()),
            confidence: band,
            explanation: String::new(),
            tier: tier.map(str::to_owned),
            score: None,
            candidates: vec![],
            context: ctx,
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    fn route(i: &IntentMatch, id: &IdentityMatch, e: &CanonicalEvent) -> Route {
        table().route(&Facts {
            intent: i,
            identity: id,
            event: e,
            now_ms: NOW,
        })
    }

    #[test]
    fn first_matching_route_wins_and_keeps_its_candidate_order() {
        let e = event("x");
        let vip = who(Confidence::Verified, Some("platinum"), None);
        let r = route(&intent("outage", 3), &vip, &e);
        assert_eq!(&*r.rule, "vip-outage");
        assert_eq!(r.department(), "tech-support");
        assert_eq!(r.queue(), "vip");
        let order: Vec<String> = r.candidates.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            order,
            [
                "tech-support/vip",
                "tech-support/general",
                "support/general"
            ]
        );
        // A probable match is not enough for the VIP route: the next one takes it.
        let probable = who(Confidence::Probable, Some("platinum"), None);
        assert_eq!(&*route(&intent("outage", 3), &probable, &e).rule, "outage");
        // Other intents fall through to the catch-all.
        assert_eq!(&*route(&intent("billing", 2), &vip, &e).rule, "default");
    }

    #[test]
    fn language_platform_and_segment_conditions() {
        let nobody = who(Confidence::Unknown, None, None);
        let mut e = event("x");
        e.lang = Some("es".into());
        assert_eq!(&*route(&intent("general", 0), &nobody, &e).rule, "spanish");
        // The rule packs' language when the platform gives none.
        let e = event("x");
        let mut i = intent("general", 0);
        i.language = Some("es".into());
        assert_eq!(&*route(&i, &nobody, &e).rule, "spanish");
        // Else the customer's preferred language.
        let ctx = CustomerContext {
            language: Some("es".into()),
            ..Default::default()
        };
        let c = who(Confidence::Verified, None, Some(ctx));
        assert_eq!(&*route(&intent("general", 0), &c, &e).rule, "spanish");
        // Reviews from an SMB customer; a review from a consumer is not.
        let smb = CustomerContext {
            segment: Some("SMB".into()),
            ..Default::default()
        };
        let g = event("google");
        let c = who(Confidence::Strong, None, Some(smb));
        assert_eq!(&*route(&intent("general", 0), &c, &g).rule, "reviews");
        assert_eq!(&*route(&intent("general", 0), &nobody, &g).rule, "default");
    }

    #[test]
    fn priority_adds_up_every_contribution_with_reasons() {
        let ctx = CustomerContext {
            value: Some(12_500.0),
            open_cases: 5,
            upcoming_ms: vec![NOW - 3_600_000, NOW + 30 * 3_600_000],
            related_tiers: vec!["gold".into(), "platinum".into()],
            ..Default::default()
        };
        let id = who(Confidence::Verified, Some("gold"), Some(ctx));
        let mut e = event("x");
        e.author.followers = Some(100_000);
        e.author.verified = true;
        let mut i = intent("billing", 2);
        i.sentiment = -0.5;
        let r = route(&i, &id, &e);
        // severity 20 + tier gold 15 + value 12 + related platinum 10 + open cases min(25, 15)
        // + booking 20 + influence 100x = 2 tenfolds = 20 + badge 5 + sentiment 5
        assert_eq!(
            r.score,
            20 + 15 + 12 + 10 + 15 + 20 + 20 + 5 + 5,
            "{:#?}",
            r.reasons
        );
        assert_eq!(r.priority, Priority::P1);
        assert_eq!(r.sla, Duration::from_secs(15 * 60));
        assert_eq!(r.resolution, Duration::from_secs(4 * 3600));
        assert_eq!(r.on_breach.to_string(), "escalations/p1-breach");
        for needle in [
            "severity 2 (billing): +20",
            "tier gold: +15",
            "value 12500: +12",
            "related to a platinum customer: +10",
            "5 open case(s): +15",
            "booking or appointment in 30h: +20",
            "100000 followers: +20",
            "verified account: +5",
            "negative sentiment -0.50: +5",
            "class p1: 122 points (from 80)",
            "sla p1: first response 15m, resolution 4h",
        ] {
            assert!(
                r.reasons.iter().any(|x| x == needle),
                "{needle:?} not in {:#?}",
                r.reasons
            );
        }
    }

    #[test]
    fn class_thresholds_and_sla_per_class() {
        let nobody = who(Confidence::Unknown, None, None);
        let e = event("x");
        let r = |sev| route(&intent("billing", sev), &nobody, &e);
        assert_eq!(r(0).priority, Priority::P4);
        assert_eq!(r(2).priority, Priority::P3);
        assert_eq!(r(5).priority, Priority::P2);
        assert_eq!(r(5).sla, Duration::from_secs(3600));
        // The short form gets a resolution of 10x, at least a day; on breach the sag wagon.
        assert_eq!(r(5).resolution, Duration::from_secs(86_400));
        assert_eq!(r(5).on_breach.to_string(), "escalations/sag-wagon");
        // A booking outside the window, or in the past, adds nothing.
        let ctx = CustomerContext {
            upcoming_ms: vec![NOW - 1, NOW + 8 * 86_400_000],
            ..Default::default()
        };
        let c = who(Confidence::Strong, None, Some(ctx));
        assert_eq!(route(&intent("billing", 0), &c, &e).score, 0);
    }

    #[test]
    fn a_table_without_a_way_out_is_refused_with_every_problem() {
        let routing: RoutingConfig = toml::from_str(
            r#"
bounce_limit = 0
[[route]]
name = "a"
intents = ["x"]
candidates = []
[[route]]
name = "a"
intents = ["y"]
candidates = ["s/q", "s/q", "bad name"]
"#,
        )
        .unwrap();
        let mut p = PriorityConfig::default();
        p.classes.p2 = 10;
        let sla: SlaConfig = toml::from_str("p1 = \"2h\"").unwrap();
        let all = problems(&routing, &p, &sla).join("\n");
        for needle in [
            "candidates is empty",
            "name is used twice",
            "listed twice",
            "\"bad name/default\" is not `department/queue`",
            "nowhere to go",
            "bounce_limit",
            "p1 > p2 > p3",
            "sla.p1.first_response",
        ] {
            assert!(all.contains(needle), "{needle:?} missing in\n{all}");
        }
        assert!(Target::parse("a/b/c").is_err());
        assert!(Target::parse("a b").is_err());
        assert_eq!(
            Target::parse("billing").unwrap().to_string(),
            "billing/default"
        );
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
