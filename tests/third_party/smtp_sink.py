"""SMTP server for the mail tests (aiosmtpd): plain, STARTTLS or implicit TLS, optional AUTH.

Every accepted message is written to DIR as N.eml (the bytes received) and N.json (envelope,
login, whether TLS was on). Recipients containing --reject get a 550, containing --tempfail
a 451. --hang-after-data keeps the DATA reply back for that many seconds after the message was
written, so a test can kill the client between "server has it" and "client recorded it".
Prints READY when it listens; runs until killed.
"""
import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--mode", choices=["plain", "starttls", "tls"], default="plain")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--user")
ap.add_argument("--password")
ap.add_argument("--reject")
ap.add_argument("--tempfail")
ap.add_argument("--hang-after-data", type=float, default=0)
args = ap.parse_args()

counter = [len([f for f in os.listdir(args.dir) if f.endswith(".eml")])]


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if args.reject and args.reject in address:
            return "550 5.1.1 <%s>: no such user here" % address
        if args.tempfail and args.tempfail in address:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        counter[0] += 1
        n = counter[0]
        base = os.path.join(args.dir, "%04d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        login = getattr(session, "schedulight_login", None)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login,
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "session": id(session),
        }
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        if args.hang_after_data:
            await asyncio.sleep(args.hang_after_data)
        return "250 2.0.0 Ok: queued as Q%d" % n


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == args.user
        and auth_data.password.decode() == args.password
    )
    if ok:
        session.schedulight_login = args.user
    # handled=False: aiosmtpd then answers a refusal with 535 (its default leaves the client waiting).
    return AuthResult(success=ok, handled=False)


context = None
if args.mode != "plain":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)

kwargs = dict(hostname="127.0.0.1", port=args.port, server_hostname="localhost")
if args.user:
    kwargs.update(
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=args.mode != "plain",
    )
if args.mode == "starttls":
    kwargs.update(tls_context=context, require_starttls=True)
elif args.mode == "tls":
    kwargs.update(ssl_context=context)


class NoTrigger(Controller):
    # The stock readiness probe speaks SMTP over the server's own context; a TCP connect is
    # enough to know it listens.
    def _trigger_server(self):
        import socket

        with socket.create_connection((self.hostname, self.port), timeout=5):
            pass


controller = NoTrigger(Handler(), **kwargs)
controller.start()
print("READY", flush=True)
try:
    sys.stdin.read()
except KeyboardInterrupt:
    pass
controller.stop()
