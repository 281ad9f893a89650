//! `bot-config.yml`: the app-wide settings (store, API, Matrix, mail, meeting defaults,
//! the default Greenlight, servers, logging, streaming), with `SCHEDULIGHT_<SECTION>_<KEY>` environment overrides.

use super::error::ConfigErrors;
use super::greenlight::{GREENLIGHT_KEYS, Scope, read_greenlight};
use super::read::{self, Ctx, Fields, join, shown};
use super::seed::{TZ_HINT, check_time_zone};
use super::server::{EMAIL_HINT, check_http_url, read_server};
use super::streaming::{STREAMING_ENV_KEYS, STREAMING_KEYS, read_streaming};
use super::tree::{At, Kind, Node};
use crate::domain::server::GreenlightSettings;
use crate::domain::{Email, Secret, ServerId, ServerSpec};
use crate::streaming::StreamingConfig;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Environment variables as a map, so overrides can be tested without touching the process.
pub type EnvVars = BTreeMap<String, String>;

/// Prefix of every override variable.
pub const ENV_PREFIX: &str = "SCHEDULIGHT_";

pub(crate) const APP_KEYS: &[&str] = &[
    "store",
    "api",
    "matrix",
    "mail",
    "defaults",
    "greenlight",
    "servers",
    "logging",
    "streaming",
    "files",
    "scheduler",
    "retention",
];
const SCHEDULER_KEYS: &[&str] = &["lease_seconds"];
const FILES_KEYS: &[&str] = &["apply", "prune", "csv", "report_room"];
const CSV_KEYS: &[&str] = &[
    "social_uid",
    "logout_url",
    "max_participants",
    "mute_on_start",
    "use_home_room",
    "stream_target",
    "play_intro",
    "send_emails",
];
const STORE_KEYS: &[&str] = &["location", "location_file"];
const API_KEYS: &[&str] = &["listen", "public_url", "metrics_public"];
const MATRIX_KEYS: &[&str] = &[
    "homeserver",
    "user_id",
    "password",
    "password_file",
    "access_token",
    "access_token_file",
    "device_id",
    "device_name",
    "allowed_users",
    "rooms",
    "command_prefix",
    "store_dir",
    "store_passphrase",
    "store_passphrase_file",
    "recovery_passphrase",
    "recovery_passphrase_file",
    "admins",
    "email_rule",
    "emails",
    "min_power_level",
];
const MAIL_KEYS: &[&str] = &[
    "host",
    "port",
    "tls",
    "user",
    "password",
    "password_file",
    "from",
    "from_name",
    "send_emails",
    "templates_dir",
    "language",
    "delivery",
    "max_attempts",
    "timeout_seconds",
    "ca_file",
];
const DEFAULTS_KEYS: &[&str] = &[
    "timeZone",
    "preOpenMinutes",
    "preStartMinutes",
    "reminderMinutes",
    "endAfterMinutes",
];
const LOGGING_KEYS: &[&str] = &["level", "json"];

/// Sections that can be overridden from the environment, with their keys.
const ENV_SECTIONS: &[(&str, &[&str])] = &[
    ("store", STORE_KEYS),
    ("api", API_KEYS),
    ("matrix", MATRIX_KEYS),
    ("mail", MAIL_KEYS),
    ("defaults", DEFAULTS_KEYS),
    ("greenlight", GREENLIGHT_KEYS),
    ("logging", LOGGING_KEYS),
    ("streaming", STREAMING_ENV_KEYS),
];

pub const DEFAULT_STORE: &str = "schedulight.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8008";
pub const DEFAULT_COMMAND_PREFIX: &str = "!bbb";

/// The whole app configuration. Secrets are `Secret`s (or redact themselves), so `{:?}` is
/// safe to log.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    pub store: StoreConfig,
    pub api: ApiConfig,
    /// None: no Matrix bot.
    pub matrix: Option<MatrixConfig>,
    pub mail: MailConfig,
    pub defaults: MeetingDefaults,
    /// The Greenlight of every server that names none. Deliberately not copied into the
    /// servers: ones added later (API, chat, seed files) need it too, so users resolve
    /// `server.greenlight.or(default)` when they act.
    pub greenlight: Option<GreenlightSettings>,
    /// BBB servers known from the start (more can be added at run time).
    pub servers: BTreeMap<ServerId, ServerSpec>,
    pub logging: LoggingConfig,
    /// Live streaming of meetings (docker or command templates); defaults when absent.
    pub streaming: StreamingConfig,
    /// Declarative files the daemon applies, and how CSV imports are read.
    pub files: FilesConfig,
    /// How long a step a daemon claimed stays its own: when it dies, another daemon on the
    /// same PostgreSQL store takes the step over after this.
    pub scheduler_lease: std::time::Duration,
    /// Recording retention rules and how long our records of people are kept.
    pub retention: crate::domain::retention::RetentionSettings,
}

