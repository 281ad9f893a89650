//! BBB response XML (bbb-api.md §2): the `<response>` envelope, FAILED → typed errors, and one
//! typed shape per call.
//!
//! Parsing happens in two steps: a lenient envelope pass that only looks at `returncode`,
//! `messageKey`, `message` and `<errors>`, then (on SUCCESS) a strict pass into the call's shape.
//! Unknown elements are ignored everywhere because real servers add fields between releases;
//! the fields the service relies on are required.

use super::{Attendee, BbbError, CreatedMeeting, MeetingInfo, PlaybackFormat, Recording};
use quick_xml::events::Event;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A SUCCESS answer, as far as the envelope goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Success {
    pub message_key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    returncode: Option<String>,
    #[serde(rename = "messageKey")]
    message_key: Option<String>,
    message: Option<String>,
    errors: Option<ErrorList>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorList {
    #[serde(default)]
    error: Vec<ErrorEntry>,
}

/// One entry of the multi-error form. The 2.x template writes `<key>`/`<message>` children;
/// the older Groovy builder wrote them as attributes, so both are accepted.
#[derive(Debug, Default, Deserialize)]
struct ErrorEntry {
    key: Option<String>,
    message: Option<String>,
    #[serde(rename = "@key")]
    attr_key: Option<String>,
    #[serde(rename = "@message")]
    attr_message: Option<String>,
}

impl ErrorEntry {
    fn key(&self) -> Option<&str> {
        non_empty_ref(self.key.as_deref()).or(non_empty_ref(self.attr_key.as_deref()))
    }

    fn message(&self) -> &str {
        non_empty_ref(self.message.as_deref())
            .or(non_empty_ref(self.attr_message.as_deref()))
            .unwrap_or("")
    }
}

fn non_empty_ref(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// BBB writes absent optional values as empty elements (`<attendeePW></attendeePW>`).
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn bad(call: &str, what: impl std::fmt::Display) -> BbbError {
    BbbError::BadResponse(format!("{call}: {what}"))
}

/// The document's root element must be `<response>`; anything else (an HTML error page, a
/// proxy's answer) is not a BBB answer even if it happens to be well-formed XML.
fn check_root(call: &str, xml: &str) -> Result<(), BbbError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return if e.local_name().into_inner() == "response" {
                    Ok(())
                } else {
                    Err(bad(call, "the root element is not <response>"))
                };
            }
            Ok(Event::Eof) => return Err(bad(call, "the answer is empty")),
            Ok(_) => {}
            Err(e) => return Err(bad(call, e)),
        }
    }
}

/// Check the envelope: SUCCESS passes, FAILED becomes the typed error for its `messageKey`
/// (or the first `<errors><error>` key), anything else is a bad response.
pub(crate) fn envelope(call: &str, xml: &str) -> Result<Success, BbbError> {
    check_root(call, xml)?;
    let env: Envelope = quick_xml::de::from_str(xml).map_err(|e| bad(call, e))?;
    match env.returncode.as_deref().map(str::trim) {
        Some("SUCCESS") => Ok(Success {
            message_key: non_empty(env.message_key),
        }),
        Some("FAILED") => Err(failure(call, env)),
        Some(other) if !other.is_empty() => Err(bad(call, "unknown returncode")),
        _ => Err(bad(call, "no returncode")),
    }
}

fn failure(call: &str, env: Envelope) -> BbbError {
    let message = non_empty(env.message).unwrap_or_default();
    if let Some(key) = non_empty(env.message_key) {
        return BbbError::from_key(key.trim(), &message);
    }
    let errors = env.errors.unwrap_or_default().error;
    match errors.iter().find_map(ErrorEntry::key) {
        Some(key) => {
            // Several violations can be reported at once; keep every message, type by the first.
            let all: Vec<&str> = errors
                .iter()
                .map(ErrorEntry::message)
                .filter(|m| !m.is_empty())
                .collect();
            BbbError::from_key(key.trim(), &all.join("; "))
        }
        None => bad(call, "FAILED without messageKey"),
    }
}

/// Envelope check, then the call's own shape.
fn parse<T: DeserializeOwned>(call: &str, xml: &str) -> Result<(Success, T), BbbError> {
    let ok = envelope(call, xml)?;
    let body = quick_xml::de::from_str(xml).map_err(|e| bad(call, e))?;
    Ok((ok, body))
}

