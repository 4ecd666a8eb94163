//! Text helpers shared by the adapters and by intent matching.

/// Decode the HTML entities platforms put in post text (X sends `&amp;`, `&lt;`, `&gt;`).
pub fn decode_html_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        // Bytes, not a str slice: a fixed-width slice could end inside a multi-byte character
        // (`&T 😭`); `;` is ASCII, so where it is found is a character boundary.
        let end = rest.bytes().take(12).position(|b| b == b';');
        let decoded = end.and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The form of a text that keyword rules are matched against: lower-cased, with runs of
/// whitespace collapsed to one space, so `Not   Working` matches `not working`.
pub fn matching_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars() {
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else {
            out.extend(c.to_lowercase());
            last_space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ampersand_before_multibyte_text_is_kept() {
        // Real tweet text: the old fixed-width lookahead split the emoji and panicked.
        assert_eq!(
            decode_html_entities("AT&amp;T 😭😭😭 #youlost"),
            "AT&T 😭😭😭 #youlost"
        );
        // An `&` at every distance from multi-byte characters, with and without a `;` after.
        for pad in 0..14 {
            let s = format!("&{}é😭中;x&{}😭", "a".repeat(pad), "b".repeat(pad));
            assert_eq!(decode_html_entities(&s), s);
        }
    }

    #[test]
    fn decodes_entities_x_sends() {
        assert_eq!(decode_html_entities("AT&amp;T &lt;3"), "AT&T <3");
        assert_eq!(decode_html_entities("&#39;hi&#x27;"), "'hi'");
        assert_eq!(
            decode_html_entities("a & b &unknown; &"),
            "a & b &unknown; &"
        );
        assert_eq!(decode_html_entities("caf\u{e9} &amp;"), "caf\u{e9} &");
    }

    #[test]
    fn matching_text_folds_case_and_space() {
        assert_eq!(
            matching_text("  My WiFi is\n\nNOT   working "),
            "my wifi is not working"
        );
        assert_eq!(matching_text("ÉCOLE"), "école");
    }
}