/// `files:` — what `run` applies at start, on SIGHUP and when the files change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilesConfig {
    /// Files in the original's format (or CSV), relative to bot-config.yml's directory.
    pub apply: Vec<PathBuf>,
    /// What the daemon's re-apply deletes besides what the files managed before.
    pub prune: crate::declare::Prune,
    pub csv: crate::declare::csv::CsvSettings,
    /// A Matrix room the bot posts each applied plan to.
    pub report_room: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub location: StoreLocation,
}

/// Where our own state lives.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreLocation {
    /// A SQLite file (created if missing), relative to the working directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database for shared deployments.
    Postgres(PostgresUrl),
}

impl StoreLocation {
    /// For logs and reports: the Postgres password is hidden.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("SQLite {}", p.display()),
            Self::Postgres(u) => format!("PostgreSQL {}", u.redacted()),
        }
    }
}

/// A `postgres://` URL. It may hold a password, so Debug/Display hide it.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(Secret);

impl PostgresUrl {
    /// The full URL, for connecting only.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.0.expose()) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                u.to_string()
            }
            Err(_) => "postgres://***".into(),
        }
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({:?})", self.redacted())
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// How BBB servers reach this daemon (`https://schedulight.uni.example`), for callbacks.
    pub public_url: Option<String>,
    /// Whether `/metrics` answers without a token (for a Prometheus on the same host or
    /// network); false: it needs a token with `read`.
    pub metrics_public: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatrixConfig {
    pub homeserver: url::Url,
    pub user_id: String,
    pub auth: MatrixAuth,
    pub device_name: String,
    /// Matrix ids allowed to give commands; `@*:uni.example` allows a whole server.
    pub allowed_users: Vec<String>,
    /// Rooms (`!id:server` or `#alias:server`) to join on start.
    pub rooms: Vec<String>,
    pub command_prefix: String,
    /// Persistent crypto store of the bot's device (never share it between devices).
    pub store_dir: PathBuf,
    pub store_passphrase: Option<Secret>,
    /// Unlocks the bot account's secret storage: a new device (lost store, second instance)
    /// recovers the same cross-signing identity instead of starting an unverified one.
    pub recovery_passphrase: Option<Secret>,
    /// Matrix id patterns allowed to administer users and rooms (a subset of `allowed_users`
    /// is not required: admins may always give commands).
    pub admins: Vec<String>,
    /// How a Matrix user's Greenlight e-mail is made when `emails` has no entry:
    /// `{localpart}@uni.example` (`{localpart}` and `{server}` are replaced).
    pub email_rule: Option<String>,
    /// Explicit Matrix id → Greenlight e-mail table; wins over `email_rule`.
    pub emails: std::collections::BTreeMap<String, Email>,
    /// Lowest power level in a room that may give commands there.
    pub min_power_level: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MatrixAuth {
    Password(Secret),
    /// An existing session; `device_id` must belong to the token when given.
    AccessToken {
        token: Secret,
        device_id: Option<String>,
    },
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (port 25); only for a local relay.
    None,
}

impl TlsMode {
    pub fn default_port(self) -> u16 {
        match self {
            Self::Starttls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(Self::Starttls),
            "tls" | "ssl" => Ok(Self::Tls),
            "none" | "off" | "false" | "no" => Ok(Self::None),
            _ => Err(format!("{} is not a TLS mode", shown(s))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MailConfig {
    /// Master switch; off by default (the original documented "off by default").
    pub send_emails: bool,
    pub host: Option<String>,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub from: Option<Email>,
    pub from_name: Option<String>,
    /// Mail templates that replace the built-in ones by file name (`<lang>/<kind>.j2`, the
    /// original's `meetingOwnerInfoTemplate.j2` …), and where meetings' `*Template` keys
    /// point. None: only the built-in templates.
    pub templates_dir: Option<PathBuf>,
    /// Language of the built-in templates (`en` or `de`).
    pub language: crate::mail::render::Language,
    /// What the sender does with due mail: send it, only render and log it, or leave it queued.
    pub delivery: MailDelivery,
    /// Tries before a mail is dead-lettered (listed as failed with the last SMTP reply).
    pub max_attempts: u32,
    /// Connect and per-command SMTP timeout.
    pub timeout: std::time::Duration,
    /// Extra root certificates (PEM) for SMTP servers signed by an in-house CA.
    pub ca_file: Option<PathBuf>,
}

/// `mail.delivery`: the global switch of the mail sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MailDelivery {
    /// Deliver over SMTP.
    #[default]
    Send,
    /// Render each mail and log it (join links redacted) instead of sending; marks it sent.
    Debug,
    /// Send nothing; queued mail waits until delivery is switched back on.
    Off,
}

impl MailDelivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Debug => "debug",
            Self::Off => "off",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "send" | "on" => Ok(Self::Send),
            "debug" | "log" => Ok(Self::Debug),
            "off" | "none" | "hold" => Ok(Self::Off),
            _ => Err(format!("{} is not a delivery mode", shown(s))),
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            send_emails: false,
            host: None,
            port: TlsMode::default().default_port(),
            tls: TlsMode::default(),
            user: None,
            password: None,
            from: None,
            from_name: None,
            templates_dir: None,
            language: crate::mail::render::Language::default(),
            delivery: MailDelivery::default(),
            max_attempts: 8,
            timeout: std::time::Duration::from_secs(30),
            ca_file: None,
        }
    }
}

/// Defaults for meetings that do not set these keys themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingDefaults {
    /// IANA name; `startDate`s without their own `timeZone` are in this zone.
    pub time_zone: String,
    pub pre_open_minutes: u32,
    pub pre_start_minutes: u32,
    pub reminder_minutes: u32,
    pub end_after_minutes: u32,
}

