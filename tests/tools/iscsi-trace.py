#!/usr/bin/env python3
"""A TCP relay between an iSCSI initiator and a real target (tgt) that
writes down every SCSI command the initiator sends, for a test to assert
which commands a real target got (tgt itself cannot tell us).

    iscsi-trace.py TARGET_PORT STATUSFILE LOGFILE

Listens on 127.0.0.1 (a free port); STATUSFILE gets "port N" once
listening.  Every connection accepted is relayed to 127.0.0.1:TARGET_PORT.
For each SCSI Command PDU (opcode 0x01) from the initiator, LOGFILE gets
one line "LUN CDB-HEX" (LUN as the single-level number, CDB as sent, 16
bytes).  The relay only reads the byte stream: it frames PDUs by their
header (AHS and data segment lengths, padding) and by the digests the
login settled (HeaderDigest/DataDigest=CRC32C: 4 more bytes each).
Runs until killed.
"""
import socket
import sys
import threading

lock = threading.Lock()


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


class Link:
    """The digests of one connection, as the login response settled."""

    def __init__(self):
        self.hdig = 0
        self.ddig = 0
        self.full_feature = False


def relay(src, dst, link, log, from_initiator):
    try:
        while True:
            bhs = recv_exact(src, 48)
            ahs = bhs[4] * 4
            dsl = int.from_bytes(bhs[5:8], "big")
            pad = (dsl + 3) // 4 * 4
            rest_len = ahs + (link.hdig if link.full_feature else 0) + pad
            if dsl and link.full_feature:
                rest_len += link.ddig
            rest = recv_exact(src, rest_len)
            op = bhs[0] & 0x3f
            if from_initiator and op == 0x01:
                lun = int.from_bytes(bhs[8:10], "big") & 0x3fff
                with lock, open(log, "a") as f:
                    f.write("%d %s\n" % (lun, bhs[32:48].hex()))
            if not from_initiator and op == 0x23:
                # Login Response: the negotiated digests apply once the
                # login is over (T bit, next stage full feature phase)
                text = rest[ahs:ahs + dsl].decode("ascii", "replace")
                for kv in text.split("\0"):
                    if kv == "HeaderDigest=CRC32C":
                        link.hdig = 4
                    if kv == "DataDigest=CRC32C":
                        link.ddig = 4
                if bhs[1] & 0x80 and bhs[1] & 0x03 == 0x03:
                    link.full_feature = True
            dst.sendall(bhs + rest)
    except (EOFError, OSError):
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    port, status, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    with open(status, "a") as f:
        f.write("port %d\n" % srv.getsockname()[1])
    while True:
        ini, _ = srv.accept()
        tgt = socket.create_connection(("127.0.0.1", port))
        for s in (ini, tgt):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = Link()
        threading.Thread(target=relay, args=(ini, tgt, link, log, True),
                         daemon=True).start()
        threading.Thread(target=relay, args=(tgt, ini, link, log, False),
                         daemon=True).start()


if __name__ == "__main__":
    main()
