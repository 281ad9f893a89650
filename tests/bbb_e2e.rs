//! The BBB client over real HTTP against the simulator served on loopback: a meeting's whole
//! life (create → join → info → end → recordings), the duplicate and password rules, checksum
//! algorithms and secrets, the legacy password join, createTime incarnations, faults (hang,
//! HTTP 500) and expiry on the simulator clock.

mod common;

use common::{Opened, fetch, open_link, serve_sim, server_spec};
use schedulight::bbb::sim::{SimConfig, SimHandle};
use schedulight::bbb::{
    Bbb, BbbClient, BbbError, CreateParams, JoinAuth, JoinParams, LockSettings, RecordingsQuery,
    Role,
};
use schedulight::domain::{BbbMeetingId, ChecksumAlgorithm, RecordId};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SECRET: &str = "b6c1f3e0a9d24c7e8f5a1b2c3d4e5f60";

fn mid(s: &str) -> BbbMeetingId {
    s.parse().expect("valid meeting id")
}

fn rid(s: &str) -> RecordId {
    s.parse().expect("valid record id")
}

fn client_for(handle: &SimHandle, secret: &str, algo: ChecksumAlgorithm) -> BbbClient {
    let spec = server_spec("sim", handle, secret, algo, 2_000);
    BbbClient::new(&spec, reqwest::Client::new())
}

async fn sim_and_client() -> (SimHandle, BbbClient) {
    let handle = serve_sim(SimConfig::new(SECRET)).await;
    let client = client_for(&handle, SECRET, ChecksumAlgorithm::Sha256);
    (handle, client)
}

fn simple(id: &str, name: &str) -> CreateParams {
    CreateParams {
        meeting_id: Some(mid(id)),
        name: name.into(),
        ..CreateParams::default()
    }
}

/// A create using most of what BBB offers.
fn lecture_params() -> CreateParams {
    CreateParams {
        meeting_id: Some(mid("lecture 42")),
        name: "Linear Algebra: Lecture 42".into(),
        welcome: Some("Welcome to %%CONFNAME%%".into()),
        moderator_only_message: Some("Slides are in the shared folder".into()),
        banner_text: Some("Recorded lecture".into()),
        banner_color: Some("#003366".into()),
        max_participants: Some(50),
        logout_url: Some("https://uni.example/bye".into()),
        record: Some(true),
        auto_start_recording: Some(false),
        allow_start_stop_recording: Some(true),
        duration: Some(90),
        mute_on_start: Some(true),
        webcams_only_for_moderator: Some(true),
        lock_settings: LockSettings {
            disable_cam: Some(true),
            disable_mic: Some(false),
            disable_private_chat: Some(true),
            disable_public_chat: Some(false),
            disable_note: Some(true),
            hide_user_list: Some(false),
            lock_on_join: Some(true),
        },
        guest_policy: Some("ASK_MODERATOR".into()),
        meeting_layout: Some("SMART_LAYOUT".into()),
        meta: BTreeMap::from([
            ("bbb-origin".to_string(), "schedulight".to_string()),
            ("Course-Name".to_string(), "Algebra & Geometry".to_string()),
        ]),
        ..CreateParams::default()
    }
}

fn join_as(id: &str, name: &str, role: Role, create_time: i64) -> JoinParams {
    let mut p = JoinParams::new(mid(id), name, JoinAuth::Role(role));
    p.create_time = Some(create_time);
    p
}

