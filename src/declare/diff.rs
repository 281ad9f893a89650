//! Field-level differences between two definitions (their JSON in the original's key names),
//! with secrets shown only as fingerprints.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Paths (dotted, from the definition's root) whose values are secrets.
const SECRET_FIELDS: &[&str] = &[
    "BBB_SECRET",
    "mailPassword",
    "greenlight.database_url",
    "owner.password",
];

/// A secret's fingerprint: enough to see that it changed, useless to recover it.
pub fn fingerprint(secret: &str) -> String {
    format!("sha256:{}", &super::sha256_hex(secret.as_bytes())[..12])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl FieldChange {
    pub fn render(&self) -> String {
        let show = |v: &Value| match v {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        match (&self.before, &self.after) {
            (Some(b), Some(a)) => format!("{}: {} → {}", self.field, show(b), show(a)),
            (None, Some(a)) => format!("+ {}: {}", self.field, show(a)),
            (Some(b), None) => format!("- {} (was {})", self.field, show(b)),
            (None, None) => self.field.clone(),
        }
    }
}

/// Every leaf that differs (all leaves of `after` when there is no `before`), secrets masked.
pub fn fields(before: Option<&Value>, after: &Value) -> Vec<FieldChange> {
    let mut b = Vec::new();
    if let Some(v) = before {
        flatten("", v, &mut b);
    }
    let mut a = Vec::new();
    flatten("", after, &mut a);
    let mut out = Vec::new();
    for (path, av) in &a {
        match b.iter().find(|(p, _)| p == path) {
            Some((_, bv)) if bv == av => {}
            Some((_, bv)) => out.push(change(path, Some(bv), Some(av))),
            None => out.push(change(path, None, Some(av))),
        }
    }
    for (path, bv) in &b {
        if !a.iter().any(|(p, _)| p == path) {
            out.push(change(path, Some(bv), None));
        }
    }
    out
}

fn change(path: &str, before: Option<&Value>, after: Option<&Value>) -> FieldChange {
    let mask = |v: &Value| {
        if SECRET_FIELDS.contains(&path) {
            Value::String(fingerprint(v.as_str().unwrap_or_default()))
        } else {
            v.clone()
        }
    };
    FieldChange {
        field: path.to_string(),
        before: before.map(mask),
        after: after.map(mask),
    }
}

/// Objects become dotted paths; arrays and scalars are leaves.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, child, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_show_as_fingerprints_and_nested_keys_as_paths() {
        let before = json!({"BBB_SECRET": "old-secret", "link_base": "a", "greenlight": {"database_url": "postgres://x"}});
        let after = json!({"BBB_SECRET": "new-secret", "link_base": "b", "mailFrom": "x@uni.example", "greenlight": {"database_url": "postgres://x"}});
        let f = fields(Some(&before), &after);
        let text: Vec<String> = f.iter().map(FieldChange::render).collect();
        assert_eq!(
            text,
            vec![
                format!(
                    "BBB_SECRET: \"{}\" → \"{}\"",
                    fingerprint("old-secret"),
                    fingerprint("new-secret")
                ),
                "link_base: \"a\" → \"b\"".to_string(),
                "+ mailFrom: \"x@uni.example\"".to_string(),
            ]
        );
        assert!(!format!("{f:?}").contains("new-secret"));
    }
}
