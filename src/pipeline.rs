//! pipeline: raw bytes -> routing decision. Pure and synchronous: no I/O, no clock, no async.
//! This is the matching stage the benchmark measures.

use crate::event::{CanonicalEvent, Confidence, IdentityMatch, IntentMatch};
use crate::identity::IdentityIndex;
use crate::intent::{Classification, Classifier};
use crate::normalize::{self, matching_text, Limits, LimitsConfig, Reason, Rejection};
use crate::route::{Facts, Route, Router};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Who owns a conversation: the matched customer, else the platform author.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnerKey(pub String);

impl OwnerKey {
    /// A customer matched with at least strong evidence owns the event; a probable match is
    /// only a hint (never presented as verified), so the author keeps their own key.
    pub fn for_event(event: &CanonicalEvent, identity: &IdentityMatch) -> OwnerKey {
        match &identity.customer_id {
            Some(id) if identity.confidence >= Confidence::Strong => {
                OwnerKey(format!("customer:{id}"))
            }
            _ => OwnerKey(format!("author:{}:{}", event.platform, event.author.id)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A routed event, ready for the claim stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub event: CanonicalEvent,
    pub identity: IdentityMatch,
    pub intent: IntentMatch,
    pub owner_key: OwnerKey,
    pub route: Route,
}

/// What the pipeline made of one input.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Routed(Box<Decision>),
    /// Banter or spam: counted, never assigned.
    Noise {
        event: Box<CanonicalEvent>,
        keywords: Vec<String>,
        identity: Box<IdentityMatch>,
    },
}

/// The compiled rules and tables one worker runs with.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub limits: Limits,
    pub classifier: Classifier,
    pub router: Router,
    /// `name@version` of the rule packs, comma-separated: in every assignment and interaction.
    pub rules_version: String,
}

impl Pipeline {
    /// A pipeline under the `[limits]` section, with compiled rules and routing table (from a
    /// loaded configuration: `config::Loaded::pipeline`).
    pub fn new(limits: &LimitsConfig, classifier: Classifier, router: Router) -> Pipeline {
        Pipeline {
            limits: limits.limits(),
            rules_version: classifier.packs.join(","),
            classifier,
            router,
        }
    }

    /// Raw bytes (plus the `platform` header, if any) to a verdict, or the reason it can't be.
    /// `now_ms` is the time of reading (unix ms), passed in so that the stage stays pure.
    ///
    /// A panic anywhere in the stage (a bug) is caught and becomes an `internal_error`
    /// rejection: the input goes to the dead-letter topic like any other poison, and the worker
    /// goes on. Nothing here mutates shared state, so nothing is left half-changed.
    pub fn process(
        &self,
        index: &IdentityIndex,
        raw: &[u8],
        platform_header: Option<&str>,
        now_ms: i64,
    ) -> Result<Verdict, Rejection> {
        self.process_timed(index, raw, platform_header, now_ms, None)
    }

    /// [`Pipeline::process`], also measuring each part of the stage when `timings` is given
    /// (reading the clock only measures; it decides nothing).
    pub fn process_timed(
        &self,
        index: &IdentityIndex,
        raw: &[u8],
        platform_header: Option<&str>,
        now_ms: i64,
        mut timings: Option<&mut StageTimings>,
    ) -> Result<Verdict, Rejection> {
        guarded(|| {
            let mut lap = Lap::start(timings.is_some());
            let event = normalize::normalize(raw, platform_header, &self.limits, now_ms);
            lap.record(&mut timings, |t| &mut t.normalize);
            Ok(self.decide_timed(index, event?, now_ms, &mut timings, &mut lap))
        })
    }

    /// The stages after normalize: identity, classify, route.
    pub fn decide(&self, index: &IdentityIndex, event: CanonicalEvent, now_ms: i64) -> Verdict {
        self.decide_timed(index, event, now_ms, &mut None, &mut Lap::start(false))
    }

    fn decide_timed(
        &self,
        index: &IdentityIndex,
        event: CanonicalEvent,
        now_ms: i64,
        timings: &mut Option<&mut StageTimings>,
        lap: &mut Lap,
    ) -> Verdict {
        let identity = index.match_author(&event.platform, &event.author);
        lap.record(timings, |t| &mut t.identity);
        let classified = self.classifier.classify(&matching_text(&event.text));
        lap.record(timings, |t| &mut t.classify);
        let intent = match classified {
            Classification::Intent(m) => m,
            Classification::Noise { keywords } => {
                return Verdict::Noise {
                    event: Box::new(event),
                    keywords,
                    identity: Box::new(identity),
                }
            }
        };
        let route = self.router.route(&Facts {
            intent: &intent,
            identity: &identity,
            event: &event,
            now_ms,
        });
        lap.record(timings, |t| &mut t.route);
        let owner_key = OwnerKey::for_event(&event, &identity);
        Verdict::Routed(Box::new(Decision {
            event,
            identity,
            intent,
            owner_key,
            route,
        }))
    }
}

/// Time spent in each part of the matching stage for one event.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    pub normalize: std::time::Duration,
    pub identity: std::time::Duration,
    pub classify: std::time::Duration,
    pub route: std::time::Duration,
}

/// A stopwatch that only reads the clock when asked to measure.
struct Lap(Option<std::time::Instant>);

impl Lap {
    fn start(on: bool) -> Lap {
        Lap(on.then(std::time::Instant::now))
    }

    fn record(
        &mut self,
        timings: &mut Option<&mut StageTimings>,
        field: impl FnOnce(&mut StageTimings) -> &mut std::time::Duration,
    ) {
        if let (Some(since), Some(t)) = (self.0, timings.as_deref_mut()) {
            let now = std::time::Instant::now();
            *field(t) = now - since;
            self.0 = Some(now);
        }
    }
}

