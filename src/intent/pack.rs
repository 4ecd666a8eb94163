//! The rule-pack format (TOML) and its validation. See `docs/rules.md`.
//!
//! ```toml
//! name = "customer-care"
//! version = "2026-11-25"
//! languages = ["en", "es"]            # optional: every `lang` tag must be one of these
//!
//! [negation]
//! window = 3                           # words between a cue and a negatable phrase
//! [[negation.cues]]
//! lang = "en"
//! terms = ["not", "no", "never"]
//!
//! [[intent]]
//! name = "billing"
//! severity = 2                         # 0..=3
//! min_score = 1.0                      # the score an intent needs to be chosen (default 1)
//! keywords = ["bill", "invoice"]       # shorthand: weight 1, any language, not negatable
//! [[intent.phrases]]                   # a group: terms and regex patterns sharing a weight
//! lang = "en"
//! weight = 2.0
//! negatable = false
//! terms = ["charged twice"]
//! patterns = ['\bcharged \d+ times\b']
//!
//! [noise]
//! keywords = ["giveaway"]              # shorthand: category `noise`
//! [[noise.category]]
//! name = "auto_reply"
//! overrides_intents = true             # wins even when an intent qualifies
//! keywords = ["out of office"]
//!
//! [[sentiment]]
//! lang = "en"
//! polarity = "negative"
//! terms = ["terrible", "worst"]
//!
//! [[entity]]                           # grouping keys: IntentMatch.entities
//! name = "airport"
//! values = ["JFK", "LGA"]              # whole words, any case; reported as written
//! ambiguous = ["DEN"]                  # known values that are words: only via alias/pattern
//! aliases = { "kennedy" = "JFK" }      # another way to write a value
//! patterns = ['\bfrom (den)\b']        # captures (or the whole match), then normalized
//! normalize = "upper"                  # lower (default), upper, upper_nospace, nospace, digits
//! ```

use super::fold::fold_phrase;
use super::GENERAL;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// When not empty, the only language tags the pack may use.
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default, rename = "intent")]
    pub intents: Vec<IntentRule>,
    #[serde(default)]
    pub noise: NoiseRule,
    #[serde(default)]
    pub negation: Negation,
    #[serde(default)]
    pub sentiment: Vec<SentimentGroup>,
    /// Entities to extract (grouping keys: airports, flight numbers, order numbers, products).
    #[serde(default, rename = "entity")]
    pub entities: Vec<EntityRule>,
    /// Present in a pack written by `outcry learn`: where it was learned from and how well it
    /// scored. Its phrases are weighted features of a linear model (see `docs/rules.md`).
    #[serde(default)]
    pub learned: Option<Learned>,
    /// A learned pack's sentiment model: `[[sentiment]]` terms are its signed features.
    #[serde(default)]
    pub sentiment_model: Option<SentimentModel>,
}

/// The header of a learned pack: provenance, settings and cross-validated scores.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Learned {
    /// The data file's name, as given to `outcry learn`.
    #[serde(default)]
    pub data: String,
    /// SHA-256 of the data file.
    #[serde(default)]
    pub sha256: String,
    /// Rows used.
    #[serde(default)]
    pub rows: usize,
    /// The day the pack was learned (UTC).
    #[serde(default)]
    pub date: String,
    /// The learner's settings.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    /// Cross-validated scores (k-fold, within the data file).
    #[serde(default)]
    pub scores: BTreeMap<String, f64>,
}

/// A learned sentiment model: logistic scores over the `[[sentiment]]` terms (negative vs
/// not, positive vs not, and neutral vs not when present), each `bias + sum of weights`. With
/// three sides the label is the side with the largest margin over its threshold; with two
/// (packs learned before 2026-12-04), a side is chosen when it clears its threshold, neither:
/// neutral, both: the larger margin.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentModel {
    pub negative: Logit,
    pub positive: Logit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neutral: Option<Logit>,
}

