//! Live-stream launchers against recording stand-ins (`tests/fake_bin/docker`,
//! `tests/fake_bin/stream-ctl`): the exact argv, the secret in the child's environment and
//! never in argv, DOCKER_HOST for a streamer host, idempotent start and stop, clear errors
//! without secrets, and hostile values refused before anything runs.
//!
//! Streamer hosts use the reserved `.invalid` domain so nothing could ever reach a real host.

use schedulight::domain::{BbbMeetingId, BbbUrl, Secret};
use schedulight::streaming::{
    CommandLauncher, DockerLauncher, Launcher, StopOutcome, StreamError, StreamName, StreamRequest,
    StreamState, StreamStatus, StreamerHost, StreamingConfig, launcher_for,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const SECRET: &str = "Zq8secretValue4711abcdef";
const STREAM_URL: &str = "rtmp://media.uni.invalid/stream/streamKey9876";
const IMAGE: &str = "aauzid/bigbluebutton-livestreaming:latest";

fn fake_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_bin")
}

/// One recorded call of a stand-in.
#[derive(Debug, Clone, Default)]
struct Call {
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

fn read_calls(log: &Path) -> Vec<Call> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return Vec::new();
    };
    let mut calls = Vec::new();
    let mut cur = Call::default();
    for line in text.lines() {
        if line == "call" {
            cur = Call::default();
        } else if line == "end" {
            calls.push(std::mem::take(&mut cur));
        } else if let Some(a) = line.strip_prefix("arg ") {
            cur.args.push(a.to_string());
        } else if let Some(e) = line.strip_prefix("env ") {
            let (k, v) = e.split_once('=').expect("env line has '='");
            cur.env.insert(k.to_string(), v.to_string());
        }
    }
    calls
}

/// A fresh fake docker world: its log and its containers.
struct FakeDocker {
    dir: TempDir,
}

impl FakeDocker {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("state")).expect("state dir");
        Self { dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn calls(&self) -> Vec<Call> {
        read_calls(&self.log())
    }

    fn commands(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| c.args.first().cloned().unwrap_or_default())
            .collect()
    }

    fn set_container(&self, name: &str, state: &str) {
        std::fs::write(self.state().join(name), state).expect("write state");
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("FAKE_DOCKER_LOG".into(), self.log().display().to_string()),
            (
                "FAKE_DOCKER_STATE".into(),
                self.state().display().to_string(),
            ),
        ]
    }

    /// Docker by explicit path.
    fn launcher(&self) -> DockerLauncher {
        DockerLauncher {
            docker: fake_bin().join("docker"),
            extra_env: self.env(),
            ..DockerLauncher::default()
        }
    }

    fn config(&self) -> StreamingConfig {
        StreamingConfig {
            docker: fake_bin().join("docker"),
            docker_env: self.env().into_iter().collect(),
            ..StreamingConfig::default()
        }
    }
}

fn request(meeting_id: &str, intro: Option<&str>) -> StreamRequest {
    StreamRequest::new(
        StreamName::for_occurrence("lecture-1", "20260301T1000"),
        "https://bbb.uni.invalid/bigbluebutton/api"
            .parse::<BbbUrl>()
            .expect("url"),
        Secret::new(SECRET),
        BbbMeetingId::try_from(meeting_id).expect("meeting id"),
        STREAM_URL,
        intro.map(String::from),
    )
    .expect("valid request")
}

fn assert_no_secret_in_args(call: &Call) {
    for a in &call.args {
        assert!(!a.contains(SECRET), "secret in argv: {:?}", call.args);
        assert!(
            !a.contains("streamKey9876"),
            "stream key in argv: {:?}",
            call.args
        );
    }
}

