//! intent: rule packs (TOML: intents with weighted phrases and regex patterns, negation cues,
//! noise categories, a sentiment lexicon) compiled once into Aho-Corasick automata and one
//! `RegexSet`, and the scoring that turns hits into an intent or noise. See `docs/rules.md`.
//!
//! Texts are matched in [`crate::normalize::matching_text`] form, accent-folded by
//! [`fold::fold`] (phrases go through the same two steps). Spans in an [`Analysis`] are byte
//! offsets into the matching text, the form the caller passed in.
//!
//! The `[rules]` section of the configuration ([`RulesConfig`], the packs to compile) is defined
//! here (`intent/config.rs`).

mod config;
pub mod features;
pub mod fold;
mod learned;
mod pack;

pub use config::RulesConfig;
pub use pack::{
    scope_name, EntityRule, IntentRule, Learned, Logit, Negation, NoiseCategory, NoiseRule,
    Normalizer, PhraseGroup, Polarity, RulePack, SentimentGroup, SentimentModel, TermGroup,
};

use crate::event::{Entity, IntentMatch};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use fold::{fold, fold_phrase};
use learned::{LearnedIndex, TermHit};
use regex::{Regex, RegexSet, RegexSetBuilder};
use serde::Serialize;
use std::collections::HashMap;

/// The intent given to a text no rule matched and that isn't noise.
pub const GENERAL: &str = "general";

/// The score an intent or noise category needs when its rule names no `min_score`.
pub const DEFAULT_MIN_SCORE: f32 = 1.0;

/// The outcome of classifying one text.
#[derive(Debug, Clone, PartialEq)]
pub enum Classification {
    Intent(IntentMatch),
    /// Banter, spam, promotions, auto-replies: counted and dropped, never assigned.
    Noise {
        keywords: Vec<String>,
    },
}

/// One hit of a phrase or pattern in a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// Byte offsets into the matching text (`matching_text(original)`).
    pub start: usize,
    pub end: usize,
    /// The rule that fired: the folded phrase, or `/pattern/`.
    pub rule: String,
    pub weight: f32,
    /// A negation cue stood before it: it does not count.
    pub negated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// An intent or noise category that something in the text hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub name: String,
    pub severity: u8,
    /// Sum of the weights of the spans that are not negated (plus `bias`).
    pub score: f32,
    /// A learned intent's intercept, included in `score`.
    #[serde(skip_serializing_if = "is_zero")]
    pub bias: f32,
    pub min_score: f32,
    /// `score >= min_score`: the class can be chosen.
    pub qualifies: bool,
    /// A noise category that wins even over an intent that qualifies.
    #[serde(skip_serializing_if = "is_false")]
    pub overrides_intents: bool,
    pub spans: Vec<Span>,
}

/// Sentiment polarity from the packs' lexicon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sentiment {
    /// `positive`, `negative` or `neutral` (no lexicon hit, or they cancel out).
    pub label: &'static str,
    /// From -1 (all negative) to 1 (all positive).
    pub polarity: f32,
    pub positive: f32,
    pub negative: f32,
    /// Spans of lexicon terms; `negated` ones had their polarity flipped.
    pub spans: Vec<Span>,
}

/// One occurrence of an entity in a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntitySpan {
    /// The entity (`airport`).
    pub name: String,
    /// The normalized value (`JFK`).
    pub value: String,
    /// Byte offsets into the matching text of what was matched (for a pattern: from its first
    /// to its last capture that took part).
    pub start: usize,
    pub end: usize,
    /// The value or alias that matched (folded), or `/pattern/`.
    pub rule: String,
}

/// Everything the classifier found in a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Every intent something hit, best first (score, then severity, then pack order).
    pub intents: Vec<Scored>,
    /// Every noise category something hit, best first.
    pub noise: Vec<Scored>,
    pub sentiment: Sentiment,
    /// Language tags of the phrases that fired, most weight first.
    pub languages: Vec<String>,
    /// Every entity occurrence, in text order (the decision keeps each (name, value) once).
    pub entities: Vec<EntitySpan>,
}

#[derive(Debug, Clone)]
struct Class {
    name: String,
    severity: u8,
    noise: bool,
    overrides: bool,
    min_score: f32,
    /// Defined by a learned pack: scored `bias + weights` for every text.
    learned: bool,
    bias: f32,
}

/// Where a learned phrase counts, relative to negation cues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Any,
    /// Not after a cue (a `negatable` group).
    Plain,
    /// Only after a cue (a `negated` group).
    Negated,
}

impl Scope {
    fn of(negatable: bool, negated: bool) -> Scope {
        match (negatable, negated) {
            (_, true) => Scope::Negated,
            (true, false) => Scope::Plain,
            (false, false) => Scope::Any,
        }
    }
}

/// What a learned phrase adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Class(usize),
    Negative,
    Positive,
    Neutral,
}

/// A weighted feature of a learned pack.
#[derive(Debug, Clone)]
struct Feature {
    target: Target,
    weight: f32,
    scope: Scope,
    lang: Option<u16>,
}

#[derive(Debug, Clone)]
struct Rule {
    class: usize,
    /// The folded phrase, or `/pattern/`.
    text: String,
    weight: f32,
    negatable: bool,
    lang: Option<u16>,
}

/// An entity, compiled.
#[derive(Debug, Clone)]
struct EntityDef {
    name: String,
    /// The pack that defines it, for `outcry check`.
    pack: String,
    normalize: Normalizer,
    /// Folded alias or known value -> the value as written in the pack.
    canonical: HashMap<String, String>,
    values: usize,
    aliases: usize,
    patterns: usize,
}

/// A known value or alias in the entity automaton.
#[derive(Debug, Clone)]
struct EntityTerm {
    entity: usize,
    /// The folded term.
    term: String,
    value: String,
}

/// What `outcry check` lists about an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityInfo {
    pub pack: String,
    pub name: String,
    pub values: usize,
    pub aliases: usize,
    pub patterns: usize,
}

impl EntityDef {
    /// The value of a pattern capture: an alias or known value as the pack writes it, else
    /// the capture normalized (`None` when that leaves nothing).
    fn value_of(&self, raw: &str) -> Option<String> {
        if let Some(v) = self.canonical.get(raw.trim()) {
            return Some(v.clone());
        }
        let n = self.normalize.apply(raw);
        if n.is_empty() {
            return None;
        }
        Some(self.canonical.get(&fold_phrase(&n)).cloned().unwrap_or(n))
    }
}

/// An entity occurrence in folded text.
struct Found {
    start: usize,
    end: usize,
    entity: usize,
    value: String,
    source: Source,
}

/// What found an entity: a known value or alias (id in the automaton), or a pattern (id in
/// `regex_set`).
enum Source {
    Term(usize),
    Pattern(usize),
}

