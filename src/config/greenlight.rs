//! A `greenlight:` block: how to reach one Greenlight's database and how to link to it. It may
//! sit on a server entry (bot-config.yml or a seed file) or app-wide in bot-config.yml, where it
//! is the default for every server that names none (the original tool had exactly one
//! Greenlight database per process, given on its command line).

use super::app::check_postgres_url;
use super::read::{Ctx, Fields, shown};
use super::server::check_http_url;
use super::tree::At;
use crate::domain::Secret;
use crate::domain::server::{GreenlightSettings, GreenlightVersion};
use std::ops::RangeInclusive;

pub(crate) const GREENLIGHT_KEYS: &[&str] = &[
    "version",
    "database_url",
    "database_url_file",
    "provider",
    "link_base",
    "bcrypt_cost",
];

/// The costs the bcrypt crate accepts; Greenlight itself uses 12 (greenlight.md §3.1).
pub const BCRYPT_COSTS: RangeInclusive<u32> = 4..=31;

/// Which block is being read; the app-wide one can also come from `SCHEDULIGHT_GREENLIGHT_*`,
/// so its hints name those variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Server,
    App,
}

const VERSION_HINT: &str = "use v2 or v3, or leave `version` out to detect it from the database";
const DB_URL_HINT: &str = "write postgres://user:password@host:5432/dbname (or put it into a file named by `database_url_file`)";
const LINK_HINT: &str = "write Greenlight's public URL, e.g. https://gl.uni.example (Greenlight 2: https://bbb.uni.example/b)";
const PROVIDER_HINT: &str = "write the provider as stored in users.provider, e.g. greenlight (v3 single tenant) or ldap (v2)";

/// Reads one block; None if it has any problem (all of them recorded). Every key is read even
/// when an earlier one failed, so one run reports all problems.
pub(crate) fn read_greenlight(
    ctx: &mut Ctx,
    f: &Fields<'_>,
    scope: Scope,
) -> Option<GreenlightSettings> {
    let before = ctx.errors.len();
    let version = f.checked(ctx, "version", VERSION_HINT, parse_version);
    let database_url = read_database_url(ctx, f, scope);
    let link_base = read_link_base(ctx, f, scope);
    let provider = f.checked(ctx, "provider", PROVIDER_HINT, check_provider);
    let bcrypt_cost = read_bcrypt_cost(ctx, f);
    let settings = GreenlightSettings {
        version: version.flatten(),
        database_url: database_url?,
        provider,
        link_base: link_base?,
        bcrypt_cost,
    };
    (ctx.errors.len() == before).then_some(settings)
}

/// `v2` / `v3` (also `2` / `3`); `auto` means "detect", which lets an environment variable
/// undo a version pinned in the file.
pub(crate) fn parse_version(s: &str) -> Result<Option<GreenlightVersion>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "v2" | "2" => Ok(Some(GreenlightVersion::V2)),
        "v3" | "3" => Ok(Some(GreenlightVersion::V3)),
        "auto" | "detect" => Ok(None),
        _ => Err(format!("{} is not a Greenlight version", shown(s.trim()))),
    }
}

/// The database URL is a secret (it usually holds the password): no message ever shows it.
fn read_database_url(ctx: &mut Ctx, f: &Fields<'_>, scope: Scope) -> Option<Secret> {
    if !f.has_secret("database_url") {
        if already_reported(ctx, f) {
            return None;
        }
        missing(
            ctx,
            f,
            scope,
            "database_url",
            "`database_url: postgres://user:password@host/greenlight_production` or \
             `database_url_file: /run/secrets/greenlight_db_url`",
        );
        return None;
    }
    let url = f.secret(ctx, "database_url")?;
    let url = url.trim();
    match check_database_url(url) {
        Ok(()) => Some(Secret::new(url)),
        Err(reason) => {
            let key = if f.has("database_url") {
                "database_url"
            } else {
                "database_url_file"
            };
            let at = f.get(key).map_or_else(|| f.at.clone(), |n| n.at.clone());
            ctx.error_hint(&at, &f.key_path(key), reason, DB_URL_HINT);
            None
        }
    }
}

/// True when a `database_url` value was refused before it reached the block (two environment
/// variables for it), so "missing" would only repeat that problem.
fn already_reported(ctx: &Ctx, f: &Fields<'_>) -> bool {
    let keys = [f.key_path("database_url"), f.key_path("database_url_file")];
    ctx.errors.iter().any(|e| keys.contains(&e.path))
}

/// Greenlight runs on PostgreSQL only. The messages never contain any part of the URL.
pub(crate) fn check_database_url(s: &str) -> Result<(), String> {
    let lower = s.trim().to_ascii_lowercase();
    if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
        return Err("the database URL must start with postgres:// or postgresql://".into());
    }
    check_postgres_url(s.trim())
}

