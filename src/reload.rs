//! reload: new rule packs and routing without a restart. On SIGHUP, or when the config file or
//! one of its rule packs changes on disk (checked every two seconds, which also catches a
//! Kubernetes ConfigMap update), the rules are read, compiled and checked again; a valid set
//! replaces the running one between two events, an invalid one is refused with every problem
//! logged and the running rules stay. Only rules and routing are reloaded: Kafka, Redis and
//! the CRM snapshot need a restart.

use crate::config::Config;
use crate::pipeline::{Pipeline, SharedPipeline};
use crate::settings::ConfigErrors;
use crate::telemetry::Metrics;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Read and compile the rules of the config at `path`; on success swap them in and return the
/// new version, else leave the running rules alone and return every problem.
pub fn reload(path: &Path, pipeline: &SharedPipeline) -> Result<String, ConfigErrors> {
    let (config, classifier, router) = Config::load_rules_file(path)?;
    let next = Pipeline::new(&config.limits, classifier, router);
    let version = next.rules_version.clone();
    pipeline.replace(next);
    Ok(version)
}

/// The files a reload reads: the config and the rule packs it names (relative to it).
fn watched_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    let base = path.parent().unwrap_or(Path::new("."));
    if let Ok(config) = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| Config::parse(&t, std::env::vars()).map_err(|e| e.to_string()))
    {
        files.extend(config.rules.packs.iter().map(|p| base.join(p)));
    }
    files
}

/// What identifies a version of the files: their modification times (and whether they exist).
fn stamp(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// Reload on SIGHUP and on file changes until `stop`.
pub async fn watch(
    path: PathBuf,
    pipeline: SharedPipeline,
    metrics: std::sync::Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .expect("SIGHUP handler");
    let mut files = watched_files(&path);
    let mut last = stamp(&files);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        #[cfg(unix)]
        let hangup = hup.recv();
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        let why = tokio::select! {
            _ = stop.changed() => return,
            _ = hangup => "SIGHUP",
            _ = tick.tick() => {
                let now = stamp(&files);
                if now == last {
                    continue;
                }
                "a rules file changed"
            }
        };
        match reload(&path, &pipeline) {
            Ok(version) => {
                metrics.rules_reloads.with_label_values(&["applied"]).inc();
                metrics.set_rules_version(&version);
                tracing::info!(%version, trigger = why, "rules reloaded");
            }
            Err(e) => {
                metrics.rules_reloads.with_label_values(&["refused"]).inc();
                tracing::error!(trigger = why, problems = %e, "rules reload refused; the running rules stay");
            }
        }
        files = watched_files(&path);
        last = stamp(&files);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::Classification;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn intent_of(p: &SharedPipeline, text: &str) -> String {
        match p.current().classifier.classify(text) {
            Classification::Intent(m) => m.intent,
            Classification::Noise { .. } => "NOISE".into(),
        }
    }

    #[test]
    fn a_valid_pack_replaces_the_rules_and_an_invalid_one_is_refused_with_every_problem() {
        let dir =
            std::env::temp_dir().join(format!("outcry-reload-{}", crate::kafka::unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("outcry.toml");
        write(&dir, "outcry.toml", "[rules]\npacks = [\"p.toml\"]\n[[routing.route]]\nintents = [\"outage\"]\ncandidates = [\"tech\"]\n[[routing.route]]\ncandidates = [\"support\"]\n");
        write(&dir, "p.toml", "name = \"p\"\nversion = \"1\"\n[[intent]]\nname = \"outage\"\nseverity = 3\nkeywords = [\"down\"]\n");
        let (cfg, c, r) = Config::load_rules_file(&config).unwrap();
        let shared = SharedPipeline::new(Pipeline::new(&cfg.limits, c, r));
        assert_eq!(shared.current().rules_version, "p@1");
        assert_eq!(intent_of(&shared, "offline again"), "general");

        write(&dir, "p.toml", "name = \"p\"\nversion = \"2\"\n[[intent]]\nname = \"outage\"\nseverity = 3\nkeywords = [\"down\", \"offline\"]\n");
        assert_eq!(reload(&config, &shared).unwrap(), "p@2");
        assert_eq!(intent_of(&shared, "offline again"), "outage");

        // Two problems at once: a regex that does not compile, and routing to an intent the
        // pack no longer defines. Both listed; version 2 keeps running.
        write(&dir, "p.toml", "name = \"p\"\nversion = \"3\"\n[[intent]]\nname = \"outages\"\nseverity = 3\nkeywords = [\"down\"]\npatterns = [\"(unclosed\"]\n");
        let err = reload(&config, &shared).unwrap_err();
        let text = err.to_string();
        assert!(err.0.len() >= 2, "every problem: {text}");
        assert!(text.contains("outage"), "{text}");
        assert_eq!(shared.current().rules_version, "p@2");
        assert_eq!(intent_of(&shared, "offline again"), "outage");

        // A missing pack file is refused too.
        std::fs::remove_file(dir.join("p.toml")).unwrap();
        assert!(reload(&config, &shared).is_err());
        assert_eq!(shared.current().rules_version, "p@2");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_watched_files_are_the_config_and_its_packs() {
        let dir =
            std::env::temp_dir().join(format!("outcry-reload-{}", crate::kafka::unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        write(
            &dir,
            "outcry.toml",
            "[rules]\npacks = [\"a.toml\", \"b.toml\"]\n",
        );
        let files = watched_files(&dir.join("outcry.toml"));
        assert_eq!(
            files,
            vec![
                dir.join("outcry.toml"),
                dir.join("a.toml"),
                dir.join("b.toml")
            ]
        );
        let s = stamp(&files);
        assert!(
            s[0].is_some() && s[1].is_none(),
            "missing files stamp as None: {s:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