/// One or more rule packs, compiled.
#[derive(Debug, Clone)]
pub struct Classifier {
    classes: Vec<Class>,
    /// Intent and noise phrases, negation cues, lexicon terms (when no pack has a learned
    /// sentiment model) and entity terms, in one automaton: a text is scanned once.
    scan_ac: AhoCorasick,
    /// Where each group of `scan_ac`'s patterns ends (see [`Scan`]).
    scan_ends: [usize; 4],
    /// Index = pattern id in `scan_ac`.
    phrases: Vec<Rule>,
    /// Intent and noise patterns, then entity patterns: one scan finds both.
    regex_set: RegexSet,
    /// Index = index in `regex_set`.
    regexes: Vec<Regex>,
    /// Intent and noise patterns: ids `0..patterns.len()` of `regex_set`.
    patterns: Vec<Rule>,
    entities: Vec<EntityDef>,
    /// Known values and aliases of every entity (found by `scan_ac`).
    entity_terms: Vec<EntityTerm>,
    /// The entity of each entity pattern: ids `patterns.len()..` of `regex_set`.
    entity_patterns: Vec<usize>,
    /// `/pattern/` of each entity pattern, as the pack writes it.
    entity_pattern_text: Vec<String>,
    window: usize,
    /// Signed weight of each lexicon term.
    lexicon: Vec<(f32, Option<u16>)>,
    lexicon_terms: Vec<String>,
    langs: Vec<String>,
    /// `name@version` of each pack, for metrics and logs.
    pub packs: Vec<String>,
    /// Terms and patterns compiled, for `outcry check`.
    pub phrase_count: usize,
    pub pattern_count: usize,
    /// Phrases of learned packs (intents and sentiment): every whole-token match counts once
    /// per text.
    learned: LearnedIndex,
    sentiment_model: Option<SentimentModel>,
    /// Learned features compiled (a term weighed by three intents counts three).
    pub learned_count: usize,
}

pub(crate) fn automaton<T: AsRef<[u8]>>(terms: &[T]) -> Result<AhoCorasick, String> {
    // Standard semantics with overlapping search: every whole-word match is seen, and the
    // leftmost-longest choice is made among those (see `select`), so that a longer phrase that
    // fails the word-boundary test ("late flight" in "late flights") can't hide a shorter one.
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        // A DFA: the fastest search, built once per pack version (a few MB at 5,000 phrases).
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(terms)
        .map_err(|e| format!("cannot compile phrases: {e}"))
}

