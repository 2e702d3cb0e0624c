"""A real SMTP server on a local port, in a thread, for tests that must see mail cross a socket:
it keeps what it is given, refuses the recipients it is told to with 550, and can be stopped
(connections are then refused) and started again on the same port. The standard library has no
server any more and aiosmtpd is not a dependency; this speaks the few commands smtplib sends."""

import socketserver
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


class _Conversation(socketserver.StreamRequestHandler):
    server: "_Server"

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 test SMTP server")
        recipients: list[str] = []
        for raw in self.rfile:
            command = raw.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in {"EHLO", "HELO"}:
                self.reply("250 test")
            elif verb == "MAIL":
                recipients = []
                self.reply("250 OK")
            elif verb == "RCPT":
                address = command.partition(":")[2].strip().strip("<>")
                if address in self.server.smtp.refused:
                    self.reply("550 mailbox unavailable")
                else:
                    recipients.append(address)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                self.server.smtp.keep(self._data())
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # RSET, NOOP
                self.reply("250 OK")

    def _data(self) -> bytes:
        lines = []
        for raw in self.rfile:
            if raw in (b".\r\n", b".\n"):
                break
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        return b"".join(lines)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, smtp: "SMTPServer", port: int) -> None:
        self.smtp = smtp
        super().__init__(("127.0.0.1", port), _Conversation)


class SMTPServer:
    """Start it, point SMTP_HOST/SMTP_PORT at it (no STARTTLS), read `messages`."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()
        self.port = 0
        self._server: _Server | None = None
        self._lock = threading.Lock()

    def keep(self, data: bytes) -> None:
        message = message_from_bytes(data, policy=policy.default)
        with self._lock:
            self.messages.append(message)

    def start(self) -> None:
        self._server = _Server(self, self.port)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def config(self) -> dict[str, Any]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": self.port,
            "SMTP_STARTTLS": False,
            "MAIL_FROM": "bridge@bridge.example",
        }
