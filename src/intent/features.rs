//! The features of learned packs: word (and number, and emoji) tokens of the folded matching
//! text and their 1–3-grams, each marked negated or not by the pack's negation cues.
//!
//! One definition serves both sides: `outcry learn` extracts these n-grams from labelled texts
//! to fit its model, and the classifier matches the learned phrases with its Aho-Corasick
//! automaton, keeping a match only where [`is_token_boundary`] says an n-gram of the same
//! tokens starts and ends (a test holds the two together). A token is a run of letters (with
//! apostrophes inside: `don't`), a run of digits (`6delays` is `6` and `delays`), or one
//! pictographic character (`😡`) or `!` or `?`. N-grams join tokens separated by exactly one space.

use super::{automaton, select, NegationReach};
use aho_corasick::AhoCorasick;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Letter,
    Digit,
    Symbol,
    Other,
}

fn kind(c: char) -> Kind {
    if c.is_alphabetic() {
        Kind::Letter
    } else if c.is_numeric() {
        Kind::Digit
    } else if c == '!' || c == '?' || is_symbol(c) {
        Kind::Symbol
    } else {
        Kind::Other
    }
}

/// Emoji and other pictographs (and `!`, `?`): each is a token of its own. Variation selectors, joiners and
/// skin-tone modifiers are not.
fn is_symbol(c: char) -> bool {
    let u = c as u32;
    u >= 0x2190
        && !(0xFE00..=0xFE0F).contains(&u)
        && u != 0x200D
        && !(0x1F3FB..=0x1F3FF).contains(&u)
        && !(0x2E00..=0x2E7F).contains(&u)
        && !(0x3000..=0x303F).contains(&u)
}

/// Token spans (byte offsets) of a folded text, in order.
pub fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(text.len() / 4);
    each_token(text, |a, b| out.push((a, b)));
    out
}

