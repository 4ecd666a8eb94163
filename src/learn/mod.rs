//! learn: rule packs learned from labelled posts. `outcry learn` reads a labelled export, and
//! this module (pure: no I/O) turns it into a weighted phrase set per intent and a sentiment
//! model, written as a rule pack the intent compiler reads.
//!
//! Features are the word 1–3-grams of the folded matching text ([`crate::intent::features`]),
//! each either plain or negation-scoped (after a cue of the base pack, in its window), kept
//! when they occur in at least `min_count` texts. Each intent is one L1-regularised logistic
//! regression (one intent against every other text, [`solver`]): most phrases get no weight,
//! the others a signed one. Thresholds are calibrated on k-fold out-of-fold scores (macro-F1 of
//! the intents, "no intent" included; sentiment accuracy), and the same folds give the scores
//! the pack's header records. Deterministic: the same data and settings give the same pack.

pub mod solver;

use crate::intent::features::Features;
use crate::intent::fold::{fold, fold_phrase};
use crate::normalize::matching_text;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What to learn and how: the mapping file (`config/learn/*.toml`, docs/rules.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The pack's name.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Language tag of the learned phrases (optional).
    #[serde(default)]
    pub lang: Option<String>,
    /// A hand-written pack (path relative to this file) whose negation cues, languages, noise
    /// categories and entities the learned pack keeps.
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default = "text_column")]
    pub text_column: String,
    /// The column with the intent label; empty or unmapped values: no intent. A row labelled
    /// [`UNKNOWN_INTENT`] (`?`), before or after the mapping, has an intent nobody wrote down:
    /// it trains the sentiment only (as a row with an empty sentiment trains the intents only).
    #[serde(default)]
    pub label_column: Option<String>,
    /// The column with `negative` / `neutral` / `positive`.
    #[serde(default)]
    pub sentiment_column: Option<String>,
    /// Label -> intent. When empty, every label is an intent of its own name.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Sentiment -> intent, for rows the label gives no intent: `positive = "praise"`.
    #[serde(default)]
    pub sentiment_intents: BTreeMap<String, String>,
    /// Hand-written intents of the base pack to keep as they are (e.g. `safety`).
    #[serde(default)]
    pub keep_intents: Vec<String>,
    /// Languages the data does not cover whose phrases the base pack's intents keep (for the
    /// intents both packs have): a phrase's hand weight is scaled from the hand intent's
    /// `min_score` to what deciding the learned intent takes (`min_score` − `bias`), so that
    /// the phrases that decided the hand intent decide the learned one ([`HandGroup`]).
    #[serde(default)]
    pub keep_languages: Vec<String>,
    /// Severity and description of intents, in the pack's order (intents not listed follow,
    /// by name, severity 1).
    #[serde(default, rename = "intent")]
    pub intents: Vec<IntentSpec>,
    /// Hand rules: phrases with a fixed weight for an intent (or `sentiment:negative`,
    /// `sentiment:positive`); the model learns the rest around them.
    #[serde(default)]
    pub pin: Vec<Pin>,
    /// Phrases an intent (or `sentiment:*`, or `*` for every target) must not learn.
    #[serde(default)]
    pub veto: Vec<Veto>,
    #[serde(default)]
    pub settings: Settings,
}

/// The label of a row whose intent is unknown: it neither trains nor scores the intents.
pub const UNKNOWN_INTENT: &str = "?";

fn text_column() -> String {
    "text".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    pub name: String,
    #[serde(default = "one_u8")]
    pub severity: u8,
    #[serde(default)]
    pub description: String,
}

fn one_u8() -> u8 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub target: String,
    pub weight: f32,
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Veto {
    pub target: String,
    pub terms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Loss weight of the intents' models (larger: more phrases).
    pub c: f64,
    /// Loss weight of the sentiment models.
    pub sentiment_c: f64,
    /// Weight of the squared-weight (L2) penalty of the intents' models, beside the L1 one
    /// (the elastic net; 0: pure L1, the sparsest).
    pub l2: f64,
    /// The same for the sentiment models.
    pub sentiment_l2: f64,
    /// A phrase is a feature when it occurs in at least this many texts.
    pub min_count: usize,
    /// Longest n-gram.
    pub max_n: usize,
    /// Folds of the cross-validation that calibrates thresholds and scores the pack (2..).
    pub folds: usize,
    pub max_sweeps: usize,
    /// The most a rare target's positive texts weigh over the others (sqrt of the imbalance,
    /// at most this; 1: unweighted).
    pub balance: f64,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// Fit the intents together, one softmax (multinomial) model with the texts of no intent
    /// as a reference class scored 0, instead of each intent against the rest. Same pack form
    /// (bias + weights per intent); for many intents of which every text has one.
    pub multinomial: bool,
    /// The same for the three sentiment sides.
    pub sentiment_multinomial: bool,
    /// What the sentiment thresholds are calibrated for: `accuracy` (of the three-way label),
    /// `macro_f1` (of the three sides), or `negative_f1` (the F1 of the negative label, where a
    /// pack's negative sentiment is what flags a complaint; accuracy breaks ties).
    pub sentiment_calibration: String,
    /// What the intents' thresholds are calibrated for: `macro_f1` (of the intents, "no
    /// intent" a wrong answer for a text that has one and a right one for a text that has
    /// none), or `accuracy` (for intent sets where every text has one: deciding is then
    /// never worse than abstaining, so the thresholds let every text decide).
    pub intent_calibration: String,
    /// Scope features by the base pack's negation cues (a phrase after a cue is a feature of
    /// its own). `false`: every phrase is plain and the pack has no `[negation]` (for queries
    /// where "not" says which intent rather than flipping one: "card not working" is its own
    /// intent, and "working" after "not" should still count as "working").
    pub negation_scope: bool,
    /// Intents that are not complaints (with `sentiment_calibration = "complaint_f1"`): a text
    /// is a complaint when its sentiment is negative or its intent is one not listed here.
    pub not_complaints: Vec<String>,
    /// Also learn each word's light stem (`transfer~`: transfer, transfers, transferred,
    /// transferring; [`crate::intent::features::stem`]) as a feature of its own, kept when at
    /// least two forms of it occur in the data; written as its most frequent form and `~`.
    pub stems: bool,
    /// Also learn each word's first 4, 5 and 6 letters (`cancel*`: cancelled, cancellation,
    /// cancelling; [`crate::intent::features::prefixes`]) as features of their own, each kept
    /// when at least two words of the data begin with it.
    pub prefixes: bool,
    /// The pack's weights and biases are the average of the fits on every fold's training rows
    /// and on all rows (bagging by the cross-validation's own subsamples), not the last alone.
    pub average_folds: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            c: 1.0,
            sentiment_c: 0.5,
            l2: 0.0,
            sentiment_l2: 0.0,
            min_count: 2,
            max_n: 3,
            folds: 5,
            max_sweeps: 100,
            balance: 1.0,
            seed: 16,
            multinomial: false,
            sentiment_multinomial: false,
            sentiment_calibration: "accuracy".into(),
            intent_calibration: "macro_f1".into(),
            negation_scope: true,
            not_complaints: Vec::new(),
            stems: false,
            prefixes: false,
            average_folds: false,
        }
    }
}

impl Spec {
    /// The negation features are scoped by: the base pack's, none when
    /// `settings.negation_scope` is off.
    pub fn scoped_negation(&self, negation: &NegationSpec) -> NegationSpec {
        if self.settings.negation_scope {
            negation.clone()
        } else {
            NegationSpec {
                cues: Vec::new(),
                window: negation.window,
            }
        }
    }
}

/// One labelled text, as read from the export.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub label: Option<String>,
    pub sentiment: Option<String>,
}

/// The negation the features are scoped by (the base pack's).
#[derive(Debug, Clone, Default)]
pub struct NegationSpec {
    pub cues: Vec<String>,
    pub window: usize,
}

/// One learned binary model, ready to write.
#[derive(Debug, Clone)]
pub struct ClassModel {
    /// Hand phrases kept from the base pack (`keep_languages`), written as they were.
    pub hand: Vec<HandGroup>,
    pub name: String,
    pub severity: u8,
    pub description: String,
    pub bias: f32,
    pub threshold: f32,
    /// (phrase, negated, weight), weights rounded; pins included (as `None` scope).
    pub phrases: Vec<(String, Option<bool>, f32)>,
}

/// A learned pack's content.
#[derive(Debug, Clone)]
pub struct Model {
    pub intents: Vec<ClassModel>,
    /// Negative and positive.
    /// Negative, positive and neutral, each against the other two.
    pub sentiment: Option<[ClassModel; 3]>,
    pub scores: BTreeMap<String, f64>,
    pub rows: usize,
    pub features: usize,
}

const SENTIMENTS: [&str; 3] = ["negative", "neutral", "positive"];

/// A weight as written in the pack: to 0.05.
fn round_weight(w: f64) -> f32 {
    ((w * 20.0).round() / 20.0) as f32
}

fn round_bias(w: f64) -> f32 {
    ((w * 100.0).round() / 100.0) as f32
}

/// A target of the models: an intent, or one side of sentiment.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    /// Which examples are positive.
    positive: Vec<bool>,
    /// Which examples carry this target's label (all but sentiment-less rows for sentiment).
    labelled: Vec<bool>,
    c: f64,
    /// Pinned (feature-independent) phrases and their weights.
    pins: Vec<(String, f32)>,
    vetoed: HashSet<String>,
}

