// Frames for the Session tests: solid-colour RGB frames fed straight into a session.
#pragma once

namespace llamavid {
class Session;
}

namespace llamavid::test {

// Feeds `count` solid-colour 40x30 RGB frames, 1 s apart from `start_s` seconds of stream time;
// frame i has the grey level (shade_start + i) * 37 (mod 256), so neighbours differ.
void feed_solid_frames(Session& session, int count, int start_s = 0, int shade_start = 0);

}  // namespace llamavid::test
