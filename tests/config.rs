//! Configuration: bot-config.yml, the seed format, env overrides, secret files, errors.

use proptest::prelude::*;
use schedulight::config::*;
use schedulight::domain::meeting::GuestPolicy;
use schedulight::domain::operation::{CreateRoom, CreateUser, ShareRoom, UserRole};
use schedulight::domain::server::{GreenlightSettings, GreenlightVersion};
use schedulight::domain::{ChecksumAlgorithm, Email, MeetingSpec, Operation, ServerSpec};
use schedulight::streaming::{StreamingConfig, launcher_for};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn env(pairs: &[(&str, &str)]) -> EnvVars {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn email(s: &str) -> Email {
    s.parse().unwrap()
}

/// (line, column, path) of every error, in order.
fn positions(errors: &ConfigErrors) -> Vec<(u64, u64, String)> {
    errors
        .iter()
        .map(|e| (e.line, e.column, e.path.clone()))
        .collect()
}

fn find<'a>(errors: &'a ConfigErrors, path: &str) -> &'a ConfigError {
    errors
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no error for {path} in:\n{errors}"))
}

fn valid_seed() -> SeedFile {
    load_seed_file(&fixture("seed-valid.yml")).unwrap_or_else(|e| panic!("{e}"))
}

fn meeting<'a>(seed: &'a SeedFile, key: &str) -> &'a MeetingSpec {
    seed.operations()
        .find_map(|op| match op {
            Operation::ScheduleMeeting { meeting } if meeting.id.as_str() == key => {
                Some(&**meeting)
            }
            _ => None,
        })
        .unwrap()
}

fn server<'a>(seed: &'a SeedFile, key: &str) -> &'a ServerSpec {
    seed.operations()
        .find_map(|op| match op {
            Operation::AddServer { server } if server.id.as_str() == key => Some(&**server),
            _ => None,
        })
        .unwrap()
}

// ------------------------------------------------------------------ seed format

#[test]
fn valid_seed_counts_and_order() {
    let seed = valid_seed();
    assert_eq!(
        seed.counts(),
        SeedCounts {
            servers: 2,
            greenlight_servers: 0,
            meetings: 2,
            commands: 7,
            operations: 14
        }
    );
    let names: Vec<&str> = seed.operations().map(Operation::name).collect();
    assert_eq!(
        names,
        [
            "add_server",
            "add_server",
            "schedule_meeting",
            "schedule_meeting",
            "rename_room",
            "share_room",
            "share_room",
            "unshare_room",
            "delete_room",
            "create_room",
            "create_room",
            "delete_user",
            "create_user",
            "create_user",
        ]
    );
}

#[test]
fn seed_servers_keep_seed_keys() {
    let seed = valid_seed();
    let bbb = server(&seed, "bbb");
    assert_eq!(
        bbb.url.as_str(),
        "https://bbb.uni.example/bigbluebutton/api/"
    );
    assert_eq!(bbb.secret.expose(), "8cd8ef52e8e101574e400365b55e11a6");
    assert_eq!(bbb.send_emails, Some(true), "PyYAML-style yes");
    assert_eq!(bbb.mail_debug, Some(false));
    assert_eq!(bbb.mail_from, Some(email("bbb-admin@uni.example")));
    assert_eq!(bbb.mail_to_name.as_deref(), Some("Debug Inbox"));
    assert_eq!(bbb.mail_server.as_deref(), Some("smtp.uni.example"));
    assert_eq!(
        bbb.mail_password.as_ref().map(|s| s.expose()),
        Some("smtp-secret")
    );
    assert_eq!(bbb.link_base.as_deref(), Some("https://bbb.uni.example/b"));

    let lab = server(&seed, "lab");
    assert_eq!(
        lab.secret.expose(),
        "bbb-shared-secret-from-file",
        "trimmed"
    );
    assert_eq!(lab.checksum, ChecksumAlgorithm::Sha512);
    assert_eq!(lab.timeout_ms, 2500);
    assert_eq!(
        lab.url.as_str(),
        "https://bbb-lab.uni.example/bigbluebutton/api/"
    );
}

#[test]
fn seed_meeting_keys_map_to_the_spec() {
    let seed = valid_seed();
    let m = meeting(&seed, "lecture");
    assert_eq!(m.server.as_str(), "bbb");
    assert_eq!(m.name, "Algebra Lecture");
    assert_eq!(m.bbb_meeting_id.as_ref().unwrap().as_str(), "1e3");
    assert_eq!(m.room.as_ref().unwrap().as_str(), "alg-ebr-a01");
    assert_eq!(m.use_home_room, Some(false));
    let owner = m.owner.as_ref().unwrap();
    assert_eq!(owner.email, email("prof.alice@uni.example"));
    assert_eq!(owner.full_name, "Alice Professor");
    assert_eq!(owner.password.as_ref().unwrap().expose(), "owner-pass");
    assert_eq!(owner.uid.as_deref(), Some("alice"));
    assert_eq!(
        owner.social_uid.as_deref(),
        Some("CN=alice,OU=USERS,DC=uni,DC=example")
    );
    assert_eq!(
        m.start.unwrap(),
        jiff::civil::date(2026, 12, 3).at(14, 30, 0, 0)
    );
    assert_eq!(m.time_zone.as_deref(), Some("Europe/Vienna"));
    assert_eq!(
        (
            m.reminder_minutes,
            m.pre_open_minutes,
            m.pre_start_minutes,
            m.end_after_minutes
        ),
        (Some(5), Some(60), Some(30), Some(50))
    );
    assert_eq!(m.access_code.as_deref(), Some("0123"), "not octal 83");
    assert_eq!(m.mute_on_start, Some(true));
    assert_eq!(m.record, Some(true));
    assert_eq!(m.allow_start_stop_recording, Some(true));
    assert_eq!(m.auto_start_recording, Some(false));
    assert_eq!(
        m.fill_placeholders(m.banner_text.as_deref().unwrap()),
        "This session starts at 2026-12-03 14:30"
    );
    assert_eq!(m.duration, Some(60));
    assert_eq!(m.logout_url.as_deref(), Some("uni.example/goodbye"));
    assert_eq!(m.max_participants, Some(150));
    assert_eq!(m.guest_policy, Some(GuestPolicy::AskModerator));
    let live = m.live_streaming.as_ref().unwrap();
    assert_eq!(live.streamer_host, "streamer.uni.example");
    assert_eq!(live.target_url, "rtmp://media.uni.example/stream/key");
    assert_eq!(live.play_intro.as_deref(), Some("/video/5min.mp4"));
    let invited = &m.send_invitation_link[&email("student@uni.example")];
    assert_eq!(invited.full_name.as_deref(), Some("Sam Student"));
    let moderator = &m.send_moderator_link[&email("tutor@uni.example")];
    assert_eq!(moderator.send_emails, Some(false));
    assert_eq!(m.share_with.len(), 2);
    assert_eq!(
        m.share_with[&email("other@uni.example")]
            .full_name
            .as_deref(),
        Some("Olga Other")
    );
    assert_eq!(
        m.share_info_template.as_deref(),
        Some("meetingShareInfoTemplate.j2")
    );
    assert_eq!(m.mail_from, Some(email("lectures@uni.example")));
    assert_eq!(m.mail_to_name.as_deref(), Some("Lecture Debug"));
    assert_eq!(m.send_emails, Some(true));
}

#[test]
fn seed_meeting_id_may_be_omitted_and_owner_name_defaults() {
    let seed = valid_seed();
    let m = meeting(&seed, "seminar");
    assert_eq!(m.id.as_str(), "seminar");
    assert_eq!(m.server.as_str(), "lab");
    assert_eq!(m.use_home_room, Some(true));
    assert_eq!(m.owner.as_ref().unwrap().full_name, "bob");
}

#[test]
fn seed_commands_have_the_documented_data_shapes() {
    let seed = valid_seed();
    let ops: Vec<&Operation> = seed.operations().skip(4).collect();
    match ops[0] {
        Operation::RenameRoom {
            server,
            room,
            new_uid,
        } => {
            assert_eq!(server.as_str(), "bbb");
            assert_eq!(room.as_str(), "old-roo-mid");
            assert_eq!(new_uid.as_str(), "new-roo-mid");
        }
        other => panic!("{other:?}"),
    }
    let Operation::ShareRoom(ShareRoom { room, with, .. }) = ops[1] else {
        panic!("{:?}", ops[1])
    };
    assert_eq!(room.as_str(), "alg-ebr-a01");
    assert_eq!(with.len(), 2);
    assert_eq!(with[&email("first@uni.example")].full_name, None);
    assert_eq!(
        with[&email("second@uni.example")].full_name.as_deref(),
        Some("Second Person")
    );
    let Operation::ShareRoom(ShareRoom { room, with, .. }) = ops[2] else {
        panic!("{:?}", ops[2])
    };
    assert_eq!(room.as_str(), "abc-def-ghi");
    assert!(with.contains_key(&email("third@uni.example")));
    assert!(matches!(ops[3], Operation::UnshareRoom(s) if s.with.len() == 1));
    assert!(matches!(ops[4], Operation::DeleteRoom { room, .. } if room.as_str() == "old-roo-mid"));
    assert_eq!(
        ops[5],
        &Operation::CreateRoom(CreateRoom {
            server: "bbb".parse().unwrap(),
            name: "Algebra Tutorial".into(),
            owner: email("prof.alice@uni.example"),
            uid: Some("alg-tut-001".parse().unwrap()),
            access_code: Some("0042".into()),
        })
    );
    assert!(
        matches!(ops[6], Operation::CreateRoom(c) if c.uid.is_none() && c.access_code.is_none())
    );
    assert!(
        matches!(ops[7], Operation::DeleteUser { email: e, .. } if e.as_str() == "leaver@uni.example")
    );
}