#[tokio::test]
async fn docker_run_has_exact_argv_and_the_values_only_in_its_environment() {
    init_logs();
    let fake = FakeDocker::new();
    let launcher = fake.launcher();
    let req = request("f0e1d2c3b4a5-1700000000", Some("/video/5min.mp4"));
    assert_eq!(launcher.start(&req).await.unwrap(), StreamStatus::Started);

    let calls = fake.calls();
    assert_eq!(fake.commands(), ["ps", "run"]);
    assert_eq!(
        calls[0].args,
        [
            "ps",
            "-a",
            "--filter",
            "name=^/?sl-stream-lecture-1-20260301T1000$",
            "--format",
            "{{.Names}} {{.State}}"
        ]
    );
    let run = &calls[1];
    assert_eq!(
        run.args,
        [
            "run",
            "-d",
            "--name",
            "sl-stream-lecture-1-20260301T1000",
            "-e",
            "BBB_URL",
            "-e",
            "BBB_SECRET",
            "-e",
            "BBB_MEETING_ID",
            "-e",
            "BBB_STREAM_URL",
            "-e",
            "BBB_INTRO",
            IMAGE
        ]
    );
    assert_no_secret_in_args(run);
    let env = &run.env;
    assert_eq!(env["BBB_SECRET"], SECRET);
    assert_eq!(env["BBB_URL"], "https://bbb.uni.invalid/bigbluebutton/api/");
    assert_eq!(env["BBB_MEETING_ID"], "f0e1d2c3b4a5-1700000000");
    assert_eq!(env["BBB_STREAM_URL"], STREAM_URL);
    assert_eq!(env["BBB_INTRO"], "/video/5min.mp4");
    // Lookups never see the stream's values.
    assert!(calls[0].env.keys().all(|k| !k.starts_with("BBB_")));
    // No host given: docker's own default, whatever our environment says.
    assert_eq!(
        env.get("DOCKER_HOST").cloned(),
        std::env::var("DOCKER_HOST").ok()
    );
    assert_eq!(
        launcher.status(&req.name).await.unwrap(),
        StreamState::Running
    );
}

#[tokio::test]
async fn without_intro_no_bbb_intro_is_passed() {
    init_logs();
    let fake = FakeDocker::new();
    let mut launcher = fake.launcher();
    launcher.run_args = vec!["-v".into(), "/srv/videodata:/video".into()];
    launcher.image = "registry.uni.invalid/streaming/live:2.1".into();
    let req = request("meeting-2", None);
    launcher.start(&req).await.unwrap();
    let run = &fake.calls()[1];
    assert_eq!(
        run.args,
        [
            "run",
            "-d",
            "--name",
            req.name.as_str(),
            "-v",
            "/srv/videodata:/video",
            "-e",
            "BBB_URL",
            "-e",
            "BBB_SECRET",
            "-e",
            "BBB_MEETING_ID",
            "-e",
            "BBB_STREAM_URL",
            "registry.uni.invalid/streaming/live:2.1"
        ]
    );
    assert!(!run.env.contains_key("BBB_INTRO"));
}

#[tokio::test]
async fn a_streamer_host_sets_docker_host_on_every_call() {
    init_logs();
    let fake = FakeDocker::new();
    let launcher = launcher_for(Some("streamer.uni.invalid"), &fake.config()).unwrap();
    assert!(launcher.describe().contains("root@streamer.uni.invalid"));
    let req = request("meeting-3", None);
    launcher.start(&req).await.unwrap();
    launcher.stop(&req.name).await.unwrap();
    let calls = fake.calls();
    assert_eq!(fake.commands(), ["ps", "run", "ps", "rm"]);
    for c in &calls {
        assert_eq!(
            c.env["DOCKER_HOST"], "ssh://root@streamer.uni.invalid",
            "{c:?}"
        );
        assert_no_secret_in_args(c);
    }

    let fake = FakeDocker::new();
    let launcher = launcher_for(Some("stream@10.1.2.3:2222"), &fake.config()).unwrap();
    launcher.status(&req.name).await.unwrap();
    assert_eq!(
        fake.calls()[0].env["DOCKER_HOST"],
        "ssh://stream@10.1.2.3:2222"
    );

    let mut config = fake.config();
    config.ssh_user = "streamer".into();
    let launcher = launcher_for(Some("h.uni.invalid"), &config).unwrap();
    launcher.status(&req.name).await.unwrap();
    assert_eq!(
        fake.calls()[1].env["DOCKER_HOST"],
        "ssh://streamer@h.uni.invalid"
    );
}

#[tokio::test]
async fn start_and_stop_are_idempotent() {
    init_logs();
    let fake = FakeDocker::new();
    let launcher = fake.launcher();
    let req = request("meeting-4", None);
    assert_eq!(launcher.start(&req).await.unwrap(), StreamStatus::Started);
    assert_eq!(
        launcher.start(&req).await.unwrap(),
        StreamStatus::AlreadyRunning
    );
    assert_eq!(fake.commands(), ["ps", "run", "ps"]);

    assert_eq!(
        launcher.stop(&req.name).await.unwrap(),
        StopOutcome::Stopped
    );
    assert_eq!(
        launcher.stop(&req.name).await.unwrap(),
        StopOutcome::NotRunning
    );
    assert_eq!(
        launcher.status(&req.name).await.unwrap(),
        StreamState::Absent
    );
    assert_eq!(fake.commands(), ["ps", "run", "ps", "ps", "rm", "ps", "ps"]);
    assert_eq!(fake.calls()[4].args, ["rm", "-f", req.name.as_str()]);
}

