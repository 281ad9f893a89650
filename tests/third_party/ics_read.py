"""Read an .ics file with the `icalendar` package and print what the tests check, as JSON.

Usage: ics_read.py FILE [LOCAL_TIME ...]

Every LOCAL_TIME (`2027-03-28T03:00`) is looked up in each VTIMEZONE of the file (built by
icalendar's own `to_tz()`, not from the system's zone data), giving the UTC offset the
calendar's VTIMEZONE says holds then. A recurring event is expanded with dateutil (RRULE plus
EXDATE) to at most 500 occurrences.
"""

import json
import sys
from datetime import datetime, timezone

from dateutil import rrule as du_rrule
import icalendar


def iso(dt):
    return dt.isoformat() if dt is not None else None


def offset(dt):
    off = dt.utcoffset()
    return None if off is None else int(off.total_seconds())


def person(prop):
    return {"value": str(prop), "cn": prop.params.get("CN")}


def when(prop):
    if prop is None:
        return None
    dt = prop.dt
    return {
        "local": dt.replace(tzinfo=None).isoformat(),
        "tzid": prop.params.get("TZID"),
        "offset": offset(dt),
        "utc": dt.astimezone(timezone.utc).isoformat(),
    }


def exdates(event):
    out = []
    raw = event.get("EXDATE")
    if raw is None:
        return out
    for item in raw if isinstance(raw, list) else [raw]:
        for d in item.dts:
            out.append(d.dt.replace(tzinfo=None).isoformat())
    return out


def expand(event):
    if "RRULE" not in event:
        return None
    start = event["DTSTART"].dt
    rule = event["RRULE"].to_ical().decode()
    rules = du_rrule.rruleset()
    rules.rrule(du_rrule.rrulestr(rule, dtstart=start))
    raw = event.get("EXDATE")
    for item in (raw if isinstance(raw, list) else [raw]) if raw is not None else []:
        for d in item.dts:
            rules.exdate(d.dt)
    out = []
    for dt in rules:
        out.append(dt.astimezone(timezone.utc).isoformat())
        if len(out) >= 500:
            break
    return out


def main():
    path, samples = sys.argv[1], sys.argv[2:]
    with open(path, "rb") as f:
        raw = f.read()
    cal = icalendar.Calendar.from_ical(raw)
    result = {
        "method": str(cal.get("METHOD")),
        "version": str(cal.get("VERSION")),
        "prodid": str(cal.get("PRODID")),
        "timezones": [],
        "events": [],
    }
    for vtz in cal.walk("VTIMEZONE"):
        tz = vtz.to_tz()
        offsets = {}
        for s in samples:
            local = datetime.fromisoformat(s)
            offsets[s] = offset(local.replace(tzinfo=tz))
        result["timezones"].append(
            {
                "tzid": str(vtz["TZID"]),
                "standard": len(vtz.walk("STANDARD")),
                "daylight": len(vtz.walk("DAYLIGHT")),
                "offsets": offsets,
            }
        )
    for ev in cal.walk("VEVENT"):
        attendees = ev.get("ATTENDEE")
        if attendees is not None and not isinstance(attendees, list):
            attendees = [attendees]
        result["events"].append(
            {
                "uid": str(ev["UID"]),
                "sequence": int(ev["SEQUENCE"]),
                "status": str(ev.get("STATUS")),
                "summary": str(ev.get("SUMMARY")),
                "description": None if ev.get("DESCRIPTION") is None else str(ev["DESCRIPTION"]),
                "url": None if ev.get("URL") is None else str(ev["URL"]),
                "dtstamp": iso(ev["DTSTAMP"].dt),
                "dtstart": when(ev.get("DTSTART")),
                "dtend": when(ev.get("DTEND")),
                "recurrence_id": when(ev.get("RECURRENCE-ID")),
                "rrule": None if ev.get("RRULE") is None else ev["RRULE"].to_ical().decode(),
                "exdates": exdates(ev),
                "organizer": person(ev["ORGANIZER"]),
                "attendees": [person(a) for a in attendees or []],
                "occurrences": expand(ev),
            }
        )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
