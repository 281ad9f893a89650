#!/usr/bin/env python3
"""An independent Matrix client (matrix-nio 0.26) as the other person in a room: logs in with a
password, joins a room it was invited to, waits for a given text and answers it.

Usage: nio_peer.py <homeserver-url> <user-id> <room-id> <expected-body> <reply-body>
The password comes from the environment variable NIO_PEER_PASSWORD (kept out of argv).
Prints one line per check, then the reply's event ID as JSON; exits non-zero on the first
failure.
"""

import asyncio
import json
import os
import sys

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

WAIT_SECONDS = 30


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


async def wait_for_text(client, room_id, expected):
    """Syncs until `expected` shows up in the room's timeline; returns that event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        resp = await client.sync(timeout=1000)
        check(isinstance(resp, SyncResponse), "sync")
        room = resp.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if isinstance(event, RoomMessageText) and event.body == expected:
                return event
    raise AssertionError("no %r within %ss" % (expected, WAIT_SECONDS))


async def main(homeserver, user_id, room_id, expected, reply):
    # Plain (unencrypted) room: the E2EE store is not needed.
    config = AsyncClientConfig(encryption_enabled=False)
    client = AsyncClient(homeserver, user_id, config=config)
    try:
        resp = await client.login(os.environ["NIO_PEER_PASSWORD"], device_name="nio-peer")
        check(isinstance(resp, LoginResponse), "login as %s" % user_id)
        resp = await client.join(room_id)
        check(isinstance(resp, JoinResponse), "join %s" % room_id)
        seen = await wait_for_text(client, room_id, expected)
        check(True, "saw %r from %s" % (expected, seen.sender))
        content = {
            "msgtype": "m.text",
            "body": reply,
            "m.mentions": {"user_ids": [seen.sender]},
        }
        resp = await client.room_send(room_id, "m.room.message", content)
        check(isinstance(resp, RoomSendResponse), "reply sent")
        print(json.dumps({"event_id": resp.event_id}), flush=True)
    finally:
        await client.close()


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    asyncio.run(main(*sys.argv[1:]))
