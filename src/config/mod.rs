//! Configuration files.
//!
//! * `bot-config.yml` → [`AppConfig`]: store, API, Matrix, mail, meeting defaults, the
//!   default Greenlight, servers, logging, live streaming; every value can be overridden with
//!   `SCHEDULIGHT_<SECTION>_<KEY>` and every secret can be read from a file
//!   (`password_file: /run/secrets/x`, `SCHEDULIGHT_MAIL_PASSWORD_FILE=/run/secrets/x`).
//! * A server entry (in either file) may carry its own `greenlight:` block; the app-wide one is
//!   the default for servers that name none.
//! * The original tool's `servers:` / `meetings:` / `commands:` file → [`SeedFile`], a list
//!   of `Operation`s that remember their `file:line:column`.
//! * [`check_file`] tells which of the two a file is and either summarises it or lists every
//!   problem (the `check-config` command).
//!
//! Both formats are parsed into a located YAML tree first (`tree`), then read key by key
//! (`read`), so one run reports all problems of a file with line, column, key path and a hint,
//! and unknown keys get a "did you mean" suggestion.

mod app;
mod error;
mod greenlight;
mod read;
mod retention;
pub mod schema;
mod seed;
mod server;
mod streaming;
mod tree;

pub use app::{
    ApiConfig, AppConfig, DEFAULT_COMMAND_PREFIX, DEFAULT_LISTEN, DEFAULT_STORE, ENV_PREFIX,
    EnvVars, LoggingConfig, MailConfig, MailDelivery, MatrixAuth, MatrixConfig, MeetingDefaults,
    PostgresUrl, StoreConfig, StoreLocation, TlsMode, env_var_name, parse_store_location,
    process_env, system_time_zone,
};
pub use error::{ConfigError, ConfigErrors};
pub use greenlight::BCRYPT_COSTS;
pub use seed::{
    SeedCounts, SeedEntry, SeedFile, SeedSection, SourceRef, load_seed_file, parse_seed_file,
};
pub use streaming::{START_TIMEOUT_RANGE, TIMEOUT_RANGE};

use read::Ctx;

/// The keys a meeting of the original's format may have (CSV headers name them).
pub fn seed_meeting_keys() -> &'static [&'static str] {
    seed::MEETING_KEYS
}
/// The did-you-mean helper, shared with the chat command parser.
pub(crate) use read::suggest;
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use tree::{Kind, Node};

/// Config files are small; this bounds memory for a wrong path (a log file, a dump).
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

fn file_error(file: &str, line: u64, column: u64, message: String, hint: &str) -> ConfigErrors {
    ConfigErrors::single(ConfigError {
        file: file.to_string(),
        line,
        column,
        env_var: None,
        path: String::new(),
        message,
        hint: Some(hint.to_string()),
    })
}

/// Reads a config file as UTF-8 text.
pub fn read_config_text(path: &Path) -> Result<String, ConfigErrors> {
    let name = path.display().to_string();
    let fail = |msg: String, hint: &str| file_error(&name, 0, 0, msg, hint);
    let meta = std::fs::metadata(path).map_err(|e| {
        fail(
            format!("cannot read the file: {e}"),
            "check the path (see --config) and the file's permissions",
        )
    })?;
    if !meta.is_file() {
        return Err(fail(
            "not a regular file".into(),
            "give the path of a YAML file",
        ));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(fail(
            format!("the file is larger than {MAX_CONFIG_BYTES} bytes"),
            "is this really a configuration file?",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES).read_to_end(&mut bytes))
        .map_err(|e| {
            fail(
                format!("cannot read the file: {e}"),
                "check its permissions",
            )
        })?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|b| **b == b'\n').count() as u64;
        let column = 1 + good.iter().rev().take_while(|b| **b != b'\n').count() as u64;
        file_error(
            &name,
            line,
            column,
            "the file is not UTF-8 text".into(),
            "save it as UTF-8",
        )
    })
}

/// Parses text into the located tree, recording a syntax error in `ctx`.
pub(crate) fn parse_tree(ctx: &mut Ctx, text: &str) -> Option<Node> {
    match tree::parse(text) {
        Ok(root) => Some(root),
        Err(e) => {
            let hint = if e.too_complex {
                "the file is too large or too deeply nested for a configuration file"
            } else {
                "fix the YAML here: indent with spaces, and quote values that contain `: ` or ` #`"
            };
            let at = tree::At::Yaml {
                line: e.line,
                column: e.column,
            };
            ctx.error_hint(&at, "", format!("YAML syntax error: {}", e.message), hint);
            None
        }
    }
}

// ---------------------------------------------------------------- check_file

/// What kind of file `check_file` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `bot-config.yml`.
    AppConfig,
    /// The original tool's `servers:` / `meetings:` / `commands:` format.
    Seed,
}

