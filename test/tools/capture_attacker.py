#!/usr/bin/python3
"""A hostile process inside an enrolled pod, for test/agent/security_test.cc.

Run it inside the pod's network namespace and cgroup, as uid 0 with every capability dropped
(setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all). It tries, in order, each way a
workload could take itself out of Ambit's eBPF capture, and prints one line per attempt:

    <step> ok                  the attempt succeeded (a defence failed)
    <step> errno=<NAME>        the kernel refused it
    <step> skipped             a precondition failed (printed with the reason)

and at the end the connects it made to --connect, which must all land on ztunnel's 15001:

    connect <how> peer=<getpeername> local=<getsockname> echo=<ok|bad>
    connect <how> error=<message>

  capture_attacker.py --pin-dir DIR --cgroup PATH --map-id N --link-id N --connect IP:PORT
  capture_attacker.py ipopts IP:PORT
      From another pod (or the underlay): connect to an enrolled pod with IPv4 options on every
      packet (setsockopt IP_OPTIONS needs no privilege), so the SYN's header is 24 bytes, not
      20; prints "connect ipopts ..." as above.
  capture_attacker.py rawsockets IP
      Tries each kind of raw and packet socket (and IP_HDRINCL on raw ICMP), one line each,
      "<kind> ok" or "<kind> errno=E...", then sends a raw ICMP echo to IP: "raw_icmp_echo ok".
  capture_attacker.py portreuse IP:PORT ROUNDS
      From another pod, with no privilege: ROUNDS times, hold a connection to IP:15006 (ztunnel's
      inbound listener) from source port P, then connect to IP:PORT from the same P
      (SO_REUSEADDR). The second SYN has the same source, address and port as the established
      15006 connection except for its destination port; prints one line per round,
      "connect portreuse <i> peer=... local=... echo=<ok|bad>" (or "... error=..."), then
      "portreuse done".

bpf(2) is called through ctypes (x86-64 syscall 321); command and attach-type numbers are from
<linux/bpf.h> and passed from the test where they matter.
"""
import argparse
import ctypes
import errno
import os
import shutil
import socket
import struct
import subprocess
import sys

SYS_BPF = 321
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_OBJ_GET = 7
BPF_PROG_DETACH = 9
BPF_MAP_GET_FD_BY_ID = 14
BPF_PROG_QUERY = 16
BPF_LINK_GET_FD_BY_ID = 30
BPF_LINK_DETACH = 34
BPF_F_RDONLY = 1 << 3
BPF_CGROUP_INET4_CONNECT = 10
SO_MARK = 36
SO_NETNS_COOKIE = 71
IPPROTO_MPTCP = 262
MSG_FASTOPEN = 0x20000000
ZTUNNEL_MARK = 0x539

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]


def say(step, result):
    print(f"{step} {result}", flush=True)


def err_name(e):
    return "errno=" + errno.errorcode.get(e, str(e))


def bpf(cmd, attr):
    """Returns (result, errno)."""
    buf = ctypes.create_string_buffer(attr, 144)
    r = libc.syscall(SYS_BPF, cmd, buf, 144)
    return r, (ctypes.get_errno() if r < 0 else 0)


def report(step, r, e):
    say(step, "ok" if r >= 0 else err_name(e))
    return r


def obj_get(path, flags=0):
    p = ctypes.create_string_buffer(path.encode())
    return bpf(BPF_OBJ_GET, struct.pack("=QIIi", ctypes.addressof(p), 0, flags, 0))


def map_op(cmd, fd, key, value=None):
    k = ctypes.create_string_buffer(key, len(key))
    v = ctypes.create_string_buffer(value, len(value)) if value is not None else None
    attr = struct.pack("=IIQQQ", fd, 0, ctypes.addressof(k), ctypes.addressof(v) if v else 0, 0)
    return bpf(cmd, attr)


def identity():
    status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
    say("identity", f"uid={os.getuid()} capeff={status['CapEff'].strip()} capbnd={status['CapBnd'].strip()}")


def own_cookie():
    s = socket.socket()
    c = struct.unpack("=Q", s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0]
    s.close()
    say("netns_cookie", str(c))
    return c


def attack_pins(pin_dir, cookie):
    key = struct.pack("=Q", cookie)
    fd, e = obj_get(os.path.join(pin_dir, "map_pods"))
    report("obj_get_pods_rw", fd, e)
    if fd >= 0:
        # Un-enroll: delete this pod's entry, or clear its enrolled flag.
        report("map_delete_own_entry", *map_op(BPF_MAP_DELETE_ELEM, fd, key))
        report("map_update_own_entry", *map_op(BPF_MAP_UPDATE_ELEM, fd, key, bytes(32)))
    r, e = obj_get(os.path.join(pin_dir, "map_pods"), BPF_F_RDONLY)
    report("obj_get_pods_rdonly", r, e)
    lfd, e = obj_get(os.path.join(pin_dir, "link_connect4"))
    report("obj_get_link_connect4", lfd, e)
    if lfd >= 0:
        report("link_detach_connect4", *bpf(BPF_LINK_DETACH, struct.pack("=I", lfd)))
    # Unpinning a link while no agent holds it detaches capture.
    for name in ("link_connect4", "map_pods"):
        try:
            os.unlink(os.path.join(pin_dir, name))
            say(f"unlink_{name}", "ok")
        except OSError as ex:
            say(f"unlink_{name}", err_name(ex.errno))


