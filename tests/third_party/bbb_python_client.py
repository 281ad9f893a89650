#!/usr/bin/env python3
"""Drive a BBB server (the schedulight simulator) with bigbluebutton_api_python 0.0.11, the
library the original scheduLight tool used (SHA-1 checksums, quote_plus encoding).

Usage: bbb_python_client.py <api-base-url> <secret>
Prints one line per check and exits non-zero on the first failure.
"""

import sys
import urllib.error
import urllib.parse
import urllib.request

from bigbluebutton_api_python import BigBlueButton
from bigbluebutton_api_python.exception import BBBException


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def expect_error(key, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except BBBException as e:
        check(e.key == key, "%s raises %s (got %s)" % (fn.__name__, key, e.key))
        return
    raise AssertionError("%s did not raise %s" % (fn.__name__, key))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def open_join(url):
    """Open a join link like a browser: expect a 302 to the client, then load the client page."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code != 302:
            raise
        location = e.headers["Location"]
    else:
        raise AssertionError("join did not redirect")
    check("/html5client/join?sessionToken=" in location, "join redirects to the client")
    with urllib.request.urlopen(location, timeout=10) as page:
        check(page.status == 200, "client page loads for the new session")
    return location


def as_list(node):
    return node if isinstance(node, list) else [node]


def main(base, secret):
    bbb = BigBlueButton(base, secret)
    check(bbb.get_api_version().get_version() == "2.0", "API version 2.0")

    # create, the way scheduLight's start_meeting calls it
    params = {
        "name": "Python Room",
        "attendeePW": "ap-secret",
        "moderatorPW": "mp-secret",
        "muteOnStart": True,
        "welcome": "Hello & welcome, <b>all</b>!",
        "record": True,
        "duration": 60,
    }
    r = bbb.create_meeting("py-room-1", params=dict(params), meta={"origin": "python"})
    check(r.get_return_code() == "SUCCESS", "create py-room-1")
    check(r.get_meetingid() == "py-room-1", "create echoes meetingID")
    check(r.get_field("hasUserJoined") == "false", "fresh meeting has no users")
    first_internal = r.get_field("internalMeetingID")

    again = bbb.create_meeting("py-room-1", params=dict(params))
    check(again.get_message_key() == "duplicateWarning", "re-create gives duplicateWarning")
    check(again.get_field("internalMeetingID") == first_internal, "re-create keeps the meeting")
    expect_error(
        "idNotUnique",
        bbb.create_meeting,
        "py-room-1",
        params={"name": "Python Room", "attendeePW": "x", "moderatorPW": "y"},
    )

    second = bbb.create_meeting("py room 2", params={"name": "Second room", "record": True})
    check(len(second.get_attendee_pw()) == 8, "attendee password generated")
    check(len(second.get_moderator_pw()) == 8, "moderator password generated")

    wrong = BigBlueButton(base, secret + "-wrong")
    expect_error("checksumError", wrong.get_meetings)

    check(not bbb.is_meeting_running("py-room-1").is_meeting_running(), "not running before join")

    # join links are built locally and opened like a browser would
    open_join(bbb.get_join_meeting_url("Jürgen Müller & Co", "py-room-1", "mp-secret", {}))
    open_join(bbb.get_join_meeting_url("Viewer One", "py-room-1", "ap-secret", {}))
    mic = {
        "userdata-bbb_auto_join_audio": "true",
        "userdata-bbb_enable_video": "false",
        "userdata-bbb_listen_only_mode": "false",
        "userdata-bbb_skip_check_audio": "true",
    }
    open_join(bbb.get_join_meeting_url("Mic User", "py-room-1", "ap-secret", dict(mic)))
    open_join(
        bbb.get_join_meeting_url(
            "Second Mod", "py room 2", second.get_moderator_pw(), {}
        )
    )

    info = bbb.get_meeting_info("py-room-1")
    meeting = info.get_meetinginfo()
    check(meeting.get_participantcount() == 3, "three participants")
    check(meeting.get_moderator_count() == "1", "one moderator")
    check(meeting.get_internal_meetingid() == first_internal, "getMeetingInfo internal id")
    roles = sorted((str(a.get_fullname()), str(a.get_role())) for a in info.get_attendees())
    check(
        roles
        == [
            ("Jürgen Müller & Co", "MODERATOR"),
            ("Mic User", "VIEWER"),
            ("Viewer One", "VIEWER"),
        ],
        "attendees and roles (%s)" % roles,
    )
    check(info.get_field("metadata")["origin"] == "python", "metadata kept")
    check(bbb.is_meeting_running("py-room-1").is_meeting_running(), "running after join")

    meetings = bbb.get_meetings().get_meetings()
    names = sorted(str(m.get_meetingname()) for m in meetings)
    check(names == ["Python Room", "Second room"], "getMeetings lists both (%s)" % names)

    # end, as scheduLight's end_meeting does (moderator password from getMeetingInfo)
    bbb.end_meeting("py-room-1", meeting.get_moderatorpw())
    expect_error("notFound", bbb.get_meeting_info, "py-room-1")
    check(not bbb.is_meeting_running("py-room-1").is_meeting_running(), "not running after end")
    bbb.end_meeting("py room 2", second.get_moderator_pw())
    expect_error("notFound", bbb.end_meeting, "py room 2", second.get_moderator_pw())
    check(bbb.get_meetings().get_meetings() == [], "no meetings left")

    # recordings of both recorded meetings
    recs = bbb.get_recordings().get_recordings()
    check(len(recs) == 2, "two recordings")
    first = [x for x in recs if x.get_meetingid() == "py-room-1"][0]
    check(first.get_recordid() == first_internal, "recordID is the internal meeting id")
    check(first.is_published() and first.get_state() == "published", "recording published")
    check(first.get_playbacktype() == "presentation", "presentation playback")
    check(first.get_meta("origin") == "python", "recording metadata")

    one = bbb.get_recordings(meeting_id="py-room-1")
    node = as_list(one.get_field("recordings")["recording"])
    check(len(node) == 1 and node[0]["recordID"] == first_internal, "filter by meetingID")

    check(not bbb.publish_recordings(first_internal, False).is_published(), "unpublish")
    bbb.update_recordings(first_internal, meta={"course": "maths"})
    one = bbb.get_recordings(recording_id=first_internal)
    node = as_list(one.get_field("recordings")["recording"])[0]
    check(node["published"] == "false", "unpublished recording still listed")
    check(node["metadata"]["course"] == "maths", "metadata updated")
    bbb.delete_recordings(first_internal)
    left = bbb.get_recordings()
    node = as_list(left.get_field("recordings")["recording"])
    check(len(node) == 1 and node[0]["meetingID"] == "py room 2", "deleted recording hidden")
    expect_error("notFound", bbb.delete_recordings, "no-such-recording")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception as e:  # report any failure, library errors included
        print("FAILED: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
    print("all checks passed")
