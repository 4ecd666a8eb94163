//! Accent folding for matching: applied by the classifier to the matching text and to every
//! rule phrase alike, so that `réservation`, `reservation` and `RÉSERVATION` all meet.
//!
//! The input is already in [`crate::normalize::matching_text`] form (NFKC, case-folded,
//! whitespace collapsed). Folding decomposes each character (NFD), drops combining marks, maps a
//! few letters that have no decomposition (`œ`, `æ`, `ø`, `ł`, `đ`) and typographic apostrophes
//! (`’`, `‘`, `ʼ`) to plain ones. It keeps a map from folded byte offsets back to the matching
//! text, so that spans reported to users refer to the matching text, not to this internal form.

use std::borrow::Cow;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// A folded text and the way back to the text it was folded from.
#[derive(Debug, Clone)]
pub struct Folded<'a> {
    pub text: Cow<'a, str>,
    /// For each byte of `text`, the byte offset in the source of the character it came from,
    /// plus one entry for the end. `None` when `text` is the source itself.
    map: Option<Vec<u32>>,
    source_len: usize,
}

impl Folded<'_> {
    /// The source offset of a folded offset (a span start or end).
    pub fn source_offset(&self, folded: usize) -> usize {
        match &self.map {
            None => folded,
            Some(map) => map.get(folded).map_or(self.source_len, |&o| o as usize),
        }
    }
}

/// Fold `s` for matching. Plain ASCII is returned as is (no allocation).
pub fn fold(s: &str) -> Folded<'_> {
    if s.is_ascii() {
        return Folded {
            text: Cow::Borrowed(s),
            map: None,
            source_len: s.len(),
        };
    }
    let mut out = String::with_capacity(s.len());
    let mut map: Vec<u32> = Vec::with_capacity(s.len() + 1);
    for (at, c) in s.char_indices() {
        fold_char(c, &mut out);
        map.resize(out.len(), at as u32);
    }
    map.push(s.len() as u32);
    Folded {
        text: Cow::Owned(out),
        map: Some(map),
        source_len: s.len(),
    }
}

/// Fold a rule phrase: the same steps as the classifier applies to a text.
pub fn fold_phrase(phrase: &str) -> String {
    fold(&crate::normalize::matching_text(phrase))
        .text
        .into_owned()
}

fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c);
        return;
    }
    match c {
        '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{2032}' => out.push('\''),
        'œ' => out.push_str("oe"),
        'æ' => out.push_str("ae"),
        'ø' => out.push('o'),
        'ł' => out.push('l'),
        'đ' => out.push('d'),
        // Hangul syllables decompose into jamo, which are letters, not marks: keep them whole.
        '\u{AC00}'..='\u{D7A3}' => out.push(c),
        _ => decompose_canonical(c, |d| {
            if !is_combining_mark(d) {
                out.push(d);
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_are_dropped_and_spans_map_back() {
        let src = "mi reservación está mal";
        let f = fold(src);
        assert_eq!(f.text, "mi reservacion esta mal");
        let start = f.text.find("reservacion").unwrap();
        let end = start + "reservacion".len();
        let (s, e) = (f.source_offset(start), f.source_offset(end));
        assert_eq!(&src[s..e], "reservación");
        assert_eq!(f.source_offset(f.text.len()), src.len());
    }

    #[test]
    fn ascii_is_borrowed_and_letters_without_decomposition_are_mapped() {
        assert!(matches!(fold("plain text").text, Cow::Borrowed(_)));
        assert_eq!(fold("cœur d’or").text, "coeur d'or");
        assert_eq!(fold_phrase("RÉSERVATION"), "reservation");
        assert_eq!(fold_phrase("Verspätung"), "verspatung");
        assert_eq!(fold("한국").text, "한국");
    }
}
