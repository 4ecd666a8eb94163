//! Normalized lookup keys: platforms, handles, emails, phones, names and locations.
//! Each function is pure and cheap on the common (ASCII) input.

use phonenumber::country::Id as Region;

/// Platform names are lower-cased and `twitter` is `x`.
pub fn platform(platform: &str) -> String {
    let p = platform.trim().to_ascii_lowercase();
    if p == "twitter" {
        "x".to_owned()
    } else {
        p
    }
}

/// A handle without its leading `@`, case-folded: `@MariaG` is `mariag`.
pub fn handle(handle: &str) -> String {
    let h = handle.trim().trim_start_matches('@').trim();
    if h.is_ascii() {
        h.to_ascii_lowercase()
    } else {
        caseless::default_case_fold_str(h)
    }
}

/// Providers known to deliver `local+tag@domain` to `local@domain`.
const PLUS_TAG_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "fastmail.com",
    "fastmail.fm",
    "protonmail.com",
    "proton.me",
    "pm.me",
];

/// An email compared the way its mailbox is: without case or whitespace; with
/// `provider_rules`, also without `+tags` at the providers that deliver them to the same
/// mailbox and without dots in Gmail local parts. None when it is not an address.
pub fn email(email: &str, provider_rules: bool) -> Option<String> {
    let e: String = if email.is_ascii() {
        let mut e = String::with_capacity(email.len());
        for b in email.bytes() {
            // the ASCII whitespace of `char::is_whitespace`: space, \t, \n, \x0B, \x0C, \r
            if !matches!(b, b' ' | b'\t'..=b'\r') {
                e.push(b.to_ascii_lowercase() as char);
            }
        }
        e
    } else {
        email
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (local, domain) = e.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || !domain.contains('.') || local.contains('@') {
        return None;
    }
    if !provider_rules {
        return Some(e);
    }
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain
    };
    let mut local = local;
    if PLUS_TAG_DOMAINS.contains(&domain) {
        local = local.split('+').next().unwrap_or(local);
    }
    if local.is_empty() {
        return None;
    }
    if domain == "gmail.com" {
        let local = local.replace('.', "");
        return (!local.is_empty()).then(|| format!("{local}@{domain}"));
    }
    if local.len() + 1 + domain.len() == e.len() {
        // nothing dropped: the address as it is
        return Some(e);
    }
    Some(format!("{local}@{domain}"))
}

/// A phone number in E.164 (`+14155550101`), read with `region` when it has no country code.
/// Written forms such as `(415) 555-0101`, `+44 (0)7700 900891`, `0044 7700 900891`,
/// `06 12 34 56 78` are understood; None when it is not a phone number.
pub fn phone(phone: &str, region: Option<Region>) -> Option<String> {
    let t = phone.trim();
    // Fast path: already E.164 (what a CRM usually stores).
    if let Some(digits) = t.strip_prefix('+') {
        if (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
        {
            return Some(t.to_owned());
        }
    }
    if !t.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    // Parsing checks the length for the country; validity against the numbering plan is not
    // required (CRMs hold test and newly allocated ranges such as 555 numbers).
    // `+44 (0)20 …`: the trunk zero written beside an international number is not dialled.
    let cleaned;
    let t = if t.contains("(0)") {
        cleaned = t.replace("(0)", "");
        cleaned.as_str()
    } else {
        t
    };
    // `0044 …`: 00 is the international prefix almost everywhere, and no national number
    // starts with it, so it is read as `+` whatever the region (the US dials 011).
    let plus;
    let t = match t.strip_prefix("00") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit() && c != '0') => {
            plus = format!("+{rest}");
            plus.as_str()
        }
        _ => t,
    };
    let n = phonenumber::parse(region, t).ok()?;
    if n.national().value() < 10_000 {
        return None;
    }
    Some(
        phonenumber::format(&n)
            .mode(phonenumber::Mode::E164)
            .to_string(),
    )
}