fn read_link_base(ctx: &mut Ctx, f: &Fields<'_>, scope: Scope) -> Option<String> {
    if !f.has("link_base") {
        missing(
            ctx,
            f,
            scope,
            "link_base",
            "`link_base: https://gl.uni.example`",
        );
        return None;
    }
    f.checked(ctx, "link_base", LINK_HINT, check_greenlight_link_base)
}

/// An absolute http(s) URL without query, fragment or login, kept as written but without a
/// trailing `/`, so `<link_base>/rooms/<id>/join` never has a double slash.
pub(crate) fn check_greenlight_link_base(s: &str) -> Result<String, String> {
    let t = s.trim();
    let u = check_http_url(t)?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("the link must not contain a user name or password".into());
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!(
            "{} has a query or fragment; links are built by appending paths",
            shown(t)
        ));
    }
    Ok(t.trim_end_matches('/').to_string())
}

/// A v3 tenant name or a v2 auth provider: a short word as Greenlight stores it.
fn check_provider(s: &str) -> Result<String, String> {
    let t = s.trim();
    let ok = !t.is_empty()
        && t.len() <= 255
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then(|| t.to_string())
        .ok_or_else(|| format!("{} is not a provider name", shown(t)))
}

fn read_bcrypt_cost(ctx: &mut Ctx, f: &Fields<'_>) -> Option<u32> {
    let cost = f.uint::<u32>(ctx, "bcrypt_cost")?;
    if BCRYPT_COSTS.contains(&cost) {
        return Some(cost);
    }
    let node = f.get("bcrypt_cost")?;
    ctx.error_hint(
        &node.at,
        &f.key_path("bcrypt_cost"),
        format!("bcrypt cost {cost} is out of range"),
        format!(
            "use {} to {} (Greenlight uses 12; each step doubles the time to hash)",
            BCRYPT_COSTS.start(),
            BCRYPT_COSTS.end()
        ),
    );
    None
}

/// "`key` is missing", with a hint that names the environment variables when the block is
/// the app-wide one (which may have been created by one of them alone).
fn missing(ctx: &mut Ctx, f: &Fields<'_>, scope: Scope, key: &str, example: &str) {
    let hint = match scope {
        Scope::Server => format!("add {example}"),
        Scope::App => {
            let var = super::app::env_var_name("greenlight", key);
            let file_var = if key == "database_url" {
                format!(" or {var}_FILE")
            } else {
                String::new()
            };
            let place = match f.at {
                At::Env { .. } => "set",
                At::Yaml { .. } => "add it here or set",
            };
            format!("{place} {var}{file_var}, e.g. {example}")
        }
    };
    ctx.error_hint(&f.at, &f.path, format!("`{key}` is missing"), hint);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v3"), Ok(Some(GreenlightVersion::V3)));
        assert_eq!(parse_version(" V2 "), Ok(Some(GreenlightVersion::V2)));
        assert_eq!(parse_version("3"), Ok(Some(GreenlightVersion::V3)));
        assert_eq!(parse_version("auto"), Ok(None));
        assert!(parse_version("v4").unwrap_err().contains("\"v4\""));
    }

    #[test]
    fn database_urls_are_never_echoed() {
        assert!(check_database_url("postgres://gl:pw@db.example/gl").is_ok());
        assert!(check_database_url("PostgreSQL://gl@db.example:5433/gl").is_ok());
        for bad in [
            "mysql://gl:hunter2@db.example/gl",
            "postgres://gl:hunter2@/gl",
            "postgres://gl:hunter2@db.example:99999/gl",
            "hunter2",
        ] {
            let e = check_database_url(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn link_bases() {
        assert_eq!(
            check_greenlight_link_base("https://gl.uni.example/").unwrap(),
            "https://gl.uni.example"
        );
        assert_eq!(
            check_greenlight_link_base("https://bbb.uni.example/b").unwrap(),
            "https://bbb.uni.example/b"
        );
        assert!(check_greenlight_link_base("/rooms").is_err());
        assert!(check_greenlight_link_base("ftp://gl.uni.example").is_err());
        assert!(check_greenlight_link_base("https://gl.uni.example/?x=1").is_err());
        let e = check_greenlight_link_base("https://u:hunter2@gl.uni.example").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn providers() {
        assert_eq!(check_provider(" greenlight ").unwrap(), "greenlight");
        assert!(check_provider("openid_connect").is_ok());
        assert!(check_provider("two words").is_err());
        assert!(check_provider("").is_err());
    }
}
