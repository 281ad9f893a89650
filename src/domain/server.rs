//! A BBB server as the admin defines it (the seed's `servers:` entry, same keys).

use super::ids::{Email, InvalidValue, Secret, ServerId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The digest used for BBB checksums (bbb-api.md §1.2). The server infers it from the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumAlgorithm {
    Sha1,
    #[default]
    Sha256,
    Sha384,
    Sha512,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of the lower-case hex digest; BBB picks the algorithm from it.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha1 => 40,
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    pub fn from_hex_len(len: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.hex_len() == len)
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ChecksumAlgorithm {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "");
        Self::ALL
            .into_iter()
            .find(|a| a.name() == norm)
            .ok_or_else(|| {
                InvalidValue::new(
                    "checksum algorithm",
                    s,
                    "use sha1, sha256, sha384 or sha512",
                )
            })
    }
}

/// The API base of a BBB server, always `http(s)://host[:port]/…/api/` with a trailing slash.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BbbUrl(String);

impl BbbUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL of one API call (`create`, `join`, …) without the query.
    pub fn call(&self, call: &str) -> String {
        format!("{}{}", self.0, call)
    }
}

impl FromStr for BbbUrl {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = |r: &str| InvalidValue::new("BBB_URL", s, r.to_string());
        if t.is_empty() {
            return Err(bad("it is empty"));
        }
        // The seed documents the URL "without http://"; default to https like BBB installs do.
        let with_scheme = if t.contains("://") {
            t.to_string()
        } else {
            format!("https://{t}")
        };
        let parsed = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if parsed.host_str().is_none() || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("expected https://host/bigbluebutton/api"));
        }
        let mut base = parsed.to_string();
        if parsed.path() == "/" {
            base.push_str("bigbluebutton/api/");
        } else if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Self(base))
    }
}

impl TryFrom<String> for BbbUrl {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<BbbUrl> for String {
    fn from(u: BbbUrl) -> String {
        u.0
    }
}

impl fmt::Display for BbbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BbbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BbbUrl({:?})", self.0)
    }
}

/// Which Greenlight schema a database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GreenlightVersion {
    V2,
    V3,
}

/// How to reach one Greenlight (per server, or the default block in bot-config.yml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GreenlightSettings {
    /// `None`: detect from the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<GreenlightVersion>,
    /// `postgres://…` of Greenlight's database.
    pub database_url: Secret,
    /// v3: the tenant (`users.provider`, `greenlight` in single-tenant installs).
    /// v2: the auth provider of created users (`greenlight`, `ldap`, …; the original used `ldap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Public base URL of Greenlight (`https://gl.uni.example`; v2: `https://host/b`).
    pub link_base: String,
    /// bcrypt cost for passwords we set (Greenlight's default is 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcrypt_cost: Option<u32>,
}

fn default_timeout_ms() -> u64 {
    5_000
}

/// One BBB server. Keys keep the seed's spelling; mail settings are optional (the seed required
/// SMTP settings even when no mail was wanted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub id: ServerId,
    #[serde(rename = "BBB_URL")]
    pub url: BbbUrl,
    #[serde(rename = "BBB_SECRET")]
    pub secret: Secret,
    /// Digest for checksums; BBB ≥ 2.5 accepts all four unless restricted.
    #[serde(rename = "checksumAlgorithm", default)]
    pub checksum: ChecksumAlgorithm,
    /// Per-request timeout towards this server.
    #[serde(rename = "timeoutMs", default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Greenlight room URL prefix, e.g. `https://gl.uni.example/b` or `/rooms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_emails: Option<bool>,
    #[serde(rename = "mailDebug", default, skip_serializing_if = "Option::is_none")]
    pub mail_debug: Option<bool>,
    #[serde(rename = "mailFrom", default, skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<Email>,
    #[serde(
        rename = "mailFromName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mail_from_name: Option<String>,
    #[serde(rename = "mailTo", default, skip_serializing_if = "Option::is_none")]
    pub mail_to: Option<Email>,
    #[serde(
        rename = "mailToName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mail_to_name: Option<String>,
    #[serde(
        rename = "mailServer",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mail_server: Option<String>,
    #[serde(rename = "mailUser", default, skip_serializing_if = "Option::is_none")]
    pub mail_user: Option<String>,
    #[serde(
        rename = "mailPassword",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mail_password: Option<Secret>,
    /// The Greenlight whose rooms live on this server; the app-wide default block applies when
    /// a server names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greenlight: Option<GreenlightSettings>,
}

impl ServerSpec {
    /// A minimal server: id, API URL and secret.
    pub fn new(id: ServerId, url: BbbUrl, secret: Secret) -> Self {
        Self {
            id,
            url,
            secret,
            checksum: ChecksumAlgorithm::default(),
            timeout_ms: default_timeout_ms(),
            link_base: None,
            send_emails: None,
            mail_debug: None,
            mail_from: None,
            mail_from_name: None,
            mail_to: None,
            mail_to_name: None,
            mail_server: None,
            mail_user: None,
            mail_password: None,
            greenlight: None,
        }
    }

    /// What may be shown to users and API clients: no secrets.
    pub fn summary(&self) -> ServerSummary {
        ServerSummary {
            id: self.id.clone(),
            url: self.url.to_string(),
            checksum: self.checksum,
            timeout_ms: self.timeout_ms,
            link_base: self.link_base.clone(),
            send_emails: self.send_emails.unwrap_or(false),
            greenlight: self.greenlight.as_ref().map(|g| g.link_base.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSummary {
    pub id: ServerId,
    pub url: String,
    pub checksum: ChecksumAlgorithm,
    pub timeout_ms: u64,
    pub link_base: Option<String>,
    pub send_emails: bool,
    /// Greenlight's public URL, when the server has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greenlight: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbb_url_normalises() {
        let u: BbbUrl = "bbb.uni.example/bigbluebutton/api".parse().unwrap();
        assert_eq!(u.as_str(), "https://bbb.uni.example/bigbluebutton/api/");
        let u: BbbUrl = "http://127.0.0.1:8090".parse().unwrap();
        assert_eq!(
            u.call("create"),
            "http://127.0.0.1:8090/bigbluebutton/api/create"
        );
        assert!("ftp://x/".parse::<BbbUrl>().is_err());
        assert!("https://x/api?a=b".parse::<BbbUrl>().is_err());
    }

    #[test]
    fn algorithm_by_name_and_length() {
        assert_eq!(
            "SHA-512".parse::<ChecksumAlgorithm>().unwrap(),
            ChecksumAlgorithm::Sha512
        );
        assert_eq!(
            ChecksumAlgorithm::from_hex_len(96),
            Some(ChecksumAlgorithm::Sha384)
        );
        assert!("md5".parse::<ChecksumAlgorithm>().is_err());
    }

    #[test]
    fn summary_has_no_secret() {
        let s = ServerSpec::new(
            "bbb".parse().unwrap(),
            "https://b.example/bigbluebutton/api/".parse().unwrap(),
            Secret::new("topsecret"),
        );
        let json = serde_json::to_string(&s.summary()).unwrap();
        assert!(!json.contains("topsecret"));
    }
}
