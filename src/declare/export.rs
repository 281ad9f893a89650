//! `schedulight export`: the store's servers and meetings as a file in the original's format
//! that `plan` shows as unchanged. Secrets are not written into it: each goes into its own file
//! (mode 0600) named by the `*_FILE` / `*_file` key the reader resolves.

use super::Current;
use crate::domain::MeetingPhase;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Secret keys and the key that names a file holding them, by their place in a definition.
const SECRETS: &[(&[&str], &str, &str)] = &[
    (&[], "BBB_SECRET", "BBB_SECRET_FILE"),
    (&[], "mailPassword", "mailPassword_file"),
    (&["greenlight"], "database_url", "database_url_file"),
    (&["owner"], "password", "password_file"),
];

#[derive(Debug)]
pub struct Exported {
    pub yaml: String,
    pub secret_files: Vec<PathBuf>,
    pub servers: usize,
    pub meetings: usize,
}

/// Builds the file for `out` (its directory anchors the secret files' relative names) and
/// writes the secret files below `secrets_dir`. Servers from bot-config.yml stay there;
/// cancelled and ended meetings are history and are left out.
pub fn export(cur: &Current, out: &Path, secrets_dir: &Path) -> std::io::Result<Exported> {
    let base = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut secret_files = Vec::new();
    let mut servers = Map::new();
    for s in cur
        .servers
        .iter()
        .filter(|s| !cur.config_servers.contains(&s.id))
    {
        let mut v = serde_json::to_value(s).map_err(std::io::Error::other)?;
        let name = format!("server-{}", s.id);
        move_secrets(&mut v, &name, base, secrets_dir, &mut secret_files)?;
        servers.insert(s.id.to_string(), v);
    }
    let mut meetings = Map::new();
    for m in cur
        .meetings
        .iter()
        .filter(|m| !matches!(m.phase, MeetingPhase::Cancelled | MeetingPhase::Ended))
    {
        let mut v = serde_json::to_value(&m.spec).map_err(std::io::Error::other)?;
        let name = format!("meeting-{}", m.spec.id);
        move_secrets(&mut v, &name, base, secrets_dir, &mut secret_files)?;
        meetings.insert(m.spec.id.to_string(), v);
    }
    let (n_servers, n_meetings) = (servers.len(), meetings.len());
    // Servers first, as in the original's files.
    let mut body = String::new();
    for (name, section) in [("servers", servers), ("meetings", meetings)] {
        if section.is_empty() {
            continue;
        }
        let mut doc = Map::new();
        doc.insert(name.into(), Value::Object(section));
        body.push_str(
            &serde_saphyr::to_string(&Value::Object(doc)).map_err(std::io::Error::other)?,
        );
    }
    let yaml = format!(
        "# Written by `schedulight export`: servers and meetings in the original scheduLight format.\n\
         # Secrets are in the files the *_FILE / *_file keys name, not here.\n{body}"
    );
    Ok(Exported {
        yaml,
        secret_files,
        servers: n_servers,
        meetings: n_meetings,
    })
}

fn move_secrets(
    v: &mut Value,
    name: &str,
    base: &Path,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for (parents, key, file_key) in SECRETS {
        let node = match parents.first() {
            Some(p) => v.get_mut(*p),
            None => Some(&mut *v),
        };
        let Some(obj) = node.and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(Value::String(secret)) = obj.remove(*key) else {
            continue;
        };
        if secret.is_empty() {
            continue;
        }
        let path = dir.join(format!("{name}.{key}"));
        write_private(&path, &secret)?;
        let shown = pathdiff(&path, base);
        obj.insert(file_key.to_string(), Value::String(shown));
        written.push(path);
    }
    Ok(())
}

/// Owner-only file (0600), created or replaced.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

/// `path` relative to `base` when it lies below it, else absolute.
fn pathdiff(path: &Path, base: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, b) = (abs(path), abs(base));
    p.strip_prefix(&b)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}
