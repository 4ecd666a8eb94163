//! Matching an author: the bands, the scores, the explanation. Pure, no I/O.

use super::{
    as_str, keys, phone_key, records, unpack_digits, user_key, IdentityIndex, T_EMAIL, T_HANDLE,
    T_LOC, T_NAME, T_PHONE, T_USER,
};
use crate::event::{Author, Confidence, IdentityMatch, MatchCandidate};
use std::cell::OnceCell;

/// The author's side of the comparison, folded once.
struct Probe<'a> {
    /// The author's id as record keys hold it (digits packed); made when a candidate is scored.
    author_key: OnceCell<Vec<u8>>,
    platform: String,
    /// The platform's number in the index (None: no customer has an identity there).
    pid: Option<u8>,
    author_id: String,
    handle: Option<String>,
    /// The folded name with its words sorted (the name block).
    name: Option<String>,
    /// The author's location, folded; made when a candidate is scored.
    location: OnceCell<Option<String>>,
    raw_location: Option<&'a str>,
    /// How many customers have the author's name (at least 1): the rarer, the more it weighs.
    namesakes: usize,
}

impl Probe<'_> {
    fn author_key(&self) -> &[u8] {
        self.author_key.get_or_init(|| {
            let mut k = user_key(0, &self.author_id);
            k.remove(0);
            k
        })
    }

    fn location(&self) -> Option<&str> {
        self.location
            .get_or_init(|| self.raw_location.map(keys::fold).filter(|l| !l.is_empty()))
            .as_deref()
    }
}

/// One candidate's evidence. Explanations are written only for the candidates reported.
struct Scored {
    slot: u32,
    score: f64,
    parts: Vec<Part>,
}

