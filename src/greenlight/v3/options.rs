//! Room options: the `meeting_options` catalogue, the per-provider `rooms_configurations`
//! policy, the values a new room starts with (greenlight.md §4.2) and the effective values
//! Greenlight uses (§4.3, RoomSettingsGetter).

use super::validate;
use crate::greenlight::{GreenlightError, common};
use sqlx::PgConnection;
use std::collections::BTreeMap;

pub const GUEST_POLICY: &str = "guestPolicy";
pub const VIEWER_CODE: &str = "glViewerAccessCode";
pub const MODERATOR_CODE: &str = "glModeratorAccessCode";
const GUEST_POLICIES: [&str; 3] = ["ALWAYS_ACCEPT", "ALWAYS_DENY", "ASK_MODERATOR"];

/// One `meeting_options` row with the provider's `rooms_configurations` value for it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CatalogueOption {
    pub id: String,
    pub name: Option<String>,
    pub default_value: Option<String>,
    pub config: Option<String>,
}

/// Every meeting option, in Greenlight's order (implicit order column `created_at`).
pub async fn catalogue(
    conn: &mut PgConnection,
    provider: &str,
) -> Result<Vec<CatalogueOption>, GreenlightError> {
    sqlx::query_as::<_, CatalogueOption>(
        "SELECT mo.id::text AS id, mo.name, mo.default_value, rc.value AS config \
         FROM meeting_options mo \
         LEFT JOIN rooms_configurations rc \
           ON rc.meeting_option_id = mo.id AND rc.provider = $1 \
         ORDER BY mo.created_at, mo.id",
    )
    .bind(provider)
    .fetch_all(conn)
    .await
    .map_err(common::db_error)
}

/// `MeetingOption#true_value`: a fresh code for access codes, ASK_MODERATOR for the guest
/// policy, `true` for everything else.
fn true_value(name: &str) -> String {
    if name.ends_with("AccessCode") {
        common::access_code()
    } else if name == GUEST_POLICY {
        "ASK_MODERATOR".to_string()
    } else {
        "true".to_string()
    }
}

/// The value `Room#create_meeting_options` gives a new room: the "on" value when the
/// provider's config is `true` or `default_enabled`, the catalogue default otherwise.
pub fn initial_value(opt: &CatalogueOption) -> Option<String> {
    match (opt.name.as_deref(), opt.config.as_deref()) {
        (Some(name), Some("true" | "default_enabled")) => Some(true_value(name)),
        _ => opt.default_value.clone(),
    }
}

/// What Greenlight uses for a stored value once forced configs (`true`/`false`) apply:
/// access codes keep (forced on) or lose (forced off) their code, the guest policy maps to
/// ASK_MODERATOR/ALWAYS_ACCEPT, anything else takes the config value itself.
pub fn effective(name: &str, stored: Option<&str>, config: Option<&str>) -> String {
    let stored = stored.unwrap_or_default();
    match config {
        Some(forced @ ("true" | "false")) => {
            if name == VIEWER_CODE || name == MODERATOR_CODE {
                if forced == "true" {
                    stored.to_string()
                } else {
                    String::new()
                }
            } else if name == GUEST_POLICY {
                if forced == "true" {
                    "ASK_MODERATOR".into()
                } else {
                    "ALWAYS_ACCEPT".into()
                }
            } else {
                forced.to_string()
            }
        }
        _ => stored.to_string(),
    }
}

/// A requested option, checked against the catalogue and normalised.
#[derive(Debug, Clone)]
pub struct Checked {
    pub option_id: String,
    pub name: String,
    pub value: String,
    /// The provider forces this option (`true`/`false` config): Greenlight ignores the value.
    pub forced: bool,
}

/// Check requested options by name and value; an unknown name lists the known ones.
pub fn check(
    requested: &BTreeMap<String, String>,
    catalogue: &[CatalogueOption],
) -> Result<Vec<Checked>, GreenlightError> {
    requested
        .iter()
        .map(|(name, value)| {
            let opt = catalogue
                .iter()
                .find(|o| o.name.as_deref() == Some(name.as_str()))
                .ok_or_else(|| unknown(name, catalogue))?;
            Ok(Checked {
                option_id: opt.id.clone(),
                name: name.clone(),
                value: normalise(name, opt.default_value.as_deref(), value)?,
                forced: matches!(opt.config.as_deref(), Some("true" | "false")),
            })
        })
        .collect()
}