#[test]
fn create_user_fields_go_to_the_right_places() {
    // The original passed pwd/role/provider positionally into uid/social_uid/password.
    let seed = valid_seed();
    let users: Vec<&CreateUser> = seed
        .operations()
        .filter_map(|op| match op {
            Operation::CreateUser(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].server.as_str(), "lab");
    assert_eq!(users[0].email, email("newbie@uni.example"));
    assert_eq!(users[0].full_name, "New Person");
    assert_eq!(users[0].password.as_ref().unwrap().expose(), "initial-pass");
    assert_eq!(users[0].role, UserRole::Admin);
    assert_eq!(users[0].provider.as_deref(), Some("greenlight"));
    assert_eq!(users[1].role, UserRole::User);
    assert_eq!(users[1].password, None);
    assert_eq!(users[1].provider, None);
}

#[test]
fn seed_entries_remember_where_they_were_written() {
    let seed = valid_seed();
    let file = fixture("seed-valid.yml").display().to_string();
    let at = |path: &str| {
        let e = seed.entries.iter().find(|e| e.path == path).unwrap();
        (e.source.line, e.source.column)
    };
    assert_eq!(at("servers.bbb"), (3, 3));
    assert_eq!(at("meetings.lecture"), (24, 3));
    assert_eq!(at("commands.share_cmd.data.abc-def-ghi"), (104, 7));
    assert_eq!(
        at("commands.create_user_cmd.data.plain@uni.example"),
        (146, 7)
    );
    let e = &seed.entries[0];
    assert_eq!(e.section, SeedSection::Servers);
    assert_eq!(e.key, "bbb");
    assert_eq!(e.source.to_string(), format!("{file}:3:3"));
    let cmd = seed.entries.last().unwrap();
    assert_eq!(cmd.section, SeedSection::Commands);
    assert_eq!(cmd.key, "create_user_cmd");
}

#[test]
fn secrets_do_not_appear_in_debug_output() {
    let seed = valid_seed();
    let debug = format!("{seed:?}");
    for secret in [
        "8cd8ef52e8e101574e400365b55e11a6",
        "bbb-shared-secret-from-file",
        "smtp-secret",
        "owner-pass",
        "initial-pass",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked");
    }
}

#[test]
fn broken_seed_reports_every_error_with_position_and_key() {
    let errors = load_seed_file(&fixture("seed-broken.yml")).unwrap_err();
    let expected: Vec<(u64, u64, String)> = [
        (3, 14, "servers.bbb.BBB_URL"),
        (5, 15, "servers.bbb.mailFrom"),
        (6, 18, "servers.bbb.send_emails"),
        (11, 5, "meetings.lecture.startdate"),
        (12, 21, "meetings.lecture.preOpenMinutes"),
        (15, 7, "meetings.lecture.shareWith.Bob@Uni.Example"),
        (17, 9, "meetings.exam.id"),
        (20, 16, "meetings.exam.startDate"),
        (21, 5, "meetings.exam.meetingName"),
        (24, 14, "commands.share.command"),
        (33, 7, "commands.make_user.data.newbie@uni.example"),
        (34, 9, "commands.make_user.data.newbie@uni.example.fullname"),
    ]
    .iter()
    .map(|(l, c, p)| (*l, *c, p.to_string()))
    .collect();
    assert_eq!(positions(&errors), expected, "\n{errors}");

    let file = fixture("seed-broken.yml").display().to_string();
    let text = errors.to_string();
    assert!(
        text.contains(&format!(
            "{file}:11:5: meetings.lecture.startdate: unknown key `startdate`; did you mean `startDate`?"
        )),
        "{text}"
    );
    let date = find(&errors, "meetings.exam.startDate");
    assert!(date.message.contains("2026-13-40 25:00"));
    assert!(date.hint.as_deref().unwrap().contains("YYYY-MM-DD HH:MM"));
    let dup = find(&errors, "meetings.exam.meetingName");
    assert!(dup.message.contains("duplicate key") && dup.message.contains("line 19"));
    assert!(
        find(&errors, "commands.share.command")
            .hint
            .as_deref()
            .unwrap()
            .contains("share_room")
    );
    assert!(
        find(&errors, "servers.bbb.mailFrom")
            .message
            .contains("not-an-address")
    );
    assert!(
        find(&errors, "servers.bbb.BBB_URL")
            .message
            .contains("http or https")
    );
    assert!(
        find(&errors, "meetings.exam.id")
            .message
            .contains("final-exam")
    );
    assert!(!text.contains("s3cret-value-never-shown"));
    assert!(
        errors.iter().all(|e| e.hint.is_some()),
        "every error says what to do"
    );
}

#[test]
fn syntax_errors_point_at_the_place() {
    let errors = load_seed_file(&fixture("seed-syntax.yml")).unwrap_err();
    assert_eq!(errors.len(), 1);
    let e = &errors.0[0];
    assert_eq!((e.line, e.column), (4, 18), "{e}");
    assert!(e.message.contains("YAML syntax error"), "{e}");
}

#[test]
fn seed_top_level_typo_and_wrong_shapes() {
    let text = "meeting:\n  x:\n    server: bbb\nservers: [a, b]\n";
    let errors = parse_seed_file(text, "s.yml").unwrap_err();
    assert_eq!(
        positions(&errors),
        [
            (1, 1, "meeting".to_string()),
            (4, 10, "servers".to_string())
        ]
    );
    assert_eq!(
        errors.0[0].hint.as_deref(),
        Some("did you mean `meetings`?")
    );
    assert!(errors.0[1].message.contains("found a list"));
}

#[test]
fn seed_command_checks() {
    let text = "\
commands:
  c1:
    command: delete_room
    data:
      not a room!: {}
  c2:
    command: share_room
    server: bbb
    data:
      abc-def-ghi: {}
  c3:
    command: delete_user
    server: bbb
    data:
      bob@uni.example: {fullName: Bob}
  c4:
    command: create_user
    server: bbb
    data:
      amy@uni.example:
        fullName: Amy
        role: 1
  c5:
    command: rename_room
    server: bbb
    data: {}
";
    let errors = parse_seed_file(text, "c.yml").unwrap_err();
    let expected: Vec<(u64, u64, String)> = [
        (2, 3, "commands.c1"),
        (5, 7, "commands.c1.data.not a room!"),
        (10, 7, "commands.c2.data.abc-def-ghi"),
        (15, 24, "commands.c3.data.bob@uni.example"),
        (22, 15, "commands.c4.data.amy@uni.example.role"),
        (26, 5, "commands.c5.data"),
    ]
    .iter()
    .map(|(l, c, p)| (*l, *c, p.to_string()))
    .collect();
    assert_eq!(positions(&errors), expected, "\n{errors}");
    assert!(errors.0[0].message.contains("`server` is missing"));
}

#[test]
fn seed_meeting_checks() {
    let text = "\
meetings:
  m1:
    server: bbb
    meetingName: M
    useHomeRoom: true
    logoutURL: 'https://'
    meetingOwnerInfoTemplate: ../../etc/passwd
    liveStreaming:
      streamerHost: 'x; rm -rf /'
    timeZone: Mars/Olympus
    accessCode: [1, 2]
";
    let errors = parse_seed_file(text, "m.yml").unwrap_err();
    let paths: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "meetings.m1.useHomeRoom",
            "meetings.m1.logoutURL",
            "meetings.m1.meetingOwnerInfoTemplate",
            "meetings.m1.liveStreaming",
            "meetings.m1.liveStreaming.streamerHost",
            "meetings.m1.timeZone",
            "meetings.m1.accessCode",
        ],
        "\n{errors}"
    );
    assert!(errors.0[3].message.contains("targetUrl"));
}

#[test]
fn empty_seed_file_is_valid_and_empty() {
    let seed = parse_seed_file("# nothing yet\n", "empty.yml").unwrap();
    assert_eq!(seed.counts(), SeedCounts::default());
}

#[test]
fn seed_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s"), "from-file\n").unwrap();
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    let name = dir.path().join("seed.yml").display().to_string();
    let text = "\
servers:
  a:
    BBB_URL: https://a.example
    BBB_SECRET_FILE: s
  b:
    BBB_URL: https://b.example
    BBB_SECRET_FILE: missing
  c:
    BBB_URL: https://c.example
    BBB_SECRET: inline
    BBB_SECRET_FILE: s
  d:
    BBB_URL: https://d.example
    BBB_SECRET_FILE: empty
  e:
    BBB_URL: https://e.example
";
    let errors = parse_seed_file(text, &name).unwrap_err();
    assert_eq!(
        positions(&errors),
        [
            (7, 22, "servers.b.BBB_SECRET_FILE".to_string()),
            (11, 22, "servers.c.BBB_SECRET_FILE".to_string()),
            (14, 22, "servers.d.BBB_SECRET_FILE".to_string()),
            (15, 3, "servers.e".to_string()),
        ],
        "\n{errors}"
    );
    assert!(errors.0[0].message.contains("cannot read secret file"));
    assert!(errors.0[0].message.contains("missing"));
    assert!(errors.0[1].message.contains("both"));
    assert!(errors.0[2].message.contains("empty"));
    assert!(
        errors.0[3]
            .hint
            .as_deref()
            .unwrap()
            .contains("BBB_SECRET_FILE")
    );
    assert!(!errors.to_string().contains("from-file"));

    let ok = "servers:\n  a:\n    BBB_URL: https://a.example\n    BBB_SECRET_FILE: s\n";
    let seed = parse_seed_file(ok, &name).unwrap();
    let Operation::AddServer { server } = &seed.entries[0].operation else {
        panic!()
    };
    assert_eq!(server.secret.expose(), "from-file");
}

