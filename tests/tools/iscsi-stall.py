#!/usr/bin/env python3
"""A one-connection iSCSI target on 127.0.0.1 that stops answering at a
chosen point, so a test can signal blkclone while it waits there.

    iscsi-stall.py MODE STATUSFILE

MODE "login": accept the connection and never answer (a login that
hangs).  MODE "probe": log in, answer TEST UNIT READY and READ CAPACITY(16)
(what opening the volume sends) for a 64 MiB LU of 512-byte blocks, then
answer nothing more (the probe's first command hangs).

STATUSFILE gets "port N" once listening, then "connected", then (probe)
"stalled OPCODE" when the first unanswered command arrived: the events a
test waits for.  Exits when the initiator closes the connection.
"""
import socket
import struct
import sys

BLOCKS = 64 * 2048          # 64 MiB in 512-byte blocks


def note(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def recv_pdu(conn):
    bhs = recv_exact(conn, 48)
    ahs = bhs[4] * 4
    dsl = int.from_bytes(bhs[5:8], "big")
    data = recv_exact(conn, ahs + (dsl + 3) // 4 * 4)
    return bhs, data[ahs:ahs + dsl]


def pdu(opcode, flags, itt, fields, data=b""):
    """48-byte header (opcode, flags, bytes 2-3 and 20-47 from @fields)."""
    bhs = bytearray(48)
    bhs[0] = opcode
    bhs[1] = flags
    for off, val in fields:
        bhs[off:off + len(val)] = val
    bhs[5:8] = len(data).to_bytes(3, "big")
    bhs[16:20] = itt
    return bytes(bhs) + data + b"\0" * ((4 - len(data) % 4) % 4)


def u32(v):
    return struct.pack(">I", v & 0xffffffff)


def main():
    mode, status = sys.argv[1], sys.argv[2]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    note(status, "port %d" % srv.getsockname()[1])
    conn, _ = srv.accept()
    note(status, "connected")
    statsn = 1
    try:
        if mode == "login":
            while conn.recv(4096):
                pass
            return
        while True:
            bhs, data = recv_pdu(conn)
            op = bhs[0] & 0x3f
            itt = bhs[16:20]
            cmdsn = int.from_bytes(bhs[24:28], "big")
            # a login and an immediate command (I bit) take no CmdSN
            nxt = cmdsn if op == 0x03 or bhs[0] & 0x40 else cmdsn + 1
            sn = [(24, u32(statsn)), (28, u32(nxt)), (32, u32(nxt + 31))]
            if op == 0x03:                      # Login Request
                csg, nsg, transit = (bhs[1] >> 2) & 3, bhs[1] & 3, bhs[1] & 0x80
                keys = {}
                for kv in data.split(b"\0"):
                    if b"=" in kv:
                        k, v = kv.split(b"=", 1)
                        keys[k] = v
                if csg == 0:
                    text = b"AuthMethod=None\0TargetPortalGroupTag=1\0"
                else:
                    text = b"HeaderDigest=None\0DataDigest=None\0"
                    for k in (b"InitialR2T", b"ImmediateData", b"MaxBurstLength",
                              b"FirstBurstLength", b"MaxConnections",
                              b"DataPDUInOrder", b"DataSequenceInOrder",
                              b"DefaultTime2Wait", b"DefaultTime2Retain",
                              b"MaxOutstandingR2T", b"ErrorRecoveryLevel"):
                        if k in keys:
                            text += k + b"=" + keys[k] + b"\0"
                    text += b"MaxRecvDataSegmentLength=65536\0"
                flags = (0x80 if transit else 0) | (csg << 2) | (nsg if transit else 0)
                hdr = [(2, b"\0\0"), (8, bhs[8:14]), (14, b"\0\1")] + sn
                conn.sendall(pdu(0x23, flags, itt, hdr, text))
                statsn += 1
            elif op == 0x01:                    # SCSI Command
                cdb = bhs[32:48]
                want = int.from_bytes(bhs[20:24], "big")
                if cdb[0] == 0x00:              # TEST UNIT READY
                    conn.sendall(pdu(0x21, 0x80, itt, [(2, b"\0\0")] + sn))
                    statsn += 1
                elif cdb[0] == 0x9e and cdb[1] & 0x1f == 0x10 and not status_stalled(status):
                    cap = struct.pack(">QI", BLOCKS - 1, 512).ljust(32, b"\0")
                    cap = cap[:want]
                    resid = want - len(cap)
                    flags = 0x81 | (0x02 if resid else 0)
                    conn.sendall(pdu(0x25, flags, itt,
                                     [(3, b"\0"), (20, u32(0xffffffff))] + sn +
                                     [(36, u32(0)), (40, u32(0)), (44, u32(resid))],
                                     cap))
                    statsn += 1
                else:
                    note(status, "stalled 0x%02x" % cdb[0])
                    while conn.recv(4096):      # never answer again
                        pass
                    return
            elif op == 0x06:                    # Logout
                conn.sendall(pdu(0x26, 0x80, itt, sn))
                return
            # anything else (NOP-Out with no reply wanted): ignored
    except (EOFError, ConnectionError):
        pass


def status_stalled(path):
    with open(path) as f:
        return "stalled" in f.read()


if __name__ == "__main__":
    main()
