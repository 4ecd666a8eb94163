//! The phrases of learned packs (intent and sentiment weights), compiled for lookup.
//!
//! A learned phrase counts once per text, wherever it stands as whole tokens. Phrases that are
//! n-grams of [`features::tokens`] joined by single spaces (all that `outcry learn` writes, up
//! to [`GRAM_MAX`] tokens) are found by the text's own n-grams: each token is looked up once in
//! a vocabulary of the phrases' words, and an n-gram is a key of its word ids, looked up in one
//! integer map that also says whether a longer phrase starts with it (so a text's n-grams stop
//! growing as soon as no phrase can follow). Stem phrases (`transfer~`: any word whose
//! [`features::stem`] is that of `transfer`) cost nothing more for a word of the vocabulary (its
//! stem phrase is resolved with it when the pack compiles, and the forms written in stem phrases
//! join the vocabulary for that alone); only a word the vocabulary lacks has its stem computed,
//! and looked up when a filter of the stems' lengths and edge letters lets it through. Prefix
//! phrases (`cancel*`: any longer word that begins with `cancel`, [`features::prefixes`]) are
//! resolved the same way: with a word of the vocabulary when the pack compiles, and for other
//! words by their 4-, 5- and 6-letter prefixes, each behind a filter of its own. Other
//! phrases (a kept hand phrase with a hyphen, say) are found by an Aho-Corasick automaton.

use super::features;
use super::{automaton, Feature, NegationReach, Scope, Target};
use aho_corasick::AhoCorasick;
use std::collections::HashMap;

/// The most tokens of a phrase looked up by its n-gram key.
pub const GRAM_MAX: usize = 3;
/// Bits of a word id in an n-gram key (ids from 1; 0: a word no phrase has).
const GRAM_BITS: u32 = 21;
const MAX_WORDS: usize = (1 << GRAM_BITS) - 1;
/// An n-gram slot: the phrase it is (`NO_TERM`: only the start of longer ones), and
/// `EXTENDS` when a longer phrase starts with it.
const EXTENDS: u32 = 1 << 31;
const NO_TERM: u32 = EXTENDS - 1;
/// A word's stem or prefix phrase when it has none.
const NO_SUB: u32 = u32::MAX;
/// The sub-word phrases a word gives: its stem phrase, then its prefix phrases.
const SUBS: usize = 1 + features::PREFIX_LENS.len();
type Subs = [u32; SUBS];
const NO_SUBS: Subs = [NO_SUB; SUBS];
/// Bits of [`KeyFilter`]'s hash.
const FILTER_BITS: u32 = 14;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// A learned phrase found in folded text, counted: where, which, and in what scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermHit {
    pub start: usize,
    pub end: usize,
    pub term: u32,
    /// A negation cue stands before it (only worked out for phrases with scoped weights).
    pub negated: bool,
    /// Its first occurrence in the text: the one its unscoped weights count at.
    pub first: bool,
}

