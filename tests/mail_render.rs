//! The mail renderer (`schedulight::mail::render`) on a world like the scheduler's: a SQLite
//! store in a temp dir, a manual clock, a server and a meeting, outbox requests queued the way
//! the workflow queues them. Every mail kind in English and German (dates in the meeting's
//! zone), no secrets anywhere (BBB secret, owner password, SMTP passwords, stream key), the
//! moderator join URL only in its own mail, the original's sender/recipient precedence, the
//! original's own `.j2` files through the compatibility context (byte for byte), template
//! errors, `mail preview` = the queued mail, and calendar parts.

use jiff::Timestamp;
use schedulight::bbb::sim::SimConnector;
use schedulight::clock::ManualClock;
use schedulight::config::MailConfig;
use schedulight::domain::meeting::{LiveStreaming, seed_datetime};
use schedulight::domain::{
    Actor, Channel, Email, MeetingId, MeetingSpec, NoticeKind, Operation, Owner, Recipient, Secret,
    ServerSpec,
};
use schedulight::mail::render::{
    Language, Overrides, RenderError, message_id, preview_request, render_entry, render_request,
};
use schedulight::mail::{CalendarMethod, RenderedMail};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{OutboxEntry, OutboxFilter, OutboxRequest, SqlStore, Store};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

const FROM: &str = "schedulight@uni.example";
const FROM_NAME: &str = "Universität Musterstadt – Schedulight";
const MEETING: &str = "lecture";
const NAME: &str = "Übung Lineare Algebra";
const ROOM: &str = "ueb-lin-alg";
const ROOM_NAME: &str = "LinAlg Übungsraum";
const LINK_BASE: &str = "https://gl.uni.example/b";
const OWNER: &str = "juergen.mueller@uni.example";
const OWNER_NAME: &str = "Jürgen Müller";
const INVITEE: &str = "zoe@uni.example";
const INVITEE_NAME: &str = "Zoë Ångström";
const MODERATOR: &str = "mia.mod@uni.example";
const MODERATOR_NAME: &str = "Mia Moderator";
const SHAREE: &str = "sam@uni.example";
const SHAREE_NAME: &str = "Sam Sharee";

const BBB_SECRET: &str = "bbbSecret9f8e7d6c5b4a";
const OWNER_PASSWORD: &str = "ownerPassw0rd-Qx7";
const SMTP_PASSWORD: &str = "smtpPassw0rd-Zk4";
const SMTP_USER: &str = "botlogin-Hq2";
const SERVER_SMTP_PASSWORD: &str = "serverSmtpPassw0rd-Jn5";
const SERVER_SMTP_USER: &str = "serverlogin-Wv8";
const SERVER_SMTP_HOST: &str = "smtp-internal-Pb3.uni.example";
const STREAM_KEY: &str = "streamkey-Lm6";

/// The meeting starts Thursday 2026-12-03 14:00 in Vienna (13:00 UTC).
const START_ISO: &str = "2026-12-03T14:00:00+01:00[Europe/Vienna]";
const OCCURRENCE: &str = "2026-12-03T14:00";
const START_EN: &str = "Thursday, 3 December 2026, 14:00 CET (Europe/Vienna)";
const START_DE: &str = "Donnerstag, 3. Dezember 2026, 14:00 Uhr CET (Europe/Vienna)";
/// Where a moved meeting was before (meeting_changed).
const BEFORE_ISO: &str = "2026-12-02T10:00:00+01:00[Europe/Vienna]";
const BEFORE_EN: &str = "Wednesday, 2 December 2026, 10:00 CET (Europe/Vienna)";
const BEFORE_DE: &str = "Mittwoch, 2. Dezember 2026, 10:00 Uhr CET (Europe/Vienna)";

/// Every mail kind the workflow and the commands send (the room-links report aside).
const KINDS: [NoticeKind; 10] = [
    NoticeKind::OwnerInfo,
    NoticeKind::OwnerReminder,
    NoticeKind::OwnerStarted,
    NoticeKind::ShareInfo,
    NoticeKind::Invitation,
    NoticeKind::ModeratorLink,
    NoticeKind::RoomShared,
    NoticeKind::RoomUnshared,
    NoticeKind::MeetingCancelled,
    NoticeKind::MeetingChanged,
];

struct World {
    service: Service,
    clock: ManualClock,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn at(s: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", s)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Vienna").unwrap())
        .unwrap()
        .timestamp()
}

fn email(s: &str) -> Email {
    s.parse().unwrap()
}

fn recipient(name: &str) -> Recipient {
    Recipient {
        full_name: Some(name.into()),
        send_emails: None,
    }
}

fn meeting_id() -> MeetingId {
    MEETING.parse().unwrap()
}

/// The templates of the original's style in this directory.
fn seed_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mail_seed"
    ))
}