#[test]
fn non_utf8_file_is_reported_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yml");
    std::fs::write(&p, b"servers:\n  a\xff: 1\n").unwrap();
    let errors = load_seed_file(&p).unwrap_err();
    assert_eq!((errors.0[0].line, errors.0[0].column), (2, 4));
    assert!(errors.0[0].message.contains("UTF-8"));
    let missing = load_seed_file(&dir.path().join("nope.yml")).unwrap_err();
    assert!(missing.0[0].message.contains("cannot read"));
}

// ------------------------------------------------------------------ bot-config.yml

#[test]
fn repo_bot_config_loads_with_local_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config.yml");
    let c = AppConfig::load_with_env(&path, &EnvVars::new()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.store.location,
        StoreLocation::Sqlite(PathBuf::from("schedulight.db"))
    );
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:8008");
    assert!(c.matrix.is_none());
    assert!(!c.mail.send_emails);
    assert!(c.servers.is_empty());
    assert_eq!(c.defaults.pre_open_minutes, 90);
    assert_eq!(c.defaults.time_zone, system_time_zone());
    assert_eq!(c.logging, LoggingConfig::default());
    // The file spells out the defaults: it equals an empty config.
    assert_eq!(c, AppConfig::from_yaml_str("", "empty.yml").unwrap());
}

#[test]
fn full_app_config_with_secret_files() {
    let c = AppConfig::load_with_env(&fixture("app-full.yml"), &EnvVars::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let StoreLocation::Postgres(pg) = &c.store.location else {
        panic!("{:?}", c.store.location)
    };
    assert!(pg.expose().contains("pg-password-inline"));
    assert_eq!(c.api.listen.to_string(), "[::1]:9000");
    let m = c.matrix.as_ref().unwrap();
    assert_eq!(m.homeserver.as_str(), "https://matrix.uni.example/");
    assert_eq!(m.user_id, "@schedulight:uni.example");
    assert_eq!(
        m.auth,
        MatrixAuth::Password(schedulight::domain::Secret::new("matrix-pass-from-file"))
    );
    assert_eq!(
        m.allowed_users,
        ["@alice:uni.example", "@*:staff.uni.example"]
    );
    assert_eq!(m.rooms, ["#bbb-admins:uni.example", "!abcdef:uni.example"]);
    assert_eq!(m.command_prefix, "!sl");
    assert_eq!(m.device_name, "schedulight-prod");
    assert!(c.mail.send_emails);
    assert_eq!(c.mail.tls, TlsMode::Tls);
    assert_eq!(c.mail.port, 465, "default port follows the TLS mode");
    assert_eq!(
        c.mail.password.as_ref().unwrap().expose(),
        "smtp-pass-from-file",
        "CRLF trimmed"
    );
    assert_eq!(c.mail.from, Some(email("schedulight@uni.example")));
    assert_eq!(c.defaults.time_zone, "Europe/Vienna");
    assert_eq!(c.defaults.pre_open_minutes, 30);
    assert_eq!(c.defaults.reminder_minutes, 10);
    assert_eq!(c.logging.level, "info,schedulight=debug");
    assert!(c.logging.json);
    assert_eq!(
        c.files.apply,
        [
            fixture("meetings.yml"),
            std::path::PathBuf::from("/etc/schedulight/import.csv")
        ],
        "relative to the config file"
    );
    assert!(c.files.prune.meetings && !c.files.prune.servers);
    assert_eq!(
        c.files.report_room.as_deref(),
        Some("#bbb-admins:uni.example")
    );
    assert_eq!(c.files.csv.max_participants, Some(100));
    assert_eq!(c.files.csv.send_emails, Some(true));
    assert_eq!(
        c.files.csv.social_uid.as_deref(),
        Some("CN={email},OU=USERS,DC=uni,DC=example")
    );
    assert_eq!(c.servers.len(), 2);
    let bbb = &c.servers[&"bbb".parse().unwrap()];
    assert_eq!(bbb.secret.expose(), "bbb-shared-secret-from-file");

    let debug = format!("{c:?}");
    for secret in [
        "pg-password-inline",
        "matrix-pass-from-file",
        "store-passphrase-inline",
        "smtp-pass-from-file",
        "bbb-shared-secret-from-file",
        "lab-secret-inline",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked in Debug");
    }
    assert!(c.store.location.describe().contains("db.uni.example"));
    assert!(!c.store.location.describe().contains("pg-password-inline"));
}

#[test]
fn broken_app_config_reports_every_error() {
    let errors = AppConfig::load_with_env(&fixture("app-broken.yml"), &EnvVars::new()).unwrap_err();
    let expected: Vec<(u64, u64, String)> = [
        (2, 13, "store.location"),
        (4, 11, "api.listen"),
        (5, 1, "matrix"),
        (6, 15, "matrix.homeserver"),
        (7, 12, "matrix.user_id"),
        (10, 18, "matrix.allowed_users"),
        (11, 1, "mail"),
        (11, 1, "mail"),
        (13, 8, "mail.tls"),
        (14, 3, "mail.prot"),
        (16, 13, "defaults.timeZone"),
        (17, 19, "defaults.preOpenMinutes"),
        (19, 10, "logging.level"),
        (20, 1, "unknown_section"),
    ]
    .iter()
    .map(|(l, c, p)| (*l, *c, p.to_string()))
    .collect();
    assert_eq!(positions(&errors), expected, "\n{errors}");
    assert_eq!(
        find(&errors, "mail.prot").hint.as_deref(),
        Some("did you mean `port`?")
    );
    assert!(
        find(&errors, "unknown_section")
            .hint
            .as_deref()
            .unwrap()
            .contains("store")
    );
    assert!(find(&errors, "matrix").message.contains("both"));
}

#[test]
fn env_overrides_file_values() {
    let text = "\
store:
  location: schedulight.db
api:
  listen: 127.0.0.1:8008
mail:
  host: smtp.uni.example
  user: sl
  password: from-yaml
  from: sl@uni.example
defaults:
  preOpenMinutes: 90
";
    let vars = env(&[
        (
            "SCHEDULIGHT_STORE_LOCATION",
            "postgres://sl:pw@db.example/sl",
        ),
        ("SCHEDULIGHT_API_LISTEN", "0.0.0.0:9999"),
        ("SCHEDULIGHT_MAIL_PASSWORD", "from-env"),
        ("SCHEDULIGHT_MAIL_SEND_EMAILS", "true"),
        ("SCHEDULIGHT_MAIL_FROM_NAME", "Scheduler"),
        ("SCHEDULIGHT_DEFAULTS_PRE_OPEN_MINUTES", "15"),
        ("SCHEDULIGHT_DEFAULTS_TIME_ZONE", "America/New_York"),
        ("SCHEDULIGHT_LOGGING_JSON", "yes"),
        // Not a config section: left to whoever reads it.
        ("SCHEDULIGHT_CONFIG", "/etc/schedulight/bot-config.yml"),
        // Empty counts as unset.
        ("SCHEDULIGHT_MAIL_HOST", ""),
    ]);
    let c = AppConfig::from_yaml_str_with_env(text, "bot-config.yml", &vars)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&c.store.location, StoreLocation::Postgres(u) if u.expose() == "postgres://sl:pw@db.example/sl")
    );
    assert_eq!(c.api.listen.to_string(), "0.0.0.0:9999");
    assert_eq!(c.mail.password.as_ref().unwrap().expose(), "from-env");
    assert!(c.mail.send_emails);
    assert_eq!(c.mail.from_name.as_deref(), Some("Scheduler"));
    assert_eq!(c.mail.host.as_deref(), Some("smtp.uni.example"));
    assert_eq!(c.defaults.pre_open_minutes, 15);
    assert_eq!(c.defaults.time_zone, "America/New_York");
    assert!(c.logging.json);
    // Without env the file values hold.
    let plain = AppConfig::from_yaml_str(text, "bot-config.yml").unwrap();
    assert_eq!(plain.mail.password.as_ref().unwrap().expose(), "from-yaml");
    assert_eq!(plain.api.listen.to_string(), "127.0.0.1:8008");
}