/// [`tokens`], each span handed to `f` as it is found (no vector of its own).
pub fn each_token(text: &str, mut f: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    // The kind and length of the character at byte `i` (ASCII without decoding).
    let at = |i: usize| -> (Kind, usize) {
        match bytes[i] {
            b'a'..=b'z' | b'A'..=b'Z' => (Kind::Letter, 1),
            b'0'..=b'9' => (Kind::Digit, 1),
            b'!' | b'?' => (Kind::Symbol, 1),
            0..=0x7f => (Kind::Other, 1),
            _ => {
                let c = text[i..].chars().next().expect("a char starts here");
                (kind(c), c.len_utf8())
            }
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let (k, n) = at(i);
        let start = i;
        i += n;
        match k {
            Kind::Other => {}
            Kind::Symbol => f(start, i),
            k => {
                while i < bytes.len() {
                    let (next, n) = at(i);
                    if next == k {
                        i += n;
                    } else if k == Kind::Letter
                        && bytes[i] == b'\''
                        && i + 1 < bytes.len()
                        && at(i + 1).0 == Kind::Letter
                    {
                        // An apostrophe between two letters is inside the word.
                        i += 1;
                    } else {
                        break;
                    }
                }
                f(start, i);
            }
        }
    }
}

/// Whether `text[start..end]` begins at a token's start and ends at a token's end.
pub fn is_token_boundary(text: &str, start: usize, end: usize) -> bool {
    let (Some(first), Some(last)) = (
        text[start..].chars().next(),
        text[..end].chars().next_back(),
    ) else {
        return false;
    };
    let before = |i: usize| text[..i].chars().next_back();
    let after = |i: usize| text[i..].chars().next();
    let start_ok = match kind(first) {
        Kind::Symbol => true,
        Kind::Other => false,
        k => match before(start) {
            None => true,
            Some('\'') if k == Kind::Letter => {
                before(start - 1).is_none_or(|p| kind(p) != Kind::Letter)
            }
            Some(p) => kind(p) != k,
        },
    };
    let end_ok = match kind(last) {
        Kind::Symbol => true,
        Kind::Other => false,
        k => match after(end) {
            None => true,
            Some('\'') if k == Kind::Letter => {
                after(end + 1).is_none_or(|n| kind(n) != Kind::Letter)
            }
            Some(n) => kind(n) != k,
        },
    };
    start_ok && end_ok
}

/// What ends a stem phrase: `transfer~` stands for every word whose [`stem`] is the stem of
/// `transfer` (transfer, transfers, transferred, transferring).
pub const STEM_MARK: char = '~';

/// The light stem of a folded word: its inflectional suffix (`-ings`, `-ing`, `-ed`, `-es`,
/// `-s`) stripped, a doubled last consonant undoubled, a final `e`, `i` or `y` dropped, never
/// shorter than 3 letters; so that `transfer`, `transfers`, `transferred` and `transferring`
/// share `transfer`, `charge`, `charges`, `charged` and `charging` share `charg`, `reply`,
/// `replies` and `replied` share `repl`. Always a prefix of the word. `None` for words that are
/// not 3 or more ASCII letters (numbers, emoji, other scripts, `don't`).
pub fn stem(word: &str) -> Option<&str> {
    let b = word.as_bytes();
    if b.len() < 3 || !b.iter().all(u8::is_ascii_lowercase) {
        return None;
    }
    let mut end = b.len();
    for suffix in ["ings", "ing", "ed", "es", "s"] {
        let n = suffix.len();
        if end >= n + 3 && word.ends_with(suffix) {
            // Not the `s` of `-ss`, `-us`, `-is` (`business`, `status`, `this`).
            if suffix == "s" && matches!(b[end - 2], b's' | b'u' | b'i') {
                continue;
            }
            end -= n;
            break;
        }
    }
    if end >= 4 && b[end - 1] == b[end - 2] && !b"aeiou".contains(&b[end - 1]) {
        end -= 1;
    }
    if end >= 4 && matches!(b[end - 1], b'e' | b'i' | b'y') {
        end -= 1;
    }
    Some(&word[..end])
}

/// What ends a prefix phrase: `cancel*` stands for every word that begins with `cancel` and is
/// longer than it (cancelled, cancellation, cancelling; not `cancel` itself, a word of its own).
pub const PREFIX_MARK: char = '*';

/// The lengths of the prefixes that are features ([`prefixes`]).
pub const PREFIX_LENS: [usize; 3] = [4, 5, 6];

/// The prefixes of a folded word that are features: its first 4, 5 and 6 letters, each when
/// the word is longer and they are ASCII lowercase letters; so that `cancelled`, `cancellation`
/// and `#cancelledagain`'s `cancelledagain` share `canc`, `cance` and `cancel`, and a word's
/// misspelt or glued endings still count.
pub fn prefixes(word: &str) -> impl Iterator<Item = &str> {
    let b = word.as_bytes();
    PREFIX_LENS
        .into_iter()
        .filter(move |&n| b.len() > n && b[..n].iter().all(u8::is_ascii_lowercase))
        .map(move |n| &word[..n])
}

/// Whether `key` (a prefix phrase without its mark) is one [`prefixes`] can give.
pub fn is_prefix_key(key: &str) -> bool {
    PREFIX_LENS.contains(&key.len()) && key.bytes().all(|b| b.is_ascii_lowercase())
}

/// Extracts the n-gram features of folded texts with a pack's negation cues.
#[derive(Debug, Clone)]
pub struct Features {
    cue_ac: AhoCorasick,
    window: usize,
    max_n: usize,
    /// Also each word's [`stem`], as the feature `stem~`.
    stems: bool,
    /// Also each word's [`prefixes`], as the features `pref*`.
    prefixes: bool,
}

impl Features {
    /// `cues`: folded negation cues; `window`: words a cue reaches; `max_n`: longest n-gram.
    pub fn new(cues: &[String], window: usize, max_n: usize) -> Features {
        Features {
            // Cues are folded phrases; an automaton over them cannot fail to build.
            cue_ac: automaton(cues).expect("cue automaton"),
            window: window.max(1),
            max_n: max_n.max(1),
            stems: false,
            prefixes: false,
        }
    }

    /// Also extract each word's stem (`charg~` for `charges`), scoped like the word.
    pub fn with_stems(mut self, stems: bool) -> Features {
        self.stems = stems;
        self
    }

    /// Also extract each word's prefixes (`canc*`, `cance*`, `cancel*` for `cancelled`),
    /// scoped like the word.
    pub fn with_prefixes(mut self, prefixes: bool) -> Features {
        self.prefixes = prefixes;
        self
    }

    /// Every distinct (n-gram, negated) of a folded text, in order of first appearance. An
    /// n-gram is negated when a cue ends at most `window` words before its start in the same
    /// clause (the rule the classifier applies).
    pub fn extract(&self, text: &str) -> Vec<(String, bool)> {
        let toks = tokens(text);
        let negation = NegationReach::new(text, &select(&self.cue_ac, text), self.window);
        let mut out: Vec<(String, bool)> = Vec::new();
        for i in 0..toks.len() {
            let neg = negation.covers(toks[i].0);
            if self.stems {
                if let Some(st) = stem(&text[toks[i].0..toks[i].1]) {
                    let f = (format!("{st}{STEM_MARK}"), neg);
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
            if self.prefixes {
                for p in prefixes(&text[toks[i].0..toks[i].1]) {
                    let f = (format!("{p}{PREFIX_MARK}"), neg);
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
            let mut end = i;
            for n in 1..=self.max_n {
                if n > 1 {
                    if end + 1 >= toks.len() || &text[toks[end].1..toks[end + 1].0] != " " {
                        break;
                    }
                    end += 1;
                }
                let f = (text[toks[i].0..toks[end].1].to_owned(), neg);
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        tokens(s).into_iter().map(|(a, b)| &s[a..b]).collect()
    }

    #[test]
    fn tokens_split_words_numbers_and_emoji() {
        assert_eq!(
            toks("i don't like 6delays!! 😡😡"),
            ["i", "don't", "like", "6", "delays", "!", "!", "😡", "😡"]
        );
        assert_eq!(
            toks("'quoted' dogs' @united #fail"),
            ["quoted", "dogs", "united", "fail"]
        );
        assert_eq!(toks("❤️ ok"), ["❤", "ok"]);
    }

    /// The tokenizer reads bytes, decoding only non-ASCII characters: it agrees with the
    /// definition on characters.
    #[test]
    fn tokens_are_runs_of_one_kind() {
        fn by_chars(text: &str) -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            let mut chars = text.char_indices().peekable();
            while let Some((at, c)) = chars.next() {
                match kind(c) {
                    Kind::Other => {}
                    Kind::Symbol => out.push((at, at + c.len_utf8())),
                    k => {
                        let mut end = at + c.len_utf8();
                        while let Some(&(i, n)) = chars.peek() {
                            if kind(n) == k {
                                end = i + n.len_utf8();
                                chars.next();
                            } else if k == Kind::Letter
                                && n == '\''
                                && text[i + 1..].chars().next().map(kind) == Some(Kind::Letter)
                            {
                                chars.next();
                            } else {
                                break;
                            }
                        }
                        out.push((at, end));
                    }
                }
            }
            out
        }
        for t in [
            "i don't like 6delays!! 😡😡",
            "'quoted' dogs' @united #fail",
            "❤️ ok",
            "l'été à 3h12 ça n'a pas marché ’ '' a'",
            "ﬁx ٣٤ 漢字かな 한국어 ½ x²",
            "a'b'c' '1'2 ?!",
            "",
        ] {
            assert_eq!(tokens(t), by_chars(t), "{t}");
        }
    }

    #[test]
    fn prefixes_of_a_word() {
        fn p(w: &str) -> Vec<&str> {
            prefixes(w).collect()
        }
        assert_eq!(p("cancelled"), ["canc", "cance", "cancel"]);
        assert_eq!(p("cancel"), ["canc", "cance"]);
        assert_eq!(p("delay"), ["dela"]);
        assert!(p("late").is_empty() && p("").is_empty());
        // Letters only: no prefix through a digit or an apostrophe, none of other scripts.
        assert!(p("6delays").is_empty() && p("cafés").is_empty());
        assert_eq!(p("don'tcare"), Vec::<&str>::new());
        assert_eq!(p("wifi's"), ["wifi"]);
        assert!(is_prefix_key("canc") && is_prefix_key("cancel"));
        assert!(!is_prefix_key("can") && !is_prefix_key("cancell") && !is_prefix_key("can't"));
        let f = Features::new(&["not".into()], 3, 2).with_prefixes(true);
        let got = f.extract("not delayed");
        assert!(got.contains(&("dela*".into(), true)), "{got:?}");
        assert!(got.contains(&("delaye*".into(), true)), "{got:?}");
        assert!(
            !got.iter().any(|(f, _)| f == "not*" || f == "delayed*"),
            "{got:?}"
        );
    }

    #[test]
    fn stems_share_inflections() {
        fn st(w: &str) -> &str {
            stem(w).unwrap_or("-")
        }
        for group in [
            &["transfer", "transfers", "transferred", "transferring"][..],
            &["charge", "charges", "charged", "charging"],
            &["reply", "replies", "replied"],
            &["cancel", "cancels", "cancelled", "cancelling"],
            &["delay", "delays", "delayed", "delaying"],
            &["issue", "issues", "issued"],
            &["top", "tops", "topped", "topping"],
            &["verify", "verified", "verifying"],
        ] {
            for w in group {
                assert_eq!(st(w), st(group[0]), "{w}");
            }
        }
        assert_eq!(st("transferring"), "transfer");
        assert_eq!(st("business"), "busines");
        assert_eq!(st("status"), "status");
        assert_eq!(st("fees"), "fee");
        assert_eq!(st("ok"), "-");
        assert_eq!(st("don't"), "-");
        assert_eq!(st("caf\u{e9}"), "-");
        for w in [
            "charges",
            "transferred",
            "replies",
            "passes",
            "status",
            "business",
        ] {
            assert!(w.starts_with(st(w)));
        }
    }

    #[test]
    fn boundaries_agree_with_tokens() {
        let t = "my 6delays don't end";
        assert!(is_token_boundary(t, 4, 10)); // delays after a digit
        assert!(!is_token_boundary(t, 11, 14)); // "don" inside "don't"
        assert!(!is_token_boundary(t, 15, 16)); // "t" inside "don't"
        assert!(is_token_boundary(t, 11, 16));
        assert!(!is_token_boundary(t, 1, 2));
    }

    #[test]
    fn ngrams_stop_at_punctuation_and_carry_negation() {
        let f = Features::new(&["not".into()], 3, 3);
        let got = f.extract("not late, really late");
        let has = |s: &str, n: bool| got.contains(&(s.to_owned(), n));
        assert!(has("not late", false));
        assert!(has("late", true));
        assert!(has("late", false));
        assert!(has("really late", false));
        assert!(!got.iter().any(|(s, _)| s == "late really"));
        // "late" twice with the same scope is one feature.
        assert_eq!(got.iter().filter(|(s, n)| s == "late" && !*n).count(), 1);
    }
}