/// Short facts about a valid app config (no secrets).
#[derive(Debug, Clone, PartialEq)]
pub struct AppSummary {
    pub store: String,
    pub api_listen: SocketAddr,
    pub matrix: bool,
    pub send_emails: bool,
    pub servers: usize,
    /// Servers with their own `greenlight:` block.
    pub greenlight_servers: usize,
    /// The app-wide Greenlight's public URL (its database URL is secret).
    pub greenlight_default: Option<String>,
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckReport {
    AppConfig { file: String, summary: AppSummary },
    Seed { file: String, counts: SeedCounts },
}

impl CheckReport {
    pub fn kind(&self) -> FileKind {
        match self {
            Self::AppConfig { .. } => FileKind::AppConfig,
            Self::Seed { .. } => FileKind::Seed,
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// "2 servers" or "2 servers (1 with Greenlight)".
fn servers_part(servers: usize, with_greenlight: usize) -> String {
    let mut out = plural(servers, "server");
    if with_greenlight > 0 {
        out.push_str(&format!(" ({with_greenlight} with Greenlight)"));
    }
    out
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AppConfig { file, summary: s } => {
                write!(
                    f,
                    "{file}: app config OK: store {}, API on {}, Matrix {}, mail {}, {}",
                    s.store,
                    s.api_listen,
                    if s.matrix { "on" } else { "off" },
                    if s.send_emails { "on" } else { "off" },
                    servers_part(s.servers, s.greenlight_servers),
                )?;
                if let Some(link) = &s.greenlight_default {
                    write!(f, ", default Greenlight {link}")?;
                }
                write!(f, ", time zone {}", s.time_zone)
            }
            Self::Seed { file, counts: c } => write!(
                f,
                "{file}: seed file OK: {}, {}, {} ({})",
                servers_part(c.servers, c.greenlight_servers),
                plural(c.meetings, "meeting"),
                plural(c.commands, "command"),
                plural(c.operations, "operation")
            ),
        }
    }
}

/// Checks a file of either kind with this process's `SCHEDULIGHT_*` overrides applied to app
/// configs.
pub fn check_file(path: &Path) -> Result<CheckReport, ConfigErrors> {
    check_file_with_env(path, &process_env())
}

pub fn check_file_with_env(path: &Path, env: &EnvVars) -> Result<CheckReport, ConfigErrors> {
    let name = path.display().to_string();
    let text = read_config_text(path)?;
    check_text_with_env(&text, &name, env)
}

/// Like [`check_file_with_env`] for text already in memory.
pub fn check_text_with_env(
    text: &str,
    file_name: &str,
    env: &EnvVars,
) -> Result<CheckReport, ConfigErrors> {
    let mut ctx = Ctx::new(file_name);
    let Some(root) = parse_tree(&mut ctx, text) else {
        return Err(ConfigErrors(ctx.errors));
    };
    match detect_kind(&root, file_name) {
        FileKind::Seed => {
            let seed = parse_seed_file(text, file_name)?;
            Ok(CheckReport::Seed {
                file: file_name.to_string(),
                counts: seed.counts(),
            })
        }
        FileKind::AppConfig => {
            let config = AppConfig::from_yaml_str_with_env(text, file_name, env)?;
            Ok(CheckReport::AppConfig {
                file: file_name.to_string(),
                summary: AppSummary {
                    store: config.store.location.describe(),
                    api_listen: config.api.listen,
                    matrix: config.matrix.is_some(),
                    send_emails: config.mail.send_emails,
                    servers: config.servers.len(),
                    greenlight_servers: config
                        .servers
                        .values()
                        .filter(|s| s.greenlight.is_some())
                        .count(),
                    greenlight_default: config.greenlight.as_ref().map(|g| g.link_base.clone()),
                    time_zone: config.defaults.time_zone.clone(),
                },
            })
        }
    }
}

/// Seed files have `meetings:` / `commands:`; app configs have their own sections. A file
/// that could be either (only `servers:`, or empty) is an app config if it is named
/// `bot-config*`, else a seed file.
fn detect_kind(root: &Node, file_name: &str) -> FileKind {
    let keys: Vec<&str> = match &root.kind {
        Kind::Map(entries) => entries.iter().filter_map(|(k, _)| k.as_text()).collect(),
        _ => Vec::new(),
    };
    let seed_only = ["meetings", "commands"];
    if keys.iter().any(|k| seed_only.contains(k)) {
        return FileKind::Seed;
    }
    if keys
        .iter()
        .any(|k| *k != "servers" && app::APP_KEYS.contains(k))
    {
        return FileKind::AppConfig;
    }
    let base = Path::new(file_name)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if base.starts_with("bot-config") {
        FileKind::AppConfig
    } else {
        FileKind::Seed
    }
}