impl MeetingDefaults {
    /// The zone as a jiff `TimeZone` (UTC if the name became unknown since loading).
    pub fn tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

impl Default for MeetingDefaults {
    fn default() -> Self {
        Self {
            time_zone: system_time_zone(),
            // The original's meeting processor pre-opened every meeting 90 minutes early.
            pre_open_minutes: 90,
            pre_start_minutes: 0,
            reminder_minutes: 0,
            end_after_minutes: 0,
        }
    }
}

/// The machine's zone (jiff reads `TZ` and `/etc/localtime`), `UTC` if it has no IANA name.
pub fn system_time_zone() -> String {
    jiff::tz::TimeZone::try_system()
        .ok()
        .and_then(|tz| tz.iana_name().map(str::to_string))
        .unwrap_or_else(|| "UTC".to_string())
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// A level (`info`) or a tracing filter (`info,schedulight=debug`).
    pub level: String,
    pub json: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            json: false,
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            store: StoreConfig {
                location: StoreLocation::Sqlite(PathBuf::from(DEFAULT_STORE)),
            },
            api: ApiConfig {
                listen: DEFAULT_LISTEN
                    .parse()
                    .expect("the default listen address is valid"),
                public_url: None,
                metrics_public: true,
            },
            matrix: None,
            mail: MailConfig::default(),
            defaults: MeetingDefaults::default(),
            greenlight: None,
            servers: BTreeMap::new(),
            logging: LoggingConfig::default(),
            streaming: StreamingConfig::default(),
            files: FilesConfig::default(),
            scheduler_lease: std::time::Duration::from_secs(120),
            retention: Default::default(),
        }
    }
}

/// The `SCHEDULIGHT_*` variables of this process (others are not needed).
pub fn process_env() -> EnvVars {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect()
}

impl AppConfig {
    /// Loads `path` with this process's `SCHEDULIGHT_*` overrides.
    pub fn load(path: &Path) -> Result<AppConfig, ConfigErrors> {
        Self::load_with_env(path, &process_env())
    }

    pub fn load_with_env(path: &Path, env: &EnvVars) -> Result<AppConfig, ConfigErrors> {
        let name = path.display().to_string();
        let text = super::read_config_text(path)?;
        Self::from_yaml_str_with_env(&text, &name, env)
    }

    /// Parses the text alone, without environment overrides.
    pub fn from_yaml_str(text: &str, file_name: &str) -> Result<AppConfig, ConfigErrors> {
        Self::from_yaml_str_with_env(text, file_name, &EnvVars::new())
    }

    pub fn from_yaml_str_with_env(
        text: &str,
        file_name: &str,
        env: &EnvVars,
    ) -> Result<AppConfig, ConfigErrors> {
        let mut ctx = Ctx::new(file_name);
        let Some(mut root) = super::parse_tree(&mut ctx, text) else {
            return ctx.finish(AppConfig::default());
        };
        apply_env(&mut ctx, &mut root, env);
        let config = read_app(&mut ctx, &root);
        ctx.finish(config)
    }

    /// Defaults plus environment overrides, for running without a file.
    pub fn from_env(env: &EnvVars) -> Result<AppConfig, ConfigErrors> {
        Self::from_yaml_str_with_env("", "(no config file)", env)
    }
}

// ---------------------------------------------------------------- environment overrides

/// Puts `SCHEDULIGHT_<SECTION>_<KEY>` values into the tree, replacing file values. Variables
/// of other sections (e.g. ones the CLI reads) are left alone; an unknown key of a known
/// section is an error. Empty values count as unset.
fn apply_env(ctx: &mut Ctx, root: &mut Node, env: &EnvVars) {
    if root.is_null() {
        *root = Node::empty_map(At::start());
    }
    for (var, value) in env {
        if value.is_empty() {
            continue;
        }
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let Some((section, keys, key_part)) = env_section(rest) else {
            continue;
        };
        let Some(key) = env_key(ctx, var, section, keys, key_part) else {
            continue;
        };
        if let Some(twin) = conflicting_secret_var(env, var, key) {
            let path = join(section, key);
            ctx.error_hint(
                &At::Env { var: var.clone() },
                &path,
                "the secret is set both directly and as a file",
                format!("unset {var} or {twin}"),
            );
            continue;
        }
        let node = Node::text(At::Env { var: var.clone() }, value.clone());
        set_in_section(root, section, key, node);
    }
}

