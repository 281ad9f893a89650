//! What a stream needs, validated before any program runs: the container name, the
//! streamer host, the BBB address and secret, the meeting and the RTMP target.

use super::StreamError;
use crate::domain::{BbbMeetingId, BbbUrl, Secret};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Longest name we hand to docker (docker itself has no small limit; this keeps names readable).
const MAX_NAME: usize = 128;
/// Prefix of every stream name, so an operator sees at once which containers are ours.
const NAME_PREFIX: &str = "sl-stream-";

/// The stable name of one stream (docker container name, or the `{name}` of a command
/// template): `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 128 characters. The same meeting
/// occurrence always gets the same name, which is what makes start and stop idempotent.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

impl StreamName {
    /// Accepts only a name that is already safe; use [`StreamName::for_occurrence`] to derive
    /// one from arbitrary text.
    pub fn parse(s: &str) -> Result<Self, StreamError> {
        check_name(s)
            .map(|()| Self(s.to_string()))
            .map_err(|reason| StreamError::invalid("stream name", Some(s), reason))
    }

    /// `sl-stream-<meeting>-<occurrence>`, with every character docker does not accept
    /// replaced by `-`. When anything had to be replaced or cut, a short hash of the
    /// original text is appended so two different meetings never share a name.
    pub fn for_occurrence(meeting: &str, occurrence: &str) -> Self {
        let raw = format!("{meeting}-{occurrence}");
        let cleaned: String = raw
            .chars()
            .map(|c| if is_name_char(c) { c } else { '-' })
            .collect();
        let room = MAX_NAME - NAME_PREFIX.len();
        if cleaned == raw && cleaned.len() <= room {
            return Self(format!("{NAME_PREFIX}{cleaned}"));
        }
        let digest = Sha256::digest(raw.as_bytes());
        let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        // Cleaned text is ASCII, so byte truncation is a char boundary.
        let keep = cleaned.len().min(room - tag.len() - 1);
        Self(format!("{NAME_PREFIX}{}-{tag}", &cleaned[..keep]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for StreamName {
    type Err = StreamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamName({:?})", self.0)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Docker's container-name rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, plus our length cap.
fn check_name(s: &str) -> Result<(), String> {
    let Some(first) = s.chars().next() else {
        return Err("it is empty".into());
    };
    if s.len() > MAX_NAME {
        return Err(format!("it is longer than {MAX_NAME} characters"));
    }
    if !first.is_ascii_alphanumeric() || !s.chars().all(is_name_char) {
        return Err(
            "use letters, digits, '_', '.' and '-', starting with a letter or digit".into(),
        );
    }
    Ok(())
}

/// A streamer host reached over SSH by docker: `[user@]host[:port]`. Validated so that
/// neither ssh nor a shell could read any part as an option or a command
/// (`-oProxyCommand=…`, `a b`, `$(x)` are refused).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StreamerHost {
    user: String,
    host: String,
    port: Option<u16>,
}

impl StreamerHost {
    /// `default_user` applies when `s` names none (the original always used `root`).
    pub fn parse(s: &str, default_user: &str) -> Result<Self, StreamError> {
        let bad = |reason: String| StreamError::invalid("streamer host", Some(s), reason);
        let (user, rest) = match s.split_once('@') {
            Some((u, r)) => (u, r),
            None => (default_user, s),
        };
        check_user(user).map_err(bad)?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad(format!("{p:?} is not a port number")))?;
                (h, Some(port))
            }
            None => (rest, None),
        };
        check_host_name(host).map_err(bad)?;
        Ok(Self {
            user: user.to_string(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The `DOCKER_HOST` value: `ssh://user@host[:port]`.
    pub fn docker_host(&self) -> String {
        format!("ssh://{self}")
    }
}

impl fmt::Display for StreamerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.host)?;
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for StreamerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamerHost({self})")
    }
}

/// A POSIX-style login name.
fn check_user(u: &str) -> Result<(), String> {
    let ok = !u.is_empty()
        && u.len() <= 32
        && u.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    ok.then_some(())
        .ok_or_else(|| "the user must be a plain login name such as root".into())
}

/// A DNS name or IPv4 address: dot-separated labels of letters, digits and inner '-'.
fn check_host_name(h: &str) -> Result<(), String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let ok = !h.is_empty() && h.len() <= 253 && h.split('.').all(label_ok);
    ok.then_some(()).ok_or_else(|| {
        "write a host name such as streamer.uni.example (letters, digits, '-' and '.')".into()
    })
}

/// One stream to start. Build it with [`StreamRequest::new`]; the launchers check it again
/// (fields are public) before anything runs.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// Stable per meeting occurrence, e.g. `StreamName::for_occurrence(meeting, occurrence)`.
    pub name: StreamName,
    /// The BBB API base the streamer joins through (`BBB_URL`).
    pub bbb_url: BbbUrl,
    /// The BBB shared secret (`BBB_SECRET`); goes to the child only through its environment.
    pub bbb_secret: Secret,
    /// The BBB meetingID to stream (`BBB_MEETING_ID`).
    pub meeting_id: BbbMeetingId,
    /// `rtmp://` or `rtmps://` target (`BBB_STREAM_URL`); often carries a stream key, so it
    /// is treated like a secret in logs and error messages.
    pub stream_url: String,
    /// Intro to play first (`BBB_INTRO`): a path inside the container (`/video/intro.mp4`)
    /// or an http(s)/rtmp(s) URL.
    pub intro: Option<String>,
}

