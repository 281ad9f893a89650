//! A BBB server entry (`servers: {id: {BBB_URL, BBB_SECRET, …}}`), shared by `bot-config.yml`
//! and the seed format.

use super::greenlight::{GREENLIGHT_KEYS, Scope, read_greenlight};
use super::read::{Ctx, Fields, join};
use super::tree::Node;
use crate::domain::{BbbUrl, ChecksumAlgorithm, Email, Secret, ServerId, ServerSpec};

pub(crate) const SERVER_KEYS: &[&str] = &[
    "id",
    "BBB_URL",
    "BBB_SECRET",
    "BBB_SECRET_FILE",
    "checksumAlgorithm",
    "timeoutMs",
    "link_base",
    "send_emails",
    "mailDebug",
    "mailFrom",
    "mailFromName",
    "mailTo",
    "mailToName",
    "mailServer",
    "mailUser",
    "mailPassword",
    "mailPassword_file",
    "greenlight",
];

pub(crate) const EMAIL_HINT: &str = "write an address like alice@uni.example";

/// Parses a map key as an identity (server id, meeting id), reporting at the key.
pub(crate) fn key_as<T>(ctx: &mut Ctx, key: &str, key_node: &Node, path: &str) -> Option<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match key.parse::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.error_hint(
                &key_node.at,
                path,
                e.to_string(),
                "rename the key using letters, digits, '-', '_' and '.'",
            );
            None
        }
    }
}

/// `id:` may be left out; if given it must equal the map key, which is the identity.
pub(crate) fn check_id_matches(ctx: &mut Ctx, f: &Fields<'_>, key: &str) {
    let Some(node) = f.get("id") else { return };
    let Some(id) = node.as_text() else {
        ctx.error(&node.at, &f.key_path("id"), "expected text");
        return;
    };
    if id.trim() != key.trim() {
        ctx.error_hint(
            &node.at,
            &f.key_path("id"),
            format!("id `{}` differs from its key `{key}`", id.trim()),
            format!("remove `id` (the key is the identity) or write `id: {key}`"),
        );
    }
}

/// Reads one server entry; None if it has any problem (all of them recorded).
pub(crate) fn read_server(
    ctx: &mut Ctx,
    key: &str,
    key_node: &Node,
    value: &Node,
    parent: &str,
) -> Option<ServerSpec> {
    let before = ctx.errors.len();
    let path = join(parent, key);
    let id = key_as::<ServerId>(ctx, key, key_node, &path);
    let f = Fields::new(ctx, value, &path, &key_node.at, SERVER_KEYS)?;
    check_id_matches(ctx, &f, key);
    let url = f.req_parsed::<BbbUrl>(
        ctx,
        "BBB_URL",
        "write the API URL, e.g. https://bbb.uni.example/bigbluebutton/api",
        "https://bbb.uni.example/bigbluebutton/api",
    );
    if !f.has_secret("BBB_SECRET") {
        ctx.error_hint(
            &f.at,
            &path,
            "`BBB_SECRET` is missing",
            "add `BBB_SECRET: …` (output of `bbb-conf --secret`) or `BBB_SECRET_FILE: /path`",
        );
    }
    let secret = f.secret(ctx, "BBB_SECRET");
    // Read the optional keys even when the required ones failed, to report every problem.
    let o = read_server_options(ctx, &f);
    let greenlight = read_server_greenlight(ctx, &f);
    let mut spec = ServerSpec::new(id?, url?, Secret::new(secret?));
    if let Some(c) = o.checksum {
        spec.checksum = c;
    }
    if let Some(t) = o.timeout_ms {
        spec.timeout_ms = t;
    }
    spec.link_base = o.link_base;
    spec.send_emails = o.send_emails;
    spec.mail_debug = o.mail_debug;
    spec.mail_from = o.mail_from;
    spec.mail_from_name = o.mail_from_name;
    spec.mail_to = o.mail_to;
    spec.mail_to_name = o.mail_to_name;
    spec.mail_server = o.mail_server;
    spec.mail_user = o.mail_user;
    spec.mail_password = o.mail_password;
    spec.greenlight = greenlight;
    (ctx.errors.len() == before).then_some(spec)
}

struct ServerOptions {
    checksum: Option<ChecksumAlgorithm>,
    timeout_ms: Option<u64>,
    link_base: Option<String>,
    send_emails: Option<bool>,
    mail_debug: Option<bool>,
    mail_from: Option<Email>,
    mail_from_name: Option<String>,
    mail_to: Option<Email>,
    mail_to_name: Option<String>,
    mail_server: Option<String>,
    mail_user: Option<String>,
    mail_password: Option<Secret>,
}

fn read_server_options(ctx: &mut Ctx, f: &Fields<'_>) -> ServerOptions {
    ServerOptions {
        checksum: f.parsed(
            ctx,
            "checksumAlgorithm",
            "use sha1, sha256, sha384 or sha512",
        ),
        timeout_ms: read_timeout(ctx, f),
        link_base: f.checked(
            ctx,
            "link_base",
            "write the Greenlight room URL prefix, e.g. https://gl.uni.example/b",
            check_link_base,
        ),
        send_emails: f.bool(ctx, "send_emails"),
        mail_debug: f.bool(ctx, "mailDebug"),
        mail_from: f.parsed(ctx, "mailFrom", EMAIL_HINT),
        mail_from_name: f.text(ctx, "mailFromName"),
        mail_to: f.parsed(ctx, "mailTo", EMAIL_HINT),
        mail_to_name: f.text(ctx, "mailToName"),
        mail_server: f.text(ctx, "mailServer"),
        mail_user: f.text(ctx, "mailUser"),
        mail_password: f.secret(ctx, "mailPassword").map(Secret::new),
    }
}

/// The server's own Greenlight; `greenlight:` left empty counts as none (the app-wide default
/// applies then).
fn read_server_greenlight(
    ctx: &mut Ctx,
    f: &Fields<'_>,
) -> Option<crate::domain::server::GreenlightSettings> {
    let (key_node, value) = f.entry("greenlight").filter(|(_, v)| !v.is_null())?;
    let g = Fields::new(
        ctx,
        value,
        &f.key_path("greenlight"),
        &key_node.at,
        GREENLIGHT_KEYS,
    )?;
    read_greenlight(ctx, &g, Scope::Server)
}

fn read_timeout(ctx: &mut Ctx, f: &Fields<'_>) -> Option<u64> {
    let t = f.uint::<u64>(ctx, "timeoutMs")?;
    if (100..=600_000).contains(&t) {
        return Some(t);
    }
    let node = f.get("timeoutMs")?;
    ctx.error_hint(
        &node.at,
        &f.key_path("timeoutMs"),
        format!("timeout of {t} ms is out of range"),
        "use 100 to 600000 milliseconds (default 5000)",
    );
    None
}

/// An absolute http(s) URL, or a path on the same host (`/rooms`).
pub(crate) fn check_link_base(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.starts_with('/') && !t.starts_with("//") {
        return Ok(t.to_string());
    }
    check_http_url(t).map(|u| u.to_string())
}

pub(crate) fn check_http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s.trim()).map_err(|e| format!("{} is not a URL: {e}", shown_url(s)))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(format!(
            "{} is not an http(s) URL with a host",
            shown_url(s)
        ));
    }
    Ok(u)
}

fn shown_url(s: &str) -> String {
    super::read::shown(s)
}