impl TermHit {
    /// Whether a feature of this scope counts at this hit: its unscoped ones at the term's
    /// first occurrence, the scoped ones where their scope holds.
    fn counts(&self, scope: Scope) -> bool {
        match scope {
            Scope::Any => self.first,
            Scope::Plain => !self.negated,
            Scope::Negated => self.negated,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LearnedIndex {
    /// The phrases' words -> their id (0 for a word only there for its stem) and the terms of
    /// their stem and prefix phrases (`NO_SUB`: none).
    words: Map<Box<str>, (u32, Subs)>,
    /// Stem phrases (`transfer~`): the [`features::stem`] of their word -> the term.
    stems: Map<Box<str>, u32>,
    /// Which stems `stems` may have, for words not in `words`.
    stem_filter: KeyFilter,
    /// Prefix phrases (`cancel*`): their prefix -> the term.
    prefixes: Map<Box<str>, u32>,
    /// Which prefixes `prefixes` may have, for words not in `words`.
    prefix_filter: KeyFilter,
    grams: Map<u64, u32>,
    ac: Option<AhoCorasick>,
    /// Pattern of `ac` -> its term.
    ac_terms: Vec<u32>,
    terms: Vec<String>,
    /// For each term, its features: a range of `features`, and whether any has a scope.
    index: Vec<(u32, u32, bool)>,
    features: Vec<Feature>,
    /// For each term, what it adds where it counts, as ranges of `adds`: at its first
    /// occurrence (its unscoped weights), not after a negation cue, after one.
    rows: Vec<[(u32, u32); 3]>,
    /// `(slot, weight)`, the features of a row summed per slot (see [`LearnedIndex::sum`]).
    adds: Vec<(u32, f32)>,
    /// Per term, a range of `speaks`: the weights that can speak for a decision's keywords
    /// (see [`LearnedIndex::speaking_for`]).
    speak_ranges: Vec<(u32, u32)>,
    speaks: Vec<Speak>,
}

impl LearnedIndex {
    /// Index `terms` (folded phrases) with the features of each (`by_term[i]` for `terms[i]`).
    /// `classes`: how many classes a `Target::Class` may name.
    pub fn build(
        terms: Vec<String>,
        by_term: Vec<Vec<Feature>>,
        classes: usize,
    ) -> Result<LearnedIndex, String> {
        let mut features = Vec::new();
        let mut index = Vec::new();
        let mut rows = Vec::new();
        let mut adds = Vec::new();
        let mut speaks = Vec::new();
        let mut speak_ranges = Vec::new();
        for rules in by_term {
            let first = speaks.len() as u32;
            speaks.extend(rules.iter().filter_map(|f| match f.target {
                Target::Class(c) if f.weight > 0.0 => Some(Speak {
                    class: c as u32,
                    weight: f.weight,
                    scope: f.scope,
                }),
                _ => None,
            }));
            speak_ranges.push((first, speaks.len() as u32));
            let start = features.len() as u32;
            let scoped = rules.iter().any(|f| f.scope != Scope::Any);
            rows.push(
                [Scope::Any, Scope::Plain, Scope::Negated]
                    .map(|scope| row(&rules, scope, classes, &mut adds)),
            );
            features.extend(rules);
            index.push((start, features.len() as u32, scoped));
        }
        let rs = || ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut words: Map<Box<str>, (u32, Subs)> = HashMap::with_hasher(rs());
        let mut stems: Map<Box<str>, u32> = HashMap::with_hasher(rs());
        let mut prefixes: Map<Box<str>, u32> = HashMap::with_hasher(rs());
        let mut grams: Map<u64, u32> = HashMap::with_capacity_and_hasher(terms.len(), rs());
        let mut rest: Vec<&str> = Vec::new();
        let mut ac_terms = Vec::new();
        for (i, t) in terms.iter().enumerate() {
            if let Some(key) = t.strip_suffix(features::STEM_MARK).and_then(features::stem) {
                stems.insert(key.into(), i as u32);
                continue;
            }
            if let Some(key) = t
                .strip_suffix(features::PREFIX_MARK)
                .filter(|k| features::is_prefix_key(k))
            {
                prefixes.insert(key.into(), i as u32);
                continue;
            }
            let toks = features::tokens(t);
            let parts: Vec<&str> = toks.iter().map(|&(a, b)| &t[a..b]).collect();
            let plain = !parts.is_empty()
                && parts.len() <= GRAM_MAX
                && words.len() + parts.len() <= MAX_WORDS
                && parts.join(" ") == *t;
            if !plain {
                rest.push(t);
                ac_terms.push(i as u32);
                continue;
            }
            let mut key = 0u64;
            for (n, w) in parts.iter().enumerate() {
                let next = words.len() as u32 + 1;
                let id = words.entry((*w).into()).or_insert((next, NO_SUBS)).0;
                key = key << GRAM_BITS | u64::from(id);
                let slot = grams.entry(key).or_insert(NO_TERM);
                if n + 1 == parts.len() {
                    *slot = (*slot & EXTENDS) | i as u32;
                } else {
                    *slot |= EXTENDS;
                }
            }
        }
        // Each word's stem and prefix phrases, once; and the forms of the stem phrases, so that
        // a text's word costs one lookup whenever a phrase names it.
        let subs_of = |w: &str| {
            let (stem, prefix) = (
                |s: &str| stems.get(s).copied(),
                |p: &str| prefixes.get(p).copied(),
            );
            sub_terms(w, !prefixes.is_empty(), stem, prefix)
        };
        for (w, (_, subs)) in words.iter_mut() {
            *subs = subs_of(w);
        }
        for t in &terms {
            if let Some(w) = t.strip_suffix(features::STEM_MARK) {
                let subs = subs_of(w);
                if subs[0] != NO_SUB && !words.contains_key(w) {
                    words.insert(w.into(), (0, subs));
                }
            }
        }
        let stem_filter = KeyFilter::new(stems.keys().map(|s| &**s));
        let prefix_filter = KeyFilter::new(prefixes.keys().map(|s| &**s));
        let ac = if rest.is_empty() {
            None
        } else {
            Some(automaton(&rest)?)
        };
        Ok(LearnedIndex {
            words,
            stems,
            stem_filter,
            prefixes,
            prefix_filter,
            grams,
            ac,
            ac_terms,
            terms,
            index,
            features,
            rows,
            adds,
            speaks,
            speak_ranges,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Features compiled (a term weighed by three intents counts three).
    pub fn feature_count(&self) -> usize {
        self.features.len()
    }

    pub fn feature(&self, f: usize) -> &Feature {
        &self.features[f]
    }

    /// The learned terms in folded text that count, by position: each term's first occurrence,
    /// and for a term with scoped weights also its first occurrence in the other scope (a
    /// second occurrence under a negation cue adds its negated weights, nothing else).
    pub fn find(&self, text: &str, negation: &NegationReach) -> Vec<TermHit> {
        if self.terms.is_empty() {
            return Vec::new();
        }
        let mut found = self.ngrams(text);
        if let Some(ac) = &self.ac {
            let before = found.len();
            for m in ac.find_overlapping_iter(text) {
                let (s, e) = (m.start(), m.end());
                if features::is_token_boundary(text, s, e) {
                    found.push((s, e, self.ac_terms[m.pattern().as_usize()]));
                }
            }
            if found.len() > before {
                found.sort_unstable();
            }
        }
        // Per term seen: 1 (its unscoped weights counted), 2 (plain ones), 4 (negated ones).
        // An open-addressed table of (term, mask), at most half full (`u32::MAX`: empty).
        let cap = (2 * found.len()).next_power_of_two().max(16);
        let shift = 64 - cap.trailing_zeros();
        let mut seen: Vec<(u32, u8)> = vec![(u32::MAX, 0); cap];
        let mut out = Vec::with_capacity(found.len());
        for (start, end, term) in found {
            let scoped = self.index[term as usize].2;
            let negated = scoped && negation.covers(start);
            let bit = match (scoped, negated) {
                (false, _) => 1,
                (true, false) => 2,
                (true, true) => 4,
            };
            let mut at = (u64::from(term).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
            while seen[at].0 != term && seen[at].0 != u32::MAX {
                at = (at + 1) & (cap - 1);
            }
            seen[at].0 = term;
            let mask = &mut seen[at].1;
            if *mask & bit != 0 {
                continue;
            }
            out.push(TermHit {
                start,
                end,
                term,
                negated,
                first: *mask & 1 == 0,
            });
            *mask |= 1 | bit;
        }
        out
    }

    /// The text's n-grams that are plain terms (or more exactly: their ids and spans), in
    /// order of start, then end.
    fn ngrams(&self, text: &str) -> Vec<(usize, usize, u32)> {
        let no_subs = self.stems.is_empty() && self.prefixes.is_empty();
        let mut toks: Vec<Token> = Vec::with_capacity(text.len() / 4);
        features::each_token(text, |start, end| {
            let w = &text[start..end];
            let (word, subs) = match self.words.get(w) {
                Some(&known) => known,
                None if no_subs => (0, NO_SUBS),
                None => (0, self.unseen_sub_terms(w)),
            };
            toks.push(Token {
                start,
                end,
                word,
                subs,
            });
        });
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        for i in 0..toks.len() {
            for &t in toks[i].subs.iter().filter(|&&t| t != NO_SUB) {
                out.push((toks[i].start, toks[i].end, t));
            }
            let mut key = 0u64;
            let mut end = i;
            while toks[end].word != 0 {
                key = key << GRAM_BITS | u64::from(toks[end].word);
                let Some(&slot) = self.grams.get(&key) else {
                    break;
                };
                if slot & !EXTENDS != NO_TERM {
                    out.push((toks[i].start, toks[end].end, slot & !EXTENDS));
                }
                // A longer phrase needs one more token, one space away.
                let next_adjacent = end + 1 < toks.len()
                    && toks[end + 1].start == toks[end].end + 1
                    && bytes[toks[end].end] == b' ';
                if slot & EXTENDS == 0 || !next_adjacent {
                    break;
                }
                end += 1;
            }
        }
        out
    }

    /// The stem and prefix phrases of a word not in `words`, each looked up only when its
    /// filter lets it through.
    fn unseen_sub_terms(&self, word: &str) -> Subs {
        let lookup = |map: &Map<Box<str>, u32>, filter: &KeyFilter, key: &str| {
            if map.is_empty() || !filter.may_have(key) {
                None
            } else {
                map.get(key).copied()
            }
        };
        sub_terms(
            word,
            !self.prefixes.is_empty(),
            |s| lookup(&self.stems, &self.stem_filter, s),
            |p| lookup(&self.prefixes, &self.prefix_filter, p),
        )
    }

    /// The features of `hit` that count there.
    pub fn features_of(&self, hit: &TermHit) -> impl Iterator<Item = usize> + '_ {
        let (a, b, _) = self.index[hit.term as usize];
        let hit = *hit;
        (a as usize..b as usize).filter(move |&f| hit.counts(self.features[f].scope))
    }

    /// Add what the features of `hits` that count add to `slots`: the weight of each class
    /// `c` to slot `c`; of the negative, neutral and positive sentiment sides to slots
    /// `classes`, `classes + 1` and `classes + 2`; and the positive class weights of language
    /// `l` to slot `classes + 3 + l` (`classes` as given to [`LearnedIndex::build`]).
    pub fn sum(&self, hits: &[TermHit], slots: &mut [f32]) {
        for h in hits {
            for ((a, b), _) in self.rows_of(h) {
                for &(slot, w) in &self.adds[a as usize..b as usize] {
                    slots[slot as usize] += w;
                }
            }
        }
    }

    /// The rows of `adds` a hit adds, and whether each is the negated one.
    fn rows_of(&self, h: &TermHit) -> [((u32, u32), bool); 2] {
        let [any, plain, negated] = self.rows[h.term as usize];
        [
            (if h.first { any } else { (0, 0) }, false),
            if h.negated {
                (negated, true)
            } else {
                (plain, false)
            },
        ]
    }

    /// The features of `hits` that speak for class `c` where they count (a positive
    /// weight), in text order, as `(weight, (term, negated scope))`: what
    /// [`LearnedIndex::text`] makes a keyword of.
    pub fn speaking_for(&self, hits: &[TermHit], c: usize, out: &mut Vec<(f32, (u32, bool))>) {
        for h in hits {
            let (a, b) = self.speak_ranges[h.term as usize];
            for sp in &self.speaks[a as usize..b as usize] {
                if sp.class as usize == c && h.counts(sp.scope) {
                    out.push((sp.weight, (h.term, sp.scope == Scope::Negated)));
                }
            }
        }
    }

    /// The rule text of feature `f` of `term`: its phrase, `¬phrase` when it counts only after
    /// a negation cue.
    pub fn rule_text(&self, term: u32, f: usize) -> String {
        self.text(term, self.features[f].scope == Scope::Negated)
    }

    /// A term's rule text: `¬term` for its negated-scope weights.
    pub fn text(&self, term: u32, negated_scope: bool) -> String {
        let t = &self.terms[term as usize];
        if negated_scope {
            format!("\u{ac}{t}")
        } else {
            t.clone()
        }
    }
}

/// A set of bits, one per hash of a stem's (or prefix's) length and first and last two letters:
/// a word whose stem's bit is clear has no stem phrase, found without hashing the stem itself.
/// A term's positive weight for a class in a scope: what can speak for a decision (the
/// features of `LearnedIndex::features` that do, in their order, 12 bytes each).
#[derive(Debug, Clone, Copy)]
struct Speak {
    class: u32,
    weight: f32,
    scope: Scope,
}

/// A token of a text as [`LearnedIndex::ngrams`] sees it: its span, its word id (0: a word no
/// term has) and the stem and prefix terms it gives (`NO_SUB`: none).
struct Token {
    start: usize,
    end: usize,
    word: u32,
    subs: Subs,
}

/// A word's stem term, then its prefix terms (shortest first; none looked for unless
/// `has_prefixes`), by the lookups given; `NO_SUB` where there is none.
fn sub_terms(
    word: &str,
    has_prefixes: bool,
    stem: impl Fn(&str) -> Option<u32>,
    prefix: impl Fn(&str) -> Option<u32>,
) -> Subs {
    let mut subs = NO_SUBS;
    subs[0] = features::stem(word).and_then(stem).unwrap_or(NO_SUB);
    if has_prefixes {
        for (slot, p) in subs[1..].iter_mut().zip(features::prefixes(word)) {
            *slot = prefix(p).unwrap_or(NO_SUB);
        }
    }
    subs
}

#[derive(Debug, Clone, Default)]
struct KeyFilter(Vec<u64>);

impl KeyFilter {
    fn new<'a>(stems: impl Iterator<Item = &'a str>) -> KeyFilter {
        let mut bits = vec![0u64; (1 << FILTER_BITS) / 64];
        for s in stems {
            let h = Self::hash(s);
            bits[h / 64] |= 1 << (h % 64);
        }
        KeyFilter(bits)
    }

    /// A stem is 3 or more ASCII letters ([`features::stem`]), a prefix 4 or more.
    fn hash(s: &str) -> usize {
        let b = s.as_bytes();
        let n = b.len();
        let key = u64::from(b[0])
            | u64::from(b[1]) << 8
            | u64::from(b[n - 2]) << 16
            | u64::from(b[n - 1]) << 24
            | (n as u64) << 32;
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FILTER_BITS)) as usize
    }

    fn may_have(&self, s: &str) -> bool {
        let h = Self::hash(s);
        self.0.get(h / 64).is_some_and(|w| w & (1 << (h % 64)) != 0)
    }
}

/// What the features of `scope` add, pushed to `adds` (slots as in [`LearnedIndex::sum`]); the
/// range pushed.
fn row(
    features: &[Feature],
    scope: Scope,
    classes: usize,
    adds: &mut Vec<(u32, f32)>,
) -> (u32, u32) {
    let start = adds.len();
    let mut add =
        |slot: usize, w: f32| match adds[start..].iter_mut().find(|(s, _)| *s as usize == slot) {
            Some((_, sum)) => *sum += w,
            None => adds.push((slot as u32, w)),
        };
    for f in features.iter().filter(|f| f.scope == scope) {
        match f.target {
            Target::Class(c) => {
                add(c, f.weight);
                if let (Some(lang), true) = (f.lang, f.weight > 0.0) {
                    add(classes + 3 + usize::from(lang), f.weight);
                }
            }
            Target::Negative => add(classes, f.weight),
            Target::Neutral => add(classes + 1, f.weight),
            Target::Positive => add(classes + 2, f.weight),
        }
    }
    (start as u32, adds.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stem hits of the classifier before stems were resolved at compile time: each
    /// word's stem looked up in `stems`.
    fn stem_hits_by_lookup(ix: &LearnedIndex, text: &str) -> Vec<(usize, usize, u32)> {
        features::tokens(text)
            .into_iter()
            .filter_map(|(a, b)| {
                let st = features::stem(&text[a..b])?;
                ix.stems.get(st).map(|&t| (a, b, t))
            })
            .collect()
    }

    /// A stem phrase matches every form of its stem: forms that are words of other phrases
    /// (resolved when the pack compiles), its own written form, and forms no phrase has
    /// (stemmed when classifying), as a lookup of every word's stem would.
    #[test]
    fn stem_phrases_match_known_and_unseen_forms() {
        let terms: Vec<String> = ["transfer~", "my transfer", "charge~", "card", "cards", "ok"]
            .map(String::from)
            .to_vec();
        let n = terms.len();
        let ix = LearnedIndex::build(terms, vec![Vec::new(); n], 0).unwrap();
        let term = |t: &str| ix.terms.iter().position(|x| x == t).unwrap() as u32;
        let (transfer, my_transfer, charge, card) = (
            term("transfer~"),
            term("my transfer"),
            term("charge~"),
            term("card"),
        );
        // "transfering" and "charged" are in no phrase; "transfer" is a word of one, "charge"
        // the form of a stem phrase only (it starts no n-gram).
        let text = "my transfer transfering, charged charge card transfers";
        assert_eq!(
            ix.ngrams(text),
            vec![
                (0, 11, my_transfer),
                (3, 11, transfer),
                (12, 23, transfer),
                (25, 32, charge),
                (33, 39, charge),
                (40, 44, card),
                (45, 54, transfer),
            ]
        );
        for text in [
            text,
            "transferred transferring transfers transfer transferr charging charges",
            "ok cards chargeable charg chargé mytransfer 6transfers don't 😡 x",
            "",
        ] {
            let stems: Vec<_> = ix
                .ngrams(text)
                .into_iter()
                .filter(|&(_, _, t)| ix.terms[t as usize].ends_with(features::STEM_MARK))
                .collect();
            assert_eq!(stems, stem_hits_by_lookup(&ix, text), "{text}");
        }
        // A pack without stem phrases finds none.
        let plain = LearnedIndex::build(vec!["transfer".into()], vec![Vec::new()], 0).unwrap();
        assert_eq!(plain.ngrams("transfers transfer"), vec![(10, 18, 0)]);
    }

    /// A prefix phrase matches every longer word that begins with it, whether the word is in
    /// another phrase (resolved when the pack compiles) or in none (looked up when
    /// classifying), as a lookup of every word's prefixes would; never the prefix itself.
    #[test]
    fn prefix_phrases_match_longer_words_known_and_unseen() {
        let terms: Vec<String> = [
            "cancel*",
            "canc*",
            "delay~",
            "cancelled flight",
            "delay*",
            "ok",
        ]
        .map(String::from)
        .to_vec();
        let n = terms.len();
        let ix = LearnedIndex::build(terms, vec![Vec::new(); n], 0).unwrap();
        let term = |t: &str| ix.terms.iter().position(|x| x == t).unwrap() as u32;
        let (cancel, canc, delay_stem, cancelled_flight, delay) = (
            term("cancel*"),
            term("canc*"),
            term("delay~"),
            term("cancelled flight"),
            term("delay*"),
        );
        let hits = |text: &str| {
            let mut h = ix.ngrams(text);
            h.sort_unstable();
            h
        };
        // "cancelled" is a word of a phrase; "cancellation", "delayed" and "#delaysagain"'s word
        // are in none; "cancel" and "delay" are the prefixes themselves.
        assert_eq!(
            hits("cancelled flight cancellation cancel delayed delay #delaysagain"),
            vec![
                (0, 9, cancel),
                (0, 9, canc),
                (0, 16, cancelled_flight),
                (17, 29, cancel),
                (17, 29, canc),
                (30, 36, canc),
                (37, 44, delay_stem),
                (37, 44, delay),
                (45, 50, delay_stem),
                (52, 63, delay),
            ]
        );
        for text in [
            "cancelation canceled cancels cancun canc canceling 6cancelled cañcel delayyy",
            "ok delays delaying",
            "",
        ] {
            let mut got: Vec<_> = ix
                .ngrams(text)
                .into_iter()
                .filter(|&(_, _, t)| ix.terms[t as usize].ends_with(features::PREFIX_MARK))
                .collect();
            got.sort_unstable();
            let mut want: Vec<_> = features::tokens(text)
                .into_iter()
                .flat_map(|(a, b)| {
                    features::prefixes(&text[a..b])
                        .filter_map(|p| ix.prefixes.get(p).map(|&t| (a, b, t)))
                        .collect::<Vec<_>>()
                })
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "{text}");
        }
    }
}