def attack_by_id(map_id, link_id):
    report("map_get_fd_by_id", *bpf(BPF_MAP_GET_FD_BY_ID, struct.pack("=III", map_id, 0, 0)))
    report("link_get_fd_by_id", *bpf(BPF_LINK_GET_FD_BY_ID, struct.pack("=III", link_id, 0, 0)))


def attack_cgroup(cgroup):
    try:
        cg = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as ex:
        say("open_cgroup", err_name(ex.errno))
        return
    ids = ctypes.create_string_buffer(4 * 64)
    attr = struct.pack("=IIIIQII", cg, BPF_CGROUP_INET4_CONNECT, 0, 0, ctypes.addressof(ids), 64, 0)
    report("prog_query_connect4", *bpf(BPF_PROG_QUERY, attr))
    # Legacy detach of whatever is attached (no program fd: detaches the single/only program).
    report("prog_detach_connect4", *bpf(BPF_PROG_DETACH, struct.pack("=IIIII", cg, 0, BPF_CGROUP_INET4_CONNECT, 0, 0)))
    os.close(cg)


def attack_tc():
    """The inbound program is a tc filter in the pod's own namespace: remove it, or its qdisc."""
    tc = shutil.which("tc") or "/usr/sbin/tc"
    for step, argv in (("tc_filter_del", [tc, "filter", "del", "dev", "eth0", "ingress"]),
                       ("tc_qdisc_del", [tc, "qdisc", "del", "dev", "eth0", "clsact"])):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode == 0:
            say(step, "ok")
        elif "Operation not permitted" in r.stderr:
            say(step, "errno=EPERM")
        else:
            say(step, "failed " + r.stderr.strip().replace("\n", " "))


def attack_mount():
    target = "/tmp/ambit-attacker-bpffs-%d" % os.getpid()
    os.makedirs(target, exist_ok=True)
    r = libc.mount(b"bpf", target.encode(), b"bpf", 0, None)
    say("mount_bpffs", "ok" if r == 0 else err_name(ctypes.get_errno()))
    if r == 0:
        libc.umount2(target.encode(), 2)
    os.rmdir(target)


def attack_sockets():
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_MARK, ZTUNNEL_MARK)
        say("so_mark_0x539", "ok")
    except OSError as ex:
        say("so_mark_0x539", err_name(ex.errno))
    got = struct.unpack("=I", s.getsockopt(socket.SOL_SOCKET, SO_MARK, 4))[0]
    say("so_mark_value", hex(got))
    s.close()
    try:
        r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        r.close()
        say("raw_socket", "ok")
    except OSError as ex:
        say("raw_socket", err_name(ex.errno))


def attack_new_netns(target):
    """A network namespace of its own carries a fresh, unenrolled cookie. Without CAP_SYS_ADMIN
    that takes a new user namespace too; either way the new namespace has no route out."""
    host, port = target.rsplit(":", 1)
    CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
    for step, flags in (("unshare_netns", CLONE_NEWNET), ("unshare_userns_netns", CLONE_NEWUSER | CLONE_NEWNET)):
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rd)
            if libc.unshare(flags) != 0:
                out = err_name(ctypes.get_errno())
            else:
                s = socket.socket()
                s.settimeout(3)
                try:
                    s.connect((host, int(port)))
                    out = "ok connect=ok"
                except OSError as ex:
                    out = "ok connect=" + err_name(ex.errno or 0)
            os.write(wr, out.encode())
            os._exit(0)
        os.close(wr)
        out = os.read(rd, 200).decode()
        os.close(rd)
        os.waitpid(pid, 0)
        say(step, out)


def roundtrip(s, how):
    try:
        s.sendall(b"attack\n")
        echo = s.recv(16)
        say(f"connect {how}", f"peer={fmt(s.getpeername())} local={fmt(s.getsockname())} "
                              f"echo={'ok' if echo == b'attack' + bytes([10]) else 'bad'}")
    except OSError as ex:
        say(f"connect {how}", f"error={ex}")
    finally:
        s.close()


def fmt(a):
    return f"{a[0]}:{a[1]}"


