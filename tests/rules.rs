//! Rule packs: the shipped packs compile, classification scores, negation, accents, spans,
//! patterns, noise categories, sentiment, determinism, and `check` listing every problem.

use outcry::intent::{decide, Classification, Classifier, RulePack};
use outcry::normalize::matching_text;

fn pack(path: &str) -> RulePack {
    let text = std::fs::read_to_string(path).unwrap();
    RulePack::from_toml(path, &text).unwrap_or_else(|e| panic!("{path}: {e:#?}"))
}

fn generic() -> Classifier {
    Classifier::compile(&[pack("config/rules/default.toml")]).unwrap()
}

fn airline() -> Classifier {
    Classifier::compile(&[pack("config/rules/airline.toml")]).unwrap()
}

fn decision(c: &Classifier, text: &str) -> String {
    match c.classify(&matching_text(text)) {
        Classification::Intent(m) => m.intent,
        Classification::Noise { .. } => "NOISE".into(),
    }
}

#[test]
fn generic_pack_core_intents_in_six_languages() {
    let c = generic();
    for (text, want) in [
        ("my internet is down again", "outage"),
        ("mi internet no funciona desde ayer", "outage"),
        ("la box est en panne", "outage"),
        ("Das WLAN funktioniert nicht", "outage"),
        ("la linea non funziona", "outage"),
        ("mijn internet werkt niet", "outage"),
        ("I was charged twice", "billing"),
        ("¿Dónde está mi reembolso?", "billing"),
        ("je veux résilier mon contrat", "cancellation"),
        ("Ich möchte kündigen", "cancellation"),
        ("my lawyer will hear about this", "safety"),
        ("thank you so much", "praise"),
        ("grazie mille!", "praise"),
    ] {
        assert_eq!(decision(&c, text), want, "{text}");
    }
}

#[test]
fn accents_are_ignored_on_both_sides_and_spans_point_into_the_matching_text() {
    let c = generic();
    // "kündigen" is written "kundigen" in the pack; "gefahrlich" too.
    let text = matching_text("Ich will KÜNDIGEN, das ist gefährlich");
    let a = c.analyze(&text);
    let cancel = a.intents.iter().find(|s| s.name == "cancellation").unwrap();
    let sp = &cancel.spans[0];
    assert_eq!(&text[sp.start..sp.end], "kündigen");
    assert_eq!(sp.rule, "kundigen");
    assert_eq!(sp.lang.as_deref(), Some("de"));
    let safety = a.intents.iter().find(|s| s.name == "safety").unwrap();
    assert_eq!(
        &text[safety.spans[0].start..safety.spans[0].end],
        "gefährlich"
    );
    assert_eq!(a.languages, vec!["de"]);
}

#[test]
fn negation_cancels_negatable_phrases_within_the_window_only() {
    let c = generic();
    assert_eq!(decision(&c, "no problem at all"), "general");
    assert_eq!(
        decision(&c, "there is a problem with my order"),
        "complaint"
    );
    // a clause boundary stops the cue
    assert_eq!(decision(&c, "no. problem with my order"), "complaint");
    // beyond three words the cue no longer applies
    assert_eq!(
        decision(&c, "not that it matters much, problem persists"),
        "complaint"
    );
    assert_eq!(decision(&c, "I am not very happy"), "general");
    assert_eq!(decision(&c, "I am very happy"), "praise");
    // topic words are not negatable: "didn't get my refund" is still billing
    assert_eq!(decision(&c, "I didn't get my refund"), "billing");
    let a = c.analyze(&matching_text("not happy"));
    assert_eq!(a.sentiment.label, "negative", "{a:?}");
}

#[test]
fn scores_add_weights_and_the_best_intent_wins() {
    let c = generic();
    let a = c.analyze(&matching_text("internet down, and I was charged twice"));
    assert_eq!(a.intents[0].name, "billing");
    assert_eq!(a.intents[0].score, 2.0);
    assert_eq!(a.intents[1].name, "outage");
    assert_eq!(a.intents[1].score, 1.0);
    assert!(a.intents.iter().all(|s| s.qualifies));
    // the regex pattern of billing
    let a = c.analyze(&matching_text("they charged me 3 times"));
    let b = &a.intents[0];
    assert_eq!(b.name, "billing");
    assert!(b.spans.iter().any(|s| s.rule.starts_with('/')), "{b:?}");
}