/// Deterministic fold of each example: a seeded shuffle dealt round-robin.
fn folds(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..n).rev() {
        // xorshift64*
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        let r = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
        order.swap(i, (r % (i as u64 + 1)) as usize);
    }
    let mut out = vec![0; n];
    for (pos, &i) in order.iter().enumerate() {
        out[i] = pos % k;
    }
    out
}

/// Learn a model. `progress` is told what happens (one line at a time).
/// Whether `p` is a prefix phrase (`cance*`) whose words in the data (`forms`) all begin with
/// one longer prefix of [`crate::intent::features::PREFIX_LENS`] that has just those words.
fn longer_prefix_has_its_words(p: &str, forms: &HashMap<String, BTreeMap<String, usize>>) -> bool {
    use crate::intent::features::{PREFIX_LENS, PREFIX_MARK};
    let (Some(key), Some(words)) = (p.strip_suffix(PREFIX_MARK), forms.get(p)) else {
        return false;
    };
    let Some(&m) = PREFIX_LENS.iter().find(|&&m| m > key.len()) else {
        return false;
    };
    let Some(first) = words.keys().next() else {
        return false;
    };
    let longer = match first.get(..m) {
        Some(q) if first.len() > m => format!("{q}{PREFIX_MARK}"),
        _ => return false,
    };
    forms
        .get(&longer)
        .is_some_and(|l| l.len() == words.len() && l.keys().eq(words.keys()))
}