impl StreamRequest {
    pub fn new(
        name: StreamName,
        bbb_url: BbbUrl,
        bbb_secret: Secret,
        meeting_id: BbbMeetingId,
        stream_url: impl Into<String>,
        intro: Option<String>,
    ) -> Result<Self, StreamError> {
        let req = Self {
            name,
            bbb_url,
            bbb_secret,
            meeting_id,
            stream_url: stream_url.into(),
            intro,
        };
        req.validate()?;
        Ok(req)
    }

    /// Everything a launcher relies on; called again by every launcher before it runs.
    pub fn validate(&self) -> Result<(), StreamError> {
        check_name(self.name.as_str())
            .map_err(|r| StreamError::invalid("stream name", Some(self.name.as_str()), r))?;
        check_stream_url(&self.stream_url)
            // The URL usually holds a stream key: never echo it.
            .map_err(|r| StreamError::invalid("stream URL", None, r))?;
        if let Some(intro) = &self.intro {
            check_intro(intro).map_err(|r| StreamError::invalid("intro", Some(intro), r))?;
        }
        let secret = self.bbb_secret.expose();
        if secret.is_empty() || secret.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(StreamError::invalid(
                "BBB secret",
                None,
                "it is empty or contains spaces or control characters".into(),
            ));
        }
        Ok(())
    }

    /// The container's environment, in a fixed order (`BBB_INTRO` only when set).
    pub fn env(&self) -> Vec<(&'static str, &str)> {
        let mut env = vec![
            (ENV_URL, self.bbb_url.as_str()),
            (ENV_SECRET, self.bbb_secret.expose()),
            (ENV_MEETING_ID, self.meeting_id.as_str()),
            (ENV_STREAM_URL, self.stream_url.as_str()),
        ];
        if let Some(intro) = &self.intro {
            env.push((ENV_INTRO, intro.as_str()));
        }
        env
    }

    /// Values that must never show up in an error message or log.
    pub(crate) fn sensitive(&self) -> Vec<String> {
        vec![
            self.bbb_secret.expose().to_string(),
            self.stream_url.clone(),
        ]
    }
}

/// Debug shows the name, meeting and BBB URL only: the secret and the stream key stay out.
impl fmt::Debug for StreamRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRequest")
            .field("name", &self.name)
            .field("bbb_url", &self.bbb_url)
            .field("bbb_secret", &self.bbb_secret)
            .field("meeting_id", &self.meeting_id)
            .field("stream_url", &"***")
            .field("intro", &self.intro)
            .finish()
    }
}

pub const ENV_URL: &str = "BBB_URL";
pub const ENV_SECRET: &str = "BBB_SECRET";
pub const ENV_MEETING_ID: &str = "BBB_MEETING_ID";
pub const ENV_STREAM_URL: &str = "BBB_STREAM_URL";
pub const ENV_INTRO: &str = "BBB_INTRO";
/// Every variable a stream may set; cleared from the child when not set on purpose so
/// nothing leaks in from our own environment.
pub const STREAM_ENV: [&str; 5] = [
    ENV_URL,
    ENV_SECRET,
    ENV_MEETING_ID,
    ENV_STREAM_URL,
    ENV_INTRO,
];

/// Characters allowed in stream and intro URLs. The liveStreaming image splices these values
/// into shell and ffmpeg command lines unquoted, so spaces, quotes, `;`, `$`, backticks,
/// parentheses and glob brackets are refused even though no shell runs on our side.
fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '_' | '~' | ':' | '/' | '?' | '&' | '=' | '%' | '+' | '@'
        )
}

fn check_stream_url(s: &str) -> Result<(), String> {
    let hint = "write an rtmp:// or rtmps:// URL such as rtmp://media.uni.example/stream/key";
    if s.is_empty() || s.len() > 2048 || !s.chars().all(is_url_char) {
        return Err(format!(
            "it is empty, too long or has characters other than letters, digits and -._~:/?&=%+@; {hint}"
        ));
    }
    let u = url::Url::parse(s).map_err(|_| format!("it is not a URL; {hint}"))?;
    if !matches!(u.scheme(), "rtmp" | "rtmps") || u.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "only rtmp:// and rtmps:// with a host are accepted; {hint}"
        ));
    }
    Ok(())
}