/// A world with one server and the meeting "lecture"; `server` and `meeting` adjust them
/// before they are added.
async fn world_with(
    server: impl FnOnce(&mut ServerSpec),
    meeting: impl FnOnce(&mut MeetingSpec),
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let clock = ManualClock::new(at("2026-11-28 09:00"));
    // The app's default zone is not the meeting's: mails must use the meeting's own zone.
    let settings = ServiceSettings {
        default_time_zone: jiff::tz::TimeZone::UTC,
        send_emails: true,
        ..ServiceSettings::default()
    };
    let service = Service::new(
        store.clone(),
        Arc::new(SimConnector::new()),
        Arc::new(clock.clone()),
        settings,
    );
    let mut s = ServerSpec::new(
        "bbb".parse().unwrap(),
        "http://127.0.0.1:9/bigbluebutton/api/".parse().unwrap(),
        Secret::new(BBB_SECRET),
    );
    s.link_base = Some(LINK_BASE.into());
    s.mail_server = Some(SERVER_SMTP_HOST.into());
    s.mail_user = Some(SERVER_SMTP_USER.into());
    s.mail_password = Some(Secret::new(SERVER_SMTP_PASSWORD));
    server(&mut s);
    let admin = Actor::admin("test");
    service
        .execute(
            &admin,
            Operation::AddServer {
                server: Box::new(s),
            },
        )
        .await
        .unwrap();
    let mut m = MeetingSpec::new(meeting_id(), "bbb".parse().unwrap(), NAME);
    m.start = Some(seed_datetime::parse("2026-12-03 14:00").unwrap());
    m.time_zone = Some("Europe/Vienna".into());
    m.room = Some(ROOM.parse().unwrap());
    m.reminder_minutes = Some(15);
    m.owner = Some(Owner {
        email: email(OWNER),
        full_name: OWNER_NAME.into(),
        password: Some(Secret::new(OWNER_PASSWORD)),
        uid: None,
        social_uid: None,
    });
    m.live_streaming = Some(LiveStreaming {
        streamer_host: "streamer.uni.example".into(),
        target_url: format!("rtmp://live.uni.example/stream/{STREAM_KEY}"),
        play_intro: None,
    });
    m.send_invitation_link
        .insert(email(INVITEE), recipient(INVITEE_NAME));
    m.send_moderator_link
        .insert(email(MODERATOR), recipient(MODERATOR_NAME));
    m.share_with.insert(email(SHAREE), recipient(SHAREE_NAME));
    meeting(&mut m);
    let w = World {
        service,
        clock,
        store,
        _dir: dir,
    };
    w.schedule(m).await;
    w
}

async fn world() -> World {
    world_with(|_| {}, |_| {}).await
}

/// bot-config.yml's mail section: a sender, an SMTP login, the built-in templates.
fn config(lang: Language) -> MailConfig {
    MailConfig {
        send_emails: true,
        host: Some("smtp.uni.example".into()),
        user: Some(SMTP_USER.into()),
        password: Some(Secret::new(SMTP_PASSWORD)),
        from: Some(email(FROM)),
        from_name: Some(FROM_NAME.into()),
        language: lang,
        ..MailConfig::default()
    }
}

/// The same with the original's templates in `mail.templates_dir`.
fn seed_config(lang: Language) -> MailConfig {
    MailConfig {
        templates_dir: Some(seed_dir()),
        ..config(lang)
    }
}

/// The request the workflow (or the share command) queues for `kind`, with its natural
/// recipient: what `Service::queue_mail`, `reminder`, `started`, `tell_told` and
/// `queue_share_mails` write.
fn request(kind: NoticeKind) -> OutboxRequest {
    let id = meeting_id();
    let (to, name) = match kind {
        NoticeKind::Invitation | NoticeKind::MeetingCancelled | NoticeKind::MeetingChanged => {
            (INVITEE, INVITEE_NAME)
        }
        NoticeKind::ModeratorLink => (MODERATOR, MODERATOR_NAME),
        NoticeKind::ShareInfo | NoticeKind::RoomShared | NoticeKind::RoomUnshared => {
            (SHAREE, SHAREE_NAME)
        }
        _ => (OWNER, OWNER_NAME),
    };
    let mut data = json!({ "recipientName": name });
    let mut meeting = Some(id.clone());
    let occurrence: Option<String> = match kind {
        NoticeKind::OwnerReminder => {
            data["start"] = json!(START_ISO);
            data["minutesBefore"] = json!(15);
            Some(OCCURRENCE.into())
        }
        NoticeKind::OwnerStarted => {
            data["start"] = json!(START_ISO);
            Some(OCCURRENCE.into())
        }
        NoticeKind::RoomShared | NoticeKind::RoomUnshared => {
            let command = if kind == NoticeKind::RoomShared {
                "share_room"
            } else {
                "unshare_room"
            };
            data = json!({
                "command": command,
                "room": ROOM,
                "roomName": ROOM_NAME,
                "link": format!("{LINK_BASE}/{ROOM}"),
                "server": "bbb",
                "recipientName": name,
                "senderName": "Ada Admin",
            });
            meeting = None;
            Some("command-1".into())
        }
        _ => None,
    };
    let key = match kind {
        // tell_told: one key per event (cancel, or an edit by its time), no occurrence.
        NoticeKind::MeetingCancelled => {
            data["start"] = json!(START_ISO);
            OutboxRequest::key_for(kind, Some(&id), Some("cancelled@1"), to)
        }
        NoticeKind::MeetingChanged => {
            data["start"] = json!(START_ISO);
            data["previousStart"] = json!(BEFORE_ISO);
            OutboxRequest::key_for(kind, Some(&id), Some("changed@1"), to)
        }
        _ => OutboxRequest::key_for(kind, meeting.as_ref(), occurrence.as_deref(), to),
    };
    OutboxRequest {
        unique_key: key,
        channel: Channel::Mail,
        kind,
        meeting_id: meeting,
        occurrence,
        recipient: to.into(),
        data,
        not_before: at("2026-11-28 09:00"),
    }
}

impl World {
    async fn schedule(&self, m: MeetingSpec) {
        self.service
            .execute(
                &Actor::admin("test"),
                Operation::ScheduleMeeting {
                    meeting: Box::new(m),
                },
            )
            .await
            .unwrap();
    }