#[test]
fn env_can_enable_matrix_without_a_file_section() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "syt_token\n").unwrap();
    let vars = env(&[
        (
            "SCHEDULIGHT_MATRIX_HOMESERVER",
            "https://matrix.uni.example",
        ),
        ("SCHEDULIGHT_MATRIX_USER_ID", "@bot:uni.example"),
        (
            "SCHEDULIGHT_MATRIX_ACCESS_TOKEN_FILE",
            token.to_str().unwrap(),
        ),
        ("SCHEDULIGHT_MATRIX_DEVICE_ID", "ABCDEF"),
        (
            "SCHEDULIGHT_MATRIX_ALLOWED_USERS",
            "@alice:uni.example, @bob:uni.example",
        ),
    ]);
    let c = AppConfig::from_env(&vars).unwrap_or_else(|e| panic!("{e}"));
    let m = c.matrix.unwrap();
    assert_eq!(m.allowed_users, ["@alice:uni.example", "@bob:uni.example"]);
    match m.auth {
        MatrixAuth::AccessToken { token, device_id } => {
            assert_eq!(token.expose(), "syt_token");
            assert_eq!(device_id.as_deref(), Some("ABCDEF"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.command_prefix, DEFAULT_COMMAND_PREFIX);
}

#[test]
fn env_secret_file_replaces_yaml_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("smtp");
    std::fs::write(&secret, "file-secret\n").unwrap();
    let text = "mail:\n  user: u\n  password_file: /nonexistent/never-read\n";
    let vars = env(&[("SCHEDULIGHT_MAIL_PASSWORD_FILE", secret.to_str().unwrap())]);
    let c = AppConfig::from_yaml_str_with_env(text, "bot-config.yml", &vars).unwrap();
    assert_eq!(c.mail.password.unwrap().expose(), "file-secret");
    let vars = env(&[("SCHEDULIGHT_MAIL_PASSWORD", "inline")]);
    let c = AppConfig::from_yaml_str_with_env(text, "bot-config.yml", &vars).unwrap();
    assert_eq!(c.mail.password.unwrap().expose(), "inline");
}

#[test]
fn bad_env_values_name_the_variable() {
    let vars = env(&[
        ("SCHEDULIGHT_API_LISTEN", "localhost"),
        ("SCHEDULIGHT_MAIL_PASWORD", "x"),
        ("SCHEDULIGHT_MAIL_PASSWORD", "secret-a"),
        ("SCHEDULIGHT_MAIL_PASSWORD_FILE", "/run/secrets/x"),
        ("SCHEDULIGHT_DEFAULTS_PRE_OPEN_MINUTES", "-1"),
    ]);
    let errors = AppConfig::from_env(&vars).unwrap_err();
    let vars_named: Vec<(Option<&str>, &str)> = errors
        .iter()
        .map(|e| (e.env_var.as_deref(), e.path.as_str()))
        .collect();
    assert_eq!(
        vars_named,
        [
            (Some("SCHEDULIGHT_MAIL_PASSWORD"), "mail.password"),
            (Some("SCHEDULIGHT_MAIL_PASSWORD_FILE"), "mail.password_file"),
            (Some("SCHEDULIGHT_MAIL_PASWORD"), "mail"),
            (Some("SCHEDULIGHT_API_LISTEN"), "api.listen"),
            (
                Some("SCHEDULIGHT_DEFAULTS_PRE_OPEN_MINUTES"),
                "defaults.preOpenMinutes"
            ),
        ],
        "\n{errors}"
    );
    let typo = find(&errors, "mail");
    assert_eq!(
        typo.hint.as_deref(),
        Some("did you mean SCHEDULIGHT_MAIL_PASSWORD?")
    );
    let text = errors.to_string();
    assert!(text.contains("environment variable SCHEDULIGHT_API_LISTEN: api.listen:"));
    assert!(!text.contains("secret-a"));
}

#[test]
fn mail_and_matrix_requirements() {
    let text = "mail:\n  user: only-user\nmatrix:\n  homeserver: https://m.example\n";
    let errors = AppConfig::from_yaml_str(text, "bot-config.yml").unwrap_err();
    let messages: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("both `user` and `password`"))
    );
    assert!(messages.iter().any(|m| m.contains("`user_id` is missing")));
    assert!(messages.iter().any(|m| m.contains("no login")));
    assert!(messages.iter().any(|m| m.contains("allowed_users")));
}

#[test]
fn mail_delivery_settings() {
    let text = "mail:\n  host: smtp.uni.example\n  delivery: debug\n  max_attempts: 3\n  timeout_seconds: 10\n  ca_file: /etc/ssl/uni-ca.pem\n";
    let c = AppConfig::from_yaml_str(text, "bot-config.yml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.mail.delivery, schedulight::config::MailDelivery::Debug);
    assert_eq!(c.mail.max_attempts, 3);
    assert_eq!(c.mail.timeout, std::time::Duration::from_secs(10));
    assert_eq!(
        c.mail.ca_file.as_deref(),
        Some(Path::new("/etc/ssl/uni-ca.pem"))
    );
    let default = AppConfig::from_yaml_str("", "bot-config.yml").unwrap();
    assert_eq!(
        default.mail.delivery,
        schedulight::config::MailDelivery::Send
    );
    assert_eq!(default.mail.max_attempts, 8);

    // Plain SMTP only to this machine.
    let plain = "mail:\n  host: smtp.uni.example\n  tls: none\n";
    let errors = AppConfig::from_yaml_str(plain, "bot-config.yml").unwrap_err();
    assert!(errors.to_string().contains("clear text"), "{errors}");
    let local = "mail:\n  host: localhost\n  tls: none\n";
    assert!(AppConfig::from_yaml_str(local, "bot-config.yml").is_ok());
    let bad = "mail:\n  delivery: sometimes\n  max_attempts: 0\n";
    let errors = AppConfig::from_yaml_str(bad, "bot-config.yml").unwrap_err();
    let text = errors.to_string();
    assert!(text.contains("not a delivery mode"), "{text}");
    assert!(text.contains("at least 1"), "{text}");
}

#[test]
fn pyyaml_isms() {
    let text = "\
meetings:
  m:
    server: bbb
    meetingName: yes
    accessCode: 0123
    meetingID: 1e999
    startDate: 2020-06-13 18:15
    record: on
    muteOnStart: 'no'
    duration: '60'
";
    let seed = parse_seed_file(text, "p.yml").unwrap_or_else(|e| panic!("{e}"));
    let m = meeting(&seed, "m");
    assert_eq!(m.name, "yes");
    assert_eq!(m.access_code.as_deref(), Some("0123"));
    assert_eq!(m.bbb_meeting_id.as_ref().unwrap().as_str(), "1e999");
    assert_eq!(
        m.start.unwrap(),
        jiff::civil::date(2020, 6, 13).at(18, 15, 0, 0)
    );
    assert_eq!(m.record, Some(true));
    assert_eq!(m.mute_on_start, Some(false));
    assert_eq!(m.duration, Some(60));
}

// ------------------------------------------------------------------ check_file

#[test]
fn check_file_detects_the_kind() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config.yml");
    let report = check_file_with_env(&root, &EnvVars::new()).unwrap();
    assert_eq!(report.kind(), FileKind::AppConfig);
    let line = report.to_string();
    assert!(line.contains("app config OK"), "{line}");
    assert!(line.contains("SQLite schedulight.db"), "{line}");
    assert!(line.contains("127.0.0.1:8008"), "{line}");

    let report = check_file_with_env(&fixture("seed-valid.yml"), &EnvVars::new()).unwrap();
    assert_eq!(report.kind(), FileKind::Seed);
    assert!(
        report
            .to_string()
            .ends_with("seed file OK: 2 servers, 2 meetings, 7 commands (14 operations)"),
        "{report}"
    );

    let full = check_file_with_env(&fixture("app-full.yml"), &EnvVars::new()).unwrap();
    assert_eq!(full.kind(), FileKind::AppConfig);
    assert!(!full.to_string().contains("pg-password-inline"));

    let errors = check_file_with_env(&fixture("seed-broken.yml"), &EnvVars::new()).unwrap_err();
    assert_eq!(errors.len(), 12);
    let errors = check_file_with_env(&fixture("app-broken.yml"), &EnvVars::new()).unwrap_err();
    assert_eq!(errors.len(), 14);
}

#[test]
fn check_text_kind_by_content_then_name() {
    let none = EnvVars::new();
    let servers_only = "servers:\n  a:\n    BBB_URL: https://a.example\n    BBB_SECRET: x\n";
    let kind = |text: &str, name: &str| check_text_with_env(text, name, &none).unwrap().kind();
    assert_eq!(kind(servers_only, "servers.yml"), FileKind::Seed);
    assert_eq!(kind(servers_only, "bot-config.yml"), FileKind::AppConfig);
    assert_eq!(
        kind("api: {listen: '127.0.0.1:1'}\n", "x.yml"),
        FileKind::AppConfig
    );
    assert_eq!(kind("meetings: {}\n", "bot-config.yml"), FileKind::Seed);
}

// ------------------------------------------------------------------ Greenlight