fn env_section(rest: &str) -> Option<(&'static str, &'static [&'static str], &str)> {
    ENV_SECTIONS.iter().find_map(|(section, keys)| {
        let upper = section.to_ascii_uppercase();
        let key_part = rest.strip_prefix(upper.as_str())?.strip_prefix('_')?;
        Some((*section, *keys, key_part))
    })
}

/// Matches `PRE_OPEN_MINUTES` to `preOpenMinutes`, `PASSWORD_FILE` to `password_file`.
fn env_key(
    ctx: &mut Ctx,
    var: &str,
    section: &str,
    keys: &'static [&'static str],
    key_part: &str,
) -> Option<&'static str> {
    let norm = |s: &str| s.replace('_', "").to_ascii_uppercase();
    let wanted = norm(key_part);
    if let Some(k) = keys.iter().find(|k| norm(k) == wanted) {
        return Some(k);
    }
    let env_names: Vec<String> = keys.iter().map(|k| env_var_name(section, k)).collect();
    let hint = match read::suggest(var, env_names.iter().map(String::as_str)) {
        Some(s) => format!("did you mean {s}?"),
        None => format!("known variables: {}", env_names.join(", ")),
    };
    ctx.error_hint(
        &At::Env {
            var: var.to_string(),
        },
        section,
        format!("{var} is not a setting of `{section}`"),
        hint,
    );
    None
}

/// `("mail", "from_name")` → `SCHEDULIGHT_MAIL_FROM_NAME`; camelCase keys get underscores.
pub fn env_var_name(section: &str, key: &str) -> String {
    let mut out = format!("{ENV_PREFIX}{}_", section.to_ascii_uppercase());
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// For `X` when `X_FILE` is also set (and the other way round): the other variable's name.
fn conflicting_secret_var(env: &EnvVars, var: &str, key: &str) -> Option<String> {
    let twin = if key.ends_with("_file") {
        var.strip_suffix("_FILE").map(str::to_string)
    } else {
        Some(format!("{var}_FILE"))
    };
    twin.filter(|t| env.get(t).is_some_and(|v| !v.is_empty()))
}

/// Replaces `section.key` (and its secret/file twin) with `node`, creating the section.
fn set_in_section(root: &mut Node, section: &str, key: &str, node: Node) {
    let Kind::Map(top) = &mut root.kind else {
        return; // reported when the root is read
    };
    let idx = match top.iter().position(|(k, _)| k.as_text() == Some(section)) {
        Some(i) => i,
        None => {
            let at = node.at.clone();
            top.push((Node::text(at.clone(), section), Node::empty_map(at)));
            top.len() - 1
        }
    };
    let sec = &mut top[idx].1;
    if sec.is_null() {
        *sec = Node::empty_map(node.at.clone());
    }
    let Kind::Map(entries) = &mut sec.kind else {
        return; // a non-mapping section is reported when it is read
    };
    let base = key.strip_suffix("_file").unwrap_or(key);
    let twin = read::secret_file_key(base);
    entries.retain(|(k, _)| !matches!(k.as_text(), Some(t) if t == key || t == base || t == twin));
    entries.push((Node::text(node.at.clone(), key), node));
}

// ---------------------------------------------------------------- reading

fn read_app(ctx: &mut Ctx, root: &Node) -> AppConfig {
    let mut config = AppConfig::default();
    let Some(top) = Fields::new(ctx, root, "", &At::start(), APP_KEYS) else {
        return config;
    };
    let section = |ctx: &mut Ctx, name: &str, keys: &'static [&'static str]| {
        let (k, v) = top.entry(name)?;
        Fields::new(ctx, v, name, &k.at, keys)
    };
    if let Some(f) = section(ctx, "store", STORE_KEYS) {
        read_store(ctx, &f, &mut config.store);
    }
    if let Some(f) = section(ctx, "api", API_KEYS) {
        read_api(ctx, &f, &mut config.api);
    }
    if top.has("matrix") {
        config.matrix = section(ctx, "matrix", MATRIX_KEYS).and_then(|f| read_matrix(ctx, &f));
    }
    if let Some(f) = section(ctx, "mail", MAIL_KEYS) {
        read_mail(ctx, &f, &mut config.mail);
    }
    if let Some(f) = section(ctx, "defaults", DEFAULTS_KEYS) {
        read_defaults(ctx, &f, &mut config.defaults);
    }
    if top.has("greenlight") {
        config.greenlight = section(ctx, "greenlight", GREENLIGHT_KEYS)
            .and_then(|f| read_greenlight(ctx, &f, Scope::App));
    }
    if let Some(f) = section(ctx, "logging", LOGGING_KEYS) {
        read_logging(ctx, &f, &mut config.logging);
    }
    if let Some(f) = section(ctx, "streaming", STREAMING_KEYS) {
        read_streaming(ctx, &f, &mut config.streaming);
    }
    if let Some(f) = section(ctx, "files", FILES_KEYS) {
        read_files(ctx, &f, &mut config.files);
    }
    if let Some(f) = section(ctx, "scheduler", SCHEDULER_KEYS)
        && let Some(n) = f.checked(
            ctx,
            "lease_seconds",
            "use 5 to 3600 seconds (default 120)",
            |s| match s.trim().parse::<u64>() {
                Ok(n) if (5..=3600).contains(&n) => Ok(n),
                _ => Err(format!("{s:?} is not 5 to 3600 seconds")),
            },
        )
    {
        config.scheduler_lease = std::time::Duration::from_secs(n);
    }
    if let Some(f) = section(ctx, "retention", super::retention::RETENTION_KEYS) {
        super::retention::read_retention(ctx, &f, &mut config.retention);
    }
    config.servers = read_servers(ctx, &top);
    config
}

