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
/// and on texts built to hit negation, ties, patterns and noise overrides, for both packs.
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
        ]
        .map(String::from),
    );
    for c in [generic(), airline()] {
        let mut intents = std::collections::BTreeSet::new();
        for t in &texts {
            let m = matching_text(t);
            let fast = c.classify(&m);
            assert_eq!(fast, decide(&c.analyze(&m)), "{t}");
            if let Classification::Intent(i) = fast {
                intents.insert(i.intent);
            }
        }
        assert!(
            intents.len() >= 4,
            "the texts reach several intents: {intents:?}"
        );
    }
}
