#include "enum_types.h"

#include "settings.h"

namespace llamavid::element {

namespace {

constexpr gint kTimeMarkersAuto = 0;

// TimeMarkers values shifted past "auto".
gint shifted(TimeMarkers markers) { return static_cast<gint>(markers) + 1; }

}  // namespace

gint time_markers_value(const std::optional<TimeMarkers>& markers) {
  return markers ? shifted(*markers) : kTimeMarkersAuto;
}

std::optional<TimeMarkers> time_markers_option(gint value) {
  if (value == kTimeMarkersAuto) return std::nullopt;
  return static_cast<TimeMarkers>(value - 1);
}

GType skip_frames_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(SkipFrames::Auto), "Skip frames when the source is live", "auto"},
      {static_cast<gint>(SkipFrames::Never), "Never skip: the video waits for the encoder",
       "never"},
      {static_cast<gint>(SkipFrames::Always), "Skip frames whenever the encoder queue is full",
       "always"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstLlamavidSkipFrames", values));
  return type;
}

GType time_markers_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {kTimeMarkersAuto, "As the model's configuration says", "auto"},
      {shifted(TimeMarkers::None), "No time markers", "none"},
      {shifted(TimeMarkers::Start), "[hh:mm:ss] at the start of each entry", "start"},
      {shifted(TimeMarkers::Span), "Start, end and duration of each entry", "span"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstLlamavidTimeMarkers", values));
  return type;
}

GType context_mode_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(ContextMode::Standing), "Context tokens from the standing prompt, made "
       "once per frame; the memory's prompt stays prefilled", "standing"},
      {static_cast<gint>(ContextMode::Exact), "Context tokens from each question, recomputed "
       "for the whole memory (LLaMA-VID)", "exact"},
      {static_cast<gint>(ContextMode::Hybrid), "Context tokens from each question for the entries "
       "of the last hybrid-window seconds, from the standing prompt (prefilled) for older ones",
       "hybrid"},
      {static_cast<gint>(ContextMode::Auto), "The model's own mode (llamavid_context_mode in its "
       "config; hybrid for the released checkpoints)", "auto"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstLlamavidContextMode", values));
  return type;
}

GType text_format_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(TextFormat::Text), "Each answer's text, one buffer per answer", "text"},
      {static_cast<gint>(TextFormat::Json),
       "One JSON object per buffer for each answer, error and alert, with its message's fields",
       "json"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstLlamavidTextFormat", values));
  return type;
}

}  // namespace llamavid::element
