//! JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of the original's file format: one
//! server, one meeting, one command, and the whole file. The REST API documents its bodies with
//! these, and editors can complete `meetings.yml` with [`seed_file`]. A test keeps the property
//! names equal to the keys the reader accepts, so the schema cannot drift from it.

use super::greenlight::BCRYPT_COSTS;
use super::seed::COMMAND_NAMES;
use serde_json::{Map, Value, json};

fn text(doc: &str) -> Value {
    json!({ "type": "string", "description": doc })
}

fn flag(doc: &str) -> Value {
    json!({ "type": "boolean", "description": doc })
}

fn minutes(doc: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": doc })
}

fn email(doc: &str) -> Value {
    json!({ "type": "string", "format": "email", "description": doc })
}

fn secret(doc: &str) -> Value {
    json!({ "type": "string", "writeOnly": true, "description": doc })
}

fn one_of(values: &[&str], doc: &str) -> Value {
    json!({ "type": "string", "enum": values, "description": doc })
}

fn object(props: Vec<(&str, Value)>, required: &[&str], doc: &str) -> Value {
    let properties: Map<String, Value> =
        props.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    json!({
        "type": "object",
        "description": doc,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// `{e-mail: {fullName, send_emails} | name | null}`.
fn recipients(doc: &str) -> Value {
    json!({
        "type": "object",
        "description": doc,
        "propertyNames": { "format": "email" },
        "additionalProperties": recipient(),
    })
}

fn recipient() -> Value {
    let entry = object(
        vec![
            ("fullName", text("The name used in the mail")),
            (
                "send_emails",
                flag("Mail this person (overrides the meeting)"),
            ),
        ],
        &[],
        "A person",
    );
    json!({ "anyOf": [entry, { "type": "string", "description": "The person's name" }, { "type": "null" }] })
}

fn greenlight() -> Value {
    object(
        vec![
            (
                "version",
                one_of(
                    &["v2", "v3"],
                    "Greenlight's version; detected when left out",
                ),
            ),
            (
                "database_url",
                secret("postgres://user:password@host:5432/dbname of Greenlight's database"),
            ),
            (
                "database_url_file",
                text("A file holding database_url instead"),
            ),
            (
                "provider",
                text("users.provider of the accounts made (greenlight, ldap, …)"),
            ),
            ("link_base", text("Greenlight's public URL")),
            (
                "bcrypt_cost",
                json!({ "type": "integer", "minimum": BCRYPT_COSTS.start(), "maximum": BCRYPT_COSTS.end(), "description": "bcrypt cost of the passwords made (Greenlight: 12)" }),
            ),
        ],
        &[],
        "The server's Greenlight database",
    )
}

/// One BBB server of the original's `servers:` section (the file's key is the id).
pub fn server() -> Value {
    object(
        vec![
            ("id", text("The server's id; equal to its key in a file")),
            (
                "BBB_URL",
                json!({ "type": "string", "format": "uri", "description": "The API base, e.g. https://bbb.uni.example/bigbluebutton/" }),
            ),
            (
                "BBB_SECRET",
                secret("The shared secret (bbb-conf --secret); never returned"),
            ),
            ("BBB_SECRET_FILE", text("A file holding BBB_SECRET instead")),
            (
                "checksumAlgorithm",
                one_of(
                    &["sha1", "sha256", "sha384", "sha512"],
                    "Checksum of API calls (default sha256)",
                ),
            ),
            (
                "timeoutMs",
                json!({ "type": "integer", "minimum": 1, "description": "Timeout of one BBB call in milliseconds" }),
            ),
            ("link_base", text("Base of the join links handed out")),
            (
                "send_emails",
                flag("Mail for this server's meetings (default: bot-config's mail.send_emails)"),
            ),
            ("mailDebug", flag("Log the SMTP dialogue")),
            ("mailFrom", email("Sender address")),
            ("mailFromName", text("Sender name")),
            ("mailTo", email("Send every mail here instead (staging)")),
            ("mailToName", text("Name for mailTo")),
            (
                "mailServer",
                text("host[:port] of the SMTP server (25: STARTTLS, 465: TLS)"),
            ),
            ("mailUser", text("SMTP login")),
            ("mailPassword", secret("SMTP password; never returned")),
            (
                "mailPassword_file",
                text("A file holding mailPassword instead"),
            ),
            ("greenlight", greenlight()),
        ],
        &["BBB_URL"],
        "A BigBlueButton server in the original format",
    )
}

fn owner() -> Value {
    object(
        vec![
            ("email", email("The owner's Greenlight account")),
            (
                "fullName",
                text("Name of the account if it is made (default: the address's local part)"),
            ),
            (
                "password",
                secret("Password of the account if it is made; never returned"),
            ),
            ("password_file", text("A file holding password instead")),
            ("uid", text("Greenlight 2 uid")),
            ("socialUid", text("Greenlight 2 social_uid (LDAP)")),
        ],
        &["email"],
        "Who owns the meeting's room (made in Greenlight when missing)",
    )
}

fn live_streaming() -> Value {
    object(
        vec![
            (
                "streamerHost",
                text("Host that runs the streaming container (no scheme)"),
            ),
            (
                "targetUrl",
                json!({ "type": "string", "pattern": "^rtmps?://", "description": "rtmp:// or rtmps:// target, stream key included" }),
            ),
            ("playIntro", text("A video played before the meeting")),
        ],
        &["streamerHost", "targetUrl"],
        "Stream the meeting live",
    )
}

/// One meeting of the original's `meetings:` section (the file's key is the id).
pub fn meeting() -> Value {
    let template = |doc: &str| text(&format!("{doc} (a file in the templates directory)"));
    object(
        vec![
            ("id", text("The meeting's id; equal to its key in a file")),
            ("server", text("The id of the server it runs on")),
            ("meetingName", text("Shown in BBB and the mails")),
            ("meetingID", text("BBB meetingID (default: the room's)")),
            (
                "meetingUID",
                text("The Greenlight room, e.g. abc-def-ghi (made when missing)"),
            ),
            (
                "useHomeRoom",
                flag("Use the owner's home room (Greenlight 2)"),
            ),
            ("owner", owner()),
            (
                "startDate",
                json!({ "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}", "description": "YYYY-MM-DD HH:MM in timeZone; left out: now", "examples": ["2027-06-24 11:00"] }),
            ),
            (
                "timeZone",
                text("IANA zone of startDate, e.g. Europe/Vienna (default: bot-config's)"),
            ),
            (
                "reminderMinutes",
                minutes("Remind the owner this long before"),
            ),
            ("preOpenMinutes", minutes("Open the room this long before")),
            (
                "preStartMinutes",
                minutes("Create the meeting this long before"),
            ),
            (
                "endAfterMinutes",
                minutes("End the meeting this long after the start"),
            ),
            ("accessCode", text("Access code of the room")),
            ("muteOnStart", flag("Join muted")),
            ("record", flag("May be recorded")),
            (
                "allowStartStopRecording",
                flag("Moderators may start and stop recording"),
            ),
            ("autoStartRecording", flag("Record from the start")),
            ("bannerText", text("Banner in the client")),
            ("welcome", text("Welcome message in the chat")),
            (
                "duration",
                minutes("BBB ends the meeting after this many minutes"),
            ),
            ("logoutURL", text("Where leaving participants go")),
            ("maxParticipants", minutes("At most this many participants")),
            (
                "guestPolicy",
                one_of(
                    &["ALWAYS_ACCEPT", "ALWAYS_DENY", "ASK_MODERATOR"],
                    "Who lets guests in",
                ),
            ),
            ("liveStreaming", live_streaming()),
            ("sendInvitationLink", recipients("Mail these the join link")),
            (
                "sendModeratorLink",
                recipients("Mail these the moderator link"),
            ),
            (
                "shareWith",
                recipients("Share the room with these accounts"),
            ),
            ("meetingInvitationInfoTemplate", template("Invitation mail")),
            ("meetingModeratorInfoTemplate", template("Moderator mail")),
            ("meetingOwnerInfoTemplate", template("Owner mail")),
            ("meetingOwnerReminderTemplate", template("Owner reminder")),
            (
                "meetingOwnerStartedTemplate",
                template("Owner notice at the start"),
            ),
            ("meetingShareInfoTemplate", template("Share mail")),
            ("mailFrom", email("Sender address")),
            ("mailFromName", text("Sender name")),
            (
                "mailTo",
                email("Send this meeting's mails here instead (staging)"),
            ),
            ("mailToName", text("Name for mailTo")),
            (
                "send_emails",
                flag("Mail for this meeting (default: the server's)"),
            ),
            ("meetingTitle", text("Title in the mails")),
            (
                "recurrence",
                text("RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=TU;COUNT=12"),
            ),
            (
                "exdate",
                json!({ "type": "array", "items": { "type": "string" }, "description": "Occurrences left out: YYYY-MM-DD or YYYY-MM-DD HH:MM" }),
            ),
            (
                "misfire",
                one_of(
                    &["grace", "always", "skip"],
                    "A step missed while down: run within the grace time, always, or skip",
                ),
            ),
            (
                "misfireGraceMinutes",
                minutes("How late a missed step may still run"),
            ),
            (
                "notifyRoom",
                text("Matrix room for reminders and notices (!id:server or #alias:server)"),
            ),
        ],
        &["server", "meetingName"],
        "A meeting in the original format",
    )
}

/// A room's shares as the original's `share_room` data: e-mail → name, `{fullName}` or null.
pub fn shares() -> Value {
    recipients("The accounts to share the room with, keyed by e-mail")
}

/// One command of the original's `commands:` section.
pub fn command() -> Value {
    object(
        vec![
            (
                "command",
                one_of(COMMAND_NAMES, "What to do on the server's Greenlight"),
            ),
            ("server", text("The id of the server")),
            (
                "data",
                json!({
                    "type": "object",
                    "minProperties": 1,
                    "description": "One entry per item. create_user: {email: {fullName, pwd, role, provider}}; delete_user: {email: null}; create_room: {name: {email, roomUID, accessCode}}; delete_room: {roomUID: null}; rename_room: {roomUID: {roomUID: new}}; share_room / unshare_room: {roomUID: {email: name}}",
                    "additionalProperties": true,
                }),
            ),
        ],
        &["command", "server", "data"],
        "A Greenlight command in the original format",
    )
}

/// A whole file: `servers:`, `meetings:`, `commands:`, each keyed by id.
pub fn seed_file() -> Value {
    let section = |what: &str, item: Value| json!({ "type": "object", "description": format!("{what}, keyed by id"), "additionalProperties": item });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "schedulight servers, meetings and commands (the original's format)",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "servers": section("BBB servers", server()),
            "meetings": section("Meetings", meeting()),
            "commands": section("Greenlight commands", command()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::greenlight::GREENLIGHT_KEYS;
    use super::super::seed::{
        COMMAND_KEYS, LIVE_KEYS, MEETING_KEYS, OWNER_KEYS, RECIPIENT_KEYS, SEED_KEYS,
    };
    use super::super::server::SERVER_KEYS;
    use super::*;

    fn keys(schema: &Value) -> Vec<String> {
        let mut k: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut k: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn the_schema_names_exactly_the_keys_the_reader_takes() {
        assert_eq!(keys(&server()), sorted(SERVER_KEYS));
        assert_eq!(
            keys(&server()["properties"]["greenlight"]),
            sorted(GREENLIGHT_KEYS)
        );
        assert_eq!(keys(&meeting()), sorted(MEETING_KEYS));
        assert_eq!(keys(&meeting()["properties"]["owner"]), sorted(OWNER_KEYS));
        assert_eq!(
            keys(&meeting()["properties"]["liveStreaming"]),
            sorted(LIVE_KEYS)
        );
        let person = &meeting()["properties"]["shareWith"]["additionalProperties"]["anyOf"][0];
        assert_eq!(keys(person), sorted(RECIPIENT_KEYS));
        assert_eq!(keys(&command()), sorted(COMMAND_KEYS));
        assert_eq!(keys(&seed_file()), sorted(SEED_KEYS));
    }
}
