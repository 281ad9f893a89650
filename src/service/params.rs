//! Turning a meeting definition into BBB parameters and join links.

use crate::bbb::{Bbb, CreateParams, CreatedMeeting, JoinAuth, JoinParams, Role};
use crate::domain::{BbbMeetingId, JoinLinks, MeetingSpec, ServerSpec};

/// BBB `create` parameters for a meeting. Booleans the admin set are sent as given, `false`
/// included (the original sent only true values).
pub fn create_params(spec: &MeetingSpec) -> CreateParams {
    let mut p = CreateParams {
        meeting_id: Some(spec.effective_bbb_id()),
        name: spec.name.clone(),
        welcome: spec.welcome.as_deref().map(|t| spec.fill_placeholders(t)),
        banner_text: spec
            .banner_text
            .as_deref()
            .map(|t| spec.fill_placeholders(t)),
        max_participants: spec.max_participants,
        logout_url: spec.logout_url.as_deref().map(with_scheme),
        record: spec.record,
        auto_start_recording: spec.auto_start_recording,
        allow_start_stop_recording: spec.allow_start_stop_recording,
        duration: spec.duration,
        mute_on_start: spec.mute_on_start,
        guest_policy: spec.guest_policy.map(|g| g.as_bbb().to_string()),
        ..CreateParams::default()
    };
    p.meta.insert("bbb-origin".into(), "schedulight".into());
    p.meta
        .insert("schedulight-meeting".into(), spec.id.to_string());
    p
}

/// The seed documents logoutURL "without http://"; add https only when no scheme was given.
fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    }
}

/// Moderator and viewer links for a created meeting, tied to this incarnation by createTime.
pub(crate) fn join_links(
    bbb: &dyn Bbb,
    spec: &MeetingSpec,
    meeting_id: &BbbMeetingId,
    room: Option<String>,
    created: &CreatedMeeting,
) -> JoinLinks {
    let moderator_name = spec
        .owner
        .as_ref()
        .map(|o| o.full_name.clone())
        .unwrap_or_else(|| "Moderator".into());
    let link = |name: &str, role: Role| {
        let mut p = JoinParams::new(meeting_id.clone(), name, JoinAuth::Role(role));
        p.create_time = Some(created.create_time);
        bbb.join_url(&p)
    };
    JoinLinks {
        moderator: link(&moderator_name, Role::Moderator),
        viewer: link("Guest", Role::Viewer),
        room,
    }
}

/// `<link_base>/<room uid>`, the page people are invited to.
pub(crate) fn room_link(server: &ServerSpec, spec: &MeetingSpec) -> Option<String> {
    let base = server.link_base.as_deref()?;
    let room = spec.room.as_ref()?;
    Some(format!("{}/{}", base.trim_end_matches('/'), room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_false_is_sent_and_placeholders_filled() {
        let mut m = MeetingSpec::new("m".parse().unwrap(), "bbb".parse().unwrap(), "Lecture");
        m.record = Some(false);
        m.start = Some(crate::domain::meeting::seed_datetime::parse("2026-12-03 10:00").unwrap());
        m.welcome = Some("Starts __startDate__".into());
        m.logout_url = Some("uni.example/bye".into());
        let p = create_params(&m);
        assert_eq!(p.record, Some(false));
        assert_eq!(p.welcome.as_deref(), Some("Starts 2026-12-03 10:00"));
        assert_eq!(p.logout_url.as_deref(), Some("https://uni.example/bye"));
        assert_eq!(p.meeting_id.unwrap().as_str(), "sl-m");
    }
}