fn gl_errors(text: &str, vars: &[(&str, &str)]) -> ConfigErrors {
    match AppConfig::from_yaml_str_with_env(text, "bot-config.yml", &env(vars)) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn greenlight_on_app_and_server_level() {
    let c = AppConfig::load_with_env(&fixture("app-greenlight.yml"), &EnvVars::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let default = c.greenlight.as_ref().expect("app-wide block");
    assert_eq!(default.version, Some(GreenlightVersion::V3), "`3` means v3");
    assert_eq!(
        default.database_url.expose(),
        "postgres://greenlight:gl3-db-pass-from-file@gl-db.uni.example/greenlight-v3-production",
        "read from the file next to the config, newline trimmed"
    );
    assert_eq!(
        default.link_base, "https://gl.uni.example",
        "no trailing slash"
    );
    assert_eq!(default.provider.as_deref(), Some("greenlight"));
    assert_eq!(default.bcrypt_cost, None);

    // The default is not copied into servers: the service resolves it per server.
    let bbb = &c.servers[&"bbb".parse().unwrap()];
    assert_eq!(bbb.greenlight, None);
    let legacy = &c.servers[&"legacy".parse().unwrap()];
    assert_eq!(
        legacy.greenlight,
        Some(GreenlightSettings {
            version: Some(GreenlightVersion::V2),
            database_url: schedulight::domain::Secret::new(
                "postgresql://greenlight:gl2-db-pass-inline@legacy-db.uni.example:5432/greenlight_production"
            ),
            provider: Some("ldap".into()),
            link_base: "https://legacy.uni.example/b".into(),
            bcrypt_cost: Some(10),
        })
    );
    assert_eq!(
        legacy.link_base.as_deref(),
        Some("https://legacy.uni.example/b")
    );

    let debug = format!("{c:?}");
    for secret in ["gl3-db-pass-from-file", "gl2-db-pass-inline"] {
        assert!(!debug.contains(secret), "{secret} leaked in Debug");
    }
    let summary = format!("{:?}", legacy.summary());
    assert!(!summary.contains("gl2-db-pass-inline"));
}

#[test]
fn greenlight_summary_in_check_file() {
    let report = check_file_with_env(&fixture("app-greenlight.yml"), &EnvVars::new()).unwrap();
    let line = report.to_string();
    assert!(
        line.contains(
            ", 2 servers (1 with Greenlight), default Greenlight https://gl.uni.example, time zone "
        ),
        "{line}"
    );
    assert!(!line.contains("db-pass"), "{line}");
    let CheckReport::AppConfig { summary, .. } = &report else {
        panic!("{report:?}")
    };
    assert_eq!(summary.greenlight_servers, 1);

    let seed = check_file_with_env(&fixture("seed-greenlight.yml"), &EnvVars::new()).unwrap();
    assert!(
        seed.to_string().ends_with(
            "seed file OK: 2 servers (1 with Greenlight), 0 meetings, 0 commands (2 operations)"
        ),
        "{seed}"
    );
    // Without any Greenlight the line stays as before.
    let plain = check_file_with_env(&fixture("app-full.yml"), &EnvVars::new()).unwrap();
    assert!(
        plain.to_string().contains(", 2 servers, time zone "),
        "{plain}"
    );
}

#[test]
fn greenlight_on_seed_servers() {
    let seed = load_seed_file(&fixture("seed-greenlight.yml")).unwrap_or_else(|e| panic!("{e}"));
    let gl = server(&seed, "bbb").greenlight.as_ref().unwrap();
    assert_eq!(gl.version, Some(GreenlightVersion::V2));
    assert!(gl.database_url.expose().contains("gl3-db-pass-from-file"));
    assert_eq!(gl.provider.as_deref(), Some("ldap"));
    assert_eq!(gl.link_base, "https://bbb.uni.example/b");
    assert_eq!(server(&seed, "lab").greenlight, None);
    assert!(!format!("{seed:?}").contains("gl3-db-pass-from-file"));

    let text = "\
servers:
  bbb:
    BBB_URL: https://bbb.uni.example
    BBB_SECRET: s
    greenlite:
      link_base: https://gl.example
";
    let errors = parse_seed_file(text, "servers.yml").unwrap_err();
    assert_eq!(
        positions(&errors),
        [(5, 5, "servers.bbb.greenlite".to_string())],
        "\n{errors}"
    );
    assert_eq!(
        errors.0[0].hint.as_deref(),
        Some("did you mean `greenlight`?")
    );

    let text = "\
servers:
  bbb:
    BBB_URL: https://bbb.uni.example
    BBB_SECRET: s
    greenlight:
      version: v1
      link_base: https://gl.example
";
    let errors = parse_seed_file(text, "servers.yml").unwrap_err();
    assert_eq!(
        positions(&errors),
        [
            (5, 5, "servers.bbb.greenlight".to_string()),
            (6, 16, "servers.bbb.greenlight.version".to_string()),
        ],
        "\n{errors}"
    );
    assert_eq!(errors.0[0].message, "`database_url` is missing");
    assert!(
        errors.0[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("database_url_file")
    );
}

#[test]
fn greenlight_errors_are_located() {
    let errors = AppConfig::load_with_env(&fixture("app-greenlight-broken.yml"), &EnvVars::new())
        .unwrap_err();
    let expected: Vec<(u64, u64, String)> = [
        (1, 1, "greenlight"),
        (2, 12, "greenlight.version"),
        (3, 17, "greenlight.database_url"),
        (4, 16, "greenlight.bcrypt_cost"),
        (10, 21, "servers.bbb.greenlight.database_url"),
        (11, 18, "servers.bbb.greenlight.link_base"),
        (12, 7, "servers.bbb.greenlight.linkbase"),
        (13, 20, "servers.bbb.greenlight.bcrypt_cost"),
        (14, 17, "servers.bbb.greenlight.provider"),
        (18, 5, "servers.lab.greenlight"),
        (20, 16, "servers.lab.greenlight.version"),
        (21, 7, "servers.lab.greenlight.bcrypt_costs"),
    ]
    .iter()
    .map(|(l, c, p)| (*l, *c, p.to_string()))
    .collect();
    assert_eq!(positions(&errors), expected, "\n{errors}");

    let e = find(&errors, "greenlight");
    assert_eq!(e.message, "`link_base` is missing");
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("SCHEDULIGHT_GREENLIGHT_LINK_BASE"),
        "{e}"
    );
    let e = find(&errors, "greenlight.version");
    assert_eq!(e.message, "\"v4\" is not a Greenlight version");
    assert!(e.hint.as_deref().unwrap().contains("v2 or v3"));
    let e = find(&errors, "servers.lab.greenlight.version");
    assert_eq!(e.message, "\"4\" is not a Greenlight version");
    assert_eq!(
        find(&errors, "greenlight.database_url").message,
        "the database URL must start with postgres:// or postgresql://"
    );
    assert_eq!(
        find(&errors, "servers.bbb.greenlight.database_url").message,
        "the PostgreSQL URL is not valid: empty host"
    );
    assert_eq!(
        find(&errors, "servers.bbb.greenlight.link_base").message,
        "\"ftp://gl.uni.example\" is not an http(s) URL with a host"
    );
    assert_eq!(
        find(&errors, "servers.bbb.greenlight.linkbase")
            .hint
            .as_deref(),
        Some("did you mean `link_base`?")
    );
    assert_eq!(
        find(&errors, "servers.lab.greenlight.bcrypt_costs")
            .hint
            .as_deref(),
        Some("did you mean `bcrypt_cost`?")
    );
    assert_eq!(
        find(&errors, "greenlight.bcrypt_cost").message,
        "bcrypt cost 3 is out of range"
    );
    let e = find(&errors, "servers.bbb.greenlight.bcrypt_cost");
    assert_eq!(e.message, "bcrypt cost 40 is out of range");
    assert!(e.hint.as_deref().unwrap().starts_with("use 4 to 31"));
    let e = find(&errors, "servers.lab.greenlight");
    assert_eq!(e.message, "`link_base` is missing");
    assert!(!e.hint.as_deref().unwrap().contains("SCHEDULIGHT_"));
    assert!(
        find(&errors, "servers.bbb.greenlight.provider")
            .message
            .contains("not a provider name")
    );

    // The database passwords appear nowhere: not in messages, hints or Debug output.
    let shown = format!("{errors}\n{errors:?}");
    for secret in ["broken-db-pass", "other-db-pass", "gl3-db-pass-from-file"] {
        assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
    }
    assert_eq!(
        check_file_with_env(&fixture("app-greenlight-broken.yml"), &EnvVars::new())
            .unwrap_err()
            .len(),
        12
    );
}

#[test]
fn greenlight_shape_errors() {
    let errors = gl_errors("greenlight: yes\n", &[]);
    assert_eq!(
        positions(&errors),
        [(1, 13, "greenlight".to_string())],
        "\n{errors}"
    );
    // Both forms of the secret at once.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("url");
    std::fs::write(&file, "postgres://gl:x@db/gl\n").unwrap();
    let text = format!(
        "greenlight:\n  database_url: postgres://gl:inline-pass@db/gl\n  database_url_file: {}\n  link_base: https://gl.example\n",
        file.display()
    );
    let errors = gl_errors(&text, &[]);
    assert_eq!(
        positions(&errors),
        [(3, 22, "greenlight.database_url_file".to_string())],
        "\n{errors}"
    );
    assert!(!errors.to_string().contains("inline-pass"));
    // An empty block is no block (everything in it commented out).
    let c = AppConfig::from_yaml_str("greenlight:\n#  link_base: x\n", "bot-config.yml").unwrap();
    assert_eq!(c.greenlight, None);
}

#[test]
fn greenlight_env_overrides() {
    let text = "\
greenlight:
  version: v3
  database_url_file: /nonexistent/never-read
  link_base: https://old.example
";
    let vars = [
        (
            "SCHEDULIGHT_GREENLIGHT_DATABASE_URL",
            "postgres://gl:env-db-pass@db.uni.example/gl",
        ),
        ("SCHEDULIGHT_GREENLIGHT_LINK_BASE", "https://gl.uni.example"),
        ("SCHEDULIGHT_GREENLIGHT_VERSION", "auto"),
        ("SCHEDULIGHT_GREENLIGHT_PROVIDER", "uni"),
        ("SCHEDULIGHT_GREENLIGHT_BCRYPT_COST", "11"),
    ];
    let c = AppConfig::from_yaml_str_with_env(text, "bot-config.yml", &env(&vars))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.greenlight,
        Some(GreenlightSettings {
            version: None,
            database_url: schedulight::domain::Secret::new(
                "postgres://gl:env-db-pass@db.uni.example/gl"
            ),
            provider: Some("uni".into()),
            link_base: "https://gl.uni.example".into(),
            bcrypt_cost: Some(11),
        })
    );

    // The variables alone create the block; the secret may come from a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gl_url");
    std::fs::write(&file, "postgres://gl:file-db-pass@db.uni.example/gl\n").unwrap();
    let vars = env(&[
        (
            "SCHEDULIGHT_GREENLIGHT_DATABASE_URL_FILE",
            file.to_str().unwrap(),
        ),
        ("SCHEDULIGHT_GREENLIGHT_LINK_BASE", "http://127.0.0.1:3000"),
        ("SCHEDULIGHT_GREENLIGHT_VERSION", "v2"),
    ]);
    let c = AppConfig::from_env(&vars).unwrap_or_else(|e| panic!("{e}"));
    let gl = c.greenlight.unwrap();
    assert_eq!(
        gl.database_url.expose(),
        "postgres://gl:file-db-pass@db.uni.example/gl"
    );
    assert_eq!(gl.version, Some(GreenlightVersion::V2));
    assert_eq!(gl.link_base, "http://127.0.0.1:3000");
    assert!(c.servers.is_empty());
}

#[test]
fn greenlight_env_needs_url_and_link() {
    let errors = AppConfig::from_env(&env(&[(
        "SCHEDULIGHT_GREENLIGHT_LINK_BASE",
        "https://gl.uni.example",
    )]))
    .unwrap_err();
    assert_eq!(errors.len(), 1, "\n{errors}");
    let e = &errors.0[0];
    assert_eq!(
        e.env_var.as_deref(),
        Some("SCHEDULIGHT_GREENLIGHT_LINK_BASE")
    );
    assert_eq!(e.path, "greenlight");
    assert_eq!(e.message, "`database_url` is missing");
    let hint = e.hint.as_deref().unwrap();
    assert!(
        hint.starts_with(
            "set SCHEDULIGHT_GREENLIGHT_DATABASE_URL or SCHEDULIGHT_GREENLIGHT_DATABASE_URL_FILE"
        ),
        "{hint}"
    );

    let errors = AppConfig::from_env(&env(&[(
        "SCHEDULIGHT_GREENLIGHT_DATABASE_URL",
        "postgres://gl:env-db-pass@db.uni.example/gl",
    )]))
    .unwrap_err();
    assert_eq!(errors.len(), 1, "\n{errors}");
    let e = &errors.0[0];
    assert_eq!(e.message, "`link_base` is missing");
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("set SCHEDULIGHT_GREENLIGHT_LINK_BASE,"),
        "{e}"
    );
    assert!(!format!("{errors}{errors:?}").contains("env-db-pass"));
}