#[test]
fn longest_whole_word_phrase_wins_and_shorter_ones_are_not_hidden() {
    let c = airline();
    // "late flight" fails the boundary in "late flights", "late" alone still counts
    let a = c.analyze(&matching_text("so many late flights"));
    assert_eq!(a.intents[0].name, "delay");
    assert_eq!(a.intents[0].spans[0].rule, "late");
    let a = c.analyze(&matching_text("my flight cancelled twice"));
    assert_eq!(a.intents[0].spans[0].rule, "flight cancelled");
    assert_eq!(
        decision(&c, "chocolate"),
        "general",
        "no match inside a word"
    );
}

#[test]
fn noise_categories_and_overrides() {
    let c = generic();
    assert_eq!(decision(&c, "lol"), "NOISE");
    // banter does not override an intent
    assert_eq!(decision(&c, "lol my internet is down"), "outage");
    // auto-replies and spam do
    assert_eq!(
        decision(&c, "Out of office: for billing questions call us"),
        "NOISE"
    );
    let a = c.analyze(&matching_text("Respuesta automática: fuera de la oficina"));
    assert_eq!(a.noise[0].name, "auto_reply");
    assert!(matches!(decide(&a), Classification::Noise { .. }));
}

#[test]
fn airline_pack_speaks_like_passengers() {
    let c = airline();
    for (text, want) in [
        ("@united lost my luggage AGAIN", "baggage_lost"),
        (
            "my flight was Cancelled and no one will rebook me",
            "cancellation",
        ),
        ("2 hour delay and counting", "delay"),
        ("been on hold for 3 hours with customer service", "service"),
        ("the flight attendant was so rude to my mom", "crew"),
        ("no legroom and the wifi didn't work", "bad_flight"),
        (
            "they broke my suitcase, the wheel is gone",
            "baggage_damaged",
        ),
        ("your website won't let me change my reservation", "booking"),
        ("the security line is 200 people long", "queues"),
        ("thanks for the smooth flight!", "praise"),
    ] {
        assert_eq!(decision(&c, text), want, "{text}");
    }
}

#[test]
fn classification_is_deterministic() {
    let c = generic();
    let text = matching_text("Charged twice, internet down, lol, no problem, je veux résilier");
    let first = c.analyze(&text);
    for _ in 0..20 {
        assert_eq!(c.analyze(&text), first);
        assert_eq!(generic().analyze(&text), first);
    }
}

#[test]
fn the_simple_shorthand_still_works() {
    let p = RulePack::from_toml(
        "p",
        "name = \"p\"\n[[intent]]\nname = \"outage\"\nseverity = 3\nkeywords = [\"down\"]\n[noise]\nkeywords = [\"giveaway\"]\n",
    )
    .unwrap();
    let c = Classifier::compile(&[p]).unwrap();
    assert_eq!(decision(&c, "site DOWN"), "outage");
    assert_eq!(decision(&c, "giveaway!"), "NOISE");
    assert_eq!(c.noise_names().collect::<Vec<_>>(), vec!["noise"]);
}

#[test]
fn every_problem_of_a_rich_pack_is_listed() {
    let bad = r#"
name = "bad"
languages = ["en"]
[negation]
window = 0
[[intent]]
name = "a"
min_score = -1
[[intent.phrases]]
lang = "fr"
weight = 0
negatable = true
terms = ["x"]
patterns = ["(unclosed", "caf\u00e9"]
[[intent]]
name = "b"
keywords = ["X"]
[[noise.category]]
name = "a"
keywords = ["y"]
[[sentiment]]
polarity = "positive"
terms = ["good"]
[[sentiment]]
polarity = "negative"
terms = ["GOOD"]
"#;
    let problems = RulePack::from_toml("bad.toml", bad).unwrap_err().join("\n");
    for needle in [
        "window` is 0",
        "min_score -1",
        "language \"fr\" is not in the pack's `languages`",
        "weight 0",
        "negatable group but the pack has no negation cues",
        "/(unclosed/ does not compile",
        "accented letters",
        "keyword \"x\" is in both `a` and `b`",
        "noise category `a` has the name of another",
        "both positive and negative",
    ] {
        assert!(
            problems.contains(needle),
            "missing {needle:?} in:\n{problems}"
        );
    }
}