/// A name or place folded for comparison only: transliterated to ASCII (`Zoë Müller` is
/// `zoe muller`, `Łódź` is `lodz`, `Ελένη` is `elene`), lower-cased, punctuation and symbols
/// (emoji) dropped, whitespace collapsed.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    let mut push = |c: char, out: &mut String| {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    };
    for c in text.chars() {
        if c.is_ascii() {
            push(c, &mut out);
        } else if c.is_alphanumeric() {
            match deunicode::deunicode_char(c) {
                Some(s) => {
                    for d in s.chars() {
                        push(d, &mut out);
                    }
                }
                None => push(' ', &mut out),
            }
        } else {
            push(' ', &mut out);
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The blocking key of a folded name: its words sorted, so `Gonzalez Maria` finds
/// `Maria Gonzalez`. Single letters (initials) are kept.
pub fn name_block(folded: &str) -> String {
    if folded.split(' ').is_sorted() {
        return folded.to_owned();
    }
    let mut words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    words.sort_unstable();
    words.join(" ")
}

/// Whether `phrase` (folded) occurs in `text` (folded) as whole words.
pub fn contains_words(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(phrase) {
        let start = from + i;
        let end = start + phrase.len();
        let before = start == 0 || text.as_bytes()[start - 1] == b' ';
        let after = end == text.len() || text.as_bytes()[end] == b' ';
        if before && after {
            return true;
        }
        from = start + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_fold_case_and_drop_the_at() {
        assert_eq!(handle(" @MariaG "), "mariag");
        assert_eq!(handle("@STRAßE"), "strasse");
        assert_eq!(platform("Twitter"), "x");
    }

    #[test]
    fn emails_basic_and_provider_rules() {
        assert_eq!(
            email(" Maria@Example.COM ", false).as_deref(),
            Some("maria@example.com")
        );
        assert_eq!(
            email("maria+shop@example.com", true).as_deref(),
            Some("maria+shop@example.com"),
            "an unknown provider keeps its plus"
        );
        assert_eq!(
            email("M.A.R.I.A+news@GoogleMail.com", true).as_deref(),
            Some("maria@gmail.com")
        );
        assert_eq!(
            email("m.aria+news@gmail.com", false).as_deref(),
            Some("m.aria+news@gmail.com")
        );
        assert_eq!(
            email("jo.doe+x@outlook.com", true).as_deref(),
            Some("jo.doe@outlook.com")
        );
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@b",
            "a@@b.com",
            "+@gmail.com",
            "..@gmail.com",
        ] {
            assert_eq!(email(bad, true), None, "{bad}");
        }
    }

    #[test]
    fn phones_as_people_write_them() {
        let us = Some(Region::US);
        let gb = Some(Region::GB);
        let de = Some(Region::DE);
        let fr = Some(Region::FR);
        for (written, region, e164) in [
            ("+14155550101", us, "+14155550101"),
            ("(415) 555-0101", us, "+14155550101"),
            ("415.555.0101", us, "+14155550101"),
            ("+1 415 555 0101", gb, "+14155550101"),
            ("1-415-555-0101", us, "+14155550101"),
            ("07700 900891", gb, "+447700900891"),
            ("+44 (0)7700 900891", us, "+447700900891"),
            ("0044 7700 900891", gb, "+447700900891"),
            ("030 1234567", de, "+49301234567"),
            ("+49 (0)30 1234567", us, "+49301234567"),
            ("06 12 34 56 78", fr, "+33612345678"),
            ("+33 6 12 34 56 78", us, "+33612345678"),
        ] {
            assert_eq!(
                phone(written, region).as_deref(),
                Some(e164),
                "{written} in {region:?}"
            );
        }
        assert_eq!(phone("call me", us), None);
        assert_eq!(phone("12", us), None);
    }

    #[test]
    fn names_fold_and_transliterate() {
        assert_eq!(fold("Zoë  Müller 🌸"), "zoe muller");
        assert_eq!(fold("JOSÉ Álvarez-Ruiz"), "jose alvarez ruiz");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Ελένη"), "elene");
        assert_eq!(name_block("maria gonzalez"), name_block("gonzalez maria"));
        assert!(contains_words("san francisco ca", "san francisco"));
        assert!(!contains_words("sanford", "san"));
        assert!(contains_words("near leeds", "leeds"));
    }
}
