#!/usr/bin/python3
"""
A libtorrent-rasterbar peer for utpx's interop tests: one session on 127.0.0.1, uTP only, one
torrent, seeding or leeching. Loopback only: it listens on 127.0.0.1 and connects only to
127.0.0.1 ports it is told.

    /usr/bin/python3 peer.py --torrent FILE --save-path DIR [--connections-limit N]
                             [--utp-resends N] [--log-alerts]

It speaks JSON lines. On stdout, one object per line with an "event":
    listening {port}                      the uTP port (after the listen socket is up)
    ready {info_hash, state, seeding}     torrent added; a seed has checked its data
    peer {kind: connected|incoming|disconnected|error, port, reason?, op?}
    hash_failed {piece}
    progress {progress, pieces, num_peers, down_rate, up_rate}   about once a second
    finished {pieces, total}              every piece downloaded and hash-checked (seeding now)
    stats {counters}                      session counters: utp.*, peer.* (non-zero), BitTorrent
                                          messages (ses.num_incoming_*, ses.num_outgoing_*)
    error {message}
    exit {}
On stdin, one command a line:
    connect PORT    add the peer 127.0.0.1:PORT
    stats           post the session counters (answered by a "stats" event)
    quit            print the counters and exit; closing stdin does the same
"""

import argparse
import json
import os
import queue
import sys
import threading
import time

try:
    import libtorrent as lt
except ImportError as e:  # the test suite checks the import itself and says how to install it
    sys.stderr.write(f"cannot import libtorrent: {e}\n")
    sys.exit(3)

LOOPBACK = "127.0.0.1"


def emit(event, **fields):
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def settings(connections_limit, utp_resends, log_alerts):
    mask = lt.alert_category.all if log_alerts else (
        lt.alert_category.error | lt.alert_category.peer | lt.alert_category.status
        | lt.alert_category.connect | lt.alert_category.storage)
    return {
        "listen_interfaces": f"{LOOPBACK}:0",
        # uTP only, both ways: a TCP fallback would hide a uTP failure.
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        # Nothing that talks to anything but the peer the test names.
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "announce_to_all_trackers": False,
        # The test helper speaks plaintext BitTorrent.
        "out_enc_policy": int(lt.enc_policy.pe_disabled),
        "in_enc_policy": int(lt.enc_policy.pe_disabled),
        # Every test peer comes from 127.0.0.1, often several at once.
        "allow_multiple_connections_per_ip": True,
        "connections_limit": connections_limit,
        # Unchoke every interested peer: 20 leechers must all be served at once.
        "choking_algorithm": int(lt.choking_algorithm_t.fixed_slots_choker),
        "unchoke_slots_limit": -1,
        # No rate limits; uTP is the only transport, so nothing to balance against TCP.
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        "mixed_mode_algorithm": 1,  # peer_proportional
        # How often one packet may go out before libtorrent drops the connection (defaults 3, and 2
        # for packets still unacked once its FIN has gone out).
        "utp_num_resends": utp_resends,
        "utp_fin_resends": max(2, utp_resends - 1),
        "alert_mask": int(mask),
        "alert_queue_size": 100000,
    }


def stats_values(alert):
    values = alert.values
    keep = {}
    for name, value in values.items():
        if name.startswith("utp.") or (name.startswith("peer.") and value != 0):
            keep[name] = value
        elif name.startswith(("ses.num_incoming_", "ses.num_outgoing_")) and value != 0:
            keep[name] = value  # BitTorrent messages by type, as the session wrote or read them
        elif name in ("net.on_udp_counter", "ses.num_piece_failed"):
            keep[name] = value
    return keep