fn unknown(name: &str, catalogue: &[CatalogueOption]) -> GreenlightError {
    let known: Vec<&str> = catalogue.iter().filter_map(|o| o.name.as_deref()).collect();
    GreenlightError::Invalid(format!(
        "unknown room option {name:?}; Greenlight knows {}",
        known.join(", ")
    ))
}

/// Booleans are `true`/`false` (any case, stored lower-case), the guest policy one of three
/// values (stored upper-case), everything else verbatim text.
fn normalise(name: &str, default: Option<&str>, value: &str) -> Result<String, GreenlightError> {
    if name == GUEST_POLICY {
        let upper = value.trim().to_ascii_uppercase();
        return GUEST_POLICIES
            .iter()
            .find(|p| **p == upper)
            .map(|p| p.to_string())
            .ok_or_else(|| {
                GreenlightError::Invalid(format!(
                    "room option {name} must be one of {}",
                    GUEST_POLICIES.join(", ")
                ))
            });
    }
    if name.ends_with("AccessCode") || !matches!(default, Some("true" | "false")) {
        return validate::option_text(name, value);
    }
    match value.trim().to_ascii_lowercase().as_str() {
        b @ ("true" | "false") => Ok(b.to_string()),
        _ => Err(GreenlightError::Invalid(format!(
            "room option {name} is true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(name: &str, default: &str, config: Option<&str>) -> CatalogueOption {
        CatalogueOption {
            id: format!("id-{name}"),
            name: Some(name.into()),
            default_value: Some(default.into()),
            config: config.map(str::to_string),
        }
    }

    #[test]
    fn initial_values_follow_the_config() {
        assert_eq!(
            initial_value(&opt("record", "false", Some("default_enabled"))).as_deref(),
            Some("true")
        );
        assert_eq!(
            initial_value(&opt("guestPolicy", "ALWAYS_ACCEPT", Some("true"))).as_deref(),
            Some("ASK_MODERATOR")
        );
        let code = initial_value(&opt("glViewerAccessCode", "", Some("true"))).unwrap();
        assert_eq!(code.len(), 6);
        assert_eq!(
            initial_value(&opt("glViewerAccessCode", "", Some("optional"))).as_deref(),
            Some("")
        );
        assert_eq!(
            initial_value(&opt("muteOnStart", "false", None)).as_deref(),
            Some("false")
        );
    }

    #[test]
    fn effective_values() {
        assert_eq!(effective("record", Some("false"), Some("true")), "true");
        assert_eq!(
            effective("record", Some("true"), Some("default_enabled")),
            "true"
        );
        assert_eq!(
            effective(GUEST_POLICY, Some("ASK_MODERATOR"), Some("false")),
            "ALWAYS_ACCEPT"
        );
        assert_eq!(
            effective(VIEWER_CODE, Some("abc123"), Some("true")),
            "abc123"
        );
        assert_eq!(effective(VIEWER_CODE, Some("abc123"), Some("false")), "");
        assert_eq!(effective("serverTag", None, None), "");
    }

    #[test]
    fn checking() {
        let cat = vec![
            opt("record", "false", Some("optional")),
            opt(GUEST_POLICY, "ALWAYS_ACCEPT", None),
            opt("serverTag", "", None),
        ];
        let req = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            check(&req("record", "TRUE"), &cat).unwrap()[0].value,
            "true"
        );
        assert!(check(&req("record", "yes"), &cat).is_err());
        assert_eq!(
            check(&req(GUEST_POLICY, "ask_moderator"), &cat).unwrap()[0].value,
            "ASK_MODERATOR"
        );
        assert!(check(&req(GUEST_POLICY, "NEVER"), &cat).is_err());
        assert_eq!(
            check(&req("serverTag", " gpu "), &cat).unwrap()[0].value,
            " gpu "
        );
        let err = check(&req("nope", "1"), &cat).unwrap_err().to_string();
        assert!(err.contains("record, guestPolicy, serverTag"), "{err}");
    }
}
