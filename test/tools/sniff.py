#!/usr/bin/python3
"""Watches an interface (AF_PACKET, inside the namespace it runs in) for a byte marker.
  sniff.py IFACE MARKER SECONDS
Prints "packets N bytes B marker_seen yes|no" at the end; exit 0. Start it, then generate
traffic: a plaintext leak onto the underlay shows as marker_seen yes.
"""
import socket
import sys
import time

iface, marker, seconds = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
print("sniffing", flush=True)
end = time.time() + seconds
packets = total = 0
seen = False
while time.time() < end:
    try:
        data = s.recv(65535)
    except socket.timeout:
        continue
    packets += 1
    total += len(data)
    if marker in data:
        seen = True
print(f"packets {packets} bytes {total} marker_seen {'yes' if seen else 'no'}", flush=True)