def connects(target):
    host, port = target.rsplit(":", 1)
    addr = (host, int(port))
    # Plain connect, with the mark attempt made on this very socket.
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_MARK, ZTUNNEL_MARK)
    except OSError:
        pass
    s.settimeout(5)
    try:
        s.connect(addr)
        roundtrip(s, "plain")
    except OSError as ex:
        say("connect plain", f"error={ex}")
    # Dual-stack socket to the v4-mapped address (connect6).
    s = socket.socket(socket.AF_INET6)
    s.settimeout(5)
    try:
        s.connect(("::ffff:" + host, int(port)))
        roundtrip(s, "v4mapped")
    except OSError as ex:
        say("connect v4mapped", f"error={ex}")
    # TCP Fast Open: the connect happens inside sendto() (blocking: a timeout would make Python's
    # socket non-blocking and sendto return EINPROGRESS).
    s = socket.socket()
    try:
        s.sendto(b"attack\n", MSG_FASTOPEN, addr)
        s.settimeout(5)
        echo = s.recv(16)
        say("connect fastopen", f"peer={fmt(s.getpeername())} local={fmt(s.getsockname())} "
                                f"echo={'ok' if echo == b'attack' + bytes([10]) else 'bad'}")
    except OSError as ex:
        say("connect fastopen", f"error={ex}")
    finally:
        s.close()
    # Multipath TCP: a different protocol number behind SOCK_STREAM.
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    except OSError as ex:
        say("connect mptcp", f"skipped socket: {ex}")
    else:
        s.settimeout(5)
        try:
            s.connect(addr)
            roundtrip(s, "mptcp")
        except OSError as ex:
            say("connect mptcp", f"error={ex}")


def ipopts(target):
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(5)
    # NOP, NOP, NOP, END: the smallest option block; the kernel sends it in every packet.
    s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, bytes([1, 1, 1, 0]))
    try:
        s.connect((host, int(port)))
        roundtrip(s, "ipopts")
    except OSError as ex:
        say("connect ipopts", f"error={ex}")


def portreuse(target, rounds):
    host, port = target.rsplit(":", 1)
    for i in range(rounds):
        first = socket.socket()
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        first.settimeout(5)
        try:
            first.bind(("0.0.0.0", 0))
            p = first.getsockname()[1]
            first.connect((host, 15006))
            second = socket.socket()
            second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            second.settimeout(5)
            second.bind(("0.0.0.0", p))
            second.connect((host, int(port)))
            roundtrip(second, f"portreuse {i}")
        except OSError as ex:
            say(f"portreuse {i}", f"error={ex}")
        finally:
            first.close()
    say("portreuse", "done")


def try_socket(step, family, kind, proto, hdrincl=None):
    """Prints "<step> ok" or "<step> errno=E..."; hdrincl: also set that IP_HDRINCL-like option."""
    try:
        s = socket.socket(family, kind, proto)
    except OSError as ex:
        say(step, err_name(ex.errno))
        return None
    if hdrincl is not None:
        try:
            s.setsockopt(hdrincl[0], hdrincl[1], 1)
        except OSError as ex:
            s.close()
            say(step, err_name(ex.errno))
            return None
    say(step, "ok")
    return s


def icmp_checksum(b):
    if len(b) % 2:
        b += b"\0"
    total = sum(struct.unpack(f"!{len(b) // 2}H", b))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def raw_sockets(target):
    """Which raw and packet sockets this process may open (run with CAP_NET_RAW, as the default
    container capability set has it), and whether a raw ICMP echo to target is answered."""
    IPV6_HDRINCL = 36
    for step, fam, kind, proto, hdr in (
            ("raw_tcp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP, None),
            ("raw_ipproto_raw", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW, None),
            ("raw6_tcp", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP, None),
            ("raw6_ipproto_raw", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW, None),
            ("packet_raw", socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003), None),
            ("packet_dgram", socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800), None),
            ("raw_udp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP, None),
            ("raw_icmp_hdrincl", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP,
             (socket.IPPROTO_IP, socket.IP_HDRINCL)),
            ("raw6_icmp_hdrincl", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6,
             (socket.IPPROTO_IPV6, IPV6_HDRINCL))):
        s = try_socket(step, fam, kind, proto, hdr)
        if s:
            s.close()
    s = try_socket("raw_icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    if not s:
        return
    ident = os.getpid() & 0xFFFF
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"ambit"
    pkt = hdr[:2] + struct.pack("!H", icmp_checksum(hdr)) + hdr[4:]
    s.settimeout(5)
    s.sendto(pkt, (target, 0))
    try:
        while True:
            data, _ = s.recvfrom(2048)
            ihl = (data[0] & 0xF) * 4
            typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if typ == 0 and rid == ident:
                say("raw_icmp_echo", "ok")
                break
    except socket.timeout:
        say("raw_icmp_echo", "timeout")
    s.close()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "rawsockets":
        raw_sockets(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "ipopts":
        ipopts(sys.argv[2])
        return
    if len(sys.argv) == 4 and sys.argv[1] == "portreuse":
        portreuse(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--pin-dir", required=True)
    ap.add_argument("--cgroup", required=True)
    ap.add_argument("--map-id", type=int, required=True)
    ap.add_argument("--link-id", type=int, required=True)
    ap.add_argument("--connect", required=True)
    a = ap.parse_args()
    identity()
    cookie = own_cookie()
    attack_pins(a.pin_dir, cookie)
    attack_by_id(a.map_id, a.link_id)
    attack_cgroup(a.cgroup)
    attack_tc()
    attack_mount()
    attack_sockets()
    attack_new_netns(a.connect)
    connects(a.connect)
    say("done", "ok")


main()