/// The pipeline workers run with, swapped whole between two events by a reload: an event is
/// decided by one version of the rules from start to end.
#[derive(Debug, Clone)]
pub struct SharedPipeline(std::sync::Arc<std::sync::RwLock<std::sync::Arc<Pipeline>>>);

impl SharedPipeline {
    pub fn new(p: Pipeline) -> Self {
        SharedPipeline(std::sync::Arc::new(std::sync::RwLock::new(
            std::sync::Arc::new(p),
        )))
    }

    /// The version to decide the next event with.
    pub fn current(&self) -> std::sync::Arc<Pipeline> {
        std::sync::Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn replace(&self, p: Pipeline) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(p);
    }
}

impl From<Pipeline> for SharedPipeline {
    fn from(p: Pipeline) -> Self {
        SharedPipeline::new(p)
    }
}

/// Run `f`, turning a panic into an `internal_error` rejection that carries the panic text.
fn guarded<T>(f: impl FnOnce() -> Result<T, Rejection>) -> Result<T, Rejection> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Rejection::new(
            Reason::InternalError,
            format!("the matching stage panicked: {what}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::RulePack;
    use crate::route::{Priority, PriorityConfig, RoutingConfig, SlaConfig};

    /// Built from the parts, as `config::Config::resolve` builds them (the core does not
    /// depend on the configuration that assembles it).
    pub(crate) fn pipeline_and_index() -> (Pipeline, IdentityIndex) {
        let pack = RulePack::from_toml(
            "p.toml",
            "name = \"p\"\n[[intent]]\nname = \"outage\"\nseverity = 3\nkeywords = [\"down\"]\n[noise]\nkeywords = [\"giveaway\"]\n",
        )
        .unwrap();
        let classifier = Classifier::compile(&[pack]).unwrap();
        let mut routing = RoutingConfig::default();
        routing.route.insert(
            0,
            crate::route::RouteConfig {
                name: "outage".into(),
                intents: vec!["outage".into()],
                candidates: vec![crate::route::Target::parse("network/outages").unwrap()],
                ..Default::default()
            },
        );
        let router = Router::new(&routing, &PriorityConfig::default(), &SlaConfig::default());
        let mut index = IdentityIndex::with_config(Default::default());
        crate::identity::load_snapshot(
            "crm.jsonl",
            "{\"id\":\"C1\",\"tier\":\"platinum\",\"identities\":[{\"platform\":\"x\",\"user_id\":\"15\",\"verified\":true}]}\n{\"id\":\"C2\",\"identities\":[{\"platform\":\"x\",\"handle\":\"bob\"}]}\n",
            &mut index,
        )
        .unwrap();
        (
            Pipeline::new(&LimitsConfig::default(), classifier, router),
            index,
        )
    }

    #[test]
    fn a_panic_in_the_stage_becomes_an_internal_error_rejection() {
        let r: Result<(), Rejection> = guarded(|| panic!("index {} out of range", 7));
        let r = r.unwrap_err();
        assert_eq!(r.reason, Reason::InternalError);
        assert_eq!(
            r.message,
            "the matching stage panicked: index 7 out of range"
        );
        assert_eq!(guarded(|| Ok(5)), Ok(5));
    }

    fn tweet(author: &str, handle: &str, text: &str) -> Vec<u8> {
        format!(
            r#"{{"data":{{"id":"9","text":"{text}","author_id":"{author}","created_at":"2026-11-20T09:00:00Z"}},"includes":{{"users":[{{"id":"{author}","username":"{handle}"}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn known_customer_is_routed_with_their_key_and_tier() {
        let (p, ix) = pipeline_and_index();
        let Verdict::Routed(d) = p
            .process(
                &ix,
                &tweet("15", "maria", "internet DOWN"),
                None,
                crate::normalize::TEST_NOW_MS,
            )
            .unwrap()
        else {
            panic!("not routed")
        };
        assert_eq!(d.owner_key.as_str(), "customer:C1");
        assert_eq!(d.intent.intent, "outage");
        assert_eq!(d.route.department(), "network");
        assert_eq!(d.route.queue(), "outages");
        // severity 3 (30) + tier platinum (30): p2 from 50 points.
        assert_eq!(d.route.score, 60, "{:?}", d.route.reasons);
        assert_eq!(d.route.priority, Priority::P2);
    }

    #[test]
    fn probable_match_keeps_the_author_key() {
        let (p, ix) = pipeline_and_index();
        let Verdict::Routed(d) = p
            .process(
                &ix,
                &tweet("77", "Bob", "hello"),
                None,
                crate::normalize::TEST_NOW_MS,
            )
            .unwrap()
        else {
            panic!("not routed")
        };
        assert_eq!(d.identity.confidence, Confidence::Probable);
        assert_eq!(d.identity.customer_id.as_deref(), Some("C2"));
        assert_eq!(d.owner_key.as_str(), "author:x:77");
        assert_eq!(d.route.department(), "support");
    }

    #[test]
    fn noise_and_garbage() {
        let (p, ix) = pipeline_and_index();
        assert!(matches!(
            p.process(
                &ix,
                &tweet("1", "a", "giveaway!!"),
                None,
                crate::normalize::TEST_NOW_MS
            )
            .unwrap(),
            Verdict::Noise { .. }
        ));
        assert_eq!(
            p.process(&ix, b"nope", None, crate::normalize::TEST_NOW_MS)
                .unwrap_err()
                .reason,
            Reason::InvalidJson
        );
    }
}