/// A Matrix room id or alias the bot posts reports to.
pub(super) fn matrix_room(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> Option<String> {
    f.checked(
        ctx,
        key,
        "write a room id like \"!abc:uni.example\" or an alias like \"#admins:uni.example\" (quoted)",
        |s| {
            s.parse::<crate::domain::meeting::MatrixRoom>()
                .map(|_| s.trim().to_string())
                .map_err(|e| e.reason)
        },
    )
}

fn read_files(ctx: &mut Ctx, f: &Fields<'_>, files: &mut FilesConfig) {
    let base = Path::new(&ctx.file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for (_, p) in f.text_list(ctx, "apply").unwrap_or_default() {
        let p = PathBuf::from(p.trim());
        files
            .apply
            .push(if p.is_relative() { base.join(p) } else { p });
    }
    if let Some(p) = f.checked(
        ctx,
        "prune",
        "use meetings, servers, all, or leave it out",
        |s| s.parse::<crate::declare::Prune>(),
    ) {
        files.prune = p;
    }
    files.report_room = matrix_room(ctx, f, "report_room");
    if let Some((k, v)) = f.entry("csv")
        && let Some(c) = Fields::new(ctx, v, &f.key_path("csv"), &k.at, CSV_KEYS)
    {
        let s = &mut files.csv;
        if let Some(t) = c.text(ctx, "social_uid") {
            s.social_uid = Some(t);
        }
        if let Some(t) = c.text(ctx, "logout_url") {
            s.logout_url = Some(t);
        }
        if let Some(n) = c.uint(ctx, "max_participants") {
            s.max_participants = Some(n).filter(|n| *n > 0);
        }
        if let Some(b) = c.bool(ctx, "mute_on_start") {
            s.mute_on_start = b;
        }
        if let Some(b) = c.bool(ctx, "use_home_room") {
            s.use_home_room = b;
        }
        if let Some(t) = c.text(ctx, "stream_target") {
            s.stream_target = t;
        }
        if let Some(t) = c.text(ctx, "play_intro") {
            s.play_intro = Some(t).filter(|t| !t.is_empty());
        }
        if let Some(b) = c.bool(ctx, "send_emails") {
            s.send_emails = Some(b);
        }
    }
}

fn read_store(ctx: &mut Ctx, f: &Fields<'_>, store: &mut StoreConfig) {
    // The location may carry a database password, so it is read like a secret and never
    // echoed in messages.
    let Some(location) = f.secret(ctx, "location") else {
        return;
    };
    match parse_store_location(&location) {
        Ok(l) => store.location = l,
        Err(reason) => {
            let key = if f.has("location") {
                "location"
            } else {
                "location_file"
            };
            let at = f.get(key).map(|n| n.at.clone()).unwrap_or(f.at.clone());
            ctx.error_hint(
                &at,
                &f.key_path(key),
                reason,
                "write a SQLite file path (schedulight.db) or postgres://user:password@host/db",
            );
        }
    }
}

/// A file path (optionally `sqlite:`-prefixed) or a `postgres://` / `postgresql://` URL.
pub fn parse_store_location(s: &str) -> Result<StoreLocation, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the store location is empty".into());
    }
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        check_postgres_url(t)?;
        return Ok(StoreLocation::Postgres(PostgresUrl(Secret::new(t))));
    }
    if let Some(path) = lower
        .strip_prefix("sqlite://")
        .or_else(|| lower.strip_prefix("sqlite:"))
        .map(|rest| &t[t.len() - rest.len()..])
    {
        return match path.split('?').next().filter(|p| !p.is_empty()) {
            Some(p) => Ok(StoreLocation::Sqlite(PathBuf::from(p))),
            None => Err("the sqlite: location has no file path".into()),
        };
    }
    if t.contains("://") {
        return Err("only SQLite files and postgres:// URLs are supported".into());
    }
    Ok(StoreLocation::Sqlite(PathBuf::from(t)))
}

/// Checks a `postgres://` URL's syntax and host. The URL holds a password, so the messages
/// never quote it (`url`'s own error texts do not contain the input).
pub(crate) fn check_postgres_url(t: &str) -> Result<(), String> {
    let u = url::Url::parse(t).map_err(|e| format!("the PostgreSQL URL is not valid: {e}"))?;
    if u.host_str().is_none_or(str::is_empty) {
        return Err("the PostgreSQL URL has no host".into());
    }
    Ok(())
}

