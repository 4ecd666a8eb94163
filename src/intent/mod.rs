//! intent: rule packs (TOML, keyword lists per intent plus a noise list), compiled once into one
//! Aho-Corasick automaton, and the scoring that turns keyword hits into an intent or noise.

use crate::event::IntentMatch;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::Deserialize;
use std::collections::HashMap;

/// The intent given to a text no rule matched and that isn't noise.
pub const GENERAL: &str = "general";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default, rename = "intent")]
    pub intents: Vec<IntentRule>,
    #[serde(default)]
    pub noise: NoiseRule,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentRule {
    pub name: String,
    /// 0 (informational) to 3 (urgent); breaks ties and feeds priority.
    #[serde(default)]
    pub severity: u8,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseRule {
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl RulePack {
    /// Parse a pack; `origin` names it in errors.
    pub fn from_toml(origin: &str, text: &str) -> Result<RulePack, Vec<String>> {
        let pack: RulePack = toml::from_str(text).map_err(|e| vec![format!("{origin}: {e}")])?;
        let problems = pack.problems(origin);
        if problems.is_empty() {
            Ok(pack)
        } else {
            Err(problems)
        }
    }

    /// Every problem with the pack, not just the first.
    pub fn problems(&self, origin: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(format!("{origin}: pack `name` is empty"));
        }
        let mut owner: HashMap<String, &str> = HashMap::new();
        let mut names = HashMap::new();
        for rule in &self.intents {
            let n = rule.name.trim();
            if n.is_empty() {
                out.push(format!("{origin}: an intent has an empty name"));
            } else if n == GENERAL {
                out.push(format!(
                    "{origin}: intent `{GENERAL}` is reserved for texts no rule matches"
                ));
            } else if names.insert(n.to_owned(), ()).is_some() {
                out.push(format!("{origin}: intent `{n}` is defined twice"));
            }
            if rule.severity > 3 {
                out.push(format!(
                    "{origin}: intent `{n}` has severity {} (0..=3)",
                    rule.severity
                ));
            }
            if rule.keywords.is_empty() {
                out.push(format!("{origin}: intent `{n}` has no keywords"));
            }
            for kw in &rule.keywords {
                let k = normalize_keyword(kw);
                if k.is_empty() {
                    out.push(format!("{origin}: intent `{n}` has an empty keyword"));
                } else if let Some(prev) = owner.insert(k.clone(), &rule.name) {
                    out.push(format!(
                        "{origin}: keyword \"{k}\" is in both `{prev}` and `{n}`"
                    ));
                }
            }
        }
        for kw in &self.noise.keywords {
            let k = normalize_keyword(kw);
            if k.is_empty() {
                out.push(format!("{origin}: noise has an empty keyword"));
            } else if let Some(prev) = owner.insert(k.clone(), "noise") {
                out.push(format!(
                    "{origin}: keyword \"{k}\" is in both `{prev}` and noise"
                ));
            }
        }
        out
    }
}

fn normalize_keyword(kw: &str) -> String {
    crate::normalize::matching_text(kw)
}

/// What a keyword belongs to.
#[derive(Debug, Clone, Copy)]
enum Target {
    Intent(usize),
    Noise,
}

/// The outcome of classifying one text.
#[derive(Debug, Clone, PartialEq)]
pub enum Classification {
    Intent(IntentMatch),
    /// Banter or spam: counted and dropped, never assigned.
    Noise {
        keywords: Vec<String>,
    },
}

/// One or more rule packs, compiled.
#[derive(Debug, Clone)]
pub struct Classifier {
    automaton: AhoCorasick,
    keywords: Vec<String>,
    targets: Vec<Target>,
    intents: Vec<(String, u8)>,
    /// `name@version` of each pack, for metrics and logs.
    pub packs: Vec<String>,
}

impl Classifier {
    /// Compile packs; packs are checked together, so a keyword in two packs is an error too.
    pub fn compile(packs: &[RulePack]) -> Result<Classifier, Vec<String>> {
        let mut keywords = Vec::new();
        let mut targets = Vec::new();
        let mut intents = Vec::new();
        let mut problems = Vec::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        let mut intent_ix: HashMap<String, usize> = HashMap::new();
        for pack in packs {
            problems.extend(pack.problems(&pack.name));
            for rule in &pack.intents {
                let ix = *intent_ix.entry(rule.name.clone()).or_insert_with(|| {
                    intents.push((rule.name.clone(), rule.severity));
                    intents.len() - 1
                });
                for kw in &rule.keywords {
                    let k = normalize_keyword(kw);
                    if let Some(prev) = owner.insert(k.clone(), rule.name.clone()) {
                        if prev != rule.name {
                            problems.push(format!(
                                "keyword \"{k}\" is in both `{prev}` and `{}` (packs disagree)",
                                rule.name
                            ));
                        }
                        continue;
                    }
                    keywords.push(k);
                    targets.push(Target::Intent(ix));
                }
            }
            for kw in &pack.noise.keywords {
                let k = normalize_keyword(kw);
                if owner.insert(k.clone(), "noise".into()).is_some() {
                    continue;
                }
                keywords.push(k);
                targets.push(Target::Noise);
            }
        }
        problems.dedup();
        if !problems.is_empty() {
            return Err(problems);
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&keywords)
            .map_err(|e| vec![format!("cannot compile keywords: {e}")])?;
        Ok(Classifier {
            automaton,
            keywords,
            targets,
            intents,
            packs: packs
                .iter()
                .map(|p| format!("{}@{}", p.name, p.version))
                .collect(),
        })
    }

    /// Names of every intent the packs define (routing is checked against these).
    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.intents.iter().map(|(n, _)| n.as_str())
    }

    /// Classify a text already in [`crate::normalize::matching_text`] form.
    ///
    /// The intent with the most keyword hits wins; ties go to the higher severity, then to the
    /// intent defined first. Noise wins only when no intent keyword fired.
    pub fn classify(&self, matching_text: &str) -> Classification {
        // Small fixed-size tallies: packs have few intents, and this runs per event.
        let mut hits: Vec<u32> = vec![0; self.intents.len()];
        let mut fired: Vec<usize> = Vec::new();
        let mut noise: Vec<usize> = Vec::new();
        for m in self.automaton.find_iter(matching_text) {
            if !is_word_boundary(matching_text, m.start(), m.end()) {
                continue;
            }
            let pid = m.pattern().as_usize();
            match self.targets[pid] {
                Target::Intent(ix) => {
                    hits[ix] += 1;
                    if !fired.contains(&pid) {
                        fired.push(pid);
                    }
                }
                Target::Noise => {
                    if !noise.contains(&pid) {
                        noise.push(pid);
                    }
                }
            }
        }
        let best = hits
            .iter()
            .enumerate()
            .filter(|(_, h)| **h > 0)
            .max_by(|(a, ha), (b, hb)| {
                ha.cmp(hb)
                    .then(self.intents[*a].1.cmp(&self.intents[*b].1))
                    .then(b.cmp(a))
            })
            .map(|(ix, _)| ix);
        match best {
            Some(ix) => {
                let keywords = fired
                    .into_iter()
                    .filter(|pid| matches!(self.targets[*pid], Target::Intent(i) if i == ix))
                    .map(|pid| self.keywords[pid].clone())
                    .collect();
                Classification::Intent(IntentMatch {
                    intent: self.intents[ix].0.clone(),
                    severity: self.intents[ix].1,
                    keywords,
                })
            }
            None if !noise.is_empty() => Classification::Noise {
                keywords: noise
                    .into_iter()
                    .map(|p| self.keywords[p].clone())
                    .collect(),
            },
            None => Classification::Intent(IntentMatch {
                intent: GENERAL.to_owned(),
                severity: 0,
                keywords: Vec::new(),
            }),
        }
    }
}

