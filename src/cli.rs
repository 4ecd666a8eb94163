//! cli: the `outcry` command line. Each subcommand is a thin call into the library.

use crate::claim::{ClaimStore, RedisClaimStore};
use crate::config::{Config, Loaded};
use crate::demo::{self, DemoOptions};
use crate::event::Author;
use crate::intent::Classification;
use crate::normalize::matching_text;
use crate::telemetry::{init_tracing, Metrics};
use crate::worker::{Status, Worker};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

const DEFAULT_CONFIG: &str = "config/outcry.toml";

#[derive(Parser)]
#[command(
    name = "outcry",
    version,
    about = "Social-CRM routing daemon: every customer who speaks up gets exactly one owner",
    long_about = "outcry reads raw social events from Kafka, normalizes them, matches their authors to CRM \
customers, classifies intent with keyword automata, routes them to a department with a priority \
and an SLA, claims ownership atomically in Redis and emits assignment events back to Kafka. It \
takes the helpdesk's feedback (bounces go to the next department, then the escalation queue), \
acts on SLA breaches, raises incidents from bursts of similar posts, and serves an outbound \
gate and each customer's history over HTTP.\n\n\
Start with `outcry demo` (no servers needed). Configuration: config/outcry.toml, overridable \
with OUTCRY__SECTION__KEY environment variables."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: consume `social.raw` and `helpdesk.feedback`, claim in Redis, produce
    /// assignments, interactions and alerts, sweep SLA deadlines, serve /metrics, /readyz, the
    /// outbound gate and history. Rule packs and routing reload on SIGHUP or when their files
    /// change; an invalid set is refused and the running one stays.
    Run {
        /// Configuration file (TOML).
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Replay the bundled sample feed through the real worker on an in-process Kafka; no
    /// servers needed. Prints what was assigned, the incident the feed raises, and a customer
    /// bounced to the escalation queue.
    Demo {
        /// Use this Redis (e.g. redis://127.0.0.1:6379) instead of the in-memory claim store.
        #[arg(long)]
        redis: Option<String>,
        /// Replay this JSONL file (one raw event per line) instead of the bundled feed.
        #[arg(long)]
        feed: Option<String>,
    },
    /// Check a configuration and everything it points to; lists every problem.
    Check {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Classify texts with the configured rule packs: every intent with its score and matched
    /// spans, noise, sentiment, and where the text would be routed.
    ///
    /// Spans are byte offsets into the matching text (NFKC, case-folded, whitespace
    /// collapsed), which is printed beside them.
    Classify {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Use these rule packs instead of the config's (repeatable); routing stays the
        /// config's.
        #[arg(long, value_name = "PACK.toml")]
        pack: Vec<PathBuf>,
        /// Classify each line of this file ("-" for stdin).
        #[arg(long, value_name = "FILE", conflicts_with = "csv")]
        file: Option<PathBuf>,
        /// Classify a column of this CSV file (with a header row); see --column.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// The CSV column to classify.
        #[arg(long, default_value = "text", requires = "csv")]
        column: String,
        /// One JSON object per text instead of the readable report.
        #[arg(long)]
        json: bool,
        /// Replay the texts through two packs and report how many decisions move, from which
        /// intent and route to which, with samples and their phrases (before a site swaps
        /// packs). JSONL lines are read for their `text` field (at any depth: raw events and
        /// stored interactions alike).
        #[arg(long, num_args = 2, value_names = ["OLD_PACK", "NEW_PACK"], conflicts_with_all = ["pack", "json"])]
        compare: Vec<PathBuf>,
        /// With --compare: samples shown per move.
        #[arg(long, default_value_t = 3)]
        samples: usize,
        /// The text (several arguments are joined with spaces).
        text: Vec<String>,
    },
    /// Look an author up in the identity index (the configured CRM snapshot) and explain the
    /// decision: verified, strong, probable or unknown, which keys agreed, and the scores.
    ///
    /// The author comes from a raw event (`--event FILE`, any input shape; `-` for stdin) or
    /// from the fields given here; fields given beside `--event` override the event's.
    Match {
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// A raw event (JSON, in its platform's own shape) whose author to look up.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// Platform of the author (x, facebook, reddit, ...); with --event, the `platform`
        /// header to read the event with.
        #[arg(long)]
        platform: Option<String>,
        /// The platform's user id.
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        handle: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Location as the author wrote it on their profile.
        #[arg(long)]
        location: Option<String>,
        /// Print the decision as JSON (the `identity` object of an assignment event).
        #[arg(long)]
        json: bool,
    },
    /// Publish a file of raw events into a topic (default: the configured `social.raw`), as a
    /// connector would: keyed by author id, with a progress line and a summary.
    ///
    /// JSONL files hold one raw event per line. `.csv` files are read in the shape of the
    /// Customer Support on Twitter corpus: inbound rows become X v2 events with their reply
    /// threading; brand replies are skipped.
    Replay {
        /// The file: .jsonl (one event per line) or .csv (Customer Support on Twitter shape).
        file: PathBuf,
        /// Configuration file: brokers, topic and producer settings come from it.
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Kafka bootstrap servers (overrides the config).
        #[arg(long)]
        brokers: Option<String>,
        /// Topic to publish to (default: the config's raw topic).
        #[arg(long)]
        topic: Option<String>,
        /// At most this many events per second (default: as fast as the broker takes them).
        #[arg(long)]
        rate: Option<f64>,
        /// Set this `platform` header on every message (x, facebook, reddit, canonical, ...).
        #[arg(long)]
        platform: Option<String>,
        /// Don't publish: write the events as JSONL to this file ("-" for stdout), e.g. to
        /// make a benchmark corpus from a CSV export.
        #[arg(long, value_name = "FILE")]
        write_jsonl: Option<PathBuf>,
    },
    /// Create the topics the configuration names (`kafka.topics.*`), as outcry expects them.
    ///
    /// Creates social.raw, crm.customers (compacted: `cleanup.policy=compact`, the latest
    /// record per customer is its state), helpdesk.feedback, outcry.assignments,
    /// outcry.interactions, outcry.alerts and outcry.deadletter, under the names the config
    /// gives them. Topics that exist already are reported and left as they are (their
    /// partitions and settings are not changed), so running it again is safe. Exits non-zero
    /// if a topic could not be created or the brokers cannot be reached.
    ///
    /// The number of partitions bounds how many workers share the load: each partition is
    /// read by one worker of the group.
    Topics {
        /// Configuration file: brokers, security settings and topic names come from it.
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Kafka bootstrap servers (overrides the config).
        #[arg(long)]
        brokers: Option<String>,
        /// Partitions of every topic created.
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// Replicas of every partition (default: 3, or the number of brokers if fewer).
        #[arg(long)]
        replication: Option<i32>,
        /// Only show which topics exist and which would be created.
        #[arg(long)]
        dry_run: bool,
        /// How long to wait for the brokers and for the created topics to appear.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Learn a rule pack from labelled posts: a weighted phrase set per intent (word 1-3-grams,
    /// plain or negation-scoped, by L1- or elastic-net-regularised logistic regression) and a
    /// three-sided sentiment model (rows with an empty sentiment train the intents only),
    /// with thresholds calibrated and scores measured by k-fold cross-validation. Writes a pack
    /// `outcry check` and `outcry classify` read (docs/rules.md, "Learned packs").
    ///
    /// Example: outcry learn airline.csv --map config/learn/airline.toml --out airline.toml
    Learn {
        /// The labelled export: .csv (with a header row) or .jsonl (one JSON object per line).
        data: PathBuf,
        /// The mapping file: columns, label -> intent, severities, pins, vetoes, base pack and
        /// settings (config/learn/*.toml). Without one, every label is an intent.
        #[arg(long, value_name = "MAP.toml")]
        map: Option<PathBuf>,
        /// Where to write the pack ("-": stdout).
        #[arg(long, short, value_name = "PACK.toml")]
        out: PathBuf,
        /// The pack's name (default: the mapping file's, else "learned").
        #[arg(long)]
        name: Option<String>,
        /// The column with the text (default: the mapping file's, else "text").
        #[arg(long)]
        text_column: Option<String>,
        /// The column with the intent label.
        #[arg(long)]
        label_column: Option<String>,
        /// The column with negative / neutral / positive.
        #[arg(long)]
        sentiment_column: Option<String>,
        /// The intents' loss weight (larger: more phrases).
        #[arg(long)]
        c: Option<f64>,
        /// Folds of the cross-validation.
        #[arg(long)]
        folds: Option<usize>,
        /// The pack's `version` (default: learned-DATE).
        #[arg(long)]
        version: Option<String>,
        /// No progress lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Benchmark the matching stage (raw bytes to decision) beside JSON parsing alone, with the
    /// cost of the two output records and where the stage's time goes (normalize, identity,
    /// classify, route).
    Bench {
        /// JSONL corpus (one raw event per line); default: the bundled sample feed.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Seconds to measure each case.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
}

pub fn main() -> ExitCode {
    // `outcry run` stops cleanly on SIGTERM at any moment, even before its handler exists: the
    // signals wait blocked (threads started meanwhile inherit the mask) until `run` has
    // installed it. The other commands get the default behaviour back at once.
    set_termination_signals_blocked(true);
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. }) {
        set_termination_signals_blocked(false);
    }
    // The daemon logs its life, as text or JSON (`log.format`); the tools only their warnings
    // (RUST_LOG overrides both). The format is read before the config is loaded, so that the
    // load itself is logged in it; a config that can't be read is reported by `run`.
    match &cli.command {
        Command::Run { config } => init_tracing(
            "info,librdkafka=warn,rdkafka=warn",
            std::fs::read_to_string(config)
                .ok()
                .and_then(|t| Config::parse(&t, std::env::vars()).ok())
                .map(|c| c.log.format)
                .unwrap_or_default(),
        ),
        _ => init_tracing("warn", Default::default()),
    }
    match cli.command {
        Command::Run { config } => run(&config),
        Command::Demo { redis, feed } => runtime().block_on(async {
            match demo::run(DemoOptions {
                redis,
                feed,
                ..DemoOptions::default()
            })
            .await
            {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("demo failed: {e}")),
            }
        }),
        Command::Check { config } => match load(&config) {
            Ok(l) => {
                println!("{} is valid", config.display());
                println!(
                    "  rule packs: {} ({} phrases, {} patterns; languages: {})",
                    l.classifier.packs.join(", "),
                    l.classifier.phrase_count,
                    l.classifier.pattern_count,
                    l.classifier.languages().join(", ")
                );
                println!(
                    "  noise categories: {}",
                    l.classifier.noise_names().collect::<Vec<_>>().join(", ")
                );
                println!(
                    "  intents: {}",
                    l.classifier.intent_names().collect::<Vec<_>>().join(", ")
                );
                let entities = l.classifier.entity_info();
                let mut packs: Vec<&str> = entities.iter().map(|e| e.pack.as_str()).collect();
                packs.dedup();
                for pack in packs {
                    let list: Vec<String> = entities
                        .iter()
                        .filter(|e| e.pack == pack)
                        .map(|e| {
                            format!(
                                "{} ({} values, {} aliases, {} patterns)",
                                e.name, e.values, e.aliases, e.patterns
                            )
                        })
                        .collect();
                    println!("  entities of {pack}: {}", list.join(", "));
                }
                println!(
                    "  routes: {} ({}); escalation {}, bounce limit {}",
                    l.config.routing.route.len(),
                    l.config
                        .routing
                        .route
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    l.router.escalation(),
                    l.router.bounce_limit()
                );
                println!("  departments: {}", l.router.departments().join(", "));
                for d in &l.config.detector {
                    println!(
                        "  detector {}: {:?} in {} grouped by {}, owned by {}",
                        d.name,
                        d.threshold,
                        humantime::format_duration(d.window.0),
                        d.group_keys().join("+"),
                        d.team
                    );
                }
                println!("  customers in snapshot: {}", l.index.len());
                println!(
                    "  kafka: {} (group {}), redis: {}",
                    l.config.kafka.brokers, l.config.kafka.group_id, l.config.redis.url
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Classify {
            config,
            pack,
            file,
            csv,
            column,
            json,
            compare,
            samples,
            text,
        } => classify(ClassifyArgs {
            compare,
            samples,
            config,
            pack,
            file,
            csv,
            column,
            json,
            text,
        }),
        Command::Match {
            config,
            event,
            platform,
            id,
            handle,
            email,
            phone,
            name,
            location,
            json,
        } => match load(&config) {
            Ok(l) => {
                let (platform, mut author) = match &event {
                    Some(path) => match author_of_event(&l, path, platform.as_deref()) {
                        Ok(pa) => pa,
                        Err(e) => return fail(&e),
                    },
                    None => (platform.unwrap_or_else(|| "x".into()), Author::default()),
                };
                let set = |field: &mut Option<String>, v: Option<String>| {
                    if v.is_some() {
                        *field = v;
                    }
                };
                if let Some(id) = id {
                    author.id = id;
                }
                set(&mut author.handle, handle);
                set(&mut author.email, email);
                set(&mut author.phone, phone);
                set(&mut author.display_name, name);
                set(&mut author.location, location);
                let m = l.index.match_author(&platform, &author);
                if json {
                    println!("{}", serde_json::to_string_pretty(&m).expect("serializes"));
                } else {
                    print!("{}", crate::identity::render_match(&platform, &author, &m));
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Bench { corpus, seconds } => bench(corpus.as_deref(), seconds),
        Command::Topics {
            config,
            brokers,
            partitions,
            replication,
            dry_run,
            timeout,
        } => topics(TopicsArgs {
            config,
            brokers,
            partitions,
            replication,
            dry_run,
            timeout,
        }),
        Command::Learn {
            data,
            map,
            out,
            name,
            text_column,
            label_column,
            sentiment_column,
            c,
            folds,
            version,
            quiet,
        } => learn(LearnArgs {
            data,
            map,
            out,
            name,
            text_column,
            label_column,
            sentiment_column,
            c,
            folds,
            version,
            quiet,
        }),
        Command::Replay {
            file,
            config,
            brokers,
            topic,
            rate,
            platform,
            write_jsonl,
        } => replay(ReplayArgs {
            file,
            config,
            brokers,
            topic,
            rate,
            platform,
            write_jsonl,
        }),
    }
}

struct ClassifyArgs {
    compare: Vec<PathBuf>,
    samples: usize,
    config: PathBuf,
    pack: Vec<PathBuf>,
    file: Option<PathBuf>,
    csv: Option<PathBuf>,
    column: String,
    json: bool,
    text: Vec<String>,
}

/// `outcry classify`: the analysis and routing decision of one text, each line of a file, or
/// a CSV column.
fn classify(a: ClassifyArgs) -> ExitCode {
    use crate::intent::{decide, Classifier, RulePack};
    let l = match load(&a.config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let classifier = if !a.compare.is_empty() || a.pack.is_empty() {
        l.classifier.clone()
    } else {
        let mut packs = Vec::new();
        let mut problems = Vec::new();
        for p in &a.pack {
            match std::fs::read_to_string(p)
                .map_err(|e| vec![format!("{}: {e}", p.display())])
                .and_then(|t| RulePack::from_toml(&p.display().to_string(), &t))
            {
                Ok(pack) => packs.push(pack),
                Err(e) => problems.extend(e),
            }
        }
        match Classifier::compile(&packs) {
            Ok(c) if problems.is_empty() => c,
            Ok(_) => return fail(&problems.join("\n  - ")),
            Err(e) => {
                problems.extend(e);
                return fail(&problems.join("\n  - "));
            }
        }
    };
    if !a.compare.is_empty() {
        return match read_texts(&a) {
            Ok(texts) => compare(&l, &a, &texts),
            Err(e) => fail(&e),
        };
    }
    let unrouted = unrouted_intents(&l, &classifier);
    if !unrouted.is_empty() {
        eprintln!(
            "note: {} names no route for intents {} of the packs: they take its catch-all route. \
             Route them in [[routing.route]] or pass the site's config (--config; for the airline \
             pack: config/airline.toml).",
            a.config.display(),
            unrouted.join(", ")
        );
    }
    let texts: Vec<String> = if let Some(path) = &a.csv {
        let mut reader = match csv::Reader::from_path(path) {
            Ok(r) => r,
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        };
        let col = match reader
            .headers()
            .map(|h| h.iter().position(|c| c == a.column))
        {
            Ok(Some(c)) => c,
            Ok(None) => return fail(&format!("{}: no column `{}`", path.display(), a.column)),
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        };
        let mut out = Vec::new();
        for (row, rec) in reader.records().enumerate() {
            match rec {
                Ok(r) => out.push(r.get(col).unwrap_or("").to_owned()),
                Err(e) => return fail(&format!("{}: row {}: {e}", path.display(), row + 2)),
            }
        }
        out
    } else if let Some(path) = &a.file {
        let read = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        };
        match read {
            Ok(t) => t.lines().map(str::to_owned).collect(),
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        }
    } else if !a.text.is_empty() {
        vec![a.text.join(" ")]
    } else {
        return fail("give a text, --file FILE or --csv FILE --column NAME");
    };
    let mut out = String::new();
    for text in &texts {
        let matching = matching_text(text);
        let analysis = classifier.analyze(&matching);
        let decision = decide(&analysis);
        // Only the text is known: an unknown author posting on X, read now.
        let route = match &decision {
            Classification::Intent(m) => Some(l.router.route(&crate::route::Facts {
                intent: m,
                identity: &crate::event::IdentityMatch::unknown("classify: no author"),
                event: &crate::event::CanonicalEvent::bare("x", "classify", text),
                now_ms: crate::normalize::time::now_ms(),
            })),
            Classification::Noise { .. } => None,
        };
        if a.json {
            let (kind, intent, severity) = match &decision {
                Classification::Intent(m) if m.intent == crate::intent::GENERAL => {
                    ("general", Some(m.intent.clone()), Some(m.severity))
                }
                Classification::Intent(m) => ("intent", Some(m.intent.clone()), Some(m.severity)),
                Classification::Noise { .. } => ("noise", None, None),
            };
            let v = serde_json::json!({
                "text": text,
                "matching_text": matching,
                "decision": {
                    "kind": kind,
                    "intent": intent,
                    "severity": severity,
                    "noise": (kind == "noise").then(|| analysis.noise.iter().find(|n| n.qualifies).map(|n| n.name.clone())),
                    "keywords": match &decision {
                        Classification::Intent(m) => &m.keywords,
                        Classification::Noise { keywords } => keywords,
                    },
                },
                "route": route.as_ref().map(|r| serde_json::json!({
                    "route": &*r.rule,
                    "department": r.department(),
                    "queue": r.queue(),
                    "candidates": r.candidates.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "priority": r.priority.as_str(),
                    "priority_score": r.score,
                    "sla": humantime::format_duration(r.sla).to_string(),
                    "resolution": humantime::format_duration(r.resolution).to_string(),
                    "reasons": r.reasons,
                })),
                "analysis": analysis,
            });
            out.push_str(&v.to_string());
            out.push('\n');
            continue;
        }
        out.push_str(&format!("text: {text}\nmatching text: {matching}\n"));
        match (&decision, &route) {
            (Classification::Intent(m), Some(r)) => {
                out.push_str(&format!(
                    "decision: intent {} (severity {}) -> {} at {} ({} points; first response within {}, resolution within {})\n",
                    m.intent,
                    m.severity,
                    r.target(),
                    r.priority,
                    r.score,
                    humantime::format_duration(r.sla),
                    humantime::format_duration(r.resolution)
                ));
                if r.candidates.len() > 1 {
                    let next: Vec<String> =
                        r.candidates[1..].iter().map(ToString::to_string).collect();
                    out.push_str(&format!(
                        "  if bounced: {}, then {}\n",
                        next.join(", then "),
                        r.escalation
                    ));
                }
                for why in &r.reasons {
                    out.push_str(&format!("  because {why}\n"));
                }
                if !m.keywords.is_empty() {
                    out.push_str(&format!(
                        "  keywords (in the assignment): {}\n",
                        m.keywords.join(", ")
                    ));
                }
            }
            _ => out.push_str(&format!(
                "decision: noise ({}): counted and dropped, never assigned\n",
                analysis
                    .noise
                    .iter()
                    .find(|n| n.qualifies)
                    .map_or("-", |n| n.name.as_str())
            )),
        }
        for (what, list) in [("intent", &analysis.intents), ("noise", &analysis.noise)] {
            for s in list {
                out.push_str(&format!(
                    "  {what} {} score {}{} (needs {}){}\n",
                    s.name,
                    (s.score * 100.0).round() / 100.0,
                    if s.bias != 0.0 {
                        format!(", bias {} included", s.bias)
                    } else {
                        String::new()
                    },
                    s.min_score,
                    if s.qualifies {
                        ""
                    } else {
                        " - below min_score"
                    }
                ));
                for sp in &s.spans {
                    out.push_str(&format!(
                        "    {}..{} \"{}\" rule {} weight {}{}{}\n",
                        sp.start,
                        sp.end,
                        &matching[sp.start..sp.end],
                        sp.rule,
                        sp.weight,
                        sp.lang
                            .as_deref()
                            .map(|l| format!(" [{l}]"))
                            .unwrap_or_default(),
                        if sp.negated { " NEGATED" } else { "" }
                    ));
                }
            }
        }
        let s = &analysis.sentiment;
        out.push_str(&format!(
            "  sentiment {} (polarity {:.2}; +{} -{}){}\n",
            s.label,
            s.polarity,
            s.positive,
            s.negative,
            s.spans
                .iter()
                .map(|sp| format!(
                    " \"{}\"{}",
                    &matching[sp.start..sp.end],
                    if sp.negated { " (negated)" } else { "" }
                ))
                .collect::<String>()
        ));
        if !analysis.languages.is_empty() {
            out.push_str(&format!("  languages: {}\n", analysis.languages.join(", ")));
        }
        if let Classification::Intent(m) = &decision {
            if !m.entities.is_empty() {
                let list: Vec<String> = m
                    .entities
                    .iter()
                    .map(|e| format!("{}={}", e.name, e.value))
                    .collect();
                out.push_str(&format!("  entities: {}\n", list.join(", ")));
            }
        }
        for e in &analysis.entities {
            out.push_str(&format!(
                "    {}..{} \"{}\" {} = {} rule {}\n",
                e.start,
                e.end,
                &matching[e.start..e.end],
                e.name,
                e.value,
                e.rule
            ));
        }
        out.push('\n');
    }
    print!("{out}");
    ExitCode::SUCCESS
}

struct ReplayArgs {
    file: PathBuf,
    config: PathBuf,
    brokers: Option<String>,
    topic: Option<String>,
    rate: Option<f64>,
    platform: Option<String>,
    write_jsonl: Option<PathBuf>,
}

fn replay(a: ReplayArgs) -> ExitCode {
    use crate::replay::{self, Format};
    if let Some(rate) = a.rate.filter(|r| !(*r > 0.0 && r.is_finite())) {
        return fail(&format!(
            "--rate {rate}: give a positive number of events per second"
        ));
    }
    let read = match Format::of_path(&a.file) {
        Format::Jsonl => std::fs::read_to_string(&a.file)
            .map(|t| replay::read_jsonl(&t))
            .map_err(|e| e.to_string()),
        Format::TwcsCsv => std::fs::File::open(&a.file)
            .map_err(|e| e.to_string())
            .and_then(replay::read_twcs_csv),
    };
    let read = match read {
        Ok(r) => r,
        Err(e) => return fail(&format!("{}: {e}", a.file.display())),
    };
    for (row, why) in read.bad_rows.iter().take(10) {
        eprintln!("warning: {}:{row}: row skipped: {why}", a.file.display());
    }
    eprintln!(
        "read {} events from {}{}{}",
        read.records.len(),
        a.file.display(),
        if read.skipped_outbound > 0 {
            format!(" ({} brand replies skipped)", read.skipped_outbound)
        } else {
            String::new()
        },
        if read.bad_rows.is_empty() {
            String::new()
        } else {
            format!(" ({} unreadable rows skipped)", read.bad_rows.len())
        },
    );
    if let Some(out) = &a.write_jsonl {
        let mut text = String::new();
        for r in &read.records {
            text.push_str(&r.payload);
            text.push('\n');
        }
        let written = if out.as_os_str() == "-" {
            use std::io::Write;
            std::io::stdout().write_all(text.as_bytes())
        } else {
            std::fs::write(out, text)
        };
        return match written {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("{}: {e}", out.display())),
        };
    }
    // Only the Kafka part of the config matters here; a missing default config is fine.
    let config = match std::fs::read_to_string(&a.config) {
        Ok(text) => match Config::parse(&text, std::env::vars()) {
            Ok(c) => c,
            Err(e) => return fail(&format!("{}: {e}", a.config.display())),
        },
        Err(_) if a.config == Path::new(DEFAULT_CONFIG) => {
            match Config::parse("", std::env::vars()) {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            }
        }
        Err(e) => return fail(&format!("{}: {e}", a.config.display())),
    };
    let max_record_bytes = config.limits.max_record_bytes();
    let mut kafka = config.kafka;
    if let Some(b) = a.brokers {
        kafka.brokers = b;
    }
    let topic = a.topic.unwrap_or(kafka.topics.raw.clone());
    let producer: rdkafka::producer::FutureProducer =
        match crate::kafka::producer_config(&kafka, max_record_bytes).create() {
            Ok(p) => p,
            Err(e) => return fail(&format!("kafka producer: {e}")),
        };
    if a.rate.is_some() {
        // A paced replay is timed from each record's due moment: learn the topic's partitions
        // before the first one is due, or the first records wait in librdkafka for them.
        use rdkafka::producer::Producer;
        if let Err(e) = producer
            .client()
            .fetch_metadata(Some(&topic), std::time::Duration::from_secs(10))
        {
            eprintln!("replay: warning: no metadata for {topic} yet: {e}");
        }
    }
    let total = read.records.len();
    let (done, error) = runtime().block_on(replay::publish(
        &producer,
        &topic,
        &read.records,
        a.platform.as_deref(),
        a.rate,
        |p| {
            eprintln!(
                "replay: {}/{total} sent, {} acknowledged, {} failed ({:.0} events/s)",
                p.sent,
                p.acknowledged,
                p.failed,
                p.acknowledged as f64 / p.elapsed.as_secs_f64().max(1e-3)
            )
        },
    ));
    match error {
        None => {
            eprintln!(
                "replayed {} events to {topic} on {} in {:.1} s",
                done.acknowledged,
                kafka.brokers,
                done.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Some(e) => fail(&format!(
            "{} of {total} events were not acknowledged by {}; first error: {e}",
            done.failed, kafka.brokers
        )),
    }
}

struct TopicsArgs {
    config: PathBuf,
    brokers: Option<String>,
    partitions: i32,
    replication: Option<i32>,
    dry_run: bool,
    timeout: Duration,
}

/// `outcry topics`: create the configured topics that are missing, report the others.
fn topics(a: TopicsArgs) -> ExitCode {
    use crate::kafka::admin;
    // Only the Kafka part of the config matters; a missing default config means the defaults.
    let config = match std::fs::read_to_string(&a.config) {
        Ok(text) => Config::parse(&text, std::env::vars())
            .map_err(|e| format!("{}: {e}", a.config.display())),
        Err(_) if a.config == Path::new(DEFAULT_CONFIG) => {
            Config::parse("", std::env::vars()).map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("{}: {e}", a.config.display())),
    };
    let mut kafka = match config {
        Ok(c) => c.kafka,
        Err(e) => return fail(&e),
    };
    if let Some(b) = a.brokers {
        kafka.brokers = b;
    }
    let plan = admin::plan(&kafka.topics, a.partitions);
    let report = runtime().block_on(admin::ensure_topics(
        &kafka,
        &plan,
        a.replication,
        a.dry_run,
        a.timeout,
    ));
    match report {
        Ok(r) => {
            println!(
                "topics on {} ({} broker{}){}:",
                kafka.brokers,
                r.brokers,
                if r.brokers == 1 { "" } else { "s" },
                if a.dry_run { ", dry run" } else { "" }
            );
            print!("{}", r.render());
            match r.failed() {
                0 => ExitCode::SUCCESS,
                n => fail(&format!(
                    "{n} of {} topics could not be created",
                    plan.len()
                )),
            }
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// The platform and author of a raw event file, read by the same normalizers as the worker.
fn author_of_event(
    l: &Loaded,
    path: &Path,
    platform_header: Option<&str>,
) -> Result<(String, Author), String> {
    let raw = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let limits = crate::normalize::Limits {
        max_payload_bytes: l.config.limits.max_payload_bytes,
        // a saved event may be old or from a test clock: its time does not matter here
        max_future_skew_ms: i64::MAX / 4,
    };
    let e = crate::normalize::normalize(
        raw.trim_ascii(),
        platform_header,
        &limits,
        crate::normalize::time::now_ms(),
    )
    .map_err(|r| format!("{}: not an event outcry reads: {r}", path.display()))?;
    Ok((e.platform, e.author))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

fn load(path: &Path) -> Result<Loaded, ExitCode> {
    if !path.exists() {
        eprintln!("error: {}", missing_config(path));
        return Err(ExitCode::from(2));
    }
    Config::load_file(path).map_err(|e| {
        eprint!("error: {}: {e}", path.display());
        ExitCode::from(2)
    })
}

/// What to say when the config file is not there: where it was looked for and how to name one.
fn missing_config(path: &Path) -> String {
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "the current directory".into());
    let default = if path == Path::new(DEFAULT_CONFIG) {
        " (the default, relative to the current directory)"
    } else {
        ""
    };
    format!(
        "no config file {}{default}: looked in {cwd}. Pass one with --config FILE, e.g. \
         --config path/to/outcry/config/outcry.toml (generic) or config/airline.toml (airline)",
        path.display()
    )
}

/// Intents the packs define that no route names: they take the catch-all route.
fn unrouted_intents(l: &Loaded, c: &crate::intent::Classifier) -> Vec<String> {
    c.intent_names()
        .filter(|i| {
            !l.config
                .routing
                .route
                .iter()
                .any(|r| r.intents.iter().any(|x| x == i))
        })
        .map(str::to_owned)
        .collect()
}

fn run(config: &Path) -> ExitCode {
    runtime().block_on(async move {
        // Signals first: a SIGTERM while the config and the CRM snapshot load is a clean stop
        // (exit 0), not death by the signal's default action.
        let (stop_tx, stop_rx) = watch::channel(false);
        let signals = TerminationSignals::install();
        // A signal that arrived since `main` started is pending: it is handled now.
        set_termination_signals_blocked(false);
        tokio::spawn(async move {
            signals.recv().await;
            tracing::info!("shutdown requested: draining");
            let _ = stop_tx.send(true);
        });
        let path = config.to_path_buf();
        let loaded = match tokio::task::spawn_blocking(move || load(&path)).await {
            Ok(Ok(l)) => l,
            Ok(Err(code)) => return code,
            Err(e) => return fail(&format!("loading the configuration: {e}")),
        };
        if *stop_rx.borrow() {
            return ExitCode::SUCCESS;
        }
        let metrics = Metrics::new();
        let status = Arc::new(Status::default());
        // A worker (re)started while Redis is down waits for it instead of exiting: a Redis
        // restart must not crash-loop the workers being restarted meanwhile.
        let mut backoff = Duration::from_millis(200);
        let mut stop = stop_rx.clone();
        let store: Arc<dyn ClaimStore> = loop {
            match RedisClaimStore::from_config(
                &loaded.config.redis,
                loaded.config.history.policy(),
            )
            .await
            {
                Ok(s) => break Arc::new(s),
                Err(crate::claim::ClaimError::Unavailable(e)) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "the claim store is not reachable yet; not consuming until it is");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return ExitCode::SUCCESS,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return fail(&e.to_string()),
            }
        };
        tracing::info!(
            customers = loaded.index.len(),
            packs = %loaded.classifier.packs.join(","),
            "configuration loaded"
        );
        let pipeline: crate::pipeline::SharedPipeline = loaded.pipeline().into();
        tokio::spawn(crate::reload::watch(
            config.to_path_buf(),
            pipeline.clone(),
            Arc::clone(&metrics),
            stop_rx.clone(),
        ));
        let index = Arc::new(RwLock::new(loaded.index));
        // The HTTP API (outbound gate, history) shares the worker's store, index and metrics.
        if !loaded.config.http.listen.is_empty() {
            let state = crate::http::HttpState::new(
                Arc::clone(&metrics),
                Arc::clone(&status),
                Arc::clone(&store),
                Arc::clone(&index),
                loaded.config.contact_policy(),
            );
            match crate::http::serve(&loaded.config.http.listen, state, stop_rx.clone()).await {
                Ok((addr, _)) => tracing::info!(
                    %addr,
                    "serving /metrics /healthz /readyz /v1/outbound /v1/owners/{{owner_key}}/history"
                ),
                Err(e) => return fail(&format!("http.listen {}: {e}", loaded.config.http.listen)),
            }
        }
        let worker = Worker {
            config: loaded.config.clone(),
            pipeline,
            index,
            store,
            metrics,
            status,
        };
        match worker.run(stop_rx).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        }
    })
}

/// SIGTERM and SIGINT, handled by tokio from the moment this is made.
struct TerminationSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl TerminationSignals {
    /// Install the handlers (inside the runtime).
    fn install() -> TerminationSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            TerminationSignals {
                term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
                int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            }
        }
        #[cfg(not(unix))]
        TerminationSignals {}
    }

    /// Resolves at the first of them.
    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Block (or unblock) SIGTERM and SIGINT on the calling thread; threads it starts inherit it.
fn set_termination_signals_blocked(blocked: bool) {
    #[cfg(unix)]
    // SAFETY: a zeroed sigset_t emptied by sigemptyset, then two valid signal numbers;
    // pthread_sigmask only reads the set and writes no old set (null).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let how = if blocked {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
    #[cfg(not(unix))]
    let _ = blocked;
}

fn bench(corpus: Option<&Path>, seconds: f64) -> ExitCode {
    let loaded = match demo::embedded_config() {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string()),
    };
    let text = match corpus {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => return fail(&format!("{}: {e}", p.display())),
        },
        None => demo::FEED.to_owned(),
    };
    let events: Vec<Vec<u8>> = demo::feed_lines(&text)
        .into_iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    if events.is_empty() {
        return fail("the corpus has no events");
    }
    let pipeline = loaded.pipeline();
    let results = crate::bench::run(
        &pipeline,
        &loaded.index,
        &events,
        Duration::from_secs_f64(seconds.max(0.1)),
    );
    print!("{}", crate::bench::render(&results, events.len()));
    let stages = crate::bench::stages(&pipeline, &loaded.index, &events);
    print!("{}", crate::bench::render_stages(&stages));
    let outcomes = crate::bench::outcomes(&pipeline, &loaded.index, &events);
    print!("{}", crate::bench::render_outcomes(&outcomes));
    ExitCode::SUCCESS
}

struct LearnArgs {
    data: PathBuf,
    map: Option<PathBuf>,
    out: PathBuf,
    name: Option<String>,
    text_column: Option<String>,
    label_column: Option<String>,
    sentiment_column: Option<String>,
    c: Option<f64>,
    folds: Option<usize>,
    version: Option<String>,
    quiet: bool,
}

/// `outcry learn`: read the export and the mapping file, learn, write and check the pack.
fn learn(a: LearnArgs) -> ExitCode {
    use crate::intent::{Classifier, RulePack};
    use crate::learn::{Header, NegationSpec, Spec};
    use sha2::{Digest, Sha256};
    let started = std::time::Instant::now();
    let say = |msg: &str| {
        if !a.quiet {
            eprintln!("learn: {msg} ({:.1} s)", started.elapsed().as_secs_f64());
        }
    };
    let mut spec: Spec = match &a.map {
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(s) => s,
            Err(e) => return fail(&format!("{}: {e}", p.display())),
        },
        None => match toml::from_str("name = \"learned\"") {
            Ok(s) => s,
            Err(e) => return fail(&e.to_string()),
        },
    };
    if let Some(n) = a.name {
        spec.name = n;
    }
    if let Some(c) = a.text_column {
        spec.text_column = c;
    }
    if a.label_column.is_some() {
        spec.label_column = a.label_column;
    }
    if a.sentiment_column.is_some() {
        spec.sentiment_column = a.sentiment_column;
    }
    if let Some(c) = a.c {
        spec.settings.c = c;
    }
    if let Some(f) = a.folds {
        spec.settings.folds = f;
    }
    if spec.label_column.is_none() && spec.sentiment_column.is_none() {
        return fail("nothing to learn: give --label-column and/or --sentiment-column (or a --map that names them)");
    }
    // The base pack: negation cues, languages, noise and entities.
    let mut negation = NegationSpec {
        cues: Vec::new(),
        window: 3,
    };
    let mut languages: Vec<String> = spec.lang.iter().cloned().collect();
    let mut extra = String::new();
    let mut base_pack = None;
    if let Some(base) = &spec.base {
        let dir = a
            .map
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        let path = dir.join(base);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => return fail(&format!("base pack {}: {e}", path.display())),
        };
        let pack = match RulePack::from_toml(&path.display().to_string(), &text) {
            Ok(p) => p,
            Err(e) => return fail(&e.join("\n  - ")),
        };
        negation.window = pack.negation.window;
        for g in &pack.negation.cues {
            if g.lang.is_none()
                || spec.lang.is_none()
                || g.lang == spec.lang
                || g.lang
                    .as_ref()
                    .is_some_and(|l| spec.keep_languages.contains(l))
            {
                for t in &g.terms {
                    let f = crate::intent::fold::fold_phrase(t);
                    if !negation.cues.contains(&f) {
                        negation.cues.push(f);
                    }
                }
            }
        }
        if !pack.languages.is_empty() {
            languages = pack.languages.clone();
        }
        let table: toml::Table = match toml::from_str(&text) {
            Ok(t) => t,
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        };
        let mut keep = toml::Table::new();
        for key in ["noise", "entity"] {
            if let Some(v) = table.get(key) {
                keep.insert(key.to_owned(), v.clone());
            }
        }
        let kept: Vec<toml::Value> = table
            .get("intent")
            .and_then(toml::Value::as_array)
            .map(|all| {
                all.iter()
                    .filter(|i| {
                        i.get("name")
                            .and_then(toml::Value::as_str)
                            .is_some_and(|n| spec.keep_intents.iter().any(|k| k == n))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if kept.len() != spec.keep_intents.len() {
            return fail(&format!(
                "keep_intents {:?}: not all are intents of {}",
                spec.keep_intents,
                path.display()
            ));
        }
        if !kept.is_empty() {
            keep.insert("intent".into(), toml::Value::Array(kept));
        }
        extra = match toml::to_string(&keep) {
            Ok(t) => t,
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        };
        base_pack = Some(pack);
    }
    if !spec.keep_languages.is_empty() && base_pack.is_none() {
        return fail("keep_languages needs a base pack (`base = ...`) to keep phrases from");
    }
    let bytes = match std::fs::read(&a.data) {
        Ok(b) => b,
        Err(e) => return fail(&format!("{}: {e}", a.data.display())),
    };
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let examples = match read_labelled(&a.data, &bytes, &spec) {
        Ok(x) => x,
        Err(e) => return fail(&format!("{}: {e}", a.data.display())),
    };
    say(&format!(
        "read {} rows from {}",
        examples.len(),
        a.data.display()
    ));
    let mut model = match crate::learn::learn(&examples, &spec, &negation, &mut |m| say(m)) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    if let Some(base) = &base_pack {
        model.keep_hand_phrases(base, &spec.keep_languages);
    }
    let date = chrono::DateTime::from_timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        0,
    )
    .map(|d| d.format("%Y-%m-%d").to_string())
    .unwrap_or_default();
    let header = Header {
        data: a.data.file_name().map_or_else(
            || a.data.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        ),
        sha256,
        version: a.version.unwrap_or_else(|| format!("learned-{date}")),
        date,
        languages,
    };
    let text = model.to_toml(&spec, &header, &negation, &extra);
    // The pack must be one the compiler takes.
    let compiled = RulePack::from_toml(&a.out.display().to_string(), &text)
        .and_then(|p| Classifier::compile(&[p]));
    let c = match compiled {
        Ok(c) => c,
        Err(e) => {
            return fail(&format!(
                "the learned pack does not compile:\n  - {}",
                e.join("\n  - ")
            ))
        }
    };
    let written = if a.out.as_os_str() == "-" {
        print!("{text}");
        Ok(())
    } else {
        std::fs::write(&a.out, &text)
    };
    if let Err(e) = written {
        return fail(&format!("{}: {e}", a.out.display()));
    }
    say(&format!(
        "wrote {} ({} learned phrase weights over {} intents{})",
        a.out.display(),
        c.learned_count,
        model.intents.len(),
        if model.sentiment.is_some() {
            " and sentiment"
        } else {
            ""
        }
    ));
    ExitCode::SUCCESS
}

/// The labelled rows of a CSV (header row) or JSONL export.
fn read_labelled(
    path: &Path,
    bytes: &[u8],
    spec: &crate::learn::Spec,
) -> Result<Vec<crate::learn::Example>, String> {
    use crate::learn::Example;
    let jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("json"));
    let mut out = Vec::new();
    if jsonl {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let field = |v: &serde_json::Value, k: &Option<String>| -> Option<String> {
            let f = v.get(k.as_deref()?)?;
            Some(match f {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            })
        };
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
            let Some(text) = field(&v, &Some(spec.text_column.clone())) else {
                return Err(format!("line {}: no field `{}`", n + 1, spec.text_column));
            };
            out.push(Example {
                text,
                label: field(&v, &spec.label_column),
                sentiment: field(&v, &spec.sentiment_column),
            });
        }
        return Ok(out);
    }
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "no column `{name}` (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let text_ix = col(&spec.text_column)?;
    let label_ix = spec.label_column.as_deref().map(col).transpose()?;
    let sentiment_ix = spec.sentiment_column.as_deref().map(col).transpose()?;
    for (row, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("row {}: {e}", row + 2))?;
        let get = |i: Option<usize>| i.map(|i| rec.get(i).unwrap_or("").to_owned());
        out.push(Example {
            text: rec.get(text_ix).unwrap_or("").to_owned(),
            label: get(label_ix),
            sentiment: get(sentiment_ix),
        });
    }
    Ok(out)
}

/// The texts of `classify --compare`: a CSV column, the lines of a file (JSONL lines: their
/// `text` field, found at any depth), or the arguments.
fn read_texts(a: &ClassifyArgs) -> Result<Vec<String>, String> {
    if let Some(path) = &a.csv {
        let mut reader =
            csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let col = reader
            .headers()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .iter()
            .position(|c| c == a.column)
            .ok_or_else(|| format!("{}: no column `{}`", path.display(), a.column))?;
        let mut out = Vec::new();
        for (row, rec) in reader.records().enumerate() {
            let r = rec.map_err(|e| format!("{}: row {}: {e}", path.display(), row + 2))?;
            out.push(r.get(col).unwrap_or("").to_owned());
        }
        return Ok(out);
    }
    if let Some(path) = &a.file {
        let t = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        fn find_text(v: &serde_json::Value) -> Option<&str> {
            match v {
                serde_json::Value::Object(m) => m
                    .get("text")
                    .and_then(serde_json::Value::as_str)
                    .or_else(|| m.values().find_map(find_text)),
                serde_json::Value::Array(a) => a.iter().find_map(find_text),
                _ => None,
            }
        }
        return Ok(t
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                Ok(v @ serde_json::Value::Object(_)) => find_text(&v).unwrap_or("").to_owned(),
                _ => l.to_owned(),
            })
            .collect());
    }
    if !a.text.is_empty() {
        return Ok(vec![a.text.join(" ")]);
    }
    Err("give a text, --file FILE or --csv FILE --column NAME".into())
}

/// Compile one pack file.
fn compile_pack(path: &Path) -> Result<crate::intent::Classifier, String> {
    use crate::intent::{Classifier, RulePack};
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let pack =
        RulePack::from_toml(&path.display().to_string(), &text).map_err(|e| e.join("\n  - "))?;
    Classifier::compile(&[pack]).map_err(|e| e.join("\n  - "))
}

/// `outcry classify --compare OLD NEW`: what moves when a site swaps packs.
fn compare(l: &Loaded, a: &ClassifyArgs, texts: &[String]) -> ExitCode {
    use std::collections::BTreeMap;
    let (old, new) = match (compile_pack(&a.compare[0]), compile_pack(&a.compare[1])) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    let now_ms = crate::normalize::time::now_ms();
    // (intent or noise, route, phrases) of a text under a classifier.
    let decide_with =
        |c: &crate::intent::Classifier, text: &str| -> (String, String, Vec<String>) {
            match c.classify(&matching_text(text)) {
                Classification::Intent(m) => {
                    let r = l.router.route(&crate::route::Facts {
                        intent: &m,
                        identity: &crate::event::IdentityMatch::unknown("classify: no author"),
                        event: &crate::event::CanonicalEvent::bare("x", "classify", text),
                        now_ms,
                    });
                    (m.intent.clone(), r.rule.to_string(), m.keywords.clone())
                }
                Classification::Noise { keywords } => ("noise".into(), "-".into(), keywords),
            }
        };
    type Move = ((String, String), (String, String));
    type Samples = Vec<(usize, Vec<String>, Vec<String>)>;
    let mut moves: BTreeMap<Move, Samples> = BTreeMap::new();
    let mut intent_moves = 0usize;
    for (i, t) in texts.iter().enumerate() {
        let (oi, or, ok) = decide_with(&old, t);
        let (ni, nr, nk) = decide_with(&new, t);
        if oi != ni {
            intent_moves += 1;
        }
        if oi != ni || or != nr {
            moves
                .entry(((oi, or), (ni, nr)))
                .or_default()
                .push((i, ok, nk));
        }
    }
    let moved: usize = moves.values().map(Vec::len).sum();
    let mut out = format!(
        "{} texts; {} decisions move ({:.1}%): {} change intent, {} only their route\n  old: {} ({})\n  new: {} ({})\n  routing: {}\n",
        texts.len(),
        moved,
        100.0 * moved as f64 / texts.len().max(1) as f64,
        intent_moves,
        moved - intent_moves,
        a.compare[0].display(),
        old.packs.join(", "),
        a.compare[1].display(),
        new.packs.join(", "),
        a.config.display()
    );
    let mut list: Vec<(&Move, &Samples)> = moves.iter().collect();
    list.sort_by(|x, y| y.1.len().cmp(&x.1.len()).then(x.0.cmp(y.0)));
    for (((oi, or), (ni, nr)), items) in list {
        out.push_str(&format!(
            "\n{} x  {oi} -> {route_o}  =>  {ni} -> {route_n}\n",
            items.len(),
            route_o = or,
            route_n = nr
        ));
        for (i, ok, nk) in items.iter().take(a.samples) {
            let t: String = texts[*i].chars().take(140).collect();
            out.push_str(&format!(
                "  #{}: {t}\n    old phrases: {}\n    new phrases: {}\n",
                i + 1,
                if ok.is_empty() {
                    "-".into()
                } else {
                    ok.join(", ")
                },
                if nk.is_empty() {
                    "-".into()
                } else {
                    nk.join(", ")
                }
            ));
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}