impl Classifier {
    /// Compile packs. Packs are checked together: a term owned by two intents of different
    /// packs is an error too; an intent defined by two packs is merged (same severity needed).
    pub fn compile(packs: &[RulePack]) -> Result<Classifier, Vec<String>> {
        let mut problems = Vec::new();
        let mut classes: Vec<Class> = Vec::new();
        let mut class_ix: HashMap<String, usize> = HashMap::new();
        let mut phrases: Vec<Rule> = Vec::new();
        let mut phrase_ix: HashMap<String, usize> = HashMap::new();
        let mut patterns: Vec<Rule> = Vec::new();
        let mut pattern_src: Vec<String> = Vec::new();
        let mut langs: Vec<String> = Vec::new();
        let mut cues: Vec<String> = Vec::new();
        let mut window = 0;
        let mut lexicon: Vec<(f32, Option<u16>)> = Vec::new();
        let mut lexicon_terms: Vec<String> = Vec::new();
        let mut lexicon_ix: HashMap<String, usize> = HashMap::new();
        let mut entities: Vec<EntityDef> = Vec::new();
        let mut entity_terms: Vec<EntityTerm> = Vec::new();
        let mut entity_term_ix: HashMap<String, usize> = HashMap::new();
        let mut entity_patterns: Vec<usize> = Vec::new();
        let mut entity_pattern_src: Vec<String> = Vec::new();
        // Learned term -> its features.
        let mut learned_terms: Vec<String> = Vec::new();
        let mut learned_by_term: Vec<Vec<Feature>> = Vec::new();
        let mut learned_ix: HashMap<String, usize> = HashMap::new();
        let mut sentiment_model: Option<SentimentModel> = None;
        let mut add_learned = |term: String, l: Feature| {
            let ix = *learned_ix.entry(term.clone()).or_insert_with(|| {
                learned_terms.push(term);
                learned_by_term.push(Vec::new());
                learned_terms.len() - 1
            });
            learned_by_term[ix].push(l);
        };
        let lang_ix = |l: &Option<String>, langs: &mut Vec<String>| -> Option<u16> {
            let l = l.as_ref()?;
            Some(match langs.iter().position(|x| x == l) {
                Some(i) => i as u16,
                None => {
                    langs.push(l.clone());
                    (langs.len() - 1) as u16
                }
            })
        };
        for pack in packs {
            problems.extend(pack.problems(&pack.name));
            window = window.max(pack.negation.window);
            for g in &pack.negation.cues {
                for t in &g.terms {
                    let f = fold_phrase(t);
                    if !f.is_empty() && !cues.contains(&f) {
                        cues.push(f);
                    }
                }
            }
            let is_learned = pack.learned.is_some();
            // Learned weights carry no language of their own: a one-language pack's.
            let pack_lang = match pack.languages.as_slice() {
                [one] => lang_ix(&Some(one.clone()), &mut langs),
                _ => None,
            };
            if let Some(m) = pack.sentiment_model.clone() {
                for (target, side) in [
                    (Target::Negative, Some(&m.negative)),
                    (Target::Positive, Some(&m.positive)),
                    (Target::Neutral, m.neutral.as_ref()),
                ]
                .into_iter()
                .filter_map(|(t, s)| Some((t, s?)))
                {
                    for g in side.groups() {
                        let f = fold_phrase(&g.terms[0]);
                        if !f.is_empty() {
                            add_learned(
                                f,
                                Feature {
                                    target,
                                    weight: g.weight,
                                    scope: Scope::of(g.negatable, g.negated),
                                    lang: pack_lang,
                                },
                            );
                        }
                    }
                }
                if sentiment_model.is_some() {
                    problems.push(format!(
                        "`{}` has a sentiment_model and so does another pack (one at most)",
                        pack.name
                    ));
                }
                sentiment_model = Some(m);
                for g in &pack.sentiment {
                    let lang = lang_ix(&g.lang, &mut langs);
                    let target = match g.polarity {
                        Polarity::Positive => Target::Positive,
                        Polarity::Negative => Target::Negative,
                    };
                    for t in &g.terms {
                        let f = fold_phrase(t);
                        if !f.is_empty() {
                            add_learned(
                                f,
                                Feature {
                                    target,
                                    weight: g.weight,
                                    scope: Scope::of(g.negatable, g.negated),
                                    lang,
                                },
                            );
                        }
                    }
                }
            }
            for g in pack
                .sentiment
                .iter()
                .filter(|_| pack.sentiment_model.is_none())
            {
                let lang = lang_ix(&g.lang, &mut langs);
                let sign = match g.polarity {
                    Polarity::Positive => 1.0,
                    Polarity::Negative => -1.0,
                };
                for t in &g.terms {
                    let f = fold_phrase(t);
                    if f.is_empty() || lexicon_ix.contains_key(&f) {
                        continue;
                    }
                    lexicon_ix.insert(f.clone(), lexicon.len());
                    lexicon.push((sign * g.weight, lang));
                    lexicon_terms.push(f);
                }
            }
            let intents = pack.intents.iter().map(|r| {
                (
                    Class {
                        name: r.name.clone(),
                        severity: r.severity,
                        noise: false,
                        overrides: false,
                        min_score: r.min_score.unwrap_or(DEFAULT_MIN_SCORE),
                        learned: is_learned && r.bias.is_some(),
                        bias: r.bias.unwrap_or(0.0),
                    },
                    r.groups().collect::<Vec<_>>(),
                )
            });
            let noise = pack.noise.all_categories().into_iter().map(|c| {
                (
                    Class {
                        name: c.name.clone(),
                        severity: 0,
                        noise: true,
                        overrides: c.overrides_intents,
                        min_score: c.min_score.unwrap_or(DEFAULT_MIN_SCORE),
                        learned: false,
                        bias: 0.0,
                    },
                    c.groups().collect::<Vec<_>>(),
                )
            });
            for (class, groups) in intents.chain(noise).collect::<Vec<_>>() {
                let class_learned = class.learned;
                let ix = match class_ix.get(&class.name) {
                    Some(&ix) => {
                        let prev = &classes[ix];
                        if prev.learned && class.learned {
                            problems
                                .push(format!("`{}` is defined by two learned packs", class.name));
                        }
                        if prev.noise != class.noise || prev.severity != class.severity {
                            problems.push(format!(
                                "`{}` is defined differently by two packs (severity or noise)",
                                class.name
                            ));
                        }
                        if class.learned {
                            // A hand pack's intent joined by a learned one: scored as learned.
                            let (min_score, bias) = (class.min_score, class.bias);
                            let c = &mut classes[ix];
                            c.learned = true;
                            c.min_score = min_score;
                            c.bias = bias;
                        }
                        ix
                    }
                    None => {
                        class_ix.insert(class.name.clone(), classes.len());
                        classes.push(class);
                        classes.len() - 1
                    }
                };
                let learned_class = class_learned;
                for g in groups {
                    let lang = lang_ix(&g.lang, &mut langs);
                    for t in g.terms.iter().filter(|_| learned_class) {
                        let f = fold_phrase(t);
                        if !f.is_empty() {
                            add_learned(
                                f,
                                Feature {
                                    target: Target::Class(ix),
                                    weight: g.weight,
                                    scope: Scope::of(g.negatable, g.negated),
                                    lang: lang.or(pack_lang),
                                },
                            );
                        }
                    }
                    for t in g.terms.iter().filter(|_| !learned_class) {
                        let f = fold_phrase(t);
                        if f.is_empty() {
                            continue;
                        }
                        if let Some(&prev) = phrase_ix.get(&f) {
                            let prev = phrases[prev].class;
                            if prev != ix {
                                problems.push(format!(
                                    "keyword \"{f}\" is in both `{}` and `{}` (packs disagree)",
                                    classes[prev].name, classes[ix].name
                                ));
                            }
                            continue;
                        }
                        phrase_ix.insert(f.clone(), phrases.len());
                        phrases.push(Rule {
                            class: ix,
                            text: f,
                            weight: g.weight,
                            negatable: g.negatable,
                            lang,
                        });
                    }
                    for p in &g.patterns {
                        pattern_src.push(p.clone());
                        patterns.push(Rule {
                            class: ix,
                            text: format!("/{p}/"),
                            weight: g.weight,
                            negatable: g.negatable,
                            lang,
                        });
                    }
                }
            }
            for e in &pack.entities {
                let name = e.name.trim();
                if let Some(prev) = entities.iter().find(|d| d.name == name) {
                    if prev.pack != pack.name {
                        problems.push(format!(
                            "entity `{name}` is defined by two packs (`{}` and `{}`)",
                            prev.pack, pack.name
                        ));
                    }
                    continue;
                }
                let ix = entities.len();
                // Folded known value -> as written; aliases -> the known value they name.
                let mut canonical: HashMap<String, String> = HashMap::new();
                for v in e.values.iter().chain(&e.ambiguous) {
                    canonical.insert(fold_phrase(v), v.trim().to_owned());
                }
                let mut add_term = |term: String, value: String, problems: &mut Vec<String>| {
                    if let Some(&prev) = entity_term_ix.get(&term) {
                        let prev = &entities[entity_terms[prev].entity];
                        // Within one pack, `RulePack::problems` has said it already.
                        if prev.pack != pack.name {
                            problems.push(format!(
                                "entity value \"{term}\" is in both `{}` and `{name}` (packs \
                                 disagree)",
                                prev.name
                            ));
                        }
                        return;
                    }
                    entity_term_ix.insert(term.clone(), entity_terms.len());
                    entity_terms.push(EntityTerm {
                        entity: ix,
                        term,
                        value,
                    });
                };
                for v in &e.values {
                    add_term(fold_phrase(v), v.trim().to_owned(), &mut problems);
                }
                let mut aliases = Vec::new();
                for (alias, value) in &e.aliases {
                    let target = fold_phrase(value);
                    let value = canonical
                        .get(&target)
                        .cloned()
                        .unwrap_or_else(|| value.trim().to_owned());
                    aliases.push((fold_phrase(alias), value));
                }
                for (alias, value) in aliases {
                    canonical.insert(alias.clone(), value.clone());
                    add_term(alias, value, &mut problems);
                }
                for p in &e.patterns {
                    entity_pattern_src.push(p.clone());
                    entity_patterns.push(ix);
                }
                entities.push(EntityDef {
                    name: name.to_owned(),
                    pack: pack.name.clone(),
                    // An unknown normalizer was reported by `problems` above.
                    normalize: Normalizer::parse(e.normalize.as_deref())
                        .unwrap_or(Normalizer::Lower),
                    canonical,
                    values: e.values.len() + e.ambiguous.len(),
                    aliases: e.aliases.len(),
                    patterns: e.patterns.len(),
                });
            }
        }
        problems.dedup();
        if !problems.is_empty() {
            return Err(problems);
        }
        let texts: Vec<String> = phrases.iter().map(|r| r.text.clone()).collect();
        pattern_src.extend(entity_pattern_src);
        let entity_pattern_text: Vec<String> = pattern_src[patterns.len()..]
            .iter()
            .map(|p| format!("/{p}/"))
            .collect();
        let compiled: Vec<String> = pattern_src.iter().map(|p| ascii_boundaries(p)).collect();
        let regex_set = RegexSetBuilder::new(&compiled)
            .case_insensitive(true)
            .build()
            .map_err(|e| vec![format!("cannot compile patterns: {e}")])?;
        let regexes = compiled
            .iter()
            .zip(&pattern_src)
            .map(|(c, p)| {
                regex::RegexBuilder::new(c)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| vec![format!("pattern /{p}/: {e}")])
            })
            .collect::<Result<Vec<_>, _>>()?;
        let learned = LearnedIndex::build(learned_terms, learned_by_term, classes.len())
            .map_err(|e| vec![e])?;
        let lexicon_scanned: &[String] = if sentiment_model.is_none() {
            &lexicon_terms
        } else {
            &[]
        };
        let groups: [Vec<&str>; 4] = [
            texts.iter().map(String::as_str).collect(),
            cues.iter().map(String::as_str).collect(),
            lexicon_scanned.iter().map(String::as_str).collect(),
            entity_terms.iter().map(|t| t.term.as_str()).collect(),
        ];
        let mut scan_ends = [0; 4];
        let mut end = 0;
        for (g, terms) in groups.iter().enumerate() {
            end += terms.len();
            scan_ends[g] = end;
        }
        let scan_ac = automaton(&groups.concat()).map_err(|e| vec![e])?;
        Ok(Classifier {
            scan_ac,
            scan_ends,
            entities,
            entity_terms,
            entity_patterns,
            entity_pattern_text,
            phrase_count: phrases.len(),
            pattern_count: patterns.len(),
            learned_count: learned.feature_count(),
            learned,
            sentiment_model,
            classes,
            phrases,
            regex_set,
            regexes,
            patterns,
            window: window.max(1),
            lexicon,
            lexicon_terms,
            langs,
            packs: packs
                .iter()
                .map(|p| format!("{}@{}", p.name, p.version))
                .collect(),
        })
    }

    /// Names of every intent the packs define (routing is checked against these).
    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.classes
            .iter()
            .filter(|c| !c.noise)
            .map(|c| c.name.as_str())
    }

    /// Names of every noise category.
    pub fn noise_names(&self) -> impl Iterator<Item = &str> {
        self.classes
            .iter()
            .filter(|c| c.noise)
            .map(|c| c.name.as_str())
    }

    /// Every language tag the packs use.
    pub fn languages(&self) -> &[String] {
        &self.langs
    }

    /// Classify a text already in [`crate::normalize::matching_text`] form.
    ///
    /// The intent with the highest score (sum of the weights of its phrases and patterns that
    /// fired and were not negated) that reaches its `min_score` wins; ties go to the higher
    /// severity, then to the intent defined first. Noise wins when its category overrides
    /// intents, or when no intent qualified.
    ///
    /// This is the per-event path of the matching stage: it computes only what the decision
    /// needs (no sentiment, no span strings); [`Classifier::analyze`] + [`decide`] give the same
    /// decision with everything that fired (a test holds the two together).
    pub fn classify(&self, matching_text: &str) -> Classification {
        let folded = fold(matching_text);
        let text: &str = &folded.text;
        let Scan {
            phrases,
            cues,
            lexicon,
            entities,
        } = self.scan(text);
        let mut entity_patterns = Vec::new();
        let hits = self.hits(text, &phrases, &mut entity_patterns);
        if hits.is_empty() && lexicon.is_empty() && self.learned.is_empty() {
            return general(
                0.0,
                None,
                self.entity_values(text, &entities, &entity_patterns),
            );
        }
        let negation = NegationReach::new(text, &cues, self.window);
        let learned = self.learned.find(text, &negation);
        let (sums, logits, mut lang_weight) = self.learned_sums(&learned);
        let sentiment = match &self.sentiment_model {
            Some(m) => learned_sentiment(m, logits).1,
            None => {
                let (mut positive, mut negative) = (0.0f32, 0.0f32);
                for &(s, _, ix) in &lexicon {
                    let w = self.lexicon[ix].0;
                    let signed = if negation.covers(s) { -w } else { w };
                    if signed > 0.0 {
                        positive += signed;
                    } else {
                        negative -= signed;
                    }
                }
                polarity(positive, negative)
            }
        };
        let mut score: Vec<Option<f32>> = self
            .classes
            .iter()
            .zip(&sums)
            .map(|(c, s)| c.learned.then_some(c.bias + s))
            .collect();
        let mut counted = vec![false; hits.len()];
        for (i, (s, _, rule)) in hits.iter().enumerate() {
            let entry = score[rule.class].get_or_insert(0.0);
            if !(rule.negatable && negation.covers(*s)) {
                *entry += rule.weight;
                counted[i] = true;
                if let Some(l) = rule.lang {
                    lang_weight[usize::from(l)] += rule.weight;
                }
            }
        }
        let language = heaviest(&lang_weight).map(|i| self.langs[i].clone());
        // The best qualifying class among those each pick accepts (noise that overrides,
        // intents, noise), in `analyze`'s order: score, then severity, then definition order.
        // One pass over the classes for the three (a pack may have 77 of them).
        let best = {
            let mut best: [Option<(usize, f32)>; 3] = [None; 3];
            for (ix, sc) in score.iter().enumerate() {
                let (Some(sc), class) = (*sc, &self.classes[ix]) else {
                    continue;
                };
                if sc < class.min_score {
                    continue;
                }
                let margin = sc - class.min_score;
                let picks = [class.noise && class.overrides, !class.noise, class.noise];
                for (slot, pick) in best.iter_mut().zip(picks) {
                    let better = pick
                        && match *slot {
                            None => true,
                            Some((b, bm)) => margin
                                .total_cmp(&bm)
                                .then(class.severity.cmp(&self.classes[b].severity))
                                .is_gt(),
                        };
                    if better {
                        *slot = Some((ix, margin));
                    }
                }
            }
            best.map(|b| b.map(|(ix, _)| ix))
        };
        let [noise_overriding, intent, noise] = best;
        let keywords = |class: usize| {
            let hand = hits
                .iter()
                .zip(&counted)
                .filter(|((_, _, rule), &c)| c && rule.class == class && rule.weight > 0.0)
                .map(|((_, _, rule), _)| (rule.weight, Phrase::Hand(rule.text.as_str())));
            let mut phrases: Vec<(f32, Phrase)> = hand.collect();
            let mut learned_phrases = Vec::new();
            self.learned
                .speaking_for(&learned, class, &mut learned_phrases);
            phrases.extend(
                learned_phrases
                    .into_iter()
                    .map(|(w, (term, negated))| (w, Phrase::Learned(term, negated))),
            );
            heaviest_phrases(phrases, |p| match p {
                Phrase::Learned(term, negated) => self.learned.text(*term, *negated),
                Phrase::Hand(text) => (*text).to_owned(),
            })
        };
        if let Some(n) = noise_overriding {
            return Classification::Noise {
                keywords: keywords(n),
            };
        }
        if let Some(i) = intent {
            return Classification::Intent(IntentMatch {
                intent: self.classes[i].name.clone(),
                severity: self.classes[i].severity,
                keywords: keywords(i),
                sentiment,
                language,
                entities: self.entity_values(text, &entities, &entity_patterns),
            });
        }
        if let Some(n) = noise {
            return Classification::Noise {
                keywords: keywords(n),
            };
        }
        general(
            sentiment,
            language,
            self.entity_values(text, &entities, &entity_patterns),
        )
    }

    /// What learned terms add: to each class, to the sentiment sides (negative, neutral,
    /// positive; with their biases), and to each language.
    fn learned_sums(&self, hits: &[TermHit]) -> (Vec<f32>, [f32; 3], Vec<f32>) {
        let n = self.classes.len();
        let mut slots = vec![0.0f32; n + 3 + self.langs.len()];
        self.learned.sum(hits, &mut slots);
        let langs = slots[n + 3..].to_vec();
        let biases = self
            .sentiment_model
            .as_ref()
            .map_or([0.0; 3], |m| m.biases());
        let logits = [0, 1, 2].map(|i| biases[i] + slots[n + i]);
        slots.truncate(n);
        (slots, logits, langs)
    }

    /// Phrase and pattern matches in folded text, by position: `(start, end, rule)`. The ids
    /// (in `regex_set`) of the entity patterns that match are pushed to `entity_patterns`.
    fn hits(
        &self,
        text: &str,
        phrases: &[Match],
        entity_patterns: &mut Vec<usize>,
    ) -> Vec<(usize, usize, &Rule)> {
        let mut hits: Vec<(usize, usize, &Rule)> = phrases
            .iter()
            .map(|&(s, e, pid)| (s, e, &self.phrases[pid]))
            .collect();
        if !self.regexes.is_empty() {
            let mut any = false;
            for ix in self.regex_set.matches(text).iter() {
                if ix >= self.patterns.len() {
                    entity_patterns.push(ix);
                    continue;
                }
                for m in self.regexes[ix].find_iter(text) {
                    hits.push((m.start(), m.end(), &self.patterns[ix]));
                    any = true;
                }
            }
            if any {
                hits.sort_by_key(|(s, e, _)| (*s, *e));
            }
        }
        hits
    }

    /// Entity occurrences in folded text, by position; of overlapping occurrences of one
    /// entity the leftmost-longest is kept. `terms`: the entity terms the scan found;
    /// `patterns`: the entity patterns `regex_set` found.
    fn find_entities(&self, text: &str, terms: &[Match], patterns: &[usize]) -> Vec<Found> {
        let mut found: Vec<Found> = terms
            .iter()
            .map(|&(start, end, id)| Found {
                start,
                end,
                entity: self.entity_terms[id].entity,
                value: self.entity_terms[id].value.clone(),
                source: Source::Term(id),
            })
            .collect();
        if patterns.is_empty() {
            return found;
        }
        let mut raw = String::new();
        for &ix in patterns {
            let entity = self.entity_patterns[ix - self.patterns.len()];
            let def = &self.entities[entity];
            for caps in self.regexes[ix].captures_iter(text) {
                raw.clear();
                let (mut start, mut end) = (usize::MAX, 0);
                let groups: Vec<regex::Match> = if caps.len() == 1 {
                    caps.get(0).into_iter().collect()
                } else {
                    caps.iter().skip(1).flatten().collect()
                };
                for g in groups {
                    raw.push_str(g.as_str());
                    start = start.min(g.start());
                    end = end.max(g.end());
                }
                if let Some(value) = def.value_of(&raw) {
                    found.push(Found {
                        start,
                        end,
                        entity,
                        value,
                        source: Source::Pattern(ix),
                    });
                }
            }
        }
        found.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.entity.cmp(&b.entity))
        });
        let mut last_end = vec![0usize; self.entities.len()];
        found.retain(|f| {
            if f.start >= last_end[f.entity] {
                last_end[f.entity] = f.end;
                true
            } else {
                false
            }
        });
        found
    }

    /// Each (name, value) once, in order of first appearance: what `IntentMatch` carries.
    fn entity_values(&self, text: &str, terms: &[Match], patterns: &[usize]) -> Vec<Entity> {
        if terms.is_empty() && patterns.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<Entity> = Vec::new();
        for f in self.find_entities(text, terms, patterns) {
            let name = &self.entities[f.entity].name;
            if !out.iter().any(|e| &e.name == name && e.value == f.value) {
                out.push(Entity {
                    name: name.clone(),
                    value: f.value,
                });
            }
        }
        out
    }

    /// One pass of `scan_ac` over folded text, each group selected on its own.
    fn scan(&self, text: &str) -> Scan {
        let mut groups: [Vec<Match>; 4] = Default::default();
        for m in self.scan_ac.find_overlapping_iter(text) {
            let (s, e, id) = (m.start(), m.end(), m.pattern().as_usize());
            if is_word_boundary(text, s, e) {
                let g = self.scan_ends.partition_point(|&end| end <= id);
                let base = if g == 0 { 0 } else { self.scan_ends[g - 1] };
                groups[g].push((s, e, id - base));
            }
        }
        for g in &mut groups {
            leftmost_longest(g);
        }
        let [phrases, cues, lexicon, entities] = groups;
        Scan {
            phrases,
            cues,
            lexicon,
            entities,
        }
    }

    /// Every entity the packs define, pack by pack, for `outcry check`.
    pub fn entity_info(&self) -> Vec<EntityInfo> {
        self.entities
            .iter()
            .map(|d| EntityInfo {
                pack: d.pack.clone(),
                name: d.name.clone(),
                values: d.values,
                aliases: d.aliases,
                patterns: d.patterns,
            })
            .collect()
    }

    /// Everything that fired in a text already in matching-text form: every intent and noise
    /// category with its score and spans, and the sentiment. Deterministic: the same text and
    /// packs give the same analysis, in the same order.
    pub fn analyze(&self, matching_text: &str) -> Analysis {
        let folded = fold(matching_text);
        let text: &str = &folded.text;
        let Scan {
            phrases,
            cues,
            lexicon: lexicon_hits,
            entities: entity_terms,
        } = self.scan(text);
        let negation = NegationReach::new(text, &cues, self.window);
        let negated = |start: usize| negation.covers(start);

        let mut entity_patterns = Vec::new();
        let hits = self.hits(text, &phrases, &mut entity_patterns);
        // Learned weights, summed as `classify` sums them.
        let learned_hits = self.learned.find(text, &negation);
        let (sums, logits, mut lang_weight) = self.learned_sums(&learned_hits);

        let new_scored = |class: &Class, ix: usize| Scored {
            name: class.name.clone(),
            severity: class.severity,
            score: if class.learned {
                class.bias + sums[ix]
            } else {
                0.0
            },
            bias: if class.learned { class.bias } else { 0.0 },
            min_score: class.min_score,
            qualifies: false,
            overrides_intents: class.overrides,
            spans: Vec::new(),
        };
        let mut scored: Vec<Option<Scored>> = self
            .classes
            .iter()
            .enumerate()
            .map(|(ix, c)| c.learned.then(|| new_scored(c, ix)))
            .collect();
        for (s, e, rule) in hits {
            let neg = rule.negatable && negated(s);
            let class = &self.classes[rule.class];
            let entry = scored[rule.class].get_or_insert_with(|| new_scored(class, rule.class));
            if !neg {
                entry.score += rule.weight;
                if let Some(l) = rule.lang {
                    lang_weight[usize::from(l)] += rule.weight;
                }
            }
            entry.spans.push(Span {
                start: folded.source_offset(s),
                end: folded.source_offset(e),
                rule: rule.text.clone(),
                weight: rule.weight,
                negated: neg,
                lang: rule.lang.map(|l| self.langs[usize::from(l)].clone()),
            });
        }
        let learned: Vec<(&TermHit, usize)> = learned_hits
            .iter()
            .flat_map(|h| self.learned.features_of(h).map(move |f| (h, f)))
            .collect();
        let span_of = |h: &TermHit, f: usize| {
            let l = self.learned.feature(f);
            Span {
                start: folded.source_offset(h.start),
                end: folded.source_offset(h.end),
                rule: self.learned.rule_text(h.term, f),
                weight: l.weight,
                negated: false,
                lang: l.lang.map(|x| self.langs[usize::from(x)].clone()),
            }
        };
        for &(h, f) in &learned {
            let l = self.learned.feature(f);
            if let Target::Class(c) = l.target {
                let entry = scored[c].get_or_insert_with(|| new_scored(&self.classes[c], c));
                entry.spans.push(span_of(h, f));
            }
        }
        let mut intents = Vec::new();
        let mut noise = Vec::new();
        for (ix, s) in scored.into_iter().enumerate() {
            if let Some(mut s) = s {
                s.qualifies = s.score >= s.min_score;
                if s.spans.is_empty() && !s.qualifies {
                    // A learned intent nothing in the text spoke for.
                    continue;
                }
                if self.classes[ix].noise {
                    noise.push((ix, s));
                } else {
                    intents.push((ix, s));
                }
            }
        }
        let order = |(a_ix, a): &(usize, Scored), (b_ix, b): &(usize, Scored)| {
            (b.score - b.min_score)
                .total_cmp(&(a.score - a.min_score))
                .then(b.severity.cmp(&a.severity))
                .then(a_ix.cmp(b_ix))
        };
        intents.sort_by(order);
        noise.sort_by(order);

        let mut sentiment = Sentiment {
            label: "neutral",
            polarity: 0.0,
            positive: 0.0,
            negative: 0.0,
            spans: Vec::new(),
        };
        if let Some(m) = &self.sentiment_model {
            let (label, polarity) = learned_sentiment(m, logits);
            sentiment.label = label;
            sentiment.polarity = polarity;
            sentiment.negative = sigmoid(logits[0]);
            sentiment.positive = sigmoid(logits[2]);
            for &(h, f) in &learned {
                let side = match self.learned.feature(f).target {
                    Target::Class(_) => continue,
                    Target::Negative => "negative",
                    Target::Neutral => "neutral",
                    Target::Positive => "positive",
                };
                let mut span = span_of(h, f);
                span.rule = format!("{side}:{}", span.rule);
                sentiment.spans.push(span);
            }
        }
        for (s, e, ix) in lexicon_hits {
            let (w, lang) = self.lexicon[ix];
            let neg = negated(s);
            let signed = if neg { -w } else { w };
            if signed > 0.0 {
                sentiment.positive += signed;
            } else {
                sentiment.negative -= signed;
            }
            sentiment.spans.push(Span {
                start: folded.source_offset(s),
                end: folded.source_offset(e),
                rule: self.lexicon_terms[ix].clone(),
                weight: w,
                negated: neg,
                lang: lang.map(|l| self.langs[usize::from(l)].clone()),
            });
        }
        let total = sentiment.positive + sentiment.negative;
        if total > 0.0 && self.sentiment_model.is_none() {
            sentiment.polarity = polarity(sentiment.positive, sentiment.negative);
            sentiment.label = if sentiment.polarity > 0.0 {
                "positive"
            } else if sentiment.polarity < 0.0 {
                "negative"
            } else {
                "neutral"
            };
        }
        let mut languages: Vec<(usize, f32)> = lang_weight
            .into_iter()
            .enumerate()
            .filter(|(_, w)| *w > 0.0)
            .collect();
        languages.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let entities = self
            .find_entities(text, &entity_terms, &entity_patterns)
            .into_iter()
            .map(|f| EntitySpan {
                name: self.entities[f.entity].name.clone(),
                value: f.value,
                start: folded.source_offset(f.start),
                end: folded.source_offset(f.end),
                rule: match f.source {
                    Source::Term(id) => self.entity_terms[id].term.clone(),
                    Source::Pattern(ix) => {
                        self.entity_pattern_text[ix - self.patterns.len()].clone()
                    }
                },
            })
            .collect();
        Analysis {
            entities,
            intents: intents.into_iter().map(|(_, s)| s).collect(),
            noise: noise.into_iter().map(|(_, s)| s).collect(),
            sentiment,
            languages: languages
                .into_iter()
                .map(|(i, _)| self.langs[i].clone())
                .collect(),
        }
    }
}

