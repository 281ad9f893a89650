"""Reads a received message back with independent parsers (Python's email package and
icalendar) and prints what the tests assert on as JSON."""
import json
import sys
from email import policy
from email.parser import BytesParser

import icalendar

raw = open(sys.argv[1], "rb").read()
msg = BytesParser(policy=policy.default).parsebytes(raw)


def tree(part):
    if part.is_multipart():
        return [part.get_content_type(), [tree(p) for p in part.iter_parts()]]
    return part.get_content_type()


out = {
    "headers": {k: str(v) for k, v in msg.items()},
    "raw_headers": {},
    "structure": tree(msg),
    "text": None,
    "html": None,
    "calendar": None,
    "attachment": None,
    "defects": [str(d) for d in msg.defects],
}
head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
for line in head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n"):
    name, _, value = line.partition(":")
    out["raw_headers"][name] = value.strip()

for part in msg.walk():
    if part.is_multipart():
        continue
    ctype = part.get_content_type()
    if part.get_filename():
        out["attachment"] = {"filename": part.get_filename(), "type": ctype,
                             "same_as_inline": None, "content": part.get_content()}
        if isinstance(out["attachment"]["content"], bytes):
            out["attachment"]["content"] = out["attachment"]["content"].decode()
    elif ctype == "text/plain":
        out["text"] = part.get_content()
    elif ctype == "text/html":
        out["html"] = part.get_content()
    elif ctype == "text/calendar":
        body = part.get_content()
        cal = icalendar.Calendar.from_ical(body)
        ev = next(c for c in cal.walk("VEVENT"))
        start = ev.decoded("DTSTART")
        out["calendar"] = {
            "content_type_method": part.get_param("method"),
            "method": str(cal.get("METHOD")),
            "uid": str(ev.get("UID")),
            "sequence": int(ev.get("SEQUENCE", 0)),
            "dtstart": start.isoformat(),
            "tzid": ev["DTSTART"].params.get("TZID"),
            "zones": [str(z.get("TZID")) for z in cal.walk("VTIMEZONE")],
            "summary": str(ev.get("SUMMARY")),
            "body": body,
        }
if out["attachment"] and out["calendar"]:
    out["attachment"]["same_as_inline"] = out["attachment"]["content"] == out["calendar"]["body"]
print(json.dumps(out))
