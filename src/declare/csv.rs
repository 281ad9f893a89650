//! CSV imports, read into meetings of the original's format and checked by the same reader as
//! its YAML files, so a CSV row gets exactly the checks (and messages) a YAML meeting gets —
//! reported at the row's line and the cell's column.
//!
//! Two formats:
//! * the original's 9 columns separated by `;`, no header (seed-behaviour.md §9.3):
//!   `givenname;sn;email;password;startdate;room_url;live_url;title;server`;
//! * a header row naming meeting keys (`id`, `server`, `meetingName`, `startDate`,
//!   `owner.email`, `liveStreaming.targetUrl`, …), `;` or `,` separated, quoting allowed.
//!   `shareWith`, `sendInvitationLink` and `sendModeratorLink` take addresses separated by
//!   spaces or commas; `exdate` takes days separated by commas.
//!
//! Fixed in the original's format: the meeting key is still the lower-cased address with `@`
//! and `.` turned into `_`, but a second row for the same address is an error instead of a silent
//! overwrite; the template names point at templates that exist (the defaults unless
//! configured); the LDAP DN and the logout URL it hard-coded are settings.

use crate::config::{ConfigError, ConfigErrors, SeedFile};
use serde_json::{Map, Value, json};

/// `import.csv` in bot-config.yml.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSettings {
    /// Greenlight 2 `social_uid` of imported owners; `{email}` is replaced by the row's address
    /// as written. The original hard-coded
    /// `CN={email},OU=USERS,OU=EXTERNAL,DC=ldap,DC=domain,DC=tld`. None: not set.
    pub social_uid: Option<String>,
    /// Where participants go when they leave (the original wrote a placeholder).
    pub logout_url: Option<String>,
    pub max_participants: Option<u32>,
    pub mute_on_start: bool,
    /// Use the owner's home room (Greenlight 2), as the original did.
    pub use_home_room: bool,
    /// The stream target; `{live_url}` is replaced by the row's `live_url`.
    pub stream_target: String,
    pub play_intro: Option<String>,
    /// The six template keys, when the imported meetings use their own templates.
    pub templates: Option<ImportTemplates>,
    /// Set `send_emails` on imported meetings (None: inherit from the server / bot-config).
    pub send_emails: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportTemplates {
    pub owner_info: String,
    pub moderator_info: String,
    pub share_info: String,
    pub invitation_info: String,
    pub owner_started: String,
    pub owner_reminder: String,
}

impl Default for CsvSettings {
    fn default() -> Self {
        Self {
            social_uid: None,
            logout_url: None,
            max_participants: Some(150),
            mute_on_start: true,
            use_home_room: true,
            stream_target: "rtmp://{live_url}/stream/bbb".into(),
            play_intro: Some("/video/5min.mp4".into()),
            templates: None,
            send_emails: None,
        }
    }
}

/// The original format's columns, 1-based, by the meeting key they fill.
const SEED_COLUMNS: &[(&str, usize)] = &[
    ("meetingName", 1),
    ("owner.fullName", 1),
    ("owner.email", 3),
    ("owner.socialUid", 3),
    ("id", 3),
    ("owner.password", 4),
    ("startDate", 5),
    ("liveStreaming", 7),
    ("meetingTitle", 8),
    ("server", 9),
];

/// Header columns whose cell is a list.
const RECIPIENT_COLUMNS: &[&str] = &["shareWith", "sendInvitationLink", "sendModeratorLink"];

/// One row made into a meeting, with where its cells are.
struct Row {
    line: u64,
    key: String,
    meeting: Value,
    /// The byte column (1-based) of each cell.
    cells: Vec<u64>,
    /// Meeting key → cell index (0-based).
    columns: Vec<(String, usize)>,
}

/// Reads a CSV file into the meetings it declares; every bad row is reported with its line.
pub fn parse(text: &str, file: &str, settings: &CsvSettings) -> Result<SeedFile, ConfigErrors> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut errors = Vec::new();
    let rows = if is_header(first) {
        header_rows(text, file, &mut errors)
    } else {
        seed_rows(text, file, settings, &mut errors)
    };
    if rows.is_empty() && errors.is_empty() {
        errors.push(error(
            file,
            1,
            1,
            "",
            "the file has no rows".into(),
            "write one meeting per line",
        ));
    }
    // A key twice: the original overwrote the earlier row silently.
    let mut first_line: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut unique = Vec::with_capacity(rows.len());
    for r in &rows {
        match first_line.get(r.key.as_str()) {
            Some(line) => errors.push(error(
                file,
                r.line,
                1,
                &format!("meetings.{}", r.key),
                format!("meeting '{}' is also on line {line}", r.key),
                "each address (or id) may have one row; remove or merge one of them",
            )),
            None => {
                first_line.insert(&r.key, r.line);
                unique.push(r);
            }
        }
    }
    let mut entries = Vec::with_capacity(unique.len());
    for chunk in unique.chunks(ROWS_PER_DOCUMENT) {
        match read_rows(chunk, file) {
            Ok(mut seed) => entries.append(&mut seed.entries),
            Err(found) => errors.extend(found),
        }
    }
    if errors.is_empty() {
        Ok(SeedFile {
            file: file.to_string(),
            entries,
        })
    } else {
        errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(errors))
    }
}