#[test]
fn greenlight_bad_env_values_name_the_variable() {
    let vars = env(&[
        (
            "SCHEDULIGHT_GREENLIGHT_DATABASE_URL",
            "mysql://gl:env-db-pass@db/gl",
        ),
        ("SCHEDULIGHT_GREENLIGHT_DATABASE_URL_FILE", "/run/secrets/x"),
        ("SCHEDULIGHT_GREENLIGHT_LINK_BASE", "gl.uni.example"),
        ("SCHEDULIGHT_GREENLIGHT_BCRYPT_COST", "99"),
        ("SCHEDULIGHT_GREENLIGHT_VERSION", "three"),
        ("SCHEDULIGHT_GREENLIGHT_DATABSE_URL", "x"),
    ]);
    let errors = AppConfig::from_env(&vars).unwrap_err();
    let named: Vec<(Option<&str>, &str)> = errors
        .iter()
        .map(|e| (e.env_var.as_deref(), e.path.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            (
                Some("SCHEDULIGHT_GREENLIGHT_DATABASE_URL"),
                "greenlight.database_url"
            ),
            (
                Some("SCHEDULIGHT_GREENLIGHT_DATABASE_URL_FILE"),
                "greenlight.database_url_file"
            ),
            (Some("SCHEDULIGHT_GREENLIGHT_DATABSE_URL"), "greenlight"),
            (Some("SCHEDULIGHT_GREENLIGHT_VERSION"), "greenlight.version"),
            (
                Some("SCHEDULIGHT_GREENLIGHT_LINK_BASE"),
                "greenlight.link_base"
            ),
            (
                Some("SCHEDULIGHT_GREENLIGHT_BCRYPT_COST"),
                "greenlight.bcrypt_cost"
            ),
        ],
        "\n{errors}"
    );
    assert_eq!(
        find(&errors, "greenlight.version").message,
        "\"three\" is not a Greenlight version"
    );
    // The refused pair is not reported once more as "missing".
    assert!(
        errors.iter().all(|e| !e.message.contains("missing")),
        "{errors}"
    );
    assert_eq!(
        find(&errors, "greenlight.database_url").hint.as_deref(),
        Some(
            "unset SCHEDULIGHT_GREENLIGHT_DATABASE_URL or SCHEDULIGHT_GREENLIGHT_DATABASE_URL_FILE"
        )
    );
    let typo = errors
        .iter()
        .find(|e| e.env_var.as_deref() == Some("SCHEDULIGHT_GREENLIGHT_DATABSE_URL"))
        .unwrap();
    assert_eq!(
        typo.hint.as_deref(),
        Some("did you mean SCHEDULIGHT_GREENLIGHT_DATABASE_URL?")
    );
    assert!(!format!("{errors}{errors:?}").contains("env-db-pass"));
}

/// The commented examples in the repo's bot-config.yml, uncommented, are valid.
#[test]
fn documented_greenlight_examples_are_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut out = String::new();
    let mut uncommenting = false;
    for line in text.lines() {
        if line == "# greenlight:" || line == "servers: {}" {
            uncommenting = true;
            out.push_str(if line == "servers: {}" {
                "servers:"
            } else {
                "greenlight:"
            });
            out.push('\n');
            continue;
        }
        if uncommenting && line.starts_with("#  ") {
            out.push_str(&line[1..]);
        } else {
            uncommenting = false;
            out.push_str(line);
        }
        out.push('\n');
    }
    // Point the example secret files at real files.
    for (name, content) in [
        ("greenlight_db_url", "postgres://gl:pw@db.uni.example/gl"),
        ("gl2_db_url", "postgres://gl2:pw@db2.uni.example/gl2"),
        ("bbb_secret", "secret"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        out = out.replace(&format!("/run/secrets/{name}"), file.to_str().unwrap());
    }
    let c =
        AppConfig::from_yaml_str(&out, "bot-config.yml").unwrap_or_else(|e| panic!("{e}\n{out}"));
    let default = c.greenlight.as_ref().expect("the default block");
    assert_eq!(default.version, Some(GreenlightVersion::V3));
    assert_eq!(default.bcrypt_cost, Some(12));
    let bbb = &c.servers[&"bbb".parse().unwrap()];
    let own = bbb.greenlight.as_ref().expect("the server's block");
    assert_eq!(own.version, Some(GreenlightVersion::V2));
    assert_eq!(own.provider.as_deref(), Some("ldap"));
}

// ------------------------------------------------------------------ robustness

/// Lines built from real keys and odd values, to get past the YAML parser into the readers.
fn yamlish() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "servers",
        "meetings",
        "commands",
        "store",
        "api",
        "matrix",
        "mail",
        "defaults",
        "logging",
        "bbb",
        "m1",
        "command",
        "server",
        "data",
        "meetingName",
        "startDate",
        "owner",
        "email",
        "shareWith",
        "BBB_URL",
        "BBB_SECRET",
        "BBB_SECRET_FILE",
        "password_file",
        "location",
        "listen",
        "liveStreaming",
        "role",
        "id",
        "x@y.org",
        "abc-def-ghi",
        "share_room",
        "create_user",
        "<<",
        "? a",
    ]);
    let value = prop::sample::select(vec![
        "",
        "{}",
        "[]",
        "~",
        "yes",
        "0123",
        "-1",
        "1e999",
        "2026-12-03 14:30",
        "'x'",
        "\"\\u0000\"",
        "&a 1",
        "*a",
        "[a, {b: c}]",
        "https://x.example",
        "/dev/zero",
        "share_room",
        "@a:b",
        "!!binary aGk=",
        "|\n  x",
        "99999999999999999999999",
    ]);
    prop::collection::vec((0usize..4, key, value), 0..25).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(indent, k, v)| format!("{}{k}: {v}\n", "  ".repeat(indent)))
            .collect()
    })
}

const KEYS: &[&str] = &[
    "servers",
    "meetings",
    "commands",
    "store",
    "api",
    "matrix",
    "mail",
    "defaults",
    "logging",
    "bbb",
    "m1",
    "id",
    "command",
    "server",
    "data",
    "meetingName",
    "startDate",
    "owner",
    "email",
    "fullName",
    "shareWith",
    "sendModeratorLink",
    "liveStreaming",
    "streamerHost",
    "targetUrl",
    "BBB_URL",
    "BBB_SECRET",
    "BBB_SECRET_FILE",
    "password",
    "password_file",
    "location",
    "listen",
    "homeserver",
    "user_id",
    "allowed_users",
    "send_emails",
    "tls",
    "port",
    "level",
    "timeZone",
    "preOpenMinutes",
    "role",
    "pwd",
    "roomUID",
    "accessCode",
    "x@y.org",
    "abc-def-ghi",
    "Room Name",
];
const LEAVES: &[&str] = &[
    "",
    "{}",
    "[]",
    "~",
    "yes",
    "0123",
    "-1",
    "1e999",
    "2026-12-03 14:30",
    "'x'",
    "https://x.example",
    "/dev/zero",
    "share_room",
    "create_user",
    "rename_room",
    "delete_user",
    "'@a:b'",
    "!!binary aGk=",
    "99999999999999999999999",
    "bbb",
    "x@y.org",
    "abc-def-ghi",
    "[a, {b: c}]",
    "Europe/Vienna",
    "'127.0.0.1:1'",
    "postgres://u:p@h/d",
    "sha512",
    "\"\\t\"",
];

