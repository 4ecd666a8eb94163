//! Identity matching against an adversarial CRM (tests/fixtures/crm/): namesakes, a reused
//! handle, a family's shared email, phones written as people write them, Debezium moves and
//! deletes, the CSV snapshot, and thresholds from the config.

use outcry::event::{Author, Confidence, CustomerContext, IdentityMatch};
use outcry::identity::{
    load_snapshot, load_snapshot_file, parse_change, ChangeBatch, IdentityConfig, IdentityIndex,
};
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/crm")
        .join(name)
}

fn crm_with(config: IdentityConfig) -> IdentityIndex {
    let mut ix = IdentityIndex::with_config(config);
    let n = load_snapshot_file(&fixture("adversarial.jsonl"), &mut ix).unwrap();
    assert_eq!(n, 12);
    ix
}

fn crm() -> IdentityIndex {
    crm_with(IdentityConfig::default())
}

fn author(id: &str) -> Author {
    Author {
        id: id.into(),
        ..Author::default()
    }
}

fn named(id: &str, name: &str, location: Option<&str>) -> Author {
    Author {
        display_name: Some(name.into()),
        location: location.map(Into::into),
        ..author(id)
    }
}

fn who(m: &IdentityMatch) -> (Option<&str>, Confidence) {
    (m.customer_id.as_deref(), m.confidence)
}

fn candidates(m: &IdentityMatch) -> Vec<&str> {
    let mut c: Vec<&str> = m
        .candidates
        .iter()
        .map(|c| c.customer_id.as_str())
        .collect();
    c.sort();
    c
}

#[test]
fn same_display_name_for_two_people() {
    let ix = crm();
    // The name alone is not enough, whoever it is.
    let m = ix.match_author("facebook", &named("fb1", "Tom Baker", None));
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    // Name plus a location that tells them apart: probable, with the evidence and the score.
    // The name is shared by two customers, so it weighs a bit (log2 2) less than a unique one.
    let m = ix.match_author("facebook", &named("fb1", "TOM BAKER", Some("Leeds, UK")));
    assert_eq!(who(&m), (Some("T2"), Confidence::Probable), "{m:?}");
    assert!(
        m.explanation.contains("name jw 1.00, 2 namesakes +2.50"),
        "{m:?}"
    );
    assert!(m.explanation.contains("location \"leeds\" +2.50"), "{m:?}");
    assert!(m.explanation.contains("next T1 at 1.00"), "{m:?}");
    assert_eq!(m.score, Some(5.0));
    // A unique name weighs fully.
    let m = ix.match_author("facebook", &named("fb2", "Zhang Wei", None));
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    let m = ix.match_author("facebook", &named("fb3", "Ana Silva", Some("Lisboa")));
    assert_eq!(who(&m), (Some("F1"), Confidence::Probable), "{m:?}");
    assert!(m.explanation.starts_with("name jw 1.00 +3.50"), "{m:?}");
    // T1 lives in London and has another account on x: London and x point to nobody certain.
    let m = ix.match_author("facebook", &named("fb1", "Baker Tom", Some("London")));
    assert_eq!(who(&m), (Some("T1"), Confidence::Probable), "{m:?}");
    // On x, T1's own account is 101: another x account with T1's name and city is not T1.
    let m = ix.match_author("x", &named("999", "Tom Baker", Some("London")));
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    assert!(
        m.explanation.contains("linked to another account x:101"),
        "{m:?}"
    );
}