/// A keyword only counts as a whole word (or phrase): `bill` must not fire inside `billion`.
/// Match bounds are char boundaries: a valid UTF-8 pattern found in valid UTF-8 text always is.
fn is_word_boundary(text: &str, start: usize, end: usize) -> bool {
    let prev = text[..start].chars().next_back();
    let next = text[end..].chars().next();
    !prev.is_some_and(char::is_alphanumeric) && !next.is_some_and(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::matching_text;

    const PACK: &str = r#"
name = "test"
version = "1"
[[intent]]
name = "outage"
severity = 3
keywords = ["down", "not working", "no internet"]
[[intent]]
name = "billing"
severity = 2
keywords = ["bill", "charged twice", "refund"]
[noise]
keywords = ["lol", "giveaway"]
"#;

    fn classifier() -> Classifier {
        Classifier::compile(&[RulePack::from_toml("test", PACK).unwrap()]).unwrap()
    }

    fn intent(text: &str) -> String {
        match classifier().classify(&matching_text(text)) {
            Classification::Intent(m) => m.intent,
            Classification::Noise { .. } => "NOISE".into(),
        }
    }

    #[test]
    fn keywords_pick_intents() {
        assert_eq!(intent("My internet is DOWN again"), "outage");
        assert_eq!(intent("I was charged twice, I want a refund"), "billing");
        assert_eq!(intent("where is the nearest store?"), GENERAL);
    }

    #[test]
    fn keywords_match_whole_words_only() {
        assert_eq!(intent("a billion thanks"), GENERAL);
        assert_eq!(intent("countdown"), GENERAL);
        assert_eq!(intent("bill?"), "billing");
        assert_eq!(intent("é-bill"), "billing");
    }

    #[test]
    fn most_hits_win_then_severity() {
        // one outage hit, two billing hits
        assert_eq!(intent("site down, refund my bill"), "billing");
        // one each: severity decides
        assert_eq!(intent("down and a bill"), "outage");
        let m = match classifier().classify("refund refund bill") {
            Classification::Intent(m) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(m.keywords, vec!["refund", "bill"]);
    }

    #[test]
    fn noise_only_when_no_intent_fired() {
        assert_eq!(intent("lol giveaway"), "NOISE");
        assert_eq!(intent("lol my internet is down"), "outage");
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = r#"
name = ""
[[intent]]
name = "a"
severity = 9
keywords = ["x", ""]
[[intent]]
name = "a"
keywords = ["x"]
[[intent]]
name = "general"
keywords = []
[noise]
keywords = ["x"]
"#;
        let problems = RulePack::from_toml("bad.toml", bad).unwrap_err();
        let text = problems.join("\n");
        for needle in [
            "`name` is empty",
            "severity 9",
            "empty keyword",
            "defined twice",
            "reserved",
            "has no keywords",
            "in both `a` and noise",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = RulePack::from_toml("p", "name = \"p\"\nkeywrds = []\n").unwrap_err();
        assert!(err[0].contains("keywrds"), "{err:?}");
    }
}