/// A well-formed YAML tree over the real keys, so the typed readers (not only the parser)
/// see random shapes.
#[derive(Debug, Clone)]
enum Y {
    Leaf(&'static str),
    Map(Vec<(&'static str, Y)>),
    Seq(Vec<&'static str>),
}

fn y_tree() -> impl Strategy<Value = Y> {
    let leaf = prop::sample::select(LEAVES).prop_map(Y::Leaf);
    leaf.prop_recursive(5, 60, 6, |inner| {
        prop_oneof![
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(Y::Map),
            prop::collection::vec(prop::sample::select(LEAVES), 0..4).prop_map(Y::Seq),
        ]
    })
}

fn render(y: &Y, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match y {
        Y::Leaf(v) => out.push_str(&format!(" {v}\n")),
        Y::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Y::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Y::Seq(items) => {
            out.push('\n');
            for v in items {
                out.push_str(&format!("{pad}- {v}\n"));
            }
        }
        Y::Map(entries) => {
            out.push('\n');
            for (k, v) in entries {
                out.push_str(&format!("{pad}{k}:"));
                render(v, indent + 1, out);
            }
        }
    }
}

fn y_document() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(KEYS), y_tree()), 0..6).prop_map(|top| {
        let mut out = String::new();
        for (k, v) in &top {
            out.push_str(&format!("{k}:"));
            render(v, 1, &mut out);
        }
        out
    })
}

fn exercise(text: &str) {
    let _ = parse_seed_file(text, "fuzz/seed.yml");
    let _ = AppConfig::from_yaml_str(text, "fuzz/bot-config.yml");
    let _ = check_text_with_env(text, "fuzz/x.yml", &EnvVars::new());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_strings_never_panic(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_like_input_never_panics(text in yamlish()) {
        exercise(&text);
    }

    #[test]
    fn well_formed_random_documents_never_panic(text in y_document()) {
        exercise(&text);
    }

    #[test]
    fn random_env_never_panics(
        key in "[A-Z_]{0,30}",
        value in ".{0,40}",
        text in yamlish(),
    ) {
        let vars = env(&[(&format!("SCHEDULIGHT_{key}"), &value)]);
        let _ = AppConfig::from_yaml_str_with_env(&text, "fuzz/bot-config.yml", &vars);
    }
}

// ------------------------------------------------------------------ scheduler keys

#[test]
fn seed_scheduler_keys_are_read() {
    use schedulight::domain::meeting::{ExDate, MisfirePolicy};
    let seed = load_seed_file(&fixture("seed-recurring.yml")).unwrap_or_else(|e| panic!("{e}"));
    let weekly = meeting(&seed, "weekly");
    assert_eq!(
        weekly.recurrence.as_ref().map(|r| r.source()),
        Some("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=12")
    );
    assert_eq!(
        weekly.exdate,
        [
            ExDate::Day(jiff::civil::date(2027, 3, 30)),
            ExDate::At(jiff::civil::date(2027, 4, 13).at(10, 0, 0, 0)),
        ]
    );
    assert_eq!(weekly.misfire, Some(MisfirePolicy::Grace));
    assert_eq!(weekly.misfire_grace_minutes, Some(20));
    assert_eq!(
        weekly.notify_room.as_ref().map(|r| r.as_str()),
        Some("!seminar:uni.example")
    );
    let monthly = meeting(&seed, "monthly");
    assert_eq!(
        monthly.misfire,
        Some(MisfirePolicy::Always),
        "case-insensitive"
    );
    assert!(monthly.notify_room.as_ref().unwrap().is_alias());
    let once = meeting(&seed, "once");
    assert!(once.recurrence.is_none() && once.exdate.is_empty());
    assert_eq!(once.misfire, Some(MisfirePolicy::Skip));
    assert_eq!(once.notify_room, None);
}

#[test]
fn seed_scheduler_keys_report_located_errors() {
    let errors = load_seed_file(&fixture("seed-recurring-broken.yml")).unwrap_err();
    let expected: Vec<(u64, u64, String)> = [
        (6, 17, "meetings.hourly.recurrence"),
        (7, 14, "meetings.hourly.misfire"),
        (8, 26, "meetings.hourly.misfireGraceMinutes"),
        (9, 17, "meetings.hourly.notifyRoom"),
        (14, 17, "meetings.nostart.recurrence"),
        (19, 17, "meetings.wrongday.recurrence"),
        (21, 9, "meetings.wrongday.exdate[0]"),
        (22, 9, "meetings.wrongday.exdate[1]"),
        (23, 9, "meetings.wrongday.exdate[2]"),
        (28, 13, "meetings.oneoff.exdate"),
        (29, 5, "meetings.oneoff.recurence"),
    ]
    .iter()
    .map(|(l, c, p)| (*l, *c, p.to_string()))
    .collect();
    assert_eq!(positions(&errors), expected, "\n{errors}");
    let has = |path: &str, text: &str| {
        let e = find(&errors, path);
        assert!(
            e.to_string().contains(text),
            "{path}: expected {text:?} in {e}"
        );
    };
    has("meetings.hourly.recurrence", "BYHOUR is not supported");
    has(
        "meetings.hourly.recurrence",
        "FREQ=WEEKLY;BYDAY=TU;COUNT=12",
    );
    has("meetings.hourly.misfire", "did you mean `grace`?");
    has("meetings.hourly.misfireGraceMinutes", "0 or more");
    has("meetings.hourly.notifyRoom", "starts with ! (room id) or #");
    has("meetings.nostart.recurrence", "needs startDate");
    has(
        "meetings.wrongday.recurrence",
        "startDate 2027-03-15 10:00 (a Monday) is not a day of the recurrence",
    );
    has("meetings.wrongday.exdate[0]", "\"2027-13-01\" is not a day");
    has(
        "meetings.wrongday.exdate[1]",
        "not at the meeting's time 10:00",
    );
    has(
        "meetings.oneoff.exdate",
        "one-off meeting has nothing to skip",
    );
    has("meetings.oneoff.recurence", "did you mean `recurrence`?");
    assert!(errors.iter().all(|e| e.hint.is_some()), "\n{errors}");
}

#[test]
fn seed_recurrence_until_before_start_is_refused() {
    let text = "\
meetings:
  m:
    server: bbb
    meetingName: M
    startDate: 2027-03-16 10:00
    recurrence: FREQ=DAILY;UNTIL=20270301
";
    let errors = parse_seed_file(text, "m.yml").unwrap_err();
    assert_eq!(
        positions(&errors),
        [(6, 17, "meetings.m.recurrence".to_string())]
    );
    assert!(errors.0[0].message.contains("before startDate"), "{errors}");
}

// ------------------------------------------------------------------ streaming

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn streaming_defaults_when_the_section_is_absent() {
    let c = AppConfig::from_yaml_str("api:\n  listen: 127.0.0.1:8008\n", "bot-config.yml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.streaming, StreamingConfig::default());
    // An empty section is the defaults too.
    let c = AppConfig::from_yaml_str("streaming:\n", "bot-config.yml").unwrap();
    assert_eq!(c.streaming, StreamingConfig::default());
}

#[test]
fn streaming_section_is_read() {
    let c = AppConfig::load_with_env(&fixture("app-streaming.yml"), &EnvVars::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let s = &c.streaming;
    assert_eq!(s.docker, PathBuf::from("/usr/bin/docker"));
    assert_eq!(s.image, "registry.uni.example/bbb-livestreaming:1.4");
    assert_eq!(s.ssh_user, "streamer");
    assert_eq!(
        s.run_args,
        strings(&["-v", "/srv/streaming/videodata:/video", "--shm-size=2g"])
    );
    assert_eq!(s.docker_env.len(), 2);
    assert_eq!(s.docker_env["DOCKER_CONFIG"], "/etc/schedulight/docker");
    assert_eq!(s.timeout_secs, 45);
    assert_eq!(s.start_timeout_secs, 900);
    let command = s.command.as_ref().expect("the command templates");
    assert_eq!(
        command.start,
        strings(&[
            "/usr/local/bin/stream-start",
            "--name={name}",
            "{meeting_id}"
        ])
    );
    assert_eq!(
        command.stop,
        strings(&["/usr/local/bin/stream-stop", "{name}"])
    );
    assert_eq!(
        command.status,
        Some(strings(&[
            "/usr/local/bin/stream-status",
            "{name}",
            "{{.State}}"
        ]))
    );
    // What was loaded builds both kinds of launcher.
    assert!(launcher_for(None, s).is_ok());
    assert!(launcher_for(Some("streamer.uni.example"), s).is_ok());
    // check-config accepts it as an app config.
    let report = check_file_with_env(&fixture("app-streaming.yml"), &EnvVars::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.kind(), FileKind::AppConfig);
}

#[test]
fn streaming_env_overrides() {
    let text = "streaming:\n  image: a/b:1\n  timeout_secs: 10\n";
    let vars = env(&[
        ("SCHEDULIGHT_STREAMING_IMAGE", "c/d:2"),
        ("SCHEDULIGHT_STREAMING_DOCKER", "/opt/docker/bin/docker"),
        ("SCHEDULIGHT_STREAMING_SSH_USER", "stream"),
        (
            "SCHEDULIGHT_STREAMING_RUN_ARGS",
            "-v, /a:/video ,--shm-size=1g",
        ),
        ("SCHEDULIGHT_STREAMING_TIMEOUT_SECS", "20"),
        ("SCHEDULIGHT_STREAMING_START_TIMEOUT_SECS", "600"),
    ]);
    let c = AppConfig::from_yaml_str_with_env(text, "bot-config.yml", &vars)
        .unwrap_or_else(|e| panic!("{e}"));
    let s = &c.streaming;
    assert_eq!(s.image, "c/d:2");
    assert_eq!(s.docker, PathBuf::from("/opt/docker/bin/docker"));
    assert_eq!(s.ssh_user, "stream");
    assert_eq!(s.run_args, strings(&["-v", "/a:/video", "--shm-size=1g"]));
    assert_eq!(s.timeout_secs, 20);
    assert_eq!(s.start_timeout_secs, 600);
    // Without a file section the variables create it.
    let c = AppConfig::from_env(&env(&[("SCHEDULIGHT_STREAMING_TIMEOUT_SECS", "5")])).unwrap();
    assert_eq!(c.streaming.timeout_secs, 5);
    assert_eq!(c.streaming.image, StreamingConfig::default().image);
}

#[test]
fn streaming_bad_env_values_name_the_variable() {
    let vars = env(&[
        ("SCHEDULIGHT_STREAMING_TIMEOUT_SECS", "0"),
        ("SCHEDULIGHT_STREAMING_SSH_USR", "root"),
        ("SCHEDULIGHT_STREAMING_COMMAND", "/bin/x"),
    ]);
    let errors = AppConfig::from_env(&vars).unwrap_err();
    let bad = find(&errors, "streaming.timeout_secs");
    assert_eq!(
        bad.env_var.as_deref(),
        Some("SCHEDULIGHT_STREAMING_TIMEOUT_SECS")
    );
    let typo = errors
        .iter()
        .find(|e| e.env_var.as_deref() == Some("SCHEDULIGHT_STREAMING_SSH_USR"))
        .unwrap_or_else(|| panic!("{errors}"));
    assert!(
        typo.hint
            .as_deref()
            .unwrap()
            .contains("SCHEDULIGHT_STREAMING_SSH_USER"),
        "{typo}"
    );
    // Nested settings are file-only.
    assert!(
        errors
            .iter()
            .any(|e| e.env_var.as_deref() == Some("SCHEDULIGHT_STREAMING_COMMAND")),
        "{errors}"
    );
}

#[test]
fn streaming_errors_are_located() {
    let errors = AppConfig::load_with_env(&fixture("app-streaming-broken.yml"), &EnvVars::new())
        .unwrap_err();
    let text = errors.to_string();
    let typo = find(&errors, "streaming.imgae");
    assert_eq!((typo.line, typo.column), (2, 3));
    assert_eq!(typo.hint.as_deref(), Some("did you mean `image`?"));
    assert!(text.contains("app-streaming-broken.yml:2:3: streaming.imgae: unknown key"));
    let user = find(&errors, "streaming.ssh_user");
    assert_eq!((user.line, user.column), (3, 13));
    let image = find(&errors, "streaming.image");
    assert_eq!((image.line, image.column), (4, 10));
    let env_key = find(&errors, "streaming.docker_env.BBB_SECRET");
    assert_eq!((env_key.line, env_key.column), (6, 5));
    assert!(!env_key.to_string().contains("nope"), "{env_key}");
    let t = find(&errors, "streaming.timeout_secs");
    assert_eq!((t.line, t.column), (7, 17));
    assert!(t.message.contains("outside 1..=3600"), "{t}");
    let st = find(&errors, "streaming.start_timeout_secs");
    assert_eq!(st.line, 8);
    assert!(st.message.contains("99999"), "{st}");
    let arg = find(&errors, "streaming.run_args[1]");
    assert_eq!(arg.line, 9);
    assert!(!arg.to_string().contains("BBB_SECRET=x"), "{arg}");
    let start = find(&errors, "streaming.command.start");
    assert_eq!((start.line, start.column), (11, 12));
    assert!(
        start.message.contains("the start command is empty"),
        "{start}"
    );
    let stop = find(&errors, "streaming.command.stop");
    assert_eq!(stop.line, 13);
    assert!(stop.message.contains("fixed program"), "{stop}");
    let status = find(&errors, "streaming.command.status[1]");
    assert_eq!(status.line, 16);
    assert!(
        status.hint.as_deref().unwrap().contains("quote"),
        "{status}"
    );
    let restart = find(&errors, "streaming.command.restart");
    assert_eq!(restart.line, 17);
    assert_eq!(errors.iter().count(), 11, "{text}");
}

#[test]
fn streaming_shape_errors() {
    let errs = |text: &str| AppConfig::from_yaml_str(text, "bot-config.yml").unwrap_err();
    // A shell line instead of an argv list.
    let e = errs("streaming:\n  command:\n    start: docker run x\n    stop: [x]\n");
    let start = find(&e, "streaming.command.start");
    assert_eq!((start.line, start.column), (3, 12));
    assert!(start.message.contains("argument list"), "{start}");
    // start and stop are required together.
    let e = errs("streaming:\n  command:\n    start: [x]\n");
    let stop = find(&e, "streaming.command");
    assert!(stop.message.contains("`stop` is missing"), "{stop}");
    // Unknown placeholders and {meeting_id} outside start.
    let e = errs(
        "streaming:\n  command:\n    start: [x, \"{secret}\"]\n    stop: [y, \"{meeting_id}\"]\n",
    );
    assert!(
        find(&e, "streaming.command.start")
            .message
            .contains("{secret}")
    );
    assert!(
        find(&e, "streaming.command.stop")
            .message
            .contains("{meeting_id}")
    );
    // Not a number, not a mapping.
    let e = errs("streaming:\n  timeout_secs: soon\n  docker_env: [A]\n");
    assert_eq!(find(&e, "streaming.timeout_secs").line, 2);
    assert_eq!(find(&e, "streaming.docker_env").line, 3);
    let e = errs("streaming: docker\n");
    assert_eq!(find(&e, "streaming").line, 1);
    // Empty docker path and an option as the image.
    let e = errs("streaming:\n  docker: \"\"\n  image: --privileged\n");
    assert_eq!(find(&e, "streaming.docker").line, 2);
    assert_eq!(find(&e, "streaming.image").line, 3);
}

/// The commented streaming example in the repo's bot-config.yml, uncommented, is valid.
#[test]
fn documented_streaming_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut uncommenting = false;
    for line in text.lines() {
        if line == "# streaming:" {
            uncommenting = true;
            out.push_str("streaming:\n");
            continue;
        }
        if uncommenting && line.starts_with("#  ") {
            out.push_str(&line[1..]);
        } else {
            uncommenting = false;
            out.push_str(line);
        }
        out.push('\n');
    }
    let c =
        AppConfig::from_yaml_str(&out, "bot-config.yml").unwrap_or_else(|e| panic!("{e}\n{out}"));
    let s = &c.streaming;
    let defaults = StreamingConfig::default();
    assert_eq!(s.image, defaults.image);
    assert_eq!(s.timeout_secs, defaults.timeout_secs);
    assert_eq!(s.start_timeout_secs, defaults.start_timeout_secs);
    assert_eq!(
        s.run_args,
        strings(&["-v", "/srv/streaming/videodata:/video"])
    );
    let command = s.command.as_ref().expect("the example templates");
    assert_eq!(command.start[2], "{meeting_id}");
    assert!(command.status.is_some());
}

#[test]
fn matrix_access_rules() {
    let text = "\
matrix:
  homeserver: https://matrix.uni.example
  user_id: \"@schedulight:uni.example\"
  password: p
  recovery_passphrase: correct horse battery staple
  allowed_users: [\"@*:uni.example\"]
  admins: [\"@it-*:uni.example\"]
  email_rule: \"{localpart}@uni.example\"
  emails:
    \"@ada:uni.example\": ada.lovelace@uni.example
  min_power_level: 50
  rooms: [\"!jtw7J2KiHfL7Byb4Tgp3zjLQJ9KHKmz5n4Y2XJwv97A\"]
";
    let c = AppConfig::from_yaml_str(text, "bot.yml").unwrap_or_else(|e| panic!("{e}"));
    let m = c.matrix.unwrap();
    assert_eq!(m.admins, ["@it-*:uni.example"]);
    assert_eq!(m.email_rule.as_deref(), Some("{localpart}@uni.example"));
    assert_eq!(
        m.emails["@ada:uni.example"],
        email("ada.lovelace@uni.example")
    );
    assert_eq!(m.min_power_level, 50);
    assert_eq!(
        m.recovery_passphrase.as_ref().unwrap().expose(),
        "correct horse battery staple"
    );
    assert_eq!(m.rooms.len(), 1, "room version 12 ids have no server part");

    let bad = "\
matrix:
  homeserver: https://matrix.uni.example
  user_id: \"@schedulight:uni.example\"
  password: p
  allowed_users: [\"@*:uni.example\"]
  email_rule: \"@uni.example\"
  emails:
    \"ada\": ada@uni.example
    \"@bob:uni.example\": not-an-address
";
    let errors = AppConfig::from_yaml_str(bad, "bot.yml").unwrap_err();
    assert_eq!(
        positions(&errors),
        [
            (6, 15, "matrix.email_rule".to_string()),
            (8, 5, "matrix.emails.ada".to_string()),
            (9, 25, "matrix.emails.@bob:uni.example".to_string()),
        ],
        "\n{errors}"
    );
    assert!(
        find(&errors, "matrix.email_rule")
            .message
            .contains("{localpart}")
    );
}

/// `retention:` rules are read per server and room, and a mistyped key is reported where it
/// stands, with the key it probably means.
#[test]
fn retention_rules() {
    let c = AppConfig::from_yaml_str(
        "retention:\n  run_at: \"04:15\"\n  recordings:\n    delete_after_days: 365\n  servers:\n    bbb: { delete_after_days: 90, warn_days_before: 3 }\n  rooms:\n    abc-def-ghi: { keep: true }\n  audit_days: 30\n",
        "bot-config.yml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = &c.retention;
    assert_eq!(r.run_at, Some(jiff::civil::time(4, 15, 0, 0)));
    let rule = r.rule_for(&"bbb".parse().unwrap(), "m", Some("abc-def-ghi"));
    assert_eq!(
        (rule.delete_after_days, rule.warn_days_before, rule.keep),
        (Some(90), Some(3), Some(true))
    );
    assert_eq!(r.audit_days, Some(30));
    assert_eq!(r.sent_messages_days, Some(90), "defaults stay");

    let e = AppConfig::from_yaml_str(
        "retention:\n  recordings:\n    delete_after_dayz: 30\n  run_at: \"25:00\"\n",
        "bot-config.yml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bot-config.yml:3:5"), "{e}");
    assert!(e.contains("did you mean `delete_after_days`"), "{e}");
    assert!(e.contains("retention.run_at"), "{e}");
}