#[tokio::test]
async fn an_ended_container_is_replaced_and_counts_as_not_running() {
    init_logs();
    let fake = FakeDocker::new();
    let launcher = fake.launcher();
    let req = request("meeting-5", None);
    fake.set_container(req.name.as_str(), "exited");
    assert_eq!(
        launcher.status(&req.name).await.unwrap(),
        StreamState::Inactive("exited".into())
    );
    assert_eq!(launcher.start(&req).await.unwrap(), StreamStatus::Started);
    assert_eq!(fake.commands(), ["ps", "ps", "rm", "run"]);

    fake.set_container(req.name.as_str(), "exited");
    assert_eq!(
        launcher.stop(&req.name).await.unwrap(),
        StopOutcome::NotRunning
    );
    assert_eq!(
        launcher.status(&req.name).await.unwrap(),
        StreamState::Absent
    );
}

#[tokio::test]
async fn losing_a_start_race_is_already_running() {
    init_logs();
    let fake = FakeDocker::new();
    let mut launcher = fake.launcher();
    launcher
        .extra_env
        .push(("FAKE_DOCKER_RACE".into(), "1".into()));
    let req = request("meeting-6", None);
    assert_eq!(
        launcher.start(&req).await.unwrap(),
        StreamStatus::AlreadyRunning
    );
    assert_eq!(fake.commands(), ["ps", "run", "ps"]);
}

#[tokio::test]
async fn a_failing_docker_gives_a_clear_error_without_the_secret() {
    init_logs();
    let fake = FakeDocker::new();
    let mut launcher = fake.launcher();
    launcher
        .extra_env
        .push(("FAKE_DOCKER_FAIL".into(), "1".into()));
    let req = request("meeting-7", None);
    // The lookup fails first (no secret involved).
    let err = launcher.start(&req).await.unwrap_err();
    assert!(
        matches!(err, StreamError::Failed { code: Some(1), .. }),
        "{err:?}"
    );

    // Now the run itself fails and docker echoes the secret and the stream URL.
    let fake = FakeDocker::new();
    let failing_run = FailOnRun::new();
    let mut launcher = fake.launcher();
    launcher.docker = failing_run.path.clone();
    let err = launcher.start(&req).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StreamError::Failed { code: Some(1), .. }),
        "{err:?}"
    );
    assert!(msg.contains("docker run"), "{msg}");
    assert!(msg.contains("exit code 1"), "{msg}");
    assert!(msg.contains("login refused for secret ***"), "{msg}");
    assert!(!msg.contains(SECRET), "{msg}");
    assert!(!msg.contains("streamKey9876"), "{msg}");
    assert!(!format!("{err:?}").contains(SECRET));
}

/// A docker wrapper (in a temp dir) that answers lookups normally but fails `run`, to see
/// what happens to an error that echoes the secret.
struct FailOnRun {
    _dir: TempDir,
    path: PathBuf,
}

impl FailOnRun {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("docker");
        let real = fake_bin().join("docker");
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = run ]; then FAKE_DOCKER_FAIL=1; export FAKE_DOCKER_FAIL; fi\nexec '{}' \"$@\"\n",
            real.display()
        );
        let mut f = std::fs::File::create(&path).expect("create wrapper");
        f.write_all(script.as_bytes()).expect("write wrapper");
        drop(f);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self { _dir: dir, path }
    }
}

#[tokio::test]
async fn docker_is_found_through_path() {
    init_logs();
    let fake = FakeDocker::new();
    let mut launcher = fake.launcher();
    launcher.docker = PathBuf::from("docker");
    launcher.extra_env.push((
        "PATH".into(),
        format!("{}:/usr/bin:/bin", fake_bin().display()),
    ));
    let req = request("meeting-8", None);
    assert_eq!(launcher.start(&req).await.unwrap(), StreamStatus::Started);
    assert_eq!(fake.commands(), ["ps", "run"]);
}