/// `classify` (the per-event fast path) and `decide(analyze)` (everything that fired) give the
/// same decision — intent or noise, and the same keywords — on every text of the sample feed
/// and on texts built to hit negation, ties, patterns and noise overrides, for the hand packs
/// and the learned ones.
#[test]
fn the_fast_path_decides_exactly_as_the_full_analysis() {
    let feed = std::fs::read_to_string("config/sample/feed.jsonl").unwrap();
    let mut texts: Vec<String> = feed
        .lines()
        .filter_map(|l| {
            outcry::normalize::normalize(
                l.as_bytes(),
                None,
                &Default::default(),
                outcry::normalize::time::now_ms(),
            )
            .ok()
            .map(|e| e.text)
        })
        .collect();
    assert!(texts.len() > 200);
    texts.extend(
        [
            "not happy, no problem, not down",
            "refund refund bill bill lawyer",
            "giveaway follow back but my internet is down",
            "Out of office: auto-reply",
            "my bag was lost and the flight delayed and cancelled",
            "",
            "thanks!!! love it but i was charged twice",
            "no, the flight was not late, it was cancelled",
            "Lost my bag at JFK on AA 123 — kennedy terminal 4 is a mess",
            "flight UA 1234 from DEN to sea-tac, then o'hare; flight #88 and flight 2 hours late",
            "order #A-1001 never arrived, the set top box and the MODEM too, order 123456",
            "lol JFK giveaway",
            "SFO SFO sfo LAX-JFK jfk airport",
        ]
        .map(String::from),
    );
    let learned = |path: &str| Classifier::compile(&[pack(path)]).unwrap();
    for c in [
        generic(),
        airline(),
        learned("config/rules/generic-learned.toml"),
        learned("config/rules/airline-learned.toml"),
    ] {
        let mut intents = std::collections::BTreeSet::new();
        let mut with_entities = 0;
        for t in &texts {
            let m = matching_text(t);
            let fast = c.classify(&m);
            assert_eq!(fast, decide(&c.analyze(&m)), "{t}");
            if let Classification::Intent(i) = fast {
                intents.insert(i.intent);
                with_entities += usize::from(!i.entities.is_empty());
            }
        }
        assert!(
            intents.len() >= 4,
            "the texts reach several intents: {intents:?}"
        );
        assert!(
            with_entities >= 3,
            "the texts carry entities: {with_entities}"
        );
    }
}

fn entities(c: &Classifier, text: &str) -> Vec<(String, String)> {
    match c.classify(&matching_text(text)) {
        Classification::Intent(m) => m.entities.into_iter().map(|e| (e.name, e.value)).collect(),
        Classification::Noise { .. } => panic!("noise: {text}"),
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

const ENTITY_PACK: &str = r#"
name = "shop"
version = "1"
[[intent]]
name = "delivery"
keywords = ["never arrived"]
[noise]
keywords = ["giveaway"]
[[entity]]
name = "product"
values = ["iPhone 15", "iPhone 15 Pro", "Crème Brûlée Kit"]
aliases = { "iphone15" = "iPhone 15", "i phone 15 pro" = "iPhone 15 Pro" }
[[entity]]
name = "order"
patterns = ['\border\s*(?:no\.?|number|#)?\s*#?(\d{6,12})\b', '\bref\s?(\d{2})-(\d{4})\b']
normalize = "digits"
[[entity]]
name = "sku"
patterns = ['\bsku[ -]?[a-z]{2} ?\d{3}\b']
normalize = "upper_nospace"
aliases = { "sku-zz 000" = "RETIRED" }
"#;

fn shop() -> Classifier {
    Classifier::compile(&[RulePack::from_toml("shop", ENTITY_PACK).unwrap()]).unwrap()
}

#[test]
fn known_values_are_whole_words_in_any_case_and_aliases_give_the_value_as_written() {
    let c = shop();
    // case, accents and spacing of the text do not matter; the value is reported as written
    assert_eq!(
        entities(&c, "my IPHONE   15 never arrived"),
        pairs(&[("product", "iPhone 15")])
    );
    assert_eq!(
        entities(&c, "the creme brulee kit"),
        pairs(&[("product", "Crème Brûlée Kit")])
    );
    // aliases map to their value; the longest match wins ("iphone 15 pro" over "iphone 15")
    assert_eq!(
        entities(&c, "iphone15 and an i phone 15 pro and an iPhone 15 Pro"),
        pairs(&[("product", "iPhone 15"), ("product", "iPhone 15 Pro")])
    );
    // whole words only
    assert_eq!(entities(&c, "myiphone 15 or iphone 150"), vec![]);
    assert_eq!(
        entities(&c, "(iphone 15)!"),
        pairs(&[("product", "iPhone 15")])
    );
}

#[test]
fn pattern_captures_are_joined_and_normalized() {
    let c = shop();
    // group 1 of the first pattern; groups 1 and 2 of the second, concatenated
    assert_eq!(
        entities(&c, "Order No. 12345678 and ref 12-3456"),
        pairs(&[("order", "12345678"), ("order", "123456")])
    );
    // no group: the whole match, normalized (upper case, no spaces or hyphens)
    assert_eq!(
        entities(&c, "SKU-ab 123 then sku ab123"),
        pairs(&[("sku", "SKUAB123")])
    );
    // an alias applies to a capture too
    assert_eq!(entities(&c, "sku-zz 000"), pairs(&[("sku", "RETIRED")]));
    // too short for the pattern: nothing
    assert_eq!(entities(&c, "order 12345"), vec![]);
}

#[test]
fn entities_are_deduplicated_in_order_of_first_appearance_with_every_span_in_the_analysis() {
    let c = shop();
    let text = matching_text("order 777777: iPhone 15, ORDER #777777, iphone15, order 888888");
    let got = entities(&c, &text);
    assert_eq!(
        got,
        pairs(&[
            ("order", "777777"),
            ("product", "iPhone 15"),
            ("order", "888888")
        ])
    );
    let a = c.analyze(&text);
    let spans: Vec<(&str, &str, &str)> = a
        .entities
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_str(), &text[e.start..e.end]))
        .collect();
    assert_eq!(
        spans,
        vec![
            ("order", "777777", "777777"),
            ("product", "iPhone 15", "iphone 15"),
            ("order", "777777", "777777"),
            ("product", "iPhone 15", "iphone15"),
            ("order", "888888", "888888"),
        ]
    );
    assert_eq!(a.entities[3].rule, "iphone15");
    assert!(
        a.entities[0].rule.starts_with("/\\border"),
        "{:?}",
        a.entities[0]
    );
    // spans point into the matching text, accents included
    let text = matching_text("Ma crème brûlée kit");
    let e = &c.analyze(&text).entities[0];
    assert_eq!(&text[e.start..e.end], "crème brûlée kit");
    // the general intent carries entities too; noise does not
    assert!(matches!(
        c.classify(&matching_text("iphone 15 giveaway")),
        Classification::Noise { .. }
    ));
    assert_eq!(decision(&c, "iphone 15?"), "general");
}