    /// Queue a request in the outbox and read it back as the sender would claim it.
    async fn queue(&self, request: &OutboxRequest) -> OutboxEntry {
        let done = self
            .store
            .enqueue_outbox(request, self.service.now())
            .await
            .unwrap();
        self.store
            .list_outbox(&OutboxFilter {
                state: schedulight::domain::operation::MailFilter::All,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.id == done.id)
            .expect("the queued entry")
    }

    async fn render(&self, mail: &MailConfig, request: &OutboxRequest) -> RenderedMail {
        render_request(&self.service, mail, request, &Overrides::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", request.kind))
    }

    async fn render_with(
        &self,
        mail: &MailConfig,
        request: &OutboxRequest,
        overrides: Overrides,
    ) -> Result<RenderedMail, RenderError> {
        render_request(&self.service, mail, request, &overrides).await
    }
}

/// Every readable part of a mail, for "never contains" checks.
fn all_parts(m: &RenderedMail) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{:?}",
        m.subject,
        m.text,
        m.html.as_deref().unwrap_or(""),
        m.calendar.as_ref().map(|c| c.ics.as_str()).unwrap_or(""),
        m
    )
}

fn assert_no_secrets(m: &RenderedMail, what: &str) {
    let all = all_parts(m);
    for secret in [
        BBB_SECRET,
        OWNER_PASSWORD,
        SMTP_PASSWORD,
        SMTP_USER,
        SERVER_SMTP_PASSWORD,
        SERVER_SMTP_USER,
        SERVER_SMTP_HOST,
        STREAM_KEY,
    ] {
        assert!(
            !all.contains(secret),
            "{what}: {secret:?} leaked into\n{all}"
        );
    }
}

/// The unfolded ICS content lines.
fn ics_lines(ics: &str) -> Vec<String> {
    ics.replace("\r\n ", "")
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

fn ics_value(ics: &str, name: &str) -> Option<String> {
    ics_lines(ics).into_iter().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key == name || key.starts_with(&format!("{name};"))).then(|| value.to_string())
    })
}

// --------------------------------------------------------------------- 1. every kind

#[tokio::test]
async fn every_kind_renders_in_english_and_german_with_the_start_in_the_meetings_zone() {
    let w = world().await;
    for lang in Language::ALL {
        let mail = config(lang);
        let (start, before) = match lang {
            Language::En => (START_EN, BEFORE_EN),
            Language::De => (START_DE, BEFORE_DE),
        };
        let (other_start, hello) = match lang {
            Language::En => (START_DE, "Hello"),
            Language::De => (START_EN, "Hallo"),
        };
        for kind in KINDS {
            let what = format!("{lang}/{kind}");
            let req = request(kind);
            let entry = w.queue(&req).await;
            let m = render_entry(&w.service, &mail, &entry)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let room_mail = matches!(kind, NoticeKind::RoomShared | NoticeKind::RoomUnshared);

            assert!(!m.subject.trim().is_empty(), "{what}");
            assert!(!m.subject.contains('\n'), "{what}: {:?}", m.subject);
            let shown = if room_mail { ROOM_NAME } else { NAME };
            assert!(
                m.subject.contains(shown),
                "{what}: subject {:?} lacks {shown:?}",
                m.subject
            );
            assert!(m.text.contains(shown), "{what}:\n{}", m.text);
            let name = req.data["recipientName"].as_str().unwrap();
            assert!(
                m.text.starts_with(&format!("{hello} {name},\n")),
                "{what}: greeting in {lang}:\n{}",
                m.text
            );
            assert!(
                m.text.ends_with('\n') && !m.text.ends_with("\n\n"),
                "{what}"
            );
            // The started mail and the room mails do not give a time.
            if !room_mail && kind != NoticeKind::OwnerStarted {
                assert!(
                    m.text.contains(start),
                    "{what}: the start {start:?} is missing:\n{}",
                    m.text
                );
            }
            assert!(!m.text.contains(other_start), "{what}: wrong language");
            assert!(!m.text.contains("13:00"), "{what}: the start in UTC");

            let html = m
                .html
                .as_deref()
                .unwrap_or_else(|| panic!("{what}: no html"));
            assert!(
                html.starts_with(&format!("<!DOCTYPE html>\n<html lang=\"{lang}\">")),
                "{what}:\n{html}"
            );
            assert!(
                html.contains(&format!(
                    "<title>{}</title>",
                    m.subject.replace('&', "&amp;")
                )),
                "{what}:\n{html}"
            );
            assert!(
                html.contains(&format!("<strong>{shown}</strong>")),
                "{what}"
            );
            assert!(html.trim_end().ends_with("</html>"), "{what}");

            assert_eq!(m.to.email.as_str(), req.recipient, "{what}");
            assert_eq!(m.to.name.as_deref(), Some(name), "{what}");
            assert_eq!(m.from.email.as_str(), FROM, "{what}");
            assert_eq!(m.from.name.as_deref(), Some(FROM_NAME), "{what}");
            assert_eq!(
                m.message_id,
                message_id(&req.unique_key, &email(FROM)),
                "{what}"
            );
            assert_eq!(m.server.as_ref().map(|s| s.as_str()), Some("bbb"), "{what}");
            // A public room link where there is one (the moderator mail has its own link).
            if kind != NoticeKind::ModeratorLink
                && !matches!(
                    kind,
                    NoticeKind::MeetingCancelled | NoticeKind::RoomUnshared
                )
            {
                assert!(
                    m.text.contains(&format!("{LINK_BASE}/{ROOM}")),
                    "{what}:\n{}",
                    m.text
                );
            }

            match (kind, lang) {
                (NoticeKind::OwnerReminder, Language::En) => {
                    assert_eq!(m.subject, format!("“{NAME}” starts in 15 minutes"));
                    assert!(m.text.contains("starts in 15 minutes."), "{}", m.text);
                }
                (NoticeKind::OwnerReminder, Language::De) => {
                    assert_eq!(m.subject, format!("„{NAME}“ beginnt in 15 Minuten"));
                    assert!(m.text.contains("beginnt in 15 Minuten."), "{}", m.text);
                }
                (NoticeKind::MeetingChanged, _) => {
                    assert!(m.text.contains(before), "{what}:\n{}", m.text);
                }
                (NoticeKind::RoomShared | NoticeKind::RoomUnshared, _) => {
                    assert!(m.text.contains(ROOM_NAME), "{what}");
                    // The mail names who shared (or unshared) the room.
                    assert!(m.text.contains("Ada Admin"), "{what}:\n{}", m.text);
                }
                _ => {}
            }
        }
    }

    // Exact subjects, both languages.
    let subjects = [
        (
            NoticeKind::OwnerInfo,
            Language::En,
            format!("Your meeting “{NAME}” is set up"),
        ),
        (
            NoticeKind::OwnerInfo,
            Language::De,
            format!("Ihre Veranstaltung „{NAME}“ ist eingerichtet"),
        ),
        (
            NoticeKind::Invitation,
            Language::En,
            format!("Invitation: {NAME}"),
        ),
        (
            NoticeKind::Invitation,
            Language::De,
            format!("Einladung: {NAME}"),
        ),
        (
            NoticeKind::MeetingCancelled,
            Language::De,
            format!("Abgesagt: {NAME}"),
        ),
        (
            NoticeKind::RoomShared,
            Language::En,
            format!("Room “{ROOM_NAME}” was shared with you"),
        ),
    ];
    for (kind, lang, subject) in subjects {
        assert_eq!(
            w.render(&config(lang), &request(kind)).await.subject,
            subject
        );
    }
}