impl SentimentModel {
    /// The sides' biases: negative, neutral (0 without that side), positive.
    pub fn biases(&self) -> [f32; 3] {
        [
            self.negative.bias,
            self.neutral.as_ref().map_or(0.0, |n| n.bias),
            self.positive.bias,
        ]
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Logit {
    pub bias: f32,
    pub threshold: f32,
    /// Phrase -> weight, counted where no negation cue stands before it.
    #[serde(default)]
    pub weights: BTreeMap<String, f32>,
    /// Phrase -> weight, counted only where a negation cue stands before it.
    #[serde(default)]
    pub negated_weights: BTreeMap<String, f32>,
}

impl Logit {
    /// The weights as groups of one term each (plain, then negated).
    pub fn groups(&self) -> impl Iterator<Item = PhraseGroup> + '_ {
        weight_groups(&self.weights, &self.negated_weights)
    }
}

/// Learned weights as groups of one term each: `weights` negatable, `negated` negated.
fn weight_groups<'a>(
    weights: &'a BTreeMap<String, f32>,
    negated: &'a BTreeMap<String, f32>,
) -> impl Iterator<Item = PhraseGroup> + 'a {
    let one = |(t, w): (&String, &f32), neg: bool| PhraseGroup {
        lang: None,
        weight: *w,
        negatable: !neg,
        negated: neg,
        terms: vec![t.clone()],
        patterns: Vec::new(),
    };
    weights
        .iter()
        .map(move |x| one(x, false))
        .chain(negated.iter().map(move |x| one(x, true)))
}

/// An entity to extract from texts: known values (and their aliases) matched as whole words,
/// and regex patterns whose captures are normalized. See `docs/rules.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityRule {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Known values, matched anywhere as whole words (case- and accent-insensitive) and
    /// reported as written here.
    #[serde(default)]
    pub values: Vec<String>,
    /// Known values that are also ordinary words (`DEN`, `SEA`): never matched on their own,
    /// only through `aliases` and `patterns` (whose captures are reported as written here).
    #[serde(default)]
    pub ambiguous: Vec<String>,
    /// Other ways to write a value, matched as whole words: `"kennedy" = "JFK"`. Also applied
    /// to pattern captures.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Regexes over the folded text (lower case, accents stripped): the groups that took part
    /// in the match, concatenated, are the value (the whole match if the pattern has no group).
    #[serde(default)]
    pub patterns: Vec<String>,
    /// How pattern captures are normalized: `lower` (default), `upper`, `upper_nospace`,
    /// `nospace`, `digits`.
    #[serde(default)]
    pub normalize: Option<String>,
}

/// How a pattern capture is turned into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    /// As matched (the folded text is lower case, whitespace collapsed).
    Lower,
    Upper,
    /// Upper case without spaces, hyphens and dots: `aa 123` -> `AA123`.
    UpperNospace,
    /// Lower case without spaces, hyphens and dots.
    Nospace,
    /// Only the digits: `#12-345` -> `12345` (nothing is extracted when there are none).
    Digits,
}

