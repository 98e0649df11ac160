"""A real SMTP server for the notification tests (aiosmtpd), on 127.0.0.1.

Prints ``ready PORT`` once listening, then one JSON line per message received:
``{"from", "to", "data", "login"}``. With ``--user U --password P`` it requires AUTH
(PLAIN or LOGIN, without TLS, as on a test bench) and records the login name it
accepted. Stops on SIGTERM or when stdin closes.
"""

import argparse
import json
import sys
import socket

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Recorder:
    async def handle_DATA(self, server, session, envelope):
        # What the authenticator accepted (None without AUTH).
        login = session.auth_data
        line = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "login": login.decode() if isinstance(login, bytes) else login,
        }
        print(json.dumps(line), flush=True)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    kwargs = {}
    if a.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == a.user and auth_data.password.decode() == a.password
            return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

        kwargs = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)

    port = a.port
    if not port:
        # The controller needs a number: take one the kernel says is free.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    c = Controller(Recorder(), hostname="127.0.0.1", port=port, **kwargs)
    c.start()
    print(f"ready {c.port}", flush=True)
    # Until the test closes stdin (or kills the process).
    sys.stdin.read()
    c.stop()


if __name__ == "__main__":
    main()
