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

/// The form of a text that keyword rules are matched against: Unicode NFKC (full-width and
/// styled letters become plain ones, ligatures split), default case folding (`Straße` and
/// `STRASSE` agree), and runs of whitespace collapsed to one space, so `Not   Working` matches
/// `not working`. Rule keywords go through the same function.
pub fn matching_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        // NFKC leaves ASCII alone and folding it is lowercasing: the common case, done a byte
        // at a time.
        return ascii_matching_text(text);
    } else {
        use caseless::Caseless;
        use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};
        if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
            // Folded a character at a time: ASCII by lowercasing, the rest by the tables
            // (a tweet is mostly ASCII around an emoji or a curly quote).
            let mut last_space = true;
            for c in text.chars() {
                if c.is_ascii() {
                    push_folded(&mut out, &mut last_space, c.to_ascii_lowercase());
                } else {
                    for f in std::iter::once(c).default_case_fold() {
                        push_folded(&mut out, &mut last_space, f);
                    }
                }
            }
            if out.ends_with(' ') {
                out.pop();
            }
        } else {
            collapse_into(&mut out, text.chars().nfkc().default_case_fold());
        }
    }
    out
}

/// One step of [`collapse_into`]: push `c`, or one space for a run of whitespace (none at the
/// start: `last_space` begins true; the caller drops a trailing one).
fn push_folded(out: &mut String, last_space: &mut bool, c: char) {
    if c.is_whitespace() {
        if !*last_space {
            out.push(' ');
            *last_space = true;
        }
    } else {
        out.push(c);
        *last_space = false;
    }
}

/// [`matching_text`] of ASCII text: lowercased, runs of whitespace (in ASCII, what
/// `char::is_whitespace` calls whitespace: `\t`, `\n`, `\x0B`, `\x0C`, `\r` and space) as one
/// space, none at either end.
fn ascii_matching_text(text: &str) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut last_space = true;
    for &b in text.as_bytes() {
        if matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') {
            if !last_space {
                out.push(b' ');
                last_space = true;
            }
        } else {
            out.push(b.to_ascii_lowercase());
            last_space = false;
        }
    }
    if out.last() == Some(&b' ') {
        out.pop();
    }
    // ASCII in, ASCII out.
    String::from_utf8(out).expect("ASCII")
}

/// Push `chars` with runs of whitespace as one space and none at either end.
fn collapse_into(out: &mut String, chars: impl Iterator<Item = char>) {
    let mut last_space = true;
    for c in chars {
        push_folded(out, &mut last_space, c);
    }
    if out.ends_with(' ') {
        out.pop();
    }
}

/// Mentions, hashtags and URLs found in a post's text, for platforms that don't list them.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub mentions: Vec<String>,
    pub hashtags: Vec<String>,
    pub urls: Vec<String>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Take mentions (without `@`), hashtags (without `#`) and URLs out of a text, in order, in
/// one pass:
/// - a URL is `http://` or `https://` up to whitespace, `<`, `>` or `"`, without trailing
///   punctuation; what is inside a URL is not a mention or hashtag (`site/#anchor`);
/// - a mention is `@name` not inside a word nor after `.` (so not an email address): word
///   characters and inner dots;
/// - a hashtag is `#tag` not inside a word nor an HTML entity (`&#39;`), with a letter.
pub fn extract(text: &str) -> Found {
    let mut found = Found::default();
    if !text.contains(['@', '#', ':']) {
        return found;
    }
    let mut prev: Option<char> = None;
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &text[i..];
        if c == 'h' && (rest.starts_with("https://") || rest.starts_with("http://")) {
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
                .unwrap_or(rest.len());
            let url = rest[..end]
                .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}', '\'', '"']);
            found.urls.push(url.to_owned());
            prev = rest[..end].chars().next_back();
            i += end;
            continue;
        }
        let tag = match c {
            '@' if !prev.is_some_and(|p| is_word(p) || p == '@' || p == '.') => {
                let tail = &rest[1..];
                let end = tail
                    .find(|c: char| !(is_word(c) || c == '.'))
                    .unwrap_or(tail.len());
                let name = tail[..end].trim_end_matches('.');
                name.starts_with(is_word)
                    .then_some((&mut found.mentions, name))
            }
            '#' if !prev.is_some_and(|p| is_word(p) || p == '&' || p == '#') => {
                let tail = &rest[1..];
                let end = tail.find(|c: char| !is_word(c)).unwrap_or(tail.len());
                let name = &tail[..end];
                name.chars()
                    .any(|c| c.is_alphabetic())
                    .then_some((&mut found.hashtags, name))
            }
            _ => None,
        };
        match tag {
            Some((list, name)) => {
                list.push(name.to_owned());
                prev = name.chars().next_back();
                i += 1 + name.len();
            }
            None => {
                prev = Some(c);
                i += c.len_utf8();
            }
        }
    }
    found
}