fn check_intro(s: &str) -> Result<(), String> {
    let hint = "write a path inside the streamer such as /video/intro.mp4, or an http(s) URL";
    if s.is_empty() || s.len() > 1024 || !s.chars().all(is_url_char) {
        return Err(format!(
            "it has characters other than letters, digits and -._~:/?&=%+@; {hint}"
        ));
    }
    if s.starts_with('/') {
        return Ok(());
    }
    match url::Url::parse(s) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https" | "rtmp" | "rtmps")
                && u.host_str().is_some() =>
        {
            Ok(())
        }
        _ => Err(hint.into()),
    }
}

/// The liveStreaming image expands `BBB_URL`, `BBB_SECRET` and `BBB_MEETING_ID` unquoted in
/// its start script, so a space or glob character there would split into extra arguments
/// (a meeting id `x -t rtmp://elsewhere` would redirect the stream). Refuse such values for
/// the docker launcher instead of letting the container misread them.
pub(crate) fn check_image_safe(req: &StreamRequest) -> Result<(), StreamError> {
    let splits = |v: &str| {
        v.chars()
            .any(|c| c.is_whitespace() || matches!(c, '*' | '?' | '[' | ']'))
    };
    if splits(req.meeting_id.as_str()) {
        return Err(StreamError::invalid(
            "BBB meeting ID",
            Some(req.meeting_id.as_str()),
            "the liveStreaming image cannot take spaces or *?[] in a meeting ID".into(),
        ));
    }
    if splits(req.bbb_url.as_str()) {
        return Err(StreamError::invalid(
            "BBB URL",
            Some(req.bbb_url.as_str()),
            "the liveStreaming image cannot take spaces or *?[] in the BBB URL".into(),
        ));
    }
    if splits(req.bbb_secret.expose()) {
        return Err(StreamError::invalid(
            "BBB secret",
            None,
            "the liveStreaming image cannot take spaces or *?[] in the secret".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_stable_and_distinct() {
        let a = StreamName::for_occurrence("lecture-1", "20260301T1000");
        assert_eq!(a.as_str(), "sl-stream-lecture-1-20260301T1000");
        let b = StreamName::for_occurrence("a b", "2026-03-01T10:00:00+01:00");
        let c = StreamName::for_occurrence("a-b", "2026-03-01T10:00:00+01:00");
        assert!(
            b.as_str()
                .starts_with("sl-stream-a-b-2026-03-01T10-00-00-01-00-")
        );
        assert_ne!(b, c);
        assert_eq!(
            b,
            StreamName::for_occurrence("a b", "2026-03-01T10:00:00+01:00")
        );
        let long = StreamName::for_occurrence(&"x".repeat(300), "1");
        assert!(long.as_str().len() <= MAX_NAME);
        for n in [&a, &b, &c, &long] {
            assert!(StreamName::parse(n.as_str()).is_ok(), "{n}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "-x", ".x", "a b", "a;b", "a/b", &"a".repeat(129)] {
            assert!(StreamName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts() {
        let h = StreamerHost::parse("Streamer.Uni.example", "root").unwrap();
        assert_eq!(h.docker_host(), "ssh://root@streamer.uni.example");
        let h = StreamerHost::parse("stream@10.0.0.7:2222", "root").unwrap();
        assert_eq!(h.docker_host(), "ssh://stream@10.0.0.7:2222");
        for bad in [
            "",
            "-oProxyCommand=x",
            "a b",
            "$(x)",
            "`x`",
            "a;b",
            "h:0",
            "h:x",
            "h:70000",
            "-x@h",
            "ro ot@h",
            "h.",
            ".h",
            "a..b",
            "ssh://h",
            "h\n",
            "[::1]",
        ] {
            assert!(StreamerHost::parse(bad, "root").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stream_urls() {
        for ok in [
            "rtmp://m.example/live/key",
            "rtmps://m.example:443/app/k?token=a&x=1",
        ] {
            assert!(check_stream_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://m.example/x",
            "rtmp://x; rm -rf /",
            "rtmp://x/$(id)",
            "rtmp://x/\"a\"",
            "rtmp:///nohost",
            "rtmp://x/a b",
            "",
            "-rtmp://x",
            "file:///etc/passwd",
        ] {
            assert!(check_stream_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn intros() {
        for ok in ["/video/5min.mp4", "https://intro.example/s.mp4"] {
            assert!(check_intro(ok).is_ok(), "{ok}");
        }
        for bad in ["-i x", "video.mp4", "/a b.mp4", "/x;rm", "ftp://x/y", ""] {
            assert!(check_intro(bad).is_err(), "{bad:?}");
        }
    }
}