fn read_api(ctx: &mut Ctx, f: &Fields<'_>, api: &mut ApiConfig) {
    if let Some(listen) = f.parsed::<SocketAddr>(
        ctx,
        "listen",
        "write IP:port, e.g. 127.0.0.1:8008 (or [::1]:8008)",
    ) {
        api.listen = listen;
    }
    if let Some(url) = f.checked(
        ctx,
        "public_url",
        "write the URL BBB servers reach this daemon at, e.g. https://schedulight.uni.example",
        |s| {
            super::server::check_http_url(s)
                .map(|u| u.to_string().trim_end_matches('/').to_string())
        },
    ) {
        api.public_url = Some(url);
    }
    if let Some(open) = f.bool(ctx, "metrics_public") {
        api.metrics_public = open;
    }
}

fn read_matrix(ctx: &mut Ctx, f: &Fields<'_>) -> Option<MatrixConfig> {
    let before = ctx.errors.len();
    let homeserver = read_homeserver(ctx, f);
    let user_id = read_user_id(ctx, f);
    let auth = read_matrix_auth(ctx, f);
    let allowed_users = read_allowed_users(ctx, f);
    let rooms = read_rooms(ctx, f);
    let command_prefix = f
        .checked(
            ctx,
            "command_prefix",
            "use a short word starting with !, e.g. !bbb",
            check_prefix,
        )
        .unwrap_or_else(|| DEFAULT_COMMAND_PREFIX.to_string());
    let store_passphrase = f.secret(ctx, "store_passphrase").map(Secret::new);
    let recovery_passphrase = f.secret(ctx, "recovery_passphrase").map(Secret::new);
    let admins = checked_list(ctx, f, "admins", |s| check_matrix_id(s, '@', true));
    let email_rule = f.checked(
        ctx,
        "email_rule",
        "write a rule like \"{localpart}@uni.example\"",
        check_email_rule,
    );
    let emails = read_emails(ctx, f);
    let min_power_level = f.uint::<i64>(ctx, "min_power_level").unwrap_or(0);
    let config = MatrixConfig {
        homeserver: homeserver?,
        user_id: user_id?,
        auth: auth?,
        device_name: f
            .text(ctx, "device_name")
            .unwrap_or_else(|| "schedulight".into()),
        allowed_users,
        rooms,
        command_prefix,
        store_dir: f
            .text(ctx, "store_dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("matrix-store")),
        store_passphrase,
        recovery_passphrase,
        admins,
        email_rule,
        emails,
        min_power_level,
    };
    (ctx.errors.len() == before).then_some(config)
}

/// `emails:` — `"@alice:uni.example": alice.smith@uni.example`.
fn read_emails(ctx: &mut Ctx, f: &Fields<'_>) -> std::collections::BTreeMap<String, Email> {
    let mut out = std::collections::BTreeMap::new();
    let Some(node) = f.get("emails") else {
        return out;
    };
    let path = f.key_path("emails");
    let Some(items) = read::entries(ctx, node, &path, "a mapping of Matrix ids to e-mails") else {
        return out;
    };
    for (key, key_node, value) in items {
        let p = join(&path, key);
        let id = match check_matrix_id(key, '@', false) {
            Ok(id) => id,
            Err(reason) => {
                ctx.error_hint(
                    &key_node.at,
                    &p,
                    reason,
                    "write ids like \"@alice:uni.example\"",
                );
                continue;
            }
        };
        match value.as_text().map(|t| t.parse::<Email>()) {
            Some(Ok(email)) => {
                out.insert(id, email);
            }
            Some(Err(e)) => ctx.error_hint(&value.at, &p, e.to_string(), EMAIL_HINT),
            None => ctx.error_hint(
                &value.at,
                &p,
                format!("expected an e-mail address, found {}", value.describe()),
                EMAIL_HINT,
            ),
        }
    }
    out
}

fn check_email_rule(s: &str) -> Result<String, String> {
    let t = s.trim();
    let sample = t
        .replace("{localpart}", "alice")
        .replace("{server}", "uni.example");
    if !t.contains("{localpart}") {
        return Err(format!("{} does not use {{localpart}}", shown(t)));
    }
    sample
        .parse::<Email>()
        .map(|_| t.to_string())
        .map_err(|_| format!("{} does not make an e-mail address", shown(t)))
}

fn read_homeserver(ctx: &mut Ctx, f: &Fields<'_>) -> Option<url::Url> {
    if !f.has("homeserver") {
        f.missing(ctx, "homeserver", "https://matrix.uni.example");
        return None;
    }
    f.checked(
        ctx,
        "homeserver",
        "write the homeserver URL, e.g. https://matrix.uni.example",
        check_http_url,
    )
}

fn read_user_id(ctx: &mut Ctx, f: &Fields<'_>) -> Option<String> {
    if !f.has("user_id") {
        f.missing(ctx, "user_id", "\"@schedulight:uni.example\"");
        return None;
    }
    f.checked(
        ctx,
        "user_id",
        "write the bot's Matrix id, e.g. \"@schedulight:uni.example\" (quoted)",
        |s| check_matrix_id(s, '@', false),
    )
}

fn read_matrix_auth(ctx: &mut Ctx, f: &Fields<'_>) -> Option<MatrixAuth> {
    let password = f.secret(ctx, "password");
    let token = f.secret(ctx, "access_token");
    let device_id = f.text(ctx, "device_id");
    match (password, token) {
        (Some(p), None) => Some(MatrixAuth::Password(Secret::new(p))),
        (None, Some(t)) => Some(MatrixAuth::AccessToken {
            token: Secret::new(t),
            device_id,
        }),
        (Some(_), Some(_)) => {
            ctx.error_hint(
                &f.at,
                &f.path,
                "both `password` and `access_token` are set",
                "keep only one way to log in",
            );
            None
        }
        (None, None) => {
            if !f.has_secret("password") && !f.has_secret("access_token") {
                ctx.error_hint(
                    &f.at,
                    &f.path,
                    "no login for the bot",
                    "add `password_file: /path` (or `password:`), or `access_token_file:`",
                );
            }
            None
        }
    }
}

fn read_allowed_users(ctx: &mut Ctx, f: &Fields<'_>) -> Vec<String> {
    if !f.has("allowed_users") {
        ctx.error_hint(
            &f.at,
            &f.path,
            "`allowed_users` is missing, so nobody could use the bot",
            "add `allowed_users:` with entries like `- \"@alice:uni.example\"`",
        );
        return Vec::new();
    }
    checked_list(ctx, f, "allowed_users", |s| check_matrix_id(s, '@', true))
}

fn read_rooms(ctx: &mut Ctx, f: &Fields<'_>) -> Vec<String> {
    checked_list(ctx, f, "rooms", |s| {
        let sigil = if s.trim_start().starts_with('#') {
            '#'
        } else {
            '!'
        };
        check_matrix_id(s, sigil, false)
    })
}

fn checked_list(
    ctx: &mut Ctx,
    f: &Fields<'_>,
    key: &str,
    check: impl Fn(&str) -> Result<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (at, value)) in f
        .text_list(ctx, key)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        match check(&value) {
            Ok(v) => out.push(v),
            Err(reason) => ctx.error_hint(
                &at,
                &format!("{}[{i}]", f.key_path(key)),
                reason,
                "write ids like \"@alice:uni.example\", rooms like \"!abc:uni.example\" or \"#room:uni.example\" (quoted)",
            ),
        }
    }
    out
}