def read_commands(commands):
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put("eof")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save-path", required=True)
    ap.add_argument("--connections-limit", type=int, default=200)
    ap.add_argument("--utp-resends", type=int, default=3)
    ap.add_argument("--log-alerts", action="store_true", help="every alert to stderr")
    args = ap.parse_args()

    ses = lt.session(settings(args.connections_limit, args.utp_resends, args.log_alerts))
    ti = lt.torrent_info(args.torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = args.save_path
    handle = ses.add_torrent(atp)
    total = ti.num_pieces()

    commands = queue.Queue()
    threading.Thread(target=read_commands, args=(commands,), daemon=True).start()

    port = None
    ready = False
    finished = False
    quitting = False
    last_progress = 0.0

    def on_alert(a):
        nonlocal port
        if args.log_alerts:
            sys.stderr.write(f"[lt] {type(a).__name__}: {a.message()}\n")
        if isinstance(a, lt.listen_succeeded_alert):
            # The UDP socket carries uTP; a TCP listen socket may also be opened (incoming TCP is refused).
            if a.socket_type == lt.socket_type_t.utp and port is None:
                port = a.port
                emit("listening", port=port)
        elif isinstance(a, lt.listen_failed_alert):
            emit("error", message=a.message())
        elif isinstance(a, lt.peer_connect_alert):
            emit("peer", kind="connected", port=a.endpoint[1])
        elif isinstance(a, lt.incoming_connection_alert):
            emit("peer", kind="incoming", port=a.endpoint[1])
        elif isinstance(a, lt.peer_disconnected_alert):
            emit("peer", kind="disconnected", port=a.endpoint[1], reason=a.error.message(), op=str(a.op))
        elif isinstance(a, lt.peer_error_alert):
            emit("peer", kind="error", port=a.endpoint[1], reason=a.error.message(), op=str(a.op))
        elif isinstance(a, lt.hash_failed_alert):
            emit("hash_failed", piece=a.piece_index)
        elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert, lt.udp_error_alert)):
            emit("error", message=a.message())
        elif isinstance(a, lt.session_stats_alert):
            emit("stats", counters=stats_values(a))
            return True
        return False

    def drain_alerts(timeout):
        got_stats = False
        if ses.wait_for_alert(int(timeout * 1000)) is not None:
            for a in ses.pop_alerts():
                got_stats = on_alert(a) or got_stats
        return got_stats

    def final_stats():
        ses.post_session_stats()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if drain_alerts(0.2):
                return

    while True:
        drain_alerts(0.05)

        st = handle.status()
        if not ready and port is not None and st.state not in (
                lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
            if not st.is_seeding or st.num_pieces == total:
                ready = True
                emit("ready", info_hash=str(st.info_hashes.v1), state=str(st.state), seeding=st.is_seeding,
                     pieces=st.num_pieces, total=total)
        if ready and not finished:
            now = time.monotonic()
            if now - last_progress >= 1:
                last_progress = now
                emit("progress", progress=st.progress, pieces=st.num_pieces, num_peers=st.num_peers,
                     down_rate=st.download_payload_rate, up_rate=st.upload_payload_rate)
            # num_pieces counts pieces that passed the hash check; is_seeding means nothing is left.
            if st.is_seeding and st.num_pieces == total and all(st.pieces):
                finished = True
                emit("finished", pieces=st.num_pieces, total=total)

        while True:
            try:
                cmd = commands.get_nowait()
            except queue.Empty:
                break
            parts = cmd.split()
            if not parts:
                continue
            if parts[0] == "connect" and len(parts) == 2:
                # Only loopback: the peer is always a utpx socket of the test on this machine.
                handle.connect_peer((LOOPBACK, int(parts[1])))
            elif parts[0] == "stats":
                ses.post_session_stats()
            elif parts[0] in ("quit", "eof"):
                quitting = True
            else:
                emit("error", message=f"unknown command: {cmd}")
        if quitting:
            break

    final_stats()
    emit("exit")
    sys.stdout.flush()
    # Tearing the session down gracefully can take seconds (it waits on its peers); the test is done.
    os._exit(0)


if __name__ == "__main__":
    main()