#[test]
fn packs_without_entities_extract_nothing() {
    let p = RulePack::from_toml(
        "p",
        "name = \"p\"\n[[intent]]\nname = \"outage\"\nkeywords = [\"down\"]\n",
    )
    .unwrap();
    let c = Classifier::compile(&[p]).unwrap();
    assert!(c.entity_info().is_empty());
    assert_eq!(entities(&c, "JFK is down, order 123456"), vec![]);
    assert!(c.analyze("jfk is down").entities.is_empty());
}

#[test]
fn every_entity_problem_is_listed() {
    let bad = r#"
name = "bad"
[[intent]]
name = "a"
keywords = ["x"]
[[entity]]
name = ""
values = ["A"]
[[entity]]
name = "Airport"
values = ["JFK", "jfk", ""]
ambiguous = ["DEN", "SEA"]
aliases = { "kennedy" = "JKF", "jfk" = "JFK", "denver" = "DEN" }
patterns = ["(unclosed", "caf\u00e9 (\\d+)"]
normalize = "shout"
[[entity]]
name = "flight"
[[entity]]
name = "flight"
values = ["JFK"]
[[entity]]
name = "city"
ambiguous = ["NICE"]
"#;
    let problems = RulePack::from_toml("bad.toml", bad).unwrap_err().join("\n");
    for needle in [
        "an entity has an empty name",
        "entity `Airport`: a name is lower-case letters",
        "value \"jfk\" is listed twice",
        "has an empty value",
        "alias \"kennedy\" maps to \"JKF\", which is not in its `values` or `ambiguous`",
        "alias \"jfk\" is also a value",
        "/(unclosed/ does not compile",
        "accented letters",
        "unknown normalizer \"shout\" (one of: lower, upper, upper_nospace, nospace, digits)",
        "entity `flight` has no values, aliases or patterns",
        "entity `flight` is defined twice",
        "entity value \"jfk\" is in both `Airport` and `flight`",
        "ambiguous value \"NICE\" is never matched",
    ] {
        assert!(
            problems.contains(needle),
            "missing {needle:?} in:\n{problems}"
        );
    }
    // "SEA" has no alias but the entity has patterns: not a problem
    assert!(!problems.contains("\"SEA\""), "{problems}");
}

