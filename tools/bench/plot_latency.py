"""Plots answer latency against hours of stream held in memory from llamavid-bench --json output
as an SVG (plain Python: no matplotlib on the build machines): the configured context mode and
the LLaMA-VID way, full answer (solid) and first token (dashed), latency on a log scale.

usage: python3 plot_latency.py BENCH.json OUT.svg
"""
import json
import math
import sys

W, H = 640, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 90


def main():
    with open(sys.argv[1]) as f:
        r = json.load(f)
    series = [("latency", r["config"]["context_mode"] + " mode", "#1f77b4")]
    if "llamavid_way" in r:
        series.append(("llamavid_way", "LLaMA-VID way", "#d62728"))
    hours = [p["hours"] for p in r["latency"]]
    values = [p[k] for key, _, _ in series for p in r[key]
              for k in ("first_token_ms", "full_answer_ms")]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    x_max = max(hours)

    def x(h):
        return LEFT + (W - LEFT - RIGHT) * h / x_max

    def y(ms):
        span = math.log10(hi) - math.log10(lo)
        return TOP + (H - TOP - BOTTOM) * (1 - (math.log10(ms) - math.log10(lo)) / span)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="13">Answer latency against hours held (%s, %s)</text>'
           % (LEFT, r["config"]["model"].rstrip("/").split("/")[-1], r["date"])]
    decade = lo
    while decade <= hi:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>'
                   % (LEFT, W - RIGHT, y(decade), y(decade)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g ms</text>'
                   % (LEFT - 6, y(decade) + 4, decade))
        decade *= 10
    for h in hours:
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>'
                   % (x(h), x(h), TOP, H - BOTTOM))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>'
                   % (x(h), H - BOTTOM + 16, h))
    out.append('<text x="%d" y="%d" text-anchor="middle">hours of stream held in memory</text>'
               % ((LEFT + W - RIGHT) // 2, H - BOTTOM + 34))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>'
               % (LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM))
    legend_y = H - 36
    for key, label, colour in series:
        legend_x = LEFT
        for field, dash, what in (("full_answer_ms", "", "full answer"),
                                  ("first_token_ms", ' stroke-dasharray="5,4"', "first token")):
            points = " ".join("%.1f,%.1f" % (x(p["hours"]), y(p[field])) for p in r[key])
            out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>'
                       % (points, colour, dash))
            for p in r[key]:
                out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>'
                           % (x(p["hours"]), y(p[field]), colour))
            out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                       % (legend_x, legend_x + 24, legend_y - 4, legend_y - 4, colour, dash))
            out.append('<text x="%d" y="%d">%s: %s</text>'
                       % (legend_x + 28, legend_y, label, what))
            legend_x += 230
        legend_y += 20
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
