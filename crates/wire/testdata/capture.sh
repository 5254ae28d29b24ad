#!/usr/bin/env bash
# Regenerates the pcap fixtures from real traffic in throwaway network
# namespaces: lo.pcap (v4/v6 TCP+UDP, IPv4 options, IPv6 extension headers,
# BIG TCP), veth.pcap (IPv4 and IPv6 fragments, ARP/ND), tun.pcap (raw IP).
# VLAN tags are not in a fixture: this kernel has neither 8021q nor bridge
# VLAN filtering, so tests build tagged frames with etherparse instead. Needs root, iproute2, tcpdump and python3. Snap length 128,
# as netoproc's ring captures.
set -euo pipefail
cd "$(dirname "$0")"
A=npwire-fix-a B=npwire-fix-b
cleanup() { ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add $A; ip netns add $B
for ns in $A $B; do ip -n $ns link set lo up; done
ip link add va netns $A type veth peer name vb netns $B
ip -n $A link set va up; ip -n $B link set vb up
ip -n $A addr add 10.204.100.1/24 dev va; ip -n $B addr add 10.204.100.2/24 dev vb
ip -n $A addr add fd00:204:100::1/64 nodad dev va; ip -n $B addr add fd00:204:100::2/64 nodad dev vb
# BIG TCP on lo: GSO super-packets above 64 KiB carry IP length 0.
ip -n $A link set dev lo gso_max_size 185000 gro_max_size 185000
ip netns exec $A python3 bigtcp.py 185000

capture() { # ns iface file
  ip netns exec "$1" tcpdump -i "$2" -s 128 -U -w "$3" 2>/dev/null & CAP=$!; sleep 1
}
stop() { sleep 0.5; kill -INT $CAP; wait $CAP || true; }

capture $A lo lo.pcap
ip netns exec $A python3 traffic.py lo
stop

capture $A va veth.pcap
ip netns exec $B python3 traffic.py veth-server 4 & SRV=$!; sleep 0.5
ip netns exec $A python3 traffic.py veth-client
stop; wait $SRV

rm -f tun.ready tun.ready.sent
ip netns exec $A python3 traffic.py tun tun.ready & GEN=$!
while [ ! -e tun.ready ]; do sleep 0.1; done
ip netns exec $A tcpdump -i tun0 -s 128 -U -w tun.pcap 2>/dev/null & CAP=$!
while [ ! -e tun.ready.sent ]; do sleep 0.1; done
stop; wait $GEN; rm -f tun.ready tun.ready.sent
ls -l *.pcap
