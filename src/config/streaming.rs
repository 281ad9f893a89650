//! The `streaming:` section of `bot-config.yml` → [`StreamingConfig`]. Everything the
//! launchers would refuse at stream time is refused here, at load, with its position: a
//! misconfigured streamer should fail `check-config`, not the first lecture.

use super::read::{self, Ctx, Fields, shown};
use super::tree::{Kind, Node};
use crate::streaming::{
    CommandLauncher, CommandTemplates, DockerLauncher, StreamError, StreamerHost, StreamingConfig,
    launcher_for,
};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;

pub(crate) const STREAMING_KEYS: &[&str] = &[
    "docker",
    "image",
    "ssh_user",
    "run_args",
    "docker_env",
    "timeout_secs",
    "start_timeout_secs",
    "command",
];
/// Keys settable as `SCHEDULIGHT_STREAMING_<KEY>`; `docker_env` and `command` are nested and
/// live in the file only. `run_args` from the environment is split at commas.
pub(crate) const STREAMING_ENV_KEYS: &[&str] = &[
    "docker",
    "image",
    "ssh_user",
    "run_args",
    "timeout_secs",
    "start_timeout_secs",
];
const COMMAND_KEYS: &[&str] = &["start", "stop", "status"];

/// `docker ps` / `docker rm` and command-template runs: a second up to an hour.
pub const TIMEOUT_RANGE: RangeInclusive<u64> = 1..=3600;
/// `docker run` may pull the image first, so it gets up to two hours.
pub const START_TIMEOUT_RANGE: RangeInclusive<u64> = 1..=7200;

const TEMPLATE_HINT: &str = "write one argument per line, program first, e.g. `start:` then `  - /usr/local/bin/stream-start`, `  - \"{name}\"`, `  - \"{meeting_id}\"`";

/// Reads the section into `s` (which holds the defaults); problems go to `ctx`.
pub(crate) fn read_streaming(ctx: &mut Ctx, f: &Fields<'_>, s: &mut StreamingConfig) {
    let before = ctx.errors.len();
    if let Some(docker) = f.checked(
        ctx,
        "docker",
        "write the docker CLI's name or full path, e.g. /usr/bin/docker",
        check_docker_path,
    ) {
        s.docker = docker;
    }
    if let Some(image) = f.checked(
        ctx,
        "image",
        "use letters, digits and . _ - / : @ only, e.g. registry.uni.example/livestreaming:1.4",
        check_image,
    ) {
        s.image = image;
    }
    if let Some(user) = f.checked(
        ctx,
        "ssh_user",
        "use lower-case letters, digits, '_' and '-'; a meeting's streamerHost may name its own user@host",
        check_ssh_user,
    ) {
        s.ssh_user = user;
    }
    if let Some(args) = read_run_args(ctx, f) {
        s.run_args = args;
    }
    if let Some(env) = read_docker_env(ctx, f) {
        s.docker_env = env;
    }
    if let Some(t) = timeout(ctx, f, "timeout_secs", TIMEOUT_RANGE) {
        s.timeout_secs = t;
    }
    if let Some(t) = timeout(ctx, f, "start_timeout_secs", START_TIMEOUT_RANGE) {
        s.start_timeout_secs = t;
    }
    if let Some((key, value)) = f.entry("command").filter(|(_, v)| !v.is_null()) {
        s.command = read_command(ctx, key, value, &f.key_path("command"));
    }
    if ctx.errors.len() == before {
        check_launchers(ctx, f, s);
    }
}

/// What a launcher said, without the "streaming configuration:" prefix the key path replaces.
fn reason(e: StreamError) -> String {
    match e {
        StreamError::Config(m) => m,
        StreamError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn check_docker_path(s: &str) -> Result<PathBuf, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the docker path is empty".into());
    }
    if t.starts_with('-') || t.chars().any(char::is_control) {
        return Err(format!("{} is not a program path", shown(t)));
    }
    Ok(PathBuf::from(t))
}

/// The docker launcher's own image check, so load and run time agree.
fn check_image(s: &str) -> Result<String, String> {
    let launcher = DockerLauncher {
        image: s.trim().to_string(),
        ..DockerLauncher::default()
    };
    launcher.validate().map_err(reason)?;
    Ok(launcher.image)
}

/// The streamer-host parser's user check (it refuses `-oProxyCommand`, `a b`, `root@x`).
fn check_ssh_user(s: &str) -> Result<String, String> {
    let user = s.trim();
    StreamerHost::parse("streamer.invalid", user).map_err(reason)?;
    Ok(user.to_string())
}

fn read_run_args(ctx: &mut Ctx, f: &Fields<'_>) -> Option<Vec<String>> {
    let items = f.text_list(ctx, "run_args")?;
    let path = f.key_path("run_args");
    let mut ok = true;
    let mut prev: Option<&str> = None;
    for (i, (at, arg)) in items.iter().enumerate() {
        if let Err(why) = check_run_arg(prev, arg) {
            ctx.error_hint(
                at,
                &format!("{path}[{i}]"),
                why,
                "run_args are plain `docker run` options such as -v /srv/videodata:/video; stream values are set by schedulight",
            );
            ok = false;
        }
        prev = Some(arg);
    }
    ok.then(|| items.into_iter().map(|(_, a)| a).collect())
}