#[tokio::test]
async fn a_reminder_says_the_minutes_that_are_really_left() {
    let w = world().await;
    // Sent on time, 15 minutes before; and late, 5 minutes before.
    w.clock.set(at("2026-12-03 13:45"));
    let m = w
        .render(&config(Language::En), &request(NoticeKind::OwnerReminder))
        .await;
    assert_eq!(m.subject, format!("“{NAME}” starts in 15 minutes"));
    w.clock.set(at("2026-12-03 13:55"));
    let m = w
        .render(&config(Language::De), &request(NoticeKind::OwnerReminder))
        .await;
    assert_eq!(m.subject, format!("„{NAME}“ beginnt in 5 Minuten"));
    assert!(m.text.contains("beginnt in 5 Minuten."), "{}", m.text);
    w.clock.set(at("2026-12-03 13:59"));
    let m = w
        .render(&config(Language::En), &request(NoticeKind::OwnerReminder))
        .await;
    assert_eq!(m.subject, format!("“{NAME}” starts in 1 minute"));
}

#[tokio::test]
async fn the_language_can_be_overridden_per_render() {
    let w = world().await;
    let m = w
        .render_with(
            &config(Language::En),
            &request(NoticeKind::Invitation),
            Overrides {
                template: None,
                language: Some(Language::De),
            },
        )
        .await
        .unwrap();
    assert_eq!(m.subject, format!("Einladung: {NAME}"));
    assert!(m.text.contains(START_DE), "{}", m.text);
    assert!(
        m.html.as_deref().unwrap().contains("<html lang=\"de\">"),
        "{:?}",
        m.html
    );
}

// --------------------------------------------------------------------- 2. secrets