/// Rows read per document: the reader's node limit guards against hostile files, and ten
/// thousand meetings are well over it.
const ROWS_PER_DOCUMENT: usize = 500;

/// The rows as one JSON document, one meeting per line, so the reader's line numbers lead back
/// to the rows; its findings are moved there.
fn read_rows(rows: &[&Row], file: &str) -> Result<SeedFile, ConfigErrors> {
    let mut doc = String::from("{\"meetings\": {\n");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&serde_json::to_string(&r.key).unwrap_or_default());
        doc.push(':');
        doc.push_str(&r.meeting.to_string());
        doc.push('\n');
    }
    doc.push_str("}}\n");
    let row_of = |line: u64| rows.get((line as usize).wrapping_sub(2));
    match crate::config::parse_seed_file(&doc, file) {
        Ok(mut seed) => {
            for e in &mut seed.entries {
                if let Some(r) = row_of(e.source.line) {
                    e.source.line = r.line;
                    e.source.column = 1;
                }
            }
            Ok(seed)
        }
        Err(found) => Err(ConfigErrors(
            found
                .into_iter()
                .map(|mut e| {
                    if let Some(r) = row_of(e.line) {
                        e.column = cell_of(r, &e.path);
                        e.line = r.line;
                        e.message = format!("row {}: {}", r.key, e.message);
                    }
                    e
                })
                .collect(),
        )),
    }
}

/// The column of the cell behind a reader error's key path (`meetings.<key>.startDate`).
fn cell_of(r: &Row, path: &str) -> u64 {
    let prefix = format!("meetings.{}", r.key);
    let field = path
        .strip_prefix(&prefix)
        .unwrap_or(path)
        .trim_start_matches('.');
    r.columns
        .iter()
        .filter(|(k, _)| {
            field == k || field.starts_with(&format!("{k}.")) || field.starts_with(&format!("{k}["))
        })
        .max_by_key(|(k, _)| k.len())
        .and_then(|(_, i)| r.cells.get(*i).copied())
        .unwrap_or(1)
}

fn is_header(first: &str) -> bool {
    let known = |c: &str| {
        let c = c.trim().trim_matches('"');
        let root = c.split('.').next().unwrap_or(c);
        crate::config::seed_meeting_keys().contains(&root)
    };
    let cells: Vec<&str> = first.split([';', ',']).collect();
    cells.iter().filter(|c| known(c)).count() >= 2
}

fn error(
    file: &str,
    line: u64,
    column: u64,
    path: &str,
    message: String,
    hint: &str,
) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line,
        column,
        env_var: None,
        path: path.to_string(),
        message,
        hint: Some(hint.to_string()).filter(|h| !h.is_empty()),
    }
}

/// Byte columns (1-based) where each `sep`-separated cell of `line` starts.
fn cell_starts(line: &str, sep: char) -> Vec<u64> {
    let mut out = vec![1];
    for (i, c) in line.char_indices() {
        if c == sep {
            out.push(i as u64 + 2);
        }
    }
    out
}

/// The original's key for a row: the address lower-cased, `@` and `.` as `_`.
pub fn seed_key(email: &str) -> String {
    email.trim().to_lowercase().replace(['@', '.'], "_")
}

