// llamavid-ask --video: questions about a video file or a live stream (RTSP, ...), answered by
// the llamavid element in `uridecodebin ! videoconvert ! llamavid ! fakesink`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stream/session.h"

namespace llamavid {

struct VideoAskOptions {
  std::string source;    // a file path or a URI
  std::string question;  // empty: none (only with interactive)
  // Element properties; unset ones keep the element's defaults.
  std::string model;
  std::string device;
  std::optional<double> sample_fps;
  std::optional<unsigned> max_new_tokens;
  std::optional<double> temperature;
  std::optional<uint64_t> seed;
  std::optional<ContextMode> context_mode;
  std::optional<int64_t> hybrid_window_ns;
  std::string subtitles;  // an SRT (or any subparse format) file for subtitle_sink; "" none
  double after_s = 10.0;  // live sources: stream seconds before the question is asked
  bool interactive = false;
  std::vector<std::string> watches;  // standing questions: their alerts are printed
  bool json = false;  // one JSON object per line (text-format=json's) instead of plain text
};

// An answer as llamavid-ask prints it: valid UTF-8 (as the element's messages carry it) on one
// line (line breaks become spaces).
std::string answer_line(const std::string& text);

// An alert as llamavid-ask prints it: "HH:MM:SS.mmm  QUESTION: PREVIOUS -> ANSWER" (the time is
// the alert's `since`; PREVIOUS is empty for a baseline "yes").
std::string alert_line(int64_t since_ns, const std::string& question, const std::string& previous,
                       const std::string& answer);

// Asks through the element: on a file at end of stream (property ask-at-eos), on a live source
// after `after_s` seconds of stream; with `interactive`, also every line read from stdin. Prints
// one line per answer and per alert of the watches on stdout (plain, or with `json` the
// element's JSON objects), errors on stderr; on a file, progress on stderr (position and
// duration while stderr is a terminal, a last line in any case). Returns the exit status.
int ask_video(const VideoAskOptions& options);

}  // namespace llamavid