#[test]
fn namesakes_in_the_same_city_are_ambiguous_never_a_coin_toss() {
    let mut ix = crm();
    // T1 moves to Leeds: two Tom Bakers in Leeds.
    ix.upsert(serde_json::from_str(r#"{"id":"T1","name":"Tom Baker","city":"Leeds"}"#).unwrap());
    let m = ix.match_author("facebook", &named("fb1", "Tom Baker", Some("Leeds")));
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    assert_eq!(candidates(&m), ["T1", "T2"]);
    assert!(m.explanation.starts_with("ambiguous"), "{m:?}");
    assert!(m.candidates.iter().all(|c| c.score == 5.0));
    // A third one: the name alone now says even less, and nobody is probable.
    ix.upsert(serde_json::from_str(r#"{"id":"T3","name":"Tom Baker","city":"Leeds"}"#).unwrap());
    let m = ix.match_author("facebook", &named("fb1", "Tom Baker", Some("Leeds")));
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    assert!(
        m.explanation.contains(
            "shared by 3 customers: with the location it could score at most 4.42 < 5.00"
        ),
        "{m:?}"
    );
    // ...unless other evidence finds one of them: then the name weighs what it is worth.
    let mut a = named("ig1", "Tom Baker", Some("Leeds"));
    a.handle = Some("tb_leeds".into());
    ix.upsert(
        serde_json::from_str(
            r#"{"id":"T3","name":"Tom Baker","city":"Leeds","identities":[{"platform":"instagram","handle":"tb_leeds"}]}"#,
        )
        .unwrap(),
    );
    let m = ix.match_author("instagram", &a);
    assert_eq!(who(&m), (Some("T3"), Confidence::Probable), "{m:?}");
    assert!(m.explanation.contains("3 namesakes +1.92"), "{m:?}");
}

#[test]
fn a_name_too_common_to_weigh_finds_nobody() {
    let mut ix = IdentityIndex::with_config(IdentityConfig {
        max_name_candidates: 3,
        ..IdentityConfig::default()
    });
    for i in 0..4 {
        ix.upsert(
            serde_json::from_str(&format!(
                r#"{{"id":"J{i}","name":"John Smith","city":"Leeds"}}"#
            ))
            .unwrap(),
        );
    }
    let m = ix.match_author("facebook", &named("fb", "John Smith", Some("Leeds")));
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    assert!(
        m.explanation.contains("shared by more than 3 customers"),
        "{m:?}"
    );
    ix.remove("J3");
    let m = ix.match_author("facebook", &named("fb", "John Smith", Some("Leeds")));
    assert!(!m.explanation.contains("too common"), "{m:?}");
}

#[test]
fn a_reused_or_impersonated_handle_is_not_a_match() {
    let ix = crm();
    // The real account.
    let m = ix.match_author("twitter", &author("200"));
    assert_eq!(who(&m), (Some("S1"), Confidence::Verified));
    // Same handle, another platform id: the handle is ignored, whatever else is copied.
    let mut a = named("666", "Sunny Day", Some("Austin, TX"));
    a.handle = Some("@Sunny".into());
    a.verified = true; // a platform's blue check is not our verified link
    let m = ix.match_author("x", &a);
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    assert!(
        m.explanation
            .contains("handle @sunny is recorded for x:200, not this author: ignored"),
        "{m:?}"
    );
    // A handle recorded without a platform id is evidence, but only probable.
    let mut a = author("17841400000000001");
    a.handle = Some("hana.k".into());
    let m = ix.match_author("instagram", &a);
    assert_eq!(who(&m), (Some("H1"), Confidence::Probable), "{m:?}");
    assert!(m.explanation.contains("handle @hana.k +5.00"), "{m:?}");
    // ...and only on its platform.
    let m = ix.match_author("x", &a);
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
}

#[test]
fn a_family_sharing_one_email() {
    let ix = crm();
    let mut a = author("dm-1");
    a.email = Some(" Silva.Family+orders@GMAIL.com ".into());
    let m = ix.match_author("facebook", &a);
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    assert_eq!(candidates(&m), ["F1", "F2"]);
    assert!(
        m.explanation.contains("email silvafamily@gmail.com"),
        "{m:?}"
    );
    // Their name tells them apart: strong, saying it was the name that decided.
    a.display_name = Some("Rui Silva".into());
    let m = ix.match_author("facebook", &a);
    assert_eq!(who(&m), (Some("F2"), Confidence::Strong), "{m:?}");
    assert!(m.explanation.contains("shared by 2 customers"), "{m:?}");
    assert!(m.explanation.contains("beats F1"), "{m:?}");
    // A phone only Ana has, beside the shared email: two keys beat one.
    let mut a = author("dm-2");
    a.email = Some("silvafamily@gmail.com".into());
    a.phone = Some("+351912345678".into());
    let m = ix.match_author("facebook", &a);
    assert_eq!(who(&m), (Some("F1"), Confidence::Strong), "{m:?}");
    // Without the provider rules the plus-tagged address is another address.
    let ix = crm_with(IdentityConfig {
        email_provider_rules: false,
        ..IdentityConfig::default()
    });
    let mut a = author("dm-1");
    a.email = Some("silva.family+orders@gmail.com".into());
    assert_eq!(
        ix.match_author("facebook", &a).confidence,
        Confidence::Unknown
    );
    a.email = Some("SILVA.family@gmail.com".into());
    assert_eq!(
        who(&ix.match_author("facebook", &a)),
        (Some("F1"), Confidence::Strong)
    );
}

#[test]
fn phones_written_the_ways_people_write_them() {
    let ix = crm();
    for (written, customer) in [
        ("(415) 555-0101", "P1"),
        ("415.555.0101", "P1"),
        ("+1 415-555-0101", "P1"),
        ("1 (415) 555 0101", "P1"),
        ("+44 7700 900891", "P2"),
        ("+44 (0)7700 900891", "P2"),
        ("0044 7700 900891", "P2"),
        ("+49 30 1234567", "P3"),
        ("+49 (0)30 123 45 67", "P3"),
        ("+33 6 12 34 56 78", "P4"),
        ("+91-98765-43210", "P5"),
        ("+91 9876543210", "P5"),
    ] {
        let mut a = author("dm");
        a.phone = Some(written.into());
        let m = ix.match_author("facebook", &a);
        assert_eq!(
            who(&m),
            (Some(customer), Confidence::Strong),
            "{written}: {m:?}"
        );
        assert!(m.explanation.starts_with("phone +"), "{m:?}");
    }
    // National forms are read with the configured default region.
    let ix = crm_with(IdentityConfig {
        default_region: "GB".into(),
        ..IdentityConfig::default()
    });
    let mut a = author("dm");
    a.phone = Some("07700 900891".into());
    assert_eq!(ix.match_author("x", &a).customer_id.as_deref(), Some("P2"));
    let ix = crm_with(IdentityConfig {
        default_region: "FR".into(),
        ..IdentityConfig::default()
    });
    a.phone = Some("06.12.34.56.78".into());
    assert_eq!(ix.match_author("x", &a).customer_id.as_deref(), Some("P4"));
    // ...and a number that is not one matches nothing.
    a.phone = Some("call me maybe".into());
    assert_eq!(ix.match_author("x", &a).confidence, Confidence::Unknown);
}

#[test]
fn an_unverified_link_is_strong_and_a_probable_match_is_never_verified() {
    let ix = crm();
    let m = ix.match_author("reddit", &author("t2_lee"));
    assert_eq!(who(&m), (Some("U1"), Confidence::Strong));
    assert_eq!(m.explanation, "linked identity reddit:t2_lee");
    let mut a = named("x-lee", "Lee Chen", None);
    a.verified = true;
    a.handle = Some("leechen".into());
    let m = ix.match_author("x", &a);
    assert!(m.confidence < Confidence::Strong, "{m:?}");
}

fn change(key: &str, payload: Option<&str>) -> outcry::identity::CustomerChange {
    parse_change(Some(key.as_bytes()), payload.map(str::as_bytes)).unwrap()
}

#[test]
fn a_debezium_update_moves_an_identity_and_a_delete_forgets() {
    let mut ix = crm();
    let id = |ix: &IdentityIndex| ix.match_author("x", &author("101"));
    assert_eq!(who(&id(&ix)), (Some("T1"), Confidence::Verified));
    // The account is linked to T2 first: until T1 loses it, two customers claim it.
    ix.apply(change(
        r#"{"id":"T2"}"#,
        Some(
            r#"{"schema":{},"payload":{"op":"u","before":{"id":"T2","name":"Tom Baker"},"after":{"id":"T2","name":"Tom Baker","city":"Leeds","identities":[{"platform":"x","user_id":"101","handle":"tombaker","verified":true}]},"source":{"table":"customers"},"ts_ms":1}}"#,
        ),
    ));
    let m = id(&ix);
    assert_eq!(who(&m), (None, Confidence::Unknown), "{m:?}");
    assert_eq!(candidates(&m), ["T1", "T2"]);
    ix.apply(change(
        r#"{"id":"T1"}"#,
        Some(
            r#"{"op":"u","before":{"id":"T1","identities":[{"platform":"x","user_id":"101"}]},"after":{"id":"T1","name":"Tom Baker","city":"London","emails":["tom.baker@example.com"]}}"#,
        ),
    ));
    assert_eq!(who(&id(&ix)), (Some("T2"), Confidence::Verified));
    // T1 keeps its email.
    let mut a = author("?");
    a.email = Some("TOM.BAKER@example.com".into());
    assert_eq!(
        who(&ix.match_author("x", &a)),
        (Some("T1"), Confidence::Strong)
    );
    // A Debezium delete, then a tombstone.
    let before = ix.len();
    ix.apply(change(
        r#"{"id":"T2"}"#,
        Some(r#"{"op":"d","before":{"id":"T2"},"after":null}"#),
    ));
    let m = id(&ix);
    assert_eq!(who(&m), (None, Confidence::Unknown));
    assert_eq!(m.explanation, "no CRM key for x:101");
    ix.apply(change("T1", None));
    assert_eq!(ix.len(), before - 2);
    assert!(ix.get("T1").is_none() && ix.get("T2").is_none());
    assert_eq!(ix.match_author("x", &a).confidence, Confidence::Unknown);
    // Deleting what is not there is harmless; re-adding works.
    ix.apply(change("T1", None));
    ix.apply(change(
        "T1",
        Some(r#"{"id":"T1","identities":[{"platform":"x","user_id":"101","verified":true}]}"#),
    ));
    assert_eq!(who(&id(&ix)), (Some("T1"), Confidence::Verified));
}

#[test]
fn every_key_goes_when_every_customer_goes() {
    let mut ix = crm();
    let ids: Vec<String> = std::fs::read_to_string(fixture("adversarial.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // Upserting every customer again leaves the same keys, not twice as many.
    let keys = format!("{ix:?}");
    load_snapshot_file(&fixture("adversarial.jsonl"), &mut ix).unwrap();
    assert_eq!(format!("{ix:?}"), keys);
    for id in &ids {
        assert!(ix.remove(id), "{id}");
    }
    assert!(ix.is_empty());
    let dbg = format!("{ix:?}");
    assert!(dbg.contains("keys: 0"), "{dbg}");
}

#[test]
fn the_csv_snapshot() {
    let mut ix = IdentityIndex::new();
    let n = load_snapshot_file(&fixture("customers.csv"), &mut ix).unwrap();
    assert_eq!(n, 3);
    let m = ix.match_author("x", &author("1500000003"));
    assert_eq!(who(&m), (Some("C1"), Confidence::Verified));
    assert_eq!(m.tier.as_deref(), Some("silver"));
    let c = ix.get("C1").unwrap();
    assert_eq!(c.name.as_deref(), Some("muller zoe"));
    assert!(c.keys.contains(&"phone +49309876543".to_owned()), "{c:?}");
    assert!(c.keys.contains(&"email zoe.muller@work.example".to_owned()));
    // `yes` is verified too; a handle-only identity is kept.
    assert_eq!(
        ix.match_author("x", &author("1500000002")).confidence,
        Confidence::Verified
    );
    let mut a = named("ig-9", "Chidi Okafor", Some("New York City"));
    a.handle = Some("Chidi.O".into());
    let m = ix.match_author("instagram", &a);
    assert_eq!(who(&m), (Some("C2"), Confidence::Probable), "{m:?}");
    // name + location without the handle: the names' order differs, the weights still add up
    let m = ix.match_author("facebook", &named("fb", "Zoe Mueller", Some("Munchen")));
    assert_eq!(m.customer_id, None, "{m:?}: mueller is not muller by block");
    // Bad rows are all listed with their line.
    let err = load_snapshot(
        "bad.csv",
        "id,name,value\nA,Ann,1\n,Nobody,2\nB,Bob,lots\n",
        &mut ix,
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
    assert!(err.problems[0].starts_with("line 3: empty id"), "{err}");
    assert!(err.problems[1].contains("line 4"), "{err}");
    assert!(load_snapshot("x.csv", "name\nAnn\n", &mut ix).is_err());
}

#[test]
fn thresholds_and_weights_come_from_the_config() {
    let strict = crm_with(IdentityConfig {
        probable_threshold: 6.5,
        ..IdentityConfig::default()
    });
    let a = named("fb1", "Tom Baker", Some("Leeds"));
    assert_eq!(
        strict.match_author("facebook", &a).confidence,
        Confidence::Unknown
    );
    assert_eq!(
        crm().match_author("facebook", &a).confidence,
        Confidence::Probable
    );
    // a wide margin makes the Leeds/London pair ambiguous for a Leeds author
    let wary = crm_with(IdentityConfig {
        ambiguity_margin: 20.0,
        ..IdentityConfig::default()
    });
    let mut b = a.clone();
    b.email = Some("tbaker@example.org".into());
    // a strong key is never made ambiguous by the margin alone
    assert_eq!(
        who(&wary.match_author("facebook", &b)),
        (Some("T2"), Confidence::Strong)
    );
}

#[test]
fn the_config_section_is_read_and_checked() {
    let c = outcry::config::Config::parse(
        "[identity]\ndefault_region = \"gb\"\nprobable_threshold = 6.0\n[identity.weights]\nlocation = 3.0\n",
        Vec::new(),
    )
    .unwrap();
    assert_eq!(c.identity.region(), Some(phonenumber::country::Id::GB));
    assert_eq!(c.identity.weights.location, 3.0);
    let err = outcry::config::Config::parse(
        "[identity]\ndefault_region = \"Mars\"\nambiguity_margin = -1.0\n",
        Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert!(outcry::config::Config::parse("[identity]\nregion = \"US\"\n", Vec::new()).is_err());
}

/// The CRM context of a customer comes and goes with its record: a Debezium update replaces
/// it whole (fields it no longer has are gone), a delete forgets it; a batch of the same
/// messages ends in the same state.
#[test]
fn a_debezium_update_replaces_the_context() {
    let messages: [(&str, Option<&str>); 4] = [
        (
            "D1",
            Some(
                r#"{"id":"D1","tier":"gold","segment":"smb","do_not_contact":true,"open_cases":2,"value":99.5,"upcoming":[{"date":"2026-07-01"}],"related":["D2"],"identities":[{"platform":"x","user_id":"501","verified":true}]}"#,
            ),
        ),
        ("D2", Some(r#"{"id":"D2","tier":"silver"}"#)),
        (
            r#"{"id":"D1"}"#,
            Some(
                r#"{"schema":{},"payload":{"op":"u","before":{"id":"D1","segment":"smb"},"after":{"id":"D1","tier":"gold","segment":"enterprise","language":"de-AT","identities":[{"platform":"x","user_id":"501","verified":true}]}}}"#,
            ),
        ),
        ("D2", None),
    ];
    let mut ix = IdentityIndex::new();
    ix.apply(change(messages[0].0, messages[0].1));
    ix.apply(change(messages[1].0, messages[1].1));
    let first = CustomerContext {
        value: Some(99.5),
        segment: Some("smb".into()),
        open_cases: 2,
        upcoming_ms: vec![1_782_864_000_000],
        related_tiers: vec!["silver".into()],
        do_not_contact: true,
        ..CustomerContext::default()
    };
    assert_eq!(ix.context_of_customer("D1"), Some(first.clone()));
    assert_eq!(ix.match_author("x", &author("501")).context, Some(first));
    ix.apply(change(messages[2].0, messages[2].1));
    let second = CustomerContext {
        segment: Some("enterprise".into()),
        language: Some("de".into()),
        ..CustomerContext::default()
    };
    let m = ix.match_author("x", &author("501"));
    assert_eq!(who(&m), (Some("D1"), Confidence::Verified));
    assert_eq!(m.context, Some(second.clone()), "do_not_contact is lifted");
    assert_eq!(ix.context_of_customer("D1"), Some(second.clone()));
    ix.apply(change(messages[3].0, messages[3].1));
    assert_eq!(ix.context_of_customer("D2"), None);

    let mut batch = ChangeBatch::new();
    for (k, p) in messages {
        batch.push(Some(k.as_bytes()), p.map(str::as_bytes));
    }
    let mut bx = IdentityIndex::new();
    let report = bx.apply_batch(&batch);
    assert_eq!((report.applied, report.problems.len()), (4, 0));
    assert_eq!(bx.context_of_customer("D1"), Some(second));
    assert_eq!(bx.len(), 1);

    ix.apply(change(
        "D1",
        Some(r#"{"op":"d","before":{"id":"D1"},"after":null}"#),
    ));
    assert_eq!(ix.context_of_customer("D1"), None);
    assert_eq!(ix.match_author("x", &author("501")).context, None);
}

#[test]
fn the_csv_snapshot_carries_the_context() {
    let mut ix = IdentityIndex::new();
    let csv = "id,tier,segment,language,value,open_cases,do_not_contact,related,upcoming\n\
               R1,gold,smb,EN-gb,10.5,4,yes,R2;R3,2026-07-01|1800000000|not a date\n\
               R2,silver,,,,,,,\n";
    assert_eq!(load_snapshot("c.csv", csv, &mut ix).unwrap(), 2);
    assert_eq!(
        ix.context_of_customer("R1"),
        Some(CustomerContext {
            value: Some(10.5),
            segment: Some("smb".into()),
            language: Some("en".into()),
            open_cases: 4,
            upcoming_ms: vec![1_782_864_000_000, 1_800_000_000_000],
            related_tiers: vec!["silver".into()],
            do_not_contact: true,
        })
    );
    assert_eq!(
        ix.context_of_customer("R2"),
        Some(CustomerContext::default())
    );
    let err = load_snapshot("c.csv", "id,open_cases\nR3,many\n", &mut ix).unwrap_err();
    assert!(err.problems[0].starts_with("line 2: open_cases"), "{err}");
}

/// A snapshot is parsed on several threads and applied in order: a later line for the same
/// id wins, and every bad line is reported with its number, in order.
#[test]
fn a_large_snapshot_loads_in_order() {
    let mut text = String::new();
    let mut bad = Vec::new();
    for line in 1..=40_000usize {
        if line % 9_999 == 0 {
            text.push_str("{\"id\": 12\n");
            bad.push(line);
        } else {
            // ids repeat: line l and line l + 20,000 are the same customer
            let id = line % 20_000;
            text.push_str(&format!(
                "{{\"id\":\"S{id}\",\"tier\":\"t{}\",\"identities\":[{{\"platform\":\"x\",\"user_id\":\"{}\"}}]}}\n",
                line / 20_000,
                9_000_000 + line
            ));
        }
    }
    let mut ix = IdentityIndex::new();
    let err = load_snapshot("big.jsonl", &text, &mut ix).unwrap_err();
    let lines: Vec<usize> = err
        .problems
        .iter()
        .map(|p| p["line ".len()..p.find(':').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(lines, bad);
    assert_eq!(ix.len(), 20_000);
    // S5 was written at lines 5 and 20,005: the second one stands, keys and tier
    assert_eq!(ix.get("S5").unwrap().tier.as_deref(), Some("t1"));
    assert_eq!(
        ix.match_author("x", &author("9020005"))
            .customer_id
            .as_deref(),
        Some("S5")
    );
    assert_eq!(ix.match_author("x", &author("9000005")).customer_id, None);
}
