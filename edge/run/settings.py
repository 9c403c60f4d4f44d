"""edge-run's settings table: each row is a command-line flag and a TOML key (``--fps-cap`` is
``fps_cap`` in the file). Type, default, bounds and help live here and nowhere else (the
mechanism is :mod:`edge.settings`), so a bad value names the flag on the command line and the
file, line and key in a config file.
"""

from __future__ import annotations

from pathlib import Path

from edge.motion import DEFAULT_AREA, DEFAULT_LEVEL, DEFAULT_REFRESH_S
from edge.settings import Setting, json_setting, threads_setting

SOURCES = ("camera", "picamera", "replay", "synthetic")
DEFAULT_CONFIG = Path("/etc/edge/edge.toml")


S = Setting
SOURCE, SERVICE = "source (one of)", "configuration and service"
MANY = "many devices: MQTT (Home Assistant) and Prometheus"
TRIGGER = "triggers: a class as an on/off state (a person trigger)"
WEB = "web page and /metrics: access and limits (see README, Security)"
GATE = "motion gate: infer only when the scene changes (docs/motion-gate.md)"
SETTINGS: tuple[Setting, ...] = (
    S("camera", str, group=SOURCE, metavar="SPEC",
      help="OpenCV source: camera index (0), device (/dev/video2), stream URL or video file"),
    S("picamera", int, group=SOURCE, metavar="N", const=0, minimum=0,
      help="Raspberry Pi camera N through picamera2 (default 0)"),
    S("replay", Path, group=SOURCE, metavar="PATH",
      help="folder of images, a recording made with --record, or a video file"),
    S("synthetic", bool, False, group=SOURCE, help="generated test frames"),
    S("model", Path, help="edge model from edge-convert (.onnx, or .tflite for LiteRT), or its "
                          "output folder: then --prefer picks the build"),
    S("prefer", str, choices=("faithful", "fastest"),
      help="with a model folder: the build that answers as the checkpoint does, or the "
           "fastest build and engine measured here (default: faithful for a quantized "
           "checkpoint, fastest for a float one)"),
    S("infer", bool, True, help="--no-infer: capture (and record) only"),
    S("crop", str, "center", choices=("center", "full"),
      help="centre square (default; what ImageNet models expect) or the whole frame squeezed "
           "to the model's size"),
    S("top_k", int, 5, metavar="K", minimum=1, maximum=1000, help="results kept per frame"),
    threads_setting(help="inference threads (default: physical cores)"),
    S("fps_cap", float, metavar="N", minimum=0.001, maximum=1000,
      help="run inference at most N times a second (saves power; worker threads stop "
           "spin-waiting)"),
    S("max_frames", int, metavar="N", minimum=1, help="stop after N processed frames"),
    S("duration", float, metavar="S", minimum=0, above=True, help="stop after S seconds"),
    S("realtime", bool, False, help="replay at the recorded pace instead of as fast as possible"),
    S("loop", bool, False, help="replay from the start when it ends"),
    S("hold", float, 2.0, metavar="S", minimum=0.01, maximum=3600,
      help="with --realtime, show each photo of a folder for S seconds, one frame each "
           "(default 2; a recording or a video keeps its own times)"),
    S("width", int, minimum=16, maximum=16384, help="camera frame width to request"),
    S("height", int, minimum=16, maximum=16384, help="camera frame height to request"),
    S("camera_fps", float, metavar="N", minimum=0, above=True, maximum=1000,
      help="camera frame rate to request"),
    S("reconnect_max", float, 30.0, metavar="S", minimum=0, above=True,
      help="longest wait between attempts to reopen a lost camera (default 30)"),
    S("http", str, metavar="[HOST:]PORT",
      help="serve the live page, /stream.mjpg and /stats (binds 127.0.0.1 unless a host is "
           "given; any other address needs --http-password-file)"),
    S("window", bool, help="OpenCV window (default: when a display and a GUI OpenCV exist)"),
    S("results", Path, metavar="FILE.jsonl", help="append one JSON line per processed frame"),
    S("results_max_mb", float, metavar="MB", minimum=0, above=True,
      help="rotate the results log at this size (FILE.jsonl.1, .2, ...)"),
    S("results_keep", int, 3, metavar="N", minimum=1, maximum=1000,
      help="rotated results logs to keep (default 3)"),
    S("record", Path, metavar="DIR", help="save every captured frame and a manifest for --replay"),
    S("idle_seconds", float, metavar="S", minimum=0, above=True, maximum=3600,
      help="measure idle power for S seconds first and subtract it from energy per inference"),
    S("cache_dir", Path, help="optimised-model cache (default ~/.cache/edge or "
                              "$CACHE_DIRECTORY)"),
    S("cache", bool, True, help="--no-cache: do not cache the optimised model"),
    S("quiet", bool, False, short="-q", help="no status line"),
    S("verbose", bool, False, short="-v",
      help="print every result on its own line instead of a status line"),
    json_setting("the summary"),
    S("metrics", str, group=MANY, metavar="[HOST:]PORT",
      help="serve /metrics alone on its own address (binds 127.0.0.1 unless a host is given), "
           "apart from the --http page"),
    S("http_user", str, "edge", group=WEB, metavar="NAME",
      help="user name for the password of --http-password-file (default edge)"),
    S("http_password_file", Path, group=WEB, metavar="FILE",
      help="file holding the web password (or $EDGE_HTTP_PASSWORD): then the page, stream, "
           "stats and metrics need it (HTTP basic auth); needed beyond loopback"),
    S("metrics_token_file", Path, group=WEB, metavar="FILE",
      help="file holding a bearer token for /metrics (or $EDGE_METRICS_TOKEN), for "
           "Prometheus's authorization: credentials_file"),
    S("http_insecure", bool, False, group=WEB,
      help="serve --http or --metrics beyond loopback without credentials (warns at every "
           "start)"),
    S("http_cert", Path, group=WEB, metavar="FILE.pem",
      help="serve HTTPS with this certificate (chain), on --http and --metrics"),
    S("http_key", Path, group=WEB, metavar="FILE.pem",
      help="the certificate's private key (PEM, not encrypted)"),
    S("http_max_viewers", int, 5, group=WEB, metavar="N", minimum=1, maximum=1000,
      help="live streams served at once (default 5); the next viewer gets 503"),
    S("http_max_connections", int, 64, group=WEB, metavar="N", minimum=4, maximum=4096,
      help="open connections at once (default 64; lowered to fit the open-file limit)"),
    S("http_timeout", float, 10.0, group=WEB, metavar="S", minimum=1, maximum=300,
      help="a request must arrive, and every write drain, within S seconds (default 10)"),
    S("collect", Path, metavar="DATA",
      help="save frames into DATA/<class>/ for edge-train: a button per class on the page "
           "(--http) and a key per class in the terminal"),
    S("collect_class", str, metavar="NAME", many=True, repeat=True,
      help="with --collect: make this class's folder (repeatable, or comma-separated)"),
    S("trigger", str, group=TRIGGER, metavar="LABEL", many=True, repeat=True,
      help="turn a class into an on/off state (e.g. person): an MQTT event and a Home "
           "Assistant binary_sensor on each change, a results-log field, /stats and /metrics "
           "(repeatable, or comma-separated)"),
    S("trigger_threshold", float, 0.5, group=TRIGGER, metavar="P", minimum=0, above=True,
      maximum=1, below=True, help="the class probability at which a trigger counts a frame as on "
                      "(default 0.5)"),
    S("trigger_on", int, 2, group=TRIGGER, metavar="N", minimum=1, maximum=10_000,
      help="frames in a row at or above the threshold to switch on (default 2)"),
    S("trigger_off", int, 8, group=TRIGGER, metavar="N", minimum=1, maximum=10_000,
      help="frames in a row below it to switch off (default 8)"),
    S("trigger_snapshot", Path, group=TRIGGER, metavar="DIR",
      help="save the frame that switched a trigger on as a JPEG in DIR"),
    S("trigger_snapshot_keep", int, 100, group=TRIGGER, metavar="N", minimum=1,
      maximum=100_000, help="keep at most N snapshots, the oldest removed (default 100)"),
    S("trigger_snapshot_mb", float, 50.0, group=TRIGGER, metavar="MB", minimum=0, above=True,
      maximum=100_000, help="and at most MB megabytes of them (default 50)"),
    S("mqtt", str, group=MANY, metavar="URL",
      help="publish results and health to a broker: mqtt://[user@]host[:port] or mqtts://... "
           "(password from --mqtt-password-file or $EDGE_MQTT_PASSWORD)"),
    S("mqtt_password_file", Path, group=MANY, metavar="FILE",
      help="file holding the broker password (keeps it off the command line)"),
    S("mqtt_ca", Path, group=MANY, metavar="FILE.pem",
      help="CA certificate that signed the broker's (mqtts://; default: the system's CAs)"),
    S("mqtt_prefix", str, "edge", group=MANY, metavar="PREFIX",
      help="topic prefix (default edge): PREFIX/NODE/state, ..."),
    S("mqtt_node", str, group=MANY, metavar="NAME",
      help="this device's name in topics and Home Assistant (default: the host name)"),
    S("mqtt_rate", float, 1.0, group=MANY, metavar="N", minimum=0, above=True, maximum=1000,
      help="state messages per second, at most (default 1)"),
    S("mqtt_stats_interval", float, 60.0, group=MANY, metavar="S", minimum=1, maximum=86400,
      help="publish the /stats JSON every S seconds (default 60)"),
    S("mqtt_hold", float, 1.0, group=MANY, metavar="S", minimum=0, maximum=3600,
      help="a new top-1 label must lead for S seconds before it is an event (default 1)"),
    S("mqtt_snapshot", bool, False, group=MANY,
      help="publish a JPEG when the top-1 label changes"),
    S("mqtt_ha", bool, True, group=MANY, help="Home Assistant MQTT discovery (default on)"),
    S("mqtt_ha_prefix", str, "homeassistant", group=MANY, metavar="PREFIX",
      help="Home Assistant's discovery prefix (default homeassistant)"),
    S("config", Path, group=SERVICE, in_file=False, metavar="FILE.toml",
      help=f"settings file; flags override it (default {DEFAULT_CONFIG} when it exists)"),
    S("no_config", bool, False, group=SERVICE, in_file=False, negatable=False,
      help="ignore the default config file"),
    S("check_config", bool, False, group=SERVICE, in_file=False, negatable=False,
      help="validate the configuration and model without touching hardware"),
    S("doctor", bool, False, group=SERVICE, in_file=False, negatable=False,
      help="check this machine for what usually breaks a camera service"),
    S("mqtt_remove", bool, False, group=MANY, in_file=False, negatable=False,
      help="clear this node's retained messages and its Home Assistant device from the "
           "broker (--mqtt), then exit"),
    S("motion_gate", bool, False, group=GATE,
      help="infer only when the scene changed; otherwise the last answer stands, reported as "
           "carried over (\"gated\": true in the results log, frames.gated)"),
    S("motion_area", float, DEFAULT_AREA, group=GATE, metavar="F", minimum=0, above=True,
      maximum=1, below=True,
      help=f"a change: more than this share of the picture changed (default {DEFAULT_AREA:g})"),
    S("motion_level", float, DEFAULT_LEVEL, group=GATE, metavar="F", minimum=0, above=True,
      maximum=1, below=True,
      help="a part of the picture changed when its brightness moved by more than this share of "
           f"full scale, beyond an exposure step (default {DEFAULT_LEVEL:g})"),
    S("motion_refresh", float, DEFAULT_REFRESH_S, group=GATE, metavar="S", minimum=0,
      above=True, maximum=86400,
      help=f"infer at least every S seconds, changed or not (default {DEFAULT_REFRESH_S:g})"),
)
BY_NAME = {s.name: s for s in SETTINGS}