fn seed_rows(text: &str, file: &str, s: &CsvSettings, errors: &mut Vec<ConfigError>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n as u64 + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split(';').map(str::trim).collect();
        if f.len() != 9 {
            errors.push(error(
                file,
                line,
                1,
                "",
                format!("expected 9 fields separated by ';', found {}", f.len()),
                "write givenname;sn;email;password;startdate;room_url;live_url;title;server",
            ));
            continue;
        }
        let [
            given,
            sn,
            email,
            password,
            start,
            _room,
            live,
            title,
            server,
        ] = [f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]];
        let key = seed_key(email);
        let name = format!("{given} {sn}").trim().to_string();
        let mut owner = Map::new();
        owner.insert("email".into(), json!(email.to_lowercase()));
        owner.insert("fullName".into(), json!(name));
        if !password.is_empty() {
            owner.insert("password".into(), json!(password));
        }
        if let Some(t) = &s.social_uid {
            owner.insert("socialUid".into(), json!(t.replace("{email}", email)));
        }
        let mut m = Map::new();
        m.insert("id".into(), json!(key));
        m.insert("server".into(), json!(server));
        m.insert("meetingName".into(), json!(name));
        if !title.is_empty() {
            m.insert("meetingTitle".into(), json!(title));
        }
        if !start.is_empty() && !start.starts_with("0000-00-00") {
            m.insert("startDate".into(), json!(start));
        }
        if s.use_home_room {
            m.insert("useHomeRoom".into(), json!(true));
        }
        m.insert("owner".into(), Value::Object(owner));
        if s.mute_on_start {
            m.insert("muteOnStart".into(), json!(true));
        }
        if let Some(n) = s.max_participants {
            m.insert("maxParticipants".into(), json!(n));
        }
        if let Some(u) = &s.logout_url {
            m.insert("logoutURL".into(), json!(u));
        }
        if !live.is_empty() {
            let mut l = Map::new();
            l.insert("streamerHost".into(), json!(live));
            l.insert(
                "targetUrl".into(),
                json!(s.stream_target.replace("{live_url}", live)),
            );
            if let Some(p) = &s.play_intro {
                l.insert("playIntro".into(), json!(p));
            }
            m.insert("liveStreaming".into(), Value::Object(l));
        }
        if let Some(t) = &s.templates {
            for (k, v) in [
                ("meetingOwnerInfoTemplate", &t.owner_info),
                ("meetingModeratorInfoTemplate", &t.moderator_info),
                ("meetingShareInfoTemplate", &t.share_info),
                ("meetingInvitationInfoTemplate", &t.invitation_info),
                ("meetingOwnerStartedTemplate", &t.owner_started),
                ("meetingOwnerReminderTemplate", &t.owner_reminder),
            ] {
                m.insert(k.into(), json!(v));
            }
        }
        if let Some(b) = s.send_emails {
            m.insert("send_emails".into(), json!(b));
        }
        rows.push(Row {
            line,
            key,
            meeting: Value::Object(m),
            cells: cell_starts(raw, ';'),
            columns: SEED_COLUMNS
                .iter()
                .map(|(k, c)| (k.to_string(), c - 1))
                .collect(),
        });
    }
    rows
}

fn header_rows(text: &str, file: &str, errors: &mut Vec<ConfigError>) -> Vec<Row> {
    let first = text.lines().next().unwrap_or("");
    let sep = if first.matches(';').count() >= first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => {
            errors.push(error(file, 1, 1, "", format!("unreadable header: {e}"), ""));
            return Vec::new();
        }
    };
    let header_cells = cell_starts(first, sep as char);
    let mut bad_header = false;
    for (i, h) in headers.iter().enumerate() {
        let root = h.split('.').next().unwrap_or(h);
        if !crate::config::seed_meeting_keys().contains(&root) {
            let hint = match crate::config::suggest(
                root,
                crate::config::seed_meeting_keys().iter().copied(),
            ) {
                Some(s) => format!("did you mean `{s}`?"),
                None => {
                    "name a meeting key such as id, server, meetingName, startDate or owner.email"
                        .into()
                }
            };
            errors.push(error(
                file,
                1,
                header_cells.get(i).copied().unwrap_or(1),
                "",
                format!("unknown column {h:?}"),
                &hint,
            ));
            bad_header = true;
        }
    }
    if bad_header {
        return Vec::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(error(file, line, 1, "", format!("unreadable row: {e}"), ""));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() > headers.len() {
            errors.push(error(
                file,
                line,
                1,
                "",
                format!(
                    "{} cells, but the header names {}",
                    record.len(),
                    headers.len()
                ),
                "quote cells that contain the separator",
            ));
            continue;
        }
        let mut m = Map::new();
        for (h, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            insert_path(&mut m, h, cell_value(h, cell));
        }
        let key = match m.get("id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => match m
                .get("owner")
                .and_then(|o| o.get("email"))
                .and_then(Value::as_str)
            {
                Some(email) => seed_key(email),
                None => {
                    errors.push(error(
                        file,
                        line,
                        1,
                        "",
                        "the row has neither an id nor an owner.email to name it by".into(),
                        "add an id column",
                    ));
                    continue;
                }
            },
        };
        let raw = lines
            .get((line as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("");
        rows.push(Row {
            line,
            key,
            meeting: Value::Object(m),
            cells: cell_starts(raw, sep as char),
            columns: headers
                .iter()
                .enumerate()
                .map(|(i, h)| (h.clone(), i))
                .collect(),
        });
    }
    rows
}

fn cell_value(header: &str, cell: &str) -> Value {
    if RECIPIENT_COLUMNS.contains(&header) {
        let map: Map<String, Value> = cell
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| (s.to_string(), Value::Null))
            .collect();
        return Value::Object(map);
    }
    if header == "exdate" {
        return Value::Array(
            cell.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| json!(s))
                .collect(),
        );
    }
    json!(cell)
}

