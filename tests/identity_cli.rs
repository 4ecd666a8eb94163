//! `outcry match` as a user runs it: an author from the command line or from a raw event file,
//! against a CRM snapshot named by the config.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A config in a fresh directory: a one-intent rule pack and the adversarial CRM fixture.
fn config_dir(name: &str, extra: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("outcry-identity-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let crm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crm/adversarial.jsonl");
    std::fs::write(
        dir.join("pack.toml"),
        "name = \"t\"\n[[intent]]\nname = \"outage\"\nkeywords = [\"down\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("outcry.toml"),
        format!(
            "[crm]\nsnapshot = {:?}\n[rules]\npacks = [\"pack.toml\"]\n{extra}",
            crm.display().to_string()
        ),
    )
    .unwrap();
    dir
}

fn outcry_match(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_outcry"))
        .arg("match")
        .arg("--config")
        .arg(dir.join("outcry.toml"))
        .args(args)
        .output()
        .expect("run outcry");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fields_on_the_command_line() {
    let dir = config_dir("fields", "");
    let (ok, out, err) = outcry_match(&dir, &["--platform", "twitter", "--id", "200"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("decision:   verified -> customer S1 (tier gold)"),
        "{out}"
    );
    assert!(out.contains("why:        verified identity x:200"), "{out}");

    let (ok, out, _) = outcry_match(
        &dir,
        &[
            "--platform",
            "facebook",
            "--id",
            "9",
            "--name",
            "Tom Baker",
            "--location",
            "Leeds",
        ],
    );
    assert!(ok);
    assert!(
        out.contains("decision:   probable -> customer T2, score 5.00"),
        "{out}"
    );
    assert!(out.contains("location \"leeds\""), "{out}");

    let (ok, out, _) = outcry_match(
        &dir,
        &[
            "--platform",
            "facebook",
            "--id",
            "9",
            "--email",
            "silva.family@gmail.com",
            "--json",
        ],
    );
    assert!(ok);
    let m: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(m["confidence"], "unknown");
    assert_eq!(m["candidates"].as_array().map(Vec::len), Some(2), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_author_of_a_raw_event() {
    let dir = config_dir("event", "[identity]\ndefault_region = \"GB\"\n");
    // A tweet; its author has a namesake customer whose phone is on record in the British way.
    let event = r#"{"data":{"id":"1860000000000000777","text":"my line is down, call me on 07700 900891","author_id":"4242","created_at":"2026-11-20T09:00:00Z"},"includes":{"users":[{"id":"4242","username":"obrown","name":"Oliver Brown"}]}}"#;
    std::fs::write(dir.join("event.json"), event).unwrap();
    let file = dir.join("event.json");
    let (ok, out, err) = outcry_match(&dir, &["--event", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("author:     x:4242, handle @obrown, name Oliver Brown"),
        "{out}"
    );
    // the name alone is not enough...
    assert!(out.contains("decision:   unknown"), "{out}");
    // ...the phone, given beside the event, is strong (read as a GB number)
    let (ok, out, _) = outcry_match(
        &dir,
        &["--event", file.to_str().unwrap(), "--phone", "07700 900891"],
    );
    assert!(ok);
    assert!(out.contains("decision:   strong -> customer P2"), "{out}");
    assert!(
        out.contains("phone +447700900891 given by the author"),
        "{out}"
    );
    // Not an event: an error, exit code 1.
    std::fs::write(dir.join("bad.json"), "{}").unwrap();
    let bad = dir.join("bad.json");
    let (ok, _, err) = outcry_match(&dir, &["--event", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("not an event outcry reads"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_identity_section_is_refused() {
    let dir = config_dir("bad", "[identity]\ndefault_region = \"Narnia\"\n");
    let (ok, _, err) = outcry_match(&dir, &["--id", "1"]);
    assert!(!ok);
    assert!(err.contains("identity.default_region \"Narnia\""), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