/// `@user:server` / `!room:server` / `#alias:server`; `*` allowed in patterns.
fn check_matrix_id(s: &str, sigil: char, pattern: bool) -> Result<String, String> {
    let t = s.trim();
    // Room ids of room version 12 have no server part.
    let serverless_room = sigil == '!' && t.len() > 1 && !t.contains(':');
    let ok = t.starts_with(sigil)
        && t.len() <= 255
        && (serverless_room
            || t[1..].split_once(':').is_some_and(|(local, server)| {
                !local.is_empty() && !server.is_empty() && (pattern || !t.contains('*'))
            }))
        && !t.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| t.to_string())
        .ok_or_else(|| format!("{} is not a Matrix id starting with {sigil}", shown(t)))
}

fn check_prefix(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.len() > 16 || t.chars().any(char::is_whitespace) {
        return Err(format!("{} is not a usable command prefix", shown(t)));
    }
    if t.starts_with('/') {
        return Err("Element treats messages starting with / as its own commands".into());
    }
    Ok(t.to_string())
}

fn read_mail(ctx: &mut Ctx, f: &Fields<'_>, mail: &mut MailConfig) {
    mail.send_emails = f.bool(ctx, "send_emails").unwrap_or(false);
    mail.host = f.text(ctx, "host").map(|h| h.trim().to_string());
    mail.tls = f
        .checked(ctx, "tls", "use starttls, tls or none", TlsMode::parse)
        .unwrap_or_default();
    mail.port = f
        .uint::<u16>(ctx, "port")
        .unwrap_or(mail.tls.default_port());
    mail.user = f.text(ctx, "user");
    mail.password = f.secret(ctx, "password").map(Secret::new);
    mail.from = f.parsed::<Email>(ctx, "from", EMAIL_HINT);
    mail.from_name = f.text(ctx, "from_name");
    mail.templates_dir = f.text(ctx, "templates_dir").map(PathBuf::from);
    mail.language = f
        .checked(ctx, "language", "use en or de", |s| {
            crate::mail::render::Language::parse(s)
                .ok_or_else(|| format!("{} is not a mail language", shown(s)))
        })
        .unwrap_or_default();
    mail.delivery = f
        .checked(
            ctx,
            "delivery",
            "use send, debug or off",
            MailDelivery::parse,
        )
        .unwrap_or_default();
    if let Some(n) = f.uint::<u32>(ctx, "max_attempts") {
        if n == 0 {
            ctx.error_hint(
                &f.at,
                &f.path,
                "`max_attempts` must be at least 1",
                "8 tries span about four hours",
            );
        }
        mail.max_attempts = n.max(1);
    }
    if let Some(secs) = f.uint::<u64>(ctx, "timeout_seconds") {
        mail.timeout = std::time::Duration::from_secs(secs.max(1));
    }
    mail.ca_file = f.text(ctx, "ca_file").map(PathBuf::from);
    if mail.tls == TlsMode::None
        && let Some(host) = &mail.host
        && !crate::mail::smtp::is_loopback(host)
    {
        ctx.error_hint(
            &f.at,
            &f.path,
            format!("`tls: none` sends mail and passwords in clear text to {host}"),
            "use starttls or tls; plain SMTP is only for a relay on this machine (localhost)",
        );
    }
    if mail.send_emails {
        if !f.has("host") {
            f.missing(ctx, "host", "smtp.uni.example");
        }
        if !f.has("from") {
            f.missing(ctx, "from", "schedulight@uni.example");
        }
    }
    if f.has("user") != f.has_secret("password") {
        ctx.error_hint(
            &f.at,
            &f.path,
            "SMTP login needs both `user` and `password`",
            "set both, or neither for a relay without login",
        );
    }
}