// ---------------------------------------------------------------- create

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateXml {
    #[serde(rename = "meetingID")]
    meeting_id: String,
    #[serde(rename = "internalMeetingID")]
    internal_meeting_id: String,
    #[serde(rename = "attendeePW")]
    attendee_pw: Option<String>,
    #[serde(rename = "moderatorPW")]
    moderator_pw: Option<String>,
    create_time: i64,
    voice_bridge: String,
    dial_number: String,
    create_date: String,
    has_user_joined: bool,
    duration: u32,
    has_been_forcibly_ended: bool,
}

/// `create`; `duplicateWarning` is a success that returns the existing meeting.
pub(crate) fn create(xml: &str) -> Result<CreatedMeeting, BbbError> {
    let (ok, x) = parse::<CreateXml>("create", xml)?;
    Ok(CreatedMeeting {
        meeting_id: x.meeting_id,
        internal_meeting_id: x.internal_meeting_id,
        attendee_pw: non_empty(x.attendee_pw),
        moderator_pw: non_empty(x.moderator_pw),
        create_time: x.create_time,
        voice_bridge: x.voice_bridge,
        dial_number: x.dial_number,
        create_date: x.create_date,
        has_user_joined: x.has_user_joined,
        duration: x.duration,
        has_been_forcibly_ended: x.has_been_forcibly_ended,
        duplicate: ok.message_key.as_deref() == Some("duplicateWarning"),
    })
}

// ---------------------------------------------------------------- end / running / flags

/// `end`: SUCCESS (`sentEndMeetingRequest`) is all there is.
pub(crate) fn end(xml: &str) -> Result<(), BbbError> {
    envelope("end", xml).map(|_| ())
}

#[derive(Debug, Deserialize)]
struct RunningXml {
    running: bool,
}

/// `isMeetingRunning`.
pub(crate) fn running(xml: &str) -> Result<bool, BbbError> {
    parse::<RunningXml>("isMeetingRunning", xml).map(|(_, x)| x.running)
}

#[derive(Debug, Deserialize)]
struct PublishedXml {
    published: bool,
}

#[derive(Debug, Deserialize)]
struct UpdatedXml {
    updated: bool,
}

#[derive(Debug, Deserialize)]
struct DeletedXml {
    deleted: bool,
}

/// `publishRecordings` → `<published>`.
pub(crate) fn published(xml: &str) -> Result<bool, BbbError> {
    parse::<PublishedXml>("publishRecordings", xml).map(|(_, x)| x.published)
}

/// `updateRecordings` → `<updated>`.
pub(crate) fn updated(xml: &str) -> Result<bool, BbbError> {
    parse::<UpdatedXml>("updateRecordings", xml).map(|(_, x)| x.updated)
}

/// `deleteRecordings` → `<deleted>`.
pub(crate) fn deleted(xml: &str) -> Result<bool, BbbError> {
    parse::<DeletedXml>("deleteRecordings", xml).map(|(_, x)| x.deleted)
}

// ---------------------------------------------------------------- meetings

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttendeeXml {
    #[serde(rename = "userID")]
    user_id: String,
    full_name: String,
    role: String,
    is_presenter: bool,
    is_listening_only: bool,
    has_joined_voice: bool,
    has_video: bool,
    /// Added in 2.x; older servers omit it.
    #[serde(default)]
    client_type: String,
}