/// The decision an analysis leads to (what [`Classifier::classify`] returns): an overriding
/// noise category that qualifies, else the best qualifying intent, else the best qualifying
/// noise category, else `general`.
pub fn decide(a: &Analysis) -> Classification {
    let noise_kw = |s: &Scored| Classification::Noise { keywords: fired(s) };
    let best_noise = a.noise.iter().find(|s| s.qualifies);
    if let Some(n) = a.noise.iter().find(|s| s.qualifies && s.overrides_intents) {
        return noise_kw(n);
    }
    let sentiment = a.sentiment.polarity;
    let language = a.languages.first().cloned();
    if let Some(i) = a.intents.iter().find(|s| s.qualifies) {
        return Classification::Intent(IntentMatch {
            intent: i.name.clone(),
            severity: i.severity,
            keywords: fired(i),
            sentiment,
            language,
            entities: distinct(&a.entities),
        });
    }
    if let Some(n) = best_noise {
        return noise_kw(n);
    }
    general(sentiment, language, distinct(&a.entities))
}

/// Each (name, value) once, in order of first appearance.
fn distinct(spans: &[EntitySpan]) -> Vec<Entity> {
    let mut out: Vec<Entity> = Vec::new();
    for sp in spans {
        if !out.iter().any(|e| e.name == sp.name && e.value == sp.value) {
            out.push(Entity {
                name: sp.name.clone(),
                value: sp.value.clone(),
            });
        }
    }
    out
}