impl Normalizer {
    pub const NAMES: [&'static str; 5] = ["lower", "upper", "upper_nospace", "nospace", "digits"];

    pub fn parse(name: Option<&str>) -> Option<Normalizer> {
        Some(match name.unwrap_or("lower") {
            "lower" => Normalizer::Lower,
            "upper" => Normalizer::Upper,
            "upper_nospace" => Normalizer::UpperNospace,
            "nospace" => Normalizer::Nospace,
            "digits" => Normalizer::Digits,
            _ => return None,
        })
    }

    /// Normalize a capture (already folded: lower case, whitespace collapsed).
    pub fn apply(self, s: &str) -> String {
        let squeeze = |c: &char| !(c.is_whitespace() || *c == '-' || *c == '.');
        match self {
            Normalizer::Lower => s.trim().to_lowercase(),
            Normalizer::Upper => s.trim().to_uppercase(),
            Normalizer::UpperNospace => {
                s.chars().filter(squeeze).collect::<String>().to_uppercase()
            }
            Normalizer::Nospace => s.chars().filter(squeeze).collect::<String>().to_lowercase(),
            Normalizer::Digits => s.chars().filter(char::is_ascii_digit).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentRule {
    pub name: String,
    /// 0 (informational) to 3 (urgent); breaks ties and feeds priority.
    #[serde(default)]
    pub severity: u8,
    #[serde(default)]
    pub description: String,
    /// The score the intent needs to be chosen; default 1.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// Learned packs: added to the score of every text (the model's intercept).
    #[serde(default)]
    pub bias: Option<f32>,
    /// Learned intents: phrase -> weight, counted where no negation cue stands before it.
    #[serde(default)]
    pub weights: BTreeMap<String, f32>,
    /// Learned intents: phrase -> weight, counted only where a negation cue stands before it.
    #[serde(default)]
    pub negated_weights: BTreeMap<String, f32>,
    /// Shorthand for one group of weight 1, any language, not negatable.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub phrases: Vec<PhraseGroup>,
}

/// Terms (words and multi-word phrases) and regex patterns sharing a language, a weight and
/// whether a negation cue before them cancels them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseGroup {
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default = "one")]
    pub weight: f32,
    #[serde(default)]
    pub negatable: bool,
    /// Learned packs: the terms count only where a negation cue stands before them (the
    /// negation-scoped twin of a `negatable` term).
    #[serde(default)]
    pub negated: bool,
    #[serde(default)]
    pub terms: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseRule {
    /// Shorthand for a category named `noise` with these keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default, rename = "category")]
    pub categories: Vec<NoiseCategory>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseCategory {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Noise of this category wins even over an intent that qualifies (auto-replies, spam).
    #[serde(default)]
    pub overrides_intents: bool,
    #[serde(default)]
    pub min_score: Option<f32>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub phrases: Vec<PhraseGroup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Negation {
    /// How many words may stand between a cue and the phrase it negates.
    #[serde(default = "three")]
    pub window: usize,
    #[serde(default)]
    pub cues: Vec<TermGroup>,
}

impl Default for Negation {
    fn default() -> Self {
        Negation {
            window: 3,
            cues: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermGroup {
    #[serde(default)]
    pub lang: Option<String>,
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Positive,
    Negative,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentGroup {
    #[serde(default)]
    pub lang: Option<String>,
    pub polarity: Polarity,
    #[serde(default = "one")]
    pub weight: f32,
    /// Learned packs: the terms count only where no negation cue stands before them.
    #[serde(default)]
    pub negatable: bool,
    /// Learned packs: the terms count only where a negation cue stands before them.
    #[serde(default)]
    pub negated: bool,
    pub terms: Vec<String>,
}

fn one() -> f32 {
    1.0
}

fn three() -> usize {
    3
}

/// The largest negation window accepted.
pub const MAX_WINDOW: usize = 10;

impl IntentRule {
    /// Every group, the `keywords` shorthand first, learned `weights` last (one term each).
    pub fn groups(&self) -> impl Iterator<Item = PhraseGroup> + '_ {
        shorthand(&self.keywords)
            .chain(self.phrases.iter().cloned())
            .chain(weight_groups(&self.weights, &self.negated_weights))
    }
}

impl NoiseCategory {
    pub fn groups(&self) -> impl Iterator<Item = PhraseGroup> + '_ {
        shorthand(&self.keywords).chain(self.phrases.iter().cloned())
    }
}

impl NoiseRule {
    /// Every category, the `keywords` shorthand (category `noise`) first.
    pub fn all_categories(&self) -> Vec<NoiseCategory> {
        let mut out = Vec::new();
        if !self.keywords.is_empty() {
            out.push(NoiseCategory {
                name: "noise".into(),
                description: String::new(),
                overrides_intents: false,
                min_score: None,
                keywords: self.keywords.clone(),
                phrases: Vec::new(),
            });
        }
        out.extend(self.categories.iter().cloned());
        out
    }
}

fn shorthand(keywords: &[String]) -> impl Iterator<Item = PhraseGroup> {
    (!keywords.is_empty())
        .then(|| PhraseGroup {
            lang: None,
            weight: 1.0,
            negatable: false,
            negated: false,
            terms: keywords.to_vec(),
            patterns: Vec::new(),
        })
        .into_iter()
}

/// A language tag: `en`, `es`, `pt-br`.
fn valid_lang(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
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

    /// How many terms and patterns the pack holds (intents and noise).
    pub fn counts(&self) -> (usize, usize) {
        let mut groups: Vec<PhraseGroup> = self.intents.iter().flat_map(|i| i.groups()).collect();
        for c in self.noise.all_categories() {
            groups.extend(c.groups());
        }
        groups.iter().fold((0, 0), |(t, p), g| {
            (t + g.terms.len(), p + g.patterns.len())
        })
    }

    /// Every problem with the pack, not just the first.
    pub fn problems(&self, origin: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |s: String| out.push(format!("{origin}: {s}"));
        if self.name.trim().is_empty() {
            say("pack `name` is empty".into());
        }
        for l in &self.languages {
            if !valid_lang(l) {
                say(format!(
                    "`languages` has an invalid tag \"{l}\" (e.g. \"en\", \"pt-br\")"
                ));
            }
        }
        let check_lang = |what: &str, lang: &Option<String>, say: &mut dyn FnMut(String)| {
            if let Some(l) = lang {
                if !valid_lang(l) {
                    say(format!(
                        "{what}: invalid language tag \"{l}\" (e.g. \"en\", \"pt-br\")"
                    ));
                } else if !self.languages.is_empty() && !self.languages.contains(l) {
                    say(format!(
                        "{what}: language \"{l}\" is not in the pack's `languages` ({})",
                        self.languages.join(", ")
                    ));
                }
            }
        };
        if self.negation.window == 0 || self.negation.window > MAX_WINDOW {
            say(format!(
                "negation `window` is {} (1..={MAX_WINDOW})",
                self.negation.window
            ));
        }
        let mut cues = HashSet::new();
        for g in &self.negation.cues {
            check_lang("negation cues", &g.lang, &mut say);
            if g.terms.is_empty() {
                say("a negation cue group has no terms".into());
            }
            for t in &g.terms {
                let f = fold_phrase(t);
                if f.is_empty() {
                    say("negation has an empty cue".into());
                } else if !cues.insert(f.clone()) {
                    say(format!("negation cue \"{f}\" is listed twice"));
                }
            }
        }
        let has_cues = !cues.is_empty();

        // Which class owns each folded term: a term belongs to one intent or noise category
        // (in a learned pack, a term is a feature every intent may weigh, once per scope).
        let learned_pack = self.learned.is_some();
        let mut owner: HashMap<String, String> = HashMap::new();
        let mut names: HashSet<String> = HashSet::new();
        let mut check_groups = |class: &str,
                                groups: Vec<PhraseGroup>,
                                min_score: Option<f32>,
                                learned: bool,
                                say: &mut dyn FnMut(String)| {
            if groups
                .iter()
                .all(|g| g.terms.is_empty() && g.patterns.is_empty())
            {
                say(format!("`{class}` has no keywords, terms or patterns"));
            }
            if let Some(m) = min_score {
                if learned && !m.is_finite() {
                    say(format!("`{class}` has min_score {m} (a number)"));
                } else if !(learned || m.is_finite() && m > 0.0) {
                    say(format!("`{class}` has min_score {m} (a positive number)"));
                }
            }
            for g in &groups {
                check_lang(&format!("`{class}`"), &g.lang, say);
                if learned && !(g.weight.is_finite() && g.weight != 0.0) {
                    say(format!(
                        "`{class}` has a group with weight {} (a non-zero number)",
                        g.weight
                    ));
                } else if !(learned || g.weight.is_finite() && g.weight > 0.0) {
                    say(format!(
                        "`{class}` has a group with weight {} (a positive number)",
                        g.weight
                    ));
                }
                if (g.negatable || g.negated) && !has_cues && !learned {
                    say(format!(
                        "`{class}` has a negatable group but the pack has no negation cues"
                    ));
                }
                if g.negated && !learned {
                    say(format!(
                        "`{class}` has a `negated` group: only learned intents (with `bias`, in a pack with [learned]) have them"
                    ));
                }
                if g.negated && g.negatable {
                    say(format!(
                        "`{class}` has a group both `negated` and `negatable` (one or the other)"
                    ));
                }
                if g.terms.is_empty() && g.patterns.is_empty() {
                    say(format!("`{class}` has a group with no terms or patterns"));
                }
                for t in &g.terms {
                    let f = fold_phrase(t);
                    if f.is_empty() {
                        say(format!("`{class}` has an empty keyword"));
                        continue;
                    }
                    let key = if learned {
                        format!("{class}\u{0}{}\u{0}{f}", scope_name(g.negatable, g.negated))
                    } else {
                        f.clone()
                    };
                    if let Some(prev) = owner.insert(key, class.to_owned()) {
                        if prev == class {
                            say(format!("`{class}`: term \"{f}\" is listed twice"));
                        } else {
                            say(format!("keyword \"{f}\" is in both `{prev}` and `{class}`"));
                        }
                    }
                }
                for p in &g.patterns {
                    if let Some(why) = pattern_problem(p) {
                        say(format!("`{class}`: {why}"));
                    }
                }
            }
        };
        for rule in &self.intents {
            let n = rule.name.trim();
            if n.is_empty() {
                say("an intent has an empty name".into());
            } else if n == GENERAL {
                say(format!(
                    "intent `{GENERAL}` is reserved for texts no rule matches"
                ));
            } else if !names.insert(n.to_owned()) {
                say(format!("intent `{n}` is defined twice"));
            }
            if rule.severity > 3 {
                say(format!(
                    "intent `{n}` has severity {} (0..=3)",
                    rule.severity
                ));
            }
            if rule.bias.is_none() && !(rule.weights.is_empty() && rule.negated_weights.is_empty())
            {
                say(format!(
                    "intent `{n}` has `weights` but no `bias` (a learned intent has both)"
                ));
            }
            match rule.bias {
                Some(_) if !learned_pack => say(format!(
                    "intent `{n}` has a `bias`: only learned packs (with [learned]) have one"
                )),
                Some(b) if !b.is_finite() => say(format!("intent `{n}` has bias {b}")),
                _ => {}
            }
            let learned = learned_pack && rule.bias.is_some();
            check_groups(
                n,
                rule.groups().collect(),
                rule.min_score,
                learned,
                &mut say,
            );
        }
        for cat in self.noise.all_categories() {
            let n = cat.name.trim().to_owned();
            if n.is_empty() {
                say("a noise category has an empty name".into());
            } else if !names.insert(n.clone()) {
                say(format!(
                    "noise category `{n}` has the name of another intent or category"
                ));
            }
            check_groups(&n, cat.groups().collect(), cat.min_score, false, &mut say);
        }
        let learned = learned_pack;
        if self.sentiment_model.is_some() && !learned {
            say("`sentiment_model` needs a learned pack (with [learned])".into());
        }
        if let Some(m) = &self.sentiment_model {
            for (what, l) in [
                ("negative", Some(&m.negative)),
                ("positive", Some(&m.positive)),
                ("neutral", m.neutral.as_ref()),
            ]
            .into_iter()
            .filter_map(|(w, l)| Some((w, l?)))
            {
                if !(l.bias.is_finite() && l.threshold.is_finite()) {
                    say(format!(
                        "sentiment_model.{what} has a bias or threshold that is not a number"
                    ));
                }
                for g in l.groups() {
                    if !(g.weight.is_finite() && g.weight != 0.0) {
                        say(format!(
                            "sentiment_model.{what}: \"{}\" has weight {} (a non-zero number)",
                            g.terms[0], g.weight
                        ));
                    }
                    if fold_phrase(&g.terms[0]).is_empty() {
                        say(format!("sentiment_model.{what} has an empty phrase"));
                    }
                }
            }
        }
        let mut lexicon: HashMap<String, Polarity> = HashMap::new();
        for g in &self.sentiment {
            check_lang("sentiment", &g.lang, &mut say);
            if learned && !(g.weight.is_finite() && g.weight != 0.0) {
                say(format!(
                    "sentiment has a group with weight {} (a non-zero number)",
                    g.weight
                ));
            } else if !(learned || g.weight.is_finite() && g.weight > 0.0) {
                say(format!(
                    "sentiment has a group with weight {} (a positive number)",
                    g.weight
                ));
            }
            if (g.negatable || g.negated) && self.sentiment_model.is_none() {
                say("sentiment: `negatable` and `negated` groups need a learned `sentiment_model` (a hand lexicon flips negated terms)".into());
            }
            if g.negatable && g.negated {
                say("sentiment has a group both `negated` and `negatable`".into());
            }
            for t in &g.terms {
                let f = fold_phrase(t);
                if f.is_empty() {
                    say("sentiment has an empty term".into());
                } else if learned {
                    let key = format!(
                        "{:?}\u{0}{}\u{0}{f}",
                        g.polarity,
                        scope_name(g.negatable, g.negated)
                    );
                    if lexicon.insert(key, g.polarity).is_some() {
                        say(format!("sentiment term \"{f}\" is listed twice"));
                    }
                } else if let Some(prev) = lexicon.insert(f.clone(), g.polarity) {
                    // The same word may belong to two languages ("horrible", "prima"), but
                    // with one polarity.
                    if prev != g.polarity {
                        say(format!(
                            "sentiment term \"{f}\" is listed as both positive and negative"
                        ));
                    }
                }
            }
        }
        let mut entity_names = HashSet::new();
        // Which entity owns each folded value or alias: one automaton serves them all.
        let mut entity_terms: HashMap<String, String> = HashMap::new();
        for e in &self.entities {
            let n = e.name.trim();
            if n.is_empty() {
                say("an entity has an empty name".into());
            } else if !n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                say(format!(
                    "entity `{n}`: a name is lower-case letters, digits and `_` (e.g. `airport`)"
                ));
            } else if !entity_names.insert(n.to_owned()) {
                say(format!("entity `{n}` is defined twice"));
            }
            for msg in e.problems(n, &mut entity_terms) {
                say(msg);
            }
        }
        out
    }
}

/// The scope of a group: where, relative to negation cues, its terms count.
pub fn scope_name(negatable: bool, negated: bool) -> &'static str {
    match (negatable, negated) {
        (_, true) => "negated",
        (true, false) => "plain",
        (false, false) => "any",
    }
}

/// Why a pattern is refused, if it is.
fn pattern_problem(p: &str) -> Option<String> {
    if let Err(e) = regex::Regex::new(p) {
        Some(format!("pattern /{p}/ does not compile: {e}"))
    } else if fold_phrase(p) != crate::normalize::matching_text(p) {
        Some(format!(
            "pattern /{p}/ has accented letters; texts are matched accent-free, so write it \
             without accents"
        ))
    } else {
        None
    }
}

impl EntityRule {
    /// Every problem of one entity; `owner` maps the folded values and aliases seen so far to
    /// their entity (a term belongs to one entity).
    fn problems(&self, n: &str, owner: &mut HashMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        if self.values.is_empty()
            && self.ambiguous.is_empty()
            && self.aliases.is_empty()
            && self.patterns.is_empty()
        {
            out.push(format!(
                "entity `{n}` has no values, aliases or patterns: it can never be found"
            ));
        }
        if Normalizer::parse(self.normalize.as_deref()).is_none() {
            out.push(format!(
                "entity `{n}`: unknown normalizer \"{}\" (one of: {})",
                self.normalize.as_deref().unwrap_or(""),
                Normalizer::NAMES.join(", ")
            ));
        }
        let mut claim = |f: &str, what: &str, out: &mut Vec<String>| {
            if let Some(prev) = owner.insert(f.to_owned(), n.to_owned()) {
                if prev == n {
                    out.push(format!("entity `{n}`: {what} \"{f}\" is listed twice"));
                } else {
                    out.push(format!(
                        "entity {what} \"{f}\" is in both `{prev}` and `{n}`"
                    ));
                }
            }
        };
        // Known values (folded), to check aliases against.
        let mut known = HashSet::new();
        for v in &self.values {
            let f = fold_phrase(v);
            if f.is_empty() {
                out.push(format!("entity `{n}` has an empty value"));
                continue;
            }
            claim(&f, "value", &mut out);
            known.insert(f);
        }
        for v in &self.ambiguous {
            let f = fold_phrase(v);
            if f.is_empty() {
                out.push(format!("entity `{n}` has an empty ambiguous value"));
            } else if !known.insert(f.clone()) {
                out.push(format!(
                    "entity `{n}`: \"{f}\" is listed twice in `values` and `ambiguous`"
                ));
            }
        }
        let mut targets = HashSet::new();
        for (alias, value) in &self.aliases {
            let f = fold_phrase(alias);
            let target = fold_phrase(value);
            if f.is_empty() {
                out.push(format!("entity `{n}` has an empty alias"));
            } else if known.contains(&f) {
                out.push(format!(
                    "entity `{n}`: alias \"{f}\" is also a value (it needs no alias)"
                ));
            } else {
                claim(&f, "alias", &mut out);
            }
            if target.is_empty() {
                out.push(format!(
                    "entity `{n}`: alias \"{alias}\" maps to an empty value"
                ));
            } else if !known.is_empty() && !known.contains(&target) {
                out.push(format!(
                    "entity `{n}`: alias \"{alias}\" maps to \"{value}\", which is not in its \
                     `values` or `ambiguous`"
                ));
            }
            targets.insert(target);
        }
        if self.patterns.is_empty() {
            for v in &self.ambiguous {
                let f = fold_phrase(v);
                if !f.is_empty() && !targets.contains(&f) {
                    out.push(format!(
                        "entity `{n}`: ambiguous value \"{v}\" is never matched on its own and \
                         no alias or pattern leads to it"
                    ));
                }
            }
        }
        for p in &self.patterns {
            if let Some(why) = pattern_problem(p) {
                out.push(format!("entity `{n}`: {why}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Normalizer;

    #[test]
    fn normalizers() {
        let n = |name: &str, s: &str| Normalizer::parse(Some(name)).unwrap().apply(s);
        assert_eq!(n("upper_nospace", "aa 123"), "AA123");
        assert_eq!(n("upper_nospace", "a-1001"), "A1001");
        assert_eq!(n("upper", " dfw "), "DFW");
        assert_eq!(n("lower", "Gold Card"), "gold card");
        assert_eq!(n("nospace", "Gold Card"), "goldcard");
        assert_eq!(n("digits", "#12-345"), "12345");
        assert_eq!(n("digits", "none"), "");
        assert_eq!(Normalizer::parse(None), Some(Normalizer::Lower));
        assert_eq!(Normalizer::parse(Some("title")), None);
    }
}