/// `owner.email` → `{"owner": {"email": …}}`.
fn insert_path(m: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            m.insert(path.to_string(), v);
        }
        Some((head, rest)) => {
            let child = m
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(c) = child {
                insert_path(c, rest, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Operation;

    fn meetings(seed: &SeedFile) -> Vec<&crate::domain::MeetingSpec> {
        seed.operations()
            .filter_map(|op| match op {
                Operation::ScheduleMeeting { meeting } => Some(&**meeting),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_original_format_reads_as_the_original_did_without_its_placeholders() {
        let text = "Vorname;Nachname;V.N@Uni.example;PassWord;2027-06-30 10:00;room.invalid;live.uni.example;the title;bbb\n";
        let seed = parse(text, "import.csv", &CsvSettings::default()).unwrap();
        let m = meetings(&seed);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].id.as_str(), "v_n_uni_example");
        assert_eq!(m[0].name, "Vorname Nachname");
        let owner = m[0].owner.as_ref().unwrap();
        assert_eq!(owner.email.as_str(), "v.n@uni.example");
        assert_eq!(owner.social_uid, None);
        assert_eq!(m[0].use_home_room, Some(true));
        assert_eq!(m[0].logout_url, None);
        assert_eq!(
            m[0].owner_info_template, None,
            "the default templates, which exist"
        );
        let live = m[0].live_streaming.as_ref().unwrap();
        assert_eq!(live.target_url, "rtmp://live.uni.example/stream/bbb");
        assert_eq!(seed.entries[0].source.line, 1);
    }

    #[test]
    fn bad_rows_are_reported_at_their_line_and_cell() {
        let text = "A;B;a@uni.example;;2027-06-30 10:00;;;t;bbb\n\
                    C;D;c@uni.example;;2027-13-45 10:00;;;t;bbb\n\
                    E;F;not-an-address;;;;;t;bbb\n\
                    too;few;fields\n\
                    G;H;A@uni.example;;;;;t;bbb\n";
        let errors = parse(text, "import.csv", &CsvSettings::default()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let text = shown.join("\n");
        assert!(text.contains("import.csv:2:"), "{text}");
        assert!(text.contains("startDate"), "{text}");
        assert!(text.contains("import.csv:3:"), "{text}");
        assert!(text.contains("import.csv:4:1: expected 9 fields"), "{text}");
        assert!(text.contains("import.csv:5:"), "{text}");
        assert!(
            text.contains(
                "import.csv:5:1: meetings.a_uni_example: meeting 'a_uni_example' is also on line 1"
            ),
            "{text}"
        );
        // The bad date is in the fifth cell.
        let date = errors.iter().find(|e| e.line == 2).unwrap();
        assert_eq!(date.column, "C;D;c@uni.example;;".len() as u64 + 1);
    }

    #[test]
    fn a_header_names_the_meeting_keys() {
        let text = "id,server,meetingName,startDate,owner.email,shareWith,record\n\
                    algebra,bbb,Algebra,2027-06-30 10:00,ada@uni.example,\"bob@uni.example carol@uni.example\",true\n";
        let seed = parse(text, "m.csv", &CsvSettings::default()).unwrap();
        let m = meetings(&seed);
        assert_eq!(m[0].id.as_str(), "algebra");
        assert_eq!(m[0].share_with.len(), 2);
        assert_eq!(m[0].record, Some(true));
        assert_eq!(seed.entries[0].source.line, 2);

        let bad = "id,server,meetingNme\nx,bbb,X\n";
        let e = parse(bad, "m.csv", &CsvSettings::default()).unwrap_err();
        assert!(e.to_string().contains("did you mean `meetingName`"), "{e}");
    }
}