/// No intent and no noise.
fn general(sentiment: f32, language: Option<String>, entities: Vec<Entity>) -> Classification {
    Classification::Intent(IntentMatch {
        intent: GENERAL.to_owned(),
        severity: 0,
        keywords: Vec::new(),
        sentiment,
        language,
        entities,
    })
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A learned sentiment model's label and polarity from its two scores: the label whose score
/// clears its threshold by more (neutral when neither does); polarity P(positive) -
/// P(negative) by the logistic function of each score.
fn learned_sentiment(m: &SentimentModel, [neg, neu, pos]: [f32; 3]) -> (&'static str, f32) {
    let (mn, mp) = (neg - m.negative.threshold, pos - m.positive.threshold);
    let label = if let Some(n) = &m.neutral {
        // Three sides: the largest margin (ties: negative, then neutral).
        let m0 = neu - n.threshold;
        if mn >= m0 && mn >= mp {
            "negative"
        } else if m0 >= mp {
            "neutral"
        } else {
            "positive"
        }
    } else if mn < 0.0 && mp < 0.0 {
        "neutral"
    } else if mn >= mp {
        "negative"
    } else {
        "positive"
    };
    (label, sigmoid(pos) - sigmoid(neg))
}

/// -1 (all negative) to 1 (all positive); 0 when nothing fired.
fn polarity(positive: f32, negative: f32) -> f32 {
    let total = positive + negative;
    if total > 0.0 {
        (positive - negative) / total
    } else {
        0.0
    }
}

/// The index of the largest positive weight; ties go to the first.
fn heaviest(weights: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 && best.is_none_or(|(_, b)| w > b) {
            best = Some((i, w));
        }
    }
    best.map(|(i, _)| i)
}