fn read_defaults(ctx: &mut Ctx, f: &Fields<'_>, d: &mut MeetingDefaults) {
    if let Some(tz) = f.checked(ctx, "timeZone", TZ_HINT, check_time_zone) {
        d.time_zone = tz;
    }
    if let Some(v) = f.uint(ctx, "preOpenMinutes") {
        d.pre_open_minutes = v;
    }
    if let Some(v) = f.uint(ctx, "preStartMinutes") {
        d.pre_start_minutes = v;
    }
    if let Some(v) = f.uint(ctx, "reminderMinutes") {
        d.reminder_minutes = v;
    }
    if let Some(v) = f.uint(ctx, "endAfterMinutes") {
        d.end_after_minutes = v;
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

fn read_logging(ctx: &mut Ctx, f: &Fields<'_>, l: &mut LoggingConfig) {
    if let Some(level) = f.checked(
        ctx,
        "level",
        "use trace, debug, info, warn, error or a filter like info,schedulight=debug",
        check_log_level,
    ) {
        l.level = level;
    }
    if let Some(json) = f.bool(ctx, "json") {
        l.json = json;
    }
}

/// A plain level name, or a full tracing filter directive.
fn check_log_level(s: &str) -> Result<String, String> {
    let t = s.trim().to_ascii_lowercase();
    if LEVELS.contains(&t.as_str()) {
        return Ok(t);
    }
    let is_directive = t.contains('=') || t.contains(',');
    if is_directive && tracing_subscriber::EnvFilter::try_new(s.trim()).is_ok() {
        return Ok(s.trim().to_string());
    }
    let hint = read::suggest(&t, LEVELS)
        .map(|l| format!(" (did you mean {l}?)"))
        .unwrap_or_default();
    Err(format!("{} is not a log level{hint}", shown(s)))
}

fn read_servers(ctx: &mut Ctx, top: &Fields<'_>) -> BTreeMap<ServerId, ServerSpec> {
    let mut out = BTreeMap::new();
    let Some(node) = top.get("servers") else {
        return out;
    };
    let Some(items) = read::entries(ctx, node, "servers", "a mapping of servers, one key each")
    else {
        return out;
    };
    for (key, key_node, value) in items {
        if let Some(spec) = read_server(ctx, key, key_node, value, "servers") {
            out.insert(spec.id.clone(), spec);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert_eq!(
            env_var_name("defaults", "preOpenMinutes"),
            "SCHEDULIGHT_DEFAULTS_PRE_OPEN_MINUTES"
        );
        assert_eq!(
            env_var_name("mail", "from_name"),
            "SCHEDULIGHT_MAIL_FROM_NAME"
        );
    }

    #[test]
    fn store_locations() {
        assert_eq!(
            parse_store_location("schedulight.db").unwrap(),
            StoreLocation::Sqlite("schedulight.db".into())
        );
        assert_eq!(
            parse_store_location("sqlite:///var/lib/s.db?mode=rwc").unwrap(),
            StoreLocation::Sqlite("/var/lib/s.db".into())
        );
        let pg = parse_store_location("postgres://sl:hunter2@db.uni.example/sl").unwrap();
        assert!(!format!("{pg:?}").contains("hunter2"));
        assert!(pg.describe().contains("db.uni.example"));
        assert!(parse_store_location("mysql://x/y").is_err());
        assert!(parse_store_location("postgres:///nohost").is_err());
    }

    #[test]
    fn log_levels() {
        assert_eq!(check_log_level("INFO").unwrap(), "info");
        assert!(check_log_level("info,schedulight=debug").is_ok());
        let e = check_log_level("inf").unwrap_err();
        assert!(e.contains("did you mean info"), "{e}");
    }

    #[test]
    fn matrix_ids() {
        assert!(check_matrix_id("@alice:uni.example", '@', false).is_ok());
        assert!(check_matrix_id("@*:uni.example", '@', true).is_ok());
        assert!(check_matrix_id("@*:uni.example", '@', false).is_err());
        assert!(check_matrix_id("alice", '@', true).is_err());
        assert!(check_matrix_id("#room:uni.example", '#', false).is_ok());
    }
}