#[tokio::test]
async fn a_missing_docker_says_what_to_do() {
    init_logs();
    let fake = FakeDocker::new();
    let req = request("meeting-9", None);

    let mut launcher = fake.launcher();
    launcher.docker = PathBuf::from("/nonexistent/bin/docker");
    let err = launcher.start(&req).await.unwrap_err();
    assert!(matches!(err, StreamError::ProgramMissing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/bin/docker was not found"),
        "{msg}"
    );
    assert!(msg.contains("install the docker CLI"), "{msg}");
    assert!(msg.contains("streaming.docker"), "{msg}");

    // A bare name with nothing in PATH.
    let empty = tempfile::tempdir().unwrap();
    let mut launcher = fake.launcher();
    launcher.docker = PathBuf::from("docker");
    launcher
        .extra_env
        .push(("PATH".into(), empty.path().display().to_string()));
    let err = launcher.stop(&req.name).await.unwrap_err();
    assert!(matches!(err, StreamError::ProgramMissing { .. }), "{err:?}");
}

#[tokio::test]
async fn a_hanging_docker_is_stopped_at_the_deadline() {
    init_logs();
    let fake = FakeDocker::new();
    let mut launcher = fake.launcher();
    launcher.timeout = Duration::from_millis(300);
    launcher
        .extra_env
        .push(("FAKE_DOCKER_SLEEP".into(), "20".into()));
    let name = StreamName::parse("sl-stream-slow").unwrap();
    let t0 = Instant::now();
    let err = launcher.status(&name).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(matches!(err, StreamError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("did not finish within 0.3 s"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_stream_urls_are_refused_before_anything_runs() {
    init_logs();
    let fake = FakeDocker::new();
    let launcher = fake.launcher();
    for bad in [
        "http://media.uni.invalid/stream/key",
        "rtmp://x; rm -rf /",
        "rtmp://x/$(touch /tmp/p)",
        "rtmp://x/a\"b",
        "rtmp://x/a b",
        "file:///etc/passwd",
        "",
    ] {
        let good = request("meeting-10", None);
        let err = StreamRequest::new(
            good.name.clone(),
            good.bbb_url.clone(),
            good.bbb_secret.clone(),
            good.meeting_id.clone(),
            bad,
            None,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Invalid {
                    what: "stream URL",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
        // Fields are public: the launcher checks again.
        let mut req = good;
        req.stream_url = bad.to_string();
        let err = launcher.start(&req).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("stream URL is not valid"), "{msg}");
        if !bad.is_empty() {
            assert!(!msg.contains(bad), "the URL is echoed: {msg}");
        }
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test]
async fn bad_intros_are_refused_before_anything_runs() {
    init_logs();
    let fake = FakeDocker::new();
    let launcher = fake.launcher();
    for bad in [
        "-i /etc/passwd",
        "/video/a b.mp4",
        "/video/x;id",
        "intro.mp4",
    ] {
        let mut req = request("meeting-11", None);
        req.intro = Some(bad.to_string());
        let err = launcher.start(&req).await.unwrap_err();
        assert!(
            matches!(err, StreamError::Invalid { what: "intro", .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn bad_hosts_are_refused_before_anything_runs() {
    init_logs();
    let fake = FakeDocker::new();
    for bad in [
        "-oProxyCommand=touch /tmp/pwned",
        "-oProxyCommand=x",
        "a b",
        "$(x)",
        "`x`",
        "host;id",
        "root@-h",
        "h:22 -v",
        "ssh://h.uni.invalid",
    ] {
        let err = match launcher_for(Some(bad), &fake.config()) {
            Ok(l) => panic!("{bad:?} accepted: {}", l.describe()),
            Err(e) => e,
        };
        assert!(
            matches!(
                err,
                StreamError::Invalid {
                    what: "streamer host",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
        assert!(StreamerHost::parse(bad, "root").is_err());
    }
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn meeting_ids_the_image_would_split_are_refused_for_docker() {
    init_logs();
    let fake = FakeDocker::new();
    let launcher = fake.launcher();
    for bad in ["x -t rtmp://elsewhere.invalid/k", "a*", "[ab]", "what?"] {
        let id = BbbMeetingId::try_from(bad).expect("a valid BBB meeting ID");
        let mut req = request("meeting-12", None);
        req.meeting_id = id;
        let err = launcher.start(&req).await.unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Invalid {
                    what: "BBB meeting ID",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn bad_docker_settings_are_refused() {
    init_logs();
    let fake = FakeDocker::new();
    let req = request("meeting-13", None);
    let mut l = fake.launcher();
    l.image = "--privileged".into();
    assert!(matches!(l.start(&req).await, Err(StreamError::Config(_))));
    let mut l = fake.launcher();
    l.image = "img; rm -rf /".into();
    assert!(matches!(l.start(&req).await, Err(StreamError::Config(_))));
    let mut l = fake.launcher();
    l.extra_env.push(("BBB_SECRET".into(), "other".into()));
    assert!(matches!(l.start(&req).await, Err(StreamError::Config(_))));
    let mut l = fake.launcher();
    l.extra_env
        .push(("DOCKER_HOST".into(), "ssh://elsewhere.invalid".into()));
    assert!(matches!(
        l.stop(&req.name).await,
        Err(StreamError::Config(_))
    ));
    assert!(fake.calls().is_empty());
}

/// A command-launcher world: templates around `tests/fake_bin/stream-ctl` in a temp dir.
struct FakeCtl {
    dir: TempDir,
}

impl FakeCtl {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn template(&self, items: &[&str]) -> Vec<String> {
        let mut t = vec![
            fake_bin().join("stream-ctl").display().to_string(),
            self.dir.path().display().to_string(),
        ];
        t.extend(items.iter().map(|s| s.to_string()));
        t
    }

    fn launcher(&self, with_status: bool) -> CommandLauncher {
        CommandLauncher::new(
            self.template(&["start", "{name}", "--meeting={meeting_id}", "{meeting_id}"]),
            self.template(&["stop", "{name}"]),
            with_status.then(|| self.template(&["status", "{name}"])),
        )
        .expect("valid templates")
    }

    fn calls(&self) -> Vec<Call> {
        read_calls(&self.dir.path().join("log"))
    }
}

#[tokio::test]
async fn command_templates_keep_hostile_meeting_ids_as_single_arguments() {
    init_logs();
    let hostile = [
        "a b c",
        "it's \"quoted\"",
        "x; rm -rf / #",
        "$(touch /tmp/pwned) `id` $HOME",
        "{name} and {meeting_id}",
        "  leading and trailing  ",
        "**",
    ];
    for id in hostile {
        let ctl = FakeCtl::new();
        let launcher = ctl.launcher(false);
        let req = request(id, None);
        assert_eq!(
            launcher.start(&req).await.unwrap(),
            StreamStatus::Started,
            "{id:?}"
        );
        let calls = ctl.calls();
        assert_eq!(calls.len(), 1, "{id:?}");
        let c = &calls[0];
        let meeting_arg = format!("--meeting={id}");
        assert_eq!(
            c.args,
            [
                ctl.dir.path().display().to_string().as_str(),
                "start",
                req.name.as_str(),
                meeting_arg.as_str(),
                id
            ],
            "{id:?}"
        );
        assert_no_secret_in_args(c);
        assert_eq!(c.env["BBB_SECRET"], SECRET);
        assert_eq!(c.env["BBB_MEETING_ID"], id);
        assert_eq!(c.env["BBB_STREAM_URL"], STREAM_URL);
    }
    assert!(!Path::new("/tmp/pwned").exists());
}

#[tokio::test]
async fn command_launcher_is_idempotent_with_a_status_command() {
    init_logs();
    let ctl = FakeCtl::new();
    let launcher = ctl.launcher(true);
    let req = request("meeting-14", None);
    assert_eq!(
        launcher.status(&req.name).await.unwrap(),
        StreamState::Absent
    );
    assert_eq!(launcher.start(&req).await.unwrap(), StreamStatus::Started);
    assert_eq!(
        launcher.start(&req).await.unwrap(),
        StreamStatus::AlreadyRunning
    );
    assert_eq!(
        launcher.status(&req.name).await.unwrap(),
        StreamState::Running
    );
    assert_eq!(
        launcher.stop(&req.name).await.unwrap(),
        StopOutcome::Stopped
    );
    assert_eq!(
        launcher.stop(&req.name).await.unwrap(),
        StopOutcome::NotRunning
    );
    let verbs: Vec<String> = ctl.calls().iter().map(|c| c.args[1].clone()).collect();
    assert_eq!(
        verbs,
        [
            "status", "status", "start", "status", "status", "status", "stop", "status"
        ]
    );
    // stop and status get the name only, and no stream values in their environment.
    for c in ctl.calls().iter().filter(|c| c.args[1] != "start") {
        assert_eq!(c.args.len(), 3);
        assert!(c.env.is_empty(), "{c:?}");
    }
}

#[tokio::test]
async fn a_failing_start_command_gives_an_error_without_the_secret() {
    init_logs();
    let ctl = FakeCtl::new();
    std::fs::write(ctl.dir.path().join("fail"), "").unwrap();
    let launcher = ctl.launcher(false);
    let err = launcher
        .start(&request("meeting-15", None))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StreamError::Failed { code: Some(3), .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("cannot reach the streamer with secret ***"),
        "{msg}"
    );
    assert!(!msg.contains(SECRET), "{msg}");

    let missing = CommandLauncher::new(
        vec!["/nonexistent/stream-start".into(), "{name}".into()],
        vec!["/nonexistent/stream-stop".into()],
        None,
    )
    .unwrap();
    let err = missing
        .start(&request("meeting-15", None))
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::ProgramMissing { .. }), "{err:?}");
}

#[tokio::test]
async fn command_templates_are_checked() {
    init_logs();
    let bad = |start: &[&str], stop: &[&str]| {
        CommandLauncher::new(
            start.iter().map(|s| s.to_string()).collect(),
            stop.iter().map(|s| s.to_string()).collect(),
            None,
        )
        .unwrap_err()
    };
    assert!(
        bad(&[], &["stop"])
            .to_string()
            .contains("start command is empty")
    );
    assert!(
        bad(&["{meeting_id}"], &["stop"])
            .to_string()
            .contains("fixed program")
    );
    assert!(
        bad(&["start", "--secret={secret}"], &["stop"])
            .to_string()
            .contains("{secret} is not available")
    );
    assert!(
        bad(&["start"], &["stop", "{meeting_id}"])
            .to_string()
            .contains("{meeting_id} is not available in the stop command")
    );
    // launcher_for uses the templates when no host is named.
    let ctl = FakeCtl::new();
    let config = StreamingConfig {
        command: Some(schedulight::streaming::CommandTemplates {
            start: ctl.template(&["start", "{name}"]),
            stop: ctl.template(&["stop", "{name}"]),
            status: None,
        }),
        ..StreamingConfig::default()
    };
    let launcher = launcher_for(None, &config).unwrap();
    assert!(launcher.describe().contains("stream-ctl"));
    let req = request("meeting-16", None);
    assert_eq!(launcher.start(&req).await.unwrap(), StreamStatus::Started);
    assert_eq!(
        launcher.status(&req.name).await.unwrap(),
        StreamState::Unknown
    );
}

#[tokio::test]
async fn logs_name_meeting_and_host_but_never_the_secret() {
    let logs = init_logs();
    let fake = FakeDocker::new();
    let launcher = launcher_for(Some("streamer.uni.invalid"), &fake.config()).unwrap();
    let mut req = request("meeting-17", Some("/video/intro.mp4"));
    req.name = StreamName::for_occurrence("log-check", "1");
    launcher.start(&req).await.unwrap();
    launcher.stop(&req.name).await.unwrap();
    let failing = FailOnRun::new();
    let mut docker = fake.launcher();
    docker.docker = failing.path.clone();
    docker.docker_host = Some(StreamerHost::parse("streamer.uni.invalid", "root").unwrap());
    docker.start(&req).await.unwrap_err();

    let text = logs.text();
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sl-stream-log-check-1"))
        .collect();
    let has = |what: &str| {
        ours.iter().any(|l| {
            l.contains(what)
                && l.contains("meeting_id=meeting-17")
                && l.contains("host=root@streamer.uni.invalid")
        })
    };
    assert!(has("live stream started"), "{text}");
    assert!(has("live stream did not start"), "{text}");
    assert!(
        ours.iter()
            .any(|l| l.contains("live stream stopped")
                && l.contains("host=root@streamer.uni.invalid")),
        "{text}"
    );
    // Everything every test in this file logged so far, debug level included.
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("streamKey9876"), "{text}");
    assert!(!format!("{req:?}").contains(SECRET));
    assert!(!format!("{req:?}").contains("streamKey9876"));
}

/// Log output of every test in this file.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl LogBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One global debug-level subscriber for the whole file, installed by every test before it
/// logs anything: a per-test `set_default` races with other threads over tracing's cached
/// callsite interest and loses lines.
fn init_logs() -> &'static LogBuf {
    static LOGS: OnceLock<LogBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        buf
    })
}