#[tokio::test]
async fn no_secret_in_any_mail_and_the_join_url_only_in_the_moderators_mail() {
    let w = world().await;
    let mut join_urls = Vec::new();
    for mail in [
        config(Language::En),
        config(Language::De),
        seed_config(Language::De),
    ] {
        for kind in KINDS {
            let req = request(kind);
            let m = w.render(&mail, &req).await;
            let what = format!("{}/{kind}", mail.language);
            assert_no_secrets(&m, &what);
            let all = all_parts(&m);
            if kind == NoticeKind::ModeratorLink {
                assert_eq!(m.to.email.as_str(), MODERATOR, "{what}");
                let url = m
                    .text
                    .split_whitespace()
                    .find(|w| w.contains("/api/join?"))
                    .unwrap_or_else(|| panic!("{what}: no join URL in\n{}", m.text))
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .to_string();
                assert!(
                    url.starts_with("http://127.0.0.1:9/bigbluebutton/api/join?"),
                    "{url}"
                );
                assert!(url.contains("checksum="), "a signed URL: {url}");
                assert!(url.contains("role=MODERATOR"), "{url}");
                assert!(
                    url.contains("fullName=Mia+Moderator"),
                    "made for the recipient: {url}"
                );
                assert!(
                    m.html
                        .as_deref()
                        .unwrap()
                        .contains(&url.replace('&', "&amp;")),
                    "{what}: the link in the HTML part"
                );
                assert!(
                    m.calendar.is_none(),
                    "{what}: no calendar part for the moderator mail"
                );
                join_urls.push(url);
            } else {
                assert!(!all.contains("/api/join"), "{what}: join URL in\n{all}");
                assert!(!all.contains("checksum="), "{what}: signed URL in\n{all}");
            }
        }
    }
    assert_eq!(join_urls.len(), 3);

    // Another moderator gets their own link, in their own mail only.
    let mut other = request(NoticeKind::ModeratorLink);
    other.recipient = "max.mod@uni.example".into();
    other.data = json!({ "recipientName": "Max Mod" });
    other.unique_key =
        OutboxRequest::key_for(other.kind, Some(&meeting_id()), None, &other.recipient);
    let m = w.render(&config(Language::En), &other).await;
    assert_eq!(m.to.email.as_str(), "max.mod@uni.example");
    assert!(m.text.contains("fullName=Max+Mod"), "{}", m.text);
    assert!(!m.text.contains("Mia+Moderator"), "{}", m.text);

    // The original's templates dumping everything they can reach show no secret.
    for kind in KINDS {
        let m = w
            .render_with(
                &seed_config(Language::De),
                &request(kind),
                Overrides {
                    template: Some("dump-vars.j2".into()),
                    language: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_no_secrets(&m, &format!("dump-vars/{kind}"));
        assert!(m.subject.starts_with("vars of "), "{kind}: {}", m.subject);
        for empty in [
            "mailPassword=[]",
            "mailUser=[]",
            "mailServer=[]",
            "servers=[]",
        ] {
            assert!(m.text.contains(empty), "{kind}: {empty} in\n{}", m.text);
        }
        // The share commands' mails have no meeting (no mDict), like the original's.
        if !matches!(kind, NoticeKind::RoomShared | NoticeKind::RoomUnshared) {
            for empty in ["ownerPassword=[]", "liveStreaming=[]"] {
                assert!(m.text.contains(empty), "{kind}: {empty} in\n{}", m.text);
            }
        }
        // The dump is not empty: it shows what a template may read.
        assert!(m.text.contains("mail_properties"), "{kind}:\n{}", m.text);
        assert!(m.text.contains(&format!("{LINK_BASE}/{ROOM}")), "{kind}");
        let all = all_parts(&m);
        assert!(
            !all.to_lowercase().contains("password\":"),
            "{kind}:\n{all}"
        );
        if kind == NoticeKind::ModeratorLink {
            assert!(
                all.contains("/api/join?"),
                "moderatorLink is in its own mail's vars"
            );
        } else {
            assert!(
                !all.contains("/api/join"),
                "{kind}: join URL in vars:\n{all}"
            );
        }
    }
}

// --------------------------------------------------------------------- 3. precedence

#[tokio::test]
async fn sender_and_recipient_follow_the_originals_precedence() {
    let invitation = request(NoticeKind::Invitation);
    let shared = request(NoticeKind::RoomShared);
    let unshared = request(NoticeKind::RoomUnshared);

    // Only bot-config.yml's sender: it stands in for the server's.
    let w = world().await;
    let m = w.render(&config(Language::En), &invitation).await;
    assert_eq!(
        (m.from.email.as_str(), m.from.name.as_deref()),
        (FROM, Some(FROM_NAME))
    );
    assert_eq!(
        (m.to.email.as_str(), m.to.name.as_deref()),
        (INVITEE, Some(INVITEE_NAME))
    );
    // No sender configured anywhere: the owner sends (the original's first level).
    let none = MailConfig {
        from: None,
        from_name: None,
        ..config(Language::En)
    };
    let m = w.render(&none, &invitation).await;
    assert_eq!(
        (m.from.email.as_str(), m.from.name.as_deref()),
        (OWNER, Some(OWNER_NAME))
    );
    assert_eq!(
        m.message_id,
        message_id(&invitation.unique_key, &email(OWNER))
    );
    // A share command's mail has no owner to fall back on.
    let err = w
        .render_with(&none, &shared, Overrides::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RenderError::Unusable(_)), "{err:?}");
    assert!(err.is_permanent());
    assert!(err.to_string().contains("mail.from"), "{err}");

    // The server's mailFrom beats bot-config's; its mailTo redirects meeting mails.
    let w = world_with(
        |s| {
            s.mail_from = Some(email("bbb-noreply@bbb.uni.example"));
            s.mail_from_name = Some("BBB Server".into());
            s.mail_to = Some(email("staging@uni.example"));
        },
        |_| {},
    )
    .await;
    let m = w.render(&config(Language::En), &invitation).await;
    assert_eq!(
        (m.from.email.as_str(), m.from.name.as_deref()),
        ("bbb-noreply@bbb.uni.example", Some("BBB Server"))
    );
    // Redirected; without a server mailToName the recipient's name stays.
    assert_eq!(
        (m.to.email.as_str(), m.to.name.as_deref()),
        ("staging@uni.example", Some(INVITEE_NAME))
    );
    assert_eq!(
        m.message_id,
        message_id(
            &invitation.unique_key,
            &email("bbb-noreply@bbb.uni.example")
        )
    );
    // The share commands' mails: from the server, to the person shared with.
    for req in [&shared, &unshared] {
        let m = w.render(&config(Language::En), req).await;
        assert_eq!(
            m.from.email.as_str(),
            "bbb-noreply@bbb.uni.example",
            "{}",
            req.kind
        );
        assert_eq!(m.from.name.as_deref(), Some("BBB Server"), "{}", req.kind);
        assert_eq!(m.to.email.as_str(), SHAREE, "{}: not redirected", req.kind);
        assert_eq!(m.to.name.as_deref(), Some(SHAREE_NAME), "{}", req.kind);
    }

    // The meeting's mailFrom beats both, its mailTo beats the server's.
    let w = world_with(
        |s| {
            s.mail_from = Some(email("bbb-noreply@bbb.uni.example"));
            s.mail_from_name = Some("BBB Server".into());
            s.mail_to = Some(email("staging@uni.example"));
            s.mail_to_name = Some("Staging".into());
        },
        |m| {
            m.mail_from = Some(email("lecture-office@math.uni.example"));
            m.mail_from_name = Some("Institut für Mathematik".into());
            m.mail_to = Some(email("tester@math.uni.example"));
            m.mail_to_name = Some("Tester".into());
        },
    )
    .await;
    for kind in KINDS {
        let req = request(kind);
        let m = w.render(&config(Language::De), &req).await;
        if matches!(kind, NoticeKind::RoomShared | NoticeKind::RoomUnshared) {
            assert_eq!(
                m.from.email.as_str(),
                "bbb-noreply@bbb.uni.example",
                "{kind}"
            );
            assert_eq!(
                (m.to.email.as_str(), m.to.name.as_deref()),
                (SHAREE, Some(SHAREE_NAME)),
                "{kind}: mailTo does not redirect room mails"
            );
        } else {
            assert_eq!(
                (m.from.email.as_str(), m.from.name.as_deref()),
                (
                    "lecture-office@math.uni.example",
                    Some("Institut für Mathematik")
                ),
                "{kind}"
            );
            assert_eq!(
                (m.to.email.as_str(), m.to.name.as_deref()),
                ("tester@math.uni.example", Some("Tester")),
                "{kind}: redirected"
            );
            assert!(m.text.starts_with("Hallo Tester,\n"), "{kind}:\n{}", m.text);
            assert_eq!(
                m.message_id,
                message_id(&req.unique_key, &email("lecture-office@math.uni.example")),
                "{kind}"
            );
        }
    }

    // A meeting's mailFrom alone beats bot-config's sender too.
    let w = world_with(
        |_| {},
        |m| m.mail_from = Some(email("lecture-office@math.uni.example")),
    )
    .await;
    let m = w.render(&config(Language::En), &invitation).await;
    assert_eq!(m.from.email.as_str(), "lecture-office@math.uni.example");
    assert_eq!(
        m.from.name.as_deref(),
        Some(FROM_NAME),
        "the name by its own precedence"
    );
}

// --------------------------------------------------------------------- 4. the original's files

#[tokio::test]
async fn the_originals_stock_files_render_unchanged() {
    let w = world().await;
    let mail = seed_config(Language::De);

    let m = w.render(&mail, &request(NoticeKind::OwnerInfo)).await;
    assert_eq!(m.subject, NAME);
    assert_eq!(
        m.html.as_deref(),
        Some(
            "<html xmlns=\"http://www.w3.org/1999/xhtml\">\n\
             <head>\n\
             \x20 <meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n\
             \x20 <style type=\"text/css\">\n\
             \x20     h2 { color: #295266; font-family: Bitter, serif; }\n\
             \x20 </style>\n\
             </head>\n\
             <body style=\"color: #333; font-family: Arial, sans-serif\">\n\
             <h2>Hallo Jürgen Müller,</h2>\n\
             <p>Ihre Veranstaltung &ldquo;<em>Übung Lineare Algebra</em>&rdquo; ist eingerichtet.</p>\n\
             \n\
             <h3>Datum</h3>\n\
             <p><b>2026-12-03 14:00 CET (UTC+1)</b></p>\n\
             \n\
             <p>Raum: <a href=\"https://gl.uni.example/b/ueb-lin-alg\">https://gl.uni.example/b/ueb-lin-alg</a></p>\n\
             <p><br/>Ihr ZID Team\n\
             </p>\n\
             </body>\n\
             </html>"
        )
    );
    assert_eq!(
        m.text,
        "Hallo Jürgen Müller,\n\
         \n\
         Ihre Veranstaltung “Übung Lineare Algebra” ist eingerichtet.\n\
         \n\
         Datum\n\
         \n\
         2026-12-03 14:00 CET (UTC+1)\n\
         \n\
         Raum: https://gl.uni.example/b/ueb-lin-alg\n\
         \n\
         Ihr ZID Team\n"
    );
    assert_eq!(m.from.email.as_str(), FROM);
    assert_eq!(m.to.email.as_str(), OWNER);
    assert_eq!(
        m.calendar.as_ref().map(|c| c.method),
        Some(CalendarMethod::Request),
        "the calendar part does not depend on the template"
    );

    w.clock.set(at("2026-12-03 13:45"));
    let m = w.render(&mail, &request(NoticeKind::OwnerReminder)).await;
    assert_eq!(m.subject, "Ihre Veranstaltung beginnt in 15 Minuten");
    assert_eq!(
        m.html.as_deref(),
        Some(
            "<h2>Hallo Jürgen Müller,</h2>\n\
             <p>Ihre Veranstaltung &ldquo;<em>Übung Lineare Algebra</em>&rdquo; beginnt in 15 Minuten.</p>\n\
             <p>Link: <a href=\"https://gl.uni.example/b/ueb-lin-alg\">https://gl.uni.example/b/ueb-lin-alg</a></p>"
        )
    );
    assert_eq!(
        m.text,
        "Hallo Jürgen Müller,\n\
         \n\
         Ihre Veranstaltung “Übung Lineare Algebra” beginnt in 15 Minuten.\n\
         \n\
         Link: https://gl.uni.example/b/ueb-lin-alg\n"
    );
    w.clock.set(at("2026-11-28 09:00"));

    let m = w.render(&mail, &request(NoticeKind::Invitation)).await;
    assert_eq!(m.subject, "Übung Lineare Algebra Einladung");
    assert_eq!(
        m.text,
        "Hallo Zoë Ångström,\n\
         \n\
         Jürgen Müller hat Sie zu “Übung Lineare Algebra” eingeladen.\n\
         \n\
         Teilnehmen: Übung Lineare Algebra (https://gl.uni.example/b/ueb-lin-alg)\n"
    );

    // The share command's mail: `{{command}} {{cElement}}` and the server's sender name.
    let m = w.render(&mail, &request(NoticeKind::RoomShared)).await;
    assert_eq!(m.subject, "share_room ueb-lin-alg");
    assert_eq!(
        m.html.as_deref(),
        Some(
            "Hallo Sam Sharee\n\
             \n\
             <p>der Raum <a href=\"https://gl.uni.example/b/ueb-lin-alg\">ueb-lin-alg</a> wurde soeben von \
             Universität Musterstadt – Schedulight für Sie freigegeben!</p>\n\
             \n\
             Ihr ZID Team"
        )
    );
    assert_eq!(
        m.text,
        "Hallo Sam Sharee\n\
         \n\
         der Raum ueb-lin-alg (https://gl.uni.example/b/ueb-lin-alg) wurde soeben von \
         Universität Musterstadt – Schedulight für Sie freigegeben!\n\
         \n\
         Ihr ZID Team\n"
    );

    // Kinds without a file of the original's in the directory keep the built-in text.
    let m = w.render(&mail, &request(NoticeKind::ModeratorLink)).await;
    assert_eq!(m.subject, format!("Moderationszugang: {NAME}"));
    let m = w.render(&mail, &request(NoticeKind::RoomUnshared)).await;
    assert_eq!(
        m.subject,
        format!("Der Raum „{ROOM_NAME}“ ist nicht mehr für Sie freigegeben")
    );
}

#[tokio::test]
async fn a_meetings_own_template_key_names_the_file() {
    let w = world().await;
    // A meeting as the seed's YAML writes it, with its own invitation template.
    let yaml = r#"
id: seminar
server: bbb
meetingName: Seminar Zahlentheorie
startDate: "2026-12-03 14:00"
timeZone: Europe/Vienna
meetingUID: sem-zah-the
accessCode: "482913"
owner:
  email: ann.admin@uni.example
  fullName: Ann Admin
  password: ownerPassw0rd-Qx7
sendInvitationLink:
  zoe@uni.example:
    fullName: Zoë Ångström
meetingInvitationInfoTemplate: zid-einladung.j2
"#;
    let spec: MeetingSpec = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(
        spec.invitation_info_template.as_deref(),
        Some("zid-einladung.j2")
    );
    w.schedule(spec).await;
    let seminar: MeetingId = "seminar".parse().unwrap();
    let req = OutboxRequest {
        unique_key: OutboxRequest::key_for(NoticeKind::Invitation, Some(&seminar), None, INVITEE),
        channel: Channel::Mail,
        kind: NoticeKind::Invitation,
        meeting_id: Some(seminar.clone()),
        occurrence: None,
        recipient: INVITEE.into(),
        data: json!({ "recipientName": INVITEE_NAME }),
        not_before: w.service.now(),
    };
    let m = w.render(&seed_config(Language::En), &req).await;
    // The folded Subject header is one line.
    assert_eq!(
        m.subject,
        "Einladung: Seminar Zahlentheorie am 2026-12-03 14:00"
    );
    assert_eq!(
        m.html.as_deref(),
        Some(
            "<p>Hallo Zoë Ångström,</p>\n\
             <p>Ann Admin l&auml;dt Sie ein.</p>\n\
             \n\
             <p>Zugangscode: 482913</p>\n\
             \n\
             <p><a href=\"https://gl.uni.example/b/sem-zah-the\">https://gl.uni.example/b/sem-zah-the</a></p>"
        )
    );
    assert_eq!(
        m.text,
        "Hallo Zoë Ångström,\n\
         \n\
         Ann Admin lädt Sie ein.\n\
         \n\
         Zugangscode: 482913\n\
         \n\
         https://gl.uni.example/b/sem-zah-the\n"
    );
    assert_no_secrets(&m, "zid-einladung.j2");

    // The meeting key wins over the stock file; the lecture (no key) gets the stock file.
    let m = w
        .render(&seed_config(Language::En), &request(NoticeKind::Invitation))
        .await;
    assert_eq!(m.subject, "Übung Lineare Algebra Einladung");

    // `mail preview --template` picks a file the same way.
    let m = w
        .render_with(
            &seed_config(Language::En),
            &request(NoticeKind::Invitation),
            Overrides {
                template: Some("zid-einladung.j2".into()),
                language: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(m.subject, format!("Einladung: {NAME} am 2026-12-03 14:00"));
}

// --------------------------------------------------------------------- 5. template errors

#[tokio::test]
async fn missing_and_broken_templates_are_permanent_errors() {
    // A meeting naming a file that is not there (the CSV import's `imported-*.j2`).
    let w = world_with(
        |_| {},
        |m| {
            m.invitation_info_template = Some("imported-42.j2".into());
            m.moderator_info_template = Some("meetingModeratorInfoTemplate.j2".into());
        },
    )
    .await;
    let req = request(NoticeKind::Invitation);
    for mail in [seed_config(Language::En), config(Language::En)] {
        let err = w
            .render_with(&mail, &req, Overrides::default())
            .await
            .unwrap_err();
        match &err {
            RenderError::MissingTemplate { name, searched } => {
                assert_eq!(name, "imported-42.j2");
                match &mail.templates_dir {
                    Some(dir) => {
                        assert!(searched.contains(&dir.display().to_string()), "{searched}")
                    }
                    None => assert!(searched.contains("templates_dir"), "{searched}"),
                }
            }
            other => panic!("expected MissingTemplate, got {other:?}"),
        }
        assert!(err.is_permanent());
        assert!(err.to_string().contains("imported-42.j2"), "{err}");
    }
    // The original's stock name that is not in the directory means its stock text.
    let m = w
        .render(&config(Language::En), &request(NoticeKind::ModeratorLink))
        .await;
    assert_eq!(m.subject, format!("Moderator access: {NAME}"));

    // Named on the command line.
    let err = w
        .render_with(
            &seed_config(Language::En),
            &request(NoticeKind::OwnerInfo),
            Overrides {
                template: Some("no-such-file.j2".into()),
                language: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::MissingTemplate { name, .. } if name == "no-such-file.j2"),
        "{err:?}"
    );
    assert!(err.is_permanent());

    // A syntax error names the file.
    let err = w
        .render_with(
            &seed_config(Language::En),
            &request(NoticeKind::OwnerInfo),
            Overrides {
                template: Some("broken-syntax.j2".into()),
                language: None,
            },
        )
        .await
        .unwrap_err();
    match &err {
        RenderError::Template { name, reason } => {
            assert_eq!(name, "broken-syntax.j2");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Template, got {other:?}"),
    }
    assert!(err.is_permanent());
    assert!(err.to_string().contains("broken-syntax.j2"), "{err}");

    // A name that leaves the directory is refused, not read.
    let err = w
        .render_with(
            &seed_config(Language::En),
            &request(NoticeKind::OwnerInfo),
            Overrides {
                template: Some("../mail_seed/dump-vars.j2".into()),
                language: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(!matches!(err, RenderError::Lookup(_)), "{err:?}");
}

// --------------------------------------------------------------------- 6. preview

#[tokio::test]
async fn preview_renders_the_mail_the_queued_request_becomes() {
    let w = world().await;
    for kind in [
        NoticeKind::OwnerInfo,
        NoticeKind::OwnerReminder,
        NoticeKind::OwnerStarted,
        NoticeKind::ShareInfo,
        NoticeKind::Invitation,
        NoticeKind::ModeratorLink,
        NoticeKind::MeetingCancelled,
    ] {
        for mail in [
            config(Language::En),
            config(Language::De),
            seed_config(Language::De),
        ] {
            let what = format!("{}/{kind}", mail.language);
            let queued = request(kind);
            // A cancellation goes to everybody told; its preview needs an address.
            let to = (kind == NoticeKind::MeetingCancelled).then(|| email(INVITEE));
            let preview = preview_request(&w.service, kind, &meeting_id(), to.as_ref())
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(preview.kind, kind);
            assert_eq!(
                preview.recipient, queued.recipient,
                "{what}: natural recipient"
            );
            assert_eq!(preview.occurrence, queued.occurrence, "{what}");
            let a = w.render(&mail, &queued).await;
            let b = w.render(&mail, &preview).await;
            assert_eq!(a.subject, b.subject, "{what}");
            assert_eq!(a.text, b.text, "{what}");
            assert_eq!(a.html, b.html, "{what}");
            assert_eq!((&a.from, &a.to), (&b.from, &b.to), "{what}");
            assert_eq!(
                a.calendar.as_ref().map(|c| c.method),
                b.calendar.as_ref().map(|c| c.method),
                "{what}"
            );
        }
    }
    // A preview to another address greets that address by its list entry.
    let preview = preview_request(
        &w.service,
        NoticeKind::Invitation,
        &meeting_id(),
        Some(&email(SHAREE)),
    )
    .await
    .unwrap();
    let m = w.render(&config(Language::En), &preview).await;
    assert_eq!(m.to.email.as_str(), SHAREE);
    assert!(
        m.text.starts_with(&format!("Hello {SHAREE_NAME},\n")),
        "{}",
        m.text
    );
    // Chat notices are no mails.
    let err = preview_request(&w.service, NoticeKind::Reminder, &meeting_id(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, RenderError::Unusable(_)), "{err:?}");
}

// --------------------------------------------------------------------- 7. calendar

#[tokio::test]
async fn invitations_carry_a_request_cancellations_a_cancel_and_room_mails_nothing() {
    let w = world().await;
    let mail = config(Language::En);

    let invite = w.render(&mail, &request(NoticeKind::Invitation)).await;
    let cal = invite.calendar.as_ref().expect("invitation calendar part");
    assert_eq!(cal.method, CalendarMethod::Request);
    assert_eq!(ics_value(&cal.ics, "METHOD").as_deref(), Some("REQUEST"));
    assert!(
        ics_lines(&cal.ics)
            .iter()
            .any(|l| l == "DTSTART;TZID=Europe/Vienna:20261203T140000"),
        "{}",
        cal.ics
    );
    assert_eq!(ics_value(&cal.ics, "SUMMARY").as_deref(), Some(NAME));
    let uid = ics_value(&cal.ics, "UID").expect("UID");

    let cancel = w
        .render(&mail, &request(NoticeKind::MeetingCancelled))
        .await;
    let cal = cancel
        .calendar
        .as_ref()
        .expect("cancellation calendar part");
    assert_eq!(cal.method, CalendarMethod::Cancel);
    assert_eq!(ics_value(&cal.ics, "METHOD").as_deref(), Some("CANCEL"));
    assert_eq!(
        ics_value(&cal.ics, "UID"),
        Some(uid.clone()),
        "the same event"
    );

    let owner = w.render(&mail, &request(NoticeKind::OwnerInfo)).await;
    assert_eq!(
        owner.calendar.as_ref().map(|c| c.method),
        Some(CalendarMethod::Request)
    );
    let moved = w.render(&mail, &request(NoticeKind::MeetingChanged)).await;
    let cal = moved
        .calendar
        .as_ref()
        .expect("moved meeting calendar part");
    assert_eq!(cal.method, CalendarMethod::Request);
    assert_eq!(ics_value(&cal.ics, "UID"), Some(uid));

    for kind in [
        NoticeKind::RoomShared,
        NoticeKind::RoomUnshared,
        NoticeKind::OwnerReminder,
        NoticeKind::OwnerStarted,
        NoticeKind::ShareInfo,
        NoticeKind::ModeratorLink,
    ] {
        let m = w.render(&mail, &request(kind)).await;
        assert!(m.calendar.is_none(), "{kind}: {:?}", m.calendar);
    }
}