/// Plain text of an HTML fragment (Discourse's `cooked`, YouTube's `textDisplay`): tags
/// dropped, whitespace collapsed as a browser would, `<br>` a line break, a block's end a
/// paragraph break, a list item a `- ` line, an emoji image its `alt` text (`:smile:`),
/// entities decoded, at most one blank line in a row. Not a full HTML parser: enough for the
/// sanitized HTML these platforms emit, and it never panics (it only splits at ASCII `<`/`>`).
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut pre = 0usize;
    let mut rest = html;
    loop {
        let (text, tag_start) = match rest.find('<') {
            Some(open) => (&rest[..open], Some(open)),
            None => (rest, None),
        };
        if pre > 0 {
            out.push_str(text);
        } else {
            push_collapsed(&mut out, text);
        }
        let Some(open) = tag_start else { break };
        rest = &rest[open + 1..];
        let starts_tag = rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        let close = rest.find('>').filter(|_| starts_tag);
        let Some(close) = close else {
            // A `<` that opens no tag (never in sanitized HTML, but be kind): it is text.
            out.push('<');
            continue;
        };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "br" => out.push('\n'),
            "pre" if closing => {
                pre = pre.saturating_sub(1);
                out.push_str("\n\n");
            }
            "pre" => pre += 1,
            "p" | "div" | "blockquote" | "ul" | "ol" | "table" | "aside" | "h1" | "h2" | "h3"
            | "h4" | "h5" | "h6"
                if closing =>
            {
                out.push_str("\n\n")
            }
            "li" if !closing => out.push_str("\n- "),
            "tr" if closing => out.push('\n'),
            "img" => {
                let emoji =
                    attribute(tag, "class").is_some_and(|c| c.split(' ').any(|c| c == "emoji"));
                if let Some(alt) = attribute(tag, "alt").filter(|_| emoji) {
                    out.push_str(alt);
                }
            }
            _ => {}
        }
    }
    let decoded = decode_html_entities(&out);
    let mut text = String::with_capacity(decoded.len());
    let mut blank = false;
    for line in decoded.lines().map(str::trim) {
        if line.is_empty() {
            blank = !text.is_empty();
            continue;
        }
        if blank {
            text.push('\n');
            blank = false;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
    }
    text
}

/// Text outside `<pre>`: runs of whitespace are one space, as HTML renders them.
fn push_collapsed(out: &mut String, text: &str) {
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    if space {
        out.push(' ');
    }
}

/// The value of a double-quoted attribute in a tag's inside (`img src="…" alt="…"`).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    loop {
        let at = rest.find(name)?;
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_whitespace);
        rest = &rest[at + name.len()..];
        if before_ok {
            if let Some(value) = rest.strip_prefix("=\"") {
                return value.split('"').next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The byte-wise ASCII path is the char-wise definition, on every ASCII string (all
        /// 128 code points, whitespace runs at the ends and inside).
        #[test]
        fn ascii_path_is_the_definition(text in "([ \\t\\r\\n\\x0B\\x0C]|[\\x00-\\x7F]){0,40}") {
            let mut by_chars = String::new();
            collapse_into(&mut by_chars, text.chars().map(|c| c.to_ascii_lowercase()));
            proptest::prop_assert_eq!(ascii_matching_text(&text), by_chars);
        }
    }

    #[test]
    fn matching_text_is_nfkc_and_case_folded() {
        assert_eq!(matching_text("STRASSE  Straße"), "strasse strasse");
        assert_eq!(matching_text("ｆｕｌｌ ｗｉｄｔｈ"), "full width");
        assert_eq!(matching_text("ﬁle ΣΊΣΥΦΟΣ"), "file σίσυφοσ");
        assert_eq!(matching_text(" \t\n "), "");
    }

    /// Mostly-ASCII text is folded a character at a time: the same as folding it whole.
    #[test]
    fn folding_by_character_is_folding_the_text() {
        use caseless::Caseless;
        use unicode_normalization::UnicodeNormalization;
        for t in [
            "Straße İstanbul ΐΰ ﬀ ŉ",
            "MY FLIGHT 😡 “DELAYED” AGAIN — ǅ",
            "MY FLIGHT 😡 “DELAYED” AGAIN",
            "Ⅻ ẞ ᾈ Ω K Å",
        ] {
            let whole: String = t.chars().nfkc().default_case_fold().collect();
            assert_eq!(
                matching_text(t),
                whole.split_whitespace().collect::<Vec<_>>().join(" "),
                "{t}"
            );
        }
    }

    #[test]
    fn extracts_mentions_hashtags_and_urls() {
        let f = extract(
            "@AcmeCare my order #A123 failed (see https://acme.example/o/1?x=2#top). mail me at a@b.co &#39;#Ünïcødé",
        );
        assert_eq!(f.mentions, vec!["AcmeCare"]);
        assert_eq!(f.urls, vec!["https://acme.example/o/1?x=2#top"]);
        assert_eq!(f.hashtags, vec!["A123", "Ünïcødé"]);
        assert_eq!(extract("#123 is not a tag, nor is a#b"), Found::default());
        assert_eq!(extract("plain text"), Found::default());
    }

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