/// One piece of evidence and its weight.
enum Part {
    Text(&'static str),
    /// Strong keys the author gave that the candidate has, and their weight.
    Keys(String, f64),
    Handle(String, f64),
    HandleIgnored(String, String),
    OtherAccount(String, f64),
    /// Jaro-Winkler similarity, customers sharing the name, weight.
    Name(f64, usize, f64),
    Location(String, f64),
    LocationDiffers(f64),
}

impl Scored {
    fn why(&self) -> String {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => (*t).to_owned(),
                Part::Keys(k, w) => format!("{k} {w:+.2}"),
                Part::Handle(h, w) => format!("handle @{h} {w:+.2}"),
                Part::HandleIgnored(h, owner) => {
                    format!("handle @{h} is recorded for {owner}, not this author: ignored")
                }
                Part::OtherAccount(a, w) => format!("linked to another account {a} {w:+.2}"),
                Part::Name(j, 1, w) => format!("name jw {j:.2} {w:+.2}"),
                Part::Name(j, k, w) => format!("name jw {j:.2}, {k} namesakes {w:+.2}"),
                Part::Location(l, w) => format!("location \"{l}\" {w:+.2}"),
                Part::LocationDiffers(w) => format!("location differs {w:+.2}"),
            })
            .collect();
        parts.join(", ")
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn answer(
    ix: &IdentityIndex,
    slot: Option<u32>,
    confidence: Confidence,
    explanation: String,
    score: Option<f64>,
) -> IdentityMatch {
    IdentityMatch {
        customer_id: slot.map(|s| ix.id_of(s).to_owned()),
        confidence,
        explanation,
        tier: slot.and_then(|s| ix.tier_of(s)).map(str::to_owned),
        score: score.map(round2),
        candidates: Vec::new(),
        // Whenever a customer matched, whatever the band.
        context: slot.map(|s| ix.context_of(s)),
    }
}

fn ambiguous(ix: &IdentityIndex, mut scored: Vec<Scored>, what: String) -> IdentityMatch {
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    let list: Vec<String> = scored
        .iter()
        .map(|s| {
            format!(
                "{} ({:.2}{}{})",
                ix.id_of(s.slot),
                s.score,
                if s.parts.is_empty() { "" } else { ": " },
                s.why()
            )
        })
        .collect();
    IdentityMatch {
        customer_id: None,
        confidence: Confidence::Unknown,
        explanation: format!("ambiguous: {what}; candidates {}", list.join("; ")),
        tier: None,
        score: None,
        candidates: scored
            .iter()
            .map(|s| MatchCandidate {
                customer_id: ix.id_of(s.slot).to_owned(),
                score: round2(s.score),
            })
            .collect(),
        context: None,
    }
}

/// The evidence for one candidate beyond the key that found it: handle, name, location.
fn score(ix: &IdentityIndex, slot: u32, p: &Probe<'_>) -> Scored {
    let cfg = ix.config();
    let w = &cfg.weights;
    let mut s = Scored {
        slot,
        score: 0.0,
        parts: Vec::new(),
    };
    let data = ix.data(slot);
    if let (Some(h), Some(pid)) = (&p.handle, p.pid) {
        let key = platform_key(pid, h);
        if let Some(r) = records(data).find(|r| r.tag == T_HANDLE && r.key == key) {
            match r.value.first() {
                None => {
                    s.score += w.handle;
                    s.parts.push(Part::Handle(h.clone(), w.handle));
                }
                Some(&u) => {
                    let uid = records(data)
                        .nth(u as usize)
                        .map(|u| &u.key[1..])
                        .unwrap_or(&[]);
                    if uid != p.author_key() {
                        s.parts.push(Part::HandleIgnored(
                            h.clone(),
                            format!("{}:{}", p.platform, unpack_digits(uid)),
                        ));
                    }
                }
            }
        }
    }
    if let Some(pid) = p.pid {
        if let Some(r) = records(data)
            .find(|r| r.tag == T_USER && r.key[0] == pid && r.key[1..] != *p.author_key())
        {
            s.score += w.other_account;
            s.parts.push(Part::OtherAccount(
                format!("{}:{}", p.platform, unpack_digits(&r.key[1..])),
                w.other_account,
            ));
        }
    }
    if let Some(n) = &p.name {
        if let Some(r) = records(data).find(|r| r.tag == T_NAME) {
            // Words in any order: both sides compared with their words sorted.
            let theirs = as_str(r.key);
            let j = if theirs == n {
                1.0
            } else {
                strsim::jaro_winkler(n, theirs)
            };
            // Frequency-adjusted (Fellegi-Sunter with the name's own u-probability): agreeing
            // on a name k customers share is log2(k) bits less telling than on a unique one.
            let (weight, k) = if j >= cfg.name_agree {
                (w.name * j - (p.namesakes as f64).log2(), p.namesakes)
            } else {
                (w.name_disagree, 1)
            };
            s.score += weight;
            s.parts.push(Part::Name(j, k, weight));
        }
    }
    if let Some(l) = p.location() {
        if let Some(r) = records(data).find(|r| r.tag == T_LOC) {
            let theirs = as_str(r.value);
            match theirs.split('|').find(|c| keys::contains_words(l, c)) {
                Some(c) => {
                    s.score += w.location;
                    s.parts.push(Part::Location(c.to_owned(), w.location));
                }
                None => {
                    s.score += w.location_disagree;
                    s.parts.push(Part::LocationDiffers(w.location_disagree));
                }
            }
        }
    }
    s
}

fn platform_key(pid: u8, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(pid);
    k.extend_from_slice(key.as_bytes());
    k
}

fn push_unique(v: &mut Vec<u32>, slot: u32) {
    if !v.contains(&slot) {
        v.push(slot);
    }
}

pub(super) fn match_author(ix: &IdentityIndex, platform: &str, author: &Author) -> IdentityMatch {
    let platform = keys::platform(platform);
    let cfg = ix.config();

    // 1. The platform user id: immutable, the primary link.
    let pid = ix.platform_id(&platform);
    let uid = author.id.trim();
    if let Some(pid) = pid.filter(|_| !uid.is_empty()) {
        let k = user_key(pid, uid);
        let key = || format!("{platform}:{uid}");
        let linked: Vec<(u32, bool)> = ix
            .lookup(T_USER, &k)
            .map(|(s, r)| (s, r.value == [1]))
            .collect();
        match linked.as_slice() {
            [] => {}
            [(slot, verified)] => {
                let (conf, word) = if *verified {
                    (Confidence::Verified, "verified")
                } else {
                    (Confidence::Strong, "linked")
                };
                return answer(
                    ix,
                    Some(*slot),
                    conf,
                    format!("{word} identity {}", key()),
                    None,
                );
            }
            many => {
                let scored = many
                    .iter()
                    .map(|&(slot, verified)| Scored {
                        slot,
                        score: 0.0,
                        parts: vec![Part::Text(if verified { "verified" } else { "linked" })],
                    })
                    .collect();
                return ambiguous(
                    ix,
                    scored,
                    format!("identity {} is linked to {} customers", key(), many.len()),
                );
            }
        }
    }

    let mut probe = Probe {
        namesakes: 1,
        author_key: OnceCell::new(),
        author_id: uid.to_owned(),
        handle: author
            .handle
            .as_deref()
            .map(keys::handle)
            .filter(|h| !h.is_empty()),
        name: author
            .display_name
            .as_deref()
            .map(|n| keys::name_block(&keys::fold(n)))
            .filter(|n| !n.is_empty()),
        location: OnceCell::new(),
        raw_location: author.location.as_deref(),
        platform,
        pid,
    };

    // 2. Strong keys the author gave (an email or a phone, e.g. in a DM).
    let mut strong: Vec<u32> = Vec::new();
    // (tag, record key, as explained) of each strong key the author gave that found someone
    let mut said: Vec<(u8, Vec<u8>, String)> = Vec::new();
    if let Some(e) = author
        .email
        .as_deref()
        .and_then(|e| keys::email(e, cfg.email_provider_rules))
    {
        let mut hit = false;
        for (s, _) in ix.lookup(T_EMAIL, e.as_bytes()) {
            push_unique(&mut strong, s);
            hit = true;
        }
        if hit {
            said.push((T_EMAIL, e.as_bytes().to_vec(), format!("email {e}")));
        }
    }
    if let Some(p) = author
        .phone
        .as_deref()
        .and_then(|p| keys::phone(p, ix.region))
    {
        let key = phone_key(&p);
        let mut hit = false;
        for (s, _) in ix.lookup(T_PHONE, &key) {
            push_unique(&mut strong, s);
            hit = true;
        }
        if hit {
            said.push((T_PHONE, key, format!("phone {p}")));
        }
    }
    if !strong.is_empty() {
        let said_all = said
            .iter()
            .map(|(_, _, l)| l.as_str())
            .collect::<Vec<_>>()
            .join(" and ");
        let keys_of = |slot: u32| -> Vec<String> {
            said.iter()
                .filter(|(tag, key, _)| {
                    records(ix.data(slot)).any(|r| r.tag == *tag && r.key == key.as_slice())
                })
                .map(|(_, _, label)| label.clone())
                .collect()
        };
        if let [slot] = strong.as_slice() {
            return answer(
                ix,
                Some(*slot),
                Confidence::Strong,
                format!("{} given by the author", keys_of(*slot).join(" and ")),
                None,
            );
        }
        // Shared (a family's email): more keys agreeing, then the other evidence, decide.
        let mut scored: Vec<Scored> = strong
            .iter()
            .map(|&slot| {
                let mut s = score(ix, slot, &probe);
                let k = keys_of(slot);
                s.score += 10.0 * k.len() as f64;
                s.parts
                    .insert(0, Part::Keys(k.join(" and "), 10.0 * k.len() as f64));
                s
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        if scored[0].score - scored[1].score >= cfg.ambiguity_margin {
            let best = &scored[0];
            return answer(
                ix,
                Some(best.slot),
                Confidence::Strong,
                format!(
                    "{} given by the author, shared by {} customers; {} beats {} by {:.2}",
                    said_all,
                    scored.len(),
                    best.why(),
                    ix.id_of(scored[1].slot),
                    best.score - scored[1].score
                ),
                Some(best.score),
            );
        }
        return ambiguous(
            ix,
            scored,
            format!("{} shared by several customers", said_all),
        );
    }

    // 3. Probable: scored evidence for the customers the handle or the name leads to.
    let mut cands: Vec<u32> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    if let (Some(h), Some(pid)) = (&probe.handle, probe.pid) {
        for (s, _) in ix.lookup(T_HANDLE, &platform_key(pid, h)) {
            push_unique(&mut cands, s);
        }
    }
    if let Some(block) = &probe.name {
        // Counting entries first reads no record: a too common name costs only table probes.
        let cap = cfg.max_name_candidates;
        let k = ix.count_hash(T_NAME, block.as_bytes(), cap + 1);
        let w = &cfg.weights;
        let at_most = w.name - (k.max(1) as f64).log2() + w.location;
        if k > cap {
            notes.push(format!(
                "name \"{block}\" is shared by more than {cap} customers: too common to weigh"
            ));
        } else if k > 0 && at_most < cfg.probable_threshold {
            // Name and location together could not reach the threshold: not worth reading.
            probe.namesakes = k;
            notes.push(format!(
                "name \"{block}\" is shared by {k} customers: with the location it could score at most {at_most:.2} < {:.2}",
                cfg.probable_threshold
            ));
        } else if k > 0 {
            let named: Vec<u32> = ix
                .lookup(T_NAME, block.as_bytes())
                .map(|(s, _)| s)
                .collect();
            probe.namesakes = named.len().max(1);
            for s in named {
                push_unique(&mut cands, s);
            }
        }
    }
    let mut scored: Vec<Scored> = cands.iter().map(|&s| score(ix, s, &probe)).collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    let who = format!("{}:{}", probe.platform, probe.author_id);
    match scored.as_slice() {
        [] => {
            notes.insert(0, format!("no CRM key for {who}"));
            answer(ix, None, Confidence::Unknown, notes.join("; "), None)
        }
        [best, rest @ ..] if best.score >= cfg.probable_threshold => {
            if let Some(second) = rest.first() {
                if best.score - second.score < cfg.ambiguity_margin {
                    let floor = best.score - cfg.ambiguity_margin;
                    let close = scored
                        .into_iter()
                        .filter(|s| s.score > floor)
                        .collect::<Vec<_>>();
                    return ambiguous(
                        ix,
                        close,
                        format!(
                            "customers within {:.2} of each other for {who}",
                            cfg.ambiguity_margin
                        ),
                    );
                }
            }
            let mut why = best.why();
            why.push_str(&format!(
                "; score {:.2} >= {:.2}",
                best.score, cfg.probable_threshold
            ));
            if let Some(second) = rest.first() {
                why.push_str(&format!(
                    "; next {} at {:.2}",
                    ix.id_of(second.slot),
                    second.score
                ));
            }
            answer(
                ix,
                Some(best.slot),
                Confidence::Probable,
                why,
                Some(best.score),
            )
        }
        [..] => {
            let below: Vec<String> = scored
                .iter()
                .take(3)
                .map(|s| format!("{} {:.2} ({})", ix.id_of(s.slot), s.score, s.why()))
                .collect();
            notes.insert(
                0,
                format!(
                    "no CRM key for {who}; below the probable threshold {:.2}: {}",
                    cfg.probable_threshold,
                    below.join("; ")
                ),
            );
            answer(ix, None, Confidence::Unknown, notes.join("; "), None)
        }
    }
}