#[test]
fn packs_loaded_together_must_not_share_entities() {
    let a = RulePack::from_toml(
        "a",
        "name = \"a\"\n[[entity]]\nname = \"airport\"\nvalues = [\"JFK\"]\n[[entity]]\nname = \"hub\"\nvalues = [\"ORD\"]\n",
    )
    .unwrap();
    let b = RulePack::from_toml(
        "b",
        "name = \"b\"\n[[entity]]\nname = \"airport\"\nvalues = [\"LGA\"]\n[[entity]]\nname = \"gate\"\nvalues = [\"ord\"]\n",
    )
    .unwrap();
    let problems = Classifier::compile(&[a, b]).unwrap_err().join("\n");
    assert!(
        problems.contains("entity `airport` is defined by two packs (`a` and `b`)"),
        "{problems}"
    );
    assert!(
        problems.contains("entity value \"ord\" is in both `hub` and `gate`"),
        "{problems}"
    );
}

#[test]
fn airline_pack_extracts_airports_and_flights() {
    let c = airline();
    let text = "Lost my bag at JFK on AA 123 — kennedy terminal 4 is a mess";
    let m = match c.classify(&matching_text(text)) {
        Classification::Intent(m) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(m.intent, "baggage_lost");
    assert_eq!(
        m.entities
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect::<Vec<_>>(),
        vec![("airport", "JFK"), ("flight", "AA123")]
    );
    for (text, want) in [
        // how passengers write codes, names and cities
        ("stuck at jfk T4", vec![("airport", "JFK")]),
        (
            "flight from BOS to O'Hare",
            vec![("airport", "BOS"), ("airport", "ORD")],
        ),
        (
            "#LGA delays, Newark too",
            vec![("airport", "LGA"), ("airport", "EWR")],
        ),
        (
            "LAX-JFK and jfk>roc",
            vec![("airport", "LAX"), ("airport", "JFK"), ("airport", "ROC")],
        ),
        ("landed in Las Vegas", vec![("airport", "LAS")]),
        // codes that are words only count in context
        ("lost at sea, so mad, in the den with Mia", vec![]),
        (
            "from DEN to sea-tac",
            vec![("airport", "DEN"), ("airport", "SEA")],
        ),
        (
            "sitting @ mia, then mad-nyc",
            vec![("airport", "MIA"), ("airport", "MAD")],
        ),
        (
            "to san diego, not to san jose",
            vec![("airport", "SAN"), ("airport", "SJC")],
        ),
        // flights: code + number, or the number after "flight"
        (
            "ua1023 and UA 1023 and #UA-1023",
            vec![("flight", "UA1023")],
        ),
        (
            "flight 2 hours late on flight 1234",
            vec![("flight", "1234")],
        ),
        ("flt #88 delayed", vec![("flight", "88")]),
        ("gave us 200 miles as 100 people waited", vec![]),
        (
            "US624 and B6 620",
            vec![("flight", "US624"), ("flight", "B6620")],
        ),
    ] {
        let got = entities(&c, text);
        let want: Vec<(&str, &str)> = want;
        assert_eq!(got, pairs(&want), "{text}");
    }
}

#[test]
fn generic_pack_extracts_orders_and_products() {
    let c = generic();
    assert_eq!(
        entities(
            &c,
            "my order #A-1001 never arrived and pedido 1234567; the cable box and the MODEM too"
        ),
        pairs(&[
            ("order", "A1001"),
            ("order", "1234567"),
            ("product", "Set-top box"),
            ("product", "Modem"),
        ])
    );
    assert_eq!(entities(&c, "I want to order 2 routers"), pairs(&[]));
}

/// `outcry classify` shows the keywords the assignment will carry, in text and in JSON: the
/// phrases that spoke for the decision, none under a quarter of the heaviest's weight.
#[test]
fn classify_shows_the_keywords_the_assignment_carries() {
    let dir = std::env::temp_dir().join(format!("outcry-rules-kw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pack.toml"),
        "name = \"t\"\n[[intent]]\nname = \"outage\"\n[[intent.phrases]]\nterms = [\"down\"]\nweight = 4.0\n[[intent.phrases]]\nterms = [\"site\"]\nweight = 1.5\n[[intent.phrases]]\nterms = [\"the\"]\nweight = 0.5\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("outcry.toml"),
        "[rules]\npacks = [\"pack.toml\"]\n",
    )
    .unwrap();
    let run = |json: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_outcry"));
        cmd.arg("classify")
            .arg("--config")
            .arg(dir.join("outcry.toml"))
            .arg("the site is down");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().expect("run outcry");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(false);
    assert!(
        text.contains("keywords (in the assignment): down, site\n"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(run(true).lines().next().unwrap()).unwrap();
    assert_eq!(
        json["decision"]["keywords"],
        serde_json::json!(["down", "site"])
    );
}