#[tokio::test]
async fn meeting_lifecycle_over_http() {
    let (handle, bbb) = sim_and_client().await;
    let sim = handle.simulator.clone();
    let id = mid("lecture 42");

    let created = bbb.create(&lecture_params()).await.expect("create");
    assert!(!created.duplicate);
    assert_eq!(created.meeting_id, "lecture 42");
    assert_eq!(created.duration, 90);
    assert!(!created.has_user_joined);

    // Every parameter arrived as sent.
    let on_server = sim.meeting("lecture 42").expect("the simulator has it");
    let sent = |k: &str| {
        on_server
            .create_params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    for (key, value) in [
        ("name", "Linear Algebra: Lecture 42"),
        ("record", "true"),
        ("autoStartRecording", "false"),
        ("duration", "90"),
        ("maxParticipants", "50"),
        ("guestPolicy", "ASK_MODERATOR"),
        ("lockSettingsDisableCam", "true"),
        ("lockSettingsDisableMic", "false"),
        ("lockSettingsDisableNotes", "true"),
        ("lockSettingsLockOnJoin", "true"),
        ("webcamsOnlyForModerator", "true"),
        ("meetingLayout", "SMART_LAYOUT"),
        ("bannerColor", "#003366"),
        ("meta_Course-Name", "Algebra & Geometry"),
    ] {
        assert_eq!(sent(key).as_deref(), Some(value), "{key}");
    }

    // Not running before anybody is in.
    assert!(!bbb.is_meeting_running(&id).await.expect("running?"));

    let moderator = open_link(&bbb.join_url(&join_as(
        "lecture 42",
        "Prof. Ada",
        Role::Moderator,
        created.create_time,
    )))
    .await;
    assert!(moderator.entered_client(), "{moderator:?}");
    let (status, page) = fetch(moderator.location.as_deref().expect("location")).await;
    assert_eq!((status, page.contains("joined")), (200, true), "{page}");

    // ASK_MODERATOR: a guest waits in the lobby and is not in the meeting yet.
    let mut guest = join_as("lecture 42", "Visitor", Role::Viewer, created.create_time);
    guest.guest = Some(true);
    let waiting = open_link(&bbb.join_url(&guest)).await;
    assert!(waiting.waiting_as_guest(), "{waiting:?}");

    let info = bbb.get_meeting_info(&id).await.expect("info");
    assert!(info.running);
    assert!(info.recording);
    assert_eq!(info.meeting_name, "Linear Algebra: Lecture 42");
    assert_eq!(info.internal_meeting_id, created.internal_meeting_id);
    assert_eq!(info.create_time, created.create_time);
    assert_eq!((info.duration, info.max_users), (90, 50));
    assert_eq!((info.participant_count, info.moderator_count), (1, 1));
    assert_eq!(info.attendees.len(), 1);
    assert_eq!(info.attendees[0].full_name, "Prof. Ada");
    assert_eq!(info.attendees[0].role, "MODERATOR");
    assert!(info.attendees[0].is_presenter);
    assert_eq!(
        info.metadata.get("bbb-origin").map(String::as_str),
        Some("schedulight")
    );
    assert_eq!(
        info.metadata.get("course-name").map(String::as_str),
        Some("Algebra & Geometry"),
        "BBB lower-cases metadata keys: {:?}",
        info.metadata
    );

    let listed = bbb.get_meetings().await.expect("meetings");
    let entry = listed
        .iter()
        .find(|m| m.meeting_id == "lecture 42")
        .expect("getMeetings lists it");
    assert_eq!(entry.participant_count, 1);
    assert!(bbb.is_meeting_running(&id).await.expect("running?"));

    bbb.end(&id).await.expect("end");
    assert!(matches!(
        bbb.get_meeting_info(&id).await,
        Err(BbbError::NotFound { .. })
    ));
    assert!(!bbb.is_meeting_running(&id).await.expect("running?"));
    assert!(bbb.get_meetings().await.expect("meetings").is_empty());
    assert!(matches!(bbb.end(&id).await, Err(BbbError::NotFound { .. })));

    recordings_round_trip(&bbb, &created.internal_meeting_id).await;
}

/// getRecordings → unpublish → publish → update meta → delete, each checked by reading back.
async fn recordings_round_trip(bbb: &BbbClient, record_id: &str) {
    let by_meeting = RecordingsQuery {
        meeting_ids: vec!["lecture 42".into()],
        ..RecordingsQuery::default()
    };
    let recs = bbb.get_recordings(&by_meeting).await.expect("recordings");
    assert_eq!(recs.len(), 1, "{recs:?}");
    let rec = &recs[0];
    assert_eq!(rec.record_id, record_id);
    assert_eq!(rec.name, "Linear Algebra: Lecture 42");
    assert!(rec.published);
    assert_eq!(rec.state, "published");
    assert_eq!(rec.participants, 1);
    assert_eq!(
        rec.metadata.get("bbb-origin").map(String::as_str),
        Some("schedulight")
    );
    assert!(
        rec.playback
            .iter()
            .any(|p| p.format_type == "presentation" && p.url.contains(record_id)),
        "{:?}",
        rec.playback
    );
    let ids = [rid(record_id)];
    let one = |states: &[&str]| RecordingsQuery {
        record_ids: ids.to_vec(),
        states: states.iter().map(|s| s.to_string()).collect(),
        ..RecordingsQuery::default()
    };

    assert!(
        !bbb.publish_recordings(&ids, false)
            .await
            .expect("unpublish")
    );
    let recs = bbb.get_recordings(&one(&[])).await.expect("recordings");
    assert_eq!(
        (recs[0].published, recs[0].state.as_str()),
        (false, "unpublished")
    );
    assert!(
        bbb.get_recordings(&one(&["published"]))
            .await
            .expect("published only")
            .is_empty()
    );

    assert!(bbb.publish_recordings(&ids, true).await.expect("publish"));
    let recs = bbb.get_recordings(&one(&[])).await.expect("recordings");
    assert_eq!(
        (recs[0].published, recs[0].state.as_str()),
        (true, "published")
    );

    let meta = BTreeMap::from([("semester".to_string(), "2026W".to_string())]);
    assert!(bbb.update_recordings(&ids, &meta).await.expect("update"));
    let recs = bbb.get_recordings(&one(&[])).await.expect("recordings");
    assert_eq!(
        recs[0].metadata.get("semester").map(String::as_str),
        Some("2026W")
    );
    let by_meta = RecordingsQuery {
        meta: meta.clone(),
        ..RecordingsQuery::default()
    };
    assert_eq!(
        bbb.get_recordings(&by_meta).await.expect("by meta").len(),
        1
    );

    assert!(bbb.delete_recordings(&ids).await.expect("delete"));
    assert!(
        bbb.get_recordings(&one(&[]))
            .await
            .expect("recordings")
            .is_empty(),
        "a deleted recording is not listed by default"
    );
    let deleted = bbb
        .get_recordings(&one(&["deleted"]))
        .await
        .expect("deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].state, "deleted");
    // Deleted recordings cannot be published again.
    assert!(matches!(
        bbb.publish_recordings(&ids, true).await,
        Err(BbbError::NotFound { .. })
    ));
}

#[tokio::test]
async fn duplicate_create_and_password_conflict() {
    let (_handle, bbb) = sim_and_client().await;
    let mut p = simple("seminar", "Seminar");
    p.attendee_pw = Some("ap-1".into());
    p.moderator_pw = Some("mp-1".into());
    let first = bbb.create(&p).await.expect("create");
    assert!(!first.duplicate);
    assert_eq!(first.attendee_pw.as_deref(), Some("ap-1"));

    let again = bbb.create(&p).await.expect("create again");
    assert!(again.duplicate);
    assert_eq!(again.internal_meeting_id, first.internal_meeting_id);
    assert_eq!(again.create_time, first.create_time);

    // Without passwords BBB hands back the existing meeting too.
    let bare = bbb
        .create(&simple("seminar", "Seminar"))
        .await
        .expect("bare");
    assert!(bare.duplicate);
    assert_eq!(bare.internal_meeting_id, first.internal_meeting_id);

    let mut other = p.clone();
    other.moderator_pw = Some("mp-2".into());
    assert!(matches!(
        bbb.create(&other).await,
        Err(BbbError::IdNotUnique { .. })
    ));
    assert_eq!(bbb.get_meetings().await.expect("meetings").len(), 1);
}

#[tokio::test]
async fn wrong_secret_is_a_checksum_error() {
    let handle = serve_sim(SimConfig::new(SECRET)).await;
    let bbb = client_for(&handle, "not-the-secret", ChecksumAlgorithm::Sha256);
    for result in [
        bbb.create(&simple("x1", "X one")).await.map(|_| ()),
        bbb.get_meetings().await.map(|_| ()),
        bbb.get_recordings(&RecordingsQuery::default())
            .await
            .map(|_| ()),
    ] {
        let Err(err) = result else {
            panic!("a wrong secret was accepted")
        };
        assert!(matches!(err, BbbError::Checksum { .. }), "{err:?}");
        // The text tells what to check and carries no secret.
        let text = err.to_string();
        assert!(text.contains("BBB_SECRET"), "{text}");
        assert!(!text.contains(SECRET) && !text.contains("not-the-secret"));
    }
    assert!(
        handle.simulator.meetings().is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn restricted_algorithms_refuse_sha1_and_accept_sha512() {
    let handle = serve_sim(
        SimConfig::new(SECRET)
            .with_allowed(&[ChecksumAlgorithm::Sha256, ChecksumAlgorithm::Sha512]),
    )
    .await;
    let sha1 = client_for(&handle, SECRET, ChecksumAlgorithm::Sha1);
    assert!(matches!(
        sha1.create(&simple("algo", "Algorithms")).await,
        Err(BbbError::Checksum { .. })
    ));
    assert!(matches!(
        sha1.get_meetings().await,
        Err(BbbError::Checksum { .. })
    ));

    let sha512 = client_for(&handle, SECRET, ChecksumAlgorithm::Sha512);
    let created = sha512
        .create(&simple("algo", "Algorithms"))
        .await
        .expect("sha512 is allowed");
    let joined =
        open_link(&sha512.join_url(&join_as("algo", "Mo", Role::Moderator, created.create_time)))
            .await;
    assert!(joined.entered_client(), "{joined:?}");
    // A sha1-signed join link is refused as well (XML checksumError, no redirect).
    let (status, body) = fetch(&sha1.join_url(&join_as(
        "algo",
        "Eve",
        Role::Moderator,
        created.create_time,
    )))
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<messageKey>checksumError</messageKey>"),
        "{body}"
    );
    let info = sha512.get_meeting_info(&mid("algo")).await.expect("info");
    assert_eq!(info.participant_count, 1);
}

#[tokio::test]
async fn every_algorithm_end_to_end() {
    let handle = serve_sim(SimConfig::new(SECRET)).await;
    for algo in ChecksumAlgorithm::ALL {
        let bbb = client_for(&handle, SECRET, algo);
        let id = format!("room-{algo}");
        let created = bbb
            .create(&simple(&id, &format!("Room {algo}")))
            .await
            .unwrap_or_else(|e| panic!("create with {algo}: {e}"));
        let url = bbb.join_url(&join_as(&id, "Ann", Role::Viewer, created.create_time));
        let checksum = url.rsplit("checksum=").next().unwrap_or_default();
        assert_eq!(checksum.len(), algo.hex_len(), "{algo}");
        let opened = open_link(&url).await;
        assert!(opened.entered_client(), "{algo}: {opened:?}");
        let info = bbb.get_meeting_info(&mid(&id)).await.expect("info");
        assert_eq!(info.attendees[0].role, "VIEWER", "{algo}");
        assert!(bbb.is_meeting_running(&mid(&id)).await.expect("running?"));
        bbb.end(&mid(&id)).await.expect("end");
        assert!(!bbb.is_meeting_running(&mid(&id)).await.expect("running?"));
    }
}

#[tokio::test]
async fn legacy_password_join() {
    let (_handle, bbb) = sim_and_client().await;
    let mut p = simple("legacy", "Legacy room");
    p.attendee_pw = Some("attend-pw".into());
    p.moderator_pw = Some("moder-pw".into());
    bbb.create(&p).await.expect("create");
    let join = |name: &str, pw: &str| {
        bbb.join_url(&JoinParams::new(
            mid("legacy"),
            name,
            JoinAuth::Password(pw.into()),
        ))
    };
    assert!(open_link(&join("Mod", "moder-pw")).await.entered_client());
    assert!(open_link(&join("View", "attend-pw")).await.entered_client());
    // A wrong password is refused with XML, not let in.
    let (status, body) = fetch(&join("Eve", "guess")).await;
    assert_eq!(status, 200);
    assert!(body.contains("<returncode>FAILED</returncode>"), "{body}");

    let info = bbb.get_meeting_info(&mid("legacy")).await.expect("info");
    let roles: BTreeMap<&str, &str> = info
        .attendees
        .iter()
        .map(|a| (a.full_name.as_str(), a.role.as_str()))
        .collect();
    assert_eq!(
        roles,
        BTreeMap::from([("Mod", "MODERATOR"), ("View", "VIEWER")])
    );
}

#[tokio::test]
async fn join_link_of_an_earlier_incarnation_is_refused() {
    let (_handle, bbb) = sim_and_client().await;
    let first = bbb
        .create(&simple("weekly", "Weekly"))
        .await
        .expect("create");
    let old_link = bbb.join_url(&join_as(
        "weekly",
        "Ann",
        Role::Moderator,
        first.create_time,
    ));
    bbb.end(&mid("weekly")).await.expect("end");
    let second = bbb
        .create(&simple("weekly", "Weekly"))
        .await
        .expect("re-create");
    assert!(!second.duplicate);
    assert_ne!(second.create_time, first.create_time);

    let refused: Opened = open_link(&old_link).await;
    assert_eq!(refused.status, 302);
    assert!(!refused.entered_client());
    let errors = refused.join_errors();
    assert!(
        matches!(errors.as_slice(), [BbbError::CreateTimeMismatch { .. }]),
        "{errors:?}"
    );
    let info = bbb.get_meeting_info(&mid("weekly")).await.expect("info");
    assert_eq!(info.participant_count, 0, "nobody got in with the old link");

    let fresh = bbb.join_url(&join_as(
        "weekly",
        "Ann",
        Role::Moderator,
        second.create_time,
    ));
    assert!(open_link(&fresh).await.entered_client());
}

#[tokio::test]
async fn hanging_server_times_out_on_time() {
    let handle = serve_sim(SimConfig::new(SECRET)).await;
    let spec = server_spec("slow", &handle, SECRET, ChecksumAlgorithm::Sha256, 300);
    let bbb = BbbClient::new(&spec, reqwest::Client::new());
    handle.simulator.hang();
    let started = Instant::now();
    let result = bbb.get_meetings().await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(BbbError::Timeout(300)));
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(400),
        "{elapsed:?}"
    );
    let started = Instant::now();
    assert!(matches!(
        bbb.create(&simple("held", "Held")).await,
        Err(BbbError::Timeout(300))
    ));
    assert!(started.elapsed() < Duration::from_millis(400));
    handle.simulator.resume();
    assert!(bbb.get_meetings().await.is_ok());
}

#[tokio::test]
async fn injected_failure_is_http_500_once() {
    let (handle, bbb) = sim_and_client().await;
    handle.simulator.fail_next(1);
    let err = bbb.get_meetings().await.expect_err("fails once");
    assert_eq!(err, BbbError::Http(500));
    assert!(err.is_transient());
    assert!(bbb.get_meetings().await.is_ok());
    handle.simulator.fail_next(2);
    assert_eq!(
        bbb.create(&simple("f1", "F one")).await.map(|_| ()),
        Err(BbbError::Http(500))
    );
    assert_eq!(
        bbb.end(&mid("f1")).await,
        Err(BbbError::Http(500)),
        "the second failure"
    );
    assert!(handle.simulator.meetings().is_empty());
}

#[tokio::test]
async fn unjoined_meeting_expires_after_five_minutes_of_simulator_time() {
    let (handle, bbb) = sim_and_client().await;
    let sim = &handle.simulator;
    sim.set_now(jiff::Timestamp::from_second(1_800_000_000).expect("timestamp"));
    let idle = bbb.create(&simple("idle", "Idle")).await.expect("create");
    let busy = bbb.create(&simple("busy", "Busy")).await.expect("create");
    let link = bbb.join_url(&join_as("busy", "Bo", Role::Moderator, busy.create_time));
    assert!(open_link(&link).await.entered_client());

    // BBB ends a meeting nobody joined once more than 5 minutes have passed.
    let age = (sim.now_ms() - idle.create_time).max(0) as u64;
    sim.advance(Duration::from_millis(5 * 60_000 - age));
    assert!(
        bbb.get_meeting_info(&mid("idle")).await.is_ok(),
        "exactly 5 minutes is not yet expired"
    );
    sim.advance(Duration::from_millis(1));
    assert!(matches!(
        bbb.get_meeting_info(&mid("idle")).await,
        Err(BbbError::NotFound { .. })
    ));
    let left: Vec<String> = bbb
        .get_meetings()
        .await
        .expect("meetings")
        .into_iter()
        .map(|m| m.meeting_id)
        .collect();
    assert_eq!(left, ["busy"], "a joined meeting stays");
}
