// llamavid-ask --video ... --dump DIR: the per-frame tokens behind an answer. The element keeps
// its tokens to itself, so this path decodes the video with the same pipeline head
// (`uridecodebin ! videoconvert`), samples frames by stream time as the element does, and feeds
// them to a lib Session directly; the question and the answer are those the element would give.
#pragma once

#include <string>

#include "video_asker.h"

namespace llamavid {

// Asks `options.question` (at end of stream on a file, after `options.after_s` seconds of
// stream on a live source), prints the answer and writes DIR/tokens.safetensors. Every sampled
// frame is encoded, on live sources too (the video waits for the model). Returns the exit
// status.
int ask_video_dump(const VideoAskOptions& options, const std::string& dir);

}  // namespace llamavid