/// Refuses empty arguments and `-e BBB_…`: those variables carry the per-stream values (the
/// secret among them) and must come from schedulight, not from the process list.
fn check_run_arg(prev: Option<&str>, arg: &str) -> Result<(), String> {
    if arg.is_empty() || arg.chars().any(char::is_control) {
        return Err(format!("{} is not a usable argument", shown(arg)));
    }
    let env_value = match prev {
        Some("-e" | "--env") => Some(arg),
        _ => arg
            .strip_prefix("--env=")
            .or_else(|| arg.strip_prefix("-e").filter(|r| !r.is_empty())),
    };
    if env_value.is_some_and(|v| v.starts_with("BBB_")) {
        return Err("BBB_* variables cannot be set through run_args".into());
    }
    Ok(())
}

fn read_docker_env(ctx: &mut Ctx, f: &Fields<'_>) -> Option<BTreeMap<String, String>> {
    let node = f.get("docker_env")?;
    let path = f.key_path("docker_env");
    let items = read::entries(ctx, node, &path, "a mapping of `NAME: value` lines")?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, key_node, value) in items {
        let key_path = read::join(&path, name);
        let Some(value) = read::text(ctx, value, &key_path) else {
            ok = false;
            continue;
        };
        let probe = DockerLauncher {
            extra_env: vec![(name.to_string(), value.clone())],
            ..DockerLauncher::default()
        };
        if let Err(e) = probe.validate() {
            ctx.error_hint(
                &key_node.at,
                &key_path,
                reason(e),
                "use upper-case names such as DOCKER_CONFIG or SSH_AUTH_SOCK; BBB_* and DOCKER_HOST are set by schedulight",
            );
            ok = false;
            continue;
        }
        out.insert(name.to_string(), value);
    }
    ok.then_some(out)
}

fn timeout(ctx: &mut Ctx, f: &Fields<'_>, key: &str, range: RangeInclusive<u64>) -> Option<u64> {
    let node = f.get(key)?;
    let secs = f.uint::<u64>(ctx, key)?;
    if range.contains(&secs) {
        return Some(secs);
    }
    ctx.error_hint(
        &node.at,
        &f.key_path(key),
        format!("{secs} s is outside {}..={} s", range.start(), range.end()),
        format!(
            "write a number of seconds from {} to {}",
            range.start(),
            range.end()
        ),
    );
    None
}

fn read_command(ctx: &mut Ctx, key: &Node, value: &Node, path: &str) -> Option<CommandTemplates> {
    let f = Fields::new(ctx, value, path, &key.at, COMMAND_KEYS)?;
    let before = ctx.errors.len();
    let start = required_template(
        ctx,
        &f,
        "start",
        "[/usr/local/bin/stream-start, \"{name}\"]",
    );
    let stop = required_template(ctx, &f, "stop", "[/usr/local/bin/stream-stop, \"{name}\"]");
    let status = template(ctx, &f, "status");
    if ctx.errors.len() != before {
        return None;
    }
    Some(CommandTemplates {
        start: start?,
        stop: stop?,
        status,
    })
}

fn required_template(
    ctx: &mut Ctx,
    f: &Fields<'_>,
    key: &str,
    example: &str,
) -> Option<Vec<String>> {
    if !f.has(key) {
        f.missing(ctx, key, example);
        return None;
    }
    template(ctx, f, key)
}

/// An argv list, checked by the command launcher's own rules.
fn template(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> Option<Vec<String>> {
    let node = f.get(key)?;
    let path = f.key_path(key);
    let argv = template_items(ctx, node, &path)?;
    if let Err(e) = check_template(key, argv.clone()) {
        ctx.error_hint(&node.at, &path, reason(e), TEMPLATE_HINT);
        return None;
    }
    Some(argv)
}

fn template_items(ctx: &mut Ctx, node: &Node, path: &str) -> Option<Vec<String>> {
    let Kind::Seq(items) = &node.kind else {
        ctx.error_hint(
            &node.at,
            path,
            format!("expected an argument list, found {}", node.describe()),
            TEMPLATE_HINT,
        );
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        match &item.kind {
            Kind::Scalar { text, .. } => out.push(text.clone()),
            // `- {name}` unquoted is a YAML mapping, the most likely slip here.
            Kind::Map(_) => ctx.error_hint(
                &item.at,
                &item_path,
                "expected text, found a mapping",
                "quote placeholders: - \"{name}\"",
            ),
            _ => ctx.error_hint(
                &item.at,
                &item_path,
                format!("expected text, found {}", item.describe()),
                TEMPLATE_HINT,
            ),
        }
    }
    (out.len() == items.len()).then_some(out)
}

/// Runs `CommandLauncher::new` with `argv` in the slot `which` and a fixed stand-in program in
/// the others, so each template's error is reported at its own key. Nothing is run.
fn check_template(which: &str, argv: Vec<String>) -> Result<(), StreamError> {
    let fixed = || vec!["true".to_string()];
    match which {
        "start" => CommandLauncher::new(argv, fixed(), None),
        "stop" => CommandLauncher::new(fixed(), argv, None),
        _ => CommandLauncher::new(fixed(), fixed(), Some(argv)),
    }
    .map(|_| ())
}

/// Builds both launchers from the finished section, so nothing a launcher checks at stream
/// time can slip past the field checks above.
fn check_launchers(ctx: &mut Ctx, f: &Fields<'_>, s: &StreamingConfig) {
    let results = [
        launcher_for(Some("streamer.invalid"), s),
        launcher_for(None, s),
    ];
    for r in results {
        if let Err(e) = r {
            ctx.error(&f.at, &f.path, reason(e));
            return;
        }
    }
}