impl From<AttendeeXml> for Attendee {
    fn from(a: AttendeeXml) -> Self {
        Attendee {
            user_id: a.user_id,
            full_name: a.full_name,
            role: a.role,
            is_presenter: a.is_presenter,
            is_listening_only: a.is_listening_only,
            has_joined_voice: a.has_joined_voice,
            has_video: a.has_video,
            client_type: a.client_type,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct AttendeesXml {
    #[serde(default)]
    attendee: Vec<AttendeeXml>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MeetingXml {
    meeting_name: String,
    #[serde(rename = "meetingID")]
    meeting_id: String,
    #[serde(rename = "internalMeetingID")]
    internal_meeting_id: String,
    create_time: i64,
    create_date: String,
    voice_bridge: String,
    dial_number: String,
    #[serde(rename = "attendeePW")]
    attendee_pw: Option<String>,
    #[serde(rename = "moderatorPW")]
    moderator_pw: Option<String>,
    running: bool,
    duration: u32,
    has_user_joined: bool,
    recording: bool,
    has_been_forcibly_ended: bool,
    start_time: i64,
    end_time: i64,
    participant_count: u32,
    listener_count: u32,
    voice_participant_count: u32,
    video_count: u32,
    max_users: u32,
    moderator_count: u32,
    #[serde(default)]
    attendees: AttendeesXml,
    #[serde(default)]
    metadata: BTreeMap<String, MetaValue>,
    #[serde(default)]
    is_breakout: bool,
}

/// One metadata value. Values are plain text; a value that unexpectedly holds child elements
/// is kept as an empty string instead of failing the whole answer.
#[derive(Debug, Default)]
struct MetaValue(String);

impl<'de> Deserialize<'de> for MetaValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MetaValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a metadata value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MetaValue, E> {
                Ok(MetaValue(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<MetaValue, E> {
                Ok(MetaValue(v))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<MetaValue, E> {
                Ok(MetaValue::default())
            }
            // quick-xml presents an element to `deserialize_any` as a map whose text content
            // sits under the `$text` key; child elements are skipped.
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<MetaValue, A::Error> {
                let mut text = String::new();
                while let Some(key) = m.next_key::<String>()? {
                    if key == "$text" {
                        text.push_str(&m.next_value::<String>()?);
                    } else {
                        m.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(MetaValue(text))
            }
        }
        d.deserialize_any(V)
    }
}

/// BBB stores metadata keys lower-cased; normalise in case a proxy or old server did not.
fn lower_keys(map: BTreeMap<String, MetaValue>) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| (k.to_lowercase(), v.0))
        .collect()
}

impl From<MeetingXml> for MeetingInfo {
    fn from(m: MeetingXml) -> Self {
        MeetingInfo {
            meeting_name: m.meeting_name,
            meeting_id: m.meeting_id,
            internal_meeting_id: m.internal_meeting_id,
            create_time: m.create_time,
            create_date: m.create_date,
            voice_bridge: m.voice_bridge,
            dial_number: m.dial_number,
            attendee_pw: non_empty(m.attendee_pw),
            moderator_pw: non_empty(m.moderator_pw),
            running: m.running,
            duration: m.duration,
            has_user_joined: m.has_user_joined,
            recording: m.recording,
            has_been_forcibly_ended: m.has_been_forcibly_ended,
            start_time: m.start_time,
            end_time: m.end_time,
            participant_count: m.participant_count,
            listener_count: m.listener_count,
            voice_participant_count: m.voice_participant_count,
            video_count: m.video_count,
            max_users: m.max_users,
            moderator_count: m.moderator_count,
            attendees: m.attendees.attendee.into_iter().map(Into::into).collect(),
            metadata: lower_keys(m.metadata),
            is_breakout: m.is_breakout,
        }
    }
}

/// `getMeetingInfo`: the meeting's fields sit directly in `<response>`.
pub(crate) fn meeting_info(xml: &str) -> Result<MeetingInfo, BbbError> {
    parse::<MeetingXml>("getMeetingInfo", xml).map(|(_, m)| m.into())
}

#[derive(Debug, Default, Deserialize)]
struct MeetingListXml {
    #[serde(default)]
    meeting: Vec<MeetingXml>,
}

#[derive(Debug, Deserialize)]
struct GetMeetingsXml {
    meetings: Option<MeetingListXml>,
}

/// `getMeetings`; `noMeetings` is an empty list.
pub(crate) fn meetings(xml: &str) -> Result<Vec<MeetingInfo>, BbbError> {
    let (ok, x) = parse::<GetMeetingsXml>("getMeetings", xml)?;
    match x.meetings {
        Some(list) => Ok(list.meeting.into_iter().map(Into::into).collect()),
        None if ok.message_key.as_deref() == Some("noMeetings") => Ok(Vec::new()),
        None => Err(bad("getMeetings", "missing <meetings>")),
    }
}

// ---------------------------------------------------------------- recordings

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FormatXml {
    #[serde(rename = "type")]
    format_type: String,
    url: String,
    #[serde(default)]
    processing_time: u64,
    #[serde(default)]
    length: u32,
}

#[derive(Debug, Default, Deserialize)]
struct PlaybackXml {
    #[serde(default)]
    format: Vec<FormatXml>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordingXml {
    #[serde(rename = "recordID")]
    record_id: String,
    #[serde(rename = "meetingID")]
    meeting_id: String,
    #[serde(rename = "internalMeetingID")]
    internal_meeting_id: String,
    name: String,
    #[serde(default)]
    is_breakout: bool,
    published: bool,
    state: String,
    start_time: i64,
    end_time: i64,
    participants: u32,
    #[serde(default)]
    metadata: BTreeMap<String, MetaValue>,
    /// Normally one `<playback>` holding one `<format>` per type; several `<playback>`
    /// elements are accepted too.
    #[serde(default)]
    playback: Vec<PlaybackXml>,
    #[serde(default)]
    protected: Option<bool>,
}

impl From<RecordingXml> for Recording {
    fn from(r: RecordingXml) -> Self {
        Recording {
            record_id: r.record_id,
            meeting_id: r.meeting_id,
            internal_meeting_id: r.internal_meeting_id,
            name: r.name,
            is_breakout: r.is_breakout,
            published: r.published,
            state: r.state,
            start_time: r.start_time,
            end_time: r.end_time,
            participants: r.participants,
            metadata: lower_keys(r.metadata),
            protected: r.protected,
            playback: r
                .playback
                .into_iter()
                .flat_map(|p| p.format)
                .map(|f| PlaybackFormat {
                    format_type: f.format_type,
                    url: f.url,
                    processing_time: f.processing_time,
                    length: f.length,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct RecordingListXml {
    #[serde(default)]
    recording: Vec<RecordingXml>,
}

#[derive(Debug, Deserialize)]
struct GetRecordingsXml {
    recordings: Option<RecordingListXml>,
}

/// `getRecordings`; `noRecordings` is an empty list.
pub(crate) fn recordings(xml: &str) -> Result<Vec<Recording>, BbbError> {
    let (ok, x) = parse::<GetRecordingsXml>("getRecordings", xml)?;
    match x.recordings {
        Some(list) => Ok(list.recording.into_iter().map(Into::into).collect()),
        None if ok.message_key.as_deref() == Some("noRecordings") => Ok(Vec::new()),
        None => Err(bad("getRecordings", "missing <recordings>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<response>
  <returncode>SUCCESS</returncode>
  <meetingID>Test</meetingID>
  <internalMeetingID>640ab2bae07bedc4c163f679a746f7ab7fb5d1fa-1531155809613</internalMeetingID>
  <parentMeetingID>bbb-none</parentMeetingID>
  <attendeePW>ap</attendeePW>
  <moderatorPW>mp</moderatorPW>
  <createTime>1531155809613</createTime>
  <voiceBridge>70757</voiceBridge>
  <dialNumber>613-555-1234</dialNumber>
  <createDate>Mon Jul 09 17:03:29 UTC 2018</createDate>
  <hasUserJoined>false</hasUserJoined>
  <duration>0</duration>
  <hasBeenForciblyEnded>false</hasBeenForciblyEnded>
  <messageKey></messageKey>
  <message></message>
</response>"#;

    /// Compressed FreeMarker output: no whitespace, no passwords, duplicate warning.
    const CREATE_DUPLICATE: &str = "<response><returncode>SUCCESS</returncode>\
<meetingID>Test</meetingID><internalMeetingID>640ab2bae07bedc4c163f679a746f7ab7fb5d1fa-1531155809613</internalMeetingID>\
<parentMeetingID>bbb-none</parentMeetingID><createTime>1531155809613</createTime>\
<voiceBridge>07075</voiceBridge><dialNumber></dialNumber><createDate>Mon Jul 09 17:03:29 UTC 2018</createDate>\
<hasUserJoined>true</hasUserJoined><duration>90</duration><hasBeenForciblyEnded>false</hasBeenForciblyEnded>\
<messageKey>duplicateWarning</messageKey>\
<message>This conference was already in existence and may currently be in progress.</message></response>";

    const MEETING_INFO: &str = r#"<response>
  <returncode>SUCCESS</returncode>
  <meetingName>Demo Meeting</meetingName>
  <meetingID>Demo Meeting</meetingID>
  <internalMeetingID>183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189</internalMeetingID>
  <createTime>1531240585189</createTime>
  <createDate>Tue Jul 10 16:36:25 UTC 2018</createDate>
  <voiceBridge>70066</voiceBridge>
  <dialNumber>613-555-1234</dialNumber>
  <attendeePW></attendeePW>
  <moderatorPW>mp</moderatorPW>
  <running>true</running>
  <duration>0</duration>
  <hasUserJoined>true</hasUserJoined>
  <recording>false</recording>
  <hasBeenForciblyEnded>false</hasBeenForciblyEnded>
  <startTime>1531240585239</startTime>
  <endTime>0</endTime>
  <participantCount>2</participantCount>
  <listenerCount>1</listenerCount>
  <voiceParticipantCount>1</voiceParticipantCount>
  <videoCount>1</videoCount>
  <maxUsers>20</maxUsers>
  <moderatorCount>1</moderatorCount>
  <attendees>
    <attendee>
      <userID>w_2wzzszfaptsp</userID>
      <fullName>stu &amp; dent</fullName>
      <role>VIEWER</role>
      <isPresenter>false</isPresenter>
      <isListeningOnly>true</isListeningOnly>
      <hasJoinedVoice>false</hasJoinedVoice>
      <hasVideo>false</hasVideo>
      <clientType>HTML5</clientType>
    </attendee>
    <attendee>
      <userID>w_eo7lxnx3vwuj</userID>
      <fullName>mod</fullName>
      <role>MODERATOR</role>
      <isPresenter>true</isPresenter>
      <isListeningOnly>false</isListeningOnly>
      <hasJoinedVoice>true</hasJoinedVoice>
      <hasVideo>true</hasVideo>
      <clientType>HTML5</clientType>
      <customdata>
        <bbb_auto_join_audio>true</bbb_auto_join_audio>
      </customdata>
    </attendee>
  </attendees>
  <metadata>
    <bbb-origin-server-name>schedulight</bbb-origin-server-name>
    <endCallbackUrl>https://sl.example/cb?x=1&amp;y=2</endCallbackUrl>
    <empty></empty>
  </metadata>
  <isBreakout>false</isBreakout>
  <breakoutRooms/>
  <someFutureField><nested>1</nested></someFutureField>
</response>"#;

    fn meeting_xml(id: &str, running: bool) -> String {
        format!(
            "<meeting><meetingName>{id}</meetingName><meetingID>{id}</meetingID>\
<internalMeetingID>x-{id}</internalMeetingID><createTime>1</createTime><createDate>d</createDate>\
<voiceBridge>12345</voiceBridge><dialNumber>613-555-1234</dialNumber><attendeePW>ap</attendeePW>\
<moderatorPW>mp</moderatorPW><running>{running}</running><duration>0</duration>\
<hasUserJoined>{running}</hasUserJoined><recording>false</recording>\
<hasBeenForciblyEnded>false</hasBeenForciblyEnded><startTime>2</startTime><endTime>0</endTime>\
<participantCount>0</participantCount><listenerCount>0</listenerCount>\
<voiceParticipantCount>0</voiceParticipantCount><videoCount>0</videoCount><maxUsers>0</maxUsers>\
<moderatorCount>0</moderatorCount><attendees/><metadata/><isBreakout>false</isBreakout></meeting>"
        )
    }

    fn get_meetings(ids: &[&str]) -> String {
        let inner: String = ids.iter().map(|id| meeting_xml(id, true)).collect();
        format!("<response><returncode>SUCCESS</returncode><meetings>{inner}</meetings></response>")
    }

    const NO_MEETINGS: &str = "<response><returncode>SUCCESS</returncode><meetings/>\
<messageKey>noMeetings</messageKey><message>no meetings were found on this server</message></response>";

    const RECORDINGS: &str = r#"<response>
  <returncode>SUCCESS</returncode>
  <recordings>
    <recording>
      <recordID>ffbfc4cc24428694e8b53a4e144f414052431693-1530718721124</recordID>
      <meetingID>c637ba21adcd0191f48f5c4bf23fab0f96ed5c18</meetingID>
      <internalMeetingID>ffbfc4cc24428694e8b53a4e144f414052431693-1530718721124</internalMeetingID>
      <name>Fred's Room</name>
      <isBreakout>false</isBreakout>
      <published>true</published>
      <state>published</state>
      <startTime>1530718721124</startTime>
      <endTime>1530718810456</endTime>
      <participants>3</participants>
      <rawSize>951067</rawSize>
      <metadata>
        <isBreakout>false</isBreakout>
        <meetingName>Fred's Room</meetingName>
        <gl-listed><![CDATA[false]]></gl-listed>
      </metadata>
      <size>1104836</size>
      <playback>
        <format>
          <type>presentation</type>
          <url>https://demo.bigbluebutton.org/playback/presentation/2.0/playback.html?meetingId=ffbfc4cc24428694e8b53a4e144f414052431693-1530718721124</url>
          <processingTime>7177</processingTime>
          <length>0</length>
          <size>1104836</size>
          <preview>
            <images>
              <image alt="Welcome" height="136" width="176">https://demo.example/thumb-1.png</image>
              <image alt="Slide 2" height="136" width="176">https://demo.example/thumb-2.png</image>
            </images>
          </preview>
        </format>
        <format>
          <type>video</type>
          <url>https://demo.bigbluebutton.org/podcast/ffbfc4cc24428694e8b53a4e144f414052431693-1530718721124/meeting.mp4</url>
          <processingTime>0</processingTime>
          <length>0</length>
          <size>1104836</size>
        </format>
      </playback>
      <data/>
    </recording>
    <recording>
      <recordID>aaaa-1</recordID>
      <meetingID>m2</meetingID>
      <internalMeetingID>aaaa-1</internalMeetingID>
      <name>Second</name>
      <published>false</published>
      <state>processing</state>
      <startTime>1</startTime>
      <endTime>2</endTime>
      <participants>0</participants>
      <metadata/>
      <playback/>
    </recording>
  </recordings>
</response>"#;

    const NO_RECORDINGS: &str = "<response><returncode>SUCCESS</returncode><recordings></recordings>\
<messageKey>noRecordings</messageKey><message>There are no recordings for the meeting(s).</message></response>";

    #[test]
    fn create_success() {
        let c = create(CREATE).expect("valid create");
        assert_eq!(c.meeting_id, "Test");
        assert_eq!(
            c.internal_meeting_id,
            "640ab2bae07bedc4c163f679a746f7ab7fb5d1fa-1531155809613"
        );
        assert_eq!(c.attendee_pw.as_deref(), Some("ap"));
        assert_eq!(c.moderator_pw.as_deref(), Some("mp"));
        assert_eq!(c.create_time, 1_531_155_809_613);
        assert_eq!(c.voice_bridge, "70757");
        assert_eq!(c.dial_number, "613-555-1234");
        assert_eq!(c.create_date, "Mon Jul 09 17:03:29 UTC 2018");
        assert!(!c.has_user_joined && !c.has_been_forcibly_ended && !c.duplicate);
        assert_eq!(c.duration, 0);
    }

    #[test]
    fn create_duplicate_warning_is_success() {
        let c = create(CREATE_DUPLICATE).expect("duplicate is a success");
        assert!(c.duplicate);
        assert!(c.has_user_joined);
        assert_eq!(c.duration, 90);
        // leading zero kept: voiceBridge is a digit string, not a number
        assert_eq!(c.voice_bridge, "07075");
        assert_eq!(c.dial_number, "");
        assert_eq!(c.attendee_pw, None);
        assert_eq!(c.moderator_pw, None);
    }

    #[test]
    fn create_missing_required_field_is_bad_response() {
        let xml = CREATE.replace("<createTime>1531155809613</createTime>", "");
        match create(&xml) {
            Err(BbbError::BadResponse(m)) => assert!(m.contains("createTime"), "{m}"),
            other => panic!("expected BadResponse, got {other:?}"),
        }
        let xml = CREATE.replace(">1531155809613</createTime>", ">soon</createTime>");
        assert!(matches!(create(&xml), Err(BbbError::BadResponse(_))));
    }

    #[test]
    fn meeting_info_with_attendees_and_metadata() {
        let m = meeting_info(MEETING_INFO).expect("valid getMeetingInfo");
        assert_eq!(m.meeting_name, "Demo Meeting");
        assert_eq!(m.meeting_id, "Demo Meeting");
        assert_eq!(m.create_time, 1_531_240_585_189);
        assert_eq!(m.attendee_pw, None, "empty element becomes None");
        assert_eq!(m.moderator_pw.as_deref(), Some("mp"));
        assert!(m.running && m.has_user_joined && !m.recording);
        assert_eq!(m.start_time, 1_531_240_585_239);
        assert_eq!(m.end_time, 0);
        assert_eq!(
            (
                m.participant_count,
                m.listener_count,
                m.voice_participant_count
            ),
            (2, 1, 1)
        );
        assert_eq!((m.video_count, m.max_users, m.moderator_count), (1, 20, 1));
        assert_eq!(m.attendees.len(), 2);
        assert_eq!(
            m.attendees[0],
            Attendee {
                user_id: "w_2wzzszfaptsp".into(),
                full_name: "stu & dent".into(),
                role: "VIEWER".into(),
                is_presenter: false,
                is_listening_only: true,
                has_joined_voice: false,
                has_video: false,
                client_type: "HTML5".into(),
            }
        );
        assert_eq!(m.attendees[1].role, "MODERATOR");
        assert!(m.attendees[1].is_presenter && m.attendees[1].has_video);
        let meta: Vec<(&str, &str)> = m
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            meta,
            vec![
                ("bbb-origin-server-name", "schedulight"),
                ("empty", ""),
                ("endcallbackurl", "https://sl.example/cb?x=1&y=2"),
            ]
        );
        assert!(!m.is_breakout);
    }

    #[test]
    fn meeting_info_not_found() {
        let xml = "<response><returncode>FAILED</returncode><messageKey>notFound</messageKey>\
<message>A meeting with that ID does not exist</message></response>";
        assert_eq!(
            meeting_info(xml),
            Err(BbbError::NotFound {
                message: "A meeting with that ID does not exist".into()
            })
        );
    }

    #[test]
    fn get_meetings_zero_one_many() {
        assert_eq!(meetings(NO_MEETINGS), Ok(vec![]));
        // an old or proxied server may leave <meetings> out entirely with noMeetings
        let bare = "<response><returncode>SUCCESS</returncode><messageKey>noMeetings</messageKey>\
<message>no meetings were found on this server</message></response>";
        assert_eq!(meetings(bare), Ok(vec![]));

        let one = meetings(&get_meetings(&["a1"])).expect("one meeting");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].meeting_id, "a1");
        assert_eq!(one[0].attendee_pw.as_deref(), Some("ap"));
        assert!(one[0].attendees.is_empty() && one[0].metadata.is_empty());

        let many = meetings(&get_meetings(&["a1", "b2", "c3"])).expect("three meetings");
        let ids: Vec<&str> = many.iter().map(|m| m.meeting_id.as_str()).collect();
        assert_eq!(ids, vec!["a1", "b2", "c3"]);

        let missing = "<response><returncode>SUCCESS</returncode></response>";
        assert!(matches!(meetings(missing), Err(BbbError::BadResponse(_))));
    }

    #[test]
    fn recordings_with_playback_formats() {
        let recs = recordings(RECORDINGS).expect("valid getRecordings");
        assert_eq!(recs.len(), 2);
        let r = &recs[0];
        assert_eq!(
            r.record_id,
            "ffbfc4cc24428694e8b53a4e144f414052431693-1530718721124"
        );
        assert_eq!(r.meeting_id, "c637ba21adcd0191f48f5c4bf23fab0f96ed5c18");
        assert_eq!(r.name, "Fred's Room");
        assert!(r.published && !r.is_breakout);
        assert_eq!(r.state, "published");
        assert_eq!(
            (r.start_time, r.end_time),
            (1_530_718_721_124, 1_530_718_810_456)
        );
        assert_eq!(r.participants, 3);
        assert_eq!(
            r.metadata.get("meetingname").map(String::as_str),
            Some("Fred's Room")
        );
        assert_eq!(
            r.metadata.get("gl-listed").map(String::as_str),
            Some("false")
        );
        assert_eq!(r.playback.len(), 2);
        assert_eq!(r.playback[0].format_type, "presentation");
        assert!(r.playback[0].url.ends_with("1530718721124"));
        assert_eq!(r.playback[0].processing_time, 7177);
        assert_eq!(r.playback[1].format_type, "video");
        assert_eq!(r.playback[1].length, 0);

        let second = &recs[1];
        assert_eq!(second.state, "processing");
        assert!(!second.published && second.playback.is_empty() && second.metadata.is_empty());
    }

    #[test]
    fn recordings_empty() {
        assert_eq!(recordings(NO_RECORDINGS), Ok(vec![]));
        let bare = "<response><returncode>SUCCESS</returncode><messageKey>noRecordings</messageKey>\
<message>There are no recordings for the meeting(s).</message></response>";
        assert_eq!(recordings(bare), Ok(vec![]));
    }

    #[test]
    fn failed_single_error_keys_are_typed() {
        let xml = |k: &str, m: &str| {
            format!(
                "<response><returncode>FAILED</returncode><messageKey>{k}</messageKey>\
<message>{m}</message></response>"
            )
        };
        assert_eq!(
            end(&xml("checksumError", "Checksums do not match")),
            Err(BbbError::Checksum {
                message: "Checksums do not match".into()
            })
        );
        assert_eq!(
            create(&xml(
                "idNotUnique",
                "A meeting already exists with that meeting ID.  Please use a different meeting ID."
            )),
            Err(BbbError::IdNotUnique {
                message:
                    "A meeting already exists with that meeting ID.  Please use a different meeting ID."
                        .into()
            })
        );
        assert_eq!(
            published(&xml("notFound", "We could not find recordings")),
            Err(BbbError::NotFound {
                message: "We could not find recordings".into()
            })
        );
        assert_eq!(
            deleted(&xml("missingParamRecordID", "You must specify a recordID.")),
            Err(BbbError::MissingParam {
                key: "missingParamRecordID".into(),
                message: "You must specify a recordID.".into()
            })
        );
        assert_eq!(
            running(&xml("somethingNew", "")),
            Err(BbbError::Other {
                key: "somethingNew".into(),
                message: String::new()
            })
        );
    }

    #[test]
    fn failed_multi_error_form() {
        let xml = "<response><returncode>FAILED</returncode><errors>\
<error><key>missingParamMeetingID</key><message>You must provide a meeting ID</message></error>\
<error><key>validationError</key><message>Meeting name must be between 2 and 256 characters</message></error>\
</errors></response>";
        assert_eq!(
            create(xml),
            Err(BbbError::MissingParam {
                key: "missingParamMeetingID".into(),
                message: "You must provide a meeting ID; Meeting name must be between 2 and 256 characters"
                    .into()
            })
        );
        // the older builder-style form with attributes
        let attrs = r#"<response><returncode>FAILED</returncode><errors>
<error key="checksumError" message="You did not pass the checksum security check"/>
</errors></response>"#;
        assert_eq!(
            end(attrs),
            Err(BbbError::Checksum {
                message: "You did not pass the checksum security check".into()
            })
        );
        let nothing = "<response><returncode>FAILED</returncode></response>";
        assert!(matches!(end(nothing), Err(BbbError::BadResponse(_))));
    }

    #[test]
    fn simple_answers() {
        let ok =
            |body: &str| format!("<response><returncode>SUCCESS</returncode>{body}</response>");
        assert_eq!(running(&ok("<running>true</running>")), Ok(true));
        assert_eq!(running(&ok("<running>false</running>")), Ok(false));
        assert_eq!(published(&ok("<published>true</published>")), Ok(true));
        assert_eq!(updated(&ok("<updated>true</updated>")), Ok(true));
        assert_eq!(deleted(&ok("<deleted>false</deleted>")), Ok(false));
        assert_eq!(
            end(&ok(
                "<messageKey>sentEndMeetingRequest</messageKey><message>A request to end the meeting was sent.</message>"
            )),
            Ok(())
        );
        assert!(matches!(running(&ok("")), Err(BbbError::BadResponse(_))));
        assert!(matches!(
            running(&ok("<running>maybe</running>")),
            Err(BbbError::BadResponse(_))
        ));
    }

    #[test]
    fn malformed_answers_are_bad_responses() {
        for body in [
            "",
            "not xml at all",
            "<html><body>502 Bad Gateway</body></html>",
            "<response><returncode>SUCCESS</returncode>",
            "<response><returncode>MAYBE</returncode></response>",
            "<response><running>true</running></response>",
            "<response><returncode>SUCCESS</returncode><running>true</running></wrong>",
        ] {
            assert!(
                matches!(running(body), Err(BbbError::BadResponse(_))),
                "{body:?} → {:?}",
                running(body)
            );
        }
    }

    #[test]
    fn metadata_is_lenient_about_nested_elements() {
        let xml = MEETING_INFO.replace(
            "<empty></empty>",
            "<empty></empty><Nested><child>1</child></Nested><MixedCase>v</MixedCase>",
        );
        let m = meeting_info(&xml).expect("nested metadata is tolerated");
        assert_eq!(m.metadata.get("nested").map(String::as_str), Some(""));
        assert_eq!(m.metadata.get("mixedcase").map(String::as_str), Some("v"));
        assert_eq!(m.metadata.len(), 5);
    }
}
