#!/usr/bin/env bash
# Regenerates dns.pcap: real DNS messages between dig (and tcp_client.py)
# and a dnsmasq serving local zones, captured on `lo` of a throwaway
# network namespace (deleted on exit, also on failure). The zones are the
# command-line records below; every name, address and rcode the tests
# expect comes from them. Needs root, iproute2, dnsmasq (dnsmasq-base),
# dig (dnsutils), tcpdump and python3. Full snap length: the tests cut
# payloads to the kernel's 1024-byte copy limit themselves.
set -euo pipefail
cd "$(dirname "$0")"
NS=npdns-fixture-$$
cleanup() {
  [ -n "${DNSMASQ:-}" ] && kill "$DNSMASQ" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.53.0.1/32 dev lo

many=()
for i in $(seq 1 90); do many+=("--host-record=many.np.test,10.53.1.$i"); done

ip netns exec "$NS" dnsmasq --keep-in-foreground --conf-file=/dev/null --user=root \
  --listen-address=127.0.0.1,::1 --bind-interfaces --port=53 \
  --no-resolv --no-hosts --no-dhcp-interface=lo --local=/np.test/ --local-ttl=300 \
  --host-record=www.np.test,10.53.0.10,fd00:53::10 \
  --cname=alias.np.test,www.np.test --cname=chain.np.test,alias.np.test \
  --mx-host=np.test,mail.np.test,10 --host-record=mail.np.test,10.53.0.25 \
  --txt-record=np.test,"v=spf1 -all","hello world" \
  --txt-record=big.np.test,"$(printf 'a%.0s' $(seq 1 250))","$(printf 'b%.0s' $(seq 1 250))","$(printf 'c%.0s' $(seq 1 250))" \
  --srv-host=_sip._udp.np.test,sip.np.test,5060,0,5 --host-record=sip.np.test,10.53.0.60 \
  --ptr-record=10.0.53.10.in-addr.arpa,www.np.test \
  --dns-rr=svc.np.test,65,00010000010003026832000400040a35000a \
  --dns-rr=_dns.np.test,64,000003737663026e70047465737400 \
  "${many[@]}" &
DNSMASQ=$!
sleep 1

ip netns exec "$NS" tcpdump -i lo -s 0 -U -w dns.pcap port 53 2>/dev/null & CAP=$!
sleep 1
q() { ip netns exec "$NS" dig +tries=1 +time=2 "$@" >/dev/null || true; }
q @127.0.0.1 www.np.test A
q @127.0.0.1 www.np.test AAAA
q @::1 www.np.test AAAA
q @127.0.0.1 chain.np.test A
q @127.0.0.1 np.test MX
q @127.0.0.1 np.test TXT
q @127.0.0.1 _sip._udp.np.test SRV
q @127.0.0.1 -x 10.53.0.10
q @127.0.0.1 svc.np.test TYPE65
q @127.0.0.1 _dns.np.test TYPE64
q @127.0.0.1 nx.np.test A
q @127.0.0.1 example.com A
q @127.0.0.1 +noedns +ignore big.np.test TXT
q @127.0.0.1 +bufsize=4096 many.np.test A
q @127.0.0.1 +tcp www.np.test A
q @127.0.0.1 +tcp chain.np.test A
q @127.0.0.1 +tcp many.np.test A
ip netns exec "$NS" python3 tcp_client.py 127.0.0.1 53
sleep 1
kill -INT $CAP; wait $CAP || true
ls -l dns.pcap
