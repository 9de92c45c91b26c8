#!/usr/bin/python3
"""The start-up benchmark's peer: a bare WebKitGTK window (the engine Tauri uses on
Linux, through PyGObject, no Tauri) loading the same built UI from a local HTTP server.

It prints `ready_ms=<ms since the script started>` once the jobs screen is in the page
(the React app has mounted) and exits, as the app prints its own `ready_ms` (ms since its
process started). Without Tauri the app's IPC calls fail, so this is the floor
our app's start-up is compared with: process start, GTK and WebKit set-up, page load and
first render of the same UI.

Usage: webview-peer.py <url>   (run under Xvfb; needs python3-gi and gir1.2-webkit2-4.1)
"""
import time

T0 = time.monotonic()

import sys  # noqa: E402

import gi  # noqa: E402

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import GLib, Gtk, WebKit2  # noqa: E402

PROBE = "document.querySelector('[data-testid=\"jobs-screen\"]') !== null"


def main() -> int:
    url = sys.argv[1]
    window = Gtk.Window(title="peer")
    window.set_default_size(1200, 800)
    view = WebKit2.WebView()
    window.add(view)
    window.show_all()
    view.load_uri(url)
    deadline = time.monotonic() + 30

    def on_probe(view, result):
        try:
            value = view.evaluate_javascript_finish(result)
            ready = value.is_boolean() and value.to_boolean()
        except GLib.Error:
            ready = False
        if ready:
            print(f"ready_ms={round((time.monotonic() - T0) * 1000)}", flush=True)
            Gtk.main_quit()
        elif time.monotonic() > deadline:
            print("the jobs screen never appeared", file=sys.stderr)
            Gtk.main_quit()
        else:
            GLib.timeout_add(5, probe)

    def probe():
        view.evaluate_javascript(PROBE, -1, None, None, None, on_probe)
        return False

    GLib.timeout_add(5, probe)
    Gtk.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