/// The rules that fired and counted for the class (positive weight), deduplicated, in order
/// of first appearance.
fn fired(s: &Scored) -> Vec<String> {
    let phrases = s
        .spans
        .iter()
        .filter(|sp| !sp.negated && sp.weight > 0.0)
        .map(|sp| (sp.weight, sp.rule.as_str()))
        .collect();
    heaviest_phrases(phrases, |r| (*r).to_owned())
}

/// A phrase that spoke for a decision: a hand rule's text, or a learned term (and whether
/// its negated-scope weight spoke).
enum Phrase<'a> {
    Hand(&'a str),
    Learned(u32, bool),
}

/// The most phrases a decision's keywords list.
pub const KEYWORDS_MAX: usize = 8;

/// A keyword carries at least this share of the heaviest keyword's weight. A learned decision
/// is often many small weights ("no" 0.65, "sent" 0.3, "and" 0.1, "i" 0.05): the list names
/// those that carried it, not every word that leaned its way. Hand phrases (weight 1 each) all
/// stay.
pub const KEYWORDS_MIN_SHARE: f32 = 0.25;

/// A decision's keywords: the phrases that spoke for it, heaviest first (equal weights in the
/// order given), each once, at most [`KEYWORDS_MAX`], none lighter than
/// [`KEYWORDS_MIN_SHARE`] of the heaviest. `text` makes a phrase's text.
fn heaviest_phrases<P>(mut phrases: Vec<(f32, P)>, text: impl Fn(&P) -> String) -> Vec<String> {
    phrases.sort_by(|a, b| b.0.total_cmp(&a.0));
    let floor = phrases.first().map_or(0.0, |(w, _)| w * KEYWORDS_MIN_SHARE);
    let mut out: Vec<String> = Vec::new();
    for (w, p) in &phrases {
        if out.len() == KEYWORDS_MAX || *w < floor {
            break;
        }
        let t = text(p);
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// A whole-word match in folded text: `(start, end, pattern id)`.
type Match = (usize, usize, usize);

/// What one pass of a classifier's automaton found, each group selected leftmost-longest on
/// its own (a cue inside a phrase is still a cue): ids are indexes in the group.
struct Scan {
    /// Intent and noise phrases (index in `phrases`).
    phrases: Vec<Match>,
    /// Negation cues.
    cues: Vec<Match>,
    /// Sentiment lexicon terms (none when a pack has a learned sentiment model).
    lexicon: Vec<Match>,
    /// Entity values and aliases (index in `entity_terms`).
    entities: Vec<Match>,
}

/// Leftmost-longest whole-word matches, without overlaps: `(start, end, pattern id)`.
pub(crate) fn select(ac: &AhoCorasick, text: &str) -> Vec<Match> {
    let mut all: Vec<Match> = ac
        .find_overlapping_iter(text)
        .filter(|m| is_word_boundary(text, m.start(), m.end()))
        .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
        .collect();
    leftmost_longest(&mut all);
    all
}

/// Keep the leftmost-longest of overlapping matches (ties: the lower pattern id).
fn leftmost_longest(all: &mut Vec<Match>) {
    if all.len() > 1 {
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut last_end = 0;
        all.retain(|&(s, e, _)| {
            if s >= last_end {
                last_end = e;
                true
            } else {
                false
            }
        });
    }
}

/// A pattern with `\b` and `\B` made ASCII word boundaries (`(?-u:\b)`). Texts are folded,
/// so Latin-script words are ASCII and the two agree on them; a Unicode word boundary makes
/// the `RegexSet` leave its lazy DFA for a slow engine on any text with a non-ASCII character
/// (an emoji is enough), about ten times slower.
fn ascii_boundaries(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(b @ ('b' | 'B')) => {
                out.push_str("(?-u:\\");
                out.push(b);
                out.push(')');
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Where the negation cues of a folded text reach: something starting at most `window` words
/// after a cue's end, in the same clause (no `.!?;,:` in between) and at most `64 × window`
/// bytes away, is negated.
pub(crate) struct NegationReach(Vec<(usize, usize)>);

impl NegationReach {
    /// `cues`: the cues found in `text`.
    pub(crate) fn new(text: &str, cues: &[Match], window: usize) -> NegationReach {
        NegationReach(
            cues.iter()
                .map(|&(_, e, _)| (e, reach(text, e, window)))
                .collect(),
        )
    }

    /// Whether something starting at byte `start` is negated.
    pub(crate) fn covers(&self, start: usize) -> bool {
        self.0.iter().any(|&(e, z)| e <= start && start <= z)
    }
}

/// The last start a cue ending at `e` negates: the conditions only fail more as the text
/// between grows, so the starts negated are `e..=reach`.
fn reach(text: &str, e: usize, window: usize) -> usize {
    let (mut words, mut in_space) = (0, true);
    for (i, c) in text[e..].char_indices() {
        // `text[e..e + i]` is the text between: does it still hold?
        if i > 64 * window || words > window {
            return e + i - 1;
        }
        if matches!(c, '.' | '!' | '?' | ';' | ',' | ':') {
            return e + i;
        }
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            in_space = false;
            words += 1;
        }
    }
    let i = text.len() - e;
    if i > 64 * window || words > window {
        text.len() - 1
    } else {
        text.len()
    }
}

/// A phrase only counts as a whole word (or phrase): `bill` must not fire inside `billion`.
/// Match bounds are char boundaries: a valid UTF-8 pattern found in valid UTF-8 text always is.
fn is_word_boundary(text: &str, start: usize, end: usize) -> bool {
    let prev = text[..start].chars().next_back();
    let next = text[end..].chars().next();
    let first = text[start..].chars().next();
    let last = text[..end].chars().next_back();
    // Only a term that starts (ends) with a word character needs a non-word neighbour there:
    // `:(` may touch a word.
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let glued_before = word(first) && word(prev);
    let glued_after = word(last) && word(next);
    !glued_before && !glued_after
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
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

    /// The negation reach agrees with the rule it computes ahead (asked of every start):
    /// a cue ending at most `window` words before, in the same clause, within 64 × window
    /// bytes.
    #[test]
    fn negation_reach_is_the_rule() {
        fn rule(text: &str, cues: &[Match], start: usize, window: usize) -> bool {
            cues.iter().any(|&(_, e, _)| {
                let between = match text.get(e..start) {
                    Some(b) if e <= start => b,
                    _ => return false,
                };
                start - e <= 64 * window
                    && !between.contains(['.', '!', '?', ';', ',', ':'])
                    && between.split_whitespace().count() <= window
            })
        }
        let long = format!("not {} late", "x".repeat(200));
        let texts = [
            "not late at all, really late",
            "never  ever\tthe  same. not now",
            "no",
            "not",
            "didn't work! no signal; no way: nope",
            "ñot é ü not ñ ö ä x y z",
            long.as_str(),
            "not   ",
        ];
        let ac = automaton(&["not", "no", "never", "didn't"]).unwrap();
        for text in texts {
            let cues = select(&ac, text);
            assert!(!cues.is_empty() || text.is_empty(), "{text}");
            for window in [1, 2, 3] {
                let reach = NegationReach::new(text, &cues, window);
                for start in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                    assert_eq!(
                        reach.covers(start),
                        rule(text, &cues, start, window),
                        "{text:?} at {start}, window {window}"
                    );
                }
            }
        }
    }

    /// Phrases, cues and entity terms share one automaton: a term that is two of them at
    /// once, or that overlaps another group's term, still counts as each.
    #[test]
    fn one_scan_finds_each_group_on_its_own() {
        let pack = r#"
name = "scan"
version = "1"
[negation]
window = 2
[[negation.cues]]
terms = ["never", "not"]
[[intent]]
name = "complaint"
keywords = ["never again"]
[[intent]]
name = "praise"
[[intent.phrases]]
terms = ["happy"]
negatable = true
[[intent]]
name = "refusal"
keywords = ["not"]
[[entity]]
name = "product"
values = ["again"]
"#;
        let c = Classifier::compile(&[RulePack::from_toml("scan", pack).unwrap()]).unwrap();
        let decided = |t: &str| match c.classify(t) {
            Classification::Intent(m) => (m.intent, m.entities.len()),
            Classification::Noise { .. } => ("NOISE".into(), 0),
        };
        // "never" is a cue inside the phrase "never again", and "again" an entity value.
        assert_eq!(decided("never again"), ("complaint".into(), 1));
        // "never" still negates "happy"; "not" is a phrase and a cue.
        assert_eq!(decided("never happy"), (GENERAL.into(), 0));
        assert_eq!(decided("not happy"), ("refusal".into(), 0));
        assert_eq!(decided("happy"), ("praise".into(), 0));
        let a = c.analyze("not happy");
        assert_eq!(a.intents[0].name, "refusal");
        assert!(a.intents[1].spans[0].negated, "{a:?}");
    }

    /// A decision's keywords: heaviest first, equal weights in text order, each once, at most
    /// `KEYWORDS_MAX`; `analyze` + `decide` list the same.
    #[test]
    fn keywords_are_the_heaviest_phrases() {
        let pack = r#"
name = "kw"
version = "1"
[[intent]]
name = "outage"
keywords = ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]
[[intent.phrases]]
terms = ["down"]
weight = 3.0
"#;
        let c = Classifier::compile(&[RulePack::from_toml("kw", pack).unwrap()]).unwrap();
        let text = "a1 a2 a3 a2 a4 a5 a6 a7 a8 a9 down";
        let Classification::Intent(m) = c.classify(text) else {
            panic!("an intent")
        };
        assert_eq!(m.keywords.len(), KEYWORDS_MAX);
        assert_eq!(
            m.keywords,
            ["down", "a1", "a2", "a3", "a4", "a5", "a6", "a7"]
        );
        assert_eq!(decide(&c.analyze(text)), Classification::Intent(m));
        // A phrase under a quarter of the heaviest's weight is no keyword.
        let pack = pack.replace("weight = 3.0", "weight = 5.0");
        let c = Classifier::compile(&[RulePack::from_toml("kw", &pack).unwrap()]).unwrap();
        let Classification::Intent(m) = c.classify(text) else {
            panic!("an intent")
        };
        assert_eq!(m.keywords, ["down"]);
        assert_eq!(decide(&c.analyze(text)), Classification::Intent(m));
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
            "in both `a` and `noise`",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn word_boundaries_become_ascii_and_escapes_stay() {
        assert_eq!(ascii_boundaries(r"\bab\B"), r"(?-u:\b)ab(?-u:\B)");
        assert_eq!(ascii_boundaries(r"a\\b\d\."), r"a\\b\d\.");
        assert_eq!(ascii_boundaries(r"x\"), r"x\");
        let re = regex::Regex::new(&ascii_boundaries(r"\bjfk\b")).unwrap();
        assert!(re.is_match("at jfk 😡"));
        assert!(!re.is_match("jfkairport"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = RulePack::from_toml("p", "name = \"p\"\nkeywrds = []\n").unwrap_err();
        assert!(err[0].contains("keywrds"), "{err:?}");
    }
}