pub fn learn(
    examples: &[Example],
    spec: &Spec,
    negation: &NegationSpec,
    progress: &mut dyn FnMut(&str),
) -> Result<Model, String> {
    let st = &spec.settings;
    if st.folds < 2 {
        return Err(format!("settings.folds is {} (2 or more)", st.folds));
    }
    if examples.len() < st.folds * 2 {
        return Err(format!("{} rows: too few to learn from", examples.len()));
    }
    let n = examples.len();
    // Rows whose intent is known: every row but those labelled `?` (before or after mapping).
    let intent_known: Vec<bool> = examples
        .iter()
        .map(|e| {
            let l = e.label.as_deref().unwrap_or("").trim();
            l != UNKNOWN_INTENT && spec.labels.get(l).map(String::as_str) != Some(UNKNOWN_INTENT)
        })
        .collect();
    if !intent_known.iter().any(|&k| k) && spec.sentiment_column.is_none() {
        return Err(format!(
            "every row is labelled `{UNKNOWN_INTENT}`: nothing to learn"
        ));
    }
    // Intents, in the spec's order, then the others by name.
    let intent_of = |e: &Example| -> Option<String> {
        let l = e.label.as_deref().unwrap_or("").trim();
        let by_label = if l.is_empty() {
            None
        } else if spec.labels.is_empty() {
            Some(l.to_owned())
        } else {
            spec.labels.get(l).filter(|i| !i.is_empty()).cloned()
        };
        by_label.or_else(|| {
            let s = e.sentiment.as_deref()?.trim();
            spec.sentiment_intents.get(s).cloned()
        })
    };
    let gold: Vec<Option<String>> = examples
        .iter()
        .zip(&intent_known)
        .map(|(e, &known)| if known { intent_of(e) } else { None })
        .collect();
    let mut names: Vec<String> = spec.intents.iter().map(|i| i.name.clone()).collect();
    let mut others: Vec<String> = gold
        .iter()
        .flatten()
        .filter(|g| !names.contains(g))
        .cloned()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    others.sort();
    names.extend(others);
    // An intent needs rows, or a pin (hand phrases the model learns around; without rows of
    // its own, the calibrated threshold decides whether they are enough).
    names.retain(|n| {
        gold.iter().any(|g| g.as_deref() == Some(n)) || spec.pin.iter().any(|p| &p.target == n)
    });
    // A row with an empty sentiment has none: it trains the intents only.
    let sentiments: Option<Vec<Option<usize>>> = if spec.sentiment_column.is_some() {
        let mut out = Vec::with_capacity(n);
        for (row, e) in examples.iter().enumerate() {
            let s = e.sentiment.as_deref().unwrap_or("").trim();
            match SENTIMENTS.iter().position(|x| *x == s) {
                Some(i) => out.push(Some(i)),
                None if s.is_empty() => out.push(None),
                None => {
                    return Err(format!(
                        "row {}: sentiment \"{s}\" (negative, neutral, positive or empty)",
                        row + 1
                    ))
                }
            }
        }
        Some(out)
    } else {
        None
    };
    let sentiments = sentiments.filter(|s| s.iter().any(Option::is_some));
    if names.is_empty() && sentiments.is_none() {
        return Err("no intent labels and no sentiment column: nothing to learn".into());
    }

    // Features.
    let negation = &spec.scoped_negation(negation);
    let extractor = Features::new(&negation.cues, negation.window, st.max_n)
        .with_stems(st.stems)
        .with_prefixes(st.prefixes);
    let folded: Vec<String> = examples
        .iter()
        .map(|e| fold(&matching_text(&e.text)).text.into_owned())
        .collect();
    let extracted: Vec<Vec<(String, bool)>> = folded.iter().map(|t| extractor.extract(t)).collect();
    let mut df: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for f in &extracted {
        for k in f {
            *df.entry(k.clone()).or_default() += 1;
        }
    }
    // Stem and prefix features: the forms of each (the words it stands for) in the data and
    // how often each occurs.
    let mut forms: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
    if st.stems || st.prefixes {
        use crate::intent::features::{prefixes, stem, PREFIX_MARK, STEM_MARK};
        let mut form = |key: String, w: &str| {
            *forms
                .entry(key)
                .or_default()
                .entry(w.to_owned())
                .or_default() += 1;
        };
        for t in &folded {
            for (a, b) in crate::intent::features::tokens(t) {
                let w = &t[a..b];
                if let (true, Some(stem)) = (st.stems, stem(w)) {
                    form(format!("{stem}{STEM_MARK}"), w);
                }
                for p in prefixes(w).filter(|_| st.prefixes) {
                    form(format!("{p}{PREFIX_MARK}"), w);
                }
            }
        }
    }
    // A stem or prefix with one form in the data is that word's feature again, and a prefix
    // whose words all share its next longer prefix is that prefix again (`cance*` when every
    // word is a `cancel*`): not kept.
    let is_stem = |p: &str| p.ends_with(crate::intent::features::STEM_MARK);
    let is_sub = |p: &str| is_stem(p) || p.ends_with(crate::intent::features::PREFIX_MARK);
    let vocab: Vec<(String, bool)> = df
        .into_iter()
        .filter(|(_, c)| *c >= st.min_count)
        .filter(|((p, _), _)| !is_sub(p) || forms.get(p).is_some_and(|f| f.len() >= 2))
        .filter(|((p, _), _)| !longer_prefix_has_its_words(p, &forms))
        .map(|(k, _)| k)
        .collect();
    // How a stem feature is written: its most frequent form (then the shortest, the first).
    let written = |p: &str| -> String {
        match forms.get(p) {
            Some(f) if is_stem(p) => {
                let (w, _) = f
                    .iter()
                    .max_by(|a, b| {
                        a.1.cmp(b.1)
                            .then(b.0.len().cmp(&a.0.len()))
                            .then(b.0.cmp(a.0))
                    })
                    .expect("a stem has forms");
                format!("{w}{}", crate::intent::features::STEM_MARK)
            }
            _ => p.to_owned(),
        }
    };
    let index: HashMap<&(String, bool), u32> = vocab
        .iter()
        .enumerate()
        .map(|(i, k)| (k, i as u32))
        .collect();
    let rows: Vec<Vec<u32>> = extracted
        .iter()
        .map(|f| {
            let mut v: Vec<u32> = f.iter().filter_map(|k| index.get(k).copied()).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // Which examples hold a phrase, in any scope (for pins).
    let holds = |i: usize, phrase: &str| extracted[i].iter().any(|(p, _)| p == phrase);
    progress(&format!(
        "{n} rows; {} features (1-{}-grams in at least {} texts); {} intents{}",
        vocab.len(),
        st.max_n,
        st.min_count,
        names.len(),
        if sentiments.is_some() {
            " and sentiment"
        } else {
            ""
        }
    ));

    // Targets.
    let target_names: Vec<String> = names
        .iter()
        .cloned()
        .chain(sentiments.iter().flat_map(|_| {
            [
                "sentiment:negative".to_owned(),
                "sentiment:positive".to_owned(),
                "sentiment:neutral".to_owned(),
            ]
        }))
        .collect();
    for p in &spec.pin {
        if !target_names.contains(&p.target) || p.target == "sentiment:neutral" {
            return Err(format!(
                "pin: unknown target `{}` (one of: {})",
                p.target,
                target_names.join(", ")
            ));
        }
    }
    for v in &spec.veto {
        if v.target != "*" && !target_names.contains(&v.target) {
            return Err(format!(
                "veto: unknown target `{}` (`*` or one of: {})",
                v.target,
                target_names.join(", ")
            ));
        }
    }
    let mut targets: Vec<Target> = Vec::new();
    for name in &target_names {
        let positive: Vec<bool> = match name.as_str() {
            "sentiment:negative" => sentiments
                .as_ref()
                .unwrap()
                .iter()
                .map(|&s| s == Some(0))
                .collect(),
            "sentiment:positive" => sentiments
                .as_ref()
                .unwrap()
                .iter()
                .map(|&s| s == Some(2))
                .collect(),
            "sentiment:neutral" => sentiments
                .as_ref()
                .unwrap()
                .iter()
                .map(|&s| s == Some(1))
                .collect(),
            _ => gold.iter().map(|g| g.as_deref() == Some(name)).collect(),
        };
        let labelled: Vec<bool> = match (name.starts_with("sentiment:"), &sentiments) {
            (true, Some(s)) => s.iter().map(Option::is_some).collect(),
            _ => intent_known.clone(),
        };
        let mut pins = Vec::new();
        for p in spec.pin.iter().filter(|p| &p.target == name) {
            for t in &p.terms {
                let f = fold_phrase(t);
                if crate::intent::features::tokens(&f).len() > st.max_n {
                    return Err(format!("pin \"{t}\": longer than {} words", st.max_n));
                }
                pins.push((f, p.weight));
            }
        }
        let vetoed: HashSet<String> = spec
            .veto
            .iter()
            .filter(|v| &v.target == name || v.target == "*")
            .flat_map(|v| v.terms.iter().map(|t| fold_phrase(t)))
            .chain(pins.iter().map(|(p, _)| p.clone()))
            .collect();
        targets.push(Target {
            name: name.clone(),
            positive,
            labelled,
            c: if name.starts_with("sentiment:") {
                st.sentiment_c
            } else {
                st.c
            },
            pins,
            vetoed,
        });
    }

    // Fit every (fold, target): folds 0..k leave one fold out, fold k is everything.
    let fold_of = folds(n, st.folds, st.seed);
    let k = st.folds;
    // Columns of each fold's training rows: local sample index per feature.
    let fold_rows: Vec<Vec<usize>> = (0..=k)
        .map(|f| (0..n).filter(|&i| f == k || fold_of[i] != f).collect())
        .collect();
    let fold_cols: Vec<Vec<Vec<u32>>> = fold_rows
        .iter()
        .map(|train| {
            let mut cols = vec![Vec::new(); vocab.len()];
            for (local, &i) in train.iter().enumerate() {
                for &j in &rows[i] {
                    cols[j as usize].push(local as u32);
                }
            }
            cols
        })
        .collect();
    let allowed: Vec<Vec<bool>> = targets
        .iter()
        .map(|t| vocab.iter().map(|(p, _)| !t.vetoed.contains(p)).collect())
        .collect();
    let fit_job = |&(f, t): &(usize, usize)| -> (Vec<f32>, f32) {
        let target = &targets[t];
        let train = &fold_rows[f];
        let y: Vec<bool> = train.iter().map(|&i| target.positive[i]).collect();
        let offset: Vec<f64> = train
            .iter()
            .map(|&i| {
                target
                    .pins
                    .iter()
                    .filter(|(p, _)| holds(i, p))
                    .map(|(_, w)| f64::from(*w))
                    .sum()
            })
            .collect();
        let empty = Vec::new();
        let cols: Vec<&Vec<u32>> = fold_cols[f]
            .iter()
            .zip(&allowed[t])
            .map(|(c, ok)| if *ok { c } else { &empty })
            .collect();
        // Rare intents weigh more (up to `balance` times): their recall is what macro-F1 asks.
        let pos = y.iter().filter(|&&p| p).count().max(1) as f64;
        let counted = train.iter().filter(|&&i| target.labelled[i]).count() as f64;
        let ratio = ((counted - pos) / pos)
            .sqrt()
            .clamp(1.0, st.balance.max(1.0));
        let cs: Vec<f64> = train
            .iter()
            .zip(&y)
            .map(|(&i, &p)| match (target.labelled[i], p) {
                (false, _) => 0.0,
                (true, true) => target.c * ratio,
                (true, false) => target.c,
            })
            .collect();
        let l2 = if target.name.starts_with("sentiment:") {
            st.sentiment_l2
        } else {
            st.l2
        };
        let fit = solver::fit_samples(&cols, &y, &offset, &cs, l2, st.max_sweeps);
        (
            fit.weights.iter().map(|&w| round_weight(w)).collect(),
            round_bias(fit.bias),
        )
    };
    // A softmax fit of the targets `ts` (their classes in that order) on fold `f`'s rows:
    // `class_of(i)`: the class of example `i` (None: the reference class, or not counted
    // when `reference` is false).
    let fit_multi = |f: usize,
                     ts: &[usize],
                     class_of: &dyn Fn(usize) -> Option<usize>,
                     counted: &dyn Fn(usize) -> bool,
                     c: f64,
                     l2: f64|
     -> Vec<(Vec<f32>, f32)> {
        let train = &fold_rows[f];
        let kk = ts.len();
        let class: Vec<Option<usize>> = train.iter().map(|&i| class_of(i)).collect();
        let reference = train
            .iter()
            .zip(&class)
            .any(|(&i, cl)| cl.is_none() && counted(i));
        let cs: Vec<f64> = train
            .iter()
            .map(|&i| if counted(i) { c } else { 0.0 })
            .collect();
        let mut offset = vec![0.0; train.len() * kk];
        for (local, &i) in train.iter().enumerate() {
            for (ci, &t) in ts.iter().enumerate() {
                offset[local * kk + ci] = targets[t]
                    .pins
                    .iter()
                    .filter(|(p, _)| holds(i, p))
                    .map(|(_, w)| f64::from(*w))
                    .sum();
            }
        }
        let allow: Vec<Vec<bool>> = ts.iter().map(|&t| allowed[t].clone()).collect();
        let fit = solver::fit_multinomial(
            &fold_cols[f],
            &class,
            kk,
            reference,
            &offset,
            &allow,
            &cs,
            l2,
            st.max_sweeps,
        );
        fit.weights
            .iter()
            .zip(&fit.bias)
            .map(|(w, b)| (w.iter().map(|&w| round_weight(w)).collect(), round_bias(*b)))
            .collect()
    };
    let intent_ts: Vec<usize> = (0..names.len()).collect();
    let sentiment_ts: Vec<usize> = if sentiments.is_some() {
        (names.len()..names.len() + 3).collect()
    } else {
        Vec::new()
    };
    let multi_intents = st.multinomial && intent_ts.len() > 1;
    let multi_sentiment = st.sentiment_multinomial && !sentiment_ts.is_empty();
    // Jobs: (fold, what): what < targets: one target against the rest; MULTI_INTENTS and
    // MULTI_SENTIMENT: the softmax fits.
    const MULTI_INTENTS: usize = usize::MAX;
    const MULTI_SENTIMENT: usize = usize::MAX - 1;
    let mut jobs: Vec<(usize, usize)> = Vec::new();
    for f in 0..=k {
        if multi_intents {
            jobs.push((f, MULTI_INTENTS));
        }
        if multi_sentiment {
            jobs.push((f, MULTI_SENTIMENT));
        }
        for t in 0..targets.len() {
            let in_multi = (multi_intents && intent_ts.contains(&t))
                || (multi_sentiment && sentiment_ts.contains(&t));
            if !in_multi {
                jobs.push((f, t));
            }
        }
    }
    let gold_class: Vec<Option<usize>> = gold
        .iter()
        .map(|g| g.as_ref().and_then(|g| names.iter().position(|x| x == g)))
        .collect();
    let run_job = |&(f, what): &(usize, usize)| -> Vec<(usize, (Vec<f32>, f32))> {
        match what {
            MULTI_INTENTS => {
                let fits = fit_multi(
                    f,
                    &intent_ts,
                    &|i| gold_class[i],
                    &|i| intent_known[i],
                    st.c,
                    st.l2,
                );
                intent_ts.iter().copied().zip(fits).collect()
            }
            MULTI_SENTIMENT => {
                let s = sentiments.as_ref().expect("sentiment targets");
                // Targets are negative, positive, neutral; sentiments 0 negative, 1 neutral,
                // 2 positive.
                let fits = fit_multi(
                    f,
                    &sentiment_ts,
                    &|i| s[i].map(|x| [0, 2, 1][x]),
                    &|i| s[i].is_some(),
                    st.sentiment_c,
                    st.sentiment_l2,
                );
                sentiment_ts.iter().copied().zip(fits).collect()
            }
            t => vec![(t, fit_job(&(f, t)))],
        }
    };
    let total = (k + 1) * targets.len();
    let mut done = 0;
    let job_results = parallel(&jobs, 2, run_job, &mut |_, _| {});
    let mut slots: Vec<Option<(Vec<f32>, f32)>> = (0..total).map(|_| None).collect();
    for (&(f, _), rs) in jobs.iter().zip(job_results) {
        for (t, r) in rs {
            slots[f * targets.len() + t] = Some(r);
            done += 1;
        }
    }
    progress(&format!("fitted {done}/{total} models"));
    let results: Vec<(Vec<f32>, f32)> = slots
        .into_iter()
        .map(|r| r.expect("every model fitted"))
        .collect();
    let fitted = |f: usize, t: usize| &results[f * targets.len() + t];
    // Out-of-fold scores (f64 sums of the rounded weights, as the classifier adds them).
    let score_of = |f: usize, t: usize, i: usize| -> f64 {
        let (w, b) = fitted(f, t);
        let target = &targets[t];
        let mut s = f64::from(*b);
        for &j in &rows[i] {
            s += f64::from(w[j as usize]);
        }
        for (p, pw) in &target.pins {
            if holds(i, p) {
                s += f64::from(*pw);
            }
        }
        s
    };
    let oof: Vec<Vec<f64>> = (0..targets.len())
        .map(|t| (0..n).map(|i| score_of(fold_of[i], t, i)).collect())
        .collect();

    let mut scores = BTreeMap::new();
    let ni = names.len();
    let mut thresholds = vec![0.0f64; ni];
    // Whether each text's decided intent makes it a complaint (for complaint_f1).
    let mut complaint_by_intent = vec![false; n];
    if ni > 0 {
        let gold_ix: Vec<Option<usize>> = gold
            .iter()
            .map(|g| g.as_ref().and_then(|g| names.iter().position(|x| x == g)))
            .collect();
        let objective = match st.intent_calibration.as_str() {
            "macro_f1" => Objective::MacroF1,
            "accuracy" => Objective::Accuracy,
            o => {
                return Err(format!(
                    "settings.intent_calibration is \"{o}\" (macro_f1 or accuracy)"
                ))
            }
        };
        // Calibrated and scored on the rows whose intent is known.
        let known: Vec<usize> = (0..n).filter(|&i| intent_known[i]).collect();
        let known_scores: Vec<Vec<f64>> = oof[..ni]
            .iter()
            .map(|s| known.iter().map(|&i| s[i]).collect())
            .collect();
        let known_gold: Vec<Option<usize>> = known.iter().map(|&i| gold_ix[i]).collect();
        thresholds = calibrate_intents(&known_scores, &known_gold, objective);
        let pred = decide_intents(&oof[..ni], &thresholds);
        for (i, p) in pred.iter().enumerate() {
            complaint_by_intent[i] = p.is_some_and(|c| !st.not_complaints.contains(&names[c]));
        }
        let known_pred: Vec<Option<usize>> = known.iter().map(|&i| pred[i]).collect();
        scores.insert(
            "intent_macro_f1".into(),
            round3(macro_f1(&known_gold, &known_pred, ni)),
        );
        let right = known_gold
            .iter()
            .zip(&known_pred)
            .filter(|(g, p)| g == p)
            .count();
        scores.insert(
            "intent_accuracy".into(),
            round3(right as f64 / known.len().max(1) as f64),
        );
    }
    let mut sent_thresholds = (0.0, 0.0);
    if let Some(all_s) = &sentiments {
        // Calibrated and scored on the rows that carry a sentiment.
        let rows_s: Vec<usize> = (0..n).filter(|&i| all_s[i].is_some()).collect();
        let gold_s: Vec<usize> = rows_s.iter().filter_map(|&i| all_s[i]).collect();
        let side = |t: usize| -> Vec<f64> { rows_s.iter().map(|&i| oof[ni + t][i]).collect() };
        let (neg, pos, neu) = (side(0), side(1), side(2));
        let objective = match st.sentiment_calibration.as_str() {
            "accuracy" => Objective::Accuracy,
            "macro_f1" => Objective::MacroF1,
            "negative_f1" => Objective::NegativeF1,
            "complaint_f1" => Objective::ComplaintF1,
            o => {
                return Err(format!(
                    "settings.sentiment_calibration is \"{o}\" (accuracy, macro_f1, negative_f1 or complaint_f1)"
                ))
            }
        };
        let by_intent: Vec<bool> = rows_s.iter().map(|&i| complaint_by_intent[i]).collect();
        sent_thresholds = calibrate_sentiment(&neg, &neu, &pos, &gold_s, &by_intent, objective);
        let pred: Vec<usize> = (0..gold_s.len())
            .map(|i| sentiment_of(neg[i], neu[i], pos[i], sent_thresholds))
            .collect();
        let g: Vec<Option<usize>> = gold_s.iter().map(|&s| Some(s)).collect();
        let p: Vec<Option<usize>> = pred.iter().map(|&s| Some(s)).collect();
        scores.insert(
            "sentiment_accuracy".into(),
            round3(
                gold_s.iter().zip(&pred).filter(|(g, p)| g == p).count() as f64
                    / gold_s.len() as f64,
            ),
        );
        scores.insert("sentiment_macro_f1".into(), round3(macro_f1(&g, &p, 3)));
    }
    progress(&format!(
        "{k}-fold cross-validation: {}",
        scores
            .iter()
            .map(|(k, v)| format!("{k} {v:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let class_model = |t: usize, threshold: f64| -> ClassModel {
        let averaged;
        let (w, b) = if st.average_folds {
            let fits: Vec<&(Vec<f32>, f32)> = (0..=k).map(|f| fitted(f, t)).collect();
            let m = fits.len() as f64;
            let w: Vec<f32> = (0..vocab.len())
                .map(|j| round_weight(fits.iter().map(|x| f64::from(x.0[j])).sum::<f64>() / m))
                .collect();
            let b = round_bias(fits.iter().map(|x| f64::from(x.1)).sum::<f64>() / m);
            averaged = (w, b);
            (&averaged.0, &averaged.1)
        } else {
            let (w, b) = fitted(k, t);
            (w, b)
        };
        let target = &targets[t];
        let spec_of = spec.intents.iter().find(|i| i.name == target.name);
        let mut phrases: Vec<(String, Option<bool>, f32)> = w
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0.0)
            .map(|(j, &w)| (written(&vocab[j].0), Some(vocab[j].1), w))
            .collect();
        phrases.extend(target.pins.iter().map(|(p, w)| (p.clone(), None, *w)));
        ClassModel {
            hand: Vec::new(),
            name: target.name.clone(),
            severity: spec_of.map_or(1, |s| s.severity),
            description: spec_of.map(|s| s.description.clone()).unwrap_or_default(),
            bias: *b,
            threshold: round_bias(threshold),
            phrases,
        }
    };
    let intents = (0..ni).map(|t| class_model(t, thresholds[t])).collect();
    let sentiment = sentiments.as_ref().map(|_| {
        [
            class_model(ni, sent_thresholds.0),
            class_model(ni + 1, sent_thresholds.1),
            class_model(ni + 2, 0.0),
        ]
    });
    Ok(Model {
        intents,
        sentiment,
        scores,
        rows: n,
        features: vocab.len(),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Run `f` on every job with `threads` threads; results in job order.
fn parallel<J: Sync, R: Send>(
    jobs: &[J],
    threads: usize,
    f: impl Fn(&J) -> R + Sync,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut out: Vec<Option<R>> = (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            let tx = tx.clone();
            let (next, f) = (&next, &f);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() {
                    break;
                }
                if tx.send((i, f(&jobs[i]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (i, r) in rx {
            out[i] = Some(r);
            done += 1;
            progress(done, jobs.len());
        }
    });
    out.into_iter().map(|r| r.expect("every job ran")).collect()
}

/// The intent each text gets: the largest margin over its threshold, if any clears it (what
/// the classifier does with `min_score` = threshold).
fn decide_intents(scores: &[Vec<f64>], thresholds: &[f64]) -> Vec<Option<usize>> {
    let n = scores.first().map_or(0, Vec::len);
    (0..n)
        .map(|i| {
            let mut best: Option<(usize, f64)> = None;
            for (c, s) in scores.iter().enumerate() {
                let m = s[i] - thresholds[c];
                if m >= 0.0 && best.is_none_or(|(_, b)| m > b) {
                    best = Some((c, m));
                }
            }
            best.map(|(c, _)| c)
        })
        .collect()
}

/// Macro-F1 over `classes` (`None`, no intent, is predicted and scored but not averaged).
fn macro_f1(gold: &[Option<usize>], pred: &[Option<usize>], classes: usize) -> f64 {
    let mut tp = vec![0usize; classes];
    let mut fp = vec![0usize; classes];
    let mut fn_ = vec![0usize; classes];
    for (g, p) in gold.iter().zip(pred) {
        if g == p {
            if let Some(c) = g {
                tp[*c] += 1;
            }
            continue;
        }
        if let Some(c) = p {
            fp[*c] += 1;
        }
        if let Some(c) = g {
            fn_[*c] += 1;
        }
    }
    let f1: f64 = (0..classes)
        .map(|c| {
            if tp[c] == 0 {
                0.0
            } else {
                2.0 * tp[c] as f64 / (2 * tp[c] + fp[c] + fn_[c]) as f64
            }
        })
        .sum();
    f1 / classes.max(1) as f64
}

/// Thresholds that maximise the macro-F1 (or the accuracy) of [`decide_intents`]: one shared
/// threshold from a grid (down to the lowest score, where every text decides), then (up to 20
/// intents) each intent's own, twice round.
fn calibrate_intents(
    scores: &[Vec<f64>],
    gold: &[Option<usize>],
    objective: Objective,
) -> Vec<f64> {
    let k = scores.len();
    let grid: Vec<f64> = (-40..=40).map(|x| f64::from(x) / 10.0).collect();
    let eval = |t: &[f64]| {
        let pred = decide_intents(scores, t);
        match objective {
            Objective::Accuracy => {
                gold.iter().zip(&pred).filter(|(g, p)| g == p).count() as f64 / gold.len() as f64
            }
            _ => macro_f1(gold, &pred, k),
        }
    };
    let lowest = scores
        .iter()
        .flatten()
        .fold(f64::INFINITY, |a, &b| a.min(b));
    let floor = if lowest.is_finite() {
        (lowest * 10.0).floor() / 10.0
    } else {
        -8.0
    };
    let mut best_t = 0.0;
    let mut best = f64::MIN;
    for t in std::iter::once(floor.min(-8.0)).chain((-80..=40).map(|x| f64::from(x) / 10.0)) {
        let v = eval(&vec![t; k]);
        if v > best + 1e-12 {
            best = v;
            best_t = t;
        }
    }
    let mut t = vec![best_t; k];
    if k <= 20 {
        for _ in 0..2 {
            for c in 0..k {
                for &g in &grid {
                    let old = t[c];
                    t[c] = g;
                    let v = eval(&t);
                    if v > best + 1e-12 {
                        best = v;
                    } else {
                        t[c] = old;
                    }
                }
            }
        }
    }
    t
}

/// 0 negative, 1 neutral, 2 positive: the side with the largest margin over its threshold
/// (the neutral side's is 0; ties: negative, then neutral), as the classifier decides.
fn sentiment_of(neg: f64, neu: f64, pos: f64, (tn, tp): (f64, f64)) -> usize {
    let (mn, mp) = (neg - tn, pos - tp);
    if mn >= neu && mn >= mp {
        0
    } else if neu >= mp {
        1
    } else {
        2
    }
}

/// What sentiment thresholds are calibrated for (`settings.sentiment_calibration`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Objective {
    Accuracy,
    MacroF1,
    NegativeF1,
    /// The F1 of the complaint decision: negative sentiment, or an intent that is a complaint.
    ComplaintF1,
}

/// Thresholds of the negative and positive sides that maximise `objective`, from a grid (the
/// neutral side's threshold is 0: only the differences matter). Ties: the better accuracy,
/// then the first in the grid.
fn calibrate_sentiment(
    neg: &[f64],
    neu: &[f64],
    pos: &[f64],
    gold: &[usize],
    complaint_by_intent: &[bool],
    objective: Objective,
) -> (f64, f64) {
    let grid: Vec<f64> = (-30..=30).map(|x| f64::from(x) / 10.0).collect();
    let g: Vec<Option<usize>> = gold.iter().map(|&s| Some(s)).collect();
    let mut best = (0.0, 0.0);
    let mut best_v: Option<(f64, usize)> = None;
    for &tn in &grid {
        for &tp in &grid {
            let pred: Vec<usize> = (0..gold.len())
                .map(|i| sentiment_of(neg[i], neu[i], pos[i], (tn, tp)))
                .collect();
            let acc = gold.iter().zip(&pred).filter(|(g, p)| g == p).count();
            let v = match objective {
                Objective::Accuracy => 0.0,
                Objective::MacroF1 => {
                    let p: Vec<Option<usize>> = pred.iter().map(|&s| Some(s)).collect();
                    round3(macro_f1(&g, &p, 3))
                }
                Objective::NegativeF1 | Objective::ComplaintF1 => {
                    let by_intent =
                        |i: usize| objective == Objective::ComplaintF1 && complaint_by_intent[i];
                    let (mut tp_, mut fp, mut fn_) = (0usize, 0usize, 0usize);
                    for (i, (&gi, &pi)) in gold.iter().zip(&pred).enumerate() {
                        match (gi == 0, pi == 0 || by_intent(i)) {
                            (true, true) => tp_ += 1,
                            (false, true) => fp += 1,
                            (true, false) => fn_ += 1,
                            _ => {}
                        }
                    }
                    round3(2.0 * tp_ as f64 / (2 * tp_ + fp + fn_).max(1) as f64)
                }
            };
            if best_v.is_none_or(|(bv, ba)| v > bv || (v == bv && acc > ba)) {
                best_v = Some((v, acc));
                best = (tn, tp);
            }
        }
    }
    best
}

/// A hand phrase group kept from the base pack for another language.
#[derive(Debug, Clone, PartialEq)]
pub struct HandGroup {
    pub lang: String,
    pub weight: f32,
    pub negatable: bool,
    pub terms: Vec<String>,
}

impl Model {
    /// Keep the base pack's phrases in `languages` for the intents this model learned: each
    /// group's weight becomes `hand weight / hand min_score × (min_score − bias)` (and a
    /// hundredth, so that rounding never leaves a deciding phrase short): what decided the
    /// hand intent decides the learned one, and what did not, does not.
    pub fn keep_hand_phrases(&mut self, base: &crate::intent::RulePack, languages: &[String]) {
        for m in &mut self.intents {
            let Some(rule) = base.intents.iter().find(|r| r.name == m.name) else {
                continue;
            };
            for g in rule.groups() {
                let Some(lang) = g.lang.filter(|l| languages.contains(l)) else {
                    continue;
                };
                if g.terms.is_empty() {
                    continue;
                }
                let hand_min = rule.min_score.unwrap_or(1.0).max(f32::EPSILON);
                let span = f64::from(m.threshold - m.bias).max(0.0);
                let weight = round_bias(f64::from(g.weight / hand_min) * span + 0.01);
                m.hand.push(HandGroup {
                    lang,
                    weight,
                    negatable: g.negatable,
                    terms: g.terms.clone(),
                });
            }
        }
    }
}

/// What the pack header records besides the model.
#[derive(Debug, Clone)]
pub struct Header {
    pub data: String,
    pub sha256: String,
    pub date: String,
    pub version: String,
    pub languages: Vec<String>,
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// Groups of phrases by scope and weight, heaviest first: `(negated scope, weight, terms)`.
fn groups(phrases: &[(String, Option<bool>, f32)]) -> Vec<(Option<bool>, f32, Vec<String>)> {
    let mut by: BTreeMap<(i64, u8), Vec<String>> = BTreeMap::new();
    for (p, scope, w) in phrases {
        let s = match scope {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        by.entry((-(f64::from(*w) * 100.0).round() as i64, s))
            .or_default()
            .push(p.clone());
    }
    by.into_iter()
        .map(|((w, s), mut terms)| {
            terms.sort();
            let scope = match s {
                0 => None,
                1 => Some(false),
                _ => Some(true),
            };
            (scope, -(w as f32) / 100.0, terms)
        })
        .collect()
}

impl Model {
    /// The rule pack: header, negation, intents, sentiment, then `extra` (the base pack's noise
    /// and entities, already TOML).
    pub fn to_toml(
        &self,
        spec: &Spec,
        header: &Header,
        negation: &NegationSpec,
        extra: &str,
    ) -> String {
        let mut o = String::new();
        let negation = &spec.scoped_negation(negation);
        let scoped = !negation.cues.is_empty();
        o.push_str(&format!(
            "# Learned by `outcry learn` from {} ({} rows). Do not edit: change the mapping file\n\
             # (labels, pins, vetoes, settings) and learn again (docs/rules.md, \"Learned packs\").\n\
             # An intent's score is `bias` + the weights of its phrases in the text (each phrase once);\n\
             # it is chosen when the score reaches `min_score`, the largest margin winning.\n",
            header.data, self.rows
        ));
        o.push_str(&format!("name = {}\n", q(&spec.name)));
        o.push_str(&format!("version = {}\n", q(&header.version)));
        if !spec.description.is_empty() {
            o.push_str(&format!("description = {}\n", q(&spec.description)));
        }
        if !header.languages.is_empty() {
            o.push_str(&format!("languages = {}\n", list(&header.languages)));
        }
        o.push_str("\n[learned]\n");
        o.push_str(&format!("data = {}\n", q(&header.data)));
        o.push_str(&format!("sha256 = {}\n", q(&header.sha256)));
        o.push_str(&format!("rows = {}\n", self.rows));
        o.push_str(&format!("date = {}\n", q(&header.date)));
        o.push_str("[learned.settings]\n");
        let st = &spec.settings;
        o.push_str(&format!(
            "c = {:?}\nsentiment_c = {:?}\nl2 = {:?}\nsentiment_l2 = {:?}\nmin_count = {}\nmax_n = {}\nfolds = {}\nmax_sweeps = {}\nbalance = {:?}\nseed = {}\nfeatures = {}\n",
            st.c, st.sentiment_c, st.l2, st.sentiment_l2, st.min_count, st.max_n, st.folds, st.max_sweeps, st.balance, st.seed, self.features
        ));
        if st.multinomial {
            o.push_str("multinomial = true\n");
        }
        if st.sentiment_multinomial {
            o.push_str("sentiment_multinomial = true\n");
        }
        if !st.negation_scope {
            o.push_str("negation_scope = false\n");
        }
        if st.stems {
            o.push_str("stems = true\n");
        }
        if st.prefixes {
            o.push_str("prefixes = true\n");
        }
        if st.average_folds {
            o.push_str("average_folds = true\n");
        }
        if !st.not_complaints.is_empty() {
            o.push_str(&format!("not_complaints = {}\n", list(&st.not_complaints)));
        }
        if st.intent_calibration != "macro_f1" {
            o.push_str(&format!(
                "intent_calibration = {}\n",
                q(&st.intent_calibration)
            ));
        }
        if st.sentiment_calibration != "accuracy" {
            o.push_str(&format!(
                "sentiment_calibration = {}\n",
                q(&st.sentiment_calibration)
            ));
        }
        o.push_str(
            "[learned.scores]                     # k-fold cross-validation on the data file\n",
        );
        for (k, v) in &self.scores {
            o.push_str(&format!("{k} = {v:?}\n"));
        }
        if scoped {
            o.push_str(&format!(
                "\n[negation]\nwindow = {}\n[[negation.cues]]\n",
                negation.window
            ));
            if let Some(l) = spec
                .lang
                .as_ref()
                .filter(|_| spec.keep_languages.is_empty())
            {
                o.push_str(&format!("lang = {}\n", q(l)));
            }
            o.push_str(&format!("terms = {}\n", list(&negation.cues)));
        }
        let lang = spec
            .lang
            .as_ref()
            .map(|l| format!("lang = {}\n", q(l)))
            .unwrap_or_default();
        // Learned weights, heaviest first, as `phrase = weight` tables; pins as groups.
        let tables = |o: &mut String, path: &str, m: &ClassModel| {
            for (scope, key, what) in [
                (
                    Some(false),
                    "weights",
                    if scoped {
                        "where no negation cue stands before them"
                    } else {
                        ""
                    },
                ),
                (Some(true), "negated_weights", "only after a negation cue"),
            ] {
                let mut w: Vec<&(String, Option<bool>, f32)> =
                    m.phrases.iter().filter(|p| p.1 == scope).collect();
                if w.is_empty() {
                    continue;
                }
                w.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
                o.push_str(&format!("[{path}.{key}]"));
                if !what.is_empty() {
                    o.push_str(&format!(
                        "{:width$}# {what}",
                        "",
                        width = 36usize.saturating_sub(path.len() + key.len() + 3)
                    ));
                }
                o.push('\n');
                for (p, _, weight) in w {
                    o.push_str(&format!("{} = {weight:?}\n", q(p)));
                }
            }
        };
        if let Some([neg, pos, neu]) = &self.sentiment {
            o.push_str("\n# Sentiment: each side scores `bias` + its weights; the side that clears its threshold by\n# more is the label, neither: neutral.\n");
            for (side, m) in [("negative", neg), ("positive", pos), ("neutral", neu)] {
                o.push_str(&format!(
                    "[sentiment_model.{side}]\nbias = {:?}\nthreshold = {:?}\n",
                    m.bias, m.threshold
                ));
                tables(&mut o, &format!("sentiment_model.{side}"), m);
            }
        }
        for m in &self.intents {
            o.push_str(&format!(
                "\n[[intent]]\nname = {}\nseverity = {}\n",
                q(&m.name),
                m.severity
            ));
            if !m.description.is_empty() {
                o.push_str(&format!("description = {}\n", q(&m.description)));
            }
            o.push_str(&format!(
                "bias = {:?}\nmin_score = {:?}\n",
                m.bias, m.threshold
            ));
            for (_, w, terms) in groups(&m.phrases).into_iter().filter(|g| g.0.is_none()) {
                o.push_str(&format!(
                    "[[intent.phrases]]                   # pinned by hand\n{lang}weight = {w:?}\nterms = {}\n",
                    list(&terms)
                ));
            }
            for g in &m.hand {
                o.push_str(&format!(
                    "[[intent.phrases]]                   # from the base pack\nlang = {}\nweight = {:?}\n{}terms = {}\n",
                    q(&g.lang),
                    g.weight,
                    if g.negatable { "negatable = true\n" } else { "" },
                    list(&g.terms)
                ));
            }
            tables(&mut o, "intent", m);
        }
        if let Some(sides) = &self.sentiment {
            // Pins are on the negative or positive side (the neutral side has none).
            for (m, polarity) in sides.iter().zip(["negative", "positive"]) {
                for (_, w, terms) in groups(&m.phrases).into_iter().filter(|g| g.0.is_none()) {
                    o.push_str(&format!(
                        "\n[[sentiment]]                        # pinned by hand\n{lang}polarity = \"{polarity}\"\nweight = {w:?}\nterms = {}\n",
                        list(&terms)
                    ));
                }
            }
        }
        if !extra.trim().is_empty() {
            o.push_str("\n# From the base pack (hand-written): noise categories and entities.\n");
            o.push_str(extra);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::{Classification, Classifier, RulePack};

    fn ex(text: &str, label: &str, sentiment: &str) -> Example {
        Example {
            text: text.into(),
            label: (!label.is_empty()).then(|| label.into()),
            sentiment: Some(sentiment.into()),
        }
    }

    /// A small labelled set: delays, lost bags, thanks, and neutral questions.
    fn data() -> Vec<Example> {
        let mut out = Vec::new();
        let late = [
            "flight {} delayed again",
            "stuck at the gate, delayed {} hours",
            "{} hours late and delayed",
        ];
        let bag = [
            "my bag is lost, day {}",
            "lost bag since {} days",
            "{} days and my bag is still lost",
        ];
        let thanks = [
            "thanks so much, great crew on flight {}",
            "great service, thanks {} times",
            "{} thanks, great",
        ];
        let neutral = [
            "what time does gate {} open",
            "is flight {} on time",
            "where is gate {}",
        ];
        for i in 0..12 {
            let fill = |t: &str| t.replace("{}", &i.to_string());
            out.push(ex(&fill(late[i % 3]), "late", "negative"));
            out.push(ex(&fill(bag[i % 3]), "bag", "negative"));
            out.push(ex(&fill(thanks[i % 3]), "", "positive"));
            out.push(ex(&fill(neutral[i % 3]), "", "neutral"));
        }
        out.push(ex("not delayed at all, great", "", "positive"));
        out.push(ex("not delayed today, thanks", "", "positive"));
        out
    }

    fn spec() -> Spec {
        toml::from_str(
            r#"
name = "toy"
lang = "en"
label_column = "reason"
sentiment_column = "sentiment"
[labels]
late = "delay"
bag = "baggage"
[[intent]]
name = "delay"
severity = 2
[[pin]]
target = "baggage"
weight = 3.0
terms = ["suitcase"]
[[veto]]
target = "delay"
terms = ["gate"]
[settings]
folds = 3
c = 4.0
sentiment_c = 4.0
"#,
        )
        .unwrap()
    }

    /// The header of the toy packs.
    fn header() -> Header {
        Header {
            data: "toy.csv".into(),
            sha256: "00".into(),
            date: "2026-12-03".into(),
            version: "learned-test".into(),
            languages: vec!["en".into()],
        }
    }

    fn negation() -> NegationSpec {
        NegationSpec {
            cues: vec!["not".into(), "no".into()],
            window: 3,
        }
    }

    fn pack() -> (String, Model) {
        let m = learn(&data(), &spec(), &negation(), &mut |_| {}).unwrap();
        let header = header();
        (m.to_toml(&spec(), &header, &negation(), ""), m)
    }

    fn intent(c: &Classifier, text: &str) -> String {
        match c.classify(&matching_text(text)) {
            Classification::Intent(m) => m.intent,
            Classification::Noise { .. } => "NOISE".into(),
        }
    }

    #[test]
    fn learns_a_pack_the_compiler_reads_and_it_classifies() {
        let (toml, model) = pack();
        let pack =
            RulePack::from_toml("learned", &toml).unwrap_or_else(|e| panic!("{e:?}\n{toml}"));
        assert!(pack.learned.is_some());
        let c = Classifier::compile(&[pack]).unwrap();
        assert_eq!(intent(&c, "delayed again!"), "delay", "{toml}");
        assert_eq!(intent(&c, "my bag got lost"), "baggage", "{toml}");
        assert_eq!(intent(&c, "what time does it open"), "general");
        // The pin is in the pack with its weight, scope "any".
        let bag = model.intents.iter().find(|m| m.name == "baggage").unwrap();
        assert!(bag.phrases.contains(&("suitcase".into(), None, 3.0)));
        assert_eq!(intent(&c, "the suitcase"), "baggage");
        // The veto holds: "gate" has no weight for delay.
        let delay = model.intents.iter().find(|m| m.name == "delay").unwrap();
        assert!(
            delay.phrases.iter().all(|(p, _, _)| p != "gate"),
            "{:?}",
            delay.phrases
        );
        assert_eq!(delay.severity, 2);
        // Sentiment: learned, with a label per side.
        let a = c.analyze(&matching_text("thanks so much, great crew"));
        assert_eq!(a.sentiment.label, "positive");
        let a = c.analyze(&matching_text("delayed again and my bag is lost"));
        assert_eq!(a.sentiment.label, "negative");
        assert!(a.intents[0].spans.iter().all(|s| s.weight != 0.0));
        assert!(model.scores["intent_macro_f1"] > 0.5, "{:?}", model.scores);
    }

    /// The test data and 12 tweets of intent `late`, 4 of each template (`{}`: a number).
    fn with_delays(templates: [&str; 3]) -> Vec<Example> {
        let mut rows = data();
        for i in 0..12 {
            let t = templates[i % 3].replace("{}", &i.to_string());
            rows.push(ex(&t, "late", "negative"));
        }
        rows
    }

    /// With `stems`, a word's inflections share a feature, written as its most frequent form
    /// and `~`, which matches forms the data never had.
    #[test]
    fn stems_are_learned_and_match_unseen_forms() {
        let mut s = spec();
        s.settings.stems = true;
        let rows = with_delays([
            "flight {} delays again",
            "{} hours of delay",
            "delayed by {} hours",
        ]);
        let m = learn(&rows, &s, &negation(), &mut |_| {}).unwrap();
        let toml = m.to_toml(&s, &header(), &negation(), "");
        assert!(toml.contains("stems = true"), "{toml}");
        let delay = m.intents.iter().find(|m| m.name == "delay").unwrap();
        assert!(
            delay
                .phrases
                .iter()
                .any(|(p, _, w)| p == "delayed~" && *w > 0.0),
            "{:?}",
            delay.phrases
        );
        let c = Classifier::compile(&[RulePack::from_toml("learned", &toml).unwrap()]).unwrap();
        assert_eq!(intent(&c, "still delaying"), "delay", "{toml}");
        let text = matching_text("still delaying");
        let a = c.analyze(&text);
        let span = a
            .intents
            .iter()
            .find(|s| s.name == "delay")
            .and_then(|s| s.spans.iter().find(|s| s.rule == "delayed~"))
            .expect("the stem phrase explains the decision");
        assert_eq!(&text[span.start..span.end], "delaying");
    }

    /// With `prefixes`, the words that begin alike share features, written as the prefix and
    /// `*`, which match words the data never had (a hashtag, a misspelling).
    #[test]
    fn prefixes_are_learned_and_match_unseen_words() {
        let mut s = spec();
        s.settings.prefixes = true;
        let rows = with_delays([
            "flight {} delayed again",
            "{} hours of delays",
            "delayed by {} hours",
        ]);
        let m = learn(&rows, &s, &negation(), &mut |_| {}).unwrap();
        let toml = m.to_toml(&s, &header(), &negation(), "");
        assert!(toml.contains("prefixes = true"), "{toml}");
        let delay = m.intents.iter().find(|m| m.name == "delay").unwrap();
        let prefix = delay
            .phrases
            .iter()
            .find(|(p, _, w)| p.ends_with('*') && *w > 0.0)
            .map(|(p, _, _)| p.clone())
            .unwrap_or_else(|| panic!("a prefix phrase: {:?}", delay.phrases));
        assert!(["dela*", "delay*"].contains(&prefix.as_str()), "{prefix}");
        let c = Classifier::compile(&[RulePack::from_toml("learned", &toml).unwrap()]).unwrap();
        assert_eq!(intent(&c, "#delayedagain"), "delay", "{toml}");
        let text = matching_text("so delayyyy");
        let a = c.analyze(&text);
        let span = a
            .intents
            .iter()
            .find(|s| s.name == "delay")
            .and_then(|s| s.spans.iter().find(|s| s.rule.ends_with('*')))
            .expect("a prefix phrase explains the decision");
        assert_eq!(&text[span.start..span.end], "delayyyy");
        // Without the setting, no prefix phrase.
        let plain = learn(&rows, &spec(), &negation(), &mut |_| {}).unwrap();
        assert!(plain
            .intents
            .iter()
            .all(|m| m.phrases.iter().all(|(p, _, _)| !p.ends_with('*'))));
    }

    /// A prefix whose words are all those of its next longer prefix adds nothing: not kept.
    #[test]
    fn a_prefix_with_the_words_of_a_longer_one_is_dropped() {
        let mut forms: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
        let mut add = |p: &str, words: &[&str]| {
            let f = forms.entry(p.to_owned()).or_default();
            for w in words {
                *f.entry((*w).to_owned()).or_default() += 1;
            }
        };
        add("canc*", &["cancelled", "cancels"]);
        add("cance*", &["cancelled", "cancels"]);
        add("cancel*", &["cancelled", "cancels"]);
        add("dela*", &["delayed", "delays", "delaware"]);
        add("delay*", &["delayed", "delays"]);
        assert!(longer_prefix_has_its_words("canc*", &forms));
        assert!(longer_prefix_has_its_words("cance*", &forms));
        // The longest has none longer; `dela*` has a word `delay*` lacks; not prefixes.
        assert!(!longer_prefix_has_its_words("cancel*", &forms));
        assert!(!longer_prefix_has_its_words("dela*", &forms));
        assert!(!longer_prefix_has_its_words("delay~", &forms));
        assert!(!longer_prefix_has_its_words("cancel", &forms));
    }

    #[test]
    fn deterministic() {
        assert_eq!(pack().0, pack().0);
    }

    /// Another language's hand phrases, kept from a base pack, decide the learned intent on
    /// their own (one of weight 1), and one of weight 0.5 needs a second.
    #[test]
    fn hand_phrases_of_other_languages_are_kept_and_decide() {
        let base = RulePack::from_toml(
            "base",
            r#"
name = "base"
[[intent]]
name = "delay"
[[intent.phrases]]
lang = "es"
terms = ["retrasado"]
[[intent.phrases]]
lang = "es"
weight = 0.5
terms = ["tarde", "otra vez"]
[[intent.phrases]]
lang = "fr"
terms = ["en retard"]
"#,
        )
        .unwrap();
        let mut s = spec();
        s.keep_languages = vec!["es".into()];
        let mut m = learn(&data(), &s, &negation(), &mut |_| {}).unwrap();
        m.keep_hand_phrases(&base, &s.keep_languages);
        let header = Header {
            languages: vec!["en".into(), "es".into()],
            ..header()
        };
        let toml = m.to_toml(&s, &header, &negation(), "");
        let c = Classifier::compile(&[RulePack::from_toml("learned", &toml).unwrap()]).unwrap();
        assert_eq!(intent(&c, "el vuelo esta retrasado"), "delay", "{toml}");
        assert_eq!(intent(&c, "llega tarde"), "general", "{toml}");
        assert_eq!(intent(&c, "tarde otra vez"), "delay", "{toml}");
        // French was not kept.
        assert_eq!(intent(&c, "le vol est en retard"), "general", "{toml}");
    }

    /// Rows without a sentiment train the intents and leave the sentiment model as it was.
    #[test]
    fn rows_without_sentiment_do_not_train_it() {
        let base = learn(&data(), &spec(), &negation(), &mut |_| {}).unwrap();
        let mut more = data();
        for i in 0..12 {
            // Would teach "great" and "thanks" negative if they counted.
            more.push(ex(&format!("great, thanks, charged twice {i}"), "", ""));
        }
        let m = learn(&more, &spec(), &negation(), &mut |_| {}).unwrap();
        let (a, b) = (base.sentiment.unwrap(), m.sentiment.unwrap());
        for side in 0..3 {
            assert_eq!(a[side].phrases, b[side].phrases, "side {side}");
            assert_eq!(a[side].bias, b[side].bias, "side {side}");
        }
        // A bad sentiment value is still refused, naming the row.
        let mut bad = data();
        bad.push(ex("x", "", "angry"));
        let e = learn(&bad, &spec(), &negation(), &mut |_| {}).unwrap_err();
        assert!(e.contains("row 51: sentiment \"angry\""), "{e}");
    }

    /// Rows labelled `?` train the sentiment and leave the intents' models as they were; the
    /// same rows labelled "" (no intent) would move them.
    #[test]
    fn rows_of_unknown_intent_train_the_sentiment_only() {
        let weight = |m: &Model, intent: &str, phrase: &str| -> (f32, f32) {
            let c = m.intents.iter().find(|c| c.name == intent).unwrap();
            let w = c
                .phrases
                .iter()
                .find(|(p, scope, _)| p == phrase && *scope == Some(false))
                .map_or(0.0, |(_, _, w)| *w);
            (w, c.bias)
        };
        let with = |label: &str| {
            let mut rows = data();
            for i in 0..12 {
                rows.push(ex(
                    &format!("delayed and charged twice {i}"),
                    label,
                    "negative",
                ));
                rows.push(ex(&format!("charged twice {i}"), label, "negative"));
            }
            learn(&rows, &spec(), &negation(), &mut |_| {}).unwrap()
        };
        let base = learn(&data(), &spec(), &negation(), &mut |_| {}).unwrap();
        let unknown = with(UNKNOWN_INTENT);
        let none = with("");
        assert!(weight(&base, "delay", "delayed").0 > 0.0);
        assert_eq!(
            weight(&unknown, "delay", "delayed"),
            weight(&base, "delay", "delayed")
        );
        assert_ne!(
            weight(&none, "delay", "delayed"),
            weight(&base, "delay", "delayed")
        );
        let negative = &unknown.sentiment.as_ref().unwrap()[0];
        assert!(
            negative
                .phrases
                .iter()
                .any(|(p, _, w)| (p.contains("charged") || p.contains("twice")) && *w > 0.0),
            "{:?}",
            negative.phrases
        );
        // A set of nothing but unknown intents and no sentiment column is refused.
        let mut s = spec();
        s.sentiment_column = None;
        let rows: Vec<Example> = data()
            .into_iter()
            .map(|mut e| {
                e.label = Some(UNKNOWN_INTENT.into());
                e
            })
            .collect();
        let e = learn(&rows, &s, &negation(), &mut |_| {}).unwrap_err();
        assert!(e.contains("nothing to learn"), "{e}");
    }

    #[test]
    fn folds_are_balanced_and_seeded() {
        let f = folds(10, 3, 1);
        assert_eq!(f.iter().filter(|&&x| x == 0).count(), 4);
        assert_eq!(f, folds(10, 3, 1));
        assert_ne!(folds(50, 5, 1), folds(50, 5, 2));
    }

    #[test]
    fn calibration_finds_the_gap() {
        // Intent 0 scores 1.0 on its texts and 0.2 on others; a threshold between wins.
        let scores = vec![vec![1.0, 1.0, 0.2, 0.2]];
        let gold = vec![Some(0), Some(0), None, None];
        let t = calibrate_intents(&scores, &gold, Objective::MacroF1);
        assert!(t[0] > 0.2 && t[0] <= 1.0, "{t:?}");
        assert_eq!(decide_intents(&scores, &t), gold);
    }

    /// Calibrated for accuracy, every text decides (the thresholds reach the lowest score);
    /// macro-F1 leaves a text no intent when deciding it would only add a false positive.
    #[test]
    fn accuracy_calibration_decides_every_text() {
        let scores = vec![
            vec![2.0, 2.0, -3.0, -3.0, -7.0],
            vec![-3.0, -3.0, 2.0, 2.0, -6.5],
        ];
        let gold = vec![Some(0), Some(0), Some(1), Some(1), Some(0)];
        let t = calibrate_intents(&scores, &gold, Objective::Accuracy);
        let acc = decide_intents(&scores, &t);
        assert!(acc.iter().all(Option::is_some), "{t:?} {acc:?}");
        assert_eq!(acc[..4], gold[..4]);
        let f = calibrate_intents(&scores, &gold, Objective::MacroF1);
        let mf = decide_intents(&scores, &f);
        assert_eq!(mf[4], None, "{f:?} {mf:?}");
    }

    /// Calibrated for the F1 of "negative", the negative side's threshold drops to catch
    /// negatives that accuracy would leave neutral; a text flagged a complaint by its intent
    /// counts as one with complaint_f1.
    #[test]
    fn sentiment_calibration_objectives() {
        let neg = [1.0, -0.5, -0.5, -0.4, -0.45, -0.48, -2.0];
        let neu = [0.0; 7];
        let pos = [-10.0; 7];
        let gold = [0, 0, 0, 1, 1, 1, 1];
        let none = [false; 7];
        let decide = |t| -> Vec<usize> {
            (0..7)
                .map(|i| sentiment_of(neg[i], neu[i], pos[i], t))
                .collect()
        };
        let acc = calibrate_sentiment(&neg, &neu, &pos, &gold, &none, Objective::Accuracy);
        assert_eq!(decide(acc), [0, 1, 1, 1, 1, 1, 1], "{acc:?}");
        let f1 = calibrate_sentiment(&neg, &neu, &pos, &gold, &none, Objective::NegativeF1);
        assert_eq!(decide(f1)[..3], [0, 0, 0], "{f1:?}");
        // Texts 1 and 2 are complaints by their intent already: accuracy's threshold is best.
        let by_intent = [false, true, true, false, false, false, false];
        let c = calibrate_sentiment(&neg, &neu, &pos, &gold, &by_intent, Objective::ComplaintF1);
        assert_eq!(decide(c), [0, 1, 1, 1, 1, 1, 1], "{c:?}");
    }

    /// negation_scope = false: no negated features, no [negation] in the pack.
    #[test]
    fn negation_scope_off_learns_plain_phrases() {
        let scoped = pack().0;
        assert!(scoped.contains("[negation]"), "{scoped}");
        let mut s = spec();
        s.settings.negation_scope = false;
        let m = learn(&data(), &s, &negation(), &mut |_| {}).unwrap();
        assert!(m
            .intents
            .iter()
            .chain(m.sentiment.iter().flatten())
            .flat_map(|c| &c.phrases)
            .all(|p| p.1 != Some(true)));
        let header = header();
        let toml = m.to_toml(&s, &header, &negation(), "");
        assert!(!toml.contains("[negation]"), "{toml}");
        assert!(toml.contains("negation_scope = false"), "{toml}");
        let c = Classifier::compile(&[RulePack::from_toml("learned", &toml).unwrap()]).unwrap();
        assert_eq!(intent(&c, "not delayed again"), "delay", "{toml}");
    }

    /// The softmax options learn a pack that classifies like the one-vs-rest one on the toy.
    #[test]
    fn multinomial_packs_classify() {
        let mut s = spec();
        s.settings.multinomial = true;
        s.settings.sentiment_multinomial = true;
        let m = learn(&data(), &s, &negation(), &mut |_| {}).unwrap();
        let header = header();
        let toml = m.to_toml(&s, &header, &negation(), "");
        let c = Classifier::compile(&[RulePack::from_toml("learned", &toml).unwrap()]).unwrap();
        assert_eq!(intent(&c, "delayed again!"), "delay", "{toml}");
        assert_eq!(intent(&c, "my bag got lost"), "baggage", "{toml}");
        assert_eq!(intent(&c, "the suitcase"), "baggage", "{toml}");
        let a = c.analyze(&matching_text("thanks so much, great crew"));
        assert_eq!(a.sentiment.label, "positive", "{toml}");
        assert!(m.scores["intent_macro_f1"] > 0.5, "{:?}", m.scores);
        assert_eq!(toml, {
            let m = learn(&data(), &s, &negation(), &mut |_| {}).unwrap();
            m.to_toml(&s, &header, &negation(), "")
        });
    }

    #[test]
    fn unknown_pin_targets_are_refused() {
        let mut s = spec();
        s.pin[0].target = "nope".into();
        let e = learn(&data(), &s, &negation(), &mut |_| {}).unwrap_err();
        assert!(e.contains("unknown target `nope`"), "{e}");
    }
    /// A declared intent with a pin and no rows of its own is still learned (bias, threshold,
    /// the pin); one with neither is left out.
    #[test]
    fn a_pinned_intent_without_rows_is_kept() {
        let mut s = spec();
        s.intents.push(IntentSpec {
            name: "refund".into(),
            severity: 2,
            description: String::new(),
        });
        s.intents.push(IntentSpec {
            name: "unused".into(),
            severity: 1,
            description: String::new(),
        });
        s.pin.push(Pin {
            target: "refund".into(),
            weight: 2.0,
            terms: vec!["refund".into()],
        });
        let m = learn(&data(), &s, &negation(), &mut |_| {}).unwrap();
        let names: Vec<&str> = m.intents.iter().map(|i| i.name.as_str()).collect();
        assert!(names.contains(&"refund"), "{names:?}");
        assert!(!names.contains(&"unused"), "{names:?}");
        let refund = m.intents.iter().find(|i| i.name == "refund").unwrap();
        assert!(refund.phrases.contains(&("refund".into(), None, 2.0)));
    }

    /// The classifier finds exactly the features the learner extracts: every n-gram (and its
    /// negation scope) of a text, as a learned phrase of a pack, fires once, and nothing else.
    #[test]
    fn the_classifier_matches_what_the_learner_extracts() {
        let texts = [
            "Not late, but my bag didn't arrive: 6delays and \u{1F621}\u{1F621} don't ask",
            "why is flight UA1234 delayed?? never again, thanks for nothing",
            "no one answers... hold for 2hrs \u{2764}\u{FE0F} l'avion n'est pas là",
        ];
        let cues: Vec<String> = ["not", "no", "never", "didn't", "don't", "no one"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = Features::new(&cues, 3, 3).with_stems(true);
        for t in texts {
            let folded = fold(&matching_text(t)).text.into_owned();
            // A stem feature is written as one of its words and `~`.
            let form = |key: &str| -> String {
                let Some(stem) = key.strip_suffix(crate::intent::features::STEM_MARK) else {
                    return key.to_owned();
                };
                let (a, b) = crate::intent::features::tokens(&folded)
                    .into_iter()
                    .find(|&(a, b)| crate::intent::features::stem(&folded[a..b]) == Some(stem))
                    .expect("a word of this stem");
                format!("{}~", &folded[a..b])
            };
            let want: Vec<(String, bool)> = f
                .extract(&folded)
                .into_iter()
                .map(|(p, n)| (form(&p), n))
                .collect();
            assert!(want.iter().any(|(p, _)| p.ends_with('~')), "{t}");
            let (plain, negated): (Vec<_>, Vec<_>) = want.iter().partition(|(_, n)| !n);
            let table = |xs: &[&(String, bool)]| {
                xs.iter()
                    .map(|(p, _)| format!("{} = 1.0", q(p)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let pack = format!(
                "name = \"t\"\n[learned]\n[negation]\nwindow = 3\n[[negation.cues]]\nterms = {}\n\
                 [[intent]]\nname = \"x\"\nbias = 0.0\nmin_score = 1.0\n[intent.weights]\n{}\n\
                 [intent.negated_weights]\n{}\n",
                list(&cues),
                table(&plain),
                table(&negated)
            );
            let c = Classifier::compile(&[RulePack::from_toml("t", &pack).unwrap()]).unwrap();
            let a = c.analyze(&matching_text(t));
            let mut got: Vec<String> = a.intents[0].spans.iter().map(|s| s.rule.clone()).collect();
            let mut expected: Vec<String> = want
                .iter()
                .map(|(p, n)| if *n { format!("\u{ac}{p}") } else { p.clone() })
                .collect();
            got.sort();
            expected.sort();
            assert_eq!(got, expected, "{t}");
            assert_eq!(a.intents[0].score, expected.len() as f32);
        }
    }
}
