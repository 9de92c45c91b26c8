#!/usr/bin/env bash
# Start-up benchmark of the desktop app: time from launch to an interactive jobs
# screen (release build, UI embedded, under Xvfb), and the sizes of the release
# binary and the .deb.
#
#   src-tauri/scripts/bench-startup.sh            # build (tauri build --bundles deb), then measure
#   SKIP_BUILD=1 src-tauri/scripts/bench-startup.sh   # measure an existing build
#   RUNS=10 ...                                    # number of launches (default 5)
#
# "Interactive" is when the jobs screen has loaded its list: the UI then calls the
# `ui_ready` command, which with DRIVE_REPAIR_EXIT_WHEN_READY=1 prints
# `ready_ms=<ms since the process started>` and exits. The script also reports the
# wall time from exec to exit.
#
# The named peer, launched in turn with ours in every round: a bare WebKitGTK window
# (the webview Tauri uses here, through PyGObject; `webview-peer.py`) loading the same
# ui/dist from a local HTTP server, until the jobs screen is in the page. It prints the
# ratio of the medians (peer / ours; above 1 means ours is faster). Needs the system
# python3 with python3-gi and gir1.2-webkit2-4.1 (PEER=0 leaves it out).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${RUNS:-5}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  (cd ui && npm run tauri -- build --bundles deb)
fi

BIN=$TARGET/release/drive-repair
DEB=$(ls -t "$TARGET"/release/bundle/deb/*.deb 2>/dev/null | head -1 || true)
[[ -x "$BIN" ]] || { echo "no release binary at $BIN" >&2; exit 1; }

human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; }
echo "release binary: $(stat -c %s "$BIN") bytes ($(human "$(stat -c %s "$BIN")"))  $BIN"
if [[ -n "$DEB" ]]; then
  echo ".deb package:   $(stat -c %s "$DEB") bytes ($(human "$(stat -c %s "$DEB")"))  $DEB"
else
  echo ".deb package:   (none built)"
fi

DATA=$(mktemp -d)
PEER=${PEER:-1}
SERVER_PID=""
trap 'rm -rf "$DATA"; [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null' EXIT
if [[ "$PEER" == 1 ]]; then
  if ! /usr/bin/python3 -c 'import gi; gi.require_version("WebKit2", "4.1")' 2>/dev/null; then
    echo "peer left out: /usr/bin/python3 lacks python3-gi or gir1.2-webkit2-4.1 (apt)" >&2
    PEER=0
  else
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    (cd ui/dist && exec python3 -m http.server "$PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
    SERVER_PID=$!
    sleep 0.5
  fi
fi
ready=()
wall=()
peer=()
for i in $(seq 1 "$RUNS"); do
  if [[ "$PEER" == 1 ]]; then
    out=$(WEBKIT_DISABLE_DMABUF_RENDERER=1 timeout 60 xvfb-run -a -s "-screen 0 1280x860x24" \
          /usr/bin/python3 src-tauri/scripts/webview-peer.py "http://127.0.0.1:$PORT/" 2>/dev/null | grep -o 'ready_ms=[0-9]*' || true)
    [[ -n "$out" ]] && peer+=("${out#ready_ms=}") && echo "run $i: peer (bare WebKitGTK) ready after ${out#ready_ms=} ms"
  fi
  start=$(date +%s%N)
  out=$(DRIVE_REPAIR_EXIT_WHEN_READY=1 DRIVE_REPAIR_DATA_DIR="$DATA" WEBKIT_DISABLE_DMABUF_RENDERER=1 \
        timeout 60 xvfb-run -a -s "-screen 0 1280x860x24" "$BIN" 2>/dev/null | grep -o 'ready_ms=[0-9]*' || true)
  end=$(date +%s%N)
  ms=${out#ready_ms=}
  [[ -n "$ms" ]] || { echo "run $i: the app never reported ready" >&2; continue; }
  ready+=("$ms")
  wall+=($(( (end - start) / 1000000 )))
  echo "run $i: interactive after ${ms} ms (wall incl. Xvfb start and exit: ${wall[-1]} ms)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
echo "median time to interactive jobs screen: $(median "${ready[@]}") ms over ${#ready[@]} runs"
echo "median wall time per launch (incl. Xvfb): $(median "${wall[@]}") ms"
if [[ ${#peer[@]} -gt 0 && ${#ready[@]} -gt 0 ]]; then
  ours_ms=$(median "${ready[@]}")
  peer_ms=$(median "${peer[@]}")
  echo "peer, a bare WebKitGTK window with the same UI: median $peer_ms ms over ${#peer[@]} runs"
  awk -v p="$peer_ms" -v o="$ours_ms" 'BEGIN { printf "ratio (peer / ours): %.2fx (above 1: ours starts faster)\n", p / o }'
fi
